"""Mains (power-line) interference: find the hum in a recording and notch it out.

Mains hum at 50 or 60 Hz is the most common artefact of ECG recorded outside a shielded lab (an
electrode with poor contact, an amplifier without a notch of its own). The detector's 0.5-40 Hz
band-pass leaves much of it: 0.2 mV of 50 Hz hum added to DS1's MLII signals cost 1.6 points of beat
detection sensitivity (docs/detection-and-noise.md, "Mains interference"). ``mains_frequency`` finds the hum from the
recording's spectrum and ``remove_mains`` takes it out with a narrow IIR notch (``scipy.signal.iirnotch``,
run forward and backward so the QRS is not shifted).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from arrhythmia.data.detection import interpolate_nan
from arrhythmia.data.quality import chunks

#: Mains frequencies, Hz.
MAINS_HZ = (50.0, 60.0)
#: Hum is notched out when its amplitude reaches this (mV): twice the strongest in MIT-BIH's 96 leads (60 Hz,
#: 0.025 mV), so signals like those the model was trained and measured on are left as they are.
HUM_MV = 0.05
#: Quality factor of the notch: a stop band of about 1.7 Hz at 50 Hz, which leaves the QRS complex.
NOTCH_Q = 30.0
#: The spectrum is taken over up to this many stretches of ``STRETCH_S`` seconds spread over the recording.
STRETCHES = 30
STRETCH_S = 8.0
#: The notch runs over blocks of this many seconds (so the filter's padded temporaries stay small on a
#: 24-hour recording), each with ``BLOCK_MARGIN_S`` of signal on either side for the filter to settle in.
BLOCK_S = 600.0
BLOCK_MARGIN_S = 2.0


def _spread_stretches(signal: np.ndarray, fs: float) -> np.ndarray:
    """(k, n) finite stretches of ``STRETCH_S`` seconds spread evenly over ``signal``; k may be 0."""
    n = int(round(STRETCH_S * fs))
    if len(signal) < n:
        return np.zeros((0, n))
    starts = np.unique(np.linspace(0, len(signal) - n, min(STRETCHES, len(signal) // n)).astype(np.int64))
    stretches = np.stack([signal[s : s + n] for s in starts])
    return stretches[np.isfinite(stretches).all(axis=1)]


def _spectrum(signal: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Frequencies and power (Welch, 4 s segments, 0.25 Hz bins) of ``signal``: the median over stretches
    spread along the recording, so hum in a few minutes of a long recording counts only if it is there in
    most of them. None where the signal is shorter than one stretch."""
    stretches = _spread_stretches(np.asarray(signal, dtype=np.float64), fs)
    if len(stretches) == 0:
        return None
    freqs, power = sps.welch(stretches, fs=fs, nperseg=min(stretches.shape[1], int(round(4 * fs))), axis=-1)
    return freqs, np.median(power, axis=0)


def _line_amplitude(spectrum: tuple[np.ndarray, np.ndarray] | None, fs: float, hz: float) -> float:
    """Amplitude (peak) of the sine at ``hz`` in a ``_spectrum``: the power within 0.5 Hz of ``hz`` above the
    spectrum 1-5 Hz around it. 0 without a spectrum or where ``hz`` is within 1 Hz of ``fs / 2``."""
    if spectrum is None or hz + 1.0 >= fs / 2:
        return 0.0
    freqs, power = spectrum
    floor = np.median(power[(np.abs(freqs - hz) > 1.0) & (np.abs(freqs - hz) <= 5.0) & (freqs < fs / 2)])
    line = np.clip(power[np.abs(freqs - hz) <= 0.5] - floor, 0.0, None).sum() * (freqs[1] - freqs[0])
    return float(np.sqrt(2.0 * line))


def hum_amplitude(signal: np.ndarray, fs: float, hz: float) -> float:
    """Amplitude (mV, peak) of the sine at ``hz`` in ``signal`` ((n_samples,) float, mV; NaN where missing),
    from its spectrum (``_spectrum``, ``_line_amplitude``). 0 where the signal is shorter than one stretch or
    ``hz`` is within 1 Hz of ``fs / 2``."""
    return _line_amplitude(_spectrum(signal, fs), fs, hz)


def mains_frequency(signal: np.ndarray, fs: float) -> float | None:
    """The mains frequency (50 or 60 Hz) whose hum in ``signal`` reaches ``HUM_MV``, the stronger if both
    do, or None. signal : (n_samples,) float, mV; fs : Hz. One spectrum serves both frequencies."""
    spectrum = _spectrum(signal, fs)
    amplitudes = {hz: _line_amplitude(spectrum, fs, hz) for hz in MAINS_HZ}
    hz = max(amplitudes, key=amplitudes.get)
    return hz if amplitudes[hz] >= HUM_MV else None


def remove_mains(signal: np.ndarray, fs: float, hz: float) -> np.ndarray:
    """``signal`` ((n_samples,) float, mV) with a zero-phase notch at ``hz`` (a ``mains_frequency``).

    Returns (n_samples,) float64 (a copy: 250 MB for 24 hours at 360 Hz); missing (NaN) samples stay
    missing (they are bridged for the filter only).
    """
    x = np.asarray(signal, dtype=np.float64)
    b, a = sps.iirnotch(hz, NOTCH_Q, fs=fs)
    out = np.empty_like(x)
    for first, last, lo, hi in chunks(len(x), int(round(BLOCK_S * fs)), int(round(BLOCK_MARGIN_S * fs))):
        stretch = x[lo:hi]
        filtered = sps.filtfilt(b, a, interpolate_nan(stretch)) if len(stretch) > 3 * max(len(a), len(b)) else stretch
        out[first:last] = filtered[first - lo : last - lo]
    out[~np.isfinite(x)] = np.nan
    return out
