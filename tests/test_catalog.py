"""The Backstage catalog and the scaffolder Template (issue 12): rendered from the platform, checked as Backstage
checks them, consistent with the Applications and workloads they describe, and the Template's skeleton, filled in
as the scaffolder fills it, is a config.yaml that renders."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7
from yamllint import linter
from yamllint.config import YamlLintConfig

from platform_gen import backstage, scaffold, schemas, yamlio
from platform_gen.index import Summary
from platform_gen.kustomize_tool import Kustomize
from platform_gen.load import SERVICES_DIR, load
from platform_gen.outputs import catalog
from platform_gen.outputs import labels as L
from platform_gen.validate import validate

from .conftest import EXAMPLE_SERVICES, EXAMPLE_TEMPLATES, REPO, Run, edit, refused_untouched, tree

CASES = Path(__file__).parent / "cases"
SKELETON_DIR = catalog.SKELETON_DIR


def catalog_docs(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Every file of the tree's catalog but the skeleton: its entities."""
    return {rel: yamlio.safe_load_all(data.decode()) for rel, data in tree(out).items()
            if rel.startswith("catalog/") and not rel.startswith(SKELETON_DIR)}


def entities(out: Path) -> list[dict[str, Any]]:
    return [doc for docs in catalog_docs(out).values() for doc in docs]


def by_kind(out: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["name"]: e for e in entities(out) if e["kind"] == kind}


def _fill(text: str, element: dict[str, Any]) -> str:
    return re.sub(r"\{\{\.(\w+)\}\}", lambda m: str(element[m.group(1)]), text)


