"""The compiled schema check says "valid" only when jsonschema finds nothing."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_gen import schemas, yamlio
from platform_gen.consumers import KubeSchemas, _errors
from platform_gen.fastschema import compile_schema
from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO

KUBE = KubeSchemas("1.32")


@pytest.fixture(scope="module")
def built(kustomize: Kustomize) -> list[dict[str, Any]]:
    """Every object the example's prod-us overlays build: real kustomize output."""
    objs: list[dict[str, Any]] = []
    for overlay in sorted((REPO / "rendered/services").glob("*/overlays/prod/prod-us")):
        build = kustomize.build(overlay)
        assert build.ok, build.error
        objs += [o for o in yamlio.safe_load_all(build.output)
                 if KUBE.validator(str(o["apiVersion"]), str(o["kind"])) is not None]  # claims have XRD schemas
    assert {o["kind"] for o in objs} >= {"Deployment", "Service", "ServiceAccount"}
    return objs


def verdicts(obj: Any) -> tuple[bool, list[tuple[str, str]]]:
    validator = KUBE.validator(str(obj.get("apiVersion")), str(obj.get("kind")))
    assert validator is not None
    KUBE.errors(validator, obj)  # compiles the fast check
    fast = KUBE._fast[id(validator)]
    assert fast is not None, f"{obj['kind']}: the Kubernetes schema is not compiled"
    return fast(obj), _errors(validator, obj)


def test_valid_objects_take_the_fast_path(built: list[dict[str, Any]]) -> None:
    for obj in built:
        assert verdicts(obj) == (True, []), obj["kind"]


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([1.0, 1.5, -0.0])
                    | st.sampled_from(["", "x", "TCP", "Always", "1Gi", "apps/v1", "Deployment"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["name", "x", "port", "image", "replicas", "labels", "spec"]), inner,
                        max_size=3), max_leaves=8)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*path, i))
    return found


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_yes_means_no_finding(built: list[dict[str, Any]], data: st.DataObject) -> None:
    obj = copy.deepcopy(data.draw(st.sampled_from(built)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(obj)[1:]))
        parent = obj
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][data.draw(st.sampled_from(["extra", "name", "port", 1]))] = data.draw(JSON)
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            return
        if KUBE.validator(str(obj.get("apiVersion")), str(obj.get("kind"))) is None:
            return
    fast, errors = verdicts(obj)
    assert not (fast and errors), errors


@pytest.mark.parametrize(("instance", "valid"), [
    ("80", True), (80, True), (80.0, True), (None, False), (True, False), (1.5, False), ([], False)])
