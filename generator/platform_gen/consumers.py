"""Validate the rendered tree the way its consumers will read it.

- every overlay is built with real kustomize, batched: one build per group of up to
  :data:`BATCH` overlays of one cluster, over a generated kustomization that lists
  them (a kustomize process costs ~0.15 s, too much per overlay at thousands of
  them, while one build of a thousand overlays is slower per overlay than ten of a
  hundred); only when a batch fails or warns is each of its overlays built alone, to
  say which one. Objects that two overlays of one cluster both produce are findings;
- every built object is validated against the Kubernetes schemas of the chosen
  version (from the ``kubernetes-validate`` package; each validator is built once,
  with a compiled fast check in front, see :mod:`fastschema`), claims and namespaced
  XRs against their XRDs, the runtime kinds (ExternalSecret, HTTPRoute,
  ServiceMonitor, PodMonitor, PrometheusRule) against their vendored upstream schemas,
  Argo CD objects against the Argo CD schemas and the platform's Crossplane objects
  against the Crossplane CRDs, all strictly: unknown fields fail; an unserved
  version (``external-secrets.io/v1beta1``) is refused as such; the Backstage
  catalog's entities as Backstage checks them (its schemas and field formats, see
  :mod:`backstage`), their references among them, and its Location's files;
- across the objects of one overlay (:mod:`runtimecheck`): PromQL parses, recording
  rules read are recorded, monitors select a target with the ports they name;
- yamllint runs over the YAML files people write (the inputs), and over the tree's
  only when asked: the tree is written by one emitter, whose output a test lints.

Findings are :class:`~generator.errors.Problem` values naming the file, the object
(kind, namespace/name) and the field path.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml
from kubernetes_validate import utils as kv

from . import backstage, crdschema, fastschema, runtimecheck, vcache, yamlio
from .errors import Problem, ToolError, format_path
from .kustomize_tool import Build, Kustomize
from .limits import undecodable
from .model import Platform
from .outputs import catalog as catalog_out
from .outputs import labels as L

__all__ = ["DEFAULT_KUBE_VERSION", "Report", "validate_tree"]

DEFAULT_KUBE_VERSION = "1.32"
#: Overlays per kustomize build. A kustomize process costs ~0.1 s to start, and past
#: a hundred overlays the cost of each grows (~10 ms an overlay at 100, 21 ms at 400).
BATCH = 100
_ARGO_TOP = {"apiVersion", "kind", "metadata", "spec", "status", "operation"}
#: A ``$ref`` of the Kubernetes schemas: to a definition, from a kind's schema or from another definition.
_DEF_REF = re.compile(r"((?:https://kubernetes\.io)?/api/_definitions\.json)?#/\$defs/([^/~%]+)")


@dataclass(frozen=True)
class Report:
    """What validate found, and how much it checked."""

    problems: tuple[Problem, ...]
    overlays: int
    objects: int
    builds: int
    built: int = 0  #: overlays built (the others' verdicts came from the cache)
    cached: int = 0
    linted: int = 0  #: files yamllint read (the others' verdicts came from the cache)
    lint_cached: int = 0


# --- schemas -----------------------------------------------------------------------


class KubeSchemas:
    """Strict validators of the built-in Kubernetes kinds of one version, built once each."""

    def __init__(self, version: str) -> None:
        version = version.removeprefix("v")
        if not re.fullmatch(r"[0-9]+\.[0-9]+(\.[0-9]+)?", version):
            raise ToolError(f"invalid Kubernetes version '{version}'", "pass --kube-version like 1.32")
        try:
            if kv.major_minor(version) > kv.latest_version():
                raise ToolError(f"Kubernetes {version} is newer than the schemas installed "
                                f"(up to {kv.latest_version()})", "upgrade kubernetes-validate or pass --kube-version")
            self.version = [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(version)][-1]
        except (IndexError, ValueError):
            raise ToolError(f"no Kubernetes schemas for version {version}",
                            f"versions available: {', '.join(kv.all_versions())}") from None
        self._dir = f"kubernetes-json-schema/v{self.version}-local-strict"
        self._registry: referencing.Registry[Any] | None = None
        self._defs: dict[str, Any] = {}
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}
        self._fast: dict[int, fastschema.Check | None] = {}

    def _base_registry(self) -> referencing.Registry[Any]:
        if self._registry is None:
            defs = kv.schema_contents(f"{self._dir}/_definitions.json", self.version)
            self._defs = defs.get("$defs") or {}
            self._registry = referencing.Resource.from_contents(defs) @ referencing.Registry()
        return self._registry

    def _resolve(self, ref: str, base: str) -> tuple[Mapping[str, Any], str]:
        """The definition a ``$ref`` of these schemas names (for the fast check)."""
        found = _DEF_REF.fullmatch(ref)
        if found is None or (found.group(1) is None and base != "defs") or found.group(2) not in self._defs:
            raise LookupError(ref)
        return self._defs[found.group(2)], "defs"

    def errors(self, validator: jsonschema.protocols.Validator, obj: Any) -> list[tuple[str, str]]:
        """jsonschema's findings for ``obj``, after the compiled check said it may have some."""
        key = id(validator)  # validators are built once and kept: ids stay theirs
        if key not in self._fast:
            schema = validator.schema
            self._fast[key] = (fastschema.compile_schema(schema, self._resolve)
                               if isinstance(schema, Mapping) else None)
        fast = self._fast[key]
        if fast is not None and fast(obj):
            return []
        return _errors(validator, obj)

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        """The validator of (apiVersion, kind), or None if it is not a built-in kind."""
        key = (api_version, kind)
        if key not in self._validators:
            group = api_version.split("/")[0].split(".")[0] + "-" if "/" in api_version else ""
            version = api_version.split("/")[-1]
            name = f"{kind.lower()}-{group}{version}.json"
            if "/" in name or name.startswith("."):  # no schema file has such a name: not a built-in kind
                self._validators[key] = None
                return None
            try:
                schema = kv.schema_contents(f"{self._dir}/{name}", self.version)
            except (FileNotFoundError, OSError, kv.VersionNotSupportedError):
                self._validators[key] = None
                return None
            resource = referencing.Resource.from_contents(schema)
            self._validators[key] = jsonschema.Draft202012Validator(
                schema, registry=resource @ self._base_registry())
        return self._validators[key]


