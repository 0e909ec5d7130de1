"""The one module that owns YAML: located loading and the single output style.

Loading keeps, for every key path, the line and column of the key and of its value,
so that later stages can point at ``file:line:col``. Dumping uses one style
everywhere: block style, 2-space indent, keys in the order given, LF, final newline,
no line folding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from .errors import Problem
from .limits import MAX_DEPTH, MAX_PROBLEMS_PER_FILE, MAX_STRING, control_char

__all__ = [
    "Located",
    "Pos",
    "dump",
    "dump_all",
    "load_located",
    "parse_error",
]

try:  # libyaml C loader/dumper; the pure-Python ones are the fallback only
    _Loader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Pos:
    """1-based line and column."""

    line: int
    column: int


@dataclass(frozen=True)
class Located:
    """A parsed YAML document and where each key path sits in its file."""

    file: str
    data: Any
    keys: dict[KeyPath, Pos]
    values: dict[KeyPath, Pos]
    # the source text of scalars that YAML read as something other than a string
    # (``1.10`` is the number 1.1), so that a message can quote what the user wrote
    raw: dict[KeyPath, str] = field(default_factory=dict)

    def pos(self, path: KeyPath, *, key: bool = False) -> Pos:
        """Position of ``path`` (its key if ``key``), else of its nearest located parent."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), Pos(1, 1))

    def problem(self, path: KeyPath, message: str, hint: str = "", *, key: bool = False) -> Problem:
        """A :class:`Problem` located at ``path`` in this file."""
        from .errors import format_path

        pos = self.pos(path, key=key)
        return Problem(self.file, pos.line, pos.column, format_path(path), message, hint)


#: Integers are bounded to 64 bits (what Kubernetes holds); a 5,000-digit hex number
#: would otherwise break every message that shows it.
_INT_RANGE = (-(1 << 63), 1 << 64)


def _construct_int(constructor: Any, node: Any) -> int:
    value: int = yaml.constructor.SafeConstructor.construct_yaml_int(constructor, node)
    if not _INT_RANGE[0] <= value < _INT_RANGE[1]:
        raise yaml.constructor.ConstructorError(None, None, "integer outside the 64-bit range", node.start_mark)
    return value


class _Constructor(yaml.constructor.SafeConstructor):
    """The safe constructor, with bounded integers."""


class _BoundedLoader(_Loader):  # type: ignore[misc]
    """The C loader (for tool and template output), with bounded integers."""


_Constructor.add_constructor("tag:yaml.org,2002:int", _construct_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_constructor = _Constructor()


def _mark(node: yaml.Node) -> Pos:
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(
    node: yaml.Node,
    path: KeyPath,
    file: str,
    keys: dict[KeyPath, Pos],
    values: dict[KeyPath, Pos],
    problems: list[Problem],
    raw: dict[KeyPath, str] | None = None,
) -> Any:
    values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    Problem(file, *_tuple(_mark(knode)), _fmt(path), "merge keys (<<) are not supported",
                            "write the keys out; layering is done by platform-gen")
                )
                continue
            if not isinstance(knode, yaml.ScalarNode):
                problems.append(Problem(file, *_tuple(_mark(knode)), _fmt(path), "keys must be plain scalars"))
                continue
            key = _scalar_value(knode, path, file, problems)
            if not isinstance(key, str):
                key = str(key) if not isinstance(key, bool) else str(key).lower()
            child = (*path, key)
            if key in out:
                problems.append(
                    Problem(file, *_tuple(_mark(knode)), _fmt(child), "duplicate key",
                            f"first given on line {keys[child].line}")
                )
                continue
            keys[child] = _mark(knode)
            out[key] = _walk(vnode, child, file, keys, values, problems, raw)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _walk(item, (*path, i), file, keys, values, problems, raw) for i, item in enumerate(node.value)
        ]
    value = _scalar_value(node, path, file, problems)
    if raw is not None and not isinstance(value, str) and isinstance(node, yaml.ScalarNode):
        raw[path] = node.value
    return value