def test_int_or_string_matches_jsonschema(instance: Any, valid: bool) -> None:
    schema = {"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]}
    check = compile_schema(schema, lambda ref, base: ({}, base))
    assert check is not None
    assert (not list(jsonschema.Draft202012Validator(schema).iter_errors(instance))) is valid
    assert check(instance) is valid


@pytest.mark.parametrize("schema", [
    {"type": "string", "const": "a"},
    {"type": "string", "pattern": 3},
    {"type": "object", "patternProperties": ["^a"]},
    {"type": "object", "dependencies": {"a": ["b"]}},
    {"type": "integer", "minimum": "1"},
    {"type": "array", "uniqueItems": "yes"},
    {"items": [{"type": "string"}]},
    {"oneOf": [{"type": "string", "enum": ["a"]}, {"type": "string"}]},
    {"$ref": "#/nowhere"},
    {"properties": {"a": {"$id": "other", "type": "string"}}},
    {"type": "strings"},
])
def test_what_is_not_compiled_goes_to_jsonschema(schema: dict[str, Any]) -> None:
    def resolve(ref: str, base: str) -> tuple[dict[str, Any], str]:
        raise LookupError(ref)

    assert compile_schema(schema, resolve) is None


@pytest.mark.parametrize("sub", [
    {"type": "string", "const": "a"},
    {"$ref": "#/nowhere"},
    {"type": "strings"},
])
def test_a_property_whose_schema_is_not_compiled_defers_the_instances_that_have_it(sub: dict[str, Any]) -> None:
    """A property's schema is compiled when an instance first has the property: one that cannot be is
    jsonschema's to decide, for the instances that have it; the others are still checked here."""
    def resolve(ref: str, base: str) -> tuple[dict[str, Any], str]:
        raise LookupError(ref)

    check = compile_schema({"type": "object", "properties": {"a": sub, "b": {"type": "integer"}}}, resolve)
    assert check is not None
    assert check({"b": 1}) and not check({"b": "1"})
    assert not check({"a": "a", "b": 1})
    assert not check({"a": "a"})  # (again, once compiled)
    assert check({"b": 2})


def test_a_schema_that_failed_to_compile_defers_wherever_it_is_used_again() -> None:
    """Two properties (and a cycle) refer to one schema that cannot be compiled: each defers, none breaks."""
    defs = {"bad": {"type": "object", "properties": {"again": {"$ref": "#/bad"}}, "const": 1},
            "ok": {"type": "object", "properties": {"bad": {"$ref": "#/bad"}}}}
    check = compile_schema({"properties": {"a": {"$ref": "#/bad"}, "b": {"$ref": "#/bad"}, "c": {"$ref": "#/ok"}}},
                           lambda ref, base: (defs[ref.rsplit("/", 1)[1]], ""))
    assert check is not None
    assert not check({"a": {}}) and not check({"b": {}}) and not check({"c": {"bad": {}}})
    assert check({"c": {}})


def test_a_schema_that_changes_how_references_resolve_is_not_compiled() -> None:
    """A ``$ref`` may point into a schema below an ``$id``, where jsonschema resolves references against that
    ``$id``: such a document is not compiled, though the ``$id`` is below a property compiled on use."""
    schema = {"$defs": {"x": {"type": "string"}},
              "properties": {"a": {"$id": "https://example.com/other", "$defs": {"x": {"type": "integer"}},
                                   "properties": {"b": {"$ref": "#/$defs/x"}}},
                             "c": {"$ref": "#/properties/a/properties/b"}}}

    def pointer(ref: str, base: str) -> tuple[Any, str]:
        node: Any = schema
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node, base

    assert not jsonschema.Draft202012Validator(schema).is_valid({"c": "s"})
    assert compile_schema(schema, pointer) is None
    # a property named like the keyword, or a default that holds one, changes nothing
    named = compile_schema({"properties": {"$id": {"type": "string"}, "d": {"default": {"$id": "x"}}}}, pointer)
    assert named is not None and named({"$id": "s"}) and not named({"$id": 1})


def test_a_property_schema_that_fails_to_compile_on_use_defers_every_time() -> None:
    """A pattern Python cannot compile, below a property: the instances that have it are jsonschema's to judge,
    every time (the compiler's memo once kept an empty slot, and the second use raised IndexError)."""
    def resolve(ref: str, base: str) -> tuple[dict[str, Any], str]:
        raise LookupError(ref)

    shared = {"type": "string", "pattern": "[a-z"}
    check = compile_schema({"properties": {"a": shared, "b": {"type": "integer"}, "c": {"items": shared}}}, resolve)
    assert check is not None and check({"b": 1})
    assert not check({"a": "x"}) and not check({"a": "x"}) and not check({"c": ["x"]})


def test_a_property_schema_is_compiled_once_on_first_use() -> None:
    compiled: list[str] = []
    defs = {"x": {"type": "string"}, "y": {"type": "integer"}}

    def resolve(ref: str, base: str) -> tuple[dict[str, Any], str]:
        compiled.append(ref)
        return defs[ref.rsplit("/", 1)[1]], ""

    check = compile_schema({"properties": {"a": {"$ref": "#/x"}, "b": {"$ref": "#/y"}}}, resolve)
    assert check is not None and compiled == []
    assert check({"a": "s"}) and check({"a": "t"}) and not check({"a": 1})
    assert compiled == ["#/x"]
    assert not check({"b": "s"}) and compiled == ["#/x", "#/y"]


def test_recursive_references_compile() -> None:
    defs = {"node": {"type": "object", "additionalProperties": False,
                     "properties": {"next": {"$ref": "#/$defs/node"}, "v": {"type": "integer"}}}}
    check = compile_schema({"$ref": "#/$defs/node"}, lambda ref, base: (defs[ref.rsplit("/", 1)[1]], "d"))
    assert check is not None
    assert check({"v": 1, "next": {"v": 2, "next": {}}})
    assert not check({"v": 1, "next": {"v": "2"}})
    assert not check({"next": {"w": 1}})


@pytest.mark.parametrize(("api", "kind"), [("v1", "apps/v1"), ("apps/v1", "../x"), ("a/b/c", "Deployment")])
def test_a_kind_no_schema_file_could_be_named_after_has_no_validator(api: str, kind: str) -> None:
    # a kind or apiVersion shaped like a path used to crash the lookup of its schema file
    assert KUBE.validator(api, kind) is None


# --- platform-gen's own input schemas: a valid input is checked without loading jsonschema -------------

INPUT_SCHEMAS = {"platform": schemas.PLATFORM, "environment": schemas.ENVIRONMENT, "service": schemas.SERVICE}


def _inputs() -> list[tuple[str, Any]]:
    """Every input document of the example platform and of the golden cases, with its schema's name."""
    found: list[tuple[str, Any]] = []
    for root in [REPO, *sorted((REPO / "tests/cases").glob("*/input"))]:
        found += [("platform", yamlio.safe_load((root / "platform-config/platform.yaml").read_text()))]
        found += [("environment", yamlio.safe_load(p.read_text())) for p in sorted(root.glob("environments/*.yaml"))]
        found += [("service", yamlio.safe_load(p.read_text()))
                  for p in sorted(root.glob("platform-config/services/*/config.yaml"))]
    return found


def _input_verdicts(kind: str, doc: Any) -> tuple[bool, list[str]]:
    fast = schemas._fast(INPUT_SCHEMAS[kind])
    assert fast is not None, f"the {kind} schema is not compiled"
    return fast(doc), [e.message for e in jsonschema.Draft202012Validator(INPUT_SCHEMAS[kind]).iter_errors(doc)]


def test_valid_inputs_take_the_fast_path() -> None:
    docs = _inputs()
    assert {k for k, _d in docs} == set(INPUT_SCHEMAS) and len(docs) > 20
    for kind, doc in docs:
        assert _input_verdicts(kind, doc) == (True, []), (kind, doc)


INPUT_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 70000) | st.sampled_from([0.5, 1.0, -1.0, float("nan")])
    | st.sampled_from(["", "x", "X", " x", "a-b", "a_b", "-a", "/", "/x", "1.10", "100m", "2Gi", "web-service",
                       "https://x.io", "@acme/team", "a@b.io", "x\n", "dev", "prod", "identity", "a" * 70]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "x", "port", "image", "tag", "replicas", "env", "team", "order", "clusters",
                         "minReplicas", "maxReplicas", "cpu", "memory", "LOG_LEVEL", "Bad Key", "1"]), inner,
        max_size=3), max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_fast_yes_means_no_finding_for_inputs(data: st.DataObject) -> None:
    kind, doc = data.draw(st.sampled_from(_INPUT_DOCS))
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)[1:]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = data.draw(INPUT_JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][data.draw(st.sampled_from(["extra", "name", "port", "Bad Key", 1]))] = \
                data.draw(INPUT_JSON)
    fast, errors = _input_verdicts(kind, doc)
    assert not (fast and errors), errors


