"""PhysioNet WFDB databases (MIT-BIH Arrhythmia Database first) read with the ``wfdb`` package."""

from __future__ import annotations

import functools
import math
import re
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from arrhythmia.data.beats import (
    AAMI_CLASSES,
    NON_BEAT_SYMBOLS,
    SYMBOL_TO_AAMI,
    WINDOWS,
    BeatSet,
    Window,
    concatenate,
)
from arrhythmia.data.download import download_physionet
from arrhythmia.data.pipeline import cut_beats
from arrhythmia.data.sources import Source
from arrhythmia.errors import DataError

# Bits per sample of the WFDB storage formats, to spot a truncated signal file before wfdb does.
_BITS_PER_SAMPLE = {8: 8, 16: 16, 24: 24, 32: 32, 61: 16, 80: 8, 160: 16, 212: 12, 310: 32 / 3, 311: 32 / 3}
#: The storage formats wfdb reads (its ``_signal.DAT_FMTS``; 508-524 FLAC-compressed).
WFDB_FORMATS = ("8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524")
PREFERRED_LEAD = "MLII"
#: A lead name with one of these words names an ECG lead: ``ECG``, ``MLII``, ``Lead II``, ``V1``, ``ecg_mv``,
#: the European limb-lead names (``DII``, ``D3``) and the bipolar Holter leads (``CM5``, ``CC5``, ``ML5``).
LEAD_WORD = re.compile(
    r"(ecg|ekg|lead|mli|mlii|mliii|i|ii|iii|di|dii|diii|avr|avl|avf|m?v[1-6]?)\d*|d[1-3]|(ml|cm|cc|cs)\d+"
)
#: Words naming lead II, the lead the shipped models know best after MLII (``II``, ``ECG II``, ``DII``, ``D2``).
LEAD_II_WORDS = ("ii", "dii", "d2")
#: Right precordial leads (``V1``-``V3``, their Holter stand-ins ``MV1``, ``CM1``): QRS mostly negative, and
#: where bundle-branch blocks and ectopic beats look most alike. MIT-BIH's second lead (V1 mostly) is
#: labelled 3-4 points less accurately than its MLII (README), so one is taken only when no other ECG lead is.
RIGHT_PRECORDIAL = re.compile(r"(m?v|cm)[1-3]")


