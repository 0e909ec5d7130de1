"""The render index: what each service read and produced, kept inside the tree.

A render writes ``<tree>/.platform-gen.index.json`` beside the manifest. For every
service it holds the digest of the inputs the service's files were made from (its
own config.yaml and the shared files it reads: platform.yaml, its environments'
files and components, its template, the Crossplane files and the generator
itself) and a small summary of what it produced: its Applications, the kinds its
base holds, its claims and the files it owns. The next render re-renders only the
services whose digest changed and takes every other service's summary as it is,
without reading its files; the rules that span services (unique Application
names, claim collisions, the deletion guard) and the platform-wide files (team
AppProjects, CODEOWNERS, the manifest) are computed from the summaries, in a full
render and an incremental one alike.

The index is committed with the tree, so a fresh clone renders as fast as a warm
machine. It is a cache: one that cannot be read, or was written by another
generator, is ignored and everything is rendered. JSON, one service per line.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .launch import generator_digest as _generator_digest

__all__ = ["FORMAT", "INDEX", "DamagedIndex", "Head", "Index", "Services", "SharedInputs", "Summary", "blob_id",
           "digest", "features_text", "generator_digest", "owner", "parse", "serialize", "service_inputs",
           "shared_inputs"]

#: The index file, at the top of the tree.
INDEX = ".platform-gen.index.json"
#: Bumped when the index's shape changes: an index of another format is ignored.
FORMAT = 3


def digest(*parts: bytes | str) -> str:
    """A short, stable digest of ``parts`` (each length-prefixed, so no two sequences collide)."""
    chunks: list[bytes] = []
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        chunks += (len(data).to_bytes(8, "little"), data)
    return _blake2b(b"".join(chunks), digest_size=16).hexdigest()


_blake2b = hashlib.blake2b


def file_digest(data: bytes) -> str:
    """The digest an index records of a file of the tree it takes as it is when unchanged (the manifest, some
    MiB at thousands of services, read by every render): SHA-1, twice BLAKE2b's speed here, and no copy."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def blob_id(data: bytes) -> str:
    """The id git gives a file of these bytes (``git hash-object``): an input file's digest, so that git can
    vouch for a file it knows unchanged without the file being read (see ``load_services``)."""
    return hashlib.sha1(b"blob %d\0%s" % (len(data), data), usedforsecurity=False).hexdigest()


def generator_digest() -> str:
    """The digest of platform-gen's own code and data: a new generator renders everything again (see
    ``launch.generator_digest``)."""
    return _generator_digest()


def _plain(rel: str) -> bool:
    """A path of the tree as platform-gen writes it: relative, no empty, '.' or '..' part."""
    return not rel.startswith("/") and all(part not in ("", ".", "..") for part in rel.split("/"))


#: A path that is not platform-wide (see :func:`owner`) or not plain (see :func:`_plain`), in the paths joined
#: by NUL with one at each end: an empty, '.' or '..' part, a leading '/', a service's file.
_NOT_SHARED = re.compile(r"(?:\0|/)\.{0,2}(?=/|\0)|\0services/[^/\0]*/|\0argocd/applicationsets/[^/\0]*\.yaml\0")
#: What each match of _NOT_SHARED starts with.
_NOT_SHARED_AT = ("\0.", "/.", "\0/", "//", "/\0", "\0\0", "\0services/", "\0argocd/applicationsets/")


def _shared_files_ok(paths: tuple[str, ...]) -> bool:
    """Every path plain and platform-wide: one search over them all, since an index at 5,000 services
    lists as many platform-wide files (the catalog's)."""
    joined = "\0" + "\0".join(paths) + "\0"
    if joined.count("\0") != len(paths) + 1:  # a NUL inside a path: look at each
        return all(owner(f) is None and _plain(f) for f in paths)
    # the pattern can only match where one of these is: found by fast searches, it is rarely run at all (it
    # tries each character of some 200 KB at 5,000 services)
    if not any(s in joined for s in _NOT_SHARED_AT):
        return True
    return _NOT_SHARED.search(joined) is None


