"""Tests for generator/platform_gen/data/crossplane_health.lua, run under real Lua interpreters.

Argo CD runs health checks in a Lua 5.1 interpreter with the live object in the global
``obj``; the script must return a table with ``status`` and ``message``. Each case runs
in Lua 5.1 (lupa.lua51, Argo CD's language level) and in lupa's default Lua.
"""

from __future__ import annotations

from importlib import resources
from types import ModuleType
from typing import Any

import lupa
import lupa.lua51
import pytest

SCRIPT = (resources.files("platform_gen") / "data" / "crossplane_health.lua").read_text(encoding="utf-8")
STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing"}


RUNTIMES = {"lua51": lupa.lua51, "default": lupa}


def run(module: ModuleType, obj: dict[str, Any]) -> dict[str, Any]:
    """The script's result for ``obj``, as Argo CD would get it."""
    lua = module.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(SCRIPT)
    out = dict(hs.items())
    assert set(out) == {"status", "message"}, out
    assert out["status"] in STATUSES, out
    assert isinstance(out["message"], str) and out["message"], out
    return out


def cond(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    out = {"type": kind, "status": status}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def claim(*conditions: dict[str, str], **metadata: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "platform.acme.io/v1alpha1",
        "kind": "PostgreSQLInstance",
        "metadata": {"name": "payments-db", "namespace": "payments", **metadata},
        "spec": {"parameters": {"storageGB": 20}},
    }
    if conditions:
        obj["status"] = {"conditions": list(conditions)}
    return obj


SYNCED = cond("Synced", "True", "ReconcileSuccess")
READY = cond("Ready", "True", "Available")
PAUSED = {"annotations": {"crossplane.io/paused": "true"}}
UNREADY = "Unready resources: bucket, credentials"

CASES = [
    ("no status", claim(), "Progressing", "Waiting for Crossplane to reconcile the resource"),
    ("empty status", {**claim(), "status": {}}, "Progressing",
     "Waiting for Crossplane to reconcile the resource"),
    ("empty conditions", {**claim(), "status": {"conditions": []}}, "Progressing",
     "Waiting for Crossplane to reconcile the resource"),
    ("synced and ready", claim(SYNCED, READY), "Healthy", "Available"),
    ("ready before synced in the list", claim(READY, SYNCED), "Healthy", "Available"),
    ("synced false", claim(cond("Synced", "False", "ReconcileError", "cannot compose resources: boom"),
                           READY),
     "Degraded", "ReconcileError: cannot compose resources: boom"),
    ("synced false without a message", claim(cond("Synced", "False", "ReconcileError")),
     "Degraded", "ReconcileError"),
    ("synced false, bare", claim(cond("Synced", "False")), "Degraded", "Reconciliation failed"),
    ("creating", claim(SYNCED, cond("Ready", "False", "Creating", UNREADY)),
     "Progressing", f"Creating: {UNREADY}"),
    ("claim waiting for its composite", claim(SYNCED, cond("Ready", "False", "Waiting")),
     "Progressing", "Waiting"),
    ("ready false without a reason", claim(SYNCED, cond("Ready", "False")),
     "Progressing", "Not ready yet"),
    ("ready false, deleting", claim(SYNCED, cond("Ready", "False", "Deleting")),
     "Progressing", "Deleting"),
    ("ready false, unavailable", claim(SYNCED, cond("Ready", "False", "Unavailable", "instance stopped")),
     "Degraded", "Unavailable: instance stopped"),
    ("ready false, reconcile error", claim(SYNCED, cond("Ready", "False", "ReconcileError", "x")),
     "Degraded", "ReconcileError: x"),
    ("ready unknown", claim(SYNCED, cond("Ready", "Unknown", "", "checking")),
     "Progressing", "checking"),
    ("synced only", claim(SYNCED), "Progressing", "Waiting for the Ready condition"),
    ("ready only", claim(READY), "Progressing", "Ready, waiting for the Synced condition"),
    ("synced unknown", claim(cond("Synced", "Unknown"), READY), "Progressing",
     "Ready, waiting for the Synced condition"),
    ("paused annotation", claim(SYNCED, READY, **PAUSED), "Suspended",
     "Reconciliation is paused (annotation crossplane.io/paused)"),
    ("paused annotation, no status", claim(**PAUSED), "Suspended",
     "Reconciliation is paused (annotation crossplane.io/paused)"),
    ("paused annotation beats degraded", claim(cond("Synced", "False", "ReconcileError"), **PAUSED),
     "Suspended", "Reconciliation is paused (annotation crossplane.io/paused)"),
    ("paused annotation false", claim(SYNCED, READY, annotations={"crossplane.io/paused": "false"}),
     "Healthy", "Available"),
    ("synced false, paused", claim(cond("Synced", "False", "ReconcilePaused",
                                        "Reconciliation is paused via the pause annotation")),
     "Suspended", "ReconcilePaused: Reconciliation is paused via the pause annotation"),
    ("deleting", claim(SYNCED, READY, deletionTimestamp="2025-01-01T00:00:00Z"),
     "Progressing", "Deleting"),
    ("deleting and failing", claim(cond("Synced", "False", "ReconcileError", "cannot delete"),
                                   deletionTimestamp="2025-01-01T00:00:00Z"),
     "Degraded", "ReconcileError: cannot delete"),
    ("other conditions ignored", claim(SYNCED, READY, cond("Responsive", "False")), "Healthy", "Available"),
]


@pytest.mark.parametrize("module", RUNTIMES.values(), ids=RUNTIMES.keys())
@pytest.mark.parametrize(("obj", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_health(module, obj, status, message):
    assert run(module, obj) == {"status": status, "message": message}


def test_namespaced_composite_resource():
    xr = claim(SYNCED, READY)
    xr["apiVersion"], xr["kind"] = "platform.acme.io/v1alpha1", "ObjectBucket"
    xr["spec"]["crossplane"] = {"compositionRef": {"name": "objectbuckets.aws.platform.acme.io"}}
    for module in RUNTIMES.values():
        assert run(module, xr)["status"] == "Healthy"


def test_runs_under_lua_5_1():
    assert lupa.lua51.LuaRuntime().eval("_VERSION") == "Lua 5.1"


def test_script_leaves_no_globals_but_obj():
    lua = lupa.lua51.LuaRuntime()
    before = set(lua.globals())
    lua.globals().obj = lua.table_from(claim(SYNCED, READY), recursive=True)
    lua.execute(SCRIPT)
    assert set(lua.globals()) - before == {"obj"}
