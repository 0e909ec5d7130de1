"""The console script's entry point: asks git for what a render needs first, then imports the CLI.

A render at thousands of services waits on two ``git ls-files`` of the services' folder (see
``gitref.on_disk``). They only need the platform repo's root, so they are started here, before the
command's modules are imported, and run while Python imports them (#9). This module imports nothing of
platform-gen's at its top: starting git must not wait for the imports it is meant to overlap.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

__all__ = ["entry", "generator_digest", "git_env", "ls_files", "started", "take"]

#: The commands that read the services' folder through git's index (``compile_tree``).
_COMMANDS = ("render", "validate")
#: The folder they ask about; equal to ``load.SERVICES_DIR`` (a test keeps them equal).
SERVICES = "platform-config/services"

_started: dict[tuple[str, str], tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]] = {}


def git_env() -> dict[str, str]:
    """git's environment: no optional locks (nothing here may write to .git, not even an index refresh),
    no prompt."""
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}


def ls_files(root: str, folder: str) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Start the two listings ``gitref.on_disk`` reads: the index's entries below ``folder`` with their ids,
    and the files there that are not as the index holds them; paths relative to ``root``. OSError when git
    cannot be started."""
    argv = ["git", "-C", root, "ls-files", "-z"]
    env = git_env()
    staged = subprocess.Popen([*argv, "-s", "-v", "--", folder], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env)
    try:
        other = subprocess.Popen([*argv, "-m", "-d", "-o", "--", folder], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=env)
    except OSError:
        _stop(staged)
        raise
    return staged, other


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
    """Start the listings a command of ``argv`` will read; nothing when it will read none, or git cannot
    start (the command then says so itself)."""
    root = _root_of(argv)
    if root is None or not os.path.isdir(os.path.join(root, SERVICES)):
        return
    try:
        _started[(os.path.realpath(root), SERVICES)] = ls_files(root, SERVICES)
    except OSError:
        return


def take(root: str, folder: str) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]] | None:
    """The listings started for ``folder`` of the repo at ``root``, once; None when none were."""
    if not _started:
        return None
    return _started.pop((os.path.realpath(root), folder), None)


def started() -> int:
    """How many listings are started and not taken (for tests)."""
    return len(_started)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def discard() -> None:
    """Stop the listings no command took."""
    while _started:
        _key, procs = _started.popitem()
        for proc in procs:
            _stop(proc)


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
    """Console-script entry point."""
    start(sys.argv[1:])
    threading.Thread(target=generator_digest, name="generator-digest", daemon=True).start()
    try:
        from .cli import main

        code = main()
    finally:
        discard()
    sys.exit(code)
