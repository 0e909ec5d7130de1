"""Stage 1: read the platform repo from disk. The only stage that reads input files.

Everything is read into memory (templates and environment components included) so
that later stages are pure functions of a :class:`Sources` value.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, Problem
from .index import SharedInputs, blob_id, features_text, shared_inputs
from .limits import MAX_FILE_BYTES, human_bytes, undecodable
from .yamlio import Located, load_located

if TYPE_CHECKING:
    from .gitref import OnDisk

__all__ = ["API_FILES", "DOCS_FILE", "FEATURE_FILES", "PLATFORM_FILE", "STARTER_FILE", "YAMLLINT_FILE", "Select",
           "Sources", "load", "load_docs", "load_services", "load_shared", "load_yamllint_config", "parse_services",
           "service_features", "yaml_inputs"]

PLATFORM_FILE = "platform-config/platform.yaml"
SERVICES_DIR = "platform-config/services"
TEMPLATES_DIR = "platform-config/templates"
CROSSPLANE_DIR = "platform-config/crossplane"
ENVIRONMENTS_DIR = "environments"
OVERLAYS_DIR = "overlays"
#: The folder of the editor schemas (README "Editor support"), next to platform-config/.
SCHEMAS_DIR = "schemas"
YAMLLINT_FILE = ".yamllint.yaml"
#: Files of a service's folder that the Backstage catalog shows (README "Seeing your service in Backstage"):
#: its docs (TechDocs reads the folder when it holds mkdocs.yml) and the APIs it provides, by API type.
DOCS_FILE = "mkdocs.yml"
API_FILES = {"asyncapi": "asyncapi.yaml", "openapi": "openapi.yaml"}
FEATURE_FILES = tuple(sorted((DOCS_FILE, *API_FILES.values())))
TEMPLATE_SUFFIXES = (".yaml.j2", ".jsonnet", ".libsonnet", ".j2")
#: The file that makes a template folder a Helm chart, all of whose files are read.
CHART_FILE = "Chart.yaml"
#: A template's optional starter values, in its folder.
STARTER_FILE = "starter.yaml"


@dataclass(frozen=True)
class Sources:
    """The raw, parsed inputs of one platform repo (paths are relative to the root)."""

    platform: Located | None
    environments: tuple[Located, ...]
    services: tuple[tuple[str, Located], ...]
    templates: dict[str, dict[str, str | bytes]]  # text; bytes only for a Helm chart's charts/*.tgz
    components: dict[str, dict[str, bytes]]
    crossplane: tuple[Located, ...] = ()
    problems: tuple[Problem, ...] = field(default=())
    # relative path -> digest of the bytes of every input file read (config.yaml files included
    # even where not parsed): what the render index compares
    digests: dict[str, str] = field(default_factory=dict)
    # service folders with a config.yaml that were read but not parsed (see ``load``'s ``select``)
    skipped: tuple[str, ...] = ()
    # the config.yaml bytes of the services selected but not parsed yet (``load_services(parse=False)``)
    raw: tuple[tuple[str, bytes], ...] = ()
    # whether the repo keeps the editor schemas: it has a folder ``schemas/`` (README "Editor support")
    editor_schemas: bool = False
    # service folder -> the files of FEATURE_FILES it holds, for every service folder seen (parsed or not)
    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # parses one service's config.yaml on demand (a service left unparsed, named in a problem)
    reparse: Callable[[str], Located | None] | None = field(default=None, repr=False, compare=False)
    # template -> its starter values (``platform-config/templates/<template>/starter.yaml``), where it has one
    starters: dict[str, Located] = field(default_factory=dict)

    def shared_inputs(self) -> SharedInputs:
        """The digests of the inputs services share (see the render index)."""
        env_files: dict[str, str] = {}
        others: list[str] = []
        for doc in self.environments:
            named = doc.data.get("name") if isinstance(doc.data, dict) else None
            name = named if isinstance(named, str) else Path(doc.file).stem
            if name in env_files:
                others.append(doc.file)  # (an error: told by validate, which must then check it too)
            else:
                env_files[name] = doc.file
        return shared_inputs(self.digests, env_files, PLATFORM_FILE, TEMPLATES_DIR, OVERLAYS_DIR, CROSSPLANE_DIR,
                             others)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


class _Reader:
    """Reads input files for :func:`load`: inside the repo, bounded in size, decoded with a location."""

    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.root = root
        self.real = root.resolve()
        self.problems = problems
        self.digests: dict[str, str] = {}

    def rel(self, path: Path) -> str:
        return _rel(path, self.root)

    def _stays(self, path: Path) -> bool | None:
        """Whether ``path`` resolves inside the repo; None for a link loop."""
        try:
            path.resolve().relative_to(self.real)
            return True
        except ValueError:
            return False
        except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError for a loop
            return None

    def _escaping_link(self, path: Path) -> tuple[Path, bool | None] | None:
        """The first symbolic link on the way from the root to ``path`` that leads out of the repo (or loops)."""
        whole = self._stays(path)
        if whole:
            return None
        node = self.root
        for part in path.relative_to(self.root).parts:
            node = node / part
            if node.is_symlink():
                stays = self._stays(node)
                if not stays:
                    return node, stays
        return path, whole

    def inside(self, path: Path) -> bool:
        """Whether ``path`` stays inside the repo; else a problem naming the link is recorded."""
        found = self._escaping_link(path)
        if found is None:
            return True
        link, stays = found
        message = ("symbolic link that loops; not read" if stays is None
                   else "symbolic link to a location outside the repo; not read")
        self.problems.append(Problem(self.rel(link), 0, 0, "", message,
                                     "inputs must be files of the platform repo itself"))
        return False

    def read_bytes(self, path: Path) -> bytes | None:
        """The bytes of one input file, or None (with a problem recorded)."""
        rel = self.rel(path)
        if not self.inside(path):
            return None
        if not path.is_file():  # a FIFO or a device would block or never end
            self.problems.append(Problem(rel, 0, 0, "", "not a regular file"))
            return None
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            self.problems.append(Problem(rel, 0, 0, "", f"cannot read: {exc.strerror or exc}"))
            return None
        if len(data) > MAX_FILE_BYTES:
            self.problems.append(Problem(rel, 0, 0, "", f"file is larger than the limit of "
                                         f"{human_bytes(MAX_FILE_BYTES)}", "split it or keep it out of the repo"))
            return None
        self.digests[rel] = blob_id(data)
        return data

    def read_text(self, path: Path, data: bytes | None = None) -> str | None:
        """One input file as UTF-8 text; a decoding error is located at the first bad byte."""
        data = self.read_bytes(path) if data is None else data
        if data is None:
            return None
        bad = undecodable(data)
        if bad is not None:
            self.problems.append(Problem(self.rel(path), *bad[:2], "", bad[2], "save the file as UTF-8"))
            return None
        return data.decode("utf-8")

    def yaml(self, path: Path, data: bytes | None = None) -> Located | None:
        text = self.read_text(path, data)
        if text is None:
            return None
        doc, found = load_located(text, self.rel(path))
        self.problems.extend(found)
        return doc

    def yaml_multi(self, path: Path) -> list[Located]:
        from .yamlio import load_located_all

        text = self.read_text(path)
        if text is None:
            return []
        docs, found = load_located_all(text, self.rel(path))
        self.problems.extend(found)
        return docs

    def yaml_multi_text(self, path: Path, text: str) -> list[Located] | None:
        """Every document of ``text`` (read from ``path``), or None when it is not valid YAML."""
        from .yamlio import load_located_all

        docs, found = load_located_all(text, self.rel(path))
        self.problems.extend(found)
        return None if found else docs

    def files(self, folder: Path) -> list[Path]:
        """Files below ``folder``, sorted; links leading out of the repo are refused, not followed."""
        if not self.inside(folder):
            return []
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(folder):
            here = Path(dirpath)
            for name in sorted(dirnames):
                sub = here / name
                if sub.is_symlink() and self.inside(sub):
                    # never descend through a link (loops); one leading out of the repo is reported above
                    self.problems.append(Problem(self.rel(sub), 0, 0, "", "symbolic link to a folder; not read",
                                                 "put the files in the folder itself (links to files are "
                                                 "followed)"))
            dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
            for name in filenames:
                path = here / name
                if path.is_symlink() and not self.inside(path):
                    continue
                if path.is_file():
                    found.append(path)
                elif path.is_symlink():
                    self.problems.append(Problem(self.rel(path), 0, 0, "", "symbolic link to nothing; not read",
                                                 "remove the link or restore what it points at"))
                else:  # a FIFO, a socket, a device: reading it would block or never end
                    self.problems.append(Problem(self.rel(path), 0, 0, "", "not a regular file; not read",
                                                 "inputs are regular files; remove it"))
        return sorted(found)

    def pair(self, path: Path) -> bool:
        """False (with a problem) when both ``x.yaml`` and ``x.yml`` exist: neither is chosen silently."""
        other = path.with_suffix(".yml" if path.suffix == ".yaml" else ".yaml")
        if path.suffix in (".yaml", ".yml") and (other.is_file() or other.is_symlink()):
            yaml_file = path if path.suffix == ".yaml" else other
            self.problems.append(Problem(self.rel(yaml_file.with_suffix(".yml")), 0, 0, "",
                                         f"both {yaml_file.name} and {yaml_file.with_suffix('.yml').name} exist",
                                         "keep one of them"))
            return False
        return True


#: Control characters that no template text may hold (tab, newline and carriage return may).
_TEMPLATE_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _template_text_ok(text: str, rel: str, problems: list[Problem]) -> bool:
    found = _TEMPLATE_CONTROL.search(text)
    if found is None:
        return True
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    problems.append(Problem(rel, line, column, "", f"control character U+{ord(found.group()):04X} is not allowed "
                            "in a template", "remove it"))
    return False


def _chart_archive(rel: str) -> bool:
    """A chart's vendored dependency (``charts/<name>-<version>.tgz``), kept as bytes."""
    return rel.startswith("charts/") and rel.endswith(".tgz")


