"""Raw recordings in: WFDB records, EDF/EDF+ files, CSV and NumPy signals, and Heartbeat beat CSVs.

``read_input(path, fs=None, lead=None)`` returns either a ``Recording`` (a signal to detect beats in) or
a ``BeatRows`` (already segmented 187-sample beats, one label per row).
"""

from __future__ import annotations

import numbers
import re
import tokenize
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from arrhythmia.data.beats import BEAT_LENGTH
from arrhythmia.data.clock import Start, start_text
from arrhythmia.data.tables import (
    ExcelErrors,
    cells_to_numbers,
    csv_cell_chunks,
    csv_numbers,
    has_commas,
    last_line,
    quoted_decimal_commas,
    shown,
)
from arrhythmia.data.units import mv_per_unit
from arrhythmia.data.wfdb_source import (
    OTHER_LEAD,
    choose_lead,
    header_gives_rate,
    in_millivolts,
    instead_of_flat,
    looks_like_ecg,
    name_words,
    names_a_voltage,
    read_lead_and_unit,
    record_comments,
    record_start,
    voltage_scale,
)
from arrhythmia.errors import DataError

SIGNAL_SUFFIXES = {".hea": "wfdb", ".dat": "wfdb", ".edf": "edf", ".bdf": "edf", ".csv": "csv", ".npy": "npy"}
#: The files of a folder that are recordings: WFDB records (by their header), EDF, CSV and NumPy signals.
RECORDING_SUFFIXES = (".hea", ".edf", ".bdf", ".csv", ".npy")


