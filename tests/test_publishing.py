"""What a paper takes from a run: every figure of metrics.json, of `evaluate`'s tables and of report.html counted
again by hand from the run's own per-beat labels, and the inter-patient split's records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arrhythmia.config import TrainConfig
from arrhythmia.data import AAMI_CLASSES, BeatSet, load_beats
from arrhythmia.data.splits import DS1, DS2, PACED
from arrhythmia.data.synthetic import load_synthetic
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import evaluate, figure_text, format_metrics, predictions_table
from arrhythmia.experiment import run_experiment
from arrhythmia.report import percent
from arrhythmia.runs import Run


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A small synthetic run with its report, and its test beats' true and called classes and records."""
    root = tmp_path_factory.mktemp("published")
    with pytest.MonkeyPatch.context() as mp:  # this fixture outlives a test: a cache of its own
        mp.setenv("ARRHYTHMIA_CACHE_DIR", str(root / "cache"))
        beats = load_synthetic(n_records=4, duration_s=60)
        config = TrainConfig(model="kachuee-resnet", epochs=2, batch_size=64, threads=1)
        run = run_experiment(config, run_dir=root / "run", beats=beats, progress=False, log=lambda _: None)
    split = run.split()
    _, probs = evaluate(run.classifier(), beats, split.test)
    truth, called, record = beats.y[split.test], probs.argmax(1), beats.record[split.test].astype(str)
    return run, truth, called, record


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def test_every_pooled_figure_is_the_count_of_the_per_beat_labels(published):
    run, truth, called, _ = published
    metrics = run.metrics()
    classes = metrics["classes"]
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, called), 1)
    assert metrics["confusion"] == confusion.tolist() and metrics["n_beats"] == len(truth)
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    f1, ppv, se = [], [], []
    for c, name in enumerate(classes):
        tp = confusion[c, c]
        fn, fp = confusion[c].sum() - tp, confusion[:, c].sum() - tp
        tn = confusion.sum() - tp - fn - fp
        row = metrics["per_class"][name]
        for key, value in (
            ("se", _ratio(tp, tp + fn)),
            ("ppv", _ratio(tp, tp + fp)),
            ("fpr", _ratio(fp, fp + tn)),
            ("f1", _ratio(2 * tp, 2 * tp + fp + fn)),
        ):
            assert row[key] == (None if value is None else pytest.approx(value)), (name, key)
        assert row["support"] == tp + fn
        se, ppv, f1 = se + [row["se"] or 0.0], ppv + [row["ppv"] or 0.0], f1 + [row["f1"] or 0.0]
    support = confusion.sum(axis=1)
    # scikit-learn's averages: an undefined figure counts as 0
    assert metrics["macro_f1"] == pytest.approx(np.mean(f1))
    assert metrics["weighted_recall"] == pytest.approx(np.dot(se, support) / support.sum())
    assert metrics["weighted_precision"] == pytest.approx(np.dot(ppv, support) / support.sum())
    # EC57 as bxb counts it: F and Q beats called V, and Q beats called S, count against neither
    n, s, v, f = (classes.index(name) for name in ("N", "S", "V", "F"))
    veb, sveb = metrics["ec57"]["V"], metrics["ec57"]["S"]
    assert (veb["tp"], veb["fn"], veb["fp"]) == (
        confusion[v, v],
        confusion[v].sum() - confusion[v, v],
        confusion[n, v] + confusion[s, v],
    )
    assert (sveb["tp"], sveb["fn"], sveb["fp"]) == (
        confusion[s, s],
        confusion[s].sum() - confusion[s, s],
        confusion[n, s] + confusion[v, s] + confusion[f, s],  # not Q's
    )
    assert veb["se"] == (None if not confusion[v].sum() else pytest.approx(veb["tp"] / (veb["tp"] + veb["fn"])))


def test_record_by_record_figures_and_their_average_are_the_counts_of_each_record(published):
    run, truth, called, record = published
    metrics = run.metrics()
    classes = metrics["classes"]
    names = sorted(set(record))
    assert [row["record"] for row in metrics["per_record"]] == names
    for c, name in enumerate(classes):
        se, ppv = [], []
        for row in metrics["per_record"]:
            mine = record == row["record"]
            hits = int(((truth == c) & (called == c) & mine).sum())
            beats, calls = int(((truth == c) & mine).sum()), int(((called == c) & mine).sum())
            assert (row["per_class"][name]["beats"], row["per_class"][name]["called"]) == (beats, calls)
            se += [hits / beats] if beats else []
            ppv += [hits / calls] if calls else []
        average = metrics["record_average"][name]
        assert (average["se_records"], average["ppv_records"]) == (len(se), len(ppv))
        assert average["se"] == (pytest.approx(np.mean(se)) if se else None)
        assert average["ppv"] == (pytest.approx(np.mean(ppv)) if ppv else None)
    # each interval holds its pooled figure (a ratio of sums over the records drawn)
    low, high = metrics["intervals"]["accuracy"]
    assert low <= metrics["accuracy"] <= high and metrics["intervals"]["records"] == len(names)


