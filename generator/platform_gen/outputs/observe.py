"""Observability, automatic (README "Metrics, alerts and dashboards"): what a target's overlay gets from its
``metrics``, ``slo`` and the cluster's ``prometheus`` and ``grafana`` capabilities.

- ``monitoring.yaml``: a ``ServiceMonitor`` (a ``PodMonitor`` when the base has no Service) for ``metrics``
  and a ``PrometheusRule`` for ``slo``, labelled with the cluster's ``prometheus.selector``; only where
  the cluster declares ``prometheus`` (metrics are an offer: elsewhere nothing is rendered);
- ``dashboard.yaml``: a Grafana dashboard ConfigMap for every deployed service, only where the cluster
  declares ``grafana`` (for batch work, its runs instead of its requests and replicas).

The rules assume the metric conventions the README lists (:data:`REQUESTS`, :data:`DURATION`), scraped
with ``job`` set to the service's name (``jobLabel: app.kubernetes.io/name``). SLO alerts follow the
multi-window, multi-burn-rate alerts of Google's SRE workbook (:data:`BURNS`).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..capabilities import GRAFANA, PROMETHEUS
from ..model import Platform, Target
from ..workloads import app_kinds, is_batch

if TYPE_CHECKING:  # imported where SLO rules are made: a render without SLOs does not load decimal
    from decimal import Decimal

__all__ = ["BURNS", "DURATION", "REQUESTS", "dashboard_json", "dashboard_objects", "dashboard_uid",
           "monitoring_objects", "seconds"]

#: The request counter the rules read, with its status code label (errors: 5xx).
REQUESTS = "http_requests_total"
#: The request duration histogram the rules read (``_bucket{le}`` and ``_count``), in seconds.
DURATION = "http_request_duration_seconds"
#: The multi-window, multi-burn-rate alerts: (severity, long window, short window, burn rate, for).
BURNS = (("page", "1h", "5m", "14.4", "2m"), ("ticket", "6h", "30m", "6", "15m"))
#: The windows the recording rules keep the SLIs over: the alerts' and the dashboard's.
WINDOWS = ("5m", "30m", "1h", "6h")
#: The label by which the monitors set ``job`` to the service's name (the templates' pod and Service label).
NAME_LABEL = "app.kubernetes.io/name"
#: The requests that count as errors: a 5xx status code.
FIVE_XX = ',code=~"5.."'
DEFAULT_PATH = "/metrics"
DEFAULT_INTERVAL = "30s"
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER = "grafana_folder"
#: Grafana's dashboard JSON model version the dashboards are written for.
SCHEMA_VERSION = 39

_Objects = list[dict[str, Any]]


def _metrics(target: Target) -> dict[str, Any] | None:
    found = target.values.get("metrics")
    return found if isinstance(found, dict) else None


def _ports(obj: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The ports of a base Service, or the app container ports of a workload's pod."""
    spec = obj.get("spec") or {}
    if kind == "Service":
        return list(spec.get("ports") or [])
    pod = ((spec.get("template") or {}).get("spec")) or {}
    return [p for c in pod.get("containers") or [] for p in c.get("ports") or []]


def _endpoint(base: _Objects, name: str, port: int, app_port: Any, service: bool) -> dict[str, Any]:
    """The monitor endpoint's port: the one named ``metrics``; else, when metrics are served on the app's
    port, the port that leads there (``http`` of the Service, ``health`` of a worker); else the number."""
    if service:
        ports = [p for o in base if o.get("kind") == "Service" and (o.get("metadata") or {}).get("name") == name
                 for p in _ports(o, "Service")]
    else:
        ports = [p for o in base if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")
                 for p in _ports(o, "Pod")]
    if any(p.get("name") == "metrics" for p in ports):
        return {"port": "metrics"}
    app_names = {"http", "health", app_port}
    for p in ports:
        served = p.get("containerPort") if not service else p.get("targetPort")
        if p.get("name") and (served == port or (port == app_port and served in app_names)):
            return {"port": p["name"]}
    return {"targetPort": port}


