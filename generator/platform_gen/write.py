"""Stage 5: bring the output folder in line with a rendered tree. The only writer.

Safety rules: the output folder must not hold the inputs, nor lead out of the repo
through a link; a non-empty folder is written into only if it carries platform-gen's
manifest; every path stays inside the folder and no path to be written or removed goes
through a link; only files that the previous manifest lists are ever removed (any
other file is reported and left alone).

The write is one transaction (see "Writing the tree: all or nothing" in the README):

1. under an exclusive lock (``<out>/.platform-gen.lock``, ``fcntl.flock``, holding the
   writer's pid), every precondition is checked before the first byte: links, folders
   that must be folders, write permission on every folder written to, one filesystem,
   free space and inodes;
2. every new or changed file is staged in ``<out>/.platform-gen.staging/`` (same
   filesystem, so renames are atomic);
3. a journal listing every rename and removal is written, fsynced and renamed into
   place (the staging folder fsynced too): from then on the transaction is committed;
4. the journal is carried out (renames, the manifest last, then removals), then
   deleted with the staging folder.

A run that dies in step 2 leaves staging without a journal: the next render discards
it and the tree is still the old one. A run that dies in step 4 leaves a journal: the
next render rolls it forward first, and ``render --check`` reports the tree as
interrupted until then. Staged files are not fsynced one by one (that would cost a
disk flush per file): after a power cut one may be incomplete, but the render that
rolls the journal forward then compares every file with the new tree and rewrites
any that differ, and ``render --check`` reports such a file as changed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import OutputError
from .render import MANIFEST

__all__ = [
    "JOURNAL",
    "LOCK",
    "RESERVED",
    "STAGING",
    "Plan",
    "apply",
    "busy",
    "check_out_dir",
    "foreign",
    "interrupted",
    "lock",
    "plan",
    "plan_incremental",
    "recover",
    "write_atomically",
]

_INPUT_DIRS = ("platform-config", "environments", "overlays", ".git")

#: The lock file, inside the output folder (removed again when the render ends).
LOCK = ".platform-gen.lock"
#: The staging folder, inside the output folder, on the tree's own filesystem.
STAGING = ".platform-gen.staging"
#: The journal, inside the staging folder: its presence means a committed, unfinished write.
JOURNAL = "journal"
#: Top-level names of the output folder that belong to the writer, never to the rendered tree.
RESERVED = (LOCK, STAGING)

#: Free space kept in reserve beyond the bytes to write.
SPACE_MARGIN = 1 << 20

#: Test-only fault injection: with this variable set to k, the process kills itself
#: (SIGKILL) right after the k-th step of a write (a staged file, the journal commit,
#: a rename, a removal, the journal's deletion). Unset in normal use: inert.
KILL_HOOK = "PLATFORM_GEN_TEST_KILL_AFTER"

_INTERRUPTED_HINT = "the next 'platform-gen render' completes the interrupted write"


@dataclass(frozen=True)
class Plan:
    """What writing a tree would do: relative paths, sorted."""

    created: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: Collection[str] = field(default=(), repr=False)
    #: Files on disk that neither the new tree nor the previous manifest lists: left alone.
    unowned: tuple[str, ...] = ()

    @property
    def dirty(self) -> bool:
        """Whether the folder differs from the tree (files that are not ours do not count)."""
        return bool(self.created or self.changed or self.removed)


def _shown(out: Path, shown: str | None) -> str:
    return shown if shown is not None else str(out)


def _io_error(exc: OSError, what: str, hint: str = "nothing was written") -> OutputError:
    """An I/O failure as an input error that names the path."""
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot {what}: {reason}", hint)


def _where(out: Path, name: str, exc: OSError) -> str:
    """The path an OSError is about, as shown to the user."""
    if not exc.filename:
        return name
    try:
        rel = Path(os.fsdecode(exc.filename)).relative_to(out).as_posix()
    except ValueError:
        return name
    return name if rel == "." else f"{name}/{rel}"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_out_dir(root: Path, out: Path, shown: str | None = None, example: str = "rendered") -> None:
    """Refuse output folders that would overwrite inputs, lead out of the repo through a link,
    or are not ours (``shown`` names it; hints suggest ``example``, a folder the command accepts)."""
    name_ = shown or str(out)
    root_r, out_r = root.resolve(), out.resolve()
    if out_r == root_r or out_r in root_r.parents:
        raise OutputError(f"output folder {name_} contains the platform repo",
                          f"pass --out a folder of its own, such as {example}")
    for name in _INPUT_DIRS:
        d = (root_r / name).resolve()
        if out_r == d or d in out_r.parents:
            raise OutputError(f"output folder {name_} is inside the inputs ({name}/)",
                              f"pass --out a folder of its own, such as {example}")
    root_a, out_a = Path(os.path.abspath(root)), Path(os.path.abspath(out))
    if _inside(out_a, root_a) and not _inside(out_r, root_r):
        raise OutputError(f"output folder {name_} leads out of the platform repo through a link",
                          "point gitops.path (or --out) at a real folder inside the repo, "
                          "or pass --out the folder outside it explicitly")
    try:
        if out_r.exists() and not out_r.is_dir():
            raise OutputError(f"output path {name_} exists and is not a folder")
        if (out_r.is_dir() and not (out_r / MANIFEST).is_file() and not interrupted(out_r)
                and any(p.name not in RESERVED for p in out_r.iterdir())):
            raise OutputError(f"output folder {name_} is not empty and was not created by platform-gen",
                              f"it has no {MANIFEST}; empty it or choose another --out")
    except OSError as exc:
        raise _io_error(exc, f"read {name_}") from None


def interrupted(out: Path) -> bool:
    """Whether an earlier render committed a write to ``out`` and did not finish it."""
    try:
        return (out / STAGING / JOURNAL).is_file()
    except OSError:  # unreadable: whatever reads or writes the folder next reports it
        return False


# --- reading the tree ---------------------------------------------------------------------


def _existing(out: Path, shown: str) -> dict[str, Path]:
    if not out.is_dir():
        return {}
    found = {}

    def fail(exc: OSError) -> None:
        raise _io_error(exc, f"read {_where(out, shown, exc)}")

    for dirpath, dirnames, filenames in os.walk(out, onerror=fail):
        if dirpath == str(out):
            dirnames[:] = [d for d in dirnames if d not in RESERVED]
            filenames = [f for f in filenames if f not in RESERVED]
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            rel = p.relative_to(out).as_posix()
            try:
                mode = os.lstat(p).st_mode
            except OSError as exc:
                raise _io_error(exc, f"read {shown}/{rel}") from None
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a FIFO would block the comparison
                raise OutputError(f"{shown}/{rel} is not a regular file; platform-gen never writes one",
                                  "remove it and run 'platform-gen render'")
            found[rel] = p
    return found


def foreign(out: Path, only: Iterable[str] | None = None) -> list[str]:
    """What platform-gen never writes inside the tree: links, and anything that is not a regular file.

    Each entry is a relative path and what it is, sorted. Reading a FIFO would block,
    and kustomize would follow a link out of the tree. With ``only``, just those
    relative paths (and the folders leading to them) are looked at, not the whole tree.
    """
    if only is not None:
        return _foreign_among(out, only)
    found: list[str] = []
    # os.scandir gives each entry's type without a stat call (an lstat and a Path of each of the
    # ~35,000 entries of a 1,000-service tree took seconds of every validate, #9)
    pending = [("", os.fspath(out))]
    while pending:
        rel, folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # as os.walk did: a folder that cannot be listed is passed over
        for entry in entries:
            sub = f"{rel}{entry.name}"
            if entry.is_symlink():
                found.append(f"{sub} (a symbolic link)")
            elif entry.is_dir(follow_symlinks=False):
                pending.append((sub + "/", entry.path))
            elif not entry.is_file(follow_symlinks=False):
                found.append(f"{sub} (not a regular file)")
    return sorted(found)


def _foreign_among(out: Path, paths: Iterable[str]) -> list[str]:
    found: set[str] = set()
    seen: set[str] = set()
    for rel in paths:
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in seen:
                continue
            seen.add(sub)
            try:
                mode = os.lstat(out / sub).st_mode
            except OSError:
                break  # absent: nothing below it to look at
            if stat.S_ISLNK(mode):
                found.add(f"{sub} (a symbolic link)")
                break
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.add(f"{sub} (not a regular file)")
                break
    return sorted(found)


def _owned(out: Path, shown: str, files: Mapping[str, bytes]) -> set[str]:
    """The files the manifest on disk lists: none without one; an unusable one is an error."""
    try:
        data = (out / MANIFEST).read_bytes()
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise _io_error(exc, f"read {shown}/{MANIFEST}") from None
    if data == files.get(MANIFEST):
        return set(files)  # the same manifest lists the same files; no need to parse it
    hint = (f"platform-gen removes only the files its manifest lists; restore {shown}/{MANIFEST} "
            "(e.g. from git), or empty the folder; nothing was written")
    if re.search(rb"^<<<<<<< .*^=======\r?$.*^>>>>>>> ", data, re.M | re.S):
        hint = (f"it holds merge conflict markers: two branches rendered the tree. Take one side of the whole "
                f"tree (in a merge of the base branch: git checkout --theirs -- {shown}/), then render again, "
                "which makes the tree from the merged inputs; nothing was written")
    try:
        doc: Any = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise OutputError(f"{shown}/{MANIFEST}{where}: cannot be parsed as a platform-gen manifest", hint) from None
    listed = doc.get("files") if isinstance(doc, dict) else None
    if (not isinstance(doc, dict) or doc.get("generator") != "platform-gen" or not isinstance(listed, list)
            or not all(isinstance(f, str) for f in listed)):
        raise OutputError(f"{shown}/{MANIFEST}: not a platform-gen manifest "
                          "(expected 'generator: platform-gen' and a 'files' list of paths)", hint)
    return set(listed)


def plan(out: Path, files: Mapping[str, bytes], shown: str | None = None) -> Plan:
    """Compare ``files`` with the folder's content without writing anything.

    Only files that the manifest on disk lists are removed; other files that the tree
    does not have are ``unowned`` and left alone.
    """
    name = _shown(out, shown)
    existing = _existing(out, name)
    created: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for rel in sorted(files):  # one file's bytes at a time: ``files`` may hold them compressed
        p = existing.get(rel)
        if p is None:
            created.append(rel)
            continue
        try:
            same = not p.is_symlink() and p.read_bytes() == files[rel]
        except OSError as exc:
            raise _io_error(exc, f"read {name}/{rel}") from None
        (unchanged if same else changed).append(rel)
    owned = _owned(out, name, files)
    gone = sorted(set(existing) - set(files))
    removed = tuple(r for r in gone if r in owned)
    unowned = tuple(r for r in gone if r not in owned)
    return Plan(tuple(created), tuple(changed), removed, tuple(unchanged), unowned)


def plan_incremental(out: Path, files: Mapping[str, bytes], keep: Collection[str], owned: Iterable[str],
                     shown: str | None = None) -> Plan:
    """Compare ``files`` with the folder without walking it: the files of ``keep`` are trusted as they
    are (the previous render's, not rendered again), and of ``owned`` (files the previous index gave to
    the services rendered again or gone, and its platform-wide files) those in neither are removed.
    Files that are no one's are not looked for. ``unchanged`` is not sorted."""
    name = _shown(out, shown)
    created: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for rel in sorted(files):  # one file's bytes at a time: ``files`` may hold them compressed
        data = files[rel]
        p = out / rel
        try:
            if os.path.islink(p):
                same = False
            else:
                with open(p, "rb") as fh:
                    same = fh.read(len(data) + 1) == data
        except FileNotFoundError:
            created.append(rel)
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.EISDIR):
                changed.append(rel)  # the write's preflight names what is in the way
                continue
            raise _io_error(exc, f"read {name}/{rel}") from None
        (unchanged if same else changed).append(rel)
    gone = {r for r in owned if r not in files and r not in keep}
    removed = tuple(sorted(r for r in gone if os.path.lexists(out / r)))
    return Plan(tuple(created), tuple(changed), removed, _Both(tuple(unchanged), keep), ())


