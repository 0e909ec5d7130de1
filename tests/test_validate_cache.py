"""`platform-gen validate` re-validates only what changed: the verdict cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_gen.consumers import _Verdict
from platform_gen.errors import Problem
from platform_gen.kustomize_tool import Kustomize
from platform_gen.vcache import Cache, new_reader, overlay_inputs

from .conftest import EXAMPLE_APPS as APPS
from .conftest import Run, edit, tree

SERVICES = "rendered/services"
PAY_US = f"{SERVICES}/payment-service/overlays/prod/prod-us/kustomization.yaml"
AUTH_US = f"{SERVICES}/auth-service/overlays/prod/prod-us/kustomization.yaml"


@pytest.fixture
def tree_root(example: Path, run: Run, kustomize: Kustomize) -> Path:
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    return example


def validate(run: Run, root: Path, *args: str | Path) -> dict[str, Any]:
    code, out, _err = run("validate", "--root", root, "--format", "json", *args)
    doc: dict[str, Any] = json.loads(out)
    assert code == (1 if doc["problems"] else 0), out
    return doc


def findings(doc: dict[str, Any]) -> tuple[Any, ...]:
    return (doc["status"], doc["problems"], doc["overlays"], doc["objects"])


def input_yaml(root: Path) -> int:
    """The YAML files people write: what yamllint reads (the tree only with --lint-tree; not a Helm chart's
    templates/ and charts/, which are Go templates)."""
    charts = [p.parent for p in (root / "platform-config/templates").glob("*/Chart.yaml")]
    return sum(1 for d in ("platform-config", "environments", "overlays")
               for p in (root / d).rglob("*") if p.suffix in (".yaml", ".yml")
               and not any(p.is_relative_to(c / sub) for c in charts for sub in ("templates", "charts")))


def overlays_of(root: Path, service: str) -> int:
    return len(list((root / SERVICES / service / "overlays").glob("*/*/kustomization.yaml")))


def break_platform(root: Path) -> None:
    """An overlay that does not build, two overlays that produce one object, a schema and a lint finding."""
    edit(root, "environments/dev.yaml", "name: dev\n", "name: dev   \n")
    edit(root, f"{SERVICES}/event-ingest/overlays/dev/dev-1/kustomization.yaml",
         "- ../../../base\n", "- ../../../base\n- missing.yaml\n")
    # auth-service's prod-us overlay also produces payment-service's objects (relabelled, same ids)
    edit(root, AUTH_US, "- ../../../base\n", "- ../../../base\n- ../../../../payment-service/base\n")
    edit(root, AUTH_US, "namespace: identity\n", "namespace: team-payments\n")
    edit(root, f"{SERVICES}/ledger-worker/base/deployment.yaml", "  revisionHistoryLimit: 5\n",
         "  revisionHistoryLimit: five\n")


@pytest.mark.parametrize("broken", [False, True], ids=["example", "broken"])
def test_cold_warm_and_no_cache_find_the_same(tree_root: Path, run: Run, tmp_path: Path, broken: bool) -> None:
    if broken:
        break_platform(tree_root)
    cache = tmp_path / "cache"
    full = validate(run, tree_root, "--no-cache")
    cold = validate(run, tree_root, "--cache-dir", cache)
    warm = validate(run, tree_root, "--cache-dir", cache)
    assert findings(full) == findings(cold) == findings(warm)
    inputs = input_yaml(tree_root)
    assert (full["built"], full["cached"], full["linted"], full["lint_cached"]) == (APPS, 0, inputs, 0)
    assert (cold["built"], cold["cached"], cold["linted"]) == (APPS, 0, inputs)
    assert (warm["built"], warm["cached"], warm["builds"], warm["linted"], warm["lint_cached"]) == (
        0, APPS, 0, 0, inputs)
    assert full["lint_scope"] == warm["lint_scope"] == "inputs"
    if not broken:
        assert full["status"] == "ok"
        return
    messages = [f"{p['file']}: {p['path']}: {p['message']}" for p in warm["problems"]]
    assert any(m.startswith(f"{SERVICES}/event-ingest/overlays/dev/dev-1/kustomization.yaml: : "
                            "kustomize build failed:") for m in messages), messages
    assert (f"{PAY_US}: Deployment team-payments/payment-service: also produced by "
            f"{SERVICES}/auth-service/overlays/prod/prod-us on cluster prod-us") in messages
    assert (f"{SERVICES}/ledger-worker/overlays/prod/prod-eu/kustomization.yaml: Deployment "
            "team-payments/ledger-worker: spec.revisionHistoryLimit: 'five' is not of type 'integer', 'null'"
            ) in messages
    assert "environments/dev.yaml: : yamllint: trailing spaces (trailing-spaces) (trailing-spaces)" in messages


def test_one_service_edit_rebuilds_only_its_overlays(tree_root: Path, run: Run, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    validate(run, tree_root, "--cache-dir", cache)
    before = tree(tree_root / "rendered")
    edit(tree_root, "platform-config/services/auth-service/config.yaml", 'tag: "2.8.1"', 'tag: "2.8.2"')
    code, _out, err = run("render", "--root", tree_root)
    assert code == 0, err
    after = tree(tree_root / "rendered")
    changed = {f for f in after if f.endswith(".yaml") and before.get(f) != after[f]}
    assert {f.split("/")[1] for f in changed if f.startswith("services/")} == {"auth-service"}
    warm = validate(run, tree_root, "--cache-dir", cache)
    assert overlays_of(tree_root, "auth-service") == 4
    assert (warm["built"], warm["cached"]) == (4, APPS - 4)
    assert warm["status"] == "ok"
    # only the input whose bytes changed is linted again; the tree is not linted
    assert (warm["linted"], warm["lint_cached"]) == (1, input_yaml(tree_root) - 1)
    assert validate(run, tree_root, "--no-cache")["objects"] == warm["objects"]


def test_a_hand_edit_of_a_base_or_component_is_validated_again(tree_root: Path, run: Run, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert validate(run, tree_root, "--cache-dir", cache)["status"] == "ok"
    edit(tree_root, f"{SERVICES}/ledger-worker/base/deployment.yaml", "  revisionHistoryLimit: 5\n",
         "  revisionHistoryLimit: five\n")
    doc = validate(run, tree_root, "--cache-dir", cache)
    assert doc["built"] == overlays_of(tree_root, "ledger-worker")
    assert {p["file"] for p in doc["problems"]} == {
        f"{k.relative_to(tree_root).as_posix()}"
        for k in (tree_root / SERVICES / "ledger-worker/overlays").glob("*/*/kustomization.yaml")}
    component = tree_root / "rendered/components/prod/topology-spread.yaml"
    component.write_text(component.read_text() + "  extra: {}\n")
    prod = len(list((tree_root / SERVICES).glob("*/overlays/prod/*/kustomization.yaml")))
    doc = validate(run, tree_root, "--cache-dir", cache)
    assert doc["built"] == prod and doc["cached"] == APPS - prod
    assert findings(doc) == findings(validate(run, tree_root, "--no-cache"))


def spaces(root: Path) -> int:
    """The team namespace folders of the rendered tree: built and cached like the service overlays."""
    count = len(list((root / "rendered/namespaces").glob("*/*/kustomization.yaml")))
    assert count == 12  # 3 teams on 4 clusters
    return count


def test_corrupt_or_unreadable_entries_are_misses(tree_root: Path, run: Run, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    break_platform(tree_root)
    cold = validate(run, tree_root, "--cache-dir", cache)
    entries = sorted(p for p in cache.rglob("*.json"))
    checked_files = [p for folder in ("argocd", "platform") for p in (tree_root / "rendered" / folder).rglob("*.yaml")
                     if p.name != "kustomization.yaml"]  # Argo CD and Crossplane files: cached per file
    checked_files += [p for p in (tree_root / "rendered/catalog").rglob("*.yaml")
                      if "skeleton" not in p.parts]  # and the Backstage catalog's
    # an entry per service overlay and team namespace folder, input file, checked file, and the references index
    assert len(entries) == APPS + spaces(tree_root) + input_yaml(tree_root) + len(checked_files) + 1
    for i, path in enumerate(entries):
        path.write_text(["{", "", "[]", '{"key": "other", "value": 1}', '{"key": "x"}'][i % 5])
    entry = next(iter(sorted((cache / "overlays").rglob("*.json"))))
    entry.unlink()
    entry.mkdir()  # unreadable as a file
    again = validate(run, tree_root, "--cache-dir", cache)
    assert findings(again) == findings(cold)
    assert (again["built"], again["linted"]) == (APPS, input_yaml(tree_root))
    # the entries are rewritten (the folder in the way of one is skipped)
    last = validate(run, tree_root, "--cache-dir", cache)
    # the one folder whose entry could not be written is built again, alone
    assert (last["builds"], last["built"] + last["cached"], last["linted"]) == (1, APPS, 0)
    assert findings(last) == findings(cold)


def test_default_cache_folder_and_no_cache(tree_root: Path, run: Run) -> None:
    validate(run, tree_root, "--no-cache")
    assert not (tree_root / ".cache").exists()
    validate(run, tree_root)
    folder = tree_root / ".cache/platform-gen/validate"
    assert len(list((folder / "overlays").rglob("*.json"))) == APPS + spaces(tree_root)
    assert len(list((folder / "yamllint").rglob("*.json"))) == input_yaml(tree_root)
    assert validate(run, tree_root)["cached"] == APPS


def test_cache_store_is_atomic_and_checks_its_key(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    key = "ab" * 32
    assert cache.get("overlays", key) is None
    cache.put("overlays", key, {"objects": 1})
    assert cache.get("overlays", key) == {"objects": 1}
    assert [p.name for p in (tmp_path / "c").rglob("*") if p.is_file()] == [f"{key}.json"]
    (tmp_path / "c/overlays/ab" / f"{key}.json").rename(tmp_path / "c/overlays/ab" / f"{'cd' * 32}.json")
    assert cache.get("overlays", "cd" * 32) is None  # stored under another key
    Cache(None).put("overlays", key, 1)
    assert Cache(None).get("overlays", key) is None
    blocked = tmp_path / "file"
    blocked.write_text("")
    Cache(blocked).put("overlays", key, 1)  # cannot be written: skipped, no error
    assert blocked.read_text() == ""


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)
VERDICT = st.fixed_dictionaries({"objects": JSON, "problems": JSON, "idents": JSON})


@settings(max_examples=60, deadline=None)
@given(st.one_of(JSON, VERDICT))
def test_any_stored_verdict_is_read_or_ignored_never_a_crash(value: Any) -> None:
    verdict = _Verdict.from_json(value, "rendered")
    if verdict is not None:  # only a well-formed entry is used, and it reads back as itself
        assert verdict.to_json("rendered") == value


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.integers(0, 9), st.integers(0, 9), st.text(max_size=8),
                          st.text(max_size=8), st.text(max_size=8)), max_size=4),
       st.integers(0, 99), st.lists(st.tuples(*[st.text(max_size=6)] * 5), max_size=4))
def test_a_verdict_survives_the_cache(rows: list[tuple[str, int, int, str, str, str]], objects: int,
                                      idents: list[tuple[str, str, str, str, str]]) -> None:
    verdict = _Verdict(tuple(Problem(f"out/{f}", ln, col, kp, m, h) for f, ln, col, kp, m, h in rows), objects,
                       tuple(idents))
    back = _Verdict.from_json(json.loads(json.dumps(verdict.to_json("out"))), "out")
    assert back is not None
    assert (back.problems, [p.hint for p in back.problems], back.objects, back.idents) == (
        verdict.problems, [p.hint for p in verdict.problems], objects, tuple(idents))


def test_line_ends_are_read_as_before(tree_root: Path, run: Run, tmp_path: Path) -> None:
    """yamllint reads a file as text (CRLF as LF), hashed by its bytes or not."""
    for path in (tree_root / PAY_US, tree_root / "environments/dev.yaml"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    full = validate(run, tree_root, "--no-cache", "--lint-tree")
    assert full["status"] == "ok"
    assert findings(validate(run, tree_root, "--cache-dir", tmp_path / "c", "--lint-tree")) == findings(full)
    assert findings(validate(run, tree_root, "--cache-dir", tmp_path / "c", "--lint-tree")) == findings(full)


def test_the_key_covers_what_the_build_reads(tree_root: Path, tmp_path: Path) -> None:
    reader = new_reader()
    out = tree_root / "rendered"
    prod = overlay_inputs(reader, out / "services/auth-service/overlays/prod/prod-us")
    dev = overlay_inputs(reader, out / "services/auth-service/overlays/dev/dev-1")
    assert prod is not None and dev is not None

    def files(inputs: list[tuple[str, str]]) -> set[str]:
        return {Path(f).relative_to(out).as_posix() for f, _h in inputs if not f.startswith(("dir:", "missing:"))}

    base = {p.relative_to(out).as_posix() for p in (out / "services/auth-service/base").iterdir()}
    components = {p.relative_to(out).as_posix() for p in (out / "components/prod").iterdir()}
    def overlay(rel: str) -> set[str]:  # the overlay's own files: its kustomization.yaml and runtime files
        return {p.relative_to(out).as_posix() for p in (out / rel).iterdir()}

    assert files(prod) == overlay("services/auth-service/overlays/prod/prod-us") | base | components
    assert files(dev) == overlay("services/auth-service/overlays/dev/dev-1") | base
    # a reference that is missing is part of the key; one on the network cannot be keyed
    folder = tmp_path / "k"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources:\n- gone.yaml\n")
    assert set(overlay_inputs(new_reader(), folder) or []) == {
        (f"missing:{folder / 'gone.yaml'}", f"missing:{folder / 'gone.yaml'}"),
        (str(folder / "kustomization.yaml"), hashlib.sha256(b"resources:\n- gone.yaml\n").hexdigest())}
    (folder / "kustomization.yaml").write_text("resources:\n- https://github.com/acme/x//base?ref=v1\n")
    assert overlay_inputs(new_reader(), folder) is None


def test_a_hand_edit_of_an_argocd_file_is_checked_again(tree_root: Path, run: Run, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert validate(run, tree_root, "--cache-dir", cache)["status"] == "ok"
    edit(tree_root, "rendered/argocd/projects/data.yaml", "spec:\n", "specs: {}\nspec:\n")
    doc = validate(run, tree_root, "--cache-dir", cache)
    assert "unknown field 'specs'" in [p["message"] for p in doc["problems"]]
    assert findings(doc) == findings(validate(run, tree_root, "--no-cache"))
    assert findings(validate(run, tree_root, "--cache-dir", cache)) == findings(doc)


@pytest.mark.parametrize("text", [
    "resources:\n- ../base\npatches:\n- path: p.yaml\n",
    "base: &b [../base]\nresources: *b\npatches: [{path: p.yaml}]\n",
    "<<: {resources: [../base], patches: [{path: p.yaml}]}\n",
    "when: 2026-13-45\nresources:\n- ../base\npatches:\n- path: p.yaml\n",  # a bad value elsewhere is not read
])
def test_references_are_read_however_written(tmp_path: Path, text: str) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base/kustomization.yaml").write_text("resources: []\n")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(text)
    (overlay / "p.yaml").write_text("x: 1\n")
    inputs = overlay_inputs(new_reader(), overlay)
    assert inputs is not None
    assert str(tmp_path / "base/kustomization.yaml") in {f for f, _h in inputs}


def test_a_new_reference_is_followed_on_a_warm_run(tree_root: Path, run: Run, tmp_path: Path) -> None:
    """The stored references of a kustomization are its bytes': an edit reads them again."""
    cache = tmp_path / "cache"
    assert validate(run, tree_root, "--cache-dir", cache)["status"] == "ok"
    edit(tree_root, AUTH_US, "- ../../../base\n", "- ../../../base\n- ../../../../ledger-worker/base\n")
    edit(tree_root, AUTH_US, "namespace: identity\n", "namespace: team-payments\n")
    first = validate(run, tree_root, "--cache-dir", cache)
    assert first["built"] == 1
    assert findings(first) == findings(validate(run, tree_root, "--no-cache"))
    edit(tree_root, f"{SERVICES}/ledger-worker/base/deployment.yaml", "  revisionHistoryLimit: 5\n",
         "  revisionHistoryLimit: five\n")
    doc = validate(run, tree_root, "--cache-dir", cache)
    assert doc["built"] == overlays_of(tree_root, "ledger-worker") + 1
    assert f"{AUTH_US}" in {p["file"] for p in doc["problems"]}
    assert findings(doc) == findings(validate(run, tree_root, "--no-cache"))
