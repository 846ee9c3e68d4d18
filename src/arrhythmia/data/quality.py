"""Where a recording cannot be analysed: gaps, a flat lead, a lead off, a saturated amplifier.

A Holter analysis must not read these stretches as rhythm: a lead that comes off gives no beats for a
while, which is not a pause, and a saturated amplifier gives no QRS complexes, which is not asystole.
Neither does an amplifier recovering from saturation: after a large jump of the electrode potential the
recorder's high-pass filter brings the signal back along a slow curve, and for the seconds that takes the
QRS complexes shrink to nothing. ``unanalysable`` finds all of these per second of signal, from the
signal alone.

Noise that leaves the signal readable still makes beats of its own: ``beat_noise`` measures, per beat, how
noisy the signal around it is and how much its QRS complex looks like the one before, so that a run of
"beats" that are only noise is not read as a tachycardia (``episodes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy import signal as sps

from arrhythmia.data.detection import bandpass, interpolate_nan
from arrhythmia.errors import warnings_ignored

#: A second whose peak-to-peak range is below this (mV) is flat: no ECG has a second without a beat's
#: worth of amplitude (a QRS is 0.5-3 mV, and even the baseline moves more than this).
FLAT_MV = 0.02
#: A second with more than this share of its samples at the recording's extreme values is saturated.
SATURATED_SHARE = 0.2
#: A signal is flat-topped (``clipping``: the amplifier's or the converter's range cut its QRS complexes off,
#: or it saturated) at its largest or its smallest value where it holds that value for two samples or more
#: within ``CLIPPED_QRS_S`` of this share of its beats' R peaks, or for this share of its time. Chosen on MIT-BIH,
#: each of the 48 records' two leads as read, with the beats the detector finds: at most 0.14% of beats (103's
#: V2) and 0.10% of time (116's MLII, which saturates at +-5.1 mV for 2.6 s in all); five of its records clipped
#: at +-1 mV: 34-98% of beats on the top, but 232's 0.5% (its beats are mostly under 1 mV), and 0.3-39% of time.
CLIPPED_BEAT_SHARE = 0.02
CLIPPED_TIME_SHARE = 0.01
CLIPPED_QRS_S = 0.1
#: A second with more than this share of missing (NaN) samples is a gap.
MISSING_SHARE = 0.5
#: A second whose QRS band (``QRS_BAND_HZ``) spans less than this share of the recording's median second
#: holds no QRS complex ...
QRS_COLLAPSE_SHARE = 0.15
QRS_BAND_HZ = (5.0, 40.0)
#: ... and a stretch of such seconds is an amplifier recovering (not a pause) when, in one of its seconds,
#: the slow signal (below ``SLOW_HZ``) sweeps by this much (mV). Baseline wander in a real pause moves far
#: less; the recovery after a saturating jump moves millivolts. Both chosen on DS1's pauses
#: (docs/choosing-the-rhythm-settings.md#pauses).
RECOVERY_SWEEP_MV = 0.75
SLOW_HZ = 1.0
#: ... or, when it lasts at least ``JUMPED_OFF_S``, when the slow signal jumped by that much into it or out of it
#: (an electrode that popped off and then lay still: the jump fills the QRS band of its own second, and the
#: stretch sweeps in none of its own). Real ECG has single beatless seconds next to such jumps (MIT-BIH's 219, in
#: AF with a wandering baseline: one or two seconds at a time), never 5 s of them.
JUMPED_OFF_S = 5.0
#: ... or, whatever the slow signal does, when it lasts this long: no QRS complex for a minute is a recorder off
#: the body (a patch taken off for a shower holds its converter's noise, or wanders slowly, for many minutes), not
#: a pause. The longest such stretch of MIT-BIH's 48 records that no other rule finds, either lead, is 5 s (232's
#: pauses); with this rule the 48 records' unanalysable stretches are the same, to the sample.
OFF_BODY_S = 60.0
#: Signal filtered on each side of a stretch, so that the filters' edges fall outside it.
FILTER_MARGIN_S = 5.0
#: ``gap_activity`` measures the intervals between beats at least this long, from this long after the
#: first beat's R peak to this long before the next one's (the QRS complexes themselves left out).
GAP_MIN_S = 1.0
GAP_AFTER_R_S = 0.15
GAP_BEFORE_R_S = 0.1
#: A beat's QRS-band range is taken within this long of its R peak.
QRS_HALF_S = 0.1
#: ``beat_noise`` takes the noise outside the QRS complexes (from this long before each R peak to this long
#: after it), per block of this long, and each beat's noise as the median of the blocks within this long.
NOISE_QRS_S = (0.1, 0.15)
NOISE_BLOCK_S = 1.0
NOISE_AROUND_S = 2.0
#: Signal band-passed at a time: about an hour and a bit, megabytes, not gigabytes.
CHUNK_SECONDS = 4096


def unanalysable(
    signal: np.ndarray,
    fs: float,
    block_s: float = 1.0,
    collapse_share: float = QRS_COLLAPSE_SHARE,
    sweep_mv: float | None = RECOVERY_SWEEP_MV,
) -> np.ndarray:
    """The stretches of a recording that hold no analysable ECG.

    Parameters
    ----------
    signal : (n_samples,) float, mV; NaN where samples are missing.
    fs : sampling rate, Hz.
    block_s : the signal is judged per block of this many seconds.
    collapse_share, sweep_mv : ``recovering_amplifier``'s thresholds; ``sweep_mv=None`` does not look for
        a recovering amplifier.

    Returns
    -------
    (k, 2) int64: start and end samples (end exclusive) of each stretch of consecutive bad blocks, in
    order. A block is bad when more than half of it is missing, when it is flat (peak-to-peak below
    ``FLAT_MV``) or when more than ``SATURATED_SHARE`` of its samples sit at the recording's lowest or
    highest value (the rails of a saturated amplifier, or of a lead-off); and so is every block of a
    stretch without QRS complexes in which the amplifier recovers (``recovering_amplifier``). A run of
    missing samples longer than half a block is a stretch too, wherever it falls (from its first missing
    sample to its last), joined to the bad blocks it meets.
    """
    signal = np.asarray(signal)
    n = len(signal)
    block = max(int(round(block_s * fs)), 1)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if not np.isfinite(signal).any():
        return np.array([[0, n]], dtype=np.int64)
    low, high = np.nanmin(signal), np.nanmax(signal)
    bad = []
    # A few thousand blocks at a time, so a 24-hour recording costs megabytes, not gigabytes.
    step = 4096 * block
    for first in range(0, n, step):
        part = np.asarray(signal[first : first + step], dtype=np.float64)
        whole = len(part) // block * block
        blocks = [part[:whole].reshape(-1, block)] + ([part[whole:][None, :]] if whole < len(part) else [])
        for rows in blocks:
            counts = np.isfinite(rows).sum(axis=1)
            at_rail = ((rows <= low) | (rows >= high)).sum(axis=1)
            saturated = (at_rail > SATURATED_SHARE * np.maximum(counts, 1)) & (high > low)
            bad.append(without_signal(rows) | saturated)
    bad = np.concatenate(bad)
    if sweep_mv is not None:
        bad |= recovering_amplifier(signal, fs, block, collapse_share, sweep_mv, lost=bad)
    runs = np.array(true_runs(bad), dtype=np.int64).reshape(-1, 2)  # blocks, first and last
    stretches = np.stack([runs[:, 0] * block, np.minimum((runs[:, 1] + 1) * block, n)], axis=1)
    # A drop-out is a gap wherever it falls: one of 0.9 s across a second's edge is half of neither second
    # (a wireless recorder's lost packets: a pause at each, the missing beat read as a heart that stopped).
    dropped = _missing_runs(signal, MISSING_SHARE * block, step)
    return merged_stretches(np.concatenate([stretches, dropped])).astype(np.int64)


def without_signal(blocks: np.ndarray) -> np.ndarray:
    """(k,) bool: which of ``blocks`` ((k, m) float, mV, NaN where missing) hold no signal: more than
    ``MISSING_SHARE`` of their samples missing, or flat (peak-to-peak under ``FLAT_MV``)."""
    counts = np.isfinite(blocks).sum(axis=1)
    with np.errstate(invalid="ignore"), warnings_ignored(RuntimeWarning):  # an all-missing block: no range
        ptp = np.nanmax(blocks, axis=1) - np.nanmin(blocks, axis=1)
    return (counts < (1.0 - MISSING_SHARE) * blocks.shape[1]) | ~(ptp >= FLAT_MV)


def _missing_runs(signal: np.ndarray, longer_than: float, step: int) -> np.ndarray:
    """(k, 2) int64 start and end (exclusive) samples of each run of more than ``longer_than`` consecutive
    missing (NaN) samples of ``signal`` ((n,)), read ``step`` samples at a time."""
    runs: list[tuple[int, int]] = []
    open_at = None  # where a run that reached the end of the chunk before began
    for first in range(0, len(signal), step):
        lost = ~np.isfinite(np.asarray(signal[first : first + step], dtype=np.float64))
        edges = np.diff(np.concatenate([[0], lost.astype(np.int8), [0]]))
        starts = (np.flatnonzero(edges == 1) + first).tolist()
        ends = (np.flatnonzero(edges == -1) + first).tolist()
        if open_at is not None:
            if starts and starts[0] == first:  # it goes on into this chunk
                starts[0] = open_at
            else:
                runs.append((open_at, first))
            open_at = None
        if ends and ends[-1] == first + len(lost):  # it may go on into the next chunk
            open_at = starts.pop()
            ends.pop()
        runs += zip(starts, ends)
    if open_at is not None:
        runs.append((open_at, len(signal)))
    return np.array([run for run in runs if run[1] - run[0] > longer_than], dtype=np.int64).reshape(-1, 2)


def merged_stretches(stretches: np.ndarray) -> np.ndarray:
    """(k, 2) start and end of ``stretches`` ((m, 2), any order, any unit) with those that overlap or meet
    merged, in order, in the dtype given."""
    stretches = np.asarray(stretches)
    merged: list[list] = []
    for start, end in sorted(stretches.reshape(-1, 2).tolist()):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array(merged, dtype=stretches.dtype).reshape(-1, 2)


@dataclass
class Clipping:
    """Where a signal is flat-topped (``clipping``). high, low: the level (in the signal's unit) it is cut off
    at on top and at the bottom, None where that side is not; high_beats, low_beats: the share of the beats
    that touch each (0 for a side not cut off); time: the share of the signal's valid samples held at them."""

    high: float | None
    low: float | None
    high_beats: float
    low_beats: float
    time: float


def clipping(signal: np.ndarray, fs: float, peaks: np.ndarray) -> Clipping | None:
    """Whether a signal is flat-topped: clipped by its recorder's range, or saturated.

    A clipped signal holds its largest (or smallest) value for runs of samples, one at each beat whose QRS
    complex the range cut off, or for whole stretches where the amplifier saturated; an ECG within range
    reaches its extremes at one sample of one beat. A side is cut off where runs of two or more samples at
    its extreme lie within ``CLIPPED_QRS_S`` of ``CLIPPED_BEAT_SHARE`` of the beats or hold
    ``CLIPPED_TIME_SHARE`` of the valid samples.

    signal : (n_samples,) float, any unit; NaN where samples are missing. fs : Hz. peaks : (n_beats,) int,
    R-peak samples (may be empty). Returns None where neither side is cut off.
    """
    x = np.asarray(signal, dtype=np.float64)
    valid = int(np.isfinite(x).sum())
    if valid < 2:
        return None
    high, low = float(np.nanmax(x)), float(np.nanmin(x))
    if high == low:
        return None  # constant: a flat lead (``unanalysable``), not a clipped one
    peaks = np.asarray(peaks, dtype=np.int64)
    half = max(round(CLIPPED_QRS_S * fs), 1)
    levels, beats, held_samples = [], [], 0
    for level in (high, low):
        at = x == level
        held = np.flatnonzero(at[1:] & at[:-1])  # the first sample of each pair held at the level
        beat_share = 0.0
        if len(peaks) and len(held):
            first = np.searchsorted(held, peaks - half, side="left")
            beat_share = float(np.mean(np.searchsorted(held, peaks + half, side="right") > first))
        runs = int(len(held) > 0) + int(np.count_nonzero(np.diff(held) > 1))
        held_count = len(held) + runs  # samples in those runs: each run is one sample longer than its pairs
        clipped = beat_share >= CLIPPED_BEAT_SHARE or held_count >= CLIPPED_TIME_SHARE * valid
        levels.append(level if clipped else None)
        beats.append(beat_share if clipped else 0.0)
        held_samples += held_count if clipped else 0
    if levels == [None, None]:
        return None
    return Clipping(levels[0], levels[1], beats[0], beats[1], held_samples / valid)


def recovering_amplifier(
    signal: np.ndarray,
    fs: float,
    block: int,
    collapse_share: float = QRS_COLLAPSE_SHARE,
    sweep_mv: float = RECOVERY_SWEEP_MV,
    lost: np.ndarray | None = None,
) -> np.ndarray:
    """(n_blocks,) bool, one per block of ``block`` samples (the last one may be short): the stretches of
    blocks whose QRS band spans under ``collapse_share`` of the recording's median block and in one of
    which the slow signal sweeps by ``sweep_mv`` or more, or, for stretches of ``JUMPED_OFF_S`` or longer,
    into or out of which it jumps by that much (``_jumped_to``: a lead that popped off and lay still), or that
    last ``OFF_BODY_S`` or longer (a recorder off the body).
    signal: (n_samples,) float, mV, NaN where missing; fs: Hz; lost: (n_blocks,) bool, the blocks already known
    to hold no signal (missing, flat, saturated: ``unanalysable``'s), left out of that median, or None (none)."""
    n = len(signal)
    n_blocks = -(-n // block)
    qrs_span, slow_span, slow_level = np.zeros(n_blocks), np.zeros(n_blocks), np.zeros(n_blocks)
    if n < 3 * block or QRS_BAND_HZ[0] >= 0.45 * fs:
        return np.zeros(n_blocks, dtype=bool)
    slow_sos = sps.butter(2, SLOW_HZ, btype="lowpass", fs=fs, output="sos")
    margin = int(FILTER_MARGIN_S * fs) // block * block
    step = 4096 * block  # a few thousand blocks at a time: megabytes for a 24-hour recording
    for first, last, lo, hi in chunks(n, step, margin):
        part = interpolate_nan(np.asarray(signal[lo:hi], dtype=np.float64))
        if len(part) <= 3 * block:
            continue
        blocks = slice(first // block, -(-last // block))  # ``first`` is a whole number of blocks
        qrs_span[blocks] = _block_spans(bandpass(part, fs, *QRS_BAND_HZ)[first - lo : last - lo], block)
        slow = sps.sosfiltfilt(slow_sos, part)[first - lo : last - lo]
        slow_span[blocks] = _block_spans(slow, block)
        slow_level[blocks] = _block_medians(slow, block)
    # The median of the blocks with signal: a lead off for half a Holter's day spans nothing in the QRS band,
    # and with it in the median no block was ever "collapsed" against it, nor an amplifier seen recovering.
    held = qrs_span if lost is None else qrs_span[~np.asarray(lost, dtype=bool)]
    typical = np.median(held) if len(held) else 0.0
    collapsed = qrs_span < collapse_share * typical
    recovering = np.zeros(n_blocks, dtype=bool)
    for first, last in true_runs(collapsed):
        seconds = (last - first + 1) * block / fs
        jumped = seconds >= JUMPED_OFF_S and _jumped_to(slow_level, first, last, sweep_mv)
        if (slow_span[first : last + 1] >= sweep_mv).any() or jumped or seconds >= OFF_BODY_S:
            recovering[first : last + 1] = True
    return recovering


def _jumped_to(level: np.ndarray, first: int, last: int, sweep_mv: float) -> bool:
    """Whether the slow signal's level (``level``: (n_blocks,) median per block, mV) moved by ``sweep_mv`` or more
    into the stretch of blocks ``first``-``last`` or out of it, across the block next to it: an electrode that
    popped and then lay still makes the jump in that block, whose edge fills the QRS band (no collapsed block),
    and sweeps in none of the stretch's own. Both ends of the stretch must lie that far from the level outside.
    (A wandering baseline moves as much beside a beatless second or two of real ECG: ``JUMPED_OFF_S``.)"""
    inside = level[first : last + 1]
    outside = [level[i] for i in (first - 2, last + 2) if 0 <= i < len(level)]
    return any(np.nanmin(np.abs(inside[[0, -1]] - value)) >= sweep_mv for value in outside if np.isfinite(value))


def _block_spans(values: np.ndarray, block: int) -> np.ndarray:
    """The peak-to-peak range of each block of ``block`` samples of ``values`` (the last may be short)."""
    edges = np.arange(0, len(values), block)
    return np.maximum.reduceat(values, edges) - np.minimum.reduceat(values, edges)


def _block_medians(values: np.ndarray, block: int) -> np.ndarray:
    """The median of each block of ``block`` samples of ``values`` (the last may be short)."""
    whole = len(values) // block * block
    medians = np.median(values[:whole].reshape(-1, block), axis=1) if whole else np.zeros(0)
    return np.append(medians, np.median(values[whole:])) if whole < len(values) else medians


def gap_activity(signal: np.ndarray, fs: float, peaks: np.ndarray) -> np.ndarray:
    """How much the signal moves inside each long interval between beats, against the beats themselves.

    A pause is a quiet stretch: no QRS complex, at most P waves and the T wave's tail. An interval in which
    the detector found no beat but the signal swings as much as a QRS complex (ventricular flutter, noise
    that hid the beats) is not a pause.

    Parameters
    ----------
    signal : (n_samples,) float, mV; NaN where samples are missing.
    fs : sampling rate, Hz.
    peaks : (n_beats,) int, R-peak samples, ascending.

    Returns
    -------
    (n_beats,) float64: for each beat followed by an interval of ``GAP_MIN_S`` or more, the range of the
    signal's QRS band (``QRS_BAND_HZ``) inside that interval (``GAP_AFTER_R_S`` after the beat to
    ``GAP_BEFORE_R_S`` before the next) over the median range of the recording's beats within
    ``QRS_HALF_S`` of their R peaks; NaN for the other beats and where it cannot be measured.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    out = np.full(len(peaks), np.nan)
    n = len(signal)
    long = np.flatnonzero(np.diff(peaks) >= GAP_MIN_S * fs)
    if len(long) == 0 or QRS_BAND_HZ[0] >= 0.45 * fs:
        return out
    starts = peaks[long] + round(GAP_AFTER_R_S * fs)
    ends = peaks[long + 1] - round(GAP_BEFORE_R_S * fs)
    half = max(round(QRS_HALF_S * fs), 1)
    beat_range = np.full(len(peaks), np.nan)
    gap_range = np.full(len(long), np.nan)
    margin = int(FILTER_MARGIN_S * fs)
    step = CHUNK_SECONDS * max(int(round(fs)), 1)
    for first in range(0, n, step):
        in_chunk = (peaks >= first) & (peaks < first + step)
        gaps = np.flatnonzero((starts >= first) & (starts < first + step) & (ends > starts))
        if not in_chunk.any() and len(gaps) == 0:
            continue
        last = max([first + step] + ([int(ends[gaps].max())] if len(gaps) else []))
        lo, hi = max(first - margin, 0), min(last + margin, n)
        if hi - lo <= 3 * (2 * half + 1):
            continue
        band = bandpass(np.asarray(signal[lo:hi], dtype=np.float64), fs, *QRS_BAND_HZ)
        beat_range[in_chunk] = _qrs_ranges(band, peaks[in_chunk] - lo, half)
        for g in gaps:
            inside = band[starts[g] - lo : ends[g] - lo]
            gap_range[g] = np.ptp(inside) if len(inside) else np.nan
    typical = np.nanmedian(beat_range) if np.isfinite(beat_range).any() else np.nan
    if typical > 0:
        out[long] = gap_range / typical
    return out


def chunks(n: int, step: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """``(first, last, lo, hi)`` per chunk of ``step`` samples of an ``n``-sample signal: the chunk ``[first,
    last)`` and the stretch ``[lo, hi)`` a filter runs over, the chunk with ``margin`` samples on either side
    for the filter to settle in (a long recording filtered a chunk at a time keeps its temporaries small)."""
    for first in range(0, n, step):
        last = min(first + step, n)
        yield first, last, max(first - margin, 0), min(last + margin, n)


def _qrs_ranges(band: np.ndarray, peaks: np.ndarray, half: int) -> np.ndarray:
    """The range of ``band`` within ``half`` samples of each of ``peaks`` (samples into ``band``)."""
    size = 2 * half + 1
    spread = ndimage.maximum_filter1d(band, size) - ndimage.minimum_filter1d(band, size)
    return spread[np.clip(peaks, 0, len(band) - 1)]


def beat_noise(signal: np.ndarray, fs: float, peaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How noisy the signal is around each beat, and how much each beat looks like the one before.

    Noise that the detector reads as beats makes "beats" that look like nothing in particular, and neither
    like each other; a run of true ventricular beats, even of several shapes, sits in a signal that is quiet
    between its complexes. Both are read in the QRS band (``QRS_BAND_HZ``), where the noise that makes false
    beats lies.

    Parameters
    ----------
    signal : (n_samples,) float, mV; NaN where samples are missing.
    fs : sampling rate, Hz.
    peaks : (n_beats,) int, R-peak samples, ascending.

    Returns
    -------
    likeness : (n_beats,) float64, the correlation of each beat's QRS band (within ``QRS_HALF_S`` of its R
        peak) with the beat before's, -1 to 1; NaN for the first beat and where a window leaves the signal.
    noise : (n_beats,) float64, the median magnitude of the QRS band outside the QRS complexes
        (``NOISE_QRS_S`` around every R peak left out) in each ``NOISE_BLOCK_S`` block, the median of the
        blocks within ``NOISE_AROUND_S`` of the beat, over the median QRS-band range of the recording's beats
        (as ``gap_activity``'s); clean signal: about 0.01-0.03. NaN where it cannot be measured.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    n = len(signal)
    likeness, noise = np.full(len(peaks), np.nan), np.full(len(peaks), np.nan)
    block = max(int(round(NOISE_BLOCK_S * fs)), 1)
    if len(peaks) < 2 or n < 2 * block or QRS_BAND_HZ[0] >= 0.45 * fs:
        return likeness, noise
    half = max(round(QRS_HALF_S * fs), 1)
    before, after = (round(t * fs) for t in NOISE_QRS_S)
    margin = int(FILTER_MARGIN_S * fs)
    step = CHUNK_SECONDS * block  # whole blocks, so that a block never straddles two chunks
    shapes = np.full((len(peaks), 2 * half), np.nan, dtype=np.float32)
    beat_range = np.full(len(peaks), np.nan)
    block_noise = np.full(-(-n // block), np.nan)
    for first, last, lo, hi in chunks(n, step, margin):
        band = bandpass(np.asarray(signal[lo:hi], dtype=np.float64), fs, *QRS_BAND_HZ)
        in_chunk = np.flatnonzero((peaks >= first) & (peaks < last))
        whole = in_chunk[(peaks[in_chunk] - half >= lo) & (peaks[in_chunk] + half <= hi)]
        shapes[whole] = band[(peaks[whole] - lo)[:, None] + np.arange(-half, half)]
        beat_range[in_chunk] = _qrs_ranges(band, peaks[in_chunk] - lo, half)
        between = np.abs(band[first - lo : last - lo])
        near = peaks[(peaks >= first - after) & (peaks < last + before)] - first
        edges = np.zeros(len(between) + 1, dtype=np.int64)  # +1 where a QRS complex starts, -1 where it ends
        np.add.at(edges, np.clip(near - before, 0, len(between)), 1)
        np.add.at(edges, np.clip(near + after, 0, len(between)), -1)
        between[np.cumsum(edges)[:-1] > 0] = np.nan
        padded = np.full(-(-len(between) // block) * block, np.nan)
        padded[: len(between)] = between
        with warnings_ignored(RuntimeWarning):  # a block all QRS: no noise measured there (NaN)
            block_noise[first // block : first // block + len(padded) // block] = np.nanmedian(
                padded.reshape(-1, block), axis=1
            )
    shapes -= shapes.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(shapes, axis=1)
    shapes /= np.where(norms > 0, norms, np.nan)[:, None]
    likeness[1:] = np.sum(shapes[1:] * shapes[:-1], axis=1)
    typical = np.nanmedian(beat_range) if np.isfinite(beat_range).any() else np.nan
    if not typical > 0:
        return likeness, noise
    around = 2 * int(round(NOISE_AROUND_S / NOISE_BLOCK_S)) + 1
    smoothed = pd.Series(block_noise).rolling(around, center=True, min_periods=1).median().to_numpy()
    noise = smoothed[np.clip(peaks // block, 0, len(smoothed) - 1)] / typical
    return likeness, noise


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` indices (inclusive) of each run of True in ``mask`` ((n,) bool)."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def overlapping(starts: np.ndarray, ends: np.ndarray, stretches: np.ndarray, touching: bool = True) -> np.ndarray:
    """Which intervals ``[starts[i], ends[i]]`` touch any of ``stretches`` ((k, 2) start and end, in the
    same unit; ends included): (n,) bool. An interval of one point (``starts is ends``) asks which points
    fall inside a stretch. ``touching=False``: only intervals that share some time with a stretch count,
    not those that meet one at an end."""
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    stretches = np.asarray(stretches, dtype=np.float64).reshape(-1, 2)
    if len(stretches) == 0:
        return np.zeros(len(starts), dtype=bool)
    # An interval meets some stretch that begins by its end exactly when the furthest-reaching of those
    # stretches reaches its start: one binary search per interval, not a pass over the intervals per stretch
    # (a week's 760,000 intervals against its thousands of episodes).
    order = np.argsort(stretches[:, 0], kind="stable")
    firsts, reach = stretches[order, 0], np.maximum.accumulate(stretches[order, 1])
    begun = np.searchsorted(firsts, ends, side="right" if touching else "left")  # stretches begun by each end
    furthest = reach[np.maximum(begun - 1, 0)]
    return (begun > 0) & ((furthest >= starts) if touching else (furthest > starts))
