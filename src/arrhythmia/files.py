"""Writing files so that a kill never leaves half of one: a temporary file in the same folder, then a rename.

The one place for atomic writes and the JSON files every layer keeps (run files, store manifests, shipped
model cards), and for the text cells of CSV files that a spreadsheet must not run (``spreadsheet_text``); it
imports nothing of the package but its errors, so any module may use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from arrhythmia.errors import ArrhythmiaError


def atomic_write_bytes(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename. A file-system error is
    named by ``path``, not by the temporary file beside it, which the user never asked for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = f".{path.name}."
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary, suffix=".tmp")
    except OSError as exc:
        raise _named(exc, path, temporary) from None
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _named(exc, path, temporary) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _named(exc: OSError, path: Path, temporary: str) -> OSError:
    """``exc`` with ``path`` for the temporary file (``.NAME.xxxx.tmp``) it names, if it names one."""
    if exc.filename is not None and Path(str(exc.filename)).name.startswith(temporary):
        exc.filename = str(path)
    return exc


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` in ``path``, written atomically (``atomic_write_bytes``), in UTF-8 and its line endings as they
    are: the platform's default would be cp1252 on a Western Windows (a report's ``µV`` as byte 0xB5 under a page
    that says UTF-8, a name beyond cp1252 an error), and its newline translation would turn the ``\r\n`` that
    pandas writes there into ``\r\r\n`` (a blank row after each in Excel)."""
    atomic_write_bytes(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON in ``path``, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path, what: str = "file") -> dict:
    """The JSON object in ``path``; ArrhythmiaError naming the file when it is absent or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise ArrhythmiaError(f"{path}: {what} does not exist")
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))  # as written; a BOM of Notepad's tolerated
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArrhythmiaError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ArrhythmiaError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def read_json_or_none(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is absent or unreadable (e.g. half written)."""
    try:
        return read_json(path)
    except (ArrhythmiaError, OSError):
        return None


#: What makes a spreadsheet (Excel, LibreOffice Calc, Google Sheets) take a cell for a formula: OWASP's list
#: for CSV injection (https://owasp.org/www-community/attacks/CSV_Injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: object) -> object:
    """``value`` for a CSV text cell that carries words from outside (a recording's file name, an EDF+
    annotation's text): a string starting with ``= + - @``, a tab or a carriage return gets a leading ``'``,
    as OWASP advises, so that a spreadsheet shows it as text instead of running it as a formula
    (``=HYPERLINK(...)`` sending the sheet's data elsewhere, a DDE command). Anything else, numbers included,
    is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_columns(table: Any, columns: Iterable[str]) -> Any:
    """``table`` (a pandas DataFrame) with its text ``columns`` through ``spreadsheet_text``: the copy to write
    as CSV where those columns carry words from outside; the other columns as they are."""
    return table.assign(**{column: table[column].map(spreadsheet_text) for column in columns})