def owner(rel: str) -> str | None:
    """The service a file of the tree belongs to; None for the platform-wide files (index, manifest too)."""
    parts = rel.split("/")
    if len(parts) > 2 and parts[0] == "services":
        return parts[1]
    if len(parts) == 3 and parts[:2] == ["argocd", "applicationsets"] and parts[2].endswith(".yaml"):
        return parts[2][: -len(".yaml")]
    return None


@dataclass(frozen=True)
class SharedInputs:
    """Digests of the inputs services share: each service's digest is made of those it reads."""

    platform: str = ""  # platform.yaml
    envs: dict[str, str] = field(default_factory=dict)  # environment name -> its file
    components: dict[str, str] = field(default_factory=dict)  # environment name -> overlays/<env>/
    templates: dict[str, str] = field(default_factory=dict)  # template -> its files
    crossplane: str = ""  # platform-config/crossplane/ (kinds offered, and what a template may render)
    # the environment files no environment is read from (another file has its name: an error), so that the
    # render that reports it checks them all (see ``digest``)
    other_envs: str = ""
    # (template, environments) -> the digest of those shared inputs: thousands of services share a few
    memo: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict, compare=False, repr=False)

    def digest(self) -> str:
        """One digest of every shared input."""
        parts = [self.platform, self.crossplane]
        for table in (self.envs, self.components, self.templates):
            parts.append(str(len(table)))
            for k, v in sorted(table.items()):
                parts += [k, v]
        if self.other_envs:
            parts.append(self.other_envs)
        return digest(*parts)


def shared_inputs(digests: dict[str, str], env_files: dict[str, str], platform_file: str, templates_dir: str,
                  overlays_dir: str, crossplane_dir: str, other_env_files: Iterable[str] = ()) -> SharedInputs:
    """The shared digests from the digests of every input file read (``env_files``: env name -> file;
    ``other_env_files``: environment files that are not read, as another has their environment's name)."""
    others = sorted(other_env_files)
    def under(prefix: str) -> dict[str, str]:
        groups: dict[str, list[str]] = {}
        for rel, d in sorted(digests.items()):
            if rel.startswith(prefix):
                first, _, rest = rel[len(prefix):].partition("/")
                groups.setdefault(first, []).extend((rest, d))
        return {k: digest(*v) for k, v in groups.items()}

    xp = sorted((rel, d) for rel, d in digests.items() if rel.startswith(crossplane_dir + "/"))
    return SharedInputs(
        platform=digests.get(platform_file, ""),
        # the file's name too: generated headers name it
        envs={name: digest(file, digests.get(file, "")) for name, file in env_files.items()},
        components=under(overlays_dir + "/"),
        templates=under(templates_dir + "/"),
        crossplane=digest(*(p for pair in xp for p in pair)),
        other_envs=digest(*(p for f in others for p in (f, digests.get(f, "")))) if others else "",
    )


def service_inputs(shared: SharedInputs, config: str, template: str, envs: Iterable[str],
                   features: Iterable[str] = ()) -> str:
    """The digest of everything a service's files are made from: its config.yaml's bytes (``config``),
    platform.yaml, the Crossplane files, its template and its environments (the generator is the
    index's own: an index of another generator is not used at all), and which of the catalog's files its
    folder holds (``features``: docs and APIs, see ``load.FEATURE_FILES``; their presence, not their bytes)."""
    key = (template, tuple(sorted(envs)))
    common = shared.memo.get(key)
    if common is None:
        parts = [shared.platform, shared.crossplane, template, shared.templates.get(template, "-")]
        for env in key[1]:
            parts += [env, shared.envs.get(env, "-"), shared.components.get(env, "-")]
        common = shared.memo[key] = digest(*parts)
    held = tuple(features)
    return digest(config, common, *held) if held else digest(config, common)


