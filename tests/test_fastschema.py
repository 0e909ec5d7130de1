"""The compiled schema check says "valid" only when jsonschema finds nothing."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_gen import yamlio
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
    {"type": "string", "pattern": "^a"},
    {"type": "object", "patternProperties": {"^a": {}}},
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
