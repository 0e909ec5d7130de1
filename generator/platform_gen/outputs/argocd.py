"""Argo CD output: AppProjects, one ApplicationSet per service, and the root app.

Each ApplicationSet has one static ``list`` generator per environment whose elements
carry every per-target value already resolved; the generator-level template carries
that environment's sync policy (no ``templatePatch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..model import Cluster, Environment, Platform, Service, Target, Team
from ..validate import CROSSPLANE_APPSET, CROSSPLANE_NAMESPACE, NAMESPACES_APPSET, RESERVED_PROJECT, ROOT_APP
from . import labels as L
from .guardrails import GUARDRAIL_KINDS, namespace_dir
from .kustomize import overlay_dir, overlay_reads

__all__ = ["IN_CLUSTER", "RETRY", "ROOT_APP", "application_set", "namespaces_application_set", "platform_bootstrap",
           "team_policies", "team_project"]

API = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
PLATFORM_PROJECT = RESERVED_PROJECT
# Tells Argo CD which paths an Application's manifests come from, so that a commit touching
# none of them reuses the cached manifests instead of regenerating every Application.
GENERATE_PATHS = "argocd.argoproj.io/manifest-generate-paths"


def _meta(platform: Platform, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": platform.argocd_namespace,
            "labels": {L.MANAGED_BY: L.TOOL, L.PART_OF: platform.organization, **labels}}


#: How an Application retries a failed sync (its namespace may land moments after it).
RETRY: dict[str, Any] = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}


def team_policies(team: str, clusters: list[Cluster], protected: frozenset[str]) -> list[str]:
    """The team role's policy lines: view, sync, run actions and read logs of the team's Applications; delete
    and override only those of the clusters of environments that are not ``protected``."""
    role = f"proj:{team}:team"
    lines = [f"p, {role}, applications, {action}, {team}/*, allow" for action in ("get", "sync", "action/*")]
    lines.append(f"p, {role}, logs, get, {team}/*, allow")
    for name in sorted({c.name for c in clusters if c.env not in protected}):
        lines += [f"p, {role}, applications, {action}, {team}/*-{name}, allow" for action in ("delete", "override")]
    return lines


def team_project(platform: Platform, team: str, clusters: list[Cluster],
                 kinds: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """The AppProject of a team: its namespace on the ``clusters`` its services deploy to, and only ``kinds``."""
    t = platform.teams[team]
    servers = sorted({c.server: c.name for c in clusters}.items())
    protected = frozenset(e.name for e in platform.environments if e.protected)
    spec: dict[str, Any] = {
        "description": t.description or f"Services of team {team}",
        "sourceRepos": [platform.repo_url],
    }
    if servers:
        spec["destinations"] = [{"name": name, "server": server, "namespace": t.namespace}
                                for server, name in servers]
    # No cluster-scoped object: the platform renders the team's namespace (README "Team guardrails").
    # Only the kinds the golden paths render (or the platform lists) and the offered claims.
    spec["namespaceResourceWhitelist"] = [{"group": group, "kind": kind} for group, kind in kinds]
    if t.groups:
        spec["roles"] = [{
            "name": "team",
            "description": f"Members of team {team}",
            "groups": list(t.groups),
            "policies": team_policies(team, clusters, protected),
        }]
    return {"apiVersion": API, "kind": "AppProject", "metadata": _meta(platform, team, {L.TEAM: team}),
            "spec": spec}


def _sync_policy(env: Environment, options: list[str]) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if env.sync.automated:
        policy["automated"] = {"prune": env.sync.prune, "selfHeal": env.sync.self_heal}
    if options:
        policy["syncOptions"] = list(options)
    policy["retry"] = RETRY
    return policy


def application_set(platform: Platform, service: Service, targets: list[Target], has_hpa: bool) -> dict[str, Any]:
    """The ApplicationSet of one service over its (env, cluster) targets."""
    team = platform.teams[service.team]
    destination = {"server": "{{.server}}", "namespace": "{{.namespace}}"}
    # With an autoscaler, the HorizontalPodAutoscaler owns the replica count once running.
    # no CreateNamespace=true: the platform's namespaces ApplicationSet creates the team's namespace
    options = ["RespectIgnoreDifferences=true"] if has_hpa else []
    generators: list[dict[str, Any]] = []
    for env in platform.environments:
        mine = [t for t in targets if t.env.name == env.name]
        if not mine:
            continue
        elements = [{
            "app": t.app_name,
            "cluster": t.cluster.name,
            "env": env.name,
            # Relative entries: the repo-server joins each one to spec.source.path (an entry
            # starting with "/" would be taken from the repository root instead). The source
            # path already starts with gitops.path, so these stay right wherever the tree
            # lives in the repository, and they are the references the overlay itself makes.
            "generatePaths": ";".join(overlay_reads(platform, env.name)),
            "image": f"{t.values['image']}:{t.values['tag']}"
                     + (f"@{t.values['digest']}" if t.values.get("digest") else ""),
            "namespace": team.namespace,
            "path": f"{platform.gitops_path}/{overlay_dir(service.name, env.name, t.cluster.name)}",
            "server": t.cluster.server,
        } for t in mine]
        generators.append({"list": {
            "elements": elements,
            "template": {"metadata": {}, "spec": {
                "project": service.team,
                "destination": destination,
                "syncPolicy": _sync_policy(env, options),
            }},
        }})
    app_labels = {L.TEAM: service.team, L.SERVICE: service.name, L.ENVIRONMENT: "{{.env}}",
                  L.CLUSTER: "{{.cluster}}", L.MANAGED_BY: L.TOOL}
    spec: dict[str, Any] = {
        "project": service.team,
        "source": {"repoURL": platform.repo_url, "targetRevision": platform.target_revision, "path": "{{.path}}"},
        "destination": destination,
        "info": [{"name": "image", "value": "{{.image}}"}],
        "syncPolicy": {**({"syncOptions": list(options)} if options else {}), "retry": RETRY},
    }
    if has_hpa:
        spec["ignoreDifferences"] = [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]
    return {
        "apiVersion": API,
        "kind": "ApplicationSet",
        "metadata": _meta(platform, service.name, {L.TEAM: service.team, L.SERVICE: service.name}),
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            # a retired service's applications take what they deployed with them when removed
            "syncPolicy": {"preserveResourcesOnDeletion": not service.retire},
            "generators": generators,
            "template": {"metadata": {"name": "{{.app}}", "labels": app_labels,
                                      "annotations": {GENERATE_PATHS: "{{.generatePaths}}"}},
                         "spec": spec},
        },
    }


def _platform_application_set(platform: Platform, name: str, elements: list[dict[str, Any]],
                              labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    """An ApplicationSet of the platform's own, over plain folders of manifests: a wave before the team
    ApplicationSets (the root app creates it first), one list generator, Applications named ``{{.app}}``
    that keep what they deployed when removed."""
    meta = _meta(platform, name, {})
    meta["annotations"] = {"argocd.argoproj.io/sync-wave": "-1"}
    return {
        "apiVersion": API,
        "kind": "ApplicationSet",
        "metadata": meta,
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "syncPolicy": {"preserveResourcesOnDeletion": True},
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {"name": "{{.app}}", "labels": {L.MANAGED_BY: L.TOOL, **labels},
                             # a plain folder of manifests reads nothing beyond itself
                             "annotations": {GENERATE_PATHS: "."}},
                "spec": spec,
            },
        },
    }


def crossplane_application_set(platform: Platform, clusters: list[Cluster]) -> dict[str, Any]:
    """Installs the XRDs, Compositions and Functions on every cluster, before the team apps."""
    elements = [{"app": f"{CROSSPLANE_APPSET}-{c.name}", "cluster": c.name, "env": c.env, "server": c.server}
                for c in clusters]
    return _platform_application_set(platform, CROSSPLANE_APPSET, elements,
                                     {L.ENVIRONMENT: "{{.env}}", L.CLUSTER: "{{.cluster}}"}, {
        "project": PLATFORM_PROJECT,
        "source": {"repoURL": platform.repo_url, "targetRevision": platform.target_revision,
                   "path": f"{platform.gitops_path}/platform/crossplane"},
        "destination": {"server": "{{.server}}", "namespace": CROSSPLANE_NAMESPACE},
        # never prune: deleting an XRD deletes every claim of its kind
        "syncPolicy": {"automated": {"prune": False, "selfHeal": True}, "syncOptions": ["ServerSideApply=true"]},
    })


def namespaces_application_set(platform: Platform, pairs: list[tuple[Team, Cluster]],
                               retry: dict[str, Any]) -> dict[str, Any]:
    """One Application per (team, cluster) syncing the team's namespace folder, before the team apps; a
    namespace holds a team's objects, so removing its Application never deletes it."""
    elements = [{"app": f"{NAMESPACES_APPSET}-{t.name}-{c.name}", "cluster": c.name, "env": c.env,
                 "namespace": t.namespace, "path": f"{platform.gitops_path}/{namespace_dir(t.name, c.name)}",
                 "server": c.server, "team": t.name}
                for t, c in sorted(pairs, key=lambda p: (p[0].name, p[1].name))]
    return _platform_application_set(platform, NAMESPACES_APPSET, elements,
                                     {L.TEAM: "{{.team}}", L.ENVIRONMENT: "{{.env}}", L.CLUSTER: "{{.cluster}}"}, {
        "project": PLATFORM_PROJECT,
        "source": {"repoURL": platform.repo_url, "targetRevision": platform.target_revision, "path": "{{.path}}"},
        "destination": {"server": "{{.server}}", "namespace": "{{.namespace}}"},
        # never prune: the Namespace's deletion would take the team's objects with it
        "syncPolicy": {"automated": {"prune": False, "selfHeal": True}, "retry": retry},
    })


