"""Benchmark ``platform-gen render`` on synthetic platforms of N services.

For each N a platform of N services x 3 environments (dev, staging, prod) x 4
clusters per environment is generated from the example repo's templates, overlays
and platform.yaml. Three runs are timed, each in its own process:

1. cold:  ``render`` into an empty output folder;
2. no-op: ``render`` again with nothing changed;
3. check: ``render --check``.

Peak RSS comes from ``os.wait4``, which returns the resource usage of exactly the
child it reaps (and of that child's own reaped children), so every run is measured
on its own without a wrapper process. The generated inputs are deterministic.

With ``--rounds K`` the runs with nothing or one tag changed are timed K more times each
on the settled tree (committed, git's index refreshed), and their minimum and median
are printed; with ``--platform-gen`` given more than once, each version renders its
own copy of the platform and the versions take turns within each round, so they are
compared under the same load.

Usage: python benchmarks/render_bench.py [--services 100 1000] [--out-dir DIR] [--keep]
       [--rounds K] [--platform-gen PATH ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("dev", "staging", "prod")
CLUSTER_SUFFIXES = ("a", "b", "c", "d")
REGIONS = {"a": "us-east-1", "b": "us-west-2", "c": "eu-west-1", "d": "ap-southeast-1"}
#: The example's three teams first, then seven more; ``platform`` is reserved.
TEAMS = ("payments", "identity", "data", "search", "catalog", "checkout", "messaging",
         "growth", "infra", "risk")
MARKER = ".render-bench"


# --- synthetic platform ------------------------------------------------------------------


def _dump(path: Path, data: Any, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    path.write_text(f"# {comment}\n{text}", encoding="utf-8")


def _platform(example: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(example.read_text(encoding="utf-8"))
    teams = data.setdefault("teams", {})
    for name in TEAMS:
        teams.setdefault(name, {"description": f"The {name} team", "groups": [f"acme:{name}"]})
    return data


def _environment(name: str, order: int) -> dict[str, Any]:
    clusters: list[dict[str, Any]] = []
    for s in CLUSTER_SUFFIXES:
        cluster: dict[str, Any] = {"name": f"{name}-{s}", "server": f"https://{name}-{s}.k8s.acme.internal"}
        if name == "prod":
            cluster["values"] = {"env": {"REGION": REGIONS[s]}}
        elif name == "staging" and s == "d":
            cluster["values"] = {"replicas": 1}
        clusters.append(cluster)
    doc: dict[str, Any] = {"name": name, "order": order, "clusters": clusters}
    if name == "dev":
        doc["defaults"] = {"replicas": 1, "env": {"LOG_LEVEL": "debug"}}
        doc["sync"] = {"automated": True, "prune": True, "selfHeal": True}
    elif name == "staging":
        doc["defaults"] = {"env": {"LOG_LEVEL": "info"}}
        doc["sync"] = {"automated": True, "prune": True, "selfHeal": True}
    else:
        doc["defaults"] = {"resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                         "limits": {"memory": "512Mi"}},
                           "env": {"LOG_LEVEL": "warn"}}
        doc["sync"] = {"automated": False}
    return doc


def _service(i: int) -> dict[str, Any]:
    """Config of service ``i``: a fixed function of ``i``, so every run sees the same repo."""
    web = i % 2 == 0
    team = TEAMS[(i // 2) % len(TEAMS)]
    name = f"{team}-{'api' if web else 'worker'}-{i:04d}"
    svc: dict[str, Any] = {
        "name": name,
        "team": team,
        "description": f"Synthetic {'web service' if web else 'worker'} number {i}",
        "tier": f"tier-{1 + i % 3}",
        "template": "web-service" if web else "worker",
        "image": f"ghcr.io/acme/{name}",
        "tag": f"{1 + i % 4}.{i % 10}.{i % 7}",
    }
    if i % 5:
        svc["replicas"] = 1 + i % 3
    if web and i % 6 == 0:
        svc["port"] = 8443
        svc["healthPath"] = "/health/ready"
    elif not web and i % 4 == 1:
        svc["port"] = 9090
    if i % 3 == 0:
        svc["resources"] = {"requests": {"cpu": f"{100 + 50 * (i % 5)}m", "memory": f"{128 * (1 + i % 4)}Mi"},
                            "limits": {"memory": f"{256 * (1 + i % 4)}Mi"}}
    if web and i % 4 == 0:
        svc["autoscaling"] = {"maxReplicas": 10 + i % 16}
    env: dict[str, Any] = {f"FEATURE_{k}": "true" if (i + k) % 2 else "false" for k in range(i % 4)}
    if not web:
        env["QUEUE_NAME"] = f"{team}-queue-{i % 13}"
        env["BATCH_SIZE"] = 100 * (1 + i % 5)
    if env:
        svc["env"] = env

    envs: dict[str, Any] = {}
    dev: dict[str, Any] = {}
    if i % 3 == 0:
        dev["tag"] = f"{2 + i % 4}.0.0-rc.{1 + i % 3}"
    if i % 7 == 3:
        dev["env"] = {"LOG_LEVEL": "trace"}
    if i % 11 == 4:
        dev["clusters"] = {f"dev-{s}": {} for s in CLUSTER_SUFFIXES}
        dev["clusters"]["dev-d"] = {"tag": f"{svc['tag']}-canary"}
    envs["dev"] = dev
    envs["staging"] = {"replicas": 2} if i % 4 == 2 else {}
    if i % 10 != 9:  # every tenth service is not in prod yet
        prod: dict[str, Any] = {"replicas": 3 + i % 4}
        if i % 5 == 0:  # runs on two prod clusters only, sized per cluster
            prod["onlyClusters"] = ["prod-a", "prod-b"]
            prod["clusters"] = {
                "prod-a": {"replicas": 6 + i % 3, "resources": {"limits": {"memory": "1Gi"}}},
                "prod-b": {"env": {"CACHE_SIZE": 512}},
            }
        elif i % 8 == 3:  # all four, one of them with its own values
            prod["clusters"] = {f"prod-{s}": {} for s in CLUSTER_SUFFIXES}
            prod["clusters"]["prod-c"] = {"replicas": 2, "env": {"READ_ONLY": "true"}}
        envs["prod"] = prod
    svc["environments"] = envs
    return svc


def generate(root: Path, services: int) -> None:
    """Write a platform repo with ``services`` services below ``root``."""
    shutil.copytree(REPO / "platform-config" / "templates", root / "platform-config" / "templates")
    shutil.copytree(REPO / "overlays", root / "overlays")
    _dump(root / "platform-config" / "platform.yaml", _platform(REPO / "platform-config" / "platform.yaml"),
          "Benchmark platform: the example's platform.yaml with ten teams.")
    for order, env in enumerate(ENVIRONMENTS):
        _dump(root / "environments" / f"{env}.yaml", _environment(env, order),
              f"Benchmark environment {env}: four clusters.")
    for i in range(services):
        svc = _service(i)
        _dump(root / "platform-config" / "services" / svc["name"] / "config.yaml", svc,
              f"Benchmark service {i}.")


# --- measurement -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One timed process."""

    label: str
    seconds: float
    peak_rss_mib: float
    code: int
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system seconds of the process and of its children (git, workers)


