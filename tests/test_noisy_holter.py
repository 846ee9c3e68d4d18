"""A day of ambulatory ECG as a Holter analyst reads it: leads that come off, flat stretches, a saturated
amplifier recovering; what the report and the hourly table say of the time no one could read."""

from __future__ import annotations

import numpy as np
import pytest

from arrhythmia.data.quality import unanalysable
from arrhythmia.data.synthetic import synthetic_ecg

FS = 250.0


def ecg_with_recovery(seed: int = 2) -> tuple[np.ndarray, tuple[float, float]]:
    """A 90 s synthetic ECG at FS (mV) in which, some 70 s in, the amplifier recovers from a 3 mV jump over
    3.5 s, its QRS complexes shrunk to nothing meanwhile; and where (s) that recovery lies."""
    record = synthetic_ecg(duration_s=90, fs=FS, seed=seed)
    ecg, peaks = record.signal.astype(np.float64), record.r_peaks / FS
    before = peaks[peaks < 70.0].max()
    a, b = int((before + 0.45) * FS), int((before + 4.0) * FS)
    t = np.arange(b - a) / FS
    line = np.linspace(ecg[a], ecg[b], b - a)
    ecg[a:b] = line + 0.01 * (ecg[a:b] - line) + 3.0 * np.exp(-t / 1.2)
    return ecg, (a / FS, b / FS)


@pytest.mark.parametrize("lost", ["missing", "flat"])
def test_a_recovering_amplifier_is_found_however_long_the_lead_was_off(lost):
    """A lead off for longer than the signal it left (a patient who took the recorder off for the night) made
    the recording's typical QRS band nothing, against which no block had collapsed: the recovery that 90 s of
    signal alone shows as unanalysable was then read as signal, its beatless seconds a pause."""
    ecg, (a, b) = ecg_with_recovery()
    off = np.full(int(120 * FS), np.nan if lost == "missing" else 0.4)
    found = unanalysable(np.concatenate([ecg, off]), FS) / FS
    assert len(found) == 2, found  # the recovery, and the lead off after the signal
    (start, end), (off_start, off_end) = found
    assert start <= a + 1 and end >= a + 2
    assert off_start == pytest.approx(90.0, abs=1.0) and off_end == pytest.approx(210.0)


def lead_off_holter(duration_s: float = 3 * 3600.0, off_s: tuple[float, float] = (3300.0, 7500.0)):
    """A recording of ``duration_s`` whose lead is off over ``off_s`` (a ``noise`` episode), a beat a second
    elsewhere, all N but a V couplet early on: (Recording, RecordingLabels, summary) as ``predict`` gives
    them to the report, without labelling anything (the signal is only its length)."""
    import pandas as pd

    from arrhythmia.data.recording import Recording
    from arrhythmia.episodes import EPISODE_COLUMNS
    from arrhythmia.hourly import hourly_table
    from arrhythmia.predict import RecordingLabels

    fs = 10.0
    recording = Recording(np.zeros(int(duration_s * fs)), fs, "MLII", "holter.csv")
    times = np.arange(0.5, duration_s, 1.0)
    times = times[(times < off_s[0]) | (times > off_s[1])]
    labels = np.array(["N"] * len(times))
    labels[[100, 101]] = "V"
    episodes = pd.DataFrame([["noise", *off_s, 0, np.nan, np.nan]], columns=list(EPISODE_COLUMNS))
    beats = pd.DataFrame({"sample": np.round(times * fs).astype(np.int64), "time_s": times, "label": labels})
    hourly = hourly_table(times, labels, duration_s, episodes)
    result = RecordingLabels(beats=beats, episodes=episodes, hourly=hourly, recording=recording)
    per_class = {c: int((labels == c).sum()) for c in ("N", "S", "V", "F", "Q")}
    summary = {"model": "stand-in", "classified": len(labels), "per_class": per_class, "hrv": "no HRV"}
    return recording, result, summary


def _row(page: str, first_cell: str) -> list[str]:
    """The cells of the table row of ``page`` whose first cell is ``first_cell``."""
    import html
    import re

    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_an_hour_the_lead_was_off_throughout_reports_no_finding_of_none():
    """An hour with no analysable minute read '0 / 0' couplets and runs, '0' pauses and '0.0' minutes of AF
    (a rhythm found free of them) beside its '– / – / –' heart rate: nothing of it was read."""
    from arrhythmia.recording_report import render_recording_report

    recording, result, summary = lead_off_holter()
    assert result.hourly["analysable_min"].tolist() == pytest.approx([55.0, 0.0, 55.0])
    page = render_recording_report(recording, result, summary, {})
    header = _row(page, "hours")
    unread, read = dict(zip(header, _row(page, "01:00-02:00"))), dict(zip(header, _row(page, "00:00-01:00")))
    assert unread["analysable min"] == "0.0" and unread["HR min / mean / max"] == "– / – / –"
    for column in ("S couplets / runs", "V couplets / runs", "pauses", "AF min", "AFL min"):
        assert unread[column] == "–", column
    assert read["V couplets / runs"] == "1 / 0" and read["pauses"] == "0" and read["AF min"] == "0.0"
    assert dict(zip(header, _row(page, "02:00-03:00")))["S couplets / runs"] == "0 / 0"


def test_the_report_says_how_much_of_the_recording_could_not_be_read():
    """The analysable card gave the time read and nothing of the rest: a reader worked the 1:10:00 of lost
    signal (39%) out from the recorded card, or added up the noise episodes."""
    from arrhythmia.recording_report import render_recording_report

    recording, result, summary = lead_off_holter()
    page = render_recording_report(recording, result, summary, {})
    assert '1:50:00</div><div class="label">analysable' in page
    assert "h:mm:ss; 1:10:00 unanalysable, 38.9% of the recording" in page
    recording, result, summary = lead_off_holter(duration_s=600.0, off_s=(600.0, 600.0))
    assert "h:mm:ss; all of the recording" in render_recording_report(recording, result, summary, {})


