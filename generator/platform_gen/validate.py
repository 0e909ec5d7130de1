"""Stage 2: validate each input file alone, then across files; build the model.

Each file is checked against its schema (errors name that file), then the
cross-file rules (teams, templates, environments and clusters that must exist,
names that must be unique) are checked. All problems are collected and raised
together as one :class:`~generator.errors.InputError`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .index import Summary

from . import cron, schemas
from .capabilities import capabilities_of, literal_secrets
from .charts import chart_problems
from .errors import InputError, Problem, format_path
from .infrastructure import InfraKind, check_crossplane, claims_for, offered_kinds
from .load import (
    API_FILES,
    CHART_FILE,
    ENVIRONMENTS_DIR,
    OVERLAYS_DIR,
    PLATFORM_FILE,
    SERVICES_DIR,
    TEMPLATES_DIR,
    Sources,
)
from .model import (
    CatalogTypes,
    Cluster,
    CodeOwners,
    Environment,
    Gates,
    Layer,
    Platform,
    ScorecardSpec,
    Service,
    Sync,
    Team,
    TemplateBudget,
    protected_names,
)
from .schemas import did_you_mean, quantity
from .yamlio import Located

__all__ = ["RESERVED_PROJECT", "SYSTEM_NAMESPACES", "Facts", "cross_check", "route_key", "validate"]

#: The AppProject of the platform itself; no team may take its name.
RESERVED_PROJECT = "platform"
#: Names of the platform's own Argo CD objects (kept in step with outputs/argocd.py).
ROOT_APP = "platform-root"
CROSSPLANE_APPSET = "platform-crossplane"
NAMESPACES_APPSET = "platform-namespaces"
RESERVED_APPSETS = frozenset({CROSSPLANE_APPSET, NAMESPACES_APPSET, ROOT_APP})
IDENTITY_KEYS = ("name", "team", "description", "tier", "template", "environments", "infrastructure", "retire",
                 "system", "dependsOn", "consumesApis")
MAX_APP_NAME = 63
#: Kubernetes' own namespaces: no team may deploy into them.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
#: Where the platform's Crossplane objects and Crossplane itself live (kept in step with outputs/argocd.py).
CROSSPLANE_NAMESPACE = "crossplane-system"


def _layer(label: str, doc: Located, base: tuple[str | int, ...], exclude: tuple[str, ...] = ()) -> Layer:
    data: Any = doc.data
    for part in base:
        data = data.get(part) if isinstance(data, dict) else (
            data[part] if isinstance(data, list) and isinstance(part, int) and part < len(data) else None)
    if not isinstance(data, dict):
        data = {}  # a schema problem already names the shape
    return Layer(label, doc, base, {k: v for k, v in data.items() if k not in exclude})


_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")


def _numbers_as_written(doc: Located) -> list[Problem]:
    """Numbers (and booleans) that YAML 1.1 reads as something other than what was written.

    ``12:30`` is 750 (base 60), ``01234`` is 668 (octal), ``0x1F`` is 31 and ``1_000`` is
    1000: nobody means that in a replica count, and in ``env``, whose values become
    strings, even ``1.50`` would silently become ``1.5``.
    """
    problems = []
    for path, written in doc.raw.items():
        value: Any = doc.data
        try:
            for part in path:
                value = value[part]
        except (KeyError, IndexError, TypeError):  # a key the loader dropped (a duplicate, say)
            continue
        if isinstance(value, bool):
            if written.lower() not in ("true", "false"):  # yes, on, y: YAML 1.1 only, and a surprise
                problems.append(doc.problem(path, f"{written} is read as {str(value).lower()}",
                                            f"write {str(value).lower()}, or quote it (\"{written}\") if you mean "
                                            "the text"))
            continue
        if not isinstance(value, (int, float)):
            continue
        in_env = len(path) >= 2 and path[-2] == "env"
        if in_env and written != str(value):
            problems.append(doc.problem(path, f"{written} is read as the number {value}",
                                        f'quote it to keep it as written: "{written}"'))
        elif isinstance(value, int) and not _DECIMAL.fullmatch(written):
            problems.append(doc.problem(path, f"{written} is read as the number {value}",
                                        f'write {value}, or quote it ("{written}") if you mean the text'))
    return problems


def _value_layers(doc: Located, schema: dict[str, Any]) -> list[tuple[str | int, ...]]:
    """Where a file of ``schema`` holds values (the mappings that become layers)."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    if schema is schemas.PLATFORM:
        return [("defaults",)]
    if schema is schemas.ENVIRONMENT:
        clusters = data.get("clusters")
        return [("defaults",), *(("clusters", i, "values") for i in range(len(clusters)
                                                                          if isinstance(clusters, list) else 0))]
    found: list[tuple[str | int, ...]] = [()]
    envs = data.get("environments")
    for env, spec in envs.items() if isinstance(envs, dict) else ():
        found.append(("environments", env))
        clusters = spec.get("clusters") if isinstance(spec, dict) else None
        found.extend(("environments", env, "clusters", c) for c in (clusters if isinstance(clusters, dict) else ()))
    return found


def _cron_values(doc: Located, schema: dict[str, Any], flagged: set[str]) -> list[Problem]:
    """Each ``schedule`` that is no cron schedule Kubernetes takes and each ``timeZone`` that is no time zone
    (those the schema refused, at ``flagged`` paths, aside)."""
    problems: list[Problem] = []
    for base in _value_layers(doc, schema):
        node: Any = doc.data
        for part in base:
            node = node.get(part) if isinstance(node, dict) else (
                node[part] if isinstance(node, list) and isinstance(part, int) else None)
        if not isinstance(node, dict):
            continue
        for key, check in (("schedule", cron.schedule_problem), ("timeZone", cron.time_zone_problem)):
            value, path = node.get(key), (*base, key)
            if not isinstance(value, str) or format_path(path) in flagged:
                continue
            why = check(value)
            if why is None:
                continue
            if key == "schedule":
                problems.append(doc.problem(path, f"{value!r} is not a valid schedule: {why}", cron.HINT))
            else:
                close = did_you_mean(value, cron.time_zones())
                problems.append(doc.problem(path, why, close if close.startswith("did you mean") else
                                            "a name of the IANA time zone database, such as Etc/UTC or "
                                            "Europe/Berlin"))
    return problems


