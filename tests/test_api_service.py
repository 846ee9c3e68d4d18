"""A monitoring service labelling devices' strips in memory: what comes from a device that sent nothing, or
sent it masked, and what the API answers."""

from __future__ import annotations

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
