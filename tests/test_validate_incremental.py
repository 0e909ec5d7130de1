"""`platform-gen validate` validates and renders again only the services whose inputs differ from what the
render index committed at the git base records; its findings are those of ``--full`` (every service)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from platform_gen.index import INDEX
from platform_gen.kustomize_tool import Kustomize

from .conftest import Run, edit
from .test_incremental import committed, git

AUTH = "platform-config/services/auth-service/config.yaml"
PAY_BASE = "rendered/services/payment-service/base/deployment.yaml"


@pytest.fixture
def based(example: Path, run: Run, kustomize: Kustomize) -> Path:
    """The example, rendered and committed on main: the git base whose render index validate trusts."""
    code, _out, err = run("render", "--root", example)
    assert code == 0, err
    return committed(example)


def validate(run: Run, root: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    code, out, err = run("validate", "--root", root, "--format", "json", *args)
    assert out, err
    doc: dict[str, Any] = json.loads(out)
    return code, doc


def verdict(code: int, doc: dict[str, Any]) -> tuple[Any, ...]:
    """Everything validate found (not how much work it did)."""
    return code, doc["status"], doc["problems"], doc.get("overlays"), doc.get("objects")


def retag(root: Path) -> None:
    edit(root, AUTH, 'tag: "2.8.1"', 'tag: "2.8.2"')


def hand_edit(root: Path) -> None:
    """A rendered file of another service edited by hand: an unknown field."""
    edit(root, PAY_BASE, "  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: 5\n  replica: 2\n")


def bad_input(root: Path) -> None:
    """A config.yaml edited into an invalid one."""
    edit(root, AUTH, "replicas: 3\n", "replicas: three\n")


def unknown_key(root: Path) -> None:
    edit(root, AUTH, "port: 8443\n", "port: 8443\nunknownKey: 1\n")


def nothing(_root: Path) -> None:
    pass


#: (edit of the inputs, render then?, edit after it)
EDITS: dict[str, tuple[Callable[[Path], None], bool, Callable[[Path], None]]] = {
    "one tag": (retag, True, nothing),
    "tag and a hand-edited tree file": (retag, True, hand_edit),
    "invalid config.yaml": (bad_input, False, nothing),
    "unknown key": (unknown_key, False, nothing),
    "tag not rendered": (retag, False, nothing),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_incremental_finds_what_full_finds(based: Path, run: Run, tmp_path: Path, name: str) -> None:
    before, render, after = EDITS[name]
    git(based, "checkout", "-q", "-b", "change")
    before(based)
    if render:
        code, _out, err = run("render", "--root", based, "-q")
        assert code == 0, err
    after(based)
    incremental = validate(run, based, "--cache-dir", tmp_path / "cache")
    full = validate(run, based, "--full", "--no-cache")
    assert verdict(*incremental) == verdict(*full)
    if "services" in full[1]:  # the inputs are valid: the tree was validated
        assert incremental[1]["services"] == {"rendered": 1, "unchanged": 6}
        assert full[1]["services"] == {"rendered": 7, "unchanged": 0}
    else:
        assert incremental[0] == 1 and any(p["file"] == AUTH for p in incremental[1]["problems"])
    if after is hand_edit:
        assert any("unknown field 'replica'" in p["message"] for p in incremental[1]["problems"])


def test_nothing_changed_renders_nothing(based: Path, run: Run, tmp_path: Path) -> None:
    code, doc = validate(run, based, "--cache-dir", tmp_path / "cache")
    assert code == 0 and doc["services"] == {"rendered": 0, "unchanged": 7}


def test_the_index_on_disk_is_not_what_is_trusted(based: Path, run: Run, tmp_path: Path) -> None:
    """An edit of the tree's index (a forged one could call an invalid config.yaml validated) changes
    nothing: validate reads the index committed at the base."""
    bad_input(based)
    (based / "rendered" / INDEX).write_text("<<<<<<< conflict\n", encoding="utf-8")
    incremental = validate(run, based, "--cache-dir", tmp_path / "cache")
    assert verdict(*incremental) == verdict(*validate(run, based, "--full", "--no-cache"))
    assert incremental[0] == 1 and any(p["file"] == AUTH for p in incremental[1]["problems"])


@pytest.mark.parametrize("damage", ["missing", "corrupt", "not in git"])
def test_without_a_usable_base_index_every_service_is_validated(based: Path, run: Run, tmp_path: Path,
                                                                damage: str) -> None:
    index = based / "rendered" / INDEX
    if damage == "not in git":
        git(based, "rm", "-rq", "--cached", ".")
        git(based, "commit", "-qm", "nothing tracked")
    else:
        if damage == "missing":
            index.unlink()
        else:
            index.write_bytes(index.read_bytes().replace(b'"retire":false', b'"retire":true', 1))
        committed(based)
    retag(based)
    code, doc = validate(run, based, "--cache-dir", tmp_path / "cache")
    assert doc["services"] == {"rendered": 7, "unchanged": 0}
    assert verdict(code, doc) == verdict(*validate(run, based, "--full", "--no-cache"))
