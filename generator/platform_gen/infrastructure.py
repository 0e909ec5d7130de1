"""Self-service infrastructure: the kinds the platform's XRDs offer, and the claims a service asks for.

Part of the validate stage. The platform team's XRDs (``platform-config/crossplane/``)
decide which kinds a service may request (the claim kind of a v1 XRD with
``claimNames``, or the kind of a v2 XRD with ``scope: Namespaced``) and which
parameters each takes. Each service entry is merged with its per-environment
override, validated against the XRD's ``openAPIV3Schema`` (types, enums, ranges,
required and unknown fields) and completed with the schema's defaults, all before
anything is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import crdschema
from .deep import deep_merge
from .errors import Problem
from .load import CROSSPLANE_DIR
from .schemas import did_you_mean
from .yamlio import Located

__all__ = ["Claim", "InfraKind", "check_crossplane", "claims_for", "offered_kinds"]

V1, V2 = "v1", "v2"


@dataclass(frozen=True)
class InfraKind:
    """A kind a service may request, as one XRD offers it."""

    kind: str
    api_version: str  # group/version of the claim or XR
    style: str  # "v1" (a claim of a v1 XRD) or "v2" (a namespaced XR)
    xrd: str  # the XRD's metadata.name
    composition: str  # for v2: the compositionRef name
    parameters: dict[str, Any] | None  # JSON Schema of spec.parameters
    file: str


@dataclass(frozen=True)
class Claim:
    """One claim (v1) or namespaced XR (v2) of a service in one environment."""

    kind: str
    name: str
    api_version: str
    style: str
    composition: str
    parameters: dict[str, Any]

    @property
    def secret_name(self) -> str:
        """The connection Secret the workload reads."""
        return f"{self.name}-credentials"


def _compositions(docs: tuple[Located, ...]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for doc in docs:
        d = doc.data
        if isinstance(d, dict) and d.get("kind") == "Composition":
            ref = (d.get("spec") or {}).get("compositeTypeRef") or {}
            out.setdefault((str(ref.get("apiVersion")), str(ref.get("kind"))), []).append(
                str((d.get("metadata") or {}).get("name")))
    return out


def check_crossplane(docs: tuple[Located, ...]) -> list[Problem]:
    """The platform's Crossplane objects against the upstream Crossplane schemas, strictly.

    XRDs, Compositions (with their patch-and-transform inputs) and Functions must be
    what Crossplane accepts, each object at most once, and an XRD's parameter schema
    must itself be a valid schema, before any service is checked against it.
    """
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    for doc in docs:
        d = doc.data
        if not (isinstance(d, dict) and isinstance(d.get("apiVersion"), str) and isinstance(d.get("kind"), str)):
            problems.append(doc.problem((), "not a Kubernetes object", "each document needs apiVersion and kind"))
            continue
        try:
            schema = crdschema.crossplane_schema(d["apiVersion"], d["kind"])
        except KeyError:
            problems.append(doc.problem(("kind",), f"{d['apiVersion']} {d['kind']} is not a Crossplane kind this "
                                        "folder may hold",
                                        "CompositeResourceDefinition, Composition and Function are expected"))
            continue
        found = crdschema.validate(d, schema)
        problems.extend(crdschema.located_problems(doc, found))
        if found:
            continue
        name = str(d["metadata"].get("name")) if isinstance(d.get("metadata"), dict) else ""
        key = (d["kind"], name)
        if key in seen:
            problems.append(doc.problem(("metadata", "name"), f"{d['kind']} '{name}' is defined twice",
                                        f"also in {seen[key]}"))
        seen.setdefault(key, doc.file)
        if d["kind"] == "Composition":
            for i, step in enumerate(d["spec"].get("pipeline") or []):
                inp = step.get("input")
                if isinstance(inp, dict) and inp.get("apiVersion") == "pt.fn.crossplane.io/v1beta1":
                    try:
                        pt = crdschema.crossplane_schema(inp["apiVersion"], str(inp.get("kind")))
                    except KeyError:
                        continue
                    problems.extend(crdschema.located_problems(
                        doc, crdschema.validate(inp, pt), base=("spec", "pipeline", i, "input")))
        if d["kind"] == "CompositeResourceDefinition":
            problems.extend(_check_xrd_schemas(doc))
    return problems


_SCHEMA_HINT = "use OpenAPI v3 types: string, integer, number, boolean, object, array"


def _check_xrd_schemas(doc: Located) -> list[Problem]:
    """An XRD's parameter schema, and each version's whole schema, must be valid schemas."""
    import jsonschema  # imported on first use, as in schemas.check

    d = doc.data
    try:
        params = crdschema.xrd_parameter_schema(d)
        if params is not None:
            jsonschema.Draft7Validator.check_schema(params)
    except ValueError as exc:
        return [doc.problem(("spec", "versions"), str(exc))]
    except jsonschema.SchemaError as exc:
        return [doc.problem(("spec", "versions"), f"the parameters schema is invalid: {exc.message}", _SCHEMA_HINT)]
    except RecursionError:
        return [doc.problem(("spec", "versions"), "the parameters schema is nested too deep")]
    for i, version in enumerate(d["spec"].get("versions") or []):
        openapi = (version.get("schema") or {}).get("openAPIV3Schema") if isinstance(version, dict) else None
        if not isinstance(openapi, dict):
            continue
        where = ("spec", "versions", i, "schema", "openAPIV3Schema")
        try:
            jsonschema.Draft7Validator.check_schema(crdschema.resource_schema(openapi))
        except (ValueError, TypeError) as exc:
            return [doc.problem(where, f"invalid schema: {exc}", _SCHEMA_HINT)]
        except jsonschema.SchemaError as exc:
            return [doc.problem(where, f"invalid schema: {exc.message}", _SCHEMA_HINT)]
    return []


def offered_kinds(docs: tuple[Located, ...], problems: list[Problem]) -> dict[str, InfraKind]:
    """The kinds the XRDs in ``platform-config/crossplane/`` offer to services (call after check_crossplane)."""
    compositions = _compositions(docs)
    kinds: dict[str, InfraKind] = {}
    for doc in docs:
        d = doc.data
        if not (isinstance(d, dict) and d.get("kind") == "CompositeResourceDefinition"):
            continue
        spec = d.get("spec") or {}
        try:
            params = crdschema.xrd_parameter_schema(d)
        except ValueError as exc:
            problems.append(doc.problem(("spec",), str(exc)))
            continue
        versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
        version = next((v for v in versions if v.get("referenceable")), None) or next(
            (v for v in versions if v.get("served")), {})
        api_version = f"{spec.get('group')}/{version.get('name')}"
        xr_kind = (spec.get("names") or {}).get("kind", "")
        name = str((d.get("metadata") or {}).get("name"))
        if d["apiVersion"].endswith("/v1") and spec.get("claimNames"):
            offered = InfraKind(spec["claimNames"]["kind"], api_version, V1, name, "", params, doc.file)
        elif d["apiVersion"].endswith("/v2") and spec.get("scope", "Namespaced") == "Namespaced":
            found = compositions.get((api_version, xr_kind), [])
            default = (spec.get("defaultCompositionRef") or {}).get("name")
            composition = default or (found[0] if len(found) == 1 else "")
            if not composition:
                problems.append(doc.problem(("spec", "names", "kind"),
                                            f"no Composition to use for {xr_kind}",
                                            "set spec.defaultCompositionRef, or keep exactly one Composition "
                                            f"with compositeTypeRef {api_version} {xr_kind}"))
                continue
            offered = InfraKind(xr_kind, api_version, V2, name, composition, params, doc.file)
        else:
            continue  # cluster-scoped composites are for the platform team only
        if offered.kind in kinds:
            problems.append(doc.problem(("metadata", "name"), f"kind {offered.kind} is also offered by "
                                        f"{kinds[offered.kind].file}"))
            continue
        kinds[offered.kind] = offered
    return kinds


def _origin_path(path: tuple[str | int, ...], base: tuple[str | int, ...], override: Any,
                 over_base: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], bool]:
    """Where the value at ``path`` (inside parameters) was set: the override if it sets it."""
    if not path:
        return base, False
    node = override
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return (*base, *path), False
    return (*over_base, *path), True


def claims_for(doc: Located, service_envs: dict[str, tuple[str, ...]], envs: set[str],
               kinds: dict[str, InfraKind], problems: list[Problem]) -> dict[str, tuple[Claim, ...]]:
    """Validate a service's ``infrastructure`` and return its claims per environment it runs in."""
    data = doc.data
    entries = data.get("infrastructure") or []
    overrides = {env: (spec or {}).get("infrastructure") or {}
                 for env, spec in (data.get("environments") or {}).items() if isinstance(spec, dict)}
    names: dict[str, int] = {}
    good: list[tuple[int, dict[str, Any]]] = []
    for i, entry in enumerate(entries):
        ok = True
        if entry["name"] in names:
            problems.append(doc.problem(("infrastructure", i, "name"), f"name '{entry['name']}' is used twice",
                                        f"first used by infrastructure[{names[entry['name']]}]; "
                                        "names are unique within a service"))
            ok = False
        names.setdefault(entry["name"], i)
        if entry["kind"] not in kinds:
            problems.append(doc.problem(("infrastructure", i, "kind"), f"unknown kind '{entry['kind']}'",
                                        did_you_mean(entry["kind"], set(kinds),
                                                     f"kinds (offered by the XRDs in {CROSSPLANE_DIR}/)")))
            ok = False
        for j, env in enumerate(entry.get("environments") or []):
            if env not in envs:
                problems.append(doc.problem(("infrastructure", i, "environments", j),
                                            f"unknown environment '{env}'", did_you_mean(env, envs, "environments")))
                ok = False
            elif env not in service_envs:
                problems.append(doc.problem(("infrastructure", i, "environments", j),
                                            f"the service does not run in environment '{env}'",
                                            did_you_mean(env, set(service_envs), "environments of this service")))
                ok = False
        if ok:
            good.append((i, entry))
    for env, over in overrides.items():
        for name in over:
            if name not in names:
                problems.append(doc.problem(("environments", env, "infrastructure", name),
                                            f"no infrastructure entry named '{name}'",
                                            did_you_mean(name, set(names), "entries"), key=True))

    out: dict[str, list[Claim]] = {env: [] for env in service_envs}
    seen: set[Problem] = set()
    for i, entry in good:
        kind = kinds[entry["kind"]]
        for env in service_envs:
            if entry.get("environments") and env not in entry["environments"]:
                continue
            over = ((overrides.get(env) or {}).get(entry["name"]) or {}).get("parameters") or {}
            params = deep_merge(entry.get("parameters") or {}, over)
            schema = kind.parameters or {"type": "object", "additionalProperties": False}
            base = ("infrastructure", i, "parameters")
            over_base = ("environments", env, "infrastructure", entry["name"], "parameters")
            found = crdschema.validate(params, schema)
            mistyped = {path for path, message in found if " is not of type " in message}
            for path, message in found:
                if path in mistyped and " is not of type " not in message:
                    continue  # 16 for "16" also fails the enum: the type is the root cause
                at_key = crdschema.points_at_key(message)
                where, overridden = _origin_path(path, base, over, over_base)
                if not (entry.get("parameters") or overridden):
                    where = ("infrastructure", i)
                hint = f"see the {kind.kind} XRD in {kind.file}"
                written = doc.raw.get(where)
                if written is not None and message.endswith(" is not of type 'string'"):
                    message, hint = f"expected a string, got {written}", f'quote it: "{written}"; {hint}'
                problem = doc.problem(where, message, hint, key=at_key)
                if problem not in seen:
                    seen.add(problem)
                    problems.append(problem)
            filled = crdschema.fill_defaults(params, schema)
            out[env].append(Claim(kind.kind, entry["name"], kind.api_version, kind.style, kind.composition,
                                  filled))
    return {env: tuple(claims) for env, claims in out.items()}
