"""platform-gen diff against a base whose rendered tree is committed with its index: only what differs is
rendered, and the result is the one rendering both sides in full (``--full``) gives.

The property test commits the rendered example platform on main (sometimes with inputs edited after the
render, so the committed tree is stale, or with a rendered file edited by hand), then makes a few random
service edits in the working tree and compares ``diff --format json`` with ``diff --full --format json``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen import diff
from platform_gen.cli import main
from platform_gen.gitref import export_inputs, locate, resolve_base
from platform_gen.index import INDEX
from platform_gen.kustomize_tool import Kustomize

from .conftest import REPO, copy_inputs
from .test_incremental import (
    add_service,
    change_tag,
    committed,
    edit_template,
    move_team,
    remove_service,
    rename_service,
)

SERVICE_EDITS = [add_service, remove_service, rename_service, move_team, change_tag]


def cli(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def rendered_on_main(root: Path) -> Path:
    """The example platform's inputs and rendered tree (with its index), committed on main."""
    copy_inputs(REPO, root)
    code, out, err = cli("render", "--root", root)
    assert code == 0, out + err
    return committed(root)


def both(root: Path) -> tuple[tuple[int, str], tuple[int, str]]:
    """(code, output) of the diff against main, as it is and with --full."""
    fast = cli("diff", "--root", root, "--base", "main", "--format", "json")
    full = cli("diff", "--root", root, "--base", "main", "--format", "json", "--full")
    return (fast[0], fast[1] + fast[2]), (full[0], full[1] + full[2])


def incremental_taken(root: Path, kustomize: Kustomize) -> bool:
    """Whether the diff of ``root`` against main renders only what differs (not both sides in full)."""
    checkout = locate(root)
    base = resolve_base(checkout, "main")
    with tempfile.TemporaryDirectory() as tmp:
        base_root = export_inputs(checkout, base.commit, diff.INPUT_DIRS, Path(tmp))
        assert base_root is not None
        builder = diff.kustomize_builder(" ".join(kustomize.argv[:1]))
        return diff._incremental(root, checkout, base, base_root, builder) is not None


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(SERVICE_EDITS), st.integers(0, 40)), min_size=1, max_size=3),
       stale=st.one_of(st.none(), st.tuples(st.sampled_from([change_tag, move_team, edit_template]),
                                             st.integers(0, 40))),
       tamper=st.booleans())
def test_fast_diff_equals_full_diff(tmp_path_factory: pytest.TempPathFactory, kustomize: Kustomize,
                                    edits: list[tuple[diff.Callable[[Path, int], None], int]],
                                    stale: tuple[diff.Callable[[Path, int], None], int] | None,
                                    tamper: bool) -> None:
    root = copy_inputs(REPO, tmp_path_factory.mktemp("diff") / "repo")
    code, out, err = cli("render", "--root", root)
    assert code == 0, out + err
    if stale is not None:  # inputs edited after the render: the committed tree is stale for some services
        stale[0](root, stale[1])
    if tamper:  # a rendered file edited by hand, its index not
        target = sorted((root / "rendered" / "services").rglob("deployment.yaml"))[0]
        target.write_text(target.read_text(encoding="utf-8").replace("replicas:", "replicas: 7\n  x:", 1),
                          encoding="utf-8")
    committed(root)
    for edit, n in edits:
        edit(root, n)
    fast, full = both(root)
    assert fast == full
    if fast[0] == 0:  # (an edit may make the platform invalid: then both report the same problems)
        assert incremental_taken(root, kustomize)


def test_one_tag_change_renders_one_service(tmp_path: Path, kustomize: Kustomize) -> None:
    root = rendered_on_main(tmp_path / "repo")
    change_tag(root, 3)
    fast, full = both(root)
    assert fast == full
    doc = json.loads(fast[1])
    assert doc["applications"] and all(a["change"] == "changed" for a in doc["applications"])
    assert len({a["service"] for a in doc["applications"]}) == 1
    assert doc["unchanged"] > 0
    assert incremental_taken(root, kustomize)


def test_no_change_is_empty(tmp_path: Path, kustomize: Kustomize) -> None:
    root = rendered_on_main(tmp_path / "repo")
    fast, full = both(root)
    assert fast == full
    assert json.loads(fast[1])["applications"] == []
    assert incremental_taken(root, kustomize)


def test_removed_namespace_is_flagged_like_a_full_diff(tmp_path: Path, kustomize: Kustomize) -> None:
    """Services left unparsed still keep a namespace in use: only a namespace nobody uses is flagged."""
    root = rendered_on_main(tmp_path / "repo")
    payment = root / "platform-config/services/payment-service/config.yaml"  # it lets event-ingest in
    payment.write_text(payment.read_text(encoding="utf-8").replace("allowFrom: [event-ingest]\n", ""),
                       encoding="utf-8")
    profile = root / "platform-config/services/user-profile/config.yaml"  # and it depends on event-ingest
    profile.write_text(profile.read_text(encoding="utf-8").replace("dependsOn: [event-ingest]\n", "")
                       .replace("consumesApis: [event-ingest.asyncapi]\n", ""), encoding="utf-8")
    for _ in range(3):
        remove_service(root, 0)
    fast, full = both(root)
    assert fast == full
    assert incremental_taken(root, kustomize)


@pytest.mark.parametrize("index", ["absent", "other-generator", "broken"])
def test_untrusted_index_renders_both_sides_in_full(tmp_path: Path, kustomize: Kustomize, index: str) -> None:
    root = rendered_on_main(tmp_path / "repo")
    path = root / "rendered" / INDEX
    if index == "absent":
        path.unlink()
    elif index == "other-generator":
        doc = json.loads(path.read_bytes())
        doc["generator"] = "0" * 32
        path.write_text(json.dumps(doc), encoding="utf-8")
    else:
        path.write_text("{", encoding="utf-8")
    committed(root)
    change_tag(root, 1)
    fast, full = both(root)
    assert fast == full
    assert not incremental_taken(root, kustomize)


def test_base_problems_name_the_ref(tmp_path: Path) -> None:
    """An invalid base (its committed tree stale) is reported as a full diff reports it, each problem
    prefixed with the ref; so is an invalid head, without the prefix."""
    root = rendered_on_main(tmp_path / "repo")
    rel = root / "platform-config/services/payment-service/config.yaml"
    text = rel.read_text(encoding="utf-8")
    rel.write_text(text.replace("team: payments", "team: nobody", 1), encoding="utf-8")
    committed(root)
    fast, full = both(root)
    assert fast == full
    assert fast[0] == 1 and '"file": "platform-config/services/payment-service/config.yaml"' in fast[1]
    rel.write_text(text, encoding="utf-8")
    fast, full = both(root)
    assert fast == full
    assert fast[0] == 1 and '"file": "main:platform-config/services/payment-service/config.yaml"' in fast[1]