def test_a_run_across_the_hour_is_counted_once_in_the_hour_it_began_as_the_summary_counts_it():
    """Four V beats across 1:00:00 read as a couplet in each of two hours (the table cut the run at the hour)
    while summary.json counted one run of four; a lead-off still parts a run, at the hour or not."""
    import pandas as pd

    from arrhythmia.episodes import EPISODE_COLUMNS
    from arrhythmia.hourly import hourly_table
    from arrhythmia.predict import summarise

    times = np.arange(0.5, 3 * 3600.0, 0.8)
    labels = np.array(["N"] * len(times))
    at_hour = np.searchsorted(times, 3600.0)
    labels[at_hour - 2 : at_hour + 2] = "V"  # 0:59:58.9 to 1:00:01.3
    at_two = np.searchsorted(times, 7200.0)
    labels[at_two - 3 : at_two + 3] = "S"  # six S beats across 2:00:00, a lead-off in their middle
    lead_off = (times[at_two - 1] + 0.1, times[at_two] - 0.1)
    episodes = pd.DataFrame([["noise", *lead_off, 0, np.nan, np.nan]], columns=list(EPISODE_COLUMNS))
    table = hourly_table(times, labels, 3 * 3600.0, episodes)
    assert table["v_couplets"].tolist() == [0, 0, 0] and table["v_runs"].tolist() == [1, 0, 0]
    assert table["s_runs"].tolist() == [0, 1, 1] and table["s_couplets"].tolist() == [0, 0, 0]
    ectopy = summarise(pd.DataFrame({"time_s": times, "label": labels}), episodes=episodes)["ectopy"]
    for cls in ("S", "V"):
        assert table[f"{cls.lower()}_runs"].sum() == ectopy[cls]["runs"]
        assert table[f"{cls.lower()}_couplets"].sum() == ectopy[cls]["couplets"]


def test_af_that_resumes_after_a_lead_off_is_no_onset_in_the_strips_titles():
    """A lead-off cuts an AF episode in two; the piece after it starts at the first beat read after the gap,
    and its strip was titled 'AF onset at 0:04:20', an onset no one recorded. It now says the signal came back
    in AF; an onset after readable signal is still an onset, and the recording's first beat still 'began'."""
    import pandas as pd

    from arrhythmia.episodes import find_episodes
    from arrhythmia.recording_report import event_strips

    fs = 250.0
    times = np.cumsum(np.random.default_rng(0).uniform(0.4, 1.1, 900)) + 1.0  # irregular throughout: AF
    times = times[(times < 200.0) | (times > 260.0)]
    labels = np.array(["N"] * len(times))
    labels[(times > 400.0) & (times < 480.0)] = "V"  # an interruption after which AF starts again, read
    samples = np.round(times * fs).astype(np.int64)
    episodes = find_episodes(samples, labels, fs, np.array([[200.0 * fs, 260.0 * fs]]))
    af = episodes.loc[episodes["type"] == "AF", "start_s"].tolist()
    assert len(af) == 3 and af[1] == pytest.approx(times[times > 260.0][0], abs=0.01)  # the first beat after the gap
    beats = pd.DataFrame({"sample": samples, "time_s": times, "label": labels})
    titles = [title for title, _, _ in event_strips(beats, episodes, fs) if "AF" in title]
    assert titles[0].endswith("the recording began in AF")
    assert titles[1] == "AF at 0:04:20, as the signal came back: its onset was not recorded"
    assert titles[2].startswith("AF onset at 0:07:5")  # after the V beats, read


def test_a_drop_out_across_the_edge_of_a_second_is_a_gap():
    """A wireless recorder loses packets: 0.9 s of signal every 3 s, each across the edge of a second, was
    missing from half of neither second and read as signal (record 100 with such drop-outs over 10 min: 19
    pauses and a minimum heart rate of 46 bpm, 3 min of missing signal counted analysable). Each drop-out
    is now a gap from its first missing sample to its last, wherever it falls; a short one (0.3 s) is not."""
    ecg = synthetic_ecg(duration_s=120, fs=FS, seed=1).signal.astype(np.float64)
    drops = [(at, at + 0.9) for at in np.arange(20.55, 60.0, 3.0)] + [(80.2, 80.5)]
    for a, b in drops:
        ecg[round(a * FS) : round(b * FS)] = np.nan
    found = unanalysable(ecg, FS)
    assert found.tolist() == [[round(a * FS), round(b * FS)] for a, b in drops[:-1]]
    # a drop-out within one second is that whole second, as before; one of two seconds, found as a bad block
    ecg[round(90.0 * FS) : round(90.6 * FS)] = np.nan
    ecg[round(100.0 * FS) : round(102.0 * FS)] = np.nan
    assert unanalysable(ecg, FS)[-2:].tolist() == [[round(90.0 * FS), round(91.0 * FS)], [100 * 250, 102 * 250]]


def test_drop_outs_are_found_across_the_chunks_a_long_recording_is_read_in():
    from arrhythmia.data.quality import _missing_runs

    lost = np.zeros(1000, dtype=bool)
    for a, b in [(0, 30), (95, 105), (190, 260), (300, 301), (398, 400), (400, 430), (970, 1000)]:
        lost[a:b] = True
    signal = np.where(lost, np.nan, 1.0)
    every = [(0, 30), (95, 105), (190, 260), (398, 430), (970, 1000)]  # longer than 5 samples
    for step in (7, 10, 100, 1000, 5000):
        assert _missing_runs(signal, 5, step).tolist() == [list(run) for run in every], step