@cache
def _argo_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = dict(crdschema.argocd_schema(kind))
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.protocols.Validator, obj: Any) -> list[tuple[str, str]]:
    return [(format_path(p), m) for p, m in crdschema.validator_errors(validator, obj)]


def _claim_schemas(platform: Platform) -> dict[tuple[str, str], dict[str, Any]]:
    """Whole-object schemas of the claims and namespaced XRs the platform's XRDs serve."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in platform.crossplane:
        xrd = doc.data
        if not (isinstance(xrd, dict) and xrd.get("kind") == "CompositeResourceDefinition"):
            continue
        spec = xrd.get("spec") or {}
        v2 = str(xrd.get("apiVersion", "")).endswith("/v2")
        kind = spec["names"]["kind"] if v2 else (spec.get("claimNames") or {}).get("kind")
        if not kind:
            continue
        for version in spec.get("versions") or []:
            openapi = ((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
            props = dict(openapi.get("properties") or {})
            spec_schema = dict(props.get("spec") or {"type": "object"})
            # the fields Crossplane itself adds to what it serves
            added = ({"crossplane": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}} if v2 else {
                "writeConnectionSecretToRef": {"type": "object", "required": ["name"],
                                               "properties": {"name": {"type": "string"}}},
                "compositionRef": {"type": "object", "properties": {"name": {"type": "string"}}},
                "compositionSelector": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "compositeDeletePolicy": {"type": "string"},
                "resourceRef": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            })
            spec_schema["properties"] = {**(spec_schema.get("properties") or {}), **added}
            props["spec"] = spec_schema
            props["status"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            out[(f"{spec.get('group')}/{version.get('name')}", kind)] = crdschema.resource_schema(
                {**openapi, "properties": props}, strict=True)
    return out


# --- kustomize ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Overlay:
    """A folder of the tree that kustomize builds: a service's overlay, or a team namespace's folder
    (``namespaces/<team>/<cluster>/``, whose ``service`` is the team and ``env`` empty)."""

    rel: str  # relative to the output folder
    service: str
    env: str
    cluster: str
    space: bool = False  #: a team namespace's folder: its objects carry the team label, not a service's


#: Which files of the tree to check (a path relative to it), as ``validate --shard`` asks; None: all.
_Only = Callable[[str], bool] | None


def _overlays(out: Path, only: _Only = None) -> list[_Overlay]:
    """Every ``services/*/overlays/*/*/kustomization.yaml`` of the tree, as ``out.glob`` finds them, sorted.

    Listed with ``os.scandir`` (no Path per entry): globbing 11,200 overlays took a tenth of a warm run (#9).
    """
    def folders(path: str) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(path) if e.is_dir())
        except OSError:
            return []

    found = []
    root = os.fspath(out)
    for service in folders(os.path.join(root, "services")):
        for env in folders(os.path.join(root, "services", service, "overlays")):
            for cluster in folders(os.path.join(root, "services", service, "overlays", env)):
                rel = f"services/{service}/overlays/{env}/{cluster}"
                if not os.path.lexists(os.path.join(root, rel, "kustomization.yaml")):
                    continue
                if only is not None and not only(rel + "/kustomization.yaml"):
                    continue
                found.append(_Overlay(rel, service, env, cluster))
    return found


def _namespace_folders(out: Path, only: _Only = None) -> list[_Overlay]:
    """Every ``namespaces/<team>/<cluster>/kustomization.yaml`` of the tree, sorted."""
    found = []
    for kfile in sorted((out / "namespaces").glob("*/*/kustomization.yaml")):
        rel = kfile.parent.relative_to(out).as_posix()
        if only is None or only(rel + "/kustomization.yaml"):
            found.append(_Overlay(rel, kfile.parent.parent.name, "", kfile.parent.name, space=True))
    return found


def _owner(obj: Mapping[str, Any], cluster: str, space: bool) -> tuple[str, str, str]:
    """Which folder of a batch built ``obj``: a service overlay by the service, environment and cluster
    labels; a namespace folder (whose objects carry no service label) by the team label."""
    lab = (obj.get("metadata") or {}).get("labels") or {}
    if space:
        return (str(lab.get(L.TEAM)), "", cluster)
    return (str(lab.get(L.NAME)), str(lab.get(L.ENVIRONMENT)), str(lab.get(L.CLUSTER)))


def _batch_build(kustomize: Kustomize, out: Path, overlays: list[_Overlay]) -> Build:
    with tempfile.TemporaryDirectory(prefix="platform-gen-validate-") as tmp:
        link = Path(tmp, "tree")
        os.symlink(out.resolve(), link, target_is_directory=True)
        kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                         "resources": [f"tree/{o.rel}" for o in overlays]}
        Path(tmp, "kustomization.yaml").write_text(yamlio.dump(kustomization))
        return kustomize.build(Path(tmp))


def _build_cluster(kustomize: Kustomize, out: Path, overlays: list[_Overlay], shown: str
                   ) -> tuple[dict[str, list[dict[str, Any]]], list[Problem], int]:
    """Objects per overlay, problems, and the number of kustomize runs."""
    batch = _batch_build(kustomize, out, overlays)
    runs = 1
    per: dict[str, list[dict[str, Any]]] = {o.rel: [] for o in overlays}
    problems: list[Problem] = []
    built, _error = _objects(batch.output)
    if batch.ok and not batch.warnings and built:
        index = {(o.service, o.env, o.cluster): o.rel for o in overlays}
        space = overlays[0].space  # a batch is of one kind of folder, of one cluster
        for obj in built:
            rel = index.get(_owner(obj, overlays[0].cluster, space))
            if rel is None:
                labels = L.TEAM if space else f"{L.NAME}, {L.ENVIRONMENT}, {L.CLUSTER}"
                problems.append(Problem(shown, 0, 0, _obj_name(obj), f"object without the platform labels ({labels})"))
                continue
            per[rel].append(obj)
        problems.extend(_empty(per, shown, kustomize))
        return per, problems, runs
    # find which overlays fail or warn
    failed: set[str] = set()
    for o in overlays:
        build = kustomize.build(out / o.rel)
        runs += 1
        where = f"{shown}/{o.rel}/kustomization.yaml"
        if not build.ok:
            problems.append(Problem(where, 0, 0, "", f"kustomize build failed: {build.error}"))
            failed.add(o.rel)
            continue
        for warning in build.warnings:
            problems.append(Problem(where, 0, 0, "", f"kustomize warning: {warning}"))
        objs, error = _objects(build.output)
        if objs is None:
            problems.append(Problem(where, 0, 0, "", f"{kustomize.name} printed output that is {error}",
                                    "is --kustomize a real kustomize?"))
            failed.add(o.rel)
            continue
        per[o.rel].extend(objs)
    problems.extend(_empty({rel: objs for rel, objs in per.items() if rel not in failed}, shown, kustomize))
    if batch.ok and batch.warnings and not problems:
        problems.append(Problem(shown, 0, 0, "", "kustomize warning: " + "; ".join(batch.warnings)))
    return per, problems, runs


def _objects(output: str) -> tuple[list[dict[str, Any]] | None, str]:
    """The objects kustomize printed, or None and what is wrong with its output."""
    try:
        docs = yamlio.safe_load_all(output)
    except yaml.YAMLError as exc:
        return None, f"not YAML ({getattr(exc, 'problem', None) or str(exc).splitlines()[0]})"
    if not all(isinstance(d, dict) for d in docs):
        return None, "not Kubernetes objects"
    return docs, ""


def _empty(per: dict[str, list[dict[str, Any]]], shown: str, kustomize: Kustomize) -> list[Problem]:
    """Every overlay has objects (a base renders a workload at least): none built is a finding."""
    return [Problem(f"{shown}/{rel}/kustomization.yaml", 0, 0, "", f"{kustomize.name} built no objects",
                    "is --kustomize a real kustomize?") for rel, objs in sorted(per.items()) if not objs]


def _obj_key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))


def _obj_name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


# --- the checks --------------------------------------------------------------------


def _check_built(objs: Sequence[dict[str, Any]], where: str, kube: KubeSchemas,
                 claims: dict[tuple[str, str], dict[str, Any]]) -> tuple[list[Problem], int]:
    """The findings of one overlay's built objects (each against its schema, then those across them), and
    their count."""
    problems: list[Problem] = []
    count = 0
    for obj in objs:
        count += 1
        api, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        validator = kube.validator(api, kind)
        errors: list[tuple[str, str]]
        if validator is not None:
            errors = kube.errors(validator, obj)
        elif crdschema.runtime_kind(api, kind) is not None:
            errors = _runtime_errors(api, kind, obj)
        elif (api, kind) in claims:
            errors = [(format_path(p), m) for p, m in crdschema.validate(obj, claims[(api, kind)])]
        elif (refused := crdschema.runtime_version_problem(api, kind)) is not None:
            errors = [("", refused)]
        else:
            errors = [("", f"no schema for {api} {kind}: not a Kubernetes {kube.version} kind, a kind "
                           "offered by the platform's XRDs nor a vendored CRD kind")]
        problems.extend(Problem(where, 0, 0, f"{_obj_name(obj)}{': ' + p if p else ''}", m) for p, m in errors)
    problems.extend(Problem(where, 0, 0, f"{_obj_name(obj)}: {path}", message)
                    for obj, path, message in runtimecheck.overlay_findings(objs))
    return problems, count


@cache
def _runtime_validator(api: str, kind: str) -> tuple[jsonschema.protocols.Validator, fastschema.Check | None]:
    """The validator of a runtime kind and its compiled fast check, built once per process."""
    schema = crdschema.runtime_schema(api, kind)
    return jsonschema.Draft7Validator(schema), fastschema.compile_schema(schema, _no_refs)


def _no_refs(ref: str, base: str) -> tuple[Mapping[str, Any], str]:
    raise LookupError(ref)  # the vendored runtime schemas are self-contained


def _runtime_errors(api: str, kind: str, obj: Any) -> list[tuple[str, str]]:
    validator, fast = _runtime_validator(api, kind)
    return [] if fast is not None and fast(obj) else _errors(validator, obj)


def _file_objects(data: bytes | OSError, where: str, problems: list[Problem]) -> list[dict[str, Any]]:
    """The objects of one file of the tree; a file edited into something else is a finding."""
    bad = undecodable(data) if isinstance(data, bytes) else None
    if bad is not None:  # located at its first bad byte, as yamllint's reading of the tree did
        problems.append(Problem(where, *bad[:2], "", bad[2], "run 'platform-gen render' to restore it"))
        return []
    try:
        if isinstance(data, OSError):
            raise data
        objs, error = _objects(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        objs, error = None, f"unreadable ({exc})"
    if objs is None:
        problems.append(Problem(where, 0, 0, "", f"the file is {error}", "run 'platform-gen render'"))
        return []
    return objs


def _file_verdicts(out: Path, shown: str, paths: Iterable[Path], scope: str,
                   verdict_of: Callable[[bytes | OSError, str, str], _Verdict],
                   cache: vcache.Cache, fingerprint: str | None) -> dict[str, _Verdict]:
    """Each file's verdict (by its path in the tree): ``verdict_of(bytes or the error reading them, path,
    path shown)``, cached under the file's bytes (and ``scope``, the kind of check)."""
    verdicts: dict[str, _Verdict] = {}
    for path in paths:
        rel = path.relative_to(out).as_posix()
        try:
            data: bytes | OSError = path.read_bytes()
        except OSError as exc:
            data = exc
        key = (vcache.digest(fingerprint, scope, rel, data)
               if fingerprint is not None and isinstance(data, bytes) else None)
        verdict = _Verdict.from_json(cache.get("files", key), shown)
        if verdict is None:
            verdict = verdict_of(data, rel, f"{shown}/{rel}")
            cache.put("files", key, verdict.to_json(shown))
        verdicts[rel] = verdict
    return verdicts