def applications(out: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(its service, the Application) for every Application the services' ApplicationSets generate."""
    for path in sorted((out / "argocd/applicationsets").glob("*.yaml")):
        appset = yamlio.safe_load(path.read_text())
        template = appset["spec"]["template"]
        for generator in appset["spec"]["generators"]:
            for element in generator["list"]["elements"]:
                yield path.stem, {"name": _fill(template["metadata"]["name"], element),
                                  "labels": {k: _fill(v, element) for k, v in template["metadata"]["labels"].items()},
                                  "namespace": _fill(template["spec"]["destination"]["namespace"], element)}


def selects(selector: str, labels: dict[str, str]) -> bool:
    """Whether a label selector of equalities (``a=b,c=d``) selects ``labels``."""
    pairs = [term.split("=", 1) for term in selector.split(",")]
    return all(labels.get(k.strip()) == v.strip() for k, v in pairs)


# --- the example's catalog -------------------------------------------------------------------------


def _vendored(name: str) -> Any:
    return json.loads((resources.files("platform_gen") / "vendor/backstage" / name).read_text(encoding="utf-8"))


def schema_errors(entity: dict[str, Any]) -> list[str]:
    """The entity against the vendored schema of its kind, straight through jsonschema (placeholders filled
    as text first), independently of platform_gen.backstage."""
    files = ["Entity.schema.json", "EntityEnvelope.schema.json", "EntityMeta.schema.json", "common.schema.json"]
    kind = "Template.v1beta3.schema.json" if entity["kind"] == "Template" else f"{entity['kind']}.v1alpha1.schema.json"
    loaded = {name: _vendored(name) for name in [*files, kind]}
    registry: Registry[Any] = Registry().with_resources((s["$id"], DRAFT7.create_resource(s)) for s in loaded.values())
    filled = json.loads(re.sub(r'\{"\$text": ("[^"]*")\}', r"\1", json.dumps(entity)))
    return [e.message for e in Draft7Validator(loaded[kind], registry=registry).iter_errors(filled)]


def test_the_example_catalog_passes_backstages_checks() -> None:
    found = entities(REPO / "rendered")
    counts: dict[str, int] = {}
    for entity in found:
        counts[entity["kind"]] = counts.get(entity["kind"], 0) + 1
        assert backstage.entity_errors(entity) == [], entity["metadata"]["name"]
        assert schema_errors(entity) == [], entity["metadata"]["name"]
    # 6 services, 3 teams and the platform's, a System per team and finance-reporting, 4 clusters and 3 claims,
    # payment-service's OpenAPI and event-ingest's AsyncAPI, one Location, one Template
    assert counts == {"API": 2, "Component": EXAMPLE_SERVICES, "Group": 4, "Location": 1, "Resource": 7, "System": 4,
                      "Template": 1}


def test_the_checks_can_fail() -> None:
    """Backstage's checks find what the schemas alone pass (field formats) and what they refuse."""
    good = by_kind(REPO / "rendered", "Component")["payment-service"]
    bad = json.loads(json.dumps(good))
    bad["metadata"].update(name="payment--", tags=["tier--1"], annotations={"a/b/c": "x"})
    del bad["spec"]["lifecycle"]
    assert [path for path, _message in backstage.entity_errors(bad)] == [
        "metadata.name", "metadata.annotations.a/b/c", "metadata.tags[0]", "spec"]
    assert schema_errors(bad) == ["'lifecycle' is a required property"]
    assert backstage.entity_errors({**good, "kind": "Widget"})[-1][0] == "kind"
    assert backstage.unresolved([good]) != []  # its owner, system, APIs and resources are in other files


def test_valid_entities_take_the_compiled_check() -> None:
    """Each kind's schema is compiled: a valid catalog needs no jsonschema, but for the Template, whose
    parameters (a oneOf of objects) the compiled check leaves to jsonschema."""
    for entity in entities(REPO / "rendered"):
        kind = backstage._KINDS[(entity["apiVersion"], entity["kind"])]
        fast = backstage._fast(kind)
        assert fast is not None
        assert fast(backstage._filled(entity)) == (entity["kind"] != "Template"), entity["metadata"]["name"]


ENTITY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1, 1)
    | st.sampled_from(["", "x", "group:payments", "service", "a--b", "tier-1", "backstage.io/v1alpha1", "API"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(
        st.sampled_from(["name", "type", "owner", "labels", "annotations", "tags", "links", "url", "extra",
                         "a/b", "spec", "kind"]), inner, max_size=3), max_leaves=6)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*path, i))
    return found


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_compiled_yes_means_no_schema_finding(data: st.DataObject) -> None:
    entity = json.loads(json.dumps(data.draw(st.sampled_from(
        [e for e in entities(REPO / "rendered") if e["kind"] != "Template"]))))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(entity)[1:]))
        parent = entity
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(ENTITY_JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][data.draw(st.sampled_from(["extra", "name", "a/b", "x"]))] = data.draw(ENTITY_JSON)
    kind = backstage._KINDS.get((str(entity.get("apiVersion")), str(entity.get("kind"))))
    if kind is None:
        return
    filled = backstage._filled(entity)
    fast = backstage._fast(kind)
    envelope = backstage._fast("EntityEnvelope.schema.json")
    assert fast is not None and envelope is not None
    if fast(filled) and envelope(filled):
        assert list(backstage._validator(kind).iter_errors(filled)) == []
        assert list(backstage._validator("EntityEnvelope.schema.json").iter_errors(filled)) == []


def test_each_component_matches_its_applications_and_workloads(kustomize: Kustomize) -> None:
    out = REPO / "rendered"
    apps = list(applications(out))
    components = by_kind(out, "Component")
    assert sorted(components) == sorted({service for service, _app in apps})
    for name, component in components.items():
        notes = component["metadata"]["annotations"]
        mine = [app for service, app in apps if service == name]
        selected = [app for _service, app in apps if selects(notes["argocd/app-selector"], app["labels"])]
        assert mine and selected == mine, name
        assert {app["namespace"] for app in mine} == {notes["backstage.io/kubernetes-namespace"]}
        for overlay in sorted((out / "services" / name / "overlays").glob("*/*")):
            for obj in yamlio.safe_load_all(kustomize.build(overlay).output):
                assert obj["metadata"]["labels"][L.BACKSTAGE_ID] == notes["backstage.io/kubernetes-id"] == name
                assert obj["metadata"]["namespace"] == notes["backstage.io/kubernetes-namespace"]
                if obj["kind"] in ("Deployment", "StatefulSet"):  # the plugin finds the pods by it
                    assert obj["spec"]["template"]["metadata"]["labels"][L.BACKSTAGE_ID] == name


