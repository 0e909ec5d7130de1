"""Promotion (issue 13): copy a service's promotable values from one environment into the next.

Pure: the plan takes the validated platform (and, for the soak gate, when each value was first seen in
the source environment's rendered tree, read from git at the edge); the edit takes a config.yaml's text
and returns the new text. Nothing here reads or writes a file.

Where a value lands: the target environment's layer of the service's config.yaml
(``environments.<to>.<key>``), unless the service sets the key per cluster there: then each such line.
Nothing is written for a key the target already gets, with the same value, from a lower layer.
"""

from __future__ import annotations

import difflib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from .errors import Problem
from .merge import layers_of, merge_values
from .model import Environment, Layer, Platform, Service
from .scorecard import pinned

__all__ = ["GATES", "Change", "Edit", "Evidence", "GatedChange", "Plan", "Promotion", "apply_edits",
           "default_source", "gate_failures", "gate_problems", "gated_changes", "plan_promotion", "soak_text"]

#: The gates an environment's ``promotion`` may declare, each skippable with ``--skip-gate NAME``.
GATES = ("from", "soak", "requireDigest", "immutable")


@dataclass(frozen=True)
class Edit:
    """One value to set in a config.yaml: its key path, the new value and the line it replaces (0: a new key)."""

    file: str
    path: tuple[str, ...]
    value: Any
    line: int
    old: Any = None


@dataclass(frozen=True)
class Change:
    """One promoted key of one service: the value it had in the target (per cluster) and the new one."""

    key: str
    before: tuple[tuple[str, Any], ...]  # (cluster, value) in the target before
    after: Any


@dataclass(frozen=True)
class Evidence:
    """Since when a service's image and tag are in an environment's rendered tree (first-parent history)."""

    since: int | None  # commit time, seconds since the epoch; None: not in any commit
    commit: str = ""


@dataclass(frozen=True)
class Promotion:
    """What promoting one service does: its changes, the edits that make them, and the gates it skipped."""

    service: str
    source: str
    target: str
    changes: tuple[Change, ...]
    edits: tuple[Edit, ...]
    skipped: tuple[str, ...] = ()  # gates skipped with --skip-gate that would have refused it
    soaked: str = ""  # what the soak gate found, for the report


@dataclass(frozen=True)
class Plan:
    """A whole run: the promotions (those that change nothing included) and every refusal."""

    source: str
    target: str
    promotions: tuple[Promotion, ...]
    refusals: tuple[Problem, ...] = field(default=())
    # with --all: the services a gate holds back (not promoted, and no refusal: the others go on)
    held: tuple[Problem, ...] = field(default=())

    @property
    def edits(self) -> dict[str, tuple[Edit, ...]]:
        """File -> its edits, sorted by file."""
        out: dict[str, list[Edit]] = {}
        for p in self.promotions:
            for e in p.edits:
                out.setdefault(e.file, []).append(e)
        return {f: tuple(es) for f, es in sorted(out.items())}


def default_source(platform: Platform, target: str) -> str | None:
    """The environment just before ``target`` in promotion order; None when it is the first."""
    envs = list(platform.environments)  # sorted by order
    at = next(i for i, e in enumerate(envs) if e.name == target)
    return envs[at - 1].name if at > 0 else None


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _values(platform: Platform, svc: Service, env: str, cluster: str) -> dict[str, Any]:
    return merge_values(layers_of(platform, svc, env, cluster))


def _pos(layer: Layer, key: str) -> int:
    return layer.doc.pos((*layer.base, key)).line if key in layer.data else 0


