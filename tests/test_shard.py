"""Sharding: render --shard I/N, merge and validate --shard.

The merged tree of every shard's partial tree is byte-identical to ``render --full``
(a property test over N, N larger than the number of services included, and over
services added to the example platform); merge refuses partial trees that do not
fit; the findings of ``validate --shard`` over every shard are those of one validate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen.index import INDEX
from platform_gen.render import MANIFEST
from platform_gen.shard import MAX_SHARDS, PARTIAL, Shard, _checksum, owner, shard_of

from .conftest import REPO, Run, copy_inputs, edit, snapshot, tree

SERVICES = "platform-config/services"
CODEOWNERS = ".github/CODEOWNERS"


def add_service(root: Path, src: str, new: str) -> None:
    shutil.copytree(root / SERVICES / src, root / SERVICES / new)
    edit(root, f"{SERVICES}/{new}/config.yaml", f"name: {src}", f"name: {new}")


def services(root: Path) -> list[str]:
    return sorted(p.name for p in (root / SERVICES).iterdir())


def render_shards(run: Run, root: Path, count: int, *args: str) -> list[Path]:
    parts = []
    for i in range(1, count + 1):
        part = root.parent / f"part-{i}"
        code, out, err = run("render", "--root", root, "--shard", f"{i}/{count}", "--out", part, *args)
        assert code == 0, out + err
        parts.append(part)
    return parts


def merged_and_full(run: Run, root: Path, count: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The tree merged from ``count`` shards, and the tree of render --full (CODEOWNERS of each included)."""
    parts = render_shards(run, root, count)
    code, out, err = run("merge", "--root", root, "--out", root.parent / "merged", *parts)
    assert code == 0, out + err
    merged = tree(root.parent / "merged")
    merged[CODEOWNERS] = (root / CODEOWNERS).read_bytes()
    (root / CODEOWNERS).unlink()
    code, out, err = run("render", "--root", root, "--full", "--out", root.parent / "full")
    assert code == 0, out + err
    full = tree(root.parent / "full")
    full[CODEOWNERS] = (root / CODEOWNERS).read_bytes()
    return merged, full


# --- which shard ------------------------------------------------------------------------------


def test_shard_of_is_blake2b_of_the_name_mod_n() -> None:
    # pinned: the assignment must never change between machines, runs or versions of Python
    assert [shard_of(n, 7) for n in ("auth-service", "event-ingest", "ledger-worker", "payment-service",
                                     "report-builder", "user-profile")] == [6, 2, 7, 7, 4, 2]
    assert all(shard_of(n, 1) == 1 for n in ("a", "b", ""))


@pytest.mark.parametrize(("text", "expected"), [("1/1", Shard(1, 1)), ("3/8", Shard(3, 8)),
                                                ("256/256", Shard(256, 256))])
def test_shard_parses_i_of_n(text: str, expected: Shard) -> None:
    assert Shard.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "1/257", "2", "a/b", "", "/", "-1/3", "1/3/4", "1.5/3"])
def test_render_and_validate_refuse_a_bad_shard_as_usage_errors(text: str, example: Path, run: Run,
                                                                 tmp_path: Path) -> None:
    for command in ("render", "validate"):
        code, _out, err = run(command, "--root", example, "--shard", text, "--out", tmp_path / "part")
        assert code == 2, err
        assert "--shard" in err
    assert not (tmp_path / "part").exists()


def test_render_shard_needs_out_and_no_check(example: Path, run: Run) -> None:
    code, _out, err = run("render", "--root", example, "--shard", "1/2")
    assert code == 2 and "pass --out DIR" in err
    code, _out, err = run("render", "--root", example, "--shard", "1/2", "--out", example / "p", "--check")
    assert code == 2 and "--check" in err
    assert not (example / "rendered").exists() and not (example / "p").exists()


def test_render_shard_hints_at_a_folder_a_shard_accepts(rendered_once: Path, run: Run) -> None:
    # the repo itself, a folder of the inputs, the whole tree: each hint names a folder that the shard takes
    for out, shard in ((rendered_once, "1/2"), (rendered_once / "platform-config" / "p", "1/2"),
                       (rendered_once / "rendered", "2/2")):
        code, _out, err = run("render", "--root", rendered_once, "--shard", shard, "--out", out)
        assert code == 1 and "such as rendered" not in err, err
        suggested = err.split("such as ")[1].split()[0]
        assert suggested == f"shard-{shard[0]}", err
        code, out_, err = run("render", "--root", rendered_once, "--shard", shard, "--out", rendered_once / suggested)
        assert code == 0, out_ + err