def test_every_reference_resolves_and_the_location_lists_every_file() -> None:
    out = REPO / "rendered"
    found = entities(out)
    known = {(e["kind"].lower(), e["metadata"]["name"]) for e in found}
    defaults = {"owner": "group", "system": "system", "providesApis": "api", "consumesApis": "api"}
    checked = 0
    for entity in found:
        spec = entity["spec"]
        for field in ("owner", "system", "providesApis", "consumesApis", "dependsOn"):
            for ref in spec.get(field, []) if isinstance(spec.get(field), list) else [spec.get(field)]:
                if ref is None:
                    continue
                kind, _colon, name = ref.rpartition(":")
                assert (kind or defaults[field], name) in known, f"{entity['metadata']['name']}: {field} {ref}"
                checked += 1
    assert checked > 40
    components = by_kind(out, "Component")
    assert components["user-profile"]["spec"]["dependsOn"] == [
        "component:event-ingest", "resource:dev-1", "resource:staging-1"]
    assert components["user-profile"]["spec"]["consumesApis"] == ["event-ingest.asyncapi"]
    assert components["event-ingest"]["spec"]["providesApis"] == ["event-ingest.asyncapi"]
    (location,) = by_kind(out, "Location").values()
    files = sorted(rel for rel in catalog_docs(out) if rel != catalog.LOCATION)
    assert location["spec"]["targets"] == [f"./{rel[len('catalog/'):]}" for rel in files]


def test_what_each_service_shows() -> None:
    out = REPO / "rendered"
    components = by_kind(out, "Component")
    payment = components["payment-service"]
    notes = payment["metadata"]["annotations"]
    base = "https://github.com/acme/platform"
    assert notes["backstage.io/source-location"] == f"url:{base}/tree/main/platform-config/services/payment-service/"
    assert notes["backstage.io/edit-url"] == f"{base}/edit/main/platform-config/services/payment-service/config.yaml"
    assert notes["backstage.io/techdocs-ref"] == "dir:."  # its folder holds mkdocs.yml
    assert "backstage.io/techdocs-ref" not in components["event-ingest"]["metadata"]["annotations"]
    assert payment["spec"] == {
        "type": "service", "lifecycle": "production", "owner": "group:payments", "system": "payments",
        "providesApis": ["payment-service.openapi"],
        "dependsOn": ["resource:dev-1", "resource:payment-service.payments-db", "resource:prod-eu", "resource:prod-us",
                      "resource:staging-1"]}
    assert payment["metadata"]["tags"] == ["tier-1"]
    # report-builder runs in dev only, in a System of its own, owned by its team
    assert components["report-builder"]["spec"]["lifecycle"] == "experimental"
    assert by_kind(out, "System")["finance-reporting"]["spec"]["owner"] == "group:data"
    api = by_kind(out, "API")["payment-service.openapi"]
    assert api["spec"]["definition"] == {"$text": "../../../platform-config/services/payment-service/openapi.yaml"}
    assert (out / "catalog/services" / api["spec"]["definition"]["$text"]).resolve() == \
        (REPO / "platform-config/services/payment-service/openapi.yaml").resolve()
    resources_ = by_kind(out, "Resource")
    assert {n: r["spec"]["type"] for n, r in resources_.items()} == {
        "dev-1": "kubernetes-cluster", "staging-1": "kubernetes-cluster", "prod-us": "kubernetes-cluster",
        "prod-eu": "kubernetes-cluster", "payment-service.payments-db": "database",
        "event-ingest.event-archive": "bucket", "ledger-worker.ledger-postings": "queue"}
    groups = by_kind(out, "Group")
    assert groups["payments"]["metadata"]["annotations"] == {"github.com/team-slug": "acme/payments"}
    assert groups["data"]["metadata"]["description"] == "Data pipelines and reporting"


