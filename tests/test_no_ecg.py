"""Stretches of a Holter recording with no ECG in them, as an analyst meets them: an electrode that pops (a
baseline step of millivolts) is no beat."""

from __future__ import annotations

import numpy as np
import pytest

from arrhythmia.data.detection import baseline_steps, detect_r_peaks, match_peaks
from arrhythmia.data.synthetic import synthetic_ecg

FS = 360.0


def _ecg(seconds: float = 60.0, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    record = synthetic_ecg(duration_s=seconds, fs=FS, seed=seed)
    return record.signal.astype(np.float64), np.asarray(record.r_peaks, dtype=np.int64)


def _stepped(ecg: np.ndarray, at: int, mv: float, decay_s: float | None) -> np.ndarray:
    """``ecg`` with its baseline moved by ``mv`` from sample ``at`` on, held (``decay_s`` None) or brought back
    over ``decay_s`` seconds, as a recorder's high-pass brings it back."""
    out = ecg.copy()
    t = np.arange(len(ecg) - at) / FS
    out[at:] += mv * (1.0 if decay_s is None else np.exp(-t / decay_s))
    return out


@pytest.mark.parametrize("mv", [3.0, -3.0])
@pytest.mark.parametrize("decay_s", [None, 1.0])
def test_an_electrode_that_pops_is_no_beat(mv, decay_s):
    """A 3 mV step between two beats (an electrode popping) was read as a beat of its own: an extra beat, an
    early one, called S or V, where the heart did nothing."""
    ecg, beats = _ecg()
    at = int((beats[40] + beats[41]) // 2)  # halfway between two beats
    found = detect_r_peaks(_stepped(ecg, at, mv, decay_s), FS)
    near_step = found[np.abs(found - at) < 0.1 * FS]
    assert len(near_step) == 0, near_step / FS
    hits, false_positives, misses = match_peaks(found, beats, int(0.05 * FS))
    assert (false_positives, misses) == (0, 0)


def test_a_beat_on_a_baseline_step_is_still_a_beat():
    """The step is left out, not the beats around it: a QRS complex that sits on the step rises from both
    levels and comes back, and is kept."""
    ecg, beats = _ecg()
    stepped = _stepped(ecg, int(beats[40] - 0.01 * FS), 3.0, None)
    found = detect_r_peaks(stepped, FS)
    assert np.min(np.abs(found - beats[40])) <= 0.05 * FS
    assert not baseline_steps(stepped, FS, beats).any()