#: Timed runs see the environment without this: platform-gen is timed as people run it, with Python's
#: bytecode cache (a shell that sets it makes every run compile every module, about 50 ms here).
_NO_CACHE_VAR = "PYTHONDONTWRITEBYTECODE"


def _command() -> list[str]:
    script = Path(sys.executable).parent / "platform-gen"
    if script.is_file():
        return [str(script)]
    found = shutil.which("platform-gen")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from platform_gen.cli import main; sys.exit(main())"]


def measure(label: str, argv: Sequence[str], cwd: Path | None = None) -> Run:
    """Run ``argv`` (in ``cwd``) in a fresh process; return its wall time, peak RSS and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        env = {k: v for k, v in os.environ.items() if k != _NO_CACHE_VAR}
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # ru_maxrss is in KiB on Linux and in bytes on macOS
        rss_bytes = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
        return Run(label, seconds, rss_bytes / 2**20, proc.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   usage.ru_utime + usage.ru_stime)


@dataclass(frozen=True)
class Result:
    """All runs for one platform size."""

    services: int
    targets: int
    files: int
    runs: tuple[Run, ...]
    problems: tuple[str, ...]

    def seconds(self, label: str) -> float:
        return next(r.seconds for r in self.runs if r.label == label)

    @property
    def peak_rss_mib(self) -> float:
        return max(r.peak_rss_mib for r in self.runs)


def _count(out: Path) -> tuple[int, int]:
    files = sum(len(names) for _dir, _dirs, names in os.walk(out))
    overlays = sum(1 for _ in out.glob("services/*/overlays/*/*/kustomization.yaml"))
    return files, overlays


def _plan(run: Run) -> dict[str, Any]:
    try:
        doc = json.loads(run.stdout)
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _retag(root: Path, i: int, tag: str) -> None:
    """Change service ``i``'s tag in its config.yaml (a one-line edit, as a pull request makes)."""
    path = next((root / "platform-config" / "services").glob(f"*-{i:04d}")) / "config.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^tag: .*$", f"tag: {tag}", text, count=1, flags=re.M), encoding="utf-8")


