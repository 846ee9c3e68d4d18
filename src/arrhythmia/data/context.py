"""Context features per beat: its rhythm, and how it compares with the recording's typical beat.

A premature beat (S or V) is often shaped like a normal one; what gives it away is its timing: it comes
early (short RR before) and is often followed by a pause (long RR after). Absolute RR intervals differ a
lot between patients, so the features also relate each interval to the patient's own recent rhythm
(``RR_FEATURES``). Beat shapes differ between patients too; what carries over from one patient to the next
is how far a beat departs from that patient's usual beat, taken as the sample-wise median of the beat
windows around it, which most beats of most recordings share (``TEMPLATE_FEATURES``).

Both are computed the same way from annotated peaks (training) and detected peaks (``predict``), by
``pipeline.cut_beats``, which gives the ``CONTEXT_FEATURES`` of every beat that segmentation kept.
"""

from __future__ import annotations

import numpy as np

from arrhythmia.data.quality import overlapping
from arrhythmia.errors import warnings_ignored

#: Column names of ``rr_features``, in order.
RR_FEATURES: tuple[str, ...] = (
    "pre_rr_s",  # RR interval before the beat, seconds
    "post_rr_s",  # RR interval after the beat, seconds
    "pre_post_ratio",  # prematurity against the following pause
    "pre_local_ratio",  # pre RR / mean RR of the last LOCAL_BEATS beats
    "post_local_ratio",  # post RR / the same local mean
    "pre_global_ratio",  # pre RR / mean RR within +-GLOBAL_S / 2 of the beat
)
LOCAL_BEATS = 10
GLOBAL_S = 300.0
#: RR intervals are clipped to this range (s) first: a gap in the beat annotations or a missed detection
#: would otherwise give intervals no heart produces and swamp the averages.
RR_RANGE_S = (0.15, 3.0)


def rr_features(r_peaks: np.ndarray, fs: float) -> np.ndarray:
    """Rhythm features of each beat of one recording.

    Parameters
    ----------
    r_peaks : (n_beats,) int
        R-peak sample indices of every beat of the recording, ascending (all beats, not only those to be
        classified: a beat's neighbours define its intervals).
    fs : float
        Sampling rate of ``r_peaks``, Hz.

    Returns
    -------
    (n_beats, 6) float32, columns ``RR_FEATURES``. The first beat's pre RR is its post RR and the last
    beat's post RR its pre RR. With fewer than two beats there are no intervals: every RR is taken as
    1 s and every ratio as 1.
    """
    peaks = np.asarray(r_peaks, dtype=np.float64)
    n = len(peaks)
    if n < 2:
        return np.tile(np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float32), (n, 1))
    pre = _intervals_before(peaks, fs)
    post = np.concatenate([pre[1:], pre[-1:]])  # the last beat's post RR is its pre RR

    # Mean of the pre RR of this beat and the LOCAL_BEATS - 1 before it (fewer at the start).
    cumulative = np.concatenate([[0.0], np.cumsum(pre)])
    index = np.arange(n)
    first = np.maximum(index - LOCAL_BEATS + 1, 0)
    local = (cumulative[index + 1] - cumulative[first]) / (index + 1 - first)

    # Mean pre RR of the beats within +-GLOBAL_S / 2 of this one.
    times = peaks / fs
    lo = np.searchsorted(times, times - GLOBAL_S / 2, side="left")
    hi = np.searchsorted(times, times + GLOBAL_S / 2, side="right")
    global_mean = (cumulative[hi] - cumulative[lo]) / (hi - lo)

    return np.stack([pre, post, pre / post, pre / local, post / local, pre / global_mean], axis=1).astype(np.float32)


#: An interval across lost signal takes the median of this many readable intervals on each side of it.
CLOSED_GAP_BEATS = 8