@dataclass(frozen=True)
class Summary:
    """One service as the index keeps it: what it read, and what the rest of the platform needs of it."""

    name: str
    team: str
    template: str
    file: str  # its config.yaml, relative to the repo root
    namespace: str  # its team's namespace, where its applications deploy
    config: str  # digest of the config.yaml's bytes
    inputs: str  # digest of everything its files were made from
    envs: tuple[str, ...]  # the environments it names (their files are among its inputs)
    placements: dict[str, tuple[str, ...]]  # env -> the clusters it runs on there
    kinds: tuple[tuple[str, str], ...] = ()  # (group, kind) of its base's objects
    claims: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (name, kind, environments)
    files: tuple[str, ...] = ()  # the tree files it owns, sorted
    out: str = ""  # digest of those files' paths and bytes
    retire: bool = False
    routes: tuple[tuple[str, str, str], ...] = ()  # (cluster, host, path) of each URL (expose)
    allow_from: tuple[str, ...] = ()  # the services its file lets in (allowFrom), sorted
    # what the Backstage catalog shows of it (README "Seeing your service in Backstage")
    description: str = ""
    tier: str = ""
    system: str = ""  # as its config.yaml names it ("": its team's)
    depends_on: tuple[str, ...] = ()
    consumes_apis: tuple[str, ...] = ()
    features: tuple[str, ...] = ()  # the catalog files its folder holds (load.FEATURE_FILES)

    def apps(self) -> Iterable[tuple[str, str, str]]:
        """(Application, environment, cluster) of every target."""
        for env, clusters in sorted(self.placements.items()):
            for cluster in clusters:
                yield f"{self.name}-{cluster}", env, cluster

    def catalog(self) -> tuple[Any, ...]:
        """What the Backstage catalog is made of, of this service (besides its team and placements): two
        summaries with the same catalog facts give the same entities."""
        return (self.template, self.namespace, self.claims, self.retire, self.description, self.tier, self.system,
                self.depends_on, self.consumes_apis, self.features)

    def to_json(self) -> dict[str, Any]:
        # the keys that are often unset only when set (allowFrom, dependsOn, ...): lines stay short
        optional: dict[str, Any] = {"allowFrom": list(self.allow_from), "consumesApis": list(self.consumes_apis),
                                    "dependsOn": list(self.depends_on), "description": self.description,
                                    "features": list(self.features), "system": self.system, "tier": self.tier}
        return dict(sorted({
            **{k: v for k, v in optional.items() if v},
            "claims": [[n, k, list(e)] for n, k, e in self.claims], "config": self.config, "envs": list(self.envs),
            "file": self.file, "files": [_own(self.name, f) for f in self.files], "inputs": self.inputs,
            "kinds": [list(k) for k in self.kinds], "namespace": self.namespace, "out": self.out,
            "placements": {e: list(c) for e, c in sorted(self.placements.items())}, "retire": self.retire,
            "routes": [list(r) for r in self.routes], "team": self.team, "template": self.template,
        }.items()))

    @staticmethod
    def from_json(name: str, doc: dict[str, Any]) -> Summary:
        """From the index's JSON; a value of the wrong type is an error (the index is then not used)."""
        text = (doc["team"], doc["template"], doc["file"], doc["namespace"], doc["config"], doc["inputs"],
                doc["out"], *doc["envs"], *doc["files"], *doc.get("allowFrom", ()), doc.get("description", ""),
                doc.get("tier", ""), doc.get("system", ""), *doc.get("dependsOn", ()),
                *doc.get("consumesApis", ()), *doc.get("features", ()))
        if not all(type(t) is str for t in text):
            raise TypeError("not a string")
        files = [_path(name, f) for f in doc["files"]]
        if not all(owner(f) == name and _plain(f) for f in files):
            raise ValueError("a file that is not the service's")  # it would be removed with the service
        return Summary(
            name=name, team=doc["team"], template=doc["template"], file=doc["file"], namespace=doc["namespace"],
            config=doc["config"], inputs=doc["inputs"], envs=tuple(doc["envs"]),
            placements={str(e): tuple(str(c) for c in cs) for e, cs in doc["placements"].items()},
            kinds=tuple((str(g), str(k)) for g, k in doc["kinds"]),
            claims=tuple((str(n), str(k), tuple(str(e) for e in es)) for n, k, es in doc["claims"]),
            files=tuple(files), out=doc["out"], retire=doc["retire"] is True,
            # (an index of the generator before routes has none: the deletion guard reads such an index)
            routes=tuple((str(c), str(h), str(p)) for c, h, p in doc.get("routes", ())),
            allow_from=tuple(doc.get("allowFrom", ())),
            description=doc.get("description", ""), tier=doc.get("tier", ""), system=doc.get("system", ""),
            depends_on=tuple(doc.get("dependsOn", ())), consumes_apis=tuple(doc.get("consumesApis", ())),
            features=tuple(doc.get("features", ())),
        )


