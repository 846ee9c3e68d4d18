"""CSV tables as devices and spreadsheets write them: in UTF-8, UTF-16 or cp1252 (``csv_encoding``), the lines
above the table skipped, cells separated by commas, semicolons or tabs, decimal commas, missing samples; read
as text (which says which cell is wrong) or, for a day of samples, straight into numbers or a chunk at a time."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from arrhythmia.errors import DataError

#: Cell separators a CSV may use: commas, semicolons (spreadsheets where the comma is the decimal mark), tabs.
CSV_SEPARATORS = ",;\t"


def _separator(lines: list[str]) -> str:
    """The cell separator of a table's first lines (up to 64 KB of them), sniffed (``csv.Sniffer``); a comma
    if none stands out.

    One column under a header that names one lead (``ECG``, then ``-0,26``) is written with decimal commas:
    its separator is none of them (given as a tab, so that its commas are read as decimal marks).
    """
    import csv

    if len(lines) > 1 and not any(mark in lines[0] for mark in CSV_SEPARATORS) and _one_decimal_comma(lines[1:]):
        return "\t"
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=CSV_SEPARATORS).delimiter
    except csv.Error:
        return ","


def _one_decimal_comma(lines: list[str]) -> bool:
    """Whether every non-empty line (but a last one cut off) is one number written with a decimal comma."""
    full = [line for line in lines[:-1] if line.strip()] or [line for line in lines if line.strip()]
    return bool(full) and all(re.fullmatch(NUMBER_WITH_DECIMAL_COMMA, line) for line in full)


#: A number written with a decimal comma (``0,125``, ``-1,5e-3``), spaces around it allowed.
NUMBER_WITH_DECIMAL_COMMA = r"\s*[-+]?\d*,\d+(?:[eE][-+]?\d+)?\s*"


def is_comment(line: str) -> bool:
    """Whether a line above a CSV's table is a comment: it starts with ``#``, but for a header whose first name
    is ``#`` (``#,time,ECG``: a row-number column), which a separator follows."""
    text = line.lstrip()
    return text.startswith("#") and text[1:2] not in tuple(CSV_SEPARATORS)


#: A ``key: value`` line a cardiograph writes above its table (``Sampling Rate: 500 Hz``, ``Patient ID: 12345``):
#: a name that starts with a letter, a colon, then a space or the line's end; no table's row looks so (a
#: header's ``ECG:II`` has no space after its colon, an elapsed time ``0:00:01`` starts with a digit).
HEADER_FIELD = r"\s*[A-Za-z][\w .()/%-]*:(?:\s.*)?"


def is_header_field(line: str) -> bool:
    """Whether a line above a CSV's table is a ``key: value`` field of a device's header block (``HEADER_FIELD``)."""
    return re.fullmatch(HEADER_FIELD, line.rstrip("\r\n")) is not None


