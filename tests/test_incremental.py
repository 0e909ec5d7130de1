"""Incremental render: only what changed is rendered again, and the tree is the one a full render makes.

The property test applies random sequences of edits to a copy of the example
platform (add, remove and rename services, move one to another team, edit a
template, an environment, a component, delete a cluster, change a tag) and after
every step renders incrementally into one tree and from scratch (``--full``) into
a fresh one: both must succeed or fail alike, and their trees must be
byte-identical.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen.cli import main
from platform_gen.index import INDEX

from .conftest import EXAMPLE_SERVICES as EXAMPLE
from .conftest import REPO, copy_inputs, resealed, tree

SERVICES = "platform-config/services"


def render(root: Path, *args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["render", "--root", str(root), *(str(a) for a in args)])
    return code, out.getvalue(), err.getvalue()


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True,
                   capture_output=True)


def committed(root: Path) -> Path:
    """A git checkout of ``root`` with everything committed: what tells a render what changed in the tree."""
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "render")
    return root


def counts(root: Path, *args: str) -> dict[str, int]:
    """Render (and commit the result): how many services were rendered again and how many kept."""
    code, out, err = render(root, "--format", "json", *args)
    assert code == 0, out + err
    services: dict[str, int] = json.loads(out)["services"]
    if "--check" not in args:
        committed(root)
    return services


def _edit(root: Path, rel: str, old: str, new: str) -> bool:
    path = root / rel
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if old not in text:
        return False
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return True


def _services(root: Path) -> list[str]:
    return sorted(p.name for p in (root / SERVICES).iterdir() if (p / "config.yaml").is_file())


# --- the edits ------------------------------------------------------------------------------------

Edit = Callable[[Path, int], None]


def add_service(root: Path, n: int) -> None:
    names = _services(root)
    if not names:
        return
    src = names[n % len(names)]
    new = f"svc-{n}"
    if (root / SERVICES / new).exists():
        return
    shutil.copytree(root / SERVICES / src, root / SERVICES / new)
    _edit(root, f"{SERVICES}/{new}/config.yaml", f"name: {src}", f"name: {new}")


def remove_service(root: Path, n: int) -> None:
    names = _services(root)
    if len(names) > 1:
        shutil.rmtree(root / SERVICES / names[n % len(names)])


def rename_service(root: Path, n: int) -> None:
    names = _services(root)
    if not names:
        return
    old = names[n % len(names)]
    new = f"renamed-{n}"
    if (root / SERVICES / new).exists():
        return
    (root / SERVICES / old).rename(root / SERVICES / new)
    _edit(root, f"{SERVICES}/{new}/config.yaml", f"name: {old}", f"name: {new}")


def move_team(root: Path, n: int) -> None:
    names = _services(root)
    if not names:
        return
    rel = f"{SERVICES}/{names[n % len(names)]}/config.yaml"
    text = (root / rel).read_text(encoding="utf-8")
    team = re.search(r"^team: (\S+)$", text, re.M)
    if team:
        teams = ["payments", "identity", "data"]
        _edit(root, rel, f"team: {team.group(1)}", f"team: {teams[(teams.index(team.group(1)) + 1) % 3]}"
              if team.group(1) in teams else "team: data")


def change_tag(root: Path, n: int) -> None:
    names = _services(root)
    if names:
        rel = f"{SERVICES}/{names[n % len(names)]}/config.yaml"
        text = (root / rel).read_text(encoding="utf-8")
        (root / rel).write_text(re.sub(r'^tag: .*$', f'tag: "9.{n}.0"', text, count=1, flags=re.M),
                                encoding="utf-8")


def edit_template(root: Path, n: int) -> None:
    if n % 2:
        _edit(root, "platform-config/templates/web-service/service.yaml.j2", "  type: ClusterIP",
              f"  type: ClusterIP\n  sessionAffinity: {'None' if n % 4 == 1 else 'ClientIP'}")
    else:
        _edit(root, "platform-config/templates/worker/main.jsonnet", "{", f"{{ // edit {n}\n")


def edit_environment(root: Path, n: int) -> None:
    env = ("dev", "staging", "prod")[n % 3]
    _edit(root, f"environments/{env}.yaml", "\n  env:\n", f"\n  env:\n    EDITED: \"{n}\"\n")


def edit_component(root: Path, n: int) -> None:
    path = root / "overlays/prod"
    if path.is_dir():
        for f in sorted(path.glob("*.yaml")):
            if f.name != "kustomization.yaml":
                f.write_text(f.read_text(encoding="utf-8") + f"# edit {n}\n", encoding="utf-8")
                return


def delete_cluster(root: Path, n: int) -> None:
    """prod-eu goes, with the one service's overrides for it (on odd n they stay: a validation error)."""
    rel = "environments/prod.yaml"
    text = (root / rel).read_text(encoding="utf-8")
    start = text.find("  - name: prod-eu\n")
    if start < 0:
        return
    end = text.find("\n", text.find("REGION: eu-west-1", start)) + 1
    (root / rel).write_text(text[:start] + text[end:], encoding="utf-8")
    if n % 2 == 0:
        _edit(root, f"{SERVICES}/event-ingest/config.yaml",
              "    clusters:                  # per-cluster overrides; it runs on prod-us too\n"
              "      prod-eu:\n        env:\n          BATCH_SIZE: 1000\n", "")


def touch_platform(root: Path, n: int) -> None:
    _edit(root, "platform-config/platform.yaml", "defaults:\n", f"defaults:\n  # edit {n}\n")


