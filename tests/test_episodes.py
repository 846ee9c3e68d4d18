"""Rhythm episodes from labelled beats (episodes.py), unanalysable stretches (data/quality.py), and the
episodes.csv predict writes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import MITDB, needs_mitdb

from arrhythmia.data.quality import gap_activity, unanalysable
from arrhythmia.data.recording import Recording
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.episodes import EPISODE_COLUMNS, EpisodeConfig, find_episodes
from arrhythmia.files import read_json

FS = 250.0


def beats(rr_s: list[float] | np.ndarray, labels: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """R-peak samples at FS from RR intervals (the first beat at 1 s), and their labels (default all N)."""
    samples = np.round((1.0 + np.concatenate([[0.0], np.cumsum(rr_s)])) * FS).astype(np.int64)
    return samples, np.array(labels if labels is not None else ["N"] * len(samples))


def of_type(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    return table[table["type"] == kind]


def test_runs_of_v_and_s_beats_faster_than_100_bpm_are_vt_and_svt():
    rr = [0.8] * 20 + [0.4] * 5 + [0.8] * 20 + [0.45] * 4 + [0.8] * 20
    labels = ["N"] * 21 + ["V"] * 5 + ["N"] * 19 + ["S"] * 4 + ["N"] * 21
    table = find_episodes(*beats(rr, labels), FS)
    assert list(table.columns) == list(EPISODE_COLUMNS)
    vt, svt = of_type(table, "VT"), of_type(table, "SVT")
    assert len(vt) == 1 and vt["beats"].iloc[0] == 5 and vt["max_hr_bpm"].iloc[0] == pytest.approx(150, abs=1)
    assert len(svt) == 1 and svt["beats"].iloc[0] == 4
    # Two V beats in a row, or a slow run, is no VT.
    slow = find_episodes(*beats([0.8] * 30, ["N"] * 10 + ["V"] * 5 + ["N"] * 16), FS)
    assert of_type(slow, "VT").empty


def test_a_pause_inside_consecutive_v_beats_ends_the_run():
    # N, three V beats at 133 bpm, a 1.5 s pause, three more V beats at 60 bpm: MIT-BIH 106's VT, read as one
    # stretch of six V beats at a mean rate under 100 bpm before the pause ended the run.
    rr = [0.8] * 10 + [0.6, 0.45, 0.45, 1.5, 1.0, 1.0] + [0.8] * 10
    labels = ["N"] * 11 + ["V"] * 6 + ["N"] * 10
    samples, labels = beats(rr, labels)
    vt = of_type(find_episodes(samples, labels, FS), "VT")
    assert len(vt) == 1 and vt["beats"].iloc[0] == 3
    assert vt["start_s"].iloc[0] == pytest.approx(samples[11] / FS) and vt["end_s"].iloc[0] == pytest.approx(
        samples[13] / FS
    )
    # Without the break the six beats are one run, too slow to be VT.
    assert of_type(find_episodes(samples, labels, FS, config=EpisodeConfig(run_break_bpm=None)), "VT").empty
    # An irregular run (one interval at 86 bpm, a mean of 109 bpm), never slower than 80 bpm, stays one run.
    steady = find_episodes(
        *beats([0.8] * 10 + [0.45, 0.7, 0.45, 0.5] + [0.8] * 10, ["N"] * 11 + ["V"] * 4 + ["N"] * 10), FS
    )
    assert of_type(steady, "VT")["beats"].tolist() == [4]


def test_bigeminy_and_trigeminy_follow_the_pattern():
    bigeminy = ["N"] * 10 + ["N", "V"] * 5 + ["N"] * 10
    trigeminy = ["N"] * 10 + ["N", "N", "V"] * 4 + ["N"] * 10
    table = find_episodes(*beats([0.8] * (len(bigeminy) - 1), bigeminy), FS)
    assert len(of_type(table, "bigeminy")) == 1 and of_type(table, "trigeminy").empty
    table = find_episodes(*beats([0.8] * (len(trigeminy) - 1), trigeminy), FS)
    assert len(of_type(table, "trigeminy")) == 1 and of_type(table, "bigeminy").empty
    # Three N-N-V cycles come by chance among frequent ectopic beats: trigeminy takes four (bigeminy three).
    three = ["N"] * 10 + ["N", "N", "V"] * 3 + ["N"] * 10
    assert of_type(find_episodes(*beats([0.8] * (len(three) - 1), three), FS), "trigeminy").empty
    lenient = EpisodeConfig(trigeminy_min_v=3)
    assert len(of_type(find_episodes(*beats([0.8] * (len(three) - 1), three), FS, config=lenient), "trigeminy")) == 1


def test_episode_settings_from_plain_values_are_checked():
    from arrhythmia.errors import ArrhythmiaError

    assert EpisodeConfig.from_value(None) == EpisodeConfig()
    config = EpisodeConfig.from_value({"pause_s": 3, "af_skip_labels": ["V", "F"], "af_p_wave_below": None})
    assert config.pause_s == 3 and config.af_skip_labels == ("V", "F") and config.af_p_wave_below is None
    assert EpisodeConfig.from_value({"af_bridge_s": 0}).af_bridge_s == 0
    for wrong, fragment in (
        ({"pause": 3}, "unknown episode setting"),
        ({"af_skip_labels": "V"}, "af_skip_labels='V': expected"),
        ({"trigeminy_min_v": 3.5}, "trigeminy_min_v=3.5: expected int"),
        ({"svt_in_af": 1}, "svt_in_af=1: expected bool"),
        ({"pause_s": -1}, r"pause_s=-1: expected a number > 0"),  # 2,270 'pauses' on record 100
        ({"tachycardia_bpm": 0}, r"tachycardia_bpm=0: expected a number > 0"),
        ({"afl_hz": [4, float("inf")]}, r"afl_hz=\[4, inf\]: expected a number > 0"),
        ({"af_bridge_s": -5}, r"af_bridge_s=-5: expected a number >= 0"),
    ):
        with pytest.raises(ArrhythmiaError, match=fragment):
            EpisodeConfig.from_value(wrong)


def test_a_long_rr_is_a_pause_unless_the_signal_was_lost():
    samples, labels = beats([0.8] * 10 + [2.6] + [0.8] * 10)
    pause = of_type(find_episodes(samples, labels, FS), "pause")
    assert len(pause) == 1 and pause["end_s"].iloc[0] - pause["start_s"].iloc[0] == pytest.approx(2.6, abs=0.01)
    lead_off = np.array([[samples[10] + 50, samples[11] - 50]])
    table = find_episodes(samples, labels, FS, lead_off)
    assert of_type(table, "pause").empty and len(of_type(table, "noise")) == 1
    assert of_type(find_episodes(samples, labels, FS, config=EpisodeConfig(pause_s=3.0)), "pause").empty


def test_irregular_rhythm_is_af_and_ectopy_in_sinus_rhythm_is_not():
    rng = np.random.default_rng(0)
    rr = np.concatenate([np.full(150, 0.8), rng.uniform(0.4, 1.0, 300), np.full(150, 0.8)])
    samples, labels = beats(rr)
    af = of_type(find_episodes(samples, labels, FS), "AF")
    assert len(af) == 1
    start, end = samples[150] / FS, samples[450] / FS
    assert abs(af["start_s"].iloc[0] - start) < 20 and abs(af["end_s"].iloc[0] - end) < 20

    # Sinus rhythm with a premature V beat and its pause every 5 beats: irregular RR, but not AF.
    rr = np.tile([0.8, 0.8, 0.8, 0.5, 1.1], 120)
    labels = np.tile(["N", "N", "N", "N", "V"], 121)[: len(rr) + 1]
    assert of_type(find_episodes(*beats(rr, list(labels)), FS), "AF").empty


def test_false_beats_in_noise_do_not_make_sinus_rhythm_af_and_true_af_stays():
    rng = np.random.default_rng(3)
    # Sinus rhythm at 75 bpm with two minutes of noise in the middle, where the detector found a false beat
    # at a random place inside every second interval: the intervals read as irregular.
    times = 1.0 + 0.8 * np.arange(400)
    false = times[150:300:2] + rng.uniform(0.25, 0.55, 75)
    samples = np.round(np.sort(np.concatenate([times, false])) * FS)
    labels = np.array(["N"] * len(samples))
    is_false = np.isin(samples, np.round(false * FS))
    in_noise = (samples >= times[150] * FS) & (samples <= times[300] * FS)
    likeness = np.where(is_false | np.roll(is_false, 1), 0.1, 0.95)  # a false beat, and the beat after it
    noise = np.where(in_noise, 0.08, 0.01)
    config = EpisodeConfig()
    off = EpisodeConfig(af_unalike_below=None)
    assert len(of_type(find_episodes(samples, labels, FS, config=off, beat_noise=(likeness, noise)), "AF")) == 1
    assert of_type(find_episodes(samples, labels, FS, config=config, beat_noise=(likeness, noise)), "AF").empty
    # True AF on a lead like V1: large fibrillation waves read as noise and blur the beats' likeness, but the
    # beats stay more alike than noise is (over ``af_unalike_below``, which is lower than VT's for that).
    rr = np.concatenate([np.full(150, 0.8), rng.uniform(0.4, 1.0, 300), np.full(150, 0.8)])
    samples, labels = beats(rr)
    blurred = np.full(len(samples), (config.af_unalike_below + config.vt_unalike_below) / 2)
    waves = (blurred, np.full(len(samples), 2 * config.af_noise_above))
    assert len(of_type(find_episodes(samples, labels, FS, config=config, beat_noise=waves), "AF")) == 1


def test_beats_in_a_burst_of_noise_set_no_heart_rate_and_no_hrv():
    # Sinus rhythm at 75 bpm for ten minutes with a minute of motion artefact: the detector missed beats there
    # (3 s gaps) and read noise as beats (0.3 s apart). A Holter's slowest and fastest heart rate came from it,
    # and a bradycardia; now the intervals around the noisy beats read as none, and neither does HRV.
    from arrhythmia.hourly import recording_hrv
    from arrhythmia.predict import summarise

    rng = np.random.default_rng(4)
    burst = np.concatenate([rng.choice([0.3, 3.0], 40), [0.8]])
    rr = np.concatenate([np.full(360, 0.8), burst, np.full(360, 0.8)])
    samples, labels = beats(rr)
    noise = np.full(len(samples), 0.01)
    noise[360:401] = 0.3
    beat_noise = (np.full(len(samples), 0.9), noise)
    table = pd.DataFrame({"sample": samples, "time_s": samples / FS, "label": labels})
    for config, reads_noise in ((EpisodeConfig(rate_noise_above=None), True), (EpisodeConfig(), False)):
        episodes = find_episodes(samples, labels, FS, config=config, beat_noise=beat_noise)
        rate = summarise(table, episodes=episodes)["heart_rate_bpm"]
        hrv = recording_hrv(samples / FS, labels, episodes)
        assert (rate["max"] > 100 or rate["min"] < 50) == reads_noise
        assert (abs(hrv["sdnn_ms"]) > 1.0) == reads_noise  # steady 0.8 s: no variation but the noise's
        assert of_type(episodes, "noisy").empty == reads_noise
    assert of_type(episodes, "bradycardia").empty and of_type(episodes, "tachycardia").empty
    noisy = of_type(episodes, "noisy")
    assert len(noisy) == 1 and noisy["start_s"].iloc[0] == pytest.approx(samples[359] / FS)
    # A recording noisy throughout keeps its heart rate: noise is read against its own median.
    steady = (np.full(len(samples), 0.9), np.full(len(samples), 0.3))
    assert of_type(find_episodes(samples, labels, FS, beat_noise=steady), "noisy").empty


def test_an_irregular_stretch_shorter_than_af_min_s_is_no_af_episode():
    rng = np.random.default_rng(1)

    def af_for(seconds: float, shortest_s: float) -> pd.DataFrame:
        """AF episodes of sinus rhythm with ``seconds`` of irregular rhythm in the middle."""
        rr = np.concatenate([np.full(150, 0.8), rng.uniform(0.4, 1.0, int(seconds / 0.7)), np.full(150, 0.8)])
        return of_type(find_episodes(*beats(rr), FS, config=EpisodeConfig(af_min_s=shortest_s)), "AF")

    assert len(af_for(45.0, 30.0)) == 1  # an episode by the clinical convention (--episode-setting af_min_s=30)
    assert af_for(45.0, 60.0).empty  # the default (chosen on DS1)
    assert af_for(20.0, 30.0).empty


def test_a_run_of_fast_s_beats_inside_af_is_af_not_svt():
    rng = np.random.default_rng(0)
    rr = np.concatenate([np.full(150, 0.8), rng.uniform(0.4, 1.0, 300), np.full(150, 0.8), [0.5] * 3, [0.8] * 20])
    rr[298:302] = 0.5  # inside the fibrillation: beats 299-302 at 120 bpm
    labels = ["N"] * (len(rr) + 1)
    labels[299:302] = ["S"] * 3  # called S: the fibrillation's fast ventricular response
    labels[601:604] = ["S"] * 3  # in sinus rhythm after it: a supraventricular run at 120 bpm
    samples, labels = beats(rr, labels)
    table = find_episodes(samples, labels, FS)
    assert len(of_type(table, "AF")) == 1
    svt = of_type(table, "SVT")
    assert len(svt) == 1 and svt["start_s"].iloc[0] == pytest.approx(samples[601] / FS)
    reported = of_type(find_episodes(samples, labels, FS, config=EpisodeConfig(svt_in_af=True)), "SVT")
    assert len(reported) == 2


def test_sustained_slow_and_fast_rates():
    rr = [0.8] * 40 + [1.5] * 30 + [0.8] * 40 + [0.5] * 80 + [0.8] * 40
    table = find_episodes(*beats(rr), FS)
    brady, tachy = of_type(table, "bradycardia"), of_type(table, "tachycardia")
    assert len(brady) == 1 and brady["end_s"].iloc[0] - brady["start_s"].iloc[0] >= 30
    assert len(tachy) == 1 and tachy["mean_hr_bpm"].iloc[0] == pytest.approx(120, abs=2)
    assert set(table["type"]) == {"bradycardia", "tachycardia"}


def test_no_episode_runs_through_a_lead_off_and_none_counts_its_minutes():
    # A lead that came off for 30 s: the beats either side of it are neighbours in the beat list, not in the
    # rhythm. Each episode has to end at the gap and begin again after it, or a tachycardia, a trigeminy, a
    # VT run and an AF episode would each count the minutes no one could see (at a mean rate of a few bpm).
    def across_gap(rr_before, rr_after, labels=None):
        samples, marks = beats([*rr_before, 30.0, *rr_after], labels)
        gap_start = samples[len(rr_before)] / FS + 0.5
        return samples, marks, np.array([[gap_start * FS, (gap_start + 29.0) * FS]])

    samples, labels, lost = across_gap([0.5] * 50, [0.5] * 50)  # 25 s of 120 bpm either side: neither 30 s
    table = find_episodes(samples, labels, FS, unanalysable=lost)
    assert of_type(table, "tachycardia").empty and len(of_type(table, "noise")) == 1
    samples, labels, lost = across_gap([0.5] * 80, [0.5] * 80)  # 40 s either side: two episodes
    tachy = of_type(find_episodes(samples, labels, FS, unanalysable=lost), "tachycardia")
    assert len(tachy) == 2 and (tachy["mean_hr_bpm"] > 110).all()

    pattern = ["N", "N", "V"] * 3
    samples, labels, lost = across_gap([0.8] * 17, [0.8] * 17, ["N"] * 9 + pattern + pattern + ["N"] * 9)
    assert of_type(find_episodes(samples, labels, FS, unanalysable=lost), "trigeminy").empty  # 3 + 3 cycles
    samples, labels, lost = across_gap([0.4] * 11, [0.4] * 11, ["N"] * 10 + ["V", "V"] + ["V", "V"] + ["N"] * 10)
    assert of_type(find_episodes(samples, labels, FS, unanalysable=lost), "VT").empty  # 2 + 2 V beats

    rng = np.random.default_rng(1)
    samples, labels, lost = across_gap(rng.uniform(0.4, 1.0, 100), rng.uniform(0.4, 1.0, 100))
    af = of_type(find_episodes(samples, labels, FS, unanalysable=lost, config=EpisodeConfig(af_min_s=30.0)), "AF")
    assert len(af) == 2 and (af["end_s"] - af["start_s"]).sum() < samples[-1] / FS - samples[0] / FS - 29.0


def test_a_sustained_rhythms_fastest_rate_is_read_as_the_summarys_not_from_one_premature_beat():
    # 45 bpm for a minute, one premature beat 0.5 s early inside it: a bradycardia whose fastest rate is
    # 45 bpm, as the summary's running median reads it (it said 120, the premature beat's); a VT run's
    # fastest rate stays its fastest beat's.
    rr = [0.8] * 20 + [1.333] * 20 + [0.5, 1.8] + [1.333] * 25 + [0.8] * 20 + [0.4, 0.35, 0.4] + [0.8] * 10
    labels = ["N"] * 88 + ["V"] * 3 + ["N"] * 10
    table = find_episodes(*beats(rr, labels), FS)
    brady, vt = of_type(table, "bradycardia"), of_type(table, "VT")
    assert len(brady) == 1 and brady["max_hr_bpm"].iloc[0] == pytest.approx(45, abs=1)
    assert len(vt) == 1 and vt["max_hr_bpm"].iloc[0] == pytest.approx(60 / 0.35, abs=1)


def test_no_beats_gives_an_empty_table_with_its_columns():
    table = find_episodes(np.zeros(0, np.int64), np.zeros(0, str), FS)
    assert table.empty and list(table.columns) == list(EPISODE_COLUMNS)


def test_unanalysable_finds_gaps_flat_and_saturated_stretches():
    ecg = synthetic_ecg(duration_s=60, fs=FS, seed=0).signal.astype(np.float64)
    assert len(unanalysable(ecg, FS)) == 0
    broken = ecg.copy()
    broken[int(10 * FS) : int(15 * FS)] = np.nan  # a gap
    broken[int(25 * FS) : int(30 * FS)] = 0.3  # a flat lead
    broken[int(40 * FS) : int(45 * FS)] = broken[np.isfinite(broken)].max() + 2.0  # at the rail
    stretches = unanalysable(broken, FS) / FS
    assert len(stretches) == 3
    for (start, end), (a, b) in zip(stretches, [(10, 15), (25, 30), (40, 45)]):
        assert a - 1 <= start <= a and b <= end <= b + 1
    assert unanalysable(np.full(100, np.nan), FS).tolist() == [[0, 100]]
    assert unanalysable(np.zeros(0), FS).shape == (0, 2)


def ecg_with_pauses(seed: int = 2) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """A 90 s synthetic ECG at FS (mV) with three beatless stretches, and where each is (s): a quiet pause
    (no beat, a little noise), the same length of 4 Hz ventricular-flutter-like waves as tall as the QRS
    complexes, and a recovering amplifier (a 3 mV jump that decays over seconds, the QRS complexes shrunk
    to nothing meanwhile)."""
    record = synthetic_ecg(duration_s=90, fs=FS, seed=seed)
    ecg, peaks = record.signal.astype(np.float64), record.r_peaks / FS
    rng = np.random.default_rng(seed)
    stretches = {}
    for kind, at in (("pause", 20.0), ("flutter", 45.0), ("recovery", 70.0)):
        before = peaks[peaks < at].max()  # the beat the stretch starts after
        a, b = int((before + 0.45) * FS), int((before + 4.0) * FS)  # past its T wave, 3.55 s without a beat
        t = np.arange(b - a) / FS
        if kind == "pause":
            ecg[a:b] = np.linspace(ecg[a], ecg[b], b - a) + 0.02 * rng.standard_normal(b - a)
        elif kind == "flutter":
            ecg[a:b] = np.linspace(ecg[a], ecg[b], b - a) + 0.8 * np.ptp(ecg) / 2 * np.sin(2 * np.pi * 4.0 * t)
        else:
            shrunk = 0.01 * (ecg[a:b] - np.linspace(ecg[a], ecg[b], b - a))
            ecg[a:b] = np.linspace(ecg[a], ecg[b], b - a) + shrunk + 3.0 * np.exp(-t / 1.2)
        stretches[kind] = (a / FS, b / FS)
    return ecg, stretches


def test_a_recovering_amplifier_is_unanalysable_and_a_quiet_pause_is_not():
    ecg, stretches = ecg_with_pauses()
    found = unanalysable(ecg, FS) / FS
    ((start, end),) = found  # the recovery alone
    a, b = stretches["recovery"]
    assert start <= a + 1 and end >= a + 2  # from its first second; the tail, back near the baseline, may be left
    assert len(unanalysable(ecg, FS, sweep_mv=None)) == 0  # the rule is what found it


def test_a_pause_is_quiet_and_flutter_waves_in_a_long_interval_are_no_pause():
    ecg, stretches = ecg_with_pauses()
    samples = np.round(synthetic_ecg(duration_s=90, fs=FS, seed=2).r_peaks).astype(np.int64)
    inside = [(samples / FS > a) & (samples / FS < b) for a, b in stretches.values()]
    samples = samples[~np.any(inside, axis=0)]  # no beat detected inside the three stretches
    activity = gap_activity(ecg, FS, samples)
    after = {kind: np.flatnonzero(samples / FS < a).max() for kind, (a, b) in stretches.items()}
    border = EpisodeConfig().pause_quiet_below
    assert activity[after["pause"]] < border / 2 and activity[after["flutter"]] > 2 * border
    rr = np.diff(samples) / FS
    assert np.isnan(activity[:-1][rr < 1.0]).all() and np.isnan(activity[-1])
    labels = np.array(["N"] * len(samples))
    pauses = of_type(find_episodes(samples, labels, FS, gap_activity=activity), "pause")
    assert pauses["start_s"].tolist() == [pytest.approx(samples[after["pause"]] / FS)]  # the jump is loud too
    every = EpisodeConfig(pause_quiet_below=None)
    assert len(of_type(find_episodes(samples, labels, FS, config=every, gap_activity=activity), "pause")) == 3
    # Each rule on its own: without the quiet rule the recovery is still noise, not a pause.
    table = find_episodes(samples, labels, FS, unanalysable(ecg, FS), every, gap_activity=activity)
    assert len(of_type(table, "pause")) == 2 and len(of_type(table, "noise")) == 1


def test_predict_reports_the_quiet_pause_alone(tmp_path):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording

    ecg, stretches = ecg_with_pauses()
    model = load_classifier(None, "torch", None, device="cpu")
    result = label_recording(Recording(ecg, FS, "synthetic", tmp_path / "rec.csv"), model)
    pauses, noise = of_type(result.episodes, "pause"), of_type(result.episodes, "noise")
    (start, end), recovery = stretches["pause"], stretches["recovery"]
    assert len(pauses) == 1 and pauses["start_s"].iloc[0] < start and pauses["end_s"].iloc[0] > end
    assert len(noise) == 1 and noise["start_s"].iloc[0] <= recovery[0] + 1 < noise["end_s"].iloc[0]
    gap = result.beats["gap_activity"].to_numpy()
    assert np.isfinite(gap).sum() >= 2 and np.nanmin(gap) < EpisodeConfig().pause_quiet_below


def test_predict_writes_episodes_and_a_lead_off_is_noise_not_a_pause(tmp_path):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording, save_recording

    # 4 minutes: with its ectopic beats and their pauses left out, over a minute of NN intervals for HRV
    ecg = synthetic_ecg(duration_s=240, fs=FS, seed=1).signal.astype(np.float64)
    ecg[int(50 * FS) : int(58 * FS)] = 0.0  # the lead comes off for 8 s
    model = load_classifier(None, "torch", None, device="cpu")
    result = label_recording(Recording(ecg, FS, "synthetic", tmp_path / "rec.csv"), model)
    types = set(result.episodes["type"])
    assert "noise" in types and "pause" not in types
    summary = save_recording(result, tmp_path / "out", {}, model.classes)
    written = pd.read_csv(tmp_path / "out" / "episodes.csv")
    assert list(written.columns) == list(EPISODE_COLUMNS) and summary["episodes"]["noise"] == 1
    assert summary["unanalysable_s"] == pytest.approx(8.0, abs=1.0) and summary["noisy_s"] == 0.0
    hourly = pd.read_csv(tmp_path / "out" / "hourly.csv")
    assert len(hourly) == 1 and hourly["analysable_min"].iloc[0] == pytest.approx(232 / 60, abs=0.05)
    assert set(summary["hrv"]) == {"sdnn_ms", "rmssd_ms", "pnn50", "nn_intervals", "edited_out_percent"}

    # A lead that never gives a beat: no beats, a noise episode, one hourly row, and no HRV, said so.
    with pytest.warns(UserWarning, match="fewer than two beats"):
        flat = label_recording(Recording(np.zeros(int(30 * FS)), FS, "flat", tmp_path / "flat.csv"), model)
    summary = save_recording(flat, tmp_path / "flat", {}, model.classes)
    assert flat.beats.empty and flat.episodes["type"].tolist() == ["noise"] and len(flat.hourly) == 1
    assert "no HRV" in summary["hrv"]


# --- the hourly table and HRV -------------------------------------------------------------------


def test_hourly_table_has_a_row_per_hour_and_a_partial_last_one():
    from arrhythmia.hourly import hourly_table

    rng = np.random.default_rng(0)
    rr = rng.normal(0.8, 0.03, int(2.5 * 3600 / 0.8))
    labels = ["N"] * (len(rr) + 1)
    labels[100], labels[101] = "V", "V"  # a couplet in the first hour
    samples, labels = beats(rr, labels)
    times, duration = samples / FS, samples[-1] / FS + 0.5
    table = hourly_table(times, labels, duration, find_episodes(samples, labels, FS))
    assert len(table) == 3 and table["end_s"].iloc[-1] == pytest.approx(duration)
    assert table["beats"].sum() == len(samples) and table["V"].tolist() == [2, 0, 0]
    assert table["v_couplets"].tolist() == [1, 0, 0]
    assert table["hr_mean"].to_numpy() == pytest.approx(75, abs=1)
    nn = np.diff(times[(times >= 3600) & (times < 7200)])
    assert table["sdnn_ms"].iloc[1] == pytest.approx(1000 * np.std(nn, ddof=1), rel=0.02)
    assert table["analysable_min"].iloc[0] == pytest.approx(60.0)


def test_an_hours_af_minutes_are_analysable_minutes_and_an_hour_without_nn_has_no_edited_share():
    from arrhythmia.hourly import hourly_table

    times = np.arange(0.5, 3000, 0.6)
    labels = np.array(["N"] * len(times))
    episodes = pd.DataFrame(
        [
            {"type": "AF", "start_s": 0.0, "end_s": 1800.0},  # AF, 10 of its minutes with the lead off
            {"type": "noise", "start_s": 1200.0, "end_s": 2400.0},
        ]
    ).reindex(columns=EPISODE_COLUMNS)
    row = hourly_table(times, labels, 3000.0, episodes).iloc[0]
    assert row["analysable_min"] == pytest.approx(30.0) and row["af_min"] == pytest.approx(20.0)
    assert row["af_min"] <= row["analysable_min"]
    in_af = hourly_table(times[times < 1800], labels[times < 1800], 1800.0, episodes.iloc[:1]).iloc[0]
    assert in_af["af_min"] == pytest.approx(30.0)
    assert np.isnan(in_af["nn_edited_out_percent"])  # no NN interval to edit: not "0 % edited out"


def test_with_a_start_time_the_hourly_rows_are_clock_hours():
    from datetime import datetime, time

    from arrhythmia.hourly import hourly_table

    rr = [0.8] * int(2.5 * 3600 / 0.8)
    samples, labels = beats(rr)
    times, duration = samples / FS, samples[-1] / FS + 0.5
    episodes = find_episodes(samples, labels, FS)
    table = hourly_table(times, labels, duration, episodes, start=datetime(2026, 11, 28, 10, 23, 5))
    # 10:23:05 to 11:00, 11:00 to 12:00, 12:00 to 12:53:05
    assert table["start_s"].tolist() == pytest.approx([0.0, 2215.0, 5815.0])
    assert table["end_s"].tolist() == pytest.approx([2215.0, 5815.0, duration])
    assert table["clock"].tolist() == ["2026-11-28 10:23:05", "2026-11-28 11:00:00", "2026-11-28 12:00:00"]
    assert table["beats"].sum() == len(samples)
    # A time of day without a date (a WFDB header's base time alone) crosses midnight by the clock.
    late = hourly_table(times, labels, duration, episodes, start=time(23, 15))
    assert late["clock"].tolist() == ["23:15:00", "00:00:00", "01:00:00"]
    # Without a start: hours from the start, and no clock.
    plain = hourly_table(times, labels, duration, episodes)
    assert plain["start_s"].tolist() == [0.0, 3600.0, 7200.0] and set(plain["clock"]) == {""}


def test_a_recording_of_several_days_names_the_day_of_each_clock_hour():
    """A 7- or 14-day patch recording comes to the same hours of the clock again: the report's hourly rows say
    which day (by the calendar: the first night's hours after midnight are day 2); a day or less, no day."""
    from datetime import datetime, time

    from arrhythmia.data.clock import day_of
    from arrhythmia.hourly import hourly_table
    from arrhythmia.recording_report import _hourly_html

    assert [day_of(time(22, 0), s) for s in (0.0, 7199.0, 7200.0, 25 * 3600.0, 26 * 3600.0)] == [1, 1, 2, 2, 3]
    assert [day_of(None, s) for s in (0.0, 86399.0, 86400.0)] == [1, 1, 2]
    times = np.arange(0.0, 50 * 3600.0, 30.0)  # a beat every 30 s is enough for the table's rows
    labels = np.full(len(times), "N")
    no_episodes = pd.DataFrame(columns=list(EPISODE_COLUMNS))
    start = datetime(2026, 11, 28, 10, 23, 5)
    page = _hourly_html(hourly_table(times, labels, 50 * 3600.0, no_episodes, start=start), ("N",), start)
    rows = re.findall(r"<td>((?:day \d+ )?\d\d:\d\d-\d\d:\d\d)</td>", page)
    assert rows[0] == "day 1 10:23-11:00" and rows[13] == "day 1 23:00-00:00" and rows[14] == "day 2 00:00-01:00"
    assert rows[-1] == "day 3 12:00-12:23" and len(rows) == len(set(rows)) == 51
    one_day = _hourly_html(hourly_table(times[:240], labels[:240], 7200.0, no_episodes, start=start), ("N",), start)
    assert "day " not in one_day and "10:23-11:00" in one_day


def test_under_a_minute_of_nn_intervals_gives_no_hrv(tmp_path):
    from arrhythmia.hourly import hourly_table, hrv, nn_intervals

    samples, labels = beats([0.8] * 50)  # 40 s
    times = samples / FS
    assert all(np.isnan(v) for v in hrv(nn_intervals(times, labels)).values())
    table = hourly_table(times, labels, 42.0, find_episodes(samples, labels, FS))
    assert len(table) == 1 and np.isnan(table["rmssd_ms"].iloc[0]) and table["N"].iloc[0] == 51


def test_nn_intervals_leave_out_ectopic_beats_and_lost_signal():
    from arrhythmia.hourly import nn_intervals

    times = np.arange(10, dtype=float)
    labels = np.array(["N"] * 10)
    labels[4] = "V"
    nn = nn_intervals(times, labels, np.array([[7.2, 7.8]]))
    assert nn[:, 0].tolist() == [1, 2, 3, 6, 7, 9]  # not 4 or 5 (next to the V beat), not 8 (across the gap)


def test_nn_intervals_leave_out_a_change_of_more_than_a_fifth():
    from arrhythmia.hourly import nn_intervals

    # 0.8 s intervals; a missed beat makes one 1.6 s, and 0.95 s is a change of 19%
    times = np.cumsum([0.0, 0.8, 0.8, 1.6, 0.8, 0.8, 0.95, 0.8])
    labels = np.array(["N"] * len(times))
    kept = nn_intervals(times, labels)[:, 1]
    # the long interval, and the one after it (a change against the long one), are out; 0.95 and 0.8 stay
    assert kept.tolist() == pytest.approx([0.8, 0.8, 0.8, 0.95, 0.8])
    assert len(nn_intervals(times, labels, max_change=None)) == 7
    # an interval after a non-NN interval (next to a V beat) is compared with nothing, and stays
    labels[3] = "V"
    assert nn_intervals(times, labels)[:, 1].tolist() == pytest.approx([0.8, 0.8, 0.8, 0.95, 0.8])


def test_recording_hrv_says_how_much_the_editing_left_out():
    from arrhythmia.hourly import HRV_EDITED_OUT_ABOVE, hourly_table, recording_hrv

    rng = np.random.default_rng(5)
    sinus = 0.8 + 0.02 * rng.standard_normal(200)
    samples, labels = beats(list(sinus))
    steady = recording_hrv(samples / FS, labels, find_episodes(samples, labels, FS))
    assert steady["edited_out_percent"] == 0.0 and steady["nn_intervals"] == 200 and steady["sdnn_ms"] < 30
    # every 10th interval 40% short and the next as long (an atrial premature beat labelled N, too rare for AF):
    # the short, the long and the one after it change by more than 20%, so the HRV is marked
    rr = sinus.copy()
    rr[::10] *= 0.6
    rr[1::10] *= 1.4
    samples, labels = beats(list(rr))
    episodes = find_episodes(samples, labels, FS)
    assert not len(of_type(episodes, "AF"))
    ectopy = recording_hrv(samples / FS, labels, episodes)
    assert ectopy["edited_out_percent"] > HRV_EDITED_OUT_ABOVE
    assert ectopy["nn_intervals"] < 200 * 0.8
    hourly = hourly_table(samples / FS, labels, samples[-1] / FS + 1, episodes)
    assert hourly["nn_edited_out_percent"].iloc[0] == pytest.approx(ectopy["edited_out_percent"])


def test_hrv_leaves_out_pauses_and_atrial_fibrillation():
    from arrhythmia.hourly import hourly_table, hrv, hrv_excluded, nn_intervals

    rng = np.random.default_rng(3)
    sinus = list(0.8 + 0.02 * rng.standard_normal(100))
    rr = sinus + [3.0] + sinus + list(rng.uniform(0.5, 1.1, 200)) + sinus  # a 3 s pause, then AF
    samples, labels = beats(rr)
    episodes = find_episodes(samples, labels, FS)
    assert of_type(episodes, "pause").shape[0] == 1 and of_type(episodes, "AF").shape[0] == 1
    times = samples / FS
    everything = nn_intervals(times, labels, max_change=None)  # the episodes' share alone, unedited
    nn = nn_intervals(times, labels, hrv_excluded(episodes), max_change=None)
    assert nn[:, 1].max() < 2.0  # no pause
    af = of_type(episodes, "AF").iloc[0]
    assert not ((nn[:, 0] > af["start_s"]) & (nn[:, 0] <= af["end_s"])).any()  # nothing from inside the AF
    assert len(everything) - len(nn) > 150
    # mostly the sinus intervals (SD 20 ms) are left, and a few at the AF episode's edges, which the
    # irregularity window does not reach: far from what the pause and the AF gave
    assert hrv(nn)["sdnn_ms"] < 50 < 100 < hrv(everything)["sdnn_ms"]
    table = hourly_table(times, labels, times[-1] + 1, episodes)
    assert table["sdnn_ms"].iloc[0] == pytest.approx(
        hrv(nn_intervals(times, labels, hrv_excluded(episodes)))["sdnn_ms"]
    )


# --- the recording report ------------------------------------------------------------------------


def _report(tmp_path, signal: np.ndarray, name: str, adapt: dict | None = None, start=None, events=()):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording, save_recording
    from arrhythmia.recording_report import write_recording_report

    model = load_classifier(None, "torch", None, device="cpu")
    recording = Recording(signal, FS, "synthetic", tmp_path / f"{name}.csv", start=start, events=events)
    result = label_recording(recording, model, adapt=adapt or True)
    summary = save_recording(result, tmp_path / name, {"model": model.model_name}, model.classes)
    return write_recording_report(recording, result, summary, model.window, tmp_path / name)


def test_recording_report_is_self_contained_and_has_its_sections(tmp_path):
    import re

    ecg = synthetic_ecg(duration_s=240, fs=FS, seed=2).signal.astype(np.float64)  # over a minute of NN intervals
    ecg[int(100 * FS) : int(106 * FS)] = 0.0
    page = _report(tmp_path, ecg, "rec").read_text()
    for section in ("Heart rate", "Hourly table", "Ectopy", "Episodes", "Event strips", "RR intervals"):
        assert f"<h2>{section}</h2>" in page
    assert "Fastest heart rate" in page and "Slowest heart rate" in page and "noise" in page
    assert "atrial fibrillation, atrial flutter, ventricular flutter or fibrillation, pauses" in page  # HRV over what
    assert "NN intervals; the 20% rule left out" in page
    assert "a pause is a quiet RR interval of 2 s or more" in page and "at least 3 and 4 V beats" in page
    images = re.findall(r'<img src="([^"]*)"', page)
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_a_recording_with_a_start_time_is_read_by_the_clock(tmp_path):
    from datetime import datetime

    ecg = synthetic_ecg(duration_s=240, fs=FS, seed=2).signal.astype(np.float64)
    page = _report(tmp_path, ecg, "clocked", start=datetime(2026, 11, 28, 10, 59), events=((30.0, "chest pain"),))
    page = page.read_text()
    events = pd.read_csv(tmp_path / "clocked" / "events.csv", keep_default_na=False)
    assert events["event"].tolist() == ["chest pain"] and events["clock"].tolist() == ["2026-11-28 10:59:30"]
    assert read_json(tmp_path / "clocked" / "summary.json")["patient_events"] == 1
    assert "<h2>Patient events</h2>" in page and "Patient event at 0:00:30 (2026-11-28 10:59:30): chest pain" in page
    assert read_json(tmp_path / "clocked" / "summary.json")["start_time"] == "2026-11-28T10:59:00"
    hourly = pd.read_csv(tmp_path / "clocked" / "hourly.csv")
    assert hourly["clock"].tolist() == ["2026-11-28 10:59:00", "2026-11-28 11:00:00"]  # the clock's hours
    assert hourly["end_s"].tolist() == pytest.approx([60.0, 240.0])
    assert "started 2026-11-28 10:59:00" in page and "<td>10:59-11:00</td>" in page and "<td>11:00-11:03</td>" in page
    unclocked = _report(tmp_path, ecg, "unclocked").read_text()
    assert read_json(tmp_path / "unclocked" / "summary.json")["start_time"] is None
    assert "started" not in unclocked and "<td>00:00-00:04</td>" in unclocked  # its 4 minutes, not an hour
    assert "Patient events" not in unclocked and not (tmp_path / "unclocked" / "events.csv").exists()


def test_patient_events_get_the_rhythm_around_them():
    from datetime import time

    from arrhythmia.diary import EVENT_COLUMNS, patient_events

    rr = [0.8] * 60 + [0.4] * 5 + [0.8] * 60
    samples, labels = beats(rr, ["N"] * 61 + ["V"] * 5 + ["N"] * 60)
    times = samples / FS
    episodes = find_episodes(samples, labels, FS)
    vt_at = float(times[61])
    table = patient_events([(vt_at + 2, "palpitations"), (5.0, "dizzy")], times, labels, episodes, time(9, 0))
    assert list(table.columns) == list(EVENT_COLUMNS) and table["event"].tolist() == ["palpitations", "dizzy"]
    felt, calm = table.iloc[0], table.iloc[1]
    assert felt["episodes"] == "VT" and "V 5" in felt["beats"] and felt["clock"] == "09:00:51"
    assert calm["episodes"] == "" and calm["beats"].startswith("N ") and calm["heart_rate_bpm"] == pytest.approx(75)
    assert patient_events([], times, labels, episodes).empty


def test_the_report_warns_on_a_lead_other_than_mlii_or_lead_ii(tmp_path):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording, save_recording
    from arrhythmia.recording_report import render_recording_report

    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=2).signal.astype(np.float64)
    model = load_classifier(None, "torch", None, device="cpu")
    for lead, warned in (("V1", True), ("CM5", True), ("MLII", False), ("ECG II", False), ("ECG1", False)):
        recording = Recording(ecg, FS, lead, tmp_path / "rec.csv")
        result = label_recording(recording, model)
        summary = save_recording(result, tmp_path / lead, {"model": model.model_name}, model.classes)
        page = render_recording_report(recording, result, summary, {})
        assert (f"Lead {lead}: the shipped models learnt from MLII" in page) is warned, lead


