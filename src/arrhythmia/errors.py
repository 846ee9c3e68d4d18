"""The one exception type that reaches the user as a single line."""


class ArrhythmiaError(Exception):
    """A problem the user can fix: bad input, missing data, a foreign checkpoint.

    The CLI prints ``error: <message>`` and exits with status 1; the message names the file
    and the problem, so no traceback is needed.
    """


class DataError(ArrhythmiaError):
    """A data source is missing, truncated, or not in the expected format."""