def _scalar_value(node: yaml.Node, path: KeyPath, file: str, problems: list[Problem]) -> Any:
    try:
        value = _constructor.construct_object(node)
    except yaml.constructor.ConstructorError as exc:
        problems.append(Problem(file, *_tuple(_mark(node)), _fmt(path), f"invalid value: {exc.problem}",
                                "quote it to make it a string"))
        return node.value  # reported: later checks see the text, not a misleading null
    except yaml.YAMLError:
        raise
    except Exception as exc:
        # PyYAML's scalar constructors raise anything on bad input: ValueError for month
        # 13, AttributeError for "!!timestamp x", KeyError for "!!bool q"
        problems.append(Problem(file, *_tuple(_mark(node)), _fmt(path), f"invalid value: {_why(node, exc)}",
                                "quote it to make it a string"))
        return node.value  # reported: later checks see the text, not a misleading null
    finally:
        # the shared constructor would otherwise keep every node (and a failed one blocks reuse)
        _constructor.constructed_objects.pop(node, None)
        _constructor.recursive_objects.pop(node, None)
    if isinstance(value, str):
        _check_string(value, node, path, file, problems)
    return value


def _why(node: yaml.Node, exc: Exception) -> str:
    if isinstance(exc, ValueError):
        return str(exc)
    return f"not a valid {str(node.tag).rsplit(':', 1)[-1]}"


def _check_string(value: str, node: yaml.Node, path: KeyPath, file: str, problems: list[Problem]) -> None:
    """Strings are bounded and free of control characters (they end up in manifests)."""
    if len(value) > MAX_STRING:
        problems.append(Problem(file, *_tuple(_mark(node)), _fmt(path),
                                f"string of {len(value)} characters is longer than the limit of {MAX_STRING}",
                                "keep large content out of the platform repo's YAML"))
        return
    bad = control_char(value)
    if bad is not None:
        problems.append(Problem(file, *_tuple(_mark(node)), _fmt(path), f"{bad} is not allowed",
                                "only tab and newline may appear in a value; remove it"))


#: Control characters no YAML input may hold raw (tab, LF and CR may: CRLF files are fine).
_RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


#: git's conflict markers at the start of a line: ours, the merge base (diff3 style), the divider, theirs
_CONFLICT_MARKER = re.compile(r"(<{7}|\|{7}|={7}|>{7})(?:[ \t].*)?\r?")
#: a block mapping's key on a line of its own (plain or quoted), to name where a conflict sits
_KEY_LINE = re.compile(r"( *)([A-Za-z0-9_][A-Za-z0-9_./-]*|\"[^\"]*\"|'[^']*')[ \t]*:(?:[ \t]|\r?$)")
_RESOLVE = ("resolve the merge conflict: keep the lines you want and delete the <<<<<<<, ======= and >>>>>>> "
            "lines (git: edit the file, then 'git add' it)")


def _conflict_key(lines: list[str], at: int) -> str:
    """The key path a conflict at line index ``at`` sits under, read from indentation ("" when unsure)."""
    inner = next((len(line) - len(line.lstrip(" ")) for line in lines[at + 1:]
                  if line.strip() and not line.lstrip().startswith("#") and not _CONFLICT_MARKER.fullmatch(line)), 0)
    keys: list[str] = []
    for line in reversed(lines[:at]):
        indent = len(line) - len(line.lstrip(" "))
        if inner == 0:
            break
        if not line.strip() or line.lstrip().startswith("#") or indent >= inner:
            continue
        found = _KEY_LINE.match(line)
        if found is None:  # a list item or a flow collection: the path is not plain keys
            return ""
        keys.insert(0, found.group(2).strip("\"'"))
        inner = indent
    return _fmt(tuple(keys))


