"""Jsonnet templates (``*.jsonnet``): the context is ``std.extVar('ctx')``.

Imports are served from the template's own files in memory, so a template cannot
read anything outside its folder.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

import _jsonnet

__all__ = ["render"]

_LOC = re.compile(r"(?P<file>[^\s:]+\.(?:jsonnet|libsonnet)):(?P<line>\d+):(?P<col>\d+)")


def render(template: str, files: dict[str, str], entry: str, context: dict[str, Any]) -> list[Any]:
    """Evaluate ``entry``; it must give an object, or a list of objects."""
    from . import TemplateFailure

    def importer(base: str, rel: str) -> tuple[str, bytes]:
        name = posixpath.normpath(posixpath.join(base, rel))
        if name in files:
            return name, files[name].encode()
        raise RuntimeError(f"import not found in template '{template}': {rel}")

    try:
        out = _jsonnet.evaluate_snippet(
            entry,
            files[entry],
            ext_codes={"ctx": json.dumps(context, sort_keys=True)},
            import_callback=importer,
        )
    except RuntimeError as exc:
        text = str(exc).strip()
        match = _LOC.search(text)
        line = int(match.group("line")) if match and match.group("file") == entry else 0
        first = text.splitlines()[0] if text else "evaluation failed"
        raise TemplateFailure(entry, line, f"jsonnet: {first}") from None
    value = json.loads(out)
    if isinstance(value, dict) and "kind" in value:
        return [value]
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    raise TemplateFailure(entry, 0, "jsonnet output must be an object or a list of objects")
