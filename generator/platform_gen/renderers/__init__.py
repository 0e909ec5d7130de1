"""Template renderers, one small module per language, found through :data:`REGISTRY`.

A renderer takes a template's files (relative name -> text, read by ``load``), the
entry file to render and one context per service; it returns, per context, the
Kubernetes objects the entry produces, or raises :class:`TemplateFailure` with the
template line when known. Renderers work on batches so that per-template set-up
(compiling, starting an interpreter) is paid once per template, not per service; a
failing batch of several contexts may raise without saying which context failed,
as the caller then renders them one by one. ``worker`` runs a renderer in a child
process under a time and memory budget.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["REGISTRY", "Renderer", "TemplateFailure", "entries"]


class TemplateFailure(Exception):
    """A template could not be rendered; ``file`` is relative to its template folder."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        super().__init__(message)


RenderMany = Callable[[str, dict[str, str], str, Sequence[dict[str, Any]]], list[list[Any]]]


@dataclass(frozen=True)
class Renderer:
    """A template language: the suffix of its entry files and its batch render function.

    ``batched``: rendering many contexts in one call is much faster than one by one.
    """

    name: str
    suffix: str
    render_many: RenderMany
    batched: bool = False
    #: the module implementing the language, imported on first use (jinja2 and jsonnet
    #: cost start-up time that a platform not using the language should not pay)
    module: str | None = None

    def load(self) -> None:
        """Import the implementation now: the parent does so before forking a worker,
        so that the import is not charged to the templates' time budget."""
        if self.module:
            importlib.import_module(self.module)

    def render(self, template: str, files: dict[str, str], entry: str, context: dict[str, Any]) -> list[Any]:
        """Render one context."""
        return self.render_many(template, files, entry, [context])[0]


def _lazy(module: str) -> RenderMany:
    def render_many(template: str, files: dict[str, str], entry: str,
                    contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
        impl: RenderMany = importlib.import_module(module).render_many
        return impl(template, files, entry, contexts)

    return render_many


def _registry() -> tuple[Renderer, ...]:
    jinja, jsonnet = f"{__name__}.jinja", f"{__name__}.jsonnet"
    return (
        Renderer("jinja2", ".yaml.j2", _lazy(jinja), module=jinja),
        Renderer("jsonnet", ".jsonnet", _lazy(jsonnet), batched=True, module=jsonnet),
    )


REGISTRY: tuple[Renderer, ...] = _registry()


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
