"""Exposure: expose.http becomes an HTTPRoute on the cluster's gateway; its bad inputs, each with its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_gen import yamlio
from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO, Run, edit, snapshot
from .test_incremental import committed, counts

PAY = "platform-config/services/payment-service/config.yaml"
PROFILE = "platform-config/services/user-profile/config.yaml"
SERVICE_TEMPLATE = "platform-config/templates/web-service/service.yaml.j2"
PROFILE_EXPOSE = "http: {path: /, public: true}"


def _route(root: Path, service: str, env: str, cluster: str) -> dict:
    path = root / f"rendered/services/{service}/overlays/{env}/{cluster}/route.yaml"
    return yamlio.safe_load(path.read_text())


def test_public_and_internal_routes_of_the_example() -> None:
    public = _route(REPO, "user-profile", "dev", "dev-1")
    assert public["spec"] == {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public",
                        "namespace": "gateway-system"}],
        "hostnames": ["user-profile.dev.acme.io"],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                   "backendRefs": [{"name": "user-profile", "port": 80}]}]}
    internal = _route(REPO, "payment-service", "prod", "prod-eu")
    # prod-eu has its own public domain; the internal gateway and its domain are the environment's
    assert internal["spec"]["parentRefs"][0]["name"] == "internal"
    assert internal["spec"]["hostnames"] == ["payment-service.prod.acme.internal"]
    assert internal["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/payments"
    kustomization = (REPO / "rendered/services/payment-service/overlays/prod/prod-eu/kustomization.yaml").read_text()
    assert "- route.yaml\n" in kustomization
    # a service that does not ask for a URL has no route
    assert not (REPO / "rendered/services/auth-service/overlays/dev/dev-1/route.yaml").exists()


def test_the_route_gets_the_team_namespace(kustomize: Kustomize) -> None:
    build = kustomize.build(REPO / "rendered/services/user-profile/overlays/staging/staging-1")
    assert build.ok and not build.warnings, build.error or build.warnings
    routes = [o for o in yamlio.safe_load_all(build.output) if o["kind"] == "HTTPRoute"]
    assert [(r["metadata"]["name"], r["metadata"]["namespace"]) for r in routes] == [("user-profile", "identity")]
    assert routes[0]["metadata"]["labels"]["platform-gen.io/cluster"] == "staging-1"


def test_the_web_service_template_names_its_service_port_http() -> None:
    """Routes (and monitors) refer to the Service's port by its name: the template keeps it."""
    text = (REPO / SERVICE_TEMPLATE).read_text()
    assert "    - name: http\n      port: 80\n" in text


def test_a_host_set_per_environment(example: Path, run: Run) -> None:
    edit(example, PAY, "  staging: {}\n", "  staging:\n    expose: {http: {host: pay.staging.acme.io}}\n")
    assert run("render", "--root", example)[0] == 0
    assert _route(example, "payment-service", "staging", "staging-1")["spec"]["hostnames"] == ["pay.staging.acme.io"]
    assert _route(example, "payment-service", "dev", "dev-1")["spec"]["hostnames"] == [
        "payment-service.dev.acme.internal"]


def _refused(root: Path, run: Run) -> str:
    before = snapshot(root / "rendered")
    code, out, err = run("render", "--root", root)
    assert code == 1
    assert out == ""
    assert "nothing was written" in err
    assert snapshot(root / "rendered") == before
    return err


def test_two_services_on_one_url_are_both_named(rendered_once: Path, run: Run) -> None:
    # the same host and path on dev-1 (a final '/' matches the same requests); on staging-1 the hosts differ
    edit(rendered_once, PROFILE, PROFILE_EXPOSE, "http: {path: /payments/, host: payment-service.dev.acme.internal}")
    err = _refused(rendered_once, run)
    assert err == (
        f"{PAY}:37:3: error: expose: URL payment-service.dev.acme.internal/payments on cluster 'dev-1' is also "
        "taken by service 'user-profile'\n"
        "  hint: each service needs a URL of its own on a cluster: set another expose.http.host or path\n"
        f"{PROFILE}:17:3: error: expose: URL payment-service.dev.acme.internal/payments on cluster 'dev-1' is also "
        "taken by service 'payment-service'\n"
        "  hint: each service needs a URL of its own on a cluster: set another expose.http.host or path\n"
        "2 problems found; nothing was written.\n")


