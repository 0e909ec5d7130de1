"""Stage 4: render the whole output tree in memory (relative path -> bytes).

Bases come from the golden-path templates, overlays and Argo CD objects from the
resolved targets. Nothing here touches the filesystem, so a whole tree is testable
without one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from . import merge, workloads, yamlio
from .deep import MERGER
from .errors import InputError, Problem
from .index import (
    INDEX,
    Index,
    Services,
    Summary,
    digest,
    file_digest,
    generator_digest,
    owner,
    serialize,
    service_inputs,
)
from .load import CROSSPLANE_DIR, ENVIRONMENTS_DIR, PLATFORM_FILE, SERVICES_DIR, STARTER_FILE, TEMPLATES_DIR
from .model import Cluster, Platform, Service, Target, Team, connection_env_prefix
from .outputs import argocd, catalog, codeowners, crossplane, editor, guardrails, kustomize, runtime
from .outputs import labels as L
from .renderers import TemplateFailure, entries, worker
from .scope import check_kinds, cluster_scoped, group_of, team_resources
from .validate import Facts, cross_check
from .yamlio import Located

__all__ = ["MANIFEST", "Kept", "Rendered", "Reuse", "assemble", "cross_neighbours", "cross_problems", "manifest",
           "platform_files", "render", "render_bases", "render_services", "render_shared", "render_tree",
           "repo_files", "reuse", "sample_digests", "sample_problems", "summarize", "template_of"]

#: The file that marks a folder as platform-gen's output and lists what it wrote.
MANIFEST = ".platform-gen.yaml"


def health_lua() -> str:
    """The Argo CD health check of claims and namespaced XRs (package data, not user input)."""
    return (resources.files("platform_gen") / "data" / "crossplane_health.lua").read_text(encoding="utf-8")


class Packed(Mapping[str, bytes]):
    """Files held zlib-compressed in memory (YAML shrinks about tenfold), given back whole on access:
    a tree of 80,000 files is rendered without holding its 150 MB at once. ``plain`` files are kept
    as they are; iteration is in path order."""

    def __init__(self, packed: dict[str, bytes], plain: dict[str, bytes]) -> None:
        self._packed = packed
        self._plain = plain
        self._keys = sorted({*packed, *plain})

    def __getitem__(self, rel: str) -> bytes:
        if rel in self._plain:
            return self._plain[rel]
        return zlib.decompress(self._packed[rel])

    def __contains__(self, rel: object) -> bool:
        return rel in self._plain or rel in self._packed

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def pack(data: bytes) -> bytes:
    """A file's bytes for :class:`Packed` (fast compression: the point is memory, not size)."""
    return zlib.compress(data, 1)


class Kept(Set[str]):
    """The files of the tree taken as they are, without listing them: those of the services ``services``
    (each service's from its summary, parsed when asked) and the platform-wide files ``shared``."""

    def __init__(self, services: Mapping[str, Summary], shared: Iterable[str] = ()) -> None:
        self._services = Services.of(services)
        self._shared = frozenset(shared)

    def __contains__(self, rel: object) -> bool:
        if rel in self._shared:
            return True
        name = owner(rel) if isinstance(rel, str) else None
        return name is not None and name in self._services and rel in self._services[name].files

    def __iter__(self) -> Iterator[str]:
        yield from sorted(self._shared)
        for name in self._services:
            yield from self._services[name].files

    def __len__(self) -> int:
        return len(self._shared) + self._services.file_count()


@dataclass(frozen=True)
class Reuse:
    """What a render takes of the previous tree as it is, besides the files of the services it did not render
    again: its platform-wide files (``shared``: when they are made from the same inputs and the same facts of
    every service) and its manifest (``manifest``: when the tree lists the same files; its digest, as the
    previous index records it, is ``manifest_digest``)."""

    shared: tuple[str, ...] | None = None
    manifest: bytes | None = None
    manifest_digest: str = ""


@dataclass(frozen=True)
class Rendered:
    """The rendered tree and the targets it was made from."""

    files: Mapping[str, bytes]
    targets: tuple[Target, ...]  # of the services rendered (not of those kept as they were)
    # files platform-gen owns outside the output tree, relative to the platform repo's root (CODEOWNERS, the
    # editor schemas)
    repo_files: dict[str, bytes] = field(default_factory=dict)
    index: Index | None = None
    # files of the tree that were not rendered again: the previous render's, trusted as they are
    keep: Set[str] = frozenset()
    keep_services: frozenset[str] = frozenset()  # the services they belong to
    rendered_services: tuple[str, ...] = ()  # the services rendered (when ``targets`` is not kept)

    def apps(self, platform: Platform) -> dict[str, tuple[str, str]]:
        """Every Application of the tree: its environment and namespace."""
        assert self.index is not None
        return self.index.apps()


