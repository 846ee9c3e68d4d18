"""A single-lead patch worn for days: taken off in the shower (a flat or wandering signal for minutes), worn
upside down for a day; what its beats, episodes and hourly table say of those stretches."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb

from arrhythmia.data.quality import unanalysable
from arrhythmia.data.synthetic import synthetic_ecg

FS = 250.0


def off_body(kind: str, seconds: float, seed: int = 0) -> np.ndarray:
    """``seconds`` of a patch lying off the skin (mV): ``flat``, the converter's noise alone (0.02 mV, some
    eight counts of a 409.6-per-mV recorder), or ``wandering``, a slow random walk of the floating input."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    if kind == "flat":
        return 0.02 * rng.standard_normal(n)
    walk = np.cumsum(rng.standard_normal(n)) * 0.002
    return walk - np.linspace(0.0, walk[-1], n)


def showered(kind: str, before_s: float = 240.0, off_s: float = 300.0, after_s: float = 240.0) -> np.ndarray:
    """A synthetic ECG (mV, FS) with ``off_s`` of an off-body signal ``kind`` between its two stretches."""
    first = synthetic_ecg(duration_s=before_s, fs=FS, seed=1).signal
    last = synthetic_ecg(duration_s=after_s, fs=FS, seed=2).signal
    return np.concatenate([first, off_body(kind, off_s), last])


@pytest.mark.parametrize("kind", ["flat", "wandering"])
def test_a_patch_off_the_body_for_minutes_is_unanalysable(kind):
    """A patch taken off for a shower held its converter's noise, or wandered slowly, for many minutes: no
    second of it was flat to 0.02 mV, saturated or swept by a jump, so none was unanalysable, and the
    detector's beats in its noise read as pauses, a bradycardia of 11 bpm, and AF."""
    found = unanalysable(showered(kind), FS) / FS
    covered = sum(max(0.0, min(end, 540.0) - max(start, 240.0)) for start, end in found)
    assert covered >= 298.0, found
    assert all(end <= 240.0 or start >= 238.0 for start, end in found), found  # the ECG before it is read


@pytest.mark.parametrize("kind", ["flat", "wandering"])
def test_the_shower_is_noise_not_pauses_or_bradycardia(kind):
    from arrhythmia.data.recording import Recording
    from arrhythmia.inference import Classifier
    from arrhythmia.predict import label_recording

    recording = Recording(showered(kind), FS, "ECG", "patch.npy")
    result = label_recording(recording, Classifier.from_pretrained(), adapt=False)
    episodes = result.episodes
    inside = episodes[(episodes.end_s > 245.0) & (episodes.start_s < 535.0)]
    assert set(inside.type) <= {"noise", "noisy", "artefact"}, inside
    noise = episodes[episodes.type == "noise"]
    assert ((noise.start_s <= 241.0) & (noise.end_s >= 539.0)).any(), noise


def worn_upside_down(minutes: float = 50.0, turned_min: tuple[float, float] = (10.0, 30.0)) -> tuple[np.ndarray, ...]:
    """A synthetic ECG (mV, FS) as read upright, and as read with ``turned_min`` (minutes from the start) turned
    over, as a patch worn upside down between two wears gives it; and its R peaks (samples)."""
    record = synthetic_ecg(duration_s=minutes * 60.0, fs=FS, seed=3, class_mix={"N": 0.8, "V": 0.2})
    upright = record.signal.astype(np.float64)
    turned = upright.copy()
    a, b = (round(m * 60.0 * FS) for m in turned_min)
    turned[a:b] *= -1
    return upright, turned, record.r_peaks


def test_the_parts_a_patch_was_worn_upside_down_are_found():
    from arrhythmia.data.detection import polarity, turned_parts

    upright, turned, peaks = worn_upside_down()
    sign = polarity(upright, FS, peaks)
    assert turned_parts(upright, FS, peaks, sign).size == 0
    assert polarity(turned, FS, peaks) == sign  # most of it as it was
    assert turned_parts(turned, FS, peaks, sign).tolist() == [[round(600 * FS), round(1800 * FS)]]
    assert turned_parts(-turned, FS, peaks, -sign).tolist() == [[round(600 * FS), round(1800 * FS)]]


