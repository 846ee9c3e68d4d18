"""The "Heartbeat" CSVs of Kachuee et al. 2018: 187 samples + a class label per row."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from arrhythmia.data.beats import AAMI_CLASSES, BEAT_LENGTH, WINDOWS, BeatSet, Window
from arrhythmia.data.download import HEARTBEAT_FILES, download_heartbeat
from arrhythmia.data.sources import Source
from arrhythmia.errors import DataError

MITBIH_FILES, PTBDB_FILES = HEARTBEAT_FILES[:2], HEARTBEAT_FILES[2:]
PTBDB_CLASSES = ("normal", "abnormal")


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
    import re

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

    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        head = fh.read(65536)
    lines = head.splitlines()
    skipped = 0
    while skipped < len(lines) and (
        not lines[skipped].strip() or is_comment(lines[skipped]) or is_header_field(lines[skipped])
    ):
        skipped += 1
    comments = tuple(
        text for line in lines[:skipped] if (text := (line.strip()[1:] if is_comment(line) else line).strip())
    )
    said = "'#' comment lines" if all(is_comment(line) for line in lines[:skipped] if line.strip()) else "a header"
    only_comments = f"{path}: file holds no samples (only {said})"
    if comments and skipped == len(lines) and len(head) < 65536:
        raise DataError(only_comments)
    separator = _separator(lines[skipped:])
    try:
        # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark that would stick to the first name
        frame = pd.read_csv(
            path,
            header=None,
            dtype=str,
            keep_default_na=False,
            sep=separator,
            encoding="utf-8-sig",
            skiprows=skipped,
        )
    except pd.errors.EmptyDataError:
        raise DataError(only_comments if comments else f"{path}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV ({str(exc).strip()})") from None
    if frame.empty:
        raise DataError(f"{path}: file is empty")
    if separator != ",":
        pointed = frame.apply(lambda column: column.str.replace(",", ".", regex=False))
        first = frame.iloc[0]  # a header's names ("Lead II, mV") are no numbers: they keep their commas
        names = (first.str.contains(",", regex=False) & ~first.str.fullmatch(NUMBER_WITH_DECIMAL_COMMA)).to_numpy()
        if names.any():
            kept = np.zeros(frame.shape, dtype=bool)
            kept[0] = names
            pointed = pointed.where(~kept, frame)
        frame = pointed
    frame.attrs.update(skipped_lines=skipped, comments=comments)
    return frame


#: Cells that mark a missing sample in a signal CSV (case-insensitive, after stripping spaces).
MISSING_CELLS = ("", "nan", "na", "n/a", "null")


def cells_to_numbers(frame, path: Path, first_row: int = 1, missing_ok: bool = False) -> np.ndarray:
    """The cells as float64; DataError naming the first cell that is not a finite number.

    ``first_row`` is the file's line number of the frame's first row, for the message. ``missing_ok``: a
    cell in ``MISSING_CELLS`` (an empty cell, ``NaN``, ...) is a missing sample, NaN, as WFDB and NumPy
    signals mark them, and only other text is an error.
    """
    import pandas as pd

    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = ~np.isfinite(values)
    if missing_ok and bad.any():
        missing = frame.apply(lambda column: column.str.strip().str.lower().isin(MISSING_CELLS)).to_numpy()
        values[missing] = np.nan
        bad &= ~missing
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: row {row + first_row}, column {col + 1}: not a finite number ({frame.iat[row, col]!r})"
        )
    return values


def read_beat_csv(path: str | Path, n_classes: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a beat CSV: rows of 187 values, plus a label column when ``n_classes`` is given.

    Returns ``(X: (n_rows, 187) float32, y: (n_rows,) int64 or None)``. Raises DataError naming
    the file for a missing or empty file, a wrong column count, non-numeric or NaN values, or
    labels outside ``0 .. n_classes - 1``.
    """
    path = Path(path)
    frame = read_csv_cells(path)
    expected = BEAT_LENGTH + (1 if n_classes is not None else 0)
    if frame.shape[1] != expected:
        raise DataError(f"{path}: expected {expected} columns per row, found {frame.shape[1]}")
    values = cells_to_numbers(frame, path)
    X = values[:, :BEAT_LENGTH].astype(np.float32)
    if n_classes is None:
        return X, None
    labels = values[:, BEAT_LENGTH]
    unknown = (labels != np.round(labels)) | (labels < 0) | (labels >= n_classes)
    if unknown.any():
        row = int(np.argmax(unknown))
        raise DataError(f"{path}: row {row + 1}: unknown label {labels[row]:g} (expected 0..{n_classes - 1})")
    return X, labels.astype(np.int64)