def test_the_report_says_when_a_review_is_recommended(tmp_path):
    ecg = synthetic_ecg(duration_s=180, fs=FS, seed=2).signal.astype(np.float64)
    # a synthetic recording is far from the patients the model learned from: the adaptation changes a lot
    marked = _report(tmp_path, ecg, "marked").read_text()
    changed = read_json(tmp_path / "marked" / "summary.json")["adaptation"]["changed_percent"]
    assert changed > 8.0 and f"changed {changed:.1f}% of the network" in marked and "Review recommended" in marked
    unmarked = _report(tmp_path, ecg, "unmarked", adapt={"review_above_percent": None}).read_text()
    assert "Review recommended" not in unmarked


def test_a_recording_without_beats_gets_a_report_that_says_so(tmp_path):
    with pytest.warns(UserWarning, match="fewer than two beats"):
        page = _report(tmp_path, np.zeros(int(40 * FS)), "flat").read_text()
    assert "No beats were found" in page and "no HRV" in page


@pytest.mark.skipif(
    __import__("shutil").which("chromium") is None, reason="chromium not installed (apt-get install chromium)"
)
def test_recording_report_renders_in_headless_chromium(tmp_path):
    import subprocess

    from PIL import Image

    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=3).signal.astype(np.float64)
    report = _report(tmp_path, ecg, "rec")
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--enable-logging=stderr",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            f"--screenshot={shot}",
            "--window-size=1280,3000",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert "CONSOLE" not in done.stderr and "Failed to load" not in done.stderr
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # text, tables and figures, not a blank page