#: The runs, in order: (label, extra arguments, edit before the run, expected exit code, expected services
#: rendered again or None).
RUNS: tuple[tuple[str, tuple[str, ...], int | None, int, int | None], ...] = (
    ("cold", (), None, 0, None),
    ("no-op", (), None, 0, 0),
    ("check", ("--check",), None, 0, 0),
    ("full no-op", ("--full",), None, 0, None),
    ("full check", ("--check", "--full"), None, 0, None),
    ("one tag", (), 0, 0, 1),
    ("one tag check", ("--check",), 1, 1, 1),
)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=root,
                   check=True, capture_output=True)


def _commit(root: Path) -> None:
    """Commit everything, as the render of a merged pull request is: git tells the next render what changed."""
    if not (root / ".git").exists():
        _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", "render")


def bench(workdir: Path, services: int, command: Sequence[str] | None = None) -> Result:
    """Generate a platform of ``services`` services in ``workdir`` and time the runs.

    The platform repo is a git checkout and the tree lives in it (``rendered/``): an incremental
    render trusts the files git reports unchanged since the base.
    """
    root = workdir / "repo"
    out = root / "rendered"
    generate(root, services)
    command = list(command) if command else _command()
    helped = subprocess.run([*command, "render", "--help"], capture_output=True, text=True, check=False).stdout
    base = [*command, "render", "--root", str(root), "--format", "json"]
    runs: list[Run] = []
    problems: list[str] = []
    for label, extra, edit, code, rendered in RUNS:
        if "--full" in extra and "--full" not in helped:
            continue  # a platform-gen from before incremental render: every render is a full one
        if edit is not None:
            _retag(root, edit, f"9.9.{edit}")
        run = measure(label, [*base, *extra])
        runs.append(run)
        if run.code != code:
            problems.append(f"{label} render exited {run.code}, not {code}:\n{run.stderr or run.stdout}")
            break
        if label in ("cold", "one tag"):
            _commit(root)
        plan = _plan(run)
        if label in ("no-op", "check", "full no-op", "full check") and (
                plan.get("created") or plan.get("changed") or plan.get("removed") or plan.get("status") != "ok"):
            problems.append(f"{label} render was not a no-op: {run.stdout[:2000]}")
        if rendered is not None and "--full" in helped and (plan.get("services") or {}).get("rendered") != rendered:
            problems.append(f"{label}: {rendered} service(s) should have been rendered again, not "
                            f"{(plan.get('services') or {}).get('rendered')}")
    files, overlays = _count(out) if out.is_dir() else (0, 0)
    return Result(services, overlays, files, tuple(runs), tuple(problems))


