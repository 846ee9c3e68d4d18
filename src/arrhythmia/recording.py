"""Raw recordings in: WFDB records, EDF/EDF+ files, CSV and NumPy signals, and Heartbeat beat CSVs.

``read_input(path, fs=None, lead=None)`` returns either a ``Recording`` (a signal to detect beats in) or
a ``BeatRows`` (already segmented 187-sample beats, one label per row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arrhythmia.data.beats import BEAT_LENGTH
from arrhythmia.data.heartbeat import cells_to_numbers, read_csv_cells
from arrhythmia.data.wfdb_source import choose_lead, read_lead
from arrhythmia.errors import DataError

SIGNAL_SUFFIXES = {".hea": "wfdb", ".dat": "wfdb", ".edf": "edf", ".csv": "csv", ".npy": "npy"}


@dataclass
class Recording:
    """One lead of a recording. signal: (n_samples,) float64, mV (or the file's unit); fs: Hz."""

    signal: np.ndarray
    fs: float
    lead: str
    path: Path


@dataclass
class BeatRows:
    """Beats already segmented as in the Heartbeat CSVs. X: (n_beats, 187) float32 in [0, 1]."""

    X: np.ndarray
    path: Path


def _pick_column(names: list[str], data: np.ndarray, lead: str | int | None, path: Path) -> tuple[np.ndarray, str]:
    index = choose_lead(names, lead, str(path))
    return data[:, index], names[index]


def _read_edf(path: Path, lead: str | int | None) -> Recording:
    from wfdb.io.convert.edf import read_edf

    try:
        record = read_edf(str(path))
    except Exception as exc:  # pyedflib-free reader: raises plain errors on malformed headers
        raise DataError(f"{path}: cannot read EDF file ({exc})") from None
    names = [str(n).strip() for n in record.sig_name]
    signal, name = _pick_column(names, record.p_signal, lead, path)
    return Recording(signal=np.asarray(signal, dtype=np.float64), fs=float(record.fs), lead=name, path=path)


def _read_csv(path: Path, fs: float | None, lead: str | int | None) -> Recording | BeatRows:
    import pandas as pd

    frame = read_csv_cells(path)
    has_header = bool(pd.to_numeric(frame.iloc[0], errors="coerce").isna().any())
    names = [str(c) for c in frame.iloc[0]] if has_header else [str(i) for i in range(frame.shape[1])]
    cells = frame.iloc[1:] if has_header else frame
    if cells.empty:
        raise DataError(f"{path}: file holds no samples")
    if not has_header and frame.shape[1] in (BEAT_LENGTH, BEAT_LENGTH + 1):
        # The Heartbeat CSV layout: one 187-sample beat per row (plus a label column, ignored here).
        return BeatRows(X=cells_to_numbers(cells.iloc[:, :BEAT_LENGTH], path).astype(np.float32), path=path)
    if fs is None:
        raise DataError(f"{path}: a CSV signal needs its sampling rate: pass --fs HZ")
    data = cells_to_numbers(cells, path, first_row=2 if has_header else 1)
    signal, name = _pick_column(names, data, lead, path)
    return Recording(signal=signal, fs=float(fs), lead=name, path=path)


def _read_npy(path: Path, fs: float | None, lead: str | int | None) -> Recording:
    if fs is None:
        raise DataError(f"{path}: a NumPy signal needs its sampling rate: pass --fs HZ")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or not np.issubdtype(data.dtype, np.number):
        raise DataError(f"{path}: expected a numeric (n_samples,) or (n_samples, n_leads) array, got {data.shape}")
    signal, name = _pick_column([str(i) for i in range(data.shape[1])], data.astype(np.float64), lead, path)
    return Recording(signal=signal, fs=float(fs), lead=name, path=path)


def read_input(path: str | Path, fs: float | None = None, lead: str | int | None = None) -> Recording | BeatRows:
    """Read a recording (or a beat CSV) by its file type.

    WFDB records may be given with or without ``.hea``; their sampling rate comes from the header, as
    for EDF. CSV (one column per lead, optional header row of lead names) and ``.npy`` signals need ``fs``.
    ``lead`` is a lead name or index; the default is MLII where present, else the first lead.
    """
    path = Path(path)
    kind = SIGNAL_SUFFIXES.get(path.suffix.lower())
    if kind is None and Path(f"{path}.hea").is_file():
        kind = "wfdb"  # a record name given without its .hea
    if kind is None:
        known = ", ".join(sorted(SIGNAL_SUFFIXES))
        raise DataError(f"{path}: unknown input format (a WFDB record or one of {known})")
    if kind == "wfdb":
        record = path.with_suffix("") if path.suffix.lower() in (".hea", ".dat") else path
        signal, rate, name = read_lead(record, lead)
        return Recording(signal=signal, fs=rate, lead=name, path=record)
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    if kind == "edf":
        return _read_edf(path, lead)
    if kind == "csv":
        return _read_csv(path, fs, lead)
    return _read_npy(path, fs, lead)
