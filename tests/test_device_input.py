"""Recordings as other devices write them: clipped or saturated signals (said in one warning line)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import MITDB, always_model, needs_mitdb

from arrhythmia.data.detection import detect_r_peaks
from arrhythmia.data.quality import CLIPPED_BEAT_SHARE, CLIPPED_TIME_SHARE, clipping
from arrhythmia.data.recording import read_input
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.errors import DataError
from arrhythmia.labelling import PredictOptions, label_file


def _ecg(seconds: float = 60.0, fs: float = 360.0):
    rec = synthetic_ecg(duration_s=seconds, fs=fs, seed=3, class_mix={"N": 1.0})
    return rec.signal, rec.fs, rec.r_peaks


def test_a_clipped_signal_is_found_on_the_side_it_is_clipped():
    signal, fs, peaks = _ecg()
    assert clipping(signal, fs, peaks) is None  # within range: its extremes are single samples of single beats
    coarse = np.round(signal / 0.04) * 0.04  # quantised to 8 bits: values repeat, but not at the extremes
    assert clipping(coarse, fs, peaks) is None

    both = clipping(np.clip(signal, -0.2, 0.5), fs, peaks)
    assert (both.high, both.low) == (0.5, -0.2)
    assert both.high_beats == 1.0 and both.low_beats > 0.3 and 0 < both.time < 0.2

    top = clipping(np.minimum(signal, 0.8), fs, peaks)  # R waves cut off, nothing else
    assert (top.high, top.low, top.low_beats) == (0.8, None, 0.0) and top.high_beats > 0.9

    # A saturated stretch (a lead off at the rail) with no beats in it is read from its time alone.
    saturated = signal.copy()
    saturated[10 * int(fs) : 14 * int(fs)] = 2.5
    held = clipping(saturated, fs, peaks[(peaks < 10 * fs) | (peaks >= 14 * fs)])
    assert (held.high, held.low) == (2.5, None) and held.high_beats < CLIPPED_BEAT_SHARE  # a beat at its edge
    assert held.time == pytest.approx(4 / 60, abs=1e-3)
    assert clipping(np.full(1000, 0.3), fs, np.zeros(0, np.int64)) is None  # constant: a flat lead, said elsewhere


@needs_mitdb
@pytest.mark.parametrize("record", ["103", "116"])
def test_mitdb_records_that_touch_their_range_are_not_called_clipped(record):
    # The shares chosen: 2% of beats (CLIPPED_BEAT_SHARE) or 1% of time (CLIPPED_TIME_SHARE) at an extreme held
    # two samples or more. Over the 48 records' two leads the most are 0.14% of beats (103's V2) and 0.10% of time
    # (116's MLII, saturating at -5.1 mV for 2 s); clipped at +-1 mV, the records' beats touch the top in 34-98%.
    assert (CLIPPED_BEAT_SHARE, CLIPPED_TIME_SHARE) == (0.02, 0.01)
    for lead in (0, 1):
        rec = read_input(MITDB / record, lead=lead)
        assert clipping(rec.signal, rec.fs, detect_r_peaks(rec.signal, rec.fs)) is None, rec.lead


def test_predict_says_in_one_line_that_a_recording_is_clipped(tmp_path):
    # A recording clipped at +-0.5 mV was read as 57% noise with no word why; now one warning names the file,
    # the levels in mV and how much of it is cut off. The same recording within range gets no such line.
    signal, fs, _ = _ecg(seconds=40.0, fs=250.0)
    for name, values in (("clipped", np.clip(signal, -0.2, 0.5)), ("within", signal)):
        np.save(tmp_path / f"{name}.npy", values)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            label_file(
                tmp_path / f"{name}.npy",
                always_model(),
                tmp_path / name,
                PredictOptions(fs=fs, adapt=False, report=True),
            )
        said = [str(w.message) for w in caught if "flat-topped" in str(w.message)]
        if name == "within":
            assert said == []
        else:
            assert len(said) == 1
            assert said[0].startswith(f"{tmp_path / 'clipped.npy'}: the signal is flat-topped (clipped or saturated) ")
            assert "at +0.50 mV in 100% of its beats and at -0.20 mV in " in said[0]
            assert "of its time held at these limits" in said[0]
        # Said where the outputs are read later too: summary.json's cautions and the report.
        written = json.loads((tmp_path / name / "summary.json").read_text())
        assert written["cautions"] == said
        report = (tmp_path / name / "report.html").read_text()
        assert ("the signal is flat-topped" in report) is (name == "clipped")


def test_units_read_a_recorders_counts_in_millivolts(tmp_path):
    signal, fs, _ = _ecg()
    counts = np.round(signal * 409.6 + 2048)  # a 12-bit recorder: 409.6 counts per mV, the baseline mid-rail
    path = tmp_path / "patch.npy"
    np.save(path, counts)

    guessed = read_input(path, fs=fs)  # no unit given: read from the size of the beats, later, by predict
    assert not guessed.millivolts
    given = read_input(path, fs=fs, units="409.6")
    assert given.millivolts
    np.testing.assert_allclose(given.signal - given.signal.mean(), signal - signal.mean(), atol=0.002)
    assert read_input(path, fs=fs, units="uV").signal[0] == pytest.approx(counts[0] / 1000)

    # through predict: the unit given is the one used, with no guess said about it
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        done = label_file(path, always_model(), tmp_path / "out", PredictOptions(fs=fs, units="409.6"))
    assert done.summary["mv_per_unit"] == 1.0 and not [w for w in said if "read as" in str(w.message)]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        done = label_file(path, always_model(), tmp_path / "guessed", PredictOptions(fs=fs))
    assert done.summary["mv_per_unit"] == 0.001  # 2.4 times off: what --units mends
    assert any("read as microvolts" in str(w.message) for w in said)


@pytest.mark.parametrize("units", ["furlongs", "0", "-200", "nan"])
def test_a_unit_that_is_none_is_one_line_before_anything_is_read(tmp_path, units):
    with pytest.raises(DataError, match=r"^--units .*: expected a unit \(mV, uV, V\) or the signal's units per mV"):
        PredictOptions(units=units)
    with pytest.raises(DataError, match="--units"):
        read_input(tmp_path / "not-read.npy", fs=360.0, units=units)  # said before the missing file


@needs_mitdb
def test_units_leave_a_header_that_names_its_unit_alone():
    with pytest.warns(UserWarning, match=r"/100: --units uV left aside: its header names its unit"):
        recording = read_input(MITDB / "100", units="uV")
    assert recording.millivolts and np.abs(recording.signal).max() < 10  # still mV


def test_a_rate_given_wrong_enough_to_make_no_hearts_rate_is_said(tmp_path):
    signal, fs, _ = _ecg(seconds=120.0, fs=250.0)
    path = tmp_path / "patch.npy"
    np.save(path, signal)
    # (a rate given several times too high is not told: the detector keeps beats 0.2 s apart, 300 bpm at most)
    for given, said in ((250.0, False), (50.0, True)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            label_file(path, always_model(), tmp_path / f"at{given:g}", PredictOptions(fs=given))
        lines = [str(w.message) for w in caught if "no heart keeps" in str(w.message)]
        assert bool(lines) == said, (given, lines)
    assert lines[0].startswith(f"{path}: at --fs 50 Hz its median heart rate is 1")  # 14 bpm, from 70
