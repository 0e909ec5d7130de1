"""A fast yes for JSON Schema validation: compiled checks that only ever say "valid" truly.

jsonschema walks a schema keyword by keyword for every value (resolving each ``$ref``
again), ~4 ms for one Deployment; tens of thousands of objects took most of validate's
own time. Nearly every object is valid, so the schema is compiled once into plain
Python checks that answer whether an instance is valid: ``True`` only when jsonschema
would find no error at all, ``False`` when it may find one (then jsonschema itself
runs, for its messages). The compiled check never decides a finding.

Only the keywords of the Kubernetes schemas, of platform-gen's own input schemas and of
Backstage's catalog schemas are compiled (``type``, ``enum``, ``properties``,
``patternProperties``, ``additionalProperties``, ``required``, ``items``, ``$ref``,
``allOf``, ``anyOf``, ``oneOf`` over type-only branches, ``propertyNames``, ``pattern``,
``uniqueItems`` and the size and number bounds; a ``$id`` that only names an anchor,
``#name``, as Draft 7 writes them); annotations (``description``,
``format``, which jsonschema does not assert by default, ``x-kubernetes-*``) are
skipped. A schema with any other keyword is not compiled: :func:`compile_schema`
returns None and every instance goes to jsonschema. The schema of each property is
compiled when an instance first has that property (an input uses few of them); should it
use another keyword, the instances that have the property go to jsonschema. A document in
which a schema below the root changes how references resolve (``$id`` but an anchor,
``$anchor``, ``$schema``) is not compiled, as a ``$ref`` may point into it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "compile_schema"]

Check = Callable[[Any], bool]

#: Keywords that assert nothing (jsonschema asserts ``format`` only with a format checker).
_ANNOTATIONS = frozenset({"description", "format", "title", "default", "examples", "$comment", "deprecated",
                          "readOnly", "writeOnly"})
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


class _Unsupported(Exception):
    """The schema uses a keyword (or a reference) that is not compiled."""


def _is_type(name: str, x: Any) -> bool:
    """jsonschema's (Draft 2020-12) type check, exactly: 1.0 is an integer, True is not."""
    if name == "string":
        return isinstance(x, str)
    if name == "object":
        return isinstance(x, dict)
    if name == "array":
        return isinstance(x, list)
    if name == "null":
        return x is None
    if name == "boolean":
        return isinstance(x, bool)
    if isinstance(x, bool):
        return False
    if name == "integer":
        return isinstance(x, int) or (isinstance(x, float) and x.is_integer())
    return isinstance(x, (int, float))  # number


def _type_check(value: Any) -> Check:
    names = [value] if isinstance(value, str) else value
    if not (isinstance(names, list) and names and all(n in _TYPES for n in names)):
        raise _Unsupported(f"type {value!r}")
    if names == ["string", "null"] or names == ["null", "string"]:
        return lambda x: x is None or isinstance(x, str)
    if names == ["object", "null"] or names == ["null", "object"]:
        return lambda x: x is None or isinstance(x, dict)
    if names == ["array", "null"] or names == ["null", "array"]:
        return lambda x: x is None or isinstance(x, list)
    if names == ["string"]:
        return lambda x: isinstance(x, str)
    if names == ["object"]:
        return lambda x: isinstance(x, dict)
    return lambda x: any(_is_type(n, x) for n in names)


