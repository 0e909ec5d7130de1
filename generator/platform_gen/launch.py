"""The console script's entry point: asks git for what a render needs first, then imports the CLI.

A render at thousands of services waits on a ``git ls-files`` of the services' folder (see
``gitref.on_disk``), and on what the git base is. Those only need the platform repo's root, so they are
started here, before the command's modules are imported, and run while Python imports them (#9). This
module imports nothing of platform-gen's at its top: starting git must not wait for the imports it is
meant to overlap.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

__all__ = ["BASES", "Asked", "entry", "generator_digest", "git_env", "leave", "ls_files", "started", "take",
           "take_base"]

#: The commands that read the services' folder through git's index (``compile_tree``).
_COMMANDS = ("render", "validate")
#: The folder they ask about; equal to ``load.SERVICES_DIR`` (a test keeps them equal).
SERVICES = "platform-config/services"
#: The refs whose merge base with HEAD a render compares with, the first that exists (``gitref.default_base``).
BASES = ("origin/main", "main")

_started: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
#: what was asked of git at start-up, by repo root (see ``Asked``)
_bases: dict[str, Asked] = {}


def git_env() -> dict[str, str]:
    """git's environment: no optional locks (nothing here may write to .git, not even an index refresh),
    no prompt."""
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}


def ls_files(root: str, folder: str) -> subprocess.Popen[bytes]:
    """Start the listing ``gitref.on_disk`` reads: in one ``git ls-files``, the index's entries below
    ``folder`` with their ids, and the files there that are not as the index holds them, each tagged
    (``-v``); paths relative to ``root``. One process: each git command reads all of git's index (15 MB at
    5,000 services with the tree committed). OSError when git cannot be started."""
    return subprocess.Popen(["git", "-C", root, "ls-files", "-z", "-s", "-v", "-m", "-d", "-o", "--", folder],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=git_env())


def _root_of(argv: Sequence[str]) -> str | None:
    """The ``--root`` of a render or validate command line (``.`` without one); None for any other command,
    or a line this does not read for certain (click reads it, and refuses what is wrong)."""
    if not argv or argv[0] not in _COMMANDS or any(a in ("-h", "--help", "--full") or a.startswith("--shard")
                                                   for a in argv):
        return None  # a shard, or --full, renders every service: the listing is not used
    root = "."
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            return None
        if arg == "--root":
            if not rest:
                return None
            root = rest.pop(0)
        elif arg.startswith("--root="):
            root = arg[len("--root="):]
    return root if root else None


def start(argv: Sequence[str]) -> None:
    """Start the listing a command of ``argv`` will read; nothing when it will read none, or git cannot
    start (the command then says so itself)."""
    root = _root_of(argv)
    if root is None or not os.path.isdir(os.path.join(root, SERVICES)):
        return
    try:
        _started[(os.path.realpath(root), SERVICES)] = ls_files(root, SERVICES)
        _bases[os.path.realpath(root)] = Asked(root, changes=argv[0] == "render")
    except OSError:
        return


class Asked:
    """What a render asks git first of the checkout at a root, asked before the CLI loads: where the root sits
    in its checkout (rev-parse) and HEAD's merge base with each ref of BASES (``answers``, in that order,
    once ``ready`` is set); then the files git's index holds otherwise than the first of those merge bases
    (``changes``: that commit and the whole repo's ``git diff --cached --name-only -z``, once ``done`` is set;
    None when there is no such base, or they were not to be asked: ``validate`` does not read them). A thread
    waits for the answers and asks for the changes."""

    def __init__(self, root: str, changes: bool = True) -> None:
        self.root = root
        self.answers: list[subprocess.CompletedProcess[bytes]] = []
        self.changes: tuple[str, subprocess.CompletedProcess[bytes]] | None = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stopped = False
        self._changes = changes
        self._thread = threading.Thread(target=self._wait, name="git-base", daemon=True)
        try:
            self._procs.append(self._git("rev-parse", "--show-toplevel", "--show-prefix"))
            for ref in BASES:
                self._procs.append(self._git("merge-base", "HEAD", ref))
        except OSError:
            self.stop()
            raise
        self._thread.start()

    def _git(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["git", "-C", self.root, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=git_env())

    def _wait(self) -> None:
        try:
            answers = [_completed(proc) for proc in self._procs]
            if not self._stopped:
                self.answers = answers
            self.ready.set()
            commit = None
            # git merge-base: 0 a base, 1 none (no render trusts the tree), 128 no such ref. This guesses
            # gitref.default_base's choice without its rev-parse on 128; tree_changes takes these changes only
            # when they are of the commit that it chose
            for found in answers[1:]:
                if found.returncode != 128:
                    words = found.stdout.decode().split()
                    commit = words[0] if found.returncode == 0 and words else None
                    break
            if commit is not None and self._changes and not self._stopped:
                proc = self._git("diff", "--cached", "--no-renames", "--name-only", "-z", commit)
                self._procs.append(proc)
                changes = _completed(proc)
                if not self._stopped:
                    self.changes = (commit, changes)
        except (OSError, ValueError, IndexError):
            pass
        finally:
            self.ready.set()
            self.done.set()

    def stop(self) -> None:
        """Stop what is still running; nothing is answered after."""
        self._stopped = True
        for proc in list(self._procs):
            if proc.poll() is None:
                proc.kill()
        if self._thread.is_alive():
            self._thread.join()
        for proc in self._procs:  # (none started, when git could not be)
            if proc.returncode is None:
                proc.communicate()
        self.ready.set()
        self.done.set()


def _completed(proc: subprocess.Popen[bytes]) -> subprocess.CompletedProcess[bytes]:
    out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def take_base(root: str) -> Asked | None:
    """What was asked of the repo at ``root`` at start-up, once; None when nothing was."""
    if not _bases:
        return None
    return _bases.pop(os.path.realpath(root), None)


def take(root: str, folder: str) -> subprocess.Popen[bytes] | None:
    """The listing started for ``folder`` of the repo at ``root``, once; None when none were."""
    if not _started:
        return None
    return _started.pop((os.path.realpath(root), folder), None)


def started() -> int:
    """How many listings (and questions to git) are started and not taken (for tests)."""
    return len(_started) + len(_bases)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def discard() -> None:
    """Stop the listings (and questions to git) no command took."""
    while _started:
        _key, proc = _started.popitem()
        _stop(proc)
    while _bases:
        _root, asked = _bases.popitem()
        asked.stop()


#: The files of the package that make the generator: its code and data (see ``generator_digest``).
_GENERATOR_FILES = (".py", ".lua", ".yaml", ".json", ".libsonnet", ".jsonnet")
_generator: list[str] = []
_generator_lock = threading.Lock()


def generator_digest() -> str:
    """The digest of platform-gen's own code and data (``index.digest`` of each file's path and bytes, in
    name order): a new generator renders everything again. Computed once; the console script starts it in a
    thread before the CLI's imports, which it overlaps (reading files and hashing them let Python run on)."""
    with _generator_lock:
        if not _generator:
            check = hashlib.blake2b(digest_size=16)

            def part(data: bytes) -> None:
                check.update(len(data).to_bytes(8, "little"))
                check.update(data)

            def walk(folder: str, rel: str) -> None:
                with os.scandir(folder) as listing:
                    found = sorted(listing, key=lambda e: e.name)
                for child in found:
                    name = f"{rel}{child.name}"
                    if child.is_dir():
                        # the starter platform of 'platform-gen init' renders nothing
                        if child.name != "__pycache__" and name != "data/starter":
                            walk(child.path, name + "/")
                    elif child.name.endswith(_GENERATOR_FILES):
                        part(name.encode())
                        with open(child.path, "rb") as f:
                            part(f.read())

            walk(os.path.dirname(os.path.abspath(__file__)), "")
            _generator.append(check.hexdigest())
        return _generator[0]


