"""platform-gen diff, in real temporary git repositories with real kustomize."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from platform_gen import diff, yamlio
from platform_gen.diff import FLAG_REASONS, MARKDOWN_LIMIT
from platform_gen.errors import ToolError
from platform_gen.kustomize_tool import Kustomize

from .conftest import EXAMPLE_APPS, REPO, Run, copy_inputs, tree

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not on the PATH")

PAYMENT = "platform-config/services/payment-service/config.yaml"
OWNER_REASON = ("the owning team's AppProject, namespace, groups and code owners govern the service: "
                "check that the owner is right")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60).stdout


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    git(path, "symbolic-ref", "HEAD", "refs/heads/main")
    git(path, "config", "user.name", "dev")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, kustomize: Kustomize) -> Path:
    """A git repo holding the example platform's inputs in one commit on main."""
    path = init_repo(tmp_path / "checkout")
    copy_inputs(REPO, path)
    commit(path, "example platform")
    return path


def diff_json(run: Run, root: Path, *args: str) -> dict[str, Any]:
    code, out, err = run("diff", "--root", root, "--format", "json", *args)
    assert code == 0, out + err
    doc: dict[str, Any] = json.loads(out)
    assert doc["status"] == "ok"
    return doc


def flag_ids(doc: dict[str, Any]) -> list[str]:
    return sorted({f["id"] for f in doc["flags"]})


def changes(doc: dict[str, Any]) -> dict[str, str]:
    return {a["name"]: a["change"] for a in doc["applications"]}


def new_service(root: Path, name: str, team: str, environments: str, template: str = "web-service") -> None:
    folder = root / "platform-config" / "services" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(
        f"name: {name}\nteam: {team}\ndescription: {name}\ntier: tier-3\ntemplate: {template}\n"
        f"image: ghcr.io/acme/{name}\ntag: \"1.0.0\"\nenvironments:\n{environments}", encoding="utf-8")


def test_no_changes(run: Run, repo: Path) -> None:
    doc = diff_json(run, repo, "--base", "HEAD")
    assert doc["applications"] == [] and doc["objects"] == [] and doc["argocd"] == [] and doc["flags"] == []
    assert doc["base"] == "HEAD" and doc["unchanged"] > 0
    code, out, _ = run("diff", "--root", repo, "--base", "HEAD")
    assert code == 0 and "No changes to the rendered tree." in out


def test_adding_a_service(run: Run, repo: Path) -> None:
    new_service(repo, "search", "identity", "  dev: {}\n  staging: {}\n")
    doc = diff_json(run, repo, "--base", "HEAD")
    assert changes(doc) == {"search-dev-1": "added", "search-staging-1": "added"}
    # same team, same clusters: its AppProject does not change; a new service is an ownership change
    assert doc["flags"] == [{"id": "owner-changed",
                             "message": "search: new service, owned by team identity (code owner @acme/identity)",
                             "reason": OWNER_REASON}]
    assert [(o["kind"], o["name"], o["change"]) for o in doc["argocd"]] == [("ApplicationSet", "search", "added")]
    kinds = {(o["application"], o["kind"], o["change"]) for o in doc["objects"]}
    assert ("search-dev-1", "Deployment", "added") in kinds and ("search-staging-1", "Service", "added") in kinds
    deployment = next(o for o in doc["objects"] if o["kind"] == "Deployment" and o["application"] == "search-dev-1")
    assert deployment["namespace"] == "identity" and "+        image: ghcr.io/acme/search:1.0.0\n" in deployment["diff"]

    commit(repo, "search in dev and staging")
    edit(repo / "platform-config/services/search/config.yaml", "  staging: {}\n", "  staging: {}\n  prod: {}\n")
    doc = diff_json(run, repo, "--base", "HEAD")
    assert changes(doc) == {"search-prod-eu": "added", "search-prod-us": "added"}
    assert flag_ids(doc) == ["prod-change"]