class _Compiler:
    def __init__(self, resolve: Callable[[str, str], tuple[Mapping[str, Any], str]]) -> None:
        self.resolve = resolve
        self.done: dict[tuple[int, str], Check] = {}
        self.keep: list[Any] = []  # the schemas whose ids key ``done`` stay alive
        self.root: Any = None
        self.lock = threading.Lock()  # a property's schema is compiled on first use, maybe in any thread

    def compile(self, schema: Any, base: str) -> Check:
        if schema is True or (isinstance(schema, Mapping) and not schema):
            return lambda x: True
        if not isinstance(schema, Mapping):
            raise _Unsupported(f"schema {schema!r}")
        key = (id(schema), base)
        if key in self.done:
            return self.done[key]
        slot: list[Check] = []
        self.done[key] = lambda x: slot[0](x)  # a reference cycle resolves through the slot
        self.keep.append(schema)
        try:
            check = self._build(schema, base)
        except BaseException:
            # a check that already refers to this schema (a cycle, or a property compiled later) defers
            slot.append(_defer)
            self.done[key] = _defer
            raise
        slot.append(check)
        self.done[key] = check
        return check

    def _build(self, schema: Mapping[str, Any], base: str) -> Check:
        checks: list[Check] = []
        props: dict[str, Check] | None = None
        patterns: tuple[tuple[re.Pattern[str], Check], ...] = ()
        additional: Check | bool = True
        required: tuple[str, ...] = ()
        for word, value in schema.items():
            if word in _ANNOTATIONS or word.startswith("x-"):
                continue
            if word in ("$schema", "$id", "$defs") and schema is self.root:
                continue
            if word == "$id" and isinstance(value, str) and value.startswith("#"):
                continue  # a Draft 7 anchor: it names this schema, the base stays the document's
            if word == "type":
                checks.append(_type_check(value))
            elif word == "enum":
                if not isinstance(value, list):
                    raise _Unsupported("enum")
                checks.append(_enum_check(frozenset(v for v in value if isinstance(v, str))))
            elif word == "properties":
                if not isinstance(value, Mapping):
                    raise _Unsupported("properties")
                props = {}
                for k, v in value.items():
                    props[str(k)] = self._lazy(v, base, props, str(k))
            elif word == "patternProperties":
                if not isinstance(value, Mapping):
                    raise _Unsupported("patternProperties")
                patterns = tuple((re.compile(str(k)), self.compile(v, base)) for k, v in value.items())
            elif word == "additionalProperties":
                additional = value if isinstance(value, bool) else self.compile(value, base)
            elif word == "required":
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    raise _Unsupported("required")
                required = tuple(value)
            elif word == "items":
                if not isinstance(value, Mapping):
                    raise _Unsupported("items")
                checks.append(_items_check(self.compile(value, base)))
            elif word == "$ref":
                if not isinstance(value, str):
                    raise _Unsupported("$ref")
                target, where = self.resolve(value, base)
                checks.append(self.compile(target, where))
            elif word in ("allOf", "anyOf", "oneOf"):
                if not (isinstance(value, list) and value):
                    raise _Unsupported(word)
                checks.append(self._combine(word, value, base))
            elif word == "propertyNames":
                checks.append(_names_check(self.compile(value, base)))
            elif word in _BOUNDS:
                checks.append(_bound_check(word, value))
            elif word == "pattern":
                if not isinstance(value, str):
                    raise _Unsupported(word)
                checks.append(_pattern_check(re.compile(value)))
            elif word == "uniqueItems":
                if value is True:
                    checks.append(_unique_check)
                elif value is not False:
                    raise _Unsupported(word)
            else:
                raise _Unsupported(word)
        if props is not None or patterns or additional is not True or required:
            checks.append(_object_check(props or {}, additional, required, patterns))
        if not checks:
            return lambda x: True
        if len(checks) == 1:
            return checks[0]
        return lambda x: all(c(x) for c in checks)

    def _lazy(self, schema: Any, base: str, into: dict[str, Check], key: str) -> Check:
        """The check of a property's ``schema``, compiled when an instance first has the property, and then
        put in its place in ``into``: an input uses few of its schema's properties (platform.yaml's schema
        took 11 ms to compile whole, on every render). A schema that cannot be compiled defers the
        instances that reach it to jsonschema."""
        def check(x: Any) -> bool:
            with self.lock:
                try:
                    found = self.compile(schema, base)
                except Exception:  # (not compiled, or a schema jsonschema itself must judge: a bad pattern)
                    found = _defer
                into[key] = found
            return found(x)

        return check

    def _combine(self, word: str, branches: list[Any], base: str) -> Check:
        subs = [self.compile(b, base) for b in branches]
        if word == "allOf":
            return lambda x: all(s(x) for s in subs)
        if word == "anyOf":  # one branch surely valid is enough
            return lambda x: any(s(x) for s in subs)
        # oneOf needs the others surely invalid: only type-only branches are exact
        if not all(isinstance(b, Mapping) and set(b) - _ANNOTATIONS == {"type"} for b in branches):
            raise _Unsupported("oneOf")
        names = [[b["type"]] if isinstance(b["type"], str) else list(b["type"]) for b in branches]
        for n in names:
            _type_check(n)
        return lambda x: sum(any(_is_type(t, x) for t in n) for n in names) == 1


#: Keyword -> (the type it applies to, its measure of an instance, whether an instance passes a bound).
_BOUNDS: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any, Any], bool]]] = {
    "minLength": ("string", len, lambda n, b: not n < b),
    "maxLength": ("string", len, lambda n, b: not n > b),
    "minItems": ("array", len, lambda n, b: not n < b),
    "maxItems": ("array", len, lambda n, b: not n > b),
    "minProperties": ("object", len, lambda n, b: not n < b),
    "maxProperties": ("object", len, lambda n, b: not n > b),
    "minimum": ("number", lambda x: x, lambda n, b: not n < b),
    "maximum": ("number", lambda x: x, lambda n, b: not n > b),
    "exclusiveMinimum": ("number", lambda x: x, lambda n, b: not n <= b),
    "exclusiveMaximum": ("number", lambda x: x, lambda n, b: not n >= b),
}


