"""CI wiring: the GitHub workflows, the pre-commit hooks and the yamllint config.

Schemas: the GitHub workflow schema (and the job-timeout schema) that
check-jsonschema vendors. check-jsonschema ships no schema for
``.pre-commit-hooks.yaml``, so ``HOOKS_SCHEMA`` below states the manifest keys
pre-commit documents, with unknown keys rejected.

The shell in the workflows is run here too, with stub ``gh``/``platform-gen``
and a local bare repository standing in for GitHub.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from platform_gen.cli import cli
from platform_gen.load import YAMLLINT_FILE
from platform_gen.schemas import CODEOWNERS_PATHS

from .conftest import CONSOLE_SCRIPT
from .conftest import EXAMPLE_SERVICES as EXAMPLE

REPO = Path(__file__).resolve().parent.parent
PR = REPO / ".github" / "workflows" / "pr.yaml"
RENDER = REPO / ".github" / "workflows" / "render.yaml"
SHARDED = REPO / ".github" / "workflows" / "render-sharded.yaml"
PROMOTE = REPO / ".github" / "workflows" / "promote.yaml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
YAMLLINT = REPO / ".yamllint.yaml"
MARKER = "<!-- platform-gen-diff -->"
INPUT_PATHS = ("platform-config/**", "environments/**", "overlays/**", "generator/**", "pyproject.toml")

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash not on the PATH")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not on the PATH")


# --- loading --------------------------------------------------------------------------------


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader whose only booleans are true/false, as GitHub reads ``on:``."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


def load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)


class Context(dict[str, Any]):
    """A context of GitHub's expressions: a missing property is null."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return Context(value) if isinstance(value, dict) else value


def expression(value: str, contexts: dict[str, dict[str, Any]]) -> Any:
    """Evaluate one GitHub expression (``${{ ... }}``, or an ``if:`` without it) against ``contexts``.

    The subset the workflows use: property access, string and number literals, true/false/null,
    ==, !=, >, !, && and || (which, as in Python, yield an operand), format() and fromJSON().
    """
    inner = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", value, re.S)
    code = inner[1] if inner else value
    assert "${{" not in code, f"one expression expected: {value!r}"
    code = code.replace("&&", " and ").replace("||", " or ")
    code = re.sub(r"!(?!=)", " not ", code)
    names = {"true": True, "false": False, "null": None, "fromJSON": json.loads,
             "format": lambda fmt, *args: fmt.format(*(text(a) for a in args))}
    scope = {name: Context(ctx) for name, ctx in contexts.items()}
    return eval(code, {"__builtins__": {}, **names}, scope)  # only the repo's own workflow files


def text(value: Any) -> str:
    """An expression's value as GitHub writes it into an env var or an output."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def vendored_schema(package: str, name: str) -> dict[str, Any]:
    text = resources.files(f"check_jsonschema.builtin_schemas.{package}").joinpath(name)
    return json.loads(text.read_text(encoding="utf-8"))


def schema_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of the workflow's main job: pr.yaml's check job, render.yaml's render job."""
    jobs = workflow["jobs"]
    (job,) = jobs.values() if len(jobs) == 1 else [jobs["check"] if "check" in jobs else jobs["render"]]
    return list(job["steps"])


def step(workflow: dict[str, Any], step_id: str) -> dict[str, Any]:
    matches = [s for s in steps(workflow) if s.get("id") == step_id]
    assert len(matches) == 1, f"expected one step with id {step_id!r}"
    return matches[0]


def uses(workflow: dict[str, Any], action: str) -> dict[str, Any]:
    matches = [s for s in steps(workflow) if str(s.get("uses", "")).startswith(action + "@")]
    assert len(matches) == 1, f"expected one step using {action}"
    return matches[0]


@pytest.fixture(scope="module")
def pr() -> dict[str, Any]:
    return load(PR)


@pytest.fixture(scope="module")
def render() -> dict[str, Any]:
    return load(RENDER)


@pytest.fixture(scope="module")
def hooks() -> list[dict[str, Any]]:
    return load(HOOKS)


@pytest.fixture(scope="module")
def workflow_schema() -> dict[str, Any]:
    return vendored_schema("vendor", "github-workflows.json")


@pytest.fixture(scope="module")
def timeout_schema() -> dict[str, Any]:
    return vendored_schema("custom", "github-workflows-require-timeout.json")


# --- schemas --------------------------------------------------------------------------------

HOOKS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["id", "name", "entry", "language"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
            "name": {"type": "string", "minLength": 1},
            "entry": {"type": "string", "minLength": 1},
            "language": {
                "enum": [
                    "conda", "coursier", "dart", "docker", "docker_image", "dotnet", "fail",
                    "golang", "haskell", "julia", "lua", "node", "perl", "pygrep", "python", "r",
                    "ruby", "rust", "script", "swift", "system", "unsupported",
                    "unsupported_script",
                ]
            },
            "alias": {"type": "string"},
            "description": {"type": "string"},
            "files": {"type": "string", "format": "regex"},
            "exclude": {"type": "string", "format": "regex"},
            "types": {"type": "array", "items": {"type": "string"}},
            "types_or": {"type": "array", "items": {"type": "string"}},
            "exclude_types": {"type": "array", "items": {"type": "string"}},
            "additional_dependencies": {"type": "array", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "always_run": {"type": "boolean"},
            "fail_fast": {"type": "boolean"},
            "pass_filenames": {"type": "boolean"},
            "require_serial": {"type": "boolean"},
            "verbose": {"type": "boolean"},
            "log_file": {"type": "string"},
            "language_version": {"type": "string"},
            "minimum_pre_commit_version": {"type": "string"},
            "stages": {"type": "array", "items": {"type": "string"}},
        },
    },
}


@pytest.mark.parametrize("path", [PR, RENDER, SHARDED, PROMOTE], ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path, workflow_schema: dict[str, Any]) -> None:
    assert schema_errors(workflow_schema, load(path)) == []


@pytest.mark.parametrize("path", [PR, RENDER, SHARDED, PROMOTE], ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path, timeout_schema: dict[str, Any]) -> None:
    assert schema_errors(timeout_schema, load(path)) == []


def test_hooks_match_manifest_schema(hooks: list[dict[str, Any]]) -> None:
    assert schema_errors(HOOKS_SCHEMA, hooks) == []


def _break_permissions(w: dict[str, Any]) -> None:
    w["permissions"]["contents"] = "admin"


def _drop_runs_on(w: dict[str, Any]) -> None:
    del next(iter(w["jobs"].values()))["runs-on"]


def _rename_on(w: dict[str, Any]) -> None:
    w["trigger"] = w.pop("on")


@pytest.mark.parametrize("breakage", [_break_permissions, _drop_runs_on, _rename_on])
def test_workflow_schema_rejects_broken_workflows(breakage: Any, pr: dict[str, Any],
                                                  workflow_schema: dict[str, Any]) -> None:
    broken = copy.deepcopy(pr)
    breakage(broken)
    assert schema_errors(workflow_schema, broken)


def test_timeout_schema_rejects_job_without_timeout(render: dict[str, Any],
                                                    timeout_schema: dict[str, Any]) -> None:
    broken = copy.deepcopy(render)
    del broken["jobs"]["render"]["timeout-minutes"]
    assert schema_errors(timeout_schema, broken)


@pytest.mark.parametrize("change", [{"language": "pyhton"}, {"entry": None}, {"filez": "^x"},
                                    {"files": "(unclosed"}])
