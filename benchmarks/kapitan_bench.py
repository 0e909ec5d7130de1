"""Benchmark platform-gen's cold render against Kapitan on the same synthetic platform.

For each N the script builds two equivalent projects from one synthetic platform
(``render_bench.generate``: N services x 3 environments x 4 clusters):

* the platform-gen repo itself, and
* a Kapitan project with one target per (service, cluster) Application, an inventory
  whose classes hold the same value layers platform-gen merges (platform defaults ->
  environment -> cluster -> service -> service's environment -> service's cluster),
  and a jinja2 component rendering a Deployment, a Service (web services) and a
  kustomization.yaml per target.

Kapitan is installed with pip into a throwaway venv (removed at the end unless --keep).
Then, each in a fresh process, it times:

1. ``platform-gen render`` cold, into an empty folder, and ``kapitan compile`` of all
   targets (``--parallelism`` set to the machine's cores; Kapitan's default, min(targets,
   CPUs), is reported and run separately when it differs);
2. a one-service change: one service's tag is edited in both projects, then
   ``platform-gen render`` (into the existing output) against
   ``kapitan compile -t <one target>`` and ``kapitan compile -t <that service's targets>``.

After the cold runs it checks, on a sample of targets, that both tools produced the same
image tag, replica count and container env for each Application.

Usage: python benchmarks/kapitan_bench.py [--services 100 1000] [--kapitan-version V]
           [--inventory-backends reclass reclass-rs] [--compare K]
           [--out-dir DIR] [--keep] [--generate-only]
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
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_bench as rb  # a sibling script, not a package

KAPITAN_VERSION = "0.36.3"
MARKER = ".kapitan-bench"
#: Keys of a service's config (and of its environment and cluster entries) that are values;
#: the rest (name, team, template, environments, clusters, onlyClusters, ...) is structure.
VALUE_KEYS = ("image", "tag", "replicas", "resources", "env", "autoscaling", "port", "healthPath")


# --- the Kapitan project -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One (service, cluster) Application: a Kapitan target and a platform-gen overlay."""

    name: str
    service: str
    env: str
    cluster: str


def _values(layer: dict[str, Any]) -> dict[str, Any]:
    return {k: layer[k] for k in VALUE_KEYS if k in layer}


def _write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100),
                    encoding="utf-8")


#: The jinja2 component. Kapitan renders every file of the folder for every target, with
#: trim_blocks and lstrip_blocks on; ``inventory.parameters`` is the target's merged inventory.
#: Subscripts, not attributes: ``p.values`` would be the mapping's ``values`` method.
_DEPLOYMENT = """\
{% set p = inventory.parameters %}
{% set s = p["service"] %}
{% set v = p["values"] %}
{% set web = s["template"] == "web-service" %}
{% set port_name = "http" if web else "health" %}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ s["name"] | tojson }}
  labels:
    app.kubernetes.io/name: {{ s["name"] | tojson }}
  annotations:
    platform-gen.io/description: {{ s["description"] | tojson }}
spec:
  replicas: {{ v["replicas"] }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ s["name"] | tojson }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{ "25%" if web else 1 }}
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ s["name"] | tojson }}
    spec:
      serviceAccountName: {{ s["name"] | tojson }}
      automountServiceAccountToken: false
{% if not web %}
      terminationGracePeriodSeconds: 60
{% endif %}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: {{ (v["image"] ~ ":" ~ v["tag"]) | tojson }}
          ports:
            - name: {{ port_name }}
              containerPort: {{ v["port"] }}
              protocol: TCP
{% if v["env"] %}
          env:
{% for key, value in v["env"] | dictsort %}
            - name: {{ key | tojson }}
              value: {{ value | string | tojson }}
{% endfor %}
{% endif %}
          resources: {{ v["resources"] | tojson }}
          readinessProbe:
            httpGet:
              path: {{ v["healthPath"] | tojson }}
              port: {{ port_name }}
            periodSeconds: {{ 5 if web else 10 }}
          livenessProbe:
            httpGet:
              path: {{ v["healthPath"] | tojson }}
              port: {{ port_name }}
            initialDelaySeconds: {{ 10 if web else 15 }}
            periodSeconds: {{ 10 if web else 20 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            privileged: false
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
"""