@needs_mitdb
def test_beats_of_a_stretch_worn_upside_down_are_labelled_as_upright_ones(tmp_path):
    """The recording's polarity was one sign for all of it: with one day of three upside down, the beats of that
    day were read pointing down, and two thirds of its V beats were called N or Q (here MIT-BIH's 233 at 250 Hz in
    a patch's counts, its second 10 minutes turned over: 162 V of 259, 90% of the labels the same)."""
    import wfdb
    from scipy.signal import resample_poly

    from arrhythmia.inference import Classifier
    from arrhythmia.labelling import PredictOptions, label_file

    upright = resample_poly(wfdb.rdrecord(str(MITDB / "233"), channels=[0]).p_signal[:, 0], 25, 36)
    turned = upright.copy()
    turned[round(600 * FS) : round(1200 * FS)] *= -1
    classifier = Classifier.from_pretrained()
    labels = {}
    for name, signal in (("upright", upright), ("turned", turned)):
        np.save(tmp_path / f"{name}.npy", (signal * 409.6).round().astype(np.int16))
        options = PredictOptions(fs=FS, units="409.6")
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            done = label_file(tmp_path / f"{name}.npy", classifier, tmp_path / name, options)
        labels[name] = done.result.beats.set_index("sample")["label"]
    both = labels["upright"].index.intersection(labels["turned"].index)
    inside = both[(both > 610 * FS) & (both < 1190 * FS)]
    assert (labels["upright"][inside] == "V").sum() > 100
    assert (labels["upright"][inside] == labels["turned"][inside]).mean() >= 0.99
    assert done.summary["turned_s"] == [[600.0, 1200.0]]
    assert not done.summary["inverted"]
    (caution,) = done.summary["cautions"]
    assert "turned.npy: its beats point the other way" in caution and "0:10:00-0:20:00 (0.2 h in all)" in caution
    assert caution in [str(warning.message) for warning in said]


def test_a_trend_of_days_is_drawn_a_day_to_a_row(monkeypatch, tmp_path):
    """72 hours' heart rate was one row 12 inches wide: four minutes to a pixel, each day's trace a third of the
    width, the days told apart only by the axis's 24:00 and 48:00, and one day's hours not under another's."""
    import pandas as pd

    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    day = 86_400.0
    times = np.arange(1.0, 3 * day - 600.0, 30.0)
    rate = 70.0 + 20.0 * np.sin(2 * np.pi * times / day)
    episodes = pd.DataFrame(
        {"type": ["AF", "pause"], "start_s": [1.5 * day, 2.5 * day], "end_s": [1.6 * day, 2.5 * day + 4]}
    )
    figures.plot_heart_rate_trend(times, rate, episodes, tmp_path / "trend.png", 3 * day - 600.0)
    fig = drawn[0]
    fig.savefig(io.BytesIO(), format="png")  # lays it out
    rows = fig.axes
    assert [ax.get_xlim() for ax in rows] == [(0.0, day), (day, 2 * day), (2 * day, 3 * day)]
    assert len({ax.get_ylim() for ax in rows}) == 1  # one scale: the days compared at a glance
    assert [len(ax.patches) for ax in rows] == [0, 1, 0]  # the AF on the second day's row alone
    assert [ax.get_ylabel().splitlines()[0] for ax in rows] == ["day 1", "day 2", "day 3"]
    assert "36:00" in [tick.get_text() for tick in rows[1].get_xticklabels()]
    assert len(fig.legends) == 1


def test_a_day_s_trend_stays_one_row(monkeypatch, tmp_path):
    import pandas as pd

    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    times = np.arange(1.0, 25 * 3600.0, 30.0)
    episodes = pd.DataFrame({"type": [], "start_s": [], "end_s": []})
    figures.plot_heart_rate_trend(times, np.full(len(times), 70.0), episodes, tmp_path / "trend.png", 25 * 3600.0)
    (ax,) = drawn[0].axes
    assert ax.get_xlim() == (0.0, 25 * 3600.0)


