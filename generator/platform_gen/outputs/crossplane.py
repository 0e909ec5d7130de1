"""Crossplane output: claims (v1) and namespaced XRs (v2) in the overlays, and the
platform's own XRDs, Compositions and Functions with the Argo CD health check.
"""

from __future__ import annotations

from typing import Any

from .. import yamlio
from ..infrastructure import V1, Claim
from ..model import Target
from ..yamlio import Located
from . import labels as L

__all__ = [
    "CLAIM_SYNC_WAVE",
    "claim_object",
    "health_patch",
    "platform_files",
]

#: Claims sync before the workloads that read their connection Secrets.
CLAIM_SYNC_WAVE = "-10"


def claim_object(target: Target, claim: Claim) -> dict[str, Any]:
    """The claim (or namespaced XR) of one entry for one target."""
    spec: dict[str, Any] = {"parameters": claim.parameters}
    if claim.style == V1:
        spec["writeConnectionSecretToRef"] = {"name": claim.secret_name}
    else:
        # v2: no claim; the XR names its Composition, which composes the Secret itself
        spec["crossplane"] = {"compositionRef": {"name": claim.composition}}
    return {
        "apiVersion": claim.api_version,
        "kind": claim.kind,
        "metadata": {
            "name": claim.name,
            "labels": {L.TEAM: target.service.team, L.SERVICE: target.service.name, L.ENVIRONMENT: target.env.name},
            "annotations": {
                "argocd.argoproj.io/sync-wave": CLAIM_SYNC_WAVE,
                "argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true",
            },
        },
        "spec": spec,
    }


def platform_files(docs: tuple[Located, ...], header: str) -> dict[str, str]:
    """The platform team's Crossplane objects, one file per object, with a kustomization."""
    out: dict[str, str] = {}
    names: list[str] = []
    for doc in docs:
        d = doc.data
        if not (isinstance(d, dict) and isinstance(d.get("kind"), str)):
            continue
        name = f"{d['kind'].lower()}-{(d.get('metadata') or {}).get('name', 'unnamed')}.yaml"
        names.append(name)
        out[f"platform/crossplane/{name}"] = header + yamlio.dump(d)
    out["platform/crossplane/kustomization.yaml"] = header + yamlio.dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(names)})
    return out


def health_patch(kinds: list[tuple[str, str]], script: str) -> dict[str, Any]:
    """A strategic-merge patch of ``argocd-cm`` adding a health check per claim kind.

    ``kinds`` are (API group, kind) pairs; the same script serves all of them.
    """
    data = {f"resource.customizations.health.{group}_{kind}": yamlio.block(script) for group, kind in sorted(kinds)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        # no namespace: upstream's install.yaml has none (kubectl apply -n sets it), and the
        # component's patch selects argocd-cm by name in whatever namespace it is
        "metadata": {"name": "argocd-cm", "labels": {"app.kubernetes.io/part-of": "argocd"}},
        "data": data,
    }