#: The runs ``--rounds`` repeats on the settled tree: (label, extra arguments, one tag changed first, exit code).
SETTLED: tuple[tuple[str, tuple[str, ...], bool, int], ...] = (
    ("no-op", (), False, 0),
    ("check", ("--check",), False, 0),
    ("one tag", (), True, 0),
    ("one tag check", ("--check",), True, 1),
)


def settle(root: Path) -> None:
    """Undo what the last runs left (an edit, a written tree), and let git refresh its index, as any
    ``git status`` on a developer's machine does: the tree as a pull request's next render finds it."""
    _git(root, "checkout", "-q", "--", ".")
    _git(root, "clean", "-fdq", "--", "rendered")
    _git(root, "status", "--porcelain")


def rounds(versions: Sequence[tuple[str, Path, list[str]]], count: int) -> tuple[dict[tuple[str, str], list[Run]],
                                                                                   list[str]]:
    """Time each run of SETTLED ``count`` times for each (name, repo root, command), the versions taking
    turns within a round; each run's edit and writes are undone after it."""
    found: dict[tuple[str, str], list[Run]] = {}
    problems: list[str] = []
    for _name, root, _command in versions:
        settle(root)
    for n in range(count):
        for name, root, command in versions:
            for label, extra, retag, code in SETTLED:
                if retag:
                    _retag(root, 2 + n % 5, f"8.8.{n}")
                run = measure(label, [*command, "render", "--root", str(root), "--format", "json", *extra])
                found.setdefault((name, label), []).append(run)
                if run.code != code:
                    problems.append(f"{name} {label} (round {n + 1}) exited {run.code}, not {code}:\n"
                                    f"{run.stderr or run.stdout}")
                    return found, problems
                if retag:
                    settle(root)
    return found, problems