def _checked(doc: Located, schema: dict[str, Any]) -> list[Problem]:
    """The problems of ``doc`` against ``schema``, its numbers as written, its schedules and time zones, and the
    secret values written into it; a value that looks like a secret has that problem only, as the others could
    repeat the value."""
    secrets = literal_secrets(doc)
    flagged = {p.path for p in secrets}
    found = schemas.check(doc, schema) + _numbers_as_written(doc)
    if not schemas.is_trusted():
        found += _cron_values(doc, schema, flagged | {p.path for p in found})
    return [p for p in found if p.path not in flagged] + secrets


def _platform(doc: Located, problems: list[Problem]) -> tuple[dict[str, Any], dict[str, Team]] | None:
    found = _checked(doc, schemas.PLATFORM)
    data = doc.data
    limits = data.get("limits") if isinstance(data, dict) else None
    seconds = limits.get("templateSeconds") if isinstance(limits, dict) else None
    if isinstance(seconds, float) and math.isnan(seconds):  # NaN passes every bound of the schema
        found.append(doc.problem(("limits", "templateSeconds"), "expected a number of seconds, got .nan",
                                 "use a number such as 30"))
    problems.extend(found)
    if found:  # reported at once with the schema's findings, where it does not repeat one
        flagged = {p.path for p in found}
        problems.extend(p for p in _scorecard_problems(doc) if p.path not in flagged)
        return None
    path = data["gitops"].get("path", "rendered")
    if any(part in ("", ".", "..") for part in path.split("/")):
        problems.append(doc.problem(("gitops", "path"), f"'{path}' must stay inside the repo",
                                    "use a relative folder without '.' or '..' segments, such as rendered"))
        return None
    teams: dict[str, Team] = {}
    defaults = data.get("namespaceDefaults") or {}
    for name, spec in data["teams"].items():
        spec = spec or {}
        own = spec.get("guardrails") or {}
        if name == RESERVED_PROJECT:
            problems.append(doc.problem(("teams", name), f"team name '{name}' is reserved",
                                        "the platform's own AppProject uses it; pick another name", key=True))
        teams[name] = Team(
            name=name,
            namespace=spec.get("namespace", f"team-{name}"),
            description=spec.get("description", ""),
            groups=tuple(spec.get("groups", ())),
            codeowners=spec.get("codeowners", ""),
            routing=spec.get("routing", name),
            pod_security=own.get("podSecurity", defaults.get("podSecurity", "restricted")),
            quota={**(defaults.get("quota") or {}), **(own.get("quota") or {})},
            limit_range={k: v for k in ("default", "defaultRequest", "min", "max")
                         if (v := {**((defaults.get("limitRange") or {}).get(k) or {}),
                                   **((own.get("limitRange") or {}).get(k) or {})})},
        )
        problems.extend(_limit_order(doc, name, teams[name]))
    problems.extend(_team_namespaces(doc, teams))
    problems.extend(_codeowners(doc, path))
    problems.extend(_scorecard_problems(doc))
    return data, teams


#: The LimitRange's bounds that must not cross: (lower, higher), as Kubernetes checks them.
_LIMIT_ORDER = (("min", "defaultRequest"), ("defaultRequest", "default"), ("default", "max"), ("min", "max"))


def _limit_order(doc: Located, name: str, team: Team) -> list[Problem]:
    """A team's LimitRange, as merged, keeps min <= defaultRequest <= default <= max for each resource;
    reported where the higher bound is set (the team's guardrails, else namespaceDefaults)."""
    problems = []
    lr = team.limit_range
    own = ((doc.data["teams"][name] or {}).get("guardrails") or {}).get("limitRange") or {}
    for low, high in _LIMIT_ORDER:
        for res in sorted(set(lr.get(low, {})) & set(lr.get(high, {}))):
            if quantity(lr[high][res]) < quantity(lr[low][res]):
                path: tuple[str, ...] = (("teams", name, "guardrails") if res in (own.get(high) or {})
                                         else ("namespaceDefaults",))
                problems.append(doc.problem(
                    (*path, "limitRange", high, res),
                    f"limitRange.{high}.{res} ({lr[high][res]}) is below limitRange.{low}.{res} "
                    f"({lr[low][res]}) for team '{name}'",
                    "Kubernetes rejects the LimitRange: keep min <= defaultRequest <= default <= max"))
    return problems


def _reserved_namespaces(data: dict[str, Any]) -> dict[str, str]:
    """Namespaces no team may take, each with the reason."""
    reserved = {ns: "is a Kubernetes system namespace" for ns in SYSTEM_NAMESPACES}
    reserved[CROSSPLANE_NAMESPACE] = "is Crossplane's namespace"
    reserved[(data.get("argocd") or {}).get("namespace", "argocd")] = "is Argo CD's namespace"
    for ns in data.get("reservedNamespaces") or ():
        reserved.setdefault(ns, "is reserved by reservedNamespaces")
    return reserved


