"""Template renderers, one small module per language, found through :data:`REGISTRY`.

A renderer takes a template's files (relative name -> text, read by ``load``), the
entry file to render, and the context; it returns the Kubernetes objects the entry
produces, or raises :class:`TemplateFailure` with the template line when known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import jinja, jsonnet

__all__ = ["REGISTRY", "Renderer", "TemplateFailure", "entries"]


class TemplateFailure(Exception):
    """A template could not be rendered; ``file`` is relative to its template folder."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Renderer:
    """A template language: the suffix of its entry files and its render function."""

    name: str
    suffix: str
    render: Callable[[str, dict[str, str], str, dict[str, Any]], list[Any]]


REGISTRY: tuple[Renderer, ...] = (
    Renderer("jinja2", ".yaml.j2", jinja.render),
    Renderer("jsonnet", ".jsonnet", jsonnet.render),
)


def entries(files: dict[str, str]) -> list[tuple[str, Renderer]]:
    """The files of a template that produce manifests, sorted, with their renderer."""
    out = []
    for name in sorted(files):
        base = name.rsplit("/", 1)[-1]
        if base.startswith("_"):
            continue  # partials and libraries are only included or imported
        for renderer in REGISTRY:
            if name.endswith(renderer.suffix):
                out.append((name, renderer))
                break
    return out