def test_hooks_schema_rejects_broken_hooks(change: dict[str, Any],
                                           hooks: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(hooks)
    for key, value in change.items():
        if value is None:
            del broken[0][key]
        else:
            broken[0][key] = value
    assert schema_errors(HOOKS_SCHEMA, broken)


# --- pr.yaml --------------------------------------------------------------------------------


def test_pr_triggers_on_inputs_tree_and_itself(pr: dict[str, Any]) -> None:
    paths = pr["on"]["pull_request"]["paths"]
    for wanted in (*INPUT_PATHS, "rendered/**", ".github/workflows/pr.yaml"):
        assert wanted in paths


def test_pr_triggers_on_what_render_check_and_validate_read(pr: dict[str, Any]) -> None:
    # a hand-edited CODEOWNERS is drift for render --check; validate reads .yamllint.yaml
    paths = pr["on"]["pull_request"]["paths"]
    for wanted in (*CODEOWNERS_PATHS, YAMLLINT_FILE):
        assert wanted in paths


def test_pr_triggers_on_the_editor_schemas(pr: dict[str, Any]) -> None:
    # a hand-edited or stale editor schema is drift for render --check
    assert "schemas/**" in pr["on"]["pull_request"]["paths"]


def test_pr_permissions_are_minimal(pr: dict[str, Any]) -> None:
    assert pr["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "permissions" not in pr["jobs"]["check"]


def test_pr_runs_are_per_pull_request_and_cancel_older_ones(pr: dict[str, Any]) -> None:
    assert "github.event.pull_request.number" in pr["concurrency"]["group"]
    assert pr["concurrency"]["cancel-in-progress"] is True


def test_pr_checks_out_full_history_for_the_diff_base(pr: dict[str, Any]) -> None:
    assert uses(pr, "actions/checkout")["with"]["fetch-depth"] == 0


def test_pr_sets_up_python_311_with_pip_cache(pr: dict[str, Any]) -> None:
    setup = uses(pr, "actions/setup-python")["with"]
    assert (setup["python-version"], setup["cache"]) == ("3.11", "pip")


def test_pr_check_steps_run_in_order(pr: dict[str, Any]) -> None:
    runs = [s.get("run", "").strip() for s in steps(pr)]
    order = [runs.index("pip install '.[dev]'"),
             runs.index(step(pr, "render")["run"].strip()),
             runs.index(step(pr, "validate")["run"].strip()),
             next(i for i, r in enumerate(runs) if r.startswith("platform-gen diff")),
             runs.index(step(pr, "comment")["run"].strip())]
    assert order == sorted(order)
    assert "platform-gen render --check \"${args[@]}\"" in step(pr, "render")["run"]
    assert "platform-gen validate --base \"origin/${BASE_REF}\" \"${args[@]}\"" in step(pr, "validate")["run"]


def test_pr_restores_and_saves_the_validate_cache(pr: dict[str, Any]) -> None:
    restore, save = uses(pr, "actions/cache/restore"), uses(pr, "actions/cache/save")
    ids = [s.get("id") for s in steps(pr)]
    assert ids.index(restore["id"]) < ids.index("validate") < ids.index(save["id"])
    assert restore["with"]["path"] == save["with"]["path"] == ".cache/platform-gen/validate"
    prefix = "platform-gen-validate-${{ runner.os }}-${{ hashFiles('pyproject.toml') }}-"
    assert restore["with"]["key"] == prefix + "${{ github.run_id }}-${{ github.run_attempt }}"
    assert restore["with"]["restore-keys"].strip() == prefix
    assert save["with"]["key"] == "${{ steps.validate-cache.outputs.cache-primary-key }}"
    # kept when validate finds problems too, never for a cancelled run
    assert save["if"] == "${{ !cancelled() && steps.validate.outcome != 'skipped' }}"


LABEL_EXPR = "${{ contains(github.event.pull_request.labels.*.name, 'allow-delete') }}"


def test_pr_reruns_when_labels_change(pr: dict[str, Any]) -> None:
    types = pr["on"]["pull_request"]["types"]
    assert {"opened", "synchronize", "reopened", "labeled", "unlabeled"} <= set(types)


@pytest.mark.parametrize("step_id", ["render", "validate"])
def test_pr_turns_the_allow_delete_label_into_the_flag(step_id: str, pr: dict[str, Any]) -> None:
    assert step(pr, step_id)["env"]["ALLOW_DELETE"] == LABEL_EXPR


def test_pr_diff_is_markdown_against_the_base_branch(pr: dict[str, Any]) -> None:
    diff = step(pr, "diff")
    words = shlex.split(diff["run"].splitlines()[0])
    assert words[:2] == ["platform-gen", "diff"]
    assert words[words.index("--format") + 1] == "markdown"
    assert words[words.index("--base") + 1] == "origin/${BASE_REF}"
    assert words[-2:] == [">", "diff.md"]
    assert diff["env"]["BASE_REF"] == "${{ github.base_ref }}"


def test_pr_later_steps_survive_failures_but_not_cancellation(pr: dict[str, Any]) -> None:
    # validate reports even when the tree is stale; diff needs a fresh tree
    # but not a passing validate; a cancelled run must not touch the comment.
    validate, diff = step(pr, "validate")["if"], step(pr, "diff")["if"]
    assert "!cancelled()" in validate and "steps.render" not in validate
    assert "!cancelled()" in diff and "steps.render.outcome == 'success'" in diff
    assert "steps.render.outputs.refused == 'true'" in diff  # a refusal still shows the diff
    assert "steps.validate" not in diff
    for s in steps(pr):
        assert "always()" not in str(s.get("if", "")), s.get("name")


def test_pr_comment_is_sticky_and_posted_with_gh(pr: dict[str, Any]) -> None:
    comment = step(pr, "comment")
    script = comment["run"]
    assert MARKER in script
    assert "gh api --paginate" in script
    assert "repos/${GITHUB_REPOSITORY}/issues/${PR_NUMBER}/comments" in script
    assert "--method PATCH" in script and "--method POST" in script
    assert comment["env"]["GH_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"


def test_pr_comment_is_skipped_for_forks(pr: dict[str, Any]) -> None:
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    assert same_repo in step(pr, "comment")["if"]
    assert same_repo.replace("==", "!=") in step(pr, "fork-notice")["if"]


# --- render.yaml ----------------------------------------------------------------------------


def test_render_triggers_on_inputs_but_not_on_its_own_output(render: dict[str, Any]) -> None:
    push = render["on"]["push"]
    assert push["branches"] == ["main"]
    for wanted in INPUT_PATHS:
        assert wanted in push["paths"]
    assert not [p for p in push["paths"] if p.lstrip("!").startswith("rendered")]
    # the guard sits on the plan job; the jobs that render need it, so they are skipped with it
    assert "github.actor != 'github-actions[bot]'" in render["jobs"]["plan"]["if"]
    assert render["jobs"]["render"]["needs"] == render["jobs"]["sharded"]["needs"] == "plan"


def test_render_can_be_run_by_hand_with_allow_delete(render: dict[str, Any]) -> None:
    allow = render["on"]["workflow_dispatch"]["inputs"]["allow_delete"]
    assert (allow["type"], allow["default"]) == ("boolean", False)
    env = step(render, "render")["env"]["ALLOW_DELETE"]
    assert "github.event_name == 'workflow_dispatch'" in env and "inputs.allow_delete" in env


def test_render_runs_one_at_a_time_and_may_push(render: dict[str, Any]) -> None:
    assert render["concurrency"] == {"group": "render-main", "cancel-in-progress": False}
    assert render["permissions"] == {"contents": "write"}


def test_render_plans_with_read_access_only(render: dict[str, Any]) -> None:
    plan = render["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read"}
    assert plan["outputs"] == {"shards": "${{ steps.plan.outputs.shards }}",
                               "base": "${{ steps.scope.outputs.base }}",
                               "per_shard": "${{ steps.scope.outputs.per_shard }}"}
    # platform-gen is installed only when the plan needs it
    install = [s for s in plan["steps"] if "setup-python" in str(s.get("uses")) or s.get("run") == "pip install ."]
    assert [s["if"] for s in install] == ["${{ steps.scope.outputs.plan == 'true' }}"] * 2


@pytest.mark.parametrize(("shards", "runs"), [("1", "render"), ("2", "sharded"), ("256", "sharded")])
def test_render_runs_one_job_or_calls_the_sharded_workflow(shards: str, runs: str, render: dict[str, Any]) -> None:
    needs = {"plan": {"outputs": {"shards": shards, "base": "abc", "per_shard": "50"}}}
    ran = [job for job in ("render", "sharded") if expression(render["jobs"][job]["if"], {"needs": needs})]
    assert ran == [runs]


def test_render_calls_the_sharded_workflow_with_its_inputs(render: dict[str, Any], sharded: dict[str, Any]) -> None:
    call = render["jobs"]["sharded"]
    assert call["uses"] == "./" + SHARDED.relative_to(REPO).as_posix()
    declared = sharded["on"]["workflow_call"]["inputs"]
    assert call["with"].keys() == declared.keys()
    needs = {"plan": {"outputs": {"shards": "3", "base": "abc", "per_shard": "50"}}}
    python_types = {"string": str, "number": int, "boolean": bool}
    passed = {name: expression(v, {"needs": needs}) if isinstance(v, str) and "${{" in v else v
              for name, v in call["with"].items()}
    for name, value in passed.items():
        assert type(value) is python_types[declared[name]["type"]], name  # GitHub checks the types
    assert passed == {"base": "abc", "per_shard": 50, "allow_delete": False}  # a push never allows deletions


def test_render_grants_the_sharded_workflow_what_its_jobs_ask_for(render: dict[str, Any],
                                                                  sharded: dict[str, Any]) -> None:
    # a called workflow can only narrow its caller's token
    granted = render["jobs"]["sharded"].get("permissions", render["permissions"])
    level = {"none": 0, "read": 1, "write": 2}
    for name, job in sharded["jobs"].items():
        for scope, access in job.get("permissions", sharded["permissions"]).items():
            assert level[access] <= level[granted.get(scope, "none")], (name, scope)


# --- the shell inside the workflows ----------------------------------------------------------


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a step's script as the runner does (``bash -e``)."""
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, check=False, timeout=60)


def stub(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(0o755)


@needs_bash
@pytest.mark.parametrize(("value", "expected"), [("true", "render --full --allow-delete"),
                                                 ("false", "render --full"), ("", "render --full")])
def test_render_step_passes_allow_delete_only_when_asked(
    value: str, expected: str, render: dict[str, Any], tmp_path: Path
) -> None:
    stub(tmp_path / "bin", "platform-gen", 'echo "$*" > "$CALLS"\n')
    calls = tmp_path / "calls"
    result = bash(step(render, "render")["run"], tmp_path, {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "ALLOW_DELETE": value, "CALLS": str(calls)})
    assert result.returncode == 0, result.stderr
    assert calls.read_text(encoding="utf-8").strip() == expected


GH_STUB = """\
echo "$*" >> "$GH_LOG"
for arg in "$@"; do
  case "$arg" in body=@*) cp "${arg#body=@}" "$GH_BODY" ;; esac
done
case " $* " in *" --paginate "*) printf '%s' "$GH_IDS" ;; esac
"""


def post_comment(pr: dict[str, Any], tmp_path: Path, diff: str | None, ids: str,
                 render_outcome: str = "success", refused: str = "") -> tuple[list[str], str]:
    stub(tmp_path / "bin", "gh", GH_STUB)
    if diff is not None:
        (tmp_path / "diff.md").write_text(diff, encoding="utf-8")
    log, body = tmp_path / "gh.log", tmp_path / "body.md"
    result = bash(step(pr, "comment")["run"], tmp_path, {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "GH_LOG": str(log), "GH_BODY": str(body), "GH_IDS": ids,
        "GITHUB_REPOSITORY": "acme/platform", "PR_NUMBER": "7", "RUN_URL": "https://ci/run/1",
        "RENDER_OUTCOME": render_outcome, "REFUSED": refused,
        "DIFF_OUTCOME": "success" if diff is not None else "skipped"})
    assert result.returncode == 0, result.stderr
    return log.read_text(encoding="utf-8").splitlines(), body.read_text(encoding="utf-8")


@needs_bash
def test_comment_updates_the_first_marked_comment(pr: dict[str, Any], tmp_path: Path) -> None:
    calls, body = post_comment(pr, tmp_path, "### Changes\n", ids="111\n222")
    assert calls[0].startswith("api --paginate repos/acme/platform/issues/7/comments --jq ")
    assert MARKER in calls[0] and "github-actions[bot]" in calls[0]
    assert calls[1:] == ["api --method PATCH repos/acme/platform/issues/comments/111 "
                         "-F body=@comment.md"]
    assert body == f"{MARKER}\n### Changes\n"


@needs_bash
def test_comment_is_created_when_none_is_marked(pr: dict[str, Any], tmp_path: Path) -> None:
    calls, body = post_comment(pr, tmp_path, "### Changes\n", ids="")
    assert calls[1:] == ["api --method POST repos/acme/platform/issues/7/comments "
                         "-F body=@comment.md"]
    assert body.startswith(MARKER + "\n")


@needs_bash
def test_comment_explains_a_stale_tree(pr: dict[str, Any], tmp_path: Path) -> None:
    _, body = post_comment(pr, tmp_path, None, ids="", render_outcome="failure")
    assert body.startswith(MARKER + "\n")
    assert "Run `platform-gen render`" in body


@needs_bash
def test_comment_explains_a_refusal_above_the_diff(pr: dict[str, Any], tmp_path: Path) -> None:
    _, body = post_comment(pr, tmp_path, "### Changes\n", ids="", render_outcome="failure", refused="true")
    assert body.startswith(MARKER + "\n> [!CAUTION]\n> The deletion guard refuses this change")
    assert "add the label `allow-delete` to this pull request." in body
    assert body.endswith("\n### Changes\n")
    assert "does not match its inputs" not in body


@needs_bash
def test_comment_of_a_refusal_without_diff_does_not_blame_the_tree(pr: dict[str, Any], tmp_path: Path) -> None:
    _, body = post_comment(pr, tmp_path, None, ids="", render_outcome="failure", refused="true")
    assert "The deletion guard refuses this change" in body
    assert "does not match its inputs" not in body


# platform-gen stand-in: records each call; exits 1 for the calls listed in $FAIL ("plain" for a call
# without --allow-delete, "allow" for one with it).
GUARD_STUB = """\
echo "$*" >> "$CALLS"
case " $* " in *" --allow-delete "*) kind=allow ;; *) kind=plain ;; esac
case " $FAIL " in *" $kind "*) echo "refused or stale" >&2; exit 1 ;; esac
"""


def run_guarded_step(pr: dict[str, Any], step_id: str, tmp_path: Path, label: str, fail: str, labels: str = ""
                     ) -> tuple[int, list[str], str, str]:
    stub(tmp_path / "bin", "platform-gen", GUARD_STUB)
    calls, output = tmp_path / "calls", tmp_path / "github_output"
    calls.write_text("", encoding="utf-8")
    output.write_text("", encoding="utf-8")
    result = bash(step(pr, step_id)["run"], tmp_path, {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "ALLOW_DELETE": label,
        "FAIL": fail, "CALLS": str(calls), "GITHUB_OUTPUT": str(output), "LABELS": labels, "BASE_REF": "main"})
    return (result.returncode, calls.read_text(encoding="utf-8").splitlines(),
            output.read_text(encoding="utf-8"), result.stdout)


@needs_bash
@pytest.mark.parametrize(("label", "fail", "code", "calls", "refused"), [
    ("false", "", 0, ["render --check"], False),
    ("true", "", 0, ["render --check --allow-delete"], False),
    # the guard refuses: the tree is current without it
    ("false", "plain", 1, ["render --check", "render --check --allow-delete -q"], True),
    # stale tree: fails with and without the guard
    ("false", "plain allow", 1, ["render --check", "render --check --allow-delete -q"], False),
    ("true", "allow", 1, ["render --check --allow-delete"], False),
])
def test_pr_render_step_passes_the_label_and_tells_a_refusal_apart(
    label: str, fail: str, code: int, calls: list[str], refused: bool, pr: dict[str, Any], tmp_path: Path
) -> None:
    got_code, got_calls, output, stdout = run_guarded_step(pr, "render", tmp_path, label, fail)
    assert (got_code, got_calls) == (code, calls)
    assert ("refused=true" in output) is refused
    assert ("add the label allow-delete" in stdout) is refused


@needs_bash
@pytest.mark.parametrize(("label", "expected"), [("true", "validate --base origin/main --allow-delete"),
                                                 ("false", "validate --base origin/main")])
def test_pr_validate_step_passes_the_label(label: str, expected: str, pr: dict[str, Any],
                                           tmp_path: Path) -> None:
    code, calls, _output, _stdout = run_guarded_step(pr, "validate", tmp_path, label, "")
    assert (code, calls) == (0, [expected])


@needs_bash
def test_pr_validate_step_skips_only_gates_that_exist(pr: dict[str, Any], tmp_path: Path) -> None:
    code, calls, _output, stdout = run_guarded_step(pr, "validate", tmp_path, "false", "",
                                                    "skip-gate:soak skip-gate:Soak bug skip-gate:immutable")
    assert (code, calls) == (0, ["validate --base origin/main --skip-gate soak --skip-gate immutable"])
    assert "::warning::The label skip-gate:Soak names no promotion gate" in stdout


@needs_bash
def test_comment_truncates_a_huge_diff_and_closes_its_fence(pr: dict[str, Any],
                                                             tmp_path: Path) -> None:
    lines = "".join(f"+  image: registry/app-{i}:1.0.{i}\n" for i in range(5000))
    _, body = post_comment(pr, tmp_path, f"### Changes\n```diff\n{lines}```\n", ids="")
    assert len(body) <= 65536
    assert "Diff truncated" in body and "https://ci/run/1" in body
    assert body.count("```") % 2 == 0


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout


PLATFORM_YAML = ("gitops: {repoURL: 'https://example.com/p.git', targetRevision: main, path: %s}\n"
                 "codeowners: {path: .github/CODEOWNERS, platform: '@acme/platform'}\n")


def seed_origin(tmp_path: Path, gitops_path: str) -> tuple[Path, Path]:
    remote, seed, runner = tmp_path / "remote.git", tmp_path / "seed", tmp_path / "runner"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(seed))
    for rel in (f"{gitops_path}/app.yaml", "environments/prod.yaml", "platform-config/platform.yaml"):
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text("v: 1\n", encoding="utf-8")
    (seed / "platform-config" / "platform.yaml").write_text(PLATFORM_YAML % gitops_path, encoding="utf-8")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", "origin", "HEAD:main")
    git(tmp_path, "clone", "-q", str(remote), str(runner))
    return seed, runner


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, Path]:
    """A bare 'GitHub' repo and a runner's clone of main (gitops.path: rendered)."""
    return seed_origin(tmp_path, "rendered")


def commit_step(render: dict[str, Any], runner: Path) -> subprocess.CompletedProcess[str]:
    # `python` on the runner is the one platform-gen was installed into (with PyYAML)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return bash(step(render, "commit")["run"], runner,
                {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "PATH": path})