# --- render refuses, validate finds ----------------------------------------------------------------


def test_render_refuses_a_catalog_backstage_would_refuse(example: Path, run: Run) -> None:
    """A tier is a valid label, but a tag of Backstage may not hold '--': the Component would be refused."""
    assert run("render", "--root", example)[0] == 0
    expected = ("platform-config/services/auth-service/config.yaml:4:7: error: tier: 'tier--1' is not a valid tag: "
                "sequences of [a-z0-9:+#] separated by single '-', at most 63 characters in total (it becomes the "
                "catalog Component auth-service: metadata.tags[0])")
    refused_untouched(example, run, "platform-config/services/auth-service/config.yaml", "tier: tier-1\n",
                      "tier: tier--1\n", expected)
    assert expected in (REPO / "README.md").read_text()


def test_validate_checks_the_catalog_files(rendered_once: Path, run: Run) -> None:
    out = rendered_once / "rendered"
    edit(rendered_once, "rendered/catalog/services/ledger-worker.yaml", "owner: group:payments\n",
         "owner: group:nobody\n")
    edit(rendered_once, "rendered/catalog/services/report-builder.yaml", "  name: report-builder\n",
         "  name: report-builder-\n")
    (out / "catalog/clusters.yaml").unlink()
    (out / "catalog/extra.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: x}\n"
                                            "spec: {type: team, children: []}\n")
    results = []
    for _attempt in range(2):  # the second from the verdicts cached per file: the same findings
        code, _out, err = run("validate", "--root", rendered_once)
        assert code == 1
        results.append(sorted(line for line in err.splitlines() if "catalog" in line and "error:" in line))
    assert results[0] == results[1]
    found = "\n".join(results[0])
    assert ("rendered/catalog/services/ledger-worker.yaml: error: Component ledger-worker: spec.owner: "
            "'group:nobody' names no entity of the catalog (group:default/nobody)") in found
    assert ("rendered/catalog/services/report-builder.yaml: error: Component report-builder-: metadata.name: "
            "'report-builder-' is not a valid name") in found
    assert ("rendered/catalog/catalog-info.yaml: error: Location acme-platform: spec.targets: lists ./clusters.yaml, "
            "which is not in the tree") in found
    assert "'resource:prod-us' names no entity of the catalog" in found
    assert "rendered/catalog/extra.yaml: error: no Location of the catalog lists this file" in found
    (out / "catalog/extra.yaml").unlink()  # not platform-gen's: render leaves it
    assert run("render", "--root", rendered_once)[0] == 0
    assert run("validate", "--root", rendered_once)[0] == 0


# --- inputs ----------------------------------------------------------------------------------------


def test_depends_on_and_consumes_apis_name_what_exists(example: Path, run: Run) -> None:
    rel = "platform-config/services/auth-service/config.yaml"
    with (example / rel).open("a") as fh:
        fh.write("dependsOn: [paymnt-service, auth-service]\n"
                 "consumesApis: [user-profile, payment-service.asyncapi, nope, payment-service]\n")
    code, out, err = run("render", "--root", example)
    assert (code, out) == (1, "")
    assert err.splitlines()[::2] == [
        f"{rel}:31:13: error: dependsOn[0]: dependsOn names service 'paymnt-service', which does not exist",
        f"{rel}:31:29: error: dependsOn[1]: service 'auth-service' depends on itself",
        f"{rel}:32:16: error: consumesApis[0]: service 'user-profile' provides no API "
        "(platform-config/services/user-profile/ has no openapi.yaml or asyncapi.yaml)",
        f"{rel}:32:30: error: consumesApis[1]: service 'payment-service' provides no asyncapi API "
        "(platform-config/services/payment-service/ has no asyncapi.yaml)",
        f"{rel}:32:56: error: consumesApis[2]: consumesApis names service 'nope', which does not exist",
        "5 problems found; nothing was written."]
    assert "  hint: name one of its APIs (payment-service.openapi)" in err
    assert "  hint: did you mean 'payment-service'?" in err
    readme = (REPO / "README.md").read_text()  # its example is what render says
    block = next(b for b in readme.split("```") if "dependsOn names service 'paymnt-service'" in b)
    assert all(line in err for line in block.strip().splitlines())