def _own(name: str, rel: str) -> str:
    """A file a service owns as its index line names it: its ApplicationSet as "" (a path has no empty part),
    any other file relative to its folder of the tree (the line is a quarter shorter; see ``owner``)."""
    if rel.startswith("services/") and rel.startswith(f"services/{name}/"):
        return rel[len(name) + 10:]
    return "" if rel == f"argocd/applicationsets/{name}.yaml" else rel


def _path(name: str, own: str) -> str:
    """The path in the tree of a file as ``_own`` names it."""
    return f"argocd/applicationsets/{name}.yaml" if own == "" else f"services/{name}/{own}"


class DamagedIndex(ValueError):
    """An index whose checksum holds but whose entry for a service cannot be read (edited with care)."""


class Head(NamedTuple):
    """What the first fields of a service's line give without parsing the rest: enough to tell whether
    the service must be rendered again, its team (CODEOWNERS) and how many files it owns."""

    config: str
    inputs: str
    template: str
    envs: tuple[str, ...]
    team: str
    files: int


def _head(s: Summary) -> Head:
    return Head(s.config, s.inputs, s.template, s.envs, s.team, len(s.files))


#: The fields every service's line starts with, in this order (the rest follow sorted).
_LINE = re.compile(rb'"([^"\\]+)":\{"config":"([0-9a-f]{40})","envs":(\[[^\]\\]*\]),"features":\[[^\]\\]*\],'
                   rb'"inputs":"([0-9a-f]{32})",'
                   rb'"n":([0-9]{1,9}),"team":"([^"\\]*)","template":"([^"\\]*)",')
_COMPACT: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": False}


def features_text(features: Iterable[str]) -> bytes:
    """A service's catalog files as its index line holds them (see ``Services.keys_read``)."""
    return json.dumps(list(features), **_COMPACT).encode()


def _line(s: Summary) -> bytes:
    doc = s.to_json()
    first = {"config": doc.pop("config"), "envs": doc.pop("envs"), "features": doc.pop("features", []),
             "inputs": doc.pop("inputs"), "n": len(s.files),
             "team": doc.pop("team"), "template": doc.pop("template")}
    return f"{json.dumps(s.name)}:{json.dumps({**first, **doc}, **_COMPACT)}".encode()


_ENVS: dict[bytes, tuple[str, ...]] = {}


def _read_head(name: str, line: bytes) -> Head:
    m = _LINE.match(line)
    if m is None or m.group(1).decode() != name:
        raise DamagedIndex(name)
    _name, config, envs, inputs, count, team, template = m.groups()
    env_names = _ENVS.get(envs)
    if env_names is None:
        try:
            listed = json.loads(envs)
        except ValueError:
            raise DamagedIndex(name) from None
        if not all(type(e) is str for e in listed):
            raise DamagedIndex(name)
        env_names = _ENVS[envs] = tuple(listed)
    return Head(config.decode(), inputs.decode(), template.decode(), env_names, team.decode(), int(count))


