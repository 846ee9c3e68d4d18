"""Muscle noise: found where it is, low-passed there and only there, and no longer read as wide beats."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb
from scipy import signal as sps

from arrhythmia.data.muscle import BLEND_S, CUTOFF_HZ, blend_weights, muscle_noise, remove_muscle, same_band
from arrhythmia.data.recording import Recording
from arrhythmia.data.synthetic import synthetic_ecg

FS = 360.0


def muscle(n: int, fs: float, mv: float, seed: int = 0) -> np.ndarray:
    """Broadband noise, 10-100 Hz (below fs / 2), of standard deviation ``mv``."""
    band = sps.butter(4, [10.0, min(100.0, 0.45 * fs)], btype="band", fs=fs, output="sos")
    noise = sps.sosfiltfilt(band, np.random.default_rng(seed).standard_normal(n))
    return mv * noise / noise.std()


def high_power(x: np.ndarray, fs: float) -> float:
    return float(np.mean(sps.sosfiltfilt(sps.butter(4, 45.0, btype="highpass", fs=fs, output="sos"), x) ** 2))


def noisy_middle(ecg: np.ndarray, fs: float, mv: float = 0.2) -> tuple[np.ndarray, slice]:
    """``ecg`` with muscle noise from 30 s to 60 s."""
    noisy, middle = ecg.astype(np.float64), slice(int(30 * fs), int(60 * fs))
    noisy[middle] += muscle(len(ecg), fs, mv)[middle]
    return noisy, middle


@pytest.mark.parametrize("fs", [FS, 250.0, 128.0])
def test_the_noisy_blocks_are_found_and_a_clean_recording_has_none(fs):
    ecg = synthetic_ecg(duration_s=120, fs=fs, seed=5).signal
    noisy, _ = noisy_middle(ecg, fs)
    assert np.flatnonzero(muscle_noise(noisy, fs)).tolist() == [3, 4, 5]  # the 10 s blocks from 30 to 60 s
    assert not muscle_noise(ecg, fs).any()
    # Weak noise, which the network reads well unfiltered, is left alone.
    assert not muscle_noise(noisy_middle(ecg, fs, mv=0.02)[0], fs).any()


@pytest.mark.parametrize("off", ["missing", "flat"])
def test_a_long_lead_off_does_not_make_the_signal_read_as_muscle_noise(off):
    # 2 minutes of clean ECG then 3 minutes with the lead off: the QRS amplitude the noise is measured
    # against was the median of every second, lead-off ones included, so nothing; all the ECG read as noisy
    # and was low-passed (a 70-minute lead-off in a 2.5-hour Holter had 75 minutes of clean signal filtered).
    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=5).signal.astype(np.float64)
    lead_off = np.full(int(180 * FS), np.nan if off == "missing" else 0.4)
    assert not muscle_noise(np.concatenate([ecg, lead_off]), FS).any()
    noisy, _ = noisy_middle(ecg, FS)
    assert np.flatnonzero(muscle_noise(np.concatenate([noisy, lead_off]), FS)).tolist() == [3, 4, 5]


def test_no_block_is_noisy_where_the_rate_leaves_no_band_above_the_qrs():
    ecg = synthetic_ecg(duration_s=60, fs=80.0, seed=5).signal
    assert not muscle_noise(ecg + muscle(len(ecg), 80.0, 0.3), 80.0).any()
    assert muscle_noise(ecg[:100], FS).tolist() == [False]  # shorter than a block


def test_the_filter_takes_the_noise_out_where_it_is_and_leaves_the_rest_as_read():
    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=6).signal.astype(np.float64)
    noisy, middle = noisy_middle(ecg, FS)
    noisy[int(100 * FS) : int(101 * FS)] = np.nan  # a gap stays a gap
    filtered = remove_muscle(noisy, FS, muscle_noise(noisy, FS))
    assert high_power(filtered[middle], FS) < 0.05 * high_power(noisy[middle], FS)
    away = np.r_[0 : int((30 - BLEND_S) * FS), int((60 + BLEND_S) * FS) : len(ecg)]
    assert np.array_equal(filtered[away], noisy[away], equal_nan=True)
    assert np.isnan(filtered[int(100 * FS) : int(101 * FS)]).all()
    assert np.array_equal(remove_muscle(noisy, FS, np.zeros(12, bool)), noisy, equal_nan=True)


def test_the_blend_ramps_between_filtered_and_read_signal():
    weight = blend_weights(np.array([False, True, False]), block=10, n=30, ramp=4)
    assert weight[10:20].tolist() == [1.0] * 10
    assert weight[6:10].tolist() == [0.0, 0.25, 0.5, 0.75]
    assert weight[20:24].tolist() == [0.75, 0.5, 0.25, 0.0]
    assert weight[:6].sum() == 0.0 and weight[24:].sum() == 0.0
    # computed a chunk at a time, as remove_muscle does, the weights are the same
    noisy = np.array([0, 1, 0, 0, 1, 1, 0, 1], dtype=bool)
    parts = [blend_weights(noisy, 10, 75, 4, first, min(first + 20, 75)) for first in range(0, 75, 20)]
    assert np.array_equal(np.concatenate(parts), blend_weights(noisy, 10, 75, 4))


def test_predict_filters_the_noisy_stretch_says_so_and_can_be_told_not_to(tmp_path):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording, save_recording
    from arrhythmia.recording_report import write_recording_report

    model = load_classifier(None, "torch", None, device="cpu")
    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=5).signal.astype(np.float64)
    noisy, middle = noisy_middle(ecg, FS)
    recording = Recording(noisy, FS, "synthetic", tmp_path / "noisy.npy")
    result = label_recording(recording, model)
    assert result.muscle_filtered_s == 30.0 and result.muscle_filtered.tolist() == [[30 * 360, 60 * 360]]
    assert result.hourly["muscle_filtered_min"].tolist() == [0.5]  # the hourly table gives each hour's minutes
    assert high_power(result.recording.signal[middle], FS) < 0.05 * high_power(noisy[middle], FS)  # drawn so
    summary = save_recording(result, tmp_path / "out", {}, model.classes)
    assert summary["muscle_filtered_s"] == 30.0
    page = write_recording_report(recording, result, summary, model.window, tmp_path / "out").read_text()
    assert "0:00:30 of muscle noise low-passed" in page
    assert "muscle-filtered min</th>" in page and ">0.5</td>" in page  # a column of the hourly table
    unfiltered = label_recording(recording, model, muscle_filter=False)
    assert unfiltered.muscle_filtered_s == 0.0 and np.array_equal(unfiltered.recording.signal, noisy)
    assert unfiltered.hourly["muscle_filtered_min"].tolist() == [0.0]
    # A clean recording is read exactly as it is: the same beats and labels with the filter on or off.
    clean = Recording(ecg, FS, "synthetic", tmp_path / "clean.npy")
    on, off = label_recording(clean, model), label_recording(clean, model, muscle_filter=False)
    assert on.muscle_filtered_s == 0.0 and on.beats.equals(off.beats)


@needs_mitdb
def test_on_a_real_record_muscle_noise_no_longer_makes_normal_beats_wide():
    """MIT-BIH 209's first ten minutes (MLII), with 10-100 Hz noise at 6 dB SNR (QRS peak-to-peak squared / 8
    over the noise's power): unfiltered, the shipped model calls dozens of normal beats V and misses beats;
    filtered, it calls far fewer V and finds more of the annotated beats."""
    from arrhythmia.data.recording import read_input
    from arrhythmia.data.wfdb_source import read_beat_annotations
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording

    record = read_input(MITDB / "209")
    n = int(600 * record.fs)
    samples, symbols = read_beat_annotations(MITDB / "209")
    keep = samples < n - int(record.fs)
    samples, symbols = samples[keep], np.asarray(symbols)[keep]
    signal = record.signal[:n].astype(np.float64)
    p2p = np.median([np.ptp(signal[max(s - 18, 0) : s + 19]) for s in samples])
    noisy = signal + muscle(n, record.fs, np.sqrt(p2p**2 / 8 / 10 ** (6 / 10)), seed=209)
    model = load_classifier(None, "torch", None, device="cpu")

    def scored(muscle_filter: bool) -> tuple[int, int]:
        beats = label_recording(Recording(noisy, record.fs, "MLII", "209"), model, muscle_filter=muscle_filter).beats
        beats = beats[beats["label"] != ""]
        found = beats["sample"].to_numpy()
        nearest = np.abs(found[:, None] - samples[None, :]).argmin(axis=1)
        near = np.abs(found - samples[nearest]) <= 0.15 * record.fs
        normal = near & (symbols[nearest] == "N")
        return int((beats["label"].to_numpy()[normal] == "V").sum()), len(np.unique(nearest[near]))

    false_v_off, found_off = scored(False)
    false_v_on, found_on = scored(True)
    assert false_v_on < 0.5 * false_v_off and found_on > found_off


def test_the_command_line_filters_by_default_and_not_with_no_muscle_filter(tmp_path):
    import json

    from typer.testing import CliRunner

    from arrhythmia.cli import app

    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=5).signal
    np.save(tmp_path / "noisy.npy", noisy_middle(ecg, FS)[0])
    for flags, seconds in (([], 30.0), (["--no-muscle-filter"], 0.0)):
        out = tmp_path / f"out{len(flags)}"
        done = CliRunner().invoke(
            app, ["predict", str(tmp_path / "noisy.npy"), "--fs", "360", "--out", str(out), *flags]
        )
        assert done.exit_code == 0, done.output
        assert json.loads((out / "summary.json").read_text())["muscle_filtered_s"] == seconds
        assert ("muscle noise low-passed" in done.output) == bool(seconds)


def test_beat_windows_are_low_passed_alike_for_grouping_by_shape():
    windows = np.random.default_rng(0).standard_normal((5, 187)).astype(np.float32)
    alike = same_band(windows, 125.0)
    assert alike.shape == windows.shape and alike.dtype == np.float32
    sos = sps.butter(2, CUTOFF_HZ, fs=125.0, output="sos")
    assert np.allclose(alike[3], sps.sosfiltfilt(sos, windows[3]), atol=1e-5)
    assert np.array_equal(same_band(windows, 50.0), windows)  # 25 Hz is no low-pass at 50 Hz
    assert np.array_equal(same_band(windows[:, :8], 125.0), windows[:, :8])  # too short to filter


@needs_mitdb
def test_beats_of_the_usual_shape_stay_one_family_when_part_of_a_recording_is_filtered():
    """MIT-BIH 209's first ten minutes with heavy muscle noise from 200 to 400 s: the noisy stretch is
    low-passed and the rest is not, yet the usual family still holds the usual beats on both sides (the
    windows are grouped with all of them low-passed alike; grouped as labelled, fewer than half the beats
    outside the noise stayed in it, and 28 families formed against 20)."""
    from arrhythmia.data.recording import read_input
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording

    record = read_input(MITDB / "209")
    n, noisy = int(600 * record.fs), slice(int(200 * record.fs), int(400 * record.fs))
    signal = record.signal[:n].astype(np.float64)
    signal[noisy] += muscle(n, record.fs, 0.3, seed=1)[noisy]
    model = load_classifier(None, "torch", None, device="cpu")
    result = label_recording(Recording(signal, record.fs, "MLII", "209"), model)
    beats = result.beats
    inside = (beats["sample"] >= noisy.start) & (beats["sample"] < noisy.stop)
    assert result.muscle_filtered_s == 200.0
    assert (beats.loc[~inside, "family"] == 0).mean() > 0.8 and (beats.loc[inside, "family"] == 0).mean() > 0.45
