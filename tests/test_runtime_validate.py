"""`validate` over the runtime-capability objects: ExternalSecret, HTTPRoute, ServiceMonitor, PodMonitor,
PrometheusRule against their vendored upstream schemas, PromQL, recording rules and the monitors' targets."""

from __future__ import annotations

import hashlib
import re
import shutil
from importlib import resources
from pathlib import Path

import pytest

from platform_gen import consumers, crdschema, runtimecheck, vcache, yamlio
from platform_gen.consumers import Report, validate_tree
from platform_gen.kustomize_tool import Kustomize
from platform_gen.load import load
from platform_gen.model import Platform
from platform_gen.validate import validate

from .conftest import REPO

VENDOR = Path(crdschema.__file__).parent / "vendor"
RUNTIME_VENDOR = {
    "external-secrets": ["externalsecret_v1.json"],
    "gateway-api": ["httproute_v1.json"],
    "prometheus-operator": ["podmonitor_v1.json", "prometheusrule_v1.json", "servicemonitor_v1.json"],
}


@pytest.mark.parametrize("project", sorted(RUNTIME_VENDOR))
def test_each_vendored_file_matches_its_notice(project: str) -> None:
    folder = VENDOR / project
    notice = (folder / "NOTICE.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir() if p.name != "NOTICE.md") == RUNTIME_VENDOR[project]
    for name in RUNTIME_VENDOR[project]:
        row = re.search(rf"^\| `{re.escape(name)}` \|.*$", notice, re.M)
        assert row is not None, f"{project}/NOTICE.md has no row for {name}"
        cells = [c.strip(" `") for c in row.group(0).strip("|").split("|")]
        repo, tag, commit, _path, sha256, licence = cells[1:]
        assert repo.startswith("https://github.com/") and re.fullmatch(r"v[0-9.]+", tag), row.group(0)
        assert re.fullmatch(r"[0-9a-f]{40}", commit) and licence == "Apache-2.0", row.group(0)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256, name


# --- validate over a small rendered tree ----------------------------------------------------

OVERLAY = "services/web/overlays/prod/prod-1"
WHERE = f"rendered/{OVERLAY}/kustomization.yaml"

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: http-metrics
    port: 9090
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: ghcr.io/acme/web:1.0.0
        ports:
        - name: http
          containerPort: 8080
        - name: metrics
          containerPort: 9090
"""

EXTERNAL_SECRET = """\
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: web-db
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: vault
    kind: ClusterSecretStore
  target:
    name: web-db
    creationPolicy: Owner
  data:
  - secretKey: password
    remoteRef:
      key: web/db
      property: password
"""

HTTP_ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - name: public
    namespace: gateways
  hostnames:
  - web.example.org
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: web
      port: 80
"""

SERVICE_MONITOR = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  endpoints:
  - port: http-metrics
    interval: 30s
"""

POD_MONITOR = """\
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: web
spec:
  selector:
    matchExpressions:
    - key: app
      operator: In
      values: [web, api]
    - key: app
      operator: Exists
  podMetricsEndpoints:
  - port: metrics
"""

RULES = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: web
spec:
  groups:
  - name: web.rules
    rules:
    - record: job:http_requests:rate5m
      expr: sum by (job) (rate(http_requests_total[5m]))
    - alert: WebDown
      expr: job:http_requests:rate5m{job="web"} == 0 or job:http_errors:ratio5m > 0.5
      for: 10m
      labels:
        severity: page
"""

MORE_RULES = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: web-errors
spec:
  groups:
  - name: web.errors
    rules:
    - record: job:http_errors:ratio5m
      expr: sum by (job) (rate(http_errors_total[5m])) / job:http_requests:rate5m
"""

DASHBOARD = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-dashboard
  labels:
    grafana_dashboard: "1"
data:
  web.json: '{"title": "web"}'
"""

GOOD = {"service.yaml": SERVICE, "deployment.yaml": DEPLOYMENT, "externalsecret.yaml": EXTERNAL_SECRET,
        "httproute.yaml": HTTP_ROUTE, "servicemonitor.yaml": SERVICE_MONITOR, "podmonitor.yaml": POD_MONITOR,
        "prometheusrule.yaml": RULES, "prometheusrule-errors.yaml": MORE_RULES, "dashboard.yaml": DASHBOARD}


def test_runtime_schema_registry() -> None:
    schema = crdschema.runtime_schema("monitoring.coreos.com/v1", "PrometheusRule")
    assert crdschema.runtime_schema("monitoring.coreos.com/v1", "PrometheusRule") is schema
    with pytest.raises(KeyError, match=re.escape("no vendored schema for monitoring.coreos.com/v1 Probe; known: ")):
        crdschema.runtime_schema("monitoring.coreos.com/v1", "Probe")
    assert crdschema.runtime_version_problem("monitoring.coreos.com/v1", "Probe") is None
    assert crdschema.runtime_version_problem("v1", "ConfigMap") is None
    assert crdschema.runtime_version_problem("external-secrets.io/v1beta1", "SecretStore") == (
        "external-secrets.io/v1beta1 SecretStore is no longer served (not since External Secrets Operator "
        "v0.17.0): use external-secrets.io/v1")
    assert crdschema.runtime_version_problem("monitoring.coreos.com/v1alpha1", "ServiceMonitor") == (
        "no schema for monitoring.coreos.com/v1alpha1 ServiceMonitor: platform-gen checks ServiceMonitor as "
        "monitoring.coreos.com/v1 only (prometheus-operator v0.93.0); use monitoring.coreos.com/v1")
    # a pattern ends at the end of the text, as in Go: no final newline slips through '$'
    strategy = {"partial_response_strategy": "warn\n", "name": "g", "rules": []}
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "spec": {"groups": [strategy]}}
    assert crdschema.validate(obj, schema) == [
        (("spec", "groups", 0, "partial_response_strategy"), "'warn\\n' does not match '(?i)^(abort|warn)?$'")]


