"""The output folder: ownership, safety, and nothing touched outside it."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Run, edit, snapshot, tree


def test_refuses_a_non_empty_folder_it_did_not_create(example: Path, run: Run) -> None:
    out = example / "rendered"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert "error: output folder rendered is not empty and was not created by platform-gen" in err
    assert "hint: it has no .platform-gen.yaml; empty it or choose another --out" in err
    assert tree(out) == {"notes.txt": b"mine"}


def test_writes_into_an_empty_folder(example: Path, run: Run) -> None:
    (example / "rendered").mkdir()
    assert run("render", "--root", example)[0] == 0
    assert (example / "rendered/.platform-gen.yaml").is_file()


def test_refuses_output_over_the_inputs(example: Path, run: Run) -> None:
    before = snapshot(example)
    for out in (example, example / "platform-config", example / "platform-config" / "x", example.parent):
        code, _o, err = run("render", "--root", example, "--out", out)
        assert code == 1, out
        assert "error: output folder" in err
    assert snapshot(example) == before


def test_nothing_outside_the_output_folder_changes(example: Path, run: Run) -> None:
    inputs = snapshot(example)
    assert run("render", "--root", example)[0] == 0
    after = {k: v for k, v in snapshot(example).items() if not k.startswith("rendered/")}
    assert after == inputs
    assert sorted(p.name for p in example.iterdir()) == ["environments", "overlays", "platform-config", "rendered"]


def test_files_the_manifest_does_not_list_are_left_alone(example: Path, run: Run) -> None:
    assert run("render", "--root", example)[0] == 0
    stray = example / "rendered/services/old-service/base/deployment.yaml"
    stray.parent.mkdir(parents=True)
    stray.write_text("x")
    warning = ("warning: rendered/services/old-service/base/deployment.yaml is not listed in "
               "rendered/.platform-gen.yaml: left alone\n"
               "  hint: platform-gen removes only files it wrote; delete these by hand if they are not needed\n")
    code, out, err = run("render", "--check", "--root", example)
    assert code == 0 and "is up to date" in out
    assert err == warning
    code, out, err = run("render", "--root", example, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["removed"] == [] and doc["status"] == "ok"
    assert doc["unowned"] == ["services/old-service/base/deployment.yaml"]
    code, _out, err = run("render", "--root", example)
    assert code == 0 and err.startswith(warning)
    assert stray.read_text() == "x"


def test_symlink_out_of_the_tree_is_not_followed(example: Path, run: Run, tmp_path: Path) -> None:
    assert run("render", "--root", example)[0] == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    target = example / "rendered/services/payment-service/base"
    for f in target.iterdir():
        f.unlink()
    target.rmdir()
    target.symlink_to(outside, target_is_directory=True)
    edit(example, "platform-config/services/auth-service/config.yaml", "replicas: 3", "replicas: 4")
    before = snapshot(example / "rendered")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert err.startswith("error: refusing to write through a link: rendered/services/payment-service/base\n")
    assert list(outside.iterdir()) == []
    assert snapshot(example / "rendered") == before  # found before the first byte, not after some files
