"""Metrics, checked against statistics computed by hand from a known confusion matrix."""

import json

import numpy as np
import pytest

from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import compute_metrics, ec57_beat_statistics, format_metrics

CONFUSION = np.array([[50, 3, 2], [4, 20, 1], [1, 0, 19]])  # rows true N, S, V; columns predicted


def _labels_from_confusion(confusion):
    y_true, y_pred = [], []
    for t, row in enumerate(confusion):
        for p, count in enumerate(row):
            y_true += [t] * count
            y_pred += [p] * count
    return np.array(y_true), np.array(y_pred)


def test_ec57_statistics_match_hand_computation():
    y_true, y_pred = _labels_from_confusion(CONFUSION)
    m = compute_metrics(y_true, y_pred, ["N", "S", "V"])
    assert m["confusion"] == CONFUSION.tolist()
    assert m["accuracy"] == pytest.approx(89 / 100)
    # N: TP 50, FN 5, FP 5, TN 40
    assert m["per_class"]["N"]["se"] == pytest.approx(50 / 55)
    assert m["per_class"]["N"]["ppv"] == pytest.approx(50 / 55)
    assert m["per_class"]["N"]["fpr"] == pytest.approx(5 / 45)
    assert m["per_class"]["N"]["acc"] == pytest.approx(90 / 100)
    # S: TP 20, FN 5, FP 3, TN 72
    assert m["per_class"]["S"]["se"] == pytest.approx(20 / 25)
    assert m["per_class"]["S"]["ppv"] == pytest.approx(20 / 23)
    assert m["per_class"]["S"]["fpr"] == pytest.approx(3 / 75)
    assert m["per_class"]["S"]["acc"] == pytest.approx(92 / 100)
    # V: TP 19, FN 1, FP 3, TN 77
    assert m["per_class"]["V"]["se"] == pytest.approx(19 / 20)
    assert m["per_class"]["V"]["ppv"] == pytest.approx(19 / 22)
    assert m["per_class"]["V"]["fpr"] == pytest.approx(3 / 80)
    assert m["per_class"]["V"]["support"] == 20
    f1 = {
        c: 2 * m["per_class"][c]["se"] * m["per_class"][c]["ppv"] / (m["per_class"][c]["se"] + m["per_class"][c]["ppv"])
        for c in "NSV"
    }
    assert m["per_class"]["S"]["f1"] == pytest.approx(f1["S"])
    assert m["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    assert m["weighted_f1"] == pytest.approx((55 * f1["N"] + 25 * f1["S"] + 20 * f1["V"]) / 100)
    assert m["confusion_normalised"][1] == pytest.approx([4 / 25, 20 / 25, 1 / 25])


# rows true N, S, V, F, Q; columns called N, S, V, F, Q
AAMI_CONFUSION = np.array(
    [
        [90, 4, 3, 1, 0],
        [5, 30, 2, 0, 1],
        [2, 1, 40, 3, 0],
        [4, 2, 6, 5, 0],
        [0, 1, 2, 0, 1],
    ]
)


def test_ec57_counts_fusion_and_unknown_beats_called_v_against_neither_as_bxb_does():
    m = compute_metrics(*_labels_from_confusion(AAMI_CONFUSION), ["N", "S", "V", "F", "Q"])
    veb, sveb = m["ec57"]["V"], m["ec57"]["S"]
    # VEB: TP 40; FN 2 + 1 + 3 = 6; FP N 3 + S 2 (F's 6 and Q's 2 excused); one-vs-rest would count 13
    assert (veb["tp"], veb["fn"], veb["fp"]) == (40, 6, 5)
    assert veb["se"] == pytest.approx(40 / 46) and veb["ppv"] == pytest.approx(40 / 45)
    assert m["per_class"]["V"]["ppv"] == pytest.approx(40 / 53)
    # TN: the beats neither V nor called V: 203 in all - 46 (V row) - 53 (V column) + 40 (counted twice)
    assert veb["fpr"] == pytest.approx(5 / (5 + 144))
    # SVEB: TP 30; FN 5 + 2 + 1 = 8 (S called Q is missed); FP N 4 + V 1 + F 2 (Q's 1 excused)
    assert (sveb["tp"], sveb["fn"], sveb["fp"]) == (30, 8, 7)
    assert sveb["ppv"] == pytest.approx(30 / 37) and m["per_class"]["S"]["ppv"] == pytest.approx(30 / 38)


def test_ec57_counts_missed_beats_and_extra_detections():
    confusion = AAMI_CONFUSION
    missed = np.array([7, 2, 4, 0, 0])  # reference beats no detection matched
    extra = np.array([3, 1, 2, 0, 0])  # detections matching no reference beat, by label
    ec57 = ec57_beat_statistics(confusion, ["N", "S", "V", "F", "Q"], missed, extra)
    assert (ec57["V"]["tp"], ec57["V"]["fn"], ec57["V"]["fp"]) == (40, 10, 7)
    assert (ec57["S"]["tp"], ec57["S"]["fn"], ec57["S"]["fp"]) == (30, 10, 8)


def test_ec57_statistics_are_left_out_for_classes_that_are_not_aami_and_undefined_ratios_are_none():
    assert ec57_beat_statistics(np.eye(2, dtype=int), ["L", "R"]) is None
    assert ec57_beat_statistics(np.eye(4, dtype=int), ["N", "S", "V", "A"]) is None  # symbols, not AAMI classes
    assert compute_metrics(np.array([0, 1]), np.array([0, 1]), ["L", "R"])["ec57"] is None
    ec57 = ec57_beat_statistics(np.array([[5, 0, 0], [0, 0, 0], [0, 0, 0]]), ["N", "S", "V"])
    assert ec57["V"]["se"] is None and ec57["V"]["ppv"] is None and ec57["V"]["fpr"] == 0.0
    assert "VEB Se - +P - FPR 0.0000" in format_metrics(
        compute_metrics(np.zeros(5, int), np.zeros(5, int), ["N", "S", "V"])
    )


def test_a_ratio_undefined_for_a_class_never_called_or_absent_is_none_and_shown_as_a_dash():
    """As in ec57, per_record and record_average: the S +P of a test set where nothing is called S, the V Se
    of one without V beats, are undefined, not 0.0 (which read as 'every S label wrong')."""
    m = compute_metrics(np.array([0, 0, 1, 0]), np.array([0, 0, 0, 1]), ["N", "S", "V"])
    assert m["per_class"]["S"]["se"] == 0.0 and m["per_class"]["S"]["ppv"] == 0.0  # 1 S beat missed, 1 wrong S
    m = compute_metrics(np.array([0, 0, 1]), np.array([0, 0, 0]), ["N", "S", "V"], records=np.array(["a"] * 3))
    s, v = m["per_class"]["S"], m["per_class"]["V"]
    assert s["ppv"] is None and s["precision"] is None and s["se"] == 0.0 and s["f1"] == 0.0
    assert v["se"] is None and v["ppv"] is None and v["f1"] is None and v["support"] == 0
    assert v["fpr"] == 0.0 and v["acc"] == 1.0
    assert json.loads(json.dumps(m))["per_class"]["V"]["se"] is None  # null in metrics.json
    lines = format_metrics(m).splitlines()
    assert next(line for line in lines if line.startswith("S ")).split()[1:3] == ["0.0000", "-"]
    assert next(line for line in lines if line.startswith("V ")).split()[1:3] == ["-", "-"]


def test_metrics_are_fractions_and_tables_name_every_class():
    y_true, y_pred = _labels_from_confusion(CONFUSION)
    m = compute_metrics(y_true, y_pred, ["N", "S", "V"], loss=0.25)
    for key in ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "weighted_recall"):
        assert 0.0 <= m[key] <= 1.0
    text = format_metrics(m)
    assert "accuracy 0.8900" in text and "loss 0.2500" in text
    assert all(f"\n{c} " in text for c in "NSV")