def monitoring_objects(platform: Platform, target: Target, base: _Objects) -> _Objects:
    """The ServiceMonitor (or PodMonitor) of ``metrics`` and the PrometheusRule of ``slo``, where the cluster
    declares ``prometheus``; nothing elsewhere."""
    prometheus = target.cluster.capabilities.get(PROMETHEUS)
    metrics = _metrics(target)
    slo = target.values.get("slo")
    if not prometheus or not (metrics or slo):
        return []
    labels = dict(sorted((prometheus.get("selector") or {}).items()))
    name = target.service.name
    out: _Objects = []
    if metrics:
        port = int(metrics.get("port", target.values.get("port", 0)))
        has_service = any(o.get("kind") == "Service" and (o.get("metadata") or {}).get("name") == name for o in base)
        kind = "ServiceMonitor" if has_service else "PodMonitor"
        endpoint = {**_endpoint(base, name, port, target.values.get("port"), has_service),
                    "path": metrics.get("path", DEFAULT_PATH), "interval": metrics.get("interval", DEFAULT_INTERVAL)}
        spec: dict[str, Any] = {"jobLabel": NAME_LABEL, "selector": {"matchLabels": {NAME_LABEL: name}},
                                "endpoints" if has_service else "podMetricsEndpoints": [endpoint]}
        out.append({"apiVersion": "monitoring.coreos.com/v1", "kind": kind,
                    "metadata": {"name": name, **({"labels": labels} if labels else {})}, "spec": spec})
    if slo:
        out.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                    "metadata": {"name": f"{name}-slo", **({"labels": labels} if labels else {})},
                    "spec": {"groups": _slo_groups(platform, target, slo)}})
    return out


# --- SLO rules ------------------------------------------------------------------------------------------

def seconds(duration: str) -> str:
    """A latency objective (300ms, 1.5s) as the ``le`` label of its histogram bucket, in seconds as
    Prometheus writes a float label since 3.0: 0.3, 1.5, 1.0."""
    from decimal import Decimal

    text = duration[:-2] if duration.endswith("ms") else duration[:-1]
    value = Decimal(text) / (1000 if duration.endswith("ms") else 1)
    out = format(value.normalize(), "f")
    return out if "." in out else out + ".0"


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _selector(namespace: str, service: str, extra: str = "") -> str:
    return f'{{namespace="{namespace}",job="{service}"{extra}}}'


def _percentile(name: str) -> Decimal:
    """The share of requests a percentile covers: p99 -> 0.99, p999 -> 0.999."""
    from decimal import Decimal

    digits = name[1:]
    return Decimal(f"0.{digits}")


