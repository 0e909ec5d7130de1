"""Jsonnet templates (``*.jsonnet``): the file is a function of the context.

An entry file is ``function(ctx) ...`` returning an object or a list of objects.
All services of a template are evaluated in one run of the interpreter (the
standard library is loaded once), and only if that fails is each service evaluated
alone, to say which one broke. The contexts reach that run as a top-level argument
of a wrapper that calls the entry once per context, not as an external variable:
``std.extVar`` is global, so any template could read every service's context
through it, while a function argument is seen only by its function. Imports are
served from the template's own files in memory, so a template cannot read anything
outside its folder.

The interpreter is go-jsonnet, the official Go implementation of the language (the
``gojsonnet`` wheel, import name ``_gojsonnet``). It starts an evaluation in well
under a millisecond, where the C++ one parsed its standard library again for each,
some 50 ms: the whole cost of a one-service render's template (#9). It loads a Go
runtime, which does not survive a fork: it is loaded in the worker only (``start``,
``Renderer.in_worker``), as Helm's library is.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import GoRuntime, InheritedRuntime, TemplateFailure

__all__ = ["render_many", "start"]


def _first(module: Any) -> None:
    # one evaluation now, before the worker caps its memory: the runtime's threads and first heap arena are
    # made here, not charged to (or refused by) the templates' budget
    module.evaluate_snippet("start", "std.length([])")


_GO_JSONNET = GoRuntime("_gojsonnet", "go-jsonnet", _first)


def start() -> None:
    """Load go-jsonnet in this process, the worker (see ``Renderer.in_worker``), before it caps its memory."""
    _GO_JSONNET.start()


def _interpreter(entry: str) -> Any:
    found = _GO_JSONNET.loaded()
    if isinstance(found, BaseException):
        hint = ("run platform-gen in a process that has not imported _gojsonnet itself"
                if isinstance(found, InheritedRuntime)
                else "reinstall platform-gen, which installs go-jsonnet (the gojsonnet package)")
        raise TemplateFailure(entry, 0, f"jsonnet: the interpreter could not be loaded ({found})", hint=hint)
    return found

#: A location in go-jsonnet's messages: ``file:line:col[-col]``, or ``file:(line:col)-(line:col)`` for a span
#: over several lines.
_LOC = re.compile(r"(?P<file>[^\s:()]+\.(?:jsonnet|libsonnet)):(?:(?P<line>\d+):\d+|\((?P<from>\d+):\d+\))")
_BATCH = "<batch>"
#: The batch's own error when the entry file is not a function (then no service's render is tried alone).
_NOT_A_FUNCTION = "platform-gen: the entry file is not a function of the context"
_NOT_A_FUNCTION_MESSAGE = "a jsonnet template must be a function of the context: function(ctx) ..."


class _Importer:
    """Serves a template's imports from its files in memory, and remembers the imports it could not serve:
    go-jsonnet's Python binding hands the message of an import that failed on without its end (what
    follows it in memory may be read with it), so the message is told again from here (``_failure``)."""

    def __init__(self, template: str, files: dict[str, str]) -> None:
        self.template = template
        self.files = files
        self.missing: list[tuple[str, str, str]] = []  # (folder imported from, path, message)

    def __call__(self, base: str, rel: str) -> tuple[str, bytes]:
        name = posixpath.normpath(posixpath.join(base, rel))
        if name in self.files:
            return name, self.files[name].encode()
        message = f"import not found in template '{self.template}': {rel}"
        self.missing.append((base, rel, message))
        raise RuntimeError(message)

    def place(self, base: str, rel: str) -> tuple[str, int] | None:
        """The first file of the folder ``base`` that imports ``rel`` (its path is a literal: jsonnet allows
        no other), and the line: where to report a failed import when jsonnet's own report of it is lost."""
        literal = re.compile(rf"\bimport(?:str|bin)?\s*@?(['\"]){re.escape(rel)}\1")
        folder = posixpath.normpath(base) if base else ""
        for name in sorted(self.files):
            if posixpath.dirname(name) == ("" if folder == "." else folder):
                found = literal.search(self.files[name])
                if found is not None:
                    return name, self.files[name].count("\n", 0, found.start()) + 1
        return None


def _text(exc: RuntimeError | UnicodeDecodeError) -> str:
    """What go-jsonnet said: its message, or (when the bytes a failed import's message is handed on with are
    not UTF-8, and the binding could not decode it) as much as can be read of it."""
    if isinstance(exc, UnicodeDecodeError):
        return bytes(exc.object).decode("utf-8", "replace")
    return str(exc)


