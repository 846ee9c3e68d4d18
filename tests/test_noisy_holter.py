"""A day of ambulatory ECG as a Holter analyst reads it: leads that come off, flat stretches, a saturated
amplifier recovering; what the report and the hourly table say of the time no one could read."""

from __future__ import annotations

import numpy as np
import pytest

from arrhythmia.data.quality import unanalysable
from arrhythmia.data.synthetic import synthetic_ecg

FS = 250.0


def ecg_with_recovery(seed: int = 2) -> tuple[np.ndarray, tuple[float, float]]:
    """A 90 s synthetic ECG at FS (mV) in which, some 70 s in, the amplifier recovers from a 3 mV jump over
    3.5 s, its QRS complexes shrunk to nothing meanwhile; and where (s) that recovery lies."""
    record = synthetic_ecg(duration_s=90, fs=FS, seed=seed)
    ecg, peaks = record.signal.astype(np.float64), record.r_peaks / FS
    before = peaks[peaks < 70.0].max()
    a, b = int((before + 0.45) * FS), int((before + 4.0) * FS)
    t = np.arange(b - a) / FS
    line = np.linspace(ecg[a], ecg[b], b - a)
    ecg[a:b] = line + 0.01 * (ecg[a:b] - line) + 3.0 * np.exp(-t / 1.2)
    return ecg, (a / FS, b / FS)


@pytest.mark.parametrize("lost", ["missing", "flat"])
def test_a_recovering_amplifier_is_found_however_long_the_lead_was_off(lost):
    """A lead off for longer than the signal it left (a patient who took the recorder off for the night) made
    the recording's typical QRS band nothing, against which no block had collapsed: the recovery that 90 s of
    signal alone shows as unanalysable was then read as signal, its beatless seconds a pause."""
    ecg, (a, b) = ecg_with_recovery()
    off = np.full(int(120 * FS), np.nan if lost == "missing" else 0.4)
    found = unanalysable(np.concatenate([ecg, off]), FS) / FS
    assert len(found) == 2, found  # the recovery, and the lead off after the signal
    (start, end), (off_start, off_end) = found
    assert start <= a + 1 and end >= a + 2
    assert off_start == pytest.approx(90.0, abs=1.0) and off_end == pytest.approx(210.0)
