"""Which kinds a team's application may hold: namespaced objects of the listed kinds only.

A golden-path template renders into a team's namespace, through the team's
AppProject. Cluster-scoped objects (a ClusterRole, a Namespace, a CRD, ...) would
reach beyond that namespace, so a template rendering one is refused at render
time, naming the template. The AppProject's ``namespaceResourceWhitelist`` lists
the kinds a team's applications may hold: the platform's ``teamResources``, else
the kinds the templates render; the claim kinds the platform offers are always in
it. A template rendering a kind outside the list is refused too, so Argo CD never
refuses a sync.

Whether an unknown kind (a CRD's) is cluster-scoped cannot be known without a
cluster; such kinds pass here, and Argo CD, which asks the cluster, still keeps
them out unless the AppProject's ``clusterResourceWhitelist`` allows them (only
Namespace is).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import Problem
from .load import PLATFORM_FILE, TEMPLATES_DIR
from .yamlio import Located

__all__ = ["CLUSTER_SCOPED", "check_kinds", "cluster_scoped", "group_of", "team_resources"]

#: Kubernetes' built-in cluster-scoped kinds, and those of the add-ons platforms commonly run.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"), ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"), ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("certificates.k8s.io", "CertificateSigningRequest"), ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"), ("policy", "PodSecurityPolicy"),
    ("authentication.k8s.io", "TokenReview"), ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SubjectAccessReview"), ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("cert-manager.io", "ClusterIssuer"),
    ("apiextensions.crossplane.io", "CompositeResourceDefinition"),
    ("apiextensions.crossplane.io", "Composition"), ("apiextensions.crossplane.io", "CompositionRevision"),
    ("apiextensions.crossplane.io", "EnvironmentConfig"),
    ("apiextensions.crossplane.io", "ManagedResourceDefinition"),
    ("apiextensions.crossplane.io", "ManagedResourceActivationPolicy"),
    ("pkg.crossplane.io", "Provider"), ("pkg.crossplane.io", "ProviderRevision"),
    ("pkg.crossplane.io", "Function"), ("pkg.crossplane.io", "FunctionRevision"),
    ("pkg.crossplane.io", "Configuration"), ("pkg.crossplane.io", "ConfigurationRevision"),
    ("pkg.crossplane.io", "DeploymentRuntimeConfig"), ("pkg.crossplane.io", "ImageConfig"),
    ("pkg.crossplane.io", "Lock"), ("protection.crossplane.io", "ClusterUsage"),
})


def group_of(api_version: str) -> str:
    """The API group of an ``apiVersion`` ('' for the core group's ``v1``)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def cluster_scoped(crossplane: Iterable[Located]) -> frozenset[tuple[str, str]]:
    """The built-in cluster-scoped kinds plus the cluster-scoped composites of the platform's XRDs."""
    found = set(CLUSTER_SCOPED)
    for doc in crossplane:
        d: Any = doc.data
        if not (isinstance(d, dict) and d.get("kind") == "CompositeResourceDefinition"
                and isinstance(d.get("spec"), dict)):
            continue
        spec = d["spec"]
        names = spec.get("names")
        kind = names.get("kind") if isinstance(names, dict) else None
        # v1 composites are always cluster-scoped; v2 ones unless Namespaced
        if isinstance(kind, str) and isinstance(spec.get("group"), str) and (
                str(d.get("apiVersion", "")).endswith("/v1") or spec.get("scope", "Namespaced") != "Namespaced"):
            found.add((spec["group"], kind))
    return frozenset(found)


def team_resources(listed: tuple[tuple[str, str], ...], claims: Iterable[tuple[str, str]],
                   rendered: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The (group, kind) pairs of a team AppProject's whitelist, sorted.

    ``listed`` is the platform's ``teamResources`` (empty: the kinds the templates
    render, the ``rendered`` pairs); the offered ``claims`` kinds are always allowed.
    """
    kinds = set(listed) if listed else set(rendered)
    return tuple(sorted(kinds | set(claims)))


def check_kinds(template: str, entry: str, objects: list[Any], scoped: frozenset[tuple[str, str]],
                allowed: frozenset[tuple[str, str]] | None) -> list[Problem]:
    """Problems of one template entry's objects: cluster-scoped ones, and kinds outside ``allowed``."""
    where = f"{TEMPLATES_DIR}/{template}/{entry}"
    problems = []
    for obj in objects:
        if not (isinstance(obj, dict) and isinstance(obj.get("apiVersion"), str)
                and isinstance(obj.get("kind"), str) and isinstance(obj.get("metadata"), dict)):
            continue  # already reported as not a Kubernetes object
        group, kind, name = group_of(obj["apiVersion"]), obj["kind"], obj["metadata"].get("name")
        shown = f"{kind} '{name}'" + (f" ({group})" if group else "")
        if (group, kind) in scoped:
            problems.append(Problem(where, 0, 0, "", f"{shown} is cluster-scoped; a team's application may "
                                    "hold only namespaced objects",
                                    "cluster-wide objects are the platform's: install them outside the golden "
                                    "paths"))
        elif allowed is not None and (group, kind) not in allowed:
            problems.append(Problem(where, 0, 0, "", f"{shown} is not a kind teams may deploy",
                                    f"add {{group: '{group}', kind: {kind}}} to teamResources in {PLATFORM_FILE}, "
                                    "or remove it from the template"))
    return problems