def test_an_irregular_rhythm_with_p_waves_is_not_af():
    rng = np.random.default_rng(1)
    rr = rng.uniform(0.5, 1.1, 300)  # irregular throughout, as in sinus arrhythmia with atrial ectopy
    samples, labels = beats(rr)
    with_p = np.full(len(samples), 0.95)  # every P wave like its neighbours
    without_p = np.full(len(samples), 0.3)  # fibrillatory waves
    assert of_type(find_episodes(samples, labels, FS, p_wave=with_p), "AF").empty
    assert len(of_type(find_episodes(samples, labels, FS, p_wave=without_p), "AF")) == 1
    # P waves unknown (NaN, or not given, or the check off): the rhythm alone decides
    assert len(of_type(find_episodes(samples, labels, FS, p_wave=np.full(len(samples), np.nan)), "AF")) == 1
    assert len(of_type(find_episodes(samples, labels, FS), "AF")) == 1
    rhythm_only = EpisodeConfig(af_p_wave_below=None)
    assert len(of_type(find_episodes(samples, labels, FS, config=rhythm_only, p_wave=with_p), "AF")) == 1


def test_beats_in_are_the_beats_inside_the_episodes_of_a_type():
    from arrhythmia.episodes import beats_in

    rng = np.random.default_rng(2)
    rr = np.concatenate([[0.8] * 100, rng.uniform(0.5, 1.1, 200), [0.8] * 100])  # sinus, AF, sinus
    samples, labels = beats(rr)
    episodes = find_episodes(samples, labels, FS)
    af = of_type(episodes, "AF")
    assert len(af) == 1
    times = samples / FS
    inside = beats_in(samples, FS, episodes, "AF")
    np.testing.assert_array_equal(inside, (times >= af["start_s"].iloc[0]) & (times <= af["end_s"].iloc[0]))
    assert 150 < inside.sum() < 250 and inside[200] and not inside[:50].any()  # beats 100-300 are AF
    assert not beats_in(samples, FS, episodes, "VT").any()


