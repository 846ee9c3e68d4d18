"""Muscle noise: find the stretches it covers and low-pass them, as an ECG machine's muscle filter does.

Muscle activity (a patient who walks, shivers or tenses) adds broadband noise above the QRS complex's own
band. The detector's 0.5-40 Hz band-pass keeps much of it and the network, trained on MIT-BIH's cleaner
signal, reads a noisy normal beat as a wide one: with synthetic muscle noise at 6 dB SNR on DS1's MLII,
V's positive predictivity through ``predict`` fell from 89 to 47% and a seventh of the beats went
undetected (docs/detection-and-noise.md, "Muscle noise"). Clinical ECG machines answer with a switchable 25-40 Hz
"muscle filter"; here it is switched on only where the noise is: ``muscle_noise`` measures, per block of
``BLOCK_S`` seconds, the signal in ``NOISE_BAND_HZ`` against the recording's QRS amplitude, and
``remove_muscle`` low-passes those blocks (``CUTOFF_HZ``, zero-phase), blending into the untouched signal
over ``BLEND_S`` at each edge. A clean recording is left exactly as it was read.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import signal as sps

from arrhythmia.data.detection import bandpass, interpolate_nan
from arrhythmia.data.quality import chunks, true_runs, without_signal

#: The noise is measured in this band, Hz: above most of the QRS complex's energy, and below the Nyquist
#: frequency of a 128 Hz Holter, so that a recorder's sampling rate does not change the measure.
NOISE_BAND_HZ = (40.0, 55.0)
#: A block is noisy when the median magnitude of its signal in ``NOISE_BAND_HZ`` reaches this share of the
#: recording's QRS amplitude (the median 1-s range of the 5-40 Hz band). DS1's clean MLII blocks stay under
#: 0.029; chosen on DS1 through ``predict``, with the cut-off (docs/detection-and-noise.md, "Muscle noise").
NOISE_SHARE = 0.035
#: The low-pass applied to noisy blocks: a 2nd-order Butterworth run forward and backward, Hz.
CUTOFF_HZ = 25.0
#: Where at least this share of a recording's blocks is filtered, its beats are grouped by shape with every
#: window low-passed alike (``same_band``); a few stray noisy blocks leave the grouping as it is. Chosen on
#: DS1 with the filter (docs/detection-and-noise.md, "Muscle noise").
SAME_BAND_SHARE = 0.05
#: Length of the blocks the noise is judged in, and of the ramp between filtered and untouched signal, s.
BLOCK_S = 10.0
BLEND_S = 1.0
#: The filters run over chunks of this many seconds with ``MARGIN_S`` on either side (so a 24-hour
#: recording's temporaries stay small).
CHUNK_S = 600.0
MARGIN_S = 2.0


def _block(fs: float) -> int:
    """Samples in a block of ``BLOCK_S`` seconds at ``fs`` Hz."""
    return max(int(round(BLOCK_S * fs)), 1)


def _stretches(noisy: np.ndarray, block: int, n: int) -> np.ndarray:
    """(k, 2) int64 start and end (exclusive) samples of each run of ``noisy`` blocks of ``block`` samples
    in an ``n``-sample signal."""
    runs = true_runs(np.asarray(noisy, dtype=bool))
    return np.array([(a * block, min((b + 1) * block, n)) for a, b in runs], dtype=np.int64).reshape(-1, 2)


def noisy_stretches(noisy: np.ndarray, fs: float, n: int) -> np.ndarray:
    """The stretches of an ``n``-sample signal at ``fs`` Hz that a ``muscle_noise`` mask marks: (k, 2) int64
    start and end (exclusive) samples."""
    return _stretches(noisy, _block(fs), n)


def _chunks(n: int, fs: float) -> Iterator[tuple[int, int, int, int]]:
    """``(first, last, lo, hi)`` per chunk of ``CHUNK_S`` seconds (a whole number of blocks) of an
    ``n``-sample signal: the chunk ``[first, last)`` and the stretch ``[lo, hi)`` the filter runs over, the
    chunk with ``MARGIN_S`` of signal on either side for the filter to settle in."""
    block = _block(fs)
    return chunks(n, max(int(round(CHUNK_S / BLOCK_S)), 1) * block, int(round(MARGIN_S * fs)))


def _filtered(stretch: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """``stretch`` ((n,) float64) through ``sos`` forward and backward, missing samples bridged; a stretch
    too short for the filter's padding is returned as it is."""
    stretch = interpolate_nan(stretch)
    return sps.sosfiltfilt(sos, stretch) if len(stretch) > 3 * (2 * len(sos) + 1) else stretch


def _qrs_amplitude(signal: np.ndarray, fs: float) -> float:
    """The recording's typical QRS amplitude, mV: the median range of its 5-40 Hz band over the 1-s blocks
    that hold signal (not mostly missing, not flat: ``quality.without_signal``). With a lead
    off for as long as it was on, the median of every block was nothing, and all the signal read as noise."""
    one = max(int(round(fs)), 1)
    ranges = []
    for first, last, lo, hi in _chunks(len(signal), fs):
        raw = np.asarray(signal[lo:hi], dtype=np.float64)
        band = bandpass(interpolate_nan(raw), fs, 5.0, 40.0)[first - lo : last - lo]
        raw = raw[first - lo : last - lo]
        whole = len(band) // one
        if whole == 0:
            blocks, raw_blocks = band[None], raw[None]
        else:
            blocks, raw_blocks = band[: whole * one].reshape(whole, one), raw[: whole * one].reshape(whole, one)
        ranges.append(np.ptp(blocks, axis=1)[~without_signal(raw_blocks)])
    ranges = np.concatenate(ranges) if ranges else np.zeros(0)
    return float(np.median(ranges)) if len(ranges) else 0.0


