"""Tests for platform-config/crossplane: schema validity, cross-references and policies.

Every object is validated against the vendored Crossplane CRDs (strict: unknown fields
fail), every function-patch-and-transform input against its Resources CRD; the
Compositions are then rendered for sample composites with a small evaluator of the
patch-and-transform subset they use, to check what they enforce.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from platform_gen.crdschema import (
    crossplane_kinds,
    crossplane_schema,
    fill_defaults,
    to_json_schema,
    validate,
    xrd_parameter_schema,
)
from platform_gen.errors import format_path
from platform_gen.yamlio import safe_load_all

ROOT = Path(__file__).resolve().parents[1]
CROSSPLANE = ROOT / "platform-config" / "crossplane"
EXAMPLES = ROOT / "tests" / "data" / "crossplane-examples" / "upbound-configuration-aws-database"

GROUP = "platform.acme.io"
PT_INPUT = ("pt.fn.crossplane.io/v1beta1", "Resources")
PT_VERSION = "v0.10.8"  # the release whose input CRD is vendored
LABELS = ("platform-gen.io/team", "platform-gen.io/service", "platform-gen.io/environment")
XRD = "CompositeResourceDefinition"


# --- the checker ----------------------------------------------------------------------------


def load_tree(root: Path) -> list[tuple[str, int, dict[str, Any]]]:
    """(relative file, document index, document) for every YAML document, sorted."""
    out = []
    for path in sorted(root.rglob("*.yaml")):
        for i, doc in enumerate(safe_load_all(path.read_text(encoding="utf-8"))):
            out.append((path.relative_to(root).as_posix(), i, doc))
    return out


def xrd_key(xrd: dict[str, Any]) -> tuple[str, str]:
    """The (apiVersion, kind) that a Composition's compositeTypeRef names for this XRD."""
    spec = xrd["spec"]
    versions = spec["versions"]
    version = next((v for v in versions if v.get("referenceable")), versions[0])
    return f"{spec['group']}/{version['name']}", spec["names"]["kind"]


def patches_of(pt_input: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, patch) for every patch of a patch-and-transform input."""
    out = []
    for ps in pt_input.get("patchSets") or []:
        out += [(f"patchSet {ps.get('name')}", p) for p in ps.get("patches") or []]
    for res in pt_input.get("resources") or []:
        out += [(f"resource {res.get('name')}", p) for p in res.get("patches") or []]
    return out


def source_paths(patch: dict[str, Any]) -> list[str]:
    """The composite field paths a patch reads."""
    if patch.get("type", "FromCompositeFieldPath") == "FromCompositeFieldPath":
        return [patch["fromFieldPath"]]
    if patch["type"] == "CombineFromComposite":
        return [v["fromFieldPath"] for v in patch["combine"]["variables"]]
    return []


def status_fields(xrd: dict[str, Any]) -> set[str]:
    """The top-level status fields the XRD's referenceable version declares."""
    versions = xrd["spec"]["versions"]
    version = next((v for v in versions if v.get("referenceable")), versions[0])
    props = version["schema"]["openAPIV3Schema"].get("properties") or {}
    return set((props.get("status") or {}).get("properties") or {})


