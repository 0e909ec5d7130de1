"""A service's runtime beyond its workload, per (environment, cluster): the objects its overlay adds.

Each capability the platform declares for a cluster (see :mod:`..capabilities`) and the service asks
for becomes a file of the overlay, listed in its kustomization.yaml's resources:

- ``secrets.yaml``: an External Secrets ``ExternalSecret`` per entry of ``secrets``;
- ``route.yaml``: a Gateway API ``HTTPRoute`` for ``expose.http``;
- ``monitoring.yaml``: a ``ServiceMonitor`` (or ``PodMonitor``) for ``metrics``, a ``PrometheusRule`` for ``slo``;
- ``dashboard.yaml``: the Grafana dashboard ConfigMap;
- ``networkpolicy.yaml``: who may call the service (``allowFrom``).

Kustomize gives them the team's namespace and the target's labels, as it does the base's objects.
The workload reads its secrets through :func:`container_additions` (``secretKeyRef`` per variable, a
read-only volume per mounted secret), never ``envFrom`` of a whole Secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..capabilities import EXTERNAL_SECRETS, gateway_of, origin_of
from ..errors import Problem
from ..model import Platform, Target
from .guardrails import allow_from_objects
from .observe import dashboard_objects, monitoring_objects

__all__ = ["FILES", "HTTP_PORT", "RUNTIME_KINDS", "Route", "container_additions", "http_port", "overlay_files",
           "pod_additions", "route_objects", "route_of", "route_problems", "routes_of", "secret_name",
           "secret_objects"]

#: The kinds the overlays may add, (group, kind): a team's AppProject allows those its services use.
RUNTIME_KINDS = frozenset({
    ("external-secrets.io", "ExternalSecret"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PodMonitor"),
    ("monitoring.coreos.com", "PrometheusRule"),
    ("", "ConfigMap"),
    ("networking.k8s.io", "NetworkPolicy"),
})

#: The default refresh interval of an ExternalSecret, when the cluster's capability sets none.
REFRESH_INTERVAL = "1h"
#: Argo CD applies the ExternalSecrets a wave before the workload that reads them.
SYNC_WAVE = "argocd.argoproj.io/sync-wave"

_Objects = list[dict[str, Any]]
_Maker = Callable[[Platform, Target, _Objects], _Objects]


def secret_name(service: str, secret: str) -> str:
    """The Kubernetes Secret (and ExternalSecret) of one of a service's secrets: ``<service>-<name>``."""
    return f"{service}-{secret}"


def _secrets(target: Target) -> dict[str, dict[str, Any]]:
    found = target.values.get("secrets") or {}
    return {name: spec for name, spec in sorted(found.items()) if isinstance(spec, dict)}


def secret_objects(platform: Platform, target: Target, base: _Objects) -> _Objects:
    """An ExternalSecret per secret: the properties its variables read, or every property when mounted."""
    store = target.cluster.capabilities.get(EXTERNAL_SECRETS)
    secrets = _secrets(target)
    if not secrets or not store:
        return []
    out = []
    for name, spec in secrets.items():
        full = secret_name(target.service.name, name)
        body: dict[str, Any] = {
            "refreshInterval": store.get("refreshInterval", REFRESH_INTERVAL),
            "secretStoreRef": {"name": store["store"], "kind": store.get("kind", "ClusterSecretStore")},
            "target": {"name": full, "creationPolicy": "Owner"},
        }
        if spec.get("mount"):
            body["dataFrom"] = [{"extract": {"key": spec["key"]}}]
        else:
            props = sorted(set((spec.get("env") or {}).values()))
            body["data"] = [{"secretKey": p, "remoteRef": {"key": spec["key"], "property": p}} for p in props]
        out.append({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "metadata": {"name": full, "annotations": {SYNC_WAVE: "-1"}}, "spec": body})
    return out


def container_additions(target: Target) -> dict[str, list[dict[str, Any]]]:
    """What the app container gets from the target's secrets: ``env`` entries (a ``secretKeyRef`` each) and
    ``volumeMounts``; merged into the overlay's patch of the workload."""
    env: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for name, spec in _secrets(target).items():
        full = secret_name(target.service.name, name)
        for var, prop in sorted((spec.get("env") or {}).items()):
            env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": full, "key": prop}}})
        if spec.get("mount"):
            mounts.append({"name": f"secret-{name}", "mountPath": spec["mount"], "readOnly": True})
    out: dict[str, list[dict[str, Any]]] = {}
    if env:
        out["env"] = env
    if mounts:
        out["volumeMounts"] = mounts
    return out