Select = Callable[[str, str, tuple[str, ...]], bool]


def service_features(folder: str, known: OnDisk | None = None, rel: str = "") -> tuple[str, ...]:
    """The files of :data:`FEATURE_FILES` that the service folder at ``folder`` holds (files, or links to
    files: only their presence is read, never their content). ``known``: what git's index tells of the
    files at ``rel`` (the folder relative to the repo root): only those it cannot vouch for are looked at."""
    held = []
    for name in FEATURE_FILES:
        there = known.is_file(f"{rel}/{name}") if known is not None else None
        if there is None:  # git cannot tell (or was not asked): the disk does
            there = os.path.isfile(folder + "/" + name)
        if there:
            held.append(name)
    return tuple(held)


def vouched_unchanged(known: OnDisk, keys: Iterable[tuple[bytes, bytes, bytes]]
                      ) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """The service folders that git's index vouches hold what ``keys`` (an index's (name, config.yaml id,
    catalog files as JSON text), see ``index.Services.keys_read``) records: the same config.yaml, no
    config.yml beside it, the same catalog files, and nothing git cannot vouch for; and the catalog files of
    those that hold any.

    With the shared inputs and the generator as the index records them, such a service's inputs are the
    ones it was rendered from, so it is kept without its folder being looked at or its index line read: at
    thousands of services, comparing them all in one piece costs less than a look at each (#9)."""
    prefix = SERVICES_DIR + "/"
    cut = len(prefix)
    if any(not rel.startswith(prefix) for rel in (*known.unsure, *known.opaque)):
        return frozenset(), {}  # the services folder itself is not as git holds it (a link, a submodule)
    doubtful = {rel[cut:].partition("/")[0] for rel in (*known.unsure, *known.opaque)}
    configs: dict[str, str] = {}
    held: dict[str, set[str]] = {}
    catalog = frozenset(FEATURE_FILES)
    for rel, blob in known.ids.items():
        if rel.startswith(prefix):
            folder, _, rest = rel[cut:].partition("/")
            if rest == "config.yaml":
                configs[folder] = blob
            elif rest in catalog:
                held.setdefault(folder, set()).add(rest)
            elif rest == "config.yml":
                doubtful.add(folder)
    features = {folder: tuple(f for f in FEATURE_FILES if f in files) for folder, files in held.items()}
    listed = {f: features_text(names) for f, names in features.items()}
    none = features_text(())
    mine = {(folder.encode(), blob.encode(), listed.get(folder, none))
            for folder, blob in configs.items() if folder not in doubtful}
    same = frozenset(name.decode() for name, _config, _features in mine.intersection(keys))
    return same, {f: features[f] for f in same.intersection(features)}


