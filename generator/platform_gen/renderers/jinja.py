"""Jinja2 templates (``*.yaml.j2``): sandboxed, undefined variables fail."""

from __future__ import annotations

import contextlib
import json
import traceback
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from ..yamlio import safe_load_all

__all__ = ["render_many", "warm"]


def _to_json(value: Any) -> str:
    # A JSON string is a valid YAML flow scalar, so values with quotes, newlines or
    # "---" are always safe to embed.
    if isinstance(value, jinja2.Undefined):  # say which value is missing, not that it is no JSON
        value._fail_with_undefined_error()
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=64)
def _environment(files: tuple[tuple[str, str], ...]) -> SandboxedEnvironment:
    sources = dict(files)
    env = SandboxedEnvironment(
        # the template's own name as its filename, so errors can name the line
        loader=jinja2.FunctionLoader(lambda name: (sources[name], name, lambda: True) if name in sources else None),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        cache_size=-1,
    )
    env.filters["json"] = _to_json
    return env


def _line_in(exc: BaseException, name: str) -> int:
    line = getattr(exc, "lineno", None)
    if isinstance(line, int) and getattr(exc, "name", name) in (name, None):
        return line
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == name:
            return lineno
    return 0


def _render(env: SandboxedEnvironment, entry: str, context: dict[str, Any]) -> list[Any]:
    from . import TemplateFailure

    try:
        text = env.get_template(entry).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailure(exc.name or entry, exc.lineno or 0, f"template syntax error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateFailure(entry, _line_in(exc, entry), f"undefined value: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:  # the loader serves only the template's own files
        raise TemplateFailure(entry, _line_in(exc, entry), f"cannot include '{exc.name}': a template includes "
                              "only files of its own folder") from None
    except jinja2.TemplateError as exc:
        raise TemplateFailure(entry, _line_in(exc, entry), f"template error: {exc}") from None
    except MemoryError:
        raise  # over the memory budget (see worker), not a template error
    except Exception as exc:  # errors raised by template code (e.g. a bad filter argument)
        raise TemplateFailure(entry, _line_in(exc, entry), f"{type(exc).__name__}: {exc}") from None
    try:
        return safe_load_all(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} of its output" if mark is not None else ""
        raise TemplateFailure(entry, 0, f"rendered output is not valid YAML{where}: "
                              f"{getattr(exc, 'problem', exc)}") from None


def _environment_of(files: Mapping[str, str | bytes]) -> SandboxedEnvironment:
    return _environment(tuple(sorted((k, v) for k, v in files.items() if isinstance(v, str))))


def render_many(template: str, files: Mapping[str, str | bytes], entry: str,
                contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Render ``entry`` once per context; each result is parsed as a stream of YAML documents."""
    env = _environment_of(files)
    return [_render(env, entry, ctx) for ctx in contexts]


#: The largest file compiled ahead (characters): compiling is not stopped midway, and a file of some KiB
#: compiles in milliseconds, one of a MiB in seconds (a render compiles it when it needs it).
WARM_MAX = 16 * 1024


def warm(files: Mapping[str, str | bytes], stop: Callable[[], bool]) -> None:
    """Compile a template's files ahead of its renders (a spare worker does, while it waits for its jobs), but
    those over WARM_MAX; ``stop()`` between two files ends it early. A file that does not compile is left for
    its render to tell."""
    env = _environment_of(files)
    for name, text in sorted(files.items()):
        if stop():
            return
        if name.endswith(".j2") and isinstance(text, str) and len(text) <= WARM_MAX:
            with contextlib.suppress(Exception):
                env.get_template(name)
