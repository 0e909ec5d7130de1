"""Kustomize output: a base per service and an overlay per (environment, cluster).

Overlays use Kustomize v5 fields only (``resources``, ``components``, ``labels``,
``images``, ``replicas``, ``patches``, ``namespace``).
"""

from __future__ import annotations

from typing import Any

from .. import workloads, yamlio
from ..model import Platform, Service, Target
from . import labels as L
from . import runtime

__all__ = [
    "KUSTOMIZE_API",
    "WORKLOAD_KINDS",
    "base_files",
    "component_files",
    "overlay_dir",
    "overlay_kustomization",
    "overlay_reads",
    "service_dir",
]

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
WORKLOAD_KINDS = workloads.KINDS
APP_CONTAINER = workloads.APP_CONTAINER


def service_dir(service: str) -> str:
    """Folder of a service in the rendered tree."""
    return f"services/{service}"


def overlay_dir(service: str, env: str, cluster: str) -> str:
    """Folder of one (env, cluster) overlay in the rendered tree."""
    return f"{service_dir(service)}/overlays/{env}/{cluster}"


BASE_FROM_OVERLAY = "../../../base"


def _component_from_overlay(env: str) -> str:
    return f"../../../../../components/{env}"


def overlay_reads(platform: Platform, env: str) -> list[str]:
    """The folders an (env, cluster) overlay's build reads, relative to the overlay folder.

    The overlay itself (its kustomization.yaml and any infrastructure.yaml), the service's
    base and, where the environment has one, its component: the same references the
    overlay's kustomization.yaml makes, so the two cannot drift apart.
    """
    return [".", BASE_FROM_OVERLAY, *([_component_from_overlay(env)] if env in platform.components else [])]


def _file_names(objects: list[dict[str, Any]]) -> list[str]:
    kinds = [o["kind"].lower() for o in objects]
    # "kustomization.yaml" is the base's own file: a template's Kustomization object never takes it
    return [
        f"{kind}.yaml" if kinds.count(kind) == 1 and kind != "kustomization" else f"{kind}-{o['metadata']['name']}.yaml"
        for kind, o in zip(kinds, objects, strict=True)
    ]


def base_files(service: Service, objects: list[dict[str, Any]], header: str) -> dict[str, str]:
    """The base of a service: one file per object plus its kustomization.yaml."""
    names = _file_names(objects)
    out = {f"{service_dir(service.name)}/base/{n}": header + yamlio.dump(o)
           for n, o in zip(names, objects, strict=True)}
    kustomization = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": sorted(names)}
    out[f"{service_dir(service.name)}/base/kustomization.yaml"] = header + yamlio.dump(kustomization)
    return out


def _env_list(env: dict[str, Any]) -> list[dict[str, str]]:
    return [{"name": k, "value": _str(env[k])} for k in sorted(env)]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _workload_patch(obj: dict[str, Any], values: dict[str, Any], target: Target) -> dict[str, Any]:
    container: dict[str, Any] = {"name": APP_CONTAINER}
    added = runtime.container_additions(target) if values.get("secrets") else {}
    if values.get("env") or added.get("env"):
        # one list in name order: the plain values and the secrets' references (a name in both is a problem)
        container["env"] = sorted([*_env_list(values.get("env") or {}), *added.get("env", [])],
                                  key=lambda e: str(e["name"]))
    if values.get("resources"):
        container["resources"] = {
            part: {k: _str(v) for k, v in sorted(values["resources"][part].items())}
            for part in ("requests", "limits") if values["resources"].get(part)
        }
    if added.get("volumeMounts"):
        container["volumeMounts"] = added["volumeMounts"]
    pod: dict[str, Any] = {"containers": [container],
                           **(runtime.pod_additions(target) if values.get("secrets") else {})}
    # the pod template where the kind keeps it (a CronJob's under spec.jobTemplate.spec)
    node: dict[str, Any] = {"spec": pod}
    for key in reversed(workloads.pod_template_path(obj["kind"])):
        node = {key: node}
    if obj["kind"] == "CronJob":  # its schedule varies per environment and cluster: always the target's
        node["spec"] = {"schedule": values["schedule"],
                        **({"timeZone": values["timeZone"]} if values.get("timeZone") else {}), **node["spec"]}
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": obj["metadata"]["name"]},
        **node,
    }


