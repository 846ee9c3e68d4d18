"""Atrial activity between the beats (data/atrial.py) and the atrial flutter episodes it finds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import flutter_ecg, irregular_ecg

import arrhythmia.data.atrial as atrial_module
from arrhythmia.data.atrial import atrial_activity
from arrhythmia.data.recording import Recording
from arrhythmia.episodes import EpisodeConfig, find_episodes

FLUTTER_BORDER = EpisodeConfig().afl_organisation


@pytest.mark.parametrize("fs", [250.0, 128.0, 360.0])
def test_flutter_waves_are_one_organised_peak_at_the_flutter_rate(fs):
    signal, fs, peaks = flutter_ecg(fs=fs)
    dominant, organisation, amplitude = atrial_activity(signal, fs, peaks)
    assert dominant.shape == organisation.shape == amplitude.shape == peaks.shape
    assert np.nanmedian(dominant) == pytest.approx(5.0, abs=0.3)
    assert np.nanmedian(organisation) > FLUTTER_BORDER
    # 0.15 mV sawtooth waves: 0.043 mV RMS, most of it in the peak and its harmonics up to 20 Hz
    assert EpisodeConfig().afl_min_mv < np.nanmedian(amplitude) < 0.045


def test_fibrillation_and_sinus_p_waves_are_not_organised_like_flutter():
    for p_waves in (False, True):
        signal, fs, peaks = irregular_ecg(p_waves, n_beats=300)
        _, organisation, _ = atrial_activity(signal, fs, peaks)
        assert np.nanmedian(organisation) < FLUTTER_BORDER - 0.1


def test_muscle_noise_above_the_band_does_not_look_organised():
    from scipy.signal import butter, sosfiltfilt

    signal, fs, peaks = irregular_ecg(True, n_beats=300, fs=360.0)
    rng = np.random.default_rng(1)
    noise = sosfiltfilt(butter(4, [10, 100], btype="band", fs=fs, output="sos"), rng.standard_normal(len(signal)))
    _, organisation, _ = atrial_activity(signal + 0.15 * noise / noise.std(), fs, peaks)
    assert np.nanpercentile(organisation, 90) < FLUTTER_BORDER


def test_no_atrial_activity_where_it_cannot_be_measured():
    signal, fs, peaks = flutter_ecg(fs=250.0, seconds=60.0)
    # the last, partial window, a rate too low for the band, a flat lead, a recording without beats
    dominant, organisation, _ = atrial_activity(signal[: int(55 * fs)], fs, peaks[peaks < int(55 * fs)])
    last = peaks[peaks < int(55 * fs)] >= int(50 * fs)
    assert np.isnan(organisation[last]).all() and np.isfinite(organisation[~last]).all()
    assert np.isnan(atrial_activity(signal[::8], fs / 8, peaks // 8)[1]).all()
    assert np.isnan(atrial_activity(np.zeros_like(signal), fs, peaks)[1]).all()
    assert atrial_activity(signal, fs, np.zeros(0, np.int64))[0].shape == (0,)


def test_a_few_minutes_at_a_time_gives_what_the_whole_recording_gives(monkeypatch):
    signal, fs, peaks = flutter_ecg(seconds=300.0)
    whole = atrial_activity(signal, fs, peaks)
    monkeypatch.setattr(atrial_module, "CHUNK_WINDOWS", 3)
    chunked = atrial_activity(signal, fs, peaks)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def _flutter_like(n: int, first: int, last: int, mv: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dominant, organisation, amplitude = np.full(n, 2.0), np.full(n, 0.2), np.full(n, 0.01)
    dominant[first:last], organisation[first:last], amplitude[first:last] = 5.0, 0.8, mv
    return dominant, organisation, amplitude


def test_organised_flutter_waves_for_long_enough_are_afl_and_not_af():
    rng = np.random.default_rng(0)
    rr = rng.uniform(0.4, 0.8, 400)  # irregular throughout: AF by the RR intervals alone
    rr[180:186] = 0.45  # and a fast run called S inside the flutter: its ventricular response, no SVT
    samples = np.round((1.0 + np.concatenate([[0.0], np.cumsum(rr)])) * 250).astype(np.int64)
    labels = np.array(["N"] * len(samples))
    labels[181:186] = "S"
    times = samples / 250
    flutter = (times > 60) & (times < 180)
    atrial = _flutter_like(len(samples), np.argmax(flutter), len(flutter) - np.argmax(flutter[::-1]))
    table = find_episodes(samples, labels, 250, atrial=atrial)
    afl = table[table["type"] == "AFL"]
    assert len(afl) == 1 and afl["start_s"].iloc[0] == pytest.approx(60, abs=1)
    assert afl["end_s"].iloc[0] == pytest.approx(180, abs=1)
    for start, end in table.loc[table["type"] == "AF", ["start_s", "end_s"]].to_numpy():
        assert end < 61 or start > 179  # no AF inside the flutter
    assert (table["type"] != "SVT").all()
    with_svt = find_episodes(samples, labels, 250, config=EpisodeConfig(svt_in_af=True), atrial=atrial)
    assert (with_svt["type"] == "SVT").sum() == 1
    # too short, mostly V beats, or turned off: no AFL
    short = _flutter_like(len(samples), 100, 130)
    assert (find_episodes(samples, labels, 250, atrial=short)["type"] != "AFL").all()
    ventricular = np.where(flutter, "V", labels)
    assert (find_episodes(samples, ventricular, 250, atrial=atrial)["type"] != "AFL").all()
    # waves too small to be flutter waves (a lead's noise with a steady peak), unless the floor is off or the
    # amplitude unknown (a beats table from before it was measured)
    faint = _flutter_like(len(samples), np.argmax(flutter), len(flutter) - np.argmax(flutter[::-1]), mv=0.015)
    assert (find_episodes(samples, labels, 250, atrial=faint)["type"] != "AFL").all()
    no_floor = EpisodeConfig(afl_min_mv=None)
    assert (find_episodes(samples, labels, 250, config=no_floor, atrial=faint)["type"] == "AFL").sum() == 1
    assert (find_episodes(samples, labels, 250, atrial=faint[:2])["type"] == "AFL").sum() == 1
    off = EpisodeConfig(afl_organisation=None)
    assert (find_episodes(samples, labels, 250, config=off, atrial=atrial)["type"] != "AFL").all()
    assert (find_episodes(samples, labels, 250)["type"] != "AFL").all()  # no atrial activity given


def test_predict_reports_atrial_flutter_in_its_tables(tmp_path):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording, save_recording
    from arrhythmia.recording_report import write_recording_report

    model = load_classifier(None, "torch", None, device="cpu")
    signal, fs, _ = flutter_ecg(seconds=240.0)
    recording = Recording(signal, fs, "MLII", tmp_path / "flutter.csv")
    result = label_recording(recording, model)
    assert {"atrial_hz", "atrial_organisation", "atrial_mv"} <= set(result.beats)
    afl = result.episodes[result.episodes["type"] == "AFL"]
    assert len(afl) == 1 and afl["end_s"].iloc[0] - afl["start_s"].iloc[0] > 150
    assert (result.episodes["type"] != "AF").all()
    assert result.hourly["afl_min"].sum() > 2.5
    summary = save_recording(result, tmp_path, {"model": model.model_name}, model.classes)
    assert summary["episodes"]["AFL"] == 1 and "atrial_organisation" in (tmp_path / "beats.csv").read_text()
    page = write_recording_report(recording, result, summary, model.window, tmp_path).read_text()
    assert "AFL onset at" in page and "AFL: organised atrial waves at 240-420 a minute" in page
    # the fibrillation of the AF test recording stays AF
    signal, fs, _ = irregular_ecg(False)
    episodes = label_recording(Recording(signal, fs, "MLII", "af"), model).episodes
    assert (episodes["type"] == "AF").any() and (episodes["type"] != "AFL").all()


def test_the_review_server_finds_the_flutter_again_after_a_correction(tmp_path):
    import wfdb

    from arrhythmia.export import load_classifier
    from arrhythmia.review import ReviewStore

    signal, fs, _ = flutter_ecg(seconds=240.0)
    wfdb.wrsamp("fl", fs=int(fs), units=["mV"], sig_name=["MLII"], p_signal=signal[:, None], write_dir=str(tmp_path))
    store = ReviewStore(tmp_path, "fl")
    store.analyse(load_classifier())
    episodes = store.rhythm()["episodes"]  # recomputed from the analysis' beats.csv, as after each correction
    assert (episodes["type"] == "AFL").sum() == 1 and (episodes["type"] != "AF").all()