def test_every_file_belongs_to_its_service_or_to_shard_one() -> None:
    assert owner("services/a/base/kustomization.yaml") == "a"
    assert owner("argocd/applicationsets/a.yaml") == "a"
    assert owner("argocd/projects/payments.yaml") is None and owner(INDEX) is None
    for count in (1, 2, 5):
        shards = [Shard(i, count) for i in range(1, count + 1)]
        for rel in ("services/a/base/x.yaml", "argocd/platform.yaml", MANIFEST, "components/dev/k.yaml"):
            assert sum(s.owns(rel) for s in shards) == 1


# --- the partial tree -------------------------------------------------------------------------


def test_partial_tree_holds_only_its_services(example: Path, run: Run, tmp_path: Path) -> None:
    count = 3
    for i, part in enumerate(render_shards(run, example, count), start=1):
        mine = {n for n in services(example) if shard_of(n, count) == i}
        doc = json.loads((part / PARTIAL).read_bytes())
        assert set(doc["services"]) == mine and doc["shard"] == f"{i}/{count}"
        files = tree(part)
        assert {owner(rel) for rel in files} - {None} == mine
        assert {rel for rel in files if owner(rel) is None} == {PARTIAL, MANIFEST}  # no platform-wide file
    assert not (example / "rendered").exists() and not (example / CODEOWNERS).exists()


def test_render_shard_again_removes_what_left_the_shard(example: Path, run: Run) -> None:
    (part,) = render_shards(run, example, 1)
    shutil.rmtree(example / SERVICES / "auth-service")
    render_shards(run, example, 1)
    assert not any(owner(rel) == "auth-service" for rel in tree(part))


def test_render_shard_refuses_a_whole_tree_as_out(rendered_once: Path, run: Run) -> None:
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once, "--shard", "1/2", "--out", rendered_once / "rendered")
    assert code == 1 and "holds a whole tree" in err
    assert snapshot(rendered_once / "rendered") == before


def test_shard_reports_the_input_problems_of_its_services_only(example: Path, run: Run, tmp_path: Path) -> None:
    edit(example, f"{SERVICES}/auth-service/config.yaml", "team: identity", "team: nobody")
    count = 2
    bad = shard_of("auth-service", count)
    for i in (1, 2):
        code, out, err = run("render", "--root", example, "--shard", f"{i}/{count}", "--out", tmp_path / f"p{i}")
        if i == bad:
            assert code == 1 and "auth-service/config.yaml" in err and "unknown team 'nobody'" in err
            assert not (tmp_path / f"p{i}").exists()
        else:
            assert code == 0, out + err


# --- merge == render --full -------------------------------------------------------------------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(min_value=1, max_value=9),
       added=st.lists(st.sampled_from(["auth-service", "report-builder", "user-profile"]), max_size=3))