class _Both(Collection[str]):
    """Two disjoint collections of paths as one, without copying the second (the kept files of thousands of
    services): counted and walked as asked."""

    def __init__(self, first: tuple[str, ...], second: Collection[str]) -> None:
        self._first, self._second = first, second

    def __len__(self) -> int:
        return len(self._first) + len(self._second)

    def __iter__(self) -> Iterator[str]:
        yield from self._first
        yield from self._second

    def __contains__(self, rel: object) -> bool:
        return rel in self._first or rel in self._second


# --- the lock -----------------------------------------------------------------------------


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


@contextmanager
def lock(out: Path, shown: str | None = None) -> Iterator[None]:
    """Hold ``<out>/.platform-gen.lock`` exclusively (created with ``out`` if need be).

    ``fcntl.flock`` ends with its holder, so a killed render never leaves a stale lock;
    a second render refuses, naming the holder's pid. The file is removed on release
    (after checking, on acquiring, that the locked file is still the one on disk).
    """
    name = _shown(out, shown)
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _io_error(exc, f"create {name}") from None
    path = out / LOCK
    fd = -1
    try:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise OutputError(f"refusing to write through a link: {name}/{LOCK}") from None
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and not made:
                    break  # a folder we may not write to: a render that changes nothing still works,
                    # and any write fails its own precondition checks, naming the path
                raise _io_error(exc, f"create the lock file {name}/{LOCK}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _holder(fd)
                for _ in range(50):  # the holder writes its pid just after locking: give it a moment
                    if pid:
                        break
                    time.sleep(0.01)
                    pid = _holder(fd)
                os.close(fd)
                fd = -1
                raise OutputError(f"output folder {name} is being written by another platform-gen render"
                                  + (f" (pid {pid})" if pid else "") + f"; it holds {name}/{LOCK}",
                                  "wait for it to finish, then run again; nothing was written") from None
            st = os.fstat(fd)
            try:
                now = os.lstat(path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                break
            os.close(fd)  # the previous holder removed it as we opened it: take the new one
            fd = -1
        if fd >= 0:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        if made:
            _rmdir_quiet(out)
        raise
    try:
        yield
    finally:
        if fd >= 0:
            with suppress(OSError):
                os.unlink(path)
            os.close(fd)
        if made:
            _rmdir_quiet(out)


def busy(out: Path) -> str | None:
    """The pid ("" if unknown) of a render writing ``out`` right now, else None; reads only."""
    try:
        fd = os.open(out / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: nobody is writing
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd)
    except OSError:
        return None
    finally:
        os.close(fd)  # closing drops a shared lock taken just to test
    return None


def _rmdir_quiet(d: Path) -> bool:
    try:
        d.rmdir()
    except OSError:
        return False
    return True


# --- preconditions ------------------------------------------------------------------------


def _check_rel(rel: str, name: str) -> None:
    parts = rel.split("/")
    if rel.startswith("/") or not rel or any(p in ("", ".", "..") for p in parts):
        raise OutputError(f"refusing to write outside the output folder: {rel}")
    if parts[0] in RESERVED:
        raise OutputError(f"refusing to write {name}/{rel}: the name is reserved for platform-gen's own files")


class _Preflight:
    """Checks of the paths to be written or removed, sharing one lstat per folder."""

    def __init__(self, out: Path, name: str) -> None:
        self.out, self.name = out, name
        self.dev = os.stat(out).st_dev
        self.dirs: dict[str, bool] = {"": True}  # folder -> exists (as a real folder)
        self.written: set[str] = set()  # existing folders that get an entry created or removed
        self.new_dirs: set[str] = set()

    def folder(self, rel_dir: str) -> bool:
        """Whether ``rel_dir`` exists; refuses links and non-folders on the way."""
        if rel_dir in self.dirs:
            return self.dirs[rel_dir]
        parent = rel_dir.rpartition("/")[0]
        if not self.folder(parent):
            self.dirs[rel_dir] = False
            self.new_dirs.add(rel_dir)
            return False
        try:
            st = os.lstat(self.out / rel_dir)
        except FileNotFoundError:
            self.dirs[rel_dir] = False
            self.new_dirs.add(rel_dir)
            self.written.add(parent)
            return False
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(f"refusing to write through a link: {self.name}/{rel_dir}",
                              "replace the link with a real folder, or remove it; nothing was written")
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write into {self.name}/{rel_dir}: it exists and is not a folder",
                              "move it away; nothing was written")
        if st.st_dev != self.dev:
            raise OutputError(f"cannot write into {self.name}/{rel_dir}: it is on another filesystem than "
                              f"{self.name}", "the tree must be on one filesystem; nothing was written")
        self.dirs[rel_dir] = True
        return True

    def path(self, rel: str) -> None:
        """Check one file to be written or removed."""
        _check_rel(rel, self.name)
        parent = rel.rpartition("/")[0]
        if self.folder(parent):
            self.written.add(parent)
            try:
                st = os.lstat(self.out / rel)
            except FileNotFoundError:
                return
            if stat.S_ISLNK(st.st_mode):
                raise OutputError(f"refusing to write through a link: {self.name}/{rel}",
                                  "remove the link; nothing was written")
            if stat.S_ISDIR(st.st_mode):
                raise OutputError(f"cannot write {self.name}/{rel}: it is a folder",
                                  "move it away; nothing was written")

    def permissions(self) -> None:
        """Every existing folder that gets an entry created, replaced or removed must be writable."""
        for d in sorted(self.written):
            if not os.access(self.out / d, os.W_OK | os.X_OK):
                shown = f"{self.name}/{d}" if d else self.name
                raise OutputError(f"cannot write into {shown}: permission denied (or a read-only filesystem)",
                                  "make it writable; nothing was written")


def _check_space(out: Path, name: str, sizes: list[int], new_dirs: int) -> None:
    """Refuse when the filesystem has fewer free blocks or inodes than the write needs."""
    try:
        vfs = os.statvfs(out)
    except OSError:  # unknown: the write itself reports ENOSPC
        return
    block = vfs.f_frsize or vfs.f_bsize or 4096
    need = sum(-(-size // block) * block for size in sizes) + (new_dirs + 2) * block + SPACE_MARGIN
    free = vfs.f_bavail * block
    if free < need:
        raise OutputError(f"not enough free space for {name}: {need} bytes needed, {free} available",
                          "free some space; nothing was written")
    inodes = len(sizes) + new_dirs + 2
    if vfs.f_files and vfs.f_favail < inodes:
        raise OutputError(f"not enough free inodes for {name}: {inodes} needed, {vfs.f_favail} available",
                          "free some space; nothing was written")


# --- the transaction ----------------------------------------------------------------------


class _Steps:
    """Counts the steps of a write for the test-only kill hook (inert unless it is set)."""

    def __init__(self) -> None:
        value = os.environ.get(KILL_HOOK, "")
        self.kill_after = int(value) if value.isdigit() else 0
        self.n = 0

    def __call__(self) -> None:
        self.n += 1
        if self.kill_after and self.n == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace one file whole (a temporary file beside it, then a rename): readers see old or new bytes."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def apply(out: Path, files: Mapping[str, bytes], the_plan: Plan, shown: str | None = None) -> None:
    """Carry out ``the_plan`` as one transaction: check, stage, journal, rename, remove.

    Call it under :func:`lock`, after :func:`recover`. Before the journal is committed a
    failure leaves the tree untouched; after, it leaves the journal for the next render.
    """
    name = _shown(out, shown)
    out.mkdir(parents=True, exist_ok=True)
    writes = [r for r in (*the_plan.created, *the_plan.changed) if r != MANIFEST]
    if MANIFEST in files and (MANIFEST in the_plan.created or MANIFEST in the_plan.changed):
        writes.append(MANIFEST)  # the manifest lands last
    try:
        check = _Preflight(out, name)
        check.written.add("")  # the staging folder goes there
        for rel in (*writes, *the_plan.removed):
            check.path(rel)
        check.permissions()
        _check_space(out, name, [len(files[r]) for r in writes], len(check.new_dirs))
    except OSError as exc:
        raise _io_error(exc, f"check {_where(out, name, exc)}") from None

    steps = _Steps()
    staging = out / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    renames: list[tuple[str, str]] = []
    rel = ""
    try:
        staging.mkdir()
        for i, rel in enumerate(writes):
            part = f"{i}.part"
            fd = os.open(staging / part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                os.fchmod(fd, 0o644)
                view = memoryview(files[rel])
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            renames.append((part, rel))
            steps()
        rel = JOURNAL
        _commit_journal(staging, {"format": 1, "renames": renames, "removals": list(the_plan.removed)})
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        target = f"the journal in {name}/{STAGING}" if rel == JOURNAL else f"{name}/{rel}"
        raise _io_error(exc, f"write {target}") from None
    steps()
    _roll_forward(out, name, renames, list(the_plan.removed), steps)


def _commit_journal(staging: Path, journal: dict[str, Any]) -> None:
    tmp = staging / (JOURNAL + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, json.dumps(journal, indent=0).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, staging / JOURNAL)
    _fsync(staging)


def _roll_forward(out: Path, name: str, renames: list[tuple[str, str]], removals: list[str],
                  steps: _Steps) -> None:
    """Carry out a committed journal; every step is idempotent, so a rerun completes it."""
    staging = out / STAGING
    hint = (f"the write of {name} is incomplete; fix the cause, then run 'platform-gen render' again: "
            "it completes the write ('platform-gen render --check' reports it until then)")
    rel = ""
    try:
        for part, rel in renames:
            src = staging / part
            if not os.path.lexists(src):
                continue  # done before an interruption
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            steps()
        for rel in removals:
            path = out / rel
            with suppress(FileNotFoundError):
                path.unlink()
            steps()
        rel = ""
        # drop folders emptied by removals, deepest first, never the output folder itself
        for d in sorted({p for r in removals for p in (out / r).parents if _inside(p, out) and p != out},
                        key=lambda p: -len(p.parts)):
            _rmdir_quiet(d)
        os.unlink(staging / JOURNAL)
    except OSError as exc:
        raise _io_error(exc, f"write {name}/{rel}" if rel else f"finish the write of {name}", hint) from None
    steps()
    shutil.rmtree(staging, ignore_errors=True)


def _read_journal(out: Path, name: str) -> tuple[list[tuple[str, str]], list[str]]:
    path = out / STAGING / JOURNAL
    hint = (f"remove {name}/{STAGING} and render again: the tree may then hold a mix of two renders "
            "until that render completes")
    try:
        doc = json.loads(path.read_bytes())
        renames = [(str(p), str(r)) for p, r in doc["renames"]]
        removals = [str(r) for r in doc["removals"]]
    except OSError as exc:
        raise _io_error(exc, f"read {name}/{STAGING}/{JOURNAL}", hint) from None
    except (ValueError, KeyError, TypeError):
        raise OutputError(f"{name}/{STAGING}/{JOURNAL}: the journal of an interrupted write cannot be read",
                          hint) from None
    for part, _rel in renames:
        if "/" in part or part in ("", ".", "..", JOURNAL):
            raise OutputError(f"{name}/{STAGING}/{JOURNAL}: the journal of an interrupted write names "
                              f"an invalid staged file: {part}", hint)
    return renames, removals


def recover(out: Path, shown: str | None = None) -> int:
    """Clean up after an interrupted render (call under :func:`lock`); return how many steps were completed.

    Staging without a journal is discarded (the tree is still the old one); a journal
    is rolled forward, after the same link and folder checks as a fresh write.
    """
    name = _shown(out, shown)
    staging = out / STAGING
    if not os.path.lexists(staging):
        return 0
    if os.path.islink(staging) or not staging.is_dir():
        raise OutputError(f"refusing to use {name}/{STAGING}: it is not a folder",
                          "remove it; it is platform-gen's staging folder")
    if not interrupted(out):
        shutil.rmtree(staging, ignore_errors=True)
        return 0
    renames, removals = _read_journal(out, name)
    pending = [(p, r) for p, r in renames if os.path.lexists(staging / p)]
    try:
        check = _Preflight(out, name)
        for _part, rel in pending:
            check.path(rel)
        for rel in removals:
            check.path(rel)
        check.permissions()
    except OSError as exc:
        raise _io_error(exc, f"check {_where(out, name, exc)}",
                        "the interrupted write was not completed; fix the cause and render again") from None
    _roll_forward(out, name, pending, removals, _Steps())
    return len(pending) + len(removals)
