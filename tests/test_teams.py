"""Teams kept apart: own namespaces, namespaced kinds only, CODEOWNERS, ownership flags in diff."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen import yamlio
from platform_gen.load import load
from platform_gen.outputs.codeowners import codeowners
from platform_gen.render import render
from platform_gen.validate import validate

from .conftest import EXAMPLE_FILES, EXAMPLE_SERVICES, REPO, Run, copy_inputs, edit, snapshot
from .test_diff import commit, init_repo, new_service

PLATFORM = "platform-config/platform.yaml"
TEMPLATE = "platform-config/templates/web-service"


def fails(root: Path, run: Run, *expected: str) -> str:
    """render exits 1 with exactly these problems (in order), and writes nothing."""
    before = snapshot(root)
    code, _out, err = run("render", "--root", root)
    assert code == 1, err
    n = sum(": error: " in line for line in expected)
    assert err == "\n".join(expected) + f"\n{n} problem{'s' if n > 1 else ''} found; nothing was written.\n"
    assert snapshot(root) == before
    return err


# --- team namespaces ----------------------------------------------------------------------------


def test_team_namespaces_are_unique(example: Path, run: Run) -> None:
    edit(example, PLATFORM, "    namespace: identity\n", "    namespace: team-payments\n")
    fails(example, run,
          "platform-config/platform.yaml:14:16: error: teams.identity.namespace: namespace 'team-payments' is "
          "already used by team 'payments'",
          "  hint: team namespaces are unique: each team's AppProject owns its namespace")


def test_a_default_namespace_clashing_is_located_at_the_team(example: Path, run: Run) -> None:
    edit(example, PLATFORM, "teams:\n", "teams:\n  ops:\n    namespace: team-data\n")
    fails(example, run,
          "platform-config/platform.yaml:20:3: error: teams.data: namespace 'team-data' (the default, team-<name>) "
          "is already used by team 'ops'",
          "  hint: team namespaces are unique: each team's AppProject owns its namespace")


@pytest.mark.parametrize(("namespace", "why"), [
    ("kube-system", "is a Kubernetes system namespace"),
    ("kube-public", "is a Kubernetes system namespace"),
    ("kube-node-lease", "is a Kubernetes system namespace"),
    ("default", "is a Kubernetes system namespace"),
    ("argocd", "is Argo CD's namespace"),
    ("crossplane-system", "is Crossplane's namespace"),
    ("monitoring", "is reserved by reservedNamespaces"),
])
def test_team_namespace_may_not_be_a_system_one(example: Path, run: Run, namespace: str, why: str) -> None:
    edit(example, PLATFORM, "    namespace: identity\n", f"    namespace: {namespace}\n")
    fails(example, run,
          f"platform-config/platform.yaml:14:16: error: teams.identity.namespace: namespace '{namespace}' {why}",
          "  hint: give the team a namespace of its own")


def test_argo_cds_own_namespace_follows_the_platform(example: Path, run: Run) -> None:
    edit(example, PLATFORM, "gitops:\n", "argocd: {namespace: gitops}\ngitops:\n")
    edit(example, PLATFORM, "    namespace: identity\n", "    namespace: gitops\n")
    fails(example, run,
          "platform-config/platform.yaml:15:16: error: teams.identity.namespace: namespace 'gitops' is Argo CD's "
          "namespace",
          "  hint: give the team a namespace of its own")
    # argocd is free once Argo CD lives elsewhere
    edit(example, PLATFORM, "    namespace: gitops\n", "    namespace: argocd\n")
    assert run("render", "--root", example)[0] == 0


# --- code owners in platform.yaml ---------------------------------------------------------------


def test_code_owner_handles_are_checked(example: Path, run: Run) -> None:
    edit(example, PLATFORM, '    codeowners: "@acme/payments"', "    codeowners: acme/payments")
    edit(example, PLATFORM, "  path: .github/CODEOWNERS", "  path: .gitlab/CODEOWNERS")
    fails(example, run,
          "platform-config/platform.yaml:12:17: error: teams.payments.codeowners: 'acme/payments' is not valid: "
          "a code owner: @org/team, @user or an e-mail address",
          "platform-config/platform.yaml:34:9: error: codeowners.path: '.gitlab/CODEOWNERS' is not one of "
          "['.github/CODEOWNERS', 'CODEOWNERS', 'docs/CODEOWNERS']\n  hint: did you mean '.github/CODEOWNERS'?")


@pytest.mark.parametrize("handle", ["@acme", "@acme/payments-team", "@a-b/c.d_e", "payments@acme.example"])
def test_valid_handles(example: Path, run: Run, handle: str) -> None:
    edit(example, PLATFORM, '    codeowners: "@acme/payments"', f'    codeowners: "{handle}"')
    assert run("render", "--root", example)[0] == 0
    assert f"/platform-config/services/payment-service/ {handle}\n" in (example / ".github/CODEOWNERS").read_text()


def test_team_handles_need_the_platforms_codeowners(example: Path, run: Run) -> None:
    text = (example / PLATFORM).read_text()
    (example / PLATFORM).write_text(text[: text.index("# platform-gen renders this CODEOWNERS")])
    fails(example, run,
          "platform-config/platform.yaml:12:5: error: teams.payments.codeowners: a team's code owner needs the "
          "platform's codeowners",
          "  hint: add codeowners: {path: .github/CODEOWNERS, platform: '@org/platform-team'} to platform.yaml",
          "platform-config/platform.yaml:17:5: error: teams.identity.codeowners: a team's code owner needs the "
          "platform's codeowners",
          "  hint: add codeowners: {path: .github/CODEOWNERS, platform: '@org/platform-team'} to platform.yaml")


def test_codeowners_may_not_sit_in_the_output_tree(example: Path, run: Run) -> None:
    edit(example, PLATFORM, "  path: rendered", "  path: docs")
    edit(example, PLATFORM, "  path: .github/CODEOWNERS", "  path: docs/CODEOWNERS")
    fails(example, run,
          "platform-config/platform.yaml:34:9: error: codeowners.path: 'docs/CODEOWNERS' is inside the output tree "
          "'docs'",
          "  hint: choose another codeowners.path or gitops.path")


# --- namespaced kinds only ----------------------------------------------------------------------


def add_template_file(root: Path, name: str, text: str) -> None:
    (root / TEMPLATE / name).write_text(text, encoding="utf-8")


def test_a_template_may_not_render_cluster_scoped_objects(example: Path, run: Run) -> None:
    add_template_file(example, "rbac.yaml.j2", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                      "metadata:\n  name: {{ service.name }}-reader\nrules: []\n---\n"
                      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n")
    hint = "  hint: cluster-wide objects are the platform's: install them outside the golden paths"
    fails(example, run,
          "platform-config/templates/web-service/rbac.yaml.j2: error: ClusterRole 'auth-service-reader' "
          "(rbac.authorization.k8s.io) is cluster-scoped; a team's application may hold only namespaced objects",
          hint,
          "platform-config/templates/web-service/rbac.yaml.j2: error: ClusterRole 'payment-service-reader' "
          "(rbac.authorization.k8s.io) is cluster-scoped; a team's application may hold only namespaced objects",
          hint,
          "platform-config/templates/web-service/rbac.yaml.j2: error: ClusterRole 'user-profile-reader' "
          "(rbac.authorization.k8s.io) is cluster-scoped; a team's application may hold only namespaced objects",
          hint,
          "platform-config/templates/web-service/rbac.yaml.j2: error: Namespace 'extra' is cluster-scoped; a "
          "team's application may hold only namespaced objects",
          hint)


def test_a_template_may_not_render_the_platforms_cluster_scoped_composites(example: Path, run: Run) -> None:
    # the PostgreSQLInstance XRD is v1: its composite XPostgreSQLInstance is cluster-scoped
    add_template_file(example, "xr.yaml.j2", "apiVersion: platform.acme.io/v1alpha1\nkind: XPostgreSQLInstance\n"
                      "metadata:\n  name: db\nspec: {}\n")
    err = fails(example, run,
                "platform-config/templates/web-service/xr.yaml.j2: error: XPostgreSQLInstance 'db' "
                "(platform.acme.io) is cluster-scoped; a team's application may hold only namespaced objects",
                "  hint: cluster-wide objects are the platform's: install them outside the golden paths")
    assert "XPostgreSQLInstance" in err


def test_listed_team_resources_limit_what_templates_render(example: Path, run: Run) -> None:
    (example / PLATFORM).write_text((example / PLATFORM).read_text() + (
        "teamResources:\n  - {group: apps, kind: Deployment}\n  - {group: '', kind: Service}\n"
        "  - {group: '', kind: ServiceAccount}\n  - {group: autoscaling, kind: HorizontalPodAutoscaler}\n"
        "  - {group: batch, kind: CronJob}\n"))
    fails(example, run,
          "platform-config/templates/static-site/Chart.yaml: error: PodDisruptionBudget 'docs-site' "
          "(policy) is not a kind teams may deploy",
          "  hint: add {group: 'policy', kind: PodDisruptionBudget} to teamResources in platform-config/platform.yaml,"
          " or remove it from the template",
          "platform-config/templates/web-service/autoscaling.yaml.j2: error: PodDisruptionBudget 'auth-service' "
          "(policy) is not a kind teams may deploy",
          "  hint: add {group: 'policy', kind: PodDisruptionBudget} to teamResources in platform-config/platform.yaml,"
          " or remove it from the template",
          "platform-config/templates/web-service/autoscaling.yaml.j2: error: PodDisruptionBudget 'payment-service' "
          "(policy) is not a kind teams may deploy",
          "  hint: add {group: 'policy', kind: PodDisruptionBudget} to teamResources in platform-config/platform.yaml,"
          " or remove it from the template",
          "platform-config/templates/web-service/autoscaling.yaml.j2: error: PodDisruptionBudget 'user-profile' "
          "(policy) is not a kind teams may deploy",
          "  hint: add {group: 'policy', kind: PodDisruptionBudget} to teamResources in platform-config/platform.yaml,"
          " or remove it from the template")
    edit(example, PLATFORM, "teamResources:\n", "teamResources:\n  - {group: policy, kind: PodDisruptionBudget}\n")
    assert run("render", "--root", example)[0] == 0
    project = yamlio.safe_load((example / "rendered/argocd/projects/payments.yaml").read_text())
    # the listed kinds, the claim kinds the platform offers and the runtime kinds services use
    assert project["spec"]["namespaceResourceWhitelist"] == [
        {"group": "", "kind": "ConfigMap"}, {"group": "", "kind": "Service"},
        {"group": "", "kind": "ServiceAccount"},
        {"group": "apps", "kind": "Deployment"}, {"group": "autoscaling", "kind": "HorizontalPodAutoscaler"},
        {"group": "batch", "kind": "CronJob"},
        {"group": "external-secrets.io", "kind": "ExternalSecret"},
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
        {"group": "monitoring.coreos.com", "kind": "PodMonitor"},
        {"group": "monitoring.coreos.com", "kind": "PrometheusRule"},
        {"group": "monitoring.coreos.com", "kind": "ServiceMonitor"},
        {"group": "networking.k8s.io", "kind": "NetworkPolicy"},  # payment-service's allowFrom
        {"group": "platform.acme.io", "kind": "MessageQueue"}, {"group": "platform.acme.io", "kind": "ObjectBucket"},
        {"group": "platform.acme.io", "kind": "PostgreSQLInstance"}, {"group": "policy", "kind": "PodDisruptionBudget"},
    ]


def test_team_projects_whitelist_what_the_golden_paths_render(rendered_once: Path) -> None:
    projects = sorted((rendered_once / "rendered/argocd/projects").glob("*.yaml"))
    assert [p.stem for p in projects] == ["data", "identity", "payments"]
    built = {(o["apiVersion"].rsplit("/", 1)[0] if "/" in o["apiVersion"] else "", o["kind"])
             for f in (rendered_once / "rendered/services").rglob("*.yaml") if f.name != "kustomization.yaml"
             for o in yamlio.safe_load_all(f.read_text())}
    for path in projects:
        spec = yamlio.safe_load(path.read_text())["spec"]
        assert "clusterResourceWhitelist" not in spec  # the platform renders the namespaces
        listed = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
        assert built <= listed  # every object a team's application holds is allowed
        assert listed == built | {("platform.acme.io", k) for k in ("MessageQueue", "ObjectBucket",
                                                                   "PostgreSQLInstance")}


# --- CODEOWNERS ---------------------------------------------------------------------------------


def test_the_example_codeowners_is_current() -> None:
    platform = validate(load(REPO))
    assert platform.codeowners is not None
    assert (REPO / ".github/CODEOWNERS").read_text() == codeowners(platform, platform.codeowners,
                      [(s.name, s.team) for s in platform.services])


def test_codeowners_lines(rendered_once: Path) -> None:
    text = (rendered_once / ".github/CODEOWNERS").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert text.startswith("# Generated by platform-gen from platform-config/platform.yaml, "
                           "platform-config/services/*/config.yaml. Do not edit.\n")
    assert lines[:8] == [f"{p:<30} @acme/platform-team" for p in (
        "/.github/", "/environments/", "/overlays/", "/platform-config/crossplane/", "/platform-config/platform.yaml",
        "/platform-config/services/", "/platform-config/templates/", "/rendered/")]
    assert lines[8:11] == ["/platform-config/services/auth-service/ @acme/identity",
                           "/rendered/services/auth-service/ @acme/identity",
                           "/rendered/argocd/applicationsets/auth-service.yaml @acme/identity"]
    # data declares no handle: the platform team reviews its services
    assert "/platform-config/services/event-ingest/ @acme/platform-team" in lines
    assert "/platform-config/services/payment-service/ @acme/payments" in lines


def owner_of(text: str, path: str) -> str:
    """GitHub's rule: the last matching pattern wins (patterns here are anchored paths or folders)."""
    owner = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        pattern, handle = line.split()
        if path == pattern or (pattern.endswith("/") and path.startswith(pattern)):
            owner = handle
    return owner


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["payments", "identity", "data"]), min_size=EXAMPLE_SERVICES,
                max_size=EXAMPLE_SERVICES),
       st.sampled_from(["rendered", "deploy/tree"]))
