"""``platform-gen diff``: what the working tree changes in the rendered tree, against a git ref.

Both sides are compiled in memory (load, validate, render): the base from the
inputs at the ref (extracted by :mod:`generator.gitref`, never touching the
checkout), the head from the inputs on disk. Only the applications whose inputs
differ are built with kustomize, many overlays per kustomize run (see
:func:`_batched`); their objects are compared by (API group, kind, namespace, name).
The Argo CD objects of ``argocd/`` are compared as they are, so a project or
sync-policy change shows even when no manifest does.

When the tree committed at the ref carries a render index written by this very
generator, neither side is rendered in full: the base takes the committed files of
every service whose inputs and files still match the index (the others are
rendered), and the head renders only the services whose inputs differ from the
base's, taking every other file from the base. Services whose files are then the
same bytes on both sides are counted unchanged without being parsed. Without such
an index (or with ``full``) both sides are rendered in full; the result is the same.

Risky changes are flagged first: an application or namespace removed, any prod
change, a Crossplane claim removed or its parameters changed (data loss), an
AppProject changed, a new service or one changing team (both name the teams).
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import functools
import json
import os
import posixpath
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import yamlio
from .errors import InputError, ToolError
from .gitref import Base, Checkout, export_inputs, locate, read_files, resolve_base
from .index import INDEX, Index, digest, generator_digest
from .index import parse as parse_index
from .kustomize_tool import Kustomize, find_kustomize
from .load import ENVIRONMENTS_DIR, OVERLAYS_DIR, PLATFORM_FILE, Sources, load, load_shared
from .model import Platform
from .outputs import labels as L
from .render import MANIFEST, render
from .validate import validate

__all__ = [
    "MARKDOWN_LIMIT",
    "AppChange",
    "Application",
    "Flag",
    "ObjectDiff",
    "Result",
    "Tree",
    "compare",
    "format_json",
    "format_markdown",
    "format_text",
    "kustomize_builder",
    "result_json",
    "run_diff",
    "tree_of",
]

#: GitHub caps a comment at 65,536 characters; the markdown stays below with room to spare.
MARKDOWN_LIMIT = 65_000
#: The input folders of a platform repo (everything ``load`` reads).
INPUT_DIRS = ("platform-config", ENVIRONMENTS_DIR, OVERLAYS_DIR)
BUILD_WORKERS = 4
#: Folders in memory that may hold the diff's temporary files, and the room one must have left.
MEMORY_DIRS = ("/dev/shm",)
MEMORY_ROOM = 256 << 20
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ARGO_GROUP = "argoproj.io"

#: (API group, kind, namespace, name) of a Kubernetes object.
Key = tuple[str, str, str, str]

#: Flag ids in the order they are shown, with the reason each one matters.
FLAG_REASONS: dict[str, str] = {
    "app-removed": "Argo CD deletes the Application; what it deployed is no longer managed",
    "service-retired": "once its applications are removed, Argo CD deletes what they deployed, "
                       "claims (and their cloud resources) included",
    "namespace-removed": "no application targets this namespace on the cluster any more",
    "prod-change": "production changes; prod syncs may be manual, check before pressing sync",
    "claim-removed": "the cloud resource behind the claim may be deleted with it: risk of data loss",
    "claim-parameters-changed": "the cloud resource may be modified or replaced: risk of data loss",
    "appproject-changed": "changes who may deploy what, and where",
    "owner-changed": "the owning team's AppProject, namespace, groups and code owners govern the service: "
                     "check that the owner is right",
}


@dataclass(frozen=True)
class Application:
    """One Argo CD Application, as an ApplicationSet list element generates it."""

    name: str
    service: str  # the ApplicationSet's name
    team: str
    env: str
    cluster: str
    namespace: str
    path: str  # the source folder, relative to the rendered tree
    definition: str  # the ApplicationSet reduced to this element, to notice changes of the Application itself


@dataclass(frozen=True)
class Tree:
    """One side of the diff: the rendered files and what they declare."""

    platform: Platform | None
    files: dict[str, bytes]
    apps: dict[str, Application]
    argocd: dict[Key, dict[str, Any]]
    owners: dict[str, str] = field(default_factory=dict)  # service -> its team

    @functools.cached_property
    def paths(self) -> list[str]:
        """The file paths, sorted."""
        return sorted(self.files)


@dataclass(frozen=True)
class Settled:
    """Services whose files are the same bytes on both sides, left out of both trees: their
    applications are unchanged, and only their namespaces may matter (a namespace still in use)."""

    apps: int  # their applications
    namespaces: Callable[[], set[tuple[str, str]]]  # (cluster, namespace) of those applications


@dataclass(frozen=True)
class ObjectDiff:
    """One Kubernetes object added, removed or changed, with its unified YAML diff."""

    key: Key
    change: str  # added, removed, changed
    diff: str

    @property
    def label(self) -> str:
        """``Kind.group namespace/name``."""
        return _label(self.key)


@dataclass(frozen=True)
class AppChange:
    """An application that is added, removed or changed."""

    app: Application  # the working tree's, or the base's when removed
    change: str  # added, removed, changed
    objects: tuple[ObjectDiff, ...]
    definition: bool  # the Application itself (source, destination, sync policy, ...) changed

    def counts(self) -> dict[str, int]:
        """Objects per kind of change."""
        return {c: sum(1 for o in self.objects if o.change == c) for c in ("added", "changed", "removed")}

    def describe(self) -> str:
        """A short summary, e.g. ``1 object changed, Application changed``."""
        if self.change != "changed":
            n = len(self.objects)
            return f"{self.change} ({n} object{'s' if n != 1 else ''})"
        parts = [f"{n} object{'s' if n != 1 else ''} {c}" for c, n in self.counts().items() if n]
        if self.definition:
            parts.append("Application changed")
        return ", ".join(parts)


@dataclass(frozen=True, order=True)
class Flag:
    """A change that needs a reviewer's attention."""

    id: str
    message: str

    @property
    def reason(self) -> str:
        """Why this kind of change matters."""
        return FLAG_REASONS[self.id]