def check_tree(root: Path) -> list[str]:
    """Everything wrong with a platform-config/crossplane tree, as sorted messages."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.yaml")):
        if not path.read_text(encoding="utf-8").startswith("#"):
            problems.append(f"{path.relative_to(root).as_posix()}: no comment header")
    docs = load_tree(root)
    xrds: dict[tuple[str, str], dict[str, Any]] = {}
    functions: set[str] = set()
    compositions: list[tuple[str, dict[str, Any]]] = []
    for file, i, doc in docs:
        where = f"{file}[{i}]"
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key not in crossplane_kinds():
            problems.append(f"{where}: unexpected {key[0]} {key[1]}")
            continue
        for path, message in validate(doc, crossplane_schema(*key)):
            problems.append(f"{where}: {format_path(path) or '(root)'}: {message}")
        if doc["kind"] == XRD:
            xrds[xrd_key(doc)] = doc
            problems += [f"{where}: {m}" for m in check_xrd(doc)]
        elif doc["kind"] == "Function":
            functions.add(doc["metadata"]["name"])
        elif doc["kind"] == "Composition":
            compositions.append((where, doc))

    composed: dict[tuple[str, str], list[str]] = {}
    for where, comp in compositions:
        ref = comp["spec"]["compositeTypeRef"]
        key = (ref["apiVersion"], ref["kind"])
        xrd = xrds.get(key)
        if xrd is None:
            problems.append(f"{where}: compositeTypeRef {key[0]} {key[1]} matches no XRD")
            continue
        composed.setdefault(key, []).append(comp["metadata"]["name"])
        problems += [f"{where}: {m}" for m in check_composition(comp, xrd, functions)]
    for key, xrd in sorted(xrds.items()):
        names = composed.get(key, [])
        default = (xrd["spec"].get("defaultCompositionRef") or {}).get("name")
        if len(names) != 1 or default not in names:
            problems.append(
                f"XRD {xrd['metadata']['name']}: compositions {names}, default {default!r}"
            )
    return sorted(problems)


def check_xrd(xrd: dict[str, Any]) -> list[str]:
    """Rules of the platform API, and the CRDs' CEL rules that the schema cannot check."""
    spec = fill_defaults(xrd, crossplane_schema(xrd["apiVersion"], XRD))["spec"]
    out = []
    if spec["group"] != GROUP:
        out.append(f"group {spec['group']!r} is not {GROUP!r}")
    if xrd["metadata"]["name"] != f"{spec['names']['plural']}.{spec['group']}":
        out.append("metadata.name is not <names.plural>.<group>")
    legacy = spec.get("scope") == "LegacyCluster"
    for field in ("claimNames", "connectionSecretKeys"):
        if field in spec and not legacy:
            out.append(f"{field} needs scope LegacyCluster (apiextensions.crossplane.io/v1)")
    if xrd_parameter_schema(xrd) is None:
        out.append("no spec.parameters")
    return out


def check_composition(
    comp: dict[str, Any], xrd: dict[str, Any], functions: set[str]
) -> list[str]:
    """Cross-references between a Composition, its XRD and the Functions."""
    out = []
    params = (xrd_parameter_schema(xrd) or {}).get("properties") or {}
    secret_keys = set(xrd["spec"].get("connectionSecretKeys") or [])
    status = status_fields(xrd)
    legacy = xrd["apiVersion"].endswith("/v1")
    if not legacy and "writeConnectionSecretsToNamespace" in comp["spec"]:
        out.append("writeConnectionSecretsToNamespace is for LegacyCluster composites only")
    for n, step in enumerate(comp["spec"]["pipeline"]):
        name = step["functionRef"]["name"]
        if name not in functions:
            out.append(f"step {step['step']}: function {name!r} is not in functions.yaml")
        pt_input = step.get("input")
        if pt_input is None:
            continue
        key = (pt_input.get("apiVersion"), pt_input.get("kind"))
        if key != PT_INPUT:
            out.append(f"step {step['step']}: input {key} is not {PT_INPUT}")
            continue
        for path, message in validate(pt_input, crossplane_schema(*PT_INPUT)):
            out.append(f"spec.pipeline[{n}].input.{format_path(path)}: {message}")
        written = {
            p["toFieldPath"] for _, p in patches_of(pt_input) if p.get("type") == "ToCompositeFieldPath"
        }
        for where, patch in patches_of(pt_input):
            if patch.get("type") == "ToCompositeFieldPath":
                # The API server drops status fields the XRD does not declare.
                target = patch["toFieldPath"].split(".")
                if target[0] != "status" or len(target) < 2 or target[1] not in status:
                    out.append(f"{where}: {patch['toFieldPath']} is not in the XRD's status schema")
            for src in source_paths(patch):
                if src.startswith("spec.parameters."):
                    if src.split(".")[2] not in params:
                        out.append(f"{where}: {src} is not a parameter of the XRD")
                elif src.startswith("metadata.labels["):
                    if src[len("metadata.labels[") : -1] not in LABELS:
                        out.append(f"{where}: {src} is not a platform-gen label")
                elif src.startswith("status."):
                    if src not in written:
                        out.append(f"{where}: {src} is written by no ToCompositeFieldPath patch")
                elif src not in ("metadata.uid", "metadata.name"):
                    out.append(f"{where}: unexpected source {src}")
        for res in pt_input.get("resources") or []:
            for detail in res.get("connectionDetails") or []:
                if detail.get("name") not in secret_keys:
                    out.append(f"resource {res.get('name')}: connection detail "
                               f"{detail.get('name')!r} is not in the XRD's connectionSecretKeys")
    return out