def test_each_runtime_kind_has_a_fast_check_that_agrees() -> None:
    good = [obj for text in GOOD.values() for obj in yamlio.safe_load_all(text)
            if (obj["apiVersion"], obj["kind"]) in crdschema.RUNTIME_KINDS]
    assert len(good) == 6
    bad = [yamlio.safe_load_all(text)[0] for text in (
        HTTP_ROUTE.replace("  hostnames:", "  hostname:"), EXTERNAL_SECRET.replace("Owner", "Always"),
        SERVICE_MONITOR.replace("30s", "30 seconds"), POD_MONITOR.replace("port: metrics", "port: 9090"),
        RULES.replace("for: 10m", "for: [10m]"))]
    for key in crdschema.RUNTIME_KINDS:
        assert consumers._runtime_validator(*key)[1] is not None, key
    for obj in good + bad:
        validator, fast = consumers._runtime_validator(obj["apiVersion"], obj["kind"])
        assert fast is not None
        errors = consumers._errors(validator, obj)
        assert fast(obj) is (obj in good) and (errors == []) is (obj in good), (obj["kind"], errors)


@pytest.fixture(scope="module")
def platform() -> Platform:
    return validate(load(REPO))


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """A rendered tree of one overlay holding ``files``, labelled as platform-gen labels its overlays."""
    folder = root / "rendered" / OVERLAY
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    resources = "".join(f"- {name}\n" for name in files)
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: team-web\n"
        f"resources:\n{resources}"
        "labels:\n- pairs:\n    app.kubernetes.io/name: web\n    platform-gen.io/environment: prod\n"
        "    platform-gen.io/cluster: prod-1\n  includeTemplates: true\n")
    return root / "rendered"


def findings(platform: Platform, kustomize: Kustomize, root: Path, files: dict[str, str],
             cache: Path | None = None) -> tuple[list[str], Report]:
    out = write_tree(root, files)
    config = (resources.files("platform_gen") / "data" / "yamllint.yaml").read_text(encoding="utf-8")
    report = validate_tree(platform, out, "rendered", kustomize, "1.32", config, jobs=1, cache_dir=cache)
    return [str(p) for p in report.problems], report


def test_good_objects_of_every_runtime_kind_pass(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    problems, report = findings(platform, kustomize, tmp_path, GOOD)
    assert problems == []
    assert (report.overlays, report.objects) == (1, len(GOOD))


def test_unknown_field_in_an_http_route(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    route = HTTP_ROUTE.replace("    backendRefs:\n", "    backendRef:\n").replace("  hostnames:", "  hostname:")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "httproute.yaml": route})[0] == [
        f"{WHERE}: HTTPRoute team-web/web: spec.hostname: unknown field 'hostname'",
        f"{WHERE}: HTTPRoute team-web/web: spec.rules[0].backendRef: unknown field 'backendRef'",
    ]