def load(root: Path, select: Select | None = None) -> Sources:
    """Read every input of the platform repo at ``root``; problems are collected, not raised.

    With ``select``, a service's config.yaml is parsed only where ``select(folder, digest of
    its bytes, the catalog files its folder holds)`` is true; the others are read and digested only
    (``Sources.skipped``).
    """
    return load_services(root, load_shared(root), select)


def load_shared(root: Path) -> Sources:
    """Read every input but the services' config.yaml files."""
    problems: list[Problem] = []
    reader = _Reader(root, problems)
    platform_path = root / PLATFORM_FILE
    platform = None
    if platform_path.is_file() or platform_path.is_symlink():
        if reader.pair(platform_path):
            platform = reader.yaml(platform_path)
    else:
        problems.append(
            Problem(PLATFORM_FILE, 0, 0, "", "file not found",
                    "run platform-gen from the platform repo's root or pass --root")
        )

    environments: list[Located] = []
    env_dir = root / ENVIRONMENTS_DIR
    env_paths = [p for p in sorted(env_dir.glob("*.yaml")) + sorted(env_dir.glob("*.yml"))
                 if p.is_file() or p.is_symlink()]
    if env_dir.is_dir() and not reader.inside(env_dir):
        env_paths = []
    for path in env_paths:
        if path.suffix == ".yml" and path.with_suffix(".yaml") in env_paths:
            continue  # the pair is reported once, for the .yaml file
        # a .yaml/.yml pair is an error, but the .yaml is still read so that the services
        # naming that environment are not told it does not exist (the render fails either way)
        reader.pair(path)
        doc = reader.yaml(path)
        if doc is not None:
            environments.append(doc)
    if not environments and not problems:
        problems.append(Problem(ENVIRONMENTS_DIR, 0, 0, "", "no environment files found",
                                "add environments/<env>.yaml"))

    templates: dict[str, dict[str, str | bytes]] = {}
    starters: dict[str, Located] = {}
    tpl_dir = root / TEMPLATES_DIR
    if tpl_dir.is_dir() and reader.inside(tpl_dir):
        for folder in sorted(p for p in tpl_dir.iterdir() if p.is_dir()):
            files: dict[str, str | bytes] = {}
            # a Helm chart is read whole (its digest covers every file, charts/*.tgz included)
            chart = (folder / CHART_FILE).is_file()
            for path in reader.files(folder):
                rel = path.relative_to(folder).as_posix()
                if path.parent == folder and path.name == STARTER_FILE:
                    # the golden path's starter values: platform-gen new starts a service from them, and the
                    # sample render that checks the template uses them (its digest is the template's)
                    doc = reader.yaml(path)
                    if doc is not None:
                        starters[folder.name] = doc
                elif chart and _chart_archive(rel):
                    data = reader.read_bytes(path)
                    if data is not None:
                        files[rel] = data
                elif chart or path.name.endswith(TEMPLATE_SUFFIXES):
                    text = reader.read_text(path)
                    if text is not None and _template_text_ok(text, reader.rel(path), problems):
                        files[rel] = text
            templates[folder.name] = files

    components: dict[str, dict[str, bytes]] = {}
    ov_dir = root / OVERLAYS_DIR
    if ov_dir.is_dir() and reader.inside(ov_dir):
        entries = sorted(p for p in ov_dir.iterdir() if not p.is_symlink() or reader.inside(p))
        for entry in entries:
            if entry.is_symlink() and not entry.exists():
                problems.append(Problem(_rel(entry, root), 0, 0, "", "symbolic link to nothing; not read",
                                        "remove the link or restore what it points at"))
        for folder in (p for p in entries if p.is_dir()):
            component: dict[str, bytes] = {}
            for path in reader.files(folder):
                # copied into the tree as they are, so held to the rules of every input first:
                # UTF-8, and for YAML no anchors, no control characters, valid syntax
                text = reader.read_text(path)
                if text is None:
                    continue
                if path.suffix in (".yaml", ".yml"):
                    before = len(problems)
                    docs = reader.yaml_multi_text(path, text)
                    if len(problems) > before or docs is None:
                        continue
                component[path.relative_to(folder).as_posix()] = text.encode("utf-8")
            components[folder.name] = component

    crossplane: list[Located] = []
    xp_dir = root / CROSSPLANE_DIR
    if xp_dir.is_dir():
        xp_files = reader.files(xp_dir)
        for path in xp_files:
            if path.suffix == ".yml" and path.with_suffix(".yaml") in xp_files:
                continue  # the pair is reported once, for the .yaml file
            if path.suffix in (".yaml", ".yml") and reader.pair(path):
                crossplane.extend(reader.yaml_multi(path))

    return Sources(
        platform=platform,
        environments=tuple(environments),
        services=(),
        templates=templates,
        components=components,
        crossplane=tuple(crossplane),
        problems=tuple(problems),
        digests=reader.digests,
        # a folder of the repo itself (a link is refused when the schemas are written)
        editor_schemas=(root / SCHEMAS_DIR).is_dir() or (root / SCHEMAS_DIR).is_symlink(),
        starters=starters,
    )