def csv_encoding(path: Path) -> str:
    """The text encoding of a CSV file, as spreadsheets on Windows save one: ``utf-16`` where the file begins with
    UTF-16's byte-order mark (Excel's "Unicode Text"), ``utf-8-sig`` where its first 64 KB are UTF-8 ("CSV
    UTF-8", whose byte-order mark would stick to the first name; plain ASCII too), else ``cp1252`` (Excel's "CSV
    (Comma delimited)" on a Western Windows, whose ``µV`` is the byte 0xB5, no UTF-8)."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a character cut at 64 KB is no error
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def last_line(path: Path, encoding: str) -> tuple[str, bool]:
    """A text file's last line (from its last 4 KB, without its line end) and whether the file ends with a line
    break: a file copied or written only in part ends mid-line. ``encoding``: the file's (``csv_encoding``)."""
    with path.open("rb") as fh:
        if encoding == "utf-16":  # the tail has no byte-order mark of its own: the file's first says the order
            encoding = "utf-16-be" if fh.read(2) == codecs.BOM_UTF16_BE else "utf-16-le"
        size = fh.seek(0, 2)
        fh.seek(max(size - 4096, 0) // 2 * 2)  # a UTF-16 character's first byte
        tail = fh.read().decode(encoding, errors=ENCODING_ERRORS)
    lines = tail.splitlines()
    return (lines[-1] if lines else ""), tail.endswith(("\n", "\r"))


#: What a byte the encoding has no character for becomes (a stray byte past the first 64 KB, cp1252's five
#: unused ones): U+FFFD, which no number holds, so that a cell with one is named as not a number.
ENCODING_ERRORS = "replace"
#: The most columns a CSV's table may have: a 12-lead ECG with its time columns, a montage of a few hundred
#: channels, a Heartbeat CSV's 188 fit; a row of 10^5 cells (a signal written as a row) would be parsed a
#: column at a time, for minutes, into as many leads of one sample.
MAX_CSV_COLUMNS = 4096


@dataclass(frozen=True)
class Preamble:
    """What lies above a CSV's table, how its cells are separated, and the file's encoding.

    skipped: the file's lines before the table's first row (blank lines, ``#`` comments, a cardiograph's
    ``key: value`` block); comments: their text, without a comment's ``#``; separator: ``,``, ``;`` or a tab;
    said: what those lines are, for a message (``'#' comment lines`` or ``a header``); encoding: the file's
    (``csv_encoding``).
    """

    skipped: int
    comments: tuple[str, ...]
    separator: str
    said: str
    encoding: str = "utf-8-sig"


def csv_preamble(path: Path) -> Preamble:
    """The lines above a CSV's table (``is_comment``, ``is_header_field``, a title above a header block:
    ``_is_title``) and its separator (``_separator``),
    from its first 64 KB; DataError where the file is missing or holds nothing but them."""
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    _written_to_its_end(path)
    encoding = csv_encoding(path)
    with path.open(newline="", encoding=encoding, errors=ENCODING_ERRORS) as fh:
        head = fh.read(65536)
    lines = head.splitlines()
    skipped = 0
    while skipped < len(lines) and (
        not lines[skipped].strip()
        or is_comment(lines[skipped])
        or is_header_field(lines[skipped])
        or _is_title(lines, skipped)
    ):
        skipped += 1
    comments = tuple(
        text for line in lines[:skipped] if (text := (line.strip()[1:] if is_comment(line) else line).strip())
    )
    said = "'#' comment lines" if all(is_comment(line) for line in lines[:skipped] if line.strip()) else "a header"
    separator = _separator(lines[skipped:])
    if skipped < len(lines) and (cells := lines[skipped].count(separator) + 1) > MAX_CSV_COLUMNS:
        more = "more than " if skipped == len(lines) - 1 and len(head) == 65536 else ""  # it goes on past the head
        raise DataError(
            f"{path}: its first row holds {more}{cells:,} cells, where a table of leads has at most "
            f"{MAX_CSV_COLUMNS:,} columns: a signal is a column per lead and a sample a line (one written as a "
            "single row is to be written as a column)"
        )
    preamble = Preamble(skipped=skipped, comments=comments, separator=separator, said=said, encoding=encoding)
    if comments and skipped == len(lines) and len(head) < 65536:
        raise DataError(_empty(path, preamble))
    return preamble


def _written_to_its_end(path: Path) -> None:
    """DataError where a text file has a hole (a sparse file: bytes never written, read as NULs), as an
    interrupted copy or a full disk leaves one; no text holds a block of NULs. Its NULs would be parsed as one
    line of gigabytes. A file system that keeps no holes says none (``SEEK_HOLE`` gives the file's end)."""
    import os

    if not hasattr(os, "SEEK_HOLE"):
        return
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            hole = os.lseek(fh.fileno(), 0, os.SEEK_HOLE)
        except OSError:
            return
    if hole < size:
        raise DataError(
            f"{path}: its bytes from {hole:,} of {size:,} were never written (a sparse file, as an interrupted copy "
            "or a full disk leaves one): copy it again, or cut it where its text ends"
        )


def _is_title(lines: list[str], i: int) -> bool:
    """Whether line ``i`` is an export's title (``MAC 5500 Resting ECG Export``): the file's first line with
    text, and a header block's field (``is_header_field``) the next; a table's header row is followed by its
    rows, never by such a field."""
    if any(line.strip() for line in lines[:i]):
        return False
    following = next((line for line in lines[i + 1 :] if line.strip()), "")
    return is_header_field(following) and not is_comment(following)


def read_csv_cells(path: Path):
    """A CSV file as a table of strings (no header inferred); DataError when missing, empty or malformed.

    Cells may be separated by commas, semicolons or tabs, sniffed from the table; where they are not
    separated by commas, a comma inside a number is a decimal mark (``0,125``, as spreadsheets in much of
    Europe write numbers; a header's names keep theirs). The ``#`` comment lines a device writes above its
    table (``# Sampling rate: 250 Hz``), and the block of ``key: value`` lines a cardiograph writes there
    (``Sampling Rate: 500 Hz``, ``is_header_field``), are skipped: the table's ``attrs`` give ``skipped_lines``,
    the file's lines before its first row, and ``comments``, their text (without a comment's ``#``).
    """
    import pandas as pd  # imported on use: cached beat sets never need it

    chunks = list(csv_cell_chunks(path, rows=None))
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks)
    frame.attrs.update(chunks[0].attrs)
    return frame