def test_platform_crossplane_tree_is_valid():
    assert load_tree(CROSSPLANE), "no manifests found"
    assert check_tree(CROSSPLANE) == []


def test_checker_reports_broken_manifests(tmp_path):
    tree = tmp_path / "crossplane"
    shutil.copytree(CROSSPLANE, tree)

    def edit(rel: str, old: str, new: str) -> None:
        path = tree / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    edit("postgresqlinstance/composition.yaml", "spec.parameters.tier", "spec.parameters.tir")
    edit("postgresqlinstance/composition.yaml", "      - name: instance", "      - nme: instance")
    edit("messagequeue/composition.yaml", "kind: XMessageQueue", "kind: XMessageQueues")
    edit("objectbucket/composition.yaml", "name: function-auto-ready", "name: function-ready")
    edit("objectbucket/definition.yaml", "scope: Namespaced", "scope: Namespaced\n  claimNames:\n"
         "    kind: Bucket\n    plural: buckets")
    edit("objectbucket/composition.yaml", "toFieldPath: status.bucketArn", "toFieldPath: status.arn")
    edit("functions.yaml", "# Crossplane Functions", "---\n# Crossplane Functions")
    assert check_tree(tree) == [
        "XRD xmessagequeues.platform.acme.io: compositions [], default "
        "'xmessagequeues.aws.platform.acme.io'",
        "functions.yaml: no comment header",
        "messagequeue/composition.yaml[0]: compositeTypeRef platform.acme.io/v1alpha1 "
        "XMessageQueues matches no XRD",
        "objectbucket/composition.yaml[0]: resource bucket: status.arn is not in the XRD's "
        "status schema",
        "objectbucket/composition.yaml[0]: resource credentials: status.bucketArn is written "
        "by no ToCompositeFieldPath patch",
        "objectbucket/composition.yaml[0]: step auto-ready: function 'function-ready' "
        "is not in functions.yaml",
        "objectbucket/definition.yaml[0]: claimNames needs scope LegacyCluster "
        "(apiextensions.crossplane.io/v1)",
        "postgresqlinstance/composition.yaml[0]: resource None: "
        "spec.parameters.tir is not a parameter of the XRD",
        "postgresqlinstance/composition.yaml[0]: spec.pipeline[0].input.resources[0].nme: "
        "unknown field 'nme'",
        "postgresqlinstance/composition.yaml[0]: spec.pipeline[0].input.resources[0]: "
        "'name' is a required property",
    ]


def test_functions_are_pinned():
    functions = [d for _, _, d in load_tree(CROSSPLANE) if d["kind"] == "Function"]
    packages = {f["metadata"]["name"]: f["spec"]["package"] for f in functions}
    assert sorted(packages) == ["function-auto-ready", "function-patch-and-transform"]
    for name, package in packages.items():
        assert re.fullmatch(rf"xpkg\.crossplane\.io/crossplane-contrib/{name}:v\d+\.\d+\.\d+",
                            package), package
    assert packages["function-patch-and-transform"].endswith(f":{PT_VERSION}")