@dataclass
class Recording:
    """One lead of a recording. signal: (n_samples,) float64, mV (or the file's unit); fs: Hz; millivolts:
    whether the file named a voltage unit (a WFDB or EDF header, a CSV's unit row), False for a NumPy signal,
    a CSV without a unit row or a header unit like ``NU`` or none, whose unit ``predict`` reads from the size
    of its beats (``data.units``); start: the wall-clock time of the first sample where the file gives one
    (``data.clock``), else None; events: ``(seconds from the start, text)`` of the moments the file marks (an
    EDF+ file's annotations: a patient's event button, a diary entry), in the order given.

    What the file says of whose recording it is, verbatim, None or () where it says nothing (``identification``):
    patient: an EDF header's patient field (``MCH-0234567 F 02-MAY-1951 Haagse_Harry``); recording_id: its
    recording field (``Startdate 02-MAR-2002 PSG-1234/2002 NN Telemetry03``); notes: a WFDB header's comment
    lines (MIT-BIH's ``69 M 1085 1629 x1``, then the medications) or a CSV's ``#`` lines above its table
    (and the ``key: value`` lines a cardiograph writes there)."""

    signal: np.ndarray
    fs: float
    lead: str
    path: Path
    millivolts: bool = True
    start: Start = None
    events: tuple[tuple[float, str], ...] = ()
    patient: str | None = None
    recording_id: str | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A NumPy scalar rate (np.float32, as an HDF5 attribute or a device's header gives it) as a Python float:
        # the steps that turn the rate into a fraction (fractions.Fraction) take no np.float32.
        if isinstance(self.fs, numbers.Real) and not isinstance(self.fs, bool):
            self.fs = float(self.fs)
        # A header's text is printed and written as given: an escape sequence in a lead's name (an EDF label
        # "ECG\x1b[2J") would clear the terminal predict prints it on. Control characters are shown escaped.
        if isinstance(self.lead, str):
            self.lead = printable(self.lead)


def printable(text: str) -> str:
    """``text`` with each character that is not printable (a control character: ESC, BEL, NUL) written as its
    escape, ``\x1b``; printable text, accented letters and spaces included, unchanged."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


@dataclass
class BeatRows:
    """Beats already segmented as in the Heartbeat CSVs. X: (n_beats, 187) float32 in [0, 1]."""

    X: np.ndarray
    path: Path


def _pick_column(names: list[str], data: np.ndarray, lead: str | int | None, path: Path) -> tuple[np.ndarray, str]:
    """The column ``lead`` names (``choose_lead``); with none named, an unused one (all zero) gives way to the
    next (``instead_of_flat``)."""

    def read(wanted: str | int | None) -> tuple[np.ndarray, None, str]:
        index = choose_lead(names, wanted, str(path))
        return np.array(data[:, index], dtype=np.float64), None, names[index]  # a copy: a .npy is mapped read-only

    signal, _, name = read(lead) if lead is not None else instead_of_flat(read(None), names, read, str(path))
    return signal, name


def _read_edf(path: Path, lead: str | int | None) -> Recording:
    """One signal of an EDF/EDF+ or BDF/BDF+ file (``pyedflib``), at its own sampling rate and in mV.

    Each signal of an EDF file keeps its own rate (a Holter or sleep study stores ECG at 256-512 Hz beside
    accelerometer or respiration channels at a few Hz), so the lead is read alone, never resampled onto a
    frame rate the channels share. A discontinuous EDF+D file is read here (``_read_edf_records``): its gaps
    come back as missing samples. So is a file whose header holds characters EDF does not allow (``µV`` as
    latin-1's byte 0xB5, a patient's umlaut, as Windows Holter software writes them), which pyedflib refuses.
    """
    import pyedflib

    try:
        head = _edf_header(path)
    except (OSError, ValueError):
        head = None  # too garbled to read its fields from: pyedflib says why
    discontinuous = _check_edf_layout(path, head)
    if discontinuous or (head is not None and not _ascii_header(head)):
        return _read_edf_records(path, lead, discontinuous, head)
    try:
        with pyedflib.EdfReader(str(path)) as reader:
            names = [str(n).strip() for n in reader.getSignalLabels()]
            if not names:
                raise DataError(f"{path}: EDF file holds no signals")

            def read(wanted: str | int | None) -> tuple[np.ndarray, float, str, str]:
                index = choose_lead(names, wanted, str(path))
                unit = reader.getPhysicalDimension(index)
                raw = np.asarray(reader.readSignal(index), dtype=np.float64)
                return in_millivolts(raw, unit), float(reader.getSampleFrequency(index)), names[index], unit

            read_one = read(lead)
            if lead is None:  # an unused channel (all zero) gives way to the next ECG lead
                read_one = instead_of_flat(read_one, names, read, str(path))
            signal, rate, name, unit = read_one
            start = reader.getStartdatetime().replace(tzinfo=None)
            onsets, _, texts = reader.readAnnotations()
    except OSError as exc:  # pyedflib's one error for a file it cannot read, which names the file again
        why = str(exc).strip().removeprefix(f"{path}:").strip()
        raise DataError(f"{path}: cannot read EDF file ({why})") from None
    events = tuple((float(onset), str(text).strip()) for onset, text in zip(onsets, texts) if str(text).strip())
    return _edf_recording(path, signal, rate, name, unit, start, events)


def _edf_recording(
    path: Path, signal: np.ndarray, rate: float, name: str, unit: str, start: Start, events: tuple
) -> Recording:
    """The Recording of an EDF/BDF lead read by either reader, with the header's patient and recording fields."""
    patient, recording_id = _edf_identification(path)
    return Recording(
        signal,
        rate,
        name,
        path,
        millivolts=names_a_voltage(unit),
        start=start,
        events=events,
        patient=patient,
        recording_id=recording_id,
    )


#: The EDF+ date in a recording field's ``Startdate 02-MAR-2002`` (``X`` where unknown).
_EDF_DATE = re.compile(r"\d{2}-[A-Z]{3}-\d{4}")


def _edf_identification(path: Path) -> tuple[str | None, str | None]:
    """An EDF/BDF header's patient field and recording field (80 characters each, bytes 8-168), verbatim but
    for the spaces after them; None for one that says nothing: blank, or EDF+'s ``X`` for each unknown part
    (``X X X X``, ``Startdate X X X X``; a recording field that gives only its start date, which the start
    gives, says nothing more)."""
    with open(path, "rb") as fh:
        head = fh.read(168)
    patient, recording = (head[a:b].decode("latin-1").strip() for a, b in ((8, 88), (88, 168)))
    words = recording.split()
    if words[:1] == ["Startdate"]:
        words = words[1:]
        words = words[1:] if words and (words[0] == "X" or _EDF_DATE.fullmatch(words[0])) else words
    says = [any(word != "X" for word in said) for said in (patient.split(), words)]
    return (patient if says[0] else None), (recording if says[1] else None)


def identification(recording: Recording) -> dict:
    """What the file says of whose recording it is, for ``summary.json``'s ``recording``: ``name`` (the file's
    or WFDB record's name), ``start`` (ISO 8601, ``clock.start_text``), ``patient`` and ``recording_id`` (an
    EDF header's patient and recording fields), ``notes`` (a WFDB header's comment lines, a CSV's ``#``
    lines), each verbatim as the file gives it; None or [] where it gives nothing."""
    return {
        "name": Path(str(recording.path)).name,
        "start": start_text(recording.start),
        "patient": recording.patient,
        "recording_id": recording.recording_id,
        "notes": list(recording.notes),
    }


def _edf_signal_fields(header: bytes, offset: int, width: int) -> list[str]:
    """One field of each signal of an EDF/BDF ``header`` (its first ``256 * (n_signals + 1)`` bytes or more): the
    fields lie signal after signal, each ``width`` bytes, from ``offset`` bytes per signal into the signal
    part (labels 0, physical dimension 96, ..., samples per data record 216). ValueError where garbled."""
    n_signals = int(header[252:256])
    start = 256 + offset * n_signals
    return [header[start + i * width : start + (i + 1) * width].decode("latin-1").strip() for i in range(n_signals)]


def _edf_header(path: Path) -> bytes:
    """An EDF/BDF file's header: its first 256 bytes and the 256 per signal they count (fewer where the file is
    shorter). ValueError where the count is no number, OSError where the file cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(256)
        return head + fh.read(256 * max(int(head[252:256]), 0))


def _check_edf_layout(path: Path, head: bytes | None) -> bool:
    """DataError, naming the file, for an EDF/BDF file cut short of the data records its header (``head``,
    ``_edf_header``) counts or holding none: said here from the header, where pyedflib's error says only that the
    file is not compliant (and prints a line of its own on stdout). A header too garbled to read these fields
    from (``head`` None) is left to pyedflib. Returns whether the file is a discontinuous EDF+D/BDF+D file, which
    pyedflib cannot read."""
    if head is None:
        return False
    try:
        n_signals = int(head[252:256])
        if len(head) < 256 * (n_signals + 1):  # its fields would be read from the data records, or from nothing
            kind = "BDF" if head[:1] == b"\xff" else "EDF"
            raise DataError(
                f"{path}: {kind} header cut short or garbled: it counts "
                f"{n_signals:,} signals, whose header is {256 * (n_signals + 1):,} bytes, and the file holds "
                f"{path.stat().st_size:,}"
            )
        per_record = [int(v) for v in _edf_signal_fields(head, 216, 8)]
        header_bytes, n_records = int(head[184:192]), int(head[236:244])
    except (OSError, ValueError):
        return False
    bdf = head[:1] == b"\xff"
    discontinuous = head[192:197] in (b"EDF+D", b"BDF+D")
    if n_records < 0 or header_bytes != 256 * (n_signals + 1):
        if discontinuous:
            raise DataError(f"{path}: EDF+D file whose header counts no data records or is garbled")
        return False  # -1: the recorder never counted its records; a header of another size is pyedflib's
    if n_records == 0:
        raise DataError(f"{path}: {'BDF' if bdf else 'EDF'} file holds no samples (its header counts 0 data records)")
    expected = header_bytes + n_records * sum(per_record) * (3 if bdf else 2)
    actual = path.stat().st_size
    if actual < expected:  # bytes past the last record (an exporter's padding) pyedflib reads past
        raise DataError(
            f"{path}: {'BDF' if bdf else 'EDF'} file cut short ({actual:,} bytes, where its header's "
            f"{n_records:,} data records need {expected:,})"
        )
    return discontinuous


def _ascii_header(head: bytes) -> bool:
    """Whether an EDF/BDF header (``_edf_header``) holds printable ASCII only, as EDF requires and pyedflib
    insists on (but for a BDF file's first byte, 0xFF)."""
    return all(32 <= byte <= 126 for byte in head[1:])


#: The label of an EDF+/BDF+ file's annotation signal, which holds each data record's time and the events.
EDF_ANNOTATIONS = ("EDF Annotations", "BDF Annotations")
#: A time-stamped annotation list of EDF+: onset, optional duration, then texts, each ended by 0x14.
_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x00", re.DOTALL)


def _read_edf_records(path: Path, lead: str | int | None, discontinuous: bool, head: bytes) -> Recording:
    """One signal of an EDF/BDF file that pyedflib cannot read, from its data records as they lie in the file.

    ``discontinuous`` (EDF+D/BDF+D): each data record placed at the onset its annotation signal gives it
    (seconds from the start), the samples no record holds missing (NaN), with one warning saying how many gaps
    and seconds; DataError for records out of order or overlapping, or without an annotation signal. Else the
    records follow one another (a file whose header pyedflib refuses for a character EDF does not allow). In mV
    where its unit is a voltage (``µV`` read as latin-1 writes it); its events as ``_read_edf`` gives them.
    ``head``: its header (``_edf_header``)."""
    from datetime import datetime

    raw, ns = head, int(head[252:256])
    kind = "BDF" if raw[:1] == b"\xff" else "EDF"

    def field(offset: int, width: int) -> list[str]:
        return _edf_signal_fields(raw, offset, width)

    labels, dims = field(0, 16), field(96, 8)
    try:
        pmin, pmax = [float(v) for v in field(104, 8)], [float(v) for v in field(112, 8)]
        dmin, dmax = [float(v) for v in field(120, 8)], [float(v) for v in field(128, 8)]
        per_record = [int(v) for v in field(216, 8)]
        header_bytes, n_records, duration = int(raw[184:192]), int(raw[236:244]), float(raw[244:252])
    except ValueError as exc:  # float('abc'): the text that is no number is the last word of its message
        raise DataError(
            f"{path}: {kind} header garbled: a field that holds a number holds {str(exc).split(': ')[-1]}"
        ) from None
    width = 3 if kind == "BDF" else 2
    annotation = next((i for i, label in enumerate(labels) if label in EDF_ANNOTATIONS), None)
    if (discontinuous and annotation is None) or duration <= 0:
        raise DataError(f"{path}: {kind}+D file without an annotation signal or a record length to time its records")
    offsets = np.concatenate([[0], np.cumsum(per_record)]) * width
    record_bytes = int(offsets[-1])
    if n_records < 0:  # -1: the recorder never counted them; the whole ones the file holds
        n_records = (path.stat().st_size - header_bytes) // record_bytes
    # mapped, not read: a day's records are read only where the lead lies in them
    records = np.memmap(path, dtype=np.uint8, mode="r", offset=header_bytes, shape=(n_records, record_bytes))

    onsets, events = [], []
    for k in range(n_records if annotation is not None else 0):
        tals = bytes(records[k, offsets[annotation] : offsets[annotation + 1]])
        found = list(_TAL.finditer(tals))
        if not found and discontinuous:
            raise DataError(f"{path}: data record {k + 1} of this {kind}+D file gives no time")
        if not found:
            continue  # a continuous file's records need no time: they follow one another
        onsets.append(float(found[0].group(1)))  # the first TAL of a record: its time-keeping one
        for tal in found:
            texts = [t.decode("utf-8", "replace").strip() for t in tal.group(3).split(b"\x14")]
            events += [(float(tal.group(1)), text) for text in texts if text]
    names = [label for i, label in enumerate(labels) if i != annotation]
    signals = [i for i in range(ns) if i != annotation]

    def read(wanted: str | int | None) -> tuple[np.ndarray, float, str, str]:
        index = signals[choose_lead(names, wanted, str(path))]
        part = records[:, offsets[index] : offsets[index + 1]].reshape(n_records, per_record[index], width)
        if width == 3:  # 24-bit little-endian, signed
            digital = part[..., 0] | (part[..., 1].astype(np.int32) << 8) | (part[..., 2].astype(np.int32) << 16)
            digital = np.where(digital >= 1 << 23, digital - (1 << 24), digital)
        else:
            digital = part.reshape(n_records, -1).copy().view("<i2")
        gain = (pmax[index] - pmin[index]) / ((dmax[index] - dmin[index]) or 1.0)
        values = (digital.astype(np.float64) - dmin[index]) * gain + pmin[index]
        rate = per_record[index] / duration
        if not discontinuous:  # one record after another
            return in_millivolts(values.reshape(-1), dims[index]), rate, labels[index], dims[index]
        starts = np.round((np.asarray(onsets) - onsets[0]) * rate).astype(np.int64)
        if np.any(np.diff(starts) < per_record[index]):
            k = int(np.flatnonzero(np.diff(starts) < per_record[index])[0]) + 1
            raise DataError(f"{path}: data record {k + 1} of this {kind}+D file starts before the one before it ends")
        signal = np.full(int(starts[-1]) + per_record[index], np.nan)
        for k in range(n_records):
            signal[starts[k] : starts[k] + per_record[index]] = values[k]
        return in_millivolts(signal, dims[index]), rate, labels[index], dims[index]

    read_one = read(lead)
    if lead is None:
        read_one = instead_of_flat(read_one, names, read, str(path))
    signal, rate, name, unit = read_one
    missing = int(np.isnan(signal).sum())
    if missing:
        gaps = int(np.count_nonzero(np.diff(np.asarray(onsets)) > duration * (1 + 1e-6)))
        warnings.warn(
            f"{path}: {kind}+D: {gaps:,} gap(s) between its data records ({_seconds(missing / rate)} in all): "
            "read as missing",
            stacklevel=3,
        )
    try:
        day, month, year = (int(v) for v in raw[168:176].decode("latin-1").split("."))
        hour, minute, second = (int(v) for v in raw[176:184].decode("latin-1").split("."))
        start = datetime(year + (1900 if year >= 85 else 2000), month, day, hour, minute, second)
    except ValueError:
        start = None
    start_s = onsets[0] if onsets else 0.0
    events = tuple((onset - start_s, text) for onset, text in events)
    return _edf_recording(path, signal, rate, name, unit, start, events)


#: Words of a column name (split at spaces, ``_``, ``-`` and brackets, case-insensitive) that mark a time
#: axis, and the unit words with their length in seconds: ``time``, ``t``, ``Time (s)``, ``timestamp_ms``, ``ms``.
TIME_WORDS = {"time", "t", "timestamp", "timestamps", "elapsed"}
UNIT_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "msec", "msecs", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("us", "usec", "microsecond", "microseconds"), 1e-6),
}
#: Sampling rates an ECG is recorded at, Hz; a time column is read as seconds where its step gives such a
#: rate, else as milliseconds (the two ranges cannot overlap: their ends are less than 1000x apart).
PLAUSIBLE_FS = (20.0, 10_000.0)