def test_other_versions_of_the_runtime_kinds(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    secret = EXTERNAL_SECRET.replace("external-secrets.io/v1\n", "external-secrets.io/v1beta1\n")
    route = HTTP_ROUTE.replace("gateway.networking.k8s.io/v1\n", "gateway.networking.k8s.io/v1beta1\n")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "externalsecret.yaml": secret,
                                                    "httproute.yaml": route})[0] == [
        f"{WHERE}: ExternalSecret team-web/web-db: external-secrets.io/v1beta1 ExternalSecret is no longer "
        "served (not since External Secrets Operator v0.17.0): use external-secrets.io/v1",
        f"{WHERE}: HTTPRoute team-web/web: no schema for gateway.networking.k8s.io/v1beta1 HTTPRoute: platform-gen "
        "checks HTTPRoute as gateway.networking.k8s.io/v1 only (Gateway API v1.6.1, standard channel); use "
        "gateway.networking.k8s.io/v1",
    ]


def test_schema_errors_in_monitors_and_secrets(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    secret = EXTERNAL_SECRET.replace("creationPolicy: Owner", "creationPolicy: Always")
    monitor = SERVICE_MONITOR.replace("    interval: 30s\n", "    interval: 30 seconds\n    intervall: 30s\n")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "externalsecret.yaml": secret,
                                                    "servicemonitor.yaml": monitor})[0] == [
        f"{WHERE}: ExternalSecret team-web/web-db: spec.target.creationPolicy: 'Always' is not one of "
        "['Owner', 'Orphan', 'Merge', 'None', 'CreateOrMerge']",
        f"{WHERE}: ServiceMonitor team-web/web: spec.endpoints[0].interval: '30 seconds' does not match "
        "'^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'",
        f"{WHERE}: ServiceMonitor team-web/web: spec.endpoints[0].intervall: unknown field 'intervall'",
    ]


def test_promql_that_does_not_parse(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    rules = RULES.replace("(rate(http_requests_total[5m]))", "(rate(http_requests_total[5m])")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "prometheusrule.yaml": rules})[0] == [
        f"{WHERE}: PrometheusRule team-web/web: spec.groups[0].rules[0].expr: record 'job:http_requests:rate5m': "
        "invalid PromQL: unclosed left parenthesis",
    ]


def test_unknown_recording_rule(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    files = {**GOOD}
    del files["prometheusrule-errors.yaml"]  # it records job:http_errors:ratio5m, which WebDown reads
    assert findings(platform, kustomize, tmp_path, files)[0] == [
        f"{WHERE}: PrometheusRule team-web/web: spec.groups[0].rules[1].expr: alert 'WebDown': unknown recording "
        "rule 'job:http_errors:ratio5m': no PrometheusRule of this overlay records it",
    ]


def test_promql_beyond_the_limits_is_not_parsed(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    deep = "(" * 5000 + "1" + ")" * 5000  # the parser would overflow its stack and kill the process
    chain = "x" + " + x" * 600
    rules = RULES.replace("sum by (job) (rate(http_requests_total[5m]))", deep).replace(
        'job:http_requests:rate5m{job="web"} == 0 or job:http_errors:ratio5m > 0.5', chain)
    assert findings(platform, kustomize, tmp_path, {**GOOD, "prometheusrule.yaml": rules})[0] == [
        f"{WHERE}: PrometheusRule team-web/web: spec.groups[0].rules[0].expr: record 'job:http_requests:rate5m': "
        "PromQL not parsed: nested more than 64 levels deep",
        f"{WHERE}: PrometheusRule team-web/web: spec.groups[0].rules[1].expr: alert 'WebDown': "
        "PromQL not parsed: more than 500 operators",
    ]
    assert runtimecheck._parse("(" * 64 + "1" + ")" * 64)[1] == ""
    assert runtimecheck._parse("x" * 16385) == (None, "PromQL not parsed: longer than 16384 characters")


def test_metrics_an_expression_reads() -> None:
    expr, error = runtimecheck._parse('sum(rate(a:b:c[5m])) / on() {__name__="d:e:f", job="q"} '
                                      '+ max_over_time(g:h[1h:5m]) or absent({__name__=~"x:.*"}) # i:j:k')
    assert error == ""
    assert runtimecheck.referenced_metrics(expr) == {"a:b:c", "d:e:f", "g:h"}


def test_service_monitor_port_not_on_the_service(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    monitor = SERVICE_MONITOR.replace("port: http-metrics", "port: metrics")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "servicemonitor.yaml": monitor})[0] == [
        f"{WHERE}: ServiceMonitor team-web/web: spec.endpoints[0].port: 'metrics' is not the name of a port of "
        "the Service(s) it selects (web: http, http-metrics)",
    ]


def test_service_monitor_that_selects_nothing(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    monitor = SERVICE_MONITOR.replace("app: web", "app: webb")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "servicemonitor.yaml": monitor})[0] == [
        f"{WHERE}: ServiceMonitor team-web/web: spec.selector: selects no Service of this overlay in namespace "
        "team-web: the selector app=webb, but web has app=web",
    ]


