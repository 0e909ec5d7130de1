"""A CronJob's ``schedule`` and ``timeZone``, checked as Kubernetes takes them.

Kubernetes parses a schedule with the standard cron parser (five fields: minute, hour, day of month, month,
day of week; names such as MON or JAN; ``*``, ``?``, lists, ranges and steps) or takes a macro (``@hourly``
and the like). The fields are parsed by ``cronsim`` (which also knows extensions Kubernetes refuses: ``L``,
``W``, ``#`` and a sixth field, refused here first). ``TZ=`` or ``CRON_TZ=`` in a schedule is refused by
Kubernetes: the zone is ``timeZone``, an IANA name from the time zone database (``zoneinfo``, with the
``tzdata`` package where the system has none).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

__all__ = ["HINT", "MACROS", "schedule_problem", "time_zone_problem", "time_zones"]

#: The macros Kubernetes documents for a CronJob's schedule.
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_MONTHS = frozenset(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
_DAYS = frozenset(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
_NAMES = {3: _MONTHS, 4: _DAYS}
_CHARS = re.compile(r"[0-9A-Za-z*?,/-]+\Z")
_WORD = re.compile(r"[A-Za-z]+")

#: What a valid schedule looks like: the hint of every schedule problem.
HINT = ("five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC) and day of week "
        "(0-6 or SUN-SAT), such as \"30 2 * * MON-FRI\"; or a macro: " + ", ".join(MACROS))


def schedule_problem(text: str) -> str | None:
    """Why ``text`` is not a schedule Kubernetes takes (None when it is one)."""
    from cronsim import CronSim, CronSimError

    if text.startswith("@"):
        return None if text in MACROS else f"unknown macro '{text.split()[0]}'"
    if re.match(r"(CRON_)?TZ=", text):
        return "a time zone in the schedule is refused by Kubernetes: set timeZone instead"
    fields = text.split()
    if len(fields) != len(_FIELDS):
        return f"{len(fields)} field{'' if len(fields) == 1 else 's'}, not 5"
    for i, field in enumerate(fields):
        names = _NAMES.get(i, frozenset())
        words = _WORD.findall(field)
        if not _CHARS.match(field) or any(w.upper() not in names for w in words):
            return f"the {_FIELDS[i]} field '{field}' is not valid"
    try:
        # '?' is '*' to Kubernetes' parser (cronsim takes it only as the day of month or week)
        CronSim(" ".join(f.replace("?", "*") for f in fields), datetime(2000, 1, 1))
    except CronSimError as exc:
        word = str(exc).removeprefix("Bad ").strip()
        bad = next((fields[i] for i, name in enumerate(_FIELDS) if name == word), "")
        return f"the {word} field '{bad}' is not valid" if bad else str(exc)
    return None


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """The names of the IANA time zone database."""
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def time_zone_problem(name: str) -> str | None:
    """Why ``name`` is not a time zone of the IANA database (None when it is one)."""
    if name in time_zones():
        return None
    return f"unknown time zone '{name}'"
