"""EC57's run-by-run comparison (rxr): couplets, short and long runs of V and S beats, their windows, episodes
standing for long runs, and how `arrhythmia score` reports them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import write_wfdb_record

from arrhythmia.data import AAMI_CLASSES
from arrhythmia.ectopic_runs import LONGEST, compare_runs, run_statistics
from arrhythmia.scoring import compare_beats, comparison_metrics, format_scores, scores_document

FS = 100.0  # 150 ms = 15 samples
STEP = 80  # samples between beats: 0.8 s


def _beats(labels: str, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(len(labels)) * STEP + shift, np.array(list(labels))


def _figures(reference: str, labelled: str, kind: str = "V", shift: int = 3, **episodes) -> dict:
    counts = compare_runs(_beats(reference), _beats(labelled, shift), FS, **episodes)
    return run_statistics(counts[kind])


def _se_ppv(figures: dict) -> dict[str, tuple]:
    return {name: (f["tp_se"], f["fn"], f["tp_ppv"], f["fp"]) for name, f in figures.items()}


def test_the_same_labels_find_every_couplet_and_run():
    labels = "NVVNVVVNNVVVVVNVVVVVVVVN"  # a couplet, a short run of 3 and of 5, a long run of 8
    figures = _figures(labels, labels)
    assert _se_ppv(figures) == {"couplet": (1, 0, 1, 0), "short run": (2, 0, 2, 0), "long run": (1, 0, 1, 0)}
    assert all(f["se"] == 1.0 and f["ppv"] == 1.0 for f in figures.values())
    # a lone V beat is in no bin; an F beat carries a ventricular run, an S beat breaks it
    assert _se_ppv(_figures("NVNNVFNVSVN", "NVNNVFNVSVN"))["couplet"] == (1, 0, 1, 0)


def test_a_run_is_found_by_a_run_as_long_as_its_bin_and_is_false_when_the_reference_is_shorter():
    # the reference couplet is labelled as a triplet: found (3 >= 2), but the labelled short run is false
    figures = _se_ppv(_figures("NNVVNNN", "NVVVNNN"))
    assert figures["couplet"] == (1, 0, 0, 0) and figures["short run"] == (0, 0, 0, 1)
    # a long run labelled as a run of 5 is missed as a long run; the labelled short run is true (6 >= 3)
    figures = _se_ppv(_figures("NVVVVVVN", "NVVVVVNN"))
    assert figures["long run"] == (0, 1, 0, 0) and figures["short run"] == (0, 0, 1, 0)
    # a couplet split in two by a beat called N is missed, and neither lone V is in a bin
    assert _se_ppv(_figures("NVVNN", "NVNNN"))["couplet"] == (0, 1, 0, 0)


def test_the_window_reaches_150_ms_beyond_the_runs_ends():
    near = _se_ppv(_figures("NNVVNN", "NNVVNN", shift=14))  # 140 ms late: inside
    far = _se_ppv(_figures("NNVVNN", "NNVVNN", shift=20))  # 200 ms late: the second beat is outside the window
    assert near["couplet"] == (1, 0, 1, 0) and far["couplet"] == (0, 1, 0, 1)


def test_supraventricular_runs_count_s_beats_and_escape_symbols():
    assert _se_ppv(_figures("NSSSNVVN", "NSSSNVVN", kind="S"))["short run"] == (1, 0, 1, 0)
    # rxr counts MIT-BIH's junctional and atrial escape beats (j, e) as supraventricular; labelled N, missed
    reference, labelled = _beats("NjjjjjjjN"), _beats("NNNNNNNNN", 3)
    figures = run_statistics(compare_runs(reference, labelled, FS)["S"])
    assert _se_ppv(figures)["long run"] == (0, 1, 0, 0)


def test_an_episode_is_a_long_run_on_either_side():
    reference = "NNNNNNNNNNNN"
    af = np.array([[2 * STEP - 10, 9 * STEP + 10]])  # atrial fibrillation over beats 2-9: N beats there count as S
    # labelled AF where the reference has none: a false long SVE run; the reference's AF found by the labelled AF
    assert _se_ppv(_figures(reference, reference, "S", labelled_episodes={"S": af}))["long run"] == (0, 0, 0, 1)
    both = _figures(reference, reference, "S", reference_episodes={"S": af}, labelled_episodes={"S": af + 3})
    assert _se_ppv(both)["long run"] == (1, 0, 1, 0)
    # ventricular flutter in the labels overlapping a reference V run of 4: a long run found for a short one
    flutter = np.array([[3 * STEP, 4 * STEP]])
    figures = _se_ppv(_figures("NNVVVVNN", "NNNNNNNN", labelled_episodes={"V": flutter}))
    assert figures["short run"] == (1, 0, 0, 0) and figures["long run"] == (0, 0, 0, 1)
    # as rxr reads a file, an episode that begins inside a run of beats leaves it counted by its beats: a couplet
    counts = compare_runs(_beats("NNVVNN"), _beats("NNVVNN", 3), FS, reference_episodes={"V": np.array([[230, 250]])})
    assert counts["V"][0].sum() == 1 and counts["V"][0, 2].sum() == 1
    # and one that begins outside a run is a long run from its start, whatever beats follow it
    counts = compare_runs(_beats("NNVNNN"), _beats("NNVNNN", 3), FS, reference_episodes={"V": np.array([[150, 150]])})
    assert counts["V"][0, LONGEST].sum() == 1 and counts["V"][0].sum() == 1


def test_a_v_beat_inside_atrial_fibrillation_ends_its_run_and_the_beats_after_it_begin_another():
    af = np.array([[2 * STEP - 10, 12 * STEP + 10]])  # N beats 2-12 inside AF count as S; the V at 6 breaks them
    counts = compare_runs(_beats("NNNNNNVNNNNNNNNN"), _beats("NNNNNNVNNNNNNNNN", 3), FS, reference_episodes={"S": af})
    # the episode's run (from its start to the V beat: a long run) and the four S beats after the V and before its
    # end and the first N beat outside it (beats 7-12: six, a long run too)
    assert counts["S"][0, LONGEST].sum() == 2 and counts["S"][0].sum() == 2
    shorter = np.array([[2 * STEP - 10, 9 * STEP + 10]])  # beats 7-9 after the V: a short run of three
    counts = compare_runs(_beats("NNNNNNVNNNNN"), _beats("NNNNNNVNNNNN", 3), FS, reference_episodes={"S": shorter})
    assert counts["S"][0, LONGEST].sum() == 1 and counts["S"][0, 3].sum() == 1


def test_a_run_still_open_when_the_beats_end_is_not_counted():
    assert compare_runs(_beats("NNNVV"), _beats("NNNVV", 3), FS)["V"].sum() == 0
    assert compare_runs(_beats("NNNVVN"), _beats("NNNVVN", 3), FS)["V"][0, 2, 2] == 1


def test_run_statistics_are_undefined_without_runs():
    figures = _figures("NNNN", "NNNN")
    assert all(f["se"] is None and f["ppv"] is None for f in figures.values())


def test_score_pools_the_runs_and_reports_them_per_recording():
    reference, reference_labels = _beats("NVVNNVVVNN")
    detected, labels = _beats("NVVNNVNVNN", 2)
    comparison = compare_beats("r", detected, labels, reference, reference_labels, AAMI_CLASSES, FS)
    comparison = replace(comparison, runs=compare_runs((reference, reference_labels), (detected, labels), FS))
    metrics = comparison_metrics([comparison, comparison])
    couplets = metrics["runs"]["V"]["couplet"]
    assert (couplets["tp_se"], couplets["fn"], couplets["tp_ppv"], couplets["fp"]) == (2, 0, 2, 0)
    assert metrics["runs"]["V"]["short run"]["se"] == pytest.approx(0.0)
    text = format_scores(metrics, [comparison])
    assert "couplets and runs (EC57, as rxr counts them" in text and "ventricular short runs" in text
    # per recording, as rxr's line format: the couplet found and true, the short run missed, no false run
    lines = format_scores(metrics, [comparison], per_record=True).splitlines()
    at = lines.index(next(line for line in lines if line.startswith("ventricular runs per recording")))
    assert lines[at + 1].split() == [
        "record",
        "CTs",
        "CFN",
        "CTp",
        "CFP",
        "STs",
        "SFN",
        "STp",
        "SFP",
        "LTs",
        "LFN",
        "LTp",
        "LFP",
    ]
    assert lines[at + 2].split() == ["r", "1", "0", "1", "0", "0", "1", "0", "0", "0", "0", "0", "0"]
    document = scores_document(metrics, [comparison], {}, {})
    assert document["recordings"][0]["runs"]["V"]["couplet"]["tp_se"] == 1


def _long_runs(comparison) -> dict[str, tuple]:
    """Each kind's long runs: (reference found, missed, labelled true, false)."""
    return {kind: _se_ppv(run_statistics(counts))["long run"] for kind, counts in comparison.runs.items()}


