"""A single-lead patch worn for days: taken off in the shower (a flat or wandering signal for minutes), worn
upside down for a day; what its beats, episodes and hourly table say of those stretches."""

from __future__ import annotations

import numpy as np
import pytest

from arrhythmia.data.quality import unanalysable
from arrhythmia.data.synthetic import synthetic_ecg

FS = 250.0


def off_body(kind: str, seconds: float, seed: int = 0) -> np.ndarray:
    """``seconds`` of a patch lying off the skin (mV): ``flat``, the converter's noise alone (0.02 mV, some
    eight counts of a 409.6-per-mV recorder), or ``wandering``, a slow random walk of the floating input."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    if kind == "flat":
        return 0.02 * rng.standard_normal(n)
    walk = np.cumsum(rng.standard_normal(n)) * 0.002
    return walk - np.linspace(0.0, walk[-1], n)


def showered(kind: str, before_s: float = 240.0, off_s: float = 300.0, after_s: float = 240.0) -> np.ndarray:
    """A synthetic ECG (mV, FS) with ``off_s`` of an off-body signal ``kind`` between its two stretches."""
    first = synthetic_ecg(duration_s=before_s, fs=FS, seed=1).signal
    last = synthetic_ecg(duration_s=after_s, fs=FS, seed=2).signal
    return np.concatenate([first, off_body(kind, off_s), last])


@pytest.mark.parametrize("kind", ["flat", "wandering"])
def test_a_patch_off_the_body_for_minutes_is_unanalysable(kind):
    """A patch taken off for a shower held its converter's noise, or wandered slowly, for many minutes: no
    second of it was flat to 0.02 mV, saturated or swept by a jump, so none was unanalysable, and the
    detector's beats in its noise read as pauses, a bradycardia of 11 bpm, and AF."""
    found = unanalysable(showered(kind), FS) / FS
    covered = sum(max(0.0, min(end, 540.0) - max(start, 240.0)) for start, end in found)
    assert covered >= 298.0, found
    assert all(end <= 240.0 or start >= 238.0 for start, end in found), found  # the ECG before it is read


@pytest.mark.parametrize("kind", ["flat", "wandering"])
def test_the_shower_is_noise_not_pauses_or_bradycardia(kind):
    from arrhythmia.data.recording import Recording
    from arrhythmia.inference import Classifier
    from arrhythmia.predict import label_recording

    recording = Recording(showered(kind), FS, "ECG", "patch.npy")
    result = label_recording(recording, Classifier.from_pretrained(), adapt=False)
    episodes = result.episodes
    inside = episodes[(episodes.end_s > 245.0) & (episodes.start_s < 535.0)]
    assert set(inside.type) <= {"noise", "noisy", "artefact"}, inside
    noise = episodes[episodes.type == "noise"]
    assert ((noise.start_s <= 241.0) & (noise.end_s >= 539.0)).any(), noise
