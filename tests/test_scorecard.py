"""Scorecards: golden-path adoption, maturity checks and levels, totals per team (README "Scorecards").

The example's report in each format is a golden (``tests/data/scorecard/``), compared whole; regenerate with
``pytest tests/test_scorecard.py --update-goldens`` and review the diff.
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from platform_gen import schemas
from platform_gen.scaffold import shipped_templates
from platform_gen.scorecard import CHECKS, DEFAULT_LEVELS, pinned

from .conftest import REPO, Run, edit, snapshot

GOLDENS = Path(__file__).parent / "data" / "scorecard"
PLATFORM = "platform-config/platform.yaml"
AUTH = "platform-config/services/auth-service/config.yaml"
#: The example's scorecard block, as appended to its platform.yaml.
BLOCK = ("scorecard:\n"
         "  checks: [owner, probes, limits, secrets, replicas, pinned-image, dashboard, slo, alerts, docs]\n"
         "  levels:\n"
         "    bronze: [owner, probes, limits, secrets]\n"
         "    silver: [replicas, pinned-image, dashboard]\n"
         "    gold: [slo, alerts]            # docs is measured, but no level requires it yet\n")


def card(run: Run, root: Path, *args: str) -> dict[str, Any]:
    code, out, err = run("scorecard", "--root", root, "--format", "json", *args)
    assert code in (0, 1), err
    doc: dict[str, Any] = json.loads(out)
    return doc


def levels(doc: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["level"] for s in doc["services"]}


def replace_block(root: Path, new: str) -> None:
    edit(root, PLATFORM, BLOCK, new)


# --- the example, whole, in each format ---------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "name"), [("text", "example.txt"), ("json", "example.json"),
                                           ("markdown", "example.md")])
def test_the_example_scorecard_is_its_golden(example: Path, run: Run, update_goldens: bool, fmt: str,
                                              name: str) -> None:
    before = snapshot(example)
    code, out, err = run("scorecard", "--root", example, "--format", fmt, "--color", "always")
    assert (code, err) == (0, "")
    assert snapshot(example) == before  # a report: nothing is written
    if fmt == "text":  # colour only where asked for: --color always marks the failures, never elsewhere
        assert "\x1b[31mFAIL\x1b[0m" in out
        out = run("scorecard", "--root", example, "--color", "never")[1]
        assert "\x1b" not in out
    golden = GOLDENS / name
    if update_goldens:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), out.splitlines(keepends=True),
                                        f"expected/{name}", f"actual/{name}"))
    assert not diff, f"scorecard --format {fmt} differs from its golden:\n{diff}"


def test_the_same_platform_gives_the_same_bytes(example: Path, run: Run) -> None:
    first = [run("scorecard", "--root", example, "--format", fmt)[1] for fmt in ("text", "json", "markdown")]
    assert [run("scorecard", "--root", example, "--format", fmt)[1] for fmt in ("text", "json", "markdown")] == first


def test_the_example_appends_its_scorecard_and_the_repo_renders_it_unchanged(run: Run) -> None:
    assert (REPO / PLATFORM).read_text().endswith(BLOCK)
    code, _out, err = run("scorecard", "--root", REPO, "--format", "json")
    assert code == 0, err


def test_the_json_shape(example: Path, run: Run) -> None:
    doc = card(run, example)
    assert doc["status"] == "ok" and doc["min_level"] is None and doc["below_min_level"] == []
    assert [c["name"] for c in doc["checks"]] == list(CHECKS)
    assert [(lv["name"], lv["services"]) for lv in doc["levels"]] == [("bronze", 3), ("silver", 3), ("gold", 2)]
    assert doc["levels"][2]["requires"] == [*doc["levels"][0]["checks"], *doc["levels"][1]["checks"], "slo",
                                            "alerts"]
    assert levels(doc) == {"auth-service": "silver", "docs-site": "bronze", "event-ingest": "silver",
                           "ledger-reconcile": "gold", "ledger-worker": "silver", "payment-service": "gold",
                           "report-builder": "bronze", "user-profile": "bronze"}
    assert doc["summary"] == {"services": 8, "levels": {"none": 0, "bronze": 3, "silver": 3, "gold": 2},
                              "top_level": "gold", "top_level_services": 2, "top_level_percent": 25}
    assert doc["badge"] == "https://img.shields.io/badge/scorecard-gold%2025%25-d4af37"
    assert doc["golden_paths"] == {"services": 8, "shipped": 8, "percent": 100, "templates": [
        {"name": "cron-job", "shipped": True, "services": 1}, {"name": "static-site", "shipped": True, "services": 1},
        {"name": "web-service", "shipped": True, "services": 3}, {"name": "worker", "shipped": True, "services": 3}]}
    payments = next(t for t in doc["teams"] if t["name"] == "payments")
    assert payments == {"name": "payments", "services": 3, "levels": {"gold": 2, "silver": 1, "bronze": 0, "none": 0},
                        "checks_passed": 26, "checks_total": 30, "percent": 86}
    # batch work: the checks that do not apply pass, and say so
    reconcile = next(s for s in doc["services"] if s["name"] == "ledger-reconcile")
    assert {c: v for c, v in reconcile["checks"].items() if v.get("applies") is False} == {
        c: {"passed": True, "detail": "not for batch work (CronJob)", "applies": False}
        for c in ("probes", "replicas", "slo", "alerts")}
    report_builder = next(s for s in doc["services"] if s["name"] == "report-builder")
    assert report_builder["checks"]["replicas"] == {"passed": False,
                                                    "detail": "does not run in prod, the last environment"}


# --- levels -----------------------------------------------------------------------------------------------


def test_a_service_gains_a_level_when_it_adds_an_slo(example: Path, run: Run) -> None:
    before = card(run, example)
    assert levels(before)["auth-service"] == "silver"
    assert before["services"][0]["checks"]["slo"]["passed"] is False
    with (example / AUTH).open("a") as fh:
        fh.write("metrics: {port: 9090}\nslo: {availability: 99.9}\n")
    after = card(run, example)
    auth = next(s for s in after["services"] if s["name"] == "auth-service")
    assert auth["level"] == "gold"
    assert auth["checks"]["slo"] == {"passed": True, "detail": ""}
    assert auth["checks"]["alerts"] == {"passed": True, "detail": ""}  # the PrometheusRule it now renders
    assert after["summary"]["levels"] == {"none": 0, "bronze": 3, "silver": 2, "gold": 3}
    assert after["badge"].endswith("/scorecard-gold%2037%25-d4af37")


def test_custom_levels(example: Path, run: Run) -> None:
    replace_block(example, "scorecard:\n  checks: [docs, owner, replicas]\n"
                           "  levels: {bronze: [owner], gold: [docs]}\n")
    (example / "platform-config/services/ledger-worker/mkdocs.yml").write_text("site_name: ledger-worker\n")
    doc = card(run, example)
    assert [c["name"] for c in doc["checks"]] == ["docs", "owner", "replicas"]  # in the order declared
    assert [c["level"] for c in doc["checks"]] == ["gold", "bronze", None]
    assert levels(doc) == {"auth-service": "bronze", "docs-site": "bronze", "event-ingest": "bronze",
                           "ledger-reconcile": "bronze", "ledger-worker": "gold", "payment-service": "gold",
                           "report-builder": "bronze", "user-profile": "bronze"}
    assert doc["summary"]["levels"] == {"none": 0, "bronze": 6, "gold": 2}
    code, out, _err = run("scorecard", "--root", example)
    assert code == 0
    assert out.splitlines()[1] == "levels: bronze < gold; replicas are counted in prod, the last environment"
    # a level the platform does not declare is a usage error
    code, _out, err = run("scorecard", "--root", example, "--min-level", "silver")
    assert code == 2
    assert "the platform declares no level 'silver' (its levels: bronze, gold" in err


def test_a_level_requires_the_levels_below_it(example: Path, run: Run) -> None:
    # report-builder passes gold's own checks but not silver's: it stays bronze
    replace_block(example, "scorecard:\n  levels:\n    bronze: [owner]\n    silver: [replicas]\n"
                           "    gold: [probes]\n")
    doc = card(run, example)
    assert levels(doc)["report-builder"] == "bronze"
    assert levels(doc)["auth-service"] == "gold"
    assert len(doc["checks"]) == len(CHECKS)  # checks left out: every one is measured


def test_without_a_scorecard_the_built_in_checks_and_levels_apply(example: Path, run: Run) -> None:
    replace_block(example, "")
    doc = card(run, example)
    assert [c["name"] for c in doc["checks"]] == list(schemas.SCORECARD_CHECKS)
    assert [(lv["name"], tuple(lv["checks"])) for lv in doc["levels"]] == list(DEFAULT_LEVELS)
    assert levels(doc)["payment-service"] == "gold"  # the built-in gold asks for docs too: it has them
    docs = example / "platform-config/services/payment-service/mkdocs.yml"
    text = docs.read_text()
    docs.unlink()
    assert levels(card(run, example))["payment-service"] == "silver"
    docs.write_text(text)
    assert levels(card(run, example))["payment-service"] == "gold"


def test_checks_without_levels_limit_the_built_in_levels(example: Path, run: Run) -> None:
    replace_block(example, "scorecard:\n  checks: [owner, slo]\n")
    doc = card(run, example)
    assert [(lv["name"], lv["checks"]) for lv in doc["levels"]] == [("bronze", ["owner"]), ("gold", ["slo"])]
    assert levels(doc)["payment-service"] == "gold"


def test_min_level_fails_ci_when_a_service_is_below(example: Path, run: Run) -> None:
    code, out, _err = run("scorecard", "--root", example, "--min-level", "silver")
    assert code == 1
    assert out.endswith("\n3 service(s) below silver: docs-site, report-builder, user-profile\n")
    doc = card(run, example, "--min-level", "silver")
    assert (doc["status"], doc["min_level"], doc["below_min_level"]) == \
        ("below", "silver", ["docs-site", "report-builder", "user-profile"])
    code, out, _err = run("scorecard", "--root", example, "--format", "markdown", "--min-level", "silver")
    assert code == 1 and "❌ 3 service(s) below silver: docs-site, report-builder, user-profile\n" in out
    code, out, _err = run("scorecard", "--root", example, "--min-level", "bronze")
    assert code == 0 and out.endswith("\nevery service is bronze or higher\n")
    code, _out, err = run("scorecard", "--root", example, "--min-level", "platinum")
    assert code == 2 and "'platinum' is not one of 'bronze', 'silver', 'gold'" in err


# --- bad scorecard config ---------------------------------------------------------------------------------

_AT = len((REPO / PLATFORM).read_text().splitlines()) - len(BLOCK.splitlines())  # the line before "scorecard:"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    gold: [slo, alerts]", "    gold: [slo, alert]",
     f"{PLATFORM}:{_AT + 6}:17: error: scorecard.levels.gold[1]: 'alert' is not one of ['owner', 'probes', "
     "'limits', 'secrets', 'replicas', 'pinned-image', 'dashboard', 'slo', 'alerts', 'docs']\n"
     "  hint: did you mean 'alerts'?\n"),
    ("  checks: [owner,", "  checks: [ownr,",
     f"{PLATFORM}:{_AT + 2}:12: error: scorecard.checks[0]: 'ownr' is not one of "),
    ("    silver:", "    platinum:",
     f"{PLATFORM}:{_AT + 5}:5: error: scorecard.levels.platinum: unknown key 'platinum'\n"
     "  hint: valid keys: bronze, gold, silver\n"),
    (", alerts, docs]", ", docs]",
     f"{PLATFORM}:{_AT + 6}:17: error: scorecard.levels.gold[1]: level 'gold' requires check 'alerts', which "
     "scorecard.checks does not measure\n  hint: add alerts to scorecard.checks, or take it out of the level\n"),
    ("    gold: [slo, alerts]", "    gold: [slo, alerts, probes]",
     f"{PLATFORM}:{_AT + 6}:25: error: scorecard.levels.gold[2]: check 'probes' is already required by level "
     "'bronze'\n  hint: a level requires the checks of the levels below it too: list each check once\n"),
], ids=["unknown-check-in-level", "unknown-check", "unknown-level", "level-check-not-measured", "check-twice"])
def test_bad_scorecard_config_is_refused_with_file_and_line(example: Path, run: Run, old: str, new: str,
                                                            expected: str) -> None:
    edit(example, PLATFORM, old, new)
    code, out, err = run("scorecard", "--root", example)
    assert (code, out) == (1, "")
    assert err.startswith(expected), err
    code, out, _err = run("scorecard", "--root", example, "--format", "json")
    assert code == 1 and json.loads(out)["status"] == "invalid"
    # and render refuses it too: platform.yaml is checked whole
    code, _out, err = run("render", "--root", example)
    assert code == 1 and err.startswith(expected) and "nothing was written" in err


def test_a_schema_error_and_a_rule_of_the_levels_are_reported_at_once(example: Path, run: Run) -> None:
    edit(example, PLATFORM, "    gold: [slo, alerts]", "    gold: [slo, alert, limits]")
    code, _out, err = run("scorecard", "--root", example)
    assert code == 1
    lines = [line.split(": error: ")[0] for line in err.splitlines() if ": error: " in line]
    assert lines == [f"{PLATFORM}:{_AT + 6}:17", f"{PLATFORM}:{_AT + 6}:24"], err
    assert "check 'limits' is already required by level 'bronze'" in err
    # scorecard writes nothing, so it does not say that nothing was written; render does
    assert err.endswith("2 problems found.\n")
    code, _out, err = run("render", "--root", example)
    assert code == 1 and err.endswith("2 problems found; nothing was written.\n")


# --- the checks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "expected"), [
    ("1.4.2", True), ("v2.0.1", True), ("1.5.0-rc.1", True), ("0.10.0-beta.2", True), ("3d2f9a1", True),
    ("sha-3d2f9a1c", True), ("latest", False), ("main", False), ("develop", False), ("1.4", False),
    ("v2", False), ("1.0.0-SNAPSHOT", False), ("1.2.3-latest", False), ("stable", False), ("1.4.2.", False),
])
def test_a_pinned_tag_is_a_full_version_or_a_commit(tag: str, expected: bool) -> None:
    assert pinned(tag) is expected


def test_a_moving_tag_fails_pinned_image_where_it_is_set(example: Path, run: Run) -> None:
    edit(example, "platform-config/services/payment-service/config.yaml", 'tag: "1.5.0-rc.1"', "tag: main")
    doc = card(run, example)
    payment = next(s for s in doc["services"] if s["name"] == "payment-service")
    assert payment["checks"]["pinned-image"] == {
        "passed": False, "detail": "tag 'main' on dev/dev-1 is not a full version or a commit id"}
    assert payment["level"] == "bronze"


def test_a_service_on_one_replica_in_prod_fails_replicas(example: Path, run: Run) -> None:
    edit(example, "platform-config/services/payment-service/config.yaml", "        replicas: 5", "        replicas: 1")
    payment = next(s for s in card(run, example)["services"] if s["name"] == "payment-service")
    assert payment["checks"]["replicas"] == {"passed": False, "detail": "fewer than 2 replicas on prod/prod-us"}


def test_a_template_that_writes_a_secret_into_the_tree_fails_secrets(example: Path, run: Run) -> None:
    (example / "platform-config/templates/worker/secret.yaml.j2").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ (service.name ~ '-token') | json }}\n"
        "stringData:\n  token: not-a-reference\n")
    edit(example, "platform-config/templates/web-service/_pod.j2", "  containers:\n",
         "  initContainers:\n    - name: init\n      image: busybox\n      env:\n        - name: DB_PASSWORD\n"
         "          value: hunter2\n  containers:\n")
    doc = card(run, example)
    verdicts = {s["name"]: s["checks"]["secrets"] for s in doc["services"]}
    assert verdicts["ledger-worker"] == {"passed": False,
                                         "detail": "renders Secret 'ledger-worker-token' with its values"}
    assert verdicts["user-profile"] == {"passed": False,
                                        "detail": "container 'init' sets DB_PASSWORD to a literal value"}
    # every service on the two golden paths that now write a secret falls to none; the others keep theirs
    assert {s["level"] for s in doc["services"] if s["template"] in ("web-service", "worker")} == {"none"}
    assert verdicts["docs-site"] == verdicts["ledger-reconcile"] == {"passed": True, "detail": ""}


def test_probes_and_limits_read_the_rendered_workload(example: Path, run: Run) -> None:
    edit(example, "platform-config/templates/web-service/_pod.j2", "readinessProbe:", "startupProbe:")
    edit(example, PLATFORM, "    limits: {memory: 256Mi}\n", "")
    doc = card(run, example)
    user = next(s for s in doc["services"] if s["name"] == "user-profile")
    assert user["checks"]["probes"] == {"passed": False, "detail": "no readinessProbe on the 'app' container"}
    assert user["checks"]["limits"] == {"passed": False,
                                        "detail": "no memory limit on dev/dev-1, staging/staging-1"}
    assert next(s for s in doc["services"] if s["name"] == "payment-service")["checks"]["limits"]["passed"]


def test_docs_need_a_regular_file_in_the_service_folder(example: Path, run: Run, tmp_path: Path) -> None:
    outside = tmp_path / "mkdocs.yml"
    outside.write_text("site_name: x\n")
    (example / "platform-config/services/auth-service/mkdocs.yml").symlink_to(outside)  # a link out of the repo
    (example / "platform-config/services/user-profile/mkdocs.yml").mkdir()  # not a file
    (example / "platform-config/services/event-ingest/mkdocs.yml").write_text("site_name: event-ingest\n")
    docs = {s["name"]: s["checks"]["docs"]["passed"] for s in card(run, example)["services"]}
    assert docs == {"auth-service": False, "docs-site": False, "event-ingest": True, "ledger-reconcile": False,
                    "ledger-worker": False, "payment-service": True, "report-builder": False, "user-profile": False}


def test_adoption_counts_a_template_of_the_platforms_own_as_not_shipped(example: Path, run: Run) -> None:
    assert shipped_templates() == {"cron-job", "static-site", "web-service", "worker"}
    templates = example / "platform-config/templates"
    shutil.copytree(templates / "worker", templates / "batch-job")
    edit(example, "platform-config/services/report-builder/config.yaml", "template: worker", "template: batch-job")
    shutil.copytree(templates / "worker", templates / "unused")
    doc = card(run, example)
    assert doc["golden_paths"] == {"services": 8, "shipped": 7, "percent": 87, "templates": [
        {"name": "batch-job", "shipped": False, "services": 1}, {"name": "cron-job", "shipped": True, "services": 1},
        {"name": "static-site", "shipped": True, "services": 1}, {"name": "unused", "shipped": False, "services": 0},
        {"name": "web-service", "shipped": True, "services": 3}, {"name": "worker", "shipped": True, "services": 2}]}


def test_a_retiring_service_is_not_scored(example: Path, run: Run) -> None:
    edit(example, "platform-config/services/report-builder/config.yaml", "team: data\n", "team: data\nretire: true\n")
    doc = card(run, example)
    assert doc["retired"] == ["report-builder"]
    assert "report-builder" not in levels(doc)
    assert doc["summary"]["services"] == 7
    code, out, _err = run("scorecard", "--root", example)
    assert code == 0 and out.endswith("\nnot scored (retiring): report-builder\n")


def test_an_invalid_platform_is_reported_not_scored(example: Path, run: Run) -> None:
    edit(example, "platform-config/services/payment-service/config.yaml", "team: payments", "team: paymets")
    code, out, err = run("scorecard", "--root", example, "--format", "markdown")
    assert (code, out) == (1, "")
    assert "config.yaml:2:7: error: team: unknown team 'paymets'" in err


def test_the_readme_documents_every_check_and_the_example_error() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Scorecards\n"):readme.index("\n## Adding a new kind\n")]
    for check in CHECKS:
        assert f"\n| `{check}` | " in section, check
    assert BLOCK in section
    assert "platform-gen scorecard [--format text|json|markdown] [--min-level LEVEL]" in readme
    golden = (GOLDENS / "example.txt").read_text()
    assert all(line in golden.splitlines() for line in section[section.index("$ platform-gen scorecard\n"):]
               .split("```")[0].splitlines()[1:] if line.strip() != "...")