def _checked_files(out: Path, shown: str, paths: Iterable[Path],
                   check: Callable[[dict[str, Any], str], list[tuple[str, str]]],
                   cache: vcache.Cache, fingerprint: str | None) -> tuple[list[Problem], int]:
    """Every object of each file through ``check``; a file's verdict is cached under its bytes."""
    def verdict_of(data: bytes | OSError, _rel: str, where: str) -> _Verdict:
        found: list[Problem] = []
        objs = _file_objects(data, where, found)
        for obj in objs:
            found.extend(Problem(where, 0, 0, f"{_obj_name(obj)}{': ' + p if p else ''}", m)
                         for p, m in check(obj, where))
        return _Verdict(tuple(found), len(objs), ())

    verdicts = _file_verdicts(out, shown, paths, "file", verdict_of, cache, fingerprint)
    return ([p for v in verdicts.values() for p in v.problems], sum(v.objects for v in verdicts.values()))


def _argocd_errors(obj: dict[str, Any], where: str) -> list[tuple[str, str]]:
    kind = str(obj.get("kind"))
    if obj.get("apiVersion") != "argoproj.io/v1alpha1" or kind not in crdschema.ARGOCD_KINDS:
        return [("", "not an Argo CD object")]
    errors = _errors(_argo_validator(kind), obj)
    return errors + [(k, f"unknown field '{k}'") for k in sorted(set(obj) - _ARGO_TOP)]


