"""Mains hum: found where it is, notched out without touching the ECG, and never read as beats or pauses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from arrhythmia.data.mains import hum_amplitude, mains_frequency, remove_mains
from arrhythmia.data.recording import Recording
from arrhythmia.data.synthetic import synthetic_ecg

FS = 360.0


def hum(n: int, fs: float, hz: float, mv: float = 0.2) -> np.ndarray:
    return mv * np.sin(2 * np.pi * hz * np.arange(n) / fs + 0.3)


def band_power(x: np.ndarray, fs: float, hz: float) -> float:
    freqs, power = sps.welch(x, fs=fs, nperseg=int(4 * fs))
    return float(power[np.abs(freqs - hz) <= 0.5].sum())


@pytest.mark.parametrize(("fs", "hz"), [(FS, 50.0), (FS, 60.0), (128.0, 60.0), (250.0, 50.0)])
def test_hum_is_found_at_its_frequency_and_measured_in_millivolts(fs, hz):
    ecg = synthetic_ecg(duration_s=120, fs=fs, seed=3).signal
    assert mains_frequency(ecg, fs) is None
    assert hum_amplitude(ecg + hum(len(ecg), fs, hz), fs, hz) == pytest.approx(0.2, rel=0.05)
    assert mains_frequency(ecg + hum(len(ecg), fs, hz), fs) == hz
    # Hum as weak as MIT-BIH's own (at most 0.025 mV), which the model was trained on, is left alone.
    assert mains_frequency(ecg + hum(len(ecg), fs, hz, mv=0.025), fs) is None


def test_no_hum_is_reported_where_the_rate_cannot_carry_it():
    ecg = synthetic_ecg(duration_s=60, fs=100.0, seed=3).signal
    assert mains_frequency(ecg + hum(len(ecg), 100.0, 50.0), 100.0) is None  # 50 Hz is the Nyquist frequency
    assert mains_frequency(ecg[:100], 100.0) is None  # shorter than one spectrum stretch


def test_the_notch_removes_the_hum_and_leaves_the_ecg_and_the_gaps():
    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=4).signal
    noisy = ecg + hum(len(ecg), FS, 50.0)
    gap = np.zeros(len(noisy), dtype=bool)
    gap[int(30 * FS) : int(31 * FS)] = True
    noisy[gap] = np.nan
    clean = remove_mains(noisy, FS, 50.0)
    assert np.isnan(clean[gap]).all() and np.isfinite(clean[~gap]).all()
    after = np.nan_to_num(clean[int(40 * FS) :])
    assert band_power(after, FS, 50.0) < 1e-3 * band_power(noisy[int(40 * FS) :], FS, 50.0)  # 30 dB down
    assert np.corrcoef(after, ecg[int(40 * FS) :])[0, 1] > 0.99
    # Blocks join without a seam: the same as the notch run over the whole signal at once.
    b, a = sps.iirnotch(50.0, 30.0, fs=FS)
    whole = sps.filtfilt(b, a, noisy[int(40 * FS) :])
    assert np.allclose(remove_mains(noisy[int(40 * FS) :], FS, 50.0), whole, atol=1e-6)


def test_predict_notches_hum_so_a_lead_that_came_off_is_noise_not_a_pause(tmp_path):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording, save_recording

    model = load_classifier(None, "torch", None, device="cpu")
    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=1).signal.astype(np.float64)
    clean = label_recording(Recording(ecg, FS, "synthetic", tmp_path / "clean.npy"), model)
    humming = ecg + hum(len(ecg), FS, 50.0, mv=0.3)
    humming[int(50 * FS) : int(58 * FS)] = hum(int(8 * FS), FS, 50.0, mv=0.3)  # lead off: nothing but hum
    result = label_recording(Recording(humming, FS, "synthetic", tmp_path / "hum.npy"), model)
    assert result.mains_hz == 50.0 and clean.mains_hz is None
    types = set(result.episodes["type"])
    assert "noise" in types and "pause" not in types
    outside = (clean.beats["time_s"] < 49.5) | (clean.beats["time_s"] > 58.5)
    kept = clean.beats[outside]
    found = result.beats[(result.beats["time_s"] < 49.5) | (result.beats["time_s"] > 58.5)]
    assert len(found) == len(kept) and np.abs(found["sample"].to_numpy() - kept["sample"].to_numpy()).max() <= 2
    summary = save_recording(result, tmp_path / "out", {}, model.classes)
    assert summary["mains_hz"] == 50.0
    # The report says the hum was taken out.
    from arrhythmia.recording_report import write_recording_report

    recording = Recording(humming, FS, "synthetic", tmp_path / "hum.npy")
    page = write_recording_report(recording, result, summary, model.window, tmp_path / "out").read_text()
    assert "50 Hz mains hum notched out" in page


def test_label_file_hands_on_the_signal_as_labelled(tmp_path):
    """What predict draws and the review app shows is the signal without the hum it labelled without."""
    from arrhythmia.export import load_classifier
    from arrhythmia.labelling import PredictOptions, label_file

    ecg = synthetic_ecg(duration_s=60, fs=FS, seed=2).signal
    np.save(tmp_path / "hum.npy", ecg + hum(len(ecg), FS, 60.0))
    model = load_classifier(None, "torch", None, device="cpu")
    done = label_file(tmp_path / "hum.npy", model, tmp_path / "out", PredictOptions(fs=FS))
    assert done.summary["mains_hz"] == 60.0
    assert band_power(done.recording.signal, FS, 60.0) < 1e-3 * band_power(ecg + hum(len(ecg), FS, 60.0), FS, 60.0)