def test_predict_finds_af_where_the_p_waves_are_gone_not_where_the_rhythm_is_merely_irregular():
    from conftest import irregular_ecg

    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording

    model = load_classifier(None, "torch", None, device="cpu")
    for p_waves in (True, False):
        signal, fs, _ = irregular_ecg(p_waves)
        result = label_recording(Recording(signal, fs, "MLII", "irregular"), model)
        assert "p_wave" in result.beats
        af = of_type(result.episodes, "AF")
        assert af.empty if p_waves else len(af) == 1 and af["end_s"].iloc[0] - af["start_s"].iloc[0] > 150


# --- ventricular flutter ------------------------------------------------------------------------


def ecg_with_flutter(fs: float, seed: int = 3) -> tuple[np.ndarray, tuple[float, float]]:
    """A 120 s synthetic ECG at ``fs`` (mV) whose seconds 50-62 are ventricular flutter: one wave at about
    3.5 Hz (210 a minute), as tall as the QRS complexes, drifting a little in rate and size, with noise."""
    ecg = synthetic_ecg(duration_s=120, fs=fs, seed=seed).signal.astype(np.float64)
    rng = np.random.default_rng(seed)
    a, b = int(50 * fs), int(62 * fs)
    t = np.arange(b - a) / fs
    phase = 2 * np.pi * np.cumsum(3.5 + 0.3 * np.sin(2 * np.pi * 0.2 * t)) / fs
    size = 0.45 * np.ptp(ecg) * (1 + 0.15 * np.sin(2 * np.pi * 0.3 * t))
    ecg[a:b] = size * np.sin(phase) + 0.02 * rng.standard_normal(b - a)
    return ecg, (50.0, 62.0)