@needs_bash
@needs_git
def test_commit_step_does_nothing_when_tree_is_current(render: dict[str, Any],
                                                       origin: tuple[Path, Path]) -> None:
    _, runner = origin
    before = git(runner, "rev-parse", "HEAD")
    result = commit_step(render, runner)
    assert result.returncode == 0, result.stderr
    assert git(runner, "rev-parse", "HEAD") == before


@needs_bash
@needs_git
def test_commit_step_commits_only_rendered_as_the_bot(render: dict[str, Any],
                                                      origin: tuple[Path, Path]) -> None:
    _, runner = origin
    short = git(runner, "rev-parse", "--short", "HEAD").strip()
    (runner / "rendered" / "app.yaml").write_text("v: 2\n", encoding="utf-8")
    (runner / "rendered" / "new.yaml").write_text("v: 1\n", encoding="utf-8")
    (runner / "scratch.txt").write_text("not ours\n", encoding="utf-8")
    result = commit_step(render, runner)
    assert result.returncode == 0, result.stderr
    log = git(runner, "log", "-1", "--format=%an <%ae>%n%s", "origin/main")
    assert log == (f"github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>\n"
                   f"Render platform tree for {short}\n")
    changed = git(runner, "show", "--name-only", "--format=", "origin/main").split()
    assert changed == ["rendered/app.yaml", "rendered/new.yaml"]


