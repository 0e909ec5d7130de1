"""Where kustomize's time goes when ``validate`` builds the overlays of a rendered tree.

``validate`` builds overlays in batches: one kustomization per batch whose resources are
up to 100 overlays of one cluster, one kustomize run each. This script renders the
synthetic platform of ``render_bench.py`` (N services x 3 environments x 4 clusters) and
measures the CPU time (user + system, the least of ``--repeat`` runs) that kustomize spends, run as
validate runs it (``Kustomize.build``):

1. per run: a run that builds one base, one that builds one overlay, and one that builds that
   overlay with one of its features only;
2. per batch size: batches of 1 to 800 bases (no transformer at all), which shows the
   cost of appending each object to the batch (compared with every object before it),
   and batches of 25 to 200 overlays, where that cost meets the cost of each run's start;
3. per overlay feature: a batch of the overlays of one cluster as rendered, and with one
   feature of the overlay left out each time (a copy of the overlays, edited).

Usage: python benchmarks/kustomize_cost.py [--services 400] [--kustomize PATH] [--repeat 5] [--batch 100]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_bench import generate

from platform_gen.errors import ToolError
from platform_gen.kustomize_tool import Kustomize, find_kustomize

Edit = Callable[[dict[str, Any]], dict[str, Any]]


def _version(kustomize: Kustomize) -> str:
    """What the tool's ``version`` prints, on one line (``Kustomize.identity`` without its command line and
    exit code)."""
    return " ".join(kustomize.identity().split("\n", 2)[2].split())


class Builder:
    """Builds a batch of folders of a tree, as ``validate`` does (``Kustomize.build``, with its environment),
    and measures kustomize's CPU time."""

    def __init__(self, kustomize: Kustomize, repeat: int) -> None:
        self.kustomize = kustomize
        self.repeat = repeat

    def cpu(self, tree: Path, folders: Sequence[str]) -> float:
        """The least CPU time, in ms, of ``repeat`` builds of a batch of ``folders`` (relative to ``tree``)."""
        with tempfile.TemporaryDirectory(prefix="kustomize-cost-") as tmp:
            os.symlink(tree.resolve(), Path(tmp, "tree"), target_is_directory=True)
            Path(tmp, "kustomization.yaml").write_text(
                "resources:\n" + "".join(f"- tree/{f}\n" for f in folders), encoding="utf-8")
            best = float("inf")
            for _ in range(self.repeat):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                build = self.kustomize.build(Path(tmp))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if not build.ok:
                    raise SystemExit(f"error: kustomize failed:\n{build.error[-2000:]}")
                best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            return best * 1000


def _edited(out: Path, dest: Path, overlays: Sequence[str], edit: Edit) -> Path:
    """A copy of ``overlays`` (with their bases and the components) whose kustomizations are ``edit``-ed."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(out / "components", dest / "components")
    for rel in overlays:
        base = Path(rel).parent.parent.parent / "base"
        if not (dest / base).exists():
            shutil.copytree(out / base, dest / base)
        shutil.copytree(out / rel, dest / rel)  # with the files of its own (patches, secrets) it may hold
        doc = yaml.safe_load((out / rel / "kustomization.yaml").read_text(encoding="utf-8"))
        (dest / rel / "kustomization.yaml").write_text(yaml.safe_dump(edit(doc), sort_keys=False), encoding="utf-8")
    return dest


def _without(*keys: str) -> Edit:
    return lambda doc: {k: v for k, v in doc.items() if k not in keys}


def _only(*keys: str) -> Edit:
    kept = {"apiVersion", "kind", "resources", *keys}
    return lambda doc: {k: v for k, v in doc.items() if k in kept}


VARIANTS: tuple[tuple[str, Edit], ...] = (
    ("as rendered", lambda doc: doc),
    ("without labels", _without("labels")),
    ("without patches", _without("patches")),
    ("without components", _without("components")),
    ("without images and replicas", _without("images", "replicas")),
    ("its base and namespace only", _only("namespace")),
    ("its base only", _only()),
)


def _sizes(builder: Builder, out: Path, folders: Sequence[str], sizes: Sequence[int]) -> None:
    """A table's rows: the first n ``folders`` built in one batch, for each n of ``sizes`` there are enough for."""
    for n in sizes:
        if n > len(folders):
            if n == sizes[0]:
                print(f"| (fewer than {n}: {len(folders)}) | - | - |")
            break
        ms = builder.cpu(out, folders[:n])
        print(f"| {n} | {ms:.0f} | {ms / n:.2f} |")


