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

from ..capabilities import EXTERNAL_SECRETS
from ..model import Platform, Target
from .guardrails import allow_from_objects

__all__ = ["FILES", "RUNTIME_KINDS", "container_additions", "overlay_files", "pod_additions", "secret_name",
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


#: The overlay's runtime files, in the order its kustomization.yaml lists them, each with its maker.
FILES: tuple[tuple[str, _Maker], ...] = (
    ("secrets.yaml", secret_objects),
    ("networkpolicy.yaml", allow_from_objects),
)


def overlay_files(platform: Platform, target: Target, base: _Objects) -> dict[str, _Objects]:
    """The runtime files of one target's overlay (file name -> objects); a file with no object is left out."""
    out: dict[str, _Objects] = {}
    for name, make in FILES:
        objects = make(platform, target, base)
        if objects:
            out[name] = objects
    return out