def _hpa_patch(obj: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    auto = values.get("autoscaling") or {}
    spec: dict[str, Any] = {"minReplicas": max(1, values["replicas"])}
    if "maxReplicas" in auto:
        spec["maxReplicas"] = auto["maxReplicas"]
    if "targetCPUUtilizationPercentage" in auto:
        spec["metrics"] = [{
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                  "averageUtilization": auto["targetCPUUtilizationPercentage"]}},
        }]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {"name": obj["metadata"]["name"]},
            "spec": spec}


def _target(obj: dict[str, Any]) -> dict[str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    out = {"group": group, "version": version, "kind": obj["kind"], "name": obj["metadata"]["name"]}
    return out if group else {k: v for k, v in out.items() if k != "group"}


def overlay_kustomization(
    platform: Platform, target: Target, objects: list[dict[str, Any]], base_image: str, header: str,
    extra_resources: list[str] | None = None,
) -> str:
    """The kustomization.yaml of one target's overlay."""
    svc, env, values = target.service, target.env, target.values
    team = platform.teams[svc.team]
    pairs = {
        L.NAME: svc.name,
        L.PART_OF: platform.organization,
        L.MANAGED_BY: L.TOOL,
        L.TEAM: svc.team,
        L.ENVIRONMENT: env.name,
        L.CLUSTER: target.cluster.name,
        # the Component's backstage.io/kubernetes-id (outputs/catalog.py), on every object and pod template
        L.BACKSTAGE_ID: svc.name,
    }
    if svc.tier:
        pairs[L.TIER] = svc.tier
    doc: dict[str, Any] = {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "namespace": team.namespace,
        "resources": [BASE_FROM_OVERLAY, *(extra_resources or [])],
    }
    if env.name in platform.components:
        doc["components"] = [_component_from_overlay(env.name)]
    doc["labels"] = [{"pairs": pairs, "includeTemplates": True}]
    image: dict[str, str] = {"name": base_image}
    if values["image"] != image["name"]:
        image["newName"] = values["image"]
    image["newTag"] = _str(values["tag"])
    if values.get("digest"):  # pinned: kustomize writes image@digest (issue 13's requireDigest)
        image["digest"] = _str(values["digest"])
    doc["images"] = [image]
    # the workloads that run the app container: a patch of each; replicas of those that have them
    apps = [o for o in objects if workloads.has_app_container(o)]
    app_ids = {id(o) for o in apps}
    scaled = [o for o in apps if o["kind"] in workloads.LONG_RUNNING_KINDS]
    if scaled:
        doc["replicas"] = [{"name": o["metadata"]["name"], "count": values["replicas"]} for o in scaled]
    patches = []
    for obj in objects:
        if id(obj) in app_ids and (obj["kind"] == "CronJob" or values.get("env") or values.get("resources")
                            or values.get("secrets")):
            patch = _workload_patch(obj, values, target)
        elif obj["kind"] == "HorizontalPodAutoscaler" and "replicas" in values:
            patch = _hpa_patch(obj, values)
        else:
            continue
        patches.append({"target": _target(obj), "patch": yamlio.block(yamlio.dump(patch))})
    if patches:
        doc["patches"] = patches
    return header + yamlio.dump(doc)


def component_files(env: str, files: dict[str, bytes], header: str) -> dict[str, bytes]:
    """An environment's Kustomize Component, copied in so the tree is self-contained."""
    out = {}
    for rel, data in sorted(files.items()):
        if rel.endswith((".yaml", ".yml")):
            data = header.encode() + data
        out[f"components/{env}/{rel}"] = data
    return out