def test_changing_a_prod_tag(run: Run, repo: Path) -> None:
    edit(repo / PAYMENT, "  prod:\n    replicas: 3\n", "  prod:\n    replicas: 3\n    tag: \"1.4.3\"\n")
    doc = diff_json(run, repo, "--base", "HEAD")
    assert changes(doc) == {"payment-service-prod-eu": "changed", "payment-service-prod-us": "changed"}
    assert flag_ids(doc) == ["prod-change"]
    assert "payment-service-prod-us" in doc["flags"][0]["message"]

    code, out, _ = run("diff", "--root", repo, "--base", "HEAD", "--format", "text", "--color", "never")
    assert code == 0
    assert out.index("Needs attention:") < out.index("prod-change") < out.index("prod/prod-eu")
    image = "\n-        image: ghcr.io/acme/payment-service:1.4.2\n+        image: ghcr.io/acme/payment-service:1.4.3\n"
    for cluster in ("prod-eu", "prod-us"):
        section = out.split(f"=== payment-service-{cluster} (prod/{cluster}) ===\n", 1)[1].split("===", 1)[0]
        assert section.startswith("--- a/Deployment.apps team-payments/payment-service\n") and image in section
    assert "\x1b[" not in out
    assert "dev-1" not in out.split("===", 1)[0]  # dev and staging are untouched


def test_removing_a_cluster(run: Run, repo: Path) -> None:
    prod = repo / "environments/prod.yaml"
    edit(prod, "  - name: prod-eu\n    server: https://prod-eu.k8s.acme.internal\n    values:\n      env:\n"
               "        REGION: eu-west-1\n", "")
    edit(repo / "platform-config/services/event-ingest/config.yaml",
         "    clusters:                  # per-cluster overrides; it runs on prod-us too\n"
         "      prod-eu:\n        env:\n          BATCH_SIZE: 1000\n", "")
    doc = diff_json(run, repo, "--base", "HEAD")
    removed = sorted(n for n, c in changes(doc).items() if c == "removed")
    assert "payment-service-prod-eu" in removed and "event-ingest-prod-eu" in removed
    assert all(n.endswith("-prod-eu") for n in removed)
    assert {"app-removed", "namespace-removed", "prod-change", "claim-removed", "appproject-changed"} <= set(
        flag_ids(doc))
    messages = [f["message"] for f in doc["flags"]]
    assert "payment-service-prod-eu (prod/prod-eu) is removed" in messages
    assert "namespace team-payments on cluster prod-eu" in messages
    assert "PostgreSQLInstance payments-db of payment-service in prod (prod-eu) is removed" in messages
    assert doc["flags"][0]["id"] == "app-removed"  # the riskiest first
    objects = [o for o in doc["objects"] if o["application"] == "payment-service-prod-eu"]
    assert objects and all(o["change"] == "removed" for o in objects)
    # the Crossplane application of the other clusters shares the removed one's folder, and is unchanged
    assert "platform-crossplane-dev-1" not in changes(doc) and changes(doc)["platform-crossplane-prod-eu"] == "removed"


def test_changing_a_claims_parameters(run: Run, repo: Path) -> None:
    edit(repo / PAYMENT, "storageGB: 100", "storageGB: 200")
    doc = diff_json(run, repo, "--base", "HEAD")
    assert flag_ids(doc) == ["claim-parameters-changed", "prod-change"]
    claim = next(f for f in doc["flags"] if f["id"] == "claim-parameters-changed")
    assert claim["message"] == ("PostgreSQLInstance payments-db of payment-service in prod (prod-eu, prod-us): "
                                "storageGB: 100 → 200")
    assert "data loss" in claim["reason"]
    diffs = [o for o in doc["objects"] if o["kind"] == "PostgreSQLInstance"]
    assert len(diffs) == 2 and all("-    storageGB: 100\n+    storageGB: 200\n" in o["diff"] for o in diffs)


