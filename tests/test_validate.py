"""`platform-gen validate`: the rendered tree against kustomize, the schemas and yamllint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO, Run, edit


@pytest.fixture
def tree_root(example: Path, run: Run, kustomize: Kustomize) -> Path:
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    return example



OVERLAY = "rendered/services/payment-service/overlays/prod/prod-us/kustomization.yaml"


def test_example_is_valid(tree_root: Path, run: Run) -> None:
    code, out, _err = run("validate", "--root", tree_root, "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["status"] == "ok" and doc["problems"] == []
    assert doc["overlays"] == 21
    # one batch per cluster of service overlays, and one per cluster of team namespace folders
    assert doc["builds"] == 8
    assert doc["objects"] > 90


def test_overlay_that_does_not_build(tree_root: Path, run: Run) -> None:
    edit(tree_root, OVERLAY, "- ../../../base\n", "- ../../../base\n- missing.yaml\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert f"{OVERLAY}: error: kustomize build failed:" in err
    assert "missing.yaml" in err


def test_kustomize_deprecation_warning_is_a_finding(tree_root: Path, run: Run) -> None:
    edit(tree_root, OVERLAY, "labels:\n", "commonLabels:\n  legacy: 'true'\nlabels:\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert f"{OVERLAY}: error: kustomize warning:" in err
    assert "commonLabels" in err


def test_object_with_unknown_field(tree_root: Path, run: Run) -> None:
    edit(tree_root, "rendered/services/payment-service/base/deployment.yaml", "  revisionHistoryLimit: 5\n",
         "  revisionHistoryLimit: 5\n  replica: 2\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    for env_cluster in ("dev/dev-1", "staging/staging-1", "prod/prod-eu", "prod/prod-us"):
        overlay = f"rendered/services/payment-service/overlays/{env_cluster}/kustomization.yaml"
        assert (f"{overlay}: error: Deployment team-payments/payment-service: spec.replica: "
                "unknown field 'replica'") in err


def test_object_with_wrong_type(tree_root: Path, run: Run) -> None:
    edit(tree_root, "rendered/services/ledger-worker/base/deployment.yaml", "  revisionHistoryLimit: 5\n",
         "  revisionHistoryLimit: five\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert ("rendered/services/ledger-worker/overlays/prod/prod-eu/kustomization.yaml: error: "
            "Deployment team-payments/ledger-worker: spec.revisionHistoryLimit: 'five' is not of type 'integer'") in err


def test_invalid_application_set(tree_root: Path, run: Run) -> None:
    appset = "rendered/argocd/applicationsets/auth-service.yaml"
    edit(tree_root, appset, "  goTemplateOptions:\n", "  goTemplateOption:\n")
    edit(tree_root, appset, "  goTemplate: true\n", "  goTemplate: 'yes'\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert f"{appset}: error: ApplicationSet argocd/auth-service: spec.goTemplateOption: unknown field " \
        "'goTemplateOption'" in err
    assert f"{appset}: error: ApplicationSet argocd/auth-service: spec.goTemplate: 'yes' is not of type " \
        "'boolean'" in err


def test_unknown_top_level_field_of_argo_object(tree_root: Path, run: Run) -> None:
    edit(tree_root, "rendered/argocd/projects/data.yaml", "spec:\n", "specs: {}\nspec:\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert "rendered/argocd/projects/data.yaml: error: AppProject argocd/data: specs: unknown field 'specs'" in err


def test_claim_against_its_xrd(tree_root: Path, run: Run) -> None:
    rel = "rendered/services/payment-service/overlays/prod/prod-us/infrastructure.yaml"
    edit(tree_root, rel, "storageGB: 100", "storageGB: 5000")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert (f"{OVERLAY}: error: PostgreSQLInstance team-payments/payments-db: spec.parameters.storageGB: "
            "5000 is greater than the maximum of 1000") in err


def test_platform_crossplane_objects_are_checked(tree_root: Path, run: Run) -> None:
    rel = "rendered/platform/crossplane/function-function-auto-ready.yaml"
    edit(tree_root, rel, "spec:\n", "spec:\n  pakage: x\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert f"{rel}: error: Function function-auto-ready: spec.pakage: unknown field 'pakage'" in err


def test_yamllint_runs_over_the_inputs(tree_root: Path, run: Run) -> None:
    config = "platform-config/services/payment-service/config.yaml"
    edit(tree_root, config, "team: payments\n", "team: payments   \n")
    edit(tree_root, "overlays/prod/topology-spread.yaml", "kind: Deployment\n", "kind:  Deployment\n")
    code, out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert f"{config}:2:15: error: yamllint: trailing spaces (trailing-spaces)" in err
    assert "overlays/prod/topology-spread.yaml:3:7: error: yamllint: too many spaces after colon (colons)" in err
    assert "yamllint over 29 files (0 cached) of the inputs" in err
    code, out, _err = run("validate", "--root", tree_root, "--format", "json")
    doc = json.loads(out)
    assert (doc["linted"], doc["lint_cached"], doc["lint_scope"]) == (0, 29, "inputs")


def test_the_tree_is_linted_only_when_asked(tree_root: Path, run: Run) -> None:
    edit(tree_root, OVERLAY, "namespace: team-payments\n", "namespace: team-payments   \n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 0, err
    code, _out, err = run("validate", "--root", tree_root, "--lint-tree")
    assert code == 1
    assert f"{OVERLAY}:4:25: error: yamllint: trailing spaces (trailing-spaces)" in err
    assert "of the inputs and the tree" in err


def test_yamllint_ignore_applies_to_the_inputs(tree_root: Path, run: Run) -> None:
    edit(tree_root, "environments/dev.yaml", "name: dev\n", "name: dev   \n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1 and "environments/dev.yaml:" in err
    config = (REPO / ".yamllint.yaml").read_text().replace("ignore: |\n", "ignore: |\n  environments/dev.yaml\n")
    (tree_root / ".yamllint.yaml").write_text(config)
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 0, err
    assert "yamllint over 28 files" in err


def test_an_unreadable_input_is_a_finding(tree_root: Path, run: Run) -> None:
    (tree_root / "platform-config/notes.yaml").symlink_to(tree_root.parent / "outside.yaml")
    (tree_root.parent / "outside.yaml").write_text("secret: 1\n")
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert "platform-config/notes.yaml: error: symbolic link to a location outside the repo; not read" in err
    assert "secret" not in err


def test_no_kustomize_anywhere(tree_root: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _out, err = run("validate", "--root", tree_root)
    assert code == 1
    assert "error: neither 'kustomize' nor 'kubectl' is on the PATH" in err
    assert "--kustomize PATH" in err


def test_explicit_kustomize_path(tree_root: Path, run: Run, kustomize: Kustomize) -> None:
    code, _out, err = run("validate", "--root", tree_root, "--kustomize", kustomize.argv[0])
    assert code == 0, err
    code, _out, err = run("validate", "--root", tree_root, "--kustomize", "/no/such/kustomize")
    assert code == 1 and "kustomize not found at /no/such/kustomize" in err


def test_needs_a_rendered_tree(example: Path, run: Run) -> None:
    code, _out, err = run("validate", "--root", example)
    assert code == 1 and "no rendered tree at rendered" in err


def test_unknown_kube_version(tree_root: Path, run: Run) -> None:
    code, _out, err = run("validate", "--root", tree_root, "--kube-version", "1.99")
    assert code == 1 and "Kubernetes 1.99 is newer than the schemas installed" in err


SPACE = "rendered/namespaces/payments/prod-eu"


def test_team_namespace_folders_are_built_and_checked(tree_root: Path, run: Run) -> None:
    """A namespace folder is built in its cluster's batch; a finding in it names its kustomization."""
    edit(tree_root, f"{SPACE}/namespace.yaml", "  hard:\n", "  hardd:\n")
    code, _out, err = run("validate", "--root", tree_root, "--no-cache")
    assert code == 1
    assert (f"{SPACE}/kustomization.yaml: error: ResourceQuota team-payments/team-quota: spec.hardd: "
            "unknown field") in err, err
    assert err.count("error:") == 1, err


