"""Argo CD at scale: each Application names exactly the paths its manifests come from.

The ``argocd.argoproj.io/manifest-generate-paths`` annotation lets Argo CD skip
regenerating an Application whose paths a commit does not touch. Listing too little
would leave a stale Application, so every Application is built by real kustomize
from a copy of only the paths it lists, resolved the way the repo-server resolves them.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO
from .test_argocd import argo_objects, trees, validator

ANNOTATION = "argocd.argoproj.io/manifest-generate-paths"


def _fill(value: Any, element: dict[str, str]) -> Any:
    """The Go template of an ApplicationSet (only ``{{.key}}`` is used) applied to one element."""
    if isinstance(value, str):
        return re.sub(r"\{\{\.(\w+)\}\}", lambda m: element[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, element) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, element) for v in value]
    return value


def applications(root: Path) -> list[dict[str, Any]]:
    """Every Application of the tree: the root app and one per ApplicationSet list element."""
    apps = []
    for _rel, obj in argo_objects(root):
        if obj["kind"] == "Application":
            apps.append(obj)
        if obj["kind"] != "ApplicationSet":
            continue
        template = obj["spec"]["template"]
        for gen in obj["spec"]["generators"]:
            own = gen["list"].get("template", {})
            spec = {**template["spec"], **own.get("spec", {})}
            meta = {**template["metadata"], **{k: v for k, v in own.get("metadata", {}).items() if v}}
            for element in gen["list"]["elements"]:
                apps.append({"apiVersion": obj["apiVersion"], "kind": "Application",
                             "metadata": {**_fill(meta, element), "namespace": obj["metadata"]["namespace"]},
                             "spec": _fill(spec, element)})
    return apps


def refresh_paths(app: dict[str, Any]) -> list[str]:
    """The annotation as Argo CD's GetSourceRefreshPaths reads it (util/app/path/path.go):
    split on ';', trimmed, empty entries skipped; '/x' is x from the repository root, anything
    else is joined to spec.source.path and cleaned. Results are relative to the repository root."""
    out = []
    for item in app["metadata"]["annotations"][ANNOTATION].split(";"):
        item = item.strip()
        if not item:
            continue
        out.append(item[1:] if item.startswith("/") else posixpath.normpath(posixpath.join(
            app["spec"]["source"]["path"], item)))
    return out


def _gitops_path(app: dict[str, Any]) -> str:
    """Where the rendered tree lives in the repository, from a service Application's source path."""
    return str(app["spec"]["source"]["path"]).split("/services/", 1)[0]


@pytest.mark.parametrize("root", trees(), ids=lambda p: p.parent.name if p.name == "expected" else "example")
def test_every_application_builds_from_only_the_paths_it_lists(root: Path, tmp_path: Path,
                                                                kustomize: Kustomize) -> None:
    apps = applications(root)
    services = [a for a in apps if "/services/" in a["spec"]["source"]["path"]]
    assert services
    gitops = {_gitops_path(a) for a in services}
    assert len(gitops) == 1, gitops
    prefix = gitops.pop() + "/"
    built = 0
    for i, app in enumerate(apps):
        name, source = app["metadata"]["name"], app["spec"]["source"]["path"]
        assert not list(validator("Application").iter_errors(app)), name
        paths = refresh_paths(app)
        assert paths and paths[0] == source, name  # the app's own folder comes first
        assert len(set(paths)) == len(paths), name
        if not (root / source.removeprefix(prefix) / "kustomization.yaml").is_file():
            assert app["spec"]["source"].get("directory") == {"recurse": True}, name  # the root app
            continue
        repo = tmp_path / str(i)
        for rel in paths:
            assert rel.startswith(prefix) and ".." not in rel.split("/"), (name, rel)
            shutil.copytree(root / rel.removeprefix(prefix), repo / rel)
        alone = kustomize.build(repo / source)
        whole = kustomize.build(root / source.removeprefix(prefix))
        assert alone.ok and whole.ok, (name, alone.error, whole.error)
        assert alone.output == whole.output and alone.output, name
        built += 1
    assert built == len(apps) - 1


def test_paths_name_the_base_and_the_environment_component() -> None:
    by_name = {a["metadata"]["name"]: a for a in applications(REPO / "rendered")}
    assert refresh_paths(by_name["auth-service-prod-eu"]) == [
        "rendered/services/auth-service/overlays/prod/prod-eu",
        "rendered/services/auth-service/base",
        "rendered/components/prod",
    ]
    assert refresh_paths(by_name["auth-service-dev-1"]) == [
        "rendered/services/auth-service/overlays/dev/dev-1",
        "rendered/services/auth-service/base",
    ]
    assert refresh_paths(by_name["platform-root"]) == ["rendered/argocd"]


def test_a_missing_path_breaks_the_build(tmp_path: Path, kustomize: Kustomize) -> None:
    """The build test can fail: without the component listed, a prod overlay does not build."""
    app = next(a for a in applications(REPO / "rendered") if a["metadata"]["name"] == "auth-service-prod-eu")
    for rel in refresh_paths(app)[:2]:
        shutil.copytree(REPO / rel, tmp_path / rel)
    build = kustomize.build(tmp_path / app["spec"]["source"]["path"])
    assert not build.ok and "components/prod" in build.error, build.error


def test_the_annotation_does_not_depend_on_where_the_tree_lives() -> None:
    """Relative entries: the same text whatever gitops.path is, so goldens of nested trees agree."""
    values = set()
    for root in trees():
        for _rel, obj in argo_objects(root):
            if obj["kind"] == "ApplicationSet" and obj["metadata"]["name"] not in ("platform-crossplane",
                                                                                   "platform-namespaces"):
                assert obj["spec"]["template"]["metadata"]["annotations"] == {ANNOTATION: "{{.generatePaths}}"}
                values |= {e["generatePaths"] for g in obj["spec"]["generators"] for e in g["list"]["elements"]}
    assert {v for v in values if "components" not in v} == {".;../../../base"}
    assert {v.rsplit("/", 1)[0] for v in values if "components" in v} == {".;../../../base;../../../../../components"}