class _Lines:
    """The services' lines read from an index: spans of its text, sliced on first use, so that a render
    that reads one service of thousands copies none of the others' lines, and writes runs of them back
    as they were in one piece (see ``Services.pieces``). ``spans``: name -> (start, end) in ``text``."""

    __slots__ = ("_starts", "spans", "text")

    def __init__(self, text: bytes, spans: dict[str, tuple[int, int]]) -> None:
        self.text = text
        self.spans = spans
        self._starts: list[tuple[int, int, str]] | None = None  # (start, end, name) by start, made once

    def get(self, name: str) -> bytes | None:
        span = self.spans.get(name)
        return None if span is None else self.text[span[0]:span[1]]

    def same(self, name: str, other: _Lines) -> bool:
        """Whether both hold a line of ``name``, and the same one."""
        mine, theirs = self.spans.get(name), other.spans.get(name)
        if mine is None or theirs is None:
            return False
        if mine == theirs and self.text is other.text:
            return True
        return mine[1] - mine[0] == theirs[1] - theirs[0] and \
            memoryview(self.text)[mine[0]:mine[1]] == memoryview(other.text)[theirs[0]:theirs[1]]

    def holding(self, needle: bytes) -> set[str]:
        """The names whose line holds ``needle`` (which holds no newline), by one search of the text."""
        if not self.spans:
            return set()
        if self._starts is None:
            self._starts = sorted((start, end, name) for name, (start, end) in self.spans.items())
        starts = self._starts
        found: set[str] = set()
        text, at = self.text, 0
        while (at := text.find(needle, at)) >= 0:
            i = bisect.bisect_right(starts, (at, len(text) + 1)) - 1
            if i >= 0:
                _start, end, name = starts[i]
                if at + len(needle) <= end:
                    found.add(name)
                    at = end  # the rest of this line tells no more
                    continue
            at += 1
        return found

    def only(self, names: Iterable[str]) -> _Lines:
        spans = self.spans
        return _Lines(self.text, {n: spans[n] for n in names if n in spans})

    def without(self, names: Collection[str]) -> _Lines:
        return _Lines(self.text, {n: v for n, v in self.spans.items() if n not in names})


_NO_LINES = _Lines(b"", {})


