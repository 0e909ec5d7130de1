"""Formatting of results and problems for people (text) and machines (JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import Problem
from .merge import flatten
from .model import Target
from .schemas import SCORECARD_CHECKS
from .write import Plan

if TYPE_CHECKING:  # the scorecard's module is loaded by the commands that show one
    from .scorecard import Scorecard

__all__ = ["explain_json", "explain_text", "new_clusters", "plan_json", "plan_text", "problems_json", "problems_text",
           "scorecard_badge", "scorecard_json", "scorecard_markdown", "scorecard_text", "to_json"]

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


def problems_text(problems: Sequence[Problem], style: Style = _plain, writes: bool = True) -> str:
    """``file:line:col: key.path: message`` lines, each with its hint below; ``writes``: the command would
    have written files (render, new, ...), so the last line says that nothing was."""
    lines = []
    for p in problems:
        lines.append(f"{style(_one_line(p.location()), bold=True)}: {style('error', fg='red')}: "
                     + _one_line((f"{p.path}: " if p.path else "") + p.message))
        if p.hint:
            lines.append(f"  {style('hint', fg='cyan')}: {_one_line(p.hint)}")
    n = len(problems)
    lines.append(f"{n} problem{'s' if n != 1 else ''} found" + ("; nothing was written." if writes else "."))
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


# --- the scorecard (README "Scorecards") ------------------------------------------------------------

#: The colour of each level's badge (shields.io takes hex without '#').
_BADGE_COLOURS = {"gold": "d4af37", "silver": "a8a9ad", "bronze": "cd7f32"}


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], style: Style = _plain,
           paint: Callable[[int, str], dict[str, Any]] | None = None) -> list[str]:
    """Aligned columns, two spaces apart; ``paint(column, cell)`` gives a cell's style (after padding)."""
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    for row in rows:
        cells = []
        for i, (cell, width) in enumerate(zip(row, widths, strict=True)):
            how = paint(i, cell) if paint is not None else {}
            cells.append(style(cell.ljust(width), **how) if how else cell.ljust(width))
        lines.append("  ".join(cells).rstrip())
    return lines


def _top(card: Scorecard) -> tuple[str, int, int]:
    """The highest level, how many services reach it, and their share in percent."""
    from .scorecard import NONE, percent

    top = card.names[-1] if card.names else NONE
    n = card.count(top)
    return top, n, percent(n, len(card.services))


def scorecard_badge(card: Scorecard) -> str:
    """A shields.io static badge of the share of services at the highest level, such as 'gold 16%'."""
    from urllib.parse import quote

    top, _n, share = _top(card)
    message = quote(f"{top} {share}%".replace("-", "--").replace("_", "__"), safe="")
    return f"https://img.shields.io/badge/scorecard-{message}-{_BADGE_COLOURS.get(top, 'lightgrey')}"


def _below_line(card: Scorecard, min_level: str) -> str:
    below = card.below(min_level)
    if not below:
        return f"every service is {min_level} or higher"
    return f"{len(below)} service(s) below {min_level}: {', '.join(below)}"


def scorecard_text(card: Scorecard, style: Style = _plain, min_level: str | None = None) -> str:
    """The scorecard for a terminal: a table of services and checks, what fails, teams and golden paths."""
    from .scorecard import NONE, percent

    services = len(card.services)
    out = [style(f"Scorecard of {card.organization}: {services} service(s) of {len(card.teams)} team(s)", bold=True),
           f"levels: {' < '.join(card.names) or 'none declared'}"
           + (f"; replicas are counted in {card.last_env}, the last environment" if "replicas" in card.checks
              and card.last_env else ""),
           ""]

    def paint(_column: int, cell: str) -> dict[str, Any]:
        return {"fg": "red"} if cell in ("FAIL", NONE) else {}

    rows = [[s.name, s.team, s.template, s.level,
             *(("pass" if v.applies else "n/a") if v.passed else "FAIL" for _c, v in s.verdicts)]
            for s in card.services]
    out += _table(["service", "team", "template", "level", *card.checks], rows, style, paint)
    counts = [f"{level} {card.count(level)} ({percent(card.count(level), services)}%)"
              for level in (*reversed(card.names), NONE)]
    out += ["", "services per level: " + ", ".join(counts)]
    failing = [(s.name, c, v.detail) for s in card.services for c, v in s.verdicts if not v.passed]
    if failing:
        out += ["", "failing checks:"]
        width = max(len(c) for _s, c, _d in failing)
        last = ""
        for name, check, detail in failing:
            if name != last:
                out.append(f"  {name}")
                last = name
            out.append(f"    {check.ljust(width)}  {_one_line(detail)}")
    out += ["", "teams:"]
    out += ["  " + line for line in _table(
        ["team", "services", *(level for level, _n in (card.teams[0].levels if card.teams else ())), "checks passed"],
        [[t.name, str(t.services), *(str(n) for _l, n in t.levels),
          f"{t.passed} of {t.total} ({percent(t.passed, t.total)}%)"] for t in card.teams])]
    out += ["", f"golden paths: {card.shipped} of {services} service(s) ({percent(card.shipped, services)}%) on a "
                "path platform-gen ships"]
    out += ["  " + line for line in _table(["template", "shipped", "services"],
                                           [[t.name, "yes" if t.shipped else "no", str(t.services)]
                                            for t in card.templates])]
    out += ["", "checks:"]
    out += ["  " + line for line in _table(["check", "level", "what it asks"],
                                           [[c, card.level_of(c) or "-", SCORECARD_CHECKS[c]] for c in card.checks])]
    if card.retired:
        out += ["", f"not scored (retiring): {', '.join(card.retired)}"]
    if min_level is not None:
        out += ["", _below_line(card, min_level)]
    return "\n".join(out) + "\n"