def test_changing_a_services_team(run: Run, repo: Path) -> None:
    edit(repo / PAYMENT, "team: payments", "team: data")
    doc = diff_json(run, repo, "--base", "HEAD")
    ids = flag_ids(doc)
    assert "owner-changed" in ids and "appproject-changed" in ids
    # both teams, and their code owners (data has none of its own: the platform team's stands in)
    assert {"id": "owner-changed", "reason": OWNER_REASON,
            "message": "payment-service: team payments → data (code owners @acme/payments → @acme/platform-team)"
            } in doc["flags"]
    projects = {o["name"] for o in doc["argocd"] if o["kind"] == "AppProject"}
    assert "payments" in projects  # payments no longer deploys to dev-1
    # the objects move namespace: removed from team-payments, added to team-data
    moved = {(o["namespace"], o["change"]) for o in doc["objects"]
             if o["application"] == "payment-service-dev-1" and o["kind"] == "Deployment"}
    assert moved == {("team-payments", "removed"), ("team-data", "added")}
    # its database moves too: a data-loss change, flagged with both namespaces
    claims = [f for f in doc["flags"] if f["id"] == "claim-removed"]
    assert claims == [{"id": "claim-removed", "reason": FLAG_REASONS["claim-removed"],
                       "message": f"PostgreSQLInstance payments-db of payment-service in {where}: moves from "
                                  "namespace team-payments to team-data: the cloud resource is deleted and created "
                                  "anew, with its data"}
                      for where in ("dev (dev-1)", "prod (prod-eu, prod-us)", "staging (staging-1)")]


def test_a_sync_policy_change_shows_without_building(run: Run, repo: Path) -> None:
    edit(repo / "environments/staging.yaml", "selfHeal: true", "selfHeal: false")
    # nothing needs building, so a kustomize that does not exist is never asked for
    doc = diff_json(run, repo, "--base", "HEAD", "--kustomize", str(repo / "no-kustomize"))
    staging = {a["name"] for a in doc["applications"]}
    assert staging == {f"{s}-staging-1" for s in ("auth-service", "event-ingest", "ledger-reconcile",
                                                   "ledger-worker", "payment-service", "user-profile")}
    assert all(a["change"] == "changed" and a["application_changed"] for a in doc["applications"])
    assert doc["objects"] == [] and doc["flags"] == []
    assert {o["kind"] for o in doc["argocd"]} == {"ApplicationSet"}
    assert all("-              selfHeal: true\n+              selfHeal: false\n" in o["diff"] for o in doc["argocd"])


RETIRE_REASON = ("once its applications are removed, Argo CD deletes what they deployed, "
                 "claims (and their cloud resources) included")


def test_retiring_a_service_is_flagged(run: Run, repo: Path) -> None:
    edit(repo / PAYMENT, "name: payment-service\n", "name: payment-service\nretire: true\n")
    doc = diff_json(run, repo, "--base", "HEAD")
    retired = {"id": "service-retired",
               "message": "payment-service is retired (preserveResourcesOnDeletion: false); it runs in "
                          "dev (dev-1), staging (staging-1), prod (prod-eu, prod-us)",
               "reason": RETIRE_REASON}
    assert [f for f in doc["flags"] if f["id"] != "prod-change"] == [retired]
    assert [f["id"] for f in doc["flags"]] == ["service-retired", "prod-change"]
    assert list(FLAG_REASONS).index("service-retired") == list(FLAG_REASONS).index("app-removed") + 1

    code, out, _ = run("diff", "--root", repo, "--base", "HEAD", "--format", "markdown")
    assert code == 0
    assert (f"- ⚠️ **service-retired**: {retired['message']} _({RETIRE_REASON})_\n") in out
    code, out, _ = run("diff", "--root", repo, "--base", "HEAD", "--color", "never")
    assert code == 0 and "service-retired" in out and retired["message"] in out

    # un-retiring is an ordinary change
    commit(repo, "retire payment-service")
    edit(repo / PAYMENT, "retire: true\n", "")
    assert flag_ids(diff_json(run, repo, "--base", "HEAD")) == ["prod-change"]

    # step 2, removing the retired service: each removal says that what it deployed goes too
    shutil.rmtree(repo / "platform-config/services/payment-service")
    removed = [f["message"] for f in diff_json(run, repo, "--base", "HEAD")["flags"] if f["id"] == "app-removed"]
    assert "payment-service-prod-us (prod/prod-us) is removed; its service is retired, so Argo CD also deletes " \
           "what it deployed, claims included" in removed
    # and payments' namespace on staging-1, where it has no other service (its Namespace is kept)
    assert len([m for m in removed if m.startswith("payment-service-")]) == 4 and len(removed) == 5