def soak_text(seconds: int) -> str:
    """A duration as people read it: 2d 3h, 45m."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = (rest + 59) // 60 if not days and not hours else rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(p for p in parts if p) or "0m"


def _utc(seconds: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def gate_failures(target: Environment, source: str, values: Mapping[str, Any], evidence: Evidence | None,
                  now: int) -> tuple[list[tuple[str, str, str]], str]:
    """The gates of ``target`` that promoting ``values`` from ``source`` fails: (gate, message, hint) each,
    and what the soak gate found (for the report). ``evidence``: when the values were first seen in the
    source's rendered tree (None: the soak gate was not asked for, or not read)."""
    failed: list[tuple[str, str, str]] = []
    gates = target.gates
    soaked = ""
    tag = str(values.get("tag", ""))
    # immutable: an environment with gates, or a protected one, takes no moving tag such as latest
    if (gates is not None or target.protected) and not values.get("digest") and not pinned(tag):
        failed.append(("immutable", f"tag '{tag}' is not immutable (latest, a branch, a floating version); "
                       f"'{target.name}' takes only a full version, a commit id or a digest",
                       "promote a release tag, or pin the image with digest: sha256:..."))
    if gates is None:
        return failed, soaked
    if gates.source and source != gates.source:
        failed.append(("from", f"'{target.name}' takes promotions from '{gates.source}' only, not from '{source}'",
                       f"promote with --from {gates.source}"))
    if gates.require_digest and not values.get("digest"):
        failed.append(("requireDigest", f"'{target.name}' requires the image pinned by digest and "
                       f"'{source}' has none for it",
                       f"set digest: sha256:... next to the tag in '{source}' first"))
    if gates.soak_seconds:
        if evidence is None or evidence.since is None:
            failed.append(("soak", f"the image and tag are not in {source}'s rendered tree on the first-parent "
                           f"history, so they have not soaked for {gates.soak}",
                           f"commit them to {source} first; the gate passes {gates.soak} after that commit"))
        else:
            # the output names commit times only, never the current time: the same repo, the same text
            passes = evidence.since + gates.soak_seconds
            soaked = (f"in {source} since {_utc(evidence.since)} (commit {evidence.commit[:12]}); soak {gates.soak}, "
                      f"{'passes' if now < passes else 'passed'} at {_utc(passes)}")
            if now < passes:
                failed.append(("soak", f"the image and tag have been in {source} since {_utc(evidence.since)} "
                               f"(commit {evidence.commit[:12]}), less than the soak of {gates.soak} "
                               f"({soak_text(passes - evidence.since)}); the gate passes at {_utc(passes)}",
                               f"promote again after {_utc(passes)}, or --skip-gate soak"))
    return failed, soaked


def _service_plan(platform: Platform, svc: Service, source: str, target: str, keys: Sequence[str],
                  refusals: list[Problem]) -> tuple[dict[str, Any], list[Change], list[Edit]] | None:
    src_clusters = svc.placements[source]
    src_values = {c: _values(platform, svc, source, c) for c in src_clusters}
    promoted: dict[str, Any] = {}
    for key in keys:
        found = {c: v.get(key) for c, v in src_values.items()}
        distinct = {json.dumps(v, sort_keys=True) for v in found.values()}
        if len(distinct) > 1:
            refusals.append(Problem(svc.file, 0, 0, key, f"{svc.name}: '{key}' differs between the clusters of "
                                    f"'{source}' ({', '.join(f'{c}: {found[c]}' for c in sorted(found))}), so "
                                    "there is no one value to promote",
                                    f"set it once in environments.{source} of its config.yaml"))
            return None
        value = next(iter(found.values()))
        if value is not None:
            promoted[key] = value
    changes: list[Change] = []
    edits: list[Edit] = []
    env_layer = svc.env_layers.get(target)
    tgt_clusters = svc.placements[target]
    tgt_values = {c: _values(platform, svc, target, c) for c in tgt_clusters}
    for key, value in promoted.items():
        before = tuple((c, tgt_values[c].get(key)) for c in tgt_clusters)
        if all(_same(v, value) for _c, v in before):
            continue  # already inherited (or set) in every cluster of the target: nothing to write
        need_env = False
        for c in tgt_clusters:
            layer = svc.cluster_layers.get((target, c))
            if layer is not None and key in layer.data:
                if not _same(layer.data[key], value):
                    edits.append(Edit(svc.file, (*_str_path(layer.base), key), value, _pos(layer, key),
                                      layer.data[key]))
            elif not _same(tgt_values[c].get(key), value):
                need_env = True
        if need_env:
            if env_layer is not None:
                edits.append(Edit(svc.file, (*_str_path(env_layer.base), key), value, _pos(env_layer, key),
                                  env_layer.data.get(key)))
            else:
                edits.append(Edit(svc.file, ("environments", target, key), value, 0))
        changes.append(Change(key, before, value))
    return promoted, changes, edits