def _header(*inputs: str) -> str:
    return "# Generated by platform-gen from " + ", ".join(inputs) + ". Do not edit.\n"


def _connections(service: Service) -> list[dict[str, Any]]:
    """The connection Secrets a service's workload reads; optional where not in every environment."""
    return [{"name": name, "kind": kind, "secretName": f"{name}-credentials",
             "envPrefix": connection_env_prefix(name),
             "optional": len(envs) < len(service.placements)} for name, kind, envs in service.claimed()]


def _context(platform: Platform, service: Service, values: dict[str, Any]) -> dict[str, Any]:
    team = platform.teams[service.team]
    vals = dict(values)
    vals["env"] = {k: v if isinstance(v, str) else str(v) for k, v in (values.get("env") or {}).items()}
    return {
        "service": {"name": service.name, "team": service.team, "description": service.description,
                    "tier": service.tier, "namespace": team.namespace},
        "platform": {"organization": platform.organization},
        "values": vals,
        "labels": {L.NAME: service.name},
        "infrastructure": _connections(service),
    }


def _check_objects(service: Service, template: str, entry: str, objects: list[Any],
                   scoped: frozenset[tuple[str, str]] = frozenset(),
                   allowed: frozenset[tuple[str, str]] | None = None) -> list[Problem]:
    where = f"{TEMPLATES_DIR}/{template}/{entry}"
    problems = []
    seen: set[tuple[str, str]] = set()
    for i, obj in enumerate(objects):
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not (isinstance(obj, dict) and isinstance(obj.get("apiVersion"), str) and isinstance(obj.get("kind"), str)
                and isinstance(meta, dict) and isinstance(meta.get("name"), str)):
            problems.append(Problem(where, 0, 0, f"[{i}]", f"rendered document {i + 1} for service "
                                    f"'{service.name}' is not a Kubernetes object",
                                    "each document needs apiVersion, kind and metadata.name"))
            continue
        key = (obj["kind"], meta["name"])
        if key in seen:
            problems.append(Problem(where, 0, 0, "", f"{obj['kind']} '{meta['name']}' is rendered twice"))
        seen.add(key)
        if "namespace" in meta:
            problems.append(Problem(where, 0, 0, "metadata.namespace",
                                    f"{obj['kind']} '{meta['name']}' sets a namespace",
                                    "the overlays set the team's namespace; leave it out of templates"))
    return problems + check_kinds(template, entry, objects, scoped, allowed)


def _stopped(platform: Platform, outcome: worker.Outcome) -> tuple[str, str]:
    """Message and hint for a render that ran out of budget or crashed."""
    budget = platform.budget
    if outcome.stopped == "time":
        return (f"the template exceeded the time budget of {budget.seconds:g} s",
                "look for a loop or recursion that does not end or runs too long; the budget is "
                f"limits.templateSeconds in {PLATFORM_FILE}")
    if outcome.stopped == "memory":
        return (f"the template exceeded the memory budget of {budget.memory_mib} MiB",
                "look for a loop, fold or recursion that builds ever larger values; the budget is "
                f"limits.templateMemoryMiB in {PLATFORM_FILE}")
    return (f"the template renderer stopped unexpectedly ({outcome.detail})",
            "simplify the template around the failing service's values")


def _collect(platform: Platform, template: str, entry: str, services: list[Service], outcome: worker.Outcome
             ) -> tuple[dict[str, list[Any]], list[Problem]]:
    """The objects an entry file rendered per service, and its problems, each naming its service."""
    out: dict[str, list[Any]] = {}
    problems: list[Problem] = []
    for i, result in sorted(outcome.results.items()):
        if isinstance(result, TemplateFailure):
            during = f"while rendering service '{services[i].name}'"
            problems.append(Problem(f"{TEMPLATES_DIR}/{template}/{result.file}", result.line, result.column, "",
                                    result.message, f"{result.hint}; {during}" if result.hint else during))
        else:
            out[services[i].name] = result
    if outcome.stopped is not None:
        message, hint = _stopped(platform, outcome)
        problems.append(Problem(f"{TEMPLATES_DIR}/{template}/{entry}", 0, 0, "",
                                f"{message} while rendering service '{services[outcome.at].name}'", hint))
    return out, problems