def test_markdown_is_a_pull_request_comment(run: Run, repo: Path) -> None:
    edit(repo / PAYMENT, "storageGB: 100", "storageGB: 200")
    code, out, _ = run("diff", "--root", repo, "--base", "HEAD", "--format", "markdown")
    assert code == 0
    assert out.startswith("### platform-gen diff\n")
    assert "- ⚠️ **claim-parameters-changed**: PostgreSQLInstance payments-db" in out
    assert "| Application | Environment | Cluster | Change |\n| --- | --- | --- | --- |\n" in out
    assert "| `payment-service-prod-eu` | prod | prod-eu | 1 object changed |" in out
    assert "<details><summary><code>payment-service-prod-us</code> (prod/prod-us): 1 object changed</summary>" in out
    assert out.count("<details>") == out.count("</details>") == 2
    assert "```diff\n--- a/PostgreSQLInstance.platform.acme.io team-payments/payments-db\n" in out
    assert "were cut" not in out


def test_markdown_is_cut_at_object_boundaries(run: Run, repo: Path) -> None:
    services = 6  # about 12,000 characters of diff each (its dashboard is 5,000)
    for i in range(services):
        new_service(repo, f"bulk-{i:02d}", "data", "  dev: {}\n")
    code, out, _ = run("diff", "--root", repo, "--base", "HEAD", "--format", "markdown")
    assert code == 0
    assert len(out) <= MARKDOWN_LIMIT
    note = re.search(r"\n_(\d+) object diffs were cut \(([\d,]+) characters\); run `platform-gen diff` locally "
                     r"for the full output\._\n$", out)
    assert note is not None
    # the table still lists every application
    rows = re.findall(r"^\| `bulk-\d\d-dev-1` \| dev \| dev-1 \| added \((\d+) objects\) \|$", out, re.M)
    assert len(rows) == services
    # whole object diffs: each fence opened is closed, each section ends, and the counts add up
    fences = [line for line in out.splitlines() if line.startswith("```")]
    assert fences[0::2] == ["```diff"] * (len(fences) // 2) and fences[1::2] == ["```"] * (len(fences) // 2)
    assert len(fences) % 2 == 0 and out.count("<details>") == out.count("</details>")
    assert len(fences) // 2 + int(note[1]) == sum(int(n) for n in rows) + services  # + the ApplicationSets
    # the applications' manifests come before the ApplicationSets that repeat them
    assert "<details><summary><code>bulk-00-dev-1</code> (dev/dev-1): added (6 objects)</summary>" in out
    assert out.index("<code>bulk-05-dev-1</code>") < out.index("<summary>ApplicationSets: 6 added</summary>")


def test_the_working_copy_is_untouched(run: Run, repo: Path) -> None:
    edit(repo / PAYMENT, "tag: \"1.4.2\"", "tag: \"1.4.3\"")
    (repo / "untracked.txt").write_text("x\n", encoding="utf-8")
    before = (git(repo, "status", "--porcelain"), git(repo, "worktree", "list", "--porcelain"),
              git(repo, "rev-parse", "HEAD"), (repo / ".git" / "index").read_bytes(), git(repo, "stash", "list"))
    files = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts)
    diff_json(run, repo, "--base", "HEAD")
    after = (git(repo, "status", "--porcelain"), git(repo, "worktree", "list", "--porcelain"),
             git(repo, "rev-parse", "HEAD"), (repo / ".git" / "index").read_bytes(), git(repo, "stash", "list"))
    assert after == before
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts) == files


def test_default_base_is_the_merge_base_with_main(run: Run, repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo / PAYMENT, "tag: \"1.4.2\"", "tag: \"1.4.3\"")
    commit(repo, "bump")
    git(repo, "checkout", "-q", "main")
    edit(repo / "platform-config/services/report-builder/config.yaml", "tag: \"0.1.0\"", "tag: \"0.2.0\"")
    commit(repo, "main moves on")
    main_tip = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "feature")
    doc = diff_json(run, repo)
    assert doc["base"] == "main" and doc["merge_base"] is True and doc["base_commit"] != main_tip
    assert "report-builder-dev-1" not in changes(doc)  # main's own change is not the branch's
    assert "payment-service-staging-1" in changes(doc)


