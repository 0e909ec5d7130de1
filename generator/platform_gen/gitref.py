"""Reading a platform repo's files as they were at a git ref, for ``diff`` and the deletion guard.

Read-only towards the checkout: only ``git rev-parse``, ``merge-base``, ``ls-tree``,
``ls-files``, ``diff``, ``cat-file``, ``log`` and ``archive`` run (with optional locks off, so
not even an index refresh is written), never anything that moves HEAD, the index or
the working copy, and no worktree is added. ``diff`` extracts the inputs at the ref from
``git archive`` into a folder the caller owns (a temporary directory); the
deletion guard reads a few files straight into memory.
"""

from __future__ import annotations

import posixpath
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ToolError
from .index import blob_id
from .launch import BASES, Asked, git_env, ls_files, take, take_base

__all__ = ["Base", "Checkout", "OnDisk", "default_base", "export_inputs", "locate", "on_disk", "origin_url",
           "read_files", "resolve_base", "tree_changes"]

#: Where the default base comes from: the merge base of HEAD with the first of these that exists.
DEFAULT_BASES = BASES


@dataclass(frozen=True)
class Checkout:
    """Where the platform repo sits in its git checkout."""

    toplevel: Path
    prefix: str  # the root's folder inside the repository, "" or ending in "/"


@dataclass(frozen=True)
class Base:
    """The base of a diff: the ref as the user named it and the commit it resolves to."""

    ref: str
    commit: str
    merge_base: bool  # True when the commit is the merge base of HEAD and ``ref``

    @property
    def label(self) -> str:
        """How the base is shown to people."""
        if not self.commit:  # not a commit: what promote compares with (the tree before it)
            return self.ref
        short = self.commit[:12]
        return f"merge base of HEAD and {self.ref} ({short})" if self.merge_base else f"{self.ref} ({short})"


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=False, env=git_env(),
                              input=stdin)
    except FileNotFoundError:
        raise ToolError("git is not on the PATH", "platform-gen reads the base from git; install git") from None


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode("utf-8", "replace").strip()