@pytest.mark.parametrize("fs", [128.0, 250.0, 360.0])
def test_ventricular_flutter_is_found_from_the_signal_and_sinus_rhythm_is_not(fs):
    from arrhythmia.data.ventricular import ventricular_flutter

    ecg, (start, end) = ecg_with_flutter(fs)
    ((found_start, found_end),) = ventricular_flutter(ecg, fs) / fs
    assert abs(found_start - start) <= 1.5 and abs(found_end - end) <= 1.5
    sinus = synthetic_ecg(duration_s=120, fs=fs, seed=4).signal.astype(np.float64)
    assert len(ventricular_flutter(sinus, fs)) == 0
    assert ventricular_flutter(sinus[: int(fs)], fs).shape == (0, 2)  # shorter than a window


def test_vf_episodes_take_the_beats_inside_them_out_of_the_other_episodes():
    samples, labels = beats([0.8] * 40 + [3.0] + [0.3] * 6 + [3.0] + [0.8] * 40, ["N"] * 41 + ["V"] * 7 + ["N"] * 41)
    flutter = np.array([[samples[40] + 10, samples[48] - 10]])  # covers the run and the two long gaps
    table = find_episodes(samples, labels, FS, ventricular=flutter)
    assert set(table["type"]) == {"VF"} and table["beats"].iloc[0] == 7
    without = find_episodes(samples, labels, FS)  # what the beats alone say: pauses and a VT run
    assert {"pause", "VT"} <= set(without["type"])
    assert set(
        find_episodes(samples, labels, FS, config=EpisodeConfig(vf_min_s=None), ventricular=flutter)["type"]
    ) >= {"VT"}
    short = EpisodeConfig(vf_min_s=30.0)  # the stretch is shorter: no VF
    assert "VF" not in set(find_episodes(samples, labels, FS, config=short, ventricular=flutter)["type"])


