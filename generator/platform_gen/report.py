"""Formatting of results and problems for people (text) and machines (JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from .errors import Problem
from .merge import flatten
from .model import Target
from .write import Plan

__all__ = ["explain_json", "explain_text", "new_clusters", "plan_json", "plan_text", "problems_json", "problems_text",
           "to_json"]

Style = Callable[..., str]


def _plain(text: str, **_: Any) -> str:
    return text


def to_json(doc: dict[str, Any]) -> str:
    """One JSON document, fixed indent and key order."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str) -> str:
    """Input echoed in a message (a name with a newline, an escape sequence) cannot forge lines."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def problems_text(problems: Sequence[Problem], style: Style = _plain) -> str:
    """``file:line:col: key.path: message`` lines, each with its hint below."""
    lines = []
    for p in problems:
        lines.append(f"{style(_one_line(p.location()), bold=True)}: {style('error', fg='red')}: "
                     + _one_line((f"{p.path}: " if p.path else "") + p.message))
        if p.hint:
            lines.append(f"  {style('hint', fg='cyan')}: {_one_line(p.hint)}")
    n = len(problems)
    lines.append(f"{n} problem{'s' if n != 1 else ''} found; nothing was written.")
    return "\n".join(lines) + "\n"


def problems_json(problems: Sequence[Problem], status: str = "invalid") -> dict[str, Any]:
    """The problems as a JSON-ready document."""
    return {
        "status": status,
        "problems": [
            {"file": p.file, "line": p.line, "column": p.column, "path": p.path, "message": p.message,
             "hint": p.hint}
            for p in problems
        ],
    }


def new_clusters(plan: Plan) -> dict[str, list[str]]:
    """``env/cluster`` -> services, for each cluster the tree gains (none when the tree is new)."""
    had: set[str] = set()
    gained: dict[str, list[str]] = {}
    if not plan.created:
        return gained
    for paths, new in ((plan.unchanged, False), (plan.changed, False), (plan.removed, False), (plan.created, True)):
        for p in paths:
            parts = p.split("/")
            if len(parts) == 6 and parts[0] == "services" and parts[2] == "overlays" and parts[5] == (
                    "kustomization.yaml"):
                where = f"{parts[3]}/{parts[4]}"
                if not new:
                    had.add(where)
                elif where not in had:
                    gained.setdefault(where, []).append(parts[1])
    if not had:
        return {}
    return {where: sorted(services) for where, services in sorted(gained.items())}


def plan_text(plan: Plan, out: str, *, check: bool, verbosity: int) -> str:
    """Summary of a render (or of a ``--check``), with file lists as verbosity asks."""
    lines: list[str] = []
    show = verbosity > 0 or check
    for label, paths in (("created", plan.created), ("changed", plan.changed), ("removed", plan.removed)):
        if show:
            lines.extend(f"  {label + ':':9} {p}" for p in paths)
    if verbosity > 1:
        lines.extend(f"  {'unchanged:':9} {p}" for p in sorted(plan.unchanged))
    counts = (f"{len(plan.created)} created, {len(plan.changed)} changed, {len(plan.removed)} removed, "
              f"{len(plan.unchanged)} unchanged")
    if check:
        head = (f"{out} is out of date: {counts}" if plan.dirty else f"{out} is up to date ({counts})")
        if plan.dirty:
            lines.append("run 'platform-gen render' and commit the result")
        lines.insert(0, head)
    else:
        lines.append(f"{out}/: {counts}")
    for where, services in new_clusters(plan).items():
        lines.append(f"new cluster {where} receives {len(services)} service(s): {', '.join(services)}")
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan, out: str, *, check: bool) -> dict[str, Any]:
    """The plan as a JSON-ready document."""
    status = ("drift" if plan.dirty else "ok") if check else "ok"
    return {
        "status": status,
        "out": out,
        "created": list(plan.created),
        "changed": list(plan.changed),
        "removed": list(plan.removed),
        "unchanged": len(plan.unchanged),
        "newClusters": new_clusters(plan),
        "unowned": list(plan.unowned),
    }


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if (not value or "\n" in value or value != value.strip()) \
            else value
    return json.dumps(value)


def explain_text(targets: Sequence[Target], style: Style = _plain) -> str:
    """Effective values of each target with the file and line that set them."""
    blocks = []
    for t in targets:
        rows = [(key, _scalar(v), str(o) if o else "") for key, v, o in flatten(t.values, t.origins)]
        kw = max((len(r[0]) for r in rows), default=0)
        vw = min(max((len(r[1]) for r in rows), default=0), 48)
        head = style(f"{t.service.name} in {t.env.name}/{t.cluster.name}", bold=True) + \
            f" (Application {t.app_name}, team {t.service.team})"
        body = [f"  {k:<{kw}}  {v:<{vw}}  {style(o, dim=True)}".rstrip() for k, v, o in rows]
        blocks.append("\n".join([head, *body]))
    return "\n\n".join(blocks) + "\n"


def explain_json(targets: Sequence[Target]) -> dict[str, Any]:
    """The effective values and origins as a JSON-ready document."""
    return {
        "status": "ok",
        "targets": [
            {
                "service": t.service.name,
                "environment": t.env.name,
                "cluster": t.cluster.name,
                "application": t.app_name,
                "values": t.values,
                "origins": {k: str(o) for k, _v, o in flatten(t.values, t.origins) if o},
            }
            for t in targets
        ],
    }