def test_a_misspelt_name_is_matched_only_with_what_it_may_name(example: Path, run: Run) -> None:
    rel = "platform-config/services/auth-service/config.yaml"
    with (example / rel).open("a") as fh:  # the closest services are the service itself, and one without an API
        fh.write("dependsOn: [auth-servic]\nconsumesApis: [user-profil, event-ingst]\n")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    hints = [line for line in err.splitlines() if line.startswith("  hint: ")]
    assert hints == ["  hint: did you mean 'payment-service'?",  # the closest service but itself
                     "  hint: valid services that provide an API: event-ingest, payment-service",
                     "  hint: did you mean 'event-ingest'?"], err
    assert "did you mean 'auth-service'" not in err and "'user-profile'?" not in err


def test_a_service_consumes_no_api_of_its_own(example: Path, run: Run) -> None:
    rel = "platform-config/services/payment-service/config.yaml"
    with (example / rel).open("a") as fh:
        fh.write("consumesApis: [payment-service.openapi]\n")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert ": error: consumesApis[0]: service 'payment-service' consumes its own API\n" in err, err


def test_the_platform_names_component_and_resource_types(example: Path, run: Run) -> None:
    rel = "platform-config/platform.yaml"
    with (example / rel).open("a") as fh:
        fh.write("catalog:\n  componentTypes: {web-service: service, worker: job, wrker: job}\n"
                 "  resourceTypes: {PostgreSQLInstance: postgres, Queue: queue}\n")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert f"{rel}:55:55: error: catalog.componentTypes.wrker: unknown template 'wrker'" in err
    assert "hint: did you mean 'worker'?" in err
    assert f"{rel}:56:49: error: catalog.resourceTypes.Queue: unknown infrastructure kind 'Queue'" in err
    edit(example, rel, ", wrker: job}", "}")
    edit(example, rel, ", Queue: queue}", "}")
    assert run("render", "--root", example)[0] == 0
    out = example / "rendered"
    assert {n: c["spec"]["type"] for n, c in by_kind(out, "Component").items()} == {
        "auth-service": "service", "docs-site": "service", "event-ingest": "job", "ledger-reconcile": "service",
        "ledger-worker": "job", "payment-service": "service", "report-builder": "job", "user-profile": "service"}
    # the others by default, from the kind's name
    assert {n: r["spec"]["type"] for n, r in by_kind(out, "Resource").items() if "." in n} == {
        "payment-service.payments-db": "postgres", "event-ingest.event-archive": "bucket",
        "ledger-worker.ledger-postings": "queue"}


@pytest.mark.parametrize(("kind", "expected"), [
    ("PostgreSQLInstance", "database"), ("MySQLDatabase", "database"), ("ObjectBucket", "bucket"),
    ("MessageQueue", "queue"), ("KafkaTopic", "queue"), ("CacheCluster", "cache-cluster"),
    ("DNSRecord", "dns-record")])
def test_resource_types_by_default(kind: str, expected: str) -> None:
    platform = validate(load(REPO))
    assert catalog.resource_type(platform, kind) == expected


def test_a_repo_elsewhere_than_github_has_no_urls_and_no_template() -> None:
    """The basic case's repo is on git.example.com: no source or edit URL (their form is GitHub's), no Template
    (it opens a GitHub pull request); the rest of the catalog is there."""
    files = tree(CASES / "basic" / "expected")
    assert not [rel for rel in files if rel.startswith("catalog/scaffolder/")]
    for rel, data in files.items():
        if rel.startswith("catalog/"):
            assert b"source-location" not in data and b"edit-url" not in data and b"techdocs-ref" not in data
    assert "catalog/catalog-info.yaml" in files and "catalog/services/api.yaml" in files


