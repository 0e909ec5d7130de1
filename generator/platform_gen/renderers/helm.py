"""Helm charts: a template folder holding a ``Chart.yaml``, rendered by Helm's own template engine.

The engine is the ``helm`` binary (``helm template``) when one is on the PATH, else
Helm's Go SDK in this process, through helm-python-sdk (import name ``helm_python``,
a wheel that bundles Helm v4 as a C library); ``PLATFORM_GEN_HELM`` picks one:
``library``, or the path of a ``helm`` binary. Both are real Helm: nothing here
interprets a template.

The platform-owned mapping (README "Writing a golden path"): ``.Release.Name`` is the
service's name, ``.Release.Namespace`` the team's namespace, ``.Values`` the chart's
``values.yaml`` under the service's base values (what a jinja2 template sees as
``values``), plus ``.Values.platform`` with the rest of a template's context.

Helm's output is parsed into objects here and handed back like any template's, after
this post-processing: a ``metadata.namespace`` equal to the release's is dropped (the
overlays set the team's namespace), the ``helm.sh/chart`` label and
``app.kubernetes.io/managed-by: Helm`` are dropped (the tree is applied by Argo CD,
not installed by Helm; the chart label would roll every pod on a chart version bump),
and hooks and tests (``helm.sh/hook``) are refused, as Argo CD applies the tree as
it is. A chart that renders differently twice (random values, the time) is refused:
the tree must be the same for the same inputs.

The chart's files come from ``load`` (in memory); they are written to a private
temporary folder for Helm to load, as ``helm template`` would load the folder
itself (``.helmignore`` included).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .. import yamlio
from . import CHART_FILE, GoRuntime, TemplateFailure

__all__ = ["ENGINE_VARIABLE", "dependency_line", "engine", "render_many", "start"]

#: The environment variable that picks the engine: ``library``, or the path of a helm binary.
ENGINE_VARIABLE = "PLATFORM_GEN_HELM"
LIBRARY = "library"

_HOOK = "helm.sh/hook"
_CHART_LABEL = "helm.sh/chart"
_MANAGED_BY = "app.kubernetes.io/managed-by"
_NAME = "app.kubernetes.io/name"
#: ``file:line`` or ``file:line:col`` of a chart file in Helm's messages (``chart/templates/x.yaml:3:5``).
_AT = re.compile(r"(?P<file>[\w.@+\-/]+\.(?:ya?ml|tpl|txt|json)):(?P<line>\d+)(?::(?P<col>\d+))?")
#: ``cannot load values.yaml: ... yaml: line 3: ...``: a chart file Helm could not parse.
_LOAD = re.compile(r"cannot load (?P<file>[\w.\-/]+)\b.*?\bline (?P<line>\d+)", re.S)
#: The documents of ``helm template``'s output, each headed by the file it came from.
_SOURCE = re.compile(r"^---\n# Source: (?P<file>.+)\n", re.M)
_HELM_SECONDS = 120  # a helm binary that does not answer (the worker's budget stops a slow chart first)

_LIBRARY = GoRuntime("helm_python", "Helm's library")


def engine() -> str:
    """``library``, or the path of the helm binary to run."""
    choice = os.environ.get(ENGINE_VARIABLE, "").strip()
    if choice:
        return choice
    return shutil.which("helm") or LIBRARY


def start() -> None:
    """Start Helm's library in this process, the worker (see ``Renderer.in_worker``), if it is the engine."""
    if engine() == LIBRARY:
        _LIBRARY.start()


def dependency_line(chart_yaml: str, name: str) -> tuple[int, int]:
    """Line and column of the dependency ``name`` in a Chart.yaml's text (0, 0 when not found)."""
    doc, _problems = yamlio.load_located(chart_yaml, CHART_FILE)
    if doc is None or not isinstance(doc.data, dict) or not isinstance(doc.data.get("dependencies"), list):
        return 0, 0
    for i, dep in enumerate(doc.data["dependencies"]):
        if isinstance(dep, dict) and dep.get("name") == name:
            pos = doc.pos(("dependencies", i))
            return pos.line, pos.column
    return 0, 0


