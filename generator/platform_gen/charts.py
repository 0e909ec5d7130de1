"""Helm chart templates: what is checked of a chart before it is rendered (pure: files in, problems out).

A template folder holding a ``Chart.yaml`` is a Helm chart (README "Writing a golden
path"). platform-gen renders offline, so every dependency its Chart.yaml declares must
be vendored under ``charts/`` (a folder or the ``.tgz`` that ``helm dependency build``
writes), as ``helm template`` requires: a dependency that is not would need a network
fetch, and is an error at its line of Chart.yaml. Matching by name is Helm's own rule
(``action.CheckDependencies``); the renderer checks it again with Helm's loader.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import yaml

from . import yamlio
from .errors import Problem
from .limits import MAX_FILE_BYTES
from .load import CHART_FILE, TEMPLATES_DIR

__all__ = ["chart_problems", "vendored"]


def _name(text: str | bytes) -> str | None:
    try:
        data = yamlio.safe_load(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def _archive_name(data: bytes) -> str | None:
    """The name in a chart archive's ``<top>/Chart.yaml``; None when it is no chart archive."""
    import tarfile  # (only a chart with vendored archives needs it)

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                parts = member.name.strip("/").split("/")
                if len(parts) == 2 and parts[1] == CHART_FILE and member.isfile() and member.size <= MAX_FILE_BYTES:
                    handle = tar.extractfile(member)
                    return _name(handle.read()) if handle is not None else None
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


def vendored(files: Mapping[str, str | bytes]) -> dict[str, str]:
    """The subcharts under ``charts/``: chart name -> the folder or archive (relative to the chart)."""
    found: dict[str, str] = {}
    for rel, data in sorted(files.items()):
        parts = rel.split("/")
        if len(parts) == 3 and parts[0] == "charts" and parts[2] == CHART_FILE:
            name = _name(data)
            where = f"charts/{parts[1]}"
        elif len(parts) == 2 and parts[0] == "charts" and rel.endswith(".tgz") and isinstance(data, bytes):
            name, where = _archive_name(data), rel
        else:
            continue
        if name is not None:
            found.setdefault(name, where)
    return found


def chart_problems(template: str, files: Mapping[str, str | bytes]) -> list[Problem]:
    """Problems of the chart ``template`` (its files): a Chart.yaml that is no mapping, dependencies not vendored."""
    where = f"{TEMPLATES_DIR}/{template}/{CHART_FILE}"
    text = files[CHART_FILE]
    doc, problems = yamlio.load_located(text if isinstance(text, str) else "", where)
    if problems:
        return problems
    if doc is None or not isinstance(doc.data, dict):
        return [Problem(where, 1, 1, "", "Chart.yaml is not a mapping",
                        "a chart's Chart.yaml holds apiVersion: v2, name and version")]
    deps = doc.data.get("dependencies")
    if deps is None:
        return []
    if not isinstance(deps, list):
        return [doc.problem(("dependencies",), "dependencies must be a list")]
    have = vendored(files)
    archives = sorted(rel for rel in files if rel.startswith("charts/") and rel.endswith(".tgz")
                      and rel.count("/") == 1 and rel not in have.values())
    out: list[Problem] = []
    for i, dep in enumerate(deps):
        name = dep.get("name") if isinstance(dep, dict) else None
        if not isinstance(name, str):
            out.append(doc.problem(("dependencies", i), "a dependency needs a name"))
            continue
        if name in have:
            continue
        repo = dep.get("repository") if isinstance(dep, dict) else None
        source = f" from {repo}" if isinstance(repo, str) and repo else ""
        unreadable = f" ({', '.join(archives)} is no chart archive)" if archives else ""
        out.append(doc.problem(
            ("dependencies", i),
            f"dependency '{name}' is not vendored under charts/{unreadable}: rendering it would need a network "
            f"fetch{source}, and platform-gen renders offline",
            f"run 'helm dependency build {TEMPLATES_DIR}/{template}' and commit the charts/ folder it writes"))
    return out
