"""Bounds on what platform-gen reads, so that hostile input ends in a clear error.

Every input file is read by ``load`` and parsed by ``yamlio``; both refuse what
exceeds these limits with a located :class:`~generator.errors.Problem` (documented
in the README, section "Input limits"). The bounds of a sharded render are here too, so that the CLI
states them without importing the sharding code.
"""

from __future__ import annotations

import re

__all__ = [
    "CONTROL_CHARS",
    "MAX_DEPTH",
    "MAX_DESCRIPTION",
    "MAX_FILE_BYTES",
    "MAX_LABEL_VALUE",
    "MAX_PROBLEMS_PER_FILE",
    "MAX_PROMQL_CHARS",
    "MAX_PROMQL_DEPTH",
    "MAX_PROMQL_OPERATORS",
    "MAX_SHARDS",
    "MAX_STRING",
    "PER_SHARD",
    "control_char",
    "human_bytes",
]

#: Largest input file (YAML, template or overlay file), in bytes.
MAX_FILE_BYTES = 1 << 20
#: Deepest nesting of mappings and lists in a YAML file.
MAX_DEPTH = 64
#: Longest string (key or value) in a YAML file, in characters.
MAX_STRING = 64 << 10
#: Longest description (a service's or a team's); it becomes an annotation or an
#: AppProject description, and the API server caps all annotations of an object at 256 KiB.
MAX_DESCRIPTION = 1024
#: Longest Kubernetes label value (names that become labels are DNS labels within this).
MAX_LABEL_VALUE = 63
#: Problems of one kind reported per file before the rest are summarised.
MAX_PROBLEMS_PER_FILE = 10

#: Bounds on a PrometheusRule ``expr`` that validate parses: the parser's time grows faster than the
#: expression (seconds at a few thousand operators) and it crashes the process on some thousands of
#: nesting levels. Real rules stay far below these.
MAX_PROMQL_CHARS = 16 << 10
MAX_PROMQL_DEPTH = 64
MAX_PROMQL_OPERATORS = 500

#: The most shards of a sharded render (``shard.py``): GitHub Actions runs at most 256 jobs of one matrix.
MAX_SHARDS = 256
#: Changed services per shard that ``shard.plan_shards`` aims at.
PER_SHARD = 50

#: C0 controls other than tab and newline, DEL, C1 controls (NEL included) and the
#: Unicode line and paragraph separators: never legitimate in a value.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def control_char(text: str) -> str | None:
    """A description of the first forbidden control character in ``text``, if any."""
    found = CONTROL_CHARS.search(text)
    if found is None:
        return None
    return f"control character U+{ord(found.group()):04X} at character {found.start() + 1}"


def undecodable(data: bytes) -> tuple[int, int, str] | None:
    """Line, column and message of the first byte that is not UTF-8, or None when all of it is."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        return line, column, f"not valid UTF-8: byte 0x{data[exc.start]:02X} cannot be decoded"
    return None


def human_bytes(n: int) -> str:
    """``1 MiB``, ``64 KiB`` or ``N bytes``."""
    if n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"