def _str_path(path: Iterable[str | int]) -> tuple[str, ...]:
    return tuple(str(p) for p in path)


def plan_promotion(platform: Platform, names: Sequence[str], target: str, source: str, *, every: bool = False,
                   force: bool = False, skip: Iterable[str] = (),
                   evidence: Mapping[str, Evidence] | None = None, now: int = 0) -> Plan:
    """What promoting ``names`` (``every``: every service that runs in both and differs) from ``source``
    into ``target`` does, and why it is refused where it is. ``evidence``: service -> when its values were
    first seen in ``source``'s rendered tree (for the soak gate); ``now``: the time it is compared with."""
    envs = {e.name: e for e in platform.environments}
    refusals: list[Problem] = []
    src_env, tgt_env = envs[source], envs[target]
    if src_env.order >= tgt_env.order and not force:
        refusals.append(Problem(tgt_env.file, tgt_env.order_line, 0, "order",
                                f"promoting from '{source}' (order {src_env.order}) to '{target}' (order "
                                f"{tgt_env.order}) goes against the promotion order",
                                "promotions go from a lower order to a higher one; --force promotes anyway"))
    by_name = {s.name: s for s in platform.services}
    chosen = sorted(by_name) if every else list(dict.fromkeys(names))
    skipped = set(skip)
    promotions: list[Promotion] = []
    held: list[Problem] = []
    for name in chosen:
        svc = by_name[name]
        missing = [e for e in (source, target) if e not in svc.placements]
        if missing:
            if not every:
                refusals.append(Problem(svc.file, 0, 0, "environments",
                                        f"{name} does not run in '{missing[0]}'",
                                        f"add environments.{missing[0]} to its config.yaml first"
                                        if missing[0] == target else f"{name} has nothing to promote from "
                                        f"'{source}'"))
            continue
        planned = _service_plan(platform, svc, source, target, platform.promotion_keys, refusals)
        if planned is None:
            continue
        promoted, changes, edits = planned
        if not changes:
            promotions.append(Promotion(name, source, target, (), ()))
            continue
        failed, soaked = gate_failures(tgt_env, source, promoted, (evidence or {}).get(name), now)
        passed_by_skip: list[str] = []
        stopped: list[Problem] = []
        for gate, message, hint in failed:
            if gate in skipped:
                passed_by_skip.append(gate)
                continue
            line = tgt_env.gates.at(gate) if tgt_env.gates is not None else 0
            stopped.append(Problem(tgt_env.file, line, 0, f"promotion.{gate}", f"{name}: {message}", hint))
        if stopped and every:  # --all promotes the others; this one waits (a scheduled run goes on)
            held.extend(stopped)
            continue
        refusals.extend(stopped)
        promotions.append(Promotion(name, source, target, tuple(changes), tuple(edits), tuple(passed_by_skip),
                                    soaked))
    return Plan(source, target, tuple(promotions), tuple(sorted(refusals)), tuple(sorted(held)))


# --- gates on a change made by hand (validate) ------------------------------------------------------


@dataclass(frozen=True)
class GatedChange:
    """A service whose promotable values in a gated environment differ from those at the base."""

    service: Service
    target: Environment
    source: str  # where the gates say it comes from
    values: dict[str, Any]  # the new values (as on the target's first cluster)
    from_source: bool = True  # they are the source's at the base (on its first cluster)
    source_values: dict[str, Any] | None = None  # the source's at the base (None: it did not run there)


