"""Render one template file for many services in a worker process, under a time and memory budget.

Jinja's sandbox does not bound loops, and go-jsonnet (a Go runtime) cannot be
interrupted from Python, so a template that never ends or allocates without bound
could hang the compiler or take the machine's memory. Each template file is
therefore rendered in a forked child process:

- time: the child writes the number of the service it is rendering into a page of
  memory shared with the parent; the parent watches it, gives each service the
  budget from the moment it sees it start, and kills the child when that runs out.
- memory: the child caps its own address space (``RLIMIT_AS``) at its size right
  after the fork plus the budget. A forked child starts with its parent's address
  space, so an absolute cap would depend on how big the parent has grown.
  A renderer that runs in the worker only (go-jsonnet and Helm's library, Go
  runtimes: see ``Renderer.in_worker``) is started before the cap.

A fork starts at once with the templates and contexts already in memory, so the
cost per template file is milliseconds, not a new interpreter; results come back
in one message at the end (template errors at once, so none is lost if a later
service runs over). A renderer that is faster on many services at once (one
jsonnet run calls the template for each) first gets all of them in one call under
one budget; if that fails or runs out, the services are rendered one at a time,
each with the budget, so that the failure names its service. Rendering stops at
the first service over budget.

A render of a few services (a pull request's) would wait on the child's first
steps, above all importing the template languages. ``prepare`` forks a spare
worker early instead, which imports them on another core while the parent loads
the platform, then waits for its jobs on a pipe; the first jobs, when they are
few, are sent to it (pickled), under the same budgets (#9).
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import mmap
import os
import pickle
import resource
import selectors
import signal
import struct
import sys
import threading
import time
import traceback  # (imported here: a child under its memory cap may not import it)
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..model import TemplateBudget
from . import HELM, REGISTRY, Files, Renderer, TemplateFailure, entries

__all__ = ["Job", "Outcome", "discard", "prepare", "render"]

#: The child's exit code after a MemoryError in Python code.
_MEMORY_EXIT = 86
#: The child's exit code after an unexpected exception (a bug; its traceback is on the child's stderr).
_BUG_EXIT = 70
#: What allocators print when an allocation fails under the cap (a Go runtime ends after printing it).
_MEMORY_MARKERS = ("memory allocation", "MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")
_TAIL = 4096
_HEADER = struct.Struct("!Q")
_COUNTER = struct.Struct("q")
_READ = 1 << 20
#: How often (seconds) the parent looks at which service the child is rendering.
_POLL = 0.05
#: prctl option: the signal a process gets when its parent ends (Linux).
_PR_SET_PDEATHSIG = 1
#: A spare worker (``prepare``) takes jobs of at most this many contexts (template file and service) in all:
#: more are cheaper to hand to a fork, which inherits them, than to pickle.
SPARE_CONTEXTS = 64
#: Seconds a spare worker has, beyond the template's own budget, to start its first job: it may still be
#: importing the template languages, or compiling a template ahead (see ``prepare``), when the jobs come; a
#: template's time runs from the moment its service's render starts.
SPARE_START_SECONDS = 10.0

Result = list[Any] | TemplateFailure
Stop = Literal["time", "memory", "crash"]


@dataclass(frozen=True)
class Job:
    """One template file to render for many services."""

    renderer: Renderer
    template: str
    files: Files
    entry: str
    contexts: Sequence[dict[str, Any]]

    def batched(self) -> bool:
        return self.renderer.batched and len(self.contexts) > 1


@dataclass(frozen=True)
class Outcome:
    """A job's result for each context rendered, by index.

    If ``stopped`` is set, context ``at`` exceeded its budget (``time`` or
    ``memory``) or crashed the renderer (``detail`` says how); the contexts after
    it were not rendered and those before it have only their failures here.
    """

    results: dict[int, Result]
    stopped: Stop | None = None
    at: int = 0
    detail: str = ""


@dataclass(frozen=True)
class _Stop:
    job: int
    at: int  # -1: in a batch of all the job's contexts
    why: Stop
    detail: str
    results: dict[int, Result]


def render(jobs: Sequence[Job], budget: TemplateBudget) -> list[Outcome]:
    """Render every job in a worker, each context within ``budget``; a job stops at its first context over it.

    Jobs after a stopped one are rendered in a new worker.
    """
    outcomes: list[Outcome] = []
    one_by_one = False
    while len(outcomes) < len(jobs):
        done, stop = _run(jobs, len(outcomes), one_by_one, budget)
        outcomes.extend(done)
        if stop is None:
            continue
        if stop.at < 0 and jobs[stop.job].batched() and not one_by_one:
            one_by_one = True  # the batch as a whole ran out: again one context at a time, to name the culprit
            continue
        one_by_one = False
        outcomes.append(Outcome(stop.results, stop.why, max(stop.at, 0), stop.detail))
    return outcomes


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


def _mark(progress: mmap.mmap, job: int, at: int) -> None:
    _COUNTER.pack_into(progress, 0, (job << 32) + at + 1)


def _work(send: Callable[[tuple[Any, ...]], None], progress: mmap.mmap, jobs: Sequence[Job], start: int,
          one_by_one: bool) -> None:
    for j in range(start, len(jobs)):
        job = jobs[j]
        _mark(progress, j, -1)
        if job.batched() and not (one_by_one and j == start):
            try:
                send(("all", j, job.renderer.render_many(job.template, job.files, job.entry, job.contexts)))
                continue
            except TemplateFailure:
                pass  # locate the failures below
        results: list[list[Any] | None] = []
        for i, ctx in enumerate(job.contexts):
            _mark(progress, j, i)
            try:
                results.append(job.renderer.render(job.template, job.files, job.entry, ctx))
            except TemplateFailure as exc:
                send(("failed", j, i, exc.file, exc.line, exc.message, exc.column, exc.hint))
                results.append(None)
        send(("each", j, results))


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` ends, so a runaway template cannot outlive it."""
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before that took effect
        os._exit(_BUG_EXIT)