def _check_argocd(out: Path, shown: str, cache: vcache.Cache | None = None,
                  fingerprint: str | None = None, only: _Only = None) -> tuple[list[Problem], int]:
    paths = [p for p in sorted((out / "argocd").rglob("*.yaml"))
             if only is None or only(p.relative_to(out).as_posix())]
    return _checked_files(out, shown, paths, _argocd_errors, cache or vcache.Cache(None), fingerprint)


def _catalog_verdict(data: bytes | OSError, rel: str, where: str) -> _Verdict:
    """One catalog file's findings (Backstage's checks of each entity), and what the checks across files need
    (as ``idents``): the entities it defines, the references they make, the files a Location lists."""
    found: list[Problem] = []
    idents: list[_Ident] = []
    objs = _file_objects(data, where, found)
    folder = posixpath.dirname(rel)
    for obj in objs:
        name = _entity_name(obj)
        found.extend(Problem(where, 0, 0, f"{name}{': ' + p if p else ''}", m) for p, m in backstage.entity_errors(obj))
        ref = backstage.entity_ref(obj)
        if ref is not None:
            idents.append(("entity", ref, "", "", name))
        idents.extend(("ref", full or "", path, text, name) for path, text, full in backstage.references(obj))
        spec = obj.get("spec") if obj.get("kind") == "Location" else None
        targets = [spec.get("target"), *(spec.get("targets") or [])] if isinstance(spec, dict) else []
        idents.extend(("target", posixpath.normpath(posixpath.join(folder, t)), "", t, name)
                      for t in targets if isinstance(t, str) and "://" not in t)
    return _Verdict(tuple(found), len(objs), tuple(idents))