def _finish_base(service: Service, template: str, produced: list[tuple[str, list[Any]]],
                 scoped: frozenset[tuple[str, str]], allowed: frozenset[tuple[str, str]] | None,
                 complete: bool = True
                 ) -> tuple[list[dict[str, Any]], list[Problem]]:
    objects: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for entry, objs in produced:
        problems.extend(_check_objects(service, template, entry, objs, scoped, allowed))
        objects.extend(o for o in objs if isinstance(o, dict))
    # an entry that failed for this service has its own problem; its missing workload is no news
    if complete and not problems and not workloads.app_kinds(objects):
        problems.append(Problem(f"{TEMPLATES_DIR}/{template}", 0, 0, "",
                                "the template renders no workload (Deployment, StatefulSet, CronJob or Job) with "
                                f"a container named '{workloads.APP_CONTAINER}'",
                                "overlays patch the image, resources and env of that container, the replicas of a "
                                "Deployment or StatefulSet and the schedule of a CronJob"))
    objects.sort(key=_object_order)
    return objects, problems


def _object_order(obj: dict[str, Any]) -> tuple[str, str]:
    # also for documents that are not objects (already problems): a kind of -.inf must not crash
    meta = obj.get("metadata")
    return str(obj.get("kind", "")), str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _claim_kinds(platform: Platform) -> list[tuple[str, str]]:
    return [(group_of(k.api_version), k.kind) for k in platform.infra_kinds.values()]


#: The values of the sample service that renders every template, used or not (README "Every template is
#: checked"): under the platform defaults, which are under the template's starter.yaml, so a broken golden
#: path fails in the pull request that changes it rather than in the first service's.
SAMPLE = "sample"
_SAMPLE_VALUES: dict[str, Any] = {
    "image": "registry.example.com/sample", "tag": "1.0.0", "port": 8080, "replicas": 1, "healthPath": "/healthz",
    "env": {"LOG_LEVEL": "info"}, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    "schedule": "0 3 * * *",
}


def _samples(platform: Platform, templates: Iterable[str]) -> tuple[list[Service], dict[str, dict[str, Any]]]:
    """A sample service (and its base values) for each of ``templates``."""
    services, values = [], {}
    team = min(platform.teams)
    taken = {s.name for s in platform.services}
    for template in sorted(templates):
        name = f"{SAMPLE}-{template}"
        while name in taken:  # a service of that name renders beside it
            name += f"-{SAMPLE}"
        services.append(Service(name=name, team=team, description="a sample service", tier="", template=template,
                                file=f"{TEMPLATES_DIR}/{template}", top=platform.defaults, env_layers={},
                                cluster_layers={}, placements={}))
        vals = copy.deepcopy(_SAMPLE_VALUES)
        MERGER.merge(vals, copy.deepcopy(platform.defaults.data))
        MERGER.merge(vals, copy.deepcopy(platform.starters.get(template, {})))
        values[name] = vals
    return services, values