def is_ecg_rate(rate: float) -> bool:
    """Whether ``rate`` (Hz, any real number) is one an ECG is recorded at (``PLAUSIBLE_FS``); NaN is not."""
    return bool(PLAUSIBLE_FS[0] <= rate <= PLAUSIBLE_FS[1])


#: How far one step of a time column may stray from the sampling period, as a fraction of it (beyond the
#: rounding of the printed times): jitter moves a step, and is refused beyond this.
STEP_TOLERANCE = 0.1
#: Rows missing from a time column (a device's lost packets) leave a step of a whole number of periods; such a
#: step is read as that many samples with the ones between missing (NaN) where it is within this fraction of a
#: period of the whole number (beyond the rounding of the printed times). Jitter rarely lands so near.
GAP_TOLERANCE = 0.01
#: Steps of a time column checked at a time (``_time_axis_rate``): a day's at once took over 1 GB.
CHECK_BLOCK = 1 << 20
#: How far ``fs`` may differ from the rate of the file's time column, as a fraction of the latter.
FS_TOLERANCE = 0.01


def _time_unit(name: str) -> tuple[bool, float | None]:
    """Whether a column name marks a time axis, and its unit in seconds when the name gives one."""
    words = name_words(name)
    if not words or not all(w in TIME_WORDS or w in UNIT_SECONDS for w in words):
        return False, None
    units = [UNIT_SECONDS[w] for w in words if w in UNIT_SECONDS]
    return True, units[0] if units else None


def _resolution(cells) -> float:
    """The smallest step the printed numbers of a column can show: 0.001 for ``12.345``, 1 for ``12``."""
    import pandas as pd

    # What a number shows depends only on what follows its last point: the tails, few, stand for the column
    text = cells.astype(str).str.strip().str.rpartition(".")
    tails = pd.Series((text[1] + text[2]).unique())
    parts = tails.str.extract(r"(?:\.(\d*))?(?:[eE]([+-]?\d+))?$")
    decimals = parts[0].str.len().fillna(0)
    exponent = pd.to_numeric(parts[1]).fillna(0)
    return float((10.0 ** (exponent - decimals)).max())


