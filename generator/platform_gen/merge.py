"""Stage 3: layered deep merge with provenance.

The values of (service, environment, cluster) are the deep merge of, lowest first:
platform defaults, environment defaults, the cluster's values, the service's top
level, ``environments.<env>`` and ``environments.<env>.clusters.<cluster>``.
Mappings merge key by key; lists and scalars replace.

Provenance is merged with the very same merger: each layer is mirrored by a tree of
the same shape whose leaves are :class:`~generator.model.Origin` objects, so the
merged origin tree has exactly the shape of the merged values.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from .capabilities import check_targets, guardrail_problems, origin_of, secret_problems
from .deep import MERGER
from .errors import InputError, Problem
from .model import Layer, Origin, Platform, Service, Target, connection_env_prefix
from .workloads import is_batch

__all__ = ["CRON_ONLY", "LONG_RUNNING_ONLY", "base_values", "base_values_only", "flatten", "layers_of", "merge_layers",
           "merge_origins", "merge_values", "resolve", "workload_problems"]

_merger = MERGER


def _origins(layer: Layer, data: Any, path: tuple[str | int, ...]) -> Any:
    if isinstance(data, dict) and data:
        return {k: _origins(layer, v, (*path, k)) for k, v in data.items()}
    if isinstance(data, dict):
        return {}
    pos = layer.doc.pos((*layer.base, *path))
    return Origin(layer.doc.file, pos.line)


def _fresh(data: Any) -> Any:
    """A copy of loaded YAML data (mappings, lists, scalars) that shares no container with it:
    the merge changes its target in place. Several times faster than copy.deepcopy for this shape."""
    kind = type(data)
    if kind is dict:
        return {k: _fresh(v) for k, v in data.items()}
    if kind is list:
        return [_fresh(v) for v in data]
    if kind in (str, int, float, bool) or data is None:
        return data
    return copy.deepcopy(data)


def merge_values(layers: list[Layer]) -> dict[str, Any]:
    """Deep-merge ``layers`` (lowest first)."""
    values: dict[str, Any] = {}
    for layer in layers:
        if layer.data:
            _merger.merge(values, _fresh(layer.data))
    return values


def merge_origins(layers: list[Layer]) -> dict[str, Any]:
    """The origin tree of ``merge_values(layers)``: the same shape, a file and line at every leaf."""
    origins: dict[str, Any] = {}
    for layer in layers:
        if layer.data:
            _merger.merge(origins, _origins(layer, layer.data, ()))
    return origins


def merge_layers(layers: list[Layer]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Deep-merge ``layers`` (lowest first); return the values and their origin tree."""
    return merge_values(layers), merge_origins(layers)


def layers_of(platform: Platform, service: Service, env_name: str, cluster_name: str) -> list[Layer]:
    """The six layers of one target, lowest first (absent ones skipped)."""
    env = platform.env(env_name)
    cluster = next(c for c in env.clusters if c.name == cluster_name)
    layers = [platform.defaults, env.defaults, cluster.values, service.top]
    if env_name in service.env_layers:
        layers.append(service.env_layers[env_name])
    if (env_name, cluster_name) in service.cluster_layers:
        layers.append(service.cluster_layers[(env_name, cluster_name)])
    return layers


def base_values(platform: Platform, service: Service) -> tuple[dict[str, Any], dict[str, Any]]:
    """Values of the service's base: platform defaults under its top level."""
    return merge_layers([platform.defaults, service.top])


def base_values_only(platform: Platform, service: Service) -> dict[str, Any]:
    """The values of the service's base, without their origins."""
    return merge_values([platform.defaults, service.top])


def flatten(values: Any, origins: Any, prefix: str = "") -> Iterator[tuple[str, Any, Origin | None]]:
    """Yield (dotted key, leaf value, origin) in key order, for ``explain``."""
    if isinstance(values, dict) and values:
        for key in sorted(values):
            sub = origins.get(key) if isinstance(origins, dict) else None
            yield from flatten(values[key], sub, f"{prefix}.{key}" if prefix else key)
        return
    yield prefix, values, origins if isinstance(origins, Origin) else None


#: Values only a Deployment or StatefulSet takes, and why batch work (a CronJob, a Job) does not: each with a
#: hint. From the platform's or an environment's defaults they are ignored for batch work; set in a service's
#: own config.yaml, refused (README "Batch work: CronJob and Job").
LONG_RUNNING_ONLY: dict[str, tuple[str, str]] = {
    "replicas": ("which runs to completion instead of keeping replicas up",
                 "remove it: how many pods a run uses is the template's to say"),
    "autoscaling": ("which runs to completion and is not autoscaled", "remove it"),
    "expose": ("which serves no requests, so it has no URL",
               "remove it; a URL needs a long-running workload, such as the web-service template's"),
    "port": ("which serves no port", "remove it"),
    "healthPath": ("which gets no readiness or liveness probes", "remove it"),
    "metrics": ("which may end before Prometheus scrapes its pods",
                "remove it; batch work pushes its metrics (to a Prometheus Pushgateway) instead"),
    "slo": ("which serves no requests for an objective to measure", "remove it"),
}
#: Values a CronJob alone takes: a service whose template renders none may not set them.
CRON_ONLY = ("schedule", "timeZone")
#: What an ignored value of the defaults would still drive if it were kept (the base-only port and
#: healthPath are the template's to read, and the shipped batch templates do not).
_DROPPED_FOR_BATCH = ("replicas", "autoscaling", "expose", "metrics", "slo")


def _own_layers(service: Service) -> list[Layer]:
    return [service.top, *service.env_layers.values(), *service.cluster_layers.values()]