def _team_namespaces(doc: Located, teams: dict[str, Team]) -> list[Problem]:
    """Every team deploys into a namespace of its own, never into a system or platform namespace."""
    problems = []
    reserved = _reserved_namespaces(doc.data)
    taken: dict[str, str] = {}
    for name, team in teams.items():
        explicit = isinstance(doc.data["teams"][name], dict) and "namespace" in doc.data["teams"][name]
        where: tuple[str, ...] = ("teams", name, "namespace") if explicit else ("teams", name)
        what = f"namespace '{team.namespace}'" + ("" if explicit else " (the default, team-<name>)")
        if team.namespace in reserved:
            problems.append(doc.problem(where, f"{what} {reserved[team.namespace]}",
                                        "give the team a namespace of its own", key=not explicit))
        elif team.namespace in taken:
            problems.append(doc.problem(where, f"{what} is already used by team '{taken[team.namespace]}'",
                                        "team namespaces are unique: each team's AppProject owns its namespace",
                                        key=not explicit))
        taken.setdefault(team.namespace, name)
    return problems


def _capability_namespaces(doc: Located, teams: dict[str, Team], envs: dict[str, Environment]) -> list[Problem]:
    """No team takes the namespace of a gateway or of Prometheus on any cluster: the platform renders a team's
    namespace (its quota, limits and default-deny policy) and would take it over."""
    used: dict[str, str] = {}
    for env in sorted(envs.values(), key=lambda e: e.name):
        for cluster in env.clusters:
            caps = cluster.capabilities
            for which, gateway in sorted((caps.get("gateways") or {}).items()):
                if isinstance(gateway, dict) and gateway.get("namespace"):
                    used.setdefault(gateway["namespace"], f"the {which} gateway's on cluster '{cluster.name}' "
                                                          f"({env.file})")
            prometheus = caps.get("prometheus") or {}
            if prometheus.get("namespace"):
                used.setdefault(prometheus["namespace"], f"Prometheus's on cluster '{cluster.name}' ({env.file})")
    problems = []
    reserved = _reserved_namespaces(doc.data)  # reported as such already
    for name, team in sorted(teams.items()):
        if team.namespace in used and team.namespace not in reserved:
            explicit = isinstance(doc.data["teams"][name], dict) and "namespace" in doc.data["teams"][name]
            where: tuple[str, ...] = ("teams", name, "namespace") if explicit else ("teams", name)
            problems.append(doc.problem(where, f"namespace '{team.namespace}' is {used[team.namespace]}",
                                        "give the team a namespace of its own", key=not explicit))
    return problems


def _codeowners(doc: Located, gitops_path: str) -> list[Problem]:
    """Team handles need the platform's CODEOWNERS file, which may not sit in the output tree."""
    declared = doc.data.get("codeowners")
    if declared is None:
        return [doc.problem(("teams", name, "codeowners"), "a team's code owner needs the platform's codeowners",
                            "add codeowners: {path: .github/CODEOWNERS, platform: '@org/platform-team'} "
                            "to platform.yaml", key=True)
                for name, spec in doc.data["teams"].items() if isinstance(spec, dict) and "codeowners" in spec]
    if declared["path"].startswith(gitops_path.rstrip("/") + "/"):
        return [doc.problem(("codeowners", "path"), f"'{declared['path']}' is inside the output tree "
                            f"'{gitops_path}'", "choose another codeowners.path or gitops.path")]
    return []
def _scorecard_problems(doc: Located) -> list[Problem]:
    """The rules of platform.yaml's ``scorecard`` that its schema cannot say: a level requires only checks that
    ``checks`` measures (when it lists them), and each check once (levels are cumulative)."""
    spec = doc.data.get("scorecard") if isinstance(doc.data, dict) else None
    levels = spec.get("levels") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(levels, dict):
        return []
    measured = spec.get("checks") if isinstance(spec.get("checks"), list) else None
    problems: list[Problem] = []
    required_by: dict[str, str] = {}
    for level in schemas.SCORECARD_LEVELS:
        listed = levels.get(level)
        for i, check in enumerate(listed if isinstance(listed, list) else ()):
            if not isinstance(check, str):
                continue
            at = ("scorecard", "levels", level, i)
            if measured is not None and check not in measured:
                problems.append(doc.problem(at, f"level '{level}' requires check '{check}', which "
                                            "scorecard.checks does not measure",
                                            f"add {check} to scorecard.checks, or take it out of the level"))
            elif check in required_by:
                problems.append(doc.problem(at, f"check '{check}' is already required by level "
                                            f"'{required_by[check]}'",
                                            "a level requires the checks of the levels below it too: list each "
                                            "check once"))
            required_by.setdefault(check, level)
    return problems


def _scorecard(spec: dict[str, Any]) -> ScorecardSpec:
    """The scorecard platform.yaml declares (already checked); None where it takes the default."""
    levels = spec.get("levels")
    return ScorecardSpec(
        checks=tuple(spec["checks"]) if "checks" in spec else None,
        levels=tuple((level, tuple(levels[level])) for level in schemas.SCORECARD_LEVELS if level in levels)
        if levels is not None else None)


def _catalog_types(doc: Located, data: dict[str, Any], templates: Mapping[str, Any],
                   kinds: Mapping[str, InfraKind] | None, problems: list[Problem]) -> CatalogTypes:
    """platform.yaml ``catalog``: its component types name templates, its resource types offered kinds."""
    section = data.get("catalog") or {}
    components = dict(section.get("componentTypes") or {})
    resources = dict(section.get("resourceTypes") or {})
    for name in components:
        if name not in templates:
            problems.append(doc.problem(("catalog", "componentTypes", name), f"unknown template '{name}'",
                                        did_you_mean(name, set(templates), f"templates (in {TEMPLATES_DIR}/)"),
                                        key=True))
    offered = set(kinds or ())
    for name in resources if kinds is not None else ():
        if name not in offered:
            problems.append(doc.problem(("catalog", "resourceTypes", name), f"unknown infrastructure kind '{name}'",
                                        did_you_mean(name, offered, "kinds (offered by the XRDs of "
                                                     "platform-config/crossplane/)"), key=True))
    return CatalogTypes(components=components, resources=resources)