def test_every_service_is_owned_by_its_team(example: Path, teams: list[str], tree: str) -> None:
    services = sorted(p.name for p in (example / "platform-config/services").iterdir())
    for svc, team in zip(services, teams, strict=True):
        cfg = example / "platform-config/services" / svc / "config.yaml"
        text = cfg.read_text()
        cfg.write_text("\n".join(f"team: {team}" if line.startswith("team:") else line
                                 for line in text.splitlines()) + "\n")
    edit(example, PLATFORM, "  path: ", f"  path: {tree}  # ")
    platform = validate(load(example))
    assert platform.codeowners is not None
    text = codeowners(platform, platform.codeowners,
                      [(s.name, s.team) for s in platform.services])
    handles = {"payments": "@acme/payments", "identity": "@acme/identity", "data": "@acme/platform-team"}
    for svc, team in zip(services, teams, strict=True):
        for path in (f"/platform-config/services/{svc}/config.yaml", f"/{tree}/services/{svc}/base/x.yaml",
                     f"/{tree}/argocd/applicationsets/{svc}.yaml"):
            assert owner_of(text, path) == handles[team], path
    for path in ("/platform-config/platform.yaml", "/platform-config/services/new-one/config.yaml",
                 "/platform-config/templates/worker/main.jsonnet", f"/{tree}/argocd/projects/data.yaml",
                 "/.github/CODEOWNERS", "/environments/prod.yaml", "/overlays/prod/kustomization.yaml"):
        assert owner_of(text, path) == "@acme/platform-team", path
    # put the folder back for the next example
    edit(example, PLATFORM, f"  path: {tree}  # ", "  path: ")


