"""Workloads: the kinds whose pods run a service's ``app`` container, and where each keeps its pod template.

A template renders at least one workload with a container named ``app`` (README "Batch work: CronJob and
Job"): a Deployment or StatefulSet runs without end and has replicas; a CronJob or Job is batch work that
runs to completion, a CronJob on its ``schedule``. The overlays patch the ``app`` container in the pod
template of each such workload, wherever its kind keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["APP_CONTAINER", "BATCH_KINDS", "KINDS", "LONG_RUNNING_KINDS", "app_kinds", "has_app_container",
           "is_batch", "pod_template", "pod_template_path"]

APP_CONTAINER = "app"
#: Workloads that run without end: they have replicas, probes, a port to serve.
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet")
#: Batch work: runs to completion (a CronJob once per schedule, a Job once).
BATCH_KINDS = ("CronJob", "Job")
KINDS = (*LONG_RUNNING_KINDS, *BATCH_KINDS)

_POD_TEMPLATE = {"CronJob": ("spec", "jobTemplate", "spec", "template")}


def pod_template_path(kind: str) -> tuple[str, ...]:
    """Where a workload of ``kind`` keeps its pod template: ``spec.template``, a CronJob's
    ``spec.jobTemplate.spec.template``."""
    return _POD_TEMPLATE.get(kind, ("spec", "template"))


def pod_template(obj: Any) -> dict[str, Any] | None:
    """The pod template of a workload object (None when it has none of the right shape)."""
    node: Any = obj
    for key in pod_template_path(str(obj.get("kind", ""))) if isinstance(obj, dict) else ():
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) and node is not obj else None


def has_app_container(obj: Any) -> bool:
    """Whether ``obj`` is a workload whose pod template has a container named ``app``."""
    if not isinstance(obj, dict) or obj.get("kind") not in KINDS:
        return False
    pod = pod_template(obj)
    spec = pod.get("spec") if pod is not None else None
    containers = spec.get("containers") if isinstance(spec, dict) else None
    return isinstance(containers, list) and any(isinstance(c, dict) and c.get("name") == APP_CONTAINER
                                                for c in containers)


def app_kinds(objects: Iterable[Any]) -> frozenset[str]:
    """The kinds of the workloads among ``objects`` that run the ``app`` container."""
    return frozenset(str(o["kind"]) for o in objects if has_app_container(o))


def is_batch(kinds: Iterable[str]) -> bool:
    """Whether a base whose ``app`` workloads are of ``kinds`` is batch work only (no Deployment or
    StatefulSet runs the app)."""
    found = set(kinds)
    return bool(found) and not found & set(LONG_RUNNING_KINDS)