def scorecard_json(card: Scorecard, min_level: str | None = None) -> dict[str, Any]:
    """The scorecard as one JSON-ready document (README "Scorecards" describes its shape)."""
    from .scorecard import NONE, percent

    services = len(card.services)
    below = list(card.below(min_level)) if min_level is not None else []
    top, n, share = _top(card)
    return {
        "status": "below" if below else "ok",
        "organization": card.organization,
        "last_environment": card.last_env,
        "checks": [{"name": c, "description": SCORECARD_CHECKS[c], "level": card.level_of(c)} for c in card.checks],
        "levels": [{"name": level, "checks": list(own), "requires": list(card.requires(level)),
                    "services": card.count(level)} for level, own in card.levels],
        "services": [{"name": s.name, "team": s.team, "template": s.template, "level": s.level,
                      "passed": s.passed, "total": len(s.verdicts),
                      "checks": {c: {"passed": v.passed, "detail": v.detail,
                                     **({} if v.applies else {"applies": False})} for c, v in s.verdicts}}
                     for s in card.services],
        "teams": [{"name": t.name, "services": t.services, "levels": dict(t.levels), "checks_passed": t.passed,
                   "checks_total": t.total, "percent": percent(t.passed, t.total)} for t in card.teams],
        "golden_paths": {"services": services, "shipped": card.shipped, "percent": percent(card.shipped, services),
                         "templates": [{"name": t.name, "shipped": t.shipped, "services": t.services}
                                       for t in card.templates]},
        "summary": {"services": services, "levels": {level: card.count(level) for level in (NONE, *card.names)},
                    "top_level": top, "top_level_services": n, "top_level_percent": share},
        "badge": scorecard_badge(card),
        "retired": list(card.retired),
        "min_level": min_level,
        "below_min_level": below,
    }


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def _md(text: str) -> str:
    """Text from the inputs, safe in a Markdown table cell."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))


def scorecard_markdown(card: Scorecard, min_level: str | None = None) -> str:
    """The scorecard for a pull-request comment or a README: a badge, the services, teams and golden paths."""
    from .scorecard import NONE, percent

    services = len(card.services)
    top, n, share = _top(card)
    counts = ", ".join(f"**{n} {top} ({share}%)**" if level == top else f"{card.count(level)} {level}"
                       for level in reversed(card.names))
    out = [f"## Scorecard of {_md(card.organization)}", "",
           f"![scorecard: {top} {share}%]({scorecard_badge(card)})", "",
           f"{services} service(s): {counts}{', ' if counts else ''}{card.count(NONE)} below "
           f"{card.names[0] if card.names else 'any level'} · {card.shipped} of {services} "
           f"({percent(card.shipped, services)}%) on a golden path platform-gen ships", ""]
    if min_level is not None:
        below = card.below(min_level)
        out += [("✅ " if not below else "❌ ") + _md(_below_line(card, min_level)), ""]
    out += ["| service | team | template | level | " + " | ".join(card.checks) + " |",
            "| --- | --- | --- | --- |" + " :-: |" * len(card.checks)]
    for s in card.services:
        marks = " | ".join(("✅" if v.applies else "n/a") if v.passed else "❌" for _c, v in s.verdicts)
        level = f"**{s.level}**" if s.level == top else s.level
        out.append(f"| {_md(s.name)} | {_md(s.team)} | {_md(s.template)} | {level} | {marks} |")
    # what keeps each service from the next level (a comment stays short: checks no level requires are left out)
    rank = {name: i for i, name in enumerate((NONE, *card.names))}
    needs = []
    for s in card.services:
        if rank[s.level] < len(card.names):
            after = card.names[rank[s.level]]
            own = dict(card.levels)[after]
            needs += [(s.name, after, c, v.detail) for c, v in s.verdicts if c in own and not v.passed]
    if needs:
        out += ["", "<details><summary>What each service needs for the next level</summary>", "",
                "| service | next level | check | why it fails |", "| --- | --- | --- | --- |"]
        out += [f"| {_md(name)} | {after} | {check} | {_md(detail)} |" for name, after, check, detail in needs]
        out += ["", "</details>"]
    level_names = [level for level, _n in card.teams[0].levels] if card.teams else []
    out += ["", "### Teams", "", "| team | services | " + " | ".join(level_names) + " | checks passed |",
            "| --- |" + " ---: |" * (len(level_names) + 2)]
    out += [f"| {_md(t.name)} | {t.services} | " + " | ".join(str(c) for _l, c in t.levels)
            + f" | {t.passed} of {t.total} ({percent(t.passed, t.total)}%) |" for t in card.teams]
    out += ["", "### Golden paths", "", "| template | shipped | services |", "| --- | :-: | ---: |"]
    out += [f"| {_md(t.name)} | {'yes' if t.shipped else 'no'} | {t.services} |" for t in card.templates]
    out += ["", "<details><summary>The checks</summary>", "", "| check | level | what it asks |", "| --- | --- | --- |"]
    out += [f"| {c} | {card.level_of(c) or '-'} | {_md(SCORECARD_CHECKS[c])} |" for c in card.checks]
    out += ["", "</details>"]
    if card.retired:
        out += ["", f"Not scored (retiring): {', '.join(_md(r) for r in card.retired)}"]
    return "\n".join(out) + "\n"