def gated_changes(base: Platform | None, head: Platform) -> list[GatedChange]:
    """Every service whose promotable values in an environment with gates differ from those it had there at
    ``base``: a promotion, whether ``promote`` made it or a hand edit did. A service or environment new since
    the base is not a promotion (there is nothing it replaces)."""
    found: list[GatedChange] = []
    if base is None:
        return found
    base_services = {s.name: s for s in base.services}
    base_envs = {e.name for e in base.environments}
    keys = head.promotion_keys
    for env in head.environments:
        if env.gates is None or env.name not in base_envs:
            continue
        source = env.gates.source or default_source(head, env.name)
        if source is None:
            continue
        for svc in head.services:
            old = base_services.get(svc.name)
            if env.name not in svc.placements or old is None or env.name not in old.placements:
                continue
            base_clusters = {c.name for c in base.env(env.name).clusters}
            changed: dict[str, Any] | None = None
            for cluster in svc.placements[env.name]:
                if cluster not in old.placements[env.name] or cluster not in base_clusters:
                    continue  # a cluster new to it: nothing replaced
                now = {k: v for k, v in _values(head, svc, env.name, cluster).items() if k in keys}
                if not _same(now, {k: v for k, v in _values(base, old, env.name, cluster).items() if k in keys}):
                    changed = now
                    break
            if changed is not None:
                # what the source ran at the base: a change that moves the source and the target together (a
                # top-level tag bumped) is no promotion from it
                there = old.placements.get(source) if source in base_envs else None
                theirs = {k: v for k, v in _values(base, old, source, there[0]).items() if k in keys} if there else None
                found.append(GatedChange(svc, env, source, changed, theirs is not None and _same(theirs, changed),
                                         theirs))
    return found


def gate_problems(changes: Sequence[GatedChange], evidence: Mapping[str, Evidence], now: int,
                  skip: Iterable[str] = ()) -> tuple[list[Problem], list[str]]:
    """The gates ``changes`` fail (not those in ``skip``), as problems at the target's lines of each
    service's config.yaml; and, for the record, each gate skipped that would have failed."""
    problems: list[Problem] = []
    skipped: list[str] = []
    skipping = set(skip)
    for ch in changes:
        failed, _soaked = gate_failures(ch.target, ch.source, ch.values, evidence.get(ch.service.name), now)
        if not ch.from_source:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(ch.values.items())
                              if ch.source_values is None or not _same(ch.source_values.get(k), v)) or "the value"
            failed.insert(0, ("from", f"{shown} is not what '{ch.source}' runs: promotions into '{ch.target.name}' "
                              f"come from '{ch.source}'",
                              f"set it in '{ch.source}' first, then 'platform-gen promote {ch.service.name} "
                              f"--to {ch.target.name}'"))
        # the line that sets the value: the most specific layer of the service's file that holds a changed key
        # (a cluster's in the target, the target's, the top level's)
        svc, target = ch.service, ch.target.name
        layers = [*(svc.cluster_layers[(target, c)] for c in svc.placements.get(target, ())
                    if (target, c) in svc.cluster_layers), *([svc.env_layers[target]] if target in svc.env_layers
                                                             else []), svc.top]
        keys = [k for k in ("tag", "digest", "image") if k in ch.values]
        found = next(((la, k) for la in layers for k in keys if k in la.data), None)
        layer = found[0] if found else svc.env_layers.get(target)
        path: tuple[str | int, ...] = (*found[0].base, found[1]) if found else \
            ((*layer.base,) if layer is not None else ("environments",))
        doc = layer.doc if layer is not None else None
        for gate, message, hint in failed:
            if gate in skipping:
                skipped.append(f"{ch.service.name} into {ch.target.name}: {gate}")
                continue
            text = f"{ch.service.name}: a promotion into '{ch.target.name}': {message}"
            more = f"{hint}; to skip the gate: validate --skip-gate {gate} (pull request label skip-gate:{gate})"
            problems.append(doc.problem(path, text, more) if doc is not None
                            else Problem(ch.service.file, 0, 0, "environments", text, more))
    return problems, skipped


