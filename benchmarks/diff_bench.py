"""Benchmark ``platform-gen diff`` of a one-service change on synthetic platforms of N services.

For each N the synthetic platform of ``render_bench.py`` is generated in a git repo,
rendered and committed on ``main`` (the tree with its render index). A branch then
changes one service's image tag, renders and commits. Two runs are timed, each in its
own process, in the same session so that they see the same load:

1. full: ``diff --base main --full`` renders both sides in full (the behaviour before
   the committed tree was reused);
2. fast: ``diff --base main`` renders only what differs from the tree committed on main;
3. same: ``diff --base change`` on the branch itself: nothing differs, so nothing is
   built with kustomize; what is left is the cost of the diff without the builds.

Full and fast must exit 0 and print the same JSON document. The table also shows how
many applications changed (each is built with kustomize on both sides).

Usage: python benchmarks/diff_bench.py [--services 100 1000] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import render_bench as rb


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=root,
                   check=True, capture_output=True)


def _render(root: Path) -> None:
    run = rb.measure("render", [*rb._command(), "render", "--root", str(root), "--format", "json"])
    if run.code != 0:
        raise SystemExit(f"error: render exited {run.code}:\n{run.stderr or run.stdout}")


def setup(root: Path, services: int) -> None:
    """main: the platform and its rendered tree; branch ``change``: one service's tag changed, rendered."""
    rb.generate(root, services)
    _git(root, "init", "-q", "-b", "main")
    _render(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "platform")
    _git(root, "checkout", "-q", "-b", "change")
    rb._retag(root, 7, "9.9.7")
    _render(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one tag")


@dataclass(frozen=True)
class Result:
    services: int
    changed: int
    full: tuple[float, ...]
    fast: tuple[float, ...]
    same: tuple[float, ...]


def bench(root: Path, services: int, repeat: int) -> Result:
    base = [*rb._command(), "diff", "--root", str(root), "--format", "json"]
    times: dict[str, list[float]] = {"full": [], "fast": [], "same": []}
    outputs: dict[str, str] = {}
    for _ in range(repeat):
        for label, extra in (("full", ["--base", "main", "--full"]), ("fast", ["--base", "main"]),
                             ("same", ["--base", "change"])):
            run = rb.measure(label, [*base, *extra])
            if run.code != 0:
                raise SystemExit(f"error: {label} diff exited {run.code}:\n{run.stderr or run.stdout}")
            times[label].append(run.seconds)
            outputs[label] = run.stdout
    if outputs["full"] != outputs["fast"]:
        raise SystemExit("error: the fast diff's JSON differs from the full diff's")
    if json.loads(outputs["same"])["applications"]:
        raise SystemExit("error: the diff of the branch against itself is not empty")
    changed = len(json.loads(outputs["fast"])["applications"])
    return Result(services, changed, tuple(times["full"]), tuple(times["fast"]), tuple(times["same"]))


def table(results: Sequence[Result]) -> str:
    lines = ["| services | apps changed | full diff s | fast diff s | speed-up | fast, nothing changed s |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        full, fast, same = (statistics.median(t) for t in (r.full, r.fast, r.same))
        lines.append(f"| {r.services} | {r.changed} | {full:.2f} | {fast:.2f} | {full / fast:.1f}x | {same:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, nargs="+", default=[100, 1000], metavar="N",
                        help="platform sizes to benchmark (default: 100 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each diff (the median is shown)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if any(n < 8 or n > 9999 for n in args.services) or args.repeat < 1:
        parser.error("--services takes sizes from 8 to 9999, --repeat at least 1")
    base = Path(tempfile.mkdtemp(prefix="diff-bench-"))
    results: list[Result] = []
    try:
        for n in args.services:
            print(f"benchmarking {n} services ...", file=sys.stderr, flush=True)
            root = base / f"n{n}"
            setup(root, n)
            result = bench(root, n, args.repeat)
            print(f"  full {' '.join(f'{s:.2f}' for s in result.full)} s; "
                  f"fast {' '.join(f'{s:.2f}' for s in result.fast)} s; "
                  f"same {' '.join(f'{s:.2f}' for s in result.same)} s", file=sys.stderr, flush=True)
            results.append(result)
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
