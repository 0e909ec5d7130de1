"""A string in a config.yaml reaches the cluster as that same string, through real kustomize.

kustomize and Argo CD read YAML with Go's libraries, whose resolvers differ from
PyYAML's YAML 1.1 one: ``3141e59`` (a short git SHA), ``1e3``, ``08`` and ``0o17`` are
numbers to them. The emitter must quote every string that any of them would misread.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen import yamlio
from platform_gen.cli import compile_platform
from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO, copy_inputs

SERVICE = "payment-service"
CONFIG = f"platform-config/services/{SERVICE}/config.yaml"
OVERLAY = f"services/{SERVICE}/overlays/dev/dev-1"

#: Strings that some YAML resolver reads as a number, boolean, null or timestamp.
MISREAD = ["3141e59", "1e3", "08", "0o17", "0x1F", ".5", "+1", "1_000", "yes", "no", "on", "off", "y", "n",
           "~", "null", "2026-01-01", "2026-1-2", "12:30", "1e-3", "-1E+3", "0b101", "1.10", "0755", "TRUE",
           "Off", "-.inf", ".NaN", "1_0.5", "9" * 30]
TAG_CHARS = "abcdefxyzABEXY0123456789_.-"
VALUE_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"))
tags = st.one_of(st.sampled_from([m for m in MISREAD if m[0].isalnum() and set(m) <= set(TAG_CHARS)]),
                 st.text(TAG_CHARS, min_size=1, max_size=12).filter(lambda t: t[0] not in ".-"))
values = st.one_of(st.sampled_from([*MISREAD, "multi\nline", " lead", "a: b", "#x", "- x", "'", '"', "\\"]),
                   st.text(VALUE_CHARS, max_size=12), st.text("0123456789eEoxb._+-:", min_size=1, max_size=8))


def test_go_resolvers_misread_list_is_quoted() -> None:
    for text in MISREAD:  # PyYAML quotes some of them itself (12:30 is 750 in YAML 1.1)
        assert yamlio.dump({"a": text}) == f"a: '{text}'\n"
    for text in ("1.4.2", "1.5.0-rc.1", "v1", "a1e3", "inf", "NaN", "stripe", "0.1.0", "-", "1.2.3.4"):
        assert not yamlio.foreign_non_string(text), text


def test_strings_nobody_misreads_keep_pyyaml_bytes() -> None:
    plain = {"tags": ["1.4.2", "1.5.0-rc.1", "v2", "latest", "sha-3141e59"], "level": "info", "count": 3}
    assert yamlio.dump(plain) == yaml.safe_dump(plain, sort_keys=False, default_flow_style=False)


def _service_env(built: str) -> tuple[str, dict[str, object]]:
    for doc in yamlio.safe_load_all(built):
        if doc["kind"] == "Deployment":
            app = next(c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
            return app["image"], {e["name"]: e.get("value") for e in app.get("env", [])}
    raise AssertionError("no Deployment built")


@pytest.fixture(scope="module")
def platform_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_inputs(REPO, tmp_path_factory.mktemp("strings") / "repo")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag=tags, env=st.lists(values, min_size=1, max_size=12))
def test_strings_come_back_identical_through_kustomize(platform_repo: Path, kustomize: Kustomize, tag: str,
                                                        env: list[str]) -> None:
    cfg = yaml.safe_load((REPO / CONFIG).read_text())
    cfg["environments"]["dev"]["tag"] = tag
    cfg["env"] = {f"V{i}": v for i, v in enumerate(env)}
    # JSON is YAML, and its quoted strings are strings to every reader
    (platform_repo / CONFIG).write_text(json.dumps(cfg, ensure_ascii=False))
    _platform, rendered = compile_platform(platform_repo)
    out = platform_repo / "rendered"
    for rel, data in rendered.files.items():
        if rel.startswith((f"services/{SERVICE}/", "components/")):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(data)
    build = kustomize.build(out / OVERLAY)
    assert build.ok, build.error
    image, got = _service_env(build.output)
    assert image == f"ghcr.io/acme/{SERVICE}:{tag}"
    for i, v in enumerate(env):
        assert got[f"V{i}"] == v and isinstance(got[f"V{i}"], str), (v, got[f"V{i}"])
