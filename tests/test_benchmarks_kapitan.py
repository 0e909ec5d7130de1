"""benchmarks/kapitan_bench.py --generate-only: the Kapitan project it writes is well-formed
and equivalent to the platform-gen repo it is built from. Kapitan itself is not installed:
the inventory is merged here the way reclass merges it (classes in order, then the target's
own parameters; mappings key by key, scalars replace) and compared with `platform-gen explain`,
and the jinja2 component is rendered with the jinja2 settings Kapitan uses."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "kapitan_bench.py"


def _merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    out = dict(low)
    for key, value in high.items():
        assert not isinstance(value, list) or key == "compile", f"reclass appends lists: {key}"
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    assert set(doc) <= {"classes", "parameters"}, path
    return doc


def _parameters(inventory: Path, classes: list[str], seen: set[str]) -> dict[str, Any]:
    """The merged parameters of ``classes`` (each once, in order, its own classes first)."""
    merged: dict[str, Any] = {}
    for name in classes:
        if name in seen:
            continue
        seen.add(name)
        path = inventory / "classes" / (name.replace(".", "/") + ".yml")
        assert path.is_file(), f"class {name} has no file"
        doc = _load(path)
        merged = _merge(merged, _parameters(inventory, doc.get("classes", []), seen))
        merged = _merge(merged, doc.get("parameters", {}))
    return merged


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("kapitan-bench")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--generate-only", "--services", "2", "--out-dir", str(base)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    # service 0 runs on two prod clusters (4 + 4 + 2), service 1 on all twelve
    assert proc.stdout.strip() == f"2 services: 22 targets in {base / 'n2'}"
    assert not (base / "venv").exists()  # nothing installed
    return base / "n2"


def test_one_target_per_platform_gen_application(generated: Path, tmp_path: Path) -> None:
    targets = sorted(p.stem for p in (generated / "kapitan" / "inventory" / "targets").glob("*.yml"))
    assert len(targets) == 22
    out = tmp_path / "rendered"
    proc = subprocess.run(["platform-gen", "render", "--root", str(generated / "repo"), "--out", str(out),
                           "--format", "json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    apps = sorted(f"{p.parents[3].name}-{p.parent.name}"
                  for p in out.glob("services/*/overlays/*/*/kustomization.yaml"))
    assert targets == apps


def test_inventory_merges_to_platform_gen_values(generated: Path) -> None:
    inventory = generated / "kapitan" / "inventory"
    explained: dict[str, dict[str, Any]] = {}
    for service in ("payments-api-0000", "payments-worker-0001"):
        for env in ("dev", "staging", "prod"):
            proc = subprocess.run(["platform-gen", "explain", "--root", str(generated / "repo"), "--format", "json",
                                   service, env], capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            for t in json.loads(proc.stdout)["targets"]:
                explained[t["application"]] = t["values"]
    assert len(explained) == 22

    for path in sorted((inventory / "targets").glob("*.yml")):
        doc = _load(path)
        params = _merge(_parameters(inventory, doc["classes"], set()), doc["parameters"])
        assert params["kapitan"]["vars"]["target"] == path.stem
        assert params["values"] == explained[path.stem], path.stem
        assert params["kapitan"]["compile"][0]["input_paths"] == [f"templates/{params['service']['template']}"]


def _compile(project: Path) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """Each target's merged parameters and rendered files, as Kapitan's jinja2 input renders them."""
    inventory = project / "inventory"
    out: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    for path in sorted((inventory / "targets").glob("*.yml")):
        doc = _load(path)
        params = _merge(_parameters(inventory, doc["classes"], set()), doc["parameters"])
        folder = project / params["kapitan"]["compile"][0]["input_paths"][0]
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, loader=jinja2.FileSystemLoader(folder),
                                 trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.do"])
        out[path.stem] = (params, {name.removesuffix(".j2"): env.get_template(name).render(
            inventory={"parameters": params}) for name in env.list_templates()})
    return out


def test_component_renders_the_merged_values(generated: Path) -> None:
    kinds: set[tuple[str, str]] = set()
    for params, files in _compile(generated / "kapitan").values():
        out = {name: yaml.safe_load(text) for name, text in files.items()}
        values = params["values"]
        dep = out["deployment.yaml"]
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert dep["spec"]["replicas"] == values["replicas"]
        assert container["image"] == f"{values['image']}:{values['tag']}"
        assert {e["name"]: e["value"] for e in container["env"]} == {k: str(v) for k, v in values["env"].items()}
        assert out["kustomization.yaml"]["resources"] == sorted(n for n in out if n != "kustomization.yaml")
        kinds |= {(params["service"]["template"], d["kind"]) for d in out.values()}
    assert kinds == {("web-service", "Deployment"), ("web-service", "Service"), ("web-service", "Kustomization"),
                     ("worker", "Deployment"), ("worker", "Kustomization")}


def test_compare_finds_a_target_that_differs(generated: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The script's check of both outputs passes on equal outputs and names a target that differs."""
    spec = importlib.util.spec_from_file_location("kapitan_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ on it
    monkeypatch.setitem(sys.modules, "kapitan_bench", bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)

    rendered, compiled = tmp_path / "rendered", tmp_path / "compiled"
    proc = subprocess.run(["platform-gen", "render", "--root", str(generated / "repo"), "--out", str(rendered)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for target, (_params, files) in _compile(generated / "kapitan").items():
        for name, text in files.items():
            (compiled / target).mkdir(parents=True, exist_ok=True)
            (compiled / target / name).write_text(text, encoding="utf-8")
    targets = bench.generate_kapitan(tmp_path / "again", generated / "repo")
    assert bench.compare(targets, rendered, compiled, 100) == (22, [])

    changed = compiled / "payments-worker-0001-staging-d" / "deployment.yaml"
    changed.write_text(changed.read_text(encoding="utf-8").replace("replicas: 2", "replicas: 3"), encoding="utf-8")
    checked, diffs = bench.compare(targets, rendered, compiled, 100)
    assert checked == 22
    assert [d.split(":")[0] for d in diffs] == ["payments-worker-0001-staging-d"]