@needs_bash
@needs_git
def test_commit_step_commits_the_generated_codeowners(render: dict[str, Any], origin: tuple[Path, Path]) -> None:
    _, runner = origin
    (runner / ".github").mkdir()
    (runner / ".github" / "CODEOWNERS").write_text("# Generated by platform-gen from x. Do not edit.\n/a/ @b\n",
                                                   encoding="utf-8")
    (runner / "CODEOWNERS").write_text("* @hand-written\n", encoding="utf-8")  # not ours: left alone
    result = commit_step(render, runner)
    assert result.returncode == 0, result.stderr
    assert git(runner, "show", "--name-only", "--format=", "origin/main").split() == [".github/CODEOWNERS"]


@needs_bash
@needs_git
def test_commit_step_commits_the_editor_schemas(render: dict[str, Any], origin: tuple[Path, Path]) -> None:
    _, runner = origin
    (runner / "schemas").mkdir()
    for kind in ("config", "platform"):
        (runner / "schemas" / f"{kind}.schema.json").write_text('{\n  "$comment": "Generated by platform-gen"\n}\n',
                                                               encoding="utf-8")
    (runner / "schemas" / "notes.md").write_text("not ours\n", encoding="utf-8")  # left alone
    result = commit_step(render, runner)
    assert result.returncode == 0, result.stderr
    assert git(runner, "show", "--name-only", "--format=", "origin/main").split() == [
        "schemas/config.schema.json", "schemas/platform.schema.json"]


@needs_bash
@needs_git
def test_commit_step_commits_the_tree_at_gitops_path(render: dict[str, Any], tmp_path: Path) -> None:
    _, runner = seed_origin(tmp_path, "deploy")
    (runner / "deploy" / "app.yaml").write_text("v: 2\n", encoding="utf-8")
    (runner / "deploy" / "new.yaml").write_text("v: 1\n", encoding="utf-8")
    (runner / ".github").mkdir()
    (runner / ".github" / "CODEOWNERS").write_text("# Generated by platform-gen from x. Do not edit.\n/a/ @b\n",
                                                   encoding="utf-8")
    result = commit_step(render, runner)
    assert result.returncode == 0, result.stderr
    changed = git(runner, "show", "--name-only", "--format=", "origin/main").split()
    assert changed == [".github/CODEOWNERS", "deploy/app.yaml", "deploy/new.yaml"]
    assert git(runner, "status", "--porcelain") == ""


@needs_bash
@needs_git
def test_commit_step_rebases_once_when_main_moved(render: dict[str, Any],
                                                  origin: tuple[Path, Path]) -> None:
    seed, runner = origin
    (seed / "environments" / "prod.yaml").write_text("v: 2\n", encoding="utf-8")
    git(seed, "commit", "-q", "-am", "merge while rendering")
    git(seed, "push", "-q", "origin", "HEAD:main")
    (runner / "rendered" / "app.yaml").write_text("v: 2\n", encoding="utf-8")
    result = commit_step(render, runner)
    assert result.returncode == 0, result.stderr
    subjects = git(runner, "log", "--format=%s", "origin/main").splitlines()
    assert subjects[:2] == [subjects[0], "merge while rendering"]
    assert subjects[0].startswith("Render platform tree for ")


# --- pre-commit hooks -----------------------------------------------------------------------


def test_hooks_run_the_cli_once_per_commit(hooks: list[dict[str, Any]]) -> None:
    entries = {h["id"]: h["entry"] for h in hooks}
    assert entries == {"platform-gen-render-check": "platform-gen render --check",
                       "platform-gen-validate": "platform-gen validate"}
    for hook in hooks:
        assert (hook["language"], hook["pass_filenames"]) == ("python", False)


@pytest.mark.parametrize(("path", "matches"), [
    ("platform-config/platform.yaml", True), ("environments/prod.yaml", True),
    ("overlays/prod/kustomization.yaml", True), ("rendered/argocd/platform.yaml", True),
    ("generator/cli.py", False), ("docs/rendered/x.md", False), ("rendered.yaml", False),
])
def test_hooks_fire_on_platform_files_only(path: str, matches: bool,
                                           hooks: list[dict[str, Any]]) -> None:
    for hook in hooks:
        assert bool(re.search(hook["files"], path)) is matches, hook["id"]


def test_the_render_check_hook_fires_on_the_editor_schemas(hooks: list[dict[str, Any]]) -> None:
    fires = {hook["id"]: bool(re.search(hook["files"], "schemas/config.schema.json")) for hook in hooks}
    # validate does not read them; render --check compares them
    assert fires == {"platform-gen-render-check": True, "platform-gen-validate": False}


# --- the CLI the wiring calls ---------------------------------------------------------------

# Subcommands and options the workflows and hooks call.
CALLED = {"render": {"--check", "--allow-delete", "--full", "--format"},
          "validate": {"--allow-delete", "--skip-gate", "--base"},
          "diff": {"--base", "--format"}, "shards": {"--format", "--per-shard", "--base"}}
PENDING: set[tuple[str, str]] = set()


def called_from_wiring(pr: dict[str, Any], render: dict[str, Any],
                       hooks: list[dict[str, Any]]) -> dict[str, set[str]]:
    every_step = [s for w in (pr, render) for job in w["jobs"].values() for s in job.get("steps", [])]
    scripts = [s.get("run", "") for s in every_step]
    scripts += [h["entry"] for h in hooks]
    found: dict[str, set[str]] = {}
    for script in scripts:
        for m in re.finditer(r"platform-gen ([a-z-]+)([^\n>|;]*)", script):
            found.setdefault(m[1], set()).update(re.findall(r"(--[a-z-]+)", m[2]))
        for command in ("render", "validate", "shards"):
            if f"platform-gen {command}" in script:
                found[command].update(re.findall(r"args\+=\((--[a-z-]+)", script))
                for listed in re.findall(r"args=\(([^)]*)\)", script):
                    found[command].update(re.findall(r"(--[a-z-]+)", listed))
    return found


def test_wiring_calls_exactly_the_known_commands(pr: dict[str, Any], render: dict[str, Any],
                                                 hooks: list[dict[str, Any]]) -> None:
    assert called_from_wiring(pr, render, hooks) == CALLED


@pytest.mark.parametrize(("command", "option"),
                         [(c, o) for c, opts in CALLED.items() for o in ["", *sorted(opts)]])
def test_cli_provides_what_the_wiring_calls(command: str, option: str) -> None:
    assert isinstance(cli, click.Group)
    sub = cli.commands.get(command)
    if sub is None or (option and not any(option in p.opts for p in sub.params)):
        if (command, option) in PENDING:
            pytest.xfail(f"platform-gen {command} {option} not implemented yet")
        pytest.fail(f"the workflows call `platform-gen {command} {option}`, the CLI lacks it")
    if option == "--format":
        fmt = next(p for p in sub.params if "--format" in p.opts)
        assert isinstance(fmt.type, click.Choice)
        assert {"diff": "markdown", "shards": "json", "render": "json"}[command] in fmt.type.choices


# --- yamllint -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lint_config() -> YamlLintConfig:
    return YamlLintConfig(file=str(YAMLLINT))


def problems(text: str, config: YamlLintConfig, name: str = "x.yaml") -> list[str]:
    return [f"{name}:{p.line}:{p.column}: [{p.level}] {p.message} ({p.rule})"
            for p in linter.run(text, config, name)]


@pytest.mark.parametrize("path", [PR, RENDER, SHARDED, PROMOTE, HOOKS, YAMLLINT], ids=lambda p: p.name)
def test_wiring_passes_yamllint(path: Path, lint_config: YamlLintConfig) -> None:
    name = path.relative_to(REPO).as_posix()
    assert problems(path.read_text(encoding="utf-8"), lint_config, name) == []