def test_predict_reports_ventricular_flutter(tmp_path):
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import label_recording

    ecg, (start, end) = ecg_with_flutter(FS)
    model = load_classifier(None, "torch", None, device="cpu")
    result = label_recording(Recording(ecg, FS, "synthetic", tmp_path / "rec.csv"), model)
    vf = of_type(result.episodes, "VF")
    assert len(vf) == 1 and abs(vf["start_s"].iloc[0] - start) <= 1.5 and abs(vf["end_s"].iloc[0] - end) <= 1.5
    inside = result.episodes[(result.episodes["start_s"] < end) & (result.episodes["end_s"] > start)]
    assert set(inside["type"]) == {"VF"}  # no pause, VT or slow rate made of its waves


def test_the_heart_rate_leaves_out_ventricular_flutter_and_noise():
    from arrhythmia.hourly import hourly_table
    from arrhythmia.predict import summarise

    rr = [0.8] * 60 + [2.5] * 4 + [0.8] * 60  # four slow "beats": waves of a flutter the detector half found
    samples, labels = beats(rr)
    times = samples / FS
    flutter = np.array([[samples[60] + 10, samples[64] - 10]])
    table = pd.DataFrame({"sample": samples, "time_s": times, "label": labels})
    episodes = find_episodes(samples, labels, FS, ventricular=flutter)
    assert of_type(episodes, "VF")["beats"].tolist() == [3]
    assert summarise(table)["heart_rate_bpm"]["min"] < 40  # read from the flutter's waves
    assert summarise(table, episodes=episodes)["heart_rate_bpm"]["min"] == pytest.approx(75, abs=1)
    hourly = hourly_table(times, labels, times[-1] + 1, episodes)
    assert hourly["hr_min"].iloc[0] == pytest.approx(75, abs=1)


