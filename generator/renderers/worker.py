"""Render one template file for many services in a worker process, under a time and memory budget.

Jinja's sandbox does not bound loops, and the jsonnet C library cannot be
interrupted from Python, so a template that never ends or allocates without bound
could hang the compiler or take the machine's memory. Each template file is
therefore rendered in a forked child process:

- time: the parent reads the child's results with a deadline and kills the child
  when it passes. The child reports each service as soon as it is rendered and
  every report starts a new deadline, so the budget holds per service.
- memory: the child caps its own address space (``RLIMIT_AS``) at its size right
  after the fork plus the budget. A forked child starts with its parent's address
  space, so an absolute cap would depend on how big the parent has grown.

A fork starts at once with the templates and contexts already in memory, so the
cost per template file is milliseconds, not a new interpreter. A renderer that is
faster on many services at once (jsonnet loads its standard library once per run)
first gets all of them in one call under one budget; if that fails or runs out,
the services are rendered one at a time, each with the budget, so that the
failure names its service. Rendering stops at the first service over budget.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import pickle
import resource
import selectors
import signal
import struct
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..model import TemplateBudget
from . import Renderer, TemplateFailure

__all__ = ["Outcome", "render"]

#: The child's exit code after a MemoryError in Python code.
_MEMORY_EXIT = 86
#: The child's exit code after an unexpected exception (a bug; its traceback is on the child's stderr).
_BUG_EXIT = 70
#: What allocators print when an allocation fails under the cap (jsonnet aborts after printing it).
_MEMORY_MARKERS = ("memory allocation", "MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")
_TAIL = 4096
_HEADER = struct.Struct("!Q")
_READ = 1 << 20

Result = list[Any] | TemplateFailure
Stop = Literal["time", "memory", "crash"]


@dataclass(frozen=True)
class Outcome:
    """The results of the first ``len(results)`` contexts, in order.

    If ``stopped`` is set, the context after them exceeded its budget (``time`` or
    ``memory``) or crashed the renderer (``detail`` says how), and the contexts
    after that one were not rendered.
    """

    results: tuple[Result, ...]
    stopped: Stop | None = None
    detail: str = ""


def render(renderer: Renderer, template: str, files: dict[str, str], entry: str,
           contexts: Sequence[dict[str, Any]], budget: TemplateBudget) -> Outcome:
    """Render ``entry`` for every context in a worker; stop at the first context over ``budget``."""
    if not contexts:
        return Outcome(())
    if renderer.batched and len(contexts) > 1:
        outcome, located = _run(renderer, template, files, entry, contexts, budget, batch=True)
        if located:
            return outcome
        # the batch as a whole ran out of budget: again one service at a time, to name the culprit
    return _run(renderer, template, files, entry, contexts, budget, batch=False)[0]


# --- the child -------------------------------------------------------------------------------


def _send(fd: int, frame: tuple[Any, ...]) -> None:
    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _limit_memory(mib: int) -> None:
    """Cap this process's address space at its current size plus ``mib`` MiB."""
    try:
        # procfs is read for this process's own size, not for input; without it (macOS) no cap is set
        with open("/proc/self/statm", "rb") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return
    limit = size + mib * 2**20
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or limit < soft:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _work(send: Callable[[tuple[Any, ...]], None], renderer: Renderer, template: str, files: dict[str, str],
          entry: str, contexts: Sequence[dict[str, Any]], batch: bool) -> None:
    if batch:
        try:
            send(("all", renderer.render_many(template, files, entry, contexts)))
            return
        except TemplateFailure:
            send(("each",))  # locate the failures below
    for ctx in contexts:
        try:
            send(("one", renderer.render(template, files, entry, ctx)))
        except TemplateFailure as exc:
            send(("failed", exc.file, exc.line, exc.message))