def _time_axis_rate(
    t: np.ndarray, unit: float | None, resolution: float, where: str, first_row: int
) -> tuple[float, np.ndarray]:
    """Sampling rate (Hz) of a time column, and the sample each row falls on; DataError unless it increases
    in even steps, but for rows missing between them.

    t: (n_samples,) the column as written; unit: seconds per unit of t, or None to take seconds where
    the step gives a rate within ``PLAUSIBLE_FS`` and milliseconds otherwise. resolution: the rounding
    of the printed times, in units of t. where: ``"<file>: time column 'name'"``; first_row: the file's
    line number of t[0]. Each step is one period (within ``STEP_TOLERANCE``) or a whole number of them
    (within ``GAP_TOLERANCE``: rows missing); the period is the column's span over its periods, exact however
    the times were rounded. Returns the rate and (n_samples,) int64, each row's sample from the first.
    """
    if len(t) < 2:
        raise DataError(f"{where} needs at least two samples to give a sampling rate")
    if not np.isfinite(t).all():
        raise DataError(f"{where} has no value at row {int(np.flatnonzero(~np.isfinite(t))[0]) + first_row}")
    steps = np.diff(t)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        raise DataError(f"{where} does not increase at row {i + first_row + 1} ({t[i]:g}, then {t[i + 1]:g})")
    # Rows missing make a few steps several periods. The period: first the mean of the single steps (their
    # runs' rounding errors do not add up), then the span over the periods it counts, exact however rounded.
    # A day of samples is tens of millions of steps: one array of periods, filled in place, and the check below
    # a block at a time.
    median = np.median(steps)
    periods = steps / median
    single = np.round(periods, out=periods) == 1
    np.divide(steps, steps.mean(where=single) if single.any() else median, out=periods)
    np.maximum(np.round(periods, out=periods), 1, out=periods)
    del single
    step = (t[-1] - t[0]) / periods.sum()
    low, high = PLAUSIBLE_FS
    if unit is None:
        unit = 1.0 if low <= 1.0 / step <= high else 1e-3
        if not low <= 1.0 / (step * unit) <= high:
            raise DataError(
                f"{where} steps by {step:g}: neither seconds ({1 / step:g} Hz) nor milliseconds "
                f"({1000 / step:g} Hz) give an ECG sampling rate ({low:g}-{high:g} Hz)"
            )
    fs = 1.0 / (step * unit)
    if not low <= fs <= high:
        raise DataError(
            f"{where} steps by {step:g} (units of {unit:g} s): {fs:g} Hz is not an ECG sampling rate "
            f"({low:g}-{high:g} Hz)"
        )
    rounding = resolution + 8 * np.finfo(float).eps * max(abs(t.min()), abs(t.max()))
    n_off, first_off = 0, 0
    for begin in range(0, len(steps), CHECK_BLOCK):
        block = slice(begin, begin + CHECK_BLOCK)
        tolerance = np.where(periods[block] == 1, STEP_TOLERANCE, GAP_TOLERANCE) * step + rounding
        off = np.flatnonzero(np.abs(steps[block] - periods[block] * step) > tolerance)
        first_off = first_off if n_off or not off.size else begin + int(off[0])
        n_off += off.size
    if n_off:
        i = first_off
        raise DataError(
            f"{where} is unevenly spaced: {t[i]:g} to {t[i + 1]:g} at row {i + first_row + 1} where the step "
            f"is {step:g} ({n_off} of {len(steps)} steps off by over {STEP_TOLERANCE:.0%}, or over "
            f"{GAP_TOLERANCE:.0%} from a whole number of steps as missing rows leave); resample the signal to an "
            "even rate"
        )
    rate = float(round(fs)) if abs(fs - round(fs)) <= 1e-3 * fs else fs
    del steps
    samples = np.zeros(len(t), dtype=np.int64)
    samples[1:] = periods
    return rate, np.cumsum(samples, out=samples)