def muscle_noise(signal: np.ndarray, fs: float, share: float = NOISE_SHARE) -> np.ndarray:
    """Which blocks of ``BLOCK_S`` seconds hold muscle noise.

    Parameters
    ----------
    signal : (n_samples,) float, mV; NaN where samples are missing.
    fs : sampling rate, Hz. At 122.2 Hz or below (``NOISE_BAND_HZ`` does not fit under ``0.45 * fs``) there
        is no band above the QRS to measure in, and no block is noisy.
    share : the threshold, a share of the recording's QRS amplitude (``NOISE_SHARE``).

    Returns
    -------
    (n_blocks,) bool, block ``i`` covering samples ``[i * block, (i + 1) * block)`` (the last one may be
    short): True where the median magnitude of the signal in ``NOISE_BAND_HZ`` is ``share`` or more of the
    recording's QRS amplitude.
    """
    x = np.asarray(signal)
    block = _block(fs)
    n_blocks = -(-len(x) // block)
    if 0.45 * fs <= NOISE_BAND_HZ[1] or len(x) < block or not np.isfinite(x).any():
        return np.zeros(n_blocks, dtype=bool)
    amplitude = _qrs_amplitude(x, fs)
    if not amplitude > 0:
        return np.zeros(n_blocks, dtype=bool)
    sos = sps.butter(4, NOISE_BAND_HZ, btype="bandpass", fs=fs, output="sos")
    levels = []
    for first, last, lo, hi in _chunks(len(x), fs):
        high = np.abs(_filtered(np.asarray(x[lo:hi], dtype=np.float64), sos)[first - lo : last - lo])
        high[~np.isfinite(x[first:last])] = np.nan
        levels += [
            np.nanmedian(high[i : i + block]) if np.isfinite(high[i : i + block]).any() else 0.0
            for i in range(0, len(high), block)
        ]
    return np.asarray(levels) >= share * amplitude


def blend_weights(
    noisy: np.ndarray, block: int, n: int, ramp: int, first: int = 0, last: int | None = None
) -> np.ndarray:
    """(last - first,) float64 in [0, 1], for samples ``[first, last)`` of an ``n``-sample signal (default:
    all of it): 1 in the ``noisy`` blocks of ``block`` samples, falling linearly to 0 over ``ramp`` samples
    beyond each edge of a noisy stretch, 0 elsewhere."""
    last = n if last is None else last
    weight = np.zeros(last - first)
    for a, b in _stretches(noisy, block, n):
        if b + ramp <= first or a - ramp >= last:
            continue
        samples = np.arange(max(a - ramp, first), min(b + ramp, last))
        # 1 inside the stretch, 1 - distance / ramp outside it (distance counted from the edge samples)
        distance = np.maximum(a - samples, samples - b + 1)
        weight[samples - first] = np.maximum(weight[samples - first], np.clip(1.0 - distance / ramp, 0.0, 1.0))
    return weight


def remove_muscle(signal: np.ndarray, fs: float, noisy: np.ndarray, cutoff_hz: float = CUTOFF_HZ) -> np.ndarray:
    """``signal`` ((n_samples,) float, mV) low-passed at ``cutoff_hz`` in its ``noisy`` blocks (a
    ``muscle_noise`` mask) and as read elsewhere, blended over ``BLEND_S`` beyond each edge.

    Returns (n_samples,) float64, a copy; missing (NaN) samples stay missing.
    """
    x = np.array(signal, dtype=np.float64)
    if not np.any(noisy) or cutoff_hz >= 0.45 * fs:
        return x
    block, ramp = _block(fs), max(int(round(BLEND_S * fs)), 1)
    sos = sps.butter(2, cutoff_hz, fs=fs, output="sos")
    for first, last, lo, hi in _chunks(len(x), fs):
        w = blend_weights(noisy, block, len(x), ramp, first, last)  # a chunk at a time: 24 hours stay small
        if w.any():
            low = _filtered(x[lo:hi].copy(), sos)[first - lo : last - lo]
            missing = ~np.isfinite(x[first:last])
            x[first:last] += w * (low - x[first:last])
            x[first:last][missing] = np.nan
    return x


def same_band(windows: np.ndarray, fs: float, cutoff_hz: float = CUTOFF_HZ) -> np.ndarray:
    """Beat ``windows`` ((n_beats, L) float, at ``fs`` Hz) each low-passed as ``remove_muscle`` low-passes
    noisy blocks, so that beats cut from filtered and unfiltered stretches compare alike. (n_beats, L)
    float32; unchanged where ``cutoff_hz`` is not below ``0.45 * fs`` or a window is too short to filter."""
    windows = np.asarray(windows, dtype=np.float32)
    sos = sps.butter(2, cutoff_hz, fs=fs, output="sos") if cutoff_hz < 0.45 * fs else None
    if sos is None or len(windows) == 0 or windows.shape[1] <= 3 * (2 * len(sos) + 1):
        return windows
    return sps.sosfiltfilt(sos, windows, axis=1).astype(np.float32)