def test_evaluate_s_tables_and_the_report_print_the_figures_of_metrics_json(published):
    run, *_ = published
    metrics = run.metrics()
    printed = format_metrics(metrics)
    page = run.report_path.read_text()
    assert f"accuracy {metrics['accuracy']:.4f}" in printed
    assert f'<div class="value">{percent(metrics["accuracy"])}</div>' in page
    for name in metrics["classes"]:
        row = metrics["per_class"][name]
        cells = "".join(f"{figure_text(row[key]):>8}" for key in ("se", "ppv", "fpr", "acc", "f1"))
        assert cells in printed, name
        shown = "&ndash;" if row["ppv"] is None else percent(row["ppv"])
        assert f'<td class="num">{shown}</td>' in page, name
    for row in metrics["confusion"]:
        assert "".join(f"{v:>8,}" for v in row) in printed


def test_the_inter_patient_sets_are_de_chazal_s_and_share_no_record():
    # de Chazal, O'Dwyer & Reilly 2004, IEEE TBME 51(7), Table I; the four paced records in neither.
    published_ds1 = "101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230"
    published_ds2 = "100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234"
    assert (" ".join(DS1), " ".join(DS2)) == (published_ds1, published_ds2)
    assert set(PACED) == {"102", "104", "107", "217"}
    assert not (set(DS1) & set(DS2)) and not (set(PACED) & (set(DS1) | set(DS2)))


# -- predictions.csv: what a paper counts its own statistics from ------------------------------------------


def test_predictions_csv_alone_gives_back_every_tested_beat_s_labels_in_the_order_tested(published):
    """McNemar's test pairs two runs' rows: each row names one beat (record, sample) and holds its labels."""
    run, truth, called, record = published
    table = run.predictions()
    classes = np.asarray(run.metrics()["classes"])
    assert table["record"].tolist() == record.tolist() and not table.duplicated(["record", "sample"]).any()
    assert table["true"].tolist() == classes[truth].tolist() and table["called"].tolist() == classes[called].tolist()
    beats, test = run.beats(progress=False), run.split().test
    assert table["sample"].tolist() == beats.sample[test].tolist()
    assert table["symbol"].tolist() == beats.symbol[test].astype(str).tolist()


def _beats(record: list[str], sample: list[int], y: list[int], source: str = "db") -> BeatSet:
    n = len(record)
    return BeatSet(
        X=np.zeros((n, 187), np.float32),
        y=np.asarray(y, np.int64),
        classes=AAMI_CLASSES,
        record=np.asarray(record),
        sample=np.asarray(sample, np.int64),
        symbol=np.asarray([AAMI_CLASSES[i] for i in y]),
        source=source,
    )


def test_probabilities_are_written_as_given_so_their_argmax_is_the_called_class_and_none_is_zero(tmp_path):
    """Rounded to 6 decimals, 0.4999996 and 0.5000004 were one value: the argmax of the file's probabilities
    called the beat N where the model called it S; and a true class's 3e-7 was 0, a log loss of infinity."""
    beats = _beats(["0001", "0001"], [10, 400], [1, 4])
    probs = np.array([[0.4999996, 0.5000004, 0, 0, 0], [0.6, 0.1, 0.1, 0.1999997, 3e-7]], np.float32)
    run = Run(tmp_path)
    run.write_predictions(predictions_table(beats, np.arange(2), probs))
    table = pd.read_csv(run.predictions_path())  # as a paper's own script reads it
    written = table[[f"p_{c}" for c in AAMI_CLASSES]].to_numpy()
    assert table["called"].tolist() == ["S", "N"]
    assert (np.asarray(AAMI_CLASSES)[written.argmax(1)] == table["called"]).all()
    assert np.array_equal(written.astype(np.float32), probs)  # each float32 back exactly, nothing rounded away
    with pytest.raises(ArrhythmiaError, match="probabilities of shape"):
        predictions_table(beats, np.arange(2), probs[:, :4])


def test_a_record_named_0001_is_read_back_as_0001_and_a_run_without_predictions_says_so(tmp_path):
    beats = _beats(["0001", "0001", "0100"], [5, 300, 5], [0, 2, 0])
    run = Run(tmp_path)
    with pytest.raises(ArrhythmiaError) as missing:  # a run from before runs wrote them
        run.predictions()
    assert str(missing.value).startswith(f"{tmp_path / 'predictions.csv'}: ") and "arrhythmia evaluate" in str(
        missing.value
    )
    run.write_predictions(predictions_table(beats, np.arange(3), np.eye(5, dtype=np.float32)[[0, 2, 1]]), "other")
    table = run.predictions("other")
    assert table["record"].tolist() == ["0001", "0001", "0100"]  # read as numbers they were 1, 1 and 100
    assert table["sample"].dtype == np.int64 and table["called"].tolist() == ["N", "V", "S"]


def test_a_heartbeat_csv_beat_is_named_by_its_row_in_its_file_not_a_sample_of_minus_one(heartbeat_dir):
    """The CSVs hold cut beats and no recording: every beat's sample was -1, so record and sample named
    none of them, and two runs' rows could only be paired by trusting their order."""
    beats = load_beats(str(heartbeat_dir), progress=False)
    test = np.flatnonzero(beats.is_test)
    table = predictions_table(beats, test, np.full((len(test), 5), 0.2, np.float32))
    assert set(table["record"]) == {"mitbih_test"} and not table.duplicated(["record", "sample"]).any()
    rows = np.loadtxt(heartbeat_dir / "mitbih_test.csv", delimiter=",")[:, :187]
    assert np.allclose(rows[table["sample"].to_numpy()], beats.X[test], atol=1e-6)  # the row each beat was read from
    train = np.flatnonzero(~beats.is_test)[[3, 7]]
    assert predictions_table(beats, train, np.full((2, 5), 0.2))["sample"].tolist() == [3, 7]
