"""Ventricular flutter and fibrillation, from the signal itself.

In ventricular flutter the ECG becomes one large, regular wave at 150-300 a minute with no QRS complex and no
baseline between the waves; in fibrillation the waves are faster and less regular. A beat detector finds few
of these waves, so the labelled beats cannot say what happened: the rhythm read from them shows a pause, a
slow rate or nothing. ``flutter_windows`` describes every 4 s of the signal by four measures of the
1-30 Hz band (Barro et al. 1989 and Amann et al. 2005 describe such spectral and threshold-crossing
measures) and ``ventricular_flutter`` gives the stretches where all four look like flutter:

- the dominant frequency (1.5-12 Hz) is ``MIN_HZ`` or more (over 120 a minute);
- ``concentration``: the share of the power within 0.6 Hz of it is high (one wave, not a train of QRS
  complexes, whose power spreads over the harmonics of the heart rate);
- ``time_above``: the share of the window's samples beyond a fifth of its largest deflection is high (no
  isoelectric line between waves; sinus rhythm and most VT spend most of their time near the baseline);
- ``high_share``: the share of the power above 12 Hz is low (no sharp QRS complexes, no muscle noise).

The thresholds were chosen on MIT-BIH DS1 (record 207, the one MIT-BIH record with ventricular flutter, and
the 21 others for false alarms): docs/choosing-the-rhythm-settings.md#ventricular-flutter.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from arrhythmia.data.detection import bandpass, interpolate_nan
from arrhythmia.data.quality import true_runs

#: The signal is looked at in this band, resampled to this rate, in windows this long every step.
BAND_HZ = (1.0, 30.0)
RATE_HZ = 100.0
WINDOW_S = 4.0
STEP_S = 1.0
#: The dominant frequency is looked for in this band; "concentration" counts the power this close to it.
SEARCH_HZ = (1.5, 12.0)
PEAK_HALF_WIDTH_HZ = 0.6
#: Power above this counts as sharp (QRS complexes, muscle).
HIGH_HZ = 12.0
#: ``time_above`` counts the samples beyond this share of the window's largest deflection.
ABOVE_SHARE = 0.2
#: The thresholds a window must meet (see the module docstring).
MIN_HZ = 2.0
MIN_CONCENTRATION = 0.6
MIN_TIME_ABOVE = 0.5
MAX_HIGH_SHARE = 0.05
#: Windows computed at a time (a 24-hour recording in megabytes), with this much signal filtered on each side.
WINDOWS_AT_ONCE = 2048
FILTER_MARGIN_S = 5.0


@dataclass
class FlutterWindows:
    """The measures of each window: start_s (n,) float, s from the start of the recording, and
    dominant_hz, concentration, time_above, high_share (n,) float each."""

    start_s: np.ndarray
    dominant_hz: np.ndarray
    concentration: np.ndarray
    time_above: np.ndarray
    high_share: np.ndarray


def flutter_windows(signal: np.ndarray, fs: float) -> FlutterWindows:
    """The four measures of every ``WINDOW_S`` window of ``signal`` ((n_samples,) float, mV, NaN where
    missing; fs in Hz), one window every ``STEP_S``."""
    rate = Fraction(RATE_HZ / fs).limit_denominator(1000)
    new_fs = fs * rate.numerator / rate.denominator
    n = len(signal)
    empty = np.zeros(0)
    if n < WINDOW_S * fs or BAND_HZ[0] >= 0.45 * fs:
        return FlutterWindows(empty, empty, empty, empty, empty)
    start_s = np.arange(0.0, n / fs - WINDOW_S + 1e-9, STEP_S)
    width = int(round(WINDOW_S * new_fs))
    nfft = 2 * width
    freqs = np.fft.rfftfreq(nfft, 1.0 / new_fs)
    band = (freqs >= BAND_HZ[0]) & (freqs <= min(BAND_HZ[1], 0.45 * new_fs))
    search = (freqs >= SEARCH_HZ[0]) & (freqs <= SEARCH_HZ[1])
    high = band & (freqs > HIGH_HZ)
    taper = np.hanning(width)
    measures = [np.zeros(len(start_s)) for _ in range(4)]
    for first in range(0, len(start_s), WINDOWS_AT_ONCE):  # a stretch of signal at a time: megabytes
        starts = start_s[first : first + WINDOWS_AT_ONCE]
        lo = max(int((starts[0] - FILTER_MARGIN_S) * fs), 0)
        hi = min(int(np.ceil((starts[-1] + WINDOW_S + FILTER_MARGIN_S) * fs)), n)
        part = interpolate_nan(np.asarray(signal[lo:hi], dtype=np.float64))
        y = sps.resample_poly(bandpass(part, fs, *BAND_HZ), rate.numerator, rate.denominator)
        index = np.minimum(np.round((starts - lo / fs) * new_fs).astype(np.int64), len(y) - width)
        frames = y[index[:, None] + np.arange(width)[None, :]]
        power = np.abs(np.fft.rfft((frames - frames.mean(axis=1, keepdims=True)) * taper, nfft)) ** 2
        total = power[:, band].sum(axis=1) + 1e-20
        dominant = freqs[search][np.argmax(power[:, search], axis=1)]
        near = band[None, :] & (np.abs(freqs[None, :] - dominant[:, None]) <= PEAK_HALF_WIDTH_HZ)
        size = np.abs(frames)
        chunk = slice(first, first + len(frames))
        measures[0][chunk] = dominant
        measures[1][chunk] = (power * near).sum(axis=1) / total
        measures[2][chunk] = (size > ABOVE_SHARE * size.max(axis=1, keepdims=True)).mean(axis=1)
        measures[3][chunk] = power[:, high].sum(axis=1) / total
    return FlutterWindows(start_s, *measures)


def ventricular_flutter(
    signal: np.ndarray,
    fs: float,
    min_concentration: float = MIN_CONCENTRATION,
    min_time_above: float = MIN_TIME_ABOVE,
    max_high_share: float = MAX_HIGH_SHARE,
) -> np.ndarray:
    """(k, 2) int64: start and end samples (end exclusive) of the stretches covered by windows that look
    like ventricular flutter or fibrillation (module docstring), in order; signal: (n_samples,) float, mV;
    fs: Hz. How long a stretch must be to make an episode is ``EpisodeConfig.vf_min_s``."""
    return flutter_stretches(
        flutter_windows(signal, fs), fs, len(signal), min_concentration, min_time_above, max_high_share
    )


def flutter_stretches(
    windows: FlutterWindows,
    fs: float,
    n_samples: int,
    min_concentration: float = MIN_CONCENTRATION,
    min_time_above: float = MIN_TIME_ABOVE,
    max_high_share: float = MAX_HIGH_SHARE,
) -> np.ndarray:
    """The stretches of ``ventricular_flutter`` from windows already measured (for choosing thresholds)."""
    like = (
        (windows.dominant_hz >= MIN_HZ)
        & (windows.concentration >= min_concentration)
        & (windows.time_above >= min_time_above)
        & (windows.high_share <= max_high_share)
    )
    stretches: list[list[float]] = []
    for first, last in true_runs(like):
        # each window stands for its middle half: its edges may hold the rhythm on either side
        start, end = windows.start_s[first] + WINDOW_S / 4, windows.start_s[last] + 3 * WINDOW_S / 4
        if stretches and start - stretches[-1][1] <= WINDOW_S / 2:  # a window or two that missed: one stretch
            stretches[-1][1] = end
        else:
            stretches.append([start, end])
    out = np.round(np.array(stretches, dtype=np.float64).reshape(-1, 2) * fs).astype(np.int64)
    return np.clip(out, 0, n_samples)
