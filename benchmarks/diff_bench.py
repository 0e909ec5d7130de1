"""Benchmark ``platform-gen diff`` of a one-service change on synthetic platforms of N services.

For each N the synthetic platform of ``render_bench.py`` is generated in a git repo,
rendered and committed on ``main`` (the tree with its render index). A branch then
changes one service's image tag, renders and commits. Three diffs are timed, each in its
own process, in the same session so that they see the same load:

1. full: ``diff --base main --full`` renders both sides in full (the behaviour before
   the committed tree was reused);
2. fast: ``diff --base main`` renders only what differs from the tree committed on main;
3. same: ``diff --base change`` on the branch itself: nothing differs, so nothing is
   built with kustomize; what is left is the cost of the diff without the builds.

Full and fast must exit 0 and print the same JSON document. The table also shows how
many applications changed (each is built with kustomize on both sides).

``--platform-gen PATH`` (repeatable) also times other platform-gen executables, e.g.
the version of ``main`` installed aside: each gets a repo of its own, rendered by it
(the render index names the generator that wrote it, and the fast diff trusts only
its own), each repetition runs every executable in turn, so that all see the same
load, and all must print the same JSON documents (but for the commit hashes).
``--runs fast same`` leaves out the (slow) full diffs.

Usage: python benchmarks/diff_bench.py [--services 100 1000] [--repeat 3] [--keep]
       [--runs full fast same] [--platform-gen PATH ...]
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


def _render(root: Path, command: Sequence[str]) -> None:
    run = rb.measure("render", [*command, "render", "--root", str(root), "--format", "json"])
    if run.code != 0:
        raise SystemExit(f"error: render exited {run.code}:\n{run.stderr or run.stdout}")


def setup(root: Path, services: int, command: Sequence[str]) -> None:
    """main: the platform and its rendered tree; branch ``change``: one service's tag changed, rendered
    (by ``command``)."""
    rb.generate(root, services)
    _git(root, "init", "-q", "-b", "main")
    _render(root, command)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "platform")
    _git(root, "checkout", "-q", "-b", "change")
    rb._retag(root, 7, "9.9.7")
    _render(root, command)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one tag")


#: The runs: (label, extra arguments).
RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("full", ("--base", "main", "--full")),
    ("fast", ("--base", "main")),
    ("same", ("--base", "change")),
)


@dataclass(frozen=True)
class Result:
    services: int
    command: str  # which platform-gen
    changed: int
    times: dict[str, tuple[float, ...]]  # run label -> seconds of each repetition


def _comparable(output: str) -> str:
    """The JSON document but for the base commit (each executable diffs in a repo of its own)."""
    return "".join(line for line in output.splitlines(keepends=True) if not line.startswith('  "base_commit": '))


def bench(roots: Sequence[Path], services: int, repeat: int, commands: Sequence[Sequence[str]],
          runs: Sequence[str]) -> list[Result]:
    """Time the ``runs`` of every command (in its repo of ``roots``) ``repeat`` times, the commands in turn
    within each repetition."""
    times: dict[tuple[int, str], list[float]] = {(i, label): [] for i in range(len(commands)) for label in runs}
    outputs: dict[tuple[int, str], str] = {}
    for _ in range(repeat):
        for i, command in enumerate(commands):
            for label, extra in RUNS:
                if label not in runs:
                    continue
                run = rb.measure(label, [*command, "diff", "--root", str(roots[i]), "--format", "json", *extra])
                if run.code != 0:
                    raise SystemExit(f"error: {label} diff of {' '.join(command)} exited {run.code}:\n"
                                     f"{run.stderr or run.stdout}")
                times[(i, label)].append(run.seconds)
                outputs[(i, label)] = run.stdout
    for i in range(len(commands)):
        if "full" in runs and "fast" in runs and outputs[(i, "full")] != outputs[(i, "fast")]:
            raise SystemExit("error: the fast diff's JSON differs from the full diff's")
        if "same" in runs and json.loads(outputs[(i, "same")])["applications"]:
            raise SystemExit("error: the diff of the branch against itself is not empty")
        for label in runs:
            if _comparable(outputs[(i, label)]) != _comparable(outputs[(0, label)]):
                raise SystemExit(f"error: the {label} diff of {' '.join(commands[i])} prints another JSON "
                                 f"document than that of {' '.join(commands[0])}")
    shown = next(label for label in ("fast", "full", "same") if label in runs)
    changed = len(json.loads(outputs[(0, shown)])["applications"])
    return [Result(services, " ".join(command), changed, {label: tuple(times[(i, label)]) for label in runs})
            for i, command in enumerate(commands)]


def table(results: Sequence[Result]) -> str:
    labels = {"full": "full diff s", "fast": "fast diff s", "same": "fast, nothing changed s"}
    runs = [label for label in labels if label in results[0].times] if results else []
    several = len({r.command for r in results}) > 1
    speedup = "full" in runs and "fast" in runs
    lines = ["| " + ("platform-gen | " if several else "") + "services | apps changed | "
             + " | ".join(labels[lb] for lb in runs) + (" | speed-up" if speedup else "") + " |",
             "|" + ("---|" if several else "") + "---:|---:|" + "---:|" * (len(runs) + speedup)]
    for r in results:
        median = {lb: statistics.median(r.times[lb]) for lb in runs}
        cells = " | ".join(f"{median[lb]:.2f}" for lb in runs)
        lines.append("| " + (f"`{r.command}` | " if several else "") + f"{r.services} | {r.changed} | {cells}"
                     + (f" | {median['full'] / median['fast']:.1f}x" if speedup else "") + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, nargs="+", default=[100, 1000], metavar="N",
                        help="platform sizes to benchmark (default: 100 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each diff (the median is shown)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--runs", nargs="+", choices=[label for label, _ in RUNS], default=[label for label, _ in RUNS],
                        help="which diffs to time (default: full fast same)")
    parser.add_argument("--platform-gen", dest="exes", metavar="PATH", action="append", default=[],
                        help="also time this platform-gen executable (another version, say), in turn with this "
                             "one; repeatable")
    args = parser.parse_args(argv)
    if any(n < 8 or n > 9999 for n in args.services) or args.repeat < 1:
        parser.error("--services takes sizes from 8 to 9999, --repeat at least 1")
    base = Path(tempfile.mkdtemp(prefix="diff-bench-"))
    results: list[Result] = []
    try:
        for n in args.services:
            print(f"benchmarking {n} services ...", file=sys.stderr, flush=True)
            commands = [rb._command(), *([exe] for exe in args.exes)]
            roots = [base / f"n{n}" / f"pg{i}" for i in range(len(commands))]
            for root, command in zip(roots, commands, strict=True):
                setup(root, n, command)
            for result in bench(roots, n, args.repeat, commands, args.runs):
                print(f"  {result.command}: " + "; ".join(f"{label} {' '.join(f'{s:.2f}' for s in times)} s"
                                                          for label, times in result.times.items()),
                      file=sys.stderr, flush=True)
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