def _budget(limits: dict[str, Any]) -> TemplateBudget:
    """The template budget from platform.yaml ``limits`` (already schema-checked), defaults elsewhere."""
    default = TemplateBudget()
    return TemplateBudget(seconds=float(limits.get("templateSeconds", default.seconds)),
                          memory_mib=int(limits.get("templateMemoryMiB", default.memory_mib)))


def _environment(doc: Located, problems: list[Problem]) -> Environment | None:
    found = _checked(doc, schemas.ENVIRONMENT)
    problems.extend(found)
    if found:
        return None
    data = doc.data
    stem = doc.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if data["name"] != stem:
        problems.append(doc.problem(("name",), f"name '{data['name']}' does not match the file name",
                                    f"rename the file to {ENVIRONMENTS_DIR}/{data['name']}.yaml or set name: {stem}"))
        return None
    clusters = tuple(
        Cluster(
            name=c["name"],
            server=c["server"],
            env=data["name"],
            values=_layer(f"cluster {c['name']} values", doc, ("clusters", i, "values")),
            capabilities=capabilities_of(data.get("capabilities"), c.get("capabilities")),
        )
        for i, c in enumerate(data["clusters"])
    )
    for i, cluster in enumerate(clusters):
        for key, spec in sorted(cluster.capabilities.items()):
            problems.extend(_incomplete(doc, i, key, spec, schemas.CAPABILITIES["properties"][key]))
    if any(p.file == doc.file for p in problems):
        return None
    sync = data.get("sync") or {}
    gates = None
    if isinstance(data.get("promotion"), dict):
        promo = data["promotion"]
        soak = str(promo.get("soak") or "")
        gates = Gates(source=promo.get("from") or "", soak=soak,
                      soak_seconds=int(soak[:-1]) * {"m": 60, "h": 3600, "d": 86400}[soak[-1]] if soak else 0,
                      require_digest=bool(promo.get("requireDigest", False)), schedule=bool(promo.get("schedule")),
                      line=doc.pos(("promotion",)).line,
                      lines=tuple((k, doc.pos(("promotion", k)).line) for k in ("from", "soak", "requireDigest")
                                  if k in promo))
    return Environment(
        name=data["name"],
        order=data["order"],
        file=doc.file,
        clusters=clusters,
        defaults=_layer(f"environment {data['name']} defaults", doc, ("defaults",)),
        sync=Sync(
            automated=sync.get("automated", True),
            prune=sync.get("prune", True),
            self_heal=sync.get("selfHeal", True),
        ),
        gates=gates,
        order_line=doc.pos(("order",)).line,
    )


def _incomplete(doc: Located, index: int, key: str, spec: Any, schema: dict[str, Any],
                path: tuple[str, ...] = ()) -> list[Problem]:
    """The keys a cluster's merged capability ``key`` lacks (at the cluster's capabilities, else the
    environment's)."""
    if not isinstance(spec, dict):
        return []
    problems = []
    own = doc.data["clusters"][index].get("capabilities") or {}
    for name in schema.get("required", ()):
        if name not in spec:
            mine = _has(own, (key, *path))
            at: tuple[str | int, ...] = ("clusters", index, "capabilities", key, *path) \
                if mine else ("capabilities", key, *path)
            cluster = doc.data["clusters"][index]["name"]
            problems.append(doc.problem(at, f"capability {'.'.join((key, *path))} of cluster '{cluster}' has no "
                                        f"'{name}'", f"add {name}: {'here' if mine else 'to the cluster'} or in "
                                        "the environment's capabilities"))
    for sub, sub_schema in (schema.get("properties") or {}).items():
        if isinstance(sub_schema, dict) and isinstance(spec.get(sub), dict):
            problems.extend(_incomplete(doc, index, key, spec[sub], sub_schema, (*path, sub)))
    return problems