_INPUT_DOCS = _inputs()


@settings(max_examples=300, deadline=None)
@given(schema=st.sampled_from([
    {"minLength": 2}, {"maxLength": 2}, {"minItems": 1}, {"maxItems": 1}, {"minProperties": 1},
    {"maxProperties": 1}, {"minimum": 1}, {"maximum": 1.5}, {"exclusiveMinimum": 0}, {"exclusiveMaximum": 0},
    {"pattern": "^a"}, {"pattern": "b\\Z"}, {"uniqueItems": True}, {"uniqueItems": False},
    {"patternProperties": {"^a": {"type": "integer"}}},
    {"patternProperties": {"^a": {"type": "integer"}, "1": {"type": "null"}}, "additionalProperties": False},
    {"properties": {"aB": {"type": "string"}}, "patternProperties": {"^a": {"type": "integer"}},
     "additionalProperties": {"type": "boolean"}},
    {"propertyNames": {"pattern": "^[a-z]+\\Z"}}, {"propertyNames": {"maxLength": 1}}]),
    instance=st.recursive(st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from([0.0, 1.0, 1.5, -0.5])
                          | st.text("ab\n", max_size=3),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("aB1", max_size=2),
                                                                                         inner, max_size=3),
                          max_leaves=6))
def test_each_input_keyword_decides_as_jsonschema_or_defers(schema: dict[str, Any], instance: Any) -> None:
    check = compile_schema(schema, lambda ref, base: ({}, base))
    assert check is not None
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(instance))
    if check(instance):
        assert errors == []
    elif not errors:  # a "no" that jsonschema does not share: only where equality is jsonschema's to tell
        assert "uniqueItems" in schema