def test_yamllint_config_settings(lint_config: YamlLintConfig) -> None:
    rules = lint_config.rules
    assert rules["line-length"] is False and rules["document-start"] is False
    assert (rules["indentation"]["spaces"], rules["indentation"]["indent-sequences"]) == (
        2, "consistent")
    assert rules["truthy"]["allowed-values"] == ["true", "false"]
    assert rules["truthy"]["check-keys"] is False
    assert rules["comments"]["min-spaces-from-content"] == 1
    for ignored in (".venv/lib/x.yaml", "benchmarks/out/run.yaml"):
        assert lint_config.is_file_ignored(ignored)
    assert not lint_config.is_file_ignored("rendered/argocd/platform.yaml")


@pytest.mark.parametrize(("text", "rule"), [
    ("a:\n   b: 1\n", "indentation"),
    ("a: yes\n", "truthy"),
    ("a: 1 # note\n", None),
    ("a:\n- 1\nb:\n  - 2\n", "indentation"),
    ("a: 1\na: 2\n", "key-duplicates"),
    ("a: 1", "new-line-at-end-of-file"),
])
def test_yamllint_config_catches_what_it_should(text: str, rule: str | None,
                                                lint_config: YamlLintConfig) -> None:
    found = {p.rule for p in linter.run(text, lint_config, "x.yaml")}
    assert found == ({rule} if rule else set())


def test_yamllint_config_allows_on_key_and_long_lines(lint_config: YamlLintConfig) -> None:
    text = "on:\n  push: {}\nimage: " + "x" * 300 + "\n"
    assert problems(text, lint_config) == []


# --- render-sharded.yaml --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sharded() -> dict[str, Any]:
    return load(SHARDED)


def job_step(workflow: dict[str, Any], job: str, step_id: str) -> dict[str, Any]:
    matches = [s for s in workflow["jobs"][job]["steps"] if s.get("id") == step_id]
    assert len(matches) == 1, f"expected one step with id {step_id!r} in job {job!r}"
    return matches[0]


def job_uses(workflow: dict[str, Any], job: str, action: str) -> list[dict[str, Any]]:
    return [s for s in workflow["jobs"][job]["steps"] if str(s.get("uses", "")).startswith(action + "@")]


def test_sharded_jobs_fan_out_and_in(sharded: dict[str, Any]) -> None:
    jobs = sharded["jobs"]
    assert list(jobs) == ["plan", "render", "validate", "commit"]
    assert jobs["render"]["needs"] == "plan"
    assert set(jobs["validate"]["needs"]) == {"plan", "render"}
    assert set(jobs["commit"]["needs"]) == {"plan", "render", "validate"}  # nothing committed unless all passed
    matrix = "${{ fromJSON(needs.plan.outputs.matrix) }}"
    for name in ("render", "validate"):
        assert jobs[name]["strategy"]["matrix"] == {"shard": matrix}
        assert job_step(sharded, name, name)["env"]["SHARD"] == "${{ matrix.shard }}"
    assert jobs["plan"]["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"


def test_sharded_jobs_render_one_commit(sharded: dict[str, Any]) -> None:
    (checkout,) = job_uses(sharded, "plan", "actions/checkout")
    assert checkout["with"] == {"ref": "main", "fetch-depth": 0}
    for name in ("render", "validate", "commit"):
        (checkout,) = job_uses(sharded, name, "actions/checkout")
        assert checkout["with"]["ref"] == "${{ needs.plan.outputs.sha }}"


def test_sharded_artifacts_carry_the_hidden_partial_index(sharded: dict[str, Any]) -> None:
    (upload,) = job_uses(sharded, "render", "actions/upload-artifact")
    assert upload["with"]["include-hidden-files"] is True  # .platform-gen.shard.json, .platform-gen.yaml
    assert upload["with"]["path"] == "partial"
    assert "--out partial" in job_step(sharded, "render", "render")["run"]
    name = upload["with"]["name"].replace("${{ strategy.job-index }}", "3")
    for job in ("validate", "commit"):
        (download,) = job_uses(sharded, job, "actions/download-artifact")
        assert re.fullmatch(download["with"]["pattern"].replace("*", ".*"), name)
        assert download["with"]["path"] == "partials"
        scripts = "".join(s.get("run", "") for s in sharded["jobs"][job]["steps"])
        assert 'platform-gen merge "${args[@]}"' in scripts and "partials/*" in scripts


def test_sharded_permissions(sharded: dict[str, Any]) -> None:
    assert sharded["permissions"] == {"contents": "read"}
    assert [j for j, body in sharded["jobs"].items() if "permissions" in body] == ["commit"]
    assert sharded["jobs"]["commit"]["permissions"] == {"contents": "write"}
    assert "github.actor != 'github-actions[bot]'" in sharded["jobs"]["plan"]["if"]


def test_sharded_run_by_hand_queues_with_render(sharded: dict[str, Any], render: dict[str, Any]) -> None:
    assert sharded["concurrency"]["cancel-in-progress"] is False
    alone = {"github": {"workflow": sharded["name"], "event_name": "workflow_dispatch", "run_id": 7}}
    assert expression(sharded["concurrency"]["group"], alone) == render["concurrency"]["group"]


@pytest.mark.parametrize("event", ["push", "workflow_dispatch"])
def test_sharded_called_by_render_takes_a_group_of_its_own(event: str, sharded: dict[str, Any],
                                                           render: dict[str, Any]) -> None:
    # a called workflow sees its caller's github context; asking for the group the caller
    # holds would be cancelled as a deadlock
    called = {"github": {"workflow": render["name"], "event_name": event, "run_id": 7}}
    group = expression(sharded["concurrency"]["group"], called)
    assert isinstance(group, str) and group and group != render["concurrency"]["group"]


def test_sharded_commits_like_render(sharded: dict[str, Any], render: dict[str, Any]) -> None:
    # the same script, so the commit-step tests above hold for it too
    assert job_step(sharded, "commit", "commit")["run"] == step(render, "commit")["run"]


def test_sharded_can_be_run_by_hand_with_allow_delete(sharded: dict[str, Any]) -> None:
    inputs = sharded["on"]["workflow_dispatch"]["inputs"]
    assert (inputs["allow_delete"]["type"], inputs["allow_delete"]["default"]) == ("boolean", False)
    for job, step_id in (("validate", "validate"), ("commit", "merge")):
        script = job_step(sharded, job, step_id)
        assert "inputs.allow_delete" in script["env"]["ALLOW_DELETE"]
        assert "args+=(--allow-delete)" in script["run"]


def test_sharded_can_be_called_with_the_inputs_of_a_run_by_hand(sharded: dict[str, Any]) -> None:
    assert sharded["on"]["workflow_call"]["inputs"].keys() == sharded["on"]["workflow_dispatch"]["inputs"].keys()
    for name, spec in sharded["on"]["workflow_call"]["inputs"].items():
        by_hand = sharded["on"]["workflow_dispatch"]["inputs"][name]
        assert (spec["type"], spec["default"]) == (by_hand["type"], by_hand["default"]), name


@pytest.mark.parametrize(("event", "allow", "expected"), [
    ("workflow_dispatch", True, "true"), ("workflow_dispatch", False, "false"),
    # called by render.yaml: the event is the caller's push, the input still counts
    ("push", True, "true"), ("push", False, "false"), ("push", None, "false"),
])
@pytest.mark.parametrize(("job", "step_id"), [("validate", "validate"), ("commit", "merge")])
def test_sharded_allow_delete_follows_the_input_whatever_the_event(
    job: str, step_id: str, event: str, allow: bool | None, expected: str, sharded: dict[str, Any]
) -> None:
    env = job_step(sharded, job, step_id)["env"]["ALLOW_DELETE"]
    assert text(expression(env, {"github": {"event_name": event}, "inputs": {"allow_delete": allow}})) == expected


PLAN_STUB = """\
echo "$*" >> "$CALLS"
printf '%s' '{"changed": 3, "matrix": ["1/2", "2/2"], "services": 9, "shards": 2, "status": "ok"}'
"""


@needs_bash
@needs_git
@pytest.mark.parametrize(("base", "expected"), [
    ("", "shards --format json --per-shard 50 --max-shards 256"),
    ("0000000000000000000000000000000000000000", "shards --format json --per-shard 50 --max-shards 256"),
    ("HEAD", "shards --format json --per-shard 50 --max-shards 256 --base {head}"),
    # not in the history (a forced push's before): counted against the tree on disk
    ("abc123", "shards --format json --per-shard 50 --max-shards 256"),
])
def test_sharded_plan_step_outputs_the_matrix_and_the_commit(base: str, expected: str, sharded: dict[str, Any],
                                                             tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "x")
    head = git(tmp_path, "rev-parse", "HEAD").strip()
    base, expected = base.replace("HEAD", head), expected.format(head=head)
    stub(tmp_path / "bin", "platform-gen", PLAN_STUB)
    calls, output = tmp_path / "calls", tmp_path / "github_output"
    path = f"{tmp_path / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    result = bash(job_step(sharded, "plan", "plan")["run"], tmp_path, {
        "PATH": path, "BASE": base, "PER_SHARD": "50", "CALLS": str(calls), "GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0, result.stderr
    assert calls.read_text(encoding="utf-8").strip() == expected
    lines = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())
    assert json.loads(lines["matrix"]) == ["1/2", "2/2"]
    assert lines["sha"] == git(tmp_path, "rev-parse", "HEAD").strip()


