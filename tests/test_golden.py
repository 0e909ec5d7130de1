"""Golden cases: tests/cases/<name>/input is a platform repo, expected its whole rendered tree.

Regenerate with ``pytest tests/test_golden.py --update-goldens`` and review the diff.
"""

from __future__ import annotations

import difflib
import re
import shutil
from pathlib import Path

import pytest

from platform_gen import yamlio
from platform_gen.index import INDEX
from platform_gen.kustomize_tool import Kustomize

from .conftest import Run, tree

CASES = Path(__file__).parent / "cases"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "input").is_dir())


_GENERATOR = re.compile(rb'^"generator":"[^"]*",$', re.M)
_CHECKSUM = re.compile(rb'^"checksum":"[^"]*",$', re.M)  # of the rest, the generator included


def unmasked(files: dict[str, bytes]) -> dict[str, bytes]:
    """The tree with the index's generator digest masked: it changes with every change to platform-gen's
    code, so a golden would otherwise go stale with each one (the committed example tree keeps it, and
    test_example checks it whole)."""
    if INDEX in files:
        masked = _GENERATOR.sub(b'"generator":"<any>",', files[INDEX], count=1)
        files = {**files, INDEX: _CHECKSUM.sub(b'"checksum":"<any>",', masked, count=1)}
    return files


def unified(expected: dict[str, bytes], actual: dict[str, bytes]) -> str:
    expected, actual = unmasked(expected), unmasked(actual)
    out = []
    for rel in sorted(set(expected) | set(actual)):
        a = expected.get(rel, b"").decode().splitlines(keepends=True)
        b = actual.get(rel, b"").decode().splitlines(keepends=True)
        if a != b or (rel in expected) != (rel in actual):
            out.extend(difflib.unified_diff(a, b, f"expected/{rel}", f"actual/{rel}"))
    return "".join(out)


def render_case(name: str, tmp_path: Path, run: Run) -> Path:
    root = tmp_path / name
    shutil.copytree(CASES / name / "input", root)
    code, _out, err = run("render", "--root", root, "--out", root / "out")
    assert code == 0, err
    return root / "out"


@pytest.mark.parametrize("name", NAMES)
def test_golden_tree(name: str, tmp_path: Path, run: Run, update_goldens: bool) -> None:
    out = render_case(name, tmp_path, run)
    expected_dir = CASES / name / "expected"
    if update_goldens:
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(out, expected_dir)
    diff = unified(tree(expected_dir) if expected_dir.is_dir() else {}, tree(out))
    assert not diff, f"rendered tree of case '{name}' differs from its golden:\n{diff}"


@pytest.mark.parametrize("name", NAMES)
def test_golden_overlays_build(name: str, kustomize: Kustomize) -> None:
    expected = CASES / name / "expected"
    dirs = sorted(p.parent for p in expected.glob("services/*/overlays/*/*/kustomization.yaml"))
    assert dirs or name == "empty"
    for d in dirs:
        build = kustomize.build(d)
        assert build.ok and not build.warnings, f"{d}: {build.error or build.warnings}"
        assert yamlio.safe_load_all(build.output)


def test_service_in_no_environment_has_only_a_base() -> None:
    files = tree(CASES / "basic" / "expected")
    idle = sorted(f for f in files if "idle" in f and not f.startswith("catalog/"))
    assert idle == ["services/idle/base/deployment.yaml", "services/idle/base/kustomization.yaml"]
    # the catalog still shows it: a Component that runs nowhere, so on no cluster
    (component,) = yamlio.safe_load_all(files["catalog/services/idle.yaml"].decode())
    assert component["spec"]["lifecycle"] == "experimental" and "dependsOn" not in component["spec"]


def test_newline_and_document_marker_survive(kustomize: Kustomize) -> None:
    build = kustomize.build(CASES / "deep-override" / "expected" / "services/ledger/overlays/qa/qa-east")
    (deployment,) = yamlio.safe_load_all(build.output)
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CERT"] == "-----BEGIN CERTIFICATE-----\nMIIB\n---\nend: true\n-----END CERTIFICATE-----\n"
    # every layer wins exactly where it should
    assert env == {**env, "A": "platform", "B": "environment", "C": "cluster", "D": "service",
                   "E": "service-env", "F": "service-cluster"}
    res = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res == {"requests": {"cpu": "15m", "memory": "24Mi"}, "limits": {"cpu": "200m", "memory": "48Mi"}}