def platform_bootstrap(platform: Platform, clusters: list[Cluster] | None = None,
                       namespaces: Sequence[tuple[str, Cluster]] = ()) -> list[dict[str, Any]]:
    """The platform AppProject and the root Application (app of apps) over ``argocd/``.

    With Crossplane objects to install (``clusters`` given), the platform project may
    also reach every cluster and create the cluster-scoped Crossplane kinds; it is the
    only project allowed cluster-scoped objects. With ``namespaces`` (team namespace, cluster), it also
    reaches those namespaces and creates them with their quota, limits and NetworkPolicies.
    """
    ns = platform.argocd_namespace
    destinations = [{"name": "in-cluster", "server": IN_CLUSTER, "namespace": ns}]
    destinations += [{"name": c.name, "server": c.server, "namespace": CROSSPLANE_NAMESPACE}
                     for c in sorted(clusters or [], key=lambda c: c.server)]
    # the team namespaces and what guards them (README "Team guardrails")
    destinations += [{"name": c.name, "server": c.server, "namespace": ns_name}
                     for ns_name, c in sorted(namespaces, key=lambda p: (p[1].server, p[0]))]
    project = {
        "apiVersion": API,
        "kind": "AppProject",
        "metadata": _meta(platform, PLATFORM_PROJECT, {}),
        "spec": {
            "description": "The platform itself: Argo CD projects and ApplicationSets",
            "sourceRepos": [platform.repo_url],
            "destinations": destinations,
            "namespaceResourceWhitelist": [
                {"group": "argoproj.io", "kind": "AppProject"},
                {"group": "argoproj.io", "kind": "ApplicationSet"},
                {"group": "argoproj.io", "kind": "Application"},
                *([{"group": g, "kind": k} for g, k in GUARDRAIL_KINDS] if namespaces else []),
            ],
        },
    }
    cluster_kinds = [{"group": "", "kind": "Namespace"}] if namespaces else []
    if clusters:
        cluster_kinds += [
            {"group": "apiextensions.crossplane.io", "kind": "CompositeResourceDefinition"},
            {"group": "apiextensions.crossplane.io", "kind": "Composition"},
            {"group": "pkg.crossplane.io", "kind": "Function"},
        ]
    if cluster_kinds:
        project["spec"]["clusterResourceWhitelist"] = cluster_kinds  # type: ignore[index]
    root = {
        "apiVersion": API,
        "kind": "Application",
        # the root app reads the argocd/ folder and its subfolders only
        "metadata": {**_meta(platform, ROOT_APP, {}), "annotations": {GENERATE_PATHS: "."}},
        "spec": {
            "project": PLATFORM_PROJECT,
            "source": {"repoURL": platform.repo_url, "targetRevision": platform.target_revision,
                       "path": f"{platform.gitops_path}/argocd", "directory": {"recurse": True}},
            "destination": {"server": IN_CLUSTER, "namespace": ns},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }
    return [project, root]