def test_pod_monitor_that_selects_nothing(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    monitor = POD_MONITOR.replace("values: [web, api]", "values: [api]")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "podmonitor.yaml": monitor})[0] == [
        f"{WHERE}: PodMonitor team-web/web: spec.selector: selects no Deployment, StatefulSet, DaemonSet, "
        "CronJob or Job pod "
        "template of this overlay in namespace team-web: the selector app in (api),app, but web has app=web",
    ]
    monitor = POD_MONITOR + "  namespaceSelector:\n    matchNames: [other]\n"
    assert findings(platform, kustomize, tmp_path / "2", {**GOOD, "podmonitor.yaml": monitor})[0] == [
        f"{WHERE}: PodMonitor team-web/web: spec.selector: selects no Deployment, StatefulSet, DaemonSet, "
        "CronJob or Job pod "
        "template of this overlay in namespace(s) other: the selector app in (web,api),app, but there is no "
        "Deployment, StatefulSet, DaemonSet, CronJob or Job pod template",
    ]


def test_pod_monitor_port_and_selector_operators(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    monitor = POD_MONITOR.replace("port: metrics", "port: http-metrics")
    assert findings(platform, kustomize, tmp_path, {**GOOD, "podmonitor.yaml": monitor})[0] == [
        f"{WHERE}: PodMonitor team-web/web: spec.podMetricsEndpoints[0].port: 'http-metrics' is not the name of a "
        "container port of the workload(s) it selects (web: http, metrics)",
    ]
    monitor = POD_MONITOR.replace("operator: Exists", "operator: Present")
    assert findings(platform, kustomize, tmp_path / "2", {**GOOD, "podmonitor.yaml": monitor})[0] == [
        f"{WHERE}: PodMonitor team-web/web: spec.selector.matchExpressions[1].operator: 'Present' is not a label "
        "selector operator (In, NotIn, Exists, DoesNotExist)",
    ]
    monitor = POD_MONITOR.replace("operator: In", "operator: NotIn").replace("operator: Exists",
                                                                             "operator: DoesNotExist")
    assert findings(platform, kustomize, tmp_path / "3", {**GOOD, "podmonitor.yaml": monitor})[0] == [
        f"{WHERE}: PodMonitor team-web/web: spec.selector: selects no Deployment, StatefulSet, DaemonSet, "
        "CronJob or Job pod "
        "template of this overlay in namespace team-web: the selector app notin (web,api),!app, but web has app=web",
    ]
    any_namespace = POD_MONITOR + "  namespaceSelector:\n    any: true\n"
    assert findings(platform, kustomize, tmp_path / "4", {**GOOD, "podmonitor.yaml": any_namespace})[0] == []


def test_a_cached_verdict_is_the_same(platform: Platform, kustomize: Kustomize, tmp_path: Path) -> None:
    monitor = SERVICE_MONITOR.replace("port: http-metrics", "port: metrics")
    out = write_tree(tmp_path, {**GOOD, "servicemonitor.yaml": monitor})
    config = (resources.files("platform_gen") / "data" / "yamllint.yaml").read_text(encoding="utf-8")
    cold, warm = (validate_tree(platform, out, "rendered", kustomize, "1.32", config, jobs=1,
                                cache_dir=tmp_path / "cache") for _ in range(2))
    assert (cold.built, warm.cached) == (1, 1)
    assert len(cold.problems) == 1 and cold.problems == warm.problems


def test_the_cache_key_covers_the_vendored_schemas(tmp_path: Path) -> None:
    package = Path(consumers.__file__).parent
    sources = consumers._package_sources(package)
    for project, names in RUNTIME_VENDOR.items():
        for name in names:
            rel = f"vendor/{project}/{name}"
            assert vcache.digest(rel, (package / rel).read_bytes()) in sources, rel
    copy = tmp_path / "platform_gen"
    shutil.copytree(package / "vendor", copy / "vendor")
    before = consumers._package_sources(copy)
    schema = copy / "vendor" / "gateway-api" / "httproute_v1.json"
    schema.write_bytes(schema.read_bytes().replace(b'"maxItems": 16', b'"maxItems": 17', 1))
    assert consumers._package_sources(copy) != before