def test_a_url_collision_is_found_when_only_one_service_is_rendered_again(example: Path, run: Run) -> None:
    committed(example)
    counts(example)
    # user-profile alone is rendered again: payment-service is kept from the index, with its URLs
    edit(example, PROFILE, PROFILE_EXPOSE, "http: {path: /payments, host: payment-service.staging.acme.internal}")
    err = _refused(example, run)
    assert f"{PAY}:37:3: error: expose: URL payment-service.staging.acme.internal/payments on cluster " \
        "'staging-1' is also taken by service 'user-profile'" in err
    assert f"{PROFILE}:17:3: error: expose:" in err
    # (the render was incremental: with another host, user-profile alone is rendered)
    edit(example, PROFILE, "payment-service.staging.acme.internal", "profile.staging.acme.internal")
    assert counts(example) == {"rendered": 1, "unchanged": 6}


def test_a_url_set_for_one_environment_is_named_there(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, PAY, "  staging: {}\n",
         "  staging:\n    expose: {http: {host: user-profile.staging.acme.io}}\n")
    edit(rendered_once, PROFILE, PROFILE_EXPOSE, "http: {path: /payments, public: true}")
    err = _refused(rendered_once, run)
    assert err.startswith(
        f"{PAY}:21:13: error: environments.staging.expose: URL user-profile.staging.acme.io/payments on cluster "
        "'staging-1' is also taken by service 'user-profile'\n"), err


def test_a_url_on_a_cluster_without_the_gateway(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, "environments/prod.yaml", "        public: {domain: eu.acme.io}",
         "        public: {domain: eu.acme.io}\n        internal: null")
    err = _refused(rendered_once, run)
    assert err == (
        f"{PAY}:37: error: expose: expose asks for a URL (a Gateway API gateway), which cluster prod-eu (prod) "
        "lacks\n"
        "  hint: the platform team declares capabilities.gateways.internal in environments/prod.yaml; or keep the "
        "service off those clusters (onlyClusters) or set the value only for the environments that have it\n"
        "1 problem found; nothing was written.\n")


def test_a_template_without_an_http_service_port(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, SERVICE_TEMPLATE, "    - name: http\n", "    - name: web\n")
    err = _refused(rendered_once, run)
    hint = ("  hint: a route sends traffic to the Service's port named http: name it so in the template "
            "(platform-config/templates/web-service/), or use a template that serves HTTP\n")
    assert err == (
        f"{PAY}:37: error: expose: expose asks for a URL, but template 'web-service' renders no Service "
        f"'payment-service' with a port named 'http'\n{hint}"
        f"{PROFILE}:17: error: expose: expose asks for a URL, but template 'web-service' renders no Service "
        f"'user-profile' with a port named 'http'\n{hint}"
        "2 problems found; nothing was written.\n")


def test_a_worker_cannot_be_exposed(rendered_once: Path, run: Run) -> None:
    rel = "platform-config/services/ledger-worker/config.yaml"
    (rendered_once / rel).write_text((rendered_once / rel).read_text() + "expose:\n  http: {}\n")
    err = _refused(rendered_once, run)
    line = len((rendered_once / rel).read_text().splitlines())
    assert f"{rel}:{line}: error: expose: expose asks for a URL, but template 'worker' renders no Service " \
        "'ledger-worker' with a port named 'http'\n" in err


_PATH_RULE = ("a path prefix such as / or /api: segments of letters, digits and -._~!$&'()*+,;=:@ after each '/', "
              "none empty, '.' or '..'")


@pytest.mark.parametrize("path", ["//", "/a/../b", "/a%2fb", "api", "/a#b"])
def test_a_path_gateway_api_refuses(rendered_once: Path, run: Run, path: str) -> None:
    edit(rendered_once, PAY, "http: {path: /payments}", f"http: {{path: '{path}'}}")
    err = _refused(rendered_once, run)
    assert err == f"{PAY}:37:16: error: expose.http.path: '{path}' is not valid: {_PATH_RULE}\n" \
        "1 problem found; nothing was written.\n"


def test_a_host_that_is_no_host_name(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, PAY, "http: {path: /payments}", "http: {path: /payments, host: Pay_Service.acme.io}")
    err = _refused(rendered_once, run)
    assert err == f"{PAY}:37:33: error: expose.http.host: 'Pay_Service.acme.io' is not valid: a lower-case host " \
        "name such as shop.acme.io\n1 problem found; nothing was written.\n"