def test_api_styles():
    xrds = {d["spec"]["names"]["kind"]: d for _, _, d in load_tree(CROSSPLANE) if d["kind"] == XRD}
    assert sorted(xrds) == ["ObjectBucket", "XMessageQueue", "XPostgreSQLInstance"]
    assert xrds["XPostgreSQLInstance"]["apiVersion"] == "apiextensions.crossplane.io/v1"
    assert xrds["XPostgreSQLInstance"]["spec"]["claimNames"] == {
        "kind": "PostgreSQLInstance",
        "plural": "postgresqlinstances",
    }
    assert xrds["XPostgreSQLInstance"]["spec"]["connectionSecretKeys"] == [
        "username", "password", "endpoint", "port",
    ]
    assert xrds["XMessageQueue"]["spec"]["claimNames"]["kind"] == "MessageQueue"
    assert xrds["ObjectBucket"]["apiVersion"] == "apiextensions.crossplane.io/v2"
    assert xrds["ObjectBucket"]["spec"]["scope"] == "Namespaced"
    assert "claimNames" not in xrds["ObjectBucket"]["spec"]


# --- parameters ------------------------------------------------------------------------------


def xrd_named(kind: str) -> dict[str, Any]:
    return next(
        d for _, _, d in load_tree(CROSSPLANE)
        if d["kind"] == XRD and d["spec"]["names"]["kind"] == kind
    )


def spec_schema(kind: str) -> dict[str, Any]:
    version = xrd_named(kind)["spec"]["versions"][0]
    return to_json_schema(version["schema"]["openAPIV3Schema"]["properties"]["spec"])


def test_postgresql_parameters():
    schema = xrd_parameter_schema(xrd_named("XPostgreSQLInstance"))
    assert schema is not None
    assert validate({"storageGB": 5000, "tier": "huge", "size": 1}, schema) == [
        (("size",), "unknown field 'size'"),
        (("storageGB",), "5000 is greater than the maximum of 1000"),
        (("tier",), "'huge' is not one of ['small', 'medium', 'large']"),
    ]
    assert validate({"version": "13"}, schema) == [
        ((), "'storageGB' is a required property"),
        (("version",), "'13' is not one of ['14', '15', '16', '17']"),
    ]
    assert validate({"storageGB": 9}, schema) == [
        (("storageGB",), "9 is less than the minimum of 10"),
    ]
    assert fill_defaults({"storageGB": 20}, schema) == {
        "storageGB": 20, "version": "16", "tier": "small",
    }
    assert validate({}, spec_schema("XPostgreSQLInstance")) == [
        ((), "'parameters' is a required property"),
    ]


def test_bucket_and_queue_parameters_default_when_omitted():
    assert fill_defaults({}, spec_schema("ObjectBucket")) == {
        "parameters": {"versioning": True, "retentionDays": 30},
    }
    assert fill_defaults({}, spec_schema("XMessageQueue")) == {
        "parameters": {"fifo": False, "retentionHours": 96, "maxMessageSizeKB": 256},
    }
    bucket = xrd_parameter_schema(xrd_named("ObjectBucket"))
    queue = xrd_parameter_schema(xrd_named("XMessageQueue"))
    assert bucket is not None and queue is not None
    assert validate({"retentionDays": 0, "versioning": "yes", "public": True}, bucket) == [
        (("public",), "unknown field 'public'"),
        (("retentionDays",), "0 is less than the minimum of 1"),
        (("versioning",), "'yes' is not of type 'boolean'"),
    ]
    assert validate({"retentionHours": 337, "maxMessageSizeKB": 257, "fifo": 1}, queue) == [
        (("fifo",), "1 is not of type 'boolean'"),
        (("maxMessageSizeKB",), "257 is greater than the maximum of 256"),
        (("retentionHours",), "337 is greater than the maximum of 336"),
    ]


# --- rendering: what the Compositions enforce ----------------------------------------------


class RenderError(Exception):
    """A patch failed the way function-patch-and-transform would fail it."""


def split_path(path: str) -> list[str | int]:
    out: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[([^\]]+)\]", path):
        if name:
            out.append(name)
        else:
            out.append(int(index) if index.isdigit() else index)
    return out


def get_path(obj: Any, path: str) -> Any:
    for part in split_path(path):
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            raise LookupError(path) from None
    return obj