@dataclass(frozen=True)
class Result:
    """Everything the diff found, in display order."""

    base: Base
    base_empty: bool
    flags: tuple[Flag, ...]
    apps: tuple[AppChange, ...]
    unchanged: int
    argocd: tuple[ObjectDiff, ...]

    @property
    def empty(self) -> bool:
        """True when nothing changes."""
        return not (self.apps or self.argocd)


# --- one side -----------------------------------------------------------------------------------


def _key(obj: dict[str, Any]) -> Key:
    api = str(obj.get("apiVersion") or "")
    meta = _mapping(obj.get("metadata"))
    return (api.rsplit("/", 1)[0] if "/" in api else "", str(obj.get("kind") or ""),
            str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _label(key: Key) -> str:
    group, kind, namespace, name = key
    return (f"{kind}.{group}" if group else kind) + " " + (f"{namespace}/{name}" if namespace else name)


def _objects(text: str) -> dict[Key, dict[str, Any]]:
    return {_key(d): d for d in yamlio.safe_load_all(text) if isinstance(d, dict)}


_PLACEHOLDER = re.compile(r"\{\{\s*\.([A-Za-z0-9_]+)\s*\}\}")


def _fill(template: Any, element: dict[str, Any]) -> str:
    """Substitute ``{{.key}}`` of a goTemplate string with the element's values."""
    if not isinstance(template, str):
        return ""
    return _PLACEHOLDER.sub(lambda m: str(element.get(m[1], m[0])), template)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dig(obj: Any, *path: str) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _pick(own: dict[str, Any], spec: dict[str, Any], *path: str) -> Any:
    """A field of the generator's own template, else of the ApplicationSet's template."""
    found = _dig(own, *path)
    return found if found is not None else _dig(spec, "template", *path)


def _applications(argocd: dict[Key, dict[str, Any]], gitops_path: str) -> dict[str, Application]:
    """The Applications of every ApplicationSet list element."""
    apps: dict[str, Application] = {}
    for key, appset in sorted(argocd.items()):
        if key[:2] != (ARGO_GROUP, "ApplicationSet"):
            continue
        spec = _mapping(appset.get("spec"))
        labels = _dig(appset, "metadata", "labels") or {}
        for generator in spec.get("generators") or []:
            lst = _dig(generator, "list")
            if not isinstance(lst, dict):
                continue
            own = _mapping(lst.get("template"))
            for element in lst.get("elements") or []:
                if not isinstance(element, dict):
                    continue
                pick = functools.partial(_pick, own, spec)
                name = _fill(pick("metadata", "name"), element) or str(element.get("app", ""))
                path = _fill(pick("spec", "source", "path"), element)
                if gitops_path and path.startswith(gitops_path.rstrip("/") + "/"):
                    path = path[len(gitops_path.rstrip("/")) + 1:]
                reduced = {**appset, "spec": {**spec, "generators": [{"list": {**lst, "elements": [element]}}]}}
                apps[name] = Application(
                    name=name,
                    service=key[3],
                    team=str(labels.get(L.TEAM) or pick("spec", "project") or ""),
                    env=str(element.get("env", "")),
                    cluster=str(element.get("cluster") or _fill(pick("spec", "destination", "server"), element)),
                    namespace=_fill(pick("spec", "destination", "namespace"), element),
                    path=path.strip("/"),
                    definition=yamlio.dump(reduced),
                )
    return apps


def _argocd(files: dict[str, bytes], skip: frozenset[str] = frozenset()) -> dict[Key, dict[str, Any]]:
    """The Argo CD objects of the tree's ``argocd/`` files (but those of ``skip``), in path order."""
    argocd: dict[Key, dict[str, Any]] = {}
    for path in sorted(files):
        if path.startswith("argocd/") and path.endswith((".yaml", ".yml")) and path not in skip:
            argocd.update(_objects(files[path].decode("utf-8")))
    return dict(sorted(argocd.items()))


def _tree(platform: Platform, files: dict[str, bytes], owners: dict[str, str],
          skip: frozenset[str] = frozenset()) -> Tree:
    argocd = _argocd(files, skip)
    return Tree(platform, files, _applications(argocd, platform.gitops_path), argocd, owners)


def tree_of(platform: Platform | None) -> Tree:
    """Render ``platform`` (None: an empty base) and index what the tree declares."""
    if platform is None:
        return Tree(None, {}, {}, {})
    return _tree(platform, dict(render(platform).files), {s.name: s.team for s in platform.services})


def _compile(root: Path, where: str) -> Tree:
    """load, validate and render; problems of the base side name the ref they were found at."""
    try:
        return tree_of(validate(load(root)))
    except InputError as exc:
        if not where:
            raise
        raise InputError(dataclasses.replace(p, file=f"{where}:{p.file}") for p in exc.problems) from None


def _scratch() -> str | None:
    """Where the diff's temporary folders go: a folder in memory with room to spare, else (or when
    ``TMPDIR`` is set) the system's temporary folder.

    The base's inputs are a thousand folders at a thousand services, written, read once and
    removed again; on a disk that discards freed blocks, writing and removing them took 2.2 s of a
    4.5 s diff, in memory 0.07 s (issue 9).
    """
    if os.environ.get("TMPDIR"):
        return None
    for folder in MEMORY_DIRS:
        try:
            fs = os.statvfs(folder)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK) and fs.f_bavail * fs.f_frsize >= MEMORY_ROOM:
            return folder
    return None


# --- what to build ------------------------------------------------------------------------------