def set_host(root: Path, n: int) -> None:
    """A service's URL gets one of two shared hosts (or loses its host): two services with the
    same host and path on a cluster are a problem, found alike when one of them is kept from the index."""
    names = _services(root)
    if not names:
        return
    rel = f"{SERVICES}/{names[n % len(names)]}/config.yaml"
    text = (root / rel).read_text(encoding="utf-8")
    k = n // len(names)
    host = f", host: shared-{k % 2}.acme.io" if k % 3 != 2 else ""
    found = re.search(r"^expose:\n  http: \{(.*?)(?:, host: [a-z0-9.-]+)?\}\n", text, re.M)
    if found:
        text = text[:found.start()] + f"expose:\n  http: {{{found.group(1)}{host}}}\n" + text[found.end():]
    elif host:
        text += f"expose:\n  http: {{path: /{host}}}\n"
    (root / rel).write_text(text, encoding="utf-8")


def edit_observability(root: Path, n: int) -> None:
    """An slo or metrics added, an objective changed, Grafana taken from a cluster, a team's alert routing."""
    names = _services(root)
    kind = n % 4
    if kind == 0 and names:
        rel = f"{SERVICES}/{names[n % len(names)]}/config.yaml"
        text = (root / rel).read_text(encoding="utf-8")
        if "\nslo:" not in text and "\nmetrics:" not in text:
            (root / rel).write_text(text + ("slo: {availability: 99.5}\n" if n % 8 == 0 else "metrics: {port: 9100}\n"),
                                    encoding="utf-8")
    elif kind == 1:
        _edit(root, f"{SERVICES}/payment-service/config.yaml", "availability: 99.9", f"availability: 9{n % 10}.5")
    elif kind == 2:
        _edit(root, "environments/prod.yaml", "        public: {domain: eu.acme.io}\n",
              "        public: {domain: eu.acme.io}\n      grafana: null\n")
    else:
        _edit(root, "platform-config/platform.yaml", '    codeowners: "@acme/payments"\n',
              f'    codeowners: "@acme/payments"\n    routing: pay-{n}\n')


def allow_from(root: Path, n: int) -> None:
    """A service lets another in (allowFrom); removing or renaming that one later must be caught."""
    names = _services(root)
    if len(names) < 2:
        return
    rel = f"{SERVICES}/{names[n % len(names)]}/config.yaml"
    text = (root / rel).read_text(encoding="utf-8")
    if "\nallowFrom:" not in text:
        (root / rel).write_text(text + f"allowFrom: [{names[(n + 1) % len(names)]}]\n", encoding="utf-8")


def toggle_catalog_file(root: Path, n: int) -> None:
    """A service's folder gains or loses an API (openapi.yaml, asyncapi.yaml) or its docs (mkdocs.yml): the
    catalog follows; a service that consumes an API its provider no longer has (payment-service consumes
    ledger-worker's) is a problem found alike when the consumer is kept from the index."""
    names = _services(root)
    if not names:
        return
    path = root / SERVICES / names[n % len(names)] / ("asyncapi.yaml", "openapi.yaml", "mkdocs.yml")[n % 3]
    if path.exists():
        path.unlink()
    else:
        path.write_text("# added by the test\n", encoding="utf-8")


def depends_on(root: Path, n: int) -> None:
    """A service depends on another (dependsOn), or consumes another's APIs (which it may not provide)."""
    names = _services(root)
    if len(names) < 2:
        return
    rel = f"{SERVICES}/{names[n % len(names)]}/config.yaml"
    text = (root / rel).read_text(encoding="utf-8")
    key = "dependsOn" if n % 2 else "consumesApis"
    if f"\n{key}:" not in text:
        (root / rel).write_text(text + f"{key}: [{names[(n + 1) % len(names)]}]\n", encoding="utf-8")


EDITS: list[Edit] = [add_service, remove_service, rename_service, move_team, change_tag, edit_template,
                     edit_environment, edit_component, delete_cluster, touch_platform, set_host,
                     edit_observability, allow_from, toggle_catalog_file, depends_on]


def _compare(root: Path, scratch: Path) -> None:
    code_a, out_a, err_a = render(root, "--allow-delete", "--format", "json")
    shutil.rmtree(scratch, ignore_errors=True)
    code_b, out_b, err_b = render(root, "--allow-delete", "--full", "--out", scratch, "--format", "json")
    assert code_a == code_b, (out_a + err_a, out_b + err_b)
    if code_a == 0:
        a, b = tree(root / "rendered"), tree(scratch)
        assert a.keys() == b.keys()
        assert [k for k in a if a[k] != b[k]] == []
    else:  # the same problems, found from the index or from every file alike
        assert json.loads(out_a)["problems"] == json.loads(out_b)["problems"]


def _hand_edit_staged(root: Path, n: int) -> None:
    """A file of the tree edited by hand and staged: git's index tells the next render."""
    files = sorted(p for p in (root / "rendered").rglob("*.yaml") if p.is_file())
    if files:
        path = files[n % len(files)]
        path.write_bytes(path.read_bytes() + b"# edited by hand\n")
        git(root, "add", "-A")


#: What happens in git between two edits: nothing, everything staged, committed, or a staged hand edit.
GIT_STEPS: list[Callable[[Path, int], None]] = [
    lambda _root, _n: None,
    lambda root, _n: git(root, "add", "-A"),
    lambda root, _n: committed(root) and None,
    _hand_edit_staged,
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(EDITS), st.integers(0, 50), st.sampled_from(GIT_STEPS)),
                      min_size=1, max_size=5))
def test_incremental_equals_full(tmp_path_factory: pytest.TempPathFactory,
                                 steps: list[tuple[Edit, int, Callable[[Path, int], None]]]) -> None:
    """After any edits, staged, committed or left in the working tree, and staged hand edits of the tree, an
    incremental render writes what a full one does."""
    base = tmp_path_factory.mktemp("incr")
    root = copy_inputs(REPO, base / "repo")
    assert render(root)[0] == 0
    committed(root)
    for edit, n, step in steps:
        step(root, n)
        edit(root, n)
        _compare(root, base / "full")


@pytest.mark.parametrize("edit", EDITS, ids=[e.__name__ for e in EDITS])
def test_each_edit_alone(edit: Edit, example: Path, tmp_path: Path) -> None:
    """Every kind of edit once, so that none depends on the draw."""
    assert render(example)[0] == 0
    committed(example)
    edit(example, 2)
    _compare(example, tmp_path / "full")