def set_path(obj: Any, path: str, value: Any) -> None:
    parts = split_path(path)
    for part in parts[:-1]:  # list items must exist; only mappings are created
        obj = obj[part] if isinstance(part, int) else obj.setdefault(part, {})
    obj[parts[-1]] = value


def transform(value: Any, spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "map":
        if not isinstance(value, str) or value not in spec["map"]:
            raise RenderError(f"map: no key {value!r}")
        return spec["map"][value]
    if kind == "math":
        assert spec["math"]["type"] == "Multiply"
        return value * spec["math"]["multiply"]
    if kind == "convert":
        assert spec["convert"]["toType"] == "string"
        return str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "string":
        assert spec["string"]["type"] == "Format"
        return spec["string"]["fmt"].replace("%s", str(value))
    raise AssertionError(f"transform {kind} not supported by this evaluator")


def patch_value(source: Any, patch: dict[str, Any]) -> Any:
    """The value a field-path patch writes; LookupError if its source field is absent."""
    value = get_path(source, patch["fromFieldPath"])
    for spec in patch.get("transforms") or []:
        value = transform(value, spec)
    return value


def reconcile(
    comp: dict[str, Any],
    xr: dict[str, Any],
    observed: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, str]]:
    """One function-patch-and-transform pass, for the patch types these Compositions use.

    Returns the desired composed resources by name; the XR status patched from the
    ``observed`` composed resources (ToCompositeFieldPath); and, by name, the resources
    a Required FromCompositeFieldPath patch held back, which the function leaves out of
    the desired state (with a warning) until the XR has the field.
    """
    (step,) = [s for s in comp["spec"]["pipeline"] if "input" in s]
    pt_input = step["input"]
    sets = {ps["name"]: ps["patches"] for ps in pt_input.get("patchSets") or []}
    observed = observed or {}
    desired: dict[str, dict[str, Any]] = {}
    desired_xr: dict[str, Any] = {"status": {}}
    held: dict[str, str] = {}
    for res in pt_input["resources"]:
        obj = copy.deepcopy(res["base"])
        patches = []
        for patch in res.get("patches") or []:
            patches += sets[patch["patchSetName"]] if patch["type"] == "PatchSet" else [patch]
        for patch in patches:
            if patch["type"] != "ToCompositeFieldPath" or res["name"] not in observed:
                continue
            try:
                set_path(desired_xr, patch["toFieldPath"], patch_value(observed[res["name"]], patch))
            except LookupError:
                continue
        for patch in patches:
            if patch["type"] == "ToCompositeFieldPath":
                continue
            assert patch["type"] == "FromCompositeFieldPath"
            try:
                set_path(obj, patch["toFieldPath"], patch_value(xr, patch))
            except LookupError:
                if (patch.get("policy") or {}).get("fromFieldPath") == "Required":
                    held[res["name"]] = f"required {patch['fromFieldPath']} is missing"
                    break
        else:
            desired[res["name"]] = obj
    return desired, desired_xr["status"], held