def _conflicts(text: str, file: str) -> list[Problem]:
    """Unresolved merge conflicts: one problem at each ``<<<<<<<`` line, and at any marker left over."""
    if "<<<<<<<" not in text and "=======" not in text and ">>>>>>>" not in text:
        return []
    lines = text.split("\n")
    problems: list[Problem] = []
    opened: int | None = None  # index in ``problems`` of the conflict still open
    for index, line in enumerate(lines):
        marker = _CONFLICT_MARKER.fullmatch(line)
        if marker is None:
            continue
        sign = marker.group(1)[0]
        if sign == "<":
            opened = len(problems)
            problems.append(Problem(file, index + 1, 1, _conflict_key(lines, index),
                                    "unresolved merge conflict: the file holds both sides of a merge "
                                    "(a '<<<<<<<' line without its '>>>>>>>')", _RESOLVE))
        elif opened is not None:
            if sign == ">":
                problems[opened] = replace(problems[opened], message=(
                    f"unresolved merge conflict: the file holds both sides of a merge (lines "
                    f"{problems[opened].line}-{index + 1}, from '<<<<<<<' to '>>>>>>>')"))
                opened = None
        else:
            problems.append(Problem(file, index + 1, 1, _conflict_key(lines, index),
                                    f"unresolved merge conflict: a leftover conflict marker '{marker.group(1)}'",
                                    _RESOLVE))
        if len(problems) >= MAX_PROBLEMS_PER_FILE:
            break
    return problems


def _screen(text: str, file: str) -> list[Problem]:
    """Refuse merge conflicts, anchors, aliases and too-deep nesting from the event stream, before any
    node is built.

    Aliases would let a kilobyte expand into gigabytes (an alias bomb) and nothing in
    the platform repo needs them; nesting is bounded so that no stage recurses too deep.
    A merge conflict's markers would read as a YAML syntax error that does not say why.
    """
    problems = _conflicts(text, file)
    if problems:
        return problems
    # raw control characters first: YAML's reader stops at them without a position, and
    # reads NEL and U+2028/U+2029 as line breaks, so its own message would point elsewhere
    for found in _RAW_CONTROL.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        problems.append(Problem(file, line, column, "", f"control character U+{ord(found.group()):04X} is not "
                                "allowed", "only tab and line breaks may appear in a YAML file; remove it"))
        if len(problems) >= MAX_PROBLEMS_PER_FILE:
            break
    if problems:
        return problems
    # one frame per open collection: [is mapping, children seen, current key or index]
    stack: list[list[Any]] = []

    def enter(event: Any) -> None:
        """Account for one node in its parent (the key or index it sits at)."""
        if stack:
            frame = stack[-1]
            if not frame[0]:
                frame[2] = frame[1]
            elif frame[1] % 2 == 0:  # a key: the value that follows sits at it
                frame[2] = event.value if isinstance(event, yaml.ScalarEvent) else "?"
            frame[1] += 1

    def where(event: Any) -> tuple[str, int, int, str]:
        mark = event.start_mark
        here = tuple(frame[2] for frame in stack if frame[2] is not None)
        return file, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0, _fmt(here)

    capped: tuple[str, int, int, str] | None = None  # where the first anchor or alias not listed is
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            enter(event)
            if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
                if len(problems) >= MAX_PROBLEMS_PER_FILE:
                    capped = capped or where(event)
                elif isinstance(event, yaml.AliasEvent):
                    problems.append(Problem(*where(event), "aliases (*name) are not supported",
                                            "write the value out; layering is done by platform-gen"))
                else:
                    problems.append(Problem(*where(event), "anchors (&name) are not supported",
                                            "write the value out; layering is done by platform-gen"))
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    problems.append(Problem(*where(event), f"nested more than {MAX_DEPTH} levels deep",
                                            "flatten the structure"))
                    return problems
                stack.append([isinstance(event, yaml.MappingStartEvent), 0, None])
    except yaml.YAMLError as exc:
        problems.append(parse_error(file, exc, text))
    if capped:  # placed at the first one not listed, so it sorts after those that are
        problems.append(Problem(*capped, f"more anchors and aliases from here on; only the first "
                                f"{MAX_PROBLEMS_PER_FILE} are listed"))
    return problems