@dataclass
class _Spare:
    """A worker forked ahead of its jobs (``prepare``)."""

    pid: int
    parent: int  # the process that forked it: only that one may send it jobs
    jobs: int  # the write end of the pipe it reads its jobs from
    out: int
    err: int
    progress: mmap.mmap


_spare: _Spare | None = None
#: The renderers a spare worker knows by name (a job is sent to it with its renderer's name).
_KNOWN = (*REGISTRY, HELM)
#: How many spare workers took jobs (for tests).
spares_used = 0


def prepare(warm: Sequence[Files] = ()) -> None:
    """Fork a spare worker now, which imports the template languages while this process goes on, and waits
    for its jobs (``render`` sends it the first few). Meanwhile it compiles the templates' files ``warm``
    where their language can, until its jobs come: a template is then compiled once its first job needs it
    at the latest. Call it while this process runs no other thread (a fork keeps only the calling one);
    nothing when there is one already, or no fork."""
    global _spare
    # a child dies with the thread that forked it (PR_SET_PDEATHSIG): only the main thread keeps one waiting
    if _spare is not None or not hasattr(os, "fork") or threading.current_thread() is not threading.main_thread():
        return
    jobs_r, jobs_w = os.pipe()
    progress = mmap.mmap(-1, _COUNTER.size)
    _COUNTER.pack_into(progress, 0, -1)  # nothing started: the child's first mark starts the first budget
    try:
        pid, out_r, err_r = _fork(lambda send: _spare_work(jobs_r, jobs_w, send, progress, warm), 0,
                                  _spare_start)
    except OSError:
        os.close(jobs_r)
        os.close(jobs_w)
        progress.close()
        return
    os.close(jobs_r)
    _spare = _Spare(pid, os.getpid(), jobs_w, out_r, err_r, progress)


