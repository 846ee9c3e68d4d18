"""The wall-clock time a recording started at, as its file gives it, and the times of day that follow from it.

A Holter report reads in times of day (the hour from 14:00 to 15:00, an AF onset at 14:32:05), so a
recording keeps the start its file names: a WFDB header's base time (and date, where it gives one), an EDF
header's start date and time, a CSV's first ISO 8601 time stamp. A ``Start`` is a ``datetime`` (date and
time), a ``time`` (a time of day whose date the file does not give) or None (no start known: times stay
times from the start of the recording). Times are the file's own local times; a time zone is dropped.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

Start = datetime | time | None


def seconds_past_hour(start: Start) -> float:
    """Seconds from the last whole clock hour to ``start`` (0 for None): where the clock's hours cut a
    recording."""
    if start is None:
        return 0.0
    return start.minute * 60.0 + start.second + start.microsecond / 1e6


#: Seconds in a day: a recording longer than this repeats its times of day (a 7- or 14-day patch recording).
DAY_S = 86400.0


def seconds_past_midnight(start: Start) -> float:
    """Seconds from the last midnight to ``start`` (0 for None): where the calendar's days cut a recording."""
    return 0.0 if start is None else start.hour * 3600.0 + seconds_past_hour(start)


def day_of(start: Start, offset_s: float) -> int:
    """The day of the recording, from 1, that ``offset_s`` seconds after ``start`` fall on: by the calendar
    where ``start`` is known (a recording started at 22:00 is on day 2 at 01:00), else each 24 hours from
    the start."""
    return int((seconds_past_midnight(start) + offset_s) // DAY_S) + 1


def time_of_day(start: Start, offset_s: float, with_seconds: bool = True) -> str:
    """The clock time ``offset_s`` seconds after ``start``: ``14:32:05`` (``14:32`` without seconds), the
    hour wrapping past midnight; "" for a None start."""
    if start is None:
        return ""
    moment = _as_datetime(start) + timedelta(seconds=round(offset_s) if with_seconds else offset_s)
    return moment.strftime("%H:%M:%S" if with_seconds else "%H:%M")


def clock_at(start: Start, offset_s: float) -> str:
    """The wall-clock moment ``offset_s`` seconds after ``start``, to the second: ``2026-11-28 14:32:05``
    (``14:32:05`` where the date is not known); "" for a None start."""
    if start is None:
        return ""
    moment = _as_datetime(start) + timedelta(seconds=round(offset_s))
    return moment.strftime("%Y-%m-%d %H:%M:%S" if isinstance(start, datetime) else "%H:%M:%S")


def start_text(start: Start) -> str | None:
    """``start`` as ISO 8601 text (``2026-11-28T10:00:00``, or ``10:00:00`` for a time of day alone;
    fractions of a second kept), for ``summary.json``; None for None."""
    return None if start is None else start.isoformat()


def parse_start(text: str | None) -> Start:
    """The ``Start`` that ``start_text`` wrote (None for None or "")."""
    if not text:
        return None
    return time.fromisoformat(text) if ":" in text[:3] else datetime.fromisoformat(text)


def given_start(text: str) -> datetime | time:
    """The start a user gives a recording whose file names none (``--started-at``): ISO 8601, a date and time
    (``2026-11-28T08:15:00``, ``2026-11-28 08:15``) or a time of day alone (``08:15:00``). ValueError, in words,
    for anything else."""
    try:
        start = parse_start(text.strip())
    except ValueError:
        start = None
    if start is None:
        raise ValueError(f"{text!r} is no start time (give 2026-11-28T08:15:00, or 08:15:00 for a time of day)")
    return start


def _as_datetime(start: datetime | time) -> datetime:
    return start if isinstance(start, datetime) else datetime.combine(date(2000, 1, 1), start)