def test_the_drawn_heart_rate_and_rr_intervals_break_across_lost_signal():
    from arrhythmia.hourly import readable_heart_rate

    rr = [0.8] * 60 + [4.0] + [0.8] * 60  # one 4 s "interval" across a lead that came off
    samples, labels = beats(rr)
    times = samples / FS
    episodes = find_episodes(samples, labels, FS, unanalysable=np.array([[samples[60] + 50, samples[61] - 50]]))
    assert of_type(episodes, "pause").empty
    drawn = readable_heart_rate(times, episodes)
    assert drawn.shape == (len(times) - 1,) and np.isnan(drawn[60]) and np.isnan(drawn).sum() == 1
    assert drawn[np.isfinite(drawn)] == pytest.approx(75)  # no interval across the gap pulls the medians
    assert np.isfinite(readable_heart_rate(times, None)).all()


def test_a_run_of_noise_read_as_beats_sets_no_heart_rate():
    from arrhythmia.predict import summarise

    rr = [0.8] * 60 + [0.2] * 8 + [0.8] * 60  # eight "beats" 200 ms apart: noise the detector read as beats
    samples, labels = beats(rr, ["N"] * 61 + ["V"] * 7 + ["N"] * 61)
    likeness, noise = np.full(len(samples), 0.95), np.full(len(samples), 0.01)
    likeness[61:68], noise[61:68] = 0.0, 0.1
    episodes = find_episodes(samples, labels, FS, beat_noise=(likeness, noise))
    assert of_type(episodes, "VT").empty and len(of_type(episodes, "artefact")) == 1
    table = pd.DataFrame({"sample": samples, "time_s": samples / FS, "label": labels})
    assert summarise(table)["heart_rate_bpm"]["max"] > 150  # read from the noise
    assert summarise(table, episodes=episodes)["heart_rate_bpm"]["max"] == pytest.approx(75, abs=1)


def test_a_vt_run_of_unalike_beats_in_noise_is_not_listed():
    rr = [0.8] * 20 + [0.4] * 4 + [0.8] * 20
    samples, labels = beats(rr, ["N"] * 21 + ["V"] * 4 + ["N"] * 20)
    run = slice(21, 25)

    def vt_with(likeness: float, noise: float, config: EpisodeConfig | None = None) -> int:
        alike, noisy = np.full(len(samples), 0.95), np.full(len(samples), 0.01)
        alike[run], noisy[run] = likeness, noise
        table = find_episodes(samples, labels, FS, config=config, beat_noise=(alike, noisy))
        assert len(of_type(table, "VT")) + len(of_type(table, "artefact")) == 1  # each run listed as one or other
        return len(of_type(table, "VT"))

    border = EpisodeConfig()
    unalike, noisy = border.vt_unalike_below - 0.2, border.vt_noise_above * 2
    assert vt_with(unalike, noisy) == 0  # noise the detector read as beats
    assert vt_with(0.9, noisy) == 1  # a true run in noise repeats one shape
    assert vt_with(unalike, border.vt_noise_above / 2) == 1  # beats of several shapes in a quiet signal
    assert vt_with(unalike, noisy, EpisodeConfig(vt_unalike_below=None)) == 1
    assert vt_with(np.nan, np.nan) == 1  # unknown: listed
    assert len(of_type(find_episodes(samples, labels, FS), "VT")) == 1  # no measures given: listed