def csv_cell_chunks(path: Path, rows: int | None) -> Iterator:
    """``read_csv_cells``'s table, ``rows`` rows at a time (all at once for None): a day of samples read as text
    takes several GB, a few hundred thousand rows a few tens of MB. Each chunk's ``attrs`` say ``skipped_lines``
    and ``comments`` (as ``read_csv_cells``'s), ``first``, the index of its first row in the table, and
    ``preamble``, what lies above the table and the file's encoding (``csv_preamble``)."""
    import pandas as pd

    preamble = csv_preamble(path)
    first = 0
    try:
        with pd.read_csv(
            path,
            header=None,
            dtype=str,
            keep_default_na=False,
            sep=preamble.separator,
            encoding=preamble.encoding,
            encoding_errors=ENCODING_ERRORS,
            skiprows=preamble.skipped,
            chunksize=rows or _WHOLE,
        ) as reader:
            for frame in reader:
                if frame.empty:
                    break
                if preamble.separator != ",":
                    frame = _decimal_points(frame, header=first == 0)
                frame.attrs.update(
                    skipped_lines=preamble.skipped, comments=preamble.comments, first=first, preamble=preamble
                )
                yield frame
                first += len(frame)
    except pd.errors.EmptyDataError:
        raise DataError(_empty(path, preamble)) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV ({str(exc).strip()})") from None
    if first == 0:
        raise DataError(_empty(path, preamble))


#: A chunk larger than any table: the whole table at once.
_WHOLE = 1 << 62


def _empty(path: Path, preamble: Preamble) -> str:
    if not preamble.comments:
        return f"{path}: file is empty"
    return f"{path}: file holds no samples (only {preamble.said})"


def _decimal_points(frame, header: bool):
    """A table whose cells are not separated by commas, with each comma read as a decimal mark; where
    ``header`` (the file's first row), names in the first row (``Lead II, mV``) keep their commas."""
    pointed = frame.apply(lambda column: column.str.replace(",", ".", regex=False))
    if not header:
        return pointed
    first = frame.iloc[0]  # a header's names are no numbers
    names = (first.str.contains(",", regex=False) & ~first.str.fullmatch(NUMBER_WITH_DECIMAL_COMMA)).to_numpy()
    if names.any():
        kept = np.zeros(frame.shape, dtype=bool)
        kept[0] = names
        pointed = pointed.where(~kept, frame)
    return pointed


#: A cell with a decimal comma that may as well be a whole number with a thousands separator (``1,250``, ``-12,500``).
THOUSANDS = r"\s*[-+]?[1-9]\d{0,2},\d{3}\s*"


def has_commas(frame) -> bool:
    """Whether any cell of ``frame`` (a table of strings) holds a comma."""
    return bool(frame.apply(lambda column: column.str.contains(",", regex=False)).to_numpy().any())


