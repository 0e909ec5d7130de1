"""Kubernetes CRD schemas as strict JSON Schema, and validation against them.

A CRD or a Crossplane XRD describes its objects with an ``openAPIV3Schema``: OpenAPI
3.0 plus ``x-kubernetes-*`` extensions. :func:`to_json_schema` turns one into JSON
Schema Draft 7 so that :func:`validate` can check instances offline, the way the API
server would:

- unknown fields fail: wherever an object lists ``properties`` (and neither sets
  ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields: true``), the
  result forbids other keys (``strict``, the default). The API server prunes or, with
  strict field validation, rejects such fields; here they are errors;
- ``nullable: true`` admits ``null``; ``x-kubernetes-int-or-string`` admits an integer
  or a string; ``x-kubernetes-embedded-resource`` admits (and requires) ``apiVersion``
  and ``kind``, and admits a free-form ``metadata``; ``x-kubernetes-list-type: set``
  becomes ``uniqueItems``; OpenAPI's boolean ``exclusiveMinimum``/``exclusiveMaximum``
  become Draft 7 numbers.

Not checked (only a real API server does): CEL rules (``x-kubernetes-validations``),
``format`` (``int32``, ``date-time``, ...), unique keys of ``x-kubernetes-list-type:
map`` lists, and the ObjectMeta rules of ``metadata``.

The vendored schemas (``generator/vendor/``: Crossplane CRDs, Argo CD JSON schemas, and
the JSON schemas of the runtime kinds overlays build: ExternalSecret, HTTPRoute,
ServiceMonitor, PodMonitor, PrometheusRule; see the NOTICE.md files there) are read on
first use and cached (``functools.cache``).
The cached schemas are shared: treat them as read-only (they are typed as ``Mapping``).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, Any

from .errors import Problem
from .yamlio import Located, safe_load_all

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = [
    "ARGOCD_KINDS",
    "DRAFT7",
    "RUNTIME_KINDS",
    "KeyPath",
    "RuntimeKind",
    "SchemaErrors",
    "argocd_schema",
    "crd_schemas",
    "crossplane_kinds",
    "crossplane_schema",
    "fill_defaults",
    "located_problems",
    "points_at_key",
    "resource_schema",
    "runtime_kind",
    "runtime_schema",
    "runtime_version_problem",
    "to_json_schema",
    "validate",
    "validator_errors",
    "xrd_parameter_schema",
]

KeyPath = tuple[str | int, ...]
SchemaErrors = list[tuple[KeyPath, str]]

DRAFT7 = "http://json-schema.org/draft-07/schema#"

ARGOCD_KINDS = ("Application", "ApplicationSet", "AppProject")

_CROSSPLANE_CRD_FILES = (
    "apiextensions.crossplane.io_compositeresourcedefinitions.yaml",
    "apiextensions.crossplane.io_compositions.yaml",
    "pkg.crossplane.io_functions.yaml",
    "pt.fn.crossplane.io_resources.yaml",
)

_XRD_API_VERSIONS = ("apiextensions.crossplane.io/v1", "apiextensions.crossplane.io/v2")

# Keywords whose value is one schema, a list of schemas, or a name -> schema mapping.
_ONE = ("not",)
_MANY = ("allOf", "anyOf", "oneOf")
_NAMED = ("properties", "patternProperties", "definitions")

_UNKNOWN_FIELD = "unknown field "


# --- OpenAPI v3 (Kubernetes flavour) -> JSON Schema Draft 7 ----------------------------


def to_json_schema(openapi: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Convert a CRD ``openAPIV3Schema`` (or any part of one) to JSON Schema Draft 7.

    The input is not modified. With ``strict``, objects that list ``properties`` forbid
    other keys unless the schema says otherwise (see the module docstring).
    """
    return {"$schema": DRAFT7, **_convert(openapi, strict)}


