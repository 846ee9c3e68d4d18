"""A monitoring service labelling devices' strips in memory: what comes from a device that sent nothing, or
sent it masked, and what the API answers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.inference import Classifier

STRIP_FS = 250.0


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_pretrained(device="cpu")


@pytest.fixture(scope="module")
def strip() -> np.ndarray:
    """(2500,) float64, mV: a 10-s synthetic strip at 250 Hz."""
    return synthetic_ecg(duration_s=10.0, fs=STRIP_FS, seed=7).signal


@pytest.mark.parametrize("nothing", [None, np.array([]), [], np.zeros((0, 1))], ids=["None", "empty", "[]", "(0, 1)"])
def test_a_device_that_sent_no_samples_is_refused_in_one_line_as_a_strip_under_2_s_is(classifier, nothing):
    with pytest.raises(ArrhythmiaError) as error:
        classifier.predict_signal(nothing, fs=STRIP_FS)
    message = str(error.value)
    assert "\n" not in message
    assert "signal" in message and "no samples" in message and "2 s" in message


def test_masked_samples_are_missing_samples_as_nan_ones_are(classifier, strip):
    gap = (np.arange(len(strip)) > 1000) & (np.arange(len(strip)) < 1400)
    as_nan = classifier.predict_signal(np.where(gap, np.nan, strip), fs=STRIP_FS, adapt=False)
    # under the mask, what the device wrote while the lead was off: here a square wave of 5 mV
    junk = np.where(gap, 5.0 * (np.arange(len(strip)) // 50 % 2), strip)
    masked = classifier.predict_signal(np.ma.masked_array(junk, mask=gap), fs=STRIP_FS, adapt=False)
    assert masked[["sample", "label"]].equals(as_nan[["sample", "label"]])
    unmasked = classifier.predict_signal(strip, fs=STRIP_FS, adapt=False)
    assert len(unmasked) > len(masked)  # the beats under the mask are not read


def test_a_strip_s_beats_are_labelled_without_the_rhythm_tables_it_does_not_return(classifier, strip, monkeypatch):
    """predict_signal returns the beats alone: the episodes, hourly table and HRV that label_recording finds
    after them (a quarter of a 10-s strip's time) are not made for it, and the beats are the same without."""
    import arrhythmia.predict as predict
    from arrhythmia.data.recording import Recording

    expected = classifier.predict_signal(strip, fs=STRIP_FS)
    whole = predict.label_recording(Recording(signal=strip, fs=STRIP_FS, lead="signal", path="signal"), classifier)
    assert whole.episodes is not None and whole.hourly is not None and whole.beats.equals(expected)

    def refused(*args, **kwargs):
        raise AssertionError("rhythm tables made for a caller that discards them")

    monkeypatch.setattr(predict, "rhythm_tables", refused)
    for adapt in (True, False):
        table = classifier.predict_signal(strip, fs=STRIP_FS, adapt=adapt)
        assert len(table) >= 8
    assert classifier.predict_signal(strip, fs=STRIP_FS).equals(expected)
    beats_only = predict.label_recording(
        Recording(signal=strip, fs=STRIP_FS, lead="signal", path="signal"), classifier, with_rhythm=False
    )
    assert beats_only.beats.equals(expected) and beats_only.episodes is None and beats_only.hourly is None


def test_a_signal_in_memory_gives_predict_s_episodes_hourly_table_and_summary_without_files(classifier, tmp_path):
    """A monitoring service wants what ``predict`` writes (episodes, HRV, summary.json) for an array it holds:
    ``label_signal`` and ``recording_summary`` give them as objects, the summary as summary.json would hold it."""
    import json

    from arrhythmia.predict import recording_summary, save_recording

    signal = synthetic_ecg(duration_s=120.0, fs=STRIP_FS, seed=3).signal
    result = classifier.label_signal(signal.tolist(), fs=STRIP_FS)
    assert result.beats.equals(classifier.predict_signal(signal, fs=STRIP_FS))
    assert result.episodes is not None and len(result.hourly) == 1 and "sdnn_ms" in result.hrv
    about = {"record": "device-7"}
    summary = recording_summary(result, about, classifier.classes)
    assert summary["record"] == "device-7" and summary["beats"] == len(result.beats)
    assert summary["recording_s"] == pytest.approx(120.0) and "episodes" in summary and "hrv" in summary
    json.dumps(summary, allow_nan=False)  # plain Python values: a web service's JSON answer as it is
    written = save_recording(result, tmp_path, about, classifier.classes)
    assert written == summary
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary))
    for table in (result.beats, result.episodes, result.hourly):  # rows as a JSON answer: plain values
        json.dumps(json.loads(table.to_json(orient="records")))
    with pytest.raises(ArrhythmiaError, match="signal: no samples"):
        classifier.label_signal([], fs=STRIP_FS)
    with pytest.raises(ArrhythmiaError, match="af_min_sz") as error:
        classifier.label_signal(signal, fs=STRIP_FS, episodes={"af_min_sz": 60})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("fs", [1.0, 19.9, 20_000.0, 1e9])
def test_a_rate_no_ecg_is_recorded_at_is_refused_as_the_command_line_and_server_refuse_it(classifier, fs):
    """A device's rate in the wrong unit (kHz, a period in ms) or field: one line that says the range, where
    1 Hz had said 'band-pass 0.5-0.45 Hz is empty' and 20 kHz had been labelled."""
    signal = np.zeros(int(max(10 * fs, 3000)) if fs < 1e5 else 3000)
    said = f"signal: fs {fs:g} Hz is not an ECG sampling rate (20-10,000 Hz)"
    for call in (classifier.predict_signal, classifier.label_signal):
        with pytest.raises(ArrhythmiaError, match=re.escape(said)):
            call(signal, fs=fs)


def test_a_strip_s_beat_table_is_made_once(classifier, strip, monkeypatch):
    """The table of no beats, which a recording without beats gets, is not made for one with beats and dropped."""
    import arrhythmia.predict as predict

    made = []
    real = predict._beats_table
    monkeypatch.setattr(
        predict, "_beats_table", lambda beats, *args: made.append(len(beats.peaks)) or real(beats, *args)
    )
    assert len(classifier.predict_signal(strip, fs=STRIP_FS)) == made[-1] >= 8
    assert len(made) == 1
    with pytest.warns(UserWarning, match="fewer than two beats"):
        empty = classifier.predict_signal(np.zeros(2500), fs=STRIP_FS)
    assert made[1:] == [0] and empty.empty and list(empty.columns) == list(classifier.predict_signal(strip, STRIP_FS))


def test_a_strip_s_beat_table_is_made_in_one_go_not_a_column_at_a_time(classifier, strip, monkeypatch):
    """Each column added to a DataFrame after it is made costs pandas a copy of its blocks' bookkeeping: the
    beats table of a 10-s strip spent 5 ms so (an eighth of its labelling). It is made from its columns at once,
    with the same columns, values and dtypes."""
    import pandas as pd

    expected = classifier.predict_signal(strip, fs=STRIP_FS)

    def refused(self, key, value):
        raise AssertionError(f"column {key!r} added to a table already made")

    monkeypatch.setattr(pd.DataFrame, "__setitem__", refused)
    monkeypatch.setattr(pd.core.indexing._LocIndexer, "__setitem__", refused)
    table = classifier.predict_signal(strip, fs=STRIP_FS)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    assert list(table.columns[:4]) == ["sample", "time_s", "label", "confidence"] and table["label"].ne("").all()
