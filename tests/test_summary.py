"""The rhythm summary of a labelled recording, checked on hand-made beat sequences."""

import numpy as np
import pandas as pd
import pytest

from arrhythmia.predict import summarise


def beats_table(labels: str, rr_s: float = 0.8) -> pd.DataFrame:
    return pd.DataFrame(
        {"sample": np.arange(len(labels)) * 288, "time_s": np.arange(len(labels)) * rr_s, "label": list(labels)}
    )


def test_ectopy_counts_isolated_couplets_and_runs():
    summary = summarise(beats_table("NNVNNVVNNVVVVNSNSSNSSSN"))
    v, s = summary["ectopy"]["V"], summary["ectopy"]["S"]
    assert (v["isolated"], v["couplets"], v["runs"], v["longest_run"]) == (1, 1, 1, 4)
    assert (s["isolated"], s["couplets"], s["runs"], s["longest_run"]) == (1, 1, 1, 3)
    assert summary["per_class"] == {"N": 10, "S": 6, "V": 7, "F": 0, "Q": 0}
    assert v["burden_percent"] == pytest.approx(100 * 7 / 23)


def test_a_lead_off_parts_the_ectopic_beats_either_side_of_it():
    # Two V beats, 30 s of lost signal, two V beats, an unlabelled beat in the next run: two couplets and a
    # run of three, not a run of four; the summary and the hourly table count alike.
    from arrhythmia.hourly import hourly_table

    labels = list("NNNVV") + list("VVNNSS") + ["", "S", "N"]
    times = np.concatenate([np.arange(5) * 0.8, 34.0 + np.arange(9) * 0.8])
    table = pd.DataFrame({"sample": np.round(times * 250), "time_s": times, "label": labels})
    episodes = pd.DataFrame([{"type": "noise", "start_s": 4.0, "end_s": 33.5, "beats": 0}])
    v, s = (summarise(table, episodes=episodes)["ectopy"][name] for name in ("V", "S"))
    assert (v["couplets"], v["runs"], v["longest_run"]) == (2, 0, 2)
    assert (s["couplets"], s["runs"], s["longest_run"]) == (0, 1, 3)  # an unlabelled beat parts no run
    assert summarise(table)["ectopy"]["V"]["longest_run"] == 4  # without the episodes, nothing says so
    hour = hourly_table(times, np.array(labels), 60.0, episodes).iloc[0]
    assert (hour["v_couplets"], hour["v_runs"], hour["s_runs"]) == (2, 0, 1)


def test_a_run_goes_on_through_beats_read_in_noise():
    """Beats in noise (a ``noisy`` episode) set no heart rate, but they are beats: 222's SVT of 16 S beats,
    part of them in noise, was counted as runs of 11 and 4 in the summary and the hourly table."""
    from arrhythmia.hourly import hourly_table

    labels = list("NN" + "S" * 16 + "NN")
    times = np.arange(len(labels)) * 0.4
    table = pd.DataFrame({"sample": np.round(times * 250), "time_s": times, "label": labels})
    episodes = pd.DataFrame([{"type": "noisy", "start_s": 4.5, "end_s": 5.5, "beats": 3}])
    s = summarise(table, episodes=episodes)["ectopy"]["S"]
    assert (s["runs"], s["longest_run"], s["isolated"]) == (1, 16, 0)
    hour = hourly_table(times, np.array(labels), 60.0, episodes).iloc[0]
    assert (hour["s_runs"], hour["s_couplets"]) == (1, 0)


def test_heart_rate_from_rr_intervals():
    summary = summarise(beats_table("N" * 20, rr_s=0.75))
    assert summary["heart_rate_bpm"]["mean"] == pytest.approx(80.0)
    assert summary["heart_rate_bpm"]["min"] == pytest.approx(80.0)
    assert summary["duration_s"] == pytest.approx(19 * 0.75)


def test_a_short_strip_never_reads_slower_at_its_slowest_than_on_average():
    """Over 10 beats a running median of 8 intervals can lie wholly above the mean rate (a 10 s strip read
    65 bpm on average and 66 at its slowest); min <= mean <= max holds however few the beats."""
    rr = np.array([0.916, 0.956, 0.910, 0.902, 0.962, 0.904, 0.896, 0.944, 0.902])
    times = np.concatenate([[0.0], np.cumsum(rr)])
    table = pd.DataFrame({"sample": np.round(times * 500), "time_s": times, "label": ["N"] * len(times)})
    rate = summarise(table)["heart_rate_bpm"]
    assert rate["mean"] == pytest.approx(60 / rr.mean())
    assert rate["min"] <= rate["mean"] <= rate["max"]


def test_unclassified_beats_are_counted_but_not_labelled():
    table = beats_table("NN" + "N" * 8)
    table.loc[0, "label"] = ""
    summary = summarise(table)
    assert summary["beats"] == 10 and summary["classified"] == 9


def test_unsure_beats_are_counted_where_the_table_has_confidences():
    table = beats_table("NNVNN")
    assert "unsure_beats" not in summarise(table)  # a reviewed table without confidences
    table.loc[1, "label"] = ""
    table["confidence"] = [0.9, np.nan, 0.2, 0.49, 0.5]  # the beat that could not be cut has none
    assert summarise(table)["unsure_beats"] == 2


def test_summary_json_says_whose_recording_it_is(tmp_path):
    """summary.json named no patient and no recording: a Holter's outputs, filed away, could not be matched to
    whose they were. Its ``recording`` gives what the file says, verbatim; nothing where it says nothing."""
    import json
    from datetime import datetime

    from arrhythmia.data.recording import Recording
    from arrhythmia.predict import RecordingLabels, save_recording

    recording = Recording(
        np.zeros(2500), 250.0, "ECG", tmp_path / "h.edf", start=datetime(2026, 1, 2, 10, 0, 5),
        patient="MCH-0234567 F 02-MAY-1951 Haagse_Harry", recording_id="Startdate 02-JAN-2026 H-1234 X DigiTrak",
    )  # fmt: skip
    result = RecordingLabels(beats=beats_table("NNNN"), recording=recording)
    save_recording(result, tmp_path / "out", {"model": "none"}, ("N", "S", "V", "F", "Q"))
    said = json.loads((tmp_path / "out" / "summary.json").read_text())["recording"]
    assert said == {
        "name": "h.edf",
        "start": "2026-01-02T10:00:05",
        "patient": "MCH-0234567 F 02-MAY-1951 Haagse_Harry",
        "recording_id": "Startdate 02-JAN-2026 H-1234 X DigiTrak",
        "notes": [],
    }
    result = RecordingLabels(
        beats=beats_table("NNNN"), recording=Recording(np.zeros(2500), 250.0, "0", tmp_path / "s.npy")
    )
    save_recording(result, tmp_path / "bare", {"model": "none"}, ("N", "S", "V", "F", "Q"))
    said = json.loads((tmp_path / "bare" / "summary.json").read_text())["recording"]
    assert said == {"name": "s.npy", "start": None, "patient": None, "recording_id": None, "notes": []}