def test_team_namespace_folder_that_does_not_build(tree_root: Path, run: Run) -> None:
    edit(tree_root, f"{SPACE}/kustomization.yaml", "- namespace.yaml\n", "- namespace.yaml\n- missing.yaml\n")
    code, _out, err = run("validate", "--root", tree_root, "--no-cache")
    assert code == 1
    assert f"{SPACE}/kustomization.yaml: error: kustomize build failed:" in err
    assert "rendered/namespaces/payments/prod-us" not in err  # its batch's other folders are not blamed


def test_an_object_of_a_namespace_folder_taken_by_a_service(tree_root: Path, run: Run) -> None:
    """A service overlay that produces an object of its team's namespace folder: two Applications would fight."""
    edit(tree_root, "rendered/services/payment-service/overlays/prod/prod-eu/kustomization.yaml",
         "resources:\n", "resources:\n- quota.yaml\n")
    (tree_root / "rendered/services/payment-service/overlays/prod/prod-eu/quota.yaml").write_text(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: team-quota\n  namespace: team-payments\n"
        "spec: {hard: {pods: '1'}}\n")
    code, _out, err = run("validate", "--root", tree_root, "--no-cache")
    assert code == 1
    assert ("rendered/services/payment-service/overlays/prod/prod-eu/kustomization.yaml: error: ResourceQuota "
            f"team-payments/team-quota: also produced by {SPACE} on cluster prod-eu") in err, err


def test_a_warm_validate_builds_only_the_namespace_folder_that_changed(tree_root: Path, run: Run,
                                                                       tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert run("validate", "--root", tree_root, "--cache-dir", cache)[0] == 0
    edit(tree_root, f"{SPACE}/namespace.yaml", "pods: '100'", "pods: '101'")
    code, out, _err = run("validate", "--root", tree_root, "--cache-dir", cache, "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert (doc["builds"], doc["built"], doc["cached"]) == (1, 0, doc["overlays"])
