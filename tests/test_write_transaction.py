"""Writing the tree is one transaction: checked first, staged, journalled, locked.

Real processes, real files: a render is killed with SIGKILL at many points, made to
fail with real I/O errors (a file size limit, an immutable file), and raced by a
second process holding the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen.errors import OutputError
from platform_gen.write import JOURNAL, KILL_HOOK, LOCK, STAGING, _check_space

from .conftest import Run, copy_inputs, edit, snapshot, tree

CLI = [sys.executable, "-c", "import sys; from platform_gen.cli import main; sys.exit(main())"]


def cli(*args: str | Path, env: dict[str, str] | None = None, limit_fsize: int = 0,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``platform-gen`` in a process of its own (optionally with a file size limit)."""

    def limit() -> None:  # runs in the child: writes beyond the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))

    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, preexec_fn=limit if limit_fsize else None,
                          check=False)


def change_inputs(root: Path) -> None:
    """A change that creates, changes and removes files: rename a service, bump a tag."""
    services = root / "platform-config/services"
    shutil.copytree(services / "user-profile", services / "user-pages")
    edit(root, "platform-config/services/user-pages/config.yaml", "name: user-profile", "name: user-pages")
    shutil.rmtree(services / "user-profile")
    edit(root, "platform-config/services/payment-service/config.yaml", "tag: ", "tag: \"9.9.9\"\n# was: ")


def rendered_tree(root: Path, run: Run, tmp: Path) -> dict[str, bytes]:
    """What a render of ``root`` produces, into a fresh folder."""
    out = tmp / "expected"
    code, _o, err = run("render", "--root", root, "--out", out, "--allow-delete")
    assert code == 0, err
    result = tree(out)
    shutil.rmtree(out)
    return result


def ours(out: Path) -> dict[str, bytes]:
    """The tree without the writer's own files (lock, staging)."""
    return {k: v for k, v in tree(out).items() if k.split("/")[0] not in (LOCK, STAGING)}


@pytest.fixture
def old_and_new(rendered_once: Path, run: Run, tmp_path: Path) -> tuple[Path, dict[str, bytes], dict[str, bytes]]:
    """The example rendered, its inputs then changed: (root, old tree, new tree)."""
    root = rendered_once
    old = tree(root / "rendered")
    change_inputs(root)
    new = rendered_tree(root, run, tmp_path)
    assert old != new
    assert set(old) - set(new) and set(new) - set(old)  # files created and removed
    return root, old, new