def _has(data: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def _service(
    folder: str,
    doc: Located,
    teams: dict[str, Team],
    envs: dict[str, Environment],
    templates: dict[str, dict[str, str | bytes]],
    kinds: dict[str, InfraKind] | None,
    problems: list[Problem],
    broken_envs: frozenset[str] = frozenset(),
    features: tuple[str, ...] = (),
) -> Service | None:
    found = _checked(doc, schemas.SERVICE)
    problems.extend(found)
    data = doc.data
    if not isinstance(data, dict):
        return None
    ok = not found
    # cross-file checks still run on the fields that are well-formed, so that one
    # pass reports everything
    if isinstance(data.get("name"), str) and data["name"] != folder:
        problems.append(doc.problem(("name",), f"name '{data['name']}' does not match its folder '{folder}'",
                                    f"set name: {folder}, or rename the folder"))
        ok = False
    if isinstance(data.get("team"), str) and data["team"] not in teams:
        problems.append(doc.problem(("team",), f"unknown team '{data['team']}'",
                                    did_you_mean(data["team"], set(teams), f"teams (in {PLATFORM_FILE})")))
        ok = False
    if isinstance(data.get("template"), str) and data["template"] not in templates:
        problems.append(doc.problem(("template",), f"unknown template '{data['template']}'",
                                    did_you_mean(data["template"], set(templates), f"templates (in {TEMPLATES_DIR}/)")))
        ok = False
    if not isinstance(data.get("environments") or {}, dict):
        return None
    placements: dict[str, tuple[str, ...]] = {}
    infra_moot = False  # set when the service names an environment whose file has problems
    env_layers: dict[str, Layer] = {}
    cluster_layers: dict[tuple[str, str], Layer] = {}
    for env_name, spec in (data.get("environments") or {}).items():
        if not isinstance(spec, (dict, type(None))):
            continue
        if env_name not in envs:
            if env_name in broken_envs:  # an environment file with problems of its own: no news here
                infra_moot = True
            else:
                problems.append(doc.problem(("environments", env_name), f"unknown environment '{env_name}'",
                                            did_you_mean(env_name, set(envs), "environments"), key=True))
            ok = False
            continue
        env = envs[env_name]
        env_layers[env_name] = _layer(f"{folder} environments.{env_name}", doc, ("environments", env_name),
                                      exclude=("clusters", "infrastructure", "onlyClusters"))
        names = {c.name for c in env.clusters}
        # where it runs: every cluster of the environment, unless onlyClusters restricts it;
        # clusters: holds per-cluster overrides only and never changes where it runs
        only = (spec or {}).get("onlyClusters")
        runs_on = set(names)
        if isinstance(only, list):
            runs_on = set()
            for i, cname in enumerate(only):
                if not isinstance(cname, str):
                    continue
                if cname not in names:
                    problems.append(doc.problem(("environments", env_name, "onlyClusters", i),
                                                f"unknown cluster '{cname}' in environment '{env_name}'",
                                                did_you_mean(cname, names, f"clusters of {env_name}")))
                    ok = False
                runs_on.add(cname)
        listed = (spec or {}).get("clusters")
        for cname in listed if isinstance(listed, dict) else {}:
            if cname not in names:
                problems.append(doc.problem(("environments", env_name, "clusters", cname),
                                            f"unknown cluster '{cname}' in environment '{env_name}'",
                                            did_you_mean(cname, names, f"clusters of {env_name}"), key=True))
                ok = False
            elif cname not in runs_on and only:  # an empty onlyClusters is the schema's problem
                problems.append(doc.problem(("environments", env_name, "clusters", cname),
                                            f"overrides for cluster '{cname}', where the service does not run "
                                            f"(onlyClusters of {env_name}: {', '.join(only or [])})",
                                            f"add {cname} to onlyClusters, or remove its overrides", key=True))
                ok = False
            else:
                cluster_layers[(env_name, cname)] = _layer(
                    f"{folder} environments.{env_name}.clusters.{cname}", doc,
                    ("environments", env_name, "clusters", cname))
        placements[env_name] = tuple(sorted(runs_on & names))
    # infrastructure is checked whenever its own part of the file is well-formed
    infra_ok = not any(p.path.startswith("infrastructure") or ".infrastructure" in p.path for p in found)
    claims = (claims_for(doc, placements, set(envs), kinds, problems)
              if infra_ok and not infra_moot and kinds is not None else {})
    if not ok:
        return None
    return Service(
        name=data["name"],
        team=data["team"],
        description=data.get("description", ""),
        tier=data.get("tier", ""),
        template=data["template"],
        file=doc.file,
        top=_layer(f"{folder} config.yaml", doc, (), exclude=IDENTITY_KEYS),
        env_layers=env_layers,
        cluster_layers=cluster_layers,
        placements=placements,
        claims=claims,
        retire=data.get("retire") is True,
        system=data.get("system", ""),
        depends_on=tuple(data.get("dependsOn") or ()),
        consumes_apis=tuple(data.get("consumesApis") or ()),
        features=features,
    )


@dataclass(frozen=True)
class Facts:
    """What the rules that span services need of one service (from its Service, or the render index)."""

    name: str
    team: str
    placements: dict[str, tuple[str, ...]]
    claims: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, kind, environments)
    # (cluster, host, path) of each URL: known once its values are merged (so not from a Service alone)
    routes: tuple[tuple[str, str, str], ...] = ()
    allow_from: tuple[str, ...] = ()  # the services its file lets in
    depends_on: tuple[str, ...] = ()  # the services it depends on (dependsOn)
    consumes_apis: tuple[str, ...] = ()  # the APIs it consumes (consumesApis)

    @staticmethod
    def of(service: Service) -> Facts:
        return Facts(service.name, service.team, service.placements, service.claimed(),
                     allow_from=service.callers(), depends_on=service.depends_on,
                     consumes_apis=service.consumes_apis)

    @staticmethod
    def of_summary(summary: Summary) -> Facts:
        """The same facts, from a service's entry in the render index."""
        return Facts(summary.name, summary.team, summary.placements, summary.claims, summary.routes,
                     summary.allow_from, summary.depends_on, summary.consumes_apis)

    def named(self) -> set[str]:
        """The other services its dependsOn and consumesApis name."""
        return {*self.depends_on, *(ref.split(".", 1)[0] for ref in self.consumes_apis)}


def route_key(host: str, path: str) -> tuple[str, str]:
    """What a gateway matches of a URL: a path prefix with and without its final '/' matches the same requests."""
    return host, path.rstrip("/") or "/"


def _expose_path(doc: Located, env: str, cluster: str) -> tuple[str | int, ...]:
    """Where ``doc`` (a service's config.yaml) sets the expose value of one of its clusters: the most
    specific layer that does (the cluster's, the environment's, the top level's)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    for path in (("environments", env, "clusters", cluster, "expose"), ("environments", env, "expose"), ("expose",)):
        if _has(data, tuple(str(p) for p in path)):
            return path
    return ("name",)  # set in platform or environment defaults: the service is named at its name


def _route_collisions(services: list[Facts], doc_of: Callable[[str], Located]) -> list[Problem]:
    """Two services may not take the same URL (host and path) on one cluster: the gateway would send its
    requests to either. Reported at each service's expose value, naming the others."""
    taken: dict[tuple[str, str, str], dict[str, tuple[str, str]]] = {}  # URL -> service -> (env, cluster)
    for svc in services:
        if not svc.routes:
            continue
        env_of = {c: e for e, cs in svc.placements.items() for c in cs}
        for cluster, host, path in svc.routes:
            key = (cluster, *route_key(host, path))
            taken.setdefault(key, {})[svc.name] = (env_of.get(cluster, ""), cluster)
    problems = []
    for (_cluster, host, path), by_service in sorted(taken.items()):
        if len(by_service) < 2:
            continue
        for name, (env, cluster) in sorted(by_service.items()):
            others = sorted(set(by_service) - {name})
            doc = doc_of(name)
            problems.append(doc.problem(
                _expose_path(doc, env, cluster),
                f"URL {host}{path} on cluster '{cluster}' is also taken by service{'s' if len(others) > 1 else ''} "
                f"{', '.join(repr(o) for o in others)}",
                "each service needs a URL of its own on a cluster: set another expose.http.host or path"))
    return problems