def _entity_name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('name') if isinstance(meta, Mapping) else None}"


def _check_catalog(out: Path, shown: str, cache: vcache.Cache | None = None, fingerprint: str | None = None,
                   only: _Only = None) -> tuple[list[Problem], int]:
    """The Backstage catalog of the tree (README "Seeing your service in Backstage"): each entity as Backstage
    checks it (a file's verdict cached under its bytes), each reference names an entity of the catalog, each
    file a Location lists is there, and every file is listed (Backstage registers the catalog from its
    Location)."""
    cache = cache or vcache.Cache(None)
    paths = [p for p in sorted((out / catalog_out.CATALOG_DIR).rglob("*.yaml"))
             if not p.relative_to(out).as_posix().startswith(catalog_out.SKELETON_DIR)
             and (only is None or only(p.relative_to(out).as_posix()))]
    verdicts = _file_verdicts(out, shown, paths, "catalog", _catalog_verdict, cache, fingerprint)
    problems = [p for v in verdicts.values() for p in v.problems]
    count = sum(v.objects for v in verdicts.values())
    defined = {ref for v in verdicts.values() for what, ref, *_rest in v.idents if what == "entity"}
    listed: set[str] = set()
    for rel, verdict in verdicts.items():
        where = f"{shown}/{rel}"
        for what, ref, field, text, name in verdict.idents:
            if what == "ref" and not ref:
                problems.append(Problem(where, 0, 0, f"{name}: {field}", f"{text!r} is not an entity reference the "
                                        "catalog can read (it needs a kind: kind:name)"))
            elif what == "ref" and ref not in defined:
                problems.append(Problem(where, 0, 0, f"{name}: {field}", f"{text!r} names no entity of the catalog "
                                        f"({ref})", "run 'platform-gen render' to restore the catalog"))
            elif what == "target":
                listed.add(ref)
                if ref not in verdicts and not (out / ref).is_file():
                    problems.append(Problem(where, 0, 0, f"{name}: spec.targets", f"lists {text}, which is not in "
                                            "the tree", "run 'platform-gen render' to restore the catalog"))
    if only is None or only(catalog_out.LOCATION):
        for rel in sorted(set(verdicts) - listed - {catalog_out.LOCATION}):
            problems.append(Problem(f"{shown}/{rel}", 0, 0, "", "no Location of the catalog lists this file, so "
                                    "Backstage does not read it", "run 'platform-gen render' to restore the catalog"))
    return problems, count


