"""Sharding: one platform-wide render or validate spread over N jobs, and the merge of their trees.

A service belongs to shard ``I`` of ``N`` when the BLAKE2b digest (8 bytes, big-endian)
of its name (the folder under ``platform-config/services/``, UTF-8) is ``I - 1`` modulo
``N``: stable across machines, Python versions and runs, independent of which other
services exist. ``render --shard I/N`` renders the services of shard I into a *partial
tree*: their files, the partial index :data:`PARTIAL` (their summaries, the shard, the
generator and the digest of the shared inputs) and a manifest. ``merge`` checks that the
partial trees fit together, runs the rules that span services over the union of the
summaries, renders the platform-wide files from them and writes the whole tree, which is
byte-identical to ``render --full``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import InputError, Problem
from .index import Index, Summary, digest, generator_digest, owner, service_inputs
from .index import parse as parse_index
from .limits import MAX_SHARDS, PER_SHARD
from .load import SERVICES_DIR, load_services, load_shared
from .model import Platform
from .render import MANIFEST, Rendered, assemble, cross_problems, manifest, render_services, sample_digests
from .validate import Facts, validate

__all__ = ["MAX_SHARDS", "PARTIAL", "Partial", "Shard", "ShardPlan", "merge", "owner", "partial_files",
           "plan_shards", "read_partial", "shard_of"]

#: The partial index, at the top of a partial tree (a full tree has ``.platform-gen.index.json`` instead).
PARTIAL = ".platform-gen.shard.json"
#: Bumped when the partial index's shape changes (2: the digest of each file, to name an edited one).
FORMAT = 2


def shard_of(name: str, count: int) -> int:
    """The shard (1-based) of the service ``name`` among ``count`` shards."""
    h = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "big") % count + 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1 <= index <= count <= :data:`MAX_SHARDS`)."""

    index: int
    count: int

    @staticmethod
    def parse(text: str) -> Shard:
        """``I/N``; ValueError saying what is wrong otherwise."""
        head, sep, tail = text.partition("/")
        if not sep or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ValueError(f"'{text}' is not I/N (shard I of N, such as 2/8)")
        index, count = int(head), int(tail)
        if not 1 <= count <= MAX_SHARDS:
            raise ValueError(f"'{text}': N must be between 1 and {MAX_SHARDS}")
        if not 1 <= index <= count:
            raise ValueError(f"'{text}': I must be between 1 and N ({count})")
        return Shard(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def has(self, service: str) -> bool:
        """Whether ``service`` is in this shard."""
        return shard_of(service, self.count) == self.index

    def owns(self, rel: str) -> bool:
        """Whether this shard checks the file ``rel`` of a tree: its service's, or a platform-wide one on shard 1."""
        name = owner(rel)
        return self.index == 1 if name is None else self.has(name)

    def __call__(self, rel: str) -> bool:
        return self.owns(rel)

    def owns_input(self, rel: str) -> bool:
        """Whether this shard lints the input file ``rel`` (relative to the repo): a file of a service's
        folder in that service's shard, every other input (platform.yaml, environments, overlays,
        templates) in shard 1, so the shards together lint each file once."""
        parts = rel.split("/")
        prefix = SERVICES_DIR.split("/")
        if len(parts) > len(prefix) + 1 and parts[: len(prefix)] == prefix:
            return self.has(parts[len(prefix)])
        return self.index == 1


def inputs_digest(platform: Platform) -> str:
    """The digest of the inputs every service shares and of the generator: equal for partial trees that fit."""
    shared = platform.inputs
    return digest(generator_digest(), shared.platform, shared.crossplane,
                  json.dumps([shared.envs, shared.components, shared.templates], sort_keys=True))


# --- the partial tree ---------------------------------------------------------------------------


def partial_files(platform: Platform, rendered: Rendered, shard: Shard) -> dict[str, bytes]:
    """The partial tree of ``shard`` from its render: its services' files, the partial index and a manifest."""
    assert rendered.index is not None
    summaries = rendered.index.services
    files = {rel: rendered.files[rel] for s in summaries.values() for rel in s.files}
    doc: dict[str, Any] = {
        "about": "A partial tree of platform-gen render --shard; 'platform-gen merge' assembles the tree.",
        "format": FORMAT, "generator": generator_digest(), "inputs": inputs_digest(platform),
        "shard": str(shard), "services": {n: s.to_json() for n, s in sorted(summaries.items())},
        # each file's digest, so that merge names the files edited on the way (each summary's ``out``
        # covers its service's files as a whole)
        "files": {rel: digest(data) for rel, data in sorted(files.items())}}
    doc["checksum"] = _checksum(doc)
    files[PARTIAL] = (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    files[MANIFEST] = manifest(files)
    return dict(sorted(files.items()))


def _checksum(doc: dict[str, Any]) -> str:
    """The digest of a partial index's content: an index edited or damaged on the way is refused."""
    return digest(json.dumps({k: v for k, v in doc.items() if k not in ("about", "checksum")}, sort_keys=True,
                             ensure_ascii=False))


@dataclass(frozen=True)
class Partial:
    """One partial tree as read from disk."""

    shown: str  # the folder, as named in messages
    shard: Shard
    generator: str
    inputs: str
    summaries: dict[str, Summary]
    files: dict[str, bytes]


def _differing(own: Mapping[str, bytes], recorded: Any) -> list[str]:
    """The files of ``own`` whose bytes differ from the digest the partial index recorded for them."""
    if not isinstance(recorded, dict):
        return []
    return [rel for rel, data in own.items() if recorded.get(rel) != digest(data)]


def _problem(where: str, message: str, hint: str = "") -> Problem:
    return Problem(where, 0, 0, "", message, hint)


_RERUN = "render every shard again from the same commit with the same platform-gen ('render --shard I/N')"


def read_partial(folder: Path, shown: str) -> Partial:
    """Read and check the partial tree at ``folder``: InputError naming what is wrong."""
    where = f"{shown}/{PARTIAL}"
    try:
        doc: Any = json.loads((folder / PARTIAL).read_bytes())
    except FileNotFoundError:
        raise InputError([_problem(shown, f"not a partial tree: it has no {PARTIAL}",
                                   "pass the --out folders of 'platform-gen render --shard I/N'")]) from None
    except (OSError, ValueError) as exc:
        raise InputError([_problem(where, f"cannot be read: {exc}", _RERUN)]) from None
    try:
        if doc.get("format") != FORMAT:
            raise InputError([_problem(where, f"partial index of another format ({doc.get('format')!r}, "
                                              f"expected {FORMAT})", _RERUN)])
        if doc.get("checksum") != _checksum(doc):
            raise InputError([_problem(where, "the partial index was edited or damaged (its checksum does not "
                                              "match)", _RERUN)])
        shard = Shard.parse(str(doc["shard"]))
        summaries = {str(n): Summary.from_json(str(n), s) for n, s in doc["services"].items()}
        generator, inputs = str(doc["generator"]), str(doc["inputs"])
        recorded = doc["files"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError([_problem(where, f"not a partial index of platform-gen ({exc})", _RERUN)]) from None
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    for s in summaries.values():
        own: dict[str, bytes] = {}
        for rel in s.files:
            if owner(rel) != s.name or any(p in ("", ".", "..") for p in rel.split("/")):
                problems.append(_problem(where, f"service '{s.name}' lists a file that is not its own: {rel}",
                                         _RERUN))
                break
            path = folder / rel
            try:
                mode = os.lstat(path).st_mode
                if not stat.S_ISREG(mode) or any(os.path.islink(p) for p in path.parents if folder in p.parents):
                    raise OSError(f"{shown}/{rel} is not a regular file")
                own[rel] = path.read_bytes()
            except OSError as exc:
                problems.append(_problem(f"{shown}/{rel}", f"cannot read the file of service '{s.name}': "
                                                           f"{exc.strerror or exc}", _RERUN))
                break
        else:
            if digest(*(p for kv in own.items() for p in kv)) != s.out:
                named = _differing(own, recorded)
                problems.extend([_problem(f"{shown}/{rel}", f"this file of service '{s.name}' differs from what "
                                                            f"its shard rendered (edited or truncated)", _RERUN)
                                 for rel in named] or
                                [_problem(where, f"the files of service '{s.name}' differ from what its shard "
                                                 "rendered (edited or truncated)", _RERUN)])
            files.update(own)
    if problems:
        raise InputError(problems)
    return Partial(shown, shard, generator, inputs, summaries, files)


# --- the merge ----------------------------------------------------------------------------------


def _consistent(platform: Platform, s: Summary) -> bool:
    """Whether a summary names only the team, namespace, environments and clusters of ``platform``."""
    team = platform.teams.get(s.team)
    clusters = {e.name: {c.name for c in e.clusters} for e in platform.environments}
    return (team is not None and team.namespace == s.namespace and s.file == f"{SERVICES_DIR}/{s.name}/config.yaml"
            and all(e in clusters and set(cs) <= clusters[e] for e, cs in s.placements.items()))


def _fit(platform: Platform, names: Iterable[str], partials: list[Partial]) -> list[Problem]:
    """Why ``partials`` do not make the tree of ``platform`` (whose services are ``names``): one problem each."""
    problems: list[Problem] = []
    gen, inputs = generator_digest(), inputs_digest(platform)
    counts = sorted({p.shard.count for p in partials})
    if len(counts) > 1:
        return [_problem(p.shown, f"partial tree of shard {p.shard}, but other partial trees are of "
                                  f"{' or '.join(str(c) for c in counts if c != p.shard.count)} shards",
                         "merge the partial trees of one sharded render") for p in partials]
    for p in partials:
        if p.generator != gen:
            problems.append(_problem(p.shown, f"partial tree of shard {p.shard} was made by another version of "
                                              "platform-gen", _RERUN))
        elif p.inputs != inputs:
            problems.append(_problem(p.shown, f"partial tree of shard {p.shard} was made from other shared inputs "
                                              "(platform.yaml, environments, overlays, templates or Crossplane "
                                              "files) than the ones here", _RERUN))
    if problems:
        return problems
    seen: dict[int, str] = {}
    for p in partials:
        if p.shard.index in seen:
            problems.append(_problem(p.shown, f"shard {p.shard} is given twice (also {seen[p.shard.index]})",
                                     "pass each shard's partial tree once"))
        seen.setdefault(p.shard.index, p.shown)
    count = counts[0]
    for i in range(1, count + 1):
        if i not in seen:
            problems.append(_problem(f"shard {i}/{count}", f"the partial tree of shard {i}/{count} is missing",
                                     "pass the partial trees of every shard"))
    if problems:
        return problems
    known = set(names)
    where: dict[str, str] = {}
    for p in partials:
        for s in p.summaries.values():
            if not p.shard.has(s.name):
                problems.append(_problem(p.shown, f"service '{s.name}' is not in shard {p.shard} "
                                                  f"(it is in {shard_of(s.name, count)}/{count})", _RERUN))
            elif s.name not in known:
                problems.append(_problem(p.shown, f"service '{s.name}' is not a service here "
                                                  f"(no {SERVICES_DIR}/{s.name}/config.yaml)", _RERUN))
            elif not _consistent(platform, s):
                problems.append(_problem(p.shown, f"the summary of service '{s.name}' names a team, namespace, "
                                                  "environment or cluster the platform does not have", _RERUN))
            elif platform.digests.get(s.file) != s.config or s.inputs != service_inputs(
                    platform.inputs, s.config, s.template, s.envs, platform.features.get(s.name, ())):
                problems.append(_problem(p.shown, f"service '{s.name}' was rendered from other inputs than "
                                                  f"the ones here ({s.file})", _RERUN))
            where.setdefault(s.name, p.shown)
    for name in sorted(known - set(where)):
        problems.append(_problem(f"{SERVICES_DIR}/{name}", f"service '{name}' is in no partial tree "
                                 f"(shard {shard_of(name, count)}/{count})", _RERUN))
    return problems


def merge(root: Path, partials: list[Partial]) -> tuple[Platform, Rendered]:
    """The whole tree of the platform at ``root`` from the partial trees of one sharded render.

    Raise InputError when they do not fit (shards missing or given twice, another
    generator, other inputs, a service in none or in the wrong one), with the problems
    of the inputs that belong to no service, or with those of the rules that span services.
    """
    shared = load_shared(root)
    sources = load_services(root, shared, lambda _folder, _config, _features: False, parse=False)
    base = validate(replace(sources, raw=()), cross=False)
    problems = _fit(base, sources.skipped, partials)
    if problems:
        raise InputError(problems)
    summaries: dict[str, Summary] = {}
    files: dict[str, bytes] = {}
    for p in partials:
        summaries.update(p.summaries)
        files.update(p.files)
    problems = cross_problems(base, map(Facts.of_summary, summaries.values()))
    if problems:
        raise InputError(problems)
    samples = sample_digests(base)
    if samples:  # every template is checked with a sample service, as render does
        render_services(replace(base, services=()), list(samples))
    rendered = assemble(base, summaries, files, {}, samples)
    return base, replace(rendered, rendered_services=tuple(sorted(summaries)))


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardPlan:
    """How many shards a sharded render should use."""

    services: int  # services in the platform
    changed: int  # of those, services whose inputs differ from the index compared with
    shards: int

    def to_json(self) -> dict[str, Any]:
        return {"services": self.services, "changed": self.changed, "shards": self.shards,
                "matrix": [f"{i}/{self.shards}" for i in range(1, self.shards + 1)]}


def plan_shards(root: Path, index: bytes | None, per_shard: int = PER_SHARD,
                max_shards: int = MAX_SHARDS) -> ShardPlan:
    """The services whose inputs differ from ``index`` (the bytes of a tree's index; None: all of them),
    and ceil(changed / ``per_shard``) shards, at least 1 and at most ``max_shards``."""
    previous: Index | None = parse_index(index, generator_digest()) if index is not None else None
    shared = load_shared(root)
    inputs = shared.shared_inputs()
    head = previous.entries.head if previous is not None else (lambda _name: None)
    changed: list[str] = []

    def select(folder: str, config: str, features: tuple[str, ...]) -> bool:
        before = head(folder)
        if before is None or before.config != config or before.inputs != service_inputs(
                inputs, config, before.template, before.envs, features):
            changed.append(folder)
        return False

    sources = load_services(root, shared, select, parse=False)
    count = max(1, min(max_shards, math.ceil(len(changed) / per_shard)))
    return ShardPlan(len(sources.skipped), len(changed), count)
