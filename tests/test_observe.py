"""Observability, automatic: monitors for metrics, SLO alerts, dashboards (README "Metrics, alerts and dashboards")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_gen import yamlio
from platform_gen.outputs import observe

from .conftest import Run, edit, refused_untouched

SVC = "platform-config/services/payment-service/config.yaml"
AVAILABILITY_HINT = ("  hint: availability is the percentage of requests that succeed, at least 50 and below 100 "
                     "(100 leaves no error budget), such as 99.9")

CASES = [
    pytest.param(SVC, "availability: 99.9", "availability: 100",
                 f"{SVC}:42:17: error: slo.availability: 100 is greater than or equal to the maximum of 100\n"
                 + AVAILABILITY_HINT, id="availability-100"),
    pytest.param(SVC, "availability: 99.9", "availability: 0",
                 f"{SVC}:42:17: error: slo.availability: 0 is less than the minimum of 50\n" + AVAILABILITY_HINT,
                 id="availability-0"),
    pytest.param(SVC, "latency: {p99: 300ms}", "latency: {p99: 0ms}",
                 f"{SVC}:43:18: error: slo.latency.p99: '0ms' is not valid: a duration above zero in ms or s, "
                 "such as 300ms or 1.5s", id="latency-0ms"),
    pytest.param("environments/prod.yaml", "        public: {domain: eu.acme.io}\n",
                 "        public: {domain: eu.acme.io}\n      prometheus: null\n",
                 f"{SVC}:42: error: slo: slo asks for SLO alerts (Prometheus), which cluster prod-eu (prod) lacks\n"
                 "  hint: the platform team declares capabilities.prometheus in environments/prod.yaml; or keep the "
                 "service off those clusters (onlyClusters) or set the value only for the environments that have it",
                 id="slo-without-prometheus"),
    pytest.param("platform-config/platform.yaml", "    codeowners: \"@acme/payments\"\n",
                 "    codeowners: \"@acme/payments\"\n    routing: \"pay ments\"\n",
                 "platform-config/platform.yaml:13:14: error: teams.payments.routing: 'pay ments' is not valid: "
                 "letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
                 id="routing"),
]


@pytest.mark.parametrize(("rel", "old", "new", "expected"), CASES)
def test_bad_observability_input_is_reported_and_nothing_written(
    rendered_once: Path, run: Run, rel: str, old: str, new: str, expected: str
) -> None:
    refused_untouched(rendered_once, run, rel, old, new, expected)


def _docs(root: Path, rel: str) -> list[dict]:
    return [d for d in yamlio.safe_load_all((root / "rendered" / rel).read_text()) if d]


def test_a_web_service_gets_a_service_monitor_and_slo_rules(rendered_once: Path) -> None:
    monitor, rule = _docs(rendered_once, "services/payment-service/overlays/prod/prod-eu/monitoring.yaml")
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["metadata"] == {"name": "payment-service", "labels": {"release": "kube-prometheus"}}
    assert monitor["spec"] == {"jobLabel": "app.kubernetes.io/name",
                               "selector": {"matchLabels": {"app.kubernetes.io/name": "payment-service"}},
                               "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}]}
    records, alerts = rule["spec"]["groups"]
    assert [r["record"] for r in records["rules"]][:4] == [
        f"service:sli_errors:ratio_rate{w}" for w in ("5m", "30m", "1h", "6h")]
    page = alerts["rules"][0]
    assert page["expr"] == ('service:sli_errors:ratio_rate1h{namespace="team-payments",service="payment-service"} > '
                            '0.0144 and service:sli_errors:ratio_rate5m{namespace="team-payments",'
                            'service="payment-service"} > 0.0144')
    assert page["labels"] == {"cluster": "prod-eu", "env": "prod", "routing": "payments", "service": "payment-service",
                              "severity": "page", "slo": "availability", "team": "payments", "window": "1h/5m"}
    assert alerts["rules"][1]["labels"]["severity"] == "ticket"
    assert 'le="0.3"' in records["rules"][4]["expr"]


def test_same_port_metrics_are_scraped_on_the_app_port(example: Path, run: Run) -> None:
    edit(example, "platform-config/services/user-profile/config.yaml", "metrics: {port: 9102}", "metrics: {port: 8080}")
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    (monitor,) = _docs(example, "services/user-profile/overlays/dev/dev-1/monitoring.yaml")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    service = (example / "rendered/services/user-profile/base/service.yaml").read_text()
    assert "name: metrics" not in service
    (worker,) = _docs(example, "services/ledger-worker/overlays/prod/prod-us/monitoring.yaml")
    assert worker["kind"] == "PodMonitor"
    assert worker["spec"]["podMetricsEndpoints"] == [{"port": "health", "path": "/metrics", "interval": "30s"}]


def test_every_deployed_service_gets_a_dashboard(rendered_once: Path) -> None:
    (cm,) = _docs(rendered_once, "services/payment-service/overlays/prod/prod-us/dashboard.yaml")
    assert cm["metadata"] == {"name": "payment-service-dashboard", "labels": {"grafana_dashboard": "1"}}
    text = cm["data"]["payment-service.json"]
    dash = json.loads(text)
    assert text == json.dumps(dash, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert dash["title"] == "payment-service (prod)" and dash["uid"] == "payment-service-prod"
    assert isinstance(dash["schemaVersion"], int)
    assert [p["title"] for p in dash["panels"]] == ["Request rate", "Errors (5xx share)", "Latency", "CPU", "Memory",
                                                   "Pods", "Restarts", "SLO burn rate (1h)"]
    assert all(t["expr"] for p in dash["panels"] for t in p["targets"])
    # one dashboard per service and environment: the same on both prod clusters
    (other,) = _docs(rendered_once, "services/payment-service/overlays/prod/prod-eu/dashboard.yaml")
    assert other["data"] == cm["data"]
    # no SLO, no burn panel
    (plain,) = _docs(rendered_once, "services/auth-service/overlays/dev/dev-1/dashboard.yaml")
    assert "SLO burn rate (1h)" not in [p["title"] for p in json.loads(plain["data"]["auth-service.json"])["panels"]]


def test_nothing_is_rendered_where_prometheus_and_grafana_are_not(example: Path, run: Run) -> None:
    # metrics are an offer: a cluster without prometheus gets no monitor and no word about it
    edit(example, SVC, "slo:\n  availability: 99.9\n  latency: {p99: 300ms}\n", "")
    edit(example, "environments/prod.yaml", "        public: {domain: eu.acme.io}\n",
         "        public: {domain: eu.acme.io}\n      prometheus: null\n      grafana: null\n")
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    overlay = example / "rendered/services/payment-service/overlays/prod/prod-eu"
    assert sorted(p.name for p in overlay.iterdir()) == ["infrastructure.yaml", "kustomization.yaml",
                                                         "networkpolicy.yaml", "route.yaml"]
    assert "monitoring.yaml" not in (overlay / "kustomization.yaml").read_text()
    assert (example / "rendered/services/payment-service/overlays/prod/prod-us/monitoring.yaml").is_file()


def test_routing_and_folder(example: Path, run: Run) -> None:
    edit(example, "platform-config/platform.yaml", "    codeowners: \"@acme/payments\"\n",
         "    codeowners: \"@acme/payments\"\n    routing: payments-oncall\n")
    edit(example, "environments/prod.yaml", "        public: {domain: eu.acme.io}\n",
         "        public: {domain: eu.acme.io}\n      grafana: {folder: Payments EU, dashboardLabel: dash}\n")
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    _monitor, rule = _docs(example, "services/payment-service/overlays/prod/prod-eu/monitoring.yaml")
    assert {a["labels"]["routing"] for a in rule["spec"]["groups"][1]["rules"]} == {"payments-oncall"}
    (cm,) = _docs(example, "services/payment-service/overlays/prod/prod-eu/dashboard.yaml")
    assert cm["metadata"]["labels"] == {"dash": "1"}
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Payments EU"}


@pytest.mark.parametrize(("written", "le"), [("300ms", "0.3"), ("1s", "1.0"), ("1.5s", "1.5"), ("2500ms", "2.5"),
                                             ("50ms", "0.05"), ("1000ms", "1.0")])
def test_a_latency_objective_is_its_bucket_boundary(written: str, le: str) -> None:
    assert observe.seconds(written) == le


def test_a_dashboard_uid_is_stable_and_short() -> None:
    assert observe.dashboard_uid("payment-service", "prod") == "payment-service-prod"
    long = observe.dashboard_uid("a" * 40, "production-eu")
    assert len(long) == 40 and long == observe.dashboard_uid("a" * 40, "production-eu")
    assert long != observe.dashboard_uid("a" * 40, "production-us")