#: How the quick path opens a config.yaml: never through a link (the careful path checks where one leads),
#: and without blocking on a FIFO (which the careful path then reports).
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 16


def load_services(root: Path, shared: Sources, select: Select | None = None, *,
                  parse: bool = True, names: Iterable[str] | None = None,
                  known: OnDisk | None = None, unchanged: Collection[str] = (),
                  held: Mapping[str, tuple[str, ...]] | None = None) -> Sources:
    """``shared`` with the services' config.yaml files read (parsed where ``select`` says so; see ``load``).

    With ``parse`` false, the selected files' bytes are kept in ``raw`` for :func:`parse_services`.
    ``names``: read only the service folders of these names. ``known``: what git's index vouches for
    below the services folder (see ``gitref.on_disk``): a config.yaml whose id (``blob_id``) it gives and that
    ``select`` leaves out is not read at all, and the catalog files of a folder are looked for only where git
    cannot tell. ``unchanged``: folders skipped unlooked at, whose catalog files are ``held`` (see
    :func:`vouched_unchanged`).
    """
    problems: list[Problem] = list(shared.problems)
    reader = _Reader(root, problems)
    reader.digests = dict(shared.digests)
    digests = reader.digests
    raw: list[tuple[str, bytes]] = []
    services: list[tuple[str, Located]] = []
    skipped: list[str] = []
    features: dict[str, tuple[str, ...]] = {}
    svc_dir = root / SERVICES_DIR

    def take(name: str, rel: str, data: bytes) -> None:
        if select is not None and not select(name, digests[rel], features[name]):
            skipped.append(name)
        elif not parse:
            raw.append((name, data))
        else:
            doc = reader.yaml(svc_dir / name / "config.yaml", data)
            if doc is not None:
                services.append((name, doc))

    if svc_dir.is_dir() and reader.inside(svc_dir):
        with os.scandir(svc_dir) as listing:
            found = sorted(listing, key=lambda e: e.name)
        if names is not None:
            wanted = set(names)
            found = [e for e in found if e.name in wanted]
        lexists = os.path.lexists

        def no_yml(folder: str, path: str) -> bool:
            """No config.yml beside the config.yaml (nothing git holds there, or nothing on disk)."""
            there = known.is_file(f"{SERVICES_DIR}/{folder}/config.yml") if known is not None else None
            return not lexists(path[:-4] + "yml") if there is None else not there

        for item in found:
            if item.name in unchanged:
                skipped.append(item.name)
                continue
            # the common case without a Path or a resolve: a real folder holding a real config.yaml
            # (no link anywhere below a folder that is inside the repo, so it is inside too)
            try:
                is_dir = item.is_dir(follow_symlinks=False)  # from the listing, without a system call
            except OSError:
                is_dir = False
            if is_dir:
                features[item.name] = service_features(item.path, known, f"{SERVICES_DIR}/{item.name}")
                cfg_path = item.path + "/config.yaml"
                rel = f"{SERVICES_DIR}/{item.name}/config.yaml"
                vouched = known.ids.get(rel) if known is not None else None
                if vouched is not None and select is not None and no_yml(item.name, cfg_path):
                    digests[rel] = vouched
                    if not select(item.name, vouched, features[item.name]):
                        skipped.append(item.name)
                        continue
                data = None
                try:
                    fd = os.open(cfg_path, _READ_FLAGS)
                except OSError:
                    fd = -1
                if fd >= 0:
                    try:  # no fstat: what is not a regular file reads as nothing, or fails, or has no end
                        data = chunk = os.read(fd, _CHUNK)
                        while len(chunk) == _CHUNK and len(data) <= MAX_FILE_BYTES:
                            chunk = os.read(fd, _CHUNK)
                            data += chunk
                    except OSError:
                        data = None
                    finally:
                        os.close(fd)
                # an empty file, a FIFO, one too large: the careful path below tells which
                if data and len(data) <= MAX_FILE_BYTES and no_yml(item.name, cfg_path):
                    digests[rel] = blob_id(data)
                    take(item.name, rel, data)
                    continue
            entry = Path(item.path)
            if entry.is_symlink() and not reader.inside(entry):
                continue  # a link out of the repo, or a loop: reported by inside()
            if not entry.is_dir():
                if entry.is_symlink():  # a dangling link
                    problems.append(Problem(_rel(entry, root), 0, 0, "", "symbolic link to nothing; not read",
                                            "a service is a folder with a config.yaml; remove the link"))
                continue
            folder = entry
            features[folder.name] = service_features(os.fspath(folder))
            cfg = folder / "config.yaml"
            if cfg.exists() and not cfg.is_file() and not cfg.is_symlink():
                problems.append(Problem(_rel(cfg, root), 0, 0, "", "not a regular file",
                                        "config.yaml must be a file"))
                continue
            if not (cfg.is_file() or cfg.is_symlink()):
                problems.append(Problem(_rel(folder, root), 0, 0, "", "service folder without config.yaml",
                                        "add config.yaml or remove the folder"))
                continue
            if not reader.pair(cfg):
                continue
            read = reader.read_bytes(cfg)
            if read is not None:
                take(folder.name, _rel(cfg, root), read)

    def reparse(name: str) -> Located | None:
        return _Reader(root, []).yaml(svc_dir / name / "config.yaml")

    return dataclasses.replace(shared, services=tuple(services), problems=tuple(problems), digests=reader.digests,
                               skipped=tuple(skipped), reparse=reparse, raw=tuple(raw),
                               features={**shared.features, **(held or {}), **features})


