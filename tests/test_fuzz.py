"""Property: whatever an input file of the platform repo holds, render ends with 0 or 1, never 3.

The example platform is copied, one input file (platform.yaml, an environment, a
config.yaml, an XRD or Composition, a template, an overlay file) is mutated: a random
node of its YAML is replaced by a random value, or a random stretch of its text by
random text; then ``platform-gen render`` runs in-process.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen import crdschema, yamlio
from platform_gen.cli import main
from platform_gen.infrastructure import check_crossplane, claims_for, offered_kinds

from .conftest import REPO, copy_inputs

INPUT_DIRS = ("platform-config", "environments", "overlays")


def _inputs(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for d in INPUT_DIRS for p in (root / d).rglob("*") if p.is_file())


INPUTS = _inputs(REPO)
#: A Helm chart's templates/ and charts/ hold Go templates, not YAML: mutated as text only.
_CHARTS = tuple(f"{p.parent.relative_to(REPO).as_posix()}/{sub}/"
                for p in (REPO / "platform-config/templates").glob("*/Chart.yaml") for sub in ("templates", "charts"))
YAML_INPUTS = [f for f in INPUTS if f.endswith((".yaml", ".yml")) and not f.startswith(_CHARTS)]

_text = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "\n", "1.4.2\n", "\x85", "\x7f", "\x00", "*a", "&a x", "- [", "{", "!!python/object:x {}", "<<",
     "2026-13-45", "9" * 5000, "${x}", "{{ x }}", "local x = ", "@", "---\n", "~", "true", "-1", ".nan"])
_RAW = ["2026-13-45", "&a x", "*a", "!!binary x", "!!timestamp x", "[" * 80 + "]" * 80, "9" * 5000, "0x" + "f" * 5000,
        '"a\\x85b"', '"\\x7f"', '"1.4.2\\n"', "{a: 1, a: 2}", "[a, &b c, *b]", "? [a]\n: b", "!!python/name:os.system",
        "<<: {a: 1}", "|\n  text", '"\\ud800"', "1e400", "-.inf", ".nan", "0o17", "2026-01-01 10:00:00"]
_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _text
_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*here, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*here, i)))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, bytes]:
    """One input file and its new content."""
    rel = draw(st.sampled_from(INPUTS))
    text = (REPO / rel).read_text(encoding="utf-8")
    if rel in YAML_INPUTS and draw(st.booleans()):
        docs = yamlio.safe_load_all(text)
        d = draw(st.integers(0, len(docs) - 1))
        path = draw(st.sampled_from(_paths(docs[d])))
        docs[d] = _replace(docs[d], path, draw(_values))
        return rel, yamlio.dump_all(docs).encode("utf-8")
    lines = text.splitlines(keepends=True)
    values = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("#")]
    if values and draw(st.booleans()):
        # a value written as raw YAML: what a person could type after the colon
        i = draw(st.sampled_from(values))
        raw = draw(st.sampled_from(_RAW) | _text.map(lambda t: t.replace("\n", " ")))
        lines[i] = lines[i][: lines[i].index(": ") + 2] + raw + "\n"
        return rel, "".join(lines).encode("utf-8")
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    new = draw(_text | st.binary(max_size=8).map(lambda b: b.decode("latin-1")))
    mutated = (text[:start] + new + text[end:]).encode("utf-8")
    if draw(st.booleans()):
        mutated = mutated.replace("é".encode(), b"\xff", 1) if b"\xc3" in mutated else mutated + b"\xff"
    return rel, mutated


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_inputs(REPO, tmp_path_factory.mktemp("fuzz") / "repo")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(mutation=mutations())
def test_render_never_crashes_on_a_mutated_input(pristine: Path, mutation: tuple[str, bytes]) -> None:
    rel, content = mutation
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "repo")
        shutil.copytree(pristine, root)
        (root / rel).write_bytes(content)
        code = main(["render", "--root", str(root), "-q"])
    assert code in (0, 1), (rel, content[:400])


# --- the XRD loader alone: many more examples, no rendering -----------------------------

_XRD = REPO / "platform-config/crossplane/postgresqlinstance/definition.yaml"
_XRD_TEXT = _XRD.read_text(encoding="utf-8")
_SCHEMA_WORDS = st.sampled_from(["type", "properties", "items", "enum", "default", "pattern", "minimum", "maximum",
                                 "required", "additionalProperties", "nullable", "anyOf", "oneOf", "not",
                                 "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
                                 "exclusiveMinimum", "patternProperties", "format", "bogus"])
_schema_values: st.SearchStrategy[Any] = st.recursive(
    _scalars | st.sampled_from(["string", "integer", "object", "array", "^[a-z]+$", "(", "[", "$"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_SCHEMA_WORDS | _text, inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_malformed_xrds_are_problems_not_crashes(data: st.DataObject) -> None:
    docs, problems = yamlio.load_located_all(_XRD_TEXT, "definition.yaml")
    assert not problems
    xrd = docs[0].data
    params_path = ("spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec", "properties",
                   "parameters")
    paths = [p for p in _paths(xrd) if p[: len(params_path)] == params_path or p[:2] == ("spec", "versions")]
    path = data.draw(st.sampled_from(paths))
    _replace(xrd, path, data.draw(_schema_values))
    # the same checks validate runs: the XRD's own shape, its schemas, the kinds offered, a claim
    located = yamlio.Located("definition.yaml", xrd, docs[0].keys, docs[0].values)
    found = check_crossplane((located,))
    if found:
        return
    kinds = offered_kinds((located,), found)
    service = yamlio.Located("config.yaml", {"infrastructure": [
        {"kind": "PostgreSQLInstance", "name": "db", "parameters": data.draw(_values)}]}, {}, {})
    claims_for(service, {"dev": ("dev-1",)}, {"dev"}, kinds, found)
    for kind in kinds.values():
        if kind.parameters is not None:
            crdschema.fill_defaults(data.draw(_values), kind.parameters)