def _child(out: int, err: int, run: Callable[[Callable[[tuple[Any, ...]], None]], None], mib: int) -> None:
    """The forked child: never returns, never runs the parent's clean-up (atexit, finally blocks)."""
    code = _BUG_EXIT
    try:
        # a fatal error here (jsonnet aborts when an allocation fails) is reported by the parent
        faulthandler.disable()
        os.dup2(err, 2)
        _limit_memory(mib)
        run(lambda frame: _send(out, frame))
        code = 0
    except MemoryError:
        code = _MEMORY_EXIT
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode(errors="replace")[-_TAIL:])
    finally:
        os._exit(code)


# --- the parent ------------------------------------------------------------------------------


def _fork(run: Callable[[Callable[[tuple[Any, ...]], None]], None], mib: int) -> tuple[int, int, int]:
    """Start the child; return its pid and the read ends of its result and stderr pipes."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    # Objects that exist now are left out of the child's garbage collections: a collection
    # would otherwise touch, and so copy, every page of the parent's heap.
    gc.freeze()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(out_r)
            os.close(err_r)
            _child(out_w, err_w, run, mib)
    finally:
        gc.unfreeze()
        os.close(out_w)
        os.close(err_w)
    return pid, out_r, err_r


def _describe(status: int, err: bytes) -> str:
    if os.WIFSIGNALED(status):
        how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        how = f"exit code {os.waitstatus_to_exitcode(status)}"
    last = err.decode(errors="replace").strip().splitlines()[-1:]
    return how + (f": {last[0]}" if last else "")


def _run(renderer: Renderer, template: str, files: dict[str, str], entry: str,
         contexts: Sequence[dict[str, Any]], budget: TemplateBudget, batch: bool) -> tuple[Outcome, bool]:
    """One worker. The flag says whether a stop is located: true unless a whole batch stopped."""
    pid, out_r, err_r = _fork(lambda send: _work(send, renderer, template, files, entry, contexts, batch),
                              budget.memory_mib)
    results: list[Result] = []
    each = not batch
    buf = bytearray()
    err = bytearray()
    timed_out = False
    status = None
    sel = selectors.DefaultSelector()
    try:
        sel.register(out_r, selectors.EVENT_READ)
        sel.register(err_r, selectors.EVENT_READ)
        deadline = time.monotonic() + budget.seconds
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _events in sel.select(left):
                fd = int(key.fd)
                chunk = os.read(fd, _READ)
                if not chunk:
                    sel.unregister(fd)
                elif fd == err_r:
                    err += chunk
                    del err[:-_TAIL]
                else:
                    buf += chunk
                    while len(buf) >= _HEADER.size and len(buf) >= _HEADER.size + _HEADER.unpack_from(buf)[0]:
                        size = _HEADER.unpack_from(buf)[0]
                        frame = pickle.loads(buf[_HEADER.size:_HEADER.size + size])
                        del buf[:_HEADER.size + size]
                        if frame[0] == "all":
                            results.extend(frame[1])
                        elif frame[0] == "each":
                            each = True
                        elif frame[0] == "one":
                            results.append(frame[1])
                        else:
                            results.append(TemplateFailure(frame[1], frame[2], frame[3]))
                        deadline = time.monotonic() + budget.seconds
        if not timed_out:
            status = os.waitpid(pid, 0)[1]
    finally:
        sel.close()
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(out_r)
        os.close(err_r)

    done = tuple(results)
    if timed_out:
        return Outcome(done, "time"), each
    assert status is not None
    tail = bytes(err)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and len(done) == len(contexts):
        return Outcome(done), True
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _BUG_EXIT:
        raise RuntimeError(f"the template worker for {template}/{entry} failed:\n"
                           + tail.decode(errors="replace"))
    if (os.WIFEXITED(status) and os.WEXITSTATUS(status) == _MEMORY_EXIT) \
            or any(m.encode() in tail for m in _MEMORY_MARKERS):
        return Outcome(done, "memory"), each
    return Outcome(done, "crash", _describe(status, tail)), each