def test_beat_noise_reads_the_noise_around_each_beat_and_its_likeness_to_the_one_before():
    from scipy import signal as sps

    from arrhythmia.data.quality import beat_noise

    record = synthetic_ecg(duration_s=90, fs=FS, seed=4, class_mix={"N": 1.0})
    ecg, peaks = record.signal.astype(np.float64), np.round(record.r_peaks).astype(np.int64)
    likeness, noise = beat_noise(ecg, FS, peaks)
    assert likeness.shape == noise.shape == peaks.shape and np.isnan(likeness[0])
    assert np.nanmin(likeness[1:]) > 0.9 and np.nanmax(noise) < EpisodeConfig().vt_noise_above
    # Noise in the QRS band from 30 to 60 s, its RMS a tenth of the signal's range: noisy there alone.
    band = sps.sosfiltfilt(
        sps.butter(2, (5, 30), "bandpass", fs=FS, output="sos"), np.random.default_rng(0).standard_normal(len(ecg))
    )
    stretch = slice(int(30 * FS), int(60 * FS))
    noisy = ecg.copy()
    noisy[stretch] += 0.1 * np.ptp(ecg) * band[stretch] / band[stretch].std()
    inside = (peaks > 33 * FS) & (peaks < 57 * FS)
    outside = (peaks < 27 * FS) | (peaks > 63 * FS)
    _, noise = beat_noise(noisy, FS, peaks)
    assert noise[inside].min() > 2 * EpisodeConfig().vt_noise_above > noise[outside].max()
    # "Beats" the detector found in the noise alone look like nothing before them.
    fake = np.arange(int(40 * FS), int(50 * FS), int(0.37 * FS))
    fake = fake[np.abs(fake[:, None] - peaks[None, :]).min(axis=1) > 0.2 * FS]
    together = np.sort(np.concatenate([peaks, fake]))
    likeness, _ = beat_noise(noisy, FS, together)
    assert np.median(likeness[np.isin(together, fake)]) < EpisodeConfig().vt_unalike_below
    assert np.all(np.isnan(beat_noise(ecg[:100], FS, peaks[:1])))  # too short to measure


@needs_mitdb
def test_on_a_real_record_noise_makes_far_fewer_vt_runs_and_a_clean_record_keeps_its_own():
    """MIT-BIH 106 (MLII), with 1-10 Hz noise in bursts at 12 dB SNR (QRS peak-to-peak squared / 8 over the
    noise's power; the band of the QRS complex, as an electrode that moves): the detector reads some of the
    noise as beats and the model calls them V, making VT runs that hold no three annotated V beats. Leaving
    out the runs of unlike beats in noise removes most of them; on the clean record it removes none."""
    from scipy import signal as sps

    from arrhythmia.data.recording import read_input
    from arrhythmia.data.wfdb_source import read_beat_annotations
    from arrhythmia.export import load_classifier
    from arrhythmia.predict import BEAT_NOISE_COLUMNS, label_recording

    record = read_input(MITDB / "106")
    fs, clean = record.fs, record.signal.astype(np.float64)
    samples, symbols = read_beat_annotations(MITDB / "106")
    annotated_v = samples[np.asarray(symbols) == "V"] / fs
    rng = np.random.default_rng(106)
    noise = sps.sosfiltfilt(sps.butter(4, (1, 10), "bandpass", fs=fs, output="sos"), rng.standard_normal(len(clean)))
    envelope = sps.sosfiltfilt(sps.butter(2, 0.05, fs=fs, output="sos"), rng.standard_normal(len(clean)))
    noise *= np.clip(envelope / envelope.std(), 0.0, None)
    p2p = np.median([np.ptp(clean[max(s - 18, 0) : s + 19]) for s in samples])
    noise *= np.sqrt(p2p**2 / 8 / 10 ** (12 / 10)) / noise.std()
    model = load_classifier(None, "torch", None, device="cpu")

    def vt_runs(signal: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The VT episodes as predict lists them, as every run would be listed, and the artefacts."""
        result = label_recording(Recording(signal, fs, "MLII", "106"), model)
        beats = result.beats[result.beats["label"] != ""]
        every = find_episodes(
            beats["time_s"].to_numpy() * fs,
            beats["label"].to_numpy(str),
            fs,
            result.unanalysable,
            beat_noise=tuple(beats[c].to_numpy() for c in BEAT_NOISE_COLUMNS),
            config=EpisodeConfig(vt_unalike_below=None),
        )
        return of_type(result.episodes, "VT"), of_type(every, "VT"), of_type(result.episodes, "artefact")

    def false_runs(vt: pd.DataFrame) -> int:
        return sum(
            ((annotated_v >= a - 0.15) & (annotated_v <= b + 0.15)).sum() < 3 for a, b in zip(vt.start_s, vt.end_s)
        )

    listed, every, artefacts = vt_runs(clean + noise)
    assert false_runs(every) >= 10 and false_runs(listed) < 0.5 * false_runs(every)
    assert len(listed) + len(artefacts) == len(every)  # the runs left out are listed apart, as artefacts
    listed, every, artefacts = vt_runs(clean)
    assert len(every) > 0 and listed[["start_s", "end_s"]].equals(every[["start_s", "end_s"]])
    assert artefacts.empty


def test_the_report_says_when_vt_runs_of_noise_are_left_out():
    from dataclasses import asdict

    from arrhythmia.recording_report import episode_thresholds

    settings = asdict(EpisodeConfig())
    assert "noisy signal" in episode_thresholds(settings)
    assert "noisy signal" not in episode_thresholds({**settings, "vt_unalike_below": None})
    before = {key: value for key, value in settings.items() if key != "vt_unalike_below"}  # an older analysis
    assert "noisy signal" not in episode_thresholds(before)


def test_a_recording_longer_than_a_day_gets_a_daily_table_of_calendar_days(tmp_path):
    """A 7- or 14-day patch recording is read a day at a time: ``rhythm_tables`` gives a daily table (the
    hourly table's columns per calendar day, the day's own HRV) beside the hourly one, ``save_recording``
    writes it as daily.csv and the report shows it; a recording of a day or less has none."""
    from datetime import datetime

    from arrhythmia.predict import RecordingLabels, rhythm_tables, save_recording
    from arrhythmia.recording_report import _daily_html

    rng = np.random.default_rng(0)
    rr = 1.0 + 0.05 * rng.standard_normal(int(50 * 3600 / 1.0))  # about 50 h of a varying sinus rhythm
    samples, labels = beats(rr)
    labels[::500] = "V"
    duration = samples[-1] / FS + 0.5
    start = datetime(2026, 11, 28, 10, 23, 5)
    episodes, hourly, daily, hrv = rhythm_tables(samples, labels, FS, duration, np.zeros((0, 2)), start=start)
    assert daily["day"].tolist() == [1, 2, 3]  # 10:23:05 to midnight, a whole day, then to the end
    assert daily["end_s"].tolist()[:2] == pytest.approx([13 * 3600 + 36 * 60 + 55, 37 * 3600 + 36 * 60 + 55])
    assert daily["beats"].sum() == hourly["beats"].sum() == len(samples)
    assert daily["V"].sum() == (labels == "V").sum() and daily["af_min"].sum() == 0
    assert daily["sdnn_ms"].notna().all() and daily["sdnn_ms"].between(30, 70).all()  # each day's own HRV
    assert daily["analysable_min"].sum() == pytest.approx(duration / 60)
    table = pd.DataFrame({"sample": samples, "time_s": samples / FS, "label": labels})
    result = RecordingLabels(beats=table, episodes=episodes, hourly=hourly, daily=daily, hrv=hrv)
    save_recording(result, tmp_path, {}, ("N", "S", "V", "F", "Q"))
    assert pd.read_csv(tmp_path / "daily.csv")["day"].tolist() == [1, 2, 3]
    page = _daily_html(daily, ("N", "S", "V", "F", "Q"))
    assert "<td>day 3</td>" in page and "analysable h" in page
    short = rhythm_tables(samples[:3600], labels[:3600], FS, 3600.0, np.zeros((0, 2)), start=start)
    assert short[2] is None