def records_are_files(beats: BeatSet) -> bool:
    """Whether ``beats.record`` names the Heartbeat CSV each beat came from rather than a patient (the CSVs
    carry no patient ids), so that no figure is given by record."""
    return beats.source.startswith(f"{SOURCE.name}-")


def is_heartbeat_dir(directory: Path) -> bool:
    """True if ``directory`` holds the Heartbeat CSVs (either the MIT-BIH or the PTB pair)."""
    return any((directory / name).is_file() for name in HEARTBEAT_FILES)


def load_heartbeat(directory: str | Path, subset: str = "mitbih") -> BeatSet:
    """Load the Heartbeat CSVs from ``directory``.

    ``subset="mitbih"``: ``mitbih_train.csv`` and ``mitbih_test.csv``, AAMI classes N, S, V, F, Q;
    the test file's beats are marked ``is_test``. ``subset="ptbdb"``: ``ptbdb_normal.csv`` and
    ``ptbdb_abnormal.csv``, classes normal / abnormal. The CSVs carry no patient ids: ``record``
    holds the file name, and R-peak samples and symbols are unknown.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: data directory does not exist")
    if subset == "mitbih":
        files, classes = MITBIH_FILES, AAMI_CLASSES
    elif subset == "ptbdb":
        files, classes = PTBDB_FILES, PTBDB_CLASSES
    else:
        raise DataError(f"{directory}: unknown Heartbeat subset {subset!r} (mitbih or ptbdb)")
    Xs, ys, names = [], [], []
    for name in files:
        X, y = read_beat_csv(directory / name, n_classes=len(classes))
        Xs.append(X)
        ys.append(y)
        names.append(np.full(len(X), Path(name).stem))
    record = np.concatenate(names)
    n = len(record)
    return BeatSet(
        X=np.concatenate(Xs),
        y=np.concatenate(ys),
        classes=classes,
        record=record,
        sample=np.full(n, -1, dtype=np.int64),
        symbol=np.full(n, "", dtype="<U1"),
        source=f"heartbeat-{subset}",
        is_test=record == "mitbih_test" if subset == "mitbih" else None,
    )


def load_heartbeat_directory(directory: Path, window: Window, progress: bool = True) -> BeatSet:
    """The MIT-BIH pair of CSVs where present, else the PTB pair, from the beat cache when unchanged."""
    from arrhythmia.data.cache import cached

    if window != WINDOWS["kachuee"]:
        raise DataError(
            f"{directory}: the Heartbeat CSVs hold ready-cut Kachuee beats; the {window.kind!r} window "
            "needs raw recordings with R-peak annotations (a WFDB database)"
        )
    # The pair the folder holds more of (MIT-BIH's on a tie), so a missing file is named in its own pair.
    subset = "mitbih" if _count(directory, MITBIH_FILES) >= _count(directory, PTBDB_FILES) else "ptbdb"
    files = [directory / f for f in (MITBIH_FILES if subset == "mitbih" else PTBDB_FILES)]
    for f in files:
        if not f.is_file():
            raise DataError(f"{f}: file does not exist")
    return cached(files, {"source": f"heartbeat-{subset}"}, lambda: load_heartbeat(directory, subset))


def _count(directory: Path, names) -> int:
    return sum((directory / name).is_file() for name in names)


SOURCE = Source(
    name="heartbeat",
    citation=(
        "ECG Heartbeat Categorization data set, derived from the MIT-BIH Arrhythmia and PTB Diagnostic ECG "
        "databases (PhysioNet, ODC-By 1.0). Kachuee M, Fazeli S, Sarrafzadeh M. ECG Heartbeat Classification: "
        "A Deep Transferable Representation. IEEE ICHI 2018 (arXiv:1805.00794)."
    ),
    load=load_heartbeat_directory,
    recognise=is_heartbeat_dir,
    download=download_heartbeat,
    is_downloaded=lambda directory: all((directory / f).is_file() for f in HEARTBEAT_FILES),
)