def test_a_url_two_services_take_is_found_alike(example: Path, tmp_path: Path) -> None:
    """user-profile, then auth-service (kept from the index when user-profile is not rendered again) take
    shared-0.acme.io/ on dev-1 and staging-1: the incremental render finds it as the full one does."""
    assert render(example)[0] == 0
    committed(example)
    set_host(example, _services(example).index("user-profile"))
    _compare(example, tmp_path / "full")
    committed(example)
    set_host(example, 0)  # auth-service
    code, out, _err = render(example, "--format", "json")
    assert code == 1
    assert [p["message"] for p in json.loads(out)["problems"]] == [
        "URL shared-0.acme.io/ on cluster 'dev-1' is also taken by service 'user-profile'",
        "URL shared-0.acme.io/ on cluster 'staging-1' is also taken by service 'user-profile'",
        "URL shared-0.acme.io/ on cluster 'dev-1' is also taken by service 'auth-service'",
        "URL shared-0.acme.io/ on cluster 'staging-1' is also taken by service 'auth-service'"]


@pytest.mark.parametrize("n", [0, 1, 3, 4])
def test_each_observability_edit(n: int, example: Path, tmp_path: Path) -> None:
    """Each of the observability edits (n=2 runs above): incremental render equals a full one."""
    assert render(example)[0] == 0
    committed(example)
    edit_observability(example, n)
    _compare(example, tmp_path / "full")


# --- what is rendered again ---------------------------------------------------------------------


def test_one_tag_renders_one_service(example: Path) -> None:
    committed(example)
    assert counts(example) == {"rendered": EXAMPLE, "unchanged": 0}
    assert counts(example) == {"rendered": 0, "unchanged": EXAMPLE}
    change_tag(example, 7)  # auth-service
    assert counts(example) == {"rendered": 1, "unchanged": EXAMPLE - 1}
    assert counts(example, "--full") == {"rendered": EXAMPLE, "unchanged": 0}


def test_template_edit_renders_its_services(example: Path) -> None:
    committed(example)
    counts(example)
    users = [s for s in _services(example)
             if "template: worker" in (example / SERVICES / s / "config.yaml").read_text(encoding="utf-8")]
    edit_template(example, 2)  # the worker template
    assert counts(example) == {"rendered": len(users), "unchanged": EXAMPLE - len(users)}


def test_environment_edit_renders_its_services(example: Path) -> None:
    committed(example)
    counts(example)
    in_staging = [s for s in _services(example)
                  if "  staging:" in (example / SERVICES / s / "config.yaml").read_text(encoding="utf-8")]
    assert 0 < len(in_staging) < EXAMPLE
    _edit(example, "environments/staging.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug")
    assert counts(example) == {"rendered": len(in_staging), "unchanged": EXAMPLE - len(in_staging)}


def test_unusable_index_means_a_full_render(example: Path) -> None:
    committed(example)
    counts(example)
    before = tree(example / "rendered")
    (example / "rendered" / INDEX).write_text("<<<<<<< conflict\n", encoding="utf-8")
    assert counts(example) == {"rendered": EXAMPLE, "unchanged": 0}
    assert tree(example / "rendered") == before


@pytest.mark.parametrize("how", ["staged", "committed"])
def test_a_hand_edit_of_the_tree_is_found(example: Path, how: str) -> None:
    """git tells which files of the tree its index holds otherwise than the base: their services are rendered
    again."""
    committed(example)
    counts(example)
    git(example, "checkout", "-q", "-b", "feature")
    path = example / "rendered/services/auth-service/base/service.yaml"
    good = path.read_bytes()
    path.write_bytes(good + b"# edited by hand\n")
    git(example, "add", "rendered")
    if how == "committed":
        git(example, "commit", "-qm", "a hand edit on a branch")
    code, out, _err = render(example, "--check", "--format", "json")
    assert code == 1 and json.loads(out)["changed"] == ["services/auth-service/base/service.yaml"]
    assert json.loads(out)["services"] == {"rendered": 1, "unchanged": EXAMPLE - 1}
    assert render(example)[0] == 0
    assert path.read_bytes() == good


def test_an_unstaged_hand_edit_is_found_by_full(example: Path) -> None:
    """An incremental render does not look at each file of the tree (git's index is what it asks): an edit
    not yet staged is trusted by it, and found and repaired by --full; once staged or committed, by any render."""
    committed(example)
    counts(example)
    path = example / "rendered/services/auth-service/base/service.yaml"
    good = path.read_bytes()
    path.write_bytes(good + b"# edited by hand\n")
    code, out, _err = render(example, "--check", "--format", "json")
    assert code == 0 and json.loads(out)["services"] == {"rendered": 0, "unchanged": EXAMPLE}
    code, out, _err = render(example, "--check", "--full", "--format", "json")
    assert code == 1 and json.loads(out)["changed"] == ["services/auth-service/base/service.yaml"]
    assert render(example, "--full")[0] == 0
    assert path.read_bytes() == good


def test_outside_git_everything_is_compared(example: Path) -> None:
    """Without git nothing tells what changed in the tree since the index was written: all is rendered."""
    assert render(example)[0] == 0
    code, out, _err = render(example, "--format", "json")
    assert code == 0 and json.loads(out)["services"] == {"rendered": EXAMPLE, "unchanged": 0}


def test_removed_service_files_go(example: Path) -> None:
    committed(example)
    counts(example)
    shutil.rmtree(example / SERVICES / "report-builder")
    assert render(example, "--allow-delete")[0] == 0
    assert not (example / "rendered/services/report-builder").exists()
    assert not (example / "rendered/argocd/applicationsets/report-builder.yaml").exists()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab-_./:# 1eEyYnN~é\"'"), min_size=1, max_size=12), max_size=8))
