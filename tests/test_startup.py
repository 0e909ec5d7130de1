"""Start-up: a command loads the heavy libraries only when it uses them.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

HEAVY = ("jsonschema", "jinja2", "_jsonnet", "kubernetes_validate", "promql_parser", "helm_python")
CASES = REPO / "tests" / "cases"


def loaded_after(code: str, cwd: Path) -> set[str]:
    """Which of HEAVY are imported once ``code`` has run."""
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    assert loaded_after("from platform_gen.cli import main", tmp_path) == set()


def test_version_loads_no_heavy_library(tmp_path: Path) -> None:
    code = "from platform_gen.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass"
    assert loaded_after(code, tmp_path) == set()


@pytest.mark.parametrize(("case", "expected"), [
    # valid inputs pass the compiled schema check: jsonschema is loaded only to explain a problem
    ("basic", {"jinja2"}),  # Jinja templates only
    ("jsonnet-worker", {"_jsonnet"}),  # a Jsonnet template only
    ("helm-chart", set()),  # Helm's library (a Go runtime) starts in the template worker only, never here
])
def test_a_render_loads_the_template_language_it_uses_and_no_other(case: str, expected: set[str],
                                                                   tmp_path: Path) -> None:
    shutil.copytree(CASES / case / "input", tmp_path / "repo")
    code = ("import sys\nfrom platform_gen.cli import main\n"
            "assert main(['render', '--root', 'repo', '--out', 'repo/out', '-q']) == 0")
    assert loaded_after(code, tmp_path) == expected
    # and a second, no-op render too
    assert loaded_after(code, tmp_path) == expected