def _slo_groups(platform: Platform, target: Target, slo: dict[str, Any]) -> list[dict[str, Any]]:
    from decimal import Decimal

    service = target.service.name
    team = platform.teams[target.service.team]
    ns = team.namespace
    sel = _selector(ns, service)
    who = {"service": service, "namespace": ns}
    alert_labels = {"cluster": target.cluster.name, "env": target.env.name, "routing": team.routing or team.name,
                    "service": service, "team": team.name}
    # (name of the SLI, its extra labels, its objective as a share of good events, the SLI per window)
    slis: list[tuple[str, dict[str, str], Decimal, str, str]] = []
    if "availability" in slo:
        good = Decimal(str(slo["availability"])) / 100
        slis.append(("errors", {}, good, f"availability {slo['availability']}%",
                     f"sum(rate({REQUESTS}{_selector(ns, service, FIVE_XX)}[{{w}}])) / "
                     f"sum(rate({REQUESTS}{sel}[{{w}}]))"))
    for pct, limit in sorted((slo.get("latency") or {}).items()):
        bucket = _selector(ns, service, f',le="{seconds(limit)}"')
        slis.append(("latency_errors", {"percentile": pct}, _percentile(pct), f"{pct} latency under {limit}",
                     f"1 - (sum(rate({DURATION}_bucket{bucket}[{{w}}])) / "
                     f"sum(rate({DURATION}_count{sel}[{{w}}])))"))
    records = []
    alerts = []
    for sli, extra, good, what, expr in slis:
        for window in WINDOWS:
            records.append({"record": f"service:sli_{sli}:ratio_rate{window}", "expr": expr.replace("{w}", window),
                            "labels": {**who, **extra}})
        budget = 1 - good
        match = "{" + ",".join(f'{k}="{v}"' for k, v in sorted({**who, **extra}.items())) + "}"
        slo_name = "availability" if sli == "errors" else f"latency-{extra['percentile']}"
        for severity, long, short, burn, hold in BURNS:
            limit_text = _number(Decimal(burn) * budget)
            alerts.append({
                "alert": "ErrorBudgetBurn" if sli == "errors" else "LatencyBudgetBurn",
                "expr": f"service:sli_{sli}:ratio_rate{long}{match} > {limit_text} and "
                        f"service:sli_{sli}:ratio_rate{short}{match} > {limit_text}",
                "for": hold,
                "labels": dict(sorted({**alert_labels, "severity": severity, "slo": slo_name,
                                       "window": f"{long}/{short}"}.items())),
                "annotations": {
                    "summary": f"{service} burns its {slo_name} error budget {burn}x too fast",
                    "description": f"{service} ({target.env.name}/{target.cluster.name}) misses its objective "
                                   f"({what}) at {burn} times the rate its error budget allows, over {long} and "
                                   f"{short}.",
                },
            })
    return [{"name": f"{service}.slo.rules", "rules": records}, {"name": f"{service}.slo.alerts", "rules": alerts}]


# --- dashboards -----------------------------------------------------------------------------------------

def dashboard_uid(service: str, env: str) -> str:
    """A dashboard's uid, stable per service and environment, at most 40 characters."""
    readable = f"{service}-{env}"
    if len(readable) <= 40:
        return readable
    return readable[:27] + "-" + hashlib.sha256(readable.encode()).hexdigest()[:12]


def _panel(pid: int, title: str, unit: str, exprs: list[tuple[str, str]], x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid, "type": "timeseries", "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "expr": e, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (e, legend) in enumerate(exprs)],
    }


def _batch_panels(service: str, namespace: str, cron: bool) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The panels of batch work (a CronJob's or a Job's, from kube-state-metrics): its runs, how long they
    take, and for a CronJob how long ago it last succeeded; then its pods' CPU, memory and restarts. A
    CronJob's Jobs are named ``<service>-<minutes>``, their pods ``<job>-<suffix>``."""
    jobs = f'namespace="{namespace}",job_name=~"{service}(-[0-9]+)?"'
    pods = f'namespace="{namespace}",pod=~"{service}-([0-9]+-)?[a-z0-9]+"'
    panels: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("Runs", "short", [(f"sum(kube_job_status_{state}{{{jobs}}})", state)
                           for state in ("active", "succeeded", "failed")]),
        ("Run duration", "s", [(f"kube_job_status_completion_time{{{jobs}}} - kube_job_status_start_time{{{jobs}}}",
                                "{{job_name}}")]),
    ]
    if cron:
        cronjob = f'namespace="{namespace}",cronjob="{service}"'
        panels.append(("Since the last run", "s",
                       [(f"time() - kube_cronjob_status_last_successful_time{{{cronjob}}}", "last success"),
                        (f"time() - kube_cronjob_status_last_schedule_time{{{cronjob}}}", "last schedule")]))
    panels += [
        ("CPU", "cores", [(f'sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods},container="app"}}[5m]))',
                           "{{pod}}")]),
        ("Memory", "bytes", [(f'sum by (pod) (container_memory_working_set_bytes{{{pods},container="app"}})',
                              "{{pod}}")]),
        ("Restarts", "short", [(f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{pods}}}[1h]))",
                                "{{pod}}")]),
    ]
    return panels


