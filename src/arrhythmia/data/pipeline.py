"""The one beat pipeline: a signal, its sampling rate and R peaks in; beat windows and context features out.

Training beats (database extraction, the beat store, synthetic data) and the beats ``predict`` labels are
cut by ``cut_beats`` alone, so a model sees the same inputs in both: for a record and a set of peaks,
training windows and prediction windows are identical (a test checks it on MIT-BIH).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arrhythmia.data.beats import Window
from arrhythmia.data.context import rr_features, template_features
from arrhythmia.data.segmentation import segment


@dataclass
class CutBeats:
    """Beats cut from one signal.

    X : (n_kept, window.length) float32 beat windows; context : (n_kept, 9) float32 context features
    (``context.CONTEXT_FEATURES``) or None when not asked for; kept : (n_peaks,) bool, which input peaks gave a
    beat; lost_reason : (n_peaks,) str, why a peak gave none ('' where it did).
    """

    X: np.ndarray
    context: np.ndarray | None
    kept: np.ndarray
    lost_reason: np.ndarray


def cut_beats(
    signal: np.ndarray,
    fs: float,
    r_peaks: np.ndarray,
    window: Window,
    with_context: bool = True,
    rr: np.ndarray | None = None,
    start: int = 0,
) -> CutBeats:
    """Cut a beat window around each R peak and compute its context features.

    Parameters
    ----------
    signal : (n_samples,) float, mV
        One lead, raw (each window is filtered and scaled by the segmentation). NaN or infinite samples
        (gaps) are filled with the median of the others (0 where none is finite), so that filtering and
        resampling do not spread them: no beat is lost to a gap, and a window that overlaps one holds the
        median there.
    fs : float
        Sampling rate of ``signal`` and ``r_peaks``, Hz.
    r_peaks : (n_peaks,) int, ascending
        R-peak samples of the recording; ``signal`` starts at sample ``start`` of the recording.
    window : how to cut (``data.WINDOWS``).
    with_context : also compute the context features.
    rr : (n_peaks, 6) float32, optional
        The RR features of these peaks when they come from a longer stretch than ``signal`` (predict's
        chunks, whose neighbours lie in the chunks around them); computed from ``r_peaks`` when None.
    start : sample of the recording at which ``signal`` begins. The typical beat of the template
        features is taken per minute of the recording, so chunks see the same minutes as the whole.
    """
    r_peaks = np.asarray(r_peaks, dtype=np.int64)
    signal = np.asarray(signal, dtype=np.float64)
    gaps = ~np.isfinite(signal)
    if len(r_peaks) and gaps.any():  # infinite samples too: one left in would spread over the whole filtered lead
        fill = 0.0 if gaps.all() else float(np.median(signal[~gaps]))
        signal = np.where(gaps, fill, signal)
    segments = segment(signal, fs, r_peaks - start, window)
    context = None
    if with_context:
        rr = rr_features(r_peaks, fs) if rr is None else rr
        kept = segments.kept
        context = np.hstack([rr[kept], template_features(segments.X, r_peaks[kept], fs)]).astype(np.float32)
    return CutBeats(X=segments.X, context=context, kept=segments.kept, lost_reason=segments.lost_reason)