def _check_platform(out: Path, shown: str, kube: KubeSchemas, cache: vcache.Cache | None = None,
                    fingerprint: str | None = None, only: _Only = None) -> tuple[list[Problem], int]:
    def errors_of(obj: dict[str, Any], where: str) -> list[tuple[str, str]]:
        api, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        try:
            schema = crdschema.crossplane_schema(api, kind)
            errors = [(format_path(p), m) for p, m in crdschema.validate(obj, schema)]
            if kind == "Composition":
                for i, step in enumerate((obj.get("spec") or {}).get("pipeline") or []):
                    inp = step.get("input")
                    if isinstance(inp, dict) and inp.get("apiVersion") == "pt.fn.crossplane.io/v1beta1":
                        pt = crdschema.crossplane_schema(inp["apiVersion"], str(inp.get("kind")))
                        errors += [(format_path(["spec", "pipeline", i, "input", *p]), m)
                                   for p, m in crdschema.validate(inp, pt)]
        except KeyError:
            validator = kube.validator(api, kind)
            errors = [("", f"no schema for {api} {kind}")] if validator is None else kube.errors(validator, obj)
        return errors

    paths = [p for p in sorted((out / "platform").rglob("*.yaml")) if p.name != "kustomization.yaml"
             and (only is None or only(p.relative_to(out).as_posix()))]
    return _checked_files(out, shown, paths, errors_of, cache or vcache.Cache(None), fingerprint)


_Ident = tuple[str, str, str, str, str]  # apiVersion, kind, namespace, name; and the name shown


def _collisions(cluster: str, per: Mapping[str, Iterable[_Ident]], shown: str) -> list[Problem]:
    """Objects that two overlays of one cluster both produce: two Applications would fight over them."""
    owners: dict[tuple[str, str, str, str], str] = {}
    problems = []
    for rel in sorted(per):
        for *ident, name in per[rel]:
            key = (ident[0], ident[1], ident[2], ident[3])
            if key in owners and owners[key] != rel:
                problems.append(Problem(f"{shown}/{rel}/kustomization.yaml", 0, 0, name,
                                        f"also produced by {shown}/{owners[key]} on cluster {cluster}",
                                        "two Applications would fight over it"))
            owners.setdefault(key, rel)
    return problems


@dataclass(frozen=True)
class _Verdict:
    """What validate found for one overlay: cached under the key of its inputs."""

    problems: tuple[Problem, ...]
    objects: int
    idents: tuple[_Ident, ...]

    def to_json(self, shown: str) -> dict[str, Any]:
        cut = len(shown) + 1
        return {"objects": self.objects, "idents": [list(i) for i in self.idents],
                "problems": [[p.file[cut:], p.line, p.column, p.path, p.message, p.hint] for p in self.problems]}

    @staticmethod
    def from_json(doc: Any, shown: str) -> _Verdict | None:
        if not (isinstance(doc, dict) and isinstance(doc.get("objects"), int)
                and _rows(doc.get("problems"), (str, int, int, str, str, str))
                and _rows(doc.get("idents"), (str,) * 5)):
            return None
        return _Verdict(tuple(Problem(f"{shown}/{f}", ln, col, kp, m, h) for f, ln, col, kp, m, h in doc["problems"]),
                        doc["objects"], tuple((a, b, c, d, e) for a, b, c, d, e in doc["idents"]))


def _rows(value: Any, types: tuple[type, ...]) -> bool:
    """``value`` is a list of rows, each a list of values of ``types`` (a cache entry's shape)."""
    return isinstance(value, list) and all(
        isinstance(row, list) and len(row) == len(types) and all(type(v) is t for v, t in zip(row, types, strict=True))
        for row in value)


def _ident(obj: Mapping[str, Any]) -> _Ident:
    return (*_obj_key(obj), _obj_name(obj))