class Services(Mapping[str, Summary]):
    """Every service of an index, by name (sorted): each service's first fields (``head``) and its summary
    are read from its line on first use, so a render that re-renders one service of thousands reads
    little of the others' lines and writes them back as they were."""

    __slots__ = ("_heads", "_keys", "_lines", "_names", "_parsed")

    def __init__(self, names: dict[str, None], lines: _Lines, parsed: dict[str, Summary],
                 keys: dict[str, tuple[bytes, ...]] | None = None) -> None:
        self._names = names  # every service, in name order
        self._lines = lines  # the line of each service read from an index
        self._parsed = parsed  # the summaries made or parsed so far
        self._heads: dict[str, Head] = {}
        self._keys = keys if keys is not None else {}  # the start of each line read (see _KEYS)

    @staticmethod
    def of(summaries: Mapping[str, Summary]) -> Services:
        """From summaries (a Services keeps the lines it read)."""
        if isinstance(summaries, Services):
            return summaries
        ordered = dict(sorted(summaries.items()))
        return Services(dict.fromkeys(ordered), _NO_LINES, ordered)

    def __getitem__(self, name: str) -> Summary:
        found = self._parsed.get(name)
        if found is None:
            line = self._lines.get(name)
            if line is None:
                raise KeyError(name)  # a service the index does not have
            try:
                doc = json.loads(line[line.index(b":") + 1:])
                found = Summary.from_json(name, doc)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise DamagedIndex(name) from None
            self._parsed[name] = found
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def keys_read(self) -> set[tuple[bytes, bytes, bytes]]:
        """(name, its config.yaml's id, the catalog files its folder held as JSON text) of each service whose
        line was read from an index, as the line starts, in one piece. A render compares them with what git's
        index holds all at once, not service by service (#9)."""
        return {(k[0], k[1], k[2]) for k in self._keys.values()}

    def teams(self) -> dict[str, str]:
        """Every service's team, from the start of the lines read where it holds one (see ``head``)."""
        keys, head = self._keys, self.head
        found: dict[str, str] = {}
        for name in self._names:
            k = keys.get(name)
            found[name] = k[4].decode() if k is not None and k[3] else head(name).team  # type: ignore[union-attr]
        return found

    def file_count(self) -> int:
        """How many files the services own, together."""
        keys = self._keys
        counted = [int(k[3]) for k in keys.values() if k[3]]
        if len(counted) == len(self._names):
            return sum(counted)
        total = 0
        for name in self._names:
            k = keys.get(name)
            total += int(k[3]) if k is not None and k[3] else self.head(name).files  # type: ignore[union-attr]
        return total

    def head(self, name: str) -> Head | None:
        """The first fields of ``name``'s line (None when the index does not have it)."""
        found = self._heads.get(name)
        if found is None:
            if name in self._parsed:
                found = _head(self._parsed[name])
            elif (line := self._lines.get(name)) is not None:
                found = _read_head(name, line)
            else:
                return None
            self._heads[name] = found
        return found

    def line(self, name: str) -> bytes:
        """``name``'s line as an index holds it: the line read, when its summary was not replaced."""
        found = self._lines.get(name)
        return found if found is not None else _line(self._parsed[name])

    def read_line(self, name: str) -> bytes | None:
        """``name``'s line as read from an index (None when it was not, or its summary was replaced)."""
        return self._lines.get(name)

    def same_line(self, name: str, other: Services) -> bool:
        """Whether both read a line of ``name`` from an index (and replaced no summary), and the same one:
        without copying either when both come from one index's text."""
        return self._lines.same(name, other._lines)

    def holding(self, needle: bytes) -> set[str]:
        """The services whose line (as ``line`` gives it) holds ``needle``, which holds no newline: the lines
        read from an index are searched in one piece."""
        found = self._lines.holding(needle)
        found.update(n for n, s in self._parsed.items() if n not in self._lines.spans and needle in _line(s))
        return found

    def pieces(self) -> list[bytes | memoryview]:
        """Every line in name order, joined by ",\n": as the parts to join, where each run of lines that
        followed each other in the index read is one part, a view of its text (not a copy)."""
        spans, parsed = self._lines.spans, self._parsed
        view = memoryview(self._lines.text)
        out: list[bytes | memoryview] = []
        first = last = -1  # the run of read lines not yet added
        for name in self._names:
            span = spans.get(name)
            if span is not None and first >= 0 and span[0] == last + 2:  # the next line there (",\n" between)
                last = span[1]
                continue
            if first >= 0:
                out += (view[first:last], b",\n")
            if span is not None:
                first, last = span
            else:
                first = -1
                out += (_line(parsed[name]), b",\n")
        if first >= 0:
            out.append(view[first:last])
        elif out:
            out.pop()
        return out

    def same_names(self, other: Services) -> bool:
        """Whether ``other`` has these very services."""
        return self._names.keys() == other._names.keys()

    def only(self, names: Iterable[str]) -> Services:
        """These services alone (each must be in this index)."""
        keep = sorted(names)
        found = Services(dict.fromkeys(keep), self._lines.only(keep),
                         {n: self._parsed[n] for n in keep if n in self._parsed},
                         {n: self._keys[n] for n in keep if n in self._keys})
        found._heads = {n: self._heads[n] for n in keep if n in self._heads}
        return found

    def updated(self, summaries: Mapping[str, Summary]) -> Services:
        """These services with ``summaries`` added or put in place of theirs."""
        names = dict.fromkeys(sorted({*self._names, *summaries}))
        lines = self._lines.without(summaries)
        parsed = {n: s for n, s in self._parsed.items() if n not in summaries}
        parsed.update(summaries)
        found = Services(names, lines, parsed, {n: k for n, k in self._keys.items() if n not in summaries})
        found._heads = {n: h for n, h in self._heads.items() if n not in summaries}
        return found