def _under(paths: list[str], folder: str) -> list[str]:
    prefix = folder.rstrip("/") + "/"
    i = bisect.bisect_left(paths, prefix)
    out = []
    while i < len(paths) and paths[i].startswith(prefix):
        out.append(paths[i])
        i += 1
    return out


def _inputs(tree: Tree, paths: list[str], folder: str, seen: set[str] | None = None) -> set[str]:
    """The files a kustomize build of ``folder`` reads: its own and those its kustomization refers to."""
    seen = set() if seen is None else seen
    if folder in seen:
        return set()
    seen.add(folder)
    out = set(_under(paths, folder))
    text = next((tree.files[f"{folder}/{n}"] for n in KUSTOMIZATION_FILES if f"{folder}/{n}" in tree.files), None)
    if text is None:
        return out
    try:
        doc = yamlio.safe_load(text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return out
    refs: list[Any] = []
    if isinstance(doc, dict):
        for field in ("resources", "components", "patchesStrategicMerge", "crds"):
            if isinstance(doc.get(field), list):
                refs.extend(doc[field])
        refs.extend(p.get("path") for p in doc.get("patches") or [] if isinstance(p, dict))
    for ref in refs:
        if not isinstance(ref, str):
            continue
        target = posixpath.normpath(posixpath.join(folder, ref))
        if target in tree.files:
            out.add(target)
        else:
            out |= _inputs(tree, paths, target, seen)
    return out


def _same_inputs(base: Tree, head: Tree, a: Application, b: Application) -> bool:
    if a.path != b.path:
        return False
    old, new = _inputs(base, base.paths, a.path), _inputs(head, head.paths, b.path)
    return old == new and all(base.files[f] == head.files[f] for f in old)


Builder = Callable[[dict[tuple[str, str], Tree]], dict[tuple[str, str], dict[Key, dict[str, Any]]]]
Built = dict[tuple[str, str], dict[Key, dict[str, Any]]]

#: Jobs per batched kustomize run (see :func:`_batched`); validate finds the cost of each overlay
#: growing past a hundred (``consumers.BATCH``).
BATCH = 100
#: Starts the name prefix that tells a batch's overlays apart; no input file of a batch may contain it.
BATCH_MARK = "zz-platform-gen-diff-"
#: The kustomization fields a batched build may meet: nothing that generates names (a generator's hash
#: covers the prefixed name) or copies them into other fields (replacements, vars), where the prefix
#: could not be taken back out. Any other field builds each overlay on its own.
BATCH_FIELDS = frozenset({"apiVersion", "kind", "metadata", "namespace", "resources", "components", "labels",
                          "commonLabels", "commonAnnotations", "images", "replicas", "patches",
                          "patchesStrategicMerge", "patchesJson6902"})


def _batchable(tree: Tree, inputs: set[str]) -> bool:
    """Whether a build reading ``inputs`` can share a kustomize run: see :data:`BATCH_FIELDS`."""
    mark = BATCH_MARK.encode()
    for rel in inputs:
        data = tree.files[rel]
        if mark in data:
            return False
        if posixpath.basename(rel) in KUSTOMIZATION_FILES:
            try:
                doc = yamlio.safe_load(data.decode("utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError):
                return False
            if not isinstance(doc, dict) or not doc.keys() <= BATCH_FIELDS:
                return False
    return True


def _unprefixed(value: Any, prefix: str) -> Any:
    """``value`` with ``prefix`` taken off the start of every string, keys aside."""
    if isinstance(value, dict):
        return {k: _unprefixed(v, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [_unprefixed(v, prefix) for v in value]
    if isinstance(value, str) and value.startswith(prefix):
        return value[len(prefix):]
    return value


def _marked(value: Any) -> bool:
    """Whether :data:`BATCH_MARK` is still anywhere in ``value`` (a key or a string)."""
    if isinstance(value, dict):
        return any(BATCH_MARK in str(k) or _marked(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_marked(v) for v in value)
    return isinstance(value, str) and BATCH_MARK in value


_BATCH_NAME = re.compile(re.escape(BATCH_MARK) + r"([0-9]+)-")


def _batched(kz: Kustomize, top: Path, dirs: list[Path]) -> list[dict[Key, dict[str, Any]]] | None:
    """The objects of each folder of ``dirs``, built in ONE kustomize run; None when that cannot be
    done exactly (then each folder is built on its own, and a failure reported as it always was).

    A kustomize run costs ~0.1 s of CPU before it builds anything (start-up, its OpenAPI schema);
    each further overlay in the same run ~0.01 s (issue 9). A kustomization listing the overlays
    directly, as validate's batches do, fails here: the overlays of one service on several
    clusters, and the two sides of one overlay, make objects of the same names. So each folder is
    wrapped in a kustomization of its own that prefixes every name with ``<BATCH_MARK><i>-``
    (kustomize fixes the references to those names, and only among objects of one prefix), and
    the prefix is taken back off. Every object must carry one known prefix, and none of the mark
    may be left after, else None.
    """
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    for i, folder in enumerate(dirs):
        wrapper = top / str(i)
        wrapper.mkdir(parents=True)
        (wrapper / "kustomization.yaml").write_text(yamlio.dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namePrefix": f"{BATCH_MARK}{i}-", "resources": [Path(os.path.relpath(folder, wrapper)).as_posix()]}))
        lines.append(f"- '{i}'")
    (top / "kustomization.yaml").write_text("\n".join(lines) + "\n")
    result = kz.build(top)
    if not result.ok:
        return None
    try:
        docs = yamlio.safe_load_all(result.output)
    except yaml.YAMLError:
        return None
    out: list[dict[Key, dict[str, Any]]] = [{} for _ in dirs]
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        found = _BATCH_NAME.match(str(_dig(doc, "metadata", "name") or ""))
        if found is None or int(found[1]) >= len(dirs) or found[0] != f"{BATCH_MARK}{int(found[1])}-":
            return None
        i = int(found[1])
        obj = _unprefixed(doc, found[0])
        if _marked(obj):
            return None
        out[i][_key(obj)] = obj
    return out


def kustomize_builder(kustomize_path: str | None, *, batch: bool = True) -> Builder:
    """Builds (side, folder) jobs with real kustomize, each side in its own temp dir: in batches of
    :data:`BATCH` per kustomize run (see :func:`_batched`; ``batch=False``: never), a few at a time;
    each folder on its own when a batch cannot be built exactly or fails."""

    def build(jobs: dict[tuple[str, str], Tree]) -> Built:
        if not jobs:
            return {}
        kz = find_kustomize(kustomize_path)
        with tempfile.TemporaryDirectory(prefix="platform-gen-diff-", dir=_scratch()) as tmp:
            dirs: dict[tuple[str, str], Path] = {}
            together: list[tuple[str, str]] = []  # the jobs that may share a kustomize run
            written: set[tuple[str, str]] = set()
            for (side, folder), tree in sorted(jobs.items()):
                top = Path(tmp, side)
                inputs = _inputs(tree, tree.paths, folder)
                if batch and _batchable(tree, inputs):
                    together.append((side, folder))
                for rel in sorted(inputs):
                    if (side, rel) not in written:
                        target = top.joinpath(*rel.split("/"))
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(tree.files[rel])
                        written.add((side, rel))
                dirs[(side, folder)] = top.joinpath(*folder.split("/"))
            out: Built = {}
            if len(together) > 1:
                # at least two runs, for two cores; the jobs in order, so that a run holds neighbours
                runs = max(2, -(-len(together) // BATCH))
                chunks = [together[i * len(together) // runs:(i + 1) * len(together) // runs] for i in range(runs)]
                with ThreadPoolExecutor(max_workers=min(BUILD_WORKERS, runs)) as pool:
                    found = list(pool.map(lambda n: _batched(kz, Path(tmp, "batch", str(n)),
                                                             [dirs[job] for job in chunks[n]]), range(runs)))
                for chunk, objs in zip(chunks, found, strict=True):
                    if objs is not None:  # else each of its jobs is built on its own
                        out.update(zip(chunk, objs, strict=True))
            alone = {job: d for job, d in dirs.items() if job not in out}
            if not alone:
                return out
            with ThreadPoolExecutor(max_workers=min(BUILD_WORKERS, len(alone))) as pool:
                futures = {job: pool.submit(kz.build, d) for job, d in alone.items()}
                for (side, folder), future in futures.items():
                    result = future.result()
                    if not result.ok:
                        error = result.error.replace(str(dirs[(side, folder)]), folder)
                        raise ToolError(f"{kz.name} failed on {folder} ({side}): {error}",
                                        f"render the {side} side and run {kz.name} on that folder to see why")
                    out[(side, folder)] = _objects(result.output)
        return dict(sorted(out.items()))

    return build


# --- comparing ----------------------------------------------------------------------------------


def _readable(value: Any) -> Any:
    """Multi-line strings as literal blocks, so that their diffs go line by line."""
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        return yamlio.block(value)
    return value


def _diff_objects(old: dict[Key, dict[str, Any]], new: dict[Key, dict[str, Any]]) -> tuple[ObjectDiff, ...]:
    out = []
    for key in sorted(old.keys() | new.keys()):
        a = yamlio.dump(_readable(old[key])) if key in old else ""
        b = yamlio.dump(_readable(new[key])) if key in new else ""
        if a == b:
            continue
        change = "added" if key not in old else "removed" if key not in new else "changed"
        label = _label(key)
        text = "".join(difflib.unified_diff(
            a.splitlines(keepends=True), b.splitlines(keepends=True),
            "/dev/null" if change == "added" else f"a/{label}", "/dev/null" if change == "removed" else f"b/{label}"))
        out.append(ObjectDiff(key, change, text))
    return tuple(out)


def _env_orders(base: Tree, head: Tree) -> dict[str, int]:
    orders: dict[str, int] = {}
    for tree in (base, head):
        if tree.platform is not None:
            orders.update({e.name: e.order for e in tree.platform.environments})
    return orders


def _prod_envs(base: Tree, head: Tree) -> set[str]:
    """The protected environments of either side, as the deletion guard counts them."""
    return {e.name for t in (base, head) if t.platform is not None for e in t.platform.environments if e.protected}


def _claims(tree: Tree, app: Application) -> dict[Key, dict[str, Any]]:
    data = tree.files.get(f"{app.path}/infrastructure.yaml")
    return _objects(data.decode("utf-8")) if data is not None else {}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    return "(unset)" if value is _UNSET else json.dumps(value, ensure_ascii=False, sort_keys=True)


_UNSET = object()


def _claim_flags(base: Tree, head: Tree) -> list[Flag]:
    # (flag id, claim label, service, env, detail) -> clusters
    grouped: dict[tuple[str, str, str, str, str], list[str]] = {}
    for name, app in base.apps.items():
        new_app = head.apps.get(name)
        old, new = _claims(base, app), _claims(head, new_app) if new_app else {}
        moved_to = new_app.namespace if new_app is not None and new_app.namespace != app.namespace else ""
        for key, claim in old.items():
            label = f"{key[1]} {key[3]}"
            if moved_to and key in new:
                # the overlay sets the namespace: a claim that changes namespace is another object
                grouped.setdefault(("claim-removed", label, app.service, app.env,
                                    f"moves from namespace {app.namespace} to {moved_to}: the cloud "
                                    "resource is deleted and created anew, with its data"), []).append(app.cluster)
                continue
            if key not in new:
                grouped.setdefault(("claim-removed", label, app.service, app.env, ""), []).append(app.cluster)
                continue
            a, b = _flat(_dig(claim, "spec", "parameters") or {}), _flat(_dig(new[key], "spec", "parameters") or {})
            if a != b:
                detail = ", ".join(f"{k}: {_show(a.get(k, _UNSET))} → {_show(b.get(k, _UNSET))}"
                                   for k in sorted(a.keys() | b.keys()) if a.get(k, _UNSET) != b.get(k, _UNSET))
                grouped.setdefault(("claim-parameters-changed", label, app.service, app.env, detail),
                                   []).append(app.cluster)
    flags = []
    for (fid, label, service, env, detail), clusters in grouped.items():
        where = f"{label} of {service} in {env} ({', '.join(sorted(clusters))})"
        flags.append(Flag(fid, f"{where}: {detail}" if detail else f"{where} is removed"))
    return flags


def _preserves(appset: dict[str, Any]) -> bool:
    """Argo CD keeps what the applications deployed when they are deleted (unset counts as keeping)."""
    return _dig(appset, "spec", "syncPolicy", "preserveResourcesOnDeletion") is not False


def _retired_at_base(base: Tree, service: str) -> bool:
    """Whether the service's ApplicationSet at the base already lets Argo CD delete what it deployed."""
    appset = next((a for k, a in base.argocd.items() if k[:2] == (ARGO_GROUP, "ApplicationSet") and k[3] == service),
                  None)
    return appset is not None and not _preserves(appset)


def _retire_flags(base: Tree, head: Tree) -> list[Flag]:
    """An ApplicationSet that stops preserving resources (retire: true): its service and where it runs."""
    orders = _env_orders(base, head)
    flags = []
    for key, appset in head.argocd.items():
        old = base.argocd.get(key)
        if key[:2] != (ARGO_GROUP, "ApplicationSet") or old is None or not _preserves(old) or _preserves(appset):
            continue
        clusters: dict[str, set[str]] = {}
        for app in head.apps.values():
            if app.service == key[3]:
                clusters.setdefault(app.env, set()).add(app.cluster)
        where = ", ".join(f"{env} ({', '.join(sorted(clusters[env]))})"
                          for env in sorted(clusters, key=lambda e: (orders.get(e, 1 << 30), e)))
        flags.append(Flag("service-retired", f"{key[3]} is retired (preserveResourcesOnDeletion: false)"
                          + (f"; it runs in {where}" if where else "")))
    return flags


def _namespaces(tree: Tree) -> set[tuple[str, str]]:
    return {(a.cluster, a.namespace) for a in tree.apps.values() if a.namespace}


def _code_owner(platform: Platform, team: str) -> str:
    """The team's CODEOWNERS handle (the platform's when it has none), or '' without a CODEOWNERS file."""
    if platform.codeowners is None:
        return ""
    return platform.teams[team].codeowners or platform.codeowners.platform


def _owner_flags(base: Platform, head: Platform, before: dict[str, str], after: dict[str, str]) -> list[Flag]:
    """A new service, and a service changing team: both name the teams (and their code owners)."""
    flags = []
    for name, team in sorted(after.items()):
        new = _code_owner(head, team)
        if name not in before:
            flags.append(Flag("owner-changed", f"{name}: new service, owned by team {team}"
                              + (f" (code owner {new})" if new else "")))
        elif before[name] != team:
            old = _code_owner(base, before[name]) if before[name] in base.teams else ""
            flags.append(Flag("owner-changed", f"{name}: team {before[name]} → {team}"
                              + (f" (code owners {old or 'none'} → {new or 'none'})" if old or new else "")))
    return flags


def _flags(base: Tree, head: Tree, apps: list[AppChange], argocd: tuple[ObjectDiff, ...],
           settled: Settled | None = None) -> tuple[Flag, ...]:
    flags: list[Flag] = []
    flags += [Flag("app-removed", f"{c.app.name} ({c.app.env}/{c.app.cluster}) is removed"
                   + ("; its service is retired, so Argo CD also deletes what it deployed, claims included"
                      if _retired_at_base(base, c.app.service) else ""))
              for c in apps if c.change == "removed"]
    flags += _retire_flags(base, head)
    gone = _namespaces(base) - _namespaces(head)
    if gone and settled is not None:  # a namespace the settled applications still use is not removed
        gone -= settled.namespaces()
    flags += [Flag("namespace-removed", f"namespace {ns} on cluster {cluster}") for cluster, ns in sorted(gone)]
    prod = _prod_envs(base, head)
    in_prod = [c for c in apps if c.app.env in prod]
    if in_prod:
        listed = ", ".join(f"{c.app.name} ({c.change})" for c in in_prod[:10])
        more = f" and {len(in_prod) - 10} more" if len(in_prod) > 10 else ""
        n = len(in_prod)
        flags.append(Flag("prod-change", f"{n} application{'s' if n != 1 else ''} in "
                          f"{'/'.join(sorted(prod))} change{'s' if n == 1 else ''}: {listed}{more}"))
    flags += _claim_flags(base, head)
    flags += [Flag("appproject-changed", f"AppProject {o.key[3]} is {o.change}")
              for o in argocd if o.key[:2] == (ARGO_GROUP, "AppProject")]
    if base.platform is not None and head.platform is not None:
        flags += _owner_flags(base.platform, head.platform, base.owners, head.owners)
    order = list(FLAG_REASONS)
    return tuple(sorted(flags, key=lambda f: (order.index(f.id), f.message)))


def compare(base: Tree, head: Tree, build: Builder, base_ref: Base, *, base_empty: bool = False,
            settled: Settled | None = None) -> Result:
    """Compare two rendered trees; ``build`` builds the applications whose inputs differ.

    ``settled``: services left out of both trees because their files are the same bytes on both sides.
    """
    jobs: dict[tuple[str, str], Tree] = {}
    same: set[str] = set()  # applications whose inputs are identical: nothing to build or compare
    for name in sorted(base.apps.keys() | head.apps.keys()):
        a, b = base.apps.get(name), head.apps.get(name)
        if a is not None and b is not None and _same_inputs(base, head, a, b):
            same.add(name)
            continue
        if a is not None:
            jobs[("base", a.path)] = base
        if b is not None:
            jobs[("head", b.path)] = head
    built = build(jobs)

    orders = _env_orders(base, head)
    changes: list[AppChange] = []
    unchanged = settled.apps if settled is not None else 0
    for name in sorted(base.apps.keys() | head.apps.keys()):
        a, b = base.apps.get(name), head.apps.get(name)
        objects = () if name in same else _diff_objects(built[("base", a.path)] if a is not None else {},
                                                        built[("head", b.path)] if b is not None else {})
        if a is None and b is not None:
            changes.append(AppChange(b, "added", objects, True))
        elif b is None and a is not None:
            changes.append(AppChange(a, "removed", objects, True))
        elif a is not None and b is not None and ( objects or a.definition != b.definition):
            changes.append(AppChange(b, "changed", objects, a.definition != b.definition))
        else:
            unchanged += 1
    changes.sort(key=lambda c: (orders.get(c.app.env, 1 << 30), c.app.env, c.app.cluster, c.app.name))
    argocd = _diff_objects(base.argocd, head.argocd)
    return Result(base_ref, base_empty, _flags(base, head, changes, argocd, settled), tuple(changes), unchanged,
                  argocd)


# --- output -------------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _totals(result: Result) -> str:
    count = {c: sum(1 for a in result.apps if a.change == c) for c in ("added", "removed", "changed")}
    return (f"{_plural(sum(count.values()) + result.unchanged, 'application')}: {count['added']} added, "
            f"{count['removed']} removed, {count['changed']} changed, {result.unchanged} unchanged")


def _argo_totals(objects: tuple[ObjectDiff, ...]) -> str:
    count = {c: sum(1 for o in objects if o.change == c) for c in ("added", "removed", "changed")}
    return ", ".join(f"{n} {c}" for c, n in count.items() if n)


_PROJECTS = "AppProjects and platform objects"


def _argo_headline(objects: tuple[ObjectDiff, ...]) -> str:
    """``Argo CD objects: 4 changed (AppProjects and platform objects: 2 changed; ApplicationSets: 2 changed)``."""
    projects, appsets = _argo_split(objects)
    parts = [f"{title}: {_argo_totals(group)}" for title, group in ((_PROJECTS, projects), ("ApplicationSets", appsets))
             if group]
    return f"Argo CD objects: {_argo_totals(objects)} ({'; '.join(parts)})"


def _argo_split(objects: tuple[ObjectDiff, ...]) -> tuple[tuple[ObjectDiff, ...], tuple[ObjectDiff, ...]]:
    """AppProjects and the platform's own objects, then ApplicationSets.

    The diffs of ApplicationSets come last: they repeat what the applications' own
    sections show, so they are the first to go when a comment is cut.
    """
    appsets = tuple(o for o in objects if o.key[:2] == (ARGO_GROUP, "ApplicationSet"))
    return tuple(o for o in objects if o not in appsets), appsets


_MARK = {"added": "+", "removed": "-", "changed": "~"}
_ANSI = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}


def _paint(diff: str, color: bool) -> str:
    if not color:
        return diff
    out = []
    for line in diff.splitlines(keepends=True):
        code = "" if line.startswith(("+++", "---")) else _ANSI.get(line[:1], "")
        out.append(f"{code}{line.rstrip(chr(10))}\x1b[0m\n" if code else line)
    return "".join(out)


def format_text(result: Result, *, color: bool = False) -> str:
    """For terminals: flags, the summary by environment and cluster, then the diffs."""
    lines = [f"platform-gen diff against {result.base.label}"
             + (" (no platform repo there: everything is new)" if result.base_empty else "")]
    if result.empty:
        lines.append("No changes to the rendered tree.")
        return "\n".join(lines) + "\n"
    if result.flags:
        lines += ["", "Needs attention:"]
        lines += [f"  ! {f.id}: {f.message} ({f.reason})" for f in result.flags]
    lines += ["", _totals(result)]
    group = None
    for c in result.apps:
        if (c.app.env, c.app.cluster) != group:
            group = (c.app.env, c.app.cluster)
            lines.append(f"  {c.app.env}/{c.app.cluster}")
        lines.append(f"    {_MARK[c.change]} {c.app.name:<40} {c.describe()}")
    if result.argocd:
        lines += ["", _argo_headline(result.argocd)]
        lines += [f"    {_MARK[o.change]} {o.label}" for o in result.argocd]
    text = "\n".join(lines) + "\n"
    projects, appsets = _argo_split(result.argocd)
    sections = [(_PROJECTS, projects)] + [
        (f"{c.app.name} ({c.app.env}/{c.app.cluster})", c.objects) for c in result.apps if c.objects] + [
        ("ApplicationSets", appsets)]
    for title, objects in sections:
        if objects:
            text += f"\n=== {title} ===\n" + "".join(_paint(o.diff, color) for o in objects)
    return text


def _fence(text: str) -> str:
    runs = [len(m) for m in re.findall(r"`+", text)]
    return "`" * max(3, max(runs, default=0) + 1)


def _code(text: str) -> str:
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_object(diff: ObjectDiff) -> str:
    fence = _fence(diff.diff)
    return f"{fence}diff\n{diff.diff}{'' if diff.diff.endswith(chr(10)) else chr(10)}{fence}\n"


def _md_head(result: Result, rows: int) -> tuple[str, int]:
    """Header, flags and the table of at most ``rows`` applications; returns the rows it left out."""
    base = result.base
    where = (f"the merge base of HEAD and {_code(base.ref)}" if base.merge_base else _code(base.ref))
    against = f"Against {where} ({_code(base.commit[:12])})" if base.commit else f"Against {base.ref}"  # promote's
    parts = ["### platform-gen diff", "",
             against + (", where there is no platform repo yet." if result.base_empty else ".")]
    if result.empty:
        parts += ["", "No changes to the rendered tree."]
        return "\n".join(parts) + "\n", 0
    if result.flags:
        parts += ["", "**⚠️ Needs attention**", ""]
        parts += [f"- ⚠️ **{f.id}**: {f.message} _({f.reason})_" for f in result.flags]
    argo = f"; {_argo_headline(result.argocd)}" if result.argocd else ""
    parts += ["", f"{_totals(result)}{argo}."]
    if result.apps:
        parts += ["", "| Application | Environment | Cluster | Change |", "| --- | --- | --- | --- |"]
        parts += [f"| {_code(c.app.name)} | {c.app.env} | {c.app.cluster} | {c.describe()} |"
                  for c in result.apps[:rows]]
        if rows < len(result.apps):
            parts.append(f"| … | | | {len(result.apps) - rows} more applications not listed |")
    return "\n".join(parts) + "\n", max(0, len(result.apps) - rows)


def format_markdown(result: Result, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: flags, a table of applications, one collapsible section each.

    At most ``limit`` characters: whole object diffs are dropped from the end, and a
    note says how many and how much.
    """
    projects, appsets = _argo_split(result.argocd)
    sections: list[tuple[str, tuple[ObjectDiff, ...]]] = []
    if projects:
        sections.append((f"{_PROJECTS}: {_argo_totals(projects)}", projects))
    sections += [(f"<code>{_html(c.app.name)}</code> ({c.app.env}/{c.app.cluster}): {_html(c.describe())}",
                  c.objects) for c in result.apps if c.objects]
    if appsets:
        sections.append((f"ApplicationSets: {_argo_totals(appsets)}", appsets))
    blocks = [[_md_object(o) for o in objects] for _, objects in sections]
    total = sum(len(b) for b in blocks)

    def compose(keep: int, rows: int) -> str:
        head, _ = _md_head(result, rows)
        out = [head]
        left = keep
        cut = [0, 0]
        for (summary, _objects), parts in zip(sections, blocks, strict=True):
            shown, left = parts[:left], max(0, left - len(parts))
            cut[0] += len(parts) - len(shown)
            cut[1] += sum(len(p) for p in parts[len(shown):])
            if shown:
                more = len(parts) - len(shown)
                note = f"\n_{_plural(more, 'more object diff')} cut here._\n" if more else ""
                out.append(f"\n<details><summary>{summary}</summary>\n\n" + "\n".join(shown) + note + "\n</details>\n")
        if cut[0]:
            out.append(f"\n_{_plural(cut[0], 'object diff')} {'were' if cut[0] != 1 else 'was'} cut "
                       f"({cut[1]:,} characters); run `platform-gen diff` locally for the full output._\n")
        return "".join(out)

    rows = len(result.apps)
    if len(compose(0, rows)) > limit:  # even the table is too long: list fewer applications
        lo, hi = 0, rows
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if len(compose(0, mid)) <= limit else (lo, mid - 1)
        rows = lo
    lo, hi = 0, total
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if len(compose(mid, rows)) <= limit else (lo, mid - 1)
    text = compose(lo, rows)
    return text if len(text) <= limit else text[: text.rfind("\n", 0, limit - 1) + 1]


def _object_json(o: ObjectDiff) -> dict[str, Any]:
    group, kind, namespace, name = o.key
    return {"group": group, "kind": kind, "namespace": namespace, "name": name, "change": o.change, "diff": o.diff}


def result_json(result: Result) -> dict[str, Any]:
    """The result as one JSON-ready document."""
    return {
        "status": "ok",
        "base": result.base.ref,
        "base_commit": result.base.commit,
        "merge_base": result.base.merge_base,
        "base_empty": result.base_empty,
        "flags": [{"id": f.id, "message": f.message, "reason": f.reason} for f in result.flags],
        "applications": [{
            "name": c.app.name, "service": c.app.service, "team": c.app.team, "environment": c.app.env,
            "cluster": c.app.cluster, "namespace": c.app.namespace, "change": c.change,
            "objects": c.counts(), "application_changed": c.definition,
        } for c in result.apps],
        "unchanged": result.unchanged,
        "objects": [{"application": c.app.name, **_object_json(o)} for c in result.apps for o in c.objects],
        "argocd": [_object_json(o) for o in result.argocd],
    }


def format_json(result: Result) -> str:
    """One JSON document, fixed indent and key order."""
    return json.dumps(result_json(result), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


FORMATTERS: dict[str, Callable[[Result, bool], str]] = {
    "text": lambda r, color: format_text(r, color=color),
    "markdown": lambda r, _color: format_markdown(r),
    "json": lambda r, _color: format_json(r),
}


def _gitops_dir(root: Path, shared: Sources, platform: Platform | None) -> Path | None:
    """The tree's folder below ``root``: from the validated platform, else from the raw platform.yaml."""
    if platform is not None:
        return root / platform.gitops_path
    data = shared.platform.data if shared.platform is not None else None
    gitops = data.get("gitops") if isinstance(data, dict) else None
    path = gitops.get("path", "rendered") if isinstance(gitops, dict) else None
    return root / path if isinstance(path, str) and path else None


def _inside(root: Path, folder: Path) -> str | None:
    try:
        rel = folder.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return rel if rel not in ("", ".") else None


def _committed_tree(checkout: Checkout, commit: str, base_root: Path) -> tuple[Index, dict[str, bytes]] | None:
    """The render index of the tree committed at ``commit`` and that tree's files, when the index was
    written by this generator; None otherwise (no tree, no index, another generator)."""
    folder = _gitops_dir(base_root, load_shared(base_root), None)
    rel = _inside(base_root, folder) if folder is not None else None
    if rel is None:
        return None
    prefix = rel + "/"
    files = {name[len(prefix):]: blob for name, blob in read_files(checkout, commit, (rel,)).items()
             if name.startswith(prefix)}
    data = files.get(INDEX)
    index = parse_index(data, generator_digest()) if data is not None else None
    return (index, files) if index is not None else None


def _untrusted(index: Index, committed: dict[str, bytes]) -> set[str]:
    """Files of the services whose committed files are not exactly what the index says they made."""
    out: set[str] = set()
    for name, summary in index.services.items():
        try:
            same = digest(*(part for f in summary.files for part in (f, committed[f]))) == summary.out
        except KeyError:
            same = False
        if not same:
            out.update(summary.files)
            out.add(f"argocd/applicationsets/{name}.yaml")  # names the service even when it owns no file
    return out


def _incremental(root: Path, checkout: Checkout, base: Base, base_root: Path, builder: Builder,
                 released: Callable[[], None] = lambda: None) -> Result | None:
    """The diff, rendering only what differs from the tree committed at the base; None when that tree
    cannot be trusted or either side's input is invalid (then both sides are rendered in full).
    ``released()`` is called once ``base_root`` is no longer needed."""
    from .build import compile_tree

    found = _committed_tree(checkout, base.commit, base_root)
    if found is None:
        return None
    committed_index, committed = found

    def base_dir(shared: Sources, platform: Platform | None) -> Path | None:
        return _gitops_dir(base_root, shared, platform)

    def head_dir(shared: Sources, platform: Platform | None) -> Path | None:
        return _gitops_dir(root, shared, platform)

    # the base: the committed files of every service whose inputs and files match the index
    # invalid input on either side: the full render reports it (the head's problems first)
    try:
        base_platform, base_rendered, used = compile_tree(
            base_root, base_dir, lambda out: committed_index if out is not None else None,
            changes_of=lambda _root, _out: _untrusted(committed_index, committed))
    except InputError:
        return None
    if used is None or base_rendered.index is None:
        return None
    before = {**{f: committed[f] for f in base_rendered.keep}, **base_rendered.files}
    base_index = base_rendered.index
    # the head: only the services whose inputs differ from the base's, every other file is the base's
    try:
        head_platform, head_rendered, _ = compile_tree(
            root, head_dir, lambda out: base_index if out is not None else None,
            changes_of=lambda _root, _out: set())
    except InputError:
        return None
    released()
    assert head_rendered.index is not None
    head_index = head_rendered.index
    after = {**{f: before[f] for f in head_rendered.keep}, **head_rendered.files}
    before, after = dict(sorted(before.items())), dict(sorted(after.items()))
    kept = head_rendered.keep_services

    # services kept on the head have the same bytes on both sides: their applications are unchanged,
    # and nothing else can change their builds as long as every file that differs belongs to a
    # service rendered on either side, to argocd/ or is the index or manifest (the kustomizations
    # platform-gen writes refer to the service's own folder and to components/ only)
    movable = {INDEX, MANIFEST}
    for index in (base_index, head_index):
        movable.update(f for name, s in index.services.items() if name not in kept for f in s.files)
    settled: Settled | None = None
    skip: frozenset[str] = frozenset()
    if all(p in movable or p.startswith("argocd/") for p in before.keys() | after.keys()
           if before.get(p) is not after.get(p) and before.get(p) != after.get(p)):
        skip = frozenset(f for name in kept for f in head_index.services[name].files if f.startswith("argocd/"))

        def namespaces() -> set[tuple[str, str]]:
            return _namespaces(Tree(None, {}, _applications(_argocd({p: after[p] for p in skip}),
                                                             head_platform.gitops_path), {}))

        settled = Settled(sum(1 for name in kept for _ in head_index.services[name].apps()), namespaces)
    base_tree = _tree(base_platform, before, {n: s.team for n, s in base_index.services.items()}, skip)
    head_tree = _tree(head_platform, after, {n: s.team for n, s in head_index.services.items()}, skip)
    return compare(base_tree, head_tree, builder, base, settled=settled)


def run_diff(root: Path, base_ref: str | None, fmt: str, kustomize_path: str | None, *,
             color: bool, full: bool = False) -> tuple[int, str]:
    """Render ``root`` at ``base_ref`` and as on disk, build what differs, report in ``fmt``.

    Only what differs from the tree committed at the base is rendered when that tree's index can be
    trusted; ``full`` renders both sides in full (the result is the same). Exit code 0 whether or
    not anything changes; invalid input raises InputError, git and kustomize failures raise ToolError.
    """
    if fmt not in FORMATTERS:
        raise ValueError(f"unknown format {fmt!r}")
    checkout = locate(root)
    base = resolve_base(checkout, base_ref)
    builder = kustomize_builder(kustomize_path)
    tmp = Path(tempfile.mkdtemp(prefix="platform-gen-base-", dir=_scratch()))
    # the base's inputs are removed while the builds run (removing a thousand folders takes a while)
    cleanup = threading.Thread(target=shutil.rmtree, args=(tmp,), kwargs={"ignore_errors": True})
    try:
        base_root = export_inputs(checkout, base.commit, INPUT_DIRS, tmp)
        # no platform repo at the base (e.g. before it was added): everything is new
        base_empty = base_root is None or not (base_root / PLATFORM_FILE).is_file()
        result = None
        if not full and base_root is not None and not base_empty:
            result = _incremental(root, checkout, base, base_root, builder, cleanup.start)
        if result is None:
            head = _compile(root, "")
            before = tree_of(None) if base_root is None or base_empty else _compile(base_root, base.ref)
            if cleanup.ident is None:
                cleanup.start()
            result = compare(before, head, builder, base, base_empty=base_empty)
    finally:
        if cleanup.ident is None:
            cleanup.start()
        cleanup.join()
    return 0, FORMATTERS[fmt](result, color)
