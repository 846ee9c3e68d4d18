"""The Python API's inputs: a Classifier given NaN, lists, strings, mismatched or empty arrays answers in
one line (or, for lists and empty arrays, does what an array would)."""

from __future__ import annotations

import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from arrhythmia.adapt import AdaptConfig
from arrhythmia.data.recording import Recording
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.errors import ArrhythmiaError, DataError, warnings_ignored
from arrhythmia.inference import Classifier
from arrhythmia.predict import predict_signal


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_pretrained(device="cpu")


def _beats(classifier: Classifier, n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random beats (n, input_length) and context features (n, n_context), float32."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, classifier.input_length), dtype=np.float32)
    C = rng.random((n, classifier.spec.n_context), dtype=np.float32) + 0.5
    return X, C


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_beats_holding_nan_or_inf_are_refused_saying_how_many(classifier):
    X, C = _beats(classifier)
    X[2, 5], X[7, 0] = np.nan, np.inf
    with pytest.raises(ArrhythmiaError, match="2 of 10 beats hold NaN or infinite samples") as error:
        classifier.predict_proba(X, C)
    assert "fast-cnn" in _one_line(error)
    with pytest.raises(ArrhythmiaError, match="2 of 10 beats"):
        classifier.predict(X, C)
    X, C = _beats(classifier)
    C[4, 1] = np.nan
    with pytest.raises(ArrhythmiaError, match="1 of 10 beats hold NaN or infinite context features"):
        classifier.predict_proba(X, C)


def test_lists_are_taken_as_arrays_and_beats_that_are_not_numbers_are_refused(classifier):
    X, C = _beats(classifier)
    expected = classifier.predict_proba(X, C)
    assert np.allclose(classifier.predict_proba(X.tolist(), C.tolist()), expected, atol=1e-6)
    assert np.array_equal(classifier.predict(X.tolist(), C.tolist()), expected.argmax(1))
    assert np.allclose(classifier.predict_proba(X.astype(np.float64), C), expected, atol=1e-6)
    with pytest.raises(ArrhythmiaError, match="beats hold <U32 values; they must be numbers") as error:
        classifier.predict_proba(X.astype(str), C)
    _one_line(error)
    with pytest.raises(ArrhythmiaError, match="context features hold <U32 values"):
        classifier.predict_proba(X, C.astype(str))
    with pytest.raises(ArrhythmiaError, match="beats are not an array of numbers") as error:
        classifier.predict_proba([X[0].tolist(), X[1, :10].tolist()], C[:2])
    _one_line(error)


def test_a_signal_or_sampling_rate_that_is_not_numbers_is_refused_in_one_line(classifier):
    signal = np.zeros(3600)
    with pytest.raises(ArrhythmiaError, match="fs must be a sampling rate in Hz \\(a number\\), not '360'") as error:
        classifier.predict_signal(signal, fs="360")
    _one_line(error)
    with pytest.raises(ArrhythmiaError, match="fs must be a sampling rate in Hz"):
        classifier.predict_signal(signal, fs=True)
    with pytest.raises(ArrhythmiaError, match="signal samples hold <U32 values; they must be numbers"):
        classifier.predict_signal(signal.astype(str), fs=360.0)


def test_context_of_another_length_than_the_beats_is_named_as_such(classifier):
    X, C = _beats(classifier)
    with pytest.raises(ArrhythmiaError, match="context features have 5 rows for 10 beats") as error:
        classifier.predict_proba(X, C[:5])
    assert "R-peak positions" not in _one_line(error)
    with pytest.raises(ArrhythmiaError, match=r"context features have shape \(10, 4\), fast-cnn takes \(n, 9\)"):
        classifier.predict_proba(X, C[:, :4])
    with pytest.raises(ArrhythmiaError, match="needs the context features of each beat"):
        classifier.predict_proba(X)


def test_no_beats_give_no_probabilities_of_every_class_and_no_labels(classifier):
    X, C = _beats(classifier)
    probs = classifier.predict_proba(X[:0], C[:0])
    assert probs.shape == (0, len(classifier.classes)) and probs.dtype == np.float32
    labels = classifier.predict(X[:0], C[:0])
    assert labels.shape == (0,) and labels.dtype == np.int64


# A telemetry service's strips: 10 s of one lead at 250 Hz, labelled in memory with one loaded model.
STRIP_FS = 250.0


@pytest.fixture(scope="module")
def strip() -> np.ndarray:
    """(2500,) float64, mV: a 10-s synthetic strip at 250 Hz."""
    return synthetic_ecg(duration_s=10.0, fs=STRIP_FS, seed=7).signal


def _quietly(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught]


def test_a_strip_is_labelled_alike_whatever_array_or_rate_type_it_comes_as(classifier, strip):
    expected = classifier.predict_signal(strip, STRIP_FS, adapt=False)
    assert len(expected) >= 8
    as_given = {
        "float32": (strip.astype(np.float32), STRIP_FS),
        "list": (strip.tolist(), STRIP_FS),
        "column (n, 1)": (strip[:, None], STRIP_FS),
        "row (1, n)": (strip[None, :], STRIP_FS),
        # a rate read from an HDF5 attribute or a device header: np.float32 once crashed inside (fractions.Fraction)
        "np.float32 rate": (strip, np.float32(STRIP_FS)),
        "np.int64 rate": (strip, np.int64(STRIP_FS)),
    }
    for name, (signal, fs) in as_given.items():
        table = classifier.predict_signal(signal, fs, adapt=False)
        assert table["sample"].tolist() == expected["sample"].tolist(), name
        assert table["label"].tolist() == expected["label"].tolist(), name
    with pytest.raises(ArrhythmiaError, match=r"got shape \(2500, 2\) \(pick a lead\)"):
        classifier.predict_signal(np.column_stack([strip, strip]), STRIP_FS)


def test_int16_counts_are_labelled_in_mv_through_their_gain_and_said_when_given_without(classifier, strip, tmp_path):
    counts = np.round(strip * 200.0).astype(np.int16)  # a monitor's ADC: 200 counts per mV
    expected = classifier.predict_signal(strip, STRIP_FS, adapt=False)
    table, said = _quietly(lambda: classifier.predict_signal(counts, STRIP_FS, adapt=False, units=200))
    assert table["sample"].tolist() == expected["sample"].tolist()
    assert table["label"].tolist() == expected["label"].tolist()
    assert np.allclose(
        table["atrial_mv"], expected["atrial_mv"], rtol=0.1, atol=0.005, equal_nan=True
    )  # mV, not counts
    assert said == []
    np.save(tmp_path / "counts.npy", counts)
    from_file = classifier.predict_record(tmp_path / "counts.npy", fs=STRIP_FS, adapt=False, units=200)
    assert from_file["label"].tolist() == expected["label"].tolist()
    # Counts given as mV: labelled as given, with a warning that says how to give their unit.
    _, said = _quietly(lambda: classifier.predict_signal(counts, STRIP_FS, adapt=False))
    assert any("too large for mV" in message and "units" in message for message in said)
    _, said = _quietly(lambda: classifier.predict_signal(strip, STRIP_FS, adapt=False))
    assert said == []
    with pytest.raises(ArrhythmiaError, match="expected a unit"):
        classifier.predict_signal(counts, STRIP_FS, units="counts")


def test_a_recording_at_a_numpy_scalar_rate_is_labelled_as_at_a_float_rate(classifier, strip):
    # np.float32 (an HDF5 attribute's, a device header's) once crashed deep inside (fractions.Fraction: TypeError)
    expected = predict_signal(Recording(strip, STRIP_FS, "ECG", "strip"), classifier, adapt=False)
    for fs in (np.float32(STRIP_FS), np.int16(STRIP_FS)):
        recording = Recording(strip, fs, "ECG", "strip")
        assert type(recording.fs) is float
        pd.testing.assert_frame_equal(predict_signal(recording, classifier, adapt=False), expected)


def test_an_infinite_sample_is_refused_naming_it_where_nan_is_a_missing_sample(classifier, strip):
    broken = strip.copy()
    broken[100] = np.inf  # an overflow once read as "fewer than two beats detected" and an empty table
    with pytest.raises(DataError, match=r"^signal: sample 100: not a finite number \(inf\)$"):
        classifier.predict_signal(broken, STRIP_FS)
    missing = strip.copy()
    missing[100:400] = np.nan  # a lead that came off for 1.2 s: the other beats are labelled
    assert len(classifier.predict_signal(missing, STRIP_FS, adapt=False)) >= 6


def test_a_10_s_strip_is_adapted_without_a_warning_and_one_too_short_to_adapt_to_says_so(classifier, strip):
    """A 10-s strip was too short to adapt to (60 beats were needed): every strip got the network's own labels
    and a warning. Its dozen beats are adapted now, by shape and timing, with no re-estimated normalisation;
    a strip of fewer than ``AdaptConfig.min_beats`` beats still gets the network's labels, saying so."""
    adapted, said = _quietly(lambda: classifier.predict_signal(strip, STRIP_FS))
    assert said == [] and (adapted["family"] >= 0).all()
    unadapted, said = _quietly(lambda: classifier.predict_signal(strip[: int(3 * STRIP_FS)], STRIP_FS, adapt=False))
    assert said == [] and 2 <= len(unadapted) < AdaptConfig().min_beats
    short, said = _quietly(lambda: classifier.predict_signal(strip[: int(3 * STRIP_FS)], STRIP_FS))
    assert len(said) == 1 and "too few to adapt" in said[0]
    pd.testing.assert_frame_equal(short, unadapted)


def test_one_classifier_labels_strips_from_several_threads_as_one_at_a_time(classifier):
    strips = [synthetic_ecg(duration_s=10.0, fs=STRIP_FS, seed=seed).signal for seed in range(6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_at_a_time = [classifier.predict_signal(s, STRIP_FS) for s in strips]
        with ThreadPoolExecutor(max_workers=3) as pool:
            at_once = list(pool.map(lambda s: classifier.predict_signal(s, STRIP_FS), strips * 2))
    for i, table in enumerate(at_once):
        pd.testing.assert_frame_equal(table, one_at_a_time[i % len(strips)])


def test_labelling_from_several_threads_leaves_the_process_s_warning_filters_as_they_were():
    """Two threads quieting warnings at once: the one that leaves last restored the filters it saw on entry,
    the other's "ignore" among them, and every warning of a service stayed silent after."""
    before = list(warnings.filters)
    first_inside, second_inside = threading.Event(), threading.Event()

    def first() -> None:
        with warnings_ignored(RuntimeWarning):
            first_inside.set()
            second_inside.wait(0.5)  # one thread at a time: the second cannot come in before this one leaves

    def second() -> None:
        first_inside.wait()
        with warnings_ignored(UserWarning):
            second_inside.set()
            time.sleep(0.1)  # leaves after the first

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warnings.filters == before


def test_the_onnx_classifier_labels_a_strip_and_a_record_as_the_torch_one_does(classifier):
    from arrhythmia.export import OnnxClassifier

    onnx = OnnxClassifier.from_pretrained()
    strip = synthetic_ecg(duration_s=90.0, fs=STRIP_FS, seed=3).signal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_onnx, by_torch = onnx.predict_signal(strip, STRIP_FS), classifier.predict_signal(strip, STRIP_FS)
    assert len(by_onnx) > 50 and by_onnx["label"].tolist() == by_torch["label"].tolist()
    with pytest.raises(ArrhythmiaError, match="fs must be a sampling rate"):
        onnx.predict_signal(strip, "250")
