"""The verdict cache of ``validate``: what was found for inputs already validated.

Two kinds of entries, each one JSON file named by a SHA-256 key:

- ``overlays/``: an overlay's verdict (the problems attributed to it, its object count
  and the identities of its objects, for the collision check), under a key made of
  every byte its build reads (the overlay folder, the folders and files its
  kustomization references, recursively, e.g. the service's base and components),
  the kustomize identity and version, the Kubernetes version, platform-gen's version
  and sources, and the claim schemas derived from the XRDs;
- ``yamllint/``: yamllint's findings for one file, keyed by its bytes, its path and
  the yamllint config and version;
- ``files/``: the findings of one Argo CD or Crossplane file of the tree, keyed like
  an overlay's by its bytes and path;
- ``references/``: one entry, the files and folders each kustomization names, keyed by
  the SHA-256 of its bytes (reading them again took most of a warm run's keying).

Writes are atomic (temporary file, then rename); an entry that cannot be read or
parsed is a miss; a cache that cannot be written is skipped. The cache never
changes what validate finds, only how much it re-does.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .write import write_atomically

__all__ = ["Cache", "overlay_inputs"]

#: Keys of a kustomization whose strings name local files or folders.
_PATH_KEYS = ("resources", "components", "bases", "crds", "patchesStrategicMerge", "transformers",
              "generators", "validators", "configurations")
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: libyaml's safe loader. Like kustomize, it accepts aliases: only the references are read.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: The top-level keys that :func:`_references` reads.
_REFERENCING = frozenset({*_PATH_KEYS, "patches", "patchesJson6902", "replacements", "configMapGenerator",
                          "secretGenerator", "openapi", "helmCharts", "helmChartInflationGenerator"})
_BAD_VALUE = (ValueError, OverflowError, AttributeError, TypeError, KeyError, IndexError, RecursionError)


def _referencing_part(data: bytes) -> Any:
    """The top-level entries of a kustomization that can name files (the rest is not built).

    Building every value with PyYAML (inline patches included) took ~0.3 ms a file, most
    of the time of keying 11,200 overlays; libyaml composes the nodes, and only these
    entries become Python values. A merge key (``<<``) at the top is built whole.
    """
    node = yaml.compose(data, Loader=_LOADER)
    if not isinstance(node, yaml.MappingNode) or any(
            k.tag == "tag:yaml.org,2002:merge" for k, _v in node.value):
        return yaml.load(data, Loader=_LOADER)
    constructor = yaml.constructor.SafeConstructor()
    doc: dict[Any, Any] = {}
    for knode, vnode in node.value:
        key = constructor.construct_object(knode, deep=True)
        if isinstance(key, str) and key in _REFERENCING:
            doc[key] = constructor.construct_object(vnode, deep=True)
    return doc


class Cache:
    """A cache folder; ``None`` as folder turns every lookup into a miss and every store into nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, kind: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str | None) -> Any:
        """The entry stored under ``key``, or None (missing, unreadable or corrupt)."""
        if self.folder is None or key is None:
            return None
        try:
            doc = json.loads(self._path(kind, key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return doc.get("value") if isinstance(doc, dict) and doc.get("key") == key else None

    def put(self, kind: str, key: str | None, value: Any) -> None:
        """Store ``value`` atomically; a folder that cannot be written is skipped."""
        if self.folder is None or key is None:
            return
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps({"key": key, "value": value}, sort_keys=True).encode("utf-8"))
        except OSError:
            return


def digest(*parts: str | bytes) -> str:
    """SHA-256 over length-prefixed parts (so no two lists of parts collide)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(f"{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()


class _Reader:
    """File hashes and folder listings, each computed once per run.

    ``known`` maps the SHA-256 of a kustomization's bytes to the references read from it
    (None: it could not be read), from an earlier run: reading them again took most of
    the time of keying a warm run. ``used`` is what this run needed, to be stored.
    """

    def __init__(self, known: dict[str, list[str] | None] | None = None) -> None:
        self.files: dict[str, str] = {}
        self.dirs: dict[str, list[str] | None] = {}
        self.busy: set[str] = set()
        self.known = known or {}
        self.used: dict[str, list[str] | None] = {}

    def references(self, path: str) -> list[str] | None:
        """The references of the kustomization at ``path``; None if it cannot be read as one."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            return None
        key = hashlib.sha256(data).hexdigest()
        self.files.setdefault(path, key)
        if key not in self.used:
            if key in self.known:
                self.used[key] = self.known[key]
            else:
                try:
                    self.used[key] = list(_references(_referencing_part(data)))
                except (yaml.YAMLError, *_BAD_VALUE):
                    self.used[key] = None  # kustomize fails on it: the bytes are the key
        return self.used[key]

    def file(self, path: str) -> str:
        if path not in self.files:
            try:
                self.files[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError as exc:
                self.files[path] = f"unreadable:{exc.errno}"
        return self.files[path]

    def listing(self, folder: str) -> list[str] | None:
        """Every file under ``folder``, sorted; None when the folder's references cannot be keyed."""
        if folder not in self.dirs:
            self.busy.add(folder)
            self.dirs[folder] = self._listing(folder)
            self.busy.discard(folder)
        return self.dirs[folder]

    def _listing(self, folder: str) -> list[str] | None:
        found = _files_below(folder)
        for name in _KUSTOMIZATIONS:
            k = os.path.join(folder, name)
            if os.path.isfile(k):
                break
        else:
            return found
        refs = self.references(k)
        if refs is None:
            return found  # kustomize fails on it: the bytes are the key
        for ref in refs:
            if "://" in ref or ref.startswith(("github.com/", "git@", "ssh:")):
                return None  # remote: not keyed by local bytes
            target = os.path.normpath(os.path.join(folder, ref))
            if os.path.isdir(target):
                found.append(f"dir:{target}")
                if target in self.busy or target.startswith(folder + os.sep):
                    continue  # inside this folder (listed already), or a cycle kustomize refuses
                sub = self.listing(target)
                if sub is None:
                    return None
                found.extend(sub)
            elif os.path.lexists(target):
                found.append(target)
            else:
                found.append(f"missing:{target}")
        return sorted(set(found))


def _files_below(folder: str) -> list[str]:
    """Every file (or link) below ``folder``, as ``Path(folder).rglob("*")`` finds them, without a Path and a
    stat call per entry: keying 11,200 overlays spent seconds there (#9)."""
    found: list[str] = []
    pending = [folder]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.is_symlink() or entry.is_file():
                found.append(entry.path)
    return sorted(found)


def _references(doc: Any) -> Iterator[str]:
    if not isinstance(doc, dict):
        return
    for key in _PATH_KEYS:
        values = doc.get(key)
        if isinstance(values, list):
            yield from (v for v in values if isinstance(v, str) and "\n" not in v)
    for key in ("patches", "patchesJson6902", "replacements"):
        for item in doc.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                yield item["path"]
    for key in ("configMapGenerator", "secretGenerator"):
        for item in doc.get(key) or []:
            if isinstance(item, dict):
                for sub in ("files", "envs"):
                    for v in item.get(sub) or []:
                        if isinstance(v, str):
                            yield v.rsplit("=", 1)[-1]
                if isinstance(item.get("env"), str):
                    yield item["env"]
    if isinstance(doc.get("openapi"), dict) and isinstance(doc["openapi"].get("path"), str):
        yield doc["openapi"]["path"]
    if doc.get("helmCharts") or doc.get("helmChartInflationGenerator"):
        yield "://helm"  # charts come from the network: never cached


def overlay_inputs(reader: _Reader, folder: Path) -> list[tuple[str, str]] | None:
    """(file, SHA-256) of every file the build of ``folder`` reads, or None if it cannot be keyed."""
    listing = reader.listing(os.path.normpath(str(folder)))
    if listing is None:
        return None
    return [(f, f if f.startswith(("dir:", "missing:")) else reader.file(f)) for f in listing]


def new_reader(known: Any = None) -> _Reader:
    """A fresh reader for one validate run; ``known`` is its ``used`` of an earlier run (if well-formed)."""
    if not (isinstance(known, dict) and all(
            isinstance(k, str) and (v is None or (isinstance(v, list) and all(isinstance(r, str) for r in v)))
            for k, v in known.items())):
        known = None
    return _Reader(known)
