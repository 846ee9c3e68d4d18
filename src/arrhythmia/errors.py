"""The exceptions that reach the user as a single line (``ArrhythmiaError`` and its kinds), ``one_line``,
which makes any exception such a line, and ``warnings_ignored``, which keeps an expected warning quiet."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# warnings.catch_warnings saves and restores the process's one list of filters (before Python 3.14): two
# threads inside it at once restore each other's "ignore", and every warning of the process stays silent after
_WARNING_FILTERS = threading.RLock()


class ArrhythmiaError(Exception):
    """A problem the user can fix: bad input, missing data, a foreign checkpoint.

    The CLI prints ``error: <message>`` and exits with status 1; the message names the file
    and the problem, so no traceback is needed.
    """


class DataError(ArrhythmiaError):
    """A data source is missing, truncated, or not in the expected format."""


class Interrupted(ArrhythmiaError):
    """Ctrl-C, said in one line that tells how to go on (what was finished is kept); the CLI exits with
    status 130, as a shell does for a process stopped by SIGINT."""


def one_line(exc: BaseException) -> str:
    """An error as one line, to show or to put inside another message: an ``ArrhythmiaError``'s message
    (already written for the user), else ``Type: the first line of its message``."""
    lines = str(exc).strip().splitlines()
    if isinstance(exc, ArrhythmiaError):
        return lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


@contextmanager
def warnings_ignored(category: type[Warning] = Warning, message: str = "") -> Iterator[None]:
    """Inside the block, ignore warnings of ``category`` whose text begins with ``message`` (a regular
    expression; any text by default); the filters are restored after, also when several threads label at
    once (one thread at a time changes them)."""
    with _WARNING_FILTERS, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=message, category=category)
        yield
