"""Where a service runs: every cluster of its environments unless onlyClusters restricts it.

`clusters:` holds per-cluster overrides and never changes where a service runs; a
cluster added to an environment gets every service of that environment.
"""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Run, edit

PROD = "environments/prod.yaml"
INGEST = "platform-config/services/event-ingest/config.yaml"
PAYMENTS = "platform-config/services/payment-service/config.yaml"


def overlays(root: Path, service: str, env: str) -> list[str]:
    return sorted(p.name for p in (root / f"rendered/services/{service}/overlays/{env}").iterdir())


def test_an_override_for_one_cluster_keeps_the_others(rendered_once: Path) -> None:
    # event-ingest overrides prod-eu only; payment-service overrides prod-us only
    assert "prod-us:" not in (rendered_once / INGEST).read_text()
    assert overlays(rendered_once, "event-ingest", "prod") == ["prod-eu", "prod-us"]
    assert "prod-eu:" not in (rendered_once / PAYMENTS).read_text()
    assert overlays(rendered_once, "payment-service", "prod") == ["prod-eu", "prod-us"]


def test_a_new_cluster_gets_every_service_of_its_environment_and_the_summary_says_so(
        rendered_once: Path, run: Run) -> None:
    edit(rendered_once, PROD, "defaults:", "  - name: prod-ap\n    server: https://prod-ap.k8s.acme.internal\ndefaults:")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    for service in ("auth-service", "event-ingest", "ledger-worker", "payment-service"):
        assert overlays(rendered_once, service, "prod") == ["prod-ap", "prod-eu", "prod-us"], service
    assert ("new cluster prod/prod-ap receives 4 service(s): auth-service, event-ingest, ledger-worker, "
            "payment-service\n") in err
    code, out, _err = run("render", "--root", rendered_once, "--check", "--format", "json")
    assert code == 0 and json.loads(out)["newClusters"] == {}


def test_only_clusters_restricts_and_the_rest_keep_running(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, INGEST, "    clusters:", "    onlyClusters: [prod-eu]\n    clusters:")
    code, _out, err = run("render", "--root", rendered_once, "--allow-delete")
    assert code == 0, err
    assert overlays(rendered_once, "event-ingest", "prod") == ["prod-eu"]
    assert overlays(rendered_once, "payment-service", "prod") == ["prod-eu", "prod-us"]


def test_unknown_cluster_in_only_clusters(example: Path, run: Run) -> None:
    edit(example, INGEST, "    clusters:", "    onlyClusters: [prod-eu, prod-uss]\n    clusters:")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert err.startswith(f"{INGEST}:24:29: error: environments.prod.onlyClusters[1]: unknown cluster 'prod-uss' "
                          "in environment 'prod'\n  hint: did you mean 'prod-us'?\n")
    assert not (example / "rendered").exists()


def test_overrides_for_a_cluster_it_does_not_run_on(example: Path, run: Run) -> None:
    edit(example, INGEST, "    clusters:", "    onlyClusters: [prod-us]\n    clusters:")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert err.startswith(f"{INGEST}:26:7: error: environments.prod.clusters.prod-eu: overrides for cluster "
                          "'prod-eu', where the service does not run (onlyClusters of prod: prod-us)\n"
                          "  hint: add prod-eu to onlyClusters, or remove its overrides\n")
    assert not (example / "rendered").exists()
