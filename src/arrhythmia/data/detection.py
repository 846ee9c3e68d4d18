"""R-peak detection on a raw single-lead ECG at its native sampling rate.

No annotations are read: the signal is band-passed (zero-phase Butterworth, 0.5-40 Hz) and a QRS
detector from a library made for this finds the beats; each detection is then moved onto the R wave
(the largest absolute deflection of the band-passed signal within 80 ms), so that beats segmented
from the result start at the R peak, as reference annotations do.

Chosen detector (``DEFAULT_METHOD = "neurokit-rules"``): NeuroKit2's gradient detector
(``ecg_findpeaks(method="neurokit")``, Makowski et al. 2021) run on the *rectified* band-passed
signal with its own minimum-delay rule relaxed, followed by the decision rules of Pan & Tompkins
(1985) that it lacks: a 200 ms refractory period that keeps the stronger of two close detections,
an amplitude gate against the neighbouring beats, T-wave rejection, and search-back in RR gaps.
Rectifying matters: NeuroKit2 places a peak on the most prominent local *maximum* inside each
QRS window and finds none in a QS complex or an inverted QRS, so it silently drops those beats.

Measured with ``python benchmarks/detect.py`` on all 48 MIT-BIH Arrhythmia records (360 Hz, MLII
where present else lead 0, 109,494 annotated beats, one-to-one match within 150 ms; every method
gets the same band-pass and R-wave placement; seconds per 30-min record include the filtering, not
file reading, on a 2-core machine shared with a training job):

====================  ======  ======  =====  =====  ========
method                Se %    +P %    FP     FN     s/record
====================  ======  ======  =====  =====  ========
neurokit-rules        99.81   99.76   258    207    0.10
neurokit              99.25   99.33   728    821    0.12
pantompkins1985       99.31   98.99   1105   754    0.11
hamilton2002          98.30   97.92   2284   1857   0.87
kalidas2017           97.45   99.33   718    2794   0.07
xqrs (wfdb)           99.23   99.33   731    847    4.02
gqrs (wfdb)           99.88   99.30   774    136    4.84
====================  ======  ======  =====  =====  ========

Only ``neurokit-rules`` reaches the target (Se and +P >= 99.5 % at < 0.2 s per record; slowest
record 0.15 s). 59 of its 258 false positives are flutter waves inside the ventricular flutter
episodes of record 207 (annotated ``!``, not beats), 76 are noise in record 108; most misses are
runs of wide multiform PVCs in record 203 (82). The rule constants below were set on this same
database (no held-out set), so expect somewhat lower figures on unseen data.

``search_gaps`` looks for missed beats in the signal itself, in RR gaps a caller names: ``predict`` names
the long gaps next to beats it labelled V, where fast wide complexes hide from the detector (docs/labelling.md,
"Rhythm episodes"). It is not part of ``detect_r_peaks``: searching every long gap added more false beats
than it found true ones.

Contract: signals shorter than :data:`MIN_DURATION_S` raise :class:`~arrhythmia.errors.ArrhythmiaError`;
flat or all-NaN signals return an empty array (the caller warns); a valid signal in which fewer than
two beats are found returns what was found (0 or 1 peaks), also for the caller to warn about.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from arrhythmia.errors import ArrhythmiaError, warnings_ignored

#: Shortest signal detection is attempted on, in seconds (a couple of beats at any heart rate).
MIN_DURATION_S = 2.0
#: Band-pass edges (Hz) applied before every detector: removes baseline wander and mains/EMG noise.
BANDPASS_HZ = (0.5, 40.0)
#: Half-width (s) of the window in which a detection is moved onto the largest deflection.
R_WAVE_SEARCH_S = 0.08

# Decision rules of the post-processing (all in seconds or ratios, so they hold at any rate).
REFRACTORY_S = 0.2  # no two beats closer than this (300 bpm): keep the stronger
GATE_RATIO = 0.3  # reject a candidate weaker than this fraction of its neighbours' typical strength
GATE_NEIGHBOURS = 9  # candidates in the running reference window
GATE_PERCENTILE = 75  # upper quantile: stays on the QRS level even if half the candidates are P/T waves
T_WAVE_S = 0.36  # a candidate this soon after a beat ...
T_WAVE_RATIO = 0.5  # ... and weaker than this fraction of it is the beat's T wave (Pan & Tompkins)
SEARCH_BACK_GAP = 1.5  # an RR interval this many times the running median RR hides a missed beat
SEARCH_BACK_RATIO = 0.15  # lower gate for candidates re-admitted in such a gap
SLOPE_WINDOW_S = 0.03  # smoothing of |slope| for candidate strength: QRS slopes are steep, P/T slopes not
STRENGTH_WINDOW_S = 0.075  # strength = peak smoothed |slope| within this half-width of the candidate
# Search-back in the signal itself (``search_gaps``), for the gaps that predict finds inside runs of V beats.
GAP_STRENGTH_RATIO = 0.7  # a gap's steepest slope at this fraction of the two beats around it is a beat
GAP_MARGIN_S = 1.0  # signal band-passed on each side of a gap
GAP_BLOCK_S = 60.0  # neighbouring gaps are band-passed together, up to this much signal at once
#: A run of one value at least this long (s) is no ECG but a lead off or a dropout that the device wrote as a
#: constant (0, a rail) and is read as missing, as NaN samples are: the step into and out of it is as steep as
#: a QRS and made false beats at its edges. ECG never holds one value this long: MIT-BIH's longest run outside
#: saturation is 28 ms, and its records quantised to 8 bits (0.04 mV) hold one value for at most 0.26 s.
FLAT_RUN_S = 0.5
#: An electrode that pops moves the baseline by millivolts in a sample and leaves it there (or lets it decay over
#: seconds, as a recorder's high-pass brings it back); its edge is as steep as a QRS complex and was read as a beat.
#: A QRS complex rises from its baseline and comes back to it: a detection is a step, not a beat, where the signal's
#: level ``STEP_LEVEL_S`` after it differs from its level as long before by at least the typical detection's height
#: and, within ``STEP_QRS_S`` of it, the signal strays less than ``STEP_STRAY`` of that jump from both levels (it
#: only goes from one to the other). On MIT-BIH's 48 records (MLII, 109,494 annotated beats) one annotated beat
#: (203, in its motion artefact) is such a step; a 2-3 mV step on record 100, held or decaying over 1 s, strays
#: 0.04-0.26 of its jump (tests/test_no_ecg.py).
STEP_LEVEL_S = (0.1, 0.25)
STEP_QRS_S = 0.1
STEP_STRAY = 0.3
#: A step taken out leaves this long each side of its steepest sample missing, bridged as a gap is.
STEP_EDGE_S = 0.02


def interpolate_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN samples, nearest valid value at the ends; all-NaN gives zeros."""
    bad = np.isnan(x)
    if not bad.any():
        return x
    if bad.all():
        return np.zeros_like(x)
    idx = np.arange(len(x))
    out = x.copy()
    out[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return out


def as_signal(signal: np.ndarray, fs: float) -> np.ndarray:
    """``signal`` as a (n,) float64 array; ArrhythmiaError (one line) for another shape or a bad sampling rate."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ArrhythmiaError(
            f"ECG signal must be one-dimensional: one lead, shape (n_samples,); got shape {x.shape} (pick a lead)"
        )
    if not np.isfinite(fs) or fs <= 0:
        raise ArrhythmiaError(f"fs must be a positive sampling rate in Hz, got {fs}")
    return x


def flat_runs(x: np.ndarray, fs: float, min_s: float = FLAT_RUN_S) -> np.ndarray:
    """(n,) bool: the samples of ``x`` ((n,) float) in runs of one value at least ``min_s`` seconds long at
    ``fs`` Hz (``FLAT_RUN_S``: a lead off or a dropout written as a constant). NaN samples are in none."""
    x = np.asarray(x)
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    ends = np.append(np.flatnonzero(x[1:] != x[:-1]) + 1, len(x))  # where each run of one value ends
    lengths = np.diff(ends, prepend=0)
    return np.repeat(lengths >= max(min_s * fs, 2), lengths)


def _is_flat(x: np.ndarray) -> bool:
    """All NaN, or one value throughout: no beats to find or move to."""
    valid = x[np.isfinite(x)]
    return len(valid) == 0 or np.ptp(valid) == 0


def _bandpass_sos(fs: float, low: float = BANDPASS_HZ[0], high: float = BANDPASS_HZ[1], order: int = 2):
    """Second-order sections of the Butterworth band-pass at ``fs``; ``high`` is kept below Nyquist."""
    return _designed_bandpass(float(fs), float(low), float(high), int(order)).copy()  # SciPy's filters write to it


@functools.lru_cache(maxsize=64)  # designed once per rate: a 10-s strip asked for the same one a dozen times
def _designed_bandpass(fs: float, low: float, high: float, order: int) -> np.ndarray:
    high = min(high, 0.45 * fs)  # keep the upper edge below Nyquist at low rates
    if not 0 < low < high:
        raise ArrhythmiaError(f"band-pass {low}-{high} Hz is empty at {fs} Hz")
    return sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")


def bandpass(
    signal: np.ndarray, fs: float, low: float = BANDPASS_HZ[0], high: float = BANDPASS_HZ[1], order: int = 2
) -> np.ndarray:
    """Zero-phase Butterworth band-pass filter.

    Parameters
    ----------
    signal : (n,) float array
        ECG in any unit (mV). NaN samples are linearly interpolated before filtering (an all-NaN
        signal gives zeros), so the output is finite everywhere.
    fs : float
        Sampling rate in Hz.
    low, high : float
        Pass band edges in Hz. ``high`` is lowered to 0.45 ``fs`` when the rate cannot carry it.
    order : int
        Butterworth order per direction (the forward-backward pass doubles it).

    Returns
    -------
    (n,) float64 array
        The filtered signal, same shape, no phase shift.
    """
    x = as_signal(signal, fs)
    sos = _bandpass_sos(fs, low, high, order)
    x = interpolate_nan(x)
    if len(x) <= 3 * (2 * len(sos) + 1):  # sosfiltfilt's default padding needs this much
        raise ArrhythmiaError(f"signal of {len(x)} samples is too short to filter")
    return sps.sosfiltfilt(sos, x)


# --------------------------------------------------------------------------- library detectors
# Each takes the band-passed signal (n,) and fs and returns candidate sample indices.


def _neurokit_method(name: str, **kwargs) -> Callable[[np.ndarray, float], np.ndarray]:
    def detect(y: np.ndarray, fs: float) -> np.ndarray:
        import neurokit2 as nk  # imported on use: it takes seconds to import

        with warnings_ignored():  # NeuroKit2 warns on short or odd segments; we check results
            found = nk.ecg_findpeaks(y, sampling_rate=fs, method=name, **kwargs)["ECG_R_Peaks"]
        return np.asarray(found, dtype=np.int64)

    detect.__doc__ = f"NeuroKit2 ``ecg_findpeaks(method={name!r})``."
    return detect


def _wfdb_xqrs(y: np.ndarray, fs: float) -> np.ndarray:
    """wfdb.processing XQRS (learns thresholds from the first seconds)."""
    from wfdb import processing

    logging.getLogger("wfdb").setLevel(logging.WARNING)
    return np.asarray(processing.xqrs_detect(sig=y, fs=fs, verbose=False), dtype=np.int64)


def _wfdb_gqrs(y: np.ndarray, fs: float) -> np.ndarray:
    """wfdb.processing GQRS (a Python port of PhysioNet's gqrs)."""
    from wfdb import processing

    return np.asarray(processing.gqrs_detect(sig=y, fs=fs), dtype=np.int64)


# --------------------------------------------------------------------------- post-processing


def _window_index(centres: np.ndarray, half: int, n: int) -> np.ndarray:
    """(k, 2 half + 1) sample indices around each centre, clipped to [0, n)."""
    return np.clip(centres[:, None] + np.arange(-half, half + 1)[None, :], 0, n - 1)


def _smoothed_slope(y: np.ndarray, fs: float) -> np.ndarray:
    """(n,) the lightly smoothed |slope| of the band-passed ECG ``y``: QRS complexes have the steepest
    slopes of the ECG, so its peaks separate them from P and T waves better than amplitude does."""
    return ndimage.uniform_filter1d(np.abs(np.gradient(y)), max(round(SLOPE_WINDOW_S * fs), 1))


def _strength(slope: np.ndarray, fs: float, centres: np.ndarray) -> np.ndarray:
    """(k,) each candidate's strength: the steepest ``slope`` within ``STRENGTH_WINDOW_S`` of it."""
    return slope[_window_index(centres, round(STRENGTH_WINDOW_S * fs), len(slope))].max(axis=1)


def _is_t_wave(delay: np.ndarray, strength: np.ndarray, strength_before: np.ndarray, fs: float) -> np.ndarray:
    """Pan & Tompkins' T-wave rule: a candidate ``delay`` samples after a beat and weaker than
    ``T_WAVE_RATIO`` of that beat's strength is its T wave."""
    return (delay < T_WAVE_S * fs) & (strength < T_WAVE_RATIO * strength_before)


def _drop_refractory(cand: np.ndarray, strength: np.ndarray, refractory: int) -> np.ndarray:
    """Boolean mask keeping, of any two candidates closer than ``refractory`` samples, the stronger."""
    keep = np.ones(len(cand), dtype=bool)
    while True:
        idx = np.flatnonzero(keep)
        close = np.flatnonzero(np.diff(cand[idx]) < refractory)
        if len(close) == 0:
            return keep
        st = strength[idx]
        weaker = np.where(st[close] < st[close + 1], close, close + 1)
        keep[idx[weaker]] = False


def _decision_rules(y: np.ndarray, fs: float, cand: np.ndarray) -> np.ndarray:
    """Pan-Tompkins style decisions on candidate QRS detections.

    Parameters
    ----------
    y : (n,) float64
        Band-passed ECG.
    fs : float
        Sampling rate in Hz.
    cand : (k,) int64, ascending
        Candidate detections (generous: P and T waves and noise may be among them).

    Returns
    -------
    (m,) int64, ascending
        Accepted beats, a subset of ``cand``.
    """
    if len(cand) < 2:
        return cand
    slope = _smoothed_slope(y, fs)
    strength = _strength(slope, fs, cand)

    refractory = max(round(REFRACTORY_S * fs), 1)
    keep = _drop_refractory(cand, strength, refractory)
    cand, strength = cand[keep], strength[keep]

    # Amplitude gate against a running upper quantile of the neighbouring candidates' strength,
    # so it follows gain changes along the record and ignores small waves between beats.
    reference = ndimage.percentile_filter(strength, GATE_PERCENTILE, size=GATE_NEIGHBOURS, mode="mirror")
    accepted = strength >= GATE_RATIO * reference

    # T-wave rule: soon after a beat and much weaker than it.
    beats = np.flatnonzero(accepted)
    while len(beats) > 1:
        t_wave = _is_t_wave(np.diff(cand[beats]), strength[beats[1:]], strength[beats[:-1]], fs)
        if not t_wave.any():
            break
        accepted[beats[1:][t_wave]] = False
        beats = np.flatnonzero(accepted)

    # Search-back: in an RR gap much longer than the running median RR, re-admit the strongest
    # rejected candidate that passes a lower gate and respects the refractory period.
    spare = np.flatnonzero(~accepted & (strength >= SEARCH_BACK_RATIO * reference))
    for _ in range(3):  # a long pause may hide more than one beat
        beats = np.flatnonzero(accepted)
        if len(beats) < 3 or len(spare) == 0:
            break
        rr = np.diff(cand[beats])
        median_rr = ndimage.median_filter(rr, size=GATE_NEIGHBOURS, mode="mirror")
        gaps = np.flatnonzero(rr > SEARCH_BACK_GAP * median_rr)
        lo = np.searchsorted(cand[spare], cand[beats[gaps]] + refractory, side="left")
        hi = np.searchsorted(cand[spare], cand[beats[gaps + 1]] - refractory, side="right")
        found = [spare[a + np.argmax(strength[spare[a:b]])] for a, b in zip(lo, hi) if b > a]
        if not found:
            break
        accepted[found] = True
        spare = spare[~np.isin(spare, found)]
    return cand[accepted]


def _neurokit_rules(y: np.ndarray, fs: float) -> np.ndarray:
    """NeuroKit2's gradient detector on the rectified signal, then Pan-Tompkins decision rules."""
    # Rectified: NeuroKit2 takes the most prominent local maximum in each QRS window, which an
    # inverted or QS complex lacks. Its own 0.3 s minimum delay keeps the *first* of two close
    # detections; relaxed here so the refractory rule can keep the stronger one.
    cand = _neurokit_method("neurokit", mindelay=0.05)(np.abs(y), fs)
    return _decision_rules(y, fs, np.unique(cand))


#: Detectors compared on MIT-BIH (see the module docstring), by name.
METHODS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "neurokit-rules": _neurokit_rules,
    "neurokit": _neurokit_method("neurokit"),
    "pantompkins1985": _neurokit_method("pantompkins1985"),
    "hamilton2002": _neurokit_method("hamilton2002"),
    "kalidas2017": _neurokit_method("kalidas2017"),
    "xqrs": _wfdb_xqrs,
    "gqrs": _wfdb_gqrs,
}
DEFAULT_METHOD = "neurokit-rules"


def _on_r_wave(y: np.ndarray, fs: float, peaks: np.ndarray) -> np.ndarray:
    """Move each detection to the largest |deflection| of ``y`` within R_WAVE_SEARCH_S; sorted, unique."""
    if len(peaks) == 0:
        return peaks
    return np.unique(_climb_to_r_wave(y, fs, np.asarray(peaks, dtype=np.int64), max_steps=1))


#: Most moves :func:`align_to_r_wave` makes per annotation (each within R_WAVE_SEARCH_S), so an
#: annotation travels at most 3 x 80 ms: far enough to climb from a mark 60 ms before the R peak,
#: not far enough to wander into the next beat.
R_WAVE_MAX_STEPS = 3


def _climb_to_r_wave(y: np.ndarray, fs: float, samples: np.ndarray, max_steps: int = R_WAVE_MAX_STEPS) -> np.ndarray:
    """Repeat :func:`_on_r_wave`'s move on each position (no sorting, no dedup) until it stays put.

    A position moves only to a strictly larger ``|y|``, so ties and flat stretches leave it where it
    is and every walk ends; at most ``max_steps`` moves.
    """
    half = max(round(R_WAVE_SEARCH_S * fs), 1)
    magnitude = np.abs(y)
    placed = samples.copy()
    moving = np.arange(len(placed))
    for _ in range(max_steps):
        window = _window_index(placed[moving], half, len(y))
        best = window[np.arange(len(moving)), np.argmax(magnitude[window], axis=1)]
        moved = magnitude[best] > magnitude[placed[moving]]
        placed[moving[moved]] = best[moved]
        moving = moving[moved]
        if len(moving) == 0:
            break
    return placed


def align_to_r_wave(signal: np.ndarray, fs: float, samples: np.ndarray) -> np.ndarray:
    """Place annotated beats on their R peaks, with the rule that places detected peaks.

    Each annotation is moved to the largest absolute deflection of the band-passed signal
    (:func:`bandpass`) within :data:`R_WAVE_SEARCH_S` (80 ms), as :func:`detect_r_peaks` does with a
    detection, and the move is repeated from where it lands until the position no longer changes
    (at most :data:`R_WAVE_MAX_STEPS` moves): a local hill-climb on ``|band-passed ECG|``. The
    repetition makes the result independent of where on the QRS the annotation sat: databases that
    mark beats 16-62 ms before the R peak get the positions MIT-BIH's R-peak annotations get, so
    beats cut from either are the same windows. (One 80 ms search from a mark 60 ms early reaches
    only 20 ms past the R peak and stops on a Q or R wave whose S wave the original would reach.)

    Measured on all 48 MIT-BIH records (MLII else lead 0, 109,494 beat annotations): annotations
    moved 20 / 40 / 60 ms earlier land on the same sample as the unmoved ones for 99.80 / 99.78 /
    99.74 % of beats (one 80 ms search: 98.55 / 97.62 / 96.84 %), 20 ms later 99.23 %; nearly all
    the rest are paced beats of records 107 and 104 with two deflections of similar size. The unmoved
    annotations themselves stay put or move 1-2 samples for 94.3 % of beats (the filter's peak is not
    always the annotated sample); 0.5 % move more than 80 ms, most of them paced beats in 107.

    Parameters
    ----------
    signal : (n_samples,) float array
        Raw ECG (mV or any unit). NaN samples are interpolated over before filtering (as in
        :func:`bandpass`); an annotation in such a stretch is still moved and kept.
    fs : float
        Sampling rate in Hz.
    samples : (n_beats,) int array
        Annotated beat positions, each in ``[0, n_samples)``, in any order.

    Returns
    -------
    (n_beats,) int64
        The positions on the R wave, in the same order and of the same length as ``samples``: no
        sorting and no merging, so every annotation keeps its label even where two land together.
        Empty for empty ``samples``; ``samples`` unchanged for a flat or all-NaN signal.

    Raises
    ------
    ArrhythmiaError
        For a non-1-D signal or ``samples``, a bad sampling rate, positions that are not integers or
        lie outside the signal, or a signal too short to filter.
    """
    x = as_signal(signal, fs)
    positions = np.asarray(samples)
    if positions.ndim != 1:
        raise ArrhythmiaError(f"beat positions must be one-dimensional, got shape {positions.shape}")
    if len(positions) == 0:
        return np.empty(0, dtype=np.int64)
    integral = positions.dtype.kind in "iu" or (
        positions.dtype.kind == "f" and bool(np.all(np.isfinite(positions) & (positions == np.round(positions))))
    )
    if not integral:
        raise ArrhythmiaError("beat positions must be integer sample indices")
    positions = positions.astype(np.int64)
    outside = (positions < 0) | (positions >= len(x))
    if outside.any():
        raise ArrhythmiaError(
            f"{int(outside.sum())} beat position(s) lie outside the signal of {len(x)} samples "
            f"(first: {int(positions[outside][0])})"
        )
    try:
        filtered = bandpass(x, fs)
    except ArrhythmiaError as exc:
        raise ArrhythmiaError(f"cannot align beats to the R wave: {exc}") from None
    if _is_flat(x):
        return positions  # flat or all NaN: no R wave to move to (the filter leaves only rounding noise)
    return _climb_to_r_wave(filtered, fs, positions)


def search_gaps(signal: np.ndarray, fs: float, beats: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """A beat the detector missed in each of the given RR gaps, looked for in the signal itself.

    NeuroKit2's detector can merge two wide ventricular complexes of a fast run into one QRS window and
    offer one candidate for both, so the search-back among its candidates (``_decision_rules``) has
    nothing to find. Here the signal around the gaps (``GAP_MARGIN_S`` on each side) is band-passed and
    the steepest peak of its smoothed |slope| between a gap's two beats (a refractory period from each)
    is taken as a beat if it reaches ``GAP_STRENGTH_RATIO`` of the weaker beat's strength and is not the
    T wave of the beat before (Pan & Tompkins' rule); it is then placed on the R wave (one 80 ms move).

    signal : (n,) raw ECG; fs : Hz; beats : (m,) int, ascending R-peak samples; gaps : (k,) int, ascending
    indices ``g`` of the gaps ``beats[g] .. beats[g + 1]`` to search. Returns (k,) int64: the found
    beat's sample in each gap, -1 where none.
    """
    x = as_signal(signal, fs)
    beats, gaps = np.asarray(beats, dtype=np.int64), np.asarray(gaps, dtype=np.int64)
    found = np.full(len(gaps), -1, dtype=np.int64)
    margin = round(GAP_MARGIN_S * fs)
    sos = _bandpass_sos(fs)
    starts = np.maximum(beats[gaps] - margin, 0)
    ends = np.minimum(beats[gaps + 1] + margin + 1, len(x))
    k = 0
    while k < len(gaps):
        # Neighbouring gaps share one filtered stretch (up to GAP_BLOCK_S): ectopy gives thousands of gaps.
        last = k
        while (
            last + 1 < len(gaps) and starts[last + 1] <= ends[last] and ends[last + 1] - starts[k] <= GAP_BLOCK_S * fs
        ):
            last += 1
        lo, hi = int(starts[k]), int(ends[last])
        if not _is_flat(x[lo:hi]):
            y = sps.sosfiltfilt(sos, interpolate_nan(x[lo:hi]))  # as ``bandpass``; over 2 s long
            slope = _smoothed_slope(y, fs)
            for i in range(k, last + 1):
                beat = _search_gap(y, slope, fs, beats[gaps[i]] - lo, beats[gaps[i] + 1] - lo)
                if beat >= 0:
                    found[i] = beat + lo
        k = last + 1
    return found


def _search_gap(y: np.ndarray, slope: np.ndarray, fs: float, before: int, after: int) -> int:
    """``search_gaps`` for one gap between the beats at ``before`` and ``after`` (samples of ``y``, the
    band-passed stretch, and ``slope``, its ``_smoothed_slope``): the found beat's sample of ``y``, or -1."""
    refractory = max(round(REFRACTORY_S * fs), 1)
    if after - before <= 2 * refractory:
        return -1
    strength = _strength(slope, fs, np.array([before, after]))
    peaks = sps.find_peaks(slope[before + refractory : after - refractory], distance=refractory)[0]
    if len(peaks) == 0:
        return -1
    peaks = peaks + before + refractory
    peak_strength = _strength(slope, fs, peaks)
    best = int(np.argmax(peak_strength))
    peak, best_strength = peaks[best], peak_strength[best]
    if best_strength < GAP_STRENGTH_RATIO * strength.min() or _is_t_wave(peak - before, best_strength, strength[0], fs):
        return -1
    return int(_climb_to_r_wave(y, fs, np.array([peak]), max_steps=1)[0])


#: Beats whose polarity ``polarity`` looks at (evenly spread over the recording), and the stretch of
#: signal around each that is band-passed (filtering a day-long signal whole would take gigabytes).
POLARITY_BEATS = 500
POLARITY_STRETCH_S = 2.0


def polarity(signal: np.ndarray, fs: float, r_peaks: np.ndarray) -> int:
    """+1 if the recording's beats point up, -1 if down: the sign of the band-passed signal at most of its
    R peaks (which sit on each QRS complex's largest deflection). A reversed electrode, or a lead such as
    V1 whose QRS is mostly negative, gives -1. signal: (n,) raw ECG; r_peaks: (n_beats,) samples on the
    R wave (``detect_r_peaks``, ``align_to_r_wave``). Up to ``POLARITY_BEATS`` beats are looked at, each in
    its own ``POLARITY_STRETCH_S`` of signal. +1 without peaks."""
    x = as_signal(signal, fs)
    peaks = np.asarray(r_peaks, dtype=np.int64)
    if len(peaks) == 0:
        return 1
    return -1 if np.median(_peak_signs(x, fs, peaks)) < 0 else 1


def _peak_signs(x: np.ndarray, fs: float, peaks: np.ndarray) -> np.ndarray:
    """The sign (-1, 0, +1) of the band-passed signal at up to ``POLARITY_BEATS`` of ``peaks`` (samples of
    ``x``, (n,) float; at least one peak), evenly spread, each filtered in its own ``POLARITY_STRETCH_S``."""
    peaks = peaks[np.linspace(0, len(peaks) - 1, min(len(peaks), POLARITY_BEATS)).round().astype(np.int64)]
    half = int(POLARITY_STRETCH_S * fs / 2)
    # Indices clipped to the signal repeat its first and last samples past the ends (edge padding) without
    # copying the whole signal, which on a 24 h recording is 250 MB.
    stretches = x[np.clip(peaks[:, None] + np.arange(-half, half + 1), 0, len(x) - 1)]  # (n, 2 half + 1)
    stretches = np.nan_to_num(stretches - np.nanmedian(stretches, axis=1, keepdims=True))  # gaps: baseline
    filtered = sps.sosfiltfilt(_bandpass_sos(fs), stretches, axis=1)
    return np.sign(filtered[:, half])


#: A long recording's polarity is looked at again in parts of this long (a multiple of the 10 s segmentation
#: window, so a part's edge never falls inside one), ...
POLARITY_PART_S = 600.0
#: ... and a part is turned the other way from the whole recording where at least this share of its beats
#: point that way, and they are at least ``POLARITY_PART_BEATS`` (a minute's; the few "beats" of a part that is
#: mostly noise, or the tail of a recording, say nothing): a patch worn upside down for a day of a week.
POLARITY_TURN_SHARE = 0.85
POLARITY_PART_BEATS = 60


def turned_parts(signal: np.ndarray, fs: float, r_peaks: np.ndarray, sign: int) -> np.ndarray:
    """Where a recording's beats point the other way from ``sign`` (its ``polarity``): (k, 2) int64 start and
    end samples (end exclusive), in order, of the runs of ``POLARITY_PART_S`` parts in which at least
    ``POLARITY_TURN_SHARE`` of the beats (up to ``POLARITY_BEATS`` looked at, at least ``POLARITY_PART_BEATS``)
    point against ``sign``.

    signal : (n,) raw ECG, any unit; fs : Hz; r_peaks : (n_beats,) ascending samples on the R wave. A recording
    of one part has none (its ``polarity`` is its parts'). MIT-BIH's 48 records, both leads, have none: the
    largest share of a part's beats against its record's is 0.81 (124's V4; MLII's 0.67, 117's). Their MLII
    turned over and resampled to 250 Hz, 80% of the parts are found (the rest hold beats of both signs).
    """
    x = as_signal(signal, fs)
    peaks = np.asarray(r_peaks, dtype=np.int64)
    part = int(round(POLARITY_PART_S * fs))
    if len(x) <= part or len(peaks) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.searchsorted(peaks, np.arange(0, len(x) + part, part))
    turned = np.zeros(len(edges) - 1, dtype=bool)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        if b - a >= POLARITY_PART_BEATS:
            turned[i] = np.mean(_peak_signs(x, fs, peaks[a:b]) == -sign) >= POLARITY_TURN_SHARE
    first = np.flatnonzero(np.diff(np.concatenate([[0], turned.astype(np.int8), [0]])))
    runs = first.reshape(-1, 2) * part
    return np.minimum(runs, len(x)).astype(np.int64)


def detect_r_peaks(signal: np.ndarray, fs: float, method: str = DEFAULT_METHOD) -> np.ndarray:
    """R-peak sample indices of a single-lead ECG, at its own sampling rate.

    Parameters
    ----------
    signal : (n,) float array
        Raw ECG (mV or any unit); NaN samples, and runs of one value ``FLAT_RUN_S`` or longer (a lead off
        written as 0), are gaps: interpolated over, and no beat is placed in them.
    fs : float
        Sampling rate in Hz (any: 128, 250, 360, 1000 ...).
    method : str
        A key of :data:`METHODS`.

    Returns
    -------
    (n_beats,) int64
        Ascending sample indices, each on the R wave (largest absolute deflection of the
        band-passed signal near the detection). Empty for a flat or all-NaN signal; fewer than two
        peaks are returned as found. The caller decides whether to warn.

    Raises
    ------
    ArrhythmiaError
        For an unknown method, a non-1-D signal, a bad sampling rate, or a signal shorter than
        :data:`MIN_DURATION_S`.
    """
    return detect_and_filter(signal, fs, method)[0]


def detect_and_filter(signal: np.ndarray, fs: float, method: str = DEFAULT_METHOD) -> tuple[np.ndarray, np.ndarray]:
    """:func:`detect_r_peaks`, and the band-passed signal it detected on ((n,) float64; zeros for a flat or
    all-NaN signal), for a caller that reads more from the filtered signal than the peaks."""
    if method not in METHODS:
        raise ArrhythmiaError(f"unknown R-peak detector {method!r} (choose from {', '.join(METHODS)})")
    x = as_signal(signal, fs)
    if len(x) < MIN_DURATION_S * fs:
        raise ArrhythmiaError(
            f"ECG of {len(x)} samples ({len(x) / fs:.2f} s at {fs:g} Hz) is too short to detect beats "
            f"(at least {MIN_DURATION_S:g} s needed)"
        )
    # A stretch held at one value (a lead off written as 0) is a gap, as NaN samples are: bridged by the
    # band-pass's interpolation, so that the steps into and out of it are not read as QRS complexes.
    gaps = np.isnan(x) | flat_runs(x, fs)
    if _is_flat(x) or gaps.all():
        return np.empty(0, dtype=np.int64), np.zeros(len(x))  # nothing to detect: all NaN or flat
    if gaps.any():
        x = np.where(gaps, np.nan, x)
    filtered = bandpass(x, fs)
    peaks = find_r_peaks(filtered, fs, method, invalid=gaps)
    steps = baseline_steps(x, fs, peaks)
    if steps.any():
        # Taken out and detected again, not only dropped: read as a beat, a step had made the true beat after
        # it its "T wave" (and the band-pass rings for a second after it).
        x, bridged = _without_steps(x, fs, peaks[steps])
        gaps = gaps | bridged
        filtered = bandpass(x, fs)
        peaks = find_r_peaks(filtered, fs, method, invalid=gaps)
        peaks = peaks[~baseline_steps(x, fs, peaks)]
    return peaks, filtered


def _without_steps(x: np.ndarray, fs: float, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ((n,) float) with the baseline steps found at ``steps`` (samples, ``baseline_steps``) taken out: the
    signal after each one's steepest sample moved back by its jump, and ``STEP_EDGE_S`` each side of that sample
    missing (NaN, bridged by the band-pass). Also (n,) bool, the samples made missing. A step that decays leaves
    a slow curve, which the band-pass takes out."""
    x = x.copy()
    bridged = np.zeros(len(x), dtype=bool)
    near, far, half = round(STEP_LEVEL_S[0] * fs), round(STEP_LEVEL_S[1] * fs), round(STEP_QRS_S * fs)
    edge = max(round(STEP_EDGE_S * fs), 1)
    for at in np.asarray(steps, dtype=np.int64):
        lo, hi = max(at - half, 0), min(at + half + 1, len(x))
        with warnings_ignored(RuntimeWarning):
            jumps = np.abs(np.diff(x[lo:hi]))
            if len(jumps) == 0 or not np.isfinite(jumps).any():
                continue
            steepest = lo + int(np.nanargmax(jumps))  # the last sample before the jump
            jump = np.nanmedian(x[at + near + 1 : at + far + 1]) - np.nanmedian(x[max(at - far, 0) : max(at - near, 0)])
        if not np.isfinite(jump):
            continue
        x[steepest + 1 :] -= jump
        gap = slice(max(steepest - edge, 0), min(steepest + edge + 1, len(x)))
        x[gap], bridged[gap] = np.nan, True
    return x, bridged


def baseline_steps(x: np.ndarray, fs: float, peaks: np.ndarray) -> np.ndarray:
    """(k,) bool: which of ``peaks`` ((k,) int samples of ``x``, (n,) float, any unit, NaN where missing) are
    the edge of a baseline step (an electrode that popped), not a QRS complex (``STEP_STRAY``).

    Each detection's levels are the median of ``x`` from ``STEP_LEVEL_S[1]`` to ``STEP_LEVEL_S[0]`` before it and
    from ``STEP_LEVEL_S[0]`` to ``STEP_LEVEL_S[1]`` after it; its height, how far ``x`` strays within
    ``STEP_QRS_S`` of it from the nearer of the two. A step jumps between the levels by at least the median
    height of ``peaks`` (a beat's worth: small shifts of the baseline do not count) and strays under
    ``STEP_STRAY`` of that jump from both.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    if len(peaks) == 0:
        return np.zeros(0, dtype=bool)
    near, far, half = round(STEP_LEVEL_S[0] * fs), round(STEP_LEVEL_S[1] * fs), round(STEP_QRS_S * fs)

    def around(offsets: np.ndarray) -> np.ndarray:  # (k, len(offsets)) samples of x, NaN past its ends
        index = peaks[:, None] + offsets[None, :]
        inside = (index >= 0) & (index < len(x))
        return np.where(inside, x[np.clip(index, 0, len(x) - 1)], np.nan)

    with warnings_ignored(RuntimeWarning):  # a window all missing: no level, not a step
        before = np.nanmedian(around(np.arange(-far, -near)), axis=1)
        after = np.nanmedian(around(np.arange(near + 1, far + 1)), axis=1)
        qrs = around(np.arange(-half, half + 1))
        stray = np.nanmax(np.minimum(np.abs(qrs - before[:, None]), np.abs(qrs - after[:, None])), axis=1)
        typical = np.nanmedian(stray)
    jump = np.abs(after - before)
    return (jump >= typical) & (stray < STEP_STRAY * jump)


def find_r_peaks(
    filtered: np.ndarray, fs: float, method: str = DEFAULT_METHOD, invalid: np.ndarray | None = None
) -> np.ndarray:
    """The detection step of :func:`detect_r_peaks`, on a signal already passed through :func:`bandpass`.

    ``invalid``: (n,) bool, the gaps interpolated over before filtering (NaN samples, ``flat_runs``); no beat
    is placed on them.
    Exposed so that filtering and detection can be timed apart (``benchmarks/predict.py``).
    """
    found = np.asarray(METHODS[method](filtered, fs), dtype=np.int64)
    found = found[(found >= 0) & (found < len(filtered))]
    peaks = _on_r_wave(filtered, fs, np.unique(found))
    if invalid is not None and invalid.any():  # interpolated stretches carry no beats
        peaks = peaks[~invalid[peaks]]
    return peaks.astype(np.int64)


def peak_offsets(filtered: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Where each R peak lies between samples: the vertex of the parabola through the band-passed
    signal at the peak and its two neighbours, as an offset from the peak's sample.

    A detector's peaks sit on whole samples, 7.8 ms apart at 128 Hz: RMSSD and pNN50 read that jitter as
    beat-to-beat variation (DS1 at 128 Hz, RMSSD's median error 4.5% against the annotated beats' with
    whole samples, 1.2% with these offsets; docs/labelling.md, "Rhythm episodes").

    filtered : (n_samples,) float, the band-passed signal the peaks were found on (:func:`detect_and_filter`).
    peaks : (n_beats,) int, samples of ``filtered``, each the largest ``|filtered|`` near it.

    Returns (n_beats,) float64 in [-0.5, 0.5] samples: 0 at either end of the signal and where the peak is
    no extremum of its neighbours (a flat top, NaN).
    """
    y = np.asarray(filtered, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    offsets = np.zeros(len(peaks))
    inner = (peaks >= 1) & (peaks <= len(y) - 2)
    at = peaks[inner]
    if len(at) == 0:
        return offsets
    sign = np.sign(y[at])  # a downward R (QS) peak is a minimum: fit its mirror image
    before, top, after = sign * y[at - 1], sign * y[at], sign * y[at + 1]
    curvature = before - 2 * top + after
    peaked = np.isfinite(curvature) & (curvature < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(peaked, 0.5 * (before - after) / np.where(peaked, curvature, 1.0), 0.0)
    offsets[inner] = np.clip(vertex, -0.5, 0.5)
    return offsets


def match_beats(detected: np.ndarray, reference: np.ndarray, tolerance_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair detections with reference beats, one-to-one within a tolerance.

    Pairs are matched closest-first, as a beat-by-beat comparison does: each round pairs every
    free detection and free reference beat that are each other's nearest neighbour, until no free
    pair is within tolerance. Every detection matches at most one reference beat and vice versa, so
    duplicates count once. (Closest-first, not maximum cardinality: a detection between two beats
    goes to the nearer one.) Vectorised with ``np.searchsorted``; a few rounds of O(n log n).

    Parameters
    ----------
    detected, reference : (n,), (m,) int arrays
        Sample indices, in any order.
    tolerance_samples : int
        Largest allowed |detected - reference| for a match, inclusive.

    Returns
    -------
    (det_index, ref_index) : (k,) int64 each
        ``detected[det_index[i]]`` is paired with ``reference[ref_index[i]]``, in ascending order of the
        reference beat.
    """
    detected = np.asarray(detected, dtype=np.int64).ravel()
    reference = np.asarray(reference, dtype=np.int64).ravel()
    det_order, ref_order = np.argsort(detected, kind="stable"), np.argsort(reference, kind="stable")
    det, ref = detected[det_order], reference[ref_order]
    det_free = np.ones(len(det), dtype=bool)
    ref_free = np.ones(len(ref), dtype=bool)
    pair_of_ref = np.full(len(ref), -1, dtype=np.int64)  # the detection paired with each reference beat
    while det_free.any() and ref_free.any():
        d_idx, r_idx = np.flatnonzero(det_free), np.flatnonzero(ref_free)
        d, r = det[d_idx], ref[r_idx]
        r_to_d = _nearest(r, d)
        d_to_r = _nearest(d, r)
        mutual = (d_to_r[r_to_d] == np.arange(len(r))) & (np.abs(r - d[r_to_d]) <= tolerance_samples)
        if not mutual.any():  # the globally closest free pair is mutual, so none is within tolerance
            break
        pair_of_ref[r_idx[mutual]] = d_idx[r_to_d[mutual]]
        ref_free[r_idx[mutual]] = False
        det_free[d_idx[r_to_d[mutual]]] = False
    paired = np.flatnonzero(pair_of_ref >= 0)
    return det_order[pair_of_ref[paired]], ref_order[paired]


def match_peaks(detected: np.ndarray, reference: np.ndarray, tolerance_samples: int) -> tuple[int, int, int]:
    """Score detections against reference beats (``match_beats``): ``(tp, fp, fn)``, the matched pairs,
    the unmatched detections and the unmatched reference beats."""
    tp = len(match_beats(detected, reference, tolerance_samples)[0])
    return tp, len(np.ravel(detected)) - tp, len(np.ravel(reference)) - tp


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index into sorted ``b`` of the element nearest each ``a`` (ties: the earlier)."""
    right = np.clip(np.searchsorted(b, a), 0, len(b) - 1)
    left = np.clip(right - 1, 0, len(b) - 1)
    return np.where(np.abs(a - b[left]) <= np.abs(b[right] - a), left, right)