def test_render_check_catches_a_stale_codeowners(rendered_once: Path, run: Run) -> None:
    assert run("render", "--root", rendered_once, "--check")[0] == 0
    path = rendered_once / ".github/CODEOWNERS"
    path.write_text(path.read_text() + "/extra/ @someone\n")
    code, out, _err = run("render", "--root", rendered_once, "--check")
    assert (code, out) == (1, f"rendered is up to date (0 created, 0 changed, 0 removed, {EXAMPLE_FILES} unchanged)\n"
                              ".github/CODEOWNERS is out of date: run 'platform-gen render' and commit the result\n")
    code, out, _err = run("render", "--root", rendered_once, "--check", "--format", "json")
    doc = json.loads(out)
    assert (code, doc["status"], doc["repo_files"]) == (1, "drift", {".github/CODEOWNERS": "changed"})
    assert run("render", "--root", rendered_once)[0] == 0
    assert "/extra/" not in path.read_text()
    code, out, _err = run("render", "--root", rendered_once, "--check", "--format", "json")
    assert (code, json.loads(out)["repo_files"]) == (0, {".github/CODEOWNERS": "unchanged"})


def test_a_hand_written_codeowners_is_never_overwritten(example: Path, run: Run) -> None:
    (example / ".github").mkdir()
    (example / ".github/CODEOWNERS").write_text("* @someone\n")
    before = snapshot(example)
    for args in ((), ("--check",)):
        code, _out, err = run("render", "--root", example, *args)
        assert (code, err) == (1, "error: .github/CODEOWNERS was not written by platform-gen; refusing to "
                                  "overwrite it\n  hint: move its rules into platform.yaml (teams' codeowners), "
                                  "delete .github/CODEOWNERS, and run platform-gen render\n")
    assert snapshot(example) == before  # and the rendered tree was not written either


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_codeowners_is_not_written_through_a_link(example: Path, run: Run, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (example / ".github").symlink_to(elsewhere, target_is_directory=True)
    code, _out, err = run("render", "--root", example)
    assert (code, err) == (1, "error: refusing to write .github/CODEOWNERS through a link (.github)\n"
                              "  hint: replace the link with a regular file or folder\n")
    assert list(elsewhere.iterdir()) == [] and not (example / "rendered").exists()


def test_no_codeowners_declared_writes_nothing_outside_the_tree(example: Path, run: Run) -> None:
    text = (example / PLATFORM).read_text()
    text = text[: text.index("# platform-gen renders this CODEOWNERS")]
    (example / PLATFORM).write_text("\n".join(line for line in text.splitlines() if "codeowners:" not in line) + "\n")
    assert run("render", "--root", example)[0] == 0
    assert sorted(p.name for p in example.iterdir()) == ["environments", "overlays", "platform-config", "rendered"]
    assert render(validate(load(example))).repo_files == {}


# --- diff: ownership changes --------------------------------------------------------------------


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git not on the PATH")
    path = init_repo(tmp_path / "checkout")
    copy_inputs(REPO, path)
    commit(path, "example platform")
    return path


def test_diff_names_the_owner_of_a_new_service_and_both_teams_of_a_move(git_repo: Path, run: Run,
                                                                         kustomize: object) -> None:
    new_service(git_repo, "search", "identity", "  dev: {}\n")
    edit(git_repo, "platform-config/services/report-builder/config.yaml", "team: data", "team: payments")
    new = "search: new service, owned by team identity (code owner @acme/identity)"
    moved = "report-builder: team data → payments (code owners @acme/platform-team → @acme/payments)"
    reason = ("the owning team's AppProject, namespace, groups and code owners govern the service: check that the "
              "owner is right")
    code, out, _ = run("diff", "--root", git_repo, "--base", "HEAD", "--format", "json")
    assert code == 0
    flags = [f for f in json.loads(out)["flags"] if f["id"] == "owner-changed"]
    assert flags == [{"id": "owner-changed", "message": m, "reason": reason} for m in (moved, new)]
    code, out, _ = run("diff", "--root", git_repo, "--base", "HEAD")
    assert code == 0 and f"  ! owner-changed: {moved} ({reason})\n  ! owner-changed: {new} ({reason})\n" in out
    code, out, _ = run("diff", "--root", git_repo, "--base", "HEAD", "--format", "markdown")
    assert code == 0 and f"- ⚠️ **owner-changed**: {moved} _({reason})_\n- ⚠️ **owner-changed**: {new} _({reason})_" \
        in out


def test_diff_ownership_without_codeowners_names_the_teams(git_repo: Path, run: Run, kustomize: object) -> None:
    text = (git_repo / PLATFORM).read_text()
    text = text[: text.index("# platform-gen renders this CODEOWNERS")]
    (git_repo / PLATFORM).write_text("\n".join(x for x in text.splitlines() if "codeowners:" not in x) + "\n")
    commit(git_repo, "no CODEOWNERS")
    new_service(git_repo, "search", "identity", "  dev: {}\n")
    edit(git_repo, "platform-config/services/report-builder/config.yaml", "team: data", "team: payments")
    code, out, _ = run("diff", "--root", git_repo, "--base", "HEAD", "--format", "json")
    assert code == 0
    assert [f["message"] for f in json.loads(out)["flags"] if f["id"] == "owner-changed"] == [
        "report-builder: team data → payments", "search: new service, owned by team identity"]