def _claim_collisions(services: list[Facts], teams: dict[str, Team], doc_of: Callable[[str], Located]
                      ) -> list[Problem]:
    """Two services of one namespace may not claim the same name: their objects and Secrets would clash.

    Reported once at each service that claims it (the copy and the original alike), naming the others.
    """
    claimed: dict[tuple[str, str], dict[str, set[str]]] = {}  # (namespace, name) -> service -> envs
    for svc in services:
        for name, _kind, where in svc.claims:
            key = (teams[svc.team].namespace, name)
            claimed.setdefault(key, {}).setdefault(svc.name, set()).update(where)
    problems = []
    for (namespace, name), by_service in sorted(claimed.items()):
        if len(by_service) < 2:
            continue
        for svc_name, envs in sorted(by_service.items()):
            others = sorted(set(by_service) - {svc_name})
            shared = sorted(envs & set().union(*(by_service[o] for o in others)))
            if not shared:
                continue  # in different environments: never in one namespace at once
            doc = doc_of(svc_name)
            index = next(i for i, e in enumerate(doc.data["infrastructure"]) if e["name"] == name)
            problems.append(doc.problem(("infrastructure", index, "name"),
                                        f"'{name}' is also claimed by service{'s' if len(others) > 1 else ''} "
                                        f"{', '.join(repr(o) for o in others)} in namespace '{namespace}' "
                                        f"({', '.join(shared)})",
                                        "names of databases, buckets and queues are unique within a namespace"))
    return problems