def _fingerprint(kustomize: Kustomize, kube: KubeSchemas, claims: dict[tuple[str, str], dict[str, Any]],
                 out: Path) -> str:
    """Everything but the overlay's (or tree file's) own bytes that its verdict depends on."""
    from importlib.metadata import version

    from . import __version__

    sources = _package_sources(Path(__file__).parent)
    return vcache.digest("platform-gen", __version__, *sources, kustomize.identity(), kube.version,
                         json.dumps(sorted(([*k], v) for k, v in claims.items()), sort_keys=True, default=str),
                         version("jsonschema"), version("kubernetes-validate"), version("promql-parser"),
                         str(out), str(out.resolve()))


def _package_sources(package: Path) -> list[str]:
    """A digest of each file of the package, by path: its code and its data, the vendored schemas included
    (a new schema must not pass on a verdict cached under the old one)."""
    return [vcache.digest(p.relative_to(package).as_posix(), p.read_bytes())
            for p in sorted(package.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]


def _lint_key(base: str, path: str, data: bytes) -> str:
    return vcache.digest(base, path, data)


@dataclass(frozen=True)
class _LintJob:
    """What yamllint reads in its worker: the input files, and the tree when it is linted too."""

    config: str
    inputs: tuple[tuple[str, str, bytes], ...]  #: (path shown, path for yamllint's rules, bytes)
    tree: Path | None  #: the output folder, linted file by file only with --lint-tree
    shown: str
    cache_dir: Path | None
    only: _Only = None  #: with --shard, the tree files of the shard (a picklable callable)


def _yamllint(job: _LintJob) -> tuple[list[Problem], int, int]:
    """yamllint over the input files (and the tree's, if asked), in a worker process.

    Returns the problems, the number of files linted and the number whose verdict came
    from the cache.
    """
    from importlib.metadata import version

    from yamllint import linter
    from yamllint.config import YamlLintConfig

    conf = YamlLintConfig(content=job.config)
    cache = vcache.Cache(job.cache_dir)
    base = vcache.digest("yamllint", version("yamllint"), job.config)
    problems: list[Problem] = []
    counts = [0, 0]

    def lint(rel: str, name: str, data: bytes, hint: str) -> None:
        bad = undecodable(data)
        if bad is not None:  # a file edited by hand: a finding, never a crash
            problems.append(Problem(rel, *bad[:2], "", bad[2], hint))
            return
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() reads it
        key = _lint_key(base, name, data) if job.cache_dir is not None else None
        hit = cache.get("yamllint", key)
        if _rows(hit, (int, int, str)):
            problems.extend(Problem(rel, ln, col, "", m) for ln, col, m in hit)
            counts[1] += 1
            return
        try:
            found = [(p.line, p.column, f"yamllint: {p.message}" + (f" ({p.rule})" if p.rule else ""))
                     for p in linter.run(text, conf, name)]
        except yaml.YAMLError as exc:  # a control character, say
            broken = yamlio.parse_error(rel, exc, text)
            problems.append(Problem(rel, broken.line, broken.column, "", broken.message, hint))
            return
        counts[0] += 1
        cache.put("yamllint", key, [list(f) for f in found])
        problems.extend(Problem(rel, ln, col, "", m) for ln, col, m in found)

    for rel, name, data in job.inputs:
        if not conf.is_file_ignored(name):
            lint(rel, name, data, "")
    if job.tree is not None:
        for path in sorted(job.tree.rglob("*.yaml")):
            inside = path.relative_to(job.tree).as_posix()
            if job.only is not None and not job.only(inside):
                continue
            if inside.startswith(catalog_out.SKELETON_DIR):  # a nunjucks template: YAML once Backstage fills it
                continue
            rel = f"{job.shown}/{inside}"
            try:
                data = path.read_bytes()
            except OSError as exc:
                problems.append(Problem(rel, 0, 0, "", f"cannot read: {exc.strerror}",
                                        "run 'platform-gen render' to restore it"))
                continue
            lint(rel, str(path), data, "run 'platform-gen render' to restore it")
    return problems, counts[0], counts[1]


def validate_tree(platform: Platform, out: Path, shown: str, kustomize: Kustomize, kube_version: str,
                  yamllint_config: str, jobs: int = 2, cache_dir: Path | None = None,
                  lint_inputs: Sequence[tuple[str, str, bytes]] = (), lint_tree: bool = False,
                  only: _Only = None) -> Report:
    """Every check of the rendered tree at ``out``; ``shown`` is how paths are printed.

    With ``only`` (a shard), just the overlays and files it accepts (paths relative to ``out``) are checked.

    yamllint reads ``lint_inputs`` ((path shown, path for yamllint, bytes): the files people
    write), and the tree's files too with ``lint_tree`` (the tree has one emitter, whose
    style a test proves). With ``cache_dir``, overlays whose inputs have a cached verdict
    are not built again and files whose bytes have a cached yamllint verdict are not
    linted again.
    """
    kube = KubeSchemas(kube_version)
    claims = _claim_schemas(platform)
    services = _overlays(out, only)
    # the team namespaces' folders are built and cached the same way, in batches of their own per cluster
    overlays = services + _namespace_folders(out, only)
    cache = vcache.Cache(cache_dir)
    keys: dict[str, str | None] = {o.rel: None for o in overlays}
    verdicts: dict[str, _Verdict] = {}
    fingerprint: str | None = None
    if cache_dir is not None:
        fingerprint = _fingerprint(kustomize, kube, claims, out)
        refs_key = vcache.digest(fingerprint, "references")
        known = cache.get("references", refs_key)
        reader = vcache.new_reader(known)
        for o in overlays:
            inputs = vcache.overlay_inputs(reader, out / o.rel)
            if inputs is not None:
                keys[o.rel] = vcache.digest(fingerprint, o.rel, json.dumps(inputs))
                hit = _Verdict.from_json(cache.get("overlays", keys[o.rel]), shown)
                if hit is not None:
                    verdicts[o.rel] = hit
        if reader.used != known:
            cache.put("references", refs_key, reader.used)
    by_cluster: dict[tuple[str, bool], list[_Overlay]] = {}
    for o in overlays:
        if o.rel not in verdicts:
            by_cluster.setdefault((o.cluster, o.space), []).append(o)
    chunks = [(cluster, ovs[i:i + BATCH]) for (cluster, _space), ovs in sorted(by_cluster.items())
              for i in range(0, len(ovs), BATCH)]
    problems: list[Problem] = []
    builds = 0
    with ProcessPoolExecutor(max_workers=1) as lint_pool, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        # yamllint is pure Python: a process of its own overlaps it with the builds
        linted = lint_pool.submit(_yamllint, _LintJob(yamllint_config, tuple(lint_inputs), out if lint_tree else None,
                                                      shown, cache_dir, only))
        futures = [pool.submit(_build_cluster, kustomize, out, ovs, shown) for _cluster, ovs in chunks]
        # the tree's own objects are checked while kustomize builds the first batches
        objects = 0
        for check in (_check_argocd(out, shown, cache, fingerprint, only),
                      _check_platform(out, shown, kube, cache, fingerprint, only),
                      _check_catalog(out, shown, cache, fingerprint, only)):
            problems.extend(check[0])
            objects += check[1]
        for (_cluster, ovs), future in zip(chunks, futures, strict=True):
            per, found, runs = future.result()
            builds += runs
            wheres = {f"{shown}/{o.rel}/kustomization.yaml": o.rel for o in ovs}
            mine: dict[str, list[Problem]] = {o.rel: [] for o in ovs}
            stray = [p for p in found if p.file not in wheres]  # not one overlay's: the batch is not cached
            problems.extend(stray)
            for p in found:
                if p.file in wheres:
                    mine[wheres[p.file]].append(p)
            for o in ovs:
                checked, n = _check_built(per[o.rel], f"{shown}/{o.rel}/kustomization.yaml", kube, claims)
                verdict = _Verdict(tuple(mine[o.rel] + checked), n, tuple(_ident(obj) for obj in per[o.rel]))
                verdicts[o.rel] = verdict
                if not stray:
                    cache.put("overlays", keys[o.rel], verdict.to_json(shown))
        per_cluster: dict[str, dict[str, tuple[_Ident, ...]]] = {}
        for o in overlays:
            verdict = verdicts[o.rel]
            problems.extend(verdict.problems)
            objects += verdict.objects
            per_cluster.setdefault(o.cluster, {})[o.rel] = verdict.idents
        for cluster, idents in sorted(per_cluster.items()):
            problems.extend(_collisions(cluster, idents, shown))
        try:
            lint_problems, lint_runs, lint_cached = linted.result()
        except yaml.YAMLError as exc:  # pragma: no cover - the config is ours or the repo's
            raise ToolError(f"invalid yamllint config: {exc}") from None
        problems.extend(lint_problems)
    built = sum(1 for _cluster, ovs in chunks for o in ovs if not o.space)  # the report counts service overlays
    return Report(tuple(sorted(set(problems))), len(services), objects, builds,
                  built=built, cached=len(services) - built, linted=lint_runs, lint_cached=lint_cached)
