"""One call run in a thread while the caller goes on: what a render asks git while it reads the index.

``concurrent.futures`` would do it, but importing it loads ``logging`` and its executors: some
milliseconds of every render's start-up, for two calls (#9).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Background"]

T = TypeVar("T")


class Background(Generic[T]):
    """``call()`` running in a thread of its own, started at once. ``result()`` waits for it and gives what it
    returned, or raises what it raised. The thread is not a daemon: the process waits for it at exit, as it
    would for an executor's."""

    def __init__(self, call: Callable[[], T], name: str = "background") -> None:
        self._call = call
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # given to whoever asks for the result
            self._error = exc

    def wait(self) -> None:
        """Wait for the call to end (what it raised is kept for ``result``)."""
        self._thread.join()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