def _defer(_x: Any) -> bool:
    return False  # not surely valid: jsonschema decides


def _bound_check(word: str, bound: Any) -> Check:
    """jsonschema's check of a size or number bound: only instances of its type are measured."""
    kind, measure, passes = _BOUNDS[word]
    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
        raise _Unsupported(word)
    return lambda x: not _is_type(kind, x) or passes(measure(x), bound)


def _pattern_check(rx: re.Pattern[str]) -> Check:
    # jsonschema: re.search of the pattern in a string instance
    return lambda x: not isinstance(x, str) or rx.search(x) is not None


def _unique_check(x: Any) -> bool:
    # strings only are decided here (jsonschema's equality tells 1 from True and 1.0 from 1)
    return not isinstance(x, list) or (all(isinstance(v, str) for v in x) and len(set(x)) == len(x))


def _names_check(name: Check) -> Check:
    return lambda x: not isinstance(x, dict) or all(name(k) for k in x)


def _enum_check(allowed: frozenset[str]) -> Check:
    # strings only: jsonschema's enum tells True from 1, and so does not this
    return lambda x: isinstance(x, str) and x in allowed


def _items_check(item: Check) -> Check:
    return lambda x: not isinstance(x, list) or all(item(v) for v in x)


def _object_check(props: dict[str, Check], additional: Check | bool, required: tuple[str, ...],
                  patterns: tuple[tuple[re.Pattern[str], Check], ...] = ()) -> Check:
    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return True
        for k, v in x.items():
            sub = props.get(k) if isinstance(k, str) else None
            # jsonschema: a key matching a pattern is checked against it, and is no additional property
            matched = False
            for rx, each in patterns:
                if not isinstance(k, str):
                    return False  # (JSON keys are strings: defer whatever else)
                if rx.search(k) is not None:
                    matched = True
                    if not each(v):
                        return False
            if sub is None:
                if matched:
                    continue
                if additional is False:
                    return False
                if additional is not True and not additional(v):
                    return False
            elif not sub(v):
                return False
        return all(r in x for r in required)

    return check


def compile_schema(schema: Mapping[str, Any], resolve: Callable[[str, str], tuple[Mapping[str, Any], str]]
                   ) -> Check | None:
    """The fast check of ``schema``, or None if it uses what is not compiled.

    ``resolve(ref, base)`` returns the schema a ``$ref`` names and the base of the
    document it is in (``""`` is the root document), or raises ``LookupError``.
    """
    if _rescoped(schema):
        return None
    compiler = _Compiler(resolve)
    compiler.root = schema
    try:
        return compiler.compile(schema, "")
    except (_Unsupported, LookupError, RecursionError):
        return None


#: Keywords that change how a ``$ref`` in the schema below them resolves.
_SCOPES = frozenset({"$id", "$anchor", "$dynamicAnchor", "$recursiveAnchor", "$schema"})
#: Keywords whose value is a schema, a list of schemas, or a mapping of names to schemas (any other keyword's
#: value is data: an enum, a default, a description).
_SUBSCHEMA = frozenset({"items", "additionalItems", "additionalProperties", "not", "propertyNames", "contains",
                        "if", "then", "else", "unevaluatedItems", "unevaluatedProperties", "allOf", "anyOf",
                        "oneOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
                          "dependencies"})


def _rescoped(root: Mapping[str, Any]) -> bool:
    """Whether a schema below ``root`` (but a Draft 7 anchor, ``$id: "#name"``) changes how ``$ref`` resolves:
    a ``$ref`` elsewhere may point into it, and the compiler resolves every reference against the document's
    base. A property's schema is compiled when first used (so such a keyword below it would not be seen
    before a check says valid): the document's schemas are looked through for them first."""
    stack: list[Any] = []

    def children(node: Mapping[str, Any]) -> None:
        for k, v in node.items():
            if k in _SCHEMA_MAPS and isinstance(v, Mapping):
                stack.extend(v.values())
            elif k in _SUBSCHEMA:
                stack.extend(v if isinstance(v, list) else [v])

    children(root)
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping):
            continue
        for k in _SCOPES.intersection(node):
            v = node[k]
            if not (k == "$id" and isinstance(v, str) and v.startswith("#")):
                return True
        children(node)
    return False
