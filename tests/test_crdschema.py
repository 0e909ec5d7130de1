"""Tests for platform_gen.crdschema: OpenAPI -> JSON Schema, validation messages, defaults."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest

from platform_gen import crdschema
from platform_gen.crdschema import (
    DRAFT7,
    argocd_schema,
    crd_schemas,
    crossplane_kinds,
    crossplane_schema,
    fill_defaults,
    located_problems,
    resource_schema,
    to_json_schema,
    validate,
    xrd_parameter_schema,
)
from platform_gen.errors import Problem
from platform_gen.yamlio import load_located, safe_load_all

VENDOR = Path(crdschema.__file__).parent / "vendor"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "crds"  # beside the repo, as in CI

# The PostgreSQLInstance parameters, written as in an XRD (OpenAPI flavour).
PARAMS = {
    "type": "object",
    "required": ["storageGB"],
    "properties": {
        "storageGB": {"type": "integer", "minimum": 10, "maximum": 1000},
        "version": {"type": "string", "enum": ["14", "15", "16", "17"], "default": "16"},
        "tier": {"type": "string", "enum": ["small", "medium", "large"], "default": "small"},
    },
}


def check(instance, openapi=PARAMS):
    return validate(instance, to_json_schema(openapi))


# --- to_json_schema ---------------------------------------------------------------------


def test_strict_closes_nested_objects_with_properties():
    openapi = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object"},
        },
    }
    out = to_json_schema(openapi)
    assert out["$schema"] == DRAFT7
    assert out["additionalProperties"] is False
    assert out["properties"]["spec"]["additionalProperties"] is False
    # a map keeps its value schema; an object without properties stays open
    assert out["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in out["properties"]["free"]


def test_not_strict_leaves_objects_open():
    out = to_json_schema(PARAMS, strict=False)
    assert "additionalProperties" not in out
    assert validate({"storageGB": 10, "extra": 1}, out) == []


def test_preserve_unknown_fields_keeps_object_open_and_is_dropped():
    openapi = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"a": {"type": "string"}},
    }
    out = to_json_schema(openapi)
    assert "additionalProperties" not in out
    assert not any(k.startswith("x-kubernetes") for k in out)
    assert validate({"a": "x", "b": 1}, out) == []
    assert validate({"a": 1}, out) == [(("a",), "1 is not of type 'string'")]


def test_int_or_string():
    openapi = {
        "type": "object",
        "properties": {
            "port": {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
        },
    }
    out = to_json_schema(openapi)
    assert out["properties"]["port"] == {"type": ["integer", "string"]}
    assert check({"port": 8080}, openapi) == []
    assert check({"port": "http"}, openapi) == []
    assert check({"port": 1.5}, openapi) == [(("port",), "1.5 is not of type 'integer', 'string'")]


def test_nullable_admits_null_also_in_enum():
    openapi = {
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["a", "b"], "nullable": True},
            "name": {"type": "string"},
        },
    }
    out = to_json_schema(openapi)
    assert out["properties"]["mode"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert check({"mode": None}, openapi) == []
    assert check({"name": None}, openapi) == [(("name",), "null is not of type 'string'")]


def test_embedded_resource_requires_apiversion_and_kind():
    openapi = {
        "type": "object",
        "properties": {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object"}},
            }
        },
    }
    ok = {"template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}}
    assert check(ok, openapi) == []
    assert check({"template": {"spec": {}, "data": 1}}, openapi) == [
        (("template",), "'apiVersion' is a required property"),
        (("template",), "'kind' is a required property"),
        (("template", "data"), "unknown field 'data'"),
    ]


def test_other_extensions_dropped_and_exclusive_bounds_converted():
    openapi = {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.a > 0", "message": "positive"}],
        "properties": {
            "a": {"type": "integer", "maximum": 10, "exclusiveMaximum": True},
            "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "nullable": {"type": "string"},
        },
    }
    out = to_json_schema(openapi)
    assert "x-kubernetes-validations" not in out
    assert out["properties"]["a"] == {"type": "integer", "exclusiveMaximum": 10}
    assert out["properties"]["tags"]["uniqueItems"] is True
    assert out["properties"]["nullable"] == {"type": "string"}  # a property, not the keyword
    assert check({"a": 10, "tags": ["x", "x"]}, openapi) == [
        (("a",), "10 is greater than or equal to the maximum of 10"),
        (("tags",), "['x', 'x'] has non-unique elements"),
    ]


def test_conversion_does_not_modify_its_input():
    before = copy.deepcopy(PARAMS)
    to_json_schema(PARAMS)
    resource_schema(PARAMS)
    assert before == PARAMS


def test_resource_schema_admits_kubernetes_envelope():
    schema = resource_schema({"type": "object", "properties": {"spec": PARAMS}})
    obj = {
        "apiVersion": "platform.acme.io/v1alpha1",
        "kind": "X",
        "metadata": {"name": "db", "labels": {"a": "b"}, "annotations": {"c": "d"}},
        "spec": {"storageGB": 10},
    }
    assert validate(obj, schema) == []
    assert validate({"spec": {"storageGB": 10}, "stauts": {}}, schema) == [
        ((), "'apiVersion' is a required property"),
        ((), "'kind' is a required property"),
        (("stauts",), "unknown field 'stauts'"),
    ]


# --- validate: exact messages --------------------------------------------------------------


def test_validate_maximum_enum_unknown_field_sorted():
    assert check({"storageGB": 5000, "tier": "huge", "foo": 1}) == [
        (("foo",), "unknown field 'foo'"),
        (("storageGB",), "5000 is greater than the maximum of 1000"),
        (("tier",), "'huge' is not one of ['small', 'medium', 'large']"),
    ]


def test_validate_required_and_type():
    assert check({}) == [((), "'storageGB' is a required property")]
    assert check({"storageGB": "abc"}) == [(("storageGB",), "'abc' is not of type 'integer'")]
    assert check({"storageGB": 5}) == [(("storageGB",), "5 is less than the minimum of 10")]


def test_validate_spells_values_as_yaml():
    # version: 16 (unquoted) is an int; true/null are shown as written in YAML
    assert check({"storageGB": True, "version": 16}) == [
        (("storageGB",), "true is not of type 'integer'"),
        (("version",), "16 is not of type 'string'"),
        (("version",), "16 is not one of ['14', '15', '16', '17']"),
    ]
    assert check(None) == [((), "null is not of type 'object'")]


def test_validate_sorts_list_indexes_numerically_before_names():
    openapi = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": PARAMS},
            "a": {"type": "string"},
        },
    }
    many = [{"storageGB": 10}] * 10 + [{"storageGB": 1}, {"storageGB": 2, "x": 1}]
    assert check({"a": 1, "items": many}, openapi) == [
        (("a",), "1 is not of type 'string'"),
        (("items", 10, "storageGB"), "1 is less than the minimum of 10"),
        (("items", 11, "storageGB"), "2 is less than the minimum of 10"),
        (("items", 11, "x"), "unknown field 'x'"),
    ]


def test_validate_unknown_fields_respect_pattern_properties():
    schema = {
        "type": "object",
        "properties": {"a": {}},
        "patternProperties": {"^x-": {}},
        "additionalProperties": False,
    }
    assert validate({"a": 1, "x-ok": 1, "b": 1, "c": 1}, schema) == [
        (("b",), "unknown field 'b'"),
        (("c",), "unknown field 'c'"),
    ]


def test_validate_truncates_large_values():
    (error,) = check({"storageGB": {"k" * 80: 1}})
    assert error[1].endswith("... is not of type 'integer'")
    assert len(error[1]) < 100


def test_located_problems_point_at_keys_and_values():
    text = "spec:\n  parameters:\n    storageGB: 5000\n    sise: big\n"
    located, problems = load_located(text, "claims/db.yaml")
    assert problems == []
    assert located is not None
    params = located.data["spec"]["parameters"]
    errors = check(params)
    found = located_problems(located, errors, base=("spec", "parameters"))
    assert [str(p) for p in found] == [
        "claims/db.yaml:3:16: spec.parameters.storageGB: 5000 is greater than the maximum of 1000",
        "claims/db.yaml:4:5: spec.parameters.sise: unknown field 'sise'",
    ]
    missing = located_problems(located, check({}), base=("spec", "parameters"))
    assert missing == [
        Problem("claims/db.yaml", 2, 3, "spec.parameters", "'storageGB' is a required property")
    ]


# --- fill_defaults -----------------------------------------------------------------------


def test_fill_defaults_fills_absent_and_does_not_mutate():
    given = {"storageGB": 20}
    assert fill_defaults(given, PARAMS) == {"storageGB": 20, "version": "16", "tier": "small"}
    assert fill_defaults(given, to_json_schema(PARAMS)) == {
        "storageGB": 20,
        "version": "16",
        "tier": "small",
    }
    assert given == {"storageGB": 20}
    assert fill_defaults({"storageGB": 20, "tier": "large"}, PARAMS)["tier"] == "large"


def test_fill_defaults_nested_semantics():
    schema = {
        "type": "object",
        "properties": {
            "absent": {"type": "object", "properties": {"x": {"type": "integer", "default": 1}}},
            "parameters": {
                "type": "object",
                "default": {},
                "properties": {"x": {"type": "integer", "default": 2}},
            },
            "list": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"y": {"type": "string", "default": "d"}},
                },
            },
            "map": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"z": {"type": "boolean", "default": True}},
                },
            },
            "notNull": {"type": "string", "default": "n"},
            "mayBeNull": {"type": "string", "nullable": True, "default": "m"},
        },
    }
    given = {
        "list": [{}, {"y": "set"}],
        "map": {"a": {}, "b": {"z": False}},
        "notNull": None,
        "mayBeNull": None,
    }
    frozen = copy.deepcopy(given)
    out = fill_defaults(given, schema)
    assert out == {
        "list": [{"y": "d"}, {"y": "set"}],
        "map": {"a": {"z": True}, "b": {"z": False}},
        "notNull": "n",
        "mayBeNull": None,
        "parameters": {"x": 2},  # a default object gets its own defaults
    }
    assert "absent" not in out  # absent objects without a default are not created
    assert given == frozen
    out["list"][0]["y"] = "changed"
    assert given == frozen


def test_fill_defaults_copies_default_values():
    schema = {"type": "object", "properties": {"l": {"type": "array", "default": [1]}}}
    first = fill_defaults({}, schema)
    first["l"].append(2)
    assert fill_defaults({}, schema) == {"l": [1]}
    assert schema["properties"]["l"]["default"] == [1]


# --- CRDs, XRDs and the vendored schemas ----------------------------------------------------


def test_crd_schemas_one_entry_per_served_version():
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.org",
            "names": {"kind": "Thing"},
            "versions": [
                {"name": "v1", "served": True, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v0", "served": False, "schema": {"openAPIV3Schema": {}}},
            ],
        },
    }
    schemas = crd_schemas(crd)
    assert list(schemas) == [("example.org/v1", "Thing")]
    thing = schemas[("example.org/v1", "Thing")]
    assert validate({"apiVersion": "example.org/v1", "kind": "Thing"}, thing) == []
    assert validate({"kind": "Thing"}, thing) == [((), "'apiVersion' is a required property")]
    with pytest.raises(ValueError, match="not a CustomResourceDefinition"):
        crd_schemas({"kind": "ConfigMap"})


def test_crossplane_kinds_and_cache():
    assert crossplane_kinds() == [
        ("apiextensions.crossplane.io/v1", "CompositeResourceDefinition"),
        ("apiextensions.crossplane.io/v1", "Composition"),
        ("apiextensions.crossplane.io/v2", "CompositeResourceDefinition"),
        ("pkg.crossplane.io/v1", "Function"),
        ("pkg.crossplane.io/v1beta1", "Function"),
        ("pt.fn.crossplane.io/v1beta1", "Resources"),
    ]
    first = crossplane_schema("apiextensions.crossplane.io/v1", "Composition")
    assert crossplane_schema("apiextensions.crossplane.io/v1", "Composition") is first
    with pytest.raises(KeyError, match="no vendored Crossplane CRD for v1 ConfigMap"):
        crossplane_schema("v1", "ConfigMap")


def test_crossplane_composition_schema_is_strict():
    composition = {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition",
        "metadata": {"name": "x"},
        "spec": {
            "compositeTypeRef": {"apiVersion": "a.b/v1", "kind": "X", "kin": "typo"},
            "mode": "Resources",
            "pipeline": [{"step": "s", "functionRef": {"name": "f"}, "input": {"a": 1}}],
        },
    }
    schema = crossplane_schema("apiextensions.crossplane.io/v1", "Composition")
    assert validate(composition, schema) == [
        (("spec", "compositeTypeRef", "kin"), "unknown field 'kin'"),
        (("spec", "mode"), "'Resources' is not one of ['Pipeline']"),
        (("spec", "pipeline", 0, "input"), "'apiVersion' is a required property"),
        (("spec", "pipeline", 0, "input"), "'kind' is a required property"),
    ]


def test_xrd_parameter_schema_prefers_referenceable_version():
    def version(name, served, referenceable, params):
        spec = {"type": "object", "properties": {"parameters": params}} if params else {}
        return {
            "name": name,
            "served": served,
            "referenceable": referenceable,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}},
        }

    other = {"type": "object", "properties": {"old": {"type": "string"}}}
    xrd = {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "spec": {
            "versions": [version("v1", True, False, other), version("v2", True, True, PARAMS)]
        },
    }
    schema = xrd_parameter_schema(xrd)
    assert schema is not None
    assert sorted(schema["properties"]) == ["storageGB", "tier", "version"]
    assert schema["additionalProperties"] is False
    xrd["spec"]["versions"][1]["referenceable"] = False
    first = xrd_parameter_schema(xrd)
    assert first is not None
    assert list(first["properties"]) == ["old"]
    xrd["spec"]["versions"] = [version("v1", True, True, None)]
    assert xrd_parameter_schema(xrd) is None
    with pytest.raises(ValueError, match="not a Crossplane CompositeResourceDefinition"):
        xrd_parameter_schema({"apiVersion": "v1", "kind": "ConfigMap"})
    xrd["spec"]["versions"] = [version("v1", False, False, PARAMS)]
    with pytest.raises(ValueError, match="no referenceable or served version"):
        xrd_parameter_schema(xrd)


def test_argocd_schemas():
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "source": {"repoURL": "https://git.example.org/r.git", "path": "p"},
        },
    }
    schema = argocd_schema("Application")
    assert argocd_schema("Application") is schema
    assert validate(app, schema) == []
    app["spec"]["syncPolicy"] = {"automated": {"prune": "yes"}, "autmated": {}}
    assert validate(app, schema) == [
        (("spec", "syncPolicy", "autmated"), "unknown field 'autmated'"),
        (("spec", "syncPolicy", "automated", "prune"), "'yes' is not of type 'boolean'"),
    ]
    appset = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "web"},
        "spec": {"goTemplateOption": ["missingkey=error"], "generators": [], "template": {}},
    }
    assert validate(appset, argocd_schema("ApplicationSet")) == [
        (("spec", "goTemplateOption"), "unknown field 'goTemplateOption'"),
        (("spec", "template"), "'metadata' is a required property"),
        (("spec", "template"), "'spec' is a required property"),
    ]
    assert "spec" in argocd_schema("AppProject")["properties"]
    with pytest.raises(KeyError, match="no vendored Argo CD schema"):
        argocd_schema("../argocd/application")


# --- vendored files ------------------------------------------------------------------------


def test_vendored_files_have_notices_and_expected_hashes():
    notice = (VENDOR / "crossplane" / "NOTICE.md").read_text(encoding="utf-8")
    for needle in ("c2670a735103660d7f436585447f2071bc1de973", "v2.3.4", "v0.10.8", "Apache"):
        assert needle in notice
    argo_notice = (VENDOR / "argocd" / "NOTICE.md").read_text(encoding="utf-8")
    assert "MIT" in argo_notice and "Apache" in argo_notice
    for path in sorted((VENDOR / "argocd").glob("*.json")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in argo_notice, path.name
    crds = sorted(p.name for p in (VENDOR / "crossplane").glob("*.yaml"))
    assert len(crds) == 4
    for name in crds:
        assert name in notice
        docs = safe_load_all((VENDOR / "crossplane" / name).read_text(encoding="utf-8"))
        assert [d["kind"] for d in docs] == ["CustomResourceDefinition"]


def test_vendored_files_are_byte_identical_to_the_shared_snapshot():
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} is absent")
        pytest.skip(f"{SHARED} is absent")
    pairs = [
        (VENDOR / "crossplane" / p.name, p) for p in sorted((SHARED / "crossplane").glob("*.yaml"))
    ] + [
        (VENDOR / "argocd" / p.name, p)
        for p in sorted((SHARED / "argocd" / "jsonschema").glob("*.json"))
    ]
    assert len(pairs) == 7
    for ours, theirs in pairs:
        assert ours.read_bytes() == theirs.read_bytes(), ours.name
