"""Synthetic ECG for demos and tests: continuous signals with known beats of all five AAMI classes.

Each beat is a sum of Gaussian waves (P, Q, R, S, T; McSharry et al. 2003 style) whose shape and timing
follow the class: S beats come early with an altered P wave, V beats early and wide without a P wave
and with a compensatory pause, F beats are a blend of N and V, Q beats are paced (a sharp spike before
a wide complex). Beats are cut with the same segmentation as real records. Everything made here is
labelled synthetic wherever results are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arrhythmia.data.beats import AAMI_CLASSES, WINDOWS, BeatSet, Window, concatenate
from arrhythmia.data.pipeline import cut_beats
from arrhythmia.data.sources import Source

# (amplitude mV, offset from the R peak s, width s) of each wave, per class.
_TEMPLATES: dict[str, list[tuple[float, float, float]]] = {
    "N": [
        (0.15, -0.20, 0.025),
        (-0.12, -0.035, 0.010),
        (1.10, 0.0, 0.011),
        (-0.25, 0.035, 0.011),
        (0.30, 0.28, 0.045),
    ],
    "S": [
        (-0.10, -0.14, 0.020),
        (-0.12, -0.035, 0.010),
        (1.05, 0.0, 0.011),
        (-0.25, 0.035, 0.011),
        (0.28, 0.27, 0.045),
    ],
    "V": [(1.30, 0.0, 0.040), (-0.55, 0.085, 0.040), (-0.40, 0.33, 0.060)],
    "F": [(0.12, -0.20, 0.025), (1.20, 0.0, 0.024), (-0.35, 0.050, 0.025), (-0.05, 0.30, 0.050)],
    "Q": [(0.50, -0.06, 0.003), (0.90, 0.0, 0.040), (-0.30, 0.30, 0.060)],
}
# RR interval before a beat of each class, as a fraction of the record's base RR.
_PREMATURITY = {"N": 1.0, "S": 0.65, "V": 0.65, "F": 0.9, "Q": 1.0}
DEFAULT_CLASS_MIX = {"N": 0.6, "S": 0.1, "V": 0.1, "F": 0.1, "Q": 0.1}


@dataclass
class SyntheticRecord:
    """signal: (n_samples,) float64, mV at ``fs`` Hz; r_peaks: (n_beats,) int64 samples; labels: AAMI names."""

    signal: np.ndarray
    fs: float
    r_peaks: np.ndarray
    labels: np.ndarray


def synthetic_ecg(
    duration_s: float = 60.0,
    fs: float = 360.0,
    seed: int = 0,
    class_mix: dict[str, float] | None = None,
    noise_mv: float = 0.02,
) -> SyntheticRecord:
    """One synthetic single-lead recording with known R peaks and beat classes."""
    rng = np.random.default_rng(seed)
    mix = class_mix or DEFAULT_CLASS_MIX
    names, weights = list(mix), np.array(list(mix.values()), dtype=float)
    base_rr = rng.uniform(0.7, 1.0)
    gain = rng.uniform(0.8, 1.2)

    peaks, labels = [], []
    t, previous = 0.6, "N"
    while t < duration_s - 0.6:
        # An ectopic beat is followed by a normal one, as in real recordings; V has a compensatory pause.
        label = "N" if previous != "N" else str(rng.choice(names, p=weights / weights.sum()))
        peaks.append(t)
        labels.append(label)
        rr = base_rr * rng.normal(1.0, 0.03)
        following = str(rng.choice(names, p=weights / weights.sum()))
        rr_next = rr * _PREMATURITY[following] if label == "N" else rr * (2 - _PREMATURITY[label])
        t += rr_next
        previous = label

    n = int(round(duration_s * fs))
    time = np.arange(n) / fs
    signal = noise_mv * rng.standard_normal(n)
    signal += 0.15 * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * time + rng.uniform(0, 2 * np.pi))
    half = int(0.6 * fs)
    for r, label in zip(peaks, labels):
        centre = int(round(r * fs))
        lo, hi = max(centre - half, 0), min(centre + half, n)
        local = time[lo:hi] - centre / fs
        for amplitude, offset, width in _TEMPLATES[label]:
            a = gain * amplitude * rng.normal(1.0, 0.05)
            signal[lo:hi] += a * np.exp(-0.5 * ((local - offset * rng.normal(1.0, 0.03)) / width) ** 2)
    r_peaks = np.round(np.array(peaks) * fs).astype(np.int64)
    return SyntheticRecord(signal=signal, fs=fs, r_peaks=r_peaks, labels=np.array(labels))


def load_synthetic(
    n_records: int = 12, duration_s: float = 120.0, seed: int = 0, window: Window = WINDOWS["kachuee"]
) -> BeatSet:
    """A synthetic beat set: ``n_records`` recordings of ``duration_s`` seconds, segmented as MIT-BIH.

    Record ids are ``syn000``, ``syn001``, ...; all five AAMI classes are present.
    """
    parts = []
    for i in range(n_records):
        rec = synthetic_ecg(duration_s=duration_s, seed=seed * 10_000 + i)
        cut = cut_beats(rec.signal, rec.fs, rec.r_peaks, window)
        kept = cut.kept
        labels = np.array([AAMI_CLASSES.index(c) for c in rec.labels[kept]], dtype=np.int64)
        parts.append(
            BeatSet(
                X=cut.X,
                y=labels,
                classes=AAMI_CLASSES,
                record=np.full(len(labels), f"syn{i:03d}"),
                sample=rec.r_peaks[kept],
                symbol=rec.labels[kept],
                source="synthetic",
                synthetic=True,
                context=cut.context,
                window=window,
            )
        )
    return concatenate(parts, source="synthetic", info={"seed": seed, "duration_s": duration_s})


SOURCE = Source(
    name="synthetic",
    citation="SYNTHETIC data made by arrhythmia.data.synthetic (Gaussian-wave beat model); not real ECG.",
    load=lambda directory, window, progress=True: load_synthetic(window=window),
)