def parse_services(shared: Sources, raw: Iterable[tuple[str, bytes]]) -> Sources:
    """``shared`` (without problems of its own) with the services of ``raw`` parsed: no file is read."""
    problems: list[Problem] = []
    services: list[tuple[str, Located]] = []
    for folder, data in raw:
        rel = f"{SERVICES_DIR}/{folder}/config.yaml"
        bad = undecodable(data)
        if bad is not None:
            problems.append(Problem(rel, *bad[:2], "", bad[2], "save the file as UTF-8"))
            continue
        doc, found = load_located(data.decode("utf-8"), rel)
        problems.extend(found)
        if doc is not None:
            services.append((folder, doc))
    return dataclasses.replace(shared, services=tuple(services), problems=tuple(problems), raw=())


def load_yamllint_config(root: Path) -> str | None:
    """The repo's yamllint config (None when it has none), read with the care of every input.

    It stays inside the repo, within the size limit, free of aliases, and cannot make
    yamllint read other files (``extends`` only names a built-in config).
    """
    path = root / YAMLLINT_FILE
    if not (path.is_file() or path.is_symlink()):
        return None
    problems: list[Problem] = []
    reader = _Reader(root, problems)
    text = reader.read_text(path)
    if text is not None:
        doc, found = load_located(text, YAMLLINT_FILE)
        problems.extend(found)
        data = doc.data if doc is not None else None
        if doc is not None and isinstance(data, dict):
            if "extends" in data and data["extends"] not in ("default", "relaxed"):
                problems.append(doc.problem(("extends",), "only the built-in configs 'default' and 'relaxed' "
                                            "may be extended", "copy the rules you need into this file"))
            if "ignore-from-file" in data:
                problems.append(doc.problem(("ignore-from-file",), "ignore-from-file is not supported",
                                            "list the patterns under 'ignore'", key=True))
    if problems:
        raise InputError(problems)
    return text