def test_platform_in_a_subfolder_and_an_empty_base(run: Run, tmp_path: Path, kustomize: Kustomize) -> None:
    repo = init_repo(tmp_path / "mono")
    (repo / "README.md").write_text("monorepo\n", encoding="utf-8")
    commit(repo, "first")
    root = copy_inputs(REPO, repo / "platform")
    for name in ("auth-service", "docs-site", "event-ingest", "ledger-reconcile", "ledger-worker", "payment-service",
                 "user-profile"):
        shutil.rmtree(root / "platform-config" / "services" / name)
    commit(repo, "platform")
    doc = diff_json(run, root, "--base", "HEAD~1")
    assert doc["base_empty"] is True
    assert changes(doc) == {"report-builder-dev-1": "added", "platform-namespaces-data-dev-1": "added",
                            **{f"platform-crossplane-{c}": "added" for c in ("dev-1", "staging-1", "prod-us",
                                                                             "prod-eu")}}
    assert "app-removed" not in flag_ids(doc) and "appproject-changed" in flag_ids(doc)
    # the same tree at HEAD: no changes, read from the subfolder
    assert diff_json(run, root, "--base", "HEAD")["applications"] == []


def test_unknown_ref(run: Run, repo: Path) -> None:
    code, out, err = run("diff", "--root", repo, "--base", "no-such-branch")
    assert code == 1 and out == ""
    assert "error: unknown git ref 'no-such-branch'" in err and "hint:" in err


def test_invalid_input_at_the_base(run: Run, repo: Path) -> None:
    edit(repo / PAYMENT, "team: payments", "team: paymets")
    commit(repo, "typo")
    edit(repo / PAYMENT, "team: paymets", "team: payments")
    code, out, _ = run("diff", "--root", repo, "--base", "HEAD", "--format", "json")
    assert code == 1
    problems = json.loads(out)["problems"]
    assert [p["file"] for p in problems] == [f"HEAD:{PAYMENT}"]


def test_markdown_headline_adds_up_to_its_sections(run: Run, repo: Path) -> None:
    # the example without its dashboards and SLO rules: a diff small enough that no section is cut
    for env in ("dev", "staging", "prod"):
        path = repo / f"environments/{env}.yaml"
        path.write_text("".join(line for line in path.read_text(encoding="utf-8").splitlines(True)
                                if not line.startswith("  grafana:")), encoding="utf-8")
    text = (repo / PAYMENT).read_text(encoding="utf-8")
    (repo / PAYMENT).write_text(text[: text.index("# Prometheus scrapes")], encoding="utf-8")
    commit(repo, "no dashboards, no SLO")
    # (a service small enough that every diff fits the comment: moving payment-service would also move its
    # team namespaces, and the ApplicationSets' diffs, coming last, would be cut)
    edit(repo / "platform-config/services/event-ingest/config.yaml", "team: data", "team: identity")
    code, out, _ = run("diff", "--root", repo, "--base", "HEAD", "--format", "markdown")
    assert code == 0
    head = re.search(r"Argo CD objects: (\d+) changed \(AppProjects and platform objects: (\d+) changed; "
                     r"ApplicationSets: (\d+) changed\)\.", out)
    assert head is not None, out[:2000]
    total, projects, appsets = map(int, head.groups())
    assert total == projects + appsets and projects and appsets
    assert f"<details><summary>AppProjects and platform objects: {projects} changed</summary>" in out
    assert f"<details><summary>ApplicationSets: {appsets} changed</summary>" in out
    assert "<summary>Argo CD objects" not in out


# --- batched kustomize builds (issue 9) ------------------------------------------------------------

OVERLAY = re.compile(r"services/[^/]+/overlays/[^/]+/[^/]+/kustomization\.yaml")


