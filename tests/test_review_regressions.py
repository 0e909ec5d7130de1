"""Inputs that once crashed or were wrongly accepted: each is now a located error, exit 1, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run, edit, snapshot

XRD = "platform-config/crossplane/postgresqlinstance/definition.yaml"



def rename_service(root: Path, old: str, new: str) -> None:
    services = root / "platform-config/services"
    (services / old).rename(services / new)
    edit(root, f"platform-config/services/{new}/config.yaml", f"name: {old}", f"name: {new}")


def fails(root: Path, run: Run, *expected: str) -> str:
    before = snapshot(root / "rendered")
    code, _out, err = run("render", "--root", root)
    assert code == 1, err
    for text in expected:
        assert text in err, err
    assert snapshot(root / "rendered") == before
    return err


def test_service_cannot_take_the_platform_appset_name(rendered_once: Path, run: Run) -> None:
    rename_service(rendered_once, "auth-service", "platform-crossplane")
    fails(rendered_once, run, "platform-config/services/platform-crossplane/config.yaml:1:7: error: name: service "
          "name 'platform-crossplane' is reserved",
          "error: environments.dev: Application name 'platform-crossplane-dev-1' is reserved for the platform")


def test_application_cannot_take_the_root_app_name(rendered_once: Path, run: Run) -> None:
    rename_service(rendered_once, "auth-service", "platform")
    for rel in ("environments/dev.yaml",):
        edit(rendered_once, rel, "name: dev-1", "name: root")
    for cfg in sorted((rendered_once / "platform-config/services").glob("*/config.yaml")):
        cfg.write_text(cfg.read_text().replace("dev-1", "root"))
    fails(rendered_once, run, "Application name 'platform-root' is reserved for the platform")


def test_gitops_path_must_stay_inside_the_repo(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, "platform-config/platform.yaml", "  path: rendered", "  path: ../escaped")
    fails(rendered_once, run, "platform-config/platform.yaml:7:9: error: gitops.path: '../escaped' must stay inside "
          "the repo")
    assert not (rendered_once.parent / "escaped").exists()


def test_two_clusters_cannot_share_a_server(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, "environments/staging.yaml", "server: https://staging-1.k8s.acme.internal",
         "server: https://dev-1.k8s.acme.internal")
    fails(rendered_once, run, "environments/staging.yaml:6:13: error: clusters[0].server: server "
          "https://dev-1.k8s.acme.internal is also cluster 'dev-1'")


@pytest.mark.parametrize("value", ["[1]", "5", "x", "true"])
def test_non_mapping_cluster_override(rendered_once: Path, run: Run, value: str) -> None:
    edit(rendered_once, "platform-config/services/payment-service/config.yaml",
         "    # prod-eu needs no entry", f"      prod-eu: {value}\n    # prod-eu needs no entry")
    fails(rendered_once, run, "environments.prod.clusters.prod-eu: expected a mapping")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("                      type: integer", "                      type: int",
     "spec.versions: the parameters schema is invalid: 'int' is not valid under any of the given schemas"),
    ("  claimNames:\n    kind: PostgreSQLInstance\n", "  claimNames:\n",
     "spec.claimNames: 'kind' is a required property"),
    ("metadata:\n  name: xpostgresqlinstances.platform.acme.io", "metadata: [1]",
     "metadata: [1] is not of type 'object'"),
])
def test_malformed_xrd(rendered_once: Path, run: Run, old: str, new: str, expected: str) -> None:
    edit(rendered_once, XRD, old, new)
    fails(rendered_once, run, f"{XRD}:", expected)


def test_crossplane_object_defined_twice(rendered_once: Path, run: Run) -> None:
    src = rendered_once / "platform-config/crossplane/functions.yaml"
    (src.parent / "more-functions.yaml").write_text(src.read_text())
    fails(rendered_once, run, "platform-config/crossplane/more-functions.yaml:", "error: metadata.name: Function "
          "'function-auto-ready' is defined twice")


def test_foreign_kind_in_crossplane_folder(rendered_once: Path, run: Run) -> None:
    (rendered_once / "platform-config/crossplane/extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    fails(rendered_once, run, "platform-config/crossplane/extra.yaml:2:7: error: kind: v1 ConfigMap is not a "
          "Crossplane kind this folder may hold")


def test_template_with_a_malformed_workload(rendered_once: Path, run: Run) -> None:
    (rendered_once / "platform-config/templates/web-service/a.yaml.j2").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: []\n")
    for cfg in sorted((rendered_once / "platform-config/services").glob("*/config.yaml")):
        cfg.write_text(cfg.read_text().replace("template: web-service", "template: worker"))
    edit(rendered_once, "platform-config/services/auth-service/config.yaml", "template: worker",
         "template: web-service")
    (rendered_once / "platform-config/templates/web-service/deployment.yaml.j2").unlink()
    fails(rendered_once, run, "error: the template renders no workload (Deployment, StatefulSet, CronJob or Job) "
          "with a container named 'app'")


def test_unusable_kustomize_binary(rendered_once: Path, run: Run) -> None:
    code, _out, err = run("validate", "--root", rendered_once, "--kustomize", "/etc/hostname")
    assert code == 1 and "error: cannot run" in err


def test_hand_broken_application_set_on_disk(rendered_once: Path, run: Run) -> None:
    # the deletion guard counts the applications of the tree's index: the render repairs the file
    appset = rendered_once / "rendered/argocd/applicationsets/auth-service.yaml"
    good = appset.read_bytes()
    appset.write_text("- a\n- b\n")
    assert run("render", "--root", rendered_once)[0] == 0
    assert appset.read_bytes() == good
    # without an index: no crash, and no skip either: the guard could not count its applications
    appset.write_text("- a\n- b\n")
    (rendered_once / "rendered/.platform-gen.index.json").unlink()
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith("rendered/argocd/applicationsets/auth-service.yaml:1:1: error: cannot count its "
                          "applications: document 1 is not a mapping\n")


def test_invalid_kube_version(rendered_once: Path, run: Run) -> None:
    code, _out, err = run("validate", "--root", rendered_once, "--kube-version", "abc")
    assert code == 1 and "invalid Kubernetes version 'abc'" in err
