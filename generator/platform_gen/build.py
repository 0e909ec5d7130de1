"""The render pipeline for the CLI: only what changed, in chunks, on every core.

load (every config.yaml read and digested, only the changed ones kept) ->
for each chunk of services: parse -> validate -> render (in forked workers when
there are many) -> the rules that span services over every service -> the
platform-wide files, the index and the manifest (``render.assemble``).

Problems are reported by stage, as one pass over the whole platform would: the
input problems of every service (and the rules that span services) first; only
when there are none, the problems of rendering the templates; only then those of
the merged values. So which services share a chunk never changes what is reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from . import schemas
from .background import Background
from .errors import InputError, Problem
from .gitref import OnDisk, on_disk, tree_changes
from .index import INDEX, Index, Services, Summary, blob_id, generator_digest, owner, service_inputs
from .load import SERVICES_DIR, Select, Sources, load_services, load_shared, parse_services, vouched_unchanged
from .model import Platform, Service
from .render import (
    MANIFEST,
    Kept,
    Rendered,
    Reuse,
    assemble,
    cross_neighbours,
    cross_problems,
    pack,
    platform_files,
    render_services,
    reuse,
    sample_digests,
    summarize,
    template_of,
)
from .renderers import worker
from .validate import Facts, validate

__all__ = ["CHUNK", "compile_tree"]

#: Services per chunk: each chunk is parsed, validated and rendered on its own, so memory holds one
#: chunk's objects (and every file's bytes) at a time.
CHUNK = 250
#: Below this many services to render, one process does it all (a fork costs more than it saves).
PARALLEL_FROM = 200


class _OutDir(Protocol):
    def __call__(self, shared: Sources, platform: Platform | None) -> Path | None: ...


class _Previous(Protocol):
    def __call__(self, out_dir: Path | None) -> Index | None: ...


@dataclass
class _Part:
    """What one chunk gave: its services' facts, files and summaries, or its problems by stage."""

    facts: list[Facts] = field(default_factory=list)
    problems: dict[int, list[Problem]] = field(default_factory=dict)  # 0 inputs, 1 templates, 2 values
    files: dict[str, bytes] = field(default_factory=dict)
    summaries: dict[str, Summary] = field(default_factory=dict)


def _render_part(platform: Platform, services: list[Service], samples: Sequence[str], part: _Part) -> None:
    chunk = replace(platform, services=tuple(services))
    try:
        produced, kinds, targets = render_services(chunk, samples)
    except InputError as exc:
        # render_services raises the templates' problems before it merges any values
        part.problems.setdefault(2 if _merged(exc) else 1, []).extend(exc.problems)
        return
    for own in produced.values():
        part.files.update((rel, pack(data)) for rel, data in own.items())
    part.summaries.update(summarize(chunk, produced, kinds, targets))


def _merged(exc: InputError) -> bool:
    return exc.stage == "values"


_shared: Sources | None = None
#: Whether the previous render validated these very shared inputs (so a chunk does not check them again).
_shared_trusted = False


def _chunk(raw: tuple[tuple[str, bytes], ...]) -> _Part:
    """Parse, validate and render one chunk of services (in a worker, or in this process)."""
    assert _shared is not None
    part = _Part()
    sources = parse_services(_shared, raw)
    found: list[Service] = []
    try:
        with schemas.trusted_shared() if _shared_trusted else nullcontext():
            platform = validate(sources, cross=False, found=found)
    except InputError as exc:
        part.facts = [Facts.of(s) for s in found]
        part.problems[0] = list(exc.problems)
        return part
    _render_part(platform, list(platform.services), (), part)
    # the facts of a rendered service come from its summary: its URLs are known once its values are merged
    part.facts = [Facts.of_summary(part.summaries[s.name]) if s.name in part.summaries else Facts.of(s)
                  for s in platform.services]
    return part


def _unchanged(base: Platform, sources: Sources, previous: Index, kept: Services, manifest: bytes | None) -> bool:
    """Whether nothing changed since the previous render: the same services, unchanged, from the same
    shared inputs and generator, and its manifest as it wrote it."""
    if sources.raw or len(kept) != len(previous.services) or manifest is None:
        return False
    if previous.shared != base.inputs.digest():
        return False
    return sample_digests(base) == previous.samples


def _chunks(raw: Sequence[tuple[str, bytes]], size: int) -> list[tuple[tuple[str, bytes], ...]]:
    return [tuple(raw[i:i + size]) for i in range(0, len(raw), size)]


