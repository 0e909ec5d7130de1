"""Self-service infrastructure: claims from `infrastructure:`, validated against the XRDs at render time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from platform_gen import crdschema, yamlio
from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO, Run, edit, snapshot

SVC = "platform-config/services/payment-service/config.yaml"




def docs(path: Path) -> list[dict[str, Any]]:
    return yamlio.safe_load_all(path.read_text())


def xrd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) of each claim / namespaced XR -> a strict schema of the whole object."""
    out = {}
    for path in sorted((REPO / "platform-config/crossplane").rglob("definition.yaml")):
        for xrd in docs(path):
            spec = xrd["spec"]
            version = next(v for v in spec["versions"] if v.get("referenceable"))
            kind = spec["claimNames"]["kind"] if spec.get("claimNames") else spec["names"]["kind"]
            openapi = version["schema"]["openAPIV3Schema"]
            # the fields Crossplane adds to every claim (v1) or namespaced XR (v2) it serves
            added = ({"crossplane": {"type": "object", "properties": {"compositionRef": {
                "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}}
                if xrd["apiVersion"].endswith("/v2") else
                {"writeConnectionSecretToRef": {"type": "object", "required": ["name"],
                                                "properties": {"name": {"type": "string"}}}})
            openapi = {**openapi, "properties": {**openapi["properties"], "spec": {
                **openapi["properties"]["spec"],
                "properties": {**openapi["properties"]["spec"]["properties"], **added}}}}
            schema = crdschema.resource_schema(openapi, strict=True)
            out[(f"{spec['group']}/{version['name']}", kind)] = schema
    return out


def claims_in(tree_root: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in sorted(tree_root.glob("services/*/overlays/*/*/infrastructure.yaml")) for d in docs(p)]


def test_example_claims(rendered_once: Path) -> None:
    tree_root = rendered_once / "rendered"
    found = {(p.relative_to(tree_root).parts[1], p.parent.parent.name, p.parent.name, d["kind"], d["metadata"]["name"])
             for p, d in claims_in(tree_root)}
    assert ("payment-service", "prod", "prod-us", "PostgreSQLInstance", "payments-db") in found
    assert ("payment-service", "dev", "dev-1", "PostgreSQLInstance", "payments-db") in found
    # an entry limited to some environments exists only there
    assert ("event-ingest", "staging", "staging-1", "ObjectBucket", "event-archive") in found
    assert not any(s == "event-ingest" and e == "dev" for s, e, *_ in found)


def test_claims_validate_against_their_xrds(rendered_once: Path) -> None:
    schemas = xrd_schemas()
    claims = claims_in(rendered_once / "rendered")
    assert len(claims) >= 8
    for path, claim in claims:
        schema = schemas[(claim["apiVersion"], claim["kind"])]
        assert crdschema.validate(claim, schema) == [], path


def test_v1_claim_and_v2_xr_shapes(rendered_once: Path) -> None:
    base = rendered_once / "rendered/services"
    (pg,) = docs(base / "payment-service/overlays/prod/prod-us/infrastructure.yaml")
    assert pg["spec"] == {
        "parameters": {"storageGB": 100, "version": "16", "tier": "medium"},  # prod override merged
        "writeConnectionSecretToRef": {"name": "payments-db-credentials"},
    }
    (dev_pg,) = docs(base / "payment-service/overlays/dev/dev-1/infrastructure.yaml")
    assert dev_pg["spec"]["parameters"] == {"storageGB": 20, "version": "16", "tier": "small"}
    assert pg["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-wave": "-10",
        "argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true",
    }
    assert pg["metadata"]["labels"] == {"platform-gen.io/team": "payments",
                                        "platform-gen.io/service": "payment-service",
                                        "platform-gen.io/environment": "prod"}
    (bucket,) = docs(base / "event-ingest/overlays/prod/prod-eu/infrastructure.yaml")
    assert bucket["apiVersion"] == "platform.acme.io/v1alpha1" and bucket["kind"] == "ObjectBucket"
    assert bucket["spec"]["crossplane"] == {"compositionRef": {"name": "objectbuckets.aws.platform.acme.io"}}
    assert bucket["spec"]["parameters"] == {"versioning": True, "retentionDays": 90}  # defaults filled in
    assert "writeConnectionSecretToRef" not in bucket["spec"]


def test_workload_reads_the_connection_secret(rendered_once: Path, kustomize: Kustomize) -> None:
    base = rendered_once / "rendered/services"
    for overlay, secret, optional, prefix in (
            ("payment-service/overlays/prod/prod-us", "payments-db-credentials", None, "PAYMENTS_DB_"),
            ("ledger-worker/overlays/staging/staging-1", "ledger-postings-credentials", None, "LEDGER_POSTINGS_"),
            ("event-ingest/overlays/dev/dev-1", "event-archive-credentials", True, "EVENT_ARCHIVE_")):
        build = kustomize.build(base / overlay)
        assert build.ok and not build.warnings, build.error or build.warnings
        objects = yamlio.safe_load_all(build.output)
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        ref: dict[str, Any] = {"name": secret}
        if optional:
            ref["optional"] = True
        assert env_from == [{"prefix": prefix, "secretRef": ref}]
        claims = [o for o in objects if o["apiVersion"].startswith("platform.acme.io/")]
        if "dev" not in overlay:
            assert claims and all(c["metadata"]["namespace"] == deployment["metadata"]["namespace"] for c in claims)


def test_platform_application_and_health_patch(rendered_once: Path) -> None:
    tree_root = rendered_once / "rendered"
    project, _root = docs(tree_root / "argocd/platform.yaml")
    kinds = {(w["group"], w["kind"]) for w in project["spec"]["clusterResourceWhitelist"]}
    assert ("apiextensions.crossplane.io", "CompositeResourceDefinition") in kinds
    (appset,) = docs(tree_root / "argocd/platform-crossplane.yaml")
    assert appset["spec"]["template"]["spec"]["project"] == "platform"
    assert appset["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
    assert len(appset["spec"]["generators"][0]["list"]["elements"]) == 4
    (patch,) = docs(tree_root / "platform/argocd/argocd-cm-health.yaml")
    assert sorted(patch["data"]) == [
        "resource.customizations.health.platform.acme.io_MessageQueue",
        "resource.customizations.health.platform.acme.io_ObjectBucket",
        "resource.customizations.health.platform.acme.io_PostgreSQLInstance",
    ]
    assert (tree_root / "platform/crossplane/kustomization.yaml").is_file()


BAD = [
    pytest.param("parameters: {storageGB: 20, version: \"16\", tier: small}",
                 "parameters: {storageGB: 5000, version: \"16\", tier: small}",
                 f"{SVC}:34:29: error: infrastructure[0].parameters.storageGB: 5000 is greater than the maximum of "
                 "1000",
                 id="out-of-range"),
    pytest.param("parameters: {storageGB: 20, version: \"16\", tier: small}",
                 "parameters: {storageGB: \"20\", version: \"16\", tier: small}",
                 f"{SVC}:34:29: error: infrastructure[0].parameters.storageGB: '20' is not of type 'integer'",
                 id="wrong-type"),
    pytest.param("parameters: {storageGB: 20, version: \"16\", tier: small}",
                 "parameters: {storageGB: 20, version: \"13\", tier: small}",
                 f"{SVC}:34:42: error: infrastructure[0].parameters.version: '13' is not one of "
                 "['14', '15', '16', '17']", id="enum"),
    pytest.param("parameters: {storageGB: 20, version: \"16\", tier: small}",
                 "parameters: {storageGB: 20, version: \"16\", tier: small, size: big}",
                 f"{SVC}:34:61: error: infrastructure[0].parameters.size: unknown field 'size'", id="unknown-field"),
    pytest.param("parameters: {storageGB: 20, version: \"16\", tier: small}",
                 "parameters: {version: \"16\", tier: small}",
                 f"{SVC}:34:5: error: infrastructure[0].parameters: 'storageGB' is a required property",
                 id="missing-required"),
    pytest.param("  - kind: PostgreSQLInstance", "  - kind: PostgresInstance",
                 f"{SVC}:32:11: error: infrastructure[0].kind: unknown kind 'PostgresInstance'\n"
                 "  hint: did you mean 'PostgreSQLInstance'?", id="unknown-kind"),
    pytest.param("  - kind: PostgreSQLInstance", "  - kind: Redis",
                 f"{SVC}:32:11: error: infrastructure[0].kind: unknown kind 'Redis'\n"
                 "  hint: valid kinds (offered by the XRDs in platform-config/crossplane/): MessageQueue, "
                 "ObjectBucket, PostgreSQLInstance", id="unknown-kind-list"),
    pytest.param("    parameters: {storageGB: 20, version: \"16\", tier: small}\n",
                 "    parameters: {storageGB: 20, version: \"16\", tier: small}\n"
                 "  - kind: MessageQueue\n    name: payments-db\n",
                 f"{SVC}:36:11: error: infrastructure[1].name: name 'payments-db' is used twice\n"
                 "  hint: first used by infrastructure[0]; names are unique within a service", id="duplicate-name"),
    pytest.param("payments-db: {parameters: {storageGB: 100, tier: medium}}",
                 "payments-db: {parameters: {storageGB: 1001, tier: medium}}",
                 f"{SVC}:30:45: error: environments.prod.infrastructure.payments-db.parameters.storageGB: 1001 is "
                 "greater than the maximum of 1000", id="env-override-out-of-range"),
    pytest.param("payments-db: {parameters: {storageGB: 100, tier: medium}}",
                 "payment-db: {parameters: {storageGB: 100, tier: medium}}",
                 f"{SVC}:30:7: error: environments.prod.infrastructure.payment-db: no infrastructure entry named "
                 "'payment-db'\n  hint: did you mean 'payments-db'?", id="env-override-unknown-entry"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD)
def test_bad_infrastructure_is_reported_and_nothing_written(
    rendered_once: Path, run: Run, old: str, new: str, expected: str
) -> None:
    before = snapshot(rendered_once / "rendered")
    edit(rendered_once, SVC, old, new)
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert expected in err, err
    assert err.endswith("nothing was written.\n")
    assert snapshot(rendered_once / "rendered") == before


def test_entry_limited_to_an_environment_the_service_skips(rendered_once: Path, run: Run) -> None:
    cfg = "platform-config/services/event-ingest/config.yaml"
    edit(rendered_once, cfg, "environments: [staging, prod]", "environments: [staging, qa]")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert "infrastructure[0].environments[1]: unknown environment 'qa'" in err


def test_two_services_of_a_namespace_cannot_claim_one_name(rendered_once: Path, run: Run) -> None:
    cfg = rendered_once / "platform-config/services/ledger-worker/config.yaml"
    cfg.write_text(cfg.read_text().replace("name: ledger-postings", "name: payments-db"))
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    # once at each service, the copy and the original alike, with every environment they share
    assert err == (
        "platform-config/services/ledger-worker/config.yaml:14:11: error: infrastructure[0].name: 'payments-db' is "
        "also claimed by service 'payment-service' in namespace 'team-payments' (prod, staging)\n"
        "  hint: names of databases, buckets and queues are unique within a namespace\n"
        "platform-config/services/payment-service/config.yaml:33:11: error: infrastructure[0].name: 'payments-db' is "
        "also claimed by service 'ledger-worker' in namespace 'team-payments' (prod, staging)\n"
        "  hint: names of databases, buckets and queues are unique within a namespace\n"
        "2 problems found; nothing was written.\n")


@pytest.mark.parametrize(("install_ns", "kustomization_ns"), [("", ""), ("", "argocd"), ("argocd", "")],
                         ids=["upstream-install", "namespace-in-kustomization", "namespaced-install"])
def test_readme_health_check_snippet_builds_with_real_kustomize(rendered_once: Path, kustomize: Kustomize,
                                                               install_ns: str, kustomization_ns: str) -> None:
    """The README's Argo CD installation snippet, with a local argocd-cm instead of the remote install.yaml.

    Upstream's install.yaml has no namespace (``kubectl apply -n argocd`` sets it); some
    installations set one in the manifest or in their kustomization: all three build.
    """
    readme = (REPO / "README.md").read_text()
    snippet = readme[readme.index("# argocd/kustomization.yaml of your Argo CD installation"):]
    snippet = snippet[: snippet.index("```")]
    install = rendered_once / "argocd"
    install.mkdir()
    (install / "install.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n"
        + (f"  namespace: {install_ns}\n" if install_ns else "")
        + "  labels:\n    app.kubernetes.io/part-of: argocd\ndata:\n  url: https://argocd.example\n")
    local = snippet.replace("https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml",
                            "install.yaml")
    assert local != snippet and "../rendered/platform/argocd" in local
    (install / "kustomization.yaml").write_text(local + (f"namespace: {kustomization_ns}\n" if kustomization_ns
                                                         else ""))
    build = kustomize.build(install)
    assert build.ok, build.error
    assert build.warnings == ()
    (cm,) = yamlio.safe_load_all(build.output)
    assert cm["metadata"].get("namespace", "") == (install_ns or kustomization_ns)
    assert cm["data"]["url"] == "https://argocd.example"
    assert sorted(k for k in cm["data"] if k.startswith("resource.customizations.health.")) == [
        "resource.customizations.health.platform.acme.io_MessageQueue",
        "resource.customizations.health.platform.acme.io_ObjectBucket",
        "resource.customizations.health.platform.acme.io_PostgreSQLInstance",
    ]


SECOND_DB = """  - kind: PostgreSQLInstance
    name: audit-db
    parameters: {storageGB: 10}
"""


def test_two_databases_never_overwrite_each_others_variables(rendered_once: Path, run: Run,
                                                             kustomize: Kustomize) -> None:
    # a second entry of the infrastructure list (the file's last key but allowFrom)
    edit(rendered_once, SVC, "\n# the pods of these services", "\n" + SECOND_DB + "# the pods of these services")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    build = kustomize.build(rendered_once / "rendered/services/payment-service/overlays/prod/prod-us")
    assert build.ok, build.error
    deployment = next(o for o in yamlio.safe_load_all(build.output) if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"prefix": "AUDIT_DB_", "secretRef": {"name": "audit-db-credentials"}},
        {"prefix": "PAYMENTS_DB_", "secretRef": {"name": "payments-db-credentials"}},
    ]


def test_an_env_value_may_not_hide_a_connection_variable(rendered_once: Path, run: Run) -> None:
    before = snapshot(rendered_once / "rendered")
    edit(rendered_once, SVC, "  PAYMENT_PROVIDER: stripe\n", "  PAYMENT_PROVIDER: stripe\n  PAYMENTS_DB_HOST: x\n")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err == (
        f"{SVC}:16: error: env.PAYMENTS_DB_HOST: hides a variable of the connection "
        "Secret of 'payments-db' (its variables are PAYMENTS_DB_*)\n"
        "  hint: rename the variable; PAYMENTS_DB_* is reserved for PostgreSQLInstance payments-db\n"
        "1 problem found; nothing was written.\n"), err
    assert snapshot(rendered_once / "rendered") == before
