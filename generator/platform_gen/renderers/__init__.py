"""Template renderers, one small module per language, found through :data:`REGISTRY`.

A renderer takes a template's files (relative name -> text, or bytes for a Helm
chart's vendored archives, read by ``load``), the
entry file to render and one context per service; it returns, per context, the
Kubernetes objects the entry produces, or raises :class:`TemplateFailure` with the
template line when known. Renderers work on batches so that per-template set-up
(compiling, starting an interpreter) is paid once per template, not per service; a
failing batch of several contexts may raise without saying which context failed,
as the caller then renders them one by one. ``worker`` runs a renderer in a child
process under a time and memory budget.

A template folder holding a ``Chart.yaml`` is a Helm chart: the chart as a whole is
its one entry (``Chart.yaml``), rendered by ``helm``; its other files are the chart's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..load import CHART_FILE

__all__ = ["CHART_FILE", "HELM", "REGISTRY", "Files", "Renderer", "TemplateFailure", "entries", "is_chart"]

#: A template's files: relative name -> text (bytes only for a Helm chart's vendored ``charts/*.tgz``).
Files = dict[str, str | bytes]



class TemplateFailure(Exception):
    """A template could not be rendered; ``file`` is relative to its template folder."""

    def __init__(self, file: str, line: int, message: str, column: int = 0, hint: str = "") -> None:
        self.file = file
        self.line = line
        self.message = message
        self.column = column
        self.hint = hint
        super().__init__(message)


RenderMany = Callable[[str, Files, str, Sequence[dict[str, Any]]], list[list[Any]]]


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
    #: start the implementation in the worker only, never in platform-gen itself: Helm's
    #: library and go-jsonnet are Go runtimes, which start threads when loaded (a fork keeps only
    #: the forking thread, so a runtime loaded before forking hangs in the worker) and
    #: reserves about 1 GiB of address space up front (so it starts before the worker
    #: caps its memory, and the budget counts what the templates use)
    in_worker: bool = False

    def load(self) -> None:
        """Import the implementation now: the parent does so before forking a worker,
        so that the import is not charged to the templates' time budget."""
        if self.module and not self.in_worker:
            importlib.import_module(self.module)

    def start(self) -> None:
        """In the worker, before it caps its memory: start an implementation that runs there only."""
        if self.module and self.in_worker:
            importlib.import_module(self.module).start()

    def warm(self, files: Files, stop: Callable[[], bool]) -> None:
        """Compile a template's files ahead of its renders, where the language can (see ``worker.prepare``);
        ``stop()`` tells it to end early."""
        if self.module and not self.in_worker:
            warm = getattr(importlib.import_module(self.module), "warm", None)
            if warm is not None:
                warm(files, stop)

    def render(self, template: str, files: Files, entry: str, context: dict[str, Any]) -> list[Any]:
        """Render one context."""
        return self.render_many(template, files, entry, [context])[0]


def _lazy(module: str) -> RenderMany:
    def render_many(template: str, files: Files, entry: str,
                    contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
        impl: RenderMany = importlib.import_module(module).render_many
        return impl(template, files, entry, contexts)

    return render_many


def _registry() -> tuple[Renderer, ...]:
    jinja, jsonnet = f"{__name__}.jinja", f"{__name__}.jsonnet"
    return (
        Renderer("jinja2", ".yaml.j2", _lazy(jinja), module=jinja),
        Renderer("jsonnet", ".jsonnet", _lazy(jsonnet), batched=True, module=jsonnet, in_worker=True),
    )


REGISTRY: tuple[Renderer, ...] = _registry()

_HELM = f"{__name__}.helm"
#: Helm charts: the chart is rendered as a whole, so its entry is its Chart.yaml.
HELM = Renderer("helm", CHART_FILE, _lazy(_HELM), batched=True, module=_HELM, in_worker=True)


def is_chart(files: Files) -> bool:
    """Whether a template's files are a Helm chart (a Chart.yaml at the folder's top)."""
    return CHART_FILE in files


def entries(files: Files) -> list[tuple[str, Renderer]]:
    """The files of a template that produce manifests, sorted, with their renderer.

    A Helm chart has one: its Chart.yaml, for the whole chart.
    """
    if is_chart(files):
        return [(CHART_FILE, HELM)]
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