def render(comp: dict[str, Any], xr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Composed resources by name; RenderError if a Required patch holds any back."""
    desired, _, held = reconcile(comp, xr)
    if held:
        name = sorted(held)[0]
        raise RenderError(held[name])
    return desired


def composition_for(kind: str) -> dict[str, Any]:
    return next(
        d for _, _, d in load_tree(CROSSPLANE)
        if d["kind"] == "Composition" and d["spec"]["compositeTypeRef"]["kind"] == kind
    )


def composite(kind: str, env: str, parameters: dict[str, Any]) -> dict[str, Any]:
    schema = xrd_parameter_schema(xrd_named(kind))
    assert schema is not None
    assert validate(parameters, schema) == []
    return {
        "metadata": {
            "name": "ledger-db-x7k2p",
            "uid": "0b5c4d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
            "labels": {
                "platform-gen.io/team": "payments",
                "platform-gen.io/service": "ledger",
                "platform-gen.io/environment": env,
            },
        },
        "spec": {"parameters": fill_defaults(parameters, schema)},
    }


TAGS = {"managed-by": "crossplane", "team": "payments", "service": "ledger"}


@pytest.mark.parametrize(
    ("env", "multi_az", "protected", "backups", "skip_snapshot"),
    [
        ("dev", False, False, 7, True),
        ("staging", False, False, 7, True),
        ("prod", True, True, 30, False),
    ],
)
def test_postgresql_environment_policy(env, multi_az, protected, backups, skip_snapshot):
    comp = composition_for("XPostgreSQLInstance")
    xr = composite("XPostgreSQLInstance", env, {"storageGB": 100})
    instance = render(comp, xr)["instance"]
    assert instance["apiVersion"] == "rds.aws.upbound.io/v1beta3"
    fp = instance["spec"]["forProvider"]
    assert fp["engine"] == "postgres"
    assert fp["engineVersion"] == "16"
    assert fp["allocatedStorage"] == 100
    assert fp["instanceClass"] == "db.t3.small"
    assert fp["storageEncrypted"] is True
    assert fp["publiclyAccessible"] is False
    assert fp["multiAz"] is multi_az
    assert fp["deletionProtection"] is protected
    assert fp["backupRetentionPeriod"] == backups
    assert fp["skipFinalSnapshot"] is skip_snapshot
    assert fp["dbSubnetGroupName"] == f"acme-{env}-databases"
    assert fp["tags"] == {**TAGS, "environment": env}
    uid = xr["metadata"]["uid"]
    assert fp["passwordSecretRef"] == {
        "namespace": "crossplane-system", "key": "password", "name": f"{uid}-postgresql-master",
    }
    assert instance["spec"]["writeConnectionSecretToRef"] == {
        "namespace": "crossplane-system", "name": f"{uid}-postgresql",
    }


@pytest.mark.parametrize(
    ("tier", "instance_class"),
    [("small", "db.t3.small"), ("medium", "db.m6g.large"), ("large", "db.r6g.xlarge")],
)
def test_postgresql_tier_and_version(tier, instance_class):
    comp = composition_for("XPostgreSQLInstance")
    xr = composite("XPostgreSQLInstance", "dev", {"storageGB": 10, "tier": tier, "version": "14"})
    fp = render(comp, xr)["instance"]["spec"]["forProvider"]
    assert (fp["instanceClass"], fp["engineVersion"]) == (instance_class, "14")


def test_postgresql_refuses_unknown_environment_or_missing_labels():
    comp = composition_for("XPostgreSQLInstance")
    xr = composite("XPostgreSQLInstance", "qa", {"storageGB": 10})
    with pytest.raises(RenderError, match="map: no key 'qa'"):
        render(comp, xr)
    del xr["metadata"]["labels"]["platform-gen.io/team"]
    with pytest.raises(RenderError, match=r"required metadata.labels\[platform-gen.io/team\]"):
        render(comp, xr)


def test_postgresql_connection_details():
    comp = composition_for("XPostgreSQLInstance")
    (res,) = comp["spec"]["pipeline"][0]["input"]["resources"]
    details = {d["name"]: d for d in res["connectionDetails"]}
    assert sorted(details) == ["endpoint", "password", "port", "username"]
    assert details["password"]["fromConnectionSecretKey"] == "attribute.password"
    assert [s["functionRef"]["name"] for s in comp["spec"]["pipeline"]] == [
        "function-patch-and-transform", "function-auto-ready",
    ]


BUCKET = "ledger-db-x7k2p-8fj2k"  # the name Crossplane generates for the composed Bucket
OBSERVED_BUCKET_STATUS = {"atProvider": {"id": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"}}


def created_bucket(xr: dict[str, Any]) -> dict[str, Any]:
    """``xr`` once its Bucket exists: with the status the Composition patches from it."""
    comp = composition_for("ObjectBucket")
    desired, _, _ = reconcile(comp, xr)
    observed = {"bucket": {**desired["bucket"], "status": OBSERVED_BUCKET_STATUS}}
    _, status, _ = reconcile(comp, xr, observed)
    return {**xr, "status": status}


@pytest.mark.parametrize(
    ("versioning", "status"), [(True, "Enabled"), (False, "Suspended")]
)
def test_object_bucket_policy(versioning, status):
    comp = composition_for("ObjectBucket")
    xr = composite("ObjectBucket", "prod", {"versioning": versioning, "retentionDays": 90})
    out = render(comp, created_bucket(xr))
    assert sorted(out) == ["bucket", "credentials", "encryption", "lifecycle", "public-access-block",
                           "versioning"]
    assert out.pop("credentials")["kind"] == "Secret"
    for obj in out.values():
        assert obj["apiVersion"] == "s3.aws.m.upbound.io/v1beta1"
        assert obj["spec"]["providerConfigRef"] == {"kind": "ClusterProviderConfig",
                                                    "name": "default"}
    assert out["bucket"]["spec"]["forProvider"]["tags"] == {**TAGS, "environment": "prod"}
    block = out["public-access-block"]["spec"]["forProvider"]
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                 "restrictPublicBuckets"):
        assert block[flag] is True, flag
    (rule,) = out["encryption"]["spec"]["forProvider"]["rule"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert out["versioning"]["spec"]["forProvider"]["versioningConfiguration"] == {
        "status": status,
    }
    (life,) = out["lifecycle"]["spec"]["forProvider"]["rule"]
    assert life["noncurrentVersionExpiration"] == [{"noncurrentDays": 90}]
    assert life["status"] == "Enabled"
    assert "expiration" not in life  # current objects are never expired
    for name in ("public-access-block", "encryption", "versioning", "lifecycle"):
        selector = out[name]["spec"]["forProvider"]["bucketSelector"]
        assert selector == {"matchControllerRef": True}, name


def test_object_bucket_defaults_render():
    comp = composition_for("ObjectBucket")
    out = render(comp, created_bucket(composite("ObjectBucket", "dev", {})))
    assert out["versioning"]["spec"]["forProvider"]["versioningConfiguration"]["status"] == (
        "Enabled"
    )
    (life,) = out["lifecycle"]["spec"]["forProvider"]["rule"]
    assert life["noncurrentVersionExpiration"] == [{"noncurrentDays": 30}]


def test_object_bucket_connection_secret():
    comp = composition_for("ObjectBucket")
    xr = composite("ObjectBucket", "staging", {})
    # Before the Bucket exists the XR has no status: the Secret waits for it.
    desired, status, held = reconcile(comp, xr)
    assert status == {}
    assert held == {"credentials": "required status.bucketName is missing"}
    assert "credentials" not in desired
    # The observed Bucket's name and ARN go to the XR's status...
    observed = {"bucket": {**desired["bucket"], "status": OBSERVED_BUCKET_STATUS}}
    _, status, held = reconcile(comp, xr, observed)
    assert status == {"bucketName": BUCKET, "bucketArn": f"arn:aws:s3:::{BUCKET}"}
    version = xrd_named("ObjectBucket")["spec"]["versions"][0]
    schema = to_json_schema(version["schema"]["openAPIV3Schema"]["properties"]["status"])
    assert validate(status, schema) == []
    # ...and from there, on the next pass, to the Secret the workloads load.
    desired, _, held = reconcile(comp, {**xr, "status": status}, observed)
    assert held == {}
    assert desired["credentials"] == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ledger-db-x7k2p-credentials"},
        "type": "Opaque",
        "stringData": {
            "bucket": BUCKET,
            "arn": f"arn:aws:s3:::{BUCKET}",
            "region": desired["bucket"]["spec"]["forProvider"]["region"],
        },
    }
    for name, obj in desired.items():
        if name != "credentials":
            assert obj["spec"]["forProvider"]["region"] == "eu-central-1", name


def test_object_bucket_connection_secret_is_ready_when_it_exists():
    # A Secret has no Ready condition for function-auto-ready to read, so the
    # resource says how to tell readiness itself.
    comp = composition_for("ObjectBucket")
    resources = {r["name"]: r for r in comp["spec"]["pipeline"][0]["input"]["resources"]}
    assert resources["credentials"]["readinessChecks"] == [{"type": "None"}]
    assert "readinessChecks" not in resources["bucket"]  # the default: Ready is True
    (name_patch,) = [
        p for p in resources["credentials"]["patches"] if p["toFieldPath"] == "metadata.name"
    ]
    assert name_patch["fromFieldPath"] == "metadata.name"
    assert name_patch["transforms"] == [
        {"type": "string", "string": {"type": "Format", "fmt": "%s-credentials"}},
    ]
    assert [s["functionRef"]["name"] for s in comp["spec"]["pipeline"]] == [
        "function-patch-and-transform", "function-auto-ready",
    ]
    assert "writeConnectionSecretsToNamespace" not in comp["spec"]


@pytest.mark.parametrize(
    ("parameters", "fifo", "seconds", "size"),
    [
        ({}, False, 96 * 3600, 256 * 1024),
        ({"fifo": True, "retentionHours": 336, "maxMessageSizeKB": 1}, True, 1209600, 1024),
    ],
)
def test_message_queue_policy(parameters, fifo, seconds, size):
    comp = composition_for("XMessageQueue")
    queue = render(comp, composite("XMessageQueue", "staging", parameters))["queue"]
    assert queue["apiVersion"] == "sqs.aws.upbound.io/v1beta1"
    fp = queue["spec"]["forProvider"]
    assert fp["sqsManagedSseEnabled"] is True
    assert (fp["fifoQueue"], fp["messageRetentionSeconds"], fp["maxMessageSize"]) == (
        fifo, seconds, size,
    )
    assert fp["tags"] == {**TAGS, "environment": "staging"}
    assert "name" not in fp  # the provider names it, adding .fifo for FIFO queues


# --- upstream examples ----------------------------------------------------------------------


def example_dirs() -> list[Path]:
    dirs = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    assert len(dirs) == 2, "the vendored upstream examples are missing"
    return dirs


def test_upstream_examples_validate():
    dirs = example_dirs()
    checked = {"crd": 0, "input": 0, "parameters": 0}
    for folder in dirs:
        docs = load_tree(folder)
        xrds = [d for _, _, d in docs if d["kind"] == XRD]
        for file, i, doc in docs:
            where = f"{folder.name}/{file}[{i}]"
            key = (doc["apiVersion"], doc["kind"])
            if key in crossplane_kinds():
                assert validate(doc, crossplane_schema(*key)) == [], where
                checked["crd"] += 1
                for step in (doc.get("spec") or {}).get("pipeline") or []:
                    if "input" in step:
                        assert validate(step["input"], crossplane_schema(*PT_INPUT)) == [], where
                        checked["input"] += 1
                continue
            # A claim or composite of an XRD in the same folder: check its parameters.
            group = doc["apiVersion"].split("/")[0]
            owners = [
                x for x in xrds
                if x["spec"]["group"] == group
                and doc["kind"] in (x["spec"]["names"]["kind"],
                                    (x["spec"].get("claimNames") or {}).get("kind"))
            ]
            if not owners:
                assert key == ("v1", "Secret"), where
                continue
            schema = xrd_parameter_schema(owners[0])
            assert schema is not None
            assert validate(doc["spec"]["parameters"], schema) == [], where
            checked["parameters"] += 1
    assert checked == {"crd": 5, "input": 1, "parameters": 2}


def test_upstream_example_with_typo_is_rejected():
    dirs = example_dirs()
    (comp,) = [
        d for _, _, d in load_tree(dirs[0]) if d["kind"] == "Composition"
    ]
    pt_input = comp["spec"]["pipeline"][0]["input"]
    pt_input["resources"][1]["patches"][3]["fromFieldPth"] = "x"
    pt_input["resources"][1]["base"]["spec"] = "not an object"
    assert validate(pt_input, crossplane_schema(*PT_INPUT)) == [
        (("resources", 1, "patches", 3, "fromFieldPth"), "unknown field 'fromFieldPth'"),
    ]  # base is an embedded, free-form resource: its spec is not checked