def _tuple(pos: Pos) -> tuple[int, int]:
    return pos.line, pos.column


def _fmt(path: KeyPath) -> str:
    from .errors import format_path

    return format_path(path)


def parse_error(file: str, exc: yaml.YAMLError, text: str | None = None) -> Problem:
    """Turn a PyYAML error into a located :class:`Problem` (``text``: the document, to name a tab)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    position = getattr(exc, "position", None)  # a ReaderError has no mark, only a character index
    if mark is None and text is not None and isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if text is not None and mark is not None and "\t" in _line(text, mark.line)[: mark.column + 1]:
        return Problem(file, line, col, "", f"invalid YAML: a tab character ({reason})",
                       "YAML indents with spaces only; replace the tab with spaces")
    return Problem(file, line, col, "", f"invalid YAML: {reason}", "check indentation and quoting")


def _line(text: str, index: int) -> str:
    lines = text.split("\n", index + 1)
    return lines[index] if index < len(lines) else ""


def load_located(text: str, file: str) -> tuple[Located | None, list[Problem]]:
    """Parse one YAML document, returning it with positions, or the problems found."""
    screened = _screen(text, file)
    if screened:
        return None, screened
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        return None, [parse_error(file, exc, text)]
    problems: list[Problem] = []
    keys: dict[KeyPath, Pos] = {}
    values: dict[KeyPath, Pos] = {}
    if node is None:
        return Located(file, None, keys, values), []
    raw: dict[KeyPath, str] = {}
    try:
        data = _walk(node, (), file, keys, values, problems, raw)
    except yaml.YAMLError as exc:
        return None, [parse_error(file, exc, text)]
    return Located(file, data, keys, values, raw), problems


#: Words that some YAML reader (1.1, 1.2 core, Go's yaml.v2 or yaml.v3) resolves to a
#: boolean, null or special float, compared case-insensitively (a superset is harmless).
_NON_STRING_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "",
                               ".nan", ".inf", "+.inf", "-.inf", "<<", "="})
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")


def foreign_non_string(text: str) -> bool:
    """Whether any YAML reader our consumers use would read ``text``, written plain, as a non-string.

    PyYAML quotes what its YAML 1.1 resolver would misread; kustomize and Argo CD read
    YAML with Go's libraries, whose resolvers also take ``1e3``, ``08``, ``0o17``,
    ``3141e59`` (a short git SHA) and dates for numbers or timestamps. Over-approximates:
    quoting a string that needed none is harmless, the reverse deploys a wrong value.
    """
    if text.lower() in _NON_STRING_WORDS:
        return True
    if not text or text[0] not in "+-.0123456789":
        return False
    if _TIMESTAMP.match(text):
        return True
    plain = text.replace("_", "")
    for parse in (lambda s: int(s, 0), float):
        try:
            parse(plain)
            return True
        except ValueError:
            pass
    return False


def _str_representer(dumper: Any, data: str) -> Any:
    # Multi-line strings are written double-quoted so that no line of a value can ever
    # start a new document ("---") for naive splitters. Strings that any consumer's
    # resolver would misread are single-quoted (PyYAML's own resolver only knows 1.1).
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    if foreign_non_string(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


class _Block(str):
    """A string to be written as a literal block (used for inline Kustomize patches)."""


def _block_representer(dumper: Any, data: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")


class Dumper(_Dumper):  # type: ignore[misc]
    """The single output style: never anchors or aliases, even for shared objects."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


Dumper.add_representer(str, _str_representer)
Dumper.add_representer(_Block, _block_representer)


def block(text: str) -> str:
    """Mark ``text`` to be written as a literal block scalar."""
    return _Block(text)


