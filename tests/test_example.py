"""The example platform of this repo, end to end, against the real consumers."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_gen import yamlio
from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO, Run, drop_prod_eu, snapshot, tree


@pytest.fixture
def rendered(example: Path, run: Run) -> Path:
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    return example / "rendered"


def overlays(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("services/*/overlays/*/*/kustomization.yaml"))


def test_committed_tree_is_current(rendered: Path) -> None:
    """The committed rendered/ is exactly what render produces (the example's golden)."""
    assert tree(rendered) == tree(REPO / "rendered")


def test_output_does_not_depend_on_location(tmp_path: Path, run: Run) -> None:
    from .conftest import copy_inputs

    a = copy_inputs(REPO, tmp_path / "one" / "repo")
    b = copy_inputs(REPO, tmp_path / "two" / "deeper" / "repo")
    assert run("render", "--root", a)[0] == 0
    assert run("render", "--root", b)[0] == 0
    assert tree(a / "rendered") == tree(b / "rendered")
    for data in tree(a / "rendered").values():
        assert str(tmp_path).encode() not in data


def test_every_overlay_builds_without_warnings(rendered: Path, kustomize: Kustomize) -> None:
    dirs = overlays(rendered)
    assert len(dirs) == 21
    for d in dirs:
        build = kustomize.build(d)
        assert build.ok, f"{d}: {build.error}"
        assert build.warnings == (), f"{d}: {build.warnings}"
        objects = yamlio.safe_load_all(build.output)
        env, cluster = d.parent.name, d.name
        service = d.parent.parent.parent.name
        kinds = {o["kind"] for o in objects}
        # ledger-reconcile is batch work (README "Batch work: CronJob and Job")
        assert {"CronJob" if service == "ledger-reconcile" else "Deployment", "ServiceAccount"} <= kinds
        for obj in objects:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == service
            assert labels["platform-gen.io/environment"] == env
            assert labels["platform-gen.io/cluster"] == cluster
            assert obj["metadata"]["namespace"] in ("team-payments", "identity", "team-data")
            if obj["kind"] == "CronJob":  # labels reach the Jobs and their pods
                job = obj["spec"]["jobTemplate"]
                assert job["metadata"]["labels"]["platform-gen.io/cluster"] == cluster
                assert job["spec"]["template"]["metadata"]["labels"]["platform-gen.io/cluster"] == cluster
            if obj["kind"] == "Deployment":
                # labels reach pods but never selectors
                assert obj["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": service}}
                assert obj["spec"]["template"]["metadata"]["labels"]["platform-gen.io/cluster"] == cluster
                if env == "prod":
                    assert obj["spec"]["template"]["spec"]["topologySpreadConstraints"]


def test_per_cluster_override_reaches_the_cluster(rendered: Path, kustomize: Kustomize) -> None:
    def deployment(env: str, cluster: str) -> dict:
        out = kustomize.build(rendered / f"services/payment-service/overlays/{env}/{cluster}").output
        return next(o for o in yamlio.safe_load_all(out) if o["kind"] == "Deployment")

    us, eu, dev = deployment("prod", "prod-us"), deployment("prod", "prod-eu"), deployment("dev", "dev-1")
    assert us["spec"]["replicas"] == 5 and eu["spec"]["replicas"] == 3 and dev["spec"]["replicas"] == 1
    app = us["spec"]["template"]["spec"]["containers"][0]
    assert app["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    assert {"name": "REGION", "value": "us-east-1"} in app["env"]
    assert {"name": "LOG_LEVEL", "value": "info"} in app["env"]  # service top level beats env defaults
    assert dev["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/payment-service:1.5.0-rc.1"


def test_second_render_changes_nothing(rendered: Path, example: Path, run: Run) -> None:
    before = snapshot(rendered)
    code, _out, err = run("render", "--root", example)
    assert code == 0
    assert "0 created, 0 changed, 0 removed" in err
    assert snapshot(rendered) == before


def test_check_passes_after_render_and_fails_after_edit(rendered: Path, example: Path, run: Run) -> None:
    code, out, _ = run("render", "--check", "--root", example)
    assert code == 0, out
    cfg = example / "platform-config/services/payment-service/config.yaml"
    cfg.write_text(cfg.read_text().replace('tag: "1.4.2"', 'tag: "1.4.3"'))
    before = snapshot(rendered)
    code, out, _ = run("render", "--check", "--root", example)
    assert code == 1
    assert "changed:  argocd/applicationsets/payment-service.yaml" in out
    assert "changed:  services/payment-service/overlays/prod/prod-us/kustomization.yaml" in out
    assert "changed:  services/payment-service/base/deployment.yaml" in out
    assert snapshot(rendered) == before  # --check writes nothing


def test_removed_service_and_cluster_files_are_removed(rendered: Path, example: Path, run: Run) -> None:
    import shutil

    shutil.rmtree(example / "platform-config/services/report-builder")
    drop_prod_eu(example)
    code, _out, err = run("render", "--root", example, "--allow-delete")
    assert code == 0, err
    files = tree(rendered)
    assert not any("report-builder" in f for f in files)
    assert not any("prod-eu" in f for f in files)
    assert not (rendered / "services/report-builder").exists()
    assert b"prod-eu" not in b"".join(files.values())
