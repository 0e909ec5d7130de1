"""The fast YAML emitter is byte-identical to PyYAML on every shape we emit, and located loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_gen import yamlio

from .conftest import REPO

TRICKY = ["on", "yes", "No", "1.0", "", " lead", "trail ", "a: b", "#x", "a #b", "-", "null", "~", "0x1", "1e3",
          "multi\nline", "é ü", "@x", "`x", "it's", '"q"', "*", "&a", "!t", "%", "|", ">", "[x]", "{x}", ",", "?",
          "x" * 300, "---", "...", "a\n---\nb", "tab\there", "\u2028", "0755", "1_000", "2026-01-01", "=", "<<",
          "{{.app}}", "'", "\\", "ünïcode: yes", "::", "- x", "true", "FALSE", ".inf", "NaN"]


def corpus() -> list[object]:
    docs: list[object] = []
    for path in sorted([*REPO.glob("rendered/**/*.yaml"), *REPO.glob("tests/cases/*/expected/**/*.yaml")]):
        if "/catalog/scaffolder/skeleton/" not in path.as_posix():  # a nunjucks template, YAML once filled in
            docs.extend(yamlio.safe_load_all(path.read_text()))
    docs.append({"values": TRICKY, "keys": {t: t for t in TRICKY if t}, "nums": [0, -1, 1.5, 1e20, True, None]})
    docs.append({"nested": [[1, 2], [], {}, [{"a": [[]]}]], "empty": {}, "list": []})
    docs.append({"patch": yamlio.block("apiVersion: v1\nkind: X\nmetadata:\n  name: y\n"), "after": 1})
    docs.append({"items": [{"patch": yamlio.block("a: 1\n\nb: 2\n")}, {"patch": yamlio.block(" lead\n")}]})
    docs.append({"bad": yamlio.block("no newline"), "trailing": yamlio.block("x  \n")})
    docs.append({1: "int key", 2.5: "float key"})
    return docs


@pytest.mark.parametrize("doc", corpus(), ids=lambda d: str(d)[:40])
def test_fast_dump_equals_pyyaml(doc: object) -> None:
    assert yamlio.dump(doc) == yamlio.dump_pyyaml(doc)


def test_dump_round_trips() -> None:
    doc = {"values": TRICKY}
    assert yamlio.safe_load_all(yamlio.dump(doc)) == [doc]


def test_located_load_positions() -> None:
    loc, problems = yamlio.load_located("a: 1\nb:\n  c: [1, 2]\n  d: {e: x}\n", "f.yaml")
    assert problems == [] and loc is not None
    assert loc.data == {"a": 1, "b": {"c": [1, 2], "d": {"e": "x"}}}
    assert (loc.pos(("b", "d", "e")).line, loc.pos(("b", "d", "e")).column) == (4, 10)
    assert loc.pos(("b", "c", 1)).column == 10
    assert loc.pos(("b", "d"), key=True).column == 3


def test_merge_keys_are_rejected(tmp_path: Path) -> None:
    _loc, problems = yamlio.load_located("base: {x: 1}\nother:\n  <<: {x: 1}\n", "f.yaml")
    assert [str(p) for p in problems] == ["f.yaml:3:3: other: merge keys (<<) are not supported"]
    # with an alias, as merge keys are usually written, the alias is refused before anything is built
    _loc, problems = yamlio.load_located("base: &b {x: 1}\nother:\n  <<: *b\n", "f.yaml")
    assert [str(p) for p in problems] == ["f.yaml:1:7: base: anchors (&name) are not supported",
                                          "f.yaml:3:7: other.<<: aliases (*name) are not supported"]