def quoted_decimal_commas(frame, path: Path, skipped: int, header: bool = True):
    """``frame`` (a chunk of a comma-separated file's cells) with its quoted decimal-comma cells
    (``NUMBER_WITH_DECIMAL_COMMA``) read with a decimal point; ``header``: the chunk begins the table, whose
    first row's names may hold commas (``Lead II, mV``).

    A comma-separated file may quote cells written with a decimal comma (``"0,125","0,130"``, as European
    software exports): they are read as decimals where every such cell is one number with one comma and at
    least one of them cannot be a thousands separator (``0,125``, ``1,5``); where every one could be either
    (``"1,250"``), DataError naming the file and the cell. ``skipped``: the file's lines above the table."""
    has_comma = frame.apply(lambda column: column.str.contains(",", regex=False)).to_numpy()
    if not has_comma.any():
        return frame
    decimal = frame.apply(lambda column: column.str.fullmatch(NUMBER_WITH_DECIMAL_COMMA)).to_numpy()
    either = frame.apply(lambda column: column.str.fullmatch(THOUSANDS)).to_numpy()
    rows = np.flatnonzero(has_comma.any(axis=1))
    names = header and rows[0] == 0 and not decimal[0].any()
    numbers = has_comma & decimal
    numbers[0] &= not names
    if numbers.any() and not (numbers & ~either).any():
        row, column = np.argwhere(numbers)[0]
        raise DataError(
            f"{path}: row {row + frame.attrs['first'] + skipped + 1}, column {column + 1}: "
            f"{shown(frame.iat[row, column])} may be a decimal comma or a thousands separator: save the file with "
            "decimal points, or with ';' between its cells"
        )
    if not numbers.any():
        return frame
    return frame.where(~numbers, frame.apply(lambda column: column.str.replace(",", ".", regex=False)))


#: Rows ``csv_numbers`` parses at a time: pandas parsing a whole day at once holds three times its numbers.
NUMBER_ROWS = 1_000_000


def csv_numbers(path: Path, header_rows: int, preamble: Preamble | None = None) -> np.ndarray | None:
    """A CSV's table under its ``header_rows`` rows (names, units) as float64 (n_rows, n_columns), read by
    pandas' C parser straight into numbers: a day of samples in seconds, where the text route takes minutes;
    missing cells (``MISSING_CELLS``) NaN; decimal commas where ``;`` or tabs separate the cells. None where
    any cell is not a plain number (a date-time, a quoted or infinite value, a stray word): the caller then
    reads the table as text, which says which cell is wrong.

    Parsed ``NUMBER_ROWS`` rows at a time into one array sized from the file's size, so that reading takes
    little more memory than the numbers it gives. ``preamble``: the file's (``csv_preamble``), where the caller
    has it already.
    """
    import pandas as pd

    preamble = preamble or csv_preamble(path)
    missing = sorted({variant for cell in MISSING_CELLS for variant in (cell, cell.upper(), cell.title())} | {"NaN"})
    for decimal in "." if preamble.separator == "," else ".,":
        try:
            with pd.read_csv(
                path,
                header=None,
                sep=preamble.separator,
                encoding=preamble.encoding,
                encoding_errors=ENCODING_ERRORS,
                skiprows=preamble.skipped + header_rows,
                dtype=np.float64,
                na_values=missing,
                keep_default_na=False,
                decimal=decimal,
                engine="c",
                chunksize=NUMBER_ROWS,
            ) as reader:
                table, n_rows = None, 0
                for chunk in reader:
                    values = chunk.to_numpy(dtype=np.float64)
                    if np.isinf(values).any():
                        return None
                    if table is None or n_rows + len(values) > len(table):
                        table = _grown(table, n_rows, _rows_in(path, preamble, n_rows + len(values)), values.shape[1])
                    table[n_rows : n_rows + len(values)] = values
                    n_rows += len(values)
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
            continue
        return None if table is None else table[:n_rows]
    return None