def pod_additions(target: Target) -> dict[str, list[dict[str, Any]]]:
    """What the pod gets from the target's secrets: a read-only Secret volume per mounted secret."""
    volumes = [{"name": f"secret-{name}", "secret": {"secretName": secret_name(target.service.name, name)}}
               for name, spec in _secrets(target).items() if spec.get("mount")]
    return {"volumes": volumes} if volumes else {}


# --- exposure: an HTTPRoute per target (README "Getting a URL") ----------------------------

#: The name of the Service port a route sends traffic to (templates name it so; monitors refer to it too).
HTTP_PORT = "http"
GATEWAY_GROUP = "gateway.networking.k8s.io"

#: A target's URL: (cluster, host, path), as the render index keeps it.
Route = tuple[str, str, str]


def _http(target: Target) -> dict[str, Any] | None:
    expose = target.values.get("expose")
    http = expose.get("http") if isinstance(expose, dict) else None
    return http if isinstance(http, dict) else None


def route_of(target: Target) -> Route | None:
    """The target's URL, (cluster, host, path): ``expose.http.host``, else ``<service>.<domain of its gateway>``,
    and ``expose.http.path`` (``/`` when not set); None when it exposes nothing or its cluster lacks the gateway."""
    http = _http(target)
    if http is None:
        return None
    _which, gateway = gateway_of(target)
    if gateway is None:
        return None
    host = http.get("host") or f"{target.service.name}.{gateway['domain']}"
    return target.cluster.name, str(host), str(http.get("path", "/"))


def routes_of(targets: list[Target]) -> tuple[Route, ...]:
    """The URLs of one service's targets, sorted."""
    return tuple(sorted(r for r in map(route_of, targets) if r is not None))


def http_port(service: str, base: _Objects) -> int | None:
    """The number of the port named ``http`` of the base's Service ``service`` (None when there is none)."""
    for obj in base:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != "Service" or obj.get("apiVersion") != "v1" or meta.get("name") != service:
            continue
        spec = obj.get("spec")
        ports = spec.get("ports") if isinstance(spec, dict) else None
        for port in ports if isinstance(ports, list) else ():
            if isinstance(port, dict) and port.get("name") == HTTP_PORT and type(port.get("port")) is int:
                return int(port["port"])
    return None


def route_problems(targets: list[Target], base: _Objects) -> list[Problem]:
    """A problem when one service's targets expose it but its base has no Service port to send traffic to
    (at the expose value of the first such target)."""
    asking = [t for t in targets if _http(t) is not None]
    if not asking or http_port(asking[0].service.name, base) is not None:
        return []
    first = asking[0]
    name, template = first.service.name, first.service.template
    o = origin_of(first, "expose")
    return [Problem(o.file, o.line, 0, "expose",
                    f"expose asks for a URL, but template '{template}' renders no Service '{name}' with a port "
                    f"named '{HTTP_PORT}'",
                    f"a route sends traffic to the Service's port named {HTTP_PORT}: name it so in the template "
                    f"(platform-config/templates/{template}/), or use a template that serves HTTP")]


def route_objects(platform: Platform, target: Target, base: _Objects) -> _Objects:
    """The HTTPRoute of ``expose.http``: the host and path prefix to the Service's ``http`` port, attached to
    the cluster's public or internal gateway."""
    route = route_of(target)
    port = http_port(target.service.name, base) if route is not None else None
    if route is None or port is None:
        return []
    _cluster, host, path = route
    _which, gateway = gateway_of(target)
    assert gateway is not None
    parent = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": gateway["name"],
              "namespace": gateway["namespace"]}
    if gateway.get("sectionName"):
        parent["sectionName"] = gateway["sectionName"]
    name = target.service.name
    return [{"apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "HTTPRoute", "metadata": {"name": name},
             "spec": {"parentRefs": [parent], "hostnames": [host],
                      "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                                 "backendRefs": [{"name": name, "port": port}]}]}}]


#: The overlay's runtime files, in the order its kustomization.yaml lists them, each with its maker.
FILES: tuple[tuple[str, _Maker], ...] = (
    ("secrets.yaml", secret_objects),
    ("route.yaml", route_objects),
    ("monitoring.yaml", monitoring_objects),
    ("dashboard.yaml", dashboard_objects),
    ("networkpolicy.yaml", allow_from_objects),
)


def overlay_files(platform: Platform, target: Target, base: _Objects) -> dict[str, _Objects]:
    """The runtime files of one target's overlay (file name -> objects); a file with no object is left out."""
    out: dict[str, _Objects] = {}
    if not target.cluster.capabilities and not target.values.get("allowFrom"):
        return out  # every file needs a capability of the cluster, but the callers' NetworkPolicy
    for name, make in FILES:
        objects = make(platform, target, base)
        if objects:
            out[name] = objects
    return out