# --- the scaffolder Template -----------------------------------------------------------------------

ANSWERS = {"name": "search-api", "description": 'Finds things: "quickly", #1', "team": "identity",
           "template": "worker", "tier": "tier-2", "image": "ghcr.io/acme/search-api", "tag": "1.10",
           "environment": "staging"}


def _template(out: Path) -> dict[str, Any]:
    (template,) = by_kind(out, "Template").values()
    return template


def test_the_template_offers_this_platform() -> None:
    template = _template(REPO / "rendered")
    assert backstage.entity_errors(template) == [] and schema_errors(template) == []
    pages = template["spec"]["parameters"]
    props = {k: v for page in pages for k, v in page["properties"].items()}
    assert props["team"]["enum"] == ["data", "identity", "payments"]
    assert props["template"]["enum"] == ["cron-job", "static-site", "web-service", "worker"]
    assert props["tier"]["enum"] == ["tier-1", "tier-2", "tier-3"]
    assert props["environment"]["enum"] == ["dev", "staging", "prod"] and props["environment"]["default"] == "dev"
    # the name pattern render enforces, written for JavaScript too: the same names pass
    pattern = re.compile(props["name"]["pattern"])
    names = ["a", "payment-service", "a1", "x-1-y", "1a", "a-", "A", "a_b", "-a", "a\n", "", "ü"]
    render_pattern = re.compile(schemas.SERVICE_NAME)
    assert [bool(pattern.search(n)) for n in names] == [bool(render_pattern.search(n)) for n in names]
    assert props["name"]["maxLength"] == schemas.SERVICE["properties"]["name"]["maxLength"]
    # a name taken is refused by the form: the pull request would overwrite that service's config.yaml
    form = {k: v for k, v in props["name"].items() if not k.startswith("ui:")}
    taken = sorted(p.parent.name for p in (REPO / SERVICES_DIR).glob("*/config.yaml"))
    assert form["not"] == {"enum": taken} and len(taken) == EXAMPLE_SERVICES
    assert [not list(Draft7Validator(form).iter_errors(n)) for n in ("payment-service", "search-api")] == [False, True]
    fetch, publish = template["spec"]["steps"]
    assert (fetch["action"], publish["action"]) == ("fetch:template", "publish:github:pull-request")
    assert publish["input"]["repoUrl"] == "github.com?owner=acme&repo=platform"
    assert publish["input"]["targetBranchName"] == "main"
    # every value the skeleton reads is given by the fetch step, from a parameter of the form
    given = fetch["input"]["values"]
    assert all(v == f"${{{{ parameters.{k} }}}}" and k in props for k, v in given.items())
    skeleton = (REPO / "rendered" / catalog.SKELETON).read_text()
    assert set(re.findall(r"\$\{\{ values\.(\w+)", skeleton + catalog.SKELETON)) == set(given)


BACKSTAGE = Path(__file__).parent / "backstage"


