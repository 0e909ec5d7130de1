"""Benchmark ``platform-gen validate`` on a synthetic platform of N services.

The platform is the one ``render_bench.py`` generates (N services x 3 environments x
4 clusters), in a git repo with its tree (``rendered/``, with the render index) committed
on ``main``, as a pull request finds it. Five runs of ``validate --format json`` are
timed, each in its own process:

1. cold:      ``validate --no-cache``: every overlay is built and checked, no cache is read
   or written (the inputs of services that the base's render index records unchanged are
   not validated again);
2. cold-full: ``validate --no-cache --full``: the same, and every service's inputs are
   validated and rendered again (a version without ``--full`` runs plain ``--no-cache``);
3. fill:      ``validate`` with an empty cache folder (validates everything and stores it);
4. warm:      ``validate`` again, nothing changed;
5. one-svc:   one service's image tag is changed and the tree rendered again (not timed,
   not committed: the pull request's working copy), then ``validate`` with the warm cache.

``--before DIR`` times the same runs with a second copy of the code (DIR holds its
``generator/`` folder, e.g. ``git archive main generator | tar -x -C DIR``), run from
the same interpreter with DIR/generator first on ``PYTHONPATH``; the runs of the two
versions alternate, so both see the same load. ``uptime`` is printed before and after.

Usage: python benchmarks/validate_bench.py [--services 1000] [--before DIR] [--jobs N] [--no-cold] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_bench import MARKER, Run, _commit, generate, measure

LABELS = ("cold", "cold-full", "fill", "warm", "one-svc")


@dataclass
class Version:
    """One copy of the code under test and its runs."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cache: Path
    runs: dict[str, Run] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    has_full: bool = False  #: its validate takes --full


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _command() -> list[str]:
    return [sys.executable, "-c", "import sys; from platform_gen.cli import main; sys.exit(main())"]


def _where(version: Version) -> str:
    code = "import platform_gen, pathlib; print(pathlib.Path(platform_gen.__file__).parent)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=version.env, check=True)
    return proc.stdout.strip()


def _run(version: Version, label: str, argv: list[str]) -> None:
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(version.env)
    before = os.times()
    try:
        run = measure(label, [*version.argv, *argv])
    finally:
        os.environ.clear()
        os.environ.update(old)
    after = os.times()
    # the CPU of the run and of its reaped children (kustomize, the yamllint worker): the
    # work done, which the load of a shared machine does not change as it changes wall time
    version.cpu[label] = (after.children_user - before.children_user) + (after.children_system
                                                                          - before.children_system)
    try:
        doc = json.loads(run.stdout)
    except json.JSONDecodeError:
        doc = {}
    if run.code not in (0, 1) or doc.get("status") != "ok":
        raise SystemExit(f"error: {version.name} {label} exited {run.code}:\n{run.stdout[:3000]}\n{run.stderr[-3000:]}")
    version.runs[label] = run
    version.docs[label] = doc
    print(f"  {version.name:7} {label:8} {run.seconds:7.2f} s  CPU {version.cpu[label]:7.2f} s  "
          f"{run.peak_rss_mib:6.0f} MiB  "
          f"built {doc.get('built')} cached {doc.get('cached')} kustomize runs {doc.get('builds')} "
          f"linted {doc.get('linted')} lint_cached {doc.get('lint_cached')} services {doc.get('services')}",
          file=sys.stderr, flush=True)


def _bump_tag(root: Path, step: int) -> str:
    """Change the first service's image tag; return the service's name."""
    config = sorted((root / "platform-config" / "services").glob("*/config.yaml"))[0]
    text = config.read_text(encoding="utf-8")
    new = re.sub(r"(?m)^tag: .*$", f"tag: 9.9.{step}", text, count=1)
    assert new != text, config
    config.write_text(new, encoding="utf-8")
    return config.parent.name


