"""The deletion guard: refuse to remove protected applications, or many applications at once.

An environment file renamed or a cluster deleted by mistake would otherwise make
Argo CD delete live applications on the next sync. What counts as deployed is the
tree committed at the git base (the merge base of HEAD with origin/main, else
main; on the default branch itself that is HEAD), read at the base's own
``gitops.path``, together with the tree on disk; outside git only the tree on
disk. Which environments are protected is read from the base's environment files
as well as today's, so renaming or re-ordering a protected environment, or
dropping its ``protected``, counts as removing its applications. Removing a
service that runs only in unprotected environments needs no permission.

Only a few files are read at the base (platform.yaml, the environment files and
the ApplicationSets), with ``git ls-tree`` and ``git archive``; nothing is
rendered there. A previous ApplicationSet that cannot be read is an error: its
applications could not be counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from . import yamlio
from .errors import InputError, Problem, ToolError, format_path
from .gitref import default_base, locate, read_files
from .index import INDEX, DamagedIndex, Index, Services
from .index import parse as parse_index
from .load import ENVIRONMENTS_DIR, PLATFORM_FILE
from .model import Platform, protected_names

__all__ = [
    "APPSETS_DIR",
    "LABEL",
    "MAX_SHARE",
    "AppSets",
    "AtBase",
    "Deployed",
    "Refusal",
    "Removal",
    "appset_apps",
    "check_removals",
    "deployed",
    "deployed_apps",
    "guard",
    "read_base",
]

#: More than this share of all applications removed at once needs --allow-delete.
MAX_SHARE = 0.25
#: Where the ApplicationSets sit in a rendered tree.
APPSETS_DIR = "argocd/applicationsets"
#: The pull-request label that the pr workflow turns into --allow-delete.
LABEL = "allow-delete"
#: At most this many applications are named in a text message (JSON lists them all).
LISTED = 20

_FIX_HINT = ("restore it (git checkout -- the file, or re-render from the inputs that made it), "
             "or pass --allow-delete to skip the deletion guard")


@dataclass(frozen=True, order=True)
class Removal:
    """An application the new tree no longer has (in its protected environment)."""

    env: str
    app: str
    why: str = ""  # "" when the application is gone, else what happened to its environment

    def __str__(self) -> str:
        return f"{self.app} ({self.env}{', ' + self.why if self.why else ''})"


@dataclass(frozen=True)
class Deployed:
    """What the new tree is compared with."""

    apps: dict[str, str]  # application name -> its environment, as the previous ApplicationSets list it
    protected: frozenset[str]  # the environments protected then (today's are added by check_removals)
    source: str  # how the comparison is shown to people
    gitops_path: str | None = None  # the base's gitops.path, None when nothing was read from git
    at_base: frozenset[str] = frozenset()  # the applications of the base's tree (the others are on disk only)
    retired: frozenset[str] = frozenset()  # applications of services already retired (retire: true) before
    namespaces: dict[str, str] = field(default_factory=dict)  # application -> the namespace it deploys to


@dataclass(frozen=True)
class Refusal:
    """Why the guard refuses, and what would be removed."""

    reason: str
    removed: tuple[Removal, ...]
    source: str
    guarded: int = 0  # the first ``guarded`` of ``removed`` are in protected environments

    def listed(self) -> str:
        """The removed applications for a one-line message, the first LISTED of them.

        Those of protected environments come first; the others follow as "also removed".
        """
        def names(removals: tuple[Removal, ...], room: int) -> str:
            more = len(removals) - room
            return ", ".join(str(r) for r in removals[:room]) + (f" and {more} more" if more > 0 else "")

        first, rest = self.removed[: self.guarded], self.removed[self.guarded:]
        if not first or not rest:
            return names(self.removed, LISTED)
        return f"{names(first, LISTED)}; also removed: {names(rest, max(0, LISTED - len(first)) or 1)}"


# --- reading ApplicationSets ------------------------------------------------------------------


def _problem(file: str, node: yaml.Node | None, path: tuple[str | int, ...], message: str) -> Problem:
    line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (0, 0)
    return Problem(file, line, col, format_path(path), f"cannot count its applications: {message}", _FIX_HINT)


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value of ``key`` in a mapping node; None when absent or not a mapping."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _text(node: yaml.Node | None) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) else ""


def _elements(file: str, doc: yaml.MappingNode) -> list[tuple[str, str, str]]:
    """(app, env, namespace) of every list element of one ApplicationSet; InputError where it is malformed.

    Walks the composed nodes instead of building the whole document: the
    ApplicationSets of a large platform are read twice per run (base and disk).
    """
    spec = _get(doc, "spec")
    generators = _get(spec, "generators")
    if not isinstance(generators, yaml.SequenceNode):
        raise InputError([_problem(file, generators or spec or doc, ("spec", "generators"),
                                   "expected a list of generators")])
    out: list[tuple[str, str, str]] = []
    for i, gen in enumerate(generators.value):
        elements = _get(_get(gen, "list"), "elements")
        if not isinstance(elements, yaml.SequenceNode):
            raise InputError([_problem(file, gen, ("spec", "generators", i),
                                       "expected a list generator with elements")])
        for j, element in enumerate(elements.value):
            app, env = _text(_get(element, "app")), _text(_get(element, "env"))
            if not app or not env:
                raise InputError([_problem(file, element, ("spec", "generators", i, "list", "elements", j),
                                           "expected the keys app and env, both strings")])
            out.append((app, env, _text(_get(element, "namespace"))))
    return out


def appset_apps(file: str, data: bytes) -> dict[str, str]:
    """Application name -> environment, from one ApplicationSet file; InputError when it is corrupt."""
    return _read_appset(file, data).apps


def _retiring(doc: yaml.MappingNode) -> bool:
    """A retired service's ApplicationSet lets Argo CD delete what its applications deployed."""
    return _text(_get(_get(_get(doc, "spec"), "syncPolicy"), "preserveResourcesOnDeletion")) == "false"