def test_record_by_record_statistics_and_their_average_follow_ec57():
    # record a: N 4 (1 called S), S 2 (both found); record b: N 3, V 1 called N; no S in b.
    y_true = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    records = np.array(["a"] * 6 + ["b"] * 4)
    m = compute_metrics(y_true, y_pred, ["N", "S", "V"], records=records)
    a, b = m["per_record"]
    assert (a["record"], a["beats"], a["accuracy"]) == ("a", 6, pytest.approx(5 / 6))
    assert a["per_class"]["S"] == {"beats": 2, "called": 3, "se": 1.0, "ppv": pytest.approx(2 / 3)}
    assert b["per_class"]["S"] == {"beats": 0, "called": 0, "se": None, "ppv": None}  # undefined, not 0
    assert b["per_class"]["V"]["se"] == 0.0 and b["per_class"]["N"]["ppv"] == pytest.approx(3 / 4)
    average = m["record_average"]
    # S: Se over the one record holding S beats; +P over the one record with S calls
    assert average["S"] == {"se": 1.0, "se_records": 1, "ppv": pytest.approx(2 / 3), "ppv_records": 1}
    # N: Se (3/4 + 3/3) / 2 against the gross 6/7; V: no record calls V
    assert average["N"]["se"] == pytest.approx((3 / 4 + 1.0) / 2) and m["per_class"]["N"]["se"] == pytest.approx(6 / 7)
    assert average["V"] == {"se": 0.0, "se_records": 1, "ppv": None, "ppv_records": 0}
    text = format_metrics(m)
    assert "avg Se" in text and "mean over 2 records" in text
    assert "per_record" not in compute_metrics(y_true, y_pred, ["N", "S", "V"])


