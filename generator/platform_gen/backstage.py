"""Backstage's own checks of a catalog entity, made offline (README "Seeing your service in Backstage").

Backstage's catalog reads an entity in steps, and refuses it at the first that fails:
its placeholders (``$text``, ``$json``, ``$yaml``: the text or data of another file)
are filled in, then the entity must pass the envelope schema, the format rules of
its fields (Backstage's ``FieldFormatEntityPolicy``: the kind, the name, label and
annotation keys and values, tags, links) and the JSON Schema of its kind (the
scaffolder's for a Template). The schemas are vendored (``vendor/backstage/``);
the format rules are restated here, as Backstage's code has them.

One rule is platform-gen's own: every entity reference the catalog makes (owner,
system, ``dependsOn``, ``providesApis``, ...) names an entity of the catalog, which
Backstage only shows as a missing relation.

Each schema is also compiled into plain checks that can only say "valid" (see
``fastschema``): jsonschema is imported only for an entity they do not pass, for its
messages, so a valid catalog is checked without it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from . import fastschema
from .errors import format_path

__all__ = ["API_VERSION", "TEMPLATE_API", "Ref", "entity_errors", "entity_ref", "references", "unresolved"]

API_VERSION = "backstage.io/v1alpha1"
TEMPLATE_API = "scaffolder.backstage.io/v1beta3"
#: The kinds the catalog checks, by (apiVersion, kind): their schema file under ``vendor/backstage/``.
_KINDS: dict[tuple[str, str], str] = {
    **{(api, kind): f"{kind}.v1alpha1.schema.json" for api in (API_VERSION, "backstage.io/v1beta1")
       for kind in ("API", "Component", "Group", "Location", "Resource", "System")},
    (TEMPLATE_API, "Template"): "Template.v1beta3.schema.json",
}
_SHARED = ("Entity.schema.json", "EntityEnvelope.schema.json", "EntityMeta.schema.json", "common.schema.json")
#: The placeholders Backstage fills in before it checks an entity (each a mapping of one key).
_PLACEHOLDERS = frozenset({"$text", "$json", "$yaml"})

# the format rules (CommonValidatorFunctions, KubernetesValidatorFunctions and makeValidator's tag rule)
_DNS_LABEL = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\Z")
_OBJECT_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_KIND = re.compile(r"[a-zA-Z][a-z0-9A-Z]*\Z")
_VERSION = re.compile(r"[a-z0-9A-Z]+\Z")
_TAG = re.compile(r"[a-z0-9:+#]+(-[a-z0-9:+#]+)*\Z")
_NAME_WORDS = "sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total"


def _dns_label(value: str) -> bool:
    return 1 <= len(value) <= 63 and _DNS_LABEL.match(value) is not None


def _dns_subdomain(value: str) -> bool:
    return 1 <= len(value) <= 253 and all(_dns_label(part) for part in value.split("."))


def _object_name(value: str) -> bool:
    return 1 <= len(value) <= 63 and _OBJECT_NAME.match(value) is not None


def _prefixed(value: str, prefix: Any, name: Any) -> bool:
    """``name`` or ``prefix/name``, each part valid (Backstage's isValidPrefixAndOrSuffix with '/')."""
    parts = value.split("/")
    if len(parts) == 1:
        return bool(name(parts[0]))
    return len(parts) == 2 and bool(prefix(parts[0])) and bool(name(parts[1]))


@cache
def _api_version(value: str) -> bool:
    return _prefixed(value, _dns_subdomain, lambda v: 1 <= len(v) <= 63 and _VERSION.match(v) is not None)


@cache
def _key(value: str) -> bool:  # (a catalog's keys repeat: each is checked once)
    return _prefixed(value, _dns_subdomain, _object_name)


def _url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("mailto", "file", "data"))