def rounds_table(services: int, found: dict[tuple[str, str], list[Run]]) -> str:
    """The repeated runs: minimum and median wall time, median CPU, largest peak RSS."""
    lines = ["| services | version | run | rounds | min s | median s | median CPU s | peak RSS MiB |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for (name, label), runs in found.items():
        walls = [r.seconds for r in runs]
        lines.append(f"| {services} | {name} | {label} | {len(runs)} | {min(walls):.2f} | "
                     f"{statistics.median(walls):.2f} | {statistics.median(r.cpu for r in runs):.2f} | "
                     f"{max(r.peak_rss_mib for r in runs):.0f} |")
    return "\n".join(lines)


def table(results: Sequence[Result], names: Sequence[str] | None = None) -> str:
    """The results as a markdown table: one column per run, in seconds, and the peak RSS (with ``names``, a
    column naming the version of each row, the versions in turn for each size)."""
    labels = [label for label, *_rest in RUNS]
    first = "| services | version " if names else "| services "
    lines = [first + "| targets (apps) | files | " + " | ".join(f"{lb} s" for lb in labels) + " | peak RSS MiB |",
             ("|---:|---" if names else "|---:") + "|---:|---:|" + "---:|" * len(labels) + "---:|"]
    for i, r in enumerate(results):
        cells = " | ".join(f"{r.seconds(lb):.2f}" if any(x.label == lb for x in r.runs) else "-" for lb in labels)
        version = f" | {names[i % len(names)]}" if names else ""
        lines.append(f"| {r.services}{version} | {r.targets} | {r.files} | {cells} | {r.peak_rss_mib:.0f} |")
    return "\n".join(lines)


def _workdir(base: Path, services: int) -> Path:
    d = base / f"n{services}"
    if d.exists() and any(d.iterdir()):
        if not (d / MARKER).is_file():
            raise SystemExit(f"error: {d} is not empty and was not made by this benchmark")
        shutil.rmtree(d)
    d.mkdir(parents=True)
    (d / MARKER).write_text("made by benchmarks/render_bench.py\n", encoding="utf-8")
    return d


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, nargs="+", default=[100, 1000], metavar="N",
                        help="platform sizes to benchmark (default: 100 1000)")
    parser.add_argument("--out-dir", type=Path, help="generate into DIR/n<N> (kept) instead of a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--platform-gen", dest="exes", metavar="PATH", action="append",
                        help="the platform-gen executable to time (another version, say); give it more than once to "
                             "compare versions in one run [default: this one]")
    parser.add_argument("--rounds", type=int, default=0, metavar="K",
                        help="time the no-op and one-tag runs K more times each on the settled tree (default: 0)")
    args = parser.parse_args(argv)
    if any(n < 1 or n > 9999 for n in args.services):
        parser.error("--services takes sizes from 1 to 9999")
    if args.rounds < 0:
        parser.error("--rounds takes a count from 0")
    exes: list[str | None] = list(args.exes) if args.exes else [None]
    names = [_name(exe, exes) for exe in exes]

    if args.out_dir is not None:
        base = args.out_dir.resolve()
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="render-bench-"))
    results: list[Result] = []
    repeated: list[str] = []
    failed = False
    try:
        for n in args.services:
            folder = _workdir(base, n)
            versions: list[tuple[str, Path, list[str]]] = []
            for name, exe in zip(names, exes, strict=True):
                print(f"benchmarking {n} services{'' if len(exes) == 1 else f' with {name}'} ...", file=sys.stderr,
                      flush=True)
                workdir = folder if len(exes) == 1 else folder / name
                workdir.mkdir(parents=True, exist_ok=True)
                result = bench(workdir, n, [exe] if exe else None)
                for run in result.runs:
                    print(f"  {run.label:6} {run.seconds:7.2f} s  (cpu {run.cpu:6.2f} s)  "
                          f"{run.peak_rss_mib:7.1f} MiB  exit {run.code}", file=sys.stderr, flush=True)
                for problem in result.problems:
                    print(f"error: {problem}", file=sys.stderr)
                if result.problems:
                    failed = True
                    break
                results.append(result)
                versions.append((name, workdir / "repo", [exe] if exe else _command()))
            if failed:
                break
            if args.rounds:
                print(f"  {args.rounds} rounds on the settled tree{'s' if len(exes) > 1 else ''} ...", file=sys.stderr,
                      flush=True)
                found, problems = rounds(versions, args.rounds)
                for problem in problems:
                    print(f"error: {problem}", file=sys.stderr)
                failed = failed or bool(problems)
                repeated.append(rounds_table(n, found))
                if failed:
                    break
    finally:
        if args.out_dir is None and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        elif args.out_dir is None:
            print(f"kept {base}", file=sys.stderr)
    if results:
        print(table(results, names if len(exes) > 1 else None))
    for text in repeated:
        print()
        print(text)
    return 1 if failed else 0


def _name(exe: str | None, exes: Sequence[str | None]) -> str:
    """How a version is named in the tables: ``this`` for this checkout's, else its path, shortened to what
    tells the versions apart."""
    if exe is None:
        return "this"
    parts = Path(exe).parts
    others = [Path(e).parts for e in exes if e is not None and e != exe]
    for width in range(1, len(parts) + 1):
        tail = parts[-width:]
        if all(o[-width:] != tail for o in others):
            short = "/".join(p for p in tail if p not in (".venv", "bin", "platform-gen")) or "/".join(tail)
            return short.replace("/", "-")
    return exe.replace("/", "-")


if __name__ == "__main__":
    sys.exit(main())