def closed_gaps(r_peaks: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """The R peaks on the timeline of the rhythm rather than of the signal: each interval between two beats
    that spans lost signal (a lead-off, a flat or saturated stretch) takes the median of the readable
    intervals around it (``CLOSED_GAP_BEATS`` each side), and the beats after it move with it. Read by the
    rhythm features (``rr_features``, ``local_rhythm``) so that the beats either side of a gap are neither
    late nor followed by a pause, nor their neighbours early against an average the gap inflated.

    r_peaks : (n_beats,) int, samples, ascending; lost : (k, 2) start and end samples of the lost stretches.
    Returns (n_beats,) int64 samples; ``r_peaks`` itself where no interval spans a lost stretch.
    """
    peaks = np.asarray(r_peaks, dtype=np.int64)
    lost = np.asarray(lost, dtype=np.float64).reshape(-1, 2)
    if len(peaks) < 2 or len(lost) == 0:
        return peaks
    rr = np.diff(peaks)
    spans = overlapping(peaks[:-1], peaks[1:], lost, touching=False)
    if not spans.any() or spans.all():
        return peaks
    readable = np.flatnonzero(~spans)
    closed = rr.astype(np.float64)
    for i in np.flatnonzero(spans):
        at = np.searchsorted(readable, i)
        around = readable[max(at - CLOSED_GAP_BEATS, 0) : at + CLOSED_GAP_BEATS]
        closed[i] = np.median(rr[around])
    return peaks[0] + np.concatenate([[0], np.cumsum(np.round(closed).astype(np.int64))])


#: Likeness of a beat to its recording's typical beat (the median window of the beats in its block).
TEMPLATE_FEATURES: tuple[str, ...] = (
    "template_corr",  # Pearson correlation of the window with the typical beat
    "template_rms",  # RMS difference, relative to the typical beat's standard deviation
    "template_amplitude",  # peak-to-peak amplitude relative to the typical beat's
)
#: The typical beat is taken per block of this many seconds (a multiple of predict's 10 s windows, and a
#: divisor of its 600 s chunks, so chunked and whole-record predictions see the same blocks).
TEMPLATE_BLOCK_S = 60.0
#: Blocks with fewer beats than this use the whole recording's typical beat.
TEMPLATE_MIN_BEATS = 8
CONTEXT_FEATURES: tuple[str, ...] = RR_FEATURES + TEMPLATE_FEATURES


def template_features(X: np.ndarray, r_peaks: np.ndarray, fs: float) -> np.ndarray:
    """Likeness of each beat window to its recording's typical beat.

    Parameters
    ----------
    X : (n_beats, length) float32
        Beat windows of one recording, as cut by ``segmentation.segment``.
    r_peaks : (n_beats,) int
        Their R-peak sample indices at ``fs``, ascending.

    Returns (n_beats, 3) float32, columns ``TEMPLATE_FEATURES``.
    """
    n = len(X)
    if n == 0:
        return np.zeros((0, len(TEMPLATE_FEATURES)), dtype=np.float32)
    X = np.asarray(X, dtype=np.float64)
    block = np.asarray(r_peaks, dtype=np.int64) // int(round(TEMPLATE_BLOCK_S * fs))
    templates = np.empty_like(X)
    overall = np.median(X, axis=0)
    for b in np.unique(block):
        members = block == b
        templates[members] = np.median(X[members], axis=0) if members.sum() >= TEMPLATE_MIN_BEATS else overall
    eps = 1e-6
    beat_c = X - X.mean(axis=1, keepdims=True)
    temp_c = templates - templates.mean(axis=1, keepdims=True)
    corr = (beat_c * temp_c).sum(axis=1) / (np.linalg.norm(beat_c, axis=1) * np.linalg.norm(temp_c, axis=1) + eps)
    rms = np.sqrt(((X - templates) ** 2).mean(axis=1)) / (templates.std(axis=1) + eps)
    amplitude = np.ptp(X, axis=1) / (np.ptp(templates, axis=1) + eps)
    return np.stack([corr, np.minimum(rms, 10.0), np.minimum(amplitude, 10.0)], axis=1).astype(np.float32)


#: Beats on each side of a beat that make its local rhythm (``local_rhythm``): about half a minute.
RHYTHM_BEATS = 20
#: Neighbours on each side that make a beat's long reference rhythm: about five minutes, longer than all
#: but the longest supraventricular runs, so the beats of a run still come early against it.
LONG_RHYTHM_BEATS = 200


def local_rhythm(r_peaks: np.ndarray, fs: float, beats: int = RHYTHM_BEATS) -> tuple[np.ndarray, np.ndarray]:
    """Each beat's timing against the patient's own rhythm around it.

    Parameters
    ----------
    r_peaks : (n_beats,) int
        R-peak samples of every beat of the recording, ascending.
    fs : float
        Sampling rate of ``r_peaks``, Hz.
    beats : the neighbours on each side that make a beat's local rhythm.

    Returns
    -------
    prematurity : (n_beats,) float64
        The RR interval before the beat over the median of those of its ``2 * beats + 1`` neighbours
        (itself included): 1 on time, 0.7 a beat 30 % early. A median, not a mean, so the ectopic beats
        around it do not move the patient's reference.
    irregularity : (n_beats,) float64
        The median, over the same neighbours, of the relative change from one RR interval to the next
        (``|log(RR_i / RR_i-1)|``): a few hundredths in sinus rhythm with the odd ectopic beat, 0.2-0.3 in
        atrial fibrillation, where timing says nothing about a beat's origin.

    With fewer than two beats there are no intervals: prematurity 1 and irregularity 0.
    """
    peaks = np.asarray(r_peaks, dtype=np.float64)
    n = len(peaks)
    if n < 2:
        return np.ones(n), np.zeros(n)
    pre = _intervals_before(peaks, fs)
    prematurity = pre / running_median(pre, beats)
    return prematurity, running_median(_interval_change(np.log(pre), 1), beats)


def pattern_irregularity(r_peaks: np.ndarray, fs: float, lags: int = 3, beats: int = RHYTHM_BEATS) -> np.ndarray:
    """Each beat's irregularity (``local_rhythm``) at the lag, from 1 to ``lags`` beats, at which the rhythm
    around it repeats best: the least, over k, of the median of ``|log(RR_i / RR_i-k)|`` over its
    ``2 * beats + 1`` neighbours.

    A rhythm whose ectopic beats come in a pattern, every second or third beat (bigeminy, trigeminy), changes
    interval at every beat, so beat to beat it looks as irregular as atrial fibrillation; compared with the
    interval two or three beats back it is regular. Atrial fibrillation is irregular at every lag.

    r_peaks : (n_beats,) int, R-peak samples, ascending; fs : Hz. Returns (n_beats,) float64 (``lags`` 1:
    ``local_rhythm``'s irregularity; zeros with fewer than two beats).
    """
    peaks = np.asarray(r_peaks, dtype=np.float64)
    if len(peaks) < 2:
        return np.zeros(len(peaks))
    log_pre = np.log(_intervals_before(peaks, fs))
    return np.min([running_median(_interval_change(log_pre, k), beats) for k in range(1, max(lags, 1) + 1)], axis=0)


def rhythm_irregularity(times: np.ndarray, skipped: np.ndarray, beats: int = RHYTHM_BEATS) -> np.ndarray:
    """Each beat's irregularity (``local_rhythm``'s) over the intervals between the beats that are not
    ``skipped`` only: the median, over the ``beats`` interval pairs on each side, of ``|log(RR_i / RR_i-1)|``
    where neither interval touches a skipped beat. An ectopic beat resets the rhythm, so ectopy would
    make any rhythm look irregular; the rhythm between the other beats is regular in sinus rhythm, however
    many ectopic beats come at whatever intervals, and irregular in atrial fibrillation.

    times : (n,) float, s, ascending; skipped : (n,) bool (ectopic beats, or the beats of any family but the
    usual beat's). Returns (n,) float64, NaN where fewer than ``beats // 2`` pairs around a beat are usable.
    """
    import pandas as pd

    times, skipped = np.asarray(times, dtype=np.float64), np.asarray(skipped, dtype=bool)
    n = len(times)
    if n < 3:
        return np.full(n, np.nan)
    rr = np.diff(times)  # rr[i]: beat i -> beat i + 1
    usable = (rr > 0) & ~skipped[:-1] & ~skipped[1:]
    log_rr = np.log(np.where(rr > 0, rr, np.nan))
    change = np.abs(np.diff(log_rr))  # change[i]: rr[i] -> rr[i + 1], around beat i + 1
    change[~(usable[:-1] & usable[1:])] = np.nan
    per_beat = np.concatenate([[np.nan], change, [np.nan]])
    return pd.Series(per_beat).rolling(2 * beats + 1, center=True, min_periods=beats // 2).median().to_numpy()


def _intervals_before(peaks: np.ndarray, fs: float) -> np.ndarray:
    """(n,) s, the clipped RR interval before each of ``peaks`` (n >= 2); the first beat takes the second's."""
    rr = np.clip(np.diff(peaks) / fs, *RR_RANGE_S)
    return np.concatenate([rr[:1], rr])


def _interval_change(log_pre: np.ndarray, lag: int) -> np.ndarray:
    """(n,) ``|log_pre[i] - log_pre[i - lag]|``; against the first interval for the first ``lag`` beats."""
    before = np.concatenate([np.full(min(lag, len(log_pre)), log_pre[0]), log_pre[:-lag]])[: len(log_pre)]
    return np.abs(log_pre - before)


def running_median(values: np.ndarray, half: int) -> np.ndarray:
    """(n,) the median of each value of ``values`` (n,) and its ``half`` neighbours on each side; near the
    ends, of the neighbours there are. Not scipy's edge modes, which repeat the first or last value: a
    recording that ends inside a supraventricular run would make the run its own reference."""
    from scipy.ndimage import median_filter

    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    out = median_filter(values, size=2 * half + 1, mode="nearest")
    for i in (*range(min(half, n)), *range(max(n - half, half), n)):
        out[i] = np.median(values[max(i - half, 0) : i + half + 1])
    return out


#: Where the P wave lies: from this long before the R peak to this long before it, seconds.
P_WAVE_S = (0.25, 0.05)
#: Beats on each side whose median P stretch is a beat's local P template (``p_wave_consistency``).
P_TEMPLATE_BEATS = 5
#: P stretches are taken at about this rate (every k-th sample): the band-passed signal holds nothing above
#: 40 Hz, and fewer samples keep a day's worth of stretches small.
P_WAVE_FS = 120.0


def p_wave_stretches(filtered: np.ndarray, fs: float, r_peaks: np.ndarray, start: int = 0) -> np.ndarray:
    """The stretch of signal before each R peak where its P wave lies (``P_WAVE_S``).

    filtered : (n,) float, a stretch of band-passed ECG (``detection.bandpass``) beginning at sample
    ``start`` of the recording; r_peaks : (n_beats,) int, samples of the recording. Returns (n_beats, m)
    float32, every k-th sample of the stretch (k = ``fs // P_WAVE_FS``, at least 1); a row is NaN where the
    stretch is not all inside ``filtered``.
    """
    first, last = (int(round(s * fs)) for s in P_WAVE_S)
    offsets = np.arange(-first, -last, max(int(fs // P_WAVE_FS), 1))
    index = np.asarray(r_peaks, dtype=np.int64)[:, None] - start + offsets[None, :]
    inside = (index[:, 0] >= 0) & (index[:, -1] < len(filtered))
    out = np.full(index.shape, np.nan, dtype=np.float32)
    out[inside] = filtered[index[inside]]
    return out


def p_wave_consistency(stretches: np.ndarray, beats: int = P_TEMPLATE_BEATS) -> np.ndarray:
    """How alike each beat's P stretch is to its neighbours': the correlation of ``stretches[i]`` (n_beats, m;
    ``p_wave_stretches``) with the sample-wise median of the stretches of the ``2 * beats + 1`` beats around
    it. Each P wave of a sinus or atrial rhythm is like the next (0.9 or more); the fibrillatory waves of
    atrial fibrillation are not (MIT-BIH DS1, per record: a median of 0.36-0.47 in AF, 0.71-0.99 elsewhere
    but for 203's atrial flutter and VT, 0.40). Returns
    (n_beats,) float64 in [-1, 1], NaN for a NaN stretch."""
    from numpy.lib.stride_tricks import sliding_window_view

    n = len(stretches)
    if n == 0:
        return np.zeros(0)
    x = np.asarray(stretches, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    padded = np.pad(x, ((beats, beats), (0, 0)), constant_values=np.nan)  # the ends have fewer neighbours
    consistency = np.empty(n)
    block = 4096  # the neighbours' view is (block, m, 2 beats + 1): memory stays flat on a 24 h recording
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        windows = sliding_window_view(padded[lo : hi + 2 * beats], 2 * beats + 1, axis=0)
        with warnings_ignored(RuntimeWarning):  # a beat whose neighbours are all NaN gets a NaN template
            template = np.nanmedian(windows, axis=2)
            template = template - np.nanmean(template, axis=1, keepdims=True)
        own = x[lo:hi]
        norms = np.linalg.norm(own, axis=1) * np.linalg.norm(template, axis=1)
        consistency[lo:hi] = (own * template).sum(axis=1) / np.where(norms > 0, norms, np.nan)
    return np.clip(consistency, -1.0, 1.0)