def _format_errors(entity: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """What Backstage's FieldFormatEntityPolicy refuses in an entity that passed the envelope schema."""
    api, kind = entity.get("apiVersion"), entity.get("kind")
    if isinstance(api, str) and not _api_version(api):
        yield "apiVersion", f"{api!r} is not a valid apiVersion: a valid prefix and/or suffix, such as {API_VERSION}"
    if isinstance(kind, str) and not (len(kind) <= 63 and _KIND.match(kind)):
        yield "kind", f"{kind!r} is not a valid kind: a letter, then letters and digits, at most 63 characters"
    meta = entity.get("metadata")
    if not isinstance(meta, Mapping):
        return
    name, namespace = meta.get("name"), meta.get("namespace")
    if isinstance(name, str) and not _object_name(name):
        yield "metadata.name", f"{name!r} is not a valid name: {_NAME_WORDS}"
    if isinstance(namespace, str) and not _dns_label(namespace):
        yield "metadata.namespace", (f"{namespace!r} is not a valid namespace: sequences of [a-z0-9] separated by "
                                     "[-], at most 63 characters in total")
    for field in ("labels", "annotations"):
        pairs = meta.get(field)
        for k, v in sorted(pairs.items()) if isinstance(pairs, Mapping) else ():
            if not _key(str(k)):
                yield f"metadata.{field}.{k}", (f"{k!r} is not a valid {field[:-1]} key: a name ({_NAME_WORDS}), "
                                                "optionally after a DNS subdomain and '/'")
            elif field == "labels" and isinstance(v, str) and v and not _object_name(v):
                yield f"metadata.labels.{k}", f"{v!r} is not a valid label value: empty, or {_NAME_WORDS}"
    tags = meta.get("tags")
    for i, tag in enumerate(tags if isinstance(tags, list) else ()):
        if isinstance(tag, str) and not (len(tag) <= 63 and _TAG.match(tag)):
            yield f"metadata.tags[{i}]", (f"{tag!r} is not a valid tag: sequences of [a-z0-9:+#] separated by single "
                                          "'-', at most 63 characters in total")
    links = meta.get("links")
    for i, link in enumerate(links if isinstance(links, list) else ()):
        url = link.get("url") if isinstance(link, Mapping) else None
        if isinstance(url, str) and not _url(url):
            yield f"metadata.links[{i}].url", f"{url!r} is not a valid URL"


def _filled(value: Any) -> Any:
    """``value`` with each placeholder replaced by text, as Backstage fills them in before its checks (the
    data of ``$json`` and ``$yaml`` is not known here: they are checked as text too); ``value`` itself when
    it holds none."""
    if isinstance(value, list):
        items = [_filled(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        (key, inner), = value.items()
        if key in _PLACEHOLDERS and isinstance(inner, str):
            return f"(the content of {inner})"
    filled = {k: _filled(v) for k, v in value.items()}
    return value if all(filled[k] is v for k, v in value.items()) else filled


def _vendored(name: str) -> Any:
    return json.loads((resources.files("platform_gen") / "vendor" / "backstage" / name).read_text(encoding="utf-8"))


@cache
def _schemas() -> dict[str, Any]:
    """Every vendored schema, by its ``$id``."""
    loaded = (_vendored(n) for n in (*_SHARED, *sorted(set(_KINDS.values()))))
    return {str(s["$id"]): s for s in loaded}


@cache
def _bare(doc_id: str) -> Mapping[str, Any]:
    """A vendored schema as another one refers to it: without its own ``$schema`` and ``$id`` (one object per
    schema, so that the compiled check of each is made once)."""
    return {k: v for k, v in _schemas()[doc_id].items() if k not in ("$schema", "$id")}


def _resolve(ref: str, base: str) -> tuple[Mapping[str, Any], str]:
    """The schema a ``$ref`` of these names (``Entity``, ``common#relation``, ``#reference`` within common)."""
    name, _hash, anchor = ref.partition("#")
    doc_id = name or base
    doc = _schemas().get(doc_id)
    if doc is None:
        raise LookupError(ref)
    if not anchor:
        return _bare(doc_id), doc_id
    for definition in (doc.get("definitions") or {}).values():
        if isinstance(definition, Mapping) and definition.get("$id") == f"#{anchor}":
            return definition, doc_id
    raise LookupError(ref)


@cache
def _fast(name: str) -> fastschema.Check | None:
    """The compiled check of one vendored schema (the Template's leaves its parameters, a ``oneOf`` of
    objects, to jsonschema)."""
    return fastschema.compile_schema(_vendored(name), _resolve)


@cache
def _validator(name: str) -> Any:
    """The Draft 7 validator of one vendored schema, every other one registered under its ``$id``."""
    from jsonschema import Draft7Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    registry: Registry[Any] = Registry().with_resources(
        (schema_id, DRAFT7.create_resource(s)) for schema_id, s in _schemas().items())
    return Draft7Validator(_vendored(name), registry=registry)


def entity_errors(entity: Any) -> list[tuple[str, str]]:
    """Every way Backstage's catalog would refuse ``entity``: (key path, message) pairs, in the order of its
    checks (an entity that fails the envelope is not checked further)."""
    from .crdschema import validator_errors

    if not isinstance(entity, Mapping):
        return [("", "not a catalog entity (a mapping with apiVersion, kind and metadata)")]
    entity = _filled(entity)
    schema = _KINDS.get((str(entity.get("apiVersion")), str(entity.get("kind"))))
    envelope, kind = _fast("EntityEnvelope.schema.json"), _fast(schema) if schema is not None else None
    if envelope is not None and kind is not None and envelope(entity) and kind(entity):
        return list(_format_errors(entity))  # surely no schema finding (jsonschema not even loaded)
    found = [(format_path(p), m) for p, m in validator_errors(_validator("EntityEnvelope.schema.json"), entity)]
    if found:
        return found
    found = list(_format_errors(entity))
    if schema is None:
        return [*found, ("kind", f"{entity['kind']} of {entity['apiVersion']} is not a kind this catalog checks; "
                                 "known: API, Component, Group, Location, Resource and System "
                                 f"({API_VERSION}), Template ({TEMPLATE_API})")]
    return found + [(format_path(p), m) for p, m in validator_errors(_validator(schema), entity)]


# --- references -------------------------------------------------------------------------------

Ref = str  #: a full entity reference, lower case: ``kind:namespace/name``

#: Where each kind refers to other entities: (field, whether a list, the kind a reference without one has).
_REFERENCES: dict[str, tuple[tuple[str, bool, str | None], ...]] = {
    "component": (("owner", False, "group"), ("system", False, "system"), ("subcomponentOf", False, "component"),
                  ("providesApis", True, "api"), ("consumesApis", True, "api"), ("dependsOn", True, None)),
    "api": (("owner", False, "group"), ("system", False, "system")),
    "resource": (("owner", False, "group"), ("system", False, "system"), ("dependsOn", True, None)),
    "system": (("owner", False, "group"), ("domain", False, "domain")),
    "group": (("parent", False, "group"), ("children", True, "group"), ("members", True, "user")),
    "template": (("owner", False, "group"),),
}


def _namespace(entity: Mapping[str, Any]) -> str:
    meta = entity.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    return namespace if isinstance(namespace, str) and namespace else "default"


def entity_ref(entity: Any) -> Ref | None:
    """The reference of ``entity`` (None when it has no kind or name)."""
    if not isinstance(entity, Mapping) or not isinstance(entity.get("kind"), str):
        return None
    meta = entity.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return f"{entity['kind']}:{_namespace(entity)}/{name}".lower() if isinstance(name, str) else None


def _parse(text: str, default_kind: str | None, namespace: str) -> Ref | None:
    """A written reference (``[kind:][namespace/]name``) in full, or None when it lacks a kind it needs."""
    kind, colon, rest = text.partition(":")
    if not colon:
        kind, rest = default_kind or "", text
    space, slash, name = rest.partition("/")
    if not slash:
        space, name = namespace, rest
    if not kind or not space or not name:
        return None
    return f"{kind}:{space}/{name}".lower()


def references(entity: Any) -> list[tuple[str, str, Ref | None]]:
    """Every reference ``entity`` makes: (key path, as written, in full or None when it cannot be read)."""
    if not isinstance(entity, Mapping) or not isinstance(entity.get("spec"), Mapping):
        return []
    spec, namespace = entity["spec"], _namespace(entity)
    found = []
    for field, many, kind in _REFERENCES.get(str(entity.get("kind", "")).lower(), ()):
        value = spec.get(field)
        items = list(enumerate(value)) if many and isinstance(value, list) else \
            [(None, value)] if not many and value is not None else []
        for i, text in items:
            if isinstance(text, str):
                path = f"spec.{field}" + (f"[{i}]" if i is not None else "")
                found.append((path, text, _parse(text, kind, namespace)))
    return found


def unresolved(entities: Iterable[Any]) -> list[tuple[int, str, str]]:
    """The references of ``entities`` that name none of them: (index of the entity, key path, message)."""
    listed = list(entities)
    known = {ref for ref in map(entity_ref, listed) if ref is not None}
    out = []
    for i, entity in enumerate(listed):
        for path, text, ref in references(entity):
            if ref is None:
                out.append((i, path, f"{text!r} is not an entity reference the catalog can read (it needs a kind: "
                                     "kind:name)"))
            elif ref not in known:
                out.append((i, path, f"{text!r} names no entity of the catalog ({ref})"))
    return out