def entry() -> None:
    """Console-script entry point.

    The cyclic garbage collector is off while the CLI's modules are imported: what they make lives as long as
    the process, yet each collection during the imports walks it all (a tenth of their time). Once they are
    in, those objects are frozen out of every later collection (``gc.freeze``), which also spares a forked
    worker the copies of memory that a collection's walk would cause, and the collector is on again. The
    process ends without the interpreter's teardown (``leave``)."""
    gc.disable()
    try:
        try:
            start(sys.argv[1:])
            threading.Thread(target=generator_digest, name="generator-digest", daemon=True).start()
            from .cli import main
        finally:
            gc.freeze()
            gc.enable()
        code = main()
    finally:
        discard()
    leave(code)


def leave(code: int) -> None:
    """End the process with ``code`` as Python would, less the interpreter's teardown: what a command built
    (the parsed index, every module) is not freed object by object, which took 10-20 ms of a render at 5,000
    services (#9). Threads that are not daemons are waited for, ``atexit`` functions run and the standard
    streams are flushed first, as the interpreter's own exit does them (its private ``threading._shutdown`` and
    ``atexit._run_exitfuncs``). A stream the process started without (None) or closed is skipped, as Python
    skips it; when one cannot be flushed (a closed pipe), Python's exit reports it. An interrupt while the
    threads are waited for is ignored, as Python's exit ignores it: the code stays the command's."""
    shutdown = getattr(threading, "_shutdown", None)
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or run_exitfuncs is None or threading.current_thread() is not threading.main_thread():
        sys.exit(code)  # pragma: no cover - CPython has both, and the console script runs in the main thread
    with contextlib.suppress(KeyboardInterrupt):
        shutdown()
    run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and not stream.closed:
                stream.flush()
    except Exception:  # a closed pipe, a full disk: Python's exit reports it, and fails the command
        sys.exit(code)
    os._exit(code)