def _values(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """``.Values`` of one service: its base values, and ``platform``, the rest of a template's context."""
    values = dict(ctx["values"])
    values["platform"] = {"organization": ctx["platform"]["organization"], "service": ctx["service"],
                          "labels": ctx["labels"], "infrastructure": ctx["infrastructure"]}
    return values


def _write(folder: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, data in sorted(files.items()):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


def _failure(text: str) -> TemplateFailure:
    """A Helm error message as a failure at the chart file and line it names (the innermost place)."""
    # the helm binary's advice about its own flags means nothing here
    text = "\n".join(line for line in text.strip().splitlines()
                     if line.strip() != "Use --debug flag to render out invalid YAML").strip()
    if text.startswith("Error: "):
        text = text[len("Error: "):]
    # Helm v3 writes on one line what v4 writes on several: "...: executing "f" at <.Values.x>: message"
    text = re.sub(r"(?<=>): |: (?=executing \")", "\n", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    loaded = _LOAD.search(text)
    if loaded:
        return TemplateFailure(loaded.group("file"), int(loaded.group("line")), f"helm: {' '.join(lines)}")
    places = list(_AT.finditer(text))
    if not places:
        where = "values.schema.json" if "schema" in text else CHART_FILE
        return TemplateFailure(where, 0, "helm: " + "; ".join(lines))
    last = places[-1]
    file = last.group("file").split("/", 1)[-1]  # Helm names files <chart>/templates/...
    line, col = int(last.group("line")), int(last.group("col") or 0)
    # "execution error at (f:3:5): message", "parse error at (f:2): message", or a message in
    # lines: "f:1:13", "executing "f" at <.Values.x.y>:", "nil pointer evaluating ..."
    head = lines[0]
    for kind in ("execution error at (", "parse error at ("):
        inner = text.rfind(kind)
        if inner >= 0:
            rest = text[inner:].split("): ", 1)
            message = rest[1].strip() if len(rest) == 2 else head
            prefix = "template parse error: " if kind.startswith("parse") else ""
            return TemplateFailure(file, line, f"helm: {prefix}{' '.join(message.split())}", col)
    cause = lines[-1]
    executing = next((line for line in reversed(lines) if line.startswith("executing ")), "")
    at = re.search(r" at <(.*)>:?$", executing)
    return TemplateFailure(file, line, f"helm: {cause}" + (f" (at {at.group(1)})" if at else ""), col)


# --- Helm's output -> objects ----------------------------------------------------------------------


def _strip_labels(node: Any) -> None:
    """Drop Helm's own labels from every label map and selector of an object."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("labels", "matchLabels") and isinstance(value, dict):
                value.pop(_CHART_LABEL, None)
                if value.get(_MANAGED_BY) == "Helm":
                    del value[_MANAGED_BY]
            _strip_labels(value)
    elif isinstance(node, list):
        for item in node:
            _strip_labels(item)


def _selector(obj: dict[str, Any]) -> Any:
    spec = obj.get("spec")
    selector = spec.get("selector") if isinstance(spec, dict) else None
    if isinstance(selector, dict) and isinstance(selector.get("matchLabels"), dict):
        return selector["matchLabels"]
    return selector if obj.get("kind") == "Service" else None


def _finish(obj: dict[str, Any], file: str, release: str, namespace: str) -> None:
    """Post-process one object of ``file`` in place (see the module's docstring), or refuse it."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return  # not a Kubernetes object: render's checks say so
    shown = f"{obj.get('kind')} '{meta.get('name')}'"
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and _HOOK in annotations:
        raise TemplateFailure(file, 0, f"{shown} is a Helm hook ({_HOOK}: {annotations[_HOOK]}); hooks and tests "
                              "are not rendered",
                              hint="Argo CD applies the rendered manifests as they are and runs no Helm hooks: "
                              "make it a plain resource, an Argo CD sync hook (argocd.argoproj.io/hook), or "
                              "remove it (a chart's tests too)")
    if meta.get("namespace") == namespace:
        del meta["namespace"]  # the overlays set the team's namespace
    elif "namespace" in meta:
        raise TemplateFailure(file, 0, f"{shown} sets namespace '{meta['namespace']}'; the overlays put every "
                              f"object in the team's namespace ({namespace})",
                              hint="use {{ .Release.Namespace }} (the team's namespace), or leave it out")
    _strip_labels(obj)
    selector = _selector(obj)
    if isinstance(selector, dict) and _NAME in selector and selector[_NAME] != release:
        raise TemplateFailure(file, 0, f"{shown} selects {_NAME}: {selector[_NAME]}, but the overlays label "
                              f"every pod {_NAME}: {release} (the service's name), so it would select none",
                              hint=f"use {{{{ .Release.Name }}}} (the service's name) for {_NAME}")


def objects(manifests: Mapping[str, str], release: str, namespace: str) -> list[Any]:
    """The objects of Helm's output (``<chart>/path`` -> text), post-processed, in file order."""
    out: list[Any] = []
    for key in sorted(manifests):
        file = key.split("/", 1)[-1]
        base = file.rsplit("/", 1)[-1]
        if base == "NOTES.txt" or base.startswith("_") or not manifests[key].strip():
            continue  # what helm template leaves out too
        try:
            docs = yamlio.safe_load_all(manifests[key])
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} of its output" if mark is not None else ""
            raise TemplateFailure(file, 0, f"rendered output is not valid YAML{where}: "
                                  f"{getattr(exc, 'problem', exc)}") from None
        for doc in docs:
            if isinstance(doc, dict):
                _finish(doc, file, release, namespace)
            out.append(doc)
    return out


# --- the engines -----------------------------------------------------------------------------------


def _missing_dependencies(files: Mapping[str, str | bytes], declared: Any, loaded: Sequence[str]) -> None:
    """Helm's own check (``helm template`` makes it too): every dependency in Chart.yaml is under charts/."""
    for dep in declared if isinstance(declared, list) else []:
        name = dep.get("name") if isinstance(dep, dict) else None
        if isinstance(name, str) and name not in loaded:
            text = files[CHART_FILE]
            line, col = dependency_line(text if isinstance(text, str) else "", name)
            raise TemplateFailure(CHART_FILE, line, f"dependency '{name}' is not vendored under charts/: rendering "
                                  "it would need a network fetch, which platform-gen never does", col,
                                  "run 'helm dependency build' in the chart's folder and commit its charts/")


def _library(folder: Path, files: Mapping[str, str | bytes],
             contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
    helm_python = _LIBRARY.loaded()
    if isinstance(helm_python, BaseException):
        raise TemplateFailure(CHART_FILE, 0, f"Helm's library could not be started: {helm_python}",
                              hint=f"install helm and put it on the PATH, or set {ENGINE_VARIABLE} to its path")
    try:
        chart = helm_python.Chart.load(str(folder))
    except helm_python.HelmError as exc:
        raise _failure(str(exc)) from None
    results = []
    with chart:
        _missing_dependencies(files, chart.metadata.get("dependencies"), [str(d.get("name")) for d in
                                                                           chart.dependencies])
        for ctx in contexts:
            name, namespace = ctx["service"]["name"], ctx["service"]["namespace"]
            values = _values(ctx)
            try:
                first = chart.render(values, name=name, namespace=namespace)
                again = chart.render(values, name=name, namespace=namespace)
            except helm_python.HelmError as exc:
                raise _failure(str(exc)) from None
            _same(first, again)
            results.append(objects(first, name, namespace))
    return results


def _same(first: Mapping[str, str], again: Mapping[str, str]) -> None:
    for key in sorted(first):
        if first[key] != again.get(key):
            raise TemplateFailure(key.split("/", 1)[-1], 0, "the chart renders differently each time",
                                  hint="the rendered tree must be the same for the same inputs: no random values "
                                  "(rand*, uuidv4, gen* certificates and keys) or times (now)")


def _split(output: str) -> dict[str, str]:
    """``helm template``'s output as file -> its documents."""
    parts: dict[str, list[str]] = {}
    text = output if output.startswith("---") else "---\n" + output
    matches = list(_SOURCE.finditer(text))
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        body = text[m.end():nxt.start() if nxt else len(text)]
        parts.setdefault(m.group("file"), []).append(body)
    return {k: "---\n".join(v) for k, v in parts.items()}


def _own_address_space() -> None:
    """In the helm child: lift the template worker's cap on address space (``RLIMIT_AS``, set so that an
    in-process engine stops at the memory budget). Go reserves far more address space than it uses, and the
    binary is a process of its own, bounded by the time budget instead."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _binary(helm: str, folder: Path, contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
    results = []
    home = folder.parent / "home"
    env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data"), "HELM_NO_PLUGINS": "1"}
    for i, ctx in enumerate(contexts):
        name, namespace = ctx["service"]["name"], ctx["service"]["namespace"]
        values = folder.parent / "values.json"
        values.write_text(json.dumps(_values(ctx), sort_keys=True), encoding="utf-8")
        outputs = []
        for _ in range(2 if i == 0 else 1):  # the first service twice: is the chart deterministic?
            try:
                proc = subprocess.run([helm, "template", name, str(folder), "--namespace", namespace,
                                       "--values", str(values)], capture_output=True, text=True, env=env,
                                      timeout=_HELM_SECONDS, check=False, preexec_fn=_own_address_space)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise TemplateFailure(CHART_FILE, 0, f"cannot run {helm}: {exc}",
                                      hint=f"put helm on the PATH, or set {ENGINE_VARIABLE} to '{LIBRARY}' or "
                                      "to a helm binary") from None
            if proc.returncode != 0:
                raise _failure(proc.stderr or proc.stdout)
            outputs.append(_split(proc.stdout))
        if len(outputs) == 2:
            _same(outputs[0], outputs[1])
        results.append(objects(outputs[0], name, namespace))
    return results


def render_many(template: str, files: Mapping[str, str | bytes], entry: str,
                contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Render the chart ``files`` once per context (``entry`` is its Chart.yaml) with Helm."""
    helm = engine()
    try:
        with tempfile.TemporaryDirectory(prefix="platform-gen-helm-") as tmp:
            folder = Path(tmp) / template
            _write(folder, files)
            if helm == LIBRARY:
                return _library(folder, files, contexts)
            return _binary(helm, folder, contexts)
    except OSError as exc:  # a full disk: the message names no temporary path, as output never does
        raise TemplateFailure(CHART_FILE, 0, "cannot write the chart to a temporary folder for Helm: "
                              f"{exc.strerror or type(exc).__name__}",
                              hint="Helm reads a chart from a folder: make room in the temporary folder "
                              "(TMPDIR)") from None
