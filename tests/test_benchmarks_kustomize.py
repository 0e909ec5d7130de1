"""benchmarks/kustomize_cost.py runs on a small platform and prints its three tables, each row a real build."""

from __future__ import annotations

import subprocess
import sys

from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO


def test_the_kustomize_cost_script_prints_its_tables(kustomize: Kustomize) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "kustomize_cost.py"), "--services", "4",
                           "--repeat", "1", "--batch", "2", "--kustomize", kustomize.argv[0]],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("|---")]
    assert [r.split(" | ")[0] for r in rows] == [
        "| one run building", "| one base", "| one overlay (prod)",
        *(f"| one overlay (prod), its {f} only" for f in ("patches", "components", "labels", "images and replicas",
                                                          "namespace")),
        "| bases in the batch", "| 1",
        "| dev overlays of one cluster in the batch", "| (fewer than 25: 4)",
        "| 2 prod overlays of one cluster", "| as rendered", "| without labels", "| without patches",
        "| without components", "| without images and replicas", "| its base and namespace only", "| its base only"]
    headers = {lines[i - 1] for i, line in enumerate(lines) if line.startswith("|---")}
    # every build took some CPU time
    assert all(float(r.split(" | ")[1].rstrip(" |")) > 0 for r in rows if r not in headers and "fewer" not in r)