def render_bases(platform: Platform, values: dict[str, dict[str, Any]], sampled: Iterable[str] = ()
                 ) -> tuple[dict[str, list[dict[str, Any]]], list[Problem]]:
    """Render every service's template with its base ``values``, a batch per template file, in a worker.

    Each template of ``sampled`` is rendered for a sample service too (checked, never written).
    """
    problems: list[Problem] = []
    samples, sample_values = _samples(platform, sampled)
    values = {**values, **sample_values}
    produced: dict[str, list[tuple[str, list[Any]]]] = {s.name: [] for s in (*platform.services, *samples)}
    by_template: dict[str, list[Service]] = {}
    incomplete: set[str] = set()
    for service in (*platform.services, *samples):
        by_template.setdefault(service.template, []).append(service)
    # every entry file of every template, rendered in one budgeted worker
    jobs: list[tuple[str, str, list[Service]]] = []
    work: list[worker.Job] = []
    for template, services in sorted(by_template.items()):
        files = platform.templates[template]
        for entry, renderer in entries(files):
            jobs.append((template, entry, services))
            work.append(worker.Job(renderer, template, files, entry,
                                   [_context(platform, s, values[s.name]) for s in services]))
    for (template, entry, services), outcome in zip(jobs, worker.render(work, platform.budget), strict=True):
        results, found = _collect(platform, template, entry, services, outcome)
        problems.extend(found)
        incomplete.update(s.name for s in services if s.name not in results)
        for name, objs in results.items():
            produced[name].append((entry, objs))
    bases: dict[str, list[dict[str, Any]]] = {}
    # only namespaced objects, and with teamResources listed, only those kinds (and the claims)
    scoped = cluster_scoped(platform.crossplane)
    allowed = frozenset(team_resources(platform.team_resources, _claim_kinds(platform), ())) \
        if platform.team_resources else None
    for service in platform.services:
        bases[service.name], found = _finish_base(service, service.template, produced[service.name], scoped,
                                                  allowed, service.name not in incomplete)
        problems.extend(found)
    # the problems of the sample services: those met rendering them name them; those of their objects are
    # told where they were found
    notes = {f"service '{s.name}'": _sample_note(platform, s.template) for s in samples}
    own: list[Problem] = []
    of_samples: list[Problem] = []
    for p in problems:
        q = _for_sample(p, notes)
        (own if q is p else of_samples).append(q)
    for service in samples:  # checked, never rendered into the tree
        _objects, found = _finish_base(service, service.template, produced[service.name], scoped, allowed,
                                       service.name not in incomplete)
        note = _sample_note(platform, service.template)
        of_samples.extend(dataclasses.replace(p, hint=f"{p.hint}; found while rendering {note}" if p.hint
                                              else f"found while rendering {note}") for p in found)
    return bases, [*own, *sample_problems(of_samples, own)]


def template_of(problem: Problem) -> str | None:
    """The template a problem is in (None for a problem of another file)."""
    prefix = TEMPLATES_DIR + "/"
    return problem.file[len(prefix):].split("/", 1)[0] if problem.file.startswith(prefix) else None


def sample_problems(found: Iterable[Problem], others: Iterable[Problem]) -> list[Problem]:
    """The problems ``found`` rendering sample services, but those of a template whose services have problems
    of their own in ``others`` (its golden path is reported broken already)."""
    broken = {template_of(p) for p in others}
    return [p for p in found if template_of(p) not in broken]


def _sample_note(platform: Platform, template: str) -> str:
    """How a problem met while rendering ``template``'s sample service names it."""
    values = (f"the values of {TEMPLATES_DIR}/{template}/{STARTER_FILE}" if template in platform.starters
              else "built-in sample values")
    return f"a sample service ({values} over the platform defaults; every template is checked, used or not)"


def _for_sample(problem: Problem, notes: Mapping[str, str]) -> Problem:
    """Say that a problem met while rendering a sample service is the template's, whatever its services do."""
    for quoted, note in notes.items():
        if quoted in problem.message or quoted in problem.hint:
            return dataclasses.replace(problem, message=problem.message.replace(quoted, note),
                                       hint=problem.hint.replace(quoted, note))
    return problem