def record_names(directory: Path) -> list[str]:
    """Record names of a WFDB database directory: its ``RECORDS`` file, else every ``*.hea``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: data directory does not exist")
    listing = directory / "RECORDS"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.stem for p in directory.glob("*.hea"))
    if not names:
        raise DataError(f"{directory}: no WFDB records (no RECORDS file and no .hea headers)")
    return names


@functools.lru_cache(maxsize=64)
def _parsed_header(record: str, size: int, mtime_ns: int):  # -> wfdb.Record
    import wfdb  # imported on use: a cached beat set never needs it, and it costs a second at start-up

    return wfdb.rdheader(record)


def parsed_header(path: Path):  # -> wfdb.Record
    """``wfdb.rdheader(path)`` (``path``: the record, without ``.hea``), parsed once for each version of the
    header (its size and modification time): labelling a record asks for it several times (its lead, start and
    comments; an archive's list of its files), and wfdb parses a 12-lead header's signal lines in about 8 ms,
    a third of a 10-s record's labelling. The header as wfdb reads it, to be read, not changed; wfdb's error
    where it cannot be parsed; OSError where the header is missing."""
    stat = path.with_suffix(".hea").stat()
    return _parsed_header(str(path), stat.st_size, stat.st_mtime_ns)


def _header(path: Path):  # -> wfdb.Record
    hea = path.with_suffix(".hea")
    if not hea.is_file():
        raise DataError(f"{hea}: header file is missing")
    try:
        header = parsed_header(path)
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on garbled text
        raise DataError(f"{hea}: cannot parse WFDB header ({exc})") from None
    _check_rate_field(hea, float(header.fs or 0))
    # the length may be left out (WFDB's record line makes it optional): wfdb then reads it off the signal file
    if not header.fs or header.sig_len == 0 or not header.n_sig:
        raise DataError(f"{hea}: header gives no sampling rate, length or signals")
    lines = len(getattr(header, "file_name", None) or [])
    if getattr(header, "seg_name", None) is None and lines != header.n_sig:  # a single-segment record's signals
        raise DataError(
            f"{hea}: its record line counts {header.n_sig:,} signal{'s' if header.n_sig != 1 else ''}, and {lines} "
            "signal line(s) follow it"
        )
    return with_signal_names(header)


def _check_rate_field(hea: Path, fs: float) -> None:
    """DataError where the sampling rate a WFDB header's record line writes is not the ``fs`` (Hz) wfdb read:
    wfdb's pattern takes ``1e9`` as 1 Hz and reads ``nan``, ``inf`` or ``-360`` at its default of 250 Hz,
    without a word, and every beat time would follow the wrong rate."""
    with open(hea, encoding="utf-8", errors="replace") as fh:
        record_line = next((line for line in fh if line.strip() and not line.lstrip().startswith("#")), "")
    fields = record_line.split()
    if len(fields) < 3:
        return  # left out: read at WFDB's default, which reading the record says
    # the field is "rate[/counter frequency[(base counter)]]"
    text = re.split(r"[/(]", fields[2], maxsplit=1)[0]
    try:
        written = float(text)
    except ValueError:
        written = math.nan
    if not (math.isfinite(written) and written > 0 and math.isclose(written, fs, rel_tol=1e-9)):
        raise DataError(
            f"{hea}: its record line's sampling rate {fields[2]!r} is not a rate in Hz (a positive number, 360 or "
            "128.5), which wfdb would read otherwise"
        )


def with_signal_names(header):  # -> the same wfdb header
    """``header`` with a name for each signal its header line leaves undescribed (the description is optional:
    wfdb gives None, which no lead rule can read): ``signal 0``, ``signal 1``, ... by position, as ``--lead 0``
    also names it."""
    names = getattr(header, "sig_name", None)
    if names is not None:
        header.sig_name = [str(name) if name else f"signal {i}" for i, name in enumerate(names)]
    return header


def _check_signal_files(path: Path, header) -> None:
    """Raise DataError when a signal file is missing or shorter than the header says."""
    for file_name in sorted(set(header.file_name)):
        dat = path.parent / file_name
        if not dat.is_file():
            raise DataError(f"{dat}: signal file is missing (named by {path.with_suffix('.hea')})")
        signals = [i for i, f in enumerate(header.file_name) if f == file_name]
        odd = next((header.fmt[i] for i in signals if str(header.fmt[i]) not in WFDB_FORMATS), None)
        if odd is not None:  # said here: wfdb's own error is the bare format ('999')
            raise DataError(
                f"{path.with_suffix('.hea')}: {dat.name} is stored in format {odd}, which is no WFDB storage format "
                f"({', '.join(WFDB_FORMATS)})"
            )
        bits = [_BITS_PER_SAMPLE.get(int(header.fmt[i])) for i in signals]
        if None in bits:
            continue  # compressed formats: leave the check to wfdb
        offset = int(header.byte_offset[signals[0]] or 0)
        # a frame holds samples_per_frame samples of each signal (a 500 Hz ECG in a 125 Hz frame: 4)
        per_frame = sum(b * samples_per_frame(header, i) for b, i in zip(bits, signals))
        # a header that gives no length is read to the file's end, which must hold one frame at least
        expected = offset + math.ceil((header.sig_len if header.sig_len is not None else 1) * per_frame / 8)
        actual = dat.stat().st_size
        if actual < expected and header.sig_len is None:
            raise DataError(
                f"{dat}: signal file holds no whole frame ({actual} bytes, where one frame of its signals takes "
                f"{expected} bytes) and its header gives no length"
            )
        if actual < expected:
            raise DataError(f"{dat}: signal file is truncated ({actual} bytes, header needs {expected})")


#: ``lead`` that names the first lead other than the default one (MIT-BIH: V1, V2, V4 or V5 beside MLII).
OTHER_LEAD = "other"
#: ``lead`` that names a mixture of the default and the other lead, ``"mixed:SEED"`` (``mixed_lead``).
MIXED_LEAD = "mixed"
#: The mixture's angle is drawn per record between these, degrees: 0 would be the default lead, 90 the other.
MIXED_ANGLES_DEG = (20.0, 160.0)


def mixed_lead(seed: int) -> str:
    """The ``lead`` of ``read_lead`` that mixes each record's two leads at an angle drawn with ``seed``."""
    return f"{MIXED_LEAD}:{int(seed)}"


#: Millivolts per unit of the units WFDB and EDF headers name; other units (``NU``, ``adu``, none) are left.
MV_PER_UNIT = {
    **dict.fromkeys(("mv", "millivolt", "millivolts"), 1.0),
    **dict.fromkeys(("uv", "µv", "μv", "microvolt", "microvolts"), 1e-3),
    **dict.fromkeys(("v", "volt", "volts"), 1e3),
    **dict.fromkeys(("nv", "nanovolt", "nanovolts"), 1e-6),
}


def voltage_scale(unit: str | float | None) -> float | None:
    """The millivolts per unit of a voltage unit's name (mV, µV or uV, V, nV; any case, spaces around), None
    for any other unit (``NU``, ``adu``, none)."""
    return MV_PER_UNIT.get(str(unit or "").strip().lower())


def names_a_voltage(unit: str | None) -> bool:
    """Whether ``unit`` (a header's unit name) is one ``in_millivolts`` converts: mV, µV, V, nV."""
    return voltage_scale(unit) is not None


def in_millivolts(signal: np.ndarray, unit: str | None) -> np.ndarray:
    """``signal`` (n_samples,) in ``unit`` (a header's unit name) brought to mV where the unit is a voltage
    (EDF Holter files are mostly in µV); in any other unit it is returned as it is."""
    scale = voltage_scale(unit)
    return signal if scale in (None, 1.0) else signal * scale


def name_words(name: str) -> list[str]:
    """The lower-case words of a signal or column name: ``"ECG Lead-II"`` -> ``["ecg", "lead", "ii"]``."""
    return re.findall(r"[a-z0-9]+", name.lower())


def looks_like_ecg(name: str) -> bool:
    """Whether a signal or column name names an ECG lead (a word of it is a ``LEAD_WORD``)."""
    return any(LEAD_WORD.fullmatch(word) for word in name_words(name))


def another_lead(name: str) -> bool:
    """Whether ``name`` names a particular ECG lead other than MLII or lead II (``V1``, ``CM5``, ``III``,
    ``aVF``): a lead the shipped models, trained on MLII, know less well. A generic name (``ECG``, ``ECG1``,
    ``Lead``) names no particular lead."""
    words = [word for word in name_words(name) if LEAD_WORD.fullmatch(word)]
    particular = [word for word in words if not re.fullmatch(r"(ecg|ekg|lead)\d*|m?v", word)]  # mv: a unit
    return bool(particular) and not any(word in ("mlii", *LEAD_II_WORDS) for word in particular)


def default_lead(sig_names: list[str]) -> int:
    """The lead to use when none is asked for: MLII (the lead the shipped models were trained on), else a
    lead II (``II``, ``ECG II``, ``Lead II``, ``DII``), else the first whose name is an ECG lead's (not
    ``ABP``, ``PLETH``, ``RESP``, ...) and not a right precordial one (``RIGHT_PRECORDIAL``), else the first
    ECG lead, else the first."""
    words = [name_words(name) for name in sig_names]
    for wanted in (("mlii",), LEAD_II_WORDS):
        for index, name_has in enumerate(words):
            if any(word in wanted for word in name_has):
                return index
    ecg = [i for i, name in enumerate(sig_names) if looks_like_ecg(name)]
    not_right = [i for i in ecg if not any(RIGHT_PRECORDIAL.fullmatch(word) for word in words[i])]
    return (not_right or ecg or [0])[0]


def choose_lead(sig_names: list[str], lead: str | int | None, where: str) -> int:
    """Index of the lead to use: a name or index if given, else ``default_lead``; ``OTHER_LEAD``: the first
    ECG lead that is not that default (else the first other signal)."""
    default = default_lead(sig_names)
    if lead is None:
        return default
    if lead == OTHER_LEAD and OTHER_LEAD not in sig_names:
        others = [i for i in range(len(sig_names)) if i != default]
        if not others:
            raise DataError(f"{where}: has one lead ({sig_names[default]}), no other")
        return next((i for i in others if looks_like_ecg(sig_names[i])), others[0])
    if isinstance(lead, int) or str(lead).isdigit():
        index = int(lead)
        if not 0 <= index < len(sig_names):
            raise DataError(f"{where}: lead index {index} does not exist (leads: {', '.join(sig_names)})")
        return index
    if lead not in sig_names:
        raise DataError(f"{where}: lead {lead!r} does not exist (leads: {', '.join(sig_names)})")
    return sig_names.index(lead)


def read_lead(path: str | Path, lead: str | int | None = None) -> tuple[np.ndarray, float, str]:
    """Read one lead of a WFDB record.

    Returns ``(signal, fs, lead_name)`` with ``signal: (n_samples,) float64, mV`` (from µV or V where the
    header says so; NaN where the record marks samples invalid) and ``fs`` in Hz. ``path`` may end in
    ``.hea`` or not.
    """
    return read_lead_and_unit(path, lead)[:3]


def read_lead_and_unit(path: str | Path, lead: str | int | None = None) -> tuple[np.ndarray, float, str, str]:
    """``read_lead``, and the unit the header names for the lead (the signal is in mV where that is a voltage,
    ``names_a_voltage``; a mixed lead is made of leads in mV). With no ``lead`` asked for, a default lead that
    holds nothing (``flat_lead``: a recorder's unused channel, all zero) gives way to the next lead
    ``lead_preference`` names that holds a signal, with a warning naming both."""
    path = Path(path)
    if path.suffix == ".hea":
        path = path.with_suffix("")
    if isinstance(lead, str) and lead.startswith(f"{MIXED_LEAD}:"):
        return (*_read_mixed_lead(path, lead), "mV")
    header = _header(path)
    import wfdb

    segmented = isinstance(header, wfdb.MultiRecord)

    def read(channel: str | int | None) -> tuple[np.ndarray, float, str, str]:
        return _read_segmented_lead(path, header, channel) if segmented else _read_plain_lead(path, header, channel)

    read_one = read(lead)
    if lead is not None or flat_lead(read_one[0]) is None:
        return read_one
    # the leads' names: a multi-segment record's are those of its first segment (read above, so readable)
    first = next(name for name in header.seg_name if name != "~") if segmented else None
    names = list((with_signal_names(wfdb.rdheader(str(path.parent / first))) if segmented else header).sig_name)
    return instead_of_flat(read_one, names, read, str(path.with_suffix(".hea")))


def samples_per_frame(header, channel: int) -> int:
    """How many samples of signal ``channel`` each frame of a WFDB record holds (its header's ``xN`` after the
    format: ``16x4``): 1 for most records; 4 for a 500 Hz ECG beside 125 Hz signals, as some Holter and
    MIMIC records store it. The signal's own rate is the header's (frame) rate times this."""
    counts = getattr(header, "samps_per_frame", None) or []
    return int(counts[channel] or 1) if channel < len(counts) else 1


def _read_plain_lead(path: Path, header, lead: str | int | None) -> tuple[np.ndarray, float, str, str]:
    """One lead of a single-segment WFDB record (``read_lead_and_unit``), at its own rate: the frame rate
    times its samples per frame (``samples_per_frame``)."""
    channel = choose_lead(list(header.sig_name), lead, str(path.with_suffix(".hea")))
    signal, unit = _read_channel(path, header, channel)
    return signal, float(header.fs) * samples_per_frame(header, channel), header.sig_name[channel], unit


#: The ADC gain wfdb reads a lead with whose header gives none (WFDB's DEFGAIN, adu per physical unit).
DEFAULT_GAIN = 200.0


def uncalibrated_signals(hea: Path) -> set[int]:
    """The signals (by index) whose ADC gain a WFDB header ``hea`` gives as 0 or leaves out: by WFDB's header
    format such a signal is uncalibrated, its unit unknown. wfdb reads it at 200 adu per unit, which makes a
    recorder's counts look like millivolts; it tells neither apart, so the header's text is read here."""
    try:
        lines = [line.split() for line in hea.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return set()
    lines = [fields for fields in lines if fields and not fields[0].startswith("#")]
    out = set()
    for index, fields in enumerate(lines[1:]):
        # a signal line: file, format, then the gain as "gain[(baseline)][/units]", optional at the line's end
        gain = re.match(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", fields[2]) if len(fields) > 2 else None
        if gain is None or float(gain.group(0)) == 0:
            out.add(index)
    return out


def _read_channel(path: Path, header, channel: int) -> tuple[np.ndarray, str]:
    """Signal ``channel`` of the single-segment record ``path`` (its parsed ``header``): (n_samples,) float64,
    in mV where its unit is a voltage (``in_millivolts``), NaN where the record marks samples invalid; and the
    unit it is in. A signal stored at several samples per frame (``samples_per_frame``) comes at its own rate,
    every sample (n_frames x samples per frame), not averaged over each frame as wfdb reads it by default. An
    uncalibrated signal (``uncalibrated_signals``) comes in ADC units, unit "", with a warning: its unit is
    then read from the size of its beats, or given with ``--units``."""
    import wfdb

    _check_signal_files(path, header)
    expanded = samples_per_frame(header, channel) > 1
    try:
        # smooth_frames=False: each of a frame's samples (e_p_signal); wfdb's default averages them, which
        # reads a 500 Hz ECG stored 4 to a 125 Hz frame as a 125 Hz one, its QRS smoothed
        record = wfdb.rdrecord(str(path), channels=[channel], smooth_frames=not expanded)
    except Exception as exc:
        raise DataError(f"{path.with_suffix('.dat')}: cannot read signal ({exc})") from None
    signal = np.asarray(record.e_p_signal[0], dtype=np.float64) if expanded else record.p_signal[:, 0]
    unit = header.units[channel]
    if channel in uncalibrated_signals(path.with_suffix(".hea")):
        warnings.warn(
            f"{path.with_suffix('.hea')}: lead {header.sig_name[channel]} gives no ADC gain (0 or none: "
            "uncalibrated): read in ADC units, brought to mV by --units GAIN (the recorder's units per mV) "
            "where given, else by the size of its beats",
            stacklevel=4,
        )
        return signal * float(header.adc_gain[channel] or DEFAULT_GAIN), ""
    return in_millivolts(signal, unit), unit


#: A lead that holds no more than this many distinct values holds no ECG: a recorder's unused channel reads
#: its ADC's noise, a few steps either side of zero; an ECG's QRS alone spans ten steps even at 8 bits.
NOISE_FLOOR_VALUES = 5
#: How many samples, spread over the lead, are looked at first: most leads show more values in them.
_FLAT_SAMPLE = 100_000


def flat_lead(signal: np.ndarray) -> str | None:
    """Why a lead holds no ECG at all: "every sample is 0" (one value throughout: an unused channel, a lead
    never connected), "it holds only 3 values, -0.01 to 0.01: an unused channel's noise" (no more than
    ``NOISE_FLOOR_VALUES``: an unused channel that reads its ADC's noise) or "it holds no valid sample" (all
    missing); None for a lead with a signal. signal: (n_samples,) float, NaN for missing samples."""
    x = np.asarray(signal, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return "it holds no valid sample"
    # reduced where finite, not over a copy of the finite samples: 250 MB and 0.7 s on a day at 360 Hz
    low, high = np.min(x, where=finite, initial=np.inf), np.max(x, where=finite, initial=-np.inf)
    if low == high:
        return f"every sample is {low:g}"
    sample = x[:: max(1, len(x) // _FLAT_SAMPLE)]
    values = np.unique(sample[np.isfinite(sample)])
    if len(values) > NOISE_FLOOR_VALUES or not np.isin(x[finite], values).all():
        return None
    return f"it holds only {len(values)} values, {low:g} to {high:g}: an unused channel's noise"


def lead_preference(sig_names: list[str]) -> list[int]:
    """The leads in the order ``default_lead`` would take them: the default first, then the default of
    those left, and so on."""
    left, order = list(range(len(sig_names))), []
    while left:
        chosen = left[default_lead([sig_names[i] for i in left])]
        order.append(chosen)
        left.remove(chosen)
    return order


def instead_of_flat(read_one: tuple, names: list[str], read, where: str) -> tuple:
    """``read_one`` (a reader's tuple, the signal first and the lead's name third) where its lead holds a
    signal; else the first other lead of ``lead_preference`` that does (``read(index)`` reads one; an ECG
    lead where the names say which are), with a warning naming the flat lead, why, and the one read instead;
    ``read_one`` where no other lead holds a signal."""
    why = flat_lead(read_one[0])
    if why is None:
        return read_one
    others = [index for index in lead_preference(names) if names[index] != read_one[2]]
    if any(looks_like_ecg(name) for name in names):  # not a blood pressure or a respiration signal instead
        others = [index for index in others if looks_like_ecg(names[index])]
    for index in others:
        other = read(index)
        if flat_lead(other[0]) is None:
            warnings.warn(
                f"{where}: lead {read_one[2]} holds no ECG ({why}): read {other[2]} instead "
                f"(--lead {read_one[2]} reads it)",
                stacklevel=3,
            )
            return other
    return read_one


def header_gives_rate(path: str | Path) -> bool:
    """Whether a WFDB record's header (``path``: the record, without ``.hea``) writes its sampling rate: the
    record line's third field is optional, and wfdb reads a header that leaves it out at WFDB's default of
    250 Hz, which tells a recorder's 360 or 500 Hz from nothing."""
    try:
        with open(Path(path).with_suffix(".hea"), encoding="utf-8", errors="replace") as fh:
            record_line = next((line for line in fh if line.strip() and not line.lstrip().startswith("#")), "")
    except OSError:
        return True  # no header to judge: reading it says so
    return len(record_line.split()) > 2


def record_start(path: str | Path) -> datetime | time | None:
    """The wall-clock time of a WFDB record's first sample (``data.clock``): its header's base date and time,
    the time alone where it gives no date, None where it gives no time. ``path``: the record, without ``.hea``."""
    header = _header(Path(path))
    if header.base_time is None:
        return None
    return datetime.combine(header.base_date, header.base_time) if header.base_date else header.base_time


def record_comments(path: str | Path) -> tuple[str, ...]:
    """The comment lines of a WFDB record's header (``path``: the record, without ``.hea``), verbatim but for
    the ``#`` and the spaces around them, in order: what the header says of the patient and the recording
    (MIT-BIH's ``69 M 1085 1629 x1``: age, sex and tape numbers, then the medications; other databases'
    ``age: 61``, ``diagnosis: ...``); () where it has none."""
    comments = getattr(_header(Path(path)), "comments", None) or []
    return tuple(text for text in (str(c).strip() for c in comments) if text)


def _segment_headers(hea: Path) -> list[Path]:
    """The headers of the segments (and layout) a multi-segment record's master header ``hea`` names, beside
    it; [] for any other header. Such a record is one recording: its segments are not recordings of their
    own. A master header's record line reads ``name/n_segments ...``, so only those are parsed (by wfdb)."""
    try:
        with open(hea, encoding="utf-8", errors="replace") as fh:
            record_line = next((line for line in fh if line.strip() and not line.startswith("#")), "")
    except OSError:
        return []
    fields = record_line.split()
    if not fields or "/" not in fields[0]:
        return []
    import wfdb

    try:
        header = wfdb.rdheader(str(hea.with_suffix("")))
    except Exception:  # a garbled header is left for reading it to report
        return []
    return [hea.parent / f"{name}.hea" for name in getattr(header, "seg_name", None) or [] if name != "~"]


def without_segments(paths: list[Path]) -> list[Path]:
    """``paths`` (files of a folder) less the segment and layout headers that a multi-segment record's master
    header among them names: such a record is one recording, listed by its master header."""
    parts = {part for path in paths if path.suffix.lower() == ".hea" for part in _segment_headers(path)}
    return [path for path in paths if path not in parts]


def _read_segmented_lead(path: Path, header, lead: str | int | None) -> tuple[np.ndarray, float, str, str]:
    """One lead of a multi-segment WFDB record (MIMIC's waveforms, long-term recordings; ``read_lead_and_unit``):
    its signals are those of the layout segment (a variable layout) or of the first segment (a fixed one). Each
    segment is read alone and brought to mV by its own header (segments of one lead may differ in unit and
    gain: wfdb's joining takes the first one's unit for all), NaN for a ``~`` gap and for a segment without
    the lead (a variable layout's segments are matched by the lead's name). A lead stored at several samples per
    frame (``samples_per_frame``, as the layout or first segment gives it) comes at its own rate. DataError,
    naming the file, for a segment that is missing, cut short, at another sampling rate (or samples per frame)
    or of another length than the master header says, and for segments whose lengths do not add up to the
    record's."""
    hea = path.with_suffix(".hea")
    segments = list(zip(header.seg_name, (int(n) for n in header.seg_len)))
    variable = bool(segments) and segments[0][1] == 0 and segments[0][0] != "~"  # a layout segment first
    named = [name for name, _ in segments if name != "~"]
    if not named or (variable and len(named) == 1):
        raise DataError(f"{hea}: multi-segment record without segments")
    first = _segment_header(path, hea, named[0], layout=variable)
    channel = choose_lead(list(first.sig_name), lead, str(hea))
    name = first.sig_name[channel]
    per_frame = samples_per_frame(first, channel)
    parts, units = [], []
    for segment, length in segments[1:] if variable else segments:
        if segment == "~":
            parts.append(np.full(length * per_frame, np.nan))
            continue
        part = _segment_header(path, hea, segment)
        where = path.parent / f"{segment}.hea"
        if not math.isclose(float(part.fs), float(header.fs), rel_tol=1e-9):
            raise DataError(f"{where}: segment at {float(part.fs):g} Hz in a record at {float(header.fs):g} Hz ({hea})")
        if part.sig_len is not None and part.sig_len != length:  # None: left out, read off the signal file
            raise DataError(f"{where}: segment of {part.sig_len:,} samples, where {hea} gives it {length:,}")
        names = list(part.sig_name)
        index = channel if not variable and len(names) == len(first.sig_name) else None
        if index is None and name in names:
            index = names.index(name)
        if index is None:  # the lead is not recorded in this segment
            parts.append(np.full(length * per_frame, np.nan))
            continue
        if samples_per_frame(part, index) != per_frame:
            raise DataError(
                f"{where}: lead {name} at {samples_per_frame(part, index)} samples per frame in a record that "
                f"stores it at {per_frame} ({hea})"
            )
        try:
            signal, unit = _read_channel(path.parent / segment, part, index)
        except DataError as exc:
            raise DataError(f"{exc} (a segment of {hea})") from None
        if len(signal) != length * per_frame:
            held = len(signal) // per_frame
            raise DataError(f"{where}: segment of {held:,} samples, where {hea} gives it {length:,}")
        parts.append(signal)
        units.append(unit)
    total = sum(len(part) for part in parts) // per_frame
    if header.sig_len is not None and total != header.sig_len:
        raise DataError(f"{hea}: its segments hold {total:,} samples, where its record line gives {header.sig_len:,}")
    rate = float(header.fs) * per_frame
    return np.concatenate(parts), rate, name, _segments_unit(hea, name, units, first.units[channel])


def _segment_header(path: Path, hea: Path, segment: str, layout: bool = False):  # -> wfdb.Record
    """The header of ``segment``, one of the multi-segment record ``path``'s (master header ``hea``); a layout
    segment's (``layout``) holds the signals' names alone, no samples."""
    import wfdb

    try:
        if not layout:
            header = _header(path.parent / segment)
            if isinstance(header, wfdb.MultiRecord):  # itself, or a master naming this one back: no samples
                raise DataError(
                    f"{path.parent / segment}.hea: a segment is a multi-segment record itself, where WFDB's segments "
                    "are single-segment records"
                )
            return header
        if not (path.parent / f"{segment}.hea").is_file():
            raise DataError(f"{path.parent / segment}.hea: header file is missing")
        try:
            return with_signal_names(wfdb.rdheader(str(path.parent / segment)))
        except Exception as exc:
            raise DataError(f"{path.parent / segment}.hea: cannot parse WFDB header ({exc})") from None
    except DataError as exc:
        raise DataError(f"{exc} (a segment of {hea})") from None


def _segments_unit(hea: Path, name: str, units: list[str], layout_unit: str) -> str:
    """The unit of a lead joined from segments read in ``units`` (each brought to mV where a voltage): mV
    where all are voltages, else the one unit they share; ``layout_unit`` where no segment holds the lead."""
    if not units:
        return layout_unit
    if all(names_a_voltage(unit) for unit in units):
        return "mV"
    if len(set(units)) == 1:
        return units[0]
    said = ", ".join(sorted({repr(unit) for unit in units}))
    raise DataError(f"{hea}: lead {name} is in different units in different segments ({said})")


def _read_mixed_lead(path: Path, lead: str) -> tuple[np.ndarray, float, str]:
    """``read_lead`` of ``"mixed:SEED"``: cos(a) x the default lead + sin(a) x the other lead, mV, with the
    angle a drawn uniformly in ``MIXED_ANGLES_DEG`` from the seed and the record's name. Two leads of one
    heart are two projections of its electrical axis, so their mixture is a lead of the same beats that no
    electrode recorded, as another placement or device would give."""
    seed = lead.split(":", 1)[1]
    if not seed.lstrip("-").isdigit():
        raise DataError(f"{path.with_suffix('.hea')}: lead {lead!r} needs an integer seed (mixed:SEED)")
    first, fs, first_name = read_lead(path)
    other, other_fs, other_name = read_lead(path, OTHER_LEAD)
    if other_fs != fs:  # stored at different samples per frame: no sample of one is a sample of the other
        raise DataError(
            f"{path.with_suffix('.hea')}: leads {first_name} ({fs:g} Hz) and {other_name} ({other_fs:g} Hz) are "
            "stored at different rates: they cannot be mixed"
        )
    rng = np.random.default_rng([abs(int(seed)), zlib.crc32(path.name.encode())])
    angle = np.deg2rad(rng.uniform(*MIXED_ANGLES_DEG))
    a, b = float(np.cos(angle)), float(np.sin(angle))
    return a * first + b * other, fs, f"{a:.2f} {first_name} + {b:.2f} {other_name}"


#: WFDB annotation files end with a null word (two zero bytes); one that lacks it was cut short.
ANNOTATION_END = b"\x00\x00"


def read_annotations(
    path: Path, extension: str = "atr", fs: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All annotations of a record: ``(sample (n,) int64, symbol (n,) str, note (n,) str)``, the note being
    the annotation's text (a rhythm note such as ``(AFIB`` on a ``+``; "" where there is none).

    ``sample`` counts the samples of the lead read at ``fs`` Hz; by default of the lead ``read_lead`` reads
    when none is named, at its own rate (``_record_fs``). An annotation file written at a time resolution of
    its own (its ``fs``, as ``wfdb.wrann(..., fs=)`` stores it: annotations kept at 360 Hz beside a signal
    resampled to 128 Hz), or in frames of a record whose lead holds several samples per frame (WFDB counts
    annotations in frames: a 500 Hz ECG in 125 Hz frames), has its times brought to that rate. A file without
    WFDB's end marker (cut short, as a download that stopped) is read as far as it goes, with a warning saying
    where its annotations end."""
    ann_file = path.with_suffix(f".{extension}")
    if not ann_file.is_file():
        raise DataError(f"{ann_file}: annotation file is missing")
    import wfdb

    try:
        ann = wfdb.rdann(str(path), extension)
    except Exception as exc:
        size = ann_file.stat().st_size
        if size % 2:  # wfdb's words for it: "cannot reshape array of size 1001 into shape (2)"
            raise DataError(
                f"{ann_file}: cut short in the middle of an annotation ({size:,} bytes, where WFDB writes 2-byte "
                "words): copy or download it again"
            ) from None
        raise DataError(f"{ann_file}: cannot read annotations ({exc})") from None
    notes = [(note or "").strip("\x00").strip() for note in (ann.aux_note or [""] * len(ann.sample))]
    samples = np.asarray(ann.sample, dtype=np.int64)
    record_fs = float(fs) if fs is not None else _record_fs(path)
    if ann.fs and record_fs and not math.isclose(float(ann.fs), record_fs, rel_tol=1e-9):
        # rdann counts in the file's own time resolution: a beat at 360 Hz sample 649,991 is at 128 Hz 231,108
        samples = np.round(samples * (record_fs / float(ann.fs))).astype(np.int64)
    with open(ann_file, "rb") as fh:
        fh.seek(max(0, ann_file.stat().st_size - len(ANNOTATION_END)))
        ends = fh.read() == ANNOTATION_END
    if not ends:
        last = f"the last at sample {int(samples[-1]):,}" if len(samples) else "none read"
        warnings.warn(
            f"{ann_file}: the annotation file has no end marker (cut short?): {len(samples):,} annotations, {last}",
            stacklevel=2,
        )
    return samples, np.asarray(ann.symbol, dtype=str), np.asarray(notes, dtype=str)


def _record_fs(path: Path) -> float | None:
    """The rate, Hz, a record's default lead (``default_lead``) is read at: its header's (frame) rate times the
    lead's samples per frame (``samples_per_frame``); None where there is no readable header (annotations
    read on their own keep their samples as written)."""
    import wfdb

    try:
        if not path.with_suffix(".hea").is_file():
            return None
        header = with_signal_names(wfdb.rdheader(str(path)))
        names = getattr(header, "sig_name", None)
        return float(header.fs) * (samples_per_frame(header, default_lead(list(names))) if names else 1)
    except Exception:  # a garbled header is reported by reading the signal, not here
        return None


def read_beat_annotations(path: Path, extension: str = "atr") -> tuple[np.ndarray, np.ndarray]:
    """All annotations of a record: ``(sample (n,) int64, symbol (n,) str)`` (``read_annotations``)."""
    return read_annotations(path, extension)[:2]


def load_record_beats(
    path: str | Path, window: Window = WINDOWS["kachuee"], source: str = "wfdb", lead: str | int | None = None
) -> RecordBeats:
    """The annotated beats of one WFDB record (beat annotations in ``atr``), cut as ``window`` says from
    ``lead`` (``choose_lead``: default MLII, else lead II, else the first ECG lead).

    Each beat annotation is first moved onto its R wave (``detection.align_to_r_wave``; ``sample`` holds
    the aligned positions), and a lead whose beats point down is turned over (``detection.polarity``).

    Annotations that are not beats (rhythm changes, noise, ``+ ~ | x "``: ``NON_BEAT_SYMBOLS``) are dropped;
    beat annotations of symbols no AAMI class is known for (``?``, a database's own) are dropped too, and
    counted per symbol in ``unknown``. The context features come from every annotated beat of a known class,
    including the few the segmentation cannot cut.
    """
    path = Path(path)
    name = path.name
    signal, fs, lead_name = read_lead(path, lead)
    samples, symbols = read_annotations(path, fs=fs)[:2]  # counted at the lead's own rate
    is_beat = np.isin(symbols, list(SYMBOL_TO_AAMI))
    unknown = Counter(symbols[~is_beat & ~np.isin(symbols, list(NON_BEAT_SYMBOLS))].tolist())
    samples, symbols = samples[is_beat], symbols[is_beat]
    # Databases mark beats at different points of the QRS (MIT-BIH on the R peak, others up to 60 ms
    # before it): every beat is placed on its R wave by the rule predict places detections with, so
    # training windows and context features are those predict cuts for the same beat.
    from arrhythmia.data.detection import align_to_r_wave, polarity  # on use: scipy.signal, 0.5 s at start-up

    samples = align_to_r_wave(signal, fs, samples)
    # Beats are cut pointing up, as predict cuts them: a reversed lead gives the same windows.
    signal = signal * polarity(signal, fs, samples)
    labels = np.array([AAMI_CLASSES.index(SYMBOL_TO_AAMI[s]) for s in symbols], dtype=np.int64)
    cut = cut_beats(signal, fs, samples, window)
    keep = cut.kept
    beats = BeatSet(
        X=cut.X,
        y=labels[keep],
        classes=AAMI_CLASSES,
        record=np.full(int(keep.sum()), name),
        sample=samples[keep],
        symbol=symbols[keep],
        source=source,
        context=cut.context,
        window=window,
    )
    lost = Counter(zip(cut.lost_reason[~keep].tolist(), (AAMI_CLASSES[i] for i in labels[~keep])))
    annotated = Counter(AAMI_CLASSES[i] for i in labels)
    return RecordBeats(beats=beats, annotated=annotated, lost=lost, lead=lead_name, unknown=dict(unknown))


@dataclass
class RecordBeats:
    """One record's beats and what became of its annotations: ``annotated`` beats per class, ``lost``
    beats per (reason, class), the lead read, and ``unknown``: the beat annotations left out because no
    class is known for their symbol, per symbol."""

    beats: BeatSet
    annotated: Counter
    lost: Counter
    lead: str
    unknown: dict[str, int] = field(default_factory=dict)


def unknown_symbols_line(where: str | Path, unknown: dict[str, dict[str, int]], shown: int = 5) -> str | None:
    """One line saying which beat annotations of ``where`` were left out because no class is known for their
    symbol, and in which records: ``unknown`` is ``{symbol: {record: count}}`` (``info["unknown_symbols"]``);
    None where there are none."""
    if not unknown:
        return None
    parts = []
    for symbol, records in sorted(unknown.items(), key=lambda item: -sum(item[1].values())):
        names = sorted(records)
        more = f" and {len(names) - shown} more" if len(names) > shown else ""
        parts.append(f"{symbol!r} {sum(records.values()):,} ({', '.join(names[:shown])}{more})")
    total = sum(sum(records.values()) for records in unknown.values())
    known = ", ".join(f"{' '.join(s for s, c in SYMBOL_TO_AAMI.items() if c == cls)} ({cls})" for cls in AAMI_CLASSES)
    return (
        f"{where}: {total:,} beat annotations left out, no class being known for their symbol: {', '.join(parts)}; "
        f"the beat symbols read are {known}: write those beats again with one of them (wfdb.wrann) to train and "
        "test on them"
    )


def load_wfdb_database(
    directory: str | Path,
    source: str = "mitdb",
    progress: bool = True,
    window: Window = WINDOWS["kachuee"],
    lead: str | int | None = None,
) -> BeatSet:
    """Beats of every record of a WFDB database with reference beat annotations (``atr``), from ``lead``
    of each (``choose_lead``).

    What the segmentation loses is counted per class in ``info["lost"]``; ``info["annotated"]`` holds the
    number of beat annotations per class before segmentation; ``info["unknown_symbols"]``, where there are
    any, the beat annotations left out because no class is known for their symbol, ``{symbol: {record:
    count}}`` (``load_wfdb_directory`` says them in a warning).
    """
    directory = Path(directory)
    names = record_names(directory)
    parts: list[BeatSet] = []
    annotated: Counter[str] = Counter()
    lost: dict[str, Counter[str]] = {}
    leads: dict[str, str] = {}
    unknown: dict[str, dict[str, int]] = {}
    for name in tqdm(names, desc=f"reading {directory.name}", unit="record", disable=None if progress else True):
        record = load_record_beats(directory / name, window, source, lead)
        parts.append(record.beats)
        annotated.update(record.annotated)
        for (reason, cls), count in record.lost.items():
            lost.setdefault(reason, Counter())[cls] += count
        leads[name] = record.lead
        for symbol, count in record.unknown.items():
            unknown.setdefault(symbol, {})[name] = int(count)
    info = {
        "annotated": {c: annotated.get(c, 0) for c in AAMI_CLASSES},
        "lost": {reason: dict(counter) for reason, counter in lost.items()},
        "leads": leads,
        # only where there are some: MIT-BIH's info, and what is written from it, stay as they were
        **({"unknown_symbols": dict(sorted(unknown.items()))} if unknown else {}),
    }
    return concatenate(parts, source=source, info=info)


def is_wfdb_database(directory: Path) -> bool:
    """A ``RECORDS`` file or ``.hea`` headers: a WFDB database."""
    return (directory / "RECORDS").is_file() or any(directory.glob("*.hea"))


def load_wfdb_directory(
    directory: Path, window: Window, progress: bool = True, lead: str | int | None = None
) -> BeatSet:
    """The beats of a WFDB database directory (from ``lead`` of each record, ``choose_lead``), from the
    beat cache when its files are unchanged. Beat annotations left out for want of a class for their symbol
    are said in one warning (``unknown_symbols_line``), from the cache too: every command is told."""
    from arrhythmia.data.cache import cached

    names = record_names(directory)
    files = [p for name in names for p in directory.glob(f"{name}.*") if p.suffix in (".hea", ".dat", ".atr")]
    source = directory.name or "wfdb"
    beats = cached(
        files,
        # the default lead's key is the one caches were written under before a lead could be chosen
        {"source": source, "records": names, "window": window.to_dict(), **({} if lead is None else {"lead": lead})},
        lambda: load_wfdb_database(directory, source=source, progress=progress, window=window, lead=lead),
    )
    said = unknown_symbols_line(directory, beats.info.get("unknown_symbols", {}))
    if said:
        warnings.warn(said, stacklevel=2)
    return beats


SOURCE = Source(
    name="wfdb",
    citation="WFDB database (PhysioNet). Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. "
    "Circulation 101(23):e215-e220 (2000).",
    load=load_wfdb_directory,
    recognise=is_wfdb_database,
    leads=True,
)
MITDB_SOURCE = Source(
    name="mitdb",
    citation=(
        "MIT-BIH Arrhythmia Database v1.0.0 (PhysioNet), Open Data Commons Attribution License v1.0. "
        "Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng Med Biol 20(3):45-50 (2001). "
        "Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000)."
    ),
    load=load_wfdb_directory,
    leads=True,
    download=lambda directory: download_physionet(dest=directory),
    is_downloaded=lambda directory: (directory / "RECORDS").is_file(),
)