def _err(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[0] if lines else f"exit code {proc.returncode}"


def origin_url(folder: Path) -> str | None:
    """The URL of the remote ``origin`` of the git checkout at ``folder`` (its own .git only), or None."""
    if not (folder / ".git").exists():
        return None
    try:
        proc = _git(folder, "remote", "get-url", "origin")
    except ToolError:
        return None
    url = _out(proc)
    return url if proc.returncode == 0 and url and "\n" not in url else None


_memo: dict[tuple[str, str], Any] | None = None


@contextmanager
def remembered() -> Iterator[None]:
    """Within it, :func:`locate` and :func:`default_base` ask git once per folder: one command asks
    them for the deletion guard and for the tree's changes alike."""
    global _memo
    _memo = {}
    try:
        yield
    finally:
        _memo = None


_lock = threading.Lock()


def _cached(kind: str, key: str, compute: Callable[[], Any]) -> Any:
    memo = _memo
    if memo is None:
        return compute()
    with _lock:  # a render asks from two threads at once (the tree's changes, the deletion guard's base)
        if (kind, key) not in memo:
            try:
                memo[(kind, key)] = compute()
            except ToolError as exc:
                memo[(kind, key)] = exc
        found = memo[(kind, key)]
    if isinstance(found, ToolError):
        raise found
    return found


def locate(root: Path) -> Checkout:
    """The git checkout holding ``root``; ToolError when it is not in one."""
    found: Checkout = _cached("locate", str(root.resolve()), lambda: _locate(root))
    return found


#: what was asked of git at start-up (``launch.Asked``), by checkout top level, once the root was located
_asked: dict[str, Asked] = {}
_asked_lock = threading.Lock()  # (not _lock: locate and default_base run under it)


def _locate(root: Path) -> Checkout:
    asked = take_base(str(root))
    if asked is not None:
        asked.ready.wait()
    if asked is not None and asked.answers:
        top = asked.answers[0]
    else:
        asked = None
        top = _git(root, "rev-parse", "--show-toplevel", "--show-prefix")
    lines = top.stdout.decode("utf-8", "surrogateescape").split("\n")
    if top.returncode != 0 or len(lines) < 2 or not lines[0]:
        raise ToolError(f"{root} is not inside a git checkout ({_err(top)})",
                        "platform-gen diff compares with a git ref; run it in the platform repo's checkout")
    if asked is not None:
        with _asked_lock:
            _asked[lines[0]] = asked
    return Checkout(Path(lines[0]), lines[1].strip())


def _commit(checkout: Checkout, ref: str) -> str | None:
    if not ref or ref.startswith("-"):
        return None
    proc = _git(checkout.toplevel, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return _out(proc) if proc.returncode == 0 and _out(proc) else None


def default_base(checkout: Checkout) -> Base | None:
    """The merge base of HEAD with origin/main, else with main; None when neither ref exists.

    On the default branch itself the merge base is HEAD. ToolError when the ref
    exists but shares no history with HEAD (a shallow clone).
    """
    found: Base | None = _cached("base", str(checkout.toplevel), lambda: _default_base(checkout))
    return found


def _default_base(checkout: Checkout) -> Base | None:
    # git merge-base exits 0 with the merge base, 1 when there is none, 128 when a ref does not exist (then
    # rev-parse tells); the merge bases may have been asked at start-up already
    with _asked_lock:
        asked = _asked.get(str(checkout.toplevel))
    answered = dict(zip(BASES, asked.answers[1:], strict=True)) if asked is not None else {}
    for candidate in DEFAULT_BASES:
        proc = answered.get(candidate) or _git(checkout.toplevel, "merge-base", "HEAD", candidate)
        if proc.returncode not in (0, 1) and _commit(checkout, candidate) is None:
            continue
        if proc.returncode != 0 or not _out(proc):
            raise ToolError(f"HEAD and {candidate} have no merge base ({_err(proc)})",
                            "pass --base REF; a shallow clone needs the full history (fetch-depth: 0)")
        return Base(candidate, _out(proc).splitlines()[0], merge_base=True)
    return None


def resolve_base(checkout: Checkout, ref: str | None) -> Base:
    """The commit to compare with: ``ref``, else the merge base of HEAD with origin/main, else main."""
    if ref is not None:
        commit = _commit(checkout, ref)
        if commit is None:
            raise ToolError(f"unknown git ref '{ref}'",
                            "name a branch, tag or commit that exists here; fetch remote branches first "
                            "(git fetch origin), and in CI check out the full history (fetch-depth: 0)")
        return Base(ref, commit, merge_base=False)
    base = default_base(checkout)
    if base is None:
        raise ToolError("no base to compare with: neither origin/main nor main exists",
                        "pass --base REF (a branch, tag or commit)")
    return base


def _safe_member(name: str) -> str | None:
    norm = posixpath.normpath(name)
    if norm.startswith(("/", "../")) or norm in ("..", ".") or "\\" in norm:
        return None
    return norm


def read_files(checkout: Checkout, commit: str, names: tuple[str, ...],
               have: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """The regular files below the paths ``names`` of the platform repo at ``commit``.

    Keys are relative to the platform repo's root (``checkout.prefix`` removed); a
    name that does not exist at that commit contributes nothing. Read with one
    ``git ls-tree -r`` and one ``git cat-file --batch`` of just those blobs (links and
    submodules are not regular files and are left out). ``have``: bytes at hand for some of
    those paths, taken instead of asking git where their id is the one the commit holds (a
    render's index of megabytes is, most often, as committed at the base).
    """
    paths = [checkout.prefix + n for n in names]
    listed = _git(checkout.toplevel, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *paths)
    if listed.returncode != 0:
        raise ToolError(f"git ls-tree failed at {commit[:12]}: {_err(listed)}")
    blobs: list[tuple[str, str]] = []
    for entry in listed.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, name = entry.partition("\t")
        fields = meta.split()
        if len(fields) != 3 or fields[1] != "blob" or fields[0] not in ("100644", "100755"):
            continue
        safe = _safe_member(name)
        if safe is not None and safe.startswith(checkout.prefix):
            blobs.append((safe, fields[2]))
    files: dict[str, bytes] = {}
    if have:
        for name, oid in blobs:
            held = have.get(name[len(checkout.prefix):])
            if held is not None and blob_id(held) == oid:
                files[name[len(checkout.prefix):]] = held
        blobs = [(name, oid) for name, oid in blobs if name[len(checkout.prefix):] not in files]
    if not blobs:
        return files
    # --buffer: git writes whole pipe buffers instead of flushing after each of the (thousands of) blobs
    batch = _git(checkout.toplevel, "cat-file", "--batch", "--buffer",
                 stdin="".join(f"{oid}\n" for _n, oid in blobs).encode())
    if batch.returncode != 0:
        raise ToolError(f"git cat-file failed at {commit[:12]}: {_err(batch)}")
    data, at = batch.stdout, 0
    for name, oid in blobs:
        eol = data.index(b"\n", at)
        header = data[at:eol].split()
        if len(header) != 3 or header[0].decode() != oid:
            raise ToolError(f"git cat-file gave an unexpected answer for {name} at {commit[:12]}")
        size = int(header[2])
        files[name[len(checkout.prefix):]] = data[eol + 1:eol + 1 + size]
        at = eol + 1 + size + 1  # the blob, then a newline
    return files


def export_inputs(checkout: Checkout, commit: str, names: tuple[str, ...], dest: Path) -> Path | None:
    """Extract the folders ``names`` of the platform repo at ``commit`` below ``dest``.

    Returns the platform repo's root in ``dest``, or None when none of ``names``
    exists at that commit (e.g. before the platform repo was added). Only regular
    files are extracted; git's ``export-ignore`` attributes apply.
    """
    files = read_files(checkout, commit, names)
    if not files:
        return None
    root = dest.joinpath(*[p for p in checkout.prefix.split("/") if p])
    root.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items()):
        target = root.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def _base_commit(root: Path) -> tuple[Checkout, str] | None:
    """The checkout holding ``root`` and the commit an incremental render compares with: the default
    base, else HEAD; None outside git or before the first commit."""
    try:
        checkout = locate(root)
        base = default_base(checkout)
    except ToolError:
        return None
    commit = base.commit if base is not None else _commit(checkout, "HEAD")
    return (checkout, commit) if commit is not None else None


def tree_changes(root: Path, out: Path) -> set[str] | None:
    """The files below ``out`` that git's index holds otherwise than the git base (the merge base with
    origin/main, else main, else HEAD), relative to ``out``: edits committed since the base, or staged;
    None when git cannot tell (not a checkout, ``out`` outside it, no commit yet): then nothing of the tree
    may be trusted unread.

    One ``git diff --cached`` of git's index against that commit, which looks at no file of the working
    tree: on a checkout (CI's) that is every edit; an edit not yet staged is seen by ``render --full``.
    Looking at each of the tree's files instead (``lstat``, ~90,000 at 5,000 services) cost more than the
    rest of a one-service render (#9).
    """
    found = _base_commit(root)
    if found is None:
        return None
    checkout, commit = found
    try:
        inside = out.resolve().relative_to(checkout.toplevel.resolve()).as_posix()
    except (ValueError, OSError):
        return None
    with _asked_lock:  # the whole repo's changes since the base, asked at start-up (``launch.Asked``)
        asked = _asked.pop(str(checkout.toplevel), None)
    if asked is not None:
        asked.done.wait()
    if asked is not None and asked.changes is not None and asked.changes[0] == commit:
        proc = asked.changes[1]
    else:
        proc = _git(checkout.toplevel, "diff", "--cached", "--no-renames", "--name-only", "-z", commit, "--", inside)
    if proc.returncode != 0:
        return None
    prefix = inside.rstrip("/") + "/"
    names = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    return {n[len(prefix):] for n in names if n.startswith(prefix)}


@dataclass(frozen=True)
class OnDisk:
    """What git's index tells of the files below a folder without any being read or looked at one by one.

    ``ids``: the regular files that are on disk with the bytes git's index holds (neither edited since
    they were staged or committed, nor deleted, nor marked assume-unchanged or skip-worktree), each with its
    blob id, by path relative to the platform repo's root. ``unsure``: the paths git cannot vouch for (edited,
    deleted, untracked, links, conflicts, marked, submodules). Any other path below the folder holds no file,
    but for the paths inside a submodule (``opaque``), which only the disk can tell.
    """

    ids: dict[str, str]
    unsure: frozenset[str]
    #: folders whose files git's index does not list: submodules (gitlinks); below them only the disk can tell
    opaque: frozenset[str] = frozenset()

    def is_file(self, rel: str) -> bool | None:
        """Whether a regular file (or a link to one) is at ``rel``: None when only the disk can tell."""
        if rel in self.ids:
            return True
        if rel in self.unsure:
            return None
        if self.opaque:
            at = rel.rfind("/")
            while at > 0:
                if rel[:at] in self.opaque:
                    return None
                at = rel.rfind("/", 0, at)
        return False


def on_disk(root: Path, folder: str) -> OnDisk | None:
    """What git's index tells of the files below ``folder`` (relative to the platform repo's root ``root``);
    None when git cannot tell (not a checkout, a nested repository below the folder).

    One ``git ls-files -s -v -m -d -o``: each entry of git's index with its id, tagged ``H`` when it is
    tracked and not marked (nothing looked at on disk), and tagged again for each way it is not as the index
    holds it (``C`` edited, ``R`` deleted); ``?`` the untracked files, ignored ones included. The console
    script starts it before the CLI is imported (``launch``). A service's ``config.yaml`` that git vouches
    for is not read, and whether its folder holds the catalog's files is told without a system call per
    file (#9).
    """
    try:
        proc = take(str(root), folder) or ls_files(str(root), folder)
    except OSError:
        return None
    listed, _ = proc.communicate()
    if proc.returncode != 0:
        return None
    # paths relative to root: git runs there (-C)
    staged: dict[str, str] = {}
    unsure: set[str] = set()
    opaque: set[str] = set()
    for entry in listed.decode("utf-8", "surrogateescape").split("\0"):
        if entry.startswith("? "):  # untracked
            if entry.endswith("/"):  # a repository of its own below the folder: git does not look in
                return None
            unsure.add(entry[2:])
            continue
        meta, _, rel = entry.partition("\t")
        if not rel:
            continue
        fields = meta.split()
        # "H": tracked, not marked; regular files only (a link is looked at by the caller); stage 0: no conflict
        if len(fields) == 4 and fields[0] == "H" and fields[1] in ("100644", "100755") and fields[3] == "0":
            staged[rel] = fields[2]
        else:  # marked, a link, a submodule, a conflict, or an edited or deleted file's second entry (C, R)
            unsure.add(rel)
            if len(fields) > 1 and fields[1] == "160000":  # a submodule: its files are not in this index
                opaque.add(rel)
    ids = {rel: i for rel, i in staged.items() if rel not in unsure}
    return OnDisk(ids, frozenset(unsure), frozenset(opaque))


def first_seen(root: Path, folder: str, carries: Callable[[dict[str, bytes]], bool]) -> tuple[int, str] | None:
    """When the files below ``folder`` (of the platform repo) have carried what ``carries`` looks for without
    a break, on the first-parent history of HEAD: (commit time, commit) of the oldest commit of that run;
    None when HEAD's files do not carry it (or there is no git history). For the soak gate (issue 13)."""
    checkout = locate(root)
    log = _git(checkout.toplevel, "log", "--first-parent", "--format=%H %ct", "HEAD", "--",
               checkout.prefix + folder)
    if log.returncode != 0:
        return None
    found: tuple[int, str] | None = None
    for line in _out(log).splitlines():
        commit, _, when = line.partition(" ")
        files = read_files(checkout, commit, (folder,))
        if not files or not carries(files):
            break
        found = (int(when), commit)
    return found