def resource_schema(openapi: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Like :func:`to_json_schema`, for a whole Kubernetes object.

    The top level admits ``apiVersion`` and ``kind`` (required strings) and a free-form
    ``metadata`` object, whether or not the CRD's schema lists them.
    """
    root = dict(openapi)
    props = dict(root.get("properties") or {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    # Metadata is ObjectMeta, validated by the API server itself; a CRD may only narrow
    # name/generateName, so keep what it says but never close the object.
    props["metadata"] = {
        "type": "object",
        **(props.get("metadata") or {}),
        "x-kubernetes-preserve-unknown-fields": True,
    }
    root["properties"] = props
    root.setdefault("type", "object")
    root["required"] = _with_required(root.get("required"), ("apiVersion", "kind"))
    return to_json_schema(root, strict=strict)


def _with_required(required: Iterable[str] | None, names: Iterable[str]) -> list[str]:
    out = list(required or [])
    out.extend(n for n in names if n not in out)
    return out


def _convert(node: Any, strict: bool) -> Any:
    if not isinstance(node, Mapping):
        return copy.deepcopy(node)  # true/false, or not a schema at all: check_schema says so
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = go_pattern(value)
        elif key == "patternProperties" and isinstance(value, Mapping):
            out[key] = {go_pattern(str(name)): _convert(sub, strict) for name, sub in value.items()}
        elif key in _NAMED and isinstance(value, Mapping):
            out[key] = {name: _convert(sub, strict) for name, sub in value.items()}
        elif key in _MANY and isinstance(value, list):
            out[key] = [_convert(sub, strict) for sub in value]
        elif key in _ONE and isinstance(value, Mapping):
            out[key] = _convert(value, strict)
        elif key == "items":
            out[key] = (
                [_convert(sub, strict) for sub in value]
                if isinstance(value, list)
                else _convert(value, strict)
            )
        elif key == "additionalProperties" and isinstance(value, Mapping):
            out[key] = _convert(value, strict)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue  # OpenAPI 3.0 style, rewritten below
        elif key == "nullable" or key.startswith("x-kubernetes-"):
            continue  # handled below or not checkable (CEL rules, list/map types)
        else:
            out[key] = copy.deepcopy(value)

    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(flag) is True and bound in out:
            out[flag] = out.pop(bound)

    if node.get("x-kubernetes-int-or-string") is True:
        out["type"] = ["integer", "string"]
        if _is_int_or_string_any_of(out.get("anyOf")):
            del out["anyOf"]  # the type says it already; avoid a second, vaguer error

    if node.get("x-kubernetes-embedded-resource") is True:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
        out.setdefault("type", "object")
        out["required"] = _with_required(out.get("required"), ("apiVersion", "kind"))

    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True

    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if strict and "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False

    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def go_pattern(pattern: str) -> str:
    """A Kubernetes (Go RE2) ``pattern`` for Python's ``re``: ``$`` ends the text.

    In Go, ``$`` matches only at the end of the text; in Python it also matches before
    a final newline, so "abc\\n" would pass ``^[a-z]+$``. Every ``$`` outside a
    character class becomes ``\\Z``. The pattern must compile, else ``ValueError``.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "^":
                out.append("[^")
                i += 2
            else:
                out.append(char)
                i += 1
            if pattern[i:i + 1] == "]":  # a leading ] is a literal
                out.append("]")
                i += 1
            continue
        elif char == "$":
            char = "\\Z"
        out.append(char)
        i += 1
    converted = "".join(out)
    try:
        re.compile(converted)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"invalid pattern {pattern[:60]!r}: {exc}") from None
    if converted != pattern and len(_WRITTEN) < 10_000:
        _WRITTEN[converted] = pattern
    return converted


#: Converted pattern -> the pattern as the XRD or CRD wrote it, for messages.
_WRITTEN: dict[str, str] = {}


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _is_int_or_string_any_of(any_of: Any) -> bool:
    if not isinstance(any_of, list):
        return False
    shapes = sorted(json.dumps(s, sort_keys=True) for s in any_of)
    return shapes == ['{"type": "integer"}', '{"type": "string"}']


# --- CRDs and XRDs -------------------------------------------------------------------


def crd_schemas(
    crd: Mapping[str, Any], *, strict: bool = True
) -> dict[tuple[str, str], dict[str, Any]]:
    """Map ``("group/version", kind)`` to a JSON Schema for each served version of a CRD.

    Raises ``ValueError`` if ``crd`` is not an ``apiextensions.k8s.io/v1``
    CustomResourceDefinition with a group, a kind and schemas.
    """
    if crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"not a CustomResourceDefinition: kind {crd.get('kind')!r}")
    spec = crd.get("spec") or {}
    group = spec.get("group")
    kind = (spec.get("names") or {}).get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        raise ValueError("CustomResourceDefinition without spec.group or spec.names.kind")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        openapi = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(openapi, Mapping):
            raise ValueError(f"{kind} {version.get('name')}: no schema.openAPIV3Schema")
        out[(f"{group}/{version['name']}", kind)] = resource_schema(openapi, strict=strict)
    return out