#: The folders of the files people write, and so the files ``validate`` lints.
LINTED_DIRS = ("platform-config", ENVIRONMENTS_DIR, OVERLAYS_DIR)


def _chart_source(root: Path, rel: str) -> bool:
    """A file of a Helm chart that is Go template source or a dependency, not YAML: its templates/ and charts/."""
    parts = rel.split("/")
    prefix = TEMPLATES_DIR.split("/")
    return (len(parts) > len(prefix) + 2 and parts[:len(prefix)] == prefix
            and parts[len(prefix) + 1] in ("templates", "charts")
            and (root.joinpath(*parts[:len(prefix) + 1]) / CHART_FILE).is_file())


def yaml_inputs(root: Path) -> tuple[list[tuple[str, bytes]], list[Problem]]:
    """Every YAML file below the input folders: (path relative to the root, bytes), sorted; a Helm chart's
    templates/ and charts/ are Go templates, not YAML, and are left out.

    Read with the care of every input (inside the repo, regular files, within the size
    limit); a file that cannot be read is a problem instead.
    """
    problems: list[Problem] = []
    reader = _Reader(root, problems)
    found: list[tuple[str, bytes]] = []
    for name in LINTED_DIRS:
        folder = root / name
        if not (folder.is_dir() or folder.is_symlink()):
            continue
        for path in reader.files(folder):
            if path.suffix in (".yaml", ".yml") and not _chart_source(root, reader.rel(path)):
                data = reader.read_bytes(path)
                if data is not None:
                    found.append((reader.rel(path), data))
    return found, problems


def load_docs(root: Path, services: Iterable[str]) -> frozenset[str]:
    """The services of ``services`` whose folder holds docs: a regular file ``mkdocs.yml`` inside the repo (a
    link out of it does not count). Only whether it is there is read, not what it says."""
    reader = _Reader(root, [])  # a link out of the repo is no docs, and no problem of the scorecard's
    found = set()
    for name in services:
        path = root / SERVICES_DIR / name / DOCS_FILE
        if path.is_file() and reader.inside(path):
            found.add(name)
    return frozenset(found)
