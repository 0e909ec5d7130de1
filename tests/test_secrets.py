"""Secrets by reference: capabilities per cluster, ExternalSecrets, the workload's references, and
secret values written into files (refused, never repeated)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen import schemas, yamlio

from .conftest import Run, edit, snapshot

AUTH = "platform-config/services/auth-service/config.yaml"
PROD = "environments/prod.yaml"
DEV = "environments/dev.yaml"
# Paths inside the pod's containers, as the manifests and platform-gen's messages write them; no test reads
# or writes them on the machine that runs it. The containers' own scratch folder (an emptyDir that every
# golden path mounts), and the folder platform-gen suggests for secrets.
POD_TMP = "/tmp"
POD_SECRETS = "/etc/secrets"


def _refused(run: Run, root: Path, expected: str) -> str:
    """Render fails with exit 1, writes nothing, and prints ``expected`` (whole lines)."""
    before = snapshot(root)
    code, _out, err = run("render", "--root", root)
    assert code == 1, err
    assert snapshot(root) == before
    assert not (root / "rendered").exists()
    assert expected in err, err
    return err


def _objects(path: Path) -> list[dict]:
    return [d for d in yamlio.safe_load_all(path.read_text()) if d]


def test_external_secrets_per_cluster_store_and_per_env_key(rendered_once: Path) -> None:
    over = rendered_once / "rendered/services/auth-service/overlays"
    dev = {o["metadata"]["name"]: o for o in _objects(over / "dev/dev-1/secrets.yaml")}
    prod = {o["metadata"]["name"]: o for o in _objects(over / "prod/prod-us/secrets.yaml")}
    assert sorted(dev) == ["auth-service-oauth", "auth-service-signing-keys"]
    oauth = dev["auth-service-oauth"]
    assert oauth["apiVersion"] == "external-secrets.io/v1"
    assert oauth["spec"] == {
        "refreshInterval": "15m",  # dev's capability sets it
        "secretStoreRef": {"name": "vault-dev", "kind": "ClusterSecretStore"},
        "target": {"name": "auth-service-oauth", "creationPolicy": "Owner"},
        "data": [{"secretKey": "client_id", "remoteRef": {"key": "identity/oauth-client", "property": "client_id"}},
                 {"secretKey": "client_secret",
                  "remoteRef": {"key": "identity/oauth-client", "property": "client_secret"}}],
    }
    # a mounted secret takes every property; prod overrides the key, the store is prod's
    assert dev["auth-service-signing-keys"]["spec"]["dataFrom"] == [{"extract": {"key": "identity/auth-signing"}}]
    signing = prod["auth-service-signing-keys"]["spec"]
    assert signing["dataFrom"] == [{"extract": {"key": "identity/auth-signing-live"}}]
    assert signing["secretStoreRef"] == {"name": "vault-prod", "kind": "ClusterSecretStore"}
    assert signing["refreshInterval"] == "1h"


def test_the_workload_reads_each_variable_by_reference(rendered_once: Path) -> None:
    overlay = rendered_once / "rendered/services/auth-service/overlays/prod/prod-us"
    built = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True)
    objs = {(o["kind"], o["metadata"]["name"]): o for o in yamlio.safe_load_all(built.stdout) if o}
    pod = objs[("Deployment", "auth-service")]["spec"]["template"]["spec"]
    app = next(c for c in pod["containers"] if c["name"] == "app")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in app["env"] if "valueFrom" in e}
    assert refs == {"OAUTH_CLIENT_ID": {"name": "auth-service-oauth", "key": "client_id"},
                    "OAUTH_CLIENT_SECRET": {"name": "auth-service-oauth", "key": "client_secret"}}
    assert "envFrom" not in app  # never a whole Secret: its keys could collide
    assert {"name": "secret-signing-keys", "mountPath": f"{POD_SECRETS}/signing", "readOnly": True} \
        in app["volumeMounts"]
    assert {"name": "secret-signing-keys", "secret": {"secretName": "auth-service-signing-keys"}} in pod["volumes"]
    # kustomize puts the ExternalSecrets in the team's namespace, with the target's labels
    es = objs[("ExternalSecret", "auth-service-oauth")]
    assert es["metadata"]["namespace"] == "identity"
    assert es["metadata"]["labels"]["platform-gen.io/cluster"] == "prod-us"


def test_the_team_project_allows_external_secrets(rendered_once: Path) -> None:
    project = yamlio.safe_load((rendered_once / "rendered/argocd/projects/identity.yaml").read_text())
    assert {"group": "external-secrets.io", "kind": "ExternalSecret"} in project["spec"]["namespaceResourceWhitelist"]


def test_a_cluster_override_takes_a_capability_away(example: Path, run: Run) -> None:
    edit(example, PROD, "    capabilities:              # merged over the environment's\n",
         "    capabilities:              # merged over the environment's\n      externalSecrets: null\n")
    err = _refused(run, example, "")
    assert err.splitlines()[:2] == [
        f"{AUTH}:22: error: secrets: secrets asks for secrets from the platform's store (External Secrets), "
        "which cluster prod-eu (prod) lacks",
        "  hint: the platform team declares capabilities.externalSecrets in environments/prod.yaml; or keep the "
        "service off those clusters (onlyClusters) or set the value only for the environments that have it",
    ]


def test_clusters_lacking_a_capability_are_all_named(example: Path, run: Run) -> None:
    edit(example, PROD, "  externalSecrets: {store: vault-prod, kind: ClusterSecretStore}\n", "")
    _refused(run, example, f"{AUTH}:22: error: secrets: secrets asks for secrets from the platform's store "
                           "(External Secrets), which clusters prod-eu (prod), prod-us (prod) lack\n")


def test_a_capability_completed_by_its_environment(example: Path, run: Run) -> None:
    # the environment's capabilities are complete; a cluster names only what it changes, and what the
    # merged capability lacks is reported at the cluster
    edit(example, PROD, "  gateways:\n    public: {name: public, namespace: gateway-system, domain: acme.io}\n",
         "  gateways:\n    public: {name: public, domain: acme.io}\n")
    _refused(run, example, f"{PROD}:17:17: error: clusters[1].capabilities.gateways.public: capability "
                           "gateways.public of cluster 'prod-eu' has no 'namespace'\n"
                           "  hint: add namespace: here or in the environment's capabilities\n"
                           f"{PROD}:31:13: error: capabilities.gateways.public: capability gateways.public of "
                           "cluster 'prod-us' has no 'namespace'\n"
                           "  hint: add namespace: to the cluster or in the environment's capabilities\n")
    edit(example, PROD, "    public: {name: public, domain: acme.io}\n",
         "    public: {name: public, namespace: gateway-system, domain: acme.io}\n")
    edit(example, PROD, "  externalSecrets: {store: vault-prod, kind: ClusterSecretStore}\n", "")
    edit(example, PROD, "      gateways:\n        public: {domain: eu.acme.io}\n",
         "      gateways:\n        public: {domain: eu.acme.io}\n      externalSecrets: {kind: SecretStore}\n")
    _refused(run, example, f"{PROD}:18:24: error: clusters[1].capabilities.externalSecrets: capability "
                           "externalSecrets of cluster 'prod-eu' has no 'store'\n"
                           "  hint: add store: here or in the environment's capabilities\n")


@pytest.mark.parametrize(("line", "problem"), [
    ("  DB_PASSWORD: hunter2", "env.DB_PASSWORD: 'DB_PASSWORD' holds a secret value written into the file"),
    ("  API_TOKEN: abc", "env.API_TOKEN: 'API_TOKEN' holds a secret value written into the file"),
    ("  GH: ghp_" + "a1B2" * 9, "env.GH: the value looks like a GitHub token; it is not shown here"),
    ("  KEY: AKIAIOSFODNN7EXAMPLE", "env.KEY: the value looks like an AWS access key; it is not shown here"),
    ("  DSN: postgres://app:s3cret@db:5432/app", "env.DSN: the value looks like a URL with a password; it is not "
                                                 "shown here"),
    ("  PEM: '-----BEGIN RSA PRIVATE KEY-----'", "env.PEM: the value looks like a private key; it is not shown "
                                                 "here"),
])
def test_a_secret_value_in_a_config_is_refused_and_not_repeated(example: Path, run: Run, line: str,
                                                                 problem: str) -> None:
    svc = "platform-config/services/payment-service/config.yaml"
    edit(example, svc, "  LOG_LEVEL: info", line)
    err = _refused(run, example, f"{svc}:14:")
    assert f"error: {problem}\n  hint: secret values never go into config files: put it in the platform's " \
           "secret store and reference it under secrets: (README \"Using a secret\")\n" in err
    value = line.split(":", 1)[1].strip().strip("'")
    assert value not in err


def test_a_secret_value_in_an_environment_file_is_refused(example: Path, run: Run) -> None:
    edit(example, DEV, "    LOG_LEVEL: debug", "    LOG_LEVEL: debug\n    SLACK_TOKEN: xoxb-1234567890-abcdef")
    err = _refused(run, example, f"{DEV}:11:18: error: defaults.env.SLACK_TOKEN: 'SLACK_TOKEN' holds a secret "
                                 "value written into the file\n")
    assert "xoxb" not in err


def test_switches_and_names_are_not_secrets(example: Path, run: Run) -> None:
    svc = "platform-config/services/payment-service/config.yaml"
    edit(example, svc, "  LOG_LEVEL: info", "  LOG_LEVEL: info\n  ENABLE_TOKEN: \"true\"\n  TOKEN_TTL: 3600\n"
                                            "  SECRET_NAME: stripe")
    code, _out, err = run("render", "--root", example)
    assert code == 0, err


@pytest.mark.parametrize(("addition", "problem"), [
    ("secrets:\n    clash: {key: identity/x, env: {OAUTH_CLIENT_ID: id}}\n",
     f"{AUTH}:29: error: secrets.oauth.env.OAUTH_CLIENT_ID: 'OAUTH_CLIENT_ID' is also read from secret 'clash'\n"
     "  hint: a variable comes from one secret; rename one\n1 problem found"),
    ("secrets:\n    nowhere: {key: identity/x}\n",
     f"{AUTH}:19: error: secrets.nowhere: secret 'nowhere' is neither read into env nor mounted\n"
     "  hint: add env: {VARIABLE: property} or mount: /a/path"),
    (f"secrets:\n    tmp: {{key: identity/x, mount: {POD_TMP}}}\n",
     f"{AUTH}:19: error: secrets.tmp.mount: mount path {POD_TMP} overlaps the pod's own folders\n"
     f"  hint: mount each secret in a folder of its own, such as {POD_SECRETS}/<name>\n1 problem found"),
])
def test_secrets_that_clash_are_refused(example: Path, run: Run, addition: str, problem: str) -> None:
    edit(example, AUTH, "  dev: {}\n", "  dev:\n    " + addition.replace("\n    ", "\n      "))
    _refused(run, example, problem)


def test_a_secret_variable_also_in_env_is_refused(example: Path, run: Run) -> None:
    path = example / AUTH
    path.write_text(path.read_text() + "env:\n  OAUTH_CLIENT_ID: web\n")
    _refused(run, example, f"{AUTH}:27: error: secrets.oauth.env.OAUTH_CLIENT_ID: 'OAUTH_CLIENT_ID' is also a "
                           f"plain variable of env (set at {AUTH}:32)\n"
                           "  hint: a variable comes from env or from one secret; remove one\n1 problem found")


def test_secrets_as_a_list_is_refused_with_the_mapping_form(example: Path, run: Run) -> None:
    path = example / AUTH
    text = path.read_text()
    path.write_text(text[:text.index("# From the platform's secret store")]
                    + "secrets:\n  - name: oauth\n    key: identity/oauth-client\n")
    _refused(run, example, f"{AUTH}:24:3: error: secrets: expected a mapping, got a list\n"
                           "  hint: secrets is a mapping by name: secrets: {stripe: {key: payments/stripe, env: "
                           "{STRIPE_API_KEY: api_key}}}")


# --- a secret value is never repeated, wherever it is written ------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _tokens() -> st.SearchStrategy[str]:
    alnum = st.text(_ALNUM, min_size=36, max_size=40)
    return st.one_of(
        alnum.map(lambda t: "ghp_" + t),
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16).map(lambda t: "AKIA" + t),
        alnum.map(lambda t: "sk_live_" + t),
        st.text(_ALNUM + "!#%&*", min_size=4, max_size=30).map(lambda t: f"https://app:{t}@db.example.com/x"),
        alnum.map(lambda t: "-----BEGIN PRIVATE KEY-----" + t),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=_tokens(), where=st.sampled_from(["image", "tag", "description", "tier", "team", "template",
                                               "env.X", "env.DB_PASSWORD", "environments.dev.env.Y",
                                               "infrastructure.0.parameters.p"]))
def test_no_problem_repeats_a_secret_value(token: str, where: str) -> None:
    from platform_gen.validate import _checked

    doc_data: dict = {"name": "s", "team": "t", "template": "w", "image": "i", "tag": "1",
                      "environments": {"dev": {}}, "infrastructure": [{"kind": "K", "name": "db", "parameters": {}}]}
    node: Any = doc_data
    *parents, last = where.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    node[last] = token
    loc, problems = yamlio.load_located(yamlio.dump(doc_data), "config.yaml")
    assert loc is not None and problems == []
    found = _checked(loc, schemas.SERVICE)
    assert any("secret" in p.message or "looks like" in p.message for p in found), found
    for p in found:
        text = f"{p.path} {p.message} {p.hint}"
        assert token not in text and token[:20] not in text, p


@pytest.mark.parametrize(("mount", "problem"), [
    (f"{POD_TMP}/c", f"secrets.x.mount: mount path {POD_TMP}/c overlaps the pod's own folders\n"
                     f"  hint: mount each secret in a folder of its own, such as {POD_SECRETS}/<name>"),
    ("/keys/../certs", "secrets.x.mount: mount path /keys/../certs is not written plainly (it means /certs)\n"
                       "  hint: write mount: /certs"),
    ("/keys/./x//y", "secrets.x.mount: mount path /keys/./x//y is not written plainly (it means /keys/x/y)\n"
                     "  hint: write mount: /keys/x/y"),
])
def test_a_mount_path_is_plain_and_clear_of_the_pods_folders(example: Path, run: Run, mount: str,
                                                            problem: str) -> None:
    path = example / AUTH
    path.write_text(path.read_text() + f"  x: {{key: identity/x, mount: {mount}}}\n")
    _refused(run, example, f"{AUTH}:31: error: {problem}\n1 problem found")


def test_a_gateway_completed_per_cluster(example: Path, run: Run) -> None:
    # each cluster names its own domain: the environment's part need not be complete on its own
    edit(example, PROD, "    public: {name: public, namespace: gateway-system, domain: acme.io}\n",
         "    public: {name: public, namespace: gateway-system}\n")
    _refused(run, example, f"{PROD}:31:13: error: capabilities.gateways.public: capability gateways.public of "
                           "cluster 'prod-us' has no 'domain'\n  hint: add domain: to the cluster or in the "
                           "environment's capabilities\n1 problem found")
    edit(example, PROD, "    values:\n      env:\n        REGION: us-east-1\n",
         "    values:\n      env:\n        REGION: us-east-1\n"
         "    capabilities: {gateways: {public: {domain: us.acme.io}}}\n")
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    route = yamlio.safe_load((example / "rendered/services/user-profile/overlays/dev/dev-1/route.yaml").read_text())
    assert route["spec"]["hostnames"] == ["user-profile.dev.acme.io"]


def test_a_team_may_not_take_a_gateways_namespace(example: Path, run: Run) -> None:
    edit(example, "platform-config/platform.yaml", "    namespace: identity\n", "    namespace: gateway-system\n")
    _refused(run, example, "platform-config/platform.yaml:14:16: error: teams.identity.namespace: namespace "
                           "'gateway-system' is the internal gateway's on cluster 'dev-1' (environments/dev.yaml)\n"
                           "  hint: give the team a namespace of its own\n")


def test_an_slo_needs_metrics(example: Path, run: Run) -> None:
    svc = "platform-config/services/payment-service/config.yaml"
    edit(example, svc, "metrics: {port: 9090, path: /metrics}\n", "")
    _refused(run, example, f"{svc}:41: error: slo: slo alerts on the service's metrics, but it declares no metrics\n"
                           "  hint: add metrics: {port: <port>, path: /metrics}, where the app serves Prometheus "
                           "metrics (README \"Metrics, alerts and dashboards\")\n1 problem found")


def test_a_quota_the_pods_cannot_meet_is_refused(example: Path, run: Run) -> None:
    # limits.cpu counted, but no container sets a cpu limit and the LimitRange gives none
    edit(example, "platform-config/platform.yaml", "limits.memory: 32Gi,", "limits.memory: 32Gi, limits.cpu: \"16\",")
    err = _refused(run, example, "")
    assert ("error: resources: team 'payments''s quota counts limits.cpu, but the app container sets no limits.cpu "
            "and the team's LimitRange gives none by default: Kubernetes would refuse its pods\n"
            "  hint: set resources.limits.cpu, or limitRange.default.cpu for the team in platform.yaml\n") in err


def test_resources_above_the_limit_range_are_refused(example: Path, run: Run) -> None:
    svc = "platform-config/services/payment-service/config.yaml"
    edit(example, svc, "  limits: {memory: 512Mi}", "  limits: {memory: 8Gi}")
    _refused(run, example, f"{svc}:12: error: resources.limits.memory: limits.memory 8Gi is above the max of team "
                           "'payments''s LimitRange (4Gi): Kubernetes would refuse its pods\n"
                           "  hint: keep it within limitRange.max.memory, or ask the platform team to change it\n")


def test_an_empty_secret_key_is_one_problem(example: Path, run: Run) -> None:
    edit(example, AUTH, "    key: identity/oauth-client\n", "    key: \"\"\n")
    err = _refused(run, example, f"{AUTH}:26:10: error: secrets.oauth.key: '' is not valid: a path in the "
                                 "platform's secret store: letters, digits and _ . / @ : -\n")
    assert "1 problem found" in err


def test_a_port_under_expose_gets_the_keys_of_expose(example: Path, run: Run) -> None:
    svc = "platform-config/services/user-profile/config.yaml"
    path = example / svc
    path.write_text(path.read_text().replace("http: {path: /, public: true}",
                                             "http: {path: /, public: true, port: 8080}"))
    err = _refused(run, example, "error: expose.http.port: unknown key 'port'\n")
    assert "hint: valid keys: host, path, public" in err