#: What a jsonnet file is made of, for ``_function_line``: comments and strings (skipped), brackets, the word
#: ``function``, and any other character.
_TOKENS = re.compile(r"""//[^\n]*|\#[^\n]*|/\*.*?\*/|\|\|\|.*?\|\|\||@'(?:[^']|'')*'|@"(?:[^"]|"")*"|"""
                     r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\bfunction\b|[\[({]|[\])}]|[=:;]|\S""", re.S)
_HINT_CALL = "a jsonnet template is function(ctx) ...: one parameter, named ctx, given the service's context"


def _function_line(text: str) -> int:
    """The line of an entry file's own function: the first ``function`` outside brackets, comments and strings
    that is not a value bound by ``=`` or ``:`` (a local's, a field's); 0 when there is none."""
    depth = 0
    before = ""
    for token in _TOKENS.finditer(text):
        word = token.group()
        if word in ("(", "[", "{"):
            depth += 1
        elif word in (")", "]", "}"):
            depth -= 1
        elif word == "function" and depth == 0 and before not in ("=", ":"):
            return text.count("\n", 0, token.start()) + 1
        if not word.startswith(("//", "#", "/*")):
            before = word
    return 0


def _failure(entry: str, exc: RuntimeError | UnicodeDecodeError, importer: _Importer) -> Exception:
    """The template failure that ``exc`` of go-jsonnet tells: at the first place its trace names in the
    template's own files (the entry, or a library it imports), with the message's first line."""
    text = _text(exc).strip()
    first = text.splitlines()[0] if text else "evaluation failed"
    trace = text
    failed_import = importer.missing[-1] if importer.missing and (not text or "importer error:" in first) \
        else None
    if failed_import is not None:
        # told from the record: the message jsonnet hands on may be garbled, or lost (some Pythons raise an
        # empty RuntimeError when it is not UTF-8)
        first = f"RUNTIME ERROR: {failed_import[2]}"
        at = text.find("\n\t")  # the trace, after the message
        trace = text[at:] if at >= 0 else ""
    file, line = entry, 0
    for match in _LOC.finditer(trace):
        if match.group("file") in importer.files:
            file, line = match.group("file"), int(match.group("line") or match.group("from"))
            break
    else:
        placed = importer.place(*failed_import[:2]) if failed_import is not None else None
        if placed is not None:
            file, line = placed
    if "undefined external variable" in first.lower():
        first += " (a template sees only its service's context, as its argument: function(ctx) ...)"
    if line == 0 and "Top-level function call" in trace:  # the entry's function does not take (only) ctx
        return TemplateFailure(entry, _function_line(importer.files.get(entry, "")), f"jsonnet: {first}",
                               hint=_HINT_CALL)
    return TemplateFailure(file, line, f"jsonnet: {first}")


def _objects(entry: str, value: Any, text: str) -> list[Any]:
    if isinstance(value, dict) and "kind" in value:
        return [value]
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    got = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), "null")
    raise TemplateFailure(entry, _function_line(text), f"jsonnet output must be an object or a list of objects, "
                          f"got {got}", hint="the entry's function returns the service's objects: "
                          "{ kind: ..., ... }, a list of them, or an object of them by name")


def render_many(template: str, all_files: Mapping[str, str | bytes], entry: str,
                contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Evaluate ``entry`` (a function of ``ctx``) for every context.

    If several contexts fail together, raise without saying which; the caller renders them one by one.
    """
    jsonnet = _interpreter(entry)
    files = {k: v for k, v in all_files.items() if isinstance(v, str)}
    importer = _Importer(template, files)
    snippet = f"function(ctxs)\nlocal t = import {json.dumps(entry)};\n" \
              f"if std.isFunction(t) then [t(c) for c in ctxs] else error {json.dumps(_NOT_A_FUNCTION)}\n"
    try:
        out = jsonnet.evaluate_snippet(
            _BATCH, snippet, tla_codes={"ctxs": json.dumps(list(contexts), sort_keys=True)},
            import_callback=importer)
        return [_objects(entry, v, files[entry]) for v in json.loads(out)]
    except (RuntimeError, UnicodeDecodeError) as exc:
        if _NOT_A_FUNCTION in (_text(exc).splitlines() or [""])[0]:  # (a value: given ctx, jsonnet would ignore it)
            raise TemplateFailure(entry, 1, _NOT_A_FUNCTION_MESSAGE) from None
        if len(contexts) > 1:
            raise TemplateFailure(entry, 0, "jsonnet: the template failed for one of its services") from None
    results = []  # one context: evaluate the entry alone, for an error that points into it
    for ctx in contexts:
        importer.missing.clear()
        try:
            out = jsonnet.evaluate_snippet(entry, files[entry], tla_codes={"ctx": json.dumps(ctx, sort_keys=True)},
                                           import_callback=importer)
        except (RuntimeError, UnicodeDecodeError) as exc:
            if "function" not in files[entry]:
                raise TemplateFailure(entry, 1, _NOT_A_FUNCTION_MESSAGE) from None
            raise _failure(entry, exc, importer) from None
        results.append(_objects(entry, json.loads(out), files[entry]))
    return results
