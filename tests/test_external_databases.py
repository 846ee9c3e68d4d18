"""Records of other PhysioNet databases, as their WFDB files come: other rates and lead names, annotation
files at a time resolution of their own, references of rhythm notes alone (the Atrial Fibrillation
Database's ``atr``, its beats in ``qrs``), unused channels, multi-segment records with gaps. Small synthetic
records; MIT-BIH where it is present."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb, write_edf_holter, write_multisegment_record, write_wfdb_record

from arrhythmia.data import AAMI_CLASSES
from arrhythmia.data.recording import read_input
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.data.wfdb_source import read_annotations
from arrhythmia.errors import DataError
from arrhythmia.scoring import (
    RecordingComparison,
    comparison_metrics,
    read_reference,
    reference_episodes,
    score_recordings,
)


@pytest.fixture(scope="module")
def model():
    from arrhythmia.export import load_classifier

    return load_classifier(None, "torch", None, device="cpu")


def _write(directory, name, signal, fs, names, **kwargs):
    import wfdb

    signal = signal if signal.ndim == 2 else signal[:, None]
    wfdb.wrsamp(
        name, fs=fs, units=["mV"] * signal.shape[1], sig_name=names, p_signal=signal, fmt=["16"] * signal.shape[1],
        adc_gain=[200.0] * signal.shape[1], baseline=[0] * signal.shape[1], write_dir=str(directory), **kwargs,
    )  # fmt: skip


def test_annotations_at_a_time_resolution_of_their_own_are_read_at_the_records_rate(tmp_path):
    import wfdb

    # a record resampled to 128 Hz whose annotations were kept at 360 Hz (wrann stores their rate): rdann
    # counts 360 Hz samples, which ran past the record's end ("reference beat ... is past the end")
    rec = synthetic_ecg(duration_s=30, fs=128, seed=1)
    _write(tmp_path, "svdb", rec.signal, 128, ["ECG1"])
    at_360 = np.round(rec.r_peaks * 360 / 128).astype(np.int64)
    wfdb.wrann("svdb", "atr", at_360, symbol=["N"] * len(at_360), fs=360, write_dir=str(tmp_path))
    samples, symbols, _ = read_annotations(tmp_path / "svdb", "atr")
    assert np.abs(samples - rec.r_peaks).max() <= 1 and set(symbols) == {"N"}
    beats, classes, _, _ = read_reference(tmp_path / "svdb.hea", AAMI_CLASSES)
    assert len(beats) == len(rec.r_peaks) and beats[-1] < len(rec.signal) and set(classes) == {"N"}


def test_an_annotation_file_cut_short_is_read_with_a_warning(tmp_path):
    rec = write_wfdb_record(tmp_path, "rec", seconds=30)
    whole = (tmp_path / "rec.atr").read_bytes()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert len(read_annotations(tmp_path / "rec")[0]) == len(rec.r_peaks) + 1
    assert not [w for w in said if "end marker" in str(w.message)]  # a whole file: no warning
    (tmp_path / "rec.atr").write_bytes(whole[:40])  # a download that stopped
    with pytest.warns(UserWarning, match=r"rec\.atr: the annotation file has no end marker \(cut short\?\)"):
        samples = read_annotations(tmp_path / "rec")[0]
    assert 0 < len(samples) < len(rec.r_peaks)


def test_a_reference_of_rhythm_notes_alone_scores_only_the_rhythms_it_names():
    # the AF Database's atr: rhythm notes, no beats; pauses cannot be told from it, so predict's are not
    # counted false (pause +P read 0.0 over 42 detected pauses on a 10-hour record)
    samples, symbols, notes = np.array([0, 5000]), np.array(["+", "+"]), np.array(["(N", "(AFIB"])
    episodes = reference_episodes(samples, symbols, notes, fs=250.0, length_s=60.0)
    # only what its notes name is scored: VT and bigeminy read +P 0.0 over 63 detected VT on such a record
    assert set(episodes) == {"AF"} and episodes["AF"] == [(20.0, 60.0)]
    detected = {"AF": [(25.0, 60.0)], "pause": [(3.0, 6.0)], "VT": [(7.0, 9.0)], "bigeminy": [(10.0, 19.0)]}
    comparison = RecordingComparison(
        "04015", AAMI_CLASSES, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
        np.zeros(5, np.int64), np.zeros(5, np.int64), 0, 0,
        reference_episodes=episodes, detected_episodes=detected,
    )  # fmt: skip
    figures = comparison_metrics([comparison])["episodes"]
    for kind in ("pause", "VT", "bigeminy"):
        assert figures[kind]["detected"] == 0 and figures[kind]["episode_ppv"] is None
    assert figures["AF"]["reference"] == 1 and figures["AF"]["duration_ppv"] == 1.0


def test_a_stretch_without_signal_is_no_reference_pause():
    from arrhythmia.scoring import missing_stretches

    signal = np.ones(1000)
    signal[300:700] = np.nan  # a multi-segment record's gap, 4 s at 100 Hz
    assert missing_stretches(signal, 100.0).tolist() == [[3.0, 7.0]]
    samples = np.array([0, 100, 250, 750, 900, 1200, 1300])  # 2.5-7.5 s spans the gap; 9-12 s is a pause
    symbols, notes = np.array(["+"] + ["N"] * 6), np.array(["(N"] + [""] * 6)
    episodes = reference_episodes(samples, symbols, notes, 100.0, 15.0, missing_s=missing_stretches(signal, 100.0))
    assert episodes["pause"] == [(9.0, 12.0)]
    assert reference_episodes(samples, symbols, notes, 100.0, 15.0)["pause"] == [(2.5, 7.5), (9.0, 12.0)]


def test_a_multisegment_records_gap_is_scored_as_no_pause(tmp_path, model):
    import wfdb

    rec = synthetic_ecg(duration_s=60, fs=360, seed=3)
    gap = 360 * 10
    half = write_multisegment_record(tmp_path, "mimic", rec.signal, gap=gap)
    peaks = np.where(rec.r_peaks < half, rec.r_peaks, rec.r_peaks + gap)
    wfdb.wrann("mimic", "atr", np.concatenate([[0], peaks]), symbol=["+"] + ["N"] * len(peaks),
               aux_note=["(N"] + [""] * len(peaks), write_dir=str(tmp_path))  # fmt: skip
    (comparison,) = score_recordings([tmp_path / "mimic"], model)
    assert comparison.reference_episodes["pause"] == []  # the 10 s without signal was a missed pause
    assert len(comparison.y_true) > 0.95 * len(peaks)


def test_an_unused_channel_gives_way_to_the_next_lead(tmp_path):
    rec = synthetic_ecg(duration_s=20, fs=250, seed=2)
    _write(tmp_path, "flat", np.column_stack([np.zeros_like(rec.signal), rec.signal]), 250, ["MLII", "V1"])
    with pytest.warns(UserWarning, match=r"flat\.hea: lead MLII holds no ECG \(every sample is 0\): read V1"):
        recording = read_input(tmp_path / "flat")
    assert recording.lead == "V1" and np.ptp(recording.signal) > 0.5
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert read_input(tmp_path / "flat", lead="MLII").lead == "MLII"  # asked for: read as it is
    # an ECG lead is taken, never a blood pressure beside it
    _write(tmp_path, "abp", np.column_stack([np.zeros_like(rec.signal), 50 + rec.signal]), 250, ["II", "ABP"])
    with warnings.catch_warnings(record=True) as also:
        warnings.simplefilter("always")
        assert read_input(tmp_path / "abp").lead == "II"
    assert not [w for w in said + also if "holds no ECG" in str(w.message)]


def test_an_unused_numpy_column_gives_way_to_the_next(tmp_path):
    rec = synthetic_ecg(duration_s=10, fs=250, seed=1)
    np.save(tmp_path / "flat.npy", np.column_stack([np.zeros_like(rec.signal), rec.signal]))
    with pytest.warns(UserWarning, match=r"flat\.npy: lead 0 holds no ECG \(every sample is 0\): read 1 instead"):
        assert read_input(tmp_path / "flat.npy", fs=250).lead == "1"
    assert read_input(tmp_path / "flat.npy", fs=250, lead=0).lead == "0"


def test_an_unused_edf_channel_gives_way_to_the_next_lead(tmp_path):
    from datetime import datetime

    from pyedflib import highlevel

    path = tmp_path / "holter.edf"
    write_edf_holter(path, datetime(2026, 11, 28, 10, 0), [], seconds=20)
    signals, headers, header = highlevel.read_edf(str(path))
    headers = [dict(headers[0], label="ECG1"), dict(headers[0], label="ECG2")]
    highlevel.write_edf(str(path), [np.zeros_like(signals[0]), signals[0]], headers, header)
    with pytest.warns(UserWarning, match="lead ECG1 holds no ECG"):
        assert read_input(path).lead == "ECG2"


def test_a_flat_lead_is_named_where_nothing_is_detected(tmp_path, model):
    from arrhythmia.predict import label_recording

    rec = synthetic_ecg(duration_s=20, fs=250, seed=2)
    _write(tmp_path, "flat", np.column_stack([np.zeros_like(rec.signal), rec.signal]), 250, ["MLII", "V1"])
    with pytest.warns(UserWarning, match="lead MLII holds no ECG"):
        label_recording(read_input(tmp_path / "flat", lead="MLII"), model)
    wfdb_ann = tmp_path / "flat"
    import wfdb

    wfdb.wrann("flat", "atr", rec.r_peaks, symbol=["N"] * len(rec.r_peaks), write_dir=str(tmp_path))
    with (
        pytest.warns(UserWarning),
        pytest.raises(DataError, match=r"predict detected no beat .* \(--lead names another\)"),
    ):
        comparison_metrics(score_recordings([wfdb_ann], model, lead="MLII"))


def test_the_reference_error_and_the_episodes_line_name_the_annotators_beside(tmp_path, model):
    import wfdb

    rec = write_wfdb_record(tmp_path, "af", seconds=30)
    wfdb.wrann("af", "qrs", rec.r_peaks, symbol=["N"] * len(rec.r_peaks), write_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"no reference annotations \(af\.ecg; beside it: af\.atr, af\.qrs\)"):
        read_reference(tmp_path / "af", AAMI_CLASSES, "ecg")
    wfdb.wrann("af", "atr", np.array([0]), symbol=["+"], aux_note=["(AFIB"], write_dir=str(tmp_path))
    said = []
    score_recordings([tmp_path / "af"], model, log=said.append)
    assert said == [
        "af: rhythm notes only, episodes scored (MLII, 360 Hz; the beats in qrs? --annotator qrs scores them)"
    ]
    (comparison,) = score_recordings([tmp_path / "af"], model, annotator="qrs")
    assert comparison.n_reference == len(rec.r_peaks)


@needs_mitdb
def test_a_mitdb_record_as_another_database_writes_it_scores_as_the_record(tmp_path, model):
    import wfdb
    from scipy.signal import resample_poly

    # 100's first 3 minutes as the Supraventricular Arrhythmia Database would hold them: 128 Hz, leads
    # ECG1 and ECG2, format 212, annotations kept at their 360 Hz; beside the same minutes at 360 Hz
    seconds = 180
    record = wfdb.rdrecord(str(MITDB / "100"), sampto=360 * seconds)
    ann = wfdb.rdann(str(MITDB / "100"), "atr", sampto=360 * seconds)
    kept = ann.sample < 360 * seconds - 180  # a beat the 128 Hz record still holds
    for name, fs, names in (("mit", 360, ["MLII", "V5"]), ("svdb", 128, ["ECG1", "ECG2"])):
        signal = record.p_signal if fs == 360 else resample_poly(record.p_signal, 16, 45, axis=0)
        wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=names, p_signal=signal, fmt=["212", "212"],
                    adc_gain=[200.0, 200.0], baseline=[0, 0], write_dir=str(tmp_path))  # fmt: skip
        wfdb.wrann(name, "atr", ann.sample[kept], symbol=np.array(ann.symbol)[kept].tolist(), fs=360,
                   write_dir=str(tmp_path))  # fmt: skip
    mit, svdb = score_recordings([tmp_path / "mit", tmp_path / "svdb"], model)
    assert svdb.n_reference == mit.n_reference > 200
    assert len(svdb.y_true) >= len(mit.y_true) - 2 and svdb.accuracy >= mit.accuracy - 0.01


def test_a_header_that_gives_no_length_is_read_to_the_end_of_its_signal_file(tmp_path):
    # WFDB's record line makes the number of samples optional ("n 2 128"): wfdb reads it off the signal file
    rec = synthetic_ecg(duration_s=20, fs=128, seed=4)
    _write(tmp_path, "n", rec.signal, 128, ["ECG1"])
    header = tmp_path / "n.hea"
    lines = header.read_text().splitlines()
    header.write_text("\n".join([" ".join(lines[0].split()[:3]), *lines[1:]]) + "\n")
    recording = read_input(tmp_path / "n")
    assert len(recording.signal) == len(rec.signal) and recording.fs == 128
    lines[0] = " ".join([*lines[0].split()[:3], "0"])  # a length of 0 says there is nothing to read
    header.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"n\.hea: header gives no sampling rate, length or signals"):
        read_input(tmp_path / "n")


def test_a_twelve_lead_record_at_257_hz_is_read_from_lead_ii_and_says_so(tmp_path, model):
    import wfdb

    from arrhythmia.predict import predict_record

    # as the St Petersburg INCART database holds its records: 12 leads at 257 Hz, beats in atr
    rec = synthetic_ecg(duration_s=40, fs=257, seed=5)
    ii, other = rec.signal, np.roll(rec.signal, 3) * -0.6
    leads = {"I": 0.5 * ii + 0.3 * other, "II": ii}
    leads |= {
        "III": ii - leads["I"],
        "aVR": -(leads["I"] + ii) / 2,
        "aVL": leads["I"] - ii / 2,
        "aVF": ii - leads["I"] / 2,
    }
    leads |= {f"V{k}": (k / 6) * ii + (1 - k / 6) * other for k in range(1, 7)}
    _write(tmp_path, "I01", np.column_stack(list(leads.values())), 257, list(leads))
    wfdb.wrann("I01", "atr", rec.r_peaks, symbol=["N"] * len(rec.r_peaks), write_dir=str(tmp_path))
    table = predict_record(tmp_path / "I01", model)
    assert table.attrs == {"lead": "II", "fs": 257.0}  # the API says the lead it read, as the title does
    said = []
    (comparison,) = score_recordings([tmp_path / "I01"], model, log=said.append)
    assert len(comparison.y_true) >= len(rec.r_peaks) - 2
    assert (comparison.lead, comparison.fs) == ("II", 257.0) and said[0].endswith("% (II, 257 Hz)")  # score says so


def test_signals_without_a_description_are_named_by_position(tmp_path):
    # a signal line's description is optional ("q.dat 16 200(0)/mV 16 0 -3 55802 0"): wfdb gives None for it,
    # which ended predict and score in a traceback ('NoneType' object has no attribute 'lower')
    rec = synthetic_ecg(duration_s=20, fs=128, seed=6)
    _write(tmp_path, "q", np.column_stack([rec.signal, -rec.signal]), 128, ["ECG1", "ECG2"])
    header = tmp_path / "q.hea"
    header.write_text(header.read_text().replace(" ECG1\n", "\n").replace(" ECG2\n", "\n"))
    recording = read_input(tmp_path / "q")
    assert recording.lead == "signal 0" and np.allclose(recording.signal, rec.signal, atol=0.01)
    assert read_input(tmp_path / "q", lead=1).lead == "signal 1"
    with pytest.raises(DataError, match=r"lead 'V1' does not exist \(leads: signal 0, signal 1\)"):
        read_input(tmp_path / "q", lead="V1")


def test_a_storage_format_wfdb_does_not_know_is_one_line_naming_it(tmp_path):
    rec = synthetic_ecg(duration_s=5, fs=128, seed=7)
    _write(tmp_path, "f", rec.signal, 128, ["ECG1"])
    header = tmp_path / "f.hea"
    lines = header.read_text().splitlines()
    lines[1] = lines[1].replace("f.dat 16 ", "f.dat 999 ", 1)
    header.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"f\.hea: f\.dat is stored in format 999, which is no WFDB storage format"):
        read_input(tmp_path / "f")