def render_services(platform: Platform, samples: Iterable[str] = ()
                    ) -> tuple[dict[str, dict[str, bytes]], dict[str, tuple[tuple[str, str], ...]], list[Target]]:
    """Render each service of ``platform.services``: its files, the kinds of its base, its targets.

    ``samples`` are the templates to check with a sample service (every template whose
    sample render is not recorded yet). Raise InputError with every problem found.
    """
    values = {s.name: merge.base_values_only(platform, s) for s in platform.services}
    bases, problems = render_bases(platform, values, samples)
    if problems:
        raise InputError(problems)
    # the kinds of each base's app workloads: batch work (CronJob, Job) takes other values than a Deployment
    kinds_of = {s.name: workloads.app_kinds(bases[s.name]) for s in platform.services}
    hpa = frozenset(s.name for s in platform.services if not workloads.is_batch(kinds_of[s.name])
                    and any(o["kind"] == "HorizontalPodAutoscaler" for o in bases[s.name]))
    try:
        targets = merge.resolve(platform, hpa, kinds_of)
    except InputError as exc:
        raise InputError(exc.problems, stage="values") from None

    by_service: dict[str, list[Target]] = {}
    for t in targets:
        by_service.setdefault(t.service.name, []).append(t)
    # a value asking for what the base cannot give (a URL without a Service port to send it to)
    found = [p for s in platform.services for p in runtime.route_problems(by_service.get(s.name, []), bases[s.name])]
    if found:
        raise InputError(found, stage="values")
    out: dict[str, dict[str, bytes]] = {}
    kinds: dict[str, tuple[tuple[str, str], ...]] = {}
    for service in platform.services:
        text: dict[str, str] = {}
        tpl = f"{TEMPLATES_DIR}/{service.template}/"
        text.update(kustomize.base_files(service, bases[service.name], _header(service.file, tpl)))
        base_image = values[service.name]["image"]
        mine = by_service.get(service.name, [])
        added_kinds: set[tuple[str, str]] = set()
        for t in mine:
            header = _header(service.file, t.env.file, PLATFORM_FILE)
            path = kustomize.overlay_dir(service.name, t.env.name, t.cluster.name) + "/kustomization.yaml"
            claims = service.claims.get(t.env.name, ())
            extra = runtime.overlay_files(platform, t, bases[service.name])
            text[path] = kustomize.overlay_kustomization(
                platform, t, bases[service.name], base_image, header,
                extra_resources=[*(["infrastructure.yaml"] if claims else []), *extra])
            folder = path[: -len("kustomization.yaml")]
            if claims:
                text[folder + "infrastructure.yaml"] = header + yamlio.dump_all(
                    [crossplane.claim_object(t, c) for c in claims])
            for name, objects in extra.items():
                text[folder + name] = header + yamlio.dump_all(objects)
                added_kinds.update((group_of(str(o["apiVersion"])), str(o["kind"])) for o in objects)
        if mine:
            appset = argocd.application_set(platform, service, mine, service.name in hpa)
            text[f"argocd/applicationsets/{service.name}.yaml"] = (
                _header(service.file, *sorted({t.env.file for t in mine}), PLATFORM_FILE) + yamlio.dump(appset))
        out[service.name] = {k: v.encode() for k, v in sorted(text.items())}
        kinds[service.name] = tuple(sorted({(group_of(str(o["apiVersion"])), str(o["kind"]))
                                            for o in bases[service.name]} | added_kinds))
    return out, kinds, targets