def test_manifest_is_what_the_yaml_emitter_writes(paths: list[str]) -> None:
    """The manifest writes plain paths directly: byte-identical to the project's YAML emitter."""
    from platform_gen import yamlio
    from platform_gen.render import manifest

    expected = ("# This folder is written by platform-gen render; do not edit it by hand.\n"
                + yamlio.dump({"generator": "platform-gen", "files": sorted(set(paths))})).encode()
    assert manifest(set(paths)) == expected


def test_a_renamed_environment_file_renders_its_services_again(example: Path) -> None:
    """The headers of the generated files name the environment file: its name is an input too."""
    committed(example)
    counts(example)
    (example / "environments/staging.yaml").rename(example / "environments/staging.yml")
    _compare(example, example.parent / "full")


def test_a_no_op_does_not_load_the_schema_validator(example: Path) -> None:
    """Shared inputs that the previous render validated, byte for byte, are not checked again."""
    committed(example)
    counts(example)
    code = ("import sys\nfrom platform_gen.cli import main\nfrom platform_gen.renderers import worker\n"
            "assert main(['render', '--root', '.', '-q']) == 0\n"
            "print(sorted(m for m in ('jsonschema', 'jinja2', '_gojsonnet') if m in sys.modules), worker.spares_used)")
    done = subprocess.run([sys.executable, "-c", code], cwd=example, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] 0"
    change_tag(example, 0)  # one service without claims: rendered by the spare worker, which imported its
    # template language; platform-gen itself loads none (a valid config.yaml passes the compiled schema
    # check, so jsonschema stays unloaded)
    done = subprocess.run([sys.executable, "-c", code], cwd=example, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] 1"
    # nor what only other commands, a render of many services or other inputs use (README "Scale")
    lean = ("multiprocessing", "concurrent.futures", "logging", "tarfile", "decimal", "platform_gen.scorecard",
            "platform_gen.shard", "platform_gen.scaffold")
    change_tag(example, len(_services(example)))  # the same service, another tag
    probe = code.replace("('jsonschema', 'jinja2', '_gojsonnet')", repr(lean))
    done = subprocess.run([sys.executable, "-c", probe], cwd=example, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] 1"
    bad = example / SERVICES / _services(example)[0] / "config.yaml"
    bad.write_text(bad.read_text(encoding="utf-8") + "bogusKey: 1\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", code.replace("== 0", "== 1")], cwd=example, capture_output=True,
                          text=True, check=True)  # an invalid one is explained by jsonschema
    assert "jsonschema" in done.stdout


def test_an_environment_file_with_a_taken_name_is_checked_whole_by_an_incremental_render(example: Path) -> None:
    """A new environment file that names an environment another file defines is read for no environment; it is
    still among the shared inputs whose digest the index compares, so an incremental render checks it as a full
    one does, and reports every problem of it (exit 1, nothing written)."""
    committed(example)
    counts(example)
    (example / "environments/qa.yaml").write_text("name: dev\norder: 7\nclusters: 5\n", encoding="utf-8")
    before = tree(example / "rendered")
    code, out, err = render(example)
    assert code == 1, out + err
    assert tree(example / "rendered") == before
    full = render(example, "--full")
    assert full[0] == 1
    found = sorted(line for line in err.splitlines() if line.startswith("environments/qa.yaml"))
    assert found == sorted(line for line in full[2].splitlines() if line.startswith("environments/qa.yaml"))
    assert any("clusters: expected a list" in line for line in found)


def test_a_render_that_keeps_no_service_says_why(example: Path) -> None:
    """The summary says how many services the index kept; when it kept none (the platform-wide inputs changed, or
    the index differs from the git base's), it says so and why, instead of saying nothing."""
    committed(example)
    counts(example)
    edit_platform = example / "platform-config/platform.yaml"
    edit_platform.write_text(edit_platform.read_text(encoding="utf-8").replace("organization: acme",
                                                                                "organization: acme2", 1),
                             encoding="utf-8")
    code, out, err = render(example)
    assert code == 0, out + err
    assert (f"{EXAMPLE} service(s) rendered; none unchanged since the tree's index (the platform-wide inputs they "
            "read changed, or the index differs from the one at the git base: a render committed on this branch)"
            in err)
    change_tag(example, 0)
    code, out, err = render(example)
    assert code == 0 and f"1 service(s) rendered; {EXAMPLE - 1} unchanged since the tree's index" in err


def test_an_index_edited_by_hand_is_not_used(example: Path) -> None:
    """The index carries a checksum of itself: an edit (or a half-resolved merge) means a full render."""
    committed(example)
    counts(example)
    path = example / "rendered" / INDEX
    path.write_bytes(path.read_bytes().replace(b'"retire":false', b'"retire":true', 1))
    assert counts(example) == {"rendered": EXAMPLE, "unchanged": 0}
    assert b'"retire":true' not in path.read_bytes()


def test_a_no_op_compares_the_platform_wide_files(example: Path) -> None:
    """Nothing to render: still, an AppProject edited by hand is drift (and the render repairs it)."""
    committed(example)
    counts(example)
    project = example / "rendered/argocd/projects/payments.yaml"
    good = project.read_bytes()
    project.write_bytes(good + b"# hand edit\n")
    git(example, "add", "rendered")
    code, out, _err = render(example, "--check", "--format", "json")
    assert code == 1 and json.loads(out)["changed"] == ["argocd/projects/payments.yaml"]
    assert counts(example) == {"rendered": 0, "unchanged": EXAMPLE}
    assert project.read_bytes() == good


# --- the deletion guard looks only at the services whose lines differ ------------------------------


def retire_service(root: Path, n: int) -> None:
    names = _services(root)
    if names:
        rel = f"{SERVICES}/{names[n % len(names)]}/config.yaml"
        text = (root / rel).read_text(encoding="utf-8")
        if "\nretire:" not in text:
            (root / rel).write_text(text + "retire: true\n", encoding="utf-8")


GUARD_EDITS: list[Edit] = [*EDITS, retire_service]


