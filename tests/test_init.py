"""platform-gen init and platform-gen new (issue 11), end to end on temporary repos with the real tools:
git, kustomize (validate), the GitHub workflow schema, yamllint, pre-commit and pip (the wheel)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from yamllint.config import YamlLintConfig

from platform_gen import __version__
from platform_gen.scaffold import SetError, parse_set, split_image, starter_files

from . import starter_sync
from .conftest import REPO, Run, copy_inputs, snapshot, tree
from .test_workflows import CALLED, called_from_wiring, problems, schema_errors, vendored_schema
from .test_workflows import load as load_workflow

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not on the PATH")
EXAMPLE_TEMPLATES = sorted(p.name for p in (REPO / "platform-config/templates").iterdir() if p.is_dir())
CLI = [sys.executable, "-c", "import sys; from platform_gen.cli import main; sys.exit(main())"]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """platform-gen in a process of its own, stdin not a terminal (as in CI or a pipe)."""
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=False)


def init(run: Run, folder: Path, org: str = "globex", url: str = "https://git.example.com/globex/platform.git"
         ) -> tuple[int, str, str]:
    return run("init", folder, "--organization", org, "--repo-url", url)


@pytest.fixture
def platform(tmp_path: Path, run: Run) -> Path:
    """A platform repo from `init`, committed on main of a git repository."""
    root = tmp_path / "platform"
    code, _out, err = init(run, root)
    assert code == 0, err
    if shutil.which("git"):
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "init")
    return root


# --- the starter follows the example ---------------------------------------------------------


def test_starter_copies_every_golden_path_and_the_crossplane_apis_of_the_example(request: pytest.FixtureRequest
                                                                                  ) -> None:
    if request.config.getoption("--update-starter"):
        starter_sync.update()
    shipped = sorted(p.name for p in (starter_sync.STARTER / "platform-config/templates").iterdir())
    assert shipped == EXAMPLE_TEMPLATES, "run: python -m pytest tests/test_init.py --update-starter"
    want, have = starter_sync.expected(), starter_sync.actual()
    stale = sorted(rel for rel in {*want, *have} if want.get(rel) != have.get(rel))
    assert stale == [], f"the starter differs from the example in {stale}: run " \
                        "'python -m pytest tests/test_init.py --update-starter' and review the diff"


def test_every_workflow_edit_still_applies() -> None:
    # a change of this repo's workflows that an edit no longer matches must be looked at
    assert starter_sync.workflows()[1] == []


def test_starter_is_in_the_wheel(tmp_path: Path) -> None:
    # built from a copy of the sources: a build writes build/ and *.egg-info/ beside them
    src = tmp_path / "src"
    shutil.copytree(REPO / "generator", src / "generator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(src)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    prefix = "platform_gen/data/starter/"
    with zipfile.ZipFile(wheel) as zf:
        shipped = {name[len(prefix):]: zf.read(name) for name in zf.namelist() if name.startswith(prefix)}
    assert shipped == tree(starter_sync.STARTER)


# --- init ------------------------------------------------------------------------------------


@needs_git
def test_init_new_render_validate(platform: Path, run: Run) -> None:
    # the new repo renders and validates at once, as committed
    assert run("render", "--root", platform, "--check")[0] == 0
    code, _out, err = run("validate", "--root", platform)
    assert code == 0, err
    # a service from each shipped golden path, then render, validate (real kustomize) and check
    code, out, err = run("new", "search", "--root", platform, "--team", "example", "--template", "web-service",
                         "--image", "ghcr.io/globex/search:1.0.0", "--env", "dev", "--env", "prod",
                         "--set", "replicas=3", "--set", "resources.requests.cpu=200m")
    assert code == 0, err
    assert "created platform-config/services/search/config.yaml" in out
    for step in ("platform-gen render", "git add platform-config/services/search rendered", "pull request"):
        assert step in out
    code, _out, err = run("new", "jobs", "--root", platform, "--team", "example", "--template", "worker",
                          "--image", "ghcr.io/globex/jobs", "--tag", "2.0")
    assert code == 0, err
    code, _out, err = run("render", "--root", platform)
    assert code == 0, err
    code, _out, err = run("validate", "--root", platform)
    assert code == 0, err
    assert "3 overlays" in err  # search on dev-1 and prod-1, jobs on dev-1 (the first environment)
    assert run("render", "--root", platform, "--check")[0] == 0
    overlays = sorted(p.relative_to(platform / "rendered/services").as_posix()
                      for p in (platform / "rendered/services").glob("*/overlays/*/*"))
    assert overlays == ["jobs/overlays/dev/dev-1", "search/overlays/dev/dev-1", "search/overlays/prod/prod-1"]
    # every modeline names an editor schema that init wrote and render keeps current, and the schema takes the file
    for rel in ("platform-config/services/search/config.yaml", "platform-config/platform.yaml",
                "environments/dev.yaml"):
        first = (platform / rel).read_text().splitlines()[0]
        target = (platform / rel).parent / first.split("$schema=", 1)[1]
        schema = json.loads(target.read_text())
        jsonschema.Draft202012Validator(schema).validate(yaml.safe_load((platform / rel).read_text()))
    config = json.loads((platform / "schemas/config.schema.json").read_text())
    assert "search" not in json.dumps(config) and "example" in json.dumps(config)  # teams, not services


def test_init_writes_the_platform_repo(tmp_path: Path, run: Run) -> None:
    root = tmp_path / "p"
    code, out, err = init(run, root)
    assert code == 0, err
    files = tree(root)
    for rel in ("platform-config/platform.yaml", "environments/dev.yaml", "environments/staging.yaml",
                "environments/prod.yaml", ".github/workflows/pr.yaml", ".github/workflows/render.yaml",
                ".github/workflows/render-sharded.yaml", ".github/workflows/promote.yaml", ".pre-commit-config.yaml",
                ".yamllint.yaml", ".gitignore",
                "README.md", "platform-config/crossplane/functions.yaml", "rendered/.platform-gen.yaml"):
        assert rel in files, rel
    # the golden paths are the example's, byte for byte (the team owns them from here on)
    for template in EXAMPLE_TEMPLATES:
        example = tree(REPO / "platform-config/templates" / template)
        assert {rel: files[f"platform-config/templates/{template}/{rel}"] for rel in example} == example
    platform_yaml = files["platform-config/platform.yaml"].decode()
    assert "organization: globex\n" in platform_yaml
    assert "repoURL: https://git.example.com/globex/platform.git\n" in platform_yaml
    # the Crossplane APIs are the example's, in the new organization's API group
    crossplane = {rel: data.decode() for rel, data in files.items() if rel.startswith("platform-config/crossplane/")}
    assert not any("acme" in text for text in crossplane.values())
    assert "group: platform.globex.io" in crossplane["platform-config/crossplane/objectbucket/definition.yaml"]
    # no placeholder left anywhere; every text file ends with a newline
    for rel, data in files.items():
        if not rel.startswith("rendered/"):
            assert b"@@" not in data, rel
            assert data.endswith(b"\n"), rel
    # the modelines point at the schemas folder at the repo's root
    assert platform_yaml.startswith("# yaml-language-server: $schema=../schemas/platform.schema.json\n")
    assert files["environments/dev.yaml"].startswith(b"# yaml-language-server: $schema=../schemas/environment.schema")
    assert "cd " in out and "platform-gen new my-service --team example --template web-service" in out
    assert "git init -b main" in out


def test_init_output_is_deterministic(tmp_path: Path, run: Run) -> None:
    assert init(run, tmp_path / "a")[0] == 0
    assert init(run, tmp_path / "b")[0] == 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_init_json(tmp_path: Path, run: Run) -> None:
    code, out, _err = run("init", tmp_path / "p", "--organization", "globex", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "created"
    assert doc["version"] == __version__
    assert doc["repo_url"] == "https://github.com/globex/p.git"  # no git remote: the default
    assert "platform-config/platform.yaml" in doc["files"]
    assert doc["tree"]["path"] == "rendered" and doc["tree"]["files"] > 10


@needs_git
def test_init_takes_a_folder_holding_only_git_and_its_origin(tmp_path: Path, run: Run) -> None:
    root = tmp_path / "p"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", "git@example.com:globex/gitops.git")
    code, out, err = run("init", root, "--organization", "globex")
    assert code == 0, err
    assert "repoURL: git@example.com:globex/gitops.git\n" in (root / "platform-config/platform.yaml").read_text()
    assert "git init" not in out and "git remote add" not in out


def test_init_quotes_an_organization_yaml_would_misread(tmp_path: Path, run: Run) -> None:
    code, _out, err = init(run, tmp_path / "p", org="true")
    assert code == 0, err
    assert "organization: 'true'\n" in (tmp_path / "p/platform-config/platform.yaml").read_text()


def test_init_refuses_a_non_empty_folder(tmp_path: Path, run: Run) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "notes.txt").write_text("mine\n")
    before = snapshot(root)
    code, out, err = init(run, root)
    assert code == 1
    assert out == ""
    assert err.startswith(f"error: {root} is not empty: it holds notes.txt; nothing was written\n")
    assert "hint: init starts a platform repo in an empty folder" in err
    assert snapshot(root) == before


def test_init_refuses_a_file(tmp_path: Path, run: Run) -> None:
    (tmp_path / "f").write_text("x\n")
    assert run("init", tmp_path / "f", "--organization", "globex")[0] == 2  # click: not a folder
    assert (tmp_path / "f").read_text() == "x\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--organization", "Globex Inc"], "'Globex Inc' is not an organization name"),
    (["--organization", "globex", "--repo-url", "https://x y"], "is not a repository URL"),
])
def test_init_refuses_bad_options(tmp_path: Path, run: Run, args: list[str], message: str) -> None:
    code, _out, err = run("init", tmp_path / "p", *args)
    assert code == 2
    assert message in err
    assert not (tmp_path / "p").exists()


def test_init_never_prompts_without_a_terminal(tmp_path: Path) -> None:
    done = cli("init", tmp_path / "p")
    assert done.returncode == 2
    assert "missing option '--organization' (there is no terminal to ask on)" in done.stderr
    assert not (tmp_path / "p").exists()


def test_init_takes_back_what_it_wrote_when_the_render_fails(tmp_path: Path, run: Run,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import platform_gen.scaffold as scaffold

    real = scaffold.starter_files

    def broken(org: str, url: str, version: str) -> dict[str, bytes]:
        files = real(org, url, version)
        files["environments/dev.yaml"] = files["environments/dev.yaml"].replace(b"order: 0", b"order: zero")
        return files

    monkeypatch.setattr(scaffold, "starter_files", broken)
    (tmp_path / "p").mkdir()
    code, _out, err = init(run, tmp_path / "p")
    assert code == 1
    assert "environments/dev.yaml:4:8: error: order:" in err
    assert list((tmp_path / "p").iterdir()) == []


# --- the new repo's wiring ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def starter() -> dict[str, bytes]:
    return starter_files("globex", "https://git.example.com/globex/platform.git", __version__)


WORKFLOWS = ["pr.yaml", "render.yaml", "render-sharded.yaml", "promote.yaml"]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflows_match_the_github_schema(starter: dict[str, bytes], name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(starter[f".github/workflows/{name}"])
    workflow = load_workflow(path)
    assert schema_errors(vendored_schema("vendor", "github-workflows.json"), workflow) == []
    assert schema_errors(vendored_schema("custom", "github-workflows-require-timeout.json"), workflow) == []


def test_workflows_install_the_running_version_from_the_package_index(starter: dict[str, bytes]) -> None:
    lines = [line.strip() for name in WORKFLOWS for line in starter[f".github/workflows/{name}"].decode().splitlines()]
    installs = [line for line in lines if "pip install" in line]
    assert installs and set(installs) == {f"run: pip install 'platform-gen=={__version__}'"}
    for name in WORKFLOWS:
        text = starter[f".github/workflows/{name}"].decode()
        assert "pyproject.toml" not in text and "generator/" not in text


def test_workflows_call_what_the_cli_has(starter: dict[str, bytes], tmp_path: Path) -> None:
    docs = {}
    for name in ("pr.yaml", "render.yaml"):
        (tmp_path / name).write_bytes(starter[f".github/workflows/{name}"])
        docs[name] = load_workflow(tmp_path / name)
    assert called_from_wiring(docs["pr.yaml"], docs["render.yaml"], []) == CALLED


def test_wiring_passes_its_own_yamllint(starter: dict[str, bytes]) -> None:
    config = YamlLintConfig(content=starter[".yamllint.yaml"].decode())
    for rel in (*(f".github/workflows/{n}" for n in WORKFLOWS), ".pre-commit-config.yaml", ".yamllint.yaml"):
        assert problems(starter[rel].decode(), config, rel) == []


def test_pre_commit_config_is_valid_and_pinned(starter: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / ".pre-commit-config.yaml"
    path.write_bytes(starter[".pre-commit-config.yaml"])
    checked = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", str(path)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config: Any = load_workflow(path)
    hooks = {h["id"]: h for h in config["repos"][0]["hooks"]}
    shipped = {h["id"]: h for h in load_workflow(REPO / ".pre-commit-hooks.yaml")}
    assert set(hooks) == set(shipped)
    for hook_id, hook in hooks.items():  # the same hooks as this repo's, from the package index
        assert f"platform-gen=={__version__}" in hook["additional_dependencies"]
        assert (hook["entry"], hook["files"]) == (shipped[hook_id]["entry"], shipped[hook_id]["files"])


def test_pre_commit_validation_catches_a_broken_config(tmp_path: Path) -> None:
    path = tmp_path / ".pre-commit-config.yaml"
    path.write_text("repos:\n  - repo: local\n    hooks:\n      - {id: x, name: x, entry: x, language: pyhton}\n")
    checked = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", str(path)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode != 0


# --- new ---------------------------------------------------------------------------------------


def new(run: Run, root: Path, name: str, *args: str) -> tuple[int, str, str]:
    defaults = {"--team": "example", "--template": "web-service", "--image": "ghcr.io/globex/x:1.0.0"}
    given = dict(defaults)
    extra: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in defaults:
            given[arg] = next(it)
        else:
            extra.append(arg)
    flat = [x for kv in given.items() for x in kv if kv[1] != "-"]
    return run("new", name, "--root", root, *flat, *extra)


def test_new_writes_the_config_with_modeline_starter_values_and_sets(platform: Path, run: Run) -> None:
    code, _out, err = new(run, platform, "search", "--env", "staging", "--set", "port=9090",
                          "--set", "tag=1.10", "--set", "env.RATIO=1.50", "--set", "description=Search API",
                          "--set", "environments.prod.replicas=4")
    assert code == 0, err
    text = (platform / "platform-config/services/search/config.yaml").read_text()
    assert text == (
        "# yaml-language-server: $schema=../../../schemas/config.schema.json\n"
        "# Service search on the golden path web-service, written by `platform-gen new`.\n"
        "# Every key is described in the README of platform-gen (\"config.yaml\").\n"
        "name: search\n"
        "team: example\n"
        "description: Search API\n"
        "template: web-service\n"
        "image: ghcr.io/globex/x\n"
        "tag: '1.10'\n"
        "port: 9090\n"                     # --set wins over the starter's 8080
        "healthPath: /healthz\n"           # from the golden path's starter.yaml
        "env:\n"
        "  RATIO: '1.50'\n"
        "environments:\n"
        "  staging: {}\n"
        "  prod:\n"
        "    replicas: 4\n")


def test_new_defaults_to_the_first_environment(platform: Path, run: Run) -> None:
    assert new(run, platform, "search")[0] == 0
    assert "environments:\n  dev: {}\n" in (platform / "platform-config/services/search/config.yaml").read_text()


def test_new_json(platform: Path, run: Run) -> None:
    code, out, _err = new(run, platform, "search", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["status"], doc["file"], doc["environments"]) == (
        "created", "platform-config/services/search/config.yaml", ["dev"])


def refused(platform: Path, run: Run, name: str, *args: str) -> tuple[int, str, str]:
    before = snapshot(platform)
    code, out, err = new(run, platform, name, *args)
    assert snapshot(platform) == before
    return code, out, err


@needs_git
@pytest.mark.parametrize(("args", "bad", "good"), [
    (["--team", "exampel"], "team: exampel", "team: example"),
    (["--template", "web-servic"], "template: web-servic", "template: web-service"),
    (["--set", "replicas=many"], "replicas: many", "replicas: 2"),
    (["--env", "qa"], "qa: {}", "dev: {}"),
])
def test_new_refuses_with_the_message_render_gives(platform: Path, run: Run, args: list[str], bad: str,
                                                   good: str) -> None:
    code, out, err = refused(platform, run, "search", *args)
    assert code == 1 and out == ""
    # the same service written by hand, with the same mistake: render says the same
    extra = ["--set", "replicas=2"] if "replicas" in good else []
    assert new(run, platform, "search", *extra)[0] == 0
    cfg = platform / "platform-config/services/search/config.yaml"
    assert good in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(good, bad))
    code, _out, render_err = run("render", "--root", platform)
    assert code == 1
    assert err == render_err


def test_new_refuses_an_existing_service(platform: Path, run: Run) -> None:
    assert new(run, platform, "search")[0] == 0
    code, _out, err = refused(platform, run, "search")
    assert code == 1
    assert err == ("error: service 'search' already exists: platform-config/services/search; nothing was written\n"
                   "  hint: pick another name, or edit its config.yaml\n")


@pytest.mark.parametrize("name", ["Search", "9lives", "a" * 41, "../escape", "platform-root"])
def test_new_refuses_an_invalid_name(platform: Path, run: Run, name: str) -> None:
    code, _out, err = refused(platform, run, name)
    assert code == 1
    assert f"platform-config/services/{name}/config.yaml:4:7: error: name: " in err
    assert not (platform.parent / "escape").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "replicas"], "expected KEY=VALUE"),
    (["--set", "resources..cpu=1"], "has an empty part"),
    (["--set", "allowFrom=[a, b]"], "expected one value (a YAML scalar)"),
    (["--set", "replicas=0x1F"], "YAML reads 0x1F as 31; write 31"),
    (["--set", "port=1", "--set", "port.x=2"], "port is not a mapping"),
    (["--image", "ghcr.io/globex/x"], "the image has no tag"),
    (["--image", "ghcr.io/globex/x:1", "--tag", "2"], "--image has the tag '1' and --tag says '2'"),
])
def test_new_refuses_bad_options(platform: Path, run: Run, args: list[str], message: str) -> None:
    code, _out, err = refused(platform, run, "search", *args)
    assert code == 2
    assert message in err


@pytest.mark.parametrize("missing", ["SERVICE", "--team", "--template", "--image"])
def test_new_never_prompts_without_a_terminal(platform: Path, missing: str) -> None:
    args = ["search", "--team", "example", "--template", "web-service", "--image", "ghcr.io/globex/x:1.0.0"]
    if missing == "SERVICE":
        args = args[1:]
    else:
        i = args.index(missing)
        del args[i:i + 2]
    done = cli("new", *args, "--root", platform)
    assert done.returncode == 2, done.stderr
    what = "argument 'SERVICE'" if missing == "SERVICE" else f"option '{missing}'"
    assert f"missing {what} (there is no terminal to ask on)" in done.stderr
    assert not (platform / "platform-config/services").exists()


def test_new_refuses_a_broken_starter_and_validate_reports_it(platform: Path, run: Run) -> None:
    starter = platform / "platform-config/templates/web-service/starter.yaml"
    starter.write_text(starter.read_text() + "replicas: lots\nteam: someone\n")
    code, _out, err = refused(platform, run, "search")
    assert code == 1
    assert "platform-config/templates/web-service/starter.yaml:6:11: error: replicas: expected an integer" in err
    assert "starter.yaml:7:1: error: team: team is set by 'platform-gen new'" in err
    code, _out, err = run("validate", "--root", platform)
    assert code == 1
    assert "starter.yaml:6:11: error: replicas: expected an integer" in err


def test_the_example_starters_are_valid(run: Run, tmp_path: Path) -> None:
    root = copy_inputs(REPO, tmp_path / "repo")
    for template in EXAMPLE_TEMPLATES:
        code, _out, err = run("new", f"new-{template}", "--root", root, "--team", "payments", "--template", template,
                              "--image", "ghcr.io/acme/x:1.0.0")
        assert code == 0, err


# --- parse_set and split_image -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("replicas=3", (("replicas",), 3)),
    ("resources.requests.cpu=200m", (("resources", "requests", "cpu"), "200m")),
    ("resources.limits.cpu=1", (("resources", "limits", "cpu"), 1)),
    ("tag=1.10", (("tag",), "1.10")),             # a string key keeps the text
    ("tag=2", (("tag",), "2")),
    ("env.X=1.50", (("env", "X"), "1.50")),       # not as written as a number: the text
    ("env.X=7", (("env", "X"), 7)),
    ("expose.http.public=true", (("expose", "http", "public"), True)),
    ("environments.qa=", (("environments", "qa"), None)),
    ("description=Payments API", (("description",), "Payments API")),
    ("env.X='quoted'", (("env", "X"), "quoted")),
])
def test_parse_set(text: str, expected: tuple[tuple[str, ...], Any]) -> None:
    assert parse_set(text) == expected


@pytest.mark.parametrize("text", ["replicas", "=3", "a..b=1", "x=[1]", "x={a: 1}", "expose.http.public=yes",
                                  "replicas=1_000", "retire=2026-01-01", "env.X=a\nb"])
def test_parse_set_refuses(text: str) -> None:
    with pytest.raises(SetError):
        parse_set(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("ghcr.io/acme/x:1.0", ("ghcr.io/acme/x", "1.0")),
    ("registry:5000/x", ("registry:5000/x", None)),
    ("registry:5000/x:2", ("registry:5000/x", "2")),
    ("x", ("x", None)),
])
def test_split_image(text: str, expected: tuple[str, str | None]) -> None:
    assert split_image(text) == expected


# --- prompts on a terminal -------------------------------------------------------------------


def converse(args: list[str], answers: list[tuple[str, str]], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run platform-gen on a pseudo-terminal; answer each prompt (a regex) in turn. (exit code, transcript)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, *args], cwd=cwd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen, pending = "", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096).decode("utf-8", "replace")
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                while pending and re.search(pending[0][0], seen.rsplit("\n", 1)[-1]):
                    os.write(master, (pending.pop(0)[1] + "\n").encode())
                    seen += "\n"
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert not pending, f"not asked {pending}: {seen}"
    return code, seen


def test_init_asks_on_a_terminal(tmp_path: Path) -> None:
    code, seen = converse(["init", "p"], [(r"Organization.*: $", "Not Valid"), (r"Organization.*: $", "initech"),
                                          (r"Repository.*: $", "")], tmp_path)
    assert code == 0, seen
    assert "is not an organization name" in seen  # asked again
    text = (tmp_path / "p/platform-config/platform.yaml").read_text()
    assert "organization: initech\n" in text
    assert "repoURL: https://github.com/initech/p.git\n" in text


@needs_git
def test_new_asks_on_a_terminal(platform: Path) -> None:
    code, seen = converse(["new"], [(r"Service name: $", "search"), (r"Team.*: $", "example"),
                                    (r"Golden path.*: $", ""), (r"Image.*: $", "ghcr.io/globex/search:2.1"),
                                    (r"Description.*: $", "Search API"),
                                    (r"Environments.*: $", "dev, staging")], platform)
    assert code == 0, seen
    text = (platform / "platform-config/services/search/config.yaml").read_text()
    assert ("team: example\ndescription: Search API\ntemplate: web-service\nimage: ghcr.io/globex/search\n"
            "tag: '2.1'\n") in text
    assert "environments:\n  dev: {}\n  staging: {}\n" in text


def test_new_takes_a_description_and_a_set_under_environments_adds_to_the_first(platform: Path, run: Run) -> None:
    code, _out, err = new(run, platform, "search", "--description", "Search API",
                          "--set", "environments.prod.replicas=4")
    assert code == 0, err
    text = (platform / "platform-config/services/search/config.yaml").read_text()
    assert "description: Search API\n" in text
    # the first environment still, and prod with its value
    assert text.endswith("environments:\n  dev: {}\n  prod:\n    replicas: 4\n"), text