def test_a_reference_that_notes_no_rhythm_is_not_held_to_the_labels_episodes(tmp_path):
    import wfdb

    from arrhythmia.files import write_json
    from arrhythmia.scoring import score_predictions

    rec = write_wfdb_record(tmp_path, "rec", seconds=30)
    beats = rec.r_peaks
    labels = tmp_path / "labels"  # what predict wrote: every beat N, atrial fibrillation and ventricular flutter
    labels.mkdir()
    outside_vf = beats[(beats < 20 * 360) | (beats > 24 * 360)]  # no beat is labelled in ventricular flutter
    (labels / "beats.csv").write_text("sample,label\n" + "".join(f"{s},N\n" for s in outside_vf))
    (labels / "episodes.csv").write_text("type,start_s,end_s\nAF,5.0,15.0\nVF,20.0,24.0\n")
    write_json(labels / "summary.json", {"per_class": dict.fromkeys(AAMI_CLASSES, 0), "fs": 360.0, "recording_s": 30.0})
    n = ["N"] * len(beats)
    wfdb.wrann("rec", "atr", np.concatenate([[5], beats]), symbol=["+", *n], aux_note=["(N"] + [""] * len(beats),
               write_dir=str(tmp_path))  # fmt: skip
    wfdb.wrann("rec", "qrs", beats, symbol=n, write_dir=str(tmp_path))  # beats alone, no rhythm noted
    # beats alone, and ventricular flutter marked (no beat annotated inside it, as MIT-BIH's 207)
    marks = np.sort(np.concatenate([beats[(beats < 21 * 360) | (beats > 23 * 360)], [21 * 360, 23 * 360]]))
    wfdb.wrann("rec", "vfl", marks, symbol=["[" if s == 21 * 360 else "]" if s == 23 * 360 else "N" for s in marks],
               write_dir=str(tmp_path))  # fmt: skip
    (tmp_path / "reference.csv").write_text("sample,label\n" + "".join(f"{s},N\n" for s in beats))

    # a reference that notes the rhythm (N throughout) holds the labels' episodes false
    noted = score_predictions(tmp_path / "rec", labels)
    assert _long_runs(noted) == {"V": (0, 0, 0, 1), "S": (0, 0, 0, 1)}
    # one that notes none (a CSV, an annotator of beats alone) says nothing of them: no long run on either side
    for silent in (score_predictions(tmp_path / "rec", labels, "qrs"),
                   score_predictions(tmp_path / "rec", labels, reference_csv=tmp_path / "reference.csv")):  # fmt: skip
        assert _long_runs(silent) == {"V": (0, 0, 0, 0), "S": (0, 0, 0, 0)}
    # one that marks ventricular flutter ([ to ]) but notes no rhythm is held to the labels' flutter alone
    assert _long_runs(score_predictions(tmp_path / "rec", labels, "vfl")) == {"V": (1, 0, 1, 0), "S": (0, 0, 0, 0)}


