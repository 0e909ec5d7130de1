"""Errors as data.

Every problem found in the user's input is a :class:`Problem` (file, line, column,
key path, message, hint). Stages collect problems and raise one :class:`InputError`
carrying all of them; ``report`` formats them and ``cli`` maps them to exit codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "InputError",
    "InternalError",
    "OutputError",
    "PlatformGenError",
    "Problem",
    "ToolError",
    "format_path",
]


def format_path(path: Iterable[str | int]) -> str:
    """Render a key path the way users write it: ``a.b[0].c``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can."""

    file: str
    line: int = 0
    column: int = 0
    path: str = ""
    message: str = ""
    hint: str = field(default="", compare=False)

    def location(self) -> str:
        """``file:line:col`` (1-based), omitting parts that are unknown."""
        loc = self.file
        if self.line:
            loc += f":{self.line}"
            if self.column:
                loc += f":{self.column}"
        return loc

    def __str__(self) -> str:
        text = self.location() + ": "
        if self.path:
            text += self.path + ": "
        text += self.message
        return text


class PlatformGenError(Exception):
    """Base class of every error platform-gen reports to its user."""


class InputError(PlatformGenError):
    """The platform repo is invalid; carries every problem found, sorted."""

    def __init__(self, problems: Iterable[Problem], stage: str = "") -> None:
        self.problems = sorted(set(problems))
        # where they were found, when a caller needs to know ("values": merging a service's layers)
        self.stage = stage
        super().__init__(f"{len(self.problems)} problem(s) in the input")


class OutputError(PlatformGenError):
    """The output folder cannot be written safely (not ours, outside the root, ...)."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)


class ToolError(PlatformGenError):
    """An external tool (kustomize, git) is missing or failed."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)


class InternalError(PlatformGenError):
    """A bug in platform-gen itself, kept apart from input errors (exit 3)."""