#: one feature of an overlay kept, the others left out
ONE_FEATURE: tuple[tuple[str, Edit], ...] = (
    ("its patches only", _only("patches")),
    ("its components only", _only("components")),
    ("its labels only", _only("labels")),
    ("its images and replicas only", _only("images", "replicas")),
    ("its namespace only", _only("namespace")),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=400, metavar="N", help="platform size (default: 400)")
    parser.add_argument("--kustomize", metavar="PATH", help="a kustomize or kubectl binary (default: as validate)")
    parser.add_argument("--repeat", type=int, default=5, metavar="K", help="builds of each batch (default: 5)")
    parser.add_argument("--batch", type=int, default=100, metavar="B",
                        help="prod overlays in the batch whose features are left out in turn (default: 100)")
    args = parser.parse_args(argv)
    if args.services < 1 or args.repeat < 1 or args.batch < 1:
        parser.error("--services, --repeat and --batch take counts from 1")
    try:
        kustomize = find_kustomize(args.kustomize)  # as validate finds it
    except ToolError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    builder = Builder(kustomize, args.repeat)
    with tempfile.TemporaryDirectory(prefix="kustomize-cost-") as tmp:
        root = Path(tmp, "repo")
        generate(root, args.services)
        out = root / "rendered"
        proc = subprocess.run([sys.executable, "-c", "from platform_gen.cli import entry; entry()", "render",
                               "--root", str(root), "--out", str(out), "-q"], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            raise SystemExit(f"error: render exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        services = sorted(p.name for p in (out / "services").iterdir())
        bases = [f"services/{s}/base" for s in services]
        prod = [f"services/{s}/overlays/prod/prod-a" for s in services
                if (out / "services" / s / "overlays" / "prod" / "prod-a").is_dir()][:args.batch]
        print(f"{_version(kustomize)}; {args.services} services; least CPU of {args.repeat} builds each; "
              f"load average {os.getloadavg()[0]:.1f}\n")

        print("| one run building | CPU ms |\n|---|---:|")
        print(f"| one base | {builder.cpu(out, bases[:1]):.0f} |")
        print(f"| one overlay (prod) | {builder.cpu(out, prod[:1]):.0f} |")
        for name, edit in ONE_FEATURE:
            tree = _edited(out, Path(tmp, "variant"), prod[:1], edit)
            print(f"| one overlay (prod), {name} | {builder.cpu(tree, prod[:1]):.0f} |")
        print()

        print("| bases in the batch | CPU ms | ms a base |\n|---:|---:|---:|")
        _sizes(builder, out, bases, (1, 50, 100, 200, 400, 800))
        dev = [f"services/{s}/overlays/dev/dev-a" for s in services
               if (out / "services" / s / "overlays" / "dev" / "dev-a").is_dir()]
        print("\n| dev overlays of one cluster in the batch | CPU ms | ms an overlay |\n|---:|---:|---:|")
        _sizes(builder, out, dev, (25, 50, 75, 100, 150, 200))

        print(f"\n| {len(prod)} prod overlays of one cluster | CPU ms | ms an overlay |\n|---|---:|---:|")
        for name, edit in VARIANTS:
            tree = _edited(out, Path(tmp, "variant"), prod, edit)
            ms = builder.cpu(tree, prod)
            print(f"| {name} | {ms:.0f} | {ms / len(prod):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
