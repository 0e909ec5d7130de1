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
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..load import CHART_FILE

__all__ = ["CHART_FILE", "HELM", "REGISTRY", "Files", "GoRuntime", "InheritedRuntime", "Renderer", "TemplateFailure",
           "entries", "is_chart"]

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


class InheritedRuntime(RuntimeError):
    """A Go runtime loaded by the process this one was forked from (see ``GoRuntime``)."""


class GoRuntime:
    """A library that loads a Go runtime (Helm's library, go-jsonnet): loaded in the template worker only,
    once per process (see ``Renderer.in_worker``). A Go runtime does not survive a fork, so a process that
    finds it loaded already (by the process it was forked from) records that instead of using it; a library
    that does not load (no wheel for this platform) is recorded too: each render then fails with a message,
    not a crash. ``first`` runs once after loading, before the worker caps its memory."""

    def __init__(self, module: str, name: str, first: Callable[[Any], None] = lambda _module: None) -> None:
        self.module = module
        self.name = name
        self._first = first
        self._started: dict[int, Any] = {}  # pid -> the module, or why it is not loaded there

    def start(self) -> None:
        """Load it in this process (a worker, before it caps its memory), unless done already."""
        pid = os.getpid()
        if pid in self._started:
            return
        if self.module in sys.modules:
            self._started[pid] = InheritedRuntime(f"{self.name} was loaded before the template worker was forked")
            return
        try:
            module = importlib.import_module(self.module)
            self._first(module)
            self._started[pid] = module
        except Exception as exc:  # no wheel for this platform, a library that does not load: a message
            self._started[pid] = exc

    def loaded(self) -> Any:
        """The module, loaded in this process now if need be (a render outside a worker: a process with no
        fork); or why it could not be: InheritedRuntime when its parent had loaded it, else what loading
        raised."""
        self.start()
        return self._started[os.getpid()]


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
