"""render refuses to remove prod applications, or a quarter of all of them, without --allow-delete."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import Run, drop_prod_eu, snapshot


def test_removing_a_prod_cluster_is_refused(rendered_once: Path, run: Run) -> None:
    drop_prod_eu(rendered_once)
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert ("error: refusing to render: 4 prod application(s) would be removed: auth-service-prod-eu (prod), "
            "event-ingest-prod-eu (prod), ledger-worker-prod-eu (prod), payment-service-prod-eu (prod)") in err
    assert "hint: if that is intended, run 'platform-gen render --allow-delete'; nothing was written" in err
    assert snapshot(rendered_once / "rendered") == before
    code, _out, err = run("render", "--root", rendered_once, "--allow-delete")
    assert code == 0, err
    assert not list((rendered_once / "rendered").rglob("*prod-eu*"))


def test_renaming_a_cluster_is_refused(rendered_once: Path, run: Run) -> None:
    env = rendered_once / "environments/staging.yaml"
    env.write_text(env.read_text().replace("name: staging-1", "name: staging-2"))
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert ("error: refusing to render: 5 of 18 applications would be removed (more than 25% at once): "
            "auth-service-staging-1 (staging), event-ingest-staging-1 (staging)") in err


def test_removing_a_non_prod_service_needs_no_flag(rendered_once: Path, run: Run) -> None:
    shutil.rmtree(rendered_once / "platform-config/services/report-builder")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    assert not (rendered_once / "rendered/services/report-builder").exists()


def test_check_never_refuses(rendered_once: Path, run: Run) -> None:
    drop_prod_eu(rendered_once)
    code, out, _err = run("render", "--check", "--root", rendered_once)
    assert code == 1 and "removed:" in out