def test_a_reference_csv_of_wfdb_symbols_counts_runs_as_its_annotation_file_does(tmp_path):
    import wfdb

    from arrhythmia.files import write_json
    from arrhythmia.scoring import score_predictions

    rec = write_wfdb_record(tmp_path, "rec", seconds=30)
    beats = rec.r_peaks
    labels = tmp_path / "labels"  # what predict wrote: every beat N
    labels.mkdir()
    (labels / "beats.csv").write_text("sample,label\n" + "".join(f"{s},N\n" for s in beats))
    write_json(labels / "summary.json", {"per_class": dict.fromkeys(AAMI_CLASSES, 0), "fs": 360.0, "recording_s": 30.0})
    # junctional escape beats (j: N among the classes, S for rxr), a run of 3; an A beat and an atrial escape beat
    symbols = ["N"] * len(beats)
    symbols[5:8], symbols[12:14] = ["j"] * 3, ["A", "e"]
    wfdb.wrann("rec", "atr", beats, symbol=symbols, write_dir=str(tmp_path))
    (tmp_path / "exported.csv").write_text("sample,label\n" + "".join(f"{s},{y}\n" for s, y in zip(beats, symbols)))

    from_atr = score_predictions(tmp_path / "rec", labels)
    from_csv = score_predictions(tmp_path / "rec", labels, reference_csv=tmp_path / "exported.csv")
    figures = _se_ppv(run_statistics(from_csv.runs["S"]))
    assert figures["couplet"] == (0, 1, 0, 0) and figures["short run"] == (0, 1, 0, 0)
    assert all(np.array_equal(from_csv.runs[kind], from_atr.runs[kind]) for kind in ("V", "S"))
    # the beat figures still read the escape beats as N
    assert from_csv.n_reference == len(beats) and from_csv.missed.sum() == 0
    assert np.array_equal(from_csv.confusion(), from_atr.confusion())


def test_beats_inside_episodes_are_found_without_a_table_of_beats_by_episodes():
    import tracemalloc

    from arrhythmia.data.quality import overlapping

    rng = np.random.default_rng(0)
    samples = np.sort(rng.integers(0, 10_000, 500))
    starts = rng.integers(0, 10_000, 40)
    spans = np.column_stack([starts, starts + rng.integers(0, 300, 40)])  # overlapping, unsorted, some a sample
    brute = ((samples[:, None] >= spans[:, 0]) & (samples[:, None] <= spans[:, 1])).any(axis=1)
    assert np.array_equal(overlapping(samples, samples, spans), brute) and brute.any() and not brute.all()
    # a week's beats (600,000) by 1,000 episodes: a table of them would take 600 MB
    samples, starts = np.arange(0, 600_000 * 300, 300), np.arange(1_000) * 180_000
    tracemalloc.start()
    inside = overlapping(samples, samples, np.column_stack([starts, starts + 6_000]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert inside.sum() == 1_000 * 21 and peak < 50e6, peak
