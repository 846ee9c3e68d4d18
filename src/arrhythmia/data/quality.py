"""Where a recording cannot be analysed: gaps, a flat lead, a lead off, a saturated amplifier.

A Holter analysis must not read these stretches as rhythm: a lead that comes off gives no beats for a
while, which is not a pause, and a saturated amplifier gives no QRS complexes, which is not asystole.
``unanalysable`` finds them per second of signal, from the signal alone.
"""

from __future__ import annotations

import warnings

import numpy as np

#: A second whose peak-to-peak range is below this (mV) is flat: no ECG has a second without a beat's
#: worth of amplitude (a QRS is 0.5-3 mV, and even the baseline moves more than this).
FLAT_MV = 0.02
#: A second with more than this share of its samples at the recording's extreme values is saturated.
SATURATED_SHARE = 0.2
#: A second with more than this share of missing (NaN) samples is a gap.
MISSING_SHARE = 0.5


def unanalysable(signal: np.ndarray, fs: float, block_s: float = 1.0) -> np.ndarray:
    """The stretches of a recording that hold no analysable ECG.

    Parameters
    ----------
    signal : (n_samples,) float, mV; NaN where samples are missing.
    fs : sampling rate, Hz.
    block_s : the signal is judged per block of this many seconds.

    Returns
    -------
    (k, 2) int64: start and end samples (end exclusive) of each stretch of consecutive bad blocks, in
    order. A block is bad when more than half of it is missing, when it is flat (peak-to-peak below
    ``FLAT_MV``) or when more than ``SATURATED_SHARE`` of its samples sit at the recording's lowest or
    highest value (the rails of a saturated amplifier, or of a lead-off).
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
            valid = np.isfinite(rows)
            counts = valid.sum(axis=1)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing block has no range
                ptp = np.nanmax(rows, axis=1) - np.nanmin(rows, axis=1)
            at_rail = ((rows <= low) | (rows >= high)).sum(axis=1)
            saturated = (at_rail > SATURATED_SHARE * np.maximum(counts, 1)) & (high > low)
            missing = counts < (1.0 - MISSING_SHARE) * rows.shape[1]
            bad.append(missing | ~(ptp >= FLAT_MV) | saturated)
    bad = np.concatenate(bad)
    runs = np.array(true_runs(bad), dtype=np.int64).reshape(-1, 2)  # blocks, first and last
    return np.stack([runs[:, 0] * block, np.minimum((runs[:, 1] + 1) * block, n)], axis=1).astype(np.int64)


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
    touched = np.zeros(len(starts), dtype=bool)
    for first, last in np.asarray(stretches, dtype=np.float64).reshape(-1, 2):
        touched |= (starts <= last) & (ends >= first) if touching else (starts < last) & (ends > first)
    return touched