@dataclass(frozen=True)
class Index:
    """The whole index: the generator that wrote it, the platform-wide files and every service."""

    generator: str
    services: Mapping[str, Summary]
    # files that belong to no one service (AppProjects, the bootstrap, components, ...)
    shared_files: tuple[str, ...] = ()
    # template -> digest of the sample render that checked it (templates no service uses)
    samples: dict[str, str] = field(default_factory=dict)
    # the digest of the shared inputs this render validated (SharedInputs.digest)
    shared: str = ""
    # the digest of the manifest written with it
    manifest: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "services", Services.of(self.services))

    @property
    def entries(self) -> Services:
        assert isinstance(self.services, Services)
        return self.services

    def apps(self) -> dict[str, tuple[str, str]]:
        """Every Application of the tree: its environment and namespace."""
        services = self.services
        return {app: (env, s.namespace) for s in map(services.__getitem__, services)
                for app, env, _cluster in s.apps()}

    def owned(self, but: Iterable[str] = ()) -> set[str]:
        """Every file of the tree this index accounts for (but those of the services ``but``)."""
        skip = set(but)
        files = set(self.shared_files)
        for name in self.services:
            if name not in skip:
                files.update(self.services[name].files)
        return files


def serialize(index: Index) -> bytes:
    """The index as deterministic JSON text, one service per line (so diffs and merges stay local); each line
    starts with the fields a render reads of every service (see ``Head``)."""
    compact = {"separators": (",", ":"), "sort_keys": True, "ensure_ascii": False}
    head = {"format": FORMAT, "generator": index.generator, "manifest": index.manifest,
            "samples": dict(sorted(index.samples.items())), "shared": index.shared,
            "shared_files": list(index.shared_files)}
    lines = [f"{json.dumps(k)}:{json.dumps(v, **compact)},\n".encode() for k, v in head.items()]  # type: ignore[arg-type]
    services = index.entries
    # the text after the checksum's line, in parts: the services' lines are mostly views of the index read
    rest: list[bytes | memoryview] = [b"".join(lines), b'"services":{']
    if services:
        rest += (b"\n", *services.pieces(), b"\n")
    rest.append(b"}\n}\n")
    # a checksum of the rest: an index edited by hand (or half merged) is not used
    return b"".join([b'{\n"about":"The render index of platform-gen (see its README); do not edit.",\n',
                     f'"checksum":"{_checksum(rest)}",\n'.encode(), *rest])


def _checksum(rest: bytes | memoryview | Sequence[bytes | memoryview]) -> str:
    """The checksum of an index's text after the checksum's line (whole, or in parts), read without copying its
    megabytes. It tells an index edited by hand or half merged, not one forged: SHA-1, the fastest of the
    standard library's digests here (twice BLAKE2b's speed on an index of 9 MB, read and written by each
    render: #9)."""
    parts = [rest] if isinstance(rest, (bytes, memoryview)) else rest
    check = hashlib.sha1(sum(map(len, parts)).to_bytes(8, "little"), usedforsecurity=False)
    for part in parts:
        check.update(part)
    return check.hexdigest()


#: The last index parsed: (its text, what it gave).
_parsed: list[tuple[bytes, Index | None]] = []


