"""`validate` over the runtime-capability objects: ExternalSecret, HTTPRoute, ServiceMonitor, PodMonitor,
PrometheusRule against their vendored upstream schemas, PromQL, recording rules and the monitors' targets."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from platform_gen import crdschema

VENDOR = Path(crdschema.__file__).parent / "vendor"
RUNTIME_VENDOR = {
    "external-secrets": ["externalsecret_v1.json"],
    "gateway-api": ["httproute_v1.json"],
    "prometheus-operator": ["podmonitor_v1.json", "prometheusrule_v1.json", "servicemonitor_v1.json"],
}


@pytest.mark.parametrize("project", sorted(RUNTIME_VENDOR))
def test_each_vendored_file_matches_its_notice(project: str) -> None:
    folder = VENDOR / project
    notice = (folder / "NOTICE.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir() if p.name != "NOTICE.md") == RUNTIME_VENDOR[project]
    for name in RUNTIME_VENDOR[project]:
        row = re.search(rf"^\| `{re.escape(name)}` \|.*$", notice, re.M)
        assert row is not None, f"{project}/NOTICE.md has no row for {name}"
        cells = [c.strip(" `") for c in row.group(0).strip("|").split("|")]
        repo, tag, commit, _path, sha256, licence = cells[1:]
        assert repo.startswith("https://github.com/") and re.fullmatch(r"v[0-9.]+", tag), row.group(0)
        assert re.fullmatch(r"[0-9a-f]{40}", commit) and licence == "Apache-2.0", row.group(0)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256, name