def dump_pyyaml(data: Any) -> str:
    """Serialize one document with PyYAML: the reference for :func:`dump`."""
    out: str = yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        indent=2,
        width=1 << 30,
        line_break="\n",
        explicit_start=False,
    )
    return out


class _Fallback(Exception):
    """The fast emitter met a shape it does not handle; PyYAML does the document."""


_scalar_memo: dict[Any, str] = {}
_str_memo: dict[str, str] = {}  # plain str values (the common case), keyed without their type
_key_memo: dict[str, str] = {}


def _scalar(value: Any) -> str:
    plain = type(value) is str
    key: Any = value if plain else (type(value), value)
    memo: dict[Any, str] = _str_memo if plain else _scalar_memo
    text = memo.get(key)
    if text is None:
        # PyYAML decides quoting and style; "- x\n" is a scalar in block context
        text = dump_pyyaml([value])[2:-1]
        if "\n" in text:
            raise _Fallback
        if len(memo) < 200_000:
            memo[key] = text
    return text


def _key(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 120:
        raise _Fallback
    text = _key_memo.get(value)
    if text is None:
        line = dump_pyyaml({value: None})
        if not line.endswith(": null\n") or line.count("\n") != 1:
            raise _Fallback
        text = line[: -len(": null\n")]
        if len(_key_memo) < 200_000:
            _key_memo[value] = text
    return text


def _block_lines(text: str, indent: int) -> list[str]:
    lines = text.split("\n")
    # the plain "|" (clip) style holds text ending in exactly one newline, with no
    # trailing blanks and no leading blank on the first line
    if (not text.endswith("\n") or text.endswith("\n\n") or text[:1] in (" ", "\t")
            or any(line != line.rstrip() for line in lines) or "\t" in text or "\r" in text):
        raise _Fallback
    pad = " " * indent
    return [(pad + line if line else "") + "\n" for line in lines[:-1]]


def _emit_value(value: Any, indent: int, prefix: str, out: list[str]) -> None:
    """``prefix`` is the text of the line so far (key and colon, or dashes)."""
    if isinstance(value, dict) and value:
        out.append(prefix + "\n")
        _emit_mapping(value, indent + 2, out)
    elif isinstance(value, list) and value:
        out.append(prefix + "\n")
        _emit_sequence(value, indent, out)
    elif isinstance(value, _Block):
        out.append(prefix + " |\n")
        out.extend(_block_lines(value, indent + 2))
    elif isinstance(value, (dict, list)):
        out.append(prefix + (" {}\n" if isinstance(value, dict) else " []\n"))
    elif isinstance(value, (str, int, float, bool)) or value is None:
        out.append(prefix + " " + _scalar(value) + "\n")
    else:
        raise _Fallback


def _emit_mapping(mapping: dict[Any, Any], indent: int, out: list[str], first: str | None = None) -> None:
    # the hot loop of every render: plain dicts, lists and strings are handled inline, the
    # remembered text of keys and strings looked up directly; anything else goes to _emit_value
    pad = " " * indent
    lead = pad if first is None else first
    keys, strs, append = _key_memo, _str_memo, out.append
    for k, v in mapping.items():
        key = keys.get(k) if type(k) is str else None
        prefix = lead + (key if key is not None else _key(k)) + ":"
        lead = pad
        kind = type(v)
        if kind is str:
            text = strs.get(v)
            append(prefix + " " + (text if text is not None else _scalar(v)) + "\n")
        elif kind is dict:
            if v:
                append(prefix + "\n")
                _emit_mapping(v, indent + 2, out)
            else:
                append(prefix + " {}\n")
        elif kind is list:
            if v:
                append(prefix + "\n")
                _emit_sequence(v, indent, out)
            else:
                append(prefix + " []\n")
        else:
            _emit_value(v, indent, prefix, out)


def _emit_sequence(items: list[Any], indent: int, out: list[str]) -> None:
    dash = " " * indent + "- "
    strs = _str_memo
    for item in items:
        if type(item) is str:
            text = strs.get(item)
            out.append(dash + (text if text is not None else _scalar(item)) + "\n")
        elif isinstance(item, dict) and item:
            _emit_mapping(item, indent + 2, out, first=dash)
        elif isinstance(item, (list, _Block)) or (isinstance(item, dict) and not item):
            if isinstance(item, list) and not item:
                out.append(dash + "[]\n")
            elif isinstance(item, dict):
                out.append(dash + "{}\n")
            else:
                raise _Fallback
        elif isinstance(item, (str, int, float, bool)) or item is None:
            out.append(dash + _scalar(item) + "\n")
        else:
            raise _Fallback


def dump(data: Any) -> str:
    """Serialize one document in the project's YAML style.

    Documents of plain mappings, lists and scalars are emitted directly, with each
    scalar's representation taken from PyYAML (and remembered), so the text is
    byte-identical to :func:`dump_pyyaml` at a fraction of the cost; any other
    shape is handed to PyYAML whole.
    """
    if not (isinstance(data, dict) and data):
        return dump_pyyaml(data)
    out: list[str] = []
    try:
        _emit_mapping(data, 0, out)
    except _Fallback:
        return dump_pyyaml(data)
    return "".join(out)


def dump_all(docs: list[Any]) -> str:
    """Serialize several documents separated by ``---``."""
    return "---\n".join(dump(d) for d in docs)


_BAD_VALUE = (ValueError, OverflowError, AttributeError, TypeError, KeyError, IndexError)


class UnsafeYAMLError(yaml.YAMLError):
    """Generated YAML that would be unsafe or impossible to load (aliases, bad values)."""


def _no_aliases(text: str) -> None:
    if "*" not in text:  # every alias is written with a '*'; most texts have none
        return
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise UnsafeYAMLError(f"aliases (*name) are not supported{where}")


def safe_load(text: str) -> Any:
    """Plain (unlocated) load with the C loader, for tool and template output.

    Like :func:`safe_load_all`, every failure is a ``yaml.YAMLError``.
    """
    _no_aliases(text)
    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except yaml.YAMLError:
        raise
    except _BAD_VALUE as exc:
        raise UnsafeYAMLError(f"invalid value: {exc}") from None
    except RecursionError:
        raise UnsafeYAMLError("nested too deep") from None


def safe_load_all(text: str) -> list[Any]:
    """Plain multi-document load with the C loader, for tool and template output.

    Aliases are refused (an alias bomb would expand without bound), and values that
    cannot be built (a timestamp with month 13) or nest too deep raise ``yaml.YAMLError``
    like any syntax error, so callers need to catch only that.
    """
    _no_aliases(text)
    try:
        return [d for d in yaml.load_all(text, Loader=_BoundedLoader) if d is not None]
    except yaml.YAMLError:
        raise
    except _BAD_VALUE as exc:
        raise UnsafeYAMLError(f"invalid value: {exc}") from None
    except RecursionError:
        raise UnsafeYAMLError("nested too deep") from None


def load_located_all(text: str, file: str) -> tuple[list[Located], list[Problem]]:
    """Parse every document of a multi-document YAML file, with positions."""
    screened = _screen(text, file)
    if screened:
        return [], screened
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        return [], [parse_error(file, exc, text)]
    docs: list[Located] = []
    problems: list[Problem] = []
    for node in nodes:
        if node is None:
            continue
        keys: dict[KeyPath, Pos] = {}
        values: dict[KeyPath, Pos] = {}
        raw: dict[KeyPath, str] = {}
        try:
            data = _walk(node, (), file, keys, values, problems, raw)
        except yaml.YAMLError as exc:
            problems.append(parse_error(file, exc, text))
            continue
        docs.append(Located(file, data, keys, values, raw))
    return docs, problems


def compose_all(text: str) -> list[yaml.Node]:
    """The node trees of every document (C loader, no Python objects built), for cheap partial reads."""
    return [n for n in yaml.compose_all(text, Loader=_Loader) if n is not None]