@pytest.mark.parametrize("fails", [False, True])
def test_a_signal_lent_to_be_turned_over_in_place_is_given_back_as_it_was(monkeypatch, fails):
    """A week's signal at 250 Hz is 1.2 GB as float64: turning its beats upright made a copy of it, which with the
    signal and the beats' windows took predict past 4 GB. predict lends its own read of the file instead."""
    from arrhythmia import predict
    from arrhythmia.data.recording import Recording
    from arrhythmia.inference import Classifier

    _, turned, _ = worn_upside_down(minutes=35.0, turned_min=(10.0, 20.0))
    as_read = turned.copy()
    classifier = Classifier.from_pretrained()
    copied = predict.label_recording(Recording(turned, FS, "ECG", "patch.npy"), classifier, adapt=False)
    assert copied.turned.tolist() == [[round(600 * FS), round(1200 * FS)]]
    if fails:  # stopped half way (Ctrl-C): the lent signal is still given back
        monkeypatch.setattr(predict, "cut_recording", lambda *args, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            predict.label_recording(Recording(turned, FS, "ECG", "patch.npy"), classifier, adapt=False, in_place=True)
    else:
        lent = predict.label_recording(
            Recording(turned, FS, "ECG", "patch.npy"), classifier, adapt=False, in_place=True
        )
        assert lent.beats.equals(copied.beats)
        assert lent.recording.signal is turned
    assert np.array_equal(turned, as_read)


def test_a_long_recording_s_beat_windows_are_held_once():
    """A week's 760,000 beat windows were gathered chunk by chunk and joined at the end, so that for a moment they
    were held twice (with the signal, predict's peak of 4 GB). Measured on four hours of beats in 80 chunks."""
    import tracemalloc

    from arrhythmia.data.beats import WINDOWS
    from arrhythmia.data.recording import Recording
    from arrhythmia.predict import cut_recording

    record = synthetic_ecg(duration_s=4 * 3600.0, fs=FS, seed=4)
    recording = Recording(record.signal, FS, "ECG", "patch.npy")
    peaks = np.sort(np.concatenate([record.r_peaks, record.r_peaks + round(0.4 * FS)]))  # more windows than signal
    tracemalloc.start()
    try:
        cut = cut_recording(recording, peaks, WINDOWS["centred"], True, chunk_s=180.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = cut.X.nbytes + cut.context.nbytes
    assert cut.kept.sum() > 0.99 * len(peaks)
    assert peak < 2.3 * held, (peak / 2**20, held / 2**20)  # joined at the end: 2.9 times


def test_predict_says_how_much_of_the_recording_could_be_read(tmp_path):
    """The printed summary of three days with a shower a day gave beats, burdens and episodes ('noise 50'), but
    not how much of the recording they were read from: 57 minutes off the body were told in summary.json alone."""
    from typer.testing import CliRunner

    from arrhythmia.cli import app

    counts = (showered("flat", before_s=120.0, off_s=90.0, after_s=90.0) * 409.6).round().astype(np.int16)
    np.save(tmp_path / "patch.npy", counts)
    done = CliRunner().invoke(
        app,
        ["predict", str(tmp_path / "patch.npy"), "--fs", "250", "--units", "409.6", "--out", str(tmp_path / "out")],
        env={"COLUMNS": "200"},
    )
    assert done.exit_code == 0, done.output
    (row,) = [line for line in done.output.splitlines() if "analysable" in line]
    assert "3 min 30 s of 5 min 00 s" in row, row


def test_the_turned_caution_names_the_first_stretches_and_counts_the_rest():
    """A week's patch worn the other way round now and then: the caution listed all 25 stretches on one line."""
    from pathlib import Path

    from arrhythmia.data.recording import Recording
    from arrhythmia.labelling import turned_warning
    from arrhythmia.predict import RecordingLabels

    fs = 250.0
    recording = Recording(np.zeros(10), fs, "ECG", Path("week.npy"))
    starts = np.arange(25) * 7200 * int(fs)
    result = RecordingLabels.__new__(RecordingLabels)
    result.turned = np.stack([starts, starts + 600 * int(fs)], axis=1)
    caution = turned_warning(recording, result)
    assert "0:00:00-0:10:00, 2:00:00-2:10:00, 4:00:00-4:10:00" in caution and "and 20 more" in caution
    assert "48:00:00" not in caution and "(4.2 h in all)" in caution


def test_a_numpy_recording_takes_the_start_it_is_given_and_bad_starts_are_one_line(tmp_path):
    """A patch's .npy names no start: its hourly table had no clock and its report no times of day, and there
    was no way to give one. ``--started-at`` gives it; a start that is no time, or one for a whole archive,
    is one error line."""
    import json

    import pandas as pd
    from test_cli import assert_one_line_error, run_cli

    ecg = synthetic_ecg(duration_s=150, fs=250, seed=3)
    np.save(tmp_path / "patch.npy", ecg.signal.astype(np.float32))
    out = tmp_path / "out"
    result = run_cli(
        "predict", tmp_path / "patch.npy", "--fs", "250", "--started-at", "2026-11-28T23:59:00", "--out", out
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "summary.json").read_text())["start_time"] == "2026-11-28T23:59:00"
    hourly = pd.read_csv(out / "hourly.csv", keep_default_na=False)
    assert len(hourly) == 2 and "23:59" in hourly.to_csv() and "00:00" in hourly.to_csv()
    bad = run_cli("predict", tmp_path / "patch.npy", "--fs", "250", "--started-at", "tomorrow", "--out", out)
    assert_one_line_error(bad, "--started-at: 'tomorrow' is no start time")
    archive = run_cli("predict", tmp_path, "--fs", "250", "--started-at", "08:00:00", "--out", tmp_path / "a")
    assert_one_line_error(archive, "--started-at names one recording's start")