# --- the round-trip edit ------------------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, key order, quoting and flow style survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _styled(value: Any, old: Any, like: Any) -> Any:
    """``value`` quoted as the value it replaces was (or, for a new key, as ``like``, the same key elsewhere)."""
    if not isinstance(value, str):
        return value
    model = old if old is not None else like
    if isinstance(model, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(value)
    if isinstance(model, SingleQuotedScalarString):
        return SingleQuotedScalarString(value)
    return value


class EditError(ValueError):
    """An edit that the round trip cannot make without touching other lines."""


def _plain(node: CommentedMap, path: Sequence[str]) -> None:
    """Refuse a mapping whose edit would reach further than its own lines: an anchored one (every alias of it
    would change too) or one that takes keys from a merge key (``<<``)."""
    where = ".".join(path) or "the top level"
    if node.anchor.value is not None:
        raise EditError(f"{where} is anchored (&{node.anchor.value}): the edit would change every alias of it")
    if node.merge:
        raise EditError(f"{where} takes keys from a merge key (<<)")


def apply_edits(text: str, edits: Sequence[Edit], order: Sequence[str] = ()) -> str:
    """``text`` (a config.yaml) with ``edits`` made: only the lines of the values they replace change, and a
    new key is one new line (an empty flow mapping ``{}`` it goes into becomes a block; one with keys takes it on
    its line). Raise EditError when
    the round trip would change any other line. ``order``: the promotable keys, so new keys keep that order."""
    yaml = _yaml()
    try:
        doc = yaml.load(text)
    except YAMLError as exc:  # read before by the loader of render; this one may be stricter
        raise EditError(f"ruamel.yaml cannot read it: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if not isinstance(doc, CommentedMap):
        raise EditError("the file is not a mapping")
    allowed: set[int] = set()  # 0-based lines that may change
    for e in edits:
        node: Any = doc
        for key in e.path[:-1]:
            parent_line = node.lc.value(key)[0] if key in node else None
            nxt = node.get(key)
            if nxt is None:
                nxt = CommentedMap()
                node[key] = nxt
            elif isinstance(nxt, CommentedMap) and not nxt:  # {} (its flow style is not recorded)
                allowed.add(node.lc.value(key)[0])
                nxt.fa.set_block_style()
            if not isinstance(nxt, CommentedMap):
                raise EditError(f"{'.'.join(e.path[:-1])} is not a mapping")
            if nxt and nxt.fa.flow_style() and parent_line is not None:
                allowed.add(parent_line)  # a flow mapping ({replicas: 2}) takes the new key on its own line
            node = nxt
        _plain(node, e.path[:-1])
        key = e.path[-1]
        if key in node:
            allowed.add(node.lc.value(key)[0])
            node[key] = _styled(e.value, node[key], None)
        else:
            rank = {k: i for i, k in enumerate(order)}
            mine = rank.get(key, len(rank))
            at = 0
            for i, k in enumerate(node):
                if k in rank and rank[k] < mine:
                    at = i + 1
            node.insert(at, key, _styled(e.value, None, doc.get(key)))
    out = io.StringIO()
    try:
        yaml.dump(doc, out)
    except YAMLError as exc:
        raise EditError(f"ruamel.yaml cannot write it: {exc}") from None
    new = out.getvalue()
    old_lines, new_lines = text.splitlines(keepends=True), new.splitlines(keepends=True)
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes():
        if tag in ("replace", "delete") and not set(range(i1, i2)) <= allowed:
            raise EditError(f"the edit would change line {i1 + 1} as well")
    return new
