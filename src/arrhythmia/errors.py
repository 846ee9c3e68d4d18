"""The exceptions that reach the user as a single line (``ArrhythmiaError`` and its kinds), and ``one_line``,
which makes any exception such a line."""


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