def parse(data: bytes, generator: str | None) -> Index | None:
    """The index in ``data``; None when it is unreadable, of another format or (unless ``generator`` is
    None) of another generator. The last one parsed is remembered: a render reads the same index as its
    previous one, for the deletion guard, and often at the git base too.

    Each service's summary is parsed on first use (``Services``): one whose line holds what the
    checksum vouches for but a summary cannot be made of raises DamagedIndex then."""
    # compared, not hashed: the same text is most often another bytes object (read again from disk, or from
    # git), and hashing its megabytes costs several times a comparison, which stops at the first difference
    if not _parsed or _parsed[0][0] != data:
        _parsed[:] = [(data, _parse(data))]
    found = _parsed[0][1]
    if found is None or (generator is not None and found.generator != generator):
        return None
    return found


_MARK = b'\n"services":{'


#: The start of each service's line (every line follows a newline: JSON text holds none): its name, its
#: config.yaml's id, the catalog files its folder held (as JSON text) and, unless that part of the line is
#: damaged (b''), how many files it owns and its team; see ``Services.keys_read``. No match holds a newline but
#: its first: each newline of the services' part but the last starts one line (see ``_parse``).
_KEYS = re.compile(rb'\n"([^"\\\n]+)":\{"config":"([0-9a-f]{40})",'
                   rb'"envs":\[[^\]\\\n]*\],"features":(\[[^\]\\\n]*\]),'
                   rb'(?:"inputs":"[0-9a-f]{32}","n":([0-9]{1,9}),"team":"([^"\\\n]*)",)?')


def _parse(data: bytes) -> Index | None:
    # the checksum covers what follows its line; read without copying the megabytes of a large index
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1)
    third = data.find(b"\n", second + 1)
    if first < 0 or second < 0 or third < 0:
        return None
    if data[second + 1:third] != f'"checksum":"{_checksum(memoryview(data)[third + 1:])}",'.encode():
        return None
    at = data.find(_MARK, third)
    if at < 0 or not data.endswith(b"}\n}\n"):
        return None
    try:
        doc = json.loads(b"{" + data[third + 1:at].rstrip(b",") + b"}")
        if doc.get("format") != FORMAT:
            return None
        # the services' lines: "\n" before the first, ",\n" between two, "\n" after the last (no line holds a
        # newline); found where they start, and not copied
        start, end = at + len(_MARK), len(data) - len(b"}\n}\n")
        if start < end and (data[start] != 0x0A or data[end - 1] != 0x0A):
            return None
        # one name a line, at its start: each newline but the last starts a line, matched where it is (a scan
        # of the text for the pattern took longer, and counting the newlines besides)
        found: list[tuple[int, tuple[bytes, ...]]] = []
        match, find, last = _KEYS.match, data.find, end - 1
        at = start
        while at < last:
            m = match(data, at, end)
            if m is None:
                return None
            found.append((at, m.groups(b"")))
            at = find(b"\n", at + 1, end)
        # each line but the last followed by ",", or the index is not this format
        if (start < end and not found) or any(data[at - 1] != 0x2C for at, _key in found[1:]) or \
                (found and data[end - 2] == 0x2C):
            return None
        keys = [key for _at, key in found]
        names = [k[0].decode() for k in keys]
        if len(set(names)) != len(names) or names != sorted(names):
            return None
        ends = [at - 1 for at, _key in found[1:]] + [end - 1] if found else []
        lines_of = _Lines(data, {n: (at + 1, e) for n, (at, _key), e in zip(names, found, ends, strict=True)})
        keys_of = dict(zip(names, keys, strict=True))
        shared_files = tuple(str(f) for f in doc["shared_files"])
        if not _shared_files_ok(shared_files):
            return None
        return Index(str(doc["generator"]), Services(dict.fromkeys(names), lines_of, {}, keys_of), shared_files,
                     {str(k): str(v) for k, v in doc["samples"].items()}, str(doc["shared"]),
                     str(doc["manifest"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