def _rows_in(path: Path, preamble: Preamble, at_least: int) -> int:
    """How many rows a CSV's table holds, from its size and its first lines' length (a few percent over):
    ``at_least`` where the rows already read say more."""
    with path.open(encoding=preamble.encoding, errors=ENCODING_ERRORS, newline="") as fh:
        lines = fh.read(65536).splitlines()[preamble.skipped : preamble.skipped + 1000]
    width = 2 if preamble.encoding == "utf-16" else 1  # bytes a character of a number takes
    per_row = max(width * sum(len(line) + 1 for line in lines) / max(len(lines), 1), 1.0)
    return max(int(1.05 * path.stat().st_size / per_row) + 1000, at_least)


def _grown(table: np.ndarray | None, n_rows: int, rows: int, columns: int) -> np.ndarray:
    """An empty (rows, columns) float64 array holding ``table``'s first ``n_rows`` rows."""
    grown = np.empty((rows, columns))
    if table is not None:
        grown[:n_rows] = table[:n_rows]
    return grown


#: Cells that mark a missing sample in a signal CSV (case-insensitive, after stripping spaces).
MISSING_CELLS = ("", "nan", "na", "n/a", "null")


#: An error value of Excel's in any of its languages: a formula that failed (``#DIV/0!``, ``#WERT!``, ``#REF!``)
#: or ``NA()``'s "not available" (``#N/A``, German ``#NV``, Italian ``#N/D``).
EXCEL_ERROR = r"#[^\W\d_][\w/]*[!?]?"


@dataclass
class ExcelErrors:
    """The error values of Excel met in a table's cells (``EXCEL_ERROR``): how many of each, in the order met,
    and where the first was (``row R, column C``)."""

    counts: Counter = field(default_factory=Counter)
    first: str | None = None

    def said(self, path: Path) -> str | None:
        """One line for a warning: how many cells, of which errors, and where the first; None where none was met."""
        if not self.counts:
            return None
        n, each = sum(self.counts.values()), ", ".join(f"{text!r} {k}" for text, k in self.counts.items())
        cells = f"{n:,} cells hold Excel's error values" if n > 1 else "1 cell holds an Excel error value"
        return f"{path}: {cells} ({each}; the first at {self.first}): read as missing samples"


def shown(cell: str, most: int = 40) -> str:
    """A cell as a message shows it: quoted, cut to ``most`` characters with its length said (a cell of a
    line of megabytes, a file that is no table, would make a message of megabytes)."""
    text = str(cell)
    return repr(text) if len(text) <= most else f"{text[:most]!r}... ({len(text):,} characters)"


def cells_to_numbers(
    frame, path: Path, first_row: int = 1, missing_ok: bool = False, excel_errors: ExcelErrors | None = None
) -> np.ndarray:
    """The cells as float64; DataError naming the first cell that is not a finite number.

    ``first_row`` is the file's line number of the frame's first row, for the message. ``missing_ok``: a
    cell in ``MISSING_CELLS`` (an empty cell, ``NaN``, ...) is a missing sample, NaN, as WFDB and NumPy
    signals mark them, and only other text is an error. ``excel_errors``: where given (with ``missing_ok``),
    an Excel error value (``EXCEL_ERROR``: ``#NV``, ``#DIV/0!``) is a missing sample too, counted there for
    the caller to say once for the whole file.
    """
    import pandas as pd

    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = ~np.isfinite(values)
    if missing_ok and bad.any():
        missing = frame.apply(lambda column: column.str.strip().str.lower().isin(MISSING_CELLS)).to_numpy()
        values[missing] = np.nan
        bad &= ~missing
    if excel_errors is not None and missing_ok and bad.any():
        errors = bad & frame.apply(lambda column: column.str.strip().str.fullmatch(EXCEL_ERROR)).to_numpy()
        for row, col in np.argwhere(errors):  # few: a cell a formula failed in
            excel_errors.counts[frame.iat[row, col].strip()] += 1
            excel_errors.first = excel_errors.first or f"row {row + first_row}, column {col + 1}"
        values[errors] = np.nan
        bad &= ~errors
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: row {row + first_row}, column {col + 1}: not a finite number ({shown(frame.iat[row, col])})"
        )
    return values
