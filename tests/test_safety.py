"""The deletion guard: render, render --check and validate refuse to remove protected applications,
or a quarter of all of them, without --allow-delete.

The first tests run outside git (the guard compares with the tree on disk only);
the others in real temporary git repositories, where it compares with the tree
committed at the merge base with main.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen.model import protected_names
from platform_gen.safety import MAX_SHARE, Deployed, check_removals

from .conftest import Run, copy_inputs, drop_prod_eu, edit, snapshot
from .test_diff import commit, git, init_repo

PROD_EU = ("auth-service-prod-eu (prod), event-ingest-prod-eu (prod), ledger-worker-prod-eu (prod), "
           "payment-service-prod-eu (prod)")
ON_DISK = "rendered/ on disk only (no git base: not in a git checkout with origin/main or main)"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not on the PATH")


# --- outside git: the tree on disk --------------------------------------------------------------


def test_removing_a_prod_cluster_is_refused(rendered_once: Path, run: Run) -> None:
    drop_prod_eu(rendered_once)
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err == (
        f"error: refusing to render: 4 applications of protected environment prod would be removed: {PROD_EU}\n"
        f"  hint: compared with {ON_DISK}; if that is intended, run 'platform-gen render --allow-delete' "
        "(on a pull request: add the label 'allow-delete'); nothing was written\n")
    assert snapshot(rendered_once / "rendered") == before
    code, _out, err = run("render", "--root", rendered_once, "--allow-delete")
    assert code == 0, err
    assert not list((rendered_once / "rendered").rglob("*prod-eu*"))


def test_renaming_a_cluster_is_refused(rendered_once: Path, run: Run) -> None:
    env = rendered_once / "environments/staging.yaml"
    env.write_text(env.read_text().replace("name: staging-1", "name: staging-2"))
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert ("error: refusing to render: 6 of 21 applications would be removed (more than 25% at once): "
            "auth-service-staging-1 (staging), event-ingest-staging-1 (staging)") in err


def test_removing_a_non_prod_service_needs_no_flag(rendered_once: Path, run: Run) -> None:
    shutil.rmtree(rendered_once / "platform-config/services/report-builder")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    assert not (rendered_once / "rendered/services/report-builder").exists()


def test_check_applies_the_guard_too(rendered_once: Path, run: Run) -> None:
    drop_prod_eu(rendered_once)
    code, _out, err = run("render", "--check", "--root", rendered_once)
    assert code == 1
    assert "error: refusing to render: 4 applications of protected environment prod" in err
    assert "run 'platform-gen render --check --allow-delete'" in err
    code, out, _err = run("render", "--check", "--allow-delete", "--root", rendered_once)
    assert code == 1 and "removed:" in out  # with the flag, --check reports the drift


def test_refusal_as_json(rendered_once: Path, run: Run) -> None:
    drop_prod_eu(rendered_once)
    code, out, err = run("render", "--root", rendered_once, "--format", "json")
    assert code == 1 and err == ""
    doc = json.loads(out)
    assert doc["status"] == "refused"
    assert doc["compared_with"] == ON_DISK
    assert doc["removed"][0] == {"application": "auth-service-prod-eu", "environment": "prod", "why": ""}
    assert len(doc["removed"]) == 4
    assert doc["message"].startswith("refusing to render: 4 applications of protected environment prod")


def test_verbose_render_says_what_it_compared_with(rendered_once: Path, run: Run) -> None:
    code, _out, err = run("render", "--root", rendered_once, "-v")
    assert code == 0, err
    assert f"deletion guard: compared with {ON_DISK}\n" in err


def test_corrupt_application_set_on_disk_is_an_error(rendered_once: Path, run: Run) -> None:
    appset = rendered_once / "rendered/argocd/applicationsets/auth-service.yaml"
    appset.write_text("spec: [unclosed\n")
    (rendered_once / "rendered/.platform-gen.index.json").unlink()  # no index: the guard reads the ApplicationSets
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith("rendered/argocd/applicationsets/auth-service.yaml:2:1: error: cannot count its "
                          "applications: invalid YAML: ")
    assert "hint: restore it (git checkout -- the file, or re-render from the inputs that made it), or pass " \
           "--allow-delete to skip the deletion guard" in err
    assert snapshot(rendered_once / "rendered") == before
    assert run("render", "--root", rendered_once, "--allow-delete")[0] == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("- a\n- b\n", "rendered/argocd/applicationsets/auth-service.yaml:1:1: error: cannot count its applications: "
                   "document 1 is not a mapping"),
    ("kind: ConfigMap\n", "rendered/argocd/applicationsets/auth-service.yaml: error: cannot count its "
                          "applications: no ApplicationSet in it"),
    ("kind: ApplicationSet\nspec:\n  generators:\n  - list:\n      elements:\n      - cluster: x\n",
     "rendered/argocd/applicationsets/auth-service.yaml:6:9: error: spec.generators[0].list.elements[0]: "
     "cannot count its applications: expected the keys app and env, both strings"),
    ("kind: ApplicationSet\nspec:\n  generators:\n  - clusters: {}\n",
     "rendered/argocd/applicationsets/auth-service.yaml:4:5: error: spec.generators[0]: cannot count its "
     "applications: expected a list generator with elements"),
])
def test_malformed_application_set_on_disk_is_an_error(text: str, expected: str, rendered_once: Path,
                                                        run: Run) -> None:
    (rendered_once / "rendered/argocd/applicationsets/auth-service.yaml").write_text(text)
    (rendered_once / "rendered/.platform-gen.index.json").unlink()  # no index: the guard reads the ApplicationSets
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.splitlines()[0] == expected


def test_undecodable_application_set_on_disk_is_an_error(rendered_once: Path, run: Run) -> None:
    (rendered_once / "rendered/argocd/applicationsets/auth-service.yaml").write_bytes(b"\xff\xfe")
    (rendered_once / "rendered/.platform-gen.index.json").unlink()  # no index: the guard reads the ApplicationSets
    code, out, _err = run("render", "--root", rendered_once, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "invalid"
    assert [(p["file"], p["message"]) for p in doc["problems"]] == [
        ("rendered/argocd/applicationsets/auth-service.yaml", "cannot count its applications: not valid UTF-8 text")]


def test_an_explicitly_protected_environment_is_guarded(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, "environments/dev.yaml", "order: 0", "order: 0\nprotected: true")
    edit(rendered_once, "platform-config/services/report-builder/config.yaml", "environments:\n  dev: {}",
         "environments: {}")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert ("error: refusing to render: 1 application of protected environment dev would be removed: "
            "report-builder-dev-1 (dev)\n") in err


def test_protected_must_be_a_boolean(example: Path, run: Run) -> None:
    edit(example, "environments/prod.yaml", "order: 2", "order: 2\nprotected: yes please")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert "environments/prod.yaml:4:12: error: protected: expected true or false, got 'yes please'" in err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["dev", "qa", "staging", "prod", "dr"]),
                       st.tuples(st.integers(0, 6), st.sampled_from([None, True, False])), min_size=1))
def test_protected_rule(envs: dict[str, tuple[int, bool | None]]) -> None:
    got = protected_names({n: o for n, (o, _) in envs.items()}, {n: p for n, (_, p) in envs.items()})
    top = max(o for o, _ in envs.values())
    for name, (order, flag) in envs.items():
        assert (name in got) is (flag if flag is not None else order == top)
    if all(flag is None for _, flag in envs.values()):
        assert got  # by default at least one environment is protected


# --- in git: the tree committed at the merge base ------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path, run: Run) -> Path:
    """A git repo whose main holds the example platform and its rendered tree; HEAD is a branch off it."""
    from .conftest import REPO

    path = init_repo(tmp_path / "checkout")
    copy_inputs(REPO, path)
    code, _out, err = run("render", "--root", path)
    assert code == 0, err
    commit(path, "example platform")
    git(path, "checkout", "-q", "-b", "feature")
    return path


def base_of(repo: Path) -> str:
    return f"rendered/ as committed at the merge base of HEAD and main ({git(repo, 'rev-parse', 'main')[:12]})"


@needs_git
def test_a_tree_rendered_with_allow_delete_and_committed_still_fails_check(checkout: Path, run: Run,
                                                                          kustomize: object) -> None:
    # bypass (a): render --allow-delete locally and commit; render --check used to skip the guard
    drop_prod_eu(checkout)
    assert run("render", "--root", checkout, "--allow-delete")[0] == 0
    commit(checkout, "drop prod-eu")
    code, _out, err = run("render", "--check", "--root", checkout)
    assert code == 1
    assert err == (
        f"error: refusing to render: 4 applications of protected environment prod would be removed: {PROD_EU}\n"
        f"  hint: compared with {base_of(checkout)}, and rendered/ on disk; if that is intended, run "
        "'platform-gen render --check --allow-delete' (on a pull request: add the label 'allow-delete'); "
        "nothing was written\n")
    assert run("render", "--root", checkout)[0] == 1  # a plain render on the branch too
    code, out, _err = run("render", "--check", "--root", checkout, "--format", "json")
    doc = json.loads(out)
    assert (code, doc["status"], doc["compared_with"]) == (1, "refused", base_of(checkout) + ", and rendered/ on disk")
    code, out, err = run("render", "--check", "--allow-delete", "--root", checkout)
    assert code == 0, out + err
    code, out, err = run("validate", "--root", checkout)
    assert code == 1
    assert err.startswith("error: refusing to validate: 4 applications of protected environment prod would be "
                          "removed")
    assert "run 'platform-gen validate --allow-delete'" in err
    code, out, _err = run("validate", "--root", checkout, "--format", "json")
    assert (code, json.loads(out)["status"]) == (1, "refused")
    code, out, err = run("validate", "--root", checkout, "--allow-delete")
    assert code == 0, out + err
    # once merged, main's own render compares with HEAD, whose tree is the one the pull request committed
    git(checkout, "checkout", "-q", "main")
    git(checkout, "merge", "-q", "--ff-only", "feature")
    code, out, err = run("render", "--check", "--root", checkout)
    assert code == 0, out + err


@needs_git
def test_on_main_an_uncommitted_removal_is_compared_with_head(checkout: Path, run: Run) -> None:
    git(checkout, "checkout", "-q", "main")
    drop_prod_eu(checkout)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    assert f"compared with {base_of(checkout)}, and rendered/ on disk" in err


@needs_git
def test_corrupt_application_set_at_the_base_is_an_error(checkout: Path, run: Run) -> None:
    # bypass (b): a corrupt ApplicationSet was skipped, so its prod applications were not counted
    git(checkout, "checkout", "-q", "main")
    appset = checkout / "rendered/argocd/applicationsets/auth-service.yaml"
    good = appset.read_text()
    appset.write_text("spec: [unclosed\n")
    (checkout / "rendered/.platform-gen.index.json").unlink()  # no index: the guard reads the ApplicationSets
    commit(checkout, "corrupt")
    git(checkout, "checkout", "-q", "-b", "fix-and-drop")
    appset.write_text(good)  # the working tree is fine again; the base is not
    drop_prod_eu(checkout)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    assert err.startswith("main:rendered/argocd/applicationsets/auth-service.yaml:2:1: error: cannot count its "
                          "applications: invalid YAML: ")
    assert "1 problem found; nothing was written." in err


@needs_git
def test_changing_gitops_path_reads_the_base_at_its_own_path(checkout: Path, run: Run) -> None:
    # bypass (c): with a new gitops.path the guard read an empty folder
    edit(checkout, "platform-config/platform.yaml", "path: rendered", "path: deploy")
    drop_prod_eu(checkout)
    before = snapshot(checkout)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith("error: refusing to render: gitops.path changes from rendered to deploy, so every "
                            "application of the previous tree counts as removed; 9 applications of protected "
                            "environment prod would be removed; 21 of 21 applications would be removed "
                            "(more than 25% at once): auth-service-prod-eu (prod, the tree moves to deploy), ")
    assert "compared with " + base_of(checkout) + ", and deploy/ on disk" in err
    assert snapshot(checkout) == before and not (checkout / "deploy").exists()


@needs_git
def test_changing_gitops_path_alone_needs_allow_delete(checkout: Path, run: Run) -> None:
    edit(checkout, "platform-config/platform.yaml", "path: rendered", "path: deploy")
    code, _out, err = run("render", "--root", checkout)
    assert code == 1 and "gitops.path changes from rendered to deploy" in err
    code, _out, err = run("render", "--root", checkout, "--allow-delete")
    assert code == 0, err
    assert (checkout / "deploy/argocd/applicationsets/auth-service.yaml").is_file()


def rename_prod(root: Path, new: str, order: int) -> None:
    """Rename environment prod to ``new`` with promotion order ``order`` (services follow)."""
    text = (root / "environments/prod.yaml").read_text()
    (root / "environments/prod.yaml").unlink()
    (root / f"environments/{new}.yaml").write_text(text.replace("name: prod\n", f"name: {new}\n")
                                                   .replace("order: 2", f"order: {order}"))
    if (root / "overlays/prod").exists():
        (root / "overlays/prod").rename(root / f"overlays/{new}")
    for cfg in sorted((root / "platform-config/services").glob("*/config.yaml")):
        cfg.write_text(cfg.read_text().replace("\n  prod:", f"\n  {new}:").replace(", prod]", f", {new}]"))


@needs_git
def test_renaming_prod_and_its_order_is_caught_at_the_first_step(checkout: Path, run: Run) -> None:
    # bypass (d): rename prod (and drop it below the top order) first, delete its clusters second
    edit(checkout, "environments/staging.yaml", "order: 1", "order: 3")
    rename_prod(checkout, "legacy", 2)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    first = err.splitlines()[0]
    # the applications still run (in legacy), so only the protection rule speaks, not the quarter rule
    assert first.startswith("error: refusing to render: 9 applications of protected environment prod would be "
                            "removed: auth-service-prod-eu (prod, now in environment legacy), ")
    assert "payment-service-prod-us (prod, now in environment legacy)" in first


@needs_git
def test_renaming_prod_keeping_its_order_is_caught_too(checkout: Path, run: Run) -> None:
    rename_prod(checkout, "production", 2)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    assert "auth-service-prod-us (prod, now in environment production)" in err


@needs_git
def test_dropping_protection_counts_as_removal(checkout: Path, run: Run) -> None:
    edit(checkout, "environments/prod.yaml", "order: 2", "order: 2\nprotected: false")
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    assert ("error: refusing to render: 9 applications of protected environment prod would be removed: "
            "auth-service-prod-eu (prod, environment prod is no longer protected), ") in err


@needs_git
def test_protecting_another_environment_needs_no_flag(checkout: Path, run: Run) -> None:
    edit(checkout, "environments/staging.yaml", "order: 1", "order: 1\nprotected: true")
    code, _out, err = run("render", "--root", checkout)
    assert code == 0, err


@needs_git
def test_without_main_the_guard_falls_back_to_disk_and_says_so(checkout: Path, run: Run) -> None:
    git(checkout, "branch", "-q", "-m", "main", "trunk")
    drop_prod_eu(checkout)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    assert f"compared with {ON_DISK}" in err


@needs_git
def test_the_git_base_counts_even_when_the_tree_on_disk_is_gone(checkout: Path, run: Run) -> None:
    shutil.rmtree(checkout / "rendered")
    drop_prod_eu(checkout)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    assert f"would be removed: {PROD_EU}\n" in err


@needs_git
def test_a_shallow_clone_without_the_merge_base_is_an_error(checkout: Path, run: Run, tmp_path: Path) -> None:
    git(checkout, "checkout", "-q", "main")
    edit(checkout, "platform-config/services/payment-service/config.yaml", 'tag: "1.4.2"', 'tag: "1.4.3"')
    commit(checkout, "second")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-local", f"file://{checkout}", str(shallow))
    git(shallow, "fetch", "-q", "--depth", "1", "origin", "+refs/heads/feature:refs/remotes/origin/feature")
    git(shallow, "checkout", "-q", "-b", "topic", "origin/feature")
    code, _out, err = run("render", "--root", shallow)
    assert code == 1
    assert err.startswith("error: deletion guard: HEAD and origin/main have no merge base (")
    assert "fetch the full history (git fetch --unshallow, or fetch-depth: 0 in CI), or pass --allow-delete" in err


# --- the rule, for every subset of removed applications --------------------------------------------


@pytest.fixture(scope="module")
def example_targets() -> tuple[Any, Any]:
    from platform_gen.load import load
    from platform_gen.render import render
    from platform_gen.validate import validate

    from .conftest import REPO

    platform = validate(load(REPO))
    return platform, render(platform).targets


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_refused_exactly_when_a_protected_app_or_a_quarter_goes(data: st.DataObject,
                                                               example_targets: tuple[Any, Any]) -> None:
    platform, targets = example_targets
    gone = data.draw(st.sets(st.sampled_from([t.app_name for t in targets])))
    before = Deployed({t.app_name: t.env.name for t in targets}, frozenset({"prod"}), "test")
    refusal = check_removals(before, {t.app_name: (t.env.name, platform.teams[t.service.team].namespace)
                                      for t in targets if t.app_name not in gone}, platform)
    in_prod = {t.app_name for t in targets if t.app_name in gone and t.env.name == "prod"}
    expected = bool(in_prod) or len(gone) > MAX_SHARE * len(targets)
    assert (refusal is not None) is expected
    if refusal is not None:
        assert {r.app for r in refusal.removed} == gone
        assert [r.app for r in refusal.removed[:len(in_prod)]] == sorted(in_prod)


@needs_git
def test_corrupt_environment_file_at_the_base_is_an_error(checkout: Path, run: Run) -> None:
    git(checkout, "checkout", "-q", "main")
    (checkout / "environments/qa.yaml").write_text("name: [qa\n")
    commit(checkout, "broken environment")
    git(checkout, "checkout", "-q", "-b", "drop-qa")
    (checkout / "environments/qa.yaml").unlink()
    code, _out, err = run("render", "--root", checkout)
    assert code == 1
    assert err.startswith("main:environments/qa.yaml: error: cannot tell whether this environment was protected "
                          "(expected name, order and an optional boolean protected)\n")


TOKENS = [*"[]{}:-, \n'\"&*!|>#", "kind", "ApplicationSet", "spec", "generators", "list", "elements", "app",
          "env", "a", "1", "\n  ", "\n    - "]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


@settings(max_examples=60, deadline=None)
@given(st.one_of(YAMLISH.map(lambda t: t.encode("utf-8")), st.binary(max_size=40)))
def test_reading_any_application_set_counts_it_or_names_the_file(data: bytes) -> None:
    from platform_gen.errors import InputError
    from platform_gen.safety import appset_apps

    try:
        apps = appset_apps("x.yaml", data)
    except InputError as exc:
        assert exc.problems and all(p.file == "x.yaml" and p.message.startswith("cannot count its applications: ")
                                    for p in exc.problems)
    else:
        assert all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in apps.items())


@needs_git
def test_a_platform_repo_in_a_subfolder_is_read_at_its_prefix(tmp_path: Path, run: Run) -> None:
    from .conftest import REPO

    top = init_repo(tmp_path / "monorepo")
    root = copy_inputs(REPO, top / "platform")
    assert run("render", "--root", root)[0] == 0
    commit(top, "platform in a subfolder")
    git(top, "checkout", "-q", "-b", "feature")
    drop_prod_eu(root)
    shutil.rmtree(root / "rendered")  # only the base knows the prod-eu applications now
    code, _out, err = run("render", "--root", root)
    assert code == 1
    assert f"would be removed: {PROD_EU}\n" in err
    assert "compared with rendered/ as committed at the merge base of HEAD and main (" in err


def test_an_application_set_that_is_not_a_file_is_an_error(rendered_once: Path, run: Run) -> None:
    appset = rendered_once / "rendered/argocd/applicationsets/auth-service.yaml"
    appset.unlink()
    appset.mkdir()
    (rendered_once / "rendered/.platform-gen.index.json").unlink()  # no index: the guard reads the ApplicationSets
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith("rendered/argocd/applicationsets/auth-service.yaml: error: cannot count its applications: "
                          "not a regular file\n")


# --- retiring a service: two reviewed steps ------------------------------------------------------


@needs_git
def test_retiring_a_service_takes_two_reviewed_steps(checkout: Path, run: Run) -> None:
    cfg = "platform-config/services/auth-service/config.yaml"
    appset = checkout / "rendered/argocd/applicationsets/auth-service.yaml"
    assert "preserveResourcesOnDeletion: true" in appset.read_text()
    # retiring and removing in one change is refused: the retirement must be committed first
    edit(checkout, cfg, "team: identity\n", "team: identity\nretire: true\n")
    assert run("render", "--root", checkout)[0] == 0
    shutil.rmtree(checkout / "platform-config/services/auth-service")
    code, _out, err = run("render", "--root", checkout)
    assert code == 1 and "auth-service-prod-eu (prod)" in err
    git(checkout, "checkout", "-q", "--", ".")
    # step 1: retire: true lets Argo CD delete what the applications deployed once they go
    edit(checkout, cfg, "team: identity\n", "team: identity\nretire: true\n")
    assert run("render", "--root", checkout)[0] == 0
    assert "preserveResourcesOnDeletion: false" in appset.read_text()
    commit(checkout, "retire auth-service")
    git(checkout, "checkout", "-q", "main")
    git(checkout, "merge", "-q", "--ff-only", "feature")
    # step 2: removing the retired service needs no --allow-delete, even from prod
    git(checkout, "checkout", "-q", "-b", "remove")
    shutil.rmtree(checkout / "platform-config/services/auth-service")
    code, _out, err = run("render", "--root", checkout)
    assert code == 0, err
    assert not appset.exists()
    # a service not retired is still guarded in the same change
    drop_prod_eu(checkout)
    code, _out, err = run("render", "--root", checkout)
    assert code == 1 and "auth-service" not in err.split("removed:")[1].split("\n")[0]
    assert "event-ingest-prod-eu (prod)" in err



def test_the_message_lists_protected_removals_first_and_the_rest_as_also_removed(rendered_once: Path,
                                                                                  run: Run) -> None:
    shutil.rmtree(rendered_once / "platform-config/services/auth-service")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith(
        "error: refusing to render: 2 applications of protected environment prod would be removed: "
        "auth-service-prod-eu (prod), auth-service-prod-us (prod); also removed: auth-service-dev-1 (dev), "
        "auth-service-staging-1 (staging)\n"), err


def test_moving_a_service_to_another_team_in_a_protected_environment_needs_allow_delete(
        rendered_once: Path, run: Run) -> None:
    # its applications keep their names but move namespace: Argo CD deletes everything in the old
    # one, its database claim included, and creates it anew in the new one
    edit(rendered_once, "platform-config/services/payment-service/config.yaml", "team: payments", "team: data")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith(
        "error: refusing to render: 2 applications of protected environment prod would be removed: "
        "payment-service-prod-eu (prod, moves from namespace team-payments to team-data), "
        "payment-service-prod-us (prod, moves from namespace team-payments to team-data)\n"), err
    code, _out, err = run("render", "--root", rendered_once, "--allow-delete")
    assert code == 0, err