def _guard_both_ways(root: Path) -> None:
    """The guard of an incremental render (lines compared, every app counted only when one may go) equals
    ``check_removals`` over every application deployed before and now."""
    from platform_gen.cli import Options, compile_incremental
    from platform_gen.errors import InputError
    from platform_gen.safety import check_removals, deployed, guard

    opts = Options(root=root, out=None, fmt="json", verbosity=0, color=False)
    try:
        platform, rendered, _previous = compile_incremental(opts, False)
    except InputError:
        return
    assert rendered.index is not None
    out = root / platform.gitops_path
    fast, fast_source = guard(root, out, "rendered", platform, rendered.index)
    before = deployed(root, out, "rendered")
    assert fast == check_removals(before, rendered.apps(platform), platform)
    assert fast_source == before.source


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(GUARD_EDITS), st.integers(0, 50),
                                st.sampled_from(["edit", "render", "commit"])), min_size=1, max_size=6))
def test_guard_of_changed_lines_equals_the_full_guard(tmp_path_factory: pytest.TempPathFactory,
                                                      steps: list[tuple[Edit, int, str]]) -> None:
    """In a git checkout whose tree on disk and at the base differ in varied ways: edits left unrendered,
    rendered (with --allow-delete) but not committed, or committed."""
    root = copy_inputs(REPO, tmp_path_factory.mktemp("guard") / "repo")
    assert render(root)[0] == 0
    committed(root)
    for edit, n, then in steps:
        edit(root, n)
        _guard_both_ways(root)
        if then != "edit" and render(root, "--allow-delete")[0] == 0 and then == "commit":
            committed(root)
            _guard_both_ways(root)


@pytest.mark.parametrize("edit", [remove_service, delete_cluster, move_team, retire_service, rename_service],
                         ids=lambda e: e.__name__)
def test_guard_each_removal_kind(edit: Edit, example: Path) -> None:
    def n(service: str, fallback: int) -> int:  # the edit's service: ledger-worker, then payment-service
        names = _services(example)
        return fallback if edit is delete_cluster or service not in names else names.index(service)

    assert render(example)[0] == 0
    committed(example)
    edit(example, n("ledger-worker", 2))
    _guard_both_ways(example)
    assert render(example, "--allow-delete")[0] == 0
    edit(example, n("payment-service", 3))
    _guard_both_ways(example)


@pytest.mark.parametrize(("edit_from", "edit_to", "message"), [
    ("defaults:\n", "defaults:\n  annotations:\n    aws: AKIAIOSFODNN7EXAMPLE\n", "looks like an AWS access key"),
])
def test_an_index_forged_to_vouch_for_new_shared_inputs_does_not_let_a_secret_through(
        example: Path, edit_from: str, edit_to: str, message: str) -> None:
    """The index records the digest of the shared inputs its render validated, and their schemas are not checked
    again while it matches (an index forged to match is a bypass the README names: the render workflow on main
    renders with --full). Secrets written into them are looked for every time: an index whose digest was made
    to match an edited platform.yaml (its checksum fixed too) lets none through: exit 1, nothing written."""
    from platform_gen.load import load_shared

    committed(example)
    counts(example)
    platform = example / "platform-config/platform.yaml"
    text = platform.read_text(encoding="utf-8")
    assert edit_from in text
    platform.write_text(text.replace(edit_from, edit_to, 1), encoding="utf-8")
    path = example / "rendered" / INDEX
    shared = load_shared(example).shared_inputs().digest()
    path.write_bytes(resealed(path.read_bytes(), lambda rest: re.sub(
        rb'^"shared":"[0-9a-f]*",$', b'"shared":"' + shared.encode() + b'",', rest, count=1, flags=re.M)))
    before = tree(example / "rendered")
    code, out, err = render(example)
    assert code == 1, out + err
    assert message in err and "platform-config/platform.yaml:" in err
    assert tree(example / "rendered") == before


@pytest.mark.parametrize("damage", [
    (b'"n":', b'"n":"x",'),  # the first fields no longer read
    (b'"placements":{', b'"placements":[{'),  # the summary no longer parses
    (b'"files":[', b'"files":["../../VICTIM.txt",'),  # a file that is not the service's (it would go with it)
], ids=["first-fields", "summary", "foreign-file"])
def test_an_index_edited_with_its_checksum_is_an_error(example: Path, damage: tuple[bytes, bytes]) -> None:
    """An edit that also fixes the checksum is no accident: exit 1 naming the service, nothing written, and
    --full (which does not read the index) repairs the tree."""
    committed(example)
    counts(example)
    path = example / "rendered" / INDEX

    def damaged(rest: bytes) -> bytes:
        lines = rest.split(b"\n")
        at = next(i for i, line in enumerate(lines) if line.startswith(b'"auth-service":'))
        old, new = damage
        lines[at] = lines[at].replace(old, new, 1)
        return b"\n".join(lines)

    path.write_bytes(resealed(path.read_bytes(), damaged))
    change_tag(example, 0)  # auth-service: its line is read to render it again
    (example / "rendered" / "VICTIM.txt").write_text("a file of someone else's\n", encoding="utf-8")
    before = tree(example / "rendered")
    code, out, err = render(example)
    assert code == 1, out + err
    assert "entry of service 'auth-service' is damaged" in err and "render --full" in err
    assert tree(example / "rendered") == before
    assert render(example, "--full")[0] == 0
    assert (example / "rendered" / "VICTIM.txt").is_file()  # not the manifest's: left alone
    committed(example)
    assert counts(example) == {"rendered": 0, "unchanged": EXAMPLE}


# --- git vouches for the config.yaml files it knows unchanged: they are not read -------------------


