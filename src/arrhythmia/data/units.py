"""Whether a signal whose file names no unit is in millivolts, from the size of its QRS complexes.

WFDB and EDF headers name their unit, and those signals are brought to mV as they are read. A CSV column or a
NumPy array names none: exported in volts, a recording's QRS complexes are a thousandth of a unit tall, every
second reads as a flat lead (``data.quality``) and the whole recording as noise; in microvolts or in an
amplifier's counts, the millivolt thresholds of the noise and episode rules are a thousand times too small. The
typical QRS amplitude says which: over MIT-BIH's 96 leads it is 0.08-3.2 mV (the smallest 101's V1, the largest
116's MLII), so a signal whose beats are outside ``PLAUSIBLE_QRS_MV`` is read in the power of 1000 of its unit
that brings them nearest to 1 mV.

The amplitude is read where the lead records beats: a lead that came off for most of a recording leaves
windows of a few microvolts of noise, which must not make the beats elsewhere read as volts.
"""

from __future__ import annotations

import numpy as np

from arrhythmia.data.detection import bandpass
from arrhythmia.data.wfdb_source import voltage_scale
from arrhythmia.errors import DataError

#: The typical QRS amplitude (``typical_qrs_amplitude``) of an ECG in mV lies in this range: four times below
#: the smallest of MIT-BIH's 96 leads and six times above the largest.
PLAUSIBLE_QRS_MV = (0.02, 20.0)
#: The stretches the amplitude is measured on: this many, this long, evenly spread over the recording.
SAMPLE_WINDOWS = 60
WINDOW_S = 10.0
#: Each window is cut into pieces this long, longer than any RR interval but a pause's: each holds a QRS.
PIECE_S = 2.0
#: A window whose height is below this fraction of the tallest windows' (their 90th percentile) holds no beats
#: (a lead off, a flat stretch): a recording's QRS height varies a few-fold, never a twentyfold.
FLAT_WINDOW_FRACTION = 1 / 20
#: A height this small against the signal's own largest value is rounding, not a QRS: a constant signal.
ROUNDING_FRACTION = 1e-9


def typical_qrs_amplitude(signal: np.ndarray, fs: float) -> float:
    """The typical height of a recording's QRS complexes, in the signal's unit: the median over the
    ``SAMPLE_WINDOWS`` windows of ``WINDOW_S`` that hold beats (not below ``FLAT_WINDOW_FRACTION`` of the tallest)
    of the median over their ``PIECE_S`` pieces of each piece's largest |band-passed| value
    (``detection.bandpass``). signal: (n_samples,) float, any unit, NaN for missing samples; fs: Hz. 0.0 for a
    signal too short to filter, flat, constant or all missing."""
    window, piece = int(WINDOW_S * fs), int(PIECE_S * fs)
    signal = np.asarray(signal, dtype=np.float64)
    if len(signal) < 2 * piece or not np.isfinite(signal).any():
        return 0.0
    window = min(window, len(signal))
    starts = np.unique(np.linspace(0, len(signal) - window, SAMPLE_WINDOWS).astype(np.int64))
    heights = []
    for start in starts:
        stretch = signal[start : start + window]
        if np.isfinite(stretch).sum() < piece:
            continue
        filtered = np.abs(bandpass(stretch, fs))
        pieces = filtered[: len(filtered) // piece * piece].reshape(-1, piece)
        heights.append(np.nanmedian(pieces.max(axis=1)))
    if not heights:
        return 0.0
    heights = np.asarray(heights)
    tallest = np.percentile(heights, 90)
    if tallest <= ROUNDING_FRACTION * np.nanmax(np.abs(signal)):
        return 0.0
    return float(np.median(heights[heights >= FLAT_WINDOW_FRACTION * tallest]))


def millivolt_scale(amplitude: float) -> float:
    """The factor that brings a signal whose QRS complexes are ``amplitude`` tall (``typical_qrs_amplitude``, in
    the file's unit) to mV: 1.0 where the amplitude is already a plausible one in mV (``PLAUSIBLE_QRS_MV``) or
    there is none to go by, else the power of 1000 that brings it nearest to 1 mV (1000 for volts, 0.001 for
    microvolts)."""
    low, high = PLAUSIBLE_QRS_MV
    if not np.isfinite(amplitude) or amplitude <= 0 or low <= amplitude <= high:
        return 1.0
    return float(1000.0 ** np.round(-np.log10(amplitude) / 3.0))


def mv_per_unit(units: str | float) -> float:
    """The millivolts per unit of a signal whose unit the user gives (``--units``): a voltage unit's name
    (``mV``, ``uV`` or ``µV``, ``V``, ``nV``) or the units per mV, as a recorder's ADC gain is given (``409.6``:
    a 12-bit recorder's counts, 409.6 of them per mV; a WFDB header's gain reads so). A DataError otherwise."""
    scale = voltage_scale(units)
    if scale is not None:
        return scale
    try:
        gain = float(units)
    except (TypeError, ValueError):
        gain = float("nan")
    if isinstance(units, bool) or not np.isfinite(gain) or gain <= 0:
        raise DataError(
            f"--units {units!r}: expected a unit (mV, uV, V) or the signal's units per mV (a recorder's gain, e.g. 200)"
        )
    return 1.0 / gain