def steps_of(root: Path, run: Run, tmp_path: Path) -> int:
    """How many steps the write from the current tree to the new one takes (for the kill hook)."""
    scratch = copy_inputs(root, tmp_path / "scratch")
    shutil.copytree(root / "rendered", scratch / "rendered")
    code, out, err = run("render", "--root", scratch, "--allow-delete", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    # one per staged file, the journal commit, one per rename, one per removal, the journal's deletion
    return 2 * (len(doc["created"]) + len(doc["changed"])) + len(doc["removed"]) + 2


def assert_interrupted_then_completed(root: Path, old: dict[str, bytes], new: dict[str, bytes], run: Run) -> str:
    """Wholly old, wholly new, or reported as interrupted; the next render completes it."""
    out = root / "rendered"
    now = ours(out)
    journal = (out / STAGING / JOURNAL).is_file()
    code, stdout, stderr = run("render", "--check", "--root", root)
    if journal:
        assert code == 1
        assert stderr == ("error: rendered holds an interrupted write: an earlier 'platform-gen render' was "
                                "stopped half way, so the tree mixes two renders\n"
                                "  hint: the next 'platform-gen render' completes it\n")
        state = "journal"
    else:
        assert now in (old, new), "a mixed tree without a journal"
        assert code == (0 if now == new else 1), stdout + stderr
        state = "new" if now == new else "old"
    code, _o, stderr = run("render", "--root", root, "--allow-delete")
    assert code == 0, stderr
    assert ours(out) == new
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [
        ".platform-gen.index.json", ".platform-gen.yaml"]
    assert run("render", "--check", "--root", root)[0] == 0
    return state


def test_kill_at_every_kind_of_step(old_and_new: tuple[Path, dict[str, bytes], dict[str, bytes]], run: Run,
                                    tmp_path: Path) -> None:
    root, old, new = old_and_new
    total = steps_of(root, run, tmp_path)
    saved = tmp_path / "saved"
    shutil.copytree(root / "rendered", saved)
    states = set()
    # a spread over the whole write: staging, the commit, renames, removals, the journal's deletion
    half = total // 2  # staging ends at half - 1, the journal is committed at half
    for k in sorted({1, 2, half - 1, half, half + 1, half + 2, (half + total) // 2, total - 2, total - 1, total}):
        shutil.rmtree(root / "rendered")
        shutil.copytree(saved, root / "rendered")
        killed = cli("render", "--root", root, "--allow-delete", env={KILL_HOOK: str(k)})
        assert killed.returncode == -signal.SIGKILL, (k, killed.stderr)
        states.add(assert_interrupted_then_completed(root, old, new, run))
    assert states == {"old", "journal", "new"}  # each outcome was reached


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delay_ms=st.integers(min_value=0, max_value=900))
def test_sigkill_after_a_delay(old_and_new: tuple[Path, dict[str, bytes], dict[str, bytes]], run: Run,
                               delay_ms: int) -> None:
    """A real SIGKILL from outside at an arbitrary moment: never a silent mix."""
    root, old, new = old_and_new
    out = root / "rendered"
    if ours(out) != old:  # an earlier example completed the write: start from the old tree again
        shutil.rmtree(out)
        out.mkdir()
        for rel, data in old.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(data)
    proc = subprocess.Popen([*CLI, "render", "--root", str(root), "--allow-delete"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay_ms / 1000)
    proc.kill()
    proc.wait(timeout=60)
    assert_interrupted_then_completed(root, old, new, run)


def test_staging_without_a_journal_is_discarded(old_and_new: tuple[Path, dict[str, bytes], dict[str, bytes]],
                                                run: Run) -> None:
    root, old, new = old_and_new
    out = root / "rendered"
    (out / STAGING).mkdir()
    (out / STAGING / "0.part").write_text("half")
    code, _o, err = run("render", "--check", "--root", root)
    assert code == 1 and "is out of date" in _o  # the old tree, intact: drift, not an interruption
    assert ours(out) == old
    code, _o, err = run("render", "--root", root, "--allow-delete")
    assert code == 0, err
    assert ours(out) == new and not (out / STAGING).exists()


def test_an_unreadable_journal_is_an_error(rendered_once: Path, run: Run) -> None:
    out = rendered_once / "rendered"
    (out / STAGING).mkdir()
    (out / STAGING / JOURNAL).write_text("{not json")
    before = snapshot(out)
    code, _o, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith("error: rendered/.platform-gen.staging/journal: the journal of an interrupted write "
                          "cannot be read\n")
    assert snapshot(out) == before


def test_a_journal_cannot_reach_outside_or_through_links(rendered_once: Path, run: Run, tmp_path: Path) -> None:
    out = rendered_once / "rendered"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.yaml").write_text("mine")
    (out / "argocd/link").symlink_to(outside, target_is_directory=True)
    (out / STAGING).mkdir()
    journal = {"format": 1, "renames": [], "removals": ["argocd/link/keep.yaml"]}
    (out / STAGING / JOURNAL).write_text(json.dumps(journal))
    code, _o, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith("error: refusing to write through a link: rendered/argocd/link\n")
    assert (outside / "keep.yaml").read_text() == "mine"


# --- the lock -------------------------------------------------------------------------------


@pytest.fixture
def held_lock(rendered_once: Path) -> Iterator[Path]:
    """This test process holds the render lock, as a render would (pid inside)."""
    path = rendered_once / "rendered" / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield rendered_once
    finally:
        os.unlink(path)
        os.close(fd)


def test_a_second_render_refuses_while_the_first_holds_the_lock(held_lock: Path) -> None:
    root = held_lock
    edit(root, "platform-config/services/payment-service/config.yaml", "tag: ", "tag: \"9.9.9\"\n# was: ")
    before = snapshot(root / "rendered")
    second = cli("render", "--root", root)
    assert second.returncode == 1
    assert second.stderr == (f"error: output folder rendered is being written by another platform-gen render "
                             f"(pid {os.getpid()}); it holds rendered/.platform-gen.lock\n"
                             "  hint: wait for it to finish, then run again; nothing was written\n")
    assert snapshot(root / "rendered") == before
    second = cli("render", "--root", root, "--format", "json")
    assert second.returncode == 1 and json.loads(second.stdout)["status"] == "error"


def test_a_killed_holder_leaves_no_stale_lock(rendered_once: Path) -> None:
    root = rendered_once
    edit(root, "platform-config/services/payment-service/config.yaml", "tag: ", "tag: \"9.9.9\"\n# was: ")
    killed = cli("render", "--root", root, env={KILL_HOOK: "1"})  # dies holding the lock, after one staged file
    assert killed.returncode == -signal.SIGKILL
    assert (root / "rendered" / LOCK).is_file()  # the file stays, the flock went with the process
    done = cli("render", "--root", root)
    assert done.returncode == 0, done.stderr
    assert not (root / "rendered" / LOCK).exists() and not (root / "rendered" / STAGING).exists()


def test_two_renders_at_once(example: Path) -> None:
    procs = [subprocess.Popen([*CLI, "render", "--root", str(example)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    assert any(code == 0 for code, _err in results), results
    for code, err in results:
        assert code == 0 or (code == 1 and "is being written by another platform-gen render (pid " in err), err
    assert cli("render", "--check", "--root", example).returncode == 0
    assert sorted(p.name for p in (example / "rendered").iterdir() if p.name.startswith(".")) == [
        ".platform-gen.index.json", ".platform-gen.yaml"]


# --- preconditions, before the first byte -----------------------------------------------------


def unwritable(path: Path) -> None:
    """Make a folder unwritable honestly: chmod, or as root (which chmod does not stop) chattr +i."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"running as root, where chmod does not stop writes, and chattr +i failed: {done.stderr}")


def writable(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o755)
    else:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)


def test_a_read_only_subfolder_stops_the_render_before_the_first_byte(rendered_once: Path, run: Run) -> None:
    root = rendered_once
    change_inputs(root)
    folder = root / "rendered/services/payment-service/base"
    before = snapshot(root / "rendered")
    unwritable(folder)
    try:
        code, _o, err = run("render", "--root", root, "--allow-delete")
        assert code == 1
        assert err == ("error: cannot write into rendered/services/payment-service/base: permission denied "
                       "(or a read-only filesystem)\n"
                       "  hint: make it writable; nothing was written\n")
        code, out, _e = run("render", "--root", root, "--allow-delete", "--format", "json")
        assert code == 1 and json.loads(out)["status"] == "error"
        assert snapshot(root / "rendered") == before
    finally:
        writable(folder)
    assert run("render", "--root", root, "--allow-delete")[0] == 0


def test_a_file_where_a_folder_must_go(rendered_once: Path, run: Run) -> None:
    root = rendered_once
    change_inputs(root)
    (root / "rendered/services/user-pages").write_text("in the way")
    before = snapshot(root / "rendered")
    code, _o, err = run("render", "--root", root, "--allow-delete")
    assert code == 1
    assert err == ("error: cannot write into rendered/services/user-pages: it exists and is not a folder\n"
                   "  hint: move it away; nothing was written\n")
    assert snapshot(root / "rendered") == before


def test_a_link_to_a_file_that_would_change(rendered_once: Path, run: Run, tmp_path: Path) -> None:
    root = rendered_once
    change_inputs(root)
    target = tmp_path / "elsewhere.yaml"
    target.write_text("mine")
    link = root / "rendered/argocd/applicationsets/payment-service.yaml"
    link.unlink()
    link.symlink_to(target)
    before = snapshot(root / "rendered")
    code, _o, err = run("render", "--root", root, "--allow-delete")
    assert code == 1
    assert err.startswith("error: refusing to write through a link: "
                          "rendered/argocd/applicationsets/payment-service.yaml\n")
    assert snapshot(root / "rendered") == before and target.read_text() == "mine"


def test_not_enough_space(tmp_path: Path) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    with pytest.raises(OutputError) as err:
        _check_space(tmp_path, "rendered", [free], 0)
    assert err.value.message.startswith("not enough free space for rendered: ")
    _check_space(tmp_path, "rendered", [1000, 2000], 3)  # a small write fits


def test_an_io_error_while_staging_writes_nothing(rendered_once: Path) -> None:
    root = rendered_once
    # Helm reads a chart from a temporary folder, which the limit below would stop first (test_helm covers
    # that): this test is about writing the tree, so the example goes without its Helm chart here
    shutil.rmtree(root / "platform-config/services/docs-site")
    shutil.rmtree(root / "platform-config/templates/static-site")
    assert cli("render", "--root", root).returncode == 0
    edit(root, "platform-config/services/payment-service/config.yaml", "tag: ", "tag: \"9.9.9\"\n# was: ")
    before = snapshot(root / "rendered")
    # a real EFBIG from the kernel: files may not grow beyond 600 bytes (as if the disk were full)
    failed = cli("render", "--root", root, limit_fsize=600)
    assert failed.returncode == 1, failed.stderr
    first = failed.stderr.splitlines()[0]
    assert first.startswith("error: cannot write rendered/") and first.endswith(": File too large"), first
    assert failed.stderr.splitlines()[1] == "  hint: nothing was written"
    assert snapshot(root / "rendered") == before
    failed = cli("render", "--root", root, "--format", "json", limit_fsize=600)
    assert failed.returncode == 1 and json.loads(failed.stdout)["status"] == "error"
    assert cli("render", "--root", root).returncode == 0


def test_an_io_error_after_the_commit_leaves_a_journal_the_next_render_completes(
        old_and_new: tuple[Path, dict[str, bytes], dict[str, bytes]]) -> None:
    root, _old, new = old_and_new
    if os.geteuid() != 0:
        pytest.skip("needs root: only chattr +i makes one rename fail after the preconditions passed")
    # the preconditions check folders; a file marked immutable makes its rename fail half way
    stuck = root / "rendered/services/payment-service/overlays/prod/prod-us/kustomization.yaml"
    assert stuck.is_file()
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        failed = cli("render", "--root", root, "--allow-delete")
        assert failed.returncode == 1
        assert failed.stderr == (
            "error: cannot write rendered/services/payment-service/overlays/prod/prod-us/kustomization.yaml: "
            "Operation not permitted\n"
            "  hint: the write of rendered is incomplete; fix the cause, then run 'platform-gen render' again: "
            "it completes the write ('platform-gen render --check' reports it until then)\n")
        assert (root / "rendered" / STAGING / JOURNAL).is_file()
        assert cli("render", "--check", "--root", root).returncode == 1
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)
    done = cli("render", "--root", root, "--allow-delete")
    assert done.returncode == 0, done.stderr
    assert "completed an interrupted write of rendered" in done.stderr
    assert ours(root / "rendered") == new
    assert cli("render", "--check", "--root", root).returncode == 0


# --- ownership ------------------------------------------------------------------------------


def test_a_touched_manifest_is_no_licence_to_delete(example: Path, run: Run) -> None:
    mine = example / "rendered"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    (mine / "argocd").mkdir()
    (mine / "argocd/keep.yaml").write_text("mine too")
    (mine / ".platform-gen.yaml").touch()
    code, _o, err = run("render", "--root", example)
    assert code == 1
    assert err == ("error: rendered/.platform-gen.yaml: not a platform-gen manifest (expected 'generator: "
                   "platform-gen' and a 'files' list of paths)\n"
                   "  hint: platform-gen removes only the files its manifest lists; restore "
                   "rendered/.platform-gen.yaml (e.g. from git), or empty the folder; nothing was written\n")
    assert tree(mine) == {".platform-gen.yaml": b"", "argocd/keep.yaml": b"mine too", "notes.txt": b"mine"}
    # a valid manifest that does not list them: written around, never deleted
    (mine / ".platform-gen.yaml").write_text("generator: platform-gen\nfiles: []\n")
    code, _o, err = run("render", "--root", example)
    assert code == 0, err
    assert "warning: rendered/notes.txt is not listed in rendered/.platform-gen.yaml: left alone" in err
    assert (mine / "notes.txt").read_text() == "mine" and (mine / "argocd/keep.yaml").read_text() == "mine too"


def test_a_manifest_that_cannot_be_parsed_is_an_error(rendered_once: Path, run: Run) -> None:
    out = rendered_once / "rendered"
    (out / "services/extra.yaml").write_text("x")
    (out / ".platform-gen.yaml").write_text("generator: platform-gen\nfiles: [a, b\n")
    before = snapshot(out)
    code, _o, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith("error: rendered/.platform-gen.yaml:3:1: cannot be parsed as a platform-gen manifest\n")
    assert snapshot(out) == before


def test_files_the_previous_manifest_lists_are_removed(old_and_new: tuple[Path, dict[str, bytes], dict[str, bytes]],
                                                       run: Run) -> None:
    root, old, new = old_and_new
    code, out, err = run("render", "--root", root, "--allow-delete", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["removed"] == sorted(set(old) - set(new)) and doc["unowned"] == []
    assert not (root / "rendered/services/user-profile").exists()  # emptied folders go too
    assert tree(root / "rendered") == new


# --- the output path --------------------------------------------------------------------------


def test_an_output_link_out_of_the_repo_is_refused(example: Path, run: Run, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (example / "rendered").symlink_to(elsewhere, target_is_directory=True)
    for args in ((), ("--out", example / "rendered")):
        code, _o, err = run("render", "--root", example, *args)
        assert code == 1
        assert "output folder" in err and "leads out of the platform repo through a link\n" in err
    assert list(elsewhere.iterdir()) == []
    # explicitly outside, without links: allowed
    code, _o, err = run("render", "--root", example, "--out", elsewhere)
    assert code == 0, err


def test_reserved_names_are_not_in_the_manifest(rendered_once: Path) -> None:
    listed = (rendered_once / "rendered/.platform-gen.yaml").read_text()
    assert LOCK not in listed and STAGING not in listed
    assert sorted(p.name for p in (rendered_once / "rendered").iterdir() if p.name.startswith(".")) == [
        ".platform-gen.index.json", ".platform-gen.yaml"]


def test_leftovers_of_a_killed_first_render_do_not_make_the_folder_foreign(example: Path) -> None:
    killed = cli("render", "--root", example, env={KILL_HOOK: "3"})
    assert killed.returncode == -signal.SIGKILL
    out = example / "rendered"
    assert sorted(p.name for p in out.iterdir()) == [LOCK, STAGING]
    done = cli("render", "--root", example)
    assert done.returncode == 0, done.stderr
    assert cli("render", "--check", "--root", example).returncode == 0


def test_validate_ignores_the_writers_files_and_refuses_an_interrupted_tree(rendered_once: Path, run: Run,
                                                                            kustomize: object) -> None:
    out = rendered_once / "rendered"
    (out / LOCK).write_text("12345\n")
    (out / STAGING).mkdir()
    (out / STAGING / "0.part").write_text("kind: [broken\n")  # what a killed render leaves
    code, stdout, _err = run("validate", "--root", rendered_once, "--format", "json")
    assert code == 0, stdout
    assert json.loads(stdout)["problems"] == []
    (out / STAGING / JOURNAL).write_text('{"format": 1, "renames": [["0.part", "argocd/x.yaml"]], "removals": []}')
    code, _out, err = run("validate", "--root", rendered_once)
    assert code == 1
    assert err == ("error: rendered holds an interrupted write: an earlier 'platform-gen render' was stopped half "
                   "way, so the tree mixes two renders\n  hint: the next 'platform-gen render' completes it\n")


def test_a_read_only_output_folder(rendered_once: Path, run: Run) -> None:
    root = rendered_once
    out = root / "rendered"
    unwritable(out)
    try:
        code, _o, err = run("render", "--root", root)  # nothing to change: no write, no lock needed
        assert code == 0, err
        edit(root, "platform-config/services/payment-service/config.yaml", "tag: ", "tag: \"9.9.9\"\n# was: ")
        before = snapshot(out)
        code, _o, err = run("render", "--root", root)
        assert code == 1
        assert err == ("error: cannot write into rendered: permission denied (or a read-only filesystem)\n"
                       "  hint: make it writable; nothing was written\n")
        assert snapshot(out) == before
    finally:
        writable(out)
    assert run("render", "--root", root)[0] == 0


def test_check_while_a_render_holds_the_lock(held_lock: Path) -> None:
    checked = cli("render", "--check", "--root", held_lock)
    assert checked.returncode == 1
    assert checked.stderr == (f"error: rendered is being written by a platform-gen render (pid {os.getpid()}) "
                              "right now\n  hint: run the check again when it has finished\n")
    assert (held_lock / "rendered" / LOCK).is_file()  # still ours: the check took no lock of its own


PATHS = ("a.yaml", "argocd/b.yaml", "argocd/projects/c.yaml", "services/s/base/d.yaml", "services/t/e.yaml",
         "notes.txt")


@settings(max_examples=25, deadline=None)
@given(existing=st.sets(st.sampled_from(PATHS)), listed=st.sets(st.sampled_from(PATHS)),
       new=st.sets(st.sampled_from(PATHS)))
def test_only_listed_files_are_ever_removed(existing: set[str], listed: set[str], new: set[str]) -> None:
    """Whatever is on disk and whatever the manifest says: unlisted files survive, the new tree is written."""
    import tempfile

    from platform_gen.render import MANIFEST
    from platform_gen.write import apply, lock, plan, recover

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        for rel in existing:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(f"old {rel}")
        (out / MANIFEST).write_text(f"generator: platform-gen\nfiles: {json.dumps(sorted(listed))}\n")
        files = {rel: f"new {rel}".encode() for rel in new}
        files[MANIFEST] = b"generator: platform-gen\nfiles: []\n"
        with lock(out):
            recover(out)
            the_plan = plan(out, files)
            apply(out, files, the_plan)
        after = tree(out)
        assert set(the_plan.removed) == (existing & listed) - new
        assert set(the_plan.unowned) == existing - listed - new
        for rel in existing - new - listed:
            assert after[rel] == f"old {rel}".encode()  # never deleted, never touched
        for rel in existing & listed - new:
            assert rel not in after
        assert {k: v for k, v in after.items() if k in files} == files
        assert not (out / LOCK).exists() and not (out / STAGING).exists()


def test_an_io_error_writing_codeowners_is_exit_1(rendered_once: Path, run: Run) -> None:
    root = rendered_once
    edit(root, "platform-config/platform.yaml", 'codeowners: "@acme/payments"', 'codeowners: "@acme/pay"')
    github = root / ".github"
    unwritable(github)
    try:
        code, _o, err = run("render", "--root", root)
        assert code == 1, err
        assert err.startswith("error: cannot write .github/CODEOWNERS: ")
    finally:
        writable(github)
    assert run("render", "--root", root)[0] == 0


def test_check_and_validate_report_a_link_inside_the_tree(rendered_once: Path, run: Run, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    base = rendered_once / "rendered/services/auth-service/base"
    shutil.copytree(base, outside)
    shutil.rmtree(base)
    base.symlink_to(outside, target_is_directory=True)
    message = ("error: rendered holds what platform-gen never writes: "
               "rendered/services/auth-service/base (a symbolic link)\n"
               "  hint: remove them and run 'platform-gen render'\n")
    code, _out, err = run("render", "--check", "--root", rendered_once)
    assert (code, err) == (1, message)
    code, _out, err = run("validate", "--root", rendered_once)
    assert (code, err) == (1, message)



def test_a_fifo_in_the_tree_is_reported_never_read(rendered_once: Path, run: Run) -> None:
    fifo = rendered_once / "rendered/services/auth-service/base/deployment.yaml"
    fifo.unlink()
    os.mkfifo(fifo)
    message = ("error: rendered holds what platform-gen never writes: "
               "rendered/services/auth-service/base/deployment.yaml (not a regular file)\n"
               "  hint: remove them and run 'platform-gen render'\n")
    for command in (("render", "--check"), ("validate",)):
        code, _out, err = run(*command, "--root", rendered_once)
        assert (code, err) == (1, message), command
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith("error: rendered/services/auth-service/base/deployment.yaml is not a regular file"), err