@dataclass(frozen=True)
class AppSets:
    """What ApplicationSets deploy: application -> environment and -> namespace, and the retired ones."""

    apps: dict[str, str]
    namespaces: dict[str, str]
    retired: frozenset[str] = frozenset()


def _read_appset(file: str, data: bytes) -> AppSets:
    """The applications of one ApplicationSet file, and whether its service is retired."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError([Problem(file, 0, 0, "", "cannot count its applications: not valid UTF-8 text",
                                  _FIX_HINT)]) from None
    try:
        docs = yamlio.compose_all(text)
    except yaml.YAMLError as exc:
        problem = yamlio.parse_error(file, exc)
        raise InputError([Problem(problem.file, problem.line, problem.column, "",
                                  f"cannot count its applications: {problem.message}", _FIX_HINT)]) from None
    apps: dict[str, str] = {}
    namespaces: dict[str, str] = {}
    found = retired = False
    for index, doc in enumerate(docs):
        if not isinstance(doc, yaml.MappingNode):
            raise InputError([_problem(file, doc, (), f"document {index + 1} is not a mapping")])
        if _text(_get(doc, "kind")) != "ApplicationSet":
            continue
        found = True
        retired = retired or _retiring(doc)
        for app, env, namespace in _elements(file, doc):
            apps[app] = env
            namespaces[app] = namespace
    if not found:
        raise InputError([Problem(file, 0, 0, "", "cannot count its applications: no ApplicationSet in it",
                                  _FIX_HINT)])
    return AppSets(apps, namespaces, frozenset(apps) if retired else frozenset())


Memo = dict[bytes, AppSets]


def _tree_apps(files: Iterable[tuple[str, bytes]], memo: Memo | None = None) -> AppSets:
    """Application -> environment over several ApplicationSet files; every corrupt file is reported.

    ``memo`` keeps the applications of files already read by their bytes: a file
    unchanged between the base and the disk is parsed once.
    """
    memo = {} if memo is None else memo
    apps: dict[str, str] = {}
    namespaces: dict[str, str] = {}
    retired: set[str] = set()
    problems: list[Problem] = []
    for file, data in files:
        try:
            found = memo.get(data)
            if found is None:
                found = memo[data] = _read_appset(file, data)
            apps.update(found.apps)
            namespaces.update(found.namespaces)
            retired.update(found.retired)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return AppSets(apps, namespaces, frozenset(retired))


_from_index: dict[int, tuple[object, AppSets]] = {}


def _index_apps(data: bytes | None) -> AppSets | None:
    """What a tree deploys, from its render index (written with its ApplicationSets); None without one."""
    found = parse_index(data, None) if data is not None else None
    if found is None:
        return None
    known = _from_index.get(id(found))
    if known is not None and known[0] is found:  # the same index at the base and on disk
        return known[1]
    apps: dict[str, str] = {}
    namespaces: dict[str, str] = {}
    retired: set[str] = set()
    try:
        for summary in found.services.values():
            for app, env, _cluster in summary.apps():
                apps[app] = env
                namespaces[app] = summary.namespace
                if summary.retire:
                    retired.add(app)
    except DamagedIndex:  # its checksum holds but an entry cannot be read: count its ApplicationSets instead
        return None
    _from_index.clear()
    _from_index[id(found)] = (found, AppSets(apps, namespaces, frozenset(retired)))
    return _from_index[id(found)][1]


def deployed_apps(out: Path, shown: str = "", memo: Memo | None = None) -> AppSets:
    """What the ApplicationSets of the tree at ``out`` deploy (read from its render index when it has one).

    ``shown`` is how ``out`` is named in problems. A file that cannot be read or
    parsed is an InputError naming it.
    """
    try:
        indexed = _index_apps((out / INDEX).read_bytes())
    except OSError:
        indexed = None
    if indexed is not None:
        return indexed
    folder = out.joinpath(*APPSETS_DIR.split("/"))
    if not folder.is_dir():
        return AppSets({}, {})
    prefix = (shown.rstrip("/") + "/" if shown else "") + APPSETS_DIR + "/"
    files: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")):
        if not path.is_file():  # a folder or a FIFO: reading it would fail or block
            problems.append(Problem(prefix + path.name, 0, 0, "", "cannot count its applications: not a regular "
                                    "file", _FIX_HINT))
            continue
        try:
            files.append((prefix + path.name, path.read_bytes()))
        except OSError as exc:
            problems.append(Problem(prefix + path.name, 0, 0, "",
                                    f"cannot count its applications: cannot read: {exc.strerror}", _FIX_HINT))
    found = AppSets({}, {})
    try:
        found = _tree_apps(files, memo)
    except InputError as exc:
        problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return found


# --- reading the git base -------------------------------------------------------------------------


def _gitops_path(file: str, data: bytes | None) -> str | None:
    """The ``gitops.path`` of a platform.yaml at the base; None when there is no platform.yaml there."""
    if data is None:
        return None
    try:
        doc = yamlio.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        doc = None
    gitops = doc.get("gitops") if isinstance(doc, dict) else None
    path = gitops.get("path", "rendered") if isinstance(gitops, dict) else None
    if not isinstance(path, str) or any(part in ("", ".", "..") for part in path.split("/")):
        raise InputError([Problem(file, 0, 0, "gitops.path", "cannot tell where the previous tree is",
                                  "the deletion guard reads the tree at the base's gitops.path; "
                                  "pass --allow-delete to skip it")])
    return path


def _base_protected(label: str, files: dict[str, bytes]) -> frozenset[str]:
    """The protected environments of the base, from its environment files."""
    orders: dict[str, int] = {}
    explicit: dict[str, bool | None] = {}
    problems: list[Problem] = []
    for rel, data in sorted(files.items()):
        folder, _, name = rel.rpartition("/")
        if folder != ENVIRONMENTS_DIR or not name.endswith((".yaml", ".yml")):
            continue
        try:
            doc = yamlio.safe_load(data.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError):
            doc = None
        env, order = (doc.get("name"), doc.get("order")) if isinstance(doc, dict) else (None, None)
        flag = doc.get("protected") if isinstance(doc, dict) else None
        if not isinstance(env, str) or not isinstance(order, int) or not isinstance(flag, (bool, type(None))):
            problems.append(Problem(f"{label}:{rel}", 0, 0, "", "cannot tell whether this environment was "
                                    "protected (expected name, order and an optional boolean protected)",
                                    "the deletion guard reads the base's environment files; "
                                    "pass --allow-delete to skip it"))
            continue
        orders[env] = order
        explicit[env] = flag
    if problems:
        raise InputError(problems)
    return protected_names(orders, explicit)


@dataclass(frozen=True)
class AtBase:
    """What the guard reads of the git base: a few files, nothing rendered."""

    label: str  # "merge base with origin/main", ...
    ref: str  # how its files are named in problems
    gitops_path: str | None  # None: no platform repo at the base
    protected: frozenset[str] = frozenset()
    index: bytes | None = None  # the bytes of its tree's render index, None without one
    commit: str = ""

    @cached_property
    def parsed(self) -> Index | None:
        """That index, parsed (None: unreadable, or none). Parsed on first use, by the thread that uses it,
        through the index's memo: a base index with the same bytes as the tree's on disk (most renders) is
        parsed once (#9)."""
        return parse_index(self.index, None) if self.index is not None else None


def read_base(root: Path) -> AtBase | None:
    """The base commit's gitops.path, protected environments and render index; None outside git or when
    there is no base branch."""
    try:
        checkout = locate(root)
    except ToolError:
        return None
    try:
        base = default_base(checkout)
    except ToolError as exc:  # a shallow clone: falling back to the disk would reopen the bypass
        raise ToolError(f"deletion guard: {exc.message}",
                        "it compares with the tree committed at the merge base with main; fetch the full history "
                        "(git fetch --unshallow, or fetch-depth: 0 in CI), or pass --allow-delete to skip it") from None
    if base is None:
        return None
    inputs = read_files(checkout, base.commit, (PLATFORM_FILE, ENVIRONMENTS_DIR))
    gitops_path = _gitops_path(f"{base.ref}:{PLATFORM_FILE}", inputs.get(PLATFORM_FILE))
    if gitops_path is None:  # no platform repo at the base yet: nothing was deployed from it
        return AtBase(base.label, base.ref, None)
    index_file = f"{gitops_path}/{INDEX}"
    on_disk = root / index_file
    try:  # the index on disk, taken when it is the base's (most often): git need not read megabytes out
        have = {index_file: on_disk.read_bytes()} if on_disk.is_file() else {}  # (not a FIFO: never waits)
    except OSError:
        have = {}
    data = read_files(checkout, base.commit, (index_file,), have).get(index_file)
    return AtBase(base.label, base.ref, gitops_path, _base_protected(base.ref, inputs), data, base.commit)


def _source(base: AtBase | None, shown: str) -> str:
    """What the guard compares with, as ``-v`` and a refusal's hint say it."""
    if base is None:
        return f"{shown}/ on disk only (no git base: not in a git checkout with origin/main or main)"
    return f"{_base_source(base)}, and {shown}/ on disk"


def _base_source(base: AtBase) -> str:
    if base.gitops_path is None:
        return f"the commit at the {base.label}, where there is no platform repo"
    return f"{base.gitops_path}/ as committed at the {base.label}"


def _from_git(root: Path, memo: Memo, known: tuple[AtBase | None] | None = None) -> Deployed | None:
    """What the base commit deployed; None outside git or when there is no base branch (``known``: the base
    as already read)."""
    base = known[0] if known is not None else read_base(root)
    if base is None:
        return None
    if base.gitops_path is None:
        return Deployed({}, frozenset(), _base_source(base))
    source = _base_source(base)
    found = _index_apps(base.index)
    if found is None:  # a tree without a render index: its ApplicationSets
        checkout = locate(root)
        folder = f"{base.gitops_path}/{APPSETS_DIR}"
        tree = read_files(checkout, base.commit, (folder,))
        appsets = sorted((f"{base.ref}:{rel}", data) for rel, data in tree.items()
                         if rel.rpartition("/")[0] == folder and rel.endswith(".yaml"))
        found = _tree_apps(appsets, memo)
    return Deployed(found.apps, base.protected, source, base.gitops_path, frozenset(found.apps), found.retired,
                    found.namespaces)


def deployed(root: Path, out: Path, shown: str, known: tuple[AtBase | None] | None = None) -> Deployed:
    """The applications deployed before this render: the git base's tree and the tree on disk.

    Outside a git checkout, or where neither origin/main nor main exists, only the
    tree on disk at ``out`` (shown as ``shown``) counts, and ``source`` says so.
    ``known``: the git base as already read.
    """
    problems: list[Problem] = []
    on_disk = AppSets({}, {})
    base: Deployed | None = None
    memo: Memo = {}
    try:
        on_disk = deployed_apps(out, shown, memo)
    except InputError as exc:
        problems.extend(exc.problems)
    try:
        base = _from_git(root, memo, known)
    except InputError as exc:
        problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    if base is None:
        return Deployed(on_disk.apps, frozenset(), _source(None, shown), retired=on_disk.retired,
                        namespaces=on_disk.namespaces)
    # the base's environment and namespace win for applications on both sides
    apps = {**on_disk.apps, **base.apps}
    namespaces = {**on_disk.namespaces, **base.namespaces}
    # retired counts only as committed at the base: retiring and removing in one change is refused
    return Deployed(apps, base.protected, f"{base.source}, and {shown}/ on disk", base.gitops_path,
                    base.at_base, base.retired, namespaces)


# --- the rule -----------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def check_removals(before: Deployed, apps: Mapping[str, tuple[str, str]], platform: Platform) -> Refusal | None:
    """Why the new tree may not replace ``before`` without --allow-delete; None when it may.

    Refused when an application of a protected environment (protected at the base
    or today) is gone, or has left that environment, or that environment is no
    longer protected; when ``gitops.path`` changed (every previous application
    counts as removed); or when more than MAX_SHARE of all applications go. ``apps`` maps every
    application of the new tree to its environment and namespace.
    """
    now = {app: env for app, (env, _namespace) in apps.items()}
    namespace_now = {app: namespace for app, (_env, namespace) in apps.items()}
    protected_now = {e.name for e in platform.environments if e.protected}
    guarded = before.protected | protected_now
    moved_tree = before.gitops_path is not None and before.gitops_path != platform.gitops_path
    removed: list[Removal] = []
    for app, env in sorted(before.apps.items()):
        if moved_tree and app in before.at_base:
            removed.append(Removal(env, app, f"the tree moves to {platform.gitops_path}"))
        elif app not in now and app in before.retired:
            continue  # its service was retired in an earlier, reviewed change: removing it is the point
        elif app not in now:
            removed.append(Removal(env, app))
        elif env in before.protected and now[app] != env:
            removed.append(Removal(env, app, f"now in environment {now[app]}"))
        elif env in before.protected and env not in protected_now:
            removed.append(Removal(env, app, f"environment {env} is no longer protected"))
        elif env in guarded and before.namespaces.get(app, namespace_now[app]) != namespace_now[app]:
            # a team change: Argo CD deletes everything in the old namespace, claims (and data) included
            removed.append(Removal(env, app, f"moves from namespace {before.namespaces[app]} to "
                                             f"{namespace_now[app]}"))
    removed.sort()
    if not removed:
        return None
    in_protected = [r for r in removed if r.env in guarded]
    reasons = []
    if moved_tree:
        reasons.append(f"gitops.path changes from {before.gitops_path} to {platform.gitops_path}, so every "
                       f"application of the previous tree counts as removed")
    if in_protected:
        envs = sorted({r.env for r in in_protected})
        reasons.append(f"{_plural(len(in_protected), 'application')} of protected "
                       f"environment{'s' if len(envs) != 1 else ''} {', '.join(envs)} would be removed")
    # an app that only changed environment, or lost protection, is still deployed; a moved tree is not
    gone = removed if moved_tree else [r for r in removed if not r.why]
    if len(gone) > MAX_SHARE * len(before.apps):
        reasons.append(f"{len(gone)} of {len(before.apps)} applications would be removed "
                       f"(more than {MAX_SHARE:.0%} at once)")
    if not reasons:
        return None
    shown = tuple(in_protected) + tuple(r for r in removed if r not in in_protected)
    return Refusal("; ".join(reasons), shown, before.source, len(in_protected))


def _apps_of(services: Services, name: str) -> Iterator[tuple[str, str, str]]:
    """(Application, environment, namespace) of every target of a service; from its line as read, when it was
    read from an index, without keeping its summary (whose list of files is most of it)."""
    line = services.read_line(name)
    if line is None:
        summary = services[name]
        placements, namespace = summary.placements, summary.namespace
    else:
        try:
            doc = json.loads(line[line.index(b":") + 1:])
            placements, namespace = doc["placements"], doc["namespace"]
            if not (isinstance(placements, dict) and isinstance(namespace, str)):
                raise TypeError(name)
        except (ValueError, KeyError, TypeError):
            raise DamagedIndex(name) from None
    for env, clusters in sorted(placements.items()):
        for cluster in clusters:
            yield f"{name}-{cluster}", env, namespace


def guard(root: Path, out: Path, shown: str, platform: Platform, index: Index,
          at_base: Callable[[], AtBase | None] | None = None) -> tuple[Refusal | None, str]:
    """``check_removals`` of the tree whose render index is ``index`` against what was deployed before, and
    how that was read (for ``-v``).

    When the base's tree and the tree on disk both have a render index, only the services whose lines
    differ between the three indexes are looked at: a service with the same line everywhere deploys the
    same applications to the same environment and namespace, so it removes nothing. Should those services
    remove anything, or the tree move, or an environment lose its protection, every application is
    counted as ``deployed`` and ``check_removals`` do, for the exact refusal. ``at_base`` gives what
    ``read_base`` reads (when a thread has read it already).
    """
    try:
        known = at_base() if at_base is not None else read_base(root)
    except InputError:  # read again, to be reported with the tree on disk's problems as deployed() does
        return _every_app(deployed(root, out, shown), platform, index)
    try:
        disk_data: bytes | None = (out / INDEX).read_bytes()
    except OSError:
        disk_data = None
    disk = parse_index(disk_data, None) if disk_data is not None else None
    base_index = known.parsed if known is not None and known.gitops_path is not None else None
    # the base's tree the same as the disk's: its lines are compared (and parsed) once
    same = base_index is not None and disk is not None and known is not None and known.index == disk_data
    protected_now = {e.name for e in platform.environments if e.protected}
    fast = (disk is not None or not (out / APPSETS_DIR).exists()) and (
        known is None or known.gitops_path is None
        or (base_index is not None and known.gitops_path == platform.gitops_path
            and known.protected <= protected_now))
    if fast:
        try:
            removed = _differing_removals(index.entries, disk.entries if disk is not None else None,
                                          base_index.entries if base_index is not None and not same else None)
        except DamagedIndex:
            removed = True
        if not removed:
            return None, _source(known, shown)
    return _every_app(deployed(root, out, shown, (known,)), platform, index)


def _every_app(before: Deployed, platform: Platform, index: Index) -> tuple[Refusal | None, str]:
    return check_removals(before, index.apps(), platform), before.source


def _differing_removals(now: Services, disk: Services | None, base: Services | None) -> bool:
    """Whether a service whose line differs between the new index (``now``), the one on disk and the base's
    may remove an application: one of its applications on either side is gone, or deploys to another
    environment or namespace now (a retirement too: ``check_removals`` then tells whether it may go).
    ``base`` is None without a base, or when its index is the disk's."""
    sides = [s for s in (disk, base) if s is not None]
    differ: list[str] = []
    for name in set(now).union(*sides):
        if not all(now.same_line(name, side) for side in sides):
            differ.append(name)
    after = {app: (env, namespace) for name in differ if name in now for app, env, namespace in _apps_of(now, name)}
    return any(after.get(app) != (env, namespace)
               for side in sides for name in differ if name in side for app, env, namespace in _apps_of(side, name))