def render_shared(platform: Platform, summaries: Mapping[str, Summary]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The files that belong to no one service (AppProjects, the bootstrap, Crossplane, components, the
    Backstage catalog) and the repo files (CODEOWNERS, the editor schemas), from every service's summary.
    Raise InputError when Backstage would refuse the catalog."""
    text: dict[str, str] = {}
    clusters_of = {c.name: c for e in platform.environments for c in e.clusters}
    env_file = {e.name: e.file for e in platform.environments}
    used = {k for s in summaries.values() for k in s.kinds}
    # the claims and the runtime kinds services use are allowed even when the platform lists teamResources
    team_kinds = team_resources(platform.team_resources, [*_claim_kinds(platform), *(used & runtime.RUNTIME_KINDS)],
                                used)
    namespaces: list[tuple[Team, Cluster]] = []
    for team in sorted(platform.teams):
        mine = [s for s in summaries.values() if s.team == team]
        env_files = sorted({env_file[e] for s in mine for e, cs in s.placements.items() if cs})
        clusters = [clusters_of[c] for s in mine for cs in s.placements.values() for c in cs]
        text[f"argocd/projects/{team}.yaml"] = (
            _header(PLATFORM_FILE, *env_files) + yamlio.dump(argocd.team_project(platform, team, clusters,
                                                                                      team_kinds)))
        # the team's namespace on each cluster it runs on, rendered by the platform (README "Team guardrails")
        for cluster in sorted({c.name: c for c in clusters}.values(), key=lambda c: c.name):
            namespaces.append((platform.teams[team], cluster))
            text.update(guardrails.namespace_files(platform, platform.teams[team], cluster,
                                                   _header(PLATFORM_FILE, env_file[cluster.env])))
    if namespaces:
        text["argocd/platform-namespaces.yaml"] = (
            _header(PLATFORM_FILE, *sorted({env_file[c.env] for _t, c in namespaces}))
            + yamlio.dump(argocd.namespaces_application_set(platform, namespaces, argocd.RETRY)))
    clusters = [c for e in platform.environments for c in e.clusters]
    has_xp = any(isinstance(d.data, dict) for d in platform.crossplane)
    text["argocd/platform.yaml"] = _header(PLATFORM_FILE, *sorted({env_file[c.env] for _t, c in namespaces})) \
        + yamlio.dump_all(argocd.platform_bootstrap(platform, clusters if has_xp else [],
                                                    [(t.namespace, c) for t, c in namespaces]))
    if has_xp:
        xp_header = _header(f"{CROSSPLANE_DIR}/")
        text.update(crossplane.platform_files(platform.crossplane, xp_header))
        text["argocd/platform-crossplane.yaml"] = _header(PLATFORM_FILE, *[e.file for e in platform.environments]) \
            + yamlio.dump(argocd.crossplane_application_set(platform, clusters))
        kinds = sorted((k.api_version.split("/")[0], k.kind) for k in platform.infra_kinds.values())
        text["platform/argocd/argocd-cm-health.yaml"] = (
            "# Argo CD health checks for the platform's claims: a patch of argocd-cm, applied by the\n"
            "# component in this folder (see the README).\n" + xp_header
            + yamlio.dump(crossplane.health_patch(kinds, health_lua())))
        # kustomize loads patch files only from inside a kustomization's folder, but a
        # component may live anywhere: Argo CD's installation lists this folder.
        text["platform/argocd/kustomization.yaml"] = (
            "# Add this folder to the components of your Argo CD installation's kustomization.\n" + xp_header
            + yamlio.dump({"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component",
                           "patches": [{"path": "argocd-cm-health.yaml",
                                        "target": {"version": "v1", "kind": "ConfigMap", "name": "argocd-cm"}}]}))

    # the Backstage catalog (README "Seeing your service in Backstage"): refused when Backstage would refuse it
    catalog_text, entities = catalog.catalog_files(platform, summaries)
    problems = catalog.check(entities, _located(platform))
    if problems:
        raise InputError(problems)
    text.update(catalog_text)

    files = {k: v.encode() for k, v in text.items()}
    for env in platform.environments:
        if env.name in platform.components:
            files.update(kustomize.component_files(
                env.name, platform.components[env.name], _header(f"overlays/{env.name}/", f"{ENVIRONMENTS_DIR}/")))
    return dict(sorted(files.items())), repo_files(platform, summaries)


def repo_files(platform: Platform, summaries: Mapping[str, Summary]) -> dict[str, bytes]:
    """The files platform-gen owns outside the tree: CODEOWNERS (from every service's team), when platform.yaml
    declares it, and the editor schemas, when the repo keeps them (it has a ``schemas/`` folder)."""
    out = editor.editor_schema_files(platform) if platform.editor_schemas else {}
    if platform.codeowners is None:
        return out
    teams = summaries.teams() if isinstance(summaries, Services) else {n: s.team for n, s in summaries.items()}
    out[platform.codeowners.path] = codeowners.codeowners(
        platform, platform.codeowners, [(name, teams[name]) for name in summaries]).encode()
    return dict(sorted(out.items()))


def platform_files(platform: Platform, summaries: Mapping[str, Summary], reused: Reuse
                   ) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The platform-wide files of the tree to compare and write (none when ``reused`` takes them as they
    are) and the repo files (CODEOWNERS and the editor schemas, made every time)."""
    if reused.shared is None:
        return render_shared(platform, summaries)
    return {}, repo_files(platform, summaries)


def reuse(platform: Platform, previous: Index, summaries: Services, rendered: Collection[str],
          suspects: Collection[str], read_manifest: Callable[[], bytes | None]) -> Reuse:
    """What of ``previous``'s tree ``assemble`` may take as it is, for the services ``summaries`` of which
    ``rendered`` were rendered again. ``suspects``: files of the tree edited since the git base (a platform-wide
    one among them is made again); ``read_manifest`` gives the manifest on disk, taken when its digest is the
    one ``previous`` recorded."""
    old = previous.entries
    same_services = summaries.same_names(old)
    shared: tuple[str, ...] | None = None
    platform_wide = set(previous.shared_files) - {MANIFEST, INDEX}
    if same_services and previous.shared == platform.inputs.digest() and not platform_wide & set(suspects):
        for name in rendered:
            a, b = old[name], summaries[name]
            if (a.team, a.placements, a.kinds, a.catalog()) != (b.team, b.placements, b.kinds, b.catalog()):
                break
        else:
            shared = tuple(sorted(platform_wide))
    found: bytes | None = None
    if shared is not None and all(old[name].files == summaries[name].files for name in rendered):
        data = read_manifest()
        found = data if data is not None and file_digest(data) == previous.manifest else None
    return Reuse(shared, found, previous.manifest if found is not None else "")


def cross_neighbours(platform: Platform, fresh: Iterable[Facts], kept: Services, gone: Collection[str] = ()
                     ) -> list[str]:
    """The services of ``kept`` that the rules spanning services could find in conflict with the services
    ``fresh``: those that may produce one of their Application names; for a service with claims, those of
    its team (its namespace); for a service with URLs, those whose index line names one of its hosts (they
    may take the same URL); those whose consumesApis names one of them (it may no longer provide the API); and
    with services ``gone`` (deleted or renamed), those whose allowFrom, dependsOn or consumesApis names one.
    With the platform-wide inputs unchanged, conflicts among the kept services were ruled out by the render
    that wrote them, so these and ``fresh`` are all the rules need to see."""
    clusters = sorted({c.name for e in platform.environments for c in e.clusters})
    fresh = list(fresh)
    found: set[str] = set()
    teams: set[str] = set()
    hosts: set[str] = set()
    for f in fresh:
        hosts.update(host for _cluster, host, _path in f.routes)
        if f.claims:
            teams.add(f.team)
        for cs in f.placements.values():
            for c in cs:
                app = f"{f.name}-{c}"
                for d in clusters:
                    if app.endswith("-" + d) and app[:-len(d) - 1] in kept:
                        found.add(app[:-len(d) - 1])
    if teams:
        found.update(n for n, team in kept.teams().items() if team in teams)
    if hosts:  # a host is written in a line as a JSON string: lines without it hold no such URL
        needles = [json.dumps(h, ensure_ascii=False).encode() for h in sorted(hosts)]
        for needle in needles:
            found |= kept.holding(needle)
    if gone:
        # rare (a service removed): each kept service's allowFrom, dependsOn and consumesApis are read from its line
        lost = set(gone)
        found.update(n for n in kept if lost.intersection(kept[n].allow_from)
                     or lost.intersection(Facts.of_summary(kept[n]).named()))
    # a service rendered again may have lost the API another consumes: those that consume any (rare) are read
    names = {f.name for f in fresh}
    found.update(n for n in sorted(kept.holding(b'"consumesApis":')) if n not in found
                 and names.intersection(Facts.of_summary(kept[n]).named()))
    return sorted(found)


#: A path that YAML reads as the same plain string, whatever the resolver: it has a '/', so it is
#: never a number, boolean or null, and holds none of YAML's indicators.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*/[A-Za-z0-9_./-]*\Z")


def manifest(files: Iterable[str]) -> bytes:
    """The manifest: the mark of platform-gen's folder, listing every file it wrote (sorted).

    Byte-identical to ``yamlio.dump`` of the same document (a test proves it); plain
    paths are written directly, as a tree of 80,000 files lists 80,000 of them.
    """
    lines = ["# This folder is written by platform-gen render; do not edit it by hand.\n",
             "generator: platform-gen\nfiles:\n"]
    listed = sorted(files)
    if not listed:
        return ("# This folder is written by platform-gen render; do not edit it by hand.\n"
                + yamlio.dump({"generator": "platform-gen", "files": []})).encode()
    for path in listed:
        lines.append(f"- {path}\n" if _PLAIN_PATH.match(path) else yamlio.dump({"x": [path]})[3:])
    return "".join(lines).encode()


def _doc_of(platform: Platform) -> Callable[[str], Located]:
    if platform.doc_of is not None:
        return platform.doc_of
    return {s.name: s.top.doc for s in platform.services}.__getitem__


def _located(platform: Platform) -> Callable[[str], Located | None]:
    """An input file parsed, by path: a service's config.yaml, platform.yaml or an environment file."""
    doc_of = _doc_of(platform)
    env_docs = {e.file: e.defaults.doc for e in platform.environments}

    def located(file: str) -> Located | None:
        if file == PLATFORM_FILE:
            return platform.defaults.doc
        if file in env_docs:
            return env_docs[file]
        parts = file.split("/")
        if file.startswith(SERVICES_DIR + "/") and len(parts) == len(SERVICES_DIR.split("/")) + 2:
            try:
                return doc_of(parts[-2])
            except (KeyError, InputError):
                return None
        return None

    return located


def render(platform: Platform) -> Rendered:
    """Render the complete tree; raise InputError with every problem found."""
    return render_tree(platform, {})


def summarize(platform: Platform, produced: Mapping[str, dict[str, bytes]],
              kinds: Mapping[str, tuple[tuple[str, str], ...]], targets: Iterable[Target] = ()
              ) -> dict[str, Summary]:
    """The index entries of ``platform.services``, rendered into ``produced`` from ``targets``."""
    shared = platform.inputs
    by_service: dict[str, list[Target]] = {}
    for t in targets:
        by_service.setdefault(t.service.name, []).append(t)
    summaries: dict[str, Summary] = {}
    for svc in platform.services:
        config = platform.digests.get(svc.file, "")
        envs = tuple(sorted(svc.placements))
        own = produced[svc.name]
        summaries[svc.name] = Summary(
            name=svc.name, team=svc.team, template=svc.template, file=svc.file,
            namespace=platform.teams[svc.team].namespace, config=config,
            inputs=service_inputs(shared, config, svc.template, envs, svc.features), envs=envs,
            placements=dict(sorted(svc.placements.items())), kinds=kinds[svc.name],
            claims=svc.claimed(), files=tuple(own), out=digest(*(p for kv in own.items() for p in kv)),
            retire=svc.retire, routes=runtime.routes_of(by_service.get(svc.name, [])), allow_from=svc.callers(),
            description=svc.description, tier=svc.tier, system=svc.system, depends_on=svc.depends_on,
            consumes_apis=svc.consumes_apis, features=svc.features)
    return summaries


def sample_digests(platform: Platform) -> dict[str, str]:
    """Every template, with the digest of what its sample render reads (platform.yaml, the Crossplane files
    and the template's own files, its starter.yaml included): the render index records it, and a template is
    checked again only when it changes."""
    shared = platform.inputs
    return {t: digest(shared.platform, shared.crossplane, shared.templates.get(t, ""))
            for t in sorted(platform.templates)}


def cross_problems(platform: Platform, facts: Iterable[Facts], names: Collection[str] | None = None
                   ) -> list[Problem]:
    """The rules that span services, over the services ``facts`` (every service of the platform, unless
    ``names`` lists them all)."""
    return cross_check(sorted(facts, key=lambda f: f.name), platform.teams,
                       [c.name for e in platform.environments for c in e.clusters], _doc_of(platform), names,
                       platform.features)


def assemble(platform: Platform, summaries: Mapping[str, Summary], files: dict[str, bytes],
             kept: Mapping[str, Summary], samples: dict[str, str], targets: Iterable[Target] = (), *,
             packed: bool = False, reused: Reuse = Reuse()) -> Rendered:
    """The tree from the services' files (``files``, of the services rendered; ``packed`` when they are
    compressed with :func:`pack`), every service's summary and the platform-wide files, the index and
    the manifest made from them (or taken as they are, as ``reused`` says)."""
    summaries = Services.of(summaries)
    shared_files, repos = platform_files(platform, summaries, reused)
    plain = dict(shared_files)
    keep = Kept(kept, reused.shared or ())
    plain[MANIFEST] = reused.manifest if reused.manifest is not None else manifest([*files, *plain, *keep, INDEX])
    index = Index(generator_digest(), summaries, tuple(sorted((*shared_files, *(reused.shared or ()), MANIFEST))),
                  samples, platform.inputs.digest(), reused.manifest_digest or file_digest(plain[MANIFEST]))
    plain[INDEX] = serialize(index)
    tree: Mapping[str, bytes] = Packed(files, plain) if packed else dict(sorted({**files, **plain}.items()))
    return Rendered(tree, tuple(targets), repos, index, keep, frozenset(kept))


def render_tree(platform: Platform, kept: Mapping[str, Summary], previous: Index | None = None) -> Rendered:
    """Render ``platform.services`` and take the services of ``kept`` from the previous index as they are.

    The platform-wide files, the manifest and the index come from every service's
    summary, so an incremental render and a full one make the same tree. Raise
    InputError with every problem found, the rules that span services included.
    """
    digests = sample_digests(platform)
    old_samples = previous.samples if previous is not None else {}
    produced, kinds, targets = render_services(platform, [t for t, d in digests.items()
                                                          if old_samples.get(t) != d])
    summaries = {**kept, **summarize(platform, produced, kinds, targets)}
    problems = cross_problems(platform, map(Facts.of_summary, summaries.values()))
    if problems:
        raise InputError(problems)
    files: dict[str, bytes] = {}
    for own in produced.values():
        files.update(own)
    return assemble(platform, summaries, files, kept, digests, targets)