def _allow_from_entries(doc: Located) -> list[tuple[tuple[str | int, ...], str]]:
    """Each entry of ``allowFrom`` in a service's config.yaml (at the top, per environment, per cluster)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    found: list[tuple[tuple[str | int, ...], Any]] = [(("allowFrom",), data.get("allowFrom"))]
    for env, spec in sorted((data.get("environments") or {}).items()):
        if isinstance(spec, dict):
            found.append((("environments", env, "allowFrom"), spec.get("allowFrom")))
            for cluster, values in sorted((spec.get("clusters") or {}).items()):
                if isinstance(values, dict):
                    found.append((("environments", env, "clusters", cluster, "allowFrom"), values.get("allowFrom")))
    return [((*path, i), name) for path, names in found if isinstance(names, list)
            for i, name in enumerate(names) if isinstance(name, str)]


def _unknown_callers(services: list[Facts], names: Collection[str], doc_of: Callable[[str], Located]
                     ) -> list[Problem]:
    """Every service ``allowFrom`` names exists (``names``: every service of the platform)."""
    problems = []
    for svc in services:
        if all(n in names for n in svc.allow_from):
            continue
        for path, name in _allow_from_entries(doc_of(svc.name)):
            if name not in names:
                problems.append(doc_of(svc.name).problem(
                    path, f"allowFrom names service '{name}', which does not exist",
                    did_you_mean(name, set(names), "services")))
    return problems


def _unknown_dependencies(services: list[Facts], names: Collection[str], doc_of: Callable[[str], Located]
                          ) -> list[Problem]:
    """Every service ``dependsOn`` names exists, and is another service."""
    problems = []
    for svc in services:
        if all(n in names and n != svc.name for n in svc.depends_on):
            continue
        doc = doc_of(svc.name)
        for i, name in enumerate(svc.depends_on):
            if name == svc.name:
                problems.append(doc.problem(("dependsOn", i), f"service '{name}' depends on itself",
                                            "dependsOn lists the other services this one needs; remove it"))
            elif name not in names:
                problems.append(doc.problem(("dependsOn", i), f"dependsOn names service '{name}', which does not "
                                            "exist", did_you_mean(name, set(names) - {svc.name}, "services")))
    return problems


def _unknown_apis(services: list[Facts], names: Collection[str], features: Mapping[str, tuple[str, ...]],
                  doc_of: Callable[[str], Located]) -> list[Problem]:
    """Every API ``consumesApis`` names is provided: the service exists and its folder holds the API's file
    (for a service alone, any of them)."""
    problems = []
    providers: set[str] | None = None
    for svc in services:
        for i, ref in enumerate(svc.consumes_apis):
            name, _dot, kind = ref.partition(".")
            held = [k for k, file in sorted(API_FILES.items()) if file in features.get(name, ())]
            if name != svc.name and name in names and (kind in held if kind else held):
                continue
            doc = doc_of(svc.name)
            if name == svc.name:
                problems.append(doc.problem(("consumesApis", i), f"service '{name}' consumes its own API",
                                            "consumesApis lists the APIs of other services this one calls; "
                                            "remove it"))
            elif name not in names:
                if providers is None:  # the services with an API: the only ones worth naming
                    files = set(API_FILES.values())
                    providers = {n for n in names if files & set(features.get(n, ()))}
                problems.append(doc.problem(("consumesApis", i), f"consumesApis names service '{name}', which "
                                            "does not exist",
                                            did_you_mean(name, providers - {svc.name}, "services that provide an "
                                                         "API")))
            elif kind:
                problems.append(doc.problem(("consumesApis", i), f"service '{name}' provides no {kind} API "
                                            f"({SERVICES_DIR}/{name}/ has no {API_FILES[kind]})",
                                            f"name one of its APIs ({', '.join(f'{name}.{k}' for k in held)})"
                                            if held else "a service provides an API with openapi.yaml or "
                                            "asyncapi.yaml in its folder"))
            else:
                problems.append(doc.problem(("consumesApis", i), f"service '{name}' provides no API "
                                            f"({SERVICES_DIR}/{name}/ has no openapi.yaml or asyncapi.yaml)",
                                            "a service provides an API with openapi.yaml or asyncapi.yaml in its "
                                            "folder"))
    return problems


def cross_check(services: list[Facts], teams: dict[str, Team], clusters: list[str],
                doc_of: Callable[[str], Located], every: Collection[str] | None = None,
                features: Mapping[str, tuple[str, ...]] | None = None) -> list[Problem]:
    """The rules that span services: Application names unique, not reserved, not too long; no claim or URL
    clashes; the services ``allowFrom`` and ``dependsOn`` name exist, the APIs ``consumesApis`` names are
    provided.

    ``services`` in name order; ``doc_of`` gives a service's config.yaml (parsed only for a problem);
    ``every``: the name of every service of the platform (when ``services`` are not all of them);
    ``features``: the catalog files each service folder holds (see ``load.FEATURE_FILES``).
    """
    problems: list[Problem] = []
    reserved = {ROOT_APP} | {f"{CROSSPLANE_APPSET}-{c}" for c in clusters}
    # the namespaces ApplicationSet's Applications (kept in step with outputs/guardrails.py)
    reserved |= {f"{NAMESPACES_APPSET}-{t}-{c}" for t in teams for c in clusters}
    app_names: dict[str, str] = {}
    for svc in services:
        for env_name, names in svc.placements.items():
            for cname in names:
                app = f"{svc.name}-{cname}"
                path = ("environments", env_name)
                if app in reserved:
                    problems.append(doc_of(svc.name).problem(
                        path, f"Application name '{app}' is reserved for the platform",
                        "rename the service or the cluster", key=True))
                if len(app) > MAX_APP_NAME:
                    problems.append(doc_of(svc.name).problem(
                        path, f"Application name '{app}' is longer than {MAX_APP_NAME} characters",
                        "shorten the service or cluster name", key=True))
                if app in app_names and app_names[app] != svc.name:
                    problems.append(doc_of(svc.name).problem(
                        path, f"Application name '{app}' is also produced by service '{app_names[app]}'",
                        "Applications are named <service>-<cluster>; rename one service", key=True))
                app_names.setdefault(app, svc.name)
    known = every if every is not None else {s.name for s in services}
    return problems + _claim_collisions(services, teams, doc_of) + _route_collisions(services, doc_of) \
        + _unknown_callers(services, known, doc_of) + _unknown_dependencies(services, known, doc_of) \
        + _unknown_apis(services, known, features or {}, doc_of)


#: config.yaml keys that ``platform-gen new`` writes itself, never a golden path's starter values
STARTER_OWN_KEYS = ("name", "team", "template", "retire")


def starter_problems(doc: Located) -> list[Problem]:
    """The problems of a golden path's starter values (``templates/<t>/starter.yaml``): a config.yaml in part,
    without the keys ``new`` writes itself. Render checks them (the sample render uses them), and ``new``
    before it starts a service from them."""
    data = doc.data
    if data is None:
        return []
    if not isinstance(data, dict):
        return [doc.problem((), "expected a mapping of config.yaml keys",
                            "see README \"Starter values of a golden path\"")]
    own = [doc.problem((key,), f"{key} is set by 'platform-gen new', not by a golden path's starter values",
                       f"remove {key}", key=True) for key in STARTER_OWN_KEYS if key in data]
    return own + [p for p in _checked(doc, schemas.STARTER) if p.path.split(".")[0] not in STARTER_OWN_KEYS]


def validate(sources: Sources, *, cross: bool = True, found: list[Service] | None = None) -> Platform:
    """Check every input and build the :class:`Platform`; raise InputError listing all problems.

    With ``cross`` false, the rules that span services are left to the caller
    (:func:`cross_check`), which runs them over every service, parsed or not. ``found``
    receives the services that passed their own checks, even when others did not.
    """
    problems = list(sources.problems)
    if sources.platform is None:
        raise InputError(problems)
    parsed = _platform(sources.platform, problems)

    envs: dict[str, Environment] = {}
    cluster_files: dict[str, Located] = {}
    servers: dict[str, str] = {}
    orders: dict[int, tuple[str, Located]] = {}
    explicit: dict[str, bool | None] = {}
    broken_envs: set[str] = set()
    for doc in sources.environments:
        env = _environment(doc, problems)
        if env is None:
            named = doc.data.get("name") if isinstance(doc.data, dict) else None
            broken_envs.add(named if isinstance(named, str) else Path(doc.file).stem)
            continue
        if env.order in orders:  # reported at both files: which one is new is not for us to guess
            first, first_doc = orders[env.order]
            problems.append(doc.problem(("order",), f"order {env.order} is also used by environment "
                                        f"'{first}'", "each environment needs its own promotion order"))
            problems.append(first_doc.problem(("order",), f"order {env.order} is also used by environment "
                                              f"'{env.name}'", "each environment needs its own promotion order"))
        orders.setdefault(env.order, (env.name, doc))
        for i, cluster in enumerate(env.clusters):
            if cluster.name in cluster_files:
                other = cluster_files[cluster.name].file
                problems.append(doc.problem(("clusters", i, "name"), f"cluster name '{cluster.name}' is not unique",
                                            f"also defined in {other}; cluster names are unique across environments"))
            cluster_files[cluster.name] = doc
            if cluster.server in servers and servers[cluster.server] != cluster.name:
                problems.append(doc.problem(("clusters", i, "server"), f"server {cluster.server} is also cluster "
                                            f"'{servers[cluster.server]}'",
                                            "each cluster needs its own API server, or two Applications would "
                                            "deploy the same objects"))
            servers.setdefault(cluster.server, cluster.name)
        envs[env.name] = env
        explicit[env.name] = doc.data.get("protected")
    # protected: as the file says, else only the environment of the highest order
    protected = protected_names({n: e.order for n, e in envs.items()}, explicit)
    envs = {n: dataclasses.replace(e, protected=n in protected) for n, e in envs.items()}
    for env in envs.values():  # a gate's source: an environment promoted before this one (issue 13)
        source = env.gates.source if env.gates is not None else ""
        if source and (source not in envs or envs[source].order >= env.order):
            doc = next(d for d in sources.environments if d.file == env.file)
            why = "no such environment" if source not in envs else f"its order is not below {env.order}"
            problems.append(doc.problem(("promotion", "from"), f"promotion.from '{source}': {why}",
                                        did_you_mean(source, {n for n, e in envs.items() if e.order < env.order},
                                                     "environments promoted before it")))

    for env_name in sorted(sources.components):
        where = f"{OVERLAYS_DIR}/{env_name}"
        if env_name not in envs and not any(p.file.endswith(f"/{env_name}.yaml") for p in problems):
            problems.append(Problem(where, 0, 0, "", f"overlay folder for unknown environment '{env_name}'",
                                    did_you_mean(env_name, set(envs), "environments")))
        if "kustomization.yaml" not in sources.components[env_name]:
            problems.append(Problem(where, 0, 0, "", "no kustomization.yaml",
                                    "an environment overlay is a Kustomize Component "
                                    "(kind: Component, apiVersion: kustomize.config.k8s.io/v1alpha1)"))

    for name, tpl_files in sorted(sources.templates.items()):
        if CHART_FILE in tpl_files:  # a Helm chart
            problems.extend(chart_problems(name, tpl_files))
        elif not any(f.endswith((".yaml.j2", ".jsonnet")) for f in tpl_files):
            problems.append(Problem(f"{TEMPLATES_DIR}/{name}", 0, 0, "",
                                    "template has no *.yaml.j2 or *.jsonnet file, nor a Chart.yaml"))
    starters: dict[str, dict[str, Any]] = {}
    starter_docs: dict[str, dict[str, Any]] = {}
    for name, doc in sorted(sources.starters.items()):
        # a config.yaml in part: checked as one, so that a service started from it is valid
        wrong = starter_problems(doc)
        problems.extend(wrong)
        if not wrong and isinstance(doc.data, dict):
            starters[name] = {k: v for k, v in doc.data.items() if k in schemas.VALUE_KEYS}
            starter_docs[name] = dict(doc.data)

    if parsed is None:
        raise InputError(problems)
    data, teams = parsed
    problems.extend(_capability_namespaces(sources.platform, teams, envs))

    crossplane_problems = [] if schemas.shared_is_trusted() else check_crossplane(sources.crossplane)
    problems.extend(crossplane_problems)
    # with the platform's own APIs broken, services' infrastructure is not checked against them
    kinds = None if crossplane_problems else offered_kinds(sources.crossplane, problems)
    catalog = _catalog_types(sources.platform, data, sources.templates, kinds, problems)
    services: list[Service] = []
    for folder, doc in sources.services:
        svc = _service(folder, doc, teams, envs, sources.templates, kinds, problems, frozenset(broken_envs),
                       sources.features.get(folder, ()))
        if svc is None:
            continue
        if svc.name in RESERVED_APPSETS:
            problems.append(doc.problem(("name",), f"service name '{svc.name}' is reserved",
                                        "the platform's own ApplicationSet has that name"))
        services.append(svc)
    services.sort(key=lambda s: s.name)
    if found is not None:
        found.extend(services)
    if cross:
        docs = dict(sources.services)
        problems.extend(cross_check([Facts.of(s) for s in services], teams, list(cluster_files),
                                    docs.__getitem__, features=sources.features))
    if problems:
        raise InputError(problems)
    parsed_docs = dict(sources.services)

    def doc_of(name: str) -> Located:
        doc = parsed_docs[name] if name in parsed_docs else sources.reparse(name) if sources.reparse else None
        if doc is None:  # read and rendered before with the same bytes: cannot fail now but for a race
            raise InputError([Problem(f"{SERVICES_DIR}/{name}/config.yaml", 0, 0, "",
                                      "changed or vanished while platform-gen was reading it",
                                      "run platform-gen again")])
        return doc

    gitops = data["gitops"]
    return Platform(
        organization=data["organization"],
        repo_url=gitops["repoURL"],
        target_revision=gitops["targetRevision"],
        gitops_path=gitops.get("path", "rendered"),
        argocd_namespace=(data.get("argocd") or {}).get("namespace", "argocd"),
        teams=teams,
        defaults=_layer("platform defaults", sources.platform, ("defaults",)),
        environments=tuple(sorted(envs.values(), key=lambda e: (e.order, e.name))),
        services=tuple(sorted(services, key=lambda s: s.name)),
        templates=sources.templates,
        components=sources.components,
        crossplane=sources.crossplane,
        infra_kinds=kinds or {},
        codeowners=CodeOwners(**data["codeowners"]) if data.get("codeowners") else None,
        team_resources=tuple((r["group"], r["kind"]) for r in data.get("teamResources") or ()),
        budget=_budget(data.get("limits") or {}),
        editor_schemas=sources.editor_schemas,
        scorecard=_scorecard(data.get("scorecard") or {}),
        promotion_keys=tuple((data.get("promotion") or {}).get("keys") or ("image", "tag", "digest")),
        starters=starters,
        starter_docs=starter_docs,
        catalog=catalog,
        features=sources.features,
        inputs=sources.shared_inputs(),
        digests=sources.digests,
        doc_of=doc_of,
    )