def xrd_parameter_schema(
    xrd: Mapping[str, Any], *, strict: bool = True
) -> dict[str, Any] | None:
    """JSON Schema of ``spec.parameters`` of a Crossplane CompositeResourceDefinition.

    Uses the referenceable version, else the first served one. Returns ``None`` when
    that version declares no ``spec.parameters``. Raises ``ValueError`` if ``xrd`` is
    not an ``apiextensions.crossplane.io`` v1 or v2 XRD with a served version.
    """
    if xrd.get("apiVersion") not in _XRD_API_VERSIONS or (
        xrd.get("kind") != "CompositeResourceDefinition"
    ):
        raise ValueError(
            f"not a Crossplane CompositeResourceDefinition: {xrd.get('apiVersion')!r} "
            f"{xrd.get('kind')!r}"
        )
    versions = [v for v in (xrd.get("spec") or {}).get("versions") or [] if isinstance(v, dict)]
    chosen = next((v for v in versions if v.get("referenceable")), None) or next(
        (v for v in versions if v.get("served")), None
    )
    if chosen is None:
        raise ValueError("CompositeResourceDefinition has no referenceable or served version")
    node: Any = chosen.get("schema")
    for key in ("openAPIV3Schema", "properties", "spec", "properties", "parameters"):
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    return to_json_schema(node, strict=strict)


# --- Validation ----------------------------------------------------------------------


def validate(instance: Any, schema: Mapping[str, Any]) -> SchemaErrors:
    """Every way ``instance`` breaks ``schema``, as sorted ``(key path, message)`` pairs.

    The draft comes from ``$schema`` (Draft 7 if absent). Messages follow jsonschema's
    wording, with YAML spelling of values (``true``, ``null``), except that a forbidden
    additional property becomes ``unknown field 'name'`` at the path of that key.
    """
    from jsonschema import Draft7Validator  # imported on first use, as in schemas.check
    from jsonschema.validators import validator_for

    cls = validator_for(schema, default=Draft7Validator)
    return validator_errors(cls(schema), instance)


def validator_errors(validator: Any, instance: Any) -> SchemaErrors:
    """:func:`validate` with a ready validator (one built once and reused, say)."""
    found: set[tuple[KeyPath, str]] = set()
    for error in validator.iter_errors(instance):
        found.update(_messages(error))
    return sorted(found, key=_error_key)


def points_at_key(message: str) -> bool:
    """Whether an error is about a key (unknown or missing) rather than a value."""
    return message.startswith(_UNKNOWN_FIELD) or message.endswith(" is a required property")


def _messages(error: ValidationError) -> Iterator[tuple[KeyPath, str]]:
    path: KeyPath = tuple(error.absolute_path)
    if (
        error.validator == "additionalProperties"
        and error.validator_value is False
        and isinstance(error.instance, Mapping)
    ):
        sch: Any = error.schema
        props = sch.get("properties") or {}
        patterns = list(sch.get("patternProperties") or {})
        for name in error.instance:
            if name not in props and not any(_search(p, str(name)) for p in patterns):
                yield (*path, name), f"{_UNKNOWN_FIELD}{name!r}"
    elif error.validator == "type":
        types: Any = error.validator_value
        names = [types] if isinstance(types, str) else list(types)
        yield path, f"{_brief(error.instance)} is not of type {', '.join(map(repr, names))}"
    elif error.validator == "pattern" and isinstance(error.validator_value, str):
        written = _WRITTEN.get(error.validator_value, error.validator_value)
        yield path, f"{_brief(error.instance)} does not match {written!r}"
    elif error.validator == "enum":
        yield path, f"{_brief(error.instance)} is not one of {_show(error.validator_value)}"
    else:
        message = str(error.message)
        try:
            whole = repr(error.instance)
        except ValueError:  # an integer too long to print
            whole = ""
        if len(whole) > 60 and whole in message:  # never echo a whole large value
            message = message.replace(whole, _brief(error.instance))
        yield path, message