def test_git_vouches_only_for_files_as_its_index_holds_them(example: Path) -> None:
    from platform_gen.gitref import on_disk
    from platform_gen.index import blob_id

    committed(example)
    names = _services(example)
    rel = [f"{SERVICES}/{n}/config.yaml" for n in names]
    (example / rel[0]).write_text((example / rel[0]).read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    (example / rel[1]).write_text((example / rel[1]).read_text(encoding="utf-8") + "# staged\n", encoding="utf-8")
    git(example, "add", rel[1])
    (example / rel[2]).unlink()
    shutil.copytree(example / SERVICES / names[3], example / SERVICES / "untracked-svc")
    (example / rel[4]).write_text((example / rel[4]).read_text(encoding="utf-8") + "# staged\n", encoding="utf-8")
    git(example, "add", rel[4])
    (example / rel[4]).write_text((example / rel[4]).read_text(encoding="utf-8") + "# and edited\n", encoding="utf-8")
    git(example, "update-index", "--assume-unchanged", rel[5])
    found = on_disk(example, SERVICES)
    assert found is not None
    # edited, deleted, untracked and marked files are not vouched for; a staged one is, with the id of its
    # bytes (a folder's other files, its docs and APIs, are vouched for too: only their presence is an input)
    assert {r for r in found.ids if r.endswith("/config.yaml")} == {rel[1], *rel[3:4], *rel[6:]}
    assert all(found.ids[r] == blob_id((example / r).read_bytes()) for r in found.ids)
    assert {rel[0], rel[2], rel[4], rel[5], f"{SERVICES}/untracked-svc/config.yaml"} <= found.unsure
    assert found.is_file(rel[3]) is True and found.is_file(rel[0]) is None
    assert found.is_file(f"{SERVICES}/{names[3]}/no-such-file.yaml") is False
    shutil.rmtree(example / ".git")
    assert on_disk(example, SERVICES) is None  # outside git nothing is vouched for


@pytest.mark.parametrize("how", ["tracked", "untracked", "ignored", "link", "folder", "deleted", "nested repo"])
def test_a_catalog_file_is_seen_however_git_holds_it(example: Path, tmp_path: Path, how: str) -> None:
    """Which catalog files (docs, APIs) a service folder holds is an input: git's index tells it without a look
    at each folder, and the disk where git cannot vouch; either way the render equals a full one."""
    committed(example)
    counts(example)
    folder = example / SERVICES / _services(example)[0]
    api = folder / "openapi.yaml"
    spec = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
    if how == "link":
        (folder / "spec.yaml").write_text(spec, encoding="utf-8")
        api.symlink_to("spec.yaml")
    elif how == "folder":
        api.mkdir()
        (api / "x.yaml").write_text(spec, encoding="utf-8")
    elif how == "nested repo":
        api.write_text(spec, encoding="utf-8")
        git(folder, "init", "-q")
    else:
        api.write_text(spec, encoding="utf-8")
    if how == "ignored":
        (example / ".gitignore").write_text("openapi.yaml\n", encoding="utf-8")
    if how in ("tracked", "deleted"):
        git(example, "add", "-A")
        git(example, "commit", "-qm", "an API")
        counts(example)
    if how == "deleted":
        api.unlink()
    code, out, err = render(example, "--format", "json")
    assert code == 0, out + err
    if how in ("folder", "tracked"):  # a folder is no file; a committed API was rendered before
        assert json.loads(out)["services"]["rendered"] == 0
    else:
        assert json.loads(out)["services"]["rendered"] == 1
    code, out, err = render(example, "--check", "--full")
    assert code == 0, out + err


def test_a_service_folder_that_is_a_submodule_is_read_from_disk(example: Path) -> None:
    """git's index lists a submodule as one entry, not its files: whether it holds an API is told by the disk,
    so an incremental render equals a full one and stays as it is (it once lost the API every other run)."""
    committed(example)
    counts(example)
    folder = example / SERVICES / "sub-svc"
    shutil.copytree(example / SERVICES / _services(example)[0], folder)
    config = folder / "config.yaml"
    config.write_text(re.sub(r"(?m)^name: .*$", "name: sub-svc", config.read_text(encoding="utf-8")),
                      encoding="utf-8")
    (folder / "openapi.yaml").write_text("openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
                                         encoding="utf-8")
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "a repository of its own")
    assert render(example, "--full")[0] == 0
    git(example, "add", "-A")  # the folder becomes a gitlink (mode 160000)
    git(example, "commit", "-qm", "a submodule")
    catalog = example / "rendered/catalog/services/sub-svc.yaml"
    assert b"openapi" in catalog.read_bytes()
    for _ in range(2):
        code, out, err = render(example, "--check")
        assert code == 0, out + err
        assert render(example)[0] == 0
        assert b"openapi" in catalog.read_bytes()


@pytest.mark.parametrize("how", ["untracked", "staged", "committed", "ignored", "link"])
def test_a_config_yml_beside_a_vouched_config_yaml_is_refused(example: Path, how: str) -> None:
    """git's index tells there is no config.yml beside a config.yaml it vouches for; one it cannot vouch for
    is looked at, so a second config file is refused however git holds it."""
    committed(example)
    counts(example)
    folder = example / SERVICES / _services(example)[0]
    yml = folder / "config.yml"
    if how == "link":
        yml.symlink_to("config.yaml")
    else:
        yml.write_bytes((folder / "config.yaml").read_bytes())
    if how == "ignored":
        (example / ".gitignore").write_text("config.yml\n", encoding="utf-8")
    if how in ("staged", "committed"):
        git(example, "add", "-A")
    if how == "committed":
        git(example, "commit", "-qm", "a second config file")
    code, out, err = render(example)
    assert code == 1, out + err
    assert "both config.yaml and config.yml exist" in err