_SERVICE = """\
{% set s = inventory.parameters["service"] %}
apiVersion: v1
kind: Service
metadata:
  name: {{ s["name"] | tojson }}
  labels:
    app.kubernetes.io/name: {{ s["name"] | tojson }}
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: {{ s["name"] | tojson }}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
"""

_KUSTOMIZATION = """\
{% set p = inventory.parameters %}
{% set s = p["service"] %}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {{ s["namespace"] | tojson }}
resources:
  - deployment.yaml
{% if s["template"] == "web-service" %}
  - service.yaml
{% endif %}
labels:
  - pairs:
      app.kubernetes.io/name: {{ s["name"] | tojson }}
      app.kubernetes.io/part-of: {{ p["organization"] | tojson }}
      app.kubernetes.io/managed-by: kapitan
      platform-gen.io/team: {{ s["team"] | tojson }}
      platform-gen.io/environment: {{ p["environment"] | tojson }}
      platform-gen.io/cluster: {{ p["cluster"] | tojson }}
      platform-gen.io/tier: {{ s["tier"] | tojson }}
    includeTemplates: true
"""

COMPONENTS = {
    "web-service": {"deployment.yaml.j2": _DEPLOYMENT, "service.yaml.j2": _SERVICE,
                    "kustomization.yaml.j2": _KUSTOMIZATION},
    "worker": {"deployment.yaml.j2": _DEPLOYMENT, "kustomization.yaml.j2": _KUSTOMIZATION},
}


def _namespace(platform: dict[str, Any], team: str) -> str:
    ns = (platform.get("teams", {}).get(team) or {}).get("namespace")
    return str(ns) if ns else f"team-{team}"


def targets_of(services: Sequence[dict[str, Any]], environments: Sequence[dict[str, Any]]) -> list[Target]:
    """Every (service, cluster) Application, as platform-gen places them.

    A service runs in each environment it lists, on ``onlyClusters`` there if given,
    else on all of the environment's clusters.
    """
    out: list[Target] = []
    for svc in services:
        for env in environments:
            spec = svc.get("environments", {}).get(env["name"])
            if spec is None:
                continue
            clusters = [c["name"] for c in env["clusters"]]
            for cluster in spec.get("onlyClusters", clusters):
                out.append(Target(f"{svc['name']}-{cluster}", svc["name"], env["name"], cluster))
    return sorted(out, key=lambda t: t.name)


def generate_kapitan(root: Path, platform_repo: Path) -> list[Target]:
    """Write a Kapitan project equivalent to the platform repo at ``platform_repo``.

    Reads the generated repo's own files (not the generator's functions), so whatever
    ``render_bench.generate`` writes is what both tools see. Returns the targets.
    """
    platform = yaml.safe_load((platform_repo / "platform-config" / "platform.yaml").read_text("utf-8"))
    environments = [yaml.safe_load(p.read_text("utf-8"))
                    for p in sorted((platform_repo / "environments").glob("*.yaml"))]
    environments.sort(key=lambda e: e.get("order", 0))
    services = [yaml.safe_load(p.read_text("utf-8"))
                for p in sorted((platform_repo / "platform-config" / "services").glob("*/config.yaml"))]

    inv = root / "inventory"
    classes = inv / "classes"
    # layer 1: platform defaults, in the class every cluster class reaches through its environment
    _write_yaml(classes / "org.yml", {"parameters": {"organization": platform["organization"],
                                                     "values": platform.get("defaults", {})}})
    for env in environments:
        # layer 2: the environment's defaults
        _write_yaml(classes / "env" / f"{env['name']}.yml",
                    {"classes": ["org"],
                     "parameters": {"environment": env["name"], "values": env.get("defaults", {})}})
        for cluster in env["clusters"]:
            # layer 3: the cluster's values
            _write_yaml(classes / "cluster" / f"{cluster['name']}.yml",
                        {"classes": [f"env.{env['name']}"],
                         "parameters": {"cluster": cluster["name"], "values": cluster.get("values", {})}})
    for name, files in COMPONENTS.items():
        _write_yaml(classes / "component" / f"{name}.yml", {"parameters": {"kapitan": {"compile": [
            {"output_path": ".", "input_type": "jinja2", "input_paths": [f"templates/{name}"],
             "suffix_remove": True}]}}})
        for fname, text in files.items():
            (root / "templates" / name).mkdir(parents=True, exist_ok=True)
            (root / "templates" / name / fname).write_text(text, encoding="utf-8")

    by_name = {svc["name"]: svc for svc in services}
    for svc in services:
        meta = {k: svc.get(k, "") for k in ("name", "team", "description", "tier", "template")}
        meta["namespace"] = _namespace(platform, svc["team"])
        # layer 4: the service's top level
        _write_yaml(classes / "services" / f"{svc['name']}.yml",
                    {"parameters": {"service": meta, "values": _values(svc)}})
        for env_name, spec in sorted(svc.get("environments", {}).items()):
            # layer 5: the service's environment entry, when it sets any value
            if _values(spec or {}):
                _write_yaml(classes / "overrides" / svc["name"] / f"{env_name}.yml",
                            {"parameters": {"values": _values(spec)}})

    targets = targets_of(services, environments)
    for t in targets:
        svc = by_name[t.service]
        spec = svc["environments"][t.env] or {}
        cls = [f"cluster.{t.cluster}", f"services.{t.service}"]
        if _values(spec):
            cls.append(f"overrides.{t.service}.{t.env}")
        cls.append(f"component.{svc['template']}")
        params: dict[str, Any] = {"kapitan": {"vars": {"target": t.name}}}
        # layer 6: the service's cluster entry
        own = _values((spec.get("clusters") or {}).get(t.cluster) or {})
        if own:
            params["values"] = own
        _write_yaml(inv / "targets" / f"{t.name}.yml", {"classes": cls, "parameters": params})
    return targets