def _run(raw: Sequence[tuple[str, bytes]], jobs: int, settle: Callable[[], None] | None = None) -> list[_Part]:
    if jobs <= 1 or len(raw) < PARALLEL_FROM:
        return [_chunk(c) for c in _chunks(raw, CHUNK)]
    import multiprocessing  # (a render of few services does not load it)
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        return [_chunk(c) for c in _chunks(raw, CHUNK)]
    if settle is not None:
        settle()  # no other thread runs while the workers fork
    size = max(1, min(CHUNK, -(-len(raw) // (jobs * 2))))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_chunk, _chunks(raw, size)))


def compile_tree(root: Path, out_dir_of: _OutDir, previous_of: _Previous, *, jobs: int | None = None,
                 only: Callable[[str], bool] | None = None,
                 changes_of: Callable[[Path, Path], set[str] | None] = tree_changes,
                 ids_of: Callable[[Path, str], OnDisk | None] = on_disk,
                 base_index_of: Callable[[], Index | None] | None = None,
                 extra: Sequence[tuple[str, bytes]] = (), spare: bool = False,
                 settle: Callable[[], None] | None = None) -> tuple[Platform, Rendered, Index | None]:
    """Load, validate and render the platform at ``root``: only the services whose inputs differ from
    the previous index (``previous_of(guessed tree folder)``, None for everything), all of them otherwise.

    ``out_dir_of`` tells the tree's folder from the raw platform.yaml (a guess, checked once the
    platform is validated). ``changes_of(root, tree folder)`` lists the tree's files not to trust
    (their services are rendered again; None: trust nothing). ``ids_of(root, folder)`` tells what git's
    index vouches for below ``folder`` (see ``gitref.on_disk``): a service's config.yaml among its files is not
    read unless it is rendered again, and which catalog files a folder holds is told without looking. When the
    index is among the tree's files edited since the base, ``base_index_of()`` gives the index committed at
    the base (None when there is none to compare with: then no line of the index is trusted), and every
    service whose line differs from it is rendered again. Raise InputError with every problem found.

    ``only`` (a shard, see ``shard.py``) keeps just the services it names: all of them are
    rendered, no previous index is read, and no sample render is made (``merge`` makes those).

    ``extra``: (folder, config.yaml bytes) of services that are not on disk, validated and rendered with
    the others as if they were (``platform-gen new`` checks a service before it writes it).

    With ``spare`` (a render expected to re-render few services), a template worker is forked first, which
    imports the template languages on another core while this process loads the platform
    (``worker.prepare``). ``settle()`` waits for the caller's threads, if any still run, before services
    are rendered in forked processes.
    """
    global _shared, _shared_trusted

    spare = spare and only is None
    if spare:
        generator_digest()  # (computed in a thread of the console script: done before forking)
    shared = load_shared(root)
    # a spare worker compiles the templates while this process reads the index and what git says
    with worker.session(spare, settle, [files for _name, files in sorted(shared.templates.items())]):
        def read_services(root: Path, shared: Sources, select: Select | None = None, *,
                          parse: bool = True, known: OnDisk | None = None, unchanged: Collection[str] = (),
                          held: Mapping[str, tuple[str, ...]] | None = None) -> Sources:
            found = load_services(root, shared, select, parse=parse, known=known, unchanged=unchanged, held=held)
            if not extra:
                return found
            digests = {f"{SERVICES_DIR}/{folder}/config.yaml": blob_id(data) for folder, data in extra}
            return replace(found, raw=tuple(sorted((*found.raw, *extra))), digests={**found.digests, **digests})

        inputs = shared.shared_inputs()  # the inputs every service shares
        shared_digest = inputs.digest()
        guess = out_dir_of(shared, None)
        # git tells which config.yaml files are as committed at the base (their ids, without reading them) and,
        # from its index, which of the tree's files were edited since (committed or staged), while this thread
        # reads the render index
        vouched = edits = None
        try:
            if only is None and guess is not None:
                tree = guess
                vouched = Background(lambda: ids_of(root, SERVICES_DIR), "git-ids")
                edits = Background(lambda: changes_of(root, tree), "git-changes")
            previous = previous_of(guess) if only is None else None
            select = None if only is None else (lambda folder, _config, _features: only(folder))
            suspects: set[str] = set()
            if previous is not None:
                head = previous.entries.head

                def select(folder: str, config: str, features: tuple[str, ...]) -> bool:
                    before = head(folder)
                    return before is None or folder in suspects or before.config != config or \
                        before.inputs != service_inputs(inputs, config, before.template, before.envs, features)

            known = vouched.result() if vouched is not None and previous is not None else None
            unchanged: frozenset[str] = frozenset()
            held: dict[str, tuple[str, ...]] = {}
            if known is not None and previous is not None and previous.shared == shared_digest:
                # with the shared inputs as the index records them, the services git vouches are as it records them
                # are kept in one piece; select looks at the others
                unchanged, held = vouched_unchanged(known, previous.entries.keys_read())
            sources = read_services(root, shared, select, parse=False, known=known, unchanged=unchanged, held=held)
            changed = edits.result() if edits is not None and previous is not None else None
        finally:
            for asked in (vouched, edits):  # (before any worker is forked)
                if asked is not None:
                    asked.wait()
        edited: set[str] = set()
        if previous is not None:
            # the files of the tree edited since the git base (committed or staged; see gitref.tree_changes): their
            # services are rendered again, and the platform-wide files made again and compared when one of them is
            # among these
            if changed is None:  # git cannot tell: nothing is trusted unread
                previous = None
                sources = read_services(root, shared, parse=False)
            else:
                edited = changed
                suspects = {o for o in map(owner, edited) if o is not None}
                if INDEX in edited:
                    # the index itself changed since the base: a service whose line differs from the base's
                    # index claims to have been rendered again since, which only its files can show (a pull
                    # request may commit the index and config.yaml without the files, or with the base's)
                    at_base = base_index_of() if base_index_of is not None else None
                    if at_base is None:  # nothing to compare it with: trust no line of it
                        previous = None
                        sources = read_services(root, shared, parse=False)
                    else:
                        mine, theirs = previous.entries, at_base.entries
                        suspects |= {n for n in mine if not mine.same_line(n, theirs)}
                again = [name for name in sources.skipped if name in suspects] if previous is not None else []
                if again:  # services whose inputs are as the index says, but whose files were edited
                    more = load_services(root, shared, parse=False, names=again)
                    sources = replace(sources, raw=tuple(sorted((*sources.raw, *more.raw))),
                                      skipped=tuple(n for n in sources.skipped if n not in suspects),
                                      digests={**sources.digests, **more.digests},
                                      features={**sources.features, **more.features})
        # the inputs every service shares, and the problems of files that are no service's; their schemas
        # are not checked again when the previous render validated these very bytes
        trusted = previous is not None and previous.shared == shared_digest
        with schemas.trusted() if trusted else nullcontext():
            base = validate(replace(sources, raw=()), cross=False)
        real = out_dir_of(shared, base)
        if previous is not None and (guess is None or real is None or real.resolve() != guess.resolve()):
            previous = None  # the index was looked for in the wrong place: render everything
            sources = read_services(root, shared, parse=False)
        kept = previous.entries.only(sources.skipped) if previous is not None else Services.of({})

        def read_manifest() -> bytes | None:
            try:
                return (guess / MANIFEST).read_bytes() if guess is not None else None
            except OSError:
                return None

        if previous is not None and not sources.raw and len(kept) == len(previous.services):
            reused = reuse(base, previous, kept, (), edited, read_manifest)
            if reused.manifest is not None and _unchanged(base, sources, previous, kept, reused.manifest):
                # nothing to render: the index and the manifest, whose checksums held, are the previous render's;
                # the platform-wide files too, unless one was edited since the git base (then they are made again
                # and compared)
                shared_files, repo_files_ = platform_files(base, previous.services, reused)
                keep = Kept(previous.services, {*(reused.shared or ()), INDEX, MANIFEST})
                return replace(base, services=()), Rendered(shared_files, (), repo_files_, previous, keep,
                                                            frozenset(kept)), previous

        _shared, _shared_trusted = replace(sources, raw=(), problems=()), trusted and previous is not None
        try:
            parts = _run(sources.raw, jobs if jobs is not None else min(2, os.cpu_count() or 1), settle)
        finally:
            _shared, _shared_trusted = None, False

        fresh = [f for p in parts for f in p.facts]
        # with the shared inputs the index recorded, the kept services passed these rules together before: only
        # conflicts with a service rendered again can be new, so the rules look at those and at the kept services
        # they could conflict with
        # every service folder (a shard's others, and services with problems of their own, too): the names
        # allowFrom may use
        names = {*kept, *(f.name for f in fresh), *sources.skipped, *(f.rsplit("/", 1)[-1] for f, _d in sources.raw)}
        gone = [n for n in previous.services if n not in names] if previous is not None else []
        looked_at = kept.only(cross_neighbours(base, fresh, kept, gone)) if trusted and previous is not None else kept
        facts = [Facts.of_summary(looked_at[name]) for name in looked_at]
        problems = [q for p in parts for q in p.problems.get(0, ())] + cross_problems(base, [*facts, *fresh], names)
        if problems:
            raise InputError(problems)
        new: dict[str, Summary] = {}
        for p in parts:
            new.update(p.summaries)
        summaries = kept.updated(new)
        samples = sample_digests(base)
        old = previous.samples if previous is not None else {}
        # a template whose services fail to render is reported already: its sample would say it again
        broken = {template_of(q) for p in parts for q in p.problems.get(1, ())}
        sampled = [t for t, d in samples.items() if old.get(t) != d and only is None and t not in broken]
        sample_part = _Part()
        if sampled:
            _render_part(base, [], sampled, sample_part)
        for stage in (1, 2):
            problems = [q for p in (*parts, sample_part) for q in p.problems.get(stage, ())]
            if problems:
                raise InputError(problems)
        files: dict[str, bytes] = {}
        for p in parts:
            files.update(p.files)
        if only is not None:  # a shard's partial tree holds its services' files only (merge makes the rest)
            reused = Reuse(shared=())
        else:
            reused = reuse(base, previous, summaries, new, edited, read_manifest) if previous is not None else Reuse()
        rendered = assemble(base, summaries, files, kept, samples, packed=True, reused=reused)
        services = tuple(sorted(fresh, key=lambda f: f.name))
        return replace(base, services=()), replace(rendered, rendered_services=tuple(f.name for f in services)), \
            previous
