"""Beat segmentation: the windows a model sees around each R peak.

Two windows, named in ``WINDOWS``:

- ``kachuee``: Kachuee et al. 2018 (arXiv:1805.00794, section III-A): 1.5 s at 125 Hz starting at the
  R peak, 1.2 median RR long, zero-padded. It never sees the beat's own P wave.
- ``centred``: 0.25 s before to 0.45 s after the R peak (P wave, QRS, T wave), baseline removed.

The same code cuts beats around annotated R peaks (training) and detected R peaks (inference), so a
model sees identical inputs in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from arrhythmia.data.beats import BEAT_FS, BEAT_LENGTH, WINDOWS, Window
from arrhythmia.errors import DataError, warnings_ignored

WINDOW_SECONDS = 10.0
SEGMENT_RR_FACTOR = 1.2

# Why a beat could not be cut; reported by `arrhythmia data summary`.
LOST_FEW_BEATS = "window holds fewer than 2 beats (no median RR)"
LOST_FLAT = "window is flat or holds invalid samples"


@dataclass
class Segments:
    """Beats cut from one signal.

    X : (n_kept, window length) float32; kept : (n_peaks,) bool, which input peaks produced a row of X;
    lost_reason : (n_peaks,) str, why a peak produced no beat ('' where it did).
    """

    X: np.ndarray
    kept: np.ndarray
    lost_reason: np.ndarray


def resample(signal: np.ndarray, fs: float, target_fs: float = BEAT_FS) -> np.ndarray:
    """Polyphase resampling (anti-aliased) of ``signal: (n_samples,)`` from ``fs`` to ``target_fs`` Hz."""
    from scipy.signal import resample_poly  # imported on use: 1.5 s, and cached beat sets never need it

    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    if ratio == 1:
        return np.asarray(signal, dtype=np.float64)
    return resample_poly(np.asarray(signal, dtype=np.float64), ratio.numerator, ratio.denominator)


def kachuee_segments(
    signal: np.ndarray,
    fs: float,
    r_peaks: np.ndarray,
    length: int = BEAT_LENGTH,
    target_fs: float = BEAT_FS,
    window_seconds: float = WINDOW_SECONDS,
) -> Segments:
    """Cut one fixed-length beat per R peak.

    Parameters
    ----------
    signal : (n_samples,) float, mV
        One ECG lead at ``fs`` Hz.
    fs : float
        Sampling rate of ``signal`` and ``r_peaks``, Hz.
    r_peaks : (n_peaks,) int
        R-peak sample indices at ``fs``, ascending.

    The signal is resampled to 125 Hz and split into consecutive 10 s windows, each scaled to [0, 1].
    From each R peak a segment 1.2 x the window's median RR long is taken (at most ``length`` samples),
    scaled with its window's minimum and maximum, clipped to [0, 1] where it runs into the next window,
    and zero-padded to ``length``.
    """
    r_peaks = np.asarray(r_peaks, dtype=np.int64)
    x = resample(signal, fs, target_fs)
    peaks = np.clip(np.round(r_peaks * (target_fs / fs)).astype(np.int64), 0, max(len(x) - 1, 0))
    window_len = int(round(window_seconds * target_fs))
    window = peaks // window_len
    n_windows = len(x) // window_len + 1

    lo = np.full(n_windows, np.nan)
    hi = np.full(n_windows, np.nan)
    seg_len = np.zeros(n_windows, dtype=np.int64)
    lost_reason = np.full(len(peaks), "", dtype=object)
    valid_window = np.zeros(n_windows, dtype=bool)
    for w in np.unique(window):
        in_window = peaks[window == w]
        if len(in_window) < 2:
            lost_reason[window == w] = LOST_FEW_BEATS
            continue
        chunk = x[w * window_len : (w + 1) * window_len]
        lo[w], hi[w] = chunk.min(), chunk.max()
        if not hi[w] > lo[w]:  # flat, or NaN from invalid samples
            lost_reason[window == w] = LOST_FLAT
            continue
        median_rr = np.median(np.diff(in_window))
        seg_len[w] = min(int(round(SEGMENT_RR_FACTOR * median_rr)), length)
        valid_window[w] = True

    kept = valid_window[window]
    p, w = peaks[kept], window[kept]
    offsets = np.arange(length)
    index = p[:, None] + offsets[None, :]
    inside = (offsets[None, :] < seg_len[w][:, None]) & (index < len(x))
    values = x[np.minimum(index, len(x) - 1)]
    scaled = np.clip((values - lo[w][:, None]) / (hi[w] - lo[w])[:, None], 0.0, 1.0)
    X = np.where(inside, scaled, 0.0).astype(np.float32)
    return Segments(X=X, kept=kept, lost_reason=lost_reason.astype(str))


#: High-pass corner that removes baseline wander before centred windows are cut, Hz.
BASELINE_CUTOFF_HZ = 0.5


def remove_baseline(signal: np.ndarray, fs: float, cutoff_hz: float = BASELINE_CUTOFF_HZ) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth high-pass of ``signal: (n_samples,)`` at ``fs`` Hz (same units)."""
    from scipy.signal import butter, sosfiltfilt

    signal = np.asarray(signal, dtype=np.float64)
    if len(signal) <= 15:  # too short for filtfilt's padding; nothing to remove over so short a span
        return signal - np.median(signal)
    sos = butter(2, cutoff_hz, btype="highpass", fs=fs, output="sos")
    return sosfiltfilt(sos, signal)