# --- measurement -------------------------------------------------------------------------


def install_kapitan(venv_dir: Path, version: str, extras: Sequence[str]) -> tuple[Path, str]:
    """Create a venv at ``venv_dir`` and pip-install Kapitan into it; exit 1 if that fails."""
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    py = venv_dir / "bin" / "python"
    spec = f"kapitan[{','.join(extras)}]=={version}" if extras else f"kapitan=={version}"
    print(f"installing {spec} into {venv_dir} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec],
                          capture_output=True, text=True, check=False)
    kapitan = venv_dir / "bin" / "kapitan"
    if proc.returncode != 0 or not kapitan.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-30:])
        raise SystemExit(f"error: pip install {spec} failed (exit {proc.returncode}):\n{tail}")
    got = subprocess.run([str(kapitan), "--version"], capture_output=True, text=True, check=False)
    if got.returncode != 0:
        raise SystemExit(f"error: the installed kapitan does not run:\n{got.stderr or got.stdout}")
    return kapitan, got.stdout.strip()


def _check(run: rb.Run, what: str) -> None:
    if run.code != 0:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-30:])
        raise SystemExit(f"error: {what} exited {run.code}:\n{tail}")


def _load_all(path: Path) -> list[Any]:
    return [d for d in yaml.load_all(path.read_text("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            if d is not None]


def _pg_facts(overlay: Path) -> tuple[str, int, dict[str, str]]:
    """Tag, replicas and container env of one platform-gen overlay kustomization."""
    doc = _load_all(overlay)[0]
    tag = doc["images"][0]["newTag"]
    replicas = doc["replicas"][0]["count"]
    env: dict[str, str] = {}
    for patch in doc.get("patches", []):
        if patch["target"]["kind"] == "Deployment":
            container = yaml.safe_load(patch["patch"])["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: str(e["value"]) for e in container.get("env", [])}
    return str(tag), int(replicas), env


def _kapitan_facts(target_dir: Path) -> tuple[str, int, dict[str, str]]:
    dep = _load_all(target_dir / "deployment.yaml")[0]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: str(e["value"]) for e in container.get("env", [])}
    return container["image"].rsplit(":", 1)[1], int(dep["spec"]["replicas"]), env


def compare(targets: Sequence[Target], rendered: Path, compiled: Path, limit: int) -> tuple[int, list[str]]:
    """Compare tag, replicas and env of up to ``limit`` evenly spread targets; return (checked, diffs)."""
    step = max(1, len(targets) // limit)
    diffs: list[str] = []
    checked = 0
    for t in targets[::step]:
        pg = _pg_facts(rendered / "services" / t.service / "overlays" / t.env / t.cluster / "kustomization.yaml")
        kp = _kapitan_facts(compiled / t.name)
        checked += 1
        if pg != kp:
            diffs.append(f"{t.name}: platform-gen {pg} != kapitan {kp}")
    return checked, diffs


def _one_service(services: Sequence[dict[str, Any]], targets: Sequence[Target]) -> str:
    """A service in the middle whose top-level tag reaches all of its Applications."""
    per: dict[str, int] = {}
    for t in targets:
        per[t.service] = per.get(t.service, 0) + 1
    names = sorted(per)
    by_name = {s["name"]: s for s in services}

    def overridden(svc: dict[str, Any]) -> bool:
        for spec in (svc.get("environments") or {}).values():
            spec = spec or {}
            if "tag" in spec or any("tag" in (c or {}) for c in (spec.get("clusters") or {}).values()):
                return True
        return False

    candidates = [n for n in names if not overridden(by_name[n])] or names
    half = candidates[len(candidates) // 2:]
    most = max(per[n] for n in half)
    return next(n for n in half if per[n] == most)


def _bump_tag(path: Path) -> None:
    data = yaml.safe_load(path.read_text("utf-8"))
    node = data["parameters"]["values"] if "parameters" in data else data
    node["tag"] = f"{node['tag']}-bench"
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100), encoding="utf-8")


_INVENTORY_RE = re.compile(r"Rendered inventory \((\d+(?:\.\d+)?)s\)")


def inventory_seconds(run: rb.Run) -> float | None:
    """The time Kapitan says it spent rendering the inventory (its ``Rendered inventory (Ns)`` line)."""
    found = _INVENTORY_RE.search(run.stdout + run.stderr)
    return float(found.group(1)) if found else None


@dataclass(frozen=True)
class KapitanRuns:
    """The runs of one Kapitan inventory backend."""

    backend: str
    cold: tuple[tuple[str, rb.Run], ...]  # (parallelism, run)
    one_target: rb.Run
    one_service: rb.Run


@dataclass(frozen=True)
class Result:
    """All runs for one platform size."""

    services: int
    targets: int
    pg_cold: rb.Run
    pg_one: rb.Run
    one_service: str
    one_service_targets: int
    kapitan: tuple[KapitanRuns, ...]
    checked: int
    pg_bytes: int
    kapitan_bytes: int


def _tree_bytes(root: Path, skip: str = "") -> int:
    return sum((Path(d) / n).stat().st_size for d, _dirs, names in os.walk(root) for n in names if n != skip)


def bench(workdir: Path, services: int, kapitan: Path, backends: Sequence[str], compare_limit: int) -> Result:
    """Generate both projects for ``services`` services in ``workdir`` and time every run."""
    repo, out, kproj = workdir / "repo", workdir / "rendered", workdir / "kapitan"
    rb.generate(repo, services)
    targets = generate_kapitan(kproj, repo)
    svc_docs = [yaml.safe_load(p.read_text("utf-8"))
                for p in sorted((repo / "platform-config" / "services").glob("*/config.yaml"))]
    cores = os.cpu_count() or 1
    default_p = min(len(targets), _available_cpus(kapitan))
    compiled = kproj / "compiled"

    pg = [*rb._command(), "render", "--root", str(repo), "--out", str(out), "--format", "json"]
    pg_cold = rb.measure("platform-gen cold", pg)
    _check(pg_cold, "platform-gen render (cold)")
    overlays = sum(1 for _ in out.glob("services/*/overlays/*/*/kustomization.yaml"))
    if overlays != len(targets):
        raise SystemExit(f"error: platform-gen rendered {overlays} overlays, the Kapitan project has "
                         f"{len(targets)} targets; the equivalence is broken")

    cold: dict[str, list[tuple[str, rb.Run]]] = {}
    checked = 0
    for backend in backends:
        configs = [(f"-p {cores} (cores)", ["-p", str(cores)])]
        if default_p != cores:
            configs.append((f"default (-p {default_p})", []))
        for label, extra in configs:
            shutil.rmtree(compiled, ignore_errors=True)
            run = rb.measure(f"kapitan {backend} {label}",
                             [str(kapitan), "compile", "--inventory-backend", backend, *extra], cwd=kproj)
            _check(run, f"kapitan compile --inventory-backend {backend} {label}")
            cold.setdefault(backend, []).append((label, run))
            made = sum(1 for p in compiled.iterdir() if p.is_dir())
            if made != len(targets):
                raise SystemExit(f"error: kapitan compiled {made} target folders, expected {len(targets)}")
            checked, diffs = compare(targets, out, compiled, compare_limit)
            if diffs:
                raise SystemExit("error: the two outputs disagree:\n" + "\n".join(diffs[:20]))
    pg_bytes = _tree_bytes(out, skip=".platform-gen.yaml")
    kapitan_bytes = _tree_bytes(compiled)

    # one service changed: the same service's tag, in both projects
    name = _one_service(svc_docs, targets)
    mine = [t.name for t in targets if t.service == name]
    _bump_tag(repo / "platform-config" / "services" / name / "config.yaml")
    _bump_tag(kproj / "inventory" / "classes" / "services" / f"{name}.yml")
    pg_one = rb.measure("platform-gen one service", pg)
    _check(pg_one, "platform-gen render (one service changed)")
    plan = json.loads(pg_one.stdout) if pg_one.stdout.strip().startswith("{") else {}
    if isinstance(plan, dict) and "changed" in plan and not plan["changed"]:
        raise SystemExit(f"error: platform-gen render reported no change after editing {name}'s tag")
    runs: list[KapitanRuns] = []
    for backend in backends:
        kc = [str(kapitan), "compile", "--inventory-backend", backend, "-p", str(cores)]
        for t in mine:  # so the check below sees this backend's output
            shutil.rmtree(compiled / t, ignore_errors=True)
        k_one = rb.measure(f"kapitan {backend} -t one target", [*kc, "-t", mine[0]], cwd=kproj)
        _check(k_one, f"kapitan compile --inventory-backend {backend} -t (one target)")
        k_svc = rb.measure(f"kapitan {backend} -t one service", [*kc, "-t", *mine], cwd=kproj)
        _check(k_svc, f"kapitan compile --inventory-backend {backend} -t (one service's targets)")
        for t in mine:
            tag = _kapitan_facts(compiled / t)[0]
            if not tag.endswith("-bench"):
                raise SystemExit(f"error: kapitan compile -t did not pick up the new tag for {t}: {tag}")
        runs.append(KapitanRuns(backend, tuple(cold[backend]), k_one, k_svc))
    return Result(services, len(targets), pg_cold, pg_one, name, len(mine), tuple(runs), checked,
                  pg_bytes, kapitan_bytes)


def _available_cpus(kapitan: Path) -> int:
    """The CPU count Kapitan's default parallelism uses (``kapitan.utils.available_cpu_count``)."""
    py = kapitan.parent / "python"
    got = subprocess.run([str(py), "-c", "from kapitan.utils import available_cpu_count as c; print(c())"],
                         capture_output=True, text=True, check=False)
    try:
        return int(got.stdout.strip())
    except ValueError:
        return os.cpu_count() or 1


def _inv(run: rb.Run) -> str:
    s = inventory_seconds(run)
    return "?" if s is None else f"{s:.2f}"


def tables(results: Sequence[Result]) -> str:
    """The results as three markdown tables: cold, one service changed, sizes."""
    lines = ["| services | targets | Kapitan run | platform-gen s | kapitan s (inventory s) "
             "| platform-gen ms/target | kapitan ms/target | kapitan / platform-gen |",
             "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in results:
        pg = r.pg_cold.seconds
        for k in r.kapitan:
            for label, run in k.cold:
                lines.append(f"| {r.services} | {r.targets} | {k.backend}, {label} | {pg:.2f} "
                             f"| {run.seconds:.2f} ({_inv(run)}) | {1000 * pg / r.targets:.2f} "
                             f"| {1000 * run.seconds / r.targets:.2f} | {run.seconds / pg:.1f}x |")
    lines += ["", "| services | changed service (targets) | Kapitan run | platform-gen render s "
              "| kapitan -t one target s | kapitan -t its targets s | kapitan (its targets) / platform-gen |",
              "|---:|---|---|---:|---:|---:|---:|"]
    for r in results:
        for k in r.kapitan:
            lines.append(f"| {r.services} | {r.one_service} ({r.one_service_targets}) | {k.backend} "
                         f"| {r.pg_one.seconds:.2f} | {k.one_target.seconds:.2f} | {k.one_service.seconds:.2f} "
                         f"| {k.one_service.seconds / r.pg_one.seconds:.1f}x |")
    lines += ["", "| services | output MiB platform-gen | output MiB kapitan | peak RSS MiB platform-gen "
              "| peak RSS MiB kapitan | targets checked equal |", "|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        krss = max(run.peak_rss_mib for k in r.kapitan for _, run in k.cold)
        lines.append(f"| {r.services} | {r.pg_bytes / 2**20:.1f} | {r.kapitan_bytes / 2**20:.1f} "
                     f"| {r.pg_cold.peak_rss_mib:.0f} | {krss:.0f} | {r.checked} |")
    return "\n".join(lines)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _workdir(base: Path, services: int) -> Path:
    d = base / f"n{services}"
    if d.exists() and any(d.iterdir()):
        if not (d / MARKER).is_file():
            raise SystemExit(f"error: {d} is not empty and was not made by this benchmark")
        shutil.rmtree(d)
    d.mkdir(parents=True)
    (d / MARKER).write_text("made by benchmarks/kapitan_bench.py\n", encoding="utf-8")
    return d


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, nargs="+", default=[100, 1000], metavar="N",
                        help="platform sizes to benchmark (default: 100 1000)")
    parser.add_argument("--kapitan-version", default=KAPITAN_VERSION,
                        help=f"the Kapitan release to pip-install (default: {KAPITAN_VERSION})")
    parser.add_argument("--inventory-backends", nargs="+", default=["reclass"], choices=("reclass", "reclass-rs"),
                        metavar="BACKEND",
                        help="Kapitan inventory backends to time: reclass (Kapitan's default, the default here) "
                             "and/or reclass-rs (installs the kapitan[reclass-rs] extra)")
    parser.add_argument("--compare", type=int, default=500, metavar="K",
                        help="check tag, replicas and env of about K targets in both outputs (default: 500)")
    parser.add_argument("--out-dir", type=Path, help="work in DIR/n<N> (kept) instead of a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (and the venv)")
    parser.add_argument("--generate-only", action="store_true",
                        help="only write both projects (DIR/n<N>/repo and DIR/n<N>/kapitan); "
                             "no Kapitan install, nothing timed")
    args = parser.parse_args(argv)
    if any(n < 1 or n > 9999 for n in args.services):
        parser.error("--services takes sizes from 1 to 9999")
    if args.compare < 1:
        parser.error("--compare takes a positive number")

    if args.out_dir is not None:
        base = args.out_dir.resolve()
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="kapitan-bench-"))
    try:
        if args.generate_only:
            for n in args.services:
                d = _workdir(base, n)
                rb.generate(d / "repo", n)
                targets = generate_kapitan(d / "kapitan", d / "repo")
                print(f"{n} services: {len(targets)} targets in {d}")
            return 0
        print(f"load at start: {_uptime()}")
        backends = list(dict.fromkeys(args.inventory_backends))
        extras = ["reclass-rs"] if "reclass-rs" in backends else []
        kapitan, version = install_kapitan(base / "venv", args.kapitan_version, extras)
        print(f"kapitan {version} ({', '.join(backends)}), {sys.implementation.name} "
              f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, Kapitan's default parallelism: "
              f"min(targets, {_available_cpus(kapitan)})")
        results: list[Result] = []
        for n in args.services:
            print(f"benchmarking {n} services ...", file=sys.stderr, flush=True)
            r = bench(_workdir(base, n), n, kapitan, backends, args.compare)
            every = [r.pg_cold, r.pg_one, *(run for k in r.kapitan for run in
                                            (*(run for _, run in k.cold), k.one_target, k.one_service))]
            for run in every:
                print(f"  {run.label:40} {run.seconds:8.2f} s  {run.peak_rss_mib:7.1f} MiB",
                      file=sys.stderr, flush=True)
            results.append(r)
        print(tables(results))
        print(f"load at end: {_uptime()}")
        return 0
    finally:
        if args.out_dir is None and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        elif args.out_dir is None:
            print(f"kept {base}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