def _seconds(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds >= 1 else f"{seconds:.3f} s"


def _with_gaps(values: np.ndarray, rows: np.ndarray, fs: float, where: str) -> np.ndarray:
    """``values`` ((n,) float, one per row) at their samples ``rows`` ((n,) int64 from 0, ascending), NaN for
    the samples no row holds, with one warning saying how many gaps and seconds; ``values`` as they are where
    none is missing. DataError where more samples are missing than the rows hold (a time that jumps, not a
    few lost packets). where: ``"<file>: time column 'name'"``."""
    missing = int(rows[-1]) + 1 - len(rows)
    if missing == 0:
        return values
    gaps = np.diff(rows) - 1
    n_gaps, longest = int(np.count_nonzero(gaps)), int(np.argmax(gaps))
    longest_s, from_s = _seconds(gaps[longest] / fs), f"{(rows[longest] + 1) / fs:,.3f} s"
    if missing > len(rows):
        raise DataError(
            f"{where} skips {missing:,} samples ({_seconds(missing / fs)}) in {n_gaps:,} gap(s), more than the "
            f"{len(rows):,} rows it holds (the longest {longest_s}, {from_s} from the start): check its times, or "
            "split the file where they jump"
        )
    if n_gaps == 1:
        said = f"1 gap ({longest_s}, {from_s} from the start)"
    else:
        said = f"{n_gaps:,} gaps ({_seconds(missing / fs)} in all, the longest {longest_s}, {from_s} from the start)"
    warnings.warn(
        f"{where} skips {missing:,} sample{'s' if missing > 1 else ''} in {said}: read as missing", stacklevel=4
    )
    signal = np.full(int(rows[-1]) + 1, np.nan)
    signal[rows] = values
    return signal


def _is_counter(values: np.ndarray) -> bool:
    """Whole numbers counting up by one, but where rows are missing: a sample index, which gives no time unit
    (a table saved with its row numbers after rows were dropped skips some)."""
    steps = np.diff(values)
    return bool(len(steps) and np.all(values == np.round(values)) and np.all(steps >= 1) and np.median(steps) == 1)


def _date_time_columns(cells) -> dict[int, object]:
    """The columns of ``cells`` (a table of strings, a file's first rows) that hold ISO 8601 date-times
    (``2026-11-28 10:00:00.004``, as devices and apps export their samples' clock), each with its first time
    stamp (a ``pd.Timestamp`` in UTC): the moment its seconds count from."""
    import pandas as pd

    origins = {}
    for i in range(cells.shape[1]):
        column = cells.iloc[:, i]
        if pd.to_numeric(column.iloc[:1], errors="coerce").notna().all():
            continue  # a number: not a date-time column
        stamps = pd.to_datetime(column, errors="coerce", format="ISO8601", utc=True)
        if stamps.notna().all():
            origins[i] = stamps.iloc[0]
    return origins


def _date_time_seconds(column, origin) -> np.ndarray:
    """A column of date-times as seconds from ``origin`` (``_date_time_columns``), NaN where a cell is none: a
    missing time, which the time column's check names."""
    import pandas as pd

    stamps = pd.to_datetime(column, errors="coerce", format="ISO8601", utc=True)
    return (stamps - origin).dt.total_seconds().to_numpy(dtype=np.float64)


def _first_stamp(cells, origins: dict[int, object]) -> Start:
    """The first time stamp of the first date-time column, as the local time it was written in (its time zone
    dropped), or None."""
    import pandas as pd

    if not origins:
        return None
    return pd.Timestamp(str(cells.iloc[0, min(origins)]).strip()).to_pydatetime().replace(tzinfo=None)


#: A header field's value that gives a sampling rate: ``500``, ``500 Hz``, ``500Hz``, ``500 sps``, ``500 samples/s``.
RATE_VALUE = r"\s*(\d+(?:\.\d*)?)\s*(?:hz|sps|samples?\s*/\s*s(?:ec)?)?\s*"


def _header_fields(notes: tuple[str, ...]) -> list[tuple[list[str], str, str]]:
    """The ``key: value`` lines among a CSV's notes (a cardiograph's header block, or ``# Key: value``
    comments): ``(the key's words, the value, the line)`` each."""
    fields = []
    for line in notes:
        key, colon, value = line.partition(":")
        if colon and key.strip():
            fields.append((name_words(key), value.strip(), line))
    return fields


def _header_rate(notes: tuple[str, ...], path: Path) -> float | None:
    """The sampling rate (Hz) a CSV's header block gives (``Sampling Rate: 500 Hz``, ``# Sample rate: 250``,
    ``fs: 500``), or None where it gives none; DataError where such a field holds no rate an ECG has."""
    for words, value, line in _header_fields(notes):
        rate_word = {"rate", "frequency", "freq"} & set(words)
        if not (words == ["fs"] or (rate_word and any(w.startswith("sampl") for w in words))):
            continue
        number = re.match(RATE_VALUE, value, flags=re.IGNORECASE)  # "500 Hz (resampled)" too
        low, high = PLAUSIBLE_FS
        if number is None or not low <= float(number.group(1)) <= high:
            raise DataError(f"{path}: its header's {line!r} gives no sampling rate ({low:g}-{high:g} Hz)")
        return float(number.group(1))
    return None


def _header_unit(notes: tuple[str, ...]) -> float | None:
    """The mV per unit of the voltage unit a CSV's header block names for its samples (``Units: uV``,
    ``Amplitude unit: mV``), None where it names none."""
    for words, value, _ in _header_fields(notes):
        if {"unit", "units"} & set(words) and voltage_scale(value) is not None:
            return voltage_scale(value)
    return None


#: The words of a header field's name that say it holds when the recording was made.
START_WORDS = {"date", "time", "start", "started", "acquired", "acquisition", "recorded", "datetime", "timestamp"}


def _header_start(notes: tuple[str, ...]) -> Start:
    """The wall-clock start a CSV's header block gives, as the local time it was written in: an ISO 8601 date
    and time in one field (``Acquisition Date: 2024-03-01 09:12:33``), or a date and a time of day in two
    (``Date: 2024-03-01``, ``Time: 09:12:33``); None where it gives none (a date without its time of day)."""
    from datetime import date, datetime, time

    def parsed(kind, text: str):
        try:
            return kind.fromisoformat(text)
        except ValueError:
            return None

    day, clock = None, None
    for words, value, _ in _header_fields(notes):
        if not START_WORDS & set(words):
            continue
        if ":" not in value:
            day = day or parsed(date, value)
        elif (stamp := parsed(datetime, value)) is not None:
            return stamp.replace(tzinfo=None)
        else:
            clock = clock or parsed(time, value)
    return datetime.combine(day, clock.replace(tzinfo=None)) if day is not None and clock is not None else None


def _read_csv(path: Path, fs: float | None, lead: str | int | None, exact: bool = False) -> Recording | BeatRows:
    """A CSV signal: one column per lead and optionally a time column, with or without a header row.

    Without a header row, columns are named by index ("0", "1", ...); a headerless file of 187 or 188
    columns is a Heartbeat beat CSV and comes back as ``BeatRows``. Names may be quoted in single quotes, and
    a row of units may follow them (PhysioNet's exports: ``'Elapsed time','MLII'`` then ``'seconds','mV'``):
    a time unit there makes the column a time column in that unit, a voltage unit (mV, uV, V) reads the lead
    in mV; without a unit row, a voltage unit in the lead's name does (``ECG (uV)``, ``II [mV]``, ``ecg_uv``).
    An elapsed-time column (``0:00:01.250``, ``'hh:mm:ss.mmm'``) is read as seconds.

    Time column: a column of ISO 8601 date-times (read as seconds from its first), or one named like time
    (``time``, ``t``, ``timestamp``, ``seconds``, ``s``, ``time_s``,
    ``Time (s)``, ``ms``, ``time_ms``, ... case-insensitive; see ``TIME_WORDS`` and ``UNIT_SECONDS``), or a
    first column whose values increase in steps other than a plain sample counter (0, 1, 2, ... gives no
    unit; where it skips rows, their samples are missing). Its unit is the one the name gives; else seconds
    if the period makes a sampling rate of 20 Hz to 10 kHz in seconds, else milliseconds (0.004 -> 250 Hz in
    s; 4 -> 250 Hz in ms). Its steps must
    be even (each within 10% of the period, beyond the rounding of the printed times), but where rows are
    missing (a step of a whole number of periods, within 1% of one: a device's lost packets), whose samples
    are read as missing (NaN) with one warning; it gives the sampling rate, so ``fs`` may be left out; a given
    ``fs`` must agree with it within 1%. A time column, and any other strictly increasing column, is never the
    lead.

    A header block above the table (``# Key: value`` comments, or a cardiograph's ``Key: value`` lines) may
    give the sampling rate (``Sampling Rate: 500 Hz``; a given ``fs`` that disagrees is left aside with a
    warning, as a WFDB or EDF header's rate leaves it; a time column must agree with it within 1%) and the
    samples' voltage unit (``Units: uV``), which a unit row or a column's name overrides, and the start
    (``Acquisition Date: 2024-03-01 09:12:33``), where no time stamp column gives one.

    Lead: ``lead`` (a name, or an index counting every column of the file) if given; else MLII, else
    lead II, else the first column whose name names a lead (``ECG``, ``II``, ``V5``, ``Lead I``, ...; V1-V3 last),
    else the first column that is neither time nor increasing; a lead named so that holds nothing (all zero:
    a lead not connected) gives way to the next one with a warning (``instead_of_flat``). Errors are one-line
    DataErrors naming the file. The signal is (n_samples,) float64 in the file's unit.
    """
    table = _signal_table(path, exact=exact)
    if isinstance(table, BeatRows):
        return table
    names, units, data, first_row, comments = table.names, table.units, table.data, table.first_row, table.comments
    has_header = table.has_header

    time_rate, time_label, rows, counter, not_leads = None, "", None, None, set()
    for i, name in enumerate(names):
        is_time, unit = _time_unit(name) if has_header else (False, None)
        row_unit = 1.0 if i in table.elapsed else UNIT_SECONDS.get(units[i].lower()) if units else None
        if row_unit is not None:  # the unit row names a time unit: a time column, in that unit
            is_time, unit = True, row_unit
        increasing = len(data) >= 3 and bool(np.all(np.diff(data[:, i]) > 0))
        if is_time or (i == 0 and increasing and not _is_counter(data[:, i])):
            label = f"time column {name!r}" if has_header else f"the time in column {i + 1}"
            where = f"{path}: {label}"
            try:
                rate, samples = _time_axis_rate(data[:, i], unit, table.resolution[i], where, first_row)
            except DataError:
                if table.exact:
                    raise
                # its times were rounded as the first rows show: the whole column, as text, may show coarser ones
                return _read_csv(path, fs, lead, exact=True)
            if time_rate is None:  # the first time column gives the rate, and the samples rows are missing from
                time_rate, time_label, rows = rate, label, samples
            not_leads.add(i)
        elif increasing:
            not_leads.add(i)  # a sample counter or another running number: not a signal
            if i == 0 and _is_counter(data[:, i]):
                counter = (data[:, i] - data[0, i]).astype(np.int64)  # the sample of each row, where none is time

    header_rate = _header_rate(comments, path)
    if header_rate is not None:
        if time_rate is not None and abs(header_rate - time_rate) > FS_TOLERANCE * time_rate:
            raise DataError(f"{path}: its header's {header_rate:g} Hz disagrees with {time_label} ({time_rate:g} Hz)")
        _header_rate_rules(path, fs, header_rate)
        fs = header_rate if time_rate is None else None
    if time_rate is not None and fs is not None and abs(fs - time_rate) > FS_TOLERANCE * time_rate:
        raise DataError(f"{path}: --fs {fs:g} Hz disagrees with {time_label} ({time_rate:g} Hz)")
    if time_rate is None and fs is None:
        raise DataError(f"{path}: a CSV signal needs its sampling rate: pass --fs HZ (or give it a time column)")
    rate = float(fs) if fs is not None else time_rate

    if lead is not None:
        if isinstance(lead, str) and not lead.isdigit() and lead != OTHER_LEAD and lead not in names:
            # said here, not by choose_lead: its list would name the time column as a lead
            leads = ", ".join(name for i, name in enumerate(names) if i not in not_leads) or "none"
            raise DataError(f"{path}: lead {lead!r} does not exist (leads: {leads})")
        index = choose_lead(names, lead, str(path))
        if index in not_leads:
            raise DataError(f"{path}: column {names[index]!r} increases steadily (a time or sample axis), not a lead")
    else:
        candidates = [i for i in range(len(names)) if i not in not_leads]
        if not candidates:
            raise DataError(f"{path}: no signal column (every column is time or increases steadily)")
        named = [i for i in candidates if has_header and looks_like_ecg(names[i])]
        pool = named or candidates

        def read(k: int | None) -> tuple[np.ndarray, int, str]:
            k = choose_lead([names[i] for i in pool], k, str(path))
            return data[:, pool[k]], pool[k], names[pool[k]]

        # A cardiograph writes a lead not connected as zeros: the next ECG lead, as a WFDB or EDF file's. Among
        # columns no name calls a lead, the first is read, flat or not: nothing says which holds an ECG.
        first = read(None)
        index = (instead_of_flat(first, [names[i] for i in pool], read, str(path)) if named else first)[1]
    if rows is None and counter is not None:
        rows, time_label = counter, "the sample index in column 1"
    # the lead's own copy: writable (predict turns a part worn upside down over in place; pandas' numbers may
    # come back read-only), and the table's other columns freed
    signal = np.array(data[:, index])
    signal = signal if rows is None else _with_gaps(signal, rows, rate, f"{path}: {time_label}")
    # a unit row's mV, uV or V, else one the column's name gives ("ECG (uV)", "ecg_mv"): read in mV
    scale = voltage_scale(units[index]) if units else _unit_in_name(names[index]) if has_header else None
    scale = scale if scale is not None else _header_unit(comments)  # a header block's "Units: uV"
    signal = signal if scale in (None, 1.0) else signal * scale
    return Recording(
        signal=signal,
        fs=rate,
        lead=names[index],
        path=path,
        millivolts=scale is not None,
        start=table.start if table.start is not None else _header_start(comments),
        notes=comments,
    )


#: Rows of a signal CSV read as text at a time where it is not plain numbers: a day of samples as text would
#: take several GB.
CHUNK_ROWS = 200_000


@dataclass
class _SignalTable:
    """A signal CSV's table, as ``_signal_table`` reads it.

    names: one per column (``"0"``, ``"1"``, ... without a header row); units: the unit row's, or None; data:
    (n_rows, n_columns) float64, NaN where a sample is missing, elapsed and date-time columns as seconds;
    first_row: the file's line number of data[0]; elapsed: the columns of elapsed times; start: the first time
    stamp of a date-time column, or None; resolution: per column, the smallest step its printed numbers show
    (``_resolution``); exact: whether those are the whole column's, not its first rows' only; comments: the
    lines above the table."""

    names: list[str]
    has_header: bool
    units: list[str] | None
    data: np.ndarray
    first_row: int
    elapsed: set[int]
    start: Start
    resolution: list[float]
    exact: bool
    comments: tuple[str, ...]


def _signal_table(path: Path, exact: bool) -> _SignalTable | BeatRows:
    """A signal CSV's table (``_read_csv``): its names and unit row from its first rows, then its numbers.

    A table of plain numbers is read straight into numbers (``csv_numbers``: seconds for a day of samples),
    its resolutions from its first ``CHUNK_ROWS`` rows. Otherwise, or with ``exact``, it is read as text,
    ``CHUNK_ROWS`` rows at a time (``csv_cell_chunks``), the date-time and elapsed columns and the decimal
    commas that its first rows show converted in each (``quoted_decimal_commas``; with ``;`` or tab separators
    a comma is read as a decimal mark by ``csv_cell_chunks``)."""
    import pandas as pd

    chunks = csv_cell_chunks(path, CHUNK_ROWS)
    frame = next(chunks)
    skipped, comments = frame.attrs["skipped_lines"], frame.attrs["comments"]
    with_commas = has_commas(frame.iloc[:1000])  # looked at whole only where its first rows hold one
    frame = quoted_decimal_commas(frame, path, skipped) if with_commas else frame
    has_header = bool(pd.to_numeric(frame.iloc[0], errors="coerce").isna().any())
    names = [_unquoted(c) for c in frame.iloc[0]] if has_header else [str(i) for i in range(frame.shape[1])]
    header_rows, units = int(has_header), None
    if has_header and len(frame) > 2 and _is_unit_row(frame.iloc[1]):
        units, header_rows = [_unquoted(c) for c in frame.iloc[1]], 2
    body = frame.iloc[header_rows:]
    if body.empty:  # the first chunk holds every row where it holds fewer than CHUNK_ROWS
        raise DataError(f"{path}: file holds no samples")
    first_row = skipped + header_rows + 1
    if not has_header and frame.shape[1] in (BEAT_LENGTH, BEAT_LENGTH + 1):
        # The Heartbeat CSV layout: one 187-sample beat per row (plus a label column, ignored here).
        beats = [cells_to_numbers(body.iloc[:, :BEAT_LENGTH], path, first_row=first_row)]
        for chunk in chunks:
            beats.append(
                cells_to_numbers(chunk.iloc[:, :BEAT_LENGTH], path, first_row=skipped + 1 + chunk.attrs["first"])
            )
        return BeatRows(X=np.concatenate(beats).astype(np.float32), path=path)

    kept = _without_blank_tail(body)  # Excel's ';;' rows under a table would hide its time stamps' column
    elapsed, origins = _elapsed_columns(kept), _date_time_columns(kept)
    start = _first_stamp(kept, origins)

    excel_errors = ExcelErrors()  # said once for the file, not once per chunk

    def numbers(cells, row: int) -> np.ndarray:
        seconds = {i: _elapsed_seconds(cells.iloc[:, i]).to_numpy(dtype=np.float64) for i in elapsed}
        seconds |= {i: _date_time_seconds(cells.iloc[:, i], origin) for i, origin in origins.items()}
        if seconds:  # read as numbers below, then given their seconds
            cells = cells.copy()
            cells.iloc[:, list(seconds)] = "0"
        values = cells_to_numbers(cells, path, first_row=row, missing_ok=True, excel_errors=excel_errors)
        for i, column in seconds.items():
            values[:, i] = column
        return values

    # the columns that may be a time axis (see _read_csv), whose printed rounding its check allows for
    timed = [
        i == 0
        or i in elapsed
        or (has_header and _time_unit(name)[0])
        or bool(units and units[i].lower() in UNIT_SECONDS)
        for i, name in enumerate(names)
    ]

    def resolution(cells) -> list[float]:
        return [_resolution(cells.iloc[:, i]) if timed[i] else 0.0 for i in range(cells.shape[1])]

    head = numbers(body, first_row)
    resolutions = resolution(body)
    preamble = frame.attrs["preamble"]
    fast = None if exact or elapsed or origins else csv_numbers(path, header_rows, preamble)
    if fast is not None and fast.shape[1] == head.shape[1] and np.array_equal(fast[: len(head)], head, equal_nan=True):
        whole = len(fast) == len(head)
        fast, names = _table_end(fast, names, has_header, path, preamble.encoding)
        return _SignalTable(names, has_header, units, fast, first_row, elapsed, start, resolutions, whole, comments)
    parts = [head]
    for chunk in chunks:
        chunk = quoted_decimal_commas(chunk, path, skipped, header=False) if with_commas else chunk
        parts.append(numbers(chunk, skipped + 1 + chunk.attrs["first"]))
        resolutions = np.maximum(resolutions, resolution(chunk)).tolist()
    data = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if excel_errors.counts:
        warnings.warn(excel_errors.said(path), stacklevel=4)
    data, names = _table_end(data, names, has_header, path, preamble.encoding)
    return _SignalTable(names, has_header, units, data, first_row, elapsed, start, resolutions, True, comments)


def _without_blank_tail(cells):
    """``cells`` (a table of strings) without the rows at its end whose every cell is blank."""
    blank = cells.apply(lambda column: column.str.strip() == "").all(axis=1).to_numpy()
    filled = np.flatnonzero(~blank)
    return cells.iloc[: filled[-1] + 1] if filled.size else cells


#: Rows looked at a time for the empty rows at a table's end (``_table_end``): Excel may save a million.
TAIL_BLOCK = 4096


def _table_end(
    data: np.ndarray, names: list[str], has_header: bool, path: Path, encoding: str
) -> tuple[np.ndarray, list[str]]:
    """A signal CSV's numbers ((n_rows, n_columns) float64, NaN where a cell is missing) and column names, less
    what a spreadsheet adds at the table's end, which holds no samples: an empty last column (a separator ending
    every row, where a column beyond the table was once touched: ``0,004;-0,151;``), the empty rows under the
    table (``;;``, blank lines), and a last line cut off (a copy stopped mid-line: no line end, and cells
    missing that the row above holds), left out with a warning. DataError where no row holds a number."""
    if data.shape[1] > 1 and not (has_header and names[-1]) and np.isnan(data[:, -1]).all():
        data, names = data[:, :-1], names[:-1]
    line, ended = last_line(path, encoding)
    if not ended and len(data) > 1 and (np.isnan(data[-1]) & ~np.isnan(data[-2])).any():
        warnings.warn(
            f"{path}: its last line is cut off (no line end, cells missing: {shown(line.strip())}): left out",
            stacklevel=5,
        )
        data = data[:-1]
    end = len(data)
    while end:
        block = data[max(end - TAIL_BLOCK, 0) : end]
        filled = np.flatnonzero(~np.isnan(block).all(axis=1))
        if filled.size:
            end -= len(block) - int(filled[-1]) - 1
            break
        end -= len(block)
    if end == 0:
        raise DataError(f"{path}: file holds no samples (no row holds a number)")
    return data[:end], names


def _unit_in_name(name: str) -> float | None:
    """The mV per unit of a voltage unit a column's name gives, in brackets (``ECG (uV)``, ``II [mV]``) or
    after an underscore (``ecg_mv``, ``lead_ii_uV``); None where it gives none. A bare ``V`` after an
    underscore is a chest lead's name (``ECG_V``), not volts, so only the bracketed form reads it."""
    bracketed = re.search(r"[\[(]\s*([^\[\]()]+?)\s*[\])]\s*$", name)
    if bracketed:
        return voltage_scale(bracketed.group(1))
    suffix = re.search(r"_([^_\s]+)\s*$", name)
    unit = suffix.group(1) if suffix else ""
    return voltage_scale(unit) if unit.lower() not in ("v", "volt", "volts") else None


def _unquoted(cell) -> str:
    """A header cell without the spaces and quotes around it: PhysioNet's CSV exports quote their names and
    units in single quotes (``'Elapsed time','MLII'``), which no CSV reader takes for quotes."""
    return str(cell).strip().strip("'\"").strip()


#: An elapsed time as PhysioNet's exports write it: ``0:00:01.250`` or ``00:01.250`` (h:mm:ss.mmm, mm:ss.mmm).
ELAPSED = r"(?:\d+:)?\d{1,2}:\d{2}(?:\.\d+)?"


def _is_unit_row(row) -> bool:
    """Whether the row under a header row names units (``'seconds','mV','mV'``, ``s,uV``): a cell in each
    column, none of them a number, a date-time or an elapsed time, one at least a time or voltage unit."""
    import pandas as pd

    cells = [_unquoted(c) for c in row]
    if not all(cells) or pd.to_numeric(pd.Series(cells), errors="coerce").notna().any():
        return False
    known = [c.lower() in UNIT_SECONDS or voltage_scale(c) is not None or c.lower() == "hh:mm:ss.mmm" for c in cells]
    return any(known) and not any(re.fullmatch(ELAPSED, c) for c in cells)


def _elapsed_columns(cells) -> set[int]:
    """The columns of ``cells`` (a table of strings, a file's first rows) that hold elapsed times
    (``ELAPSED``, quoted or not: ``'0:00:01.250'``)."""
    found = set()
    for i in range(cells.shape[1]):
        if not re.fullmatch(ELAPSED, _unquoted(cells.iloc[0, i])):
            continue  # looked at whole only where its first cell is one
        if _elapsed_seconds(cells.iloc[:, i]).notna().all():
            found.add(i)
    return found


def _elapsed_seconds(column):
    """A column of elapsed times as seconds (a Series), NaN where a cell is none."""
    import pandas as pd

    column = column.astype(str).str.strip().str.strip("'\"")
    hms = column.where(column.str.count(":") == 2, "0:" + column).where(column.str.fullmatch(ELAPSED))
    return pd.to_timedelta(hms, errors="coerce").dt.total_seconds()


def _read_npy(path: Path, fs: float | None, lead: str | int | None) -> Recording:
    if fs is None:
        raise DataError(f"{path}: a NumPy signal needs its sampling rate: pass --fs HZ")
    try:
        # Mapped, not read: a header that claims more samples than the file holds is an error here, where
        # reading it would first allocate them all (10^12 samples: a MemoryError traceback).
        data = np.load(path, allow_pickle=False, mmap_mode="r")
    # EOFError: an empty file; SyntaxError, TokenError: a header damaged into no Python literal NumPy can parse
    except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({_npy_trouble(path, exc)})") from None
    if not isinstance(data, np.ndarray):  # np.load opens a zip as an .npz archive, whatever its name
        data.close()
        raise DataError(f"{path}: a NumPy .npz archive of arrays, not one .npy array: save the signal with np.save")
    names = None
    if data.dtype.names is not None:
        # A structured (record) array, as pandas' to_records and device SDKs save one: its fields are the leads.
        data, names = _fields_as_columns(data, path), list(data.dtype.names)
    # whole and real numbers only: NumPy casts complex to real dropping the imaginary part, and counts a
    # timedelta64 as a number
    if data.ndim not in (1, 2) or data.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: expected a numeric (n_samples,) or (n_samples, n_leads) array, got {data.dtype} values of "
            f"shape {data.shape}"
        )
    if data.ndim == 1:
        data = data[:, None]
    if data.size == 0:
        raise DataError(f"{path}: file holds no samples")
    if np.isinf(data).any():  # NaN is a missing sample; an infinity is a value no ECG has (an overflow)
        sample, column = np.argwhere(np.isinf(data))[0]
        where = f"sample {sample}" if data.shape[1] == 1 else f"row {sample}, column {column}"
        raise DataError(f"{path}: {where}: not a finite number ({data[sample, column]})")
    if data.shape[0] < data.shape[1] and names is None:
        # Channel-first (n_leads, n_samples), as NeuroKit2, MNE and most deep-learning code store ECG: no
        # recording has more leads than samples.
        data = data.T
    names = names or [str(i) for i in range(data.shape[1])]
    signal, name = _pick_column(names, data, lead, path)  # the lead alone in float64: 12 leads of int16 take 32x
    return Recording(signal=signal, fs=float(fs), lead=name, path=path, millivolts=False)