def centred_segments(
    signal: np.ndarray,
    fs: float,
    r_peaks: np.ndarray,
    window: Window = WINDOWS["centred"],
    window_seconds: float = WINDOW_SECONDS,
) -> Segments:
    """Cut one window centred on each R peak.

    Parameters
    ----------
    signal : (n_samples,) float, mV
        One ECG lead at ``fs`` Hz.
    r_peaks : (n_peaks,) int
        R-peak sample indices at ``fs``, ascending.

    Baseline wander is removed (0.5 Hz high-pass), the signal is resampled to ``window.fs`` and cut from
    ``before_s`` before to ``after_s`` after each peak (edge samples repeated at the signal's ends). Each
    beat is scaled with the minimum and maximum of the 10 s window holding its R peak, so amplitudes stay
    comparable between neighbouring beats (a large ectopic beat stays large) but not between recordings.
    """
    r_peaks = np.asarray(r_peaks, dtype=np.int64)
    invalid = ~np.isfinite(np.asarray(signal, dtype=np.float64))
    x = resample(remove_baseline(np.where(invalid, 0.0, signal), fs), fs, window.fs)
    if invalid.any():  # carry invalid stretches over to the new rate, so their windows are dropped
        x[resample(invalid.astype(float), fs, window.fs) > 0.01] = np.nan
    peaks = np.clip(np.round(r_peaks * (window.fs / fs)).astype(np.int64), 0, max(len(x) - 1, 0))
    window_len = int(round(window_seconds * window.fs))
    n_windows = len(x) // window_len + 1
    padded = np.full(n_windows * window_len, np.nan)
    padded[: len(x)] = x
    chunks = padded.reshape(n_windows, window_len)
    invalid_in_window = np.zeros(n_windows * window_len, dtype=bool)
    invalid_in_window[: len(x)] = np.isnan(x)
    invalid_in_window = invalid_in_window.reshape(n_windows, window_len).any(axis=1)
    with warnings_ignored(RuntimeWarning):  # all-NaN windows past the end hold no peaks
        lo, hi = np.nanmin(chunks, axis=1), np.nanmax(chunks, axis=1)
    w = peaks // window_len
    offsets = np.arange(window.length) - window.r_peak
    values = x[np.clip(peaks[:, None] + offsets[None, :], 0, len(x) - 1)] if len(x) else np.zeros((len(peaks), 0))
    span = (hi - lo)[w]
    kept = (span > 0) & ~invalid_in_window[w] & np.isfinite(values).all(axis=1)
    lost_reason = np.where(kept, "", LOST_FLAT)
    X = ((values[kept] - lo[w][kept, None]) / span[kept, None]).astype(np.float32)
    return Segments(X=X, kept=kept, lost_reason=lost_reason.astype(str))


def segment(signal: np.ndarray, fs: float, r_peaks: np.ndarray, window: Window = WINDOWS["kachuee"]) -> Segments:
    """Beats around ``r_peaks`` (samples at ``fs``) cut as ``window`` says; see the two functions above."""
    if window.kind == "kachuee":
        return kachuee_segments(signal, fs, r_peaks, target_fs=window.fs)
    if window.kind == "centred":
        return centred_segments(signal, fs, r_peaks, window)
    raise DataError(f"unknown beat window kind {window.kind!r} (kachuee or centred)")
