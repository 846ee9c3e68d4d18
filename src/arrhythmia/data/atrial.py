"""Atrial activity between the beats: its dominant frequency and how organised it is, the signs of atrial
flutter.

In atrial flutter the atria circle at 240-350 beats a minute and draw regular sawtooth flutter waves; in
fibrillation their activity is disorganised, in sinus rhythm it is one P wave per beat. Each beat's
QRS-T is cancelled by subtracting the median of its neighbours' (what is left is the atrial activity,
average-beat subtraction), and the spectrum of what is left is taken over fixed windows of the recording.
A flutter's spectrum has one sharp peak at its atrial rate (and its harmonics); the organisation index
(Everett et al., IEEE TBME 2001) is the share of the spectrum's 2-20 Hz power in that peak and its
harmonics, and its amplitude the RMS (mV) of that peak and its harmonics: a lead's noise can hold a steady
peak too, but not flutter waves' millivolts.
``episodes`` reports atrial flutter where the peak sits at a flutter rate, holds most of the power and is
large enough to be flutter waves.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from arrhythmia.data.detection import bandpass

#: Each window's spectrum is taken over this many seconds of the recording.
WINDOW_S = 10.0
#: The band the dominant atrial frequency is looked for in, Hz (atrial rates of 180-600 a minute), and the
#: band the organisation is a share of.
PEAK_BAND_HZ = (3.0, 10.0)
POWER_BAND_HZ = (2.0, 20.0)
#: The peak, and each harmonic, are the power within this many Hz of their frequency.
PEAK_HALF_WIDTH_HZ = 0.5
#: The part of each beat cancelled (its QRS and T wave), seconds before and after the R peak, and the
#: neighbours on each side whose median stands for it.
QRST_S = (0.1, 0.5)
NEIGHBOURS = 10
TEMPLATE_STEP = 5
#: Windows analysed at a time, and the seconds of signal around them (filter edges, neighbours' beats).
CHUNK_WINDOWS = 60
MARGIN_S = 20.0


def _cancelled(signal: np.ndarray, fs: float, peaks: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """The band-passed signal with each beat's QRS-T replaced by its difference from the median of its
    neighbours' (``NEIGHBOURS`` on each side); peaks too near the ends are left as they are. The median
    barely moves from one beat to the next and is most of the cost: one is taken for each block of
    ``TEMPLATE_STEP`` beats, the blocks counted by the beats' ``numbers`` in the whole recording, so that a
    recording taken a chunk at a time gets the same templates."""
    x = bandpass(signal, fs, 1.0, 40.0)
    before, after = int(round(QRST_S[0] * fs)), int(round(QRST_S[1] * fs))
    inside = (peaks >= before) & (peaks + after <= len(x))
    peaks, numbers = peaks[inside], numbers[inside]
    n = len(peaks)
    if n == 0:
        return x
    beats = x[peaks[:, None] + np.arange(-before, after)[None, :]]
    padded = np.pad(beats, ((NEIGHBOURS, NEIGHBOURS), (0, 0)), constant_values=np.nan)
    around = sliding_window_view(padded, 2 * NEIGHBOURS + 1, axis=0)  # (n, length, 2 * NEIGHBOURS + 1)
    blocks, block_of = np.unique(numbers // TEMPLATE_STEP, return_inverse=True)
    centres = np.clip(np.searchsorted(numbers, blocks * TEMPLATE_STEP + TEMPLATE_STEP // 2), 0, n - 1)
    full = (centres >= NEIGHBOURS) & (centres < n - NEIGHBOURS)  # no NaN padding: the faster median
    templates = np.empty((len(centres), beats.shape[1]))
    templates[full] = np.median(around[centres[full]], axis=2)
    templates[~full] = np.nanmedian(around[centres[~full]], axis=2)
    out = x.copy()
    for peak, shape in zip(peaks, templates[block_of]):  # QRST spans overlap: one beat at a time
        out[peak - before : peak + after] -= shape
    return out


def window_spectra(residual: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dominant frequency (Hz), organisation index (0-1) and the RMS amplitude (mV) of the dominant peak
    and its harmonics, of each whole ``WINDOW_S`` window of ``residual`` ((n,) the atrial activity, mV), by
    Welch's method over 4-second segments: (n_windows,) each, NaN for a window without power."""
    from scipy.signal import welch

    length = int(round(WINDOW_S * fs))
    n_windows = len(residual) // length
    if n_windows == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    windows = residual[: n_windows * length].reshape(n_windows, length)
    freqs, power = welch(windows, fs, nperseg=min(length, int(round(4 * fs))), axis=-1)
    in_peak_band = (freqs >= PEAK_BAND_HZ[0]) & (freqs <= PEAK_BAND_HZ[1])
    dominant = freqs[in_peak_band][np.argmax(power[:, in_peak_band], axis=1)]
    # the peak and its harmonics: a flutter wave is a sawtooth, not a sine
    in_band = (freqs >= POWER_BAND_HZ[0]) & (freqs <= POWER_BAND_HZ[1])
    harmonic = np.round(freqs[None, :] / dominant[:, None])
    near = in_band & (harmonic >= 1) & (np.abs(freqs[None, :] - harmonic * dominant[:, None]) <= PEAK_HALF_WIDTH_HZ)
    total = power[:, in_band].sum(axis=1)
    peak_power = (power * near).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        organisation = np.where(total > 0, peak_power / total, np.nan)
    # a power spectral density: its sum times the frequency step is the variance of what it covers
    amplitude = np.where(total > 0, np.sqrt(peak_power * (freqs[1] - freqs[0])), np.nan)
    dominant = np.where(total > 0, dominant, np.nan)
    return dominant, organisation, amplitude


def atrial_activity(signal: np.ndarray, fs: float, peaks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each beat's atrial activity: the dominant frequency (Hz), organisation index (0-1) and amplitude (mV
    RMS of the dominant peak and its harmonics) of the ``WINDOW_S`` window of the recording it lies in (the
    module docstring).

    signal : (n_samples,) float, the ECG (mV); fs : Hz; peaks : (n_beats,) int, R-peak samples, ascending.
    Returns three (n_beats,) float64 arrays, NaN where the rate cannot carry the band (under 45 Hz), in the
    last, partial window, and in windows without power (a flat lead). Works a few minutes at a time, so
    memory stays flat on a 24-hour recording.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    dominant = np.full(len(peaks), np.nan)
    organisation = np.full(len(peaks), np.nan)
    amplitude = np.full(len(peaks), np.nan)
    length = int(round(WINDOW_S * fs))
    n_windows = len(signal) // length if length > 0 else 0
    if fs < 2.25 * POWER_BAND_HZ[1] or n_windows == 0 or len(peaks) == 0:
        return dominant, organisation, amplitude
    margin = int(round(MARGIN_S * fs))
    window_of = peaks // length
    for first in range(0, n_windows, CHUNK_WINDOWS):
        last = min(first + CHUNK_WINDOWS, n_windows)
        lo, hi = max(first * length - margin, 0), min(last * length + margin, len(signal))
        near = np.flatnonzero((peaks >= lo) & (peaks < hi))
        residual = _cancelled(np.asarray(signal[lo:hi], dtype=np.float64), fs, peaks[near] - lo, near)
        start = first * length - lo
        chunk = window_spectra(residual[start : start + (last - first) * length], fs)
        mine = (window_of >= first) & (window_of < last)
        for values, of_chunk in zip((dominant, organisation, amplitude), chunk):
            values[mine] = of_chunk[window_of[mine] - first]
    return dominant, organisation, amplitude