def test_intervals_over_records_widen_with_the_spread_between_records():
    from arrhythmia.evaluation import record_intervals

    rng = np.random.default_rng(0)
    records = np.repeat([f"r{i}" for i in range(20)], 200)
    y_true = np.where(rng.random(len(records)) < 0.1, 1, 0)  # 10% S everywhere
    steady = np.where(rng.random(len(records)) < 0.9, y_true, 1 - y_true)  # 90% right on every record
    # the same 90% on average, but from records labelled all right or 80% right: the patients differ
    off = np.repeat(rng.random(20) < 0.5, 200) & (rng.random(len(records)) < 0.2)
    spread = np.where(off, 1 - y_true, y_true)
    narrow = record_intervals(y_true, steady, records, ["N", "S"])
    wide = record_intervals(y_true, spread, records, ["N", "S"])
    assert narrow["records"] == 20 and narrow["resamples"] == 2000
    for figures in (narrow, wide):
        low, high = figures["accuracy"]
        assert low < float(np.mean(y_true == (steady if figures is narrow else spread))) < high
    width = lambda interval: interval[1] - interval[0]  # noqa: E731
    assert width(wide["accuracy"]) > 3 * width(narrow["accuracy"])
    assert record_intervals(y_true, steady, records, ["N", "S"]) == narrow  # seeded: the same every time
    # a class in one record only: a draw would often have none of it, so no interval
    y_true[:5] = 2
    assert record_intervals(y_true, steady, records, ["N", "S", "V"])["V"] == {"se": None, "ppv": None}
    m = compute_metrics(y_true, steady, ["N", "S", "V"], records=records)
    assert "95% intervals over the 20 records" in format_metrics(m) and m["intervals"]["S"]["se"] is not None


def test_labels_that_are_not_class_indices_are_named_instead_of_left_out_of_the_confusion():
    aami = ("N", "S", "V", "F", "Q")
    with pytest.raises(ArrhythmiaError, match=r"true labels 7 are not class indices of the 5 classes .*: 0..4"):
        compute_metrics(np.array([0, 1, 7]), np.array([0, 1, 2]), aami)
    with pytest.raises(ArrhythmiaError, match="predicted labels -1, 5 are not class indices"):
        compute_metrics(np.array([0, 1, 2]), np.array([-1, 1, 5]), aami)
    with pytest.raises(ArrhythmiaError, match=r"true labels have shape \(3,\), predicted \(2,\)"):
        compute_metrics(np.array([0, 1, 2]), np.array([0, 1]), aami)
    with pytest.raises(ArrhythmiaError, match="true labels hold <U1 values"):
        compute_metrics(np.array(["N", "S", "V"]), np.array([0, 1, 2]), aami)
    # Whole numbers held as floats are class indices still.
    assert compute_metrics(np.array([0.0, 1.0, 2.0]), [0, 1, 2], aami)["accuracy"] == 1.0


def test_evaluate_takes_a_boolean_mask_and_names_indices_outside_the_beats():
    from arrhythmia.data import WINDOWS, BeatSet
    from arrhythmia.evaluation import evaluate
    from arrhythmia.inference import Classifier

    classifier = Classifier.from_pretrained(device="cpu")
    rng = np.random.default_rng(0)
    n = 20
    beats = BeatSet(
        X=rng.random((n, classifier.input_length), dtype=np.float32),
        y=np.arange(n) % 5,
        classes=classifier.classes,
        record=np.full(n, "100"),
        sample=np.arange(n),
        symbol=np.full(n, "N"),
        source="test",
        context=rng.random((n, 9), dtype=np.float32) + 0.5,
        window=WINDOWS["centred"],
    )
    mask = np.arange(n) % 2 == 0
    by_mask, probs = evaluate(classifier, beats, mask)
    by_index, _ = evaluate(classifier, beats, np.flatnonzero(mask))
    assert by_mask["n_beats"] == 10 and probs.shape == (10, 5)
    assert by_mask["confusion"] == by_index["confusion"]
    with pytest.raises(ArrhythmiaError, match=r"test: a mask of shape \(5,\) for 20 beats"):
        evaluate(classifier, beats, mask[:5])
    with pytest.raises(ArrhythmiaError, match=r"test: beat indices -1, 20, 25 are outside its 20 beats \(0..19\)"):
        evaluate(classifier, beats, np.array([0, 20, -1, 25]))
    with pytest.raises(ArrhythmiaError, match="beat index holds float64 values"):
        evaluate(classifier, beats, np.array([0.5, 1.0]))