def _npy_trouble(path: Path, exc: Exception) -> str:
    """What is wrong with a .npy file NumPy would not map, in words: NumPy says that a file which is no .npy at
    all 'contains pickled (object) data' and offers to unpickle it."""
    with path.open("rb") as fh:
        magic = fh.read(6)
        if not magic:
            return "the file is empty"
        if magic != b"\x93NUMPY":
            return "it does not begin as NumPy's .npy format does: another format, or damaged"
    if "mmap length" in str(exc):
        return "its header gives more samples than the file holds (cut short?)"
    if "Python objects" in str(exc):
        return "it holds Python objects, not numbers"
    if isinstance(exc, (SyntaxError, tokenize.TokenError)):
        return "its header is damaged: no dtype and shape NumPy can read"
    return str(exc)


def _fields_as_columns(data: np.ndarray, path: Path) -> np.ndarray:
    """A structured array's fields as the columns of (n_samples, n_fields) float64; DataError naming a field
    that is no number (a text or a nested field)."""
    for field in data.dtype.names:
        kind = data.dtype.fields[field][0]
        if kind.shape or not (np.issubdtype(kind, np.number) or np.issubdtype(kind, np.bool_)):
            raise DataError(f"{path}: field {field!r} of the array holds {kind} values, not one number per sample")
    if data.ndim != 1:
        raise DataError(f"{path}: expected a (n_samples,) array of records, got {data.shape}")
    return np.column_stack([np.asarray(data[field], dtype=np.float64) for field in data.dtype.names])


