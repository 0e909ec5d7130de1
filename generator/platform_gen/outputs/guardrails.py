"""Team guardrails: each team's namespace on each cluster it runs on, rendered by the platform.

``namespaces/<team>/<cluster>/`` holds the ``Namespace`` (with its Pod Security Admission labels), a
``ResourceQuota`` and a ``LimitRange`` from the team's settings in platform.yaml, and the namespace's
NetworkPolicies: ingress denied by default, allowed from the namespace itself, from the cluster's
gateways' namespaces and from Prometheus's. One platform ApplicationSet
(``argocd/platform-namespaces.yaml``) syncs each folder a wave before the team applications, so no
application creates its own namespace. A service lets other services' pods in with ``allowFrom``
(:func:`allow_from_objects`, in its overlay).
"""

from __future__ import annotations

from typing import Any

from .. import yamlio
from ..capabilities import GATEWAYS, PROMETHEUS
from ..model import Cluster, Platform, Target, Team
from ..validate import NAMESPACES_APPSET
from . import labels as L

__all__ = ["GUARDRAIL_KINDS", "NAMESPACES_APPSET", "allow_from_objects", "namespace_dir", "namespace_files",
]

#: The namespaced kinds of a namespace's folder: the platform AppProject allows them (and Namespace).
GUARDRAIL_KINDS = (("", "LimitRange"), ("", "ResourceQuota"), ("networking.k8s.io", "NetworkPolicy"))
#: The label every namespace carries with its name (Kubernetes sets it): what NetworkPolicies select by.
NAMESPACE_NAME = "kubernetes.io/metadata.name"
PSA = "pod-security.kubernetes.io"
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


def namespace_dir(team: str, cluster: str) -> str:
    """The folder of a team's namespace on a cluster, relative to the tree."""
    return f"namespaces/{team}/{cluster}"


def _from_namespaces(names: list[str]) -> list[dict[str, Any]]:
    return [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: n}}} for n in names]


def namespace_objects(platform: Platform, team: Team, cluster: Cluster) -> list[dict[str, Any]]:
    """The Namespace of ``team`` on ``cluster`` and what guards it."""
    ns = team.namespace
    labels = {L.MANAGED_BY: L.TOOL, L.PART_OF: platform.organization, L.TEAM: team.name, L.CLUSTER: cluster.name}
    for mode in ("enforce", "audit", "warn"):
        labels[f"{PSA}/{mode}"] = team.pod_security
        labels[f"{PSA}/{mode}-version"] = "latest"
    objects: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": ns, "labels": dict(sorted(labels.items()))}}]
    meta_labels = {L.MANAGED_BY: L.TOOL, L.TEAM: team.name}

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": ns, "labels": dict(meta_labels)}

    if team.quota:
        objects.append({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("team-quota"),
                        "spec": {"hard": {k: str(v) for k, v in sorted(team.quota.items())}}})
    if team.limit_range:
        limit: dict[str, Any] = {"type": "Container"}
        for key in ("default", "defaultRequest", "max", "min"):
            if key in team.limit_range:
                limit[key] = {k: str(v) for k, v in sorted(team.limit_range[key].items())}
        objects.append({"apiVersion": "v1", "kind": "LimitRange", "metadata": meta("team-limits"),
                        "spec": {"limits": [limit]}})
    def policy(name: str, sources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A NetworkPolicy of every pod of the namespace: ingress from ``sources`` only (none: denied)."""
        spec: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress"]}
        if sources is not None:
            spec["ingress"] = [{"from": sources}]
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name), "spec": spec}

    objects.append(policy("default-deny"))
    objects.append(policy("allow-same-namespace", [{"podSelector": {}}]))
    caps = cluster.capabilities
    gateways = sorted({g["namespace"] for g in (caps.get(GATEWAYS) or {}).values()
                       if isinstance(g, dict) and isinstance(g.get("namespace"), str)})
    if gateways:
        objects.append(policy("allow-gateways", _from_namespaces(gateways)))
    prometheus = (caps.get(PROMETHEUS) or {}).get("namespace")
    if isinstance(prometheus, str):
        objects.append(policy("allow-prometheus", _from_namespaces([prometheus])))
    return objects


def namespace_files(platform: Platform, team: Team, cluster: Cluster, header: str) -> dict[str, str]:
    """The folder of ``team``'s namespace on ``cluster``: its objects and a kustomization.yaml listing them."""
    folder = namespace_dir(team.name, cluster.name)
    kustomization = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": ["namespace.yaml"]}
    return {f"{folder}/kustomization.yaml": header + yamlio.dump(kustomization),
            f"{folder}/namespace.yaml": header + yamlio.dump_all(namespace_objects(platform, team, cluster))}


def allow_from_objects(platform: Platform, target: Target, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The NetworkPolicy that lets the pods of the services ``allowFrom`` names call this one, in any namespace.

    Callers are selected by the labels the platform sets on every service's pods (its name and the
    organization), with ``namespaceSelector: {}``: the policy needs no other service's data (its namespace),
    so a service renders alone and an incremental render stays exact."""
    callers = sorted(set(target.values.get("allowFrom") or ()))
    if not callers:
        return []
    name = target.service.name
    return [{
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{name}-allow-from"},
        "spec": {
            "podSelector": {"matchLabels": {L.NAME: name}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {},
                                   "podSelector": {"matchLabels": {L.NAME: c, L.PART_OF: platform.organization}}}
                                  for c in callers]}],
        },
    }]
