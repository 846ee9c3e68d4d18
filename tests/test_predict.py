"""Labelling every beat of a raw recording: detection, segmentation, classification, bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import MITDB, always_model, needs_mitdb, write_wfdb_record

from arrhythmia.config import TrainConfig
from arrhythmia.data import get_window
from arrhythmia.data.pipeline import cut_beats
from arrhythmia.data.recording import Recording
from arrhythmia.data.segmentation import resample
from arrhythmia.data.synthetic import load_synthetic, synthetic_ecg
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.experiment import run_experiment
from arrhythmia.inference import Classifier
from arrhythmia.predict import label_recording, predict_record, predict_signal

TOLERANCE_S = 0.150


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Classifier:
    # The fast model with centred windows and context features, as shipped; trained enough (99% on synthetic test
    # beats) that its labels are not decided by noise at the class boundaries.
    beats = load_synthetic(n_records=6, duration_s=120, window=get_window("centred"))
    config = TrainConfig(
        model="fast-cnn",
        window="centred",
        context_features=True,
        epochs=15,
        batch_size=64,
        threads=1,
        augment=["shift"],
    )
    run = run_experiment(
        config, run_dir=tmp_path_factory.mktemp("run"), beats=beats, progress=False, log=lambda _: None, report=False
    )
    return Classifier.from_run(run)


def _nearest_distance(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.min(np.abs(found[:, None] - truth[None, :]), axis=0)


@pytest.mark.parametrize("seed", [11, 12])
def test_every_beat_of_a_synthetic_recording_is_found(classifier, seed):
    rec = synthetic_ecg(duration_s=120, fs=360, seed=seed)
    table = predict_signal(Recording(rec.signal, 360.0, "MLII", "synthetic"), classifier, adapt=False)
    assert len(table) == len(rec.r_peaks)
    assert _nearest_distance(table["sample"].to_numpy(), rec.r_peaks).max() <= TOLERANCE_S * 360
    assert set(table.columns) >= {
        "sample",
        "time_s",
        "label",
        "confidence",
        "p_N",
        "p_S",
        "p_V",
        "p_F",
        "p_Q",
        "p_wave",
    }
    assert np.allclose(table[[f"p_{c}" for c in "NSVFQ"]].sum(axis=1), 1.0, atol=1e-5)
    # Beats cut at detected peaks are classified as the same beats cut at the true peaks.
    at_true_peaks = cut_beats(rec.signal, 360.0, rec.r_peaks, classifier.window)
    context = at_true_peaks.context
    expected = np.array(classifier.classes)[classifier.predict(at_true_peaks.X, context)]
    assert (table["label"].to_numpy()[at_true_peaks.kept] == expected).mean() >= 0.97


def test_same_recording_at_360_and_250_hz_gives_the_same_labels(classifier):
    rec = synthetic_ecg(duration_s=120, fs=360, seed=21)
    at_360 = predict_signal(Recording(rec.signal, 360.0, "MLII", "a"), classifier)
    at_250 = predict_signal(Recording(resample(rec.signal, 360, 250), 250.0, "MLII", "b"), classifier)
    assert len(at_360) == len(at_250)
    assert np.abs(at_360["time_s"].to_numpy() - at_250["time_s"].to_numpy()).max() < 0.02
    assert (at_360["label"].to_numpy() == at_250["label"].to_numpy()).mean() >= 0.99


def test_predict_record_reads_wfdb_and_uses_the_header_rate(classifier, tmp_path):
    rec = write_wfdb_record(tmp_path, "rec", seconds=60, fs=250)
    table = classifier.predict_record(tmp_path / "rec.hea")
    assert len(table) == len(rec.r_peaks)
    assert np.all(np.abs(table["time_s"] - table["sample"] / 250) <= 0.5 / 250)  # between samples, near its own


def test_a_steady_rhythm_at_128_hz_has_no_beat_to_beat_variation(classifier):
    # A metronome whose beats fall off the 7.8 ms sample grid, each by a different fraction: on whole samples
    # the intervals jitter and RMSSD reads about 5 ms; placed between samples, none.
    fs, rr_s = 128.0, 0.8123
    true_s = 0.6 + np.arange(int(150 / rr_s)) * rr_s
    time = np.arange(int(true_s[-1] * fs + 0.6 * fs)) / fs
    waves = [(0.15, -0.20, 0.025), (-0.12, -0.035, 0.010), (1.1, 0.0, 0.011), (-0.25, 0.035, 0.011), (0.3, 0.28, 0.045)]
    signal = 0.01 * np.random.default_rng(0).standard_normal(len(time))
    for mv, after_s, width_s in waves:  # P, Q, R, S, T
        signal += sum(mv * np.exp(-0.5 * ((time - t - after_s) / width_s) ** 2) for t in true_s)
    result = label_recording(Recording(signal, fs, "MLII", "metronome"), classifier)
    times = result.beats["time_s"].to_numpy()
    assert len(times) == len(true_s) and (result.beats["label"] == "N").all()
    assert np.median(np.abs(times - true_s)) < 0.5e-3  # whole samples: about 2 ms
    assert result.hrv["rmssd_ms"] < 1.0


def test_predict_signal_labels_an_array_as_predict_record_labels_its_file(classifier, tmp_path):
    rec = synthetic_ecg(duration_s=60, fs=250.0, seed=5)
    np.save(tmp_path / "rec.npy", rec.signal)
    in_memory = classifier.predict_signal(rec.signal, 250)
    from_file = classifier.predict_record(tmp_path / "rec.npy", fs=250)
    pd.testing.assert_frame_equal(in_memory, from_file)
    with pytest.raises(ArrhythmiaError, match=r"one lead, shape \(n_samples,\); got shape \(2, 15000\)"):
        classifier.predict_signal(np.stack([rec.signal, rec.signal]), 250)
    with pytest.raises(ArrhythmiaError, match="positive sampling rate"):
        classifier.predict_signal(rec.signal, 0)


def test_beat_csv_gives_one_label_per_row(classifier, tmp_path):
    beats = load_synthetic(n_records=1, duration_s=30)
    path = tmp_path / "beats.csv"
    np.savetxt(path, beats.X, delimiter=",")
    kachuee_model = run_experiment(
        TrainConfig(model="kachuee-resnet", epochs=1, batch_size=64, threads=1),
        run_dir=tmp_path / "run",
        beats=load_synthetic(n_records=4, duration_s=60),
        progress=False,
        log=lambda _: None,
        report=False,
    )
    table = predict_record(path, Classifier.from_run(kachuee_model))
    assert len(table) == len(beats) and list(table["row"]) == list(range(len(beats)))
    # Rows of a beat CSV have no R-peak positions: a model with centred windows and context features refuses them.
    with pytest.raises(ArrhythmiaError, match="beats.csv: beat CSV rows are Kachuee segments"):
        predict_record(path, classifier)


@pytest.mark.parametrize(
    "signal",
    [np.zeros(360 * 20), np.full(360 * 20, np.nan), np.r_[np.zeros(1000), synthetic_ecg(2.5, seed=3).signal[:330]]],
    ids=["flat", "all-nan", "one-beat"],
)
def test_signals_without_beats_give_an_empty_table_and_a_warning(classifier, signal):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = predict_signal(Recording(signal, 360.0, "MLII", "x"), classifier)
    assert len(table) == 0 and "label" in table.columns
    assert any("beats" in str(w.message) for w in caught)


def test_signal_too_short_to_detect_on_is_one_clear_error(classifier):
    with pytest.raises(ArrhythmiaError, match="^short.npy: .*too short"):
        predict_signal(Recording(np.sin(np.arange(500) / 30.0), 360.0, "MLII", "short.npy"), classifier)


def test_no_beats_are_reported_inside_a_stretch_of_invalid_samples(classifier):
    rec = synthetic_ecg(duration_s=60, fs=360, seed=5)
    signal = rec.signal.copy()
    signal[20 * 360 : 25 * 360] = np.nan  # 5 s of lead-off
    table = predict_signal(Recording(signal, 360.0, "MLII", "gap"), classifier)
    inside = (table["time_s"] >= 20) & (table["time_s"] < 25)
    assert not inside.any()
    outside = rec.r_peaks[(rec.r_peaks < 20 * 360 - 100) | (rec.r_peaks >= 25 * 360 + 100)]
    assert _nearest_distance(table["sample"].to_numpy(), outside).max() <= TOLERANCE_S * 360


def test_predict_reports_the_benchmarked_detector_peaks(classifier):
    """The per-beat table holds exactly what detect_r_peaks finds on the raw signal (the measured set-up)."""
    from arrhythmia.data.detection import detect_r_peaks

    rec = synthetic_ecg(duration_s=60, fs=360, seed=8, noise_mv=0.08)
    table = predict_signal(Recording(rec.signal, 360.0, "MLII", "x"), classifier)
    assert np.array_equal(table["sample"].to_numpy(), detect_r_peaks(rec.signal, 360.0))


def test_chunked_processing_matches_the_whole_signal(classifier):
    """Long recordings are labelled in chunks; the beats and labels are those of one pass over all of it."""
    rec = synthetic_ecg(duration_s=20 * 60, fs=360, seed=31)
    recording = Recording(rec.signal, 360.0, "MLII", "long")
    whole = predict_signal(recording, classifier, chunk_s=3600)
    chunked = predict_signal(recording, classifier, chunk_s=60)  # 20 chunks
    assert len(whole) == len(rec.r_peaks)
    assert np.array_equal(chunked["sample"].to_numpy(), whole["sample"].to_numpy())
    assert np.array_equal(chunked["label"].to_numpy(), whole["label"].to_numpy())
    assert np.allclose(chunked["p_V"], whole["p_V"], atol=1e-4)
    assert np.allclose(chunked["p_wave"], whole["p_wave"], atol=1e-3, equal_nan=True)
    for column in ("atrial_hz", "atrial_organisation", "atrial_mv"):
        assert np.allclose(chunked[column], whole[column], equal_nan=True)


@needs_mitdb
@pytest.mark.parametrize("window", ["centred", "kachuee"])
def test_training_beats_are_the_beats_predict_cuts_at_the_same_peaks(window):
    """Record 100's training beats (annotations aligned to the R wave) and the beats predict cuts at those
    peaks, in its 10-minute chunks, are the same windows with the same context features."""
    from arrhythmia.data.recording import read_input
    from arrhythmia.data.wfdb_source import load_record_beats
    from arrhythmia.predict import cut_recording

    training = load_record_beats(MITDB / "100", get_window(window)).beats
    recording = read_input(MITDB / "100")
    cut = cut_recording(recording, training.sample, get_window(window), chunk_s=600)  # three 10-minute chunks
    assert cut.kept.all()
    # the same windows to float32 rounding: NumPy 2.5 / SciPy 1.18 (Python 3.13) left one sample 1 ulp apart
    np.testing.assert_allclose(cut.X, training.X, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(cut.context, training.context, rtol=1e-6, atol=1e-7)


@needs_mitdb
def test_a_lead_off_leaves_the_labels_of_the_beats_after_it_as_they_were():
    """Ten minutes of MIT-BIH 209 (sinus rhythm with runs of S beats) labelled whole and with five lead-offs
    (NaN, 4-30 s): read across a gap, the beats after it had been late and the next ones early against a
    local rhythm the gap inflated, and 15 normal beats turned S; the rhythm is now read with the gaps closed."""
    from dataclasses import replace

    from arrhythmia.data.recording import read_input

    model = Classifier.from_pretrained()
    recording = read_input(MITDB / "209")
    fs = recording.fs
    recording = replace(recording, signal=recording.signal[: int(600 * fs)])
    gapped = recording.signal.copy()
    for start, end in [(75.3, 92.0), (250.0, 254.0), (352.0, 356.5), (420.0, 427.0), (500.0, 530.0)]:
        gapped[int(start * fs) : int(end * fs)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = label_recording(recording, model).beats.set_index("sample")["label"]
        cut = label_recording(replace(recording, signal=gapped), model).beats.set_index("sample")["label"]
    both = whole.index.intersection(cut.index)
    assert len(both) > 900
    assert (whole[both] != cut[both]).sum() <= 4  # beats right after a gap cannot be early: those may change


def test_a_beat_the_detector_missed_inside_a_v_run_is_found_and_can_be_reviewed(monkeypatch, tmp_path):
    import arrhythmia.predict as predict

    record = synthetic_ecg(60.0, 360.0, seed=5, class_mix={"N": 1.0})
    recording = Recording(record.signal, record.fs, "MLII", "run")
    truth = predict.detect_and_filter(record.signal, record.fs)[0]
    dropped = int(truth[len(truth) // 2])
    detect = predict.detect_and_filter

    def missing_one(signal, fs):  # the detector misses one beat, as it does in fast wide-complex runs
        peaks, filtered = detect(signal, fs)
        return peaks[peaks != dropped], filtered

    monkeypatch.setattr(predict, "detect_and_filter", missing_one)
    near = lambda table: (table["sample"] - dropped).abs() <= round(0.02 * record.fs)  # noqa: E731

    result = predict.label_recording(recording, always_model("V"))
    assert result.found_in_v_runs == 1 and near(result.beats).sum() == 1
    row = result.beats[near(result.beats)].iloc[0]
    assert row["label"] == "V" and row["family"] == -1 and np.isnan(row["p_wave"]) and np.isnan(row["atrial_hz"])
    summary = predict.save_recording(result, tmp_path, {}, ("N", "S", "V", "F", "Q"))
    assert summary["beats_found_in_v_runs"] == 1 and summary["beats"] == len(truth)

    # Off, or with no V beat around the gap, nothing is added.
    assert near(predict.label_recording(recording, always_model("V"), search_back=False).beats).sum() == 0
    assert predict.label_recording(recording, always_model("N")).found_in_v_runs == 0

    # A reviewer's label for the found beat is taken (it is a beat that could be labelled); it keeps it.
    found = int(result.beats.loc[near(result.beats), "sample"].iloc[0])
    reviewed = predict.label_recording(recording, always_model("V"), reviewed={found: "N"}).beats
    assert reviewed.loc[near(reviewed), "label"].tolist() == ["N"]


def test_v_run_gaps_are_the_long_gaps_next_to_v_beats():
    from arrhythmia.predict import _still_in_v_runs, _v_run_gaps

    peaks = np.array([0, 100, 200, 300, 500, 600, 700, 900, 1000])
    is_v = np.array([False, False, False, True, True, False, False, False, False])
    # 300 -> 500 is twice the intervals around it and next to V; 700 -> 900 is as long but next to no V
    assert _v_run_gaps(peaks, is_v).tolist() == [3]
    labels = np.array(["N", "N", "V", "N", "N"])
    assert _still_in_v_runs(np.array([150, 250, 450, 5]), np.array([0, 100, 200, 300, 400]), labels).tolist() == [
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(("mv_per_unit", "unit"), [(1000.0, "volts"), (0.001, "microvolts")])
def test_a_csv_in_volts_or_microvolts_is_read_in_mv_from_the_size_of_its_beats(classifier, tmp_path, mv_per_unit, unit):
    from arrhythmia.data.recording import read_input

    rec = synthetic_ecg(duration_s=120, fs=250, seed=8)
    in_mv = label_recording(Recording(rec.signal, 250.0, "ECG", tmp_path / "mv.csv", millivolts=False), classifier)
    path = tmp_path / "exported.csv"
    np.savetxt(path, rec.signal / mv_per_unit, header="ECG", comments="")
    with pytest.warns(UserWarning, match=f"exported.csv: its QRS complexes are .* units tall, .* read as {unit}"):
        result = label_recording(read_input(path, fs=250), classifier)
    assert result.mv_per_unit == mv_per_unit and in_mv.mv_per_unit == 1.0
    # read in mV, it is the recording in mV: the same beats and labels, and no second of it flat or noise
    pd.testing.assert_frame_equal(result.beats, in_mv.beats, rtol=1e-4)
    assert (result.episodes["type"] != "noise").all()


def test_options_that_cannot_be_met_are_one_error_before_any_recording_is_read():
    from arrhythmia.errors import ArrhythmiaError
    from arrhythmia.labelling import PredictOptions
    from arrhythmia.predict import MAX_QUESTIONS

    assert PredictOptions(ask=MAX_QUESTIONS).ask == MAX_QUESTIONS
    # --ask 100000 wrote a sheet of 2,271 rows and ran for minutes at 5.8 GB drawing them
    with pytest.raises(ArrhythmiaError, match=r"--ask 100000: a review sheet asks about 0 to 100 beats"):
        PredictOptions(ask=100_000)
    for start, seconds in ((5, 0), (5, -3), (-1, 10)):  # said 'past the end of the recording', after labelling
        with pytest.raises(ArrhythmiaError, match="the stretch to draw starts at 0 s or later and lasts more than 0 s"):
            PredictOptions(plot=True, start=start, seconds=seconds)


def test_times_in_the_written_tables_keep_a_tenth_of_a_millisecond_a_week_in():
    from io import StringIO

    from arrhythmia.predict import csv_text

    week_s = 7 * 86400.0
    table = pd.DataFrame({"time_s": [0.00271, 3600.12345, week_s - 0.0123, np.nan], "p_N": [0.1234567] * 4})
    back = pd.read_csv(StringIO(csv_text(table)))
    # six significant digits put a beat a week in on a one-second grid: 604799.9877 was written 604800
    assert np.allclose(back["time_s"][:3], table["time_s"][:3], atol=1e-4, rtol=0) and np.isnan(back["time_s"][3])
    assert back["p_N"][0] == 0.123457  # the other numbers, as before
