"""Stage 2: validate each input file alone, then across files; build the model.

Each file is checked against its schema (errors name that file), then the
cross-file rules (teams, templates, environments and clusters that must exist,
names that must be unique) are checked. All problems are collected and raised
together as one :class:`~generator.errors.InputError`.
"""

from __future__ import annotations

import math
from typing import Any

from . import schemas
from .errors import InputError, Problem
from .infrastructure import InfraKind, check_crossplane, claims_for, offered_kinds
from .load import ENVIRONMENTS_DIR, OVERLAYS_DIR, PLATFORM_FILE, TEMPLATES_DIR, Sources
from .model import Cluster, Environment, Layer, Platform, Service, Sync, Team, TemplateBudget
from .schemas import did_you_mean
from .yamlio import Located

__all__ = ["RESERVED_PROJECT", "validate"]

#: The AppProject of the platform itself; no team may take its name.
RESERVED_PROJECT = "platform"
#: Names of the platform's own Argo CD objects (kept in step with outputs/argocd.py).
ROOT_APP = "platform-root"
CROSSPLANE_APPSET = "platform-crossplane"
RESERVED_APPSETS = frozenset({CROSSPLANE_APPSET, ROOT_APP})
IDENTITY_KEYS = ("name", "team", "description", "tier", "template", "environments", "infrastructure")
MAX_APP_NAME = 63


def _layer(label: str, doc: Located, base: tuple[str | int, ...], exclude: tuple[str, ...] = ()) -> Layer:
    data: Any = doc.data
    for part in base:
        data = data.get(part) if isinstance(data, dict) else (
            data[part] if isinstance(data, list) and isinstance(part, int) and part < len(data) else None)
    if not isinstance(data, dict):
        data = {}  # a schema problem already names the shape
    return Layer(label, doc, base, {k: v for k, v in data.items() if k not in exclude})


def _platform(doc: Located, problems: list[Problem]) -> tuple[dict[str, Any], dict[str, Team]] | None:
    found = schemas.check(doc, schemas.PLATFORM)
    problems.extend(found)
    if found:
        return None
    data = doc.data
    seconds = (data.get("limits") or {}).get("templateSeconds")
    if isinstance(seconds, float) and math.isnan(seconds):  # NaN passes every bound of the schema
        problems.append(doc.problem(("limits", "templateSeconds"), "expected a number of seconds, got .nan",
                                    "use a number such as 30"))
        return None
    path = data["gitops"].get("path", "rendered")
    if any(part in ("", ".", "..") for part in path.split("/")):
        problems.append(doc.problem(("gitops", "path"), f"'{path}' must stay inside the repo",
                                    "use a relative folder without '.' or '..' segments, such as rendered"))
        return None
    teams: dict[str, Team] = {}
    for name, spec in data["teams"].items():
        spec = spec or {}
        if name == RESERVED_PROJECT:
            problems.append(doc.problem(("teams", name), f"team name '{name}' is reserved",
                                        "the platform's own AppProject uses it; pick another name", key=True))
        teams[name] = Team(
            name=name,
            namespace=spec.get("namespace", f"team-{name}"),
            description=spec.get("description", ""),
            groups=tuple(spec.get("groups", ())),
        )
    return data, teams


def _budget(limits: dict[str, Any]) -> TemplateBudget:
    """The template budget from platform.yaml ``limits`` (already schema-checked), defaults elsewhere."""
    default = TemplateBudget()
    return TemplateBudget(seconds=float(limits.get("templateSeconds", default.seconds)),
                          memory_mib=int(limits.get("templateMemoryMiB", default.memory_mib)))


def _environment(doc: Located, problems: list[Problem]) -> Environment | None:
    found = schemas.check(doc, schemas.ENVIRONMENT)
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
        )
        for i, c in enumerate(data["clusters"])
    )
    sync = data.get("sync") or {}
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
    )


def _service(
    folder: str,
    doc: Located,
    teams: dict[str, Team],
    envs: dict[str, Environment],
    templates: dict[str, dict[str, str]],
    kinds: dict[str, InfraKind] | None,
    problems: list[Problem],
) -> Service | None:
    found = schemas.check(doc, schemas.SERVICE)
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
    env_layers: dict[str, Layer] = {}
    cluster_layers: dict[tuple[str, str], Layer] = {}
    for env_name, spec in (data.get("environments") or {}).items():
        if not isinstance(spec, (dict, type(None))):
            continue
        if env_name not in envs:
            problems.append(doc.problem(("environments", env_name), f"unknown environment '{env_name}'",
                                        did_you_mean(env_name, set(envs), "environments"), key=True))
            ok = False
            continue
        env = envs[env_name]
        env_layers[env_name] = _layer(f"{folder} environments.{env_name}", doc, ("environments", env_name),
                                      exclude=("clusters", "infrastructure"))
        listed = (spec or {}).get("clusters")
        names = {c.name for c in env.clusters}
        if isinstance(listed, dict) and listed:
            for cname in listed:
                if cname not in names:
                    problems.append(doc.problem(("environments", env_name, "clusters", cname),
                                                f"unknown cluster '{cname}' in environment '{env_name}'",
                                                did_you_mean(cname, names, f"clusters of {env_name}"), key=True))
                    ok = False
                    continue
                cluster_layers[(env_name, cname)] = _layer(
                    f"{folder} environments.{env_name}.clusters.{cname}", doc,
                    ("environments", env_name, "clusters", cname))
            placements[env_name] = tuple(sorted(c for c in listed if c in names))
        else:
            placements[env_name] = tuple(sorted(names))
    # infrastructure is checked whenever its own part of the file is well-formed
    infra_ok = not any(p.path.startswith("infrastructure") or ".infrastructure" in p.path for p in found)
    claims = claims_for(doc, placements, set(envs), kinds, problems) if infra_ok and kinds is not None else {}
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
    )