@needs_bash
@needs_git
def test_sharded_steps_make_the_tree_of_a_full_render(sharded: dict[str, Any], tmp_path: Path) -> None:
    """The plan, render and merge steps, run for real on the example platform, as the runners would."""
    from .conftest import copy_inputs, tree

    root = copy_inputs(REPO, tmp_path / "repo")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "inputs")
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_OUTPUT": str(tmp_path / "out"), "BASE": "", "PER_SHARD": "2", "ALLOW_DELETE": "false"}
    result = bash(job_step(sharded, "plan", "plan")["run"], root, env)
    assert result.returncode == 0, result.stderr
    outputs = dict(line.split("=", 1) for line in (tmp_path / "out").read_text(encoding="utf-8").splitlines())
    matrix = json.loads(outputs["matrix"])
    shards = -(-EXAMPLE // 2)  # the example's services, 2 per shard
    assert matrix == [f"{i}/{shards}" for i in range(1, shards + 1)]
    for index, shard in enumerate(matrix):  # each render job, and its artifact download
        result = bash(job_step(sharded, "render", "render")["run"], root, {**env, "SHARD": shard})
        assert result.returncode == 0, result.stderr
        (root / "partials").mkdir(exist_ok=True)
        (root / "partial").rename(root / "partials" / f"partial-{index}")
    result = bash(job_step(sharded, "commit", "merge")["run"], root, env)
    assert result.returncode == 0, result.stderr
    assert not (root / "partials").exists()
    merged = tree(root / "rendered")
    result = subprocess.run(["platform-gen", "render", "--root", str(root), "--full", "--out", str(tmp_path / "full")],
                            env={**os.environ, **env}, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert merged == tree(tmp_path / "full")


SHARDED_CALLS = {"shards": {"--format", "--per-shard", "--max-shards", "--base"}, "render": {"--shard", "--out"},
                 "merge": {"--allow-delete", "-q"}, "validate": {"--no-cache", "--shard"}}


def test_sharded_calls_exactly_the_known_commands(sharded: dict[str, Any]) -> None:
    found: dict[str, set[str]] = {}
    for job in sharded["jobs"].values():
        for s in job["steps"]:
            script = s.get("run", "")
            for m in re.finditer(r"platform-gen ([a-z-]+)([^\n>|;]*)", script):
                found.setdefault(m[1], set()).update(re.findall(r"(-[a-z-]+)", m[2]))
                if m[1] in ("merge", "shards"):
                    found[m[1]].update(re.findall(r"args\+=\((--[a-z-]+)", script))
                    for listed in re.findall(r"args=\(([^)]*)\)", script):
                        found[m[1]].update(re.findall(r"(--[a-z-]+)", listed))
    assert found == SHARDED_CALLS


@pytest.mark.parametrize(("command", "option"), [(c, o) for c, opts in SHARDED_CALLS.items() for o in sorted(opts)])
def test_cli_provides_what_the_sharded_workflow_calls(command: str, option: str) -> None:
    assert isinstance(cli, click.Group)
    sub = cli.commands.get(command)
    assert sub is not None and any(option in p.opts for p in sub.params), f"platform-gen {command} {option}"


# --- render.yaml's plan, on a real platform ---------------------------------------------------

ZEROS = "0" * 40
# platform-gen stand-in for the pushes decided without it: it must not be called
UNCALLED_STUB = 'echo "platform-gen $*" >> "$CALLS"\nexit 99\n'


def _edit_services(root: Path, count: int) -> None:
    for folder in sorted((root / "platform-config" / "services").iterdir())[:count]:
        config = folder / "config.yaml"
        config.write_text(re.sub(r'^tag: "([^"]+)"', r'tag: "\1-1"', config.read_text(encoding="utf-8"), count=1,
                                 flags=re.M), encoding="utf-8")


def _edit_platform(root: Path) -> None:
    path = root / "platform-config" / "platform.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("  replicas: 2\n", "  replicas: 3\n", 1),
                    encoding="utf-8")


def _render_tree(root: Path) -> None:
    result = subprocess.run(["platform-gen", "render", "--root", str(root), "-q"], capture_output=True, text=True,
                            check=False, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def main_before_push(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .conftest import copy_inputs

    root = copy_inputs(REPO, tmp_path_factory.mktemp("main") / "repo")
    git(root, "init", "-q", "-b", "main")
    _render_tree(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "inputs and tree")
    return root


@pytest.fixture
def pushed(main_before_push: Path, tmp_path: Path) -> Path:
    """The example platform in git, its tree rendered and committed: main before a push (a copy)."""
    return Path(shutil.copytree(main_before_push, tmp_path / "repo", symlinks=True))


def run_render_plan(render: dict[str, Any], root: Path, tmp_path: Path, event: str, before: str,
                    per_shard: int, platform_gen: str = "real") -> tuple[dict[str, str], str, list[str]]:
    """render.yaml's plan job as the runner runs it: the scope step, then the plan step.

    The env of each step is evaluated from the workflow's expressions; ``platform_gen`` is "real"
    (the installed CLI) or "uncalled" (a stand-in that fails if called, for steps that must not).
    """
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    calls.write_text("", encoding="utf-8")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    if platform_gen == "uncalled":
        stub(bin_dir, "platform-gen", UNCALLED_STUB)
        path = f"{bin_dir}{os.pathsep}{path}"
    contexts: dict[str, dict[str, Any]] = {
        "github": {"event_name": event, "event": {"before": before} if event == "push" else {}},
        "vars": {"PLATFORM_GEN_PER_SHARD": str(per_shard)}, "steps": {}}
    stdout = ""
    for step_id in ("scope", "plan"):
        s = job_step(render, "plan", step_id)
        output = tmp_path / f"output-{step_id}"
        output.write_text("", encoding="utf-8")
        env = {name: text(expression(v, contexts)) if isinstance(v, str) and "${{" in v else str(v)
               for name, v in s["env"].items()}
        result = bash(s["run"], root, {**env, "PATH": path, "CALLS": str(calls), "GITHUB_OUTPUT": str(output)})
        assert result.returncode == 0, result.stdout + result.stderr
        stdout += result.stdout
        outputs = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())
        contexts["steps"][step_id] = {"outputs": outputs}
    job_outputs = {name: text(expression(v, contexts)) for name, v in render["jobs"]["plan"]["outputs"].items()}
    return job_outputs, stdout, calls.read_text(encoding="utf-8").splitlines()


def job_that_runs(render: dict[str, Any], outputs: dict[str, str]) -> str:
    needs = {"plan": {"outputs": outputs}}
    (job,) = [job for job in ("render", "sharded") if expression(render["jobs"][job]["if"], {"needs": needs})]
    return job


@needs_bash
@needs_git
@pytest.mark.parametrize(("services", "per_shard"), [(1, 1), (3, 3)])
def test_render_plan_keeps_a_push_within_per_shard_services_in_one_job_without_installing(
    services: int, per_shard: int, render: dict[str, Any], pushed: Path, tmp_path: Path
) -> None:
    before = git(pushed, "rev-parse", "HEAD").strip()
    _edit_services(pushed, services)
    git(pushed, "commit", "-q", "-am", "bump tags")
    outputs, stdout, calls = run_render_plan(render, pushed, tmp_path, "push", before, per_shard, "uncalled")
    assert calls == []  # decided from git diff alone
    assert outputs == {"shards": "1", "base": before, "per_shard": str(per_shard)}
    assert f"{services} service folder(s), 0 other input file(s)" in stdout
    assert job_that_runs(render, outputs) == "render"


@needs_bash
@needs_git
def test_render_plan_shards_a_bulk_edit_of_services(render: dict[str, Any], pushed: Path, tmp_path: Path) -> None:
    before = git(pushed, "rev-parse", "HEAD").strip()
    _edit_services(pushed, 3)
    git(pushed, "commit", "-q", "-am", "bump three tags")
    outputs, _stdout, _calls = run_render_plan(render, pushed, tmp_path, "push", before, 2)
    assert outputs == {"shards": "2", "base": before, "per_shard": "2"}  # ceil(3 / 2)
    assert job_that_runs(render, outputs) == "sharded"


@needs_bash
@needs_git
def test_render_plan_shards_a_platform_wide_change_counted_from_before(
    render: dict[str, Any], sharded: dict[str, Any], pushed: Path, tmp_path: Path
) -> None:
    # merged with its re-rendered tree, as pr.yaml requires: the index on disk is current, so
    # only the index committed at the push's before commit tells that all the services changed
    before = git(pushed, "rev-parse", "HEAD").strip()
    _edit_platform(pushed)
    _render_tree(pushed)
    git(pushed, "add", "-A")
    git(pushed, "commit", "-q", "-m", "raise default replicas")
    outputs, stdout, _calls = run_render_plan(render, pushed, tmp_path, "push", before, 2)
    assert outputs == {"shards": str(-(-EXAMPLE // 2)), "base": before, "per_shard": "2"}
    assert "0 service folder(s), 1 other input file(s)" in stdout
    assert job_that_runs(render, outputs) == "sharded"
    # handed over: the called workflow's plan step, with the inputs render.yaml passes, comes to
    # the same matrix
    needs = {"plan": {"outputs": outputs}}
    inputs = {name: expression(v, {"needs": needs}) if isinstance(v, str) else v
              for name, v in render["jobs"]["sharded"]["with"].items()}
    s = job_step(sharded, "plan", "plan")
    called = {"inputs": inputs, "github": {"event_name": "push", "event": {"before": before}}}
    env = {name: text(expression(v, called)) for name, v in s["env"].items()}
    assert env == {"BASE": before, "PER_SHARD": "2"}
    output = tmp_path / "sharded-output"
    result = bash(s["run"], pushed, {**env, "GITHUB_OUTPUT": str(output),
                                     "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())
    shards = -(-EXAMPLE // 2)
    assert json.loads(lines["matrix"]) == [f"{i}/{shards}" for i in range(1, shards + 1)]


#: A push with no commit before it to compare with: main created by it, or history rewritten.
WITHOUT_BEFORE = pytest.mark.parametrize("before", [ZEROS, "1234567890abcdef1234567890abcdef12345678"],
                                         ids=["push-created-main", "forced-push"])


@needs_bash
@needs_git
@WITHOUT_BEFORE
def test_render_plan_without_a_before_commit_counts_against_the_tree_on_disk(
    before: str, render: dict[str, Any], pushed: Path, tmp_path: Path
) -> None:
    # a first push whose tree was never rendered: every service is new to the (absent) index
    git(pushed, "rm", "-r", "-q", "rendered")
    git(pushed, "commit", "-q", "-m", "no tree yet")
    outputs, stdout, _calls = run_render_plan(render, pushed, tmp_path, "push", before, 2)
    assert outputs == {"shards": str(-(-EXAMPLE // 2)), "base": "", "per_shard": "2"}
    assert "planning against the tree on disk" in stdout
    assert job_that_runs(render, outputs) == "sharded"


@needs_bash
@needs_git
@WITHOUT_BEFORE
def test_render_plan_without_a_before_commit_and_a_current_tree_renders_in_one_job(
    before: str, render: dict[str, Any], pushed: Path, tmp_path: Path
) -> None:
    outputs, _stdout, _calls = run_render_plan(render, pushed, tmp_path, "push", before, 1)
    assert outputs["shards"] == "1"
    assert job_that_runs(render, outputs) == "render"


@needs_bash
@needs_git
def test_render_plan_run_by_hand_renders_in_one_job(render: dict[str, Any], pushed: Path, tmp_path: Path) -> None:
    _edit_platform(pushed)
    git(pushed, "commit", "-q", "-am", "raise default replicas")
    outputs, _stdout, calls = run_render_plan(render, pushed, tmp_path, "workflow_dispatch", "", 1, "uncalled")
    assert (outputs["shards"], calls) == ("1", [])
    assert job_that_runs(render, outputs) == "render"


@needs_bash
@needs_git
def test_render_plan_that_fails_falls_back_to_one_job(render: dict[str, Any], pushed: Path,
                                                      tmp_path: Path) -> None:
    # shards reads leniently (render reports bad inputs); a usage error, here from a bad
    # PLATFORM_GEN_PER_SHARD, still must not leave main unrendered
    before = git(pushed, "rev-parse", "HEAD").strip()
    _edit_platform(pushed)
    git(pushed, "commit", "-q", "-am", "raise default replicas")
    outputs, stdout, _calls = run_render_plan(render, pushed, tmp_path, "push", before, 0)
    assert outputs["shards"] == "1"
    assert "::warning::platform-gen shards failed" in stdout
    assert job_that_runs(render, outputs) == "render"


# --- the render bot of pr.yaml ------------------------------------------------------------------------


def test_the_render_bot_runs_for_branches_of_this_repo_and_the_check_waits_for_it(pr: dict[str, Any]) -> None:
    bot, check = pr["jobs"]["render-bot"], pr["jobs"]["check"]
    assert bot["if"] == "${{ github.event.pull_request.head.repo.full_name == github.repository }}"
    checkout = bot["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    # the branch itself (not the merge commit), with the token whose push starts the workflow again
    assert checkout["with"] == {"ref": "${{ github.event.pull_request.head.ref }}",
                                "token": "${{ secrets.PLATFORM_GEN_BOT_TOKEN }}"}
    assert bot["outputs"] == {"pushed": "${{ steps.push.outputs.pushed }}"}
    # without the secret, every step is skipped
    assert bot["env"] == {"BOT_TOKEN": "${{ secrets.PLATFORM_GEN_BOT_TOKEN }}"}
    assert all(s["if"] == "${{ env.BOT_TOKEN != '' }}" for s in bot["steps"])
    assert step({"jobs": {"check": bot}}, "push")["env"]["ALLOW_DELETE"] == \
        "${{ contains(github.event.pull_request.labels.*.name, 'allow-delete') }}"
    assert check["needs"] == "render-bot"
    # runs when the bot is skipped (a fork) or failed, not when it pushed, nor when cancelled
    assert check["if"] == "${{ !cancelled() && needs.render-bot.outputs.pushed != 'true' }}"
    assert "permissions" not in bot and pr["permissions"]["contents"] == "read"


@pytest.fixture
def branch(tmp_path: Path, run_cli: Any) -> tuple[Path, Path]:
    """A bare 'GitHub' repo whose main holds the example platform, rendered, and a runner's clone of a
    pull request's branch that adds a service's config.yaml and nothing else."""
    from .conftest import copy_inputs
    remote, seed, runner = tmp_path / "remote.git", tmp_path / "seed", tmp_path / "runner"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(seed))
    copy_inputs(REPO, seed)
    shutil.copytree(REPO / "schemas", seed / "schemas")
    assert run_cli("render", "--root", seed) == 0
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "platform")
    git(seed, "push", "-q", "origin", "HEAD:main")
    git(seed, "switch", "-q", "-c", "new-service-search")
    service = seed / "platform-config/services/search/config.yaml"
    service.parent.mkdir()
    service.write_text("name: search\nteam: identity\ntemplate: worker\nimage: ghcr.io/acme/search\n"
                       "tag: '1.0'\nport: 8080\nhealthPath: /healthz\nenvironments:\n  dev: {}\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "Add service search")
    git(seed, "push", "-q", "origin", "HEAD:new-service-search")
    git(tmp_path, "clone", "-q", "-b", "new-service-search", str(remote), str(runner))
    return remote, runner


@pytest.fixture
def run_cli() -> Any:
    def _run(*args: str | Path) -> int:
        done = subprocess.run([CONSOLE_SCRIPT, *map(str, args)],
                              capture_output=True, text=True, check=False, timeout=300)
        return done.returncode
    return _run


def bot_step(pr: dict[str, Any], runner: Path, allow_delete: str = "false"
             ) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the bot's step as the runner does, in ``runner``; returns the run and what it wrote to
    $GITHUB_OUTPUT."""
    output, temp = runner.parent / "github_output", runner.parent / "runner_temp"
    output.write_text("")
    temp.mkdir(exist_ok=True)
    bot = {"jobs": {"check": pr["jobs"]["render-bot"]}}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # platform-gen and python
    result = bash(step(bot, "push")["run"], runner, {
        "PATH": path, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "ALLOW_DELETE": allow_delete,
        "HEAD_REF": "new-service-search", "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(temp)})
    return result, output.read_text()


@needs_bash
@needs_git
def test_the_render_bot_pushes_the_rendered_tree_to_the_branch(pr: dict[str, Any], branch: tuple[Path, Path],
                                                               run_cli: Any, tmp_path: Path) -> None:
    remote, runner = branch
    before = git(remote, "rev-parse", "new-service-search").strip()
    result, output = bot_step(pr, runner)
    assert result.returncode == 0, result.stderr
    assert output == "pushed=true\n"
    log = git(remote, "log", "-1", "--format=%an%n%s%n%P", "new-service-search").splitlines()
    assert log == ["platform-gen[bot]", f"Render the platform tree for {before[:7]}", before]
    changed = git(remote, "show", "--name-only", "--format=", "new-service-search").split()
    assert changed and all(p.startswith(("rendered/", ".github/CODEOWNERS")) for p in changed), changed
    assert "rendered/services/search/base/kustomization.yaml" in changed
    # the branch is now current: a fresh clone passes render --check, and the bot does nothing more
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", "-b", "new-service-search", str(remote), str(fresh))
    assert run_cli("render", "--check", "--root", fresh) == 0
    result, output = bot_step(pr, runner)
    assert result.returncode == 0 and output == "" and "up to date" in result.stdout
    assert git(remote, "rev-parse", "new-service-search").strip() == git(runner, "rev-parse", "HEAD").strip()


@needs_bash
@needs_git
def test_the_render_bot_pushes_nothing_when_render_fails(pr: dict[str, Any], branch: tuple[Path, Path]) -> None:
    remote, runner = branch
    (runner / "platform-config/services/search/config.yaml").write_text("name: search\nteam: nobody\n")
    before = git(remote, "rev-parse", "new-service-search")
    result, output = bot_step(pr, runner)
    assert result.returncode == 0, result.stderr
    assert output == "" and "render failed on this branch" in result.stdout
    assert git(remote, "rev-parse", "new-service-search") == before


@needs_bash
@needs_git
def test_the_render_bot_removes_a_protected_service_only_with_the_label(pr: dict[str, Any],
                                                                       branch: tuple[Path, Path]) -> None:
    remote, runner = branch
    shutil.rmtree(runner / "platform-config/services/payment-service")  # it runs in prod
    git(runner, "commit", "-q", "-am", "Remove payment-service")
    git(runner, "push", "-q", "origin", "HEAD:new-service-search")
    before = git(remote, "rev-parse", "new-service-search")
    result, output = bot_step(pr, runner)  # the deletion guard refuses: nothing pushed
    assert result.returncode == 0 and output == "" and "render failed" in result.stdout, result.stderr
    assert git(remote, "rev-parse", "new-service-search") == before
    result, output = bot_step(pr, runner, allow_delete="true")
    assert result.returncode == 0 and output == "pushed=true\n", result.stderr
    removed = git(remote, "show", "--name-status", "--format=", "new-service-search").splitlines()
    assert "D\trendered/services/payment-service/base/kustomization.yaml" in removed


@needs_git
def test_two_branches_that_rendered_the_tree_merge_by_rendering_again(branch: tuple[Path, Path], run_cli: Any,
                                                                      tmp_path: Path) -> None:
    remote, runner = branch
    # the branch renders its new service; meanwhile main gains another, rendered too
    assert run_cli("render", "--root", runner) == 0
    git(runner, "add", "-A")
    git(runner, "commit", "-q", "-m", "Render")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(other))
    service = other / "platform-config/services/search-b/config.yaml"  # its files next to the branch's
    service.parent.mkdir()
    service.write_text((runner / "platform-config/services/search/config.yaml").read_text()
                       .replace("name: search", "name: search-b"))
    assert run_cli("render", "--root", other) == 0
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "Add search-b")
    git(other, "push", "-q", "origin", "HEAD:main")
    git(runner, "fetch", "-q", "origin")
    with pytest.raises(subprocess.CalledProcessError):  # the generated files conflict
        git(runner, "merge", "-q", "origin/main")
    done = subprocess.run([CONSOLE_SCRIPT, "render", "--root", str(runner)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 1
    assert "it holds merge conflict markers" in done.stderr and "git checkout --theirs -- rendered/" in done.stderr
    # as the hint says: one side of the whole tree (and of the generated CODEOWNERS), then render again
    git(runner, "checkout", "--theirs", "--", "rendered/", ".github/CODEOWNERS")
    assert run_cli("render", "--root", runner) == 0
    assert run_cli("render", "--check", "--root", runner) == 0
    for name in ("search", "search-b"):
        assert (runner / f"rendered/services/{name}/base/kustomization.yaml").is_file()
    assert "<<<<<<<" not in (runner / "rendered/catalog/catalog-info.yaml").read_text()




# --- promote.yaml (issue 13) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def promote() -> dict[str, Any]:
    return load(PROMOTE)


def promote_step(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in workflow["jobs"]["promote"]["steps"] if s.get("name") == name]
    return found


def test_promote_runs_by_hand_and_on_a_schedule(promote: dict[str, Any]) -> None:
    on = promote["on"]
    assert set(on["workflow_dispatch"]["inputs"]) == {"services", "to", "from"}
    assert on["workflow_dispatch"]["inputs"]["to"]["required"] is True
    assert on["schedule"][0]["cron"]


def test_promote_runs_in_the_deployment_environment_of_its_target(promote: dict[str, Any]) -> None:
    job = promote["jobs"]["promote"]
    # prod's required reviewers approve a promotion into prod before it runs
    assert job["environment"] == "${{ matrix.to }}"
    assert job["strategy"]["matrix"]["to"] == "${{ fromJSON(needs.targets.outputs.targets) }}"
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert job["concurrency"]["group"] == "promote-${{ matrix.to }}"
    assert promote["permissions"] == {"contents": "read"}
    checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the soak gate reads the history


PROMOTE_STUB = 'echo "$*" >> "$CALLS"\necho "## Promote"\n'


@needs_bash
@pytest.mark.parametrize(("services", "source", "expected"), [
    ("", "", "promote --to prod --format markdown --all"),
    ("payment-service user-profile", "", "promote --to prod --format markdown payment-service user-profile"),
    ("payment-service", "dev", "promote --to prod --format markdown --from dev payment-service"),
])
def test_promote_step_calls_promote(services: str, source: str, expected: str, promote: dict[str, Any],
                                    tmp_path: Path) -> None:
    stub(tmp_path / "bin", "platform-gen", PROMOTE_STUB)
    calls, summary = tmp_path / "calls", tmp_path / "summary"
    result = bash(promote_step(promote, "Promote")["run"], tmp_path, {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls),
        "SERVICES": services, "TO": "prod", "FROM": source, "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0, result.stderr
    assert calls.read_text(encoding="utf-8").splitlines() == [expected]
    assert (tmp_path / "body.md").read_text(encoding="utf-8") == "## Promote\n"
    assert "## Promote" in summary.read_text(encoding="utf-8")


@needs_bash
def test_promote_targets_the_environments_that_opt_in_to_the_schedule(promote: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    for name, extra in (("dev", ""), ("staging", "promotion: {schedule: true}\n"), ("prod", "promotion: {soak: 1d}\n")):
        (tmp_path / "environments" / f"{name}.yaml").write_text(f"name: {name}\n{extra}", encoding="utf-8")
    (step_,) = [s for s in promote["jobs"]["targets"]["steps"] if s.get("id") == "targets"]
    output = tmp_path / "out"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    for to, expected in (("", '["staging"]'), ("prod", '["prod"]')):
        output.write_text("", encoding="utf-8")
        result = bash(step_["run"], tmp_path, {"PATH": path, "TO": to, "GITHUB_OUTPUT": str(output)})
        assert result.returncode == 0, result.stderr
        assert output.read_text(encoding="utf-8") == f"targets={expected}\n"


PR_GH_STUB = """\
echo "$*" >> "$GH_LOG"
case "$1 $2" in
  "pr view") if [ -f "$OPEN" ]; then echo OPEN; else exit 1; fi ;;
  "pr create") touch "$OPEN" ;;
esac
"""


@needs_bash
@needs_git
def test_promote_opens_then_updates_one_pull_request_per_target(promote: dict[str, Any],
                                                                origin: tuple[Path, Path]) -> None:
    _seed, runner = origin
    stub(runner.parent / "bin", "gh", PR_GH_STUB)
    log, opened = runner.parent / "gh.log", runner.parent / "open"
    env = {"PATH": f"{runner.parent / 'bin'}{os.pathsep}{os.environ['PATH']}", "GH_LOG": str(log),
           "OPEN": str(opened), "TO": "prod", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "RUN_URL": "https://ci/run/1"}
    script = promote_step(promote, "Open or update the pull request")["run"]
    (runner / "body.md").write_text("## Promote\n", encoding="utf-8")
    result = bash(script, runner, env)  # nothing promoted: no branch, no pull request
    assert result.returncode == 0, result.stderr
    assert "Nothing to promote into prod." in result.stdout and not log.exists()
    for round_ in (1, 2):
        git(runner, "switch", "-q", "main")
        (runner / "rendered" / "app.yaml").write_text(f"v: {round_ + 1}\n", encoding="utf-8")
        if round_ == 2:  # a body too large for a pull request is cut, its code fence closed
            (runner / "body.md").write_text("## Promote\n```diff\n" + "+ image: x\n" * 20000, encoding="utf-8")
        result = bash(script, runner, env)
        assert result.returncode == 0, result.stderr
    body = (runner / "body.md").read_text(encoding="utf-8")
    assert len(body) <= 65536 and body.endswith("```\n\n_Truncated; the whole promotion is in the [run summary]"
                                                 "(https://ci/run/1)._\n")
    calls = log.read_text(encoding="utf-8").splitlines()
    branch = "platform-gen/promote-prod"
    assert [c.split(" --")[0] for c in calls] == [f"pr view {branch}", "pr create", f"pr view {branch}",
                                                 f"pr edit {branch}"]
    assert "--body-file body.md" in calls[1] and "--title Promote to prod" in calls[1]
    pushed = git(runner, "ls-remote", "origin", "platform-gen/promote-prod")
    assert pushed.strip()
    # the body is not committed; the branch holds only what promote changed
    assert git(runner, "show", "--name-only", "--format=", "platform-gen/promote-prod").split() == ["rendered/app.yaml"]