def _header_rate_rules(path: Path, fs: float | None, rate: float) -> None:
    """Warn where ``fs`` was given for a file whose header gives its own ``rate`` (Hz), which is the one read:
    an archive of mixed files takes one ``--fs`` for its CSV and NumPy signals, so this is not an error."""
    if fs is not None and abs(fs - rate) > FS_TOLERANCE * rate:
        warnings.warn(f"{path}: --fs {fs:g} Hz left aside: its header gives {rate:g} Hz", stacklevel=3)


def _ecg_rate(path: Path, rate: float) -> None:
    """DataError where the sampling rate (Hz) a header gives is none an ECG is recorded at (``PLAUSIBLE_FS``): at
    0.001 Hz or 1 Hz no filter or beat window of labelling has a sample to work with."""
    if not is_ecg_rate(rate):
        low, high = PLAUSIBLE_FS
        raise DataError(f"{path}: its header's {rate:g} Hz is not an ECG sampling rate ({low:g}-{high:g} Hz)")


def read_input(
    path: str | Path, fs: float | None = None, lead: str | int | None = None, units: str | float | None = None
) -> Recording | BeatRows:
    """Read a recording (or a beat CSV) by its file type.

    WFDB records may be given with or without ``.hea``; their sampling rate comes from the header, as
    for EDF (a WFDB header that leaves it out is read at ``fs``, else at WFDB's default 250 Hz with a
    warning). CSV signals (one column per lead, optional header row of lead names) take it from a time
    column where they have one (see ``_read_csv``), else need ``fs``, as ``.npy`` signals do. ``lead`` is
    a lead name or index; the default is MLII, else lead II, else the first ECG lead, V1-V3 last (for CSV, the first
    column named like a lead, and never a time column). ``units`` is the signal's unit where the file names
    none (``data.units.mv_per_unit``: ``"uV"``, or ``409.6`` units per mV for a recorder's counts): the
    signal is read in mV and its unit is not guessed from the size of its beats; a header that names a
    voltage unit keeps it (a warning says so).
    """
    scale = mv_per_unit(units) if units is not None else None  # a wrong --units said before a long read
    recording = _read_input(Path(path), fs, lead)
    if scale is None or isinstance(recording, BeatRows):
        return recording
    if recording.millivolts:
        warnings.warn(f"{recording.path}: --units {units} left aside: its header names its unit", stacklevel=2)
        return recording
    return replace(recording, signal=recording.signal * scale, millivolts=True)