def _show(value: Any) -> str:
    """Render a value as users wrote it in YAML (strings keep their quotes)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):  # unquoted YAML timestamps load as date/datetime
        return repr(value.isoformat())
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _brief(value: Any, limit: int = 60) -> str:
    text = _show(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_key(item: tuple[KeyPath, str]) -> tuple[tuple[tuple[int, int, str], ...], str]:
    path, message = item
    # Indexes sort before names, numerically; mixed str/int paths must not be compared.
    return tuple((1, 0, p) if isinstance(p, str) else (0, p, "") for p in path), message


def located_problems(
    located: Located, errors: Iterable[tuple[KeyPath, str]], *, base: KeyPath = (), hint: str = ""
) -> list[Problem]:
    """Turn :func:`validate` results for the value at ``base`` of a file into Problems.

    Unknown fields and missing required keys point at a key, other errors at the value.
    """
    out = []
    for path, message in errors:
        full = (*base, *path)
        out.append(located.problem(full, message, hint, key=points_at_key(message)))
    return sorted(out)


def fill_defaults(instance: Any, schema: Mapping[str, Any]) -> Any:
    """Return a copy of ``instance`` with the schema's ``default`` values filled in.

    As the API server does: a property that is absent (or ``null`` where not nullable)
    gets a copy of its default, recursively through ``properties``, ``items`` and
    ``additionalProperties``, including inside defaults just filled in. Objects that
    are absent are not created unless they have a default themselves. Works on
    OpenAPI and converted schemas alike; the input is not modified.
    """
    if not isinstance(schema, Mapping):
        return instance
    if isinstance(instance, Mapping):
        props: Any = schema.get("properties") or {}
        if not isinstance(props, Mapping):
            props = {}
        merged = dict(instance)
        for name, sub in props.items():
            if isinstance(sub, Mapping) and "default" in sub and (
                name not in merged or (merged[name] is None and not _nullable(sub))
            ):
                merged[name] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        out: dict[Any, Any] = {}
        for key, value in merged.items():
            if key in props:
                out[key] = fill_defaults(value, props[key])
            elif isinstance(extra, Mapping):
                out[key] = fill_defaults(value, extra)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(instance, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [fill_defaults(v, items) for v in instance]
        return copy.deepcopy(instance)
    return instance


def _nullable(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return schema.get("nullable") is True or (isinstance(kind, list) and "null" in kind)


# --- Vendored schemas ----------------------------------------------------------------


def _vendor_text(*parts: str) -> str:
    node = resources.files(__package__ or "platform_gen").joinpath("vendor")
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


@functools.cache
def _crossplane_index() -> dict[tuple[str, str], dict[str, Any]]:
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for name in _CROSSPLANE_CRD_FILES:
        for doc in safe_load_all(_vendor_text("crossplane", name)):
            index.update(crd_schemas(doc))
    return index


def crossplane_kinds() -> list[tuple[str, str]]:
    """The ``(apiVersion, kind)`` pairs that :func:`crossplane_schema` knows, sorted."""
    return sorted(_crossplane_index())


def crossplane_schema(api_version: str, kind: str) -> Mapping[str, Any]:
    """Strict JSON Schema for a Crossplane kind, from the vendored CRDs (cached, shared).

    Covers CompositeResourceDefinition (v1, v2), Composition (v1), Function (v1,
    v1beta1) and the function-patch-and-transform input Resources
    (``pt.fn.crossplane.io/v1beta1``). Raises ``KeyError`` for anything else.
    """
    index = _crossplane_index()
    try:
        return index[(api_version, kind)]
    except KeyError:
        known = ", ".join(f"{a} {k}" for a, k in sorted(index))
        message = f"no vendored Crossplane CRD for {api_version} {kind}; known: {known}"
        raise KeyError(message) from None


@functools.cache
def argocd_schema(kind: str) -> Mapping[str, Any]:
    """JSON Schema for an Argo CD ``argoproj.io/v1alpha1`` kind (vendored, cached, shared).

    ``kind`` is one of :data:`ARGOCD_KINDS`; raises ``KeyError`` for anything else.
    """
    if kind not in ARGOCD_KINDS:
        raise KeyError(f"no vendored Argo CD schema for {kind!r}; known: {', '.join(ARGOCD_KINDS)}")
    loaded: dict[str, Any] = json.loads(_vendor_text("argocd", f"{kind.lower()}_v1alpha1.json"))
    return loaded


# --- Runtime kinds: the CRD objects that overlays build --------------------------------


@dataclass(frozen=True)
class RuntimeKind:
    """A CRD kind overlays may build, checked against a vendored JSON schema."""

    api_version: str
    kind: str
    folder: str  #: under ``vendor/``
    file: str
    upstream: str  #: the project and release the schema is converted from, for messages


#: The runtime kinds, by ``(apiVersion, kind)``; see the NOTICE.md of each vendor folder.
RUNTIME_KINDS: Mapping[tuple[str, str], RuntimeKind] = {
    (k.api_version, k.kind): k
    for k in (
        RuntimeKind("external-secrets.io/v1", "ExternalSecret", "external-secrets", "externalsecret_v1.json",
                    "External Secrets Operator v2.9.0"),
        RuntimeKind("gateway.networking.k8s.io/v1", "HTTPRoute", "gateway-api", "httproute_v1.json",
                    "Gateway API v1.6.1, standard channel"),
        RuntimeKind("monitoring.coreos.com/v1", "ServiceMonitor", "prometheus-operator", "servicemonitor_v1.json",
                    "prometheus-operator v0.93.0"),
        RuntimeKind("monitoring.coreos.com/v1", "PodMonitor", "prometheus-operator", "podmonitor_v1.json",
                    "prometheus-operator v0.93.0"),
        RuntimeKind("monitoring.coreos.com/v1", "PrometheusRule", "prometheus-operator", "prometheusrule_v1.json",
                    "prometheus-operator v0.93.0"),
    )
}

#: Versions that upstream's CRDs still list but no longer serve: the API server refuses their objects.
#: ``(apiVersion, kind)`` -> since when. External Secrets stopped serving v1beta1 in v0.17.0.
_UNSERVED: Mapping[tuple[str, str], str] = {
    ("external-secrets.io/v1beta1", kind): "External Secrets Operator v0.17.0"
    for kind in ("ExternalSecret", "SecretStore", "ClusterSecretStore")
}


def runtime_kind(api_version: str, kind: str) -> RuntimeKind | None:
    """The runtime kind of ``(apiVersion, kind)``, or None if it is not one."""
    return RUNTIME_KINDS.get((api_version, kind))


@functools.cache
def runtime_schema(api_version: str, kind: str) -> Mapping[str, Any]:
    """Strict JSON Schema for a runtime kind (vendored, cached, shared); ``KeyError`` for anything else.

    As vendored, but ready for Python's ``re``: each ``pattern`` goes through :func:`go_pattern` (``$``
    ends the text, as in Go), and the OpenAPI ``nullable`` left beside its translation is dropped.
    """
    found = runtime_kind(api_version, kind)
    if found is None:
        known = ", ".join(f"{a} {k}" for a, k in sorted(RUNTIME_KINDS))
        raise KeyError(f"no vendored schema for {api_version} {kind}; known: {known}")
    loaded: dict[str, Any] = _for_python(json.loads(_vendor_text(found.folder, found.file)))
    return loaded


def _for_python(node: Any) -> Any:
    """A converted CRD schema node with Go patterns made Python's (the vendored files keep Go's)."""
    if isinstance(node, list):
        return [_for_python(sub) for sub in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = go_pattern(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {go_pattern(str(name)): _for_python(sub) for name, sub in value.items()}
        elif key == "nullable":
            continue  # translated already: "null" is in the type
        elif key in ("default", "enum", "example", "x-kubernetes-validations") or key.startswith("x-"):
            out[key] = value  # values, not schemas
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _for_python(sub) for name, sub in value.items()}
        else:
            out[key] = _for_python(value)
    return out


def runtime_version_problem(api_version: str, kind: str) -> str | None:
    """Why ``(apiVersion, kind)`` is refused, if it is another version of a runtime kind's group.

    An unserved version (``external-secrets.io/v1beta1``) is named as such; a version upstream still serves
    but platform-gen does not check (``gateway.networking.k8s.io/v1beta1`` HTTPRoute) names the one it does.
    None if the group is not one of the runtime kinds'.
    """
    group = api_version.rpartition("/")[0]
    served = sorted(k.api_version for k in RUNTIME_KINDS.values() if k.api_version.rpartition("/")[0] == group
                    and (k.kind == kind or (api_version, kind) in _UNSERVED))
    if not group or not served:
        return None
    if (api_version, kind) in _UNSERVED:
        return (f"{api_version} {kind} is no longer served (not since {_UNSERVED[(api_version, kind)]}): "
                f"use {served[0]}")
    return (f"no schema for {api_version} {kind}: platform-gen checks {kind} as {served[0]} only "
            f"({RUNTIME_KINDS[(served[0], kind)].upstream}); use {served[0]}")
