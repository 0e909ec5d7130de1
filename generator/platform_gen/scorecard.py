"""The scorecard: golden-path adoption and each service's maturity (README "Scorecards").

Pure, after render: from the validated platform, its rendered tree (``render.render``: the
files, and every target with its effective values), the services whose folder holds docs and
the golden paths platform-gen ships, :func:`measure` judges each service by the checks that
platform.yaml's ``scorecard`` declares (or the built-in ones), gives it the highest level
whose checks (and those of every level below) it passes, and counts templates and teams.
``report`` formats the result; ``cli`` reads the docs and prints.

A check is a small rule, like a yamllint rule: a name, what it asks (its description lives in
``schemas.SCORECARD_CHECKS``, so the editor schema shows it) and a function from the
service's facts to a verdict. Checks measured per cluster pass when they pass on every
cluster the service runs on (and fail when it runs nowhere: nothing of it is deployed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import yamlio
from .capabilities import looks_like_secret
from .load import DOCS_FILE, SERVICES_DIR
from .model import Platform, ScorecardSpec, Service, Target
from .schemas import SCORECARD_CHECKS, SCORECARD_LEVELS
from .workloads import APP_CONTAINER, KINDS, app_kinds, is_batch, pod_template

__all__ = ["CHECKS", "DEFAULT_LEVELS", "NONE", "Scorecard", "ServiceScore", "TeamScore", "TemplateUse", "Verdict",
           "measure", "pinned", "resolve"]

#: What each level requires besides the levels below it when platform.yaml says nothing (README "Scorecards").
DEFAULT_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bronze", ("owner", "probes", "limits", "secrets")),
    ("silver", ("replicas", "pinned-image", "dashboard")),
    ("gold", ("slo", "alerts", "docs")),
)
#: The level of a service that does not pass the lowest level's checks.
NONE = "none"
#: At least this many replicas on each cluster of the last environment.
MIN_REPLICAS = 2
#: Places named in a verdict's detail before "and N more".
_SHOWN = 4


@dataclass(frozen=True)
class Verdict:
    """One check of one service: whether it passed, and if not, where and why."""

    passed: bool
    detail: str = ""
    applies: bool = True  #: False: the check does not apply to this service (batch work); it counts as passed


@dataclass(frozen=True)
class _Facts:
    """What the checks read of one service: its config, targets (promotion order) and rendered objects."""

    service: Service
    targets: tuple[Target, ...]
    base: tuple[dict[str, Any], ...]
    overlays: Mapping[tuple[str, str], tuple[dict[str, Any], ...]]
    last_env: str | None
    docs: bool

    def overlay(self, t: Target) -> tuple[dict[str, Any], ...]:
        return self.overlays.get((t.env.name, t.cluster.name), ())


_OK = Verdict(True)


def _where(targets: Iterable[Target]) -> str:
    places = [f"{t.env.name}/{t.cluster.name}" for t in targets]
    shown = ", ".join(places[:_SHOWN])
    return shown + (f" and {len(places) - _SHOWN} more" if len(places) > _SHOWN else "")


def _everywhere(f: _Facts, fails: Callable[[Target], bool], what: str) -> Verdict:
    """Passed when ``fails`` holds on no cluster the service runs on (and it runs somewhere)."""
    if not f.targets:
        return Verdict(False, "runs in no environment")
    bad = [t for t in f.targets if fails(t)]
    return Verdict(False, f"{what} on {_where(bad)}") if bad else _OK


def _workloads(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") in KINDS]


def _containers(workload: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    pod = (pod_template(workload) or {}).get("spec") or {}
    return [c for key in keys for c in pod.get(key) or () if isinstance(c, dict)]


def _batch(f: _Facts) -> Verdict | None:
    """A pass for a check that does not apply to batch work (a CronJob or Job runs to completion: no probes,
    replicas or SLO), else None."""
    kinds = app_kinds(f.base)
    return Verdict(True, f"not for batch work ({', '.join(sorted(kinds))})", applies=False) if is_batch(kinds) \
        else None


def _app_containers(f: _Facts) -> list[dict[str, Any]]:
    return [c for w in _workloads(f.base) for c in _containers(w, "containers") if c.get("name") == APP_CONTAINER]


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


# --- the checks (README "Scorecards"; their descriptions: schemas.SCORECARD_CHECKS) ----------------------


def _owner(f: _Facts) -> Verdict:
    if not f.service.team:
        return Verdict(False, "no team")
    return _OK if f.service.description.strip() else Verdict(False, "no description in config.yaml")


def _probes(f: _Facts) -> Verdict:
    if (batch := _batch(f)) is not None:
        return batch
    apps = _app_containers(f)
    if not apps:
        return Verdict(False, f"no workload with a container '{APP_CONTAINER}'")
    missing = [p for p in ("readinessProbe", "livenessProbe") if not all(c.get(p) for c in apps)]
    return Verdict(False, f"no {' or '.join(missing)} on the '{APP_CONTAINER}' container") if missing else _OK


def _limits(f: _Facts) -> Verdict:
    apps = _app_containers(f)
    in_base = bool(apps) and all(_dig(c, "resources", "limits", "memory") for c in apps)  # the template's own
    return _everywhere(f, lambda t: not in_base and not _dig(t.values, "resources", "limits", "memory"),
                       "no memory limit")


def _secrets(f: _Facts) -> Verdict:
    found: list[str] = []
    objects = [*f.base, *(o for objs in f.overlays.values() for o in objs)]
    for o in objects:
        if o.get("kind") == "Secret" and (o.get("data") or o.get("stringData")):
            found.append(f"renders Secret '{_dig(o, 'metadata', 'name')}' with its values")
    for w in _workloads(objects):
        for c in _containers(w, "initContainers", "containers"):
            for e in c.get("env") or ():
                if isinstance(e, dict) and isinstance(e.get("value"), str) and \
                        looks_like_secret(str(e.get("name", "")), e["value"]):
                    found.append(f"container '{c.get('name')}' sets {e.get('name')} to a literal value")
    unique = sorted(set(found))
    return Verdict(False, "; ".join(unique)) if unique else _OK


def _replicas_on(f: _Facts, t: Target) -> int:
    """The replicas of a target: its value (the autoscaler's minimum too), else the base's, else one."""
    value = t.values.get("replicas")
    if isinstance(value, int):
        return value
    for o in f.base:
        if o.get("kind") == "HorizontalPodAutoscaler" and isinstance(_dig(o, "spec", "minReplicas"), int):
            return int(_dig(o, "spec", "minReplicas"))
    counts = [w["spec"]["replicas"] for w in _workloads(f.base) if isinstance(_dig(w, "spec", "replicas"), int)]
    return min(counts) if counts else 1


def _replicas(f: _Facts) -> Verdict:
    if (batch := _batch(f)) is not None:
        return batch
    if f.last_env is None or not f.targets:
        return Verdict(False, "runs in no environment")
    last = [t for t in f.targets if t.env.name == f.last_env]
    if not last:
        return Verdict(False, f"does not run in {f.last_env}, the last environment")
    low = [t for t in last if _replicas_on(f, t) < MIN_REPLICAS]
    return Verdict(False, f"fewer than {MIN_REPLICAS} replicas on {_where(low)}") if low else _OK


#: An immutable tag: a full version (major.minor.patch, an optional v, an optional pre-release such as -rc.1),
#: or a commit id (7 to 40 hex digits, optionally sha-...). A suffix saying latest or snapshot is moved along.
_VERSION = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z][0-9A-Za-z.-]*)?\Z")
_COMMIT = re.compile(r"(sha-)?[0-9a-f]{7,40}\Z")
_MOVING = re.compile(r"latest|snapshot", re.IGNORECASE)


def pinned(tag: str) -> bool:
    """Whether an image tag names one build for good: a full version or a commit id, never ``latest``, a
    branch, a floating ``1.4`` or ``v2``, or a ``-SNAPSHOT``."""
    return bool(_VERSION.match(tag) or _COMMIT.match(tag)) and not _MOVING.search(tag)


def _pinned_image(f: _Facts) -> Verdict:
    if not f.targets:
        return Verdict(False, "runs in no environment")
    by_tag: dict[str, list[Target]] = {}
    for t in f.targets:
        tag = str(t.values.get("tag", ""))
        if not pinned(tag):
            by_tag.setdefault(tag, []).append(t)
    if not by_tag:
        return _OK
    return Verdict(False, "; ".join(f"tag '{tag}' on {_where(ts)} is not a full version or a commit id"
                                    for tag, ts in sorted(by_tag.items())))


def _dashboard(f: _Facts) -> Verdict:
    name = f"{f.service.name}-dashboard"
    return _everywhere(f, lambda t: not any(o.get("kind") == "ConfigMap" and _dig(o, "metadata", "name") == name
                                            for o in f.overlay(t)), "no dashboard")


def _slo(f: _Facts) -> Verdict:
    if (batch := _batch(f)) is not None:
        return batch
    return _everywhere(f, lambda t: not t.values.get("slo"), "no slo")


def _alerts(f: _Facts) -> Verdict:
    if (batch := _batch(f)) is not None:
        return batch
    return _everywhere(f, lambda t: not any(o.get("kind") == "PrometheusRule" for o in f.overlay(t)),
                       "no SLO alerts (PrometheusRule)")


def _docs(f: _Facts) -> Verdict:
    return _OK if f.docs else Verdict(False, f"no {DOCS_FILE} in {SERVICES_DIR}/{f.service.name}/")


#: Every check, by name: what ``scorecard.checks`` and ``scorecard.levels`` may name.
CHECKS: dict[str, Callable[[_Facts], Verdict]] = {
    "owner": _owner,
    "probes": _probes,
    "limits": _limits,
    "secrets": _secrets,
    "replicas": _replicas,
    "pinned-image": _pinned_image,
    "dashboard": _dashboard,
    "slo": _slo,
    "alerts": _alerts,
    "docs": _docs,
}
assert list(CHECKS) == list(SCORECARD_CHECKS), "every check has a description in schemas.py, in the same order"
assert [level for level, _own in DEFAULT_LEVELS] == list(SCORECARD_LEVELS)


# --- the result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceScore:
    """One service's verdicts, in the order of the checks, and the level they earn it (NONE: below the lowest)."""

    name: str
    team: str
    template: str
    level: str
    verdicts: tuple[tuple[str, Verdict], ...]

    @property
    def passed(self) -> int:
        """How many checks it passes."""
        return sum(v.passed for _c, v in self.verdicts)


@dataclass(frozen=True)
class TeamScore:
    """A team's totals: its services, how many reach each level, and the checks passed of all measured."""

    name: str
    services: int
    levels: tuple[tuple[str, int], ...]  # each level, highest first, then NONE
    passed: int
    total: int


@dataclass(frozen=True)
class TemplateUse:
    """A golden path: whether platform-gen ships it, and how many services use it."""

    name: str
    shipped: bool
    services: int


@dataclass(frozen=True)
class Scorecard:
    """The whole scorecard of a platform."""

    organization: str
    checks: tuple[str, ...]
    # (level, the checks it requires besides those of the levels below it), lowest first
    levels: tuple[tuple[str, tuple[str, ...]], ...]
    services: tuple[ServiceScore, ...]
    teams: tuple[TeamScore, ...]
    templates: tuple[TemplateUse, ...]
    last_env: str | None
    retired: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        """The levels, lowest first."""
        return tuple(level for level, _own in self.levels)

    def level_of(self, check: str) -> str | None:
        """The level that requires ``check``, if any."""
        return next((level for level, own in self.levels if check in own), None)

    def requires(self, level: str) -> tuple[str, ...]:
        """Every check ``level`` requires: its own and those of the levels below it."""
        out: list[str] = []
        for name, own in self.levels:
            out.extend(own)
            if name == level:
                break
        return tuple(out)

    def count(self, level: str) -> int:
        """How many services are at ``level`` exactly (NONE: below the lowest)."""
        return sum(s.level == level for s in self.services)

    def at_least(self, level: str) -> int:
        """How many services reach ``level`` or a higher one."""
        return len(self.services) - len(self.below(level))

    def below(self, level: str) -> tuple[str, ...]:
        """The services below ``level``, by name."""
        rank = {name: i for i, name in enumerate((NONE, *self.names))}
        return tuple(s.name for s in self.services if rank[s.level] < rank[level])

    @property
    def shipped(self) -> int:
        """How many services are on a golden path platform-gen ships."""
        return sum(t.services for t in self.templates if t.shipped)


def percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` in percent, rounded down (so 100 means all of them); 0 of nothing is 0."""
    return part * 100 // whole if whole else 0


def resolve(spec: ScorecardSpec) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """The checks to measure and the levels, from what platform.yaml declares and the defaults: by default every
    check, and the built-in levels limited to the checks measured (a level left with none is dropped)."""
    checks = spec.checks if spec.checks is not None else tuple(CHECKS)
    if spec.levels is not None:
        return checks, spec.levels
    levels = tuple((level, kept) for level, own in DEFAULT_LEVELS if (kept := tuple(c for c in own if c in checks)))
    return checks, levels


def _objects(files: Mapping[str, bytes], names: Collection[str]
             ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[tuple[str, str], list[dict[str, Any]]]]]:
    """The rendered objects of each service's base and of each of its overlays (env, cluster)."""
    bases: dict[str, list[dict[str, Any]]] = {}
    overlays: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for rel in files:
        parts = rel.split("/")
        if parts[0] != "services" or len(parts) < 4 or parts[1] not in names or parts[-1] == "kustomization.yaml" \
                or not parts[-1].endswith(".yaml"):
            continue
        objects = [o for o in yamlio.safe_load_all(files[rel].decode("utf-8")) if isinstance(o, dict)]
        if parts[2] == "base" and len(parts) == 4:
            bases.setdefault(parts[1], []).extend(objects)
        elif parts[2] == "overlays" and len(parts) == 6:
            overlays.setdefault(parts[1], {}).setdefault((parts[3], parts[4]), []).extend(objects)
    return bases, overlays


def measure(platform: Platform, files: Mapping[str, bytes], targets: Iterable[Target], docs: Collection[str],
            shipped: Collection[str]) -> Scorecard:
    """The scorecard of ``platform``, rendered into ``files`` from ``targets`` (every service's); ``docs``: the
    services whose folder holds docs; ``shipped``: the golden paths platform-gen ships. Retired services are
    left out (listed only)."""
    checks, levels = resolve(platform.scorecard)
    active = [s for s in platform.services if not s.retire]
    names = {s.name for s in active}
    bases, overlays = _objects(files, names)
    order = {e.name: e.order for e in platform.environments}
    by_service: dict[str, list[Target]] = {}
    for t in targets:
        by_service.setdefault(t.service.name, []).append(t)
    last_env = platform.environments[-1].name if platform.environments else None
    scores: list[ServiceScore] = []
    for svc in sorted(active, key=lambda s: s.name):
        facts = _Facts(
            service=svc,
            targets=tuple(sorted(by_service.get(svc.name, ()), key=lambda t: (order[t.env.name], t.cluster.name))),
            base=tuple(bases.get(svc.name, ())),
            overlays={k: tuple(v) for k, v in overlays.get(svc.name, {}).items()},
            last_env=last_env, docs=svc.name in docs)
        verdicts = tuple((check, CHECKS[check](facts)) for check in checks)
        passed = {c for c, v in verdicts if v.passed}
        level = NONE
        for name, own in levels:
            if not set(own) <= passed:
                break
            level = name
        scores.append(ServiceScore(svc.name, svc.team, svc.template, level, verdicts))
    teams = []
    for team in sorted(platform.teams):
        mine = [s for s in scores if s.team == team]
        counts = tuple((name, sum(s.level == name for s in mine))
                       for name in (*reversed([n for n, _own in levels]), NONE))
        teams.append(TeamScore(team, len(mine), counts, sum(s.passed for s in mine), len(mine) * len(checks)))
    templates = tuple(TemplateUse(name, name in shipped, sum(s.template == name for s in scores))
                      for name in sorted({*platform.templates, *(s.template for s in scores)}))
    return Scorecard(platform.organization, checks, levels, tuple(scores), tuple(teams), templates, last_env,
                     tuple(sorted(s.name for s in platform.services if s.retire)))
