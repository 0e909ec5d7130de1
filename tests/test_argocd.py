"""Every Argo CD object we emit validates against the upstream schemas, strictly."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from platform_gen import yamlio

from .conftest import REPO, Run

VENDOR = REPO / "generator" / "platform_gen" / "vendor" / "argocd"
SHARED = REPO.parent / "shared" / "crds" / "argocd"
CASES = REPO / "tests" / "cases"


@cache
def validator(kind: str) -> Draft7Validator:
    return Draft7Validator(json.loads((VENDOR / f"{kind.lower()}_v1alpha1.json").read_text()))


def argo_objects(tree_root: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((tree_root / "argocd").rglob("*.yaml")):
        for doc in yamlio.safe_load_all(path.read_text()):
            out.append((path.relative_to(tree_root).as_posix(), doc))
    return out


def trees() -> list[Path]:
    return [REPO / "rendered", *sorted(p / "expected" for p in CASES.iterdir() if (p / "expected").is_dir())]


@pytest.mark.parametrize("root", trees(), ids=lambda p: p.parent.name if p.name == "expected" else "example")
def test_argocd_objects_validate_strictly(root: Path) -> None:
    objects = argo_objects(root)
    assert {o["kind"] for _, o in objects} >= {"AppProject", "ApplicationSet", "Application"} - (
        set() if (root / "argocd/applicationsets").is_dir() else {"ApplicationSet"})
    for rel, obj in objects:
        assert obj["apiVersion"] == "argoproj.io/v1alpha1"
        errors = sorted(validator(obj["kind"]).iter_errors(obj), key=lambda e: list(e.absolute_path))
        assert not errors, f"{rel}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_schema_is_strict_enough_to_catch_a_typo() -> None:
    _rel, appset = next((r, o) for r, o in argo_objects(REPO / "rendered") if o["kind"] == "ApplicationSet")
    bad = json.loads(json.dumps(appset))
    bad["spec"]["goTemplateOption"] = bad["spec"].pop("goTemplateOptions")
    assert any("goTemplateOption" in e.message for e in validator("ApplicationSet").iter_errors(bad))


def _rendered_apps(appset: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for g in appset["spec"]["generators"] for e in g["list"]["elements"]]


@pytest.mark.parametrize("root", trees(), ids=lambda p: p.parent.name if p.name == "expected" else "example")
def test_argocd_rules_the_schema_does_not_check(root: Path) -> None:
    names: set[str] = set()
    for rel, obj in argo_objects(root):
        spec = obj["spec"]
        if obj["kind"] == "ApplicationSet":
            assert spec["goTemplate"] is True
            assert spec["goTemplateOptions"] == ["missingkey=error"]
            assert spec["syncPolicy"]["preserveResourcesOnDeletion"] is True
            assert "templatePatch" not in spec
            for gen in spec["generators"]:
                assert list(gen) == ["list"]
                if "template" in gen["list"]:
                    tmpl = gen["list"]["template"]["spec"]
                    # generator-level templates must carry destination and project (argo-cd#9919)
                    assert tmpl["project"] == spec["template"]["spec"]["project"] and tmpl["destination"]
                for element in gen["list"]["elements"]:
                    for value in element.values():
                        assert isinstance(value, str) and "{{" not in value  # fully resolved
            for element in _rendered_apps(obj):
                name = element["app"]
                assert len(name) <= 63 and name not in names, f"{rel}: {name}"
                names.add(name)
                if obj["metadata"]["name"] == "platform-crossplane":
                    assert element["app"] == f"platform-crossplane-{element['cluster']}"
                    continue
                if obj["metadata"]["name"] == "platform-namespaces":
                    assert element["app"] == f"platform-namespaces-{element['team']}-{element['cluster']}"
                    assert element["path"].endswith(f"/namespaces/{element['team']}/{element['cluster']}")
                    folder = "namespaces/" + element["path"].split("/namespaces/", 1)[1]
                    assert (root / folder / "kustomization.yaml").is_file()
                    continue
                assert element["path"].endswith(f"/overlays/{element['env']}/{element['cluster']}")
                overlay = root / ("services/" + element["path"].split("/services/", 1)[1])
                assert (overlay / "kustomization.yaml").is_file(), f"{rel}: {element['path']}"
        if obj["kind"] == "AppProject":
            for key in ("clusterResourceWhitelist", "namespaceResourceWhitelist", "destinations", "sourceRepos"):
                assert spec.get(key, None) != [], f"{rel}: empty {key} denies everything"
            if obj["metadata"]["name"] != "platform":
                # the platform renders team namespaces: a team may create no cluster-scoped object
                assert "clusterResourceWhitelist" not in spec


def test_prod_is_manual_and_dev_automated() -> None:
    appset = yamlio.safe_load_all((REPO / "rendered/argocd/applicationsets/payment-service.yaml").read_text())[0]
    policies = {g["list"]["elements"][0]["env"]: g["list"]["template"]["spec"]["syncPolicy"]
                for g in appset["spec"]["generators"]}
    assert "automated" not in policies["prod"]
    assert policies["dev"]["automated"] == {"prune": True, "selfHeal": True}


def test_root_application_covers_the_argocd_folder() -> None:
    project, root = yamlio.safe_load_all((REPO / "rendered/argocd/platform.yaml").read_text())
    assert (project["kind"], root["kind"]) == ("AppProject", "Application")
    assert root["spec"]["project"] == project["metadata"]["name"]
    assert root["spec"]["source"]["path"] == "rendered/argocd"
    assert root["spec"]["source"]["directory"] == {"recurse": True}


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/crds/argocd not present beside the repo")
def test_vendored_schemas_match_the_shared_copies() -> None:
    for path in sorted(VENDOR.glob("*.json")):
        assert path.read_bytes() == (SHARED / "jsonschema" / path.name).read_bytes(), path.name


def test_a_fresh_render_validates(example: Path, run: Run) -> None:
    assert run("render", "--root", example)[0] == 0
    for rel, obj in argo_objects(example / "rendered"):
        assert not list(validator(obj["kind"]).iter_errors(obj)), rel