def counting(tmp_path: Path, kustomize: Kustomize) -> tuple[str, Path]:
    """A kubectl that logs each run to a file, then runs the real kustomize: (its path, the log).

    Named kubectl, it is run as ``kubectl kustomize DIR``: the real tool is given DIR alone."""
    log = tmp_path / "runs.log"
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    real = " ".join(shlex.quote(a) for a in kustomize.argv)
    script.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(log))}\nshift\nexec {real} "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return str(script), log


def overlay_jobs(files: dict[str, bytes]) -> dict[tuple[str, str], diff.Tree]:
    """Every overlay of ``files``, on both sides: the same names on every cluster and on both sides."""
    tree = diff.Tree(None, files, {}, {})
    return {(side, path.rsplit("/", 1)[0]): tree for path in files if OVERLAY.fullmatch(path)
            for side in ("base", "head")}


def dumped(built: dict[tuple[str, str], dict[Any, dict[str, Any]]]) -> dict[tuple[str, str], list[tuple[Any, str]]]:
    """Each job's objects in order, as the diff prints them (key order included)."""
    return {job: [(key, yamlio.dump(obj)) for key, obj in objects.items()] for job, objects in built.items()}


def runs(log: Path) -> int:
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0


def test_batched_builds_equal_one_build_per_overlay(tmp_path: Path, kustomize: Kustomize) -> None:
    jobs = overlay_jobs(tree(REPO / "rendered"))
    assert len(jobs) == 2 * EXAMPLE_APPS  # every overlay, at the base and now
    exe, log = counting(tmp_path, kustomize)
    batched = diff.kustomize_builder(exe)(jobs)
    assert runs(log) == 2  # two kustomize runs for every overlay of both sides
    alone = diff.kustomize_builder(exe, batch=False)(jobs)
    assert runs(log) == 2 + len(jobs)
    assert dumped(batched) == dumped(alone)
    assert all(batched.values())


def test_a_generator_builds_its_overlays_alone(tmp_path: Path, kustomize: Kustomize) -> None:
    """A generator's hash covers the name, prefix included: its overlays cannot share a run, the others do."""
    files = tree(REPO / "rendered")
    component = "components/prod/kustomization.yaml"
    files[component] += b"configMapGenerator:\n- name: spread\n  literals:\n  - zone=all\n"
    jobs = overlay_jobs(files)
    prod = [job for job in jobs if "/overlays/prod/" in job[1]]
    assert prod
    exe, log = counting(tmp_path, kustomize)
    batched = diff.kustomize_builder(exe)(jobs)
    assert runs(log) == 2 + len(prod)
    assert any(key[1] == "ConfigMap" and key[3].startswith("spread-") for key in batched[prod[0]])
    assert dumped(batched) == dumped(diff.kustomize_builder(exe, batch=False)(jobs))


def test_a_failed_batch_names_the_overlay(tmp_path: Path, kustomize: Kustomize) -> None:
    files = tree(REPO / "rendered")
    broken = "services/payment-service/overlays/prod/prod-eu/kustomization.yaml"
    files[broken] = files[broken].replace(b"- ../../../base", b"- ../../../no-such-base")
    jobs = overlay_jobs(files)
    exe, log = counting(tmp_path, kustomize)
    with pytest.raises(ToolError) as batched:
        diff.kustomize_builder(exe)(jobs)
    assert runs(log) == 2 + len(jobs)  # both batches hold the broken overlay: each overlay built alone
    with pytest.raises(ToolError) as alone:
        diff.kustomize_builder(exe, batch=False)(jobs)
    # the same message, but for the name of the temporary folder kustomize names
    tmp = re.compile(r"platform-gen-diff-[a-z0-9_]+")
    assert (tmp.sub("TMP", str(batched.value)), batched.value.hint) == (tmp.sub("TMP", str(alone.value)),
                                                                        alone.value.hint)
    assert "failed on services/payment-service/overlays/prod/prod-eu (base)" in str(batched.value)


def test_temporary_files_go_to_memory_unless_tmpdir_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    assert diff._scratch() in (None, *diff.MEMORY_DIRS)
    monkeypatch.setenv("TMPDIR", "/tmp")
    assert diff._scratch() is None