def workload_problems(service: Service, kinds: frozenset[str]) -> list[Problem]:
    """Values the service's own config.yaml sets that its workload cannot take: what only a Deployment or
    StatefulSet takes when the template renders batch work only (a CronJob or a Job, ``kinds`` being the kinds
    of its ``app`` workloads), and ``schedule`` and ``timeZone`` when it renders no CronJob."""
    problems: list[Problem] = []
    batch = is_batch(kinds)
    what = " and a ".join(sorted(kinds))
    for layer in _own_layers(service):
        for key in sorted(layer.data):
            if batch and key in LONG_RUNNING_ONLY:
                why, hint = LONG_RUNNING_ONLY[key]
                problems.append(layer.doc.problem(
                    (*layer.base, key), f"{key} does not apply to batch work: template '{service.template}' "
                    f"renders a {what}, {why}", hint, key=True))
            elif key in CRON_ONLY and "CronJob" not in kinds:
                problems.append(layer.doc.problem(
                    (*layer.base, key), f"{key} applies to a CronJob, and template '{service.template}' renders "
                    "none", "remove it, or use a template that renders a CronJob (such as cron-job)", key=True))
    return problems


def _for_workload(values: dict[str, Any], kinds: frozenset[str]) -> dict[str, Any]:
    """``values`` without those the workload ignores (set by the platform's or an environment's defaults):
    for batch work what only a Deployment or StatefulSet takes; without a CronJob, its schedule."""
    if kinds and "CronJob" not in kinds:
        for key in CRON_ONLY:
            values.pop(key, None)
    if is_batch(kinds):
        for key in _DROPPED_FOR_BATCH:
            values.pop(key, None)
    return values


def _checks(target: Target, base_has_hpa: bool, kinds: frozenset[str] = frozenset()) -> list[Problem]:
    """Rules on merged values, reported at the origin of the offending value."""
    problems: list[Problem] = []
    v = target.values
    where = f"{target.service.name} in {target.env.name}/{target.cluster.name}"
    for key in ("image", "tag", *(() if is_batch(kinds) else ("port", "replicas"))):
        if key not in v:
            problems.append(Problem(target.service.file, 1, 1, key,
                                    f"no value for '{key}' for {where}",
                                    "set it in the service's config.yaml or in platform defaults"))
    if "CronJob" in kinds and "schedule" not in v:
        pos = target.service.top.doc.pos(("template",))
        problems.append(Problem(target.service.file, pos.line, pos.column, "schedule",
                                f"no value for 'schedule' for {where}: template '{target.service.template}' "
                                "renders a CronJob, which runs on a schedule",
                                "set schedule in the service's config.yaml (for every environment, or in each): "
                                "five cron fields such as \"0 3 * * *\", or a macro such as @daily"))
    env: dict[str, Any] = v["env"] if isinstance(v.get("env"), dict) else {}
    for claim in target.service.claims.get(target.env.name, ()):
        prefix = connection_env_prefix(claim.name)
        for key in sorted(k for k in env if str(k).startswith(prefix)):
            origin = target.origins["env"][key]
            problems.append(Problem(origin.file, origin.line, 0, f"env.{key}",
                                    "hides a variable of the connection Secret of "
                                    f"'{claim.name}' (its variables are {prefix}*)",
                                    f"rename the variable; {prefix}* is reserved for {claim.kind} {claim.name}"))
    if v.get("secrets"):
        problems.extend(secret_problems(target))
    if v.get("slo") and not v.get("metrics"):
        origin = origin_of(target, "slo")
        problems.append(Problem(origin.file, origin.line, 0, "slo",
                                "slo alerts on the service's metrics, but it declares no metrics",
                                "add metrics: {port: <port>, path: /metrics}, where the app serves Prometheus "
                                "metrics (README \"Metrics, alerts and dashboards\")"))
    if base_has_hpa and "replicas" in v:
        maximum = (v.get("autoscaling") or {}).get("maxReplicas")
        if maximum is not None and v["replicas"] > maximum:
            origin = target.origins["replicas"]
            problems.append(Problem(origin.file, origin.line, 0, "replicas",
                                    f"replicas ({v['replicas']}) exceeds autoscaling.maxReplicas ({maximum}) "
                                    f"for {where}",
                                    "raise autoscaling.maxReplicas (set at "
                                    f"{target.origins['autoscaling']['maxReplicas']})"))
    return problems


def resolve(platform: Platform, hpa_services: frozenset[str] = frozenset(),
            workload_kinds: Mapping[str, frozenset[str]] | None = None) -> list[Target]:
    """Every (service, env, cluster) target with merged values, in a stable order.

    ``workload_kinds`` gives the kinds of each service's ``app`` workloads (see ``workloads``): a value its
    workload does not take is refused where the service sets it, and dropped where defaults set it."""
    targets: list[Target] = []
    problems: list[Problem] = []
    fits: dict[tuple[str, str], None] = {}  # (team, resources) that fit the team's guardrails
    for service in platform.services:
        kinds = (workload_kinds or {}).get(service.name, frozenset())
        if kinds:
            problems.extend(workload_problems(service, kinds))
        for env in platform.environments:
            for cluster_name in service.placements.get(env.name, ()):
                cluster = next(c for c in env.clusters if c.name == cluster_name)
                layers = layers_of(platform, service, env.name, cluster_name)
                # origins are worked out only when asked for (a problem, explain)
                target = Target(service, env, cluster, _for_workload(merge_values(layers), kinds), tuple(layers))
                problems.extend(_checks(target, service.name in hpa_services, kinds))
                team = platform.teams[service.team]
                if team.quota or team.limit_range:
                    problems.extend(guardrail_problems(target, team.quota, team.limit_range, team.name, fits))
                targets.append(target)
    problems.extend(check_targets(targets))
    if problems:  # a value that fails alike on several clusters is one problem
        raise InputError(list(dict.fromkeys(problems)))
    return targets