def _claim_collisions(services: list[Service], teams: dict[str, Team], docs: dict[str, Located]) -> list[Problem]:
    """Two services of one namespace may not claim the same name: their objects and Secrets would clash."""
    problems = []
    owners: dict[tuple[str, str, str], str] = {}
    for svc in services:
        for env, claims in sorted(svc.claims.items()):
            for claim in claims:
                key = (teams[svc.team].namespace, env, claim.name)
                other = owners.setdefault(key, svc.name)
                if other != svc.name:
                    doc = docs[svc.name]
                    index = next(i for i, e in enumerate(doc.data["infrastructure"]) if e["name"] == claim.name)
                    problem = doc.problem(("infrastructure", index, "name"),
                                          f"'{claim.name}' is also claimed by service '{other}' in namespace "
                                          f"'{key[0]}' ({env})",
                                          "names of databases, buckets and queues are unique within a namespace")
                    if problem not in problems:
                        problems.append(problem)
    return problems


def validate(sources: Sources) -> Platform:
    """Check every input and build the :class:`Platform`; raise InputError listing all problems."""
    problems = list(sources.problems)
    if sources.platform is None:
        raise InputError(problems)
    parsed = _platform(sources.platform, problems)

    envs: dict[str, Environment] = {}
    cluster_files: dict[str, Located] = {}
    servers: dict[str, str] = {}
    orders: dict[int, str] = {}
    for doc in sources.environments:
        env = _environment(doc, problems)
        if env is None:
            continue
        if env.order in orders:
            problems.append(doc.problem(("order",), f"order {env.order} is also used by environment "
                                        f"'{orders[env.order]}'", "each environment needs its own promotion order"))
        orders[env.order] = env.name
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
        if not any(f.endswith((".yaml.j2", ".jsonnet")) for f in tpl_files):
            problems.append(Problem(f"{TEMPLATES_DIR}/{name}", 0, 0, "",
                                    "template has no *.yaml.j2 or *.jsonnet file"))

    if parsed is None:
        raise InputError(problems)
    data, teams = parsed

    crossplane_problems = check_crossplane(sources.crossplane)
    problems.extend(crossplane_problems)
    # with the platform's own APIs broken, services' infrastructure is not checked against them
    kinds = None if crossplane_problems else offered_kinds(sources.crossplane, problems)
    reserved_apps = {ROOT_APP} | {f"{CROSSPLANE_APPSET}-{c}" for c in cluster_files}
    services: list[Service] = []
    app_names: dict[str, tuple[str, Located]] = {}
    for folder, doc in sources.services:
        svc = _service(folder, doc, teams, envs, sources.templates, kinds, problems)
        if svc is None:
            continue
        if svc.name in RESERVED_APPSETS:
            problems.append(doc.problem(("name",), f"service name '{svc.name}' is reserved",
                                        "the platform's own ApplicationSet has that name"))
        for env_name, clusters in svc.placements.items():
            for cname in clusters:
                app = f"{svc.name}-{cname}"
                path = ("environments", env_name)
                if app in reserved_apps:
                    problems.append(doc.problem(path, f"Application name '{app}' is reserved for the platform",
                                                "rename the service or the cluster", key=True))
                if len(app) > MAX_APP_NAME:
                    problems.append(doc.problem(path, f"Application name '{app}' is longer than {MAX_APP_NAME} "
                                                "characters", "shorten the service or cluster name", key=True))
                if app in app_names and app_names[app][0] != svc.name:
                    problems.append(doc.problem(path, f"Application name '{app}' is also produced by service "
                                                f"'{app_names[app][0]}'",
                                                "Applications are named <service>-<cluster>; rename one service",
                                                key=True))
                app_names.setdefault(app, (svc.name, doc))
        services.append(svc)

    problems.extend(_claim_collisions(services, teams, {d: doc for d, doc in sources.services}))
    if problems:
        raise InputError(problems)
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
        budget=_budget(data.get("limits") or {}),
    )