@lru_cache(maxsize=64)
def dashboard_json(service: str, env: str, namespace: str, slo_json: str, batch: str = "") -> str:
    """The platform's dashboard of one service in one environment, as compact JSON with sorted keys: built
    once per (service, environment, SLO) and shared by its clusters. ``batch`` names the kind of a service
    that is batch work (CronJob or Job: its runs instead of requests and replicas; it has no SLO)."""
    slo = json.loads(slo_json)
    sel = _selector(namespace, service)
    pods = f'namespace="{namespace}",pod=~"{service}-[a-z0-9]+-[a-z0-9]+"'
    panels_spec: list[tuple[str, str, list[tuple[str, str]]]] = _batch_panels(service, namespace,
                                                                              batch == "CronJob") if batch else [
        ("Request rate", "reqps", [(f"sum by (code) (rate({REQUESTS}{sel}[5m]))", "{{code}}")]),
        ("Errors (5xx share)", "percentunit",
         [(f"sum(rate({REQUESTS}{_selector(namespace, service, FIVE_XX)}[5m])) / "
           f"sum(rate({REQUESTS}{sel}[5m]))", "5xx")]),
        ("Latency", "s", [(f"histogram_quantile({q}, sum by (le) (rate({DURATION}_bucket{sel}[5m])))", f"p{p}")
                          for q, p in (("0.5", "50"), ("0.9", "90"), ("0.99", "99"))]),
        ("CPU", "cores", [(f'sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods},container="app"}}[5m]))',
                           "{{pod}}")]),
        ("Memory", "bytes", [(f'sum by (pod) (container_memory_working_set_bytes{{{pods},container="app"}})',
                              "{{pod}}")]),
        ("Pods", "short", [(f'kube_deployment_status_replicas_available{{namespace="{namespace}",'
                            f'deployment="{service}"}}', "available"),
                           (f'kube_deployment_spec_replicas{{namespace="{namespace}",deployment="{service}"}}',
                            "desired")]),
        ("Restarts", "short", [(f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{pods}}}[1h]))",
                                "{{pod}}")]),
    ]
    if slo:
        from decimal import Decimal

        who = f'namespace="{namespace}",service="{service}"'
        burns: list[tuple[str, str]] = []
        if "availability" in slo:
            budget = _number(1 - Decimal(str(slo["availability"])) / 100)
            burns.append((f"service:sli_errors:ratio_rate1h{{{who}}} / {budget}", "availability"))
        for pct in sorted(slo.get("latency") or {}):
            budget = _number(1 - _percentile(pct))
            burns.append((f'service:sli_latency_errors:ratio_rate1h{{{who},percentile="{pct}"}} / {budget}',
                          f"latency {pct}"))
        panels_spec.append(("SLO burn rate (1h)", "x", burns))
    panels = [_panel(i + 1, title, unit, exprs, 12 * (i % 2), 8 * (i // 2))
              for i, (title, unit, exprs) in enumerate(panels_spec)]
    dashboard = {
        "title": f"{service} ({env})",
        "uid": dashboard_uid(service, env),
        "tags": ["platform-gen", service, env],
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Data source"}]},
        "panels": panels,
    }
    return json.dumps(dashboard, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dashboard_objects(platform: Platform, target: Target, base: _Objects) -> _Objects:
    """The service's Grafana dashboard, a ConfigMap the cluster's Grafana sidecar loads (labelled with its
    ``grafana.dashboardLabel``), where the cluster declares ``grafana``; nothing elsewhere."""
    grafana = target.cluster.capabilities.get(GRAFANA)
    if grafana is None:
        return []
    service = target.service.name
    slo = target.values.get("slo") or {}
    kinds = app_kinds(base)
    batch = ("CronJob" if "CronJob" in kinds else "Job") if is_batch(kinds) else ""
    text = dashboard_json(service, target.env.name, platform.teams[target.service.team].namespace,
                          json.dumps(slo, sort_keys=True), batch)
    meta: dict[str, Any] = {
        "name": f"{service}-dashboard",
        "labels": {grafana.get("dashboardLabel", DASHBOARD_LABEL): grafana.get("dashboardLabelValue", "1")},
    }
    if grafana.get("folder"):
        meta["annotations"] = {DASHBOARD_FOLDER: grafana["folder"]}
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {f"{service}.json": text}}]