def _lower_case_header(record: Path) -> None:
    """DataError where a WFDB record's header is there only with a suffix of another case (``100.HEA``, as files
    copied from a Windows share keep it, where ``100.hea`` names the same file): WFDB opens ``100.hea`` and the
    signal files by the names the header gives, and would say the header is missing."""
    wanted = f"{record.name}.hea"
    if Path(record.parent / wanted).is_file():
        return
    try:
        found = [p for p in record.parent.iterdir() if p.name.lower() == wanted.lower() and p.is_file()]
    except OSError:
        return
    if found:
        raise DataError(
            f"{found[0]}: WFDB reads a header named {wanted!r}, and the signal files by the names it gives: rename "
            f"the record's files with lower-case suffixes ({wanted}, {record.name}.dat, ...), which Windows shows alike"
        )


def _read_input(path: Path, fs: float | None, lead: str | int | None) -> Recording | BeatRows:
    if fs is not None and not is_ecg_rate(fs):
        low, high = PLAUSIBLE_FS
        raise DataError(f"{path}: --fs {fs:g} Hz is not an ECG sampling rate ({low:g}-{high:g} Hz)")
    kind = SIGNAL_SUFFIXES.get(path.suffix.lower())
    if kind in (None, "wfdb"):
        _lower_case_header(path.with_suffix("") if kind == "wfdb" else path)
    if kind is None and Path(f"{path}.hea").is_file():
        kind = "wfdb"  # a record name given without its .hea
    if kind is None and not path.exists():
        raise DataError(f"{path}: no such file, and no WFDB record (no {path.name}.hea)")
    if kind is None:
        known = ", ".join(sorted(SIGNAL_SUFFIXES))
        raise DataError(f"{path}: unknown input format (a WFDB record or one of {known})")
    if kind == "wfdb":
        record = path.with_suffix("") if path.suffix.lower() in (".hea", ".dat") else path
        signal, rate, name, unit = read_lead_and_unit(record, lead)
        if header_gives_rate(record):
            _header_rate_rules(record, fs, rate)
        elif fs is not None:  # the header leaves the rate out: the one given is the only one there is
            rate = float(fs)
        else:
            warnings.warn(
                f"{record}.hea: the header gives no sampling rate: read at WFDB's default of {rate:g} Hz "
                "(--fs HZ gives the recorder's)",
                stacklevel=3,
            )
        _ecg_rate(record.with_suffix(".hea"), rate)
        return Recording(
            signal,
            rate,
            name,
            record,
            millivolts=names_a_voltage(unit),
            start=record_start(record),
            notes=record_comments(record),
        )
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    if kind == "edf":
        recording = _read_edf(path, lead)
        _ecg_rate(path, recording.fs)
        _header_rate_rules(path, fs, recording.fs)
        return recording
    if kind == "csv":
        return _read_csv(path, fs, lead)
    return _read_npy(path, fs, lead)