def _render(root: Path, out: Path) -> None:
    proc = subprocess.run([*_command(), "render", "--root", str(root), "--out", str(out), "-q"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: render exited {proc.returncode}:\n{proc.stderr[-3000:]}")


def _has_full(version: Version) -> bool:
    proc = subprocess.run([*version.argv, "validate", "--help"], capture_output=True, text=True, env=version.env,
                          check=False)
    return "--full" in proc.stdout


def bench(workdir: Path, services: int, versions: list[Version], jobs: int | None, cold: bool = True) -> None:
    root = workdir / "repo"
    out = root / "rendered"
    generate(root, services)
    _render(root, out)
    _commit(root)  # main, whose tree and render index a pull request's validate starts from
    base = ["validate", "--root", str(root), "--out", str(out), "--format", "json"]
    if jobs is not None:
        base += ["--jobs", str(jobs)]
    for v in versions:
        v.has_full = _has_full(v)
    for label in ("cold", "cold-full", "fill", "warm") if cold else ("fill", "warm"):
        for v in versions:
            if label.startswith("cold"):
                argv = [*base, "--no-cache", *(["--full"] if label == "cold-full" and v.has_full else [])]
            else:
                argv = [*base, "--cache-dir", str(v.cache)]
            _run(v, label, argv)
    for step, v in enumerate(versions):
        _bump_tag(root, step)
        _render(root, out)
        _run(v, "one-svc", [*base, "--cache-dir", str(v.cache)])


def table(versions: Sequence[Version]) -> str:
    lines = ["| version | cold (--no-cache) s | cold, every service (--full) s | fill (empty cache) s | warm s "
             "| one service changed s | kustomize runs (fill) | overlays built (one service) "
             "| services rendered (one service) | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in versions:
        secs = " | ".join(f"{v.runs[label].seconds:.1f} (CPU {v.cpu[label]:.1f})" if label in v.runs else "-"
                          for label in LABELS)
        rendered = (v.docs["one-svc"].get("services") or {}).get("rendered", "all")
        lines.append(f"| {v.name} | {secs} | {v.docs['fill'].get('builds')} | {v.docs['one-svc'].get('built')} "
                     f"| {rendered} | {max(r.peak_rss_mib for r in v.runs.values()):.0f} |")
    return "\n".join(lines)


def _workdir(base: Path, services: int) -> Path:
    d = base / f"v{services}"
    if d.exists() and any(d.iterdir()):
        if not (d / MARKER).is_file():
            raise SystemExit(f"error: {d} is not empty and was not made by this benchmark")
        shutil.rmtree(d)
    d.mkdir(parents=True)
    (d / MARKER).write_text("made by benchmarks/validate_bench.py\n", encoding="utf-8")
    return d


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=1000, metavar="N", help="platform size (default: 1000)")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time the code in DIR/generator (e.g. the main branch), alternating runs")
    parser.add_argument("--jobs", type=int, help="pass --jobs N to validate (default: validate's own)")
    parser.add_argument("--no-cold", action="store_true", help="skip the two cold runs (--no-cache)")
    parser.add_argument("--out-dir", type=Path, help="generate into DIR/v<N> (kept) instead of a temp folder")
    args = parser.parse_args(argv)
    if not 1 <= args.services <= 9999:
        parser.error("--services takes sizes from 1 to 9999")
    if args.before is not None and not (args.before / "generator" / "platform_gen").is_dir():
        parser.error(f"{args.before} has no generator/platform_gen folder")
    base = args.out_dir.resolve() if args.out_dir is not None else Path(tempfile.mkdtemp(prefix="validate-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        workdir = _workdir(base, args.services)
        versions: list[Version] = []
        if args.before is not None:
            env = {**os.environ, "PYTHONPATH": str((args.before / "generator").resolve())}
            versions.append(Version("before", _command(), env, workdir / "cache-before"))
        versions.append(Version("after", _command(), dict(os.environ), workdir / "cache-after"))
        for v in versions:
            print(f"{v.name}: {_where(v)}", file=sys.stderr)
        print(f"load before: {_load()}", file=sys.stderr, flush=True)
        bench(workdir, args.services, versions, args.jobs, cold=not args.no_cold)
        print(f"load after:  {_load()}", file=sys.stderr, flush=True)
    finally:
        if args.out_dir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(table(versions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