@pytest.mark.parametrize("how", ["edit", "stage", "commit", "untracked"])
def test_a_config_edit_is_rendered_however_git_holds_it(example: Path, how: str) -> None:
    committed(example)
    assert counts(example) == {"rendered": EXAMPLE, "unchanged": 0}
    if how == "untracked":
        add_service(example, 0)  # a copy of a service without claims
    else:
        change_tag(example, 1)
        if how in ("stage", "commit"):
            git(example, "add", "-A", SERVICES)
        if how == "commit":
            git(example, "commit", "-q", "-m", "config only")
    code, out, err = render(example, "--format", "json")
    assert code == 0, out + err
    assert json.loads(out)["services"] == {"rendered": 1, "unchanged": EXAMPLE if how == "untracked" else EXAMPLE - 1}
    code, out, err = render(example, "--check", "--full")
    assert code == 0, out + err


def test_a_pull_request_that_commits_the_index_but_stale_files_fails_check(example: Path) -> None:
    """The index says a service was rendered again since the base, its files are the base's: the lines of
    the index that differ from the base's are not taken on trust, so --check finds the stale files and render
    repairs them."""
    committed(example)
    assert render(example)[0] == 0
    committed(example)
    git(example, "checkout", "-q", "-b", "pr")
    change_tag(example, 0)  # auth-service
    assert render(example)[0] == 0
    stale = ["rendered/services/auth-service", "rendered/argocd/applicationsets/auth-service.yaml"]
    git(example, "checkout", "main", "--", *stale)  # a mis-resolved conflict, a "restore" of the tree
    git(example, "add", "-A")
    git(example, "commit", "-q", "-m", "config and index, with the files of main")
    code, out, err = render(example, "--check")
    assert code == 1, out + err
    assert "changed:  services/auth-service/overlays/" in out + err
    code, out, err = render(example, "--format", "json")
    assert code == 0, out + err
    assert json.loads(out)["services"]["rendered"] == 1 and json.loads(out)["changed"]
    assert render(example, "--check", "--full")[0] == 0


def test_removing_a_service_another_allows_is_caught_incrementally(example: Path) -> None:
    """payment-service (not rendered again) lets event-ingest in: removing event-ingest is an error there."""
    root = example
    assert render(root)[0] == 0
    committed(root)
    shutil.rmtree(root / SERVICES / "event-ingest")
    code, _out, err = render(root, "--allow-delete")
    assert code == 1
    assert (f"{SERVICES}/payment-service/config.yaml:45:13: error: allowFrom[0]: allowFrom names service "
            "'event-ingest', which does not exist") in err, err


# --- the Backstage catalog follows the service folders' files and names ---------------------------


def test_a_catalog_file_renders_its_service_again(example: Path, tmp_path: Path) -> None:
    """An API or docs file in a service folder is an input of that service (its presence, not its bytes)."""
    committed(example)
    counts(example)
    (example / SERVICES / "auth-service" / "openapi.yaml").write_text("openapi: 3.0.3\n", encoding="utf-8")
    (example / SERVICES / "auth-service" / "mkdocs.yml").write_text("site_name: auth-service\n", encoding="utf-8")
    assert counts(example) == {"rendered": 1, "unchanged": EXAMPLE - 1}
    component = (example / "rendered/catalog/services/auth-service.yaml").read_text(encoding="utf-8")
    assert "  - auth-service.openapi\n" in component and "backstage.io/techdocs-ref: dir:.\n" in component
    _compare(example, tmp_path / "full")
    # user-profile, kept as it is, consumes event-ingest's API: removing the API is found there
    (example / SERVICES / "event-ingest" / "asyncapi.yaml").unlink()
    code, out, _err = render(example, "--format", "json")
    assert code == 1
    assert [(p["file"], p["line"], p["message"]) for p in json.loads(out)["problems"]] == [
        (f"{SERVICES}/user-profile/config.yaml", 22, "service 'event-ingest' provides no asyncapi API "
         "(platform-config/services/event-ingest/ has no asyncapi.yaml)")]
    _compare(example, tmp_path / "full")


def test_removing_a_service_another_depends_on_is_caught_incrementally(example: Path) -> None:
    """user-profile (not rendered again) depends on event-ingest and consumes its API."""
    assert render(example)[0] == 0
    committed(example)
    shutil.rmtree(example / SERVICES / "event-ingest")
    code, _out, err = render(example, "--allow-delete")
    assert code == 1
    assert (f"{SERVICES}/user-profile/config.yaml:21:13: error: dependsOn[0]: dependsOn names service "
            "'event-ingest', which does not exist") in err, err
    assert (f"{SERVICES}/user-profile/config.yaml:22:16: error: consumesApis[0]: consumesApis names service "
            "'event-ingest', which does not exist") in err, err


_PATH_PARTS = st.sampled_from(["services", "argocd", "applicationsets", "catalog", "x.yaml", "a", "/", ".", "..",
                               "\0", ".yaml", "é"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_PATH_PARTS, max_size=7).map("".join), max_size=4))
def test_the_index_checks_its_shared_files_as_each_one_alone(paths: list[str]) -> None:
    """An index's platform-wide files are checked by one search over them all (thousands at 5,000 services):
    it refuses exactly what checking each path alone (plain, and no service's) refuses."""
    from platform_gen.index import _plain, _shared_files_ok, owner

    assert _shared_files_ok(tuple(paths)) == all(owner(f) is None and _plain(f) for f in paths)


# --- the services git vouches are as the index records them are kept in one piece ----------------------

_FOLDERS = ["a", "a-b", "b", "c.d"]
_BLOBS = ["1" * 40, "2" * 40]