@pytest.fixture(scope="session")
def fetch_template() -> Callable[[Path, Path, dict[str, Any]], None]:
    """Fill a skeleton folder as Backstage's fetch:template does, with the real nunjucks (``tests/backstage/``,
    pinned to the version Backstage uses): ``fill(skeleton, target, values)``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node not on the PATH: the Scaffolder skeleton is filled with Backstage's engine, nunjucks")
    if not (BACKSTAGE / "node_modules" / "nunjucks").is_dir():
        if npm is None:
            pytest.skip("npm not on the PATH, and tests/backstage/node_modules is not installed")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(BACKSTAGE)],
                              capture_output=True, text=True, check=False, timeout=300)
        if done.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"npm ci in tests/backstage failed:\n{done.stderr}")
            pytest.skip(f"npm ci in tests/backstage failed (no registry?): {done.stderr.strip()[-300:]}")

    def fill(skeleton: Path, target: Path, values: dict[str, Any]) -> None:
        done = subprocess.run([node, str(BACKSTAGE / "fetch_template.js"), str(skeleton), str(target),
                               json.dumps(values)], capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr

    return fill


def _skeleton(out: Path) -> Path:
    return out / SKELETON_DIR


def _new(answers: dict[str, Any], starter: dict[str, Any] | None) -> dict[str, Any]:
    """What ``platform-gen new`` writes for the same answers (the tier, which new does not ask, as a --set)."""
    return scaffold.service_document(scaffold.NewService(
        answers["name"], answers["team"], answers["template"], answers["image"], answers["tag"],
        (answers["environment"],), ((("tier",), answers["tier"]),), answers["description"]), starter)


@pytest.mark.parametrize("template", sorted(EXAMPLE_TEMPLATES))
def test_the_skeleton_filled_by_backstage_is_what_new_writes(template: str, tmp_path: Path,
                                                            fetch_template: Callable[..., None]) -> None:
    platform = validate(load(REPO))
    answers = {**ANSWERS, "template": template}
    fetch_template(_skeleton(REPO / "rendered"), tmp_path, answers)
    filled = yamlio.safe_load((tmp_path / SERVICES_DIR / "search-api" / "config.yaml").read_text())
    expected = _new(answers, platform.starter_docs.get(template))
    assert list(filled.items()) == list(expected.items())
    # and it is a config.yaml in the project's style: real yamllint, with the repo's config
    text = (tmp_path / SERVICES_DIR / "search-api" / "config.yaml").read_text()
    conf = YamlLintConfig(content=(REPO / ".yamllint.yaml").read_text())
    assert [f"{p.line}: {p.desc}" for p in linter.run(text, conf, "config.yaml")] == []
    if template in platform.starter_docs:  # the golden path's starter values are there
        assert set(platform.starter_docs[template]) <= set(filled)


def test_the_skeleton_keeps_a_starters_environments_and_its_text(example: Path, run: Run, tmp_path: Path,
                                                                fetch_template: Callable[..., None]) -> None:
    starter = example / "platform-config/templates/static-site/starter.yaml"
    starter.write_text("healthPath: '/{%raw%}${{x}}{#a#}#}'\nenvironments:\n  prod: {replicas: 3}\n"
                       "  staging: {replicas: 2}\n")
    assert run("render", "--root", example)[0] == 0
    doc = yamlio.safe_load(starter.read_text())
    for env in ("dev", "prod"):
        answers = {**ANSWERS, "template": "static-site", "environment": env}
        fetch_template(_skeleton(example / "rendered"), tmp_path / env, answers)
        filled = yamlio.safe_load((tmp_path / env / SERVICES_DIR / "search-api" / "config.yaml").read_text())
        assert list(filled.items()) == list(_new(answers, doc).items())
    assert list(filled["environments"]) == ["prod", "staging"]  # the asked one is not written twice


def test_the_skeleton_filled_with_answers_is_a_config_yaml_that_renders(example: Path, run: Run,
                                                                       fetch_template: Callable[..., None]) -> None:
    assert run("render", "--root", example)[0] == 0
    out = example / "rendered"
    template = _template(out)
    for page in template["spec"]["parameters"]:  # the answers pass the form
        form = {"type": "object", "required": page["required"],
                "properties": {k: {w: v for w, v in p.items() if not w.startswith("ui:")}
                               for k, p in page["properties"].items()}}
        assert list(Draft7Validator(form).iter_errors(ANSWERS)) == []

    skeleton = {rel[len(SKELETON_DIR):]: data for rel, data in tree(out).items() if rel.startswith(SKELETON_DIR)}
    assert list(skeleton) == ["platform-config/services/${{ values.name }}/config.yaml"]
    # one new service on each golden path, from the form's answers: each renders, the cron job with the
    # schedule of its starter values
    names = {t: f"new-{t}" for t in EXAMPLE_TEMPLATES}
    for t, name in names.items():
        fetch_template(_skeleton(out), example, {**ANSWERS, "name": name, "template": t})
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    components = by_kind(out, "Component")
    for t, name in names.items():
        assert components[name]["metadata"]["description"] == ANSWERS["description"]
        assert components[name]["spec"]["owner"] == "group:identity"
        assert components[name]["metadata"]["tags"] == ["tier-2"]
        assert components[name]["spec"]["dependsOn"] == ["resource:staging-1"]
        assert (out / f"services/{name}/overlays/staging/staging-1/kustomization.yaml").is_file(), t
        written = yamlio.safe_load((example / SERVICES_DIR / name / "config.yaml").read_text())
        assert written["tag"] == "1.10" and written["environments"] == {"staging": {}}
    cron = yamlio.safe_load((out / "services/new-cron-job/base/cronjob.yaml").read_text())
    assert cron["spec"]["schedule"] == "0 3 * * *"


# --- pieces ------------------------------------------------------------------------------------------


def test_each_vendored_schema_matches_its_notice() -> None:
    folder = Path(backstage.__file__).parent / "vendor" / "backstage"
    notice = (folder / "NOTICE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| (@backstage/[a-z-]+) \| ([0-9.]+) \| `([^`]+)` \| `([0-9a-f]{64})` \| "
                      r"Apache-2\.0 \|$", notice, re.M)
    assert sorted(p.name for p in folder.iterdir() if p.name != "NOTICE.md") == sorted(r[0] for r in rows)
    for name, _package, _version, upstream, sha256 in rows:
        assert upstream.rsplit("/", 1)[1] == name
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256, name
    assert {json.loads((folder / r[0]).read_text())["$id"] for r in rows} >= {"Entity", "EntityMeta", "common"}



@pytest.mark.parametrize(("url", "expected"), [
    ("https://github.com/acme/platform.git", ("github.com", "acme", "platform")),
    ("https://github.com/acme/platform", ("github.com", "acme", "platform")),
    ("https://github.com/acme/platform/", ("github.com", "acme", "platform")),
    ("git@github.com:acme/platform.git", ("github.com", "acme", "platform")),
    ("ssh://git@github.com/acme/my.platform.git", ("github.com", "acme", "my.platform")),
    ("https://github.acme.com/infra/deploy.git", ("github.acme.com", "infra", "deploy")),
    ("https://git.example.com/shopco/deploy.git", None),
    ("https://gitlab.com/acme/platform.git", None),
    ("https://github.com/acme/group/platform.git", None),
])
def test_github_repo(url: str, expected: tuple[str, str, str] | None) -> None:
    assert catalog.github_repo(url) == expected


def test_resource_names_are_unique_and_valid() -> None:
    assert catalog.resource_name("a-b", "c") != catalog.resource_name("a", "b-c")
    long = catalog.resource_name("s" * 40, "c" * 50)
    assert len(long) == 63 and backstage.entity_errors({"apiVersion": backstage.API_VERSION, "kind": "Resource",
                                                       "metadata": {"name": long},
                                                       "spec": {"type": "database", "owner": "group:g"}}) == []
    assert long != catalog.resource_name("s" * 40, "c" * 49 + "d")


def test_summaries_keep_what_the_catalog_needs() -> None:
    s = Summary(name="a", team="t", template="w", file="platform-config/services/a/config.yaml", namespace="n",
                config="0" * 40, inputs="1" * 32, envs=("dev",), placements={"dev": ("dev-1",)},
                description="What a does", tier="tier-1", system="s", depends_on=("b",), consumes_apis=("b.openapi",),
                features=("mkdocs.yml", "openapi.yaml"))
    back = Summary.from_json("a", json.loads(json.dumps(s.to_json())))
    assert back == s and back.catalog() == s.catalog()
    assert list(s.to_json()) == sorted(s.to_json())