def test_merged_tree_is_byte_identical_to_a_full_render(count: int, added: list[str], run: Run,
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    root = copy_inputs(REPO, tmp_path_factory.mktemp("shard") / "repo")
    for k, src in enumerate(added):
        add_service(root, src, f"gen-{k}-{src}")
    merged, full = merged_and_full(run, root, count)
    assert merged.keys() == full.keys()
    assert merged == full


@pytest.mark.parametrize("count", [1, 2, 7, 40])  # 40: more shards than services, most of them empty
def test_merge_of_n_shards_is_a_full_render(count: int, example: Path, run: Run) -> None:
    merged, full = merged_and_full(run, example, count)
    assert merged == full


def test_merge_updates_a_tree_like_render(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, f"{SERVICES}/auth-service/config.yaml", 'tag: "2.8.1"', 'tag: "2.9.0"')
    (rendered_once / "rendered" / "notes.yaml").write_text("mine: 1\n", encoding="utf-8")
    parts = render_shards(run, rendered_once, 2)
    code, _out, err = run("merge", "--root", rendered_once, *parts)
    assert code == 0, err
    assert "notes.yaml is not listed" in err  # the normal writer: files not ours are left alone
    assert (rendered_once / "rendered" / "notes.yaml").exists()
    (rendered_once / "rendered" / "notes.yaml").unlink()
    code, _out, err = run("render", "--root", rendered_once, "--check", "--full")
    assert code == 0, err


# --- merge refuses what does not fit ----------------------------------------------------------


def refused(run: Run, root: Path, *parts: Path) -> str:
    out_dir = root.parent / "merged"
    code, out, err = run("merge", "--root", root, "--out", out_dir, *parts)
    assert code == 1, out + err
    assert not out_dir.exists() and not (root / CODEOWNERS).exists()  # nothing written
    return err


def test_merge_refuses_a_missing_or_repeated_shard(example: Path, run: Run) -> None:
    p1, p2, p3 = render_shards(run, example, 3)
    assert "the partial tree of shard 2/3 is missing" in refused(run, example, p1, p3)
    assert "shard 3/3 is given twice" in refused(run, example, p1, p2, p3, p3)


def test_merge_refuses_shards_of_different_counts(example: Path, run: Run) -> None:
    p1, p2 = render_shards(run, example, 2)
    q1 = example.parent / "q1"
    code, out, err = run("render", "--root", example, "--shard", "1/3", "--out", q1)
    assert code == 0, out + err
    assert "other partial trees are of 2 shards" in refused(run, example, p1, p2, q1)


def test_merge_refuses_partials_of_other_shared_inputs(example: Path, run: Run) -> None:
    parts = render_shards(run, example, 2)
    edit(example, "environments/dev.yaml", "name: dev-1", "name: dev-2")
    err = refused(run, example, *parts)
    assert "was made from other shared inputs" in err and "render every shard again" in err


def test_merge_refuses_a_service_rendered_from_another_config(example: Path, run: Run) -> None:
    parts = render_shards(run, example, 2)
    edit(example, f"{SERVICES}/auth-service/config.yaml", 'tag: "2.8.1"', 'tag: "2.9.0"')
    assert "service 'auth-service' was rendered from other inputs" in refused(run, example, *parts)


def test_merge_refuses_a_service_in_no_partial_or_not_here(example: Path, run: Run) -> None:
    parts = render_shards(run, example, 2)
    add_service(example, "auth-service", "late-service")
    assert "service 'late-service' is in no partial tree" in refused(run, example, *parts)
    shutil.rmtree(example / SERVICES / "late-service")
    shutil.rmtree(example / SERVICES / "user-profile")
    assert "service 'user-profile' is not a service here" in refused(run, example, *parts)


def test_merge_refuses_an_edited_partial(example: Path, run: Run) -> None:
    parts = render_shards(run, example, 1)
    victim = next(p for p in sorted(parts[0].rglob("*.yaml")) if owner(p.relative_to(parts[0]).as_posix()))
    victim.write_bytes(victim.read_bytes() + b"# edited\n")
    message = refused(run, example, *parts)
    # the file is named, not only its service
    edited = f"{parts[0].name}/{victim.relative_to(parts[0]).as_posix()}: error: this file of service"
    assert edited in message and "differs from what its shard rendered" in message, message
    assert message.count(": error: ") == 1, message
    victim.unlink()
    assert "cannot read the file of service" in refused(run, example, *parts)


def test_merge_refuses_a_folder_that_is_not_a_partial(example: Path, run: Run, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "not a partial tree" in refused(run, example, tmp_path / "empty")
    parts = render_shards(run, example, 1)
    (parts[0] / PARTIAL).write_text("{", encoding="utf-8")
    assert "cannot be read" in refused(run, example, *parts)


def rewrite(part: Path, change: Callable[[dict[str, Any]], None], *, checksum: bool = True) -> None:
    """Change a partial index (with a matching checksum unless told otherwise)."""
    doc = json.loads((part / PARTIAL).read_bytes())
    change(doc)
    if checksum:
        doc["checksum"] = _checksum(doc)
    (part / PARTIAL).write_text(json.dumps(doc), encoding="utf-8")


def test_merge_refuses_a_service_in_the_wrong_shard(example: Path, run: Run) -> None:
    p1, p2 = render_shards(run, example, 2)
    rewrite(p1, lambda doc: doc.update(shard="2/2"))
    rewrite(p2, lambda doc: doc.update(shard="1/2"))
    assert "is not in shard" in refused(run, example, p1, p2)


def test_merge_refuses_an_edited_partial_index(example: Path, run: Run) -> None:
    (part,) = render_shards(run, example, 1)
    rewrite(part, lambda doc: doc["services"]["auth-service"].update(team="payments"), checksum=False)
    assert "the partial index was edited or damaged" in refused(run, example, part)


@pytest.mark.parametrize(("key", "value"), [("team", "nobody"), ("namespace", "kube-system"),
                                            ("placements", {"prod": ["prod-mars"]}), ("placements", {"qa": []}),
                                            ("file", "elsewhere/config.yaml")])
def test_merge_refuses_a_summary_the_platform_cannot_have(key: str, value: object, example: Path, run: Run) -> None:
    (part,) = render_shards(run, example, 1)
    rewrite(part, lambda doc: doc["services"]["auth-service"].update({key: value}))
    assert "names a team, namespace, environment or cluster the platform does not have" in refused(
        run, example, part)


def test_merge_finds_the_claim_collisions_of_services_in_different_shards(example: Path, run: Run) -> None:
    count = 2
    copy = next(f"copy-{k}" for k in range(100)
                if shard_of(f"copy-{k}", count) != shard_of("event-ingest", count))
    add_service(example, "event-ingest", copy)
    parts = render_shards(run, example, count)  # each shard alone is valid
    merge_err = refused(run, example, *parts)
    assert f"'event-archive' is also claimed by service '{copy}'" in merge_err
    code, _out, full_err = run("render", "--root", example, "--full", "--out", example.parent / "full")
    assert code == 1
    assert merge_err == full_err  # the same problems, the same words


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True,
                   capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not on the PATH")
def test_merge_applies_the_deletion_guard(rendered_once: Path, run: Run) -> None:
    git(rendered_once, "init", "-q", "-b", "main")
    git(rendered_once, "add", "-A")
    git(rendered_once, "commit", "-q", "-m", "base")
    shutil.rmtree(rendered_once / SERVICES / "payment-service")  # runs in prod: protected
    parts = render_shards(run, rendered_once, 2)
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("merge", "--root", rendered_once, *parts)
    assert code == 1 and "refusing to merge" in err and "payment-service" in err
    assert snapshot(rendered_once / "rendered") == before
    code, _out, err = run("merge", "--root", rendered_once, "--allow-delete", *parts)
    assert code == 0, err
    assert not (rendered_once / "rendered" / "services" / "payment-service").exists()


# --- validate --shard -------------------------------------------------------------------------


def findings(run: Run, root: Path, *args: str) -> tuple[int, set[tuple[str, str, str]]]:
    code, out, err = run("validate", "--root", root, "--no-cache", "--lint-tree", "--format", "json", *args)
    doc = json.loads(out)
    assert doc["status"] in ("ok", "invalid"), out + err
    return code, {(p["file"], p["path"], p["message"]) for p in doc["problems"]}


def test_validate_shards_together_find_what_validate_finds(rendered_once: Path, run: Run, kustomize: object
                                                           ) -> None:
    out = rendered_once / "rendered"
    # findings in two services' overlays, in a platform-wide file and in a file no one owns
    for svc in ("auth-service", "report-builder"):
        path = sorted((out / "services" / svc / "overlays").rglob("kustomization.yaml"))[0]
        path.write_text(path.read_text(encoding="utf-8").replace("replicas:", "replica_count:", 1), encoding="utf-8")
    project = out / "argocd" / "projects" / "payments.yaml"
    project.write_text(project.read_text(encoding="utf-8") + "extra: 1\n", encoding="utf-8")
    (out / "notes.yaml").write_text("a:   1\n", encoding="utf-8")
    # yamllint findings in inputs: a shared one (shard 1 lints it) and two services' (linted in their shard)
    for rel in ("platform-config/platform.yaml", f"{SERVICES}/auth-service/config.yaml",
                f"{SERVICES}/report-builder/config.yaml"):
        (rendered_once / rel).write_text((rendered_once / rel).read_text(encoding="utf-8") + "# trailing   \n",
                                         encoding="utf-8")
    code, whole = findings(run, rendered_once)
    assert code == 1 and len(whole) >= 7
    count = 3
    union: set[tuple[str, str, str]] = set()
    total = 0
    for i in range(1, count + 1):
        shard_code, found = findings(run, rendered_once, "--shard", f"{i}/{count}")
        assert shard_code == (1 if found else 0)
        union |= found
        total += len(found)
        if i != 1:
            assert not any("argocd/projects" in f or "notes.yaml" in f or f.endswith("platform.yaml")
                           for f, _p, _m in found)
    assert union == whole
    assert total == len(whole)  # each finding in one shard only: the inputs are linted once, not N times


def test_validate_shard_of_a_clean_tree_is_ok(rendered_once: Path, run: Run, kustomize: object) -> None:
    code, out, err = run("validate", "--root", rendered_once, "--no-cache", "--shard", "2/2")
    assert code == 0, out + err
    assert "(shard 2/2)" in err


# --- the plan ---------------------------------------------------------------------------------


def plan(run: Run, root: Path, *args: str) -> dict[str, object]:
    code, out, err = run("shards", "--root", root, "--format", "json", *args)
    assert code == 0, out + err
    doc: dict[str, object] = json.loads(out)
    return doc


def test_plan_counts_changed_services(rendered_once: Path, run: Run) -> None:
    assert plan(run, rendered_once) == {"status": "ok", "services": 7, "changed": 0, "shards": 1, "matrix": ["1/1"]}
    edit(rendered_once, f"{SERVICES}/auth-service/config.yaml", 'tag: "2.8.1"', 'tag: "2.9.0"')
    assert plan(run, rendered_once)["changed"] == 1
    edit(rendered_once, "environments/prod.yaml", "name: prod-eu", "name: prod-de")
    changed = plan(run, rendered_once, "--per-shard", "1")
    assert changed["shards"] == changed["changed"] and changed["changed"] > 1
    assert plan(run, rendered_once, "--per-shard", "1", "--max-shards", "2")["matrix"] == ["1/2", "2/2"]


def test_plan_without_an_index_counts_every_service(example: Path, run: Run) -> None:
    doc = plan(run, example, "--per-shard", "4")
    assert (doc["changed"], doc["shards"]) == (7, 2)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not on the PATH")
def test_plan_compares_with_the_tree_at_a_git_ref(rendered_once: Path, run: Run) -> None:
    git(rendered_once, "init", "-q", "-b", "main")
    git(rendered_once, "add", "-A")
    git(rendered_once, "commit", "-q", "-m", "base")
    edit(rendered_once, "platform-config/platform.yaml", "replicas: 2", "replicas: 3")
    code, _out, err = run("render", "--root", rendered_once)  # the tree on disk is current again
    assert code == 0, err
    assert plan(run, rendered_once)["changed"] == 0
    assert plan(run, rendered_once, "--base", "main", "--per-shard", "2")["changed"] == 7
    code, _out, err = run("shards", "--root", rendered_once, "--base", "no-such-ref")
    assert code == 1 and "unknown git ref" in err


def test_max_shards_is_githubs_matrix_limit() -> None:
    assert MAX_SHARDS == 256


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(["format", "shard", "generator", "inputs", "services", "service", "team", "files",
                              "placements", "claims", "kinds", "envs", "out"]), value=JSON)
def test_merge_of_a_corrupted_partial_index_is_an_input_error(where: str, value: object, run: Run,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    root = copy_inputs(REPO, tmp_path_factory.mktemp("corrupt") / "repo")
    (part,) = render_shards(run, root, 1)
    doc = json.loads((part / PARTIAL).read_bytes())
    if where in ("format", "shard", "generator", "inputs", "services"):
        doc[where] = value
    elif where == "service":
        doc["services"]["auth-service"] = value
    else:
        doc["services"]["auth-service"][where] = value
    (part / PARTIAL).write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = run("merge", "--root", root, "--out", root.parent / "merged", part)
    assert code in (0, 1), out + err  # never an internal error
    if code == 1:
        assert not (root.parent / "merged").exists()