@st.composite
def _vouching(draw: st.DrawFn) -> tuple[object, set[tuple[bytes, bytes, bytes]]]:
    """What git's index holds below the services folder, and the start of an index's lines."""
    from platform_gen.gitref import OnDisk
    from platform_gen.load import FEATURE_FILES

    ids: dict[str, str] = {}
    unsure: set[str] = set()
    opaque: set[str] = set()
    keys: set[tuple[bytes, bytes, bytes]] = set()
    for folder in _FOLDERS:
        rel = f"{SERVICES}/{folder}"
        if draw(st.booleans()):
            ids[f"{rel}/config.yaml"] = draw(st.sampled_from(_BLOBS))
        for name in draw(st.lists(st.sampled_from([*FEATURE_FILES, "config.yml", "README.md"]), unique=True)):
            ids[f"{rel}/{name}"] = _BLOBS[0]
        for name in draw(st.lists(st.sampled_from(["config.yaml", "openapi.yaml", "docs/x.md"]), max_size=1)):
            ids.pop(f"{rel}/{name}", None)
            unsure.add(f"{rel}/{name}")
        if draw(st.integers(0, 9)) == 0:
            opaque.add(f"{rel}/vendored")
            unsure.add(f"{rel}/vendored")
        if draw(st.booleans()):
            held = draw(st.lists(st.sampled_from(FEATURE_FILES), unique=True).map(sorted))
            keys.add((folder.encode(), draw(st.sampled_from(_BLOBS)).encode(),
                      json.dumps(held, separators=(",", ":")).encode()))
    if draw(st.integers(0, 9)) == 0:
        unsure.add(SERVICES)  # the services folder itself is a link or a submodule
    return OnDisk(ids, frozenset(unsure), frozenset(opaque)), keys


@settings(max_examples=300, deadline=None)
@given(_vouching())
def test_services_kept_in_one_piece_are_those_each_look_would_keep(case: tuple[object, set]) -> None:
    """``vouched_unchanged`` compares every folder with the index at once (#9): it keeps exactly the folders
    that looking at each one would: git vouches for its config.yaml with the id the index records, holds no
    config.yml beside it, the same catalog files, and nothing below it that git cannot vouch for."""
    from platform_gen.gitref import OnDisk
    from platform_gen.load import service_features, vouched_unchanged

    known, keys = case
    assert isinstance(known, OnDisk)
    recorded = {name.decode(): (config.decode(), json.loads(held)) for name, config, held in keys}
    expected: dict[str, tuple[str, ...]] = {}
    for folder, (config, held) in recorded.items():
        rel = f"{SERVICES}/{folder}"
        below = [p for p in (*known.unsure, *known.opaque) if p.startswith(rel + "/")]
        features = service_features("/nowhere", known, rel)
        if SERVICES not in known.unsure and not below and known.ids.get(f"{rel}/config.yaml") == config \
                and known.is_file(f"{rel}/config.yml") is False and list(features) == held:
            expected[folder] = features
    same, features_of = vouched_unchanged(known, keys)
    assert same == set(expected)
    assert features_of == {f: held for f, held in expected.items() if held}


def test_the_start_of_index_lines_gives_teams_and_counts_as_their_heads(example: Path) -> None:
    """The teams and file counts read in one piece from the start of the index's lines (CODEOWNERS, the
    files kept) are those of each line's first fields, also once a summary replaced a line; a line whose
    first fields are damaged is read by its head, which says so."""
    from platform_gen.index import DamagedIndex, generator_digest, parse

    committed(example)
    counts(example)
    data = (example / "rendered" / INDEX).read_bytes()
    index = parse(data, generator_digest())
    assert index is not None
    entries = index.entries
    names = list(entries)
    assert entries.teams() == {n: entries.head(n).team for n in names}  # type: ignore[union-attr]
    assert entries.file_count() == sum(len(entries[n].files) for n in names)
    first = entries[names[0]]
    moved = entries.updated({first.name: replace_team(first, "another-team")})
    assert moved.teams()[first.name] == "another-team"
    assert moved.file_count() == entries.file_count()
    assert {k[0].decode() for k in entries.keys_read()} == set(names)
    assert {k[0].decode() for k in moved.keys_read()} == set(names[1:])
    # the first fields of a line damaged, and the checksum made to hold: its head tells
    def first_fields_damaged(rest: bytes) -> bytes:
        cut = rest.index(b'"n":', rest.index(f'\n"{names[1]}":'.encode()))
        return rest[:cut] + b'"n":"x",' + rest[cut:]

    damaged = parse(resealed(data, first_fields_damaged), generator_digest())
    assert damaged is not None
    with pytest.raises(DamagedIndex):
        damaged.entries.teams()
    with pytest.raises(DamagedIndex):
        damaged.entries.file_count()


def replace_team(summary: object, team: str) -> object:
    import dataclasses

    return dataclasses.replace(summary, team=team)  # type: ignore[type-var]


def test_the_generator_digest_is_that_of_its_files() -> None:
    """The generator's digest, computed while the CLI imports (``launch``), is ``index.digest`` of each of its
    code and data files' path and bytes in name order, the starter platform and byte code left out."""
    from importlib import resources

    from platform_gen.index import digest, generator_digest

    parts: list[bytes | str] = []

    def walk(node: object, rel: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):  # type: ignore[attr-defined]
            name = f"{rel}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__" and name != "data/starter":
                    walk(child, name + "/")
            elif child.name.endswith((".py", ".lua", ".yaml", ".json", ".libsonnet", ".jsonnet")):
                parts.extend((name, child.read_bytes()))

    walk(resources.files("platform_gen"), "")
    assert len(parts) > 100
    assert generator_digest() == digest(*parts)


def test_a_one_service_render_uses_the_spare_worker(example: Path) -> None:
    """An incremental render forks its template worker first, which imports the template languages while the
    platform loads (``worker.prepare``), and sends it the changed service's jobs; the tree is the one a full
    render makes, and no worker is left behind. ``--full`` (thousands of contexts: a fork inherits them) does
    not start one."""
    from platform_gen.renderers import worker

    committed(example)
    counts(example)
    change_tag(example, 7)
    before = worker.spares_used
    assert counts(example) == {"rendered": 1, "unchanged": EXAMPLE - 1}
    assert worker.spares_used == before + 1
    assert worker._spare is None
    code, out, err = render(example, "--check", "--full")
    assert code == 0, out + err
    assert worker.spares_used == before + 1
    assert counts(example) == {"rendered": 0, "unchanged": EXAMPLE}  # forked, not used, stopped
    assert worker.spares_used == before + 1 and worker._spare is None
