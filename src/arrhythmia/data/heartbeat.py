"""The "Heartbeat" CSVs of Kachuee et al. 2018: 187 samples + a class label per row."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arrhythmia.data.beats import AAMI_CLASSES, BEAT_LENGTH, WINDOWS, BeatSet, Window
from arrhythmia.data.download import HEARTBEAT_FILES, download_heartbeat
from arrhythmia.data.sources import Source
from arrhythmia.data.tables import cells_to_numbers, csv_numbers, read_csv_cells
from arrhythmia.errors import DataError

MITBIH_FILES, PTBDB_FILES = HEARTBEAT_FILES[:2], HEARTBEAT_FILES[2:]
PTBDB_CLASSES = ("normal", "abnormal")


def read_beat_csv(path: str | Path, n_classes: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a beat CSV: rows of 187 values, plus a label column when ``n_classes`` is given.

    Returns ``(X: (n_rows, 187) float32, y: (n_rows,) int64 or None)``. Raises DataError naming
    the file for a missing or empty file, a wrong column count, non-numeric or NaN values, or
    labels outside ``0 .. n_classes - 1``.
    """
    path = Path(path)
    expected = BEAT_LENGTH + (1 if n_classes is not None else 0)
    values = csv_numbers(path, header_rows=0)  # a hundred thousand beats as text take GB; as numbers, MB
    if values is None or values.shape[1] != expected or np.isnan(values).any():
        frame = read_csv_cells(path)  # which says which cell or row is wrong
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