def discard() -> None:
    """Stop the spare worker, if one is waiting still."""
    global _spare
    spare, _spare = _spare, None
    if spare is None or spare.parent != os.getpid():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(spare.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(spare.pid, 0)
    for fd in (spare.jobs, spare.out, spare.err):
        os.close(fd)
    spare.progress.close()


@contextlib.contextmanager
def session(spare: bool, settle: Callable[[], None] | None, warm: Sequence[Files] = ()) -> Iterator[None]:
    """The renders of this block: with ``spare``, a spare worker is forked first, which compiles the
    templates' files ``warm`` while it waits (``prepare``); ``settle()`` runs before any fork
    (``before_fork``); an unused spare is stopped at the end."""
    global before_fork
    if spare:
        prepare(warm)
    before_fork = settle
    try:
        yield
    finally:
        before_fork = None
        discard()


def _spare_start() -> None:
    for renderer in REGISTRY:
        if renderer.module and not renderer.in_worker:
            renderer.load()


def _spare_work(jobs_r: int, jobs_w: int, send: Callable[[tuple[Any, ...]], None], progress: mmap.mmap,
                warm: Sequence[Files]) -> None:
    """The spare's work once its languages are imported: compile the templates ``warm`` until its jobs come,
    read them, cap its memory, render them."""
    os.close(jobs_w)  # (the parent's end: with it open here, the jobs would never end)
    _warm_up(jobs_r, warm)
    data = bytearray()
    while chunk := os.read(jobs_r, _READ):
        data += chunk
    if not data:
        return  # not needed after all
    specs, start, one_by_one, mib = pickle.loads(data)
    by_name = {r.name: r for r in _KNOWN}
    jobs = [Job(by_name[name], template, files, entry, contexts) for name, template, files, entry, contexts in specs]
    for renderer in {r.name: r for r in (j.renderer for j in jobs[start:]) if r.in_worker}.values():
        renderer.start()  # as a forked worker does: before the cap
    _limit_memory(mib)
    _work(send, progress, jobs, start, one_by_one)


def _warm_up(jobs_r: int, warm: Sequence[Files]) -> None:
    """Compile the templates' files ``warm``, in that order, until the jobs come (their pipe has something to
    read, or is closed)."""
    poll = selectors.DefaultSelector()
    poll.register(jobs_r, selectors.EVENT_READ)
    try:
        def come() -> bool:
            return bool(poll.select(0))

        for files in warm:
            for renderer in {id(r): r for _entry, r in entries(files)}.values():
                if come():
                    return
                renderer.warm(files, come)
    except Exception:  # a head start only: the jobs are rendered all the same
        pass
    finally:
        poll.close()


def _take_spare(jobs: Sequence[Job], start: int, one_by_one: bool, budget: TemplateBudget) -> _Spare | None:
    """The spare worker, sent these jobs (from ``start``): None when there is none of this process, or the jobs
    are not for it (too many services, a renderer it does not know); the spare is then stopped."""
    global _spare, spares_used
    spare = _spare
    if spare is None or spare.parent != os.getpid():
        return None
    rest = jobs[start:]
    if sum(len(j.contexts) for j in rest) > SPARE_CONTEXTS or any(j.renderer not in _KNOWN for j in rest):
        discard()
        return None
    try:
        specs = [(j.renderer.name, j.template, j.files, j.entry, j.contexts) for j in jobs]
        data = memoryview(pickle.dumps((specs, start, one_by_one, budget.memory_mib), pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        discard()
        return None
    _spare = None
    spares_used += 1
    try:
        while data:
            data = data[os.write(spare.jobs, data):]
    except OSError:  # it ended (killed from outside): it is waited for below, and its end told as a crash
        pass
    os.close(spare.jobs)
    return spare


def _child(parent: int, out: int, err: int, run: Callable[[Callable[[tuple[Any, ...]], None]], None],
           mib: int, start: Callable[[], None]) -> None:
    """The forked child: never returns, never runs the parent's clean-up (atexit, finally blocks)."""
    code = _BUG_EXIT
    try:
        # Ctrl-C reaches the parent, which stops the child; the child itself carries on till then
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _die_with(parent)
        # a fatal error here (a Go runtime ends when an allocation fails) is reported by the parent
        faulthandler.disable()
        os.dup2(err, 2)
        start()  # implementations that run in the worker only, before the cap (see Renderer.in_worker)
        if mib > 0:  # (a spare worker caps itself when its jobs come)
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


#: Called before each fork (``build.compile_tree`` sets it): it waits for the caller's other threads, so that
#: a child starts with no lock held by a thread it does not have.
before_fork: Callable[[], None] | None = None


def _fork(run: Callable[[Callable[[tuple[Any, ...]], None]], None], mib: int,
          start: Callable[[], None] = lambda: None) -> tuple[int, int, int]:
    """Start the child; return its pid and the read ends of its result and stderr pipes."""
    if before_fork is not None:
        before_fork()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    # Objects that exist now are left out of the child's garbage collections: a collection
    # would otherwise touch, and so copy, every page of the parent's heap.
    parent = os.getpid()
    gc.freeze()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(out_r)
            os.close(err_r)
            _child(parent, out_w, err_w, run, mib, start)
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


def _run(jobs: Sequence[Job], start: int, one_by_one: bool, budget: TemplateBudget
         ) -> tuple[list[Outcome], _Stop | None]:
    """One worker, from job ``start``: the outcomes of the jobs it completed, and where it stopped."""
    spare = _take_spare(jobs, start, one_by_one, budget)
    with spare.progress if spare is not None else mmap.mmap(-1, _COUNTER.size) as progress:
        if spare is not None:
            pid, out_r, err_r = spare.pid, spare.out, spare.err
        else:
            _mark(progress, start, -1)
            for renderer in {id(job.renderer): job.renderer for job in jobs[start:]}.values():
                renderer.load()  # before the fork: not charged to the templates' time
            in_worker = {id(job.renderer): job.renderer for job in jobs[start:] if job.renderer.in_worker}

            def start_renderers() -> None:
                for renderer in in_worker.values():
                    renderer.start()

            pid, out_r, err_r = _fork(lambda send: _work(send, progress, jobs, start, one_by_one),
                                      budget.memory_mib, start_renderers)
        results: dict[int, dict[int, Result]] = {}
        done: list[Outcome] = []
        buf = bytearray()
        err = bytearray()
        head = bytearray()  # a Go runtime says it ran out of memory first, then dumps its goroutines
        timed_out = False
        status = None
        sel = selectors.DefaultSelector()
        try:
            sel.register(out_r, selectors.EVENT_READ)
            sel.register(err_r, selectors.EVENT_READ)
            current = -1
            deadline = time.monotonic() + budget.seconds + (SPARE_START_SECONDS if spare is not None else 0.0)
            while sel.get_map():
                now = time.monotonic()
                started = _COUNTER.unpack_from(progress)[0]
                if started != current:
                    current, deadline = started, now + budget.seconds
                if now >= deadline:
                    timed_out = True
                    break
                for key, _events in sel.select(min(deadline - now, _POLL)):
                    fd = int(key.fd)
                    chunk = os.read(fd, _READ)
                    if not chunk:
                        sel.unregister(fd)
                    elif fd == err_r:
                        head += chunk[:_TAIL - len(head)]
                        err += chunk
                        del err[:-_TAIL]
                    else:
                        buf += chunk
                        _receive(buf, results, done)
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
        mark = _COUNTER.unpack_from(progress)[0]

    if mark < 0:  # a spare that ended before it started its first job
        mark = start << 32
    job, at = mark >> 32, (mark & 0xFFFFFFFF) - 1
    if job < start + len(done):  # stopped after sending a job's results, before starting the next
        job, at = start + len(done), -1
    partial = results.get(job, {})
    if timed_out:
        return done, _Stop(job, at, "time", "", partial)
    assert status is not None
    tail = bytes(err)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and start + len(done) == len(jobs):
        return done, None
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _BUG_EXIT:
        raise RuntimeError(f"the template worker for {jobs[job].template}/{jobs[job].entry} failed:\n"
                           + tail.decode(errors="replace"))
    if (os.WIFEXITED(status) and os.WEXITSTATUS(status) == _MEMORY_EXIT) \
            or any(m.encode() in tail or m.encode() in head for m in _MEMORY_MARKERS):
        return done, _Stop(job, at, "memory", "", partial)
    return done, _Stop(job, at, "crash", _describe(status, tail), partial)


def _receive(buf: bytearray, results: dict[int, dict[int, Result]], done: list[Outcome]) -> None:
    """Take the complete messages off the front of ``buf``; a job's last one completes its outcome."""
    while len(buf) >= _HEADER.size and len(buf) >= _HEADER.size + _HEADER.unpack_from(buf)[0]:
        size = _HEADER.unpack_from(buf)[0]
        frame = pickle.loads(buf[_HEADER.size:_HEADER.size + size])
        del buf[:_HEADER.size + size]
        mine = results.setdefault(frame[1], {})
        if frame[0] == "failed":
            mine[frame[2]] = TemplateFailure(*frame[3:])
            continue
        if frame[0] == "all":
            mine.update(enumerate(frame[2]))
        else:
            mine.update((i, r) for i, r in enumerate(frame[2]) if r is not None)
        done.append(Outcome(dict(sorted(mine.items()))))
