"""The rendered tree passes yamllint by construction: one emitter (``yamlio``) writes it.

``validate`` lints the files people write on every run and the tree only with
``--lint-tree``. These tests are the reason: real yamllint, with the project's config
and the packaged default, finds nothing in the example's tree, the golden cases'
trees, or the YAML emitted for generated values (odd strings, numbers written as
strings, multi-line text, unicode, empty mappings and lists).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yamllint import linter
from yamllint.config import YamlLintConfig

from platform_gen import yamlio
from platform_gen.cli import compile_platform
from platform_gen.outputs.catalog import SKELETON_DIR

from .conftest import REPO, copy_inputs

CASES = Path(__file__).parent / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "input").is_dir())
CONFIGS = {
    "repo": (REPO / ".yamllint.yaml").read_text(encoding="utf-8"),
    "packaged": (resources.files("platform_gen") / "data" / "yamllint.yaml").read_text(encoding="utf-8"),
}


def findings(files: dict[str, bytes], config: str) -> list[str]:
    conf = YamlLintConfig(content=config)
    found = []
    for rel, data in sorted(files.items()):
        # the Scaffolder skeleton is a nunjucks template: YAML once Backstage fills it in (test_catalog lints that)
        if rel.endswith((".yaml", ".yml")) and not rel.startswith(SKELETON_DIR):
            found += [f"{rel}:{p.line}:{p.column}: {p.desc} ({p.rule})"
                      for p in linter.run(data.decode("utf-8"), conf, rel)]
    return found


def yaml_files(files: dict[str, bytes]) -> int:
    return sum(rel.endswith((".yaml", ".yml")) for rel in files)


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("name", ["example", *CASE_NAMES])
def test_rendered_trees_have_no_yamllint_findings(name: str, config: str, tmp_path: Path) -> None:
    root = copy_inputs(REPO, tmp_path / "repo") if name == "example" else CASES / name / "input"
    _platform, rendered = compile_platform(root)
    assert yaml_files(rendered.files) >= 5
    assert findings(rendered.files, CONFIGS[config]) == []


def test_the_committed_example_tree_has_no_yamllint_findings() -> None:
    tree = {p.relative_to(REPO / "rendered").as_posix(): p.read_bytes()
            for p in sorted((REPO / "rendered").rglob("*.yaml"))}
    assert len(tree) > 50
    assert findings(tree, CONFIGS["repo"]) == []


def test_a_lint_finding_is_seen() -> None:
    """The check above can fail: text the emitter never writes has findings."""
    bad = {"a.yaml": b"a:   1\nb: yes\nc:\n- x\n-  y\n\n\n\nd: 1   \n"}
    assert {f.rsplit("(", 1)[1] for f in findings(bad, CONFIGS["repo"])} == {
        "colons)", "truthy)", "empty-lines)", "trailing-spaces)", "hyphens)"}
    assert CONFIGS["repo"] == CONFIGS["packaged"]


ODD = ["", " ", "  lead", "trail ", "a: b", "#x", "x #y", "- x", "---", "...", "'", '"', "\\", "{a}", "[1]",
       "yes", "no", "on", "off", "~", "null", "true", "1", "1.0", "0x1F", "0o17", "08", "1e3", "12:30",
       "2026-01-01", "-.inf", ".NaN", "3141e59", "9" * 30, "multi\nline", "a\n\n\n\nb", "\n", "tab\there",
       "trail \nspace", "ünïcödé", "日本語", "emoji 🚀", "\u00a0nbsp", "a\u2009b", "%percent", "@at", "`tick",
       "!bang", "&amp", "*star", "|pipe", ">fold", "?q", ",comma", "=eq", "<<"]
TEXT = st.characters(codec="utf-8", exclude_categories=("Cs", "Co", "Cn"),
                     exclude_characters="\x85\u2028\u2029\ufeff")
scalars = st.one_of(st.sampled_from(ODD), st.text(TEXT, max_size=20), st.integers(-(1 << 63), (1 << 63) - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
                    st.text("0123456789eEoxb._+-:", min_size=1, max_size=8))
keys = st.one_of(st.sampled_from([k for k in ODD if k]), st.text(TEXT, min_size=1, max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=25)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=6))
def test_the_emitter_writes_lint_clean_yaml(doc: dict[str, Any]) -> None:
    text = yamlio.dump(doc)
    assert yaml.safe_load(text) == doc  # the emitter wrote this document
    assert findings({"doc.yaml": text.encode("utf-8")}, CONFIGS["repo"]) == [], text


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dictionaries(keys, values, min_size=1, max_size=4), min_size=1, max_size=3))
def test_multi_document_files_are_lint_clean(docs: list[dict[str, Any]]) -> None:
    text = yamlio.dump_all(docs)
    assert findings({"docs.yaml": text.encode("utf-8")}, CONFIGS["repo"]) == [], text


@pytest.fixture(scope="module")
def platform_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_inputs(REPO, tmp_path_factory.mktemp("style") / "repo")


#: What an input may hold: no control characters but line breaks (the input limits).
INPUT_TEXT = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"),
                           exclude_characters="\u2028\u2029\ufeff")
ENV_VALUES = st.one_of(st.sampled_from([v for v in ODD if v.strip() and "\t" not in v]),
                       st.text(INPUT_TEXT, min_size=1, max_size=16))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env=st.lists(ENV_VALUES, min_size=1, max_size=8), description=ENV_VALUES)
def test_a_platform_rendered_from_generated_values_is_lint_clean(platform_repo: Path, env: list[str],
                                                                 description: str) -> None:
    config = "platform-config/services/payment-service/config.yaml"
    cfg = yaml.safe_load((REPO / config).read_text(encoding="utf-8"))
    cfg["env"] = {f"V{i}": v for i, v in enumerate(env)}
    cfg["description"] = description
    (platform_repo / config).write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    _platform, rendered = compile_platform(platform_repo)
    assert findings(rendered.files, CONFIGS["repo"]) == []
