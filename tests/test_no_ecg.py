"""Stretches of a Holter recording with no ECG in them, as an analyst meets them: an electrode that pops (a
baseline step of millivolts) and a lead that pops off and then lies still. Neither is a beat, nor a pause."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb

from arrhythmia.data.detection import baseline_steps, detect_r_peaks, match_peaks
from arrhythmia.data.quality import unanalysable
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


def test_a_lead_that_pops_off_and_lies_still_is_unanalysable():
    """An electrode that popped off with a 3 mV jump and then lay still (only its amplifier's noise, 5 µV,
    and no QRS complex) for 30 s: the jump fills its own second's QRS band and the stretch sweeps in none of
    its own, so it was no recovering amplifier, and its 30 s were read as pauses of 3 bpm."""
    ecg, _ = _ecg(90.0)
    a, b = int(40 * FS), int(70 * FS)
    x = ecg.copy()
    x[a:b] = ecg[a] + 3.0 + 0.005 * np.random.default_rng(0).standard_normal(b - a)
    found = unanalysable(x, FS) / FS
    assert len(found) == 1, found
    (start, end) = found[0]
    assert start <= 42.0 and end >= 68.0 and start >= 39.0 and end <= 71.0


def test_beatless_seconds_beside_a_large_beat_are_no_lead_off():
    """Single seconds without a QRS complex next to a large beat's slow swing (a slow rhythm, AF's long
    intervals) are ECG: a stretch needs ``JUMPED_OFF_S`` without QRS complexes for a jump to make it noise."""
    ecg, beats = _ecg(60.0)
    x = ecg.copy()
    # a 2.5 s pause after beat 30 whose baseline lies 1 mV lower after it (a wandering baseline)
    a, b = int(beats[30] + 0.3 * FS), int(beats[30] + 2.8 * FS)
    x[a:b] = np.linspace(x[a], x[a] - 1.0, b - a)
    x[b:] -= 1.0
    assert len(unanalysable(x, FS)) == 0


@needs_mitdb
def test_mitdb_219_af_with_a_wandering_baseline_keeps_its_short_beatless_seconds():
    """219 (AF, a wandering baseline) has beatless seconds beside jumps of the slow signal, one or two at a
    time: none of them becomes a stretch of lead-off (as measured over MIT-BIH's 48 records, whose
    unanalysable stretches the rule leaves as they were)."""
    from arrhythmia.data.recording import read_input

    recording = read_input(MITDB / "219")
    fs = recording.fs
    part = np.asarray(recording.signal[int(800 * fs) : int(1100 * fs)], dtype=np.float64)
    found = unanalysable(part, fs) / fs
    assert len(found) and (found[:, 1] - found[:, 0]).max() <= 2.0, found
