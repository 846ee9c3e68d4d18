"""Scoring predict's labels against reference beats: pairing, missed and extra beats, EC57's counting, the
command line on synthetic WFDB records, and MIT-BIH where it is present."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb, write_wfdb_record
from test_cli import assert_one_line_error, run_cli

from arrhythmia.data import AAMI_CLASSES
from arrhythmia.errors import DataError
from arrhythmia.scoring import (
    compare_beats,
    comparison_metrics,
    episode_scores,
    flutter_spans,
    format_scores,
    reference_classes,
    reference_episodes,
    score_recordings,
)

FS = 360.0  # 150 ms = 54 samples


def _comparison():
    reference = np.array([100, 400, 700, 1000, 1300])
    reference_labels = np.array(["N", "V", "N", "S", "F"])
    # 1150 is 150 ms from 1000 (54 samples would be 150 ms): too far, so 1000 is missed and 1150 extra;
    # 2000 lies in the ignored span (the reference's flutter): neither extra nor counted
    detected = np.array([102, 398, 705, 1150, 1290, 2000])
    labels = np.array(["N", "V", "S", "V", "V", "V"])
    return compare_beats("r", detected, labels, reference, reference_labels, AAMI_CLASSES, FS, np.array([[1900, 2100]]))


def test_paired_missed_and_extra_beats_are_counted_by_class():
    c = _comparison()
    names = np.array(AAMI_CLASSES)
    assert names[c.y_true].tolist() == ["N", "V", "N", "F"] and names[c.y_pred].tolist() == ["N", "V", "S", "V"]
    assert c.detection_index.tolist() == [0, 1, 2, 4]
    assert dict(zip(AAMI_CLASSES, c.missed.tolist())) == {"N": 0, "S": 1, "V": 0, "F": 0, "Q": 0}
    assert dict(zip(AAMI_CLASSES, c.extra.tolist())) == {"N": 0, "S": 0, "V": 1, "F": 0, "Q": 0}
    assert (c.n_reference, c.n_detected, c.left_out) == (5, 5, 0)


def test_pooled_figures_count_as_ec57_does():
    assert _comparison().confusion()[2].tolist() == [0, 0, 1, 0, 0] and _comparison().confusion().sum() == 4
    metrics = comparison_metrics([_comparison()])
    veb, sveb = metrics["ec57"]["V"], metrics["ec57"]["S"]
    # VEB: the V paired and found; the fusion beat called V is excused; the extra detection called V is not
    assert (veb["tp"], veb["fn"], veb["fp"]) == (1, 0, 1)
    # SVEB: the S beat was missed (no detection within 150 ms); an N beat was called S
    assert (sveb["tp"], sveb["fn"], sveb["fp"]) == (0, 1, 1)
    assert metrics["per_class"]["V"]["ppv"] == pytest.approx(1 / 2)  # one-vs-rest over the paired beats
    assert metrics["detection"] == {"reference": 5, "detected": 5, "matched": 4, "left_out": 0, "se": 0.8, "ppv": 0.8}
    text = format_scores(metrics, [_comparison()], per_record=True)
    assert "4 paired within 150 ms (Se 80.0%, +P 80.0%)" in text and "VEB Se 1.0000 +P 0.5000" in text
    assert "\nr                  5       4       1      1   50.0        - / 0.0   100.0 / 50.0" in text


def test_a_reference_beat_of_no_class_of_the_model_is_left_out_with_its_detection():
    classes = ("N", "L", "V")  # a `labels: mitdb` model without a class for 'A'
    labels = reference_classes(np.array(["N", "A", "L", "V", "A"]), classes)
    assert labels.tolist() == ["N", "", "L", "V", ""]
    c = compare_beats(
        "r", np.array([100, 400, 700, 1000]), np.array(["N", "N", "L", "V"]),
        np.array([100, 400, 700, 1000, 1300]), labels, classes, FS,
    )  # fmt: skip
    assert len(c.y_true) == 3 and c.missed.sum() == 0 and c.extra.sum() == 0
    assert (c.n_reference, c.n_detected, c.left_out) == (3, 3, 2)


def test_reference_symbols_map_to_the_aami_classes_as_ec57_maps_them():
    symbols = np.array(["N", "L", "B", "e", "A", "a", "J", "V", "E", "r", "F", "/", "f", "Q", "N"])
    expected = ["N", "N", "N", "N", "S", "S", "S", "V", "V", "V", "F", "Q", "Q", "Q", "N"]
    assert reference_classes(symbols, AAMI_CLASSES).tolist() == expected
    assert reference_classes(np.array(["+", "~"]), AAMI_CLASSES).tolist() == ["", ""]


def test_flutter_spans_close_at_their_end_or_run_to_the_end_of_the_record():
    spans = flutter_spans(np.array([10, 50, 60, 90, 120]), np.array(["N", "[", "!", "]", "["]))
    assert spans[0].tolist() == [50, 90] and spans[1][0] == 120 and spans[1][1] > 10**12


def test_reference_episodes_from_rhythm_notes_and_pauses_from_beats():
    # fs 100: AF from 3 s to the next note at 12 s; 3.5 s between beats at 3.5 and 7 s is a pause, the 3 s
    # from 8 to 11 s is not (noise is marked inside it)
    samples = np.array([0, 100, 200, 300, 350, 700, 800, 900, 1100, 1200])
    symbols = np.array(["+", "N", "N", "+", "N", "N", "N", "~", "N", "+"])
    notes = np.array(["(N", "", "", "(AFIB", "", "", "", "", "", "(N"])
    episodes = reference_episodes(samples, symbols, notes, fs=100.0, length_s=15.0)
    assert episodes["AF"] == [(3.0, 12.0)] and episodes["pause"] == [(3.5, 7.0)] and episodes["VT"] == []
    assert reference_episodes(samples, np.array(["N"] * 10), np.array([""] * 10), 100.0, 15.0) is None


def test_episode_scores_count_as_ec57_does():
    s = episode_scores([([(0, 10), (20, 30)], [(5, 15), (40, 50)]), ([], [(0, 1)])])
    assert (s["reference"], s["detected"]) == (2, 3)
    assert s["episode_se"] == 0.5 and s["episode_ppv"] == pytest.approx(1 / 3)
    assert s["duration_se"] == 0.25 and s["duration_ppv"] == pytest.approx(5 / 21)
    assert episode_scores([([], [])])["episode_se"] != episode_scores([([], [])])["episode_se"]  # NaN: undefined


def test_labels_outside_the_models_classes_are_one_error():
    with pytest.raises(DataError, match="r: labels X are not classes of the model"):
        compare_beats("r", np.array([5]), np.array(["X"]), np.array([5]), np.array(["N"]), AAMI_CLASSES, FS)


def test_score_synthetic_records_through_the_command_line(tmp_path):
    recs = [write_wfdb_record(tmp_path, name, seconds=40, seed=i) for i, name in enumerate(("a", "b"))]
    out = tmp_path / "scores.json"
    result = run_cli("score", tmp_path, "--per-record", "--episode-setting", "pause_s=3", "--out", out)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["scored_with"]["episode_settings"] == {"pause_s": 3} and figures["scored_with"]["adapt"] is True
    assert figures["detection"]["reference"] == sum(len(r.r_peaks) for r in recs)
    assert figures["detection"]["se"] > 0.95 and figures["detection"]["ppv"] > 0.95
    assert [r["record"] for r in figures["recordings"]] == ["a", "b"] and set(figures["ec57"]) == {"V", "S"}
    pooled_tp = sum(r["ec57"]["V"]["tp"] for r in figures["recordings"])
    assert pooled_tp == figures["ec57"]["V"]["tp"]  # each record's own VEB figures add up to the pooled ones
    assert "EC57 as bxb counts it" in result.stdout and "\na " in result.stdout and "\nb " in result.stdout
    assert "a: " in result.stderr and "beats matched" in result.stderr
    assert "episodes (EC57, over the 2 recordings with rhythm notes)" in result.stdout
    assert figures["episodes_recordings"] == 2 and figures["episodes"]["AF"]["reference"] == 0
    # EC57's couplets and runs, pooled and each record's own, which add up the same way
    assert "couplets and runs (EC57, as rxr counts them" in result.stdout and set(figures["runs"]) == {"V", "S"}
    couplets = [r["runs"]["V"]["couplet"] for r in figures["recordings"]]
    assert sum(c["tp_se"] + c["fn"] for c in couplets) == sum(
        figures["runs"]["V"]["couplet"][k] for k in ("tp_se", "fn")
    )


def test_score_the_labels_predict_already_wrote(tmp_path):
    (tmp_path / "db").mkdir()
    for i, name in enumerate(("a", "b")):
        write_wfdb_record(tmp_path / "db", name, seconds=40, seed=i)
    labelled = run_cli("predict", tmp_path / "db", "--out", tmp_path / "out")
    assert labelled.returncode == 0, labelled.stderr
    again = run_cli("score", tmp_path / "db", "--per-record")
    saved = run_cli("score", tmp_path / "db", "--per-record", "--predictions", tmp_path / "out")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout == again.stdout  # the same figures, without labelling again
    alone = run_cli("score", tmp_path / "db" / "a.hea", "--predictions", tmp_path / "out" / "a")
    assert alone.returncode == 0 and "detection: " in alone.stdout, alone.stderr
    missing = run_cli("score", tmp_path / "db" / "a.hea", "--predictions", tmp_path / "nowhere")
    assert_one_line_error(missing, "nowhere/a: no labels of predict here (beats.csv and summary.json)")


def test_score_with_a_reference_csv_and_its_errors(tmp_path):
    rec = write_wfdb_record(tmp_path, "rec", seconds=40)
    np.save(tmp_path / "rec.npy", rec.signal)
    reference = tmp_path / "reference.csv"
    symbols = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "/"}
    reference.write_text("sample,label\n" + "".join(f"{s},{symbols[c]}\n" for s, c in zip(rec.r_peaks, rec.labels)))
    result = run_cli("score", tmp_path / "rec.npy", "--fs", "360", "--reference", reference)
    assert result.returncode == 0, result.stderr
    assert f"detection: {len(rec.r_peaks):,} reference beats" in result.stdout

    # an annotation file exported as a table keeps its rhythm and noise notes: not beats, left out
    notes = tmp_path / "with_notes.csv"
    notes.write_text(reference.read_text() + f"10,+\n{rec.r_peaks[3] + 30},~\n")
    with_notes = run_cli("score", tmp_path / "rec.npy", "--fs", "360", "--reference", notes)
    assert with_notes.returncode == 0 and with_notes.stdout == result.stdout, with_notes.stderr
    beyond = tmp_path / "beyond.csv"
    beyond.write_text(reference.read_text() + f"{len(rec.signal) + 10},N\n")
    past_end = run_cli("score", tmp_path / "rec.npy", "--fs", "360", "--reference", beyond)
    assert_one_line_error(past_end, "beyond.csv: reference beat at sample", "past the end of the recording")
    shifted = tmp_path / "shifted.csv"  # 0.3 s late: another recording's reference, or another rate's
    shifted.write_text("sample,label\n" + "".join(f"{s + 108},N\n" for s in rec.r_peaks[:-2]))
    unpaired = run_cli("score", tmp_path / "rec.npy", "--fs", "360", "--reference", shifted)
    assert (
        unpaired.returncode == 1
        and "Traceback" not in unpaired.stderr
        and "rec.npy: no beat matched" in unpaired.stderr
    )
    assert "error: " in unpaired.stderr.splitlines()[-1] and "no detected beat lies within 150 ms" in unpaired.stderr

    (tmp_path / "odd.csv").write_text("sample,label\n100,N\n400,Z\n")
    odd = run_cli("score", tmp_path / "rec.npy", "--fs", "360", "--reference", tmp_path / "odd.csv")
    assert_one_line_error(odd, "odd.csv", "'Z'", "neither classes of the model")
    (tmp_path / "rec.atr").unlink()
    missing = run_cli("score", tmp_path / "rec.hea")
    assert_one_line_error(missing, "rec: no reference annotations (rec.atr)", "--annotator", "--reference")


def test_a_recording_that_cannot_be_scored_is_listed_and_the_others_are_scored(tmp_path):
    write_wfdb_record(tmp_path, "good", seconds=30)
    np.savetxt(tmp_path / "no-rate.csv", np.zeros(3000))  # a signal without its sampling rate
    result = run_cli("score", tmp_path, "--out", tmp_path / "s.json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "failed: " in result.stderr and "no-rate.csv" in result.stderr and "sampling rate" in result.stderr
    assert "1 of 2 recordings could not be scored" in result.stderr and "detection: " in result.stdout
    figures = json.loads((tmp_path / "s.json").read_text())
    assert [r["record"] for r in figures["recordings"]] == ["good"] and list(figures["failed"]) == [
        str(tmp_path / "no-rate.csv")
    ]


def test_a_reference_of_rhythm_notes_alone_scores_episodes_only(tmp_path):
    import wfdb

    rec = write_wfdb_record(tmp_path, "af", seconds=40)
    length = len(rec.signal)
    # as the MIT-BIH Atrial Fibrillation Database's atr: rhythm notes, no beats
    wfdb.wrann("af", "atr", np.array([0, length // 2]), symbol=["+", "+"], aux_note=["(N", "(AFIB"],
               write_dir=str(tmp_path))  # fmt: skip
    result = run_cli("score", tmp_path / "af.hea", "--per-record", "--out", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    assert "no reference beat annotations: the episodes alone are scored" in result.stdout
    assert "AF " in result.stdout and "af: rhythm notes only" in result.stderr
    assert "atrial episodes per recording" in result.stdout and "\naf        AF " in result.stdout
    figures = json.loads((tmp_path / "s.json").read_text())
    assert figures["beats_recordings"] == 0 and figures["episodes"]["AF"]["reference"] == 1
    assert figures["episodes"]["AF"]["duration_se"] in (None, 0.0)  # a regular synthetic rhythm: no AF found

    wfdb.wrann("af", "atr", np.array([5]), symbol=["~"], write_dir=str(tmp_path))
    assert_one_line_error(run_cli("score", tmp_path / "af.hea"), "af (atr): the reference marks neither beats nor")


@needs_mitdb
def test_score_a_mitdb_record_with_the_shipped_model():
    from arrhythmia.export import load_classifier

    comparisons = score_recordings([MITDB / "100"], load_classifier(None, "torch", None, device="cpu"))
    metrics = comparison_metrics(comparisons)
    assert metrics["detection"]["reference"] == 2273 and metrics["detection"]["se"] > 0.99
    assert metrics["accuracy"] > 0.99
    assert metrics["episodes_recordings"] == 1 and metrics["episodes"]["AF"]["reference"] == 0


def test_score_finds_the_folder_predict_moved_a_recording_to(tmp_path):
    # Two batches labelled into one --out, each with a recording 'a': the second went to another folder.
    for batch, seed in (("site1", 0), ("site2", 5)):
        (tmp_path / batch).mkdir()
        write_wfdb_record(tmp_path / batch, "a", seconds=40, seed=seed)
        labelled = run_cli("predict", tmp_path / batch, "--out", tmp_path / "out")
        assert labelled.returncode == 0, labelled.stderr
    scores = tmp_path / "scores.json"
    saved = run_cli("score", tmp_path / "site2" / "a.hea", "--predictions", tmp_path / "out", "--out", scores)
    assert saved.returncode == 0, saved.stderr
    detection = json.loads(scores.read_text())["detection"]  # site2's labels pair with its beats; site1's would not
    assert detection["se"] > 0.95 and detection["ppv"] > 0.95, detection
    # A third site's 'a', never labelled: the error follows a line saying whose labels out/a holds.
    (tmp_path / "site3").mkdir()
    write_wfdb_record(tmp_path / "site3", "a", seconds=40, seed=9)
    unlabelled = run_cli("score", tmp_path / "site3" / "a.hea", "--predictions", tmp_path / "out")
    assert unlabelled.returncode == 1 and "Traceback" not in unlabelled.stderr
    said, error = unlabelled.stderr.strip().splitlines()
    assert f"{tmp_path / 'out' / 'a'} holds the labels of" in said and "site1" in said
    assert f"is looked for in {tmp_path / 'out' / 'site3__a'}" in said and error.startswith("error: ")


def test_score_and_predict_take_the_signals_unit(tmp_path):
    rec = write_wfdb_record(tmp_path, "rec", seconds=40)
    np.save(tmp_path / "rec.npy", np.round(rec.signal * 409.6 + 2048))  # a 12-bit recorder's counts
    given = run_cli("predict", tmp_path / "rec.npy", "--fs", "360", "--units", "409.6", "--out", tmp_path / "given")
    assert given.returncode == 0, given.stderr
    assert json.loads((tmp_path / "given" / "summary.json").read_text())["mv_per_unit"] == 1.0
    assert "read as" not in given.stderr
    reference = tmp_path / "reference.csv"
    reference.write_text("sample,label\n" + "".join(f"{s},N\n" for s in rec.r_peaks))
    wrong = run_cli("score", tmp_path / "rec.npy", "--fs", "360", "--units", "volts-ish", "--reference", reference)
    assert_one_line_error(wrong, "--units 'volts-ish': expected a unit (mV, uV, V)")


def test_a_reference_csv_marks_ventricular_flutter_as_its_annotation_file_does(tmp_path):
    import wfdb

    from arrhythmia.ectopic_runs import run_statistics
    from arrhythmia.files import write_json
    from arrhythmia.scoring import score_predictions

    rec = write_wfdb_record(tmp_path, "rec", seconds=30)
    start, end = 10 * 360, 14 * 360  # ventricular flutter, no beat annotated inside it (as MIT-BIH's 207)
    beats = rec.r_peaks[(rec.r_peaks < start - 100) | (rec.r_peaks > end + 100)]
    labels = tmp_path / "labels"  # predict's: the beats N, three detections called V inside the flutter, and VF
    labels.mkdir()
    detections = [*(f"{s},N\n" for s in beats), *(f"{s * 360},V\n" for s in (11, 12, 13))]
    (labels / "beats.csv").write_text("sample,label\n" + "".join(sorted(detections, key=lambda row: int(row[:-3]))))
    (labels / "episodes.csv").write_text("type,start_s,end_s\nVF,10.0,14.0\n")
    write_json(labels / "summary.json", {"per_class": dict.fromkeys(AAMI_CLASSES, 0), "fs": FS, "recording_s": 30.0})
    samples = np.sort(np.concatenate([beats, [start, end]]))
    symbols = ["[" if s == start else "]" if s == end else "N" for s in samples]
    wfdb.wrann("rec", "atr", samples, symbol=symbols, write_dir=str(tmp_path))
    (tmp_path / "exported.csv").write_text("sample,label\n" + "".join(f"{s},{y}\n" for s, y in zip(samples, symbols)))

    from_atr = score_predictions(tmp_path / "rec", labels)
    from_csv = score_predictions(tmp_path / "rec", labels, reference_csv=tmp_path / "exported.csv")
    # the detections inside the flutter are neither extra nor counted, and the flutter is a long V run found
    assert from_csv.extra.sum() == from_atr.extra.sum() == 0 and from_csv.n_detected == from_atr.n_detected
    long_run = run_statistics(from_csv.runs["V"])["long run"]
    assert (long_run["tp_se"], long_run["fn"], long_run["tp_ppv"], long_run["fp"]) == (1, 0, 1, 0)
    assert all(np.array_equal(from_csv.runs[kind], from_atr.runs[kind]) for kind in ("V", "S"))
