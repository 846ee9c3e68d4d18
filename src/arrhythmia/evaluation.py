"""Test metrics: accuracy, precision/recall/F1, AAMI EC57 per-class statistics, confusion matrices.

``compute_metrics`` returns the stable ``metrics.json`` shape (fractions in 0..1)::

    {"accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision", "weighted_recall",
     "weighted_f1", "loss", "n_beats", "classes": [...], "confusion": [[...]],
     "confusion_normalised": [[...]],
     "per_class": {"N": {"se", "ppv", "fpr", "acc", "precision", "recall", "f1", "support"}, ...},
     "ec57": {"V": {"se", "ppv", "fpr", "tp", "fn", "fp"}, "S": {"se", "ppv", "tp", "fn", "fp"}} or None,
     # with each beat's record (``records``):
     "per_record": [{"record", "beats", "accuracy", "per_class": {"N": {"beats", "called", "se", "ppv"}, ...}}, ...],
     "record_average": {"N": {"se", "se_records", "ppv", "ppv_records"}, ...},
     "intervals": {"level", "resamples", "records", "accuracy": [low, high], "N": {"se": [low, high], "ppv": ...}, ...}}

``per_class`` statistics are one-vs-rest for each class: Se = TP/(TP+FN) (sensitivity), +P = TP/(TP+FP)
(positive predictivity), FPR = FP/(FP+TN), Acc = (TP+TN)/all, F1 = 2TP/(2TP+FP+FN); precision and recall
are +P and Se again. A ratio is None where it is undefined (the Se of a class with no test beats, the +P of
one nothing was called), as in ``ec57``, ``per_record`` and ``record_average``, and shown as "-"; the macro
and weighted averages are scikit-learn's, an undefined class's figure counted as 0. EC57 itself is not
one-vs-rest for its two ectopic classes: a fusion (F) or unclassifiable (Q) beat called V, and a Q beat
called S, counts against neither Se nor +P (``ec57_beat_statistics``, PhysioNet's ``bxb``, the standard's
reference comparator, counts them so); ``ec57`` holds those VEB and SVEB figures for the AAMI classes,
the ones to set beside published results. All of these pool every
beat (EC57's gross statistics, dominated by the records with most beats of a class); EC57 also asks for
the results record by record (``per_record``: None where a ratio is undefined) and their average
(``record_average``: each class's Se over the records that hold beats of it, +P over those with beats
called it, and how many records each mean is over; None where there are none). A figure of new patients
varies with the patients drawn more than with the beats: ``intervals`` gives each pooled figure's 95%
interval over records (the records resampled with replacement, SciPy's ``bootstrap``: a class's Se over
the records holding beats of it, its +P over those with beats called it; None where fewer than two do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)

from arrhythmia.batches import LazyRows
from arrhythmia.data import AAMI_CLASSES, BeatSet, make_split
from arrhythmia.data.heartbeat import records_are_files
from arrhythmia.data.splits import DS1, DS2, MITDB_RECORDS, Split, patient_of
from arrhythmia.errors import ArrhythmiaError, warnings_ignored
from arrhythmia.inference import Classifier
from arrhythmia.runs import Run

if TYPE_CHECKING:
    import pandas as pd


def ec57_beat_statistics(
    confusion: np.ndarray,
    classes: tuple[str, ...] | list[str],
    missed: np.ndarray | None = None,
    extra: np.ndarray | None = None,
) -> dict | None:
    """EC57's VEB and SVEB gross statistics, counted as PhysioNet's ``bxb`` counts them.

    confusion: (n_classes, n_classes) beat counts of matched beats, rows the reference class, columns the
    label given; missed: (n_classes,) reference beats of each class that no labelled detection matched;
    extra: (n_classes,) labelled detections matching no reference beat, by label (both zero when the beats
    scored are the annotated ones). VEB: TP = V called V; FN = V called anything else or missed; FP = N or
    S called V, and extra detections called V (a fusion or Q beat called V is neither). SVEB: TP = S called
    S; FN = S called anything else or missed; FP = N, V or F called S, and extra detections called S (a Q
    beat called S is neither). VEB FPR = FP / (FP + TN), TN every other beat or detection that is neither V
    nor called V, F and Q beats called V excepted. Ratios are fractions, None where undefined.

    Returns ``{"V": {"se", "ppv", "fpr", "tp", "fn", "fp"}, "S": {"se", "ppv", "tp", "fn", "fp"}}``, or
    None where ``classes`` are not AAMI classes, N, S and V among them (MIT-BIH's beat symbols, say).
    """
    if not {"N", "S", "V"} <= set(classes) <= set(AAMI_CLASSES):
        return None
    confusion = np.asarray(confusion, dtype=np.int64)
    n = len(classes)
    missed = np.zeros(n, np.int64) if missed is None else np.asarray(missed, dtype=np.int64)
    extra = np.zeros(n, np.int64) if extra is None else np.asarray(extra, dtype=np.int64)
    index = {name: i for i, name in enumerate(classes)}
    n_, s, v = index["N"], index["S"], index["V"]
    tp = int(confusion[v, v])
    fn = int(confusion[v].sum() - tp + missed[v])
    fp = int(confusion[n_, v] + confusion[s, v] + extra[v])  # F and Q beats called V count neither way
    others = [i for i in range(n) if i != v]
    tn = int(confusion[np.ix_(others, others)].sum() + extra[others].sum())
    veb = {
        "se": _defined_ratio(tp, tp + fn),
        "ppv": _defined_ratio(tp, tp + fp),
        "fpr": _defined_ratio(fp, fp + tn),
        "tp": tp,
        "fn": fn,
        "fp": fp,
    }
    tp = int(confusion[s, s])
    fn = int(confusion[s].sum() - tp + missed[s])
    blamed = [i for i in range(n) if i != s and classes[i] != "Q"]
    fp = int(confusion[blamed, s].sum() + extra[s])
    sveb = {"se": _defined_ratio(tp, tp + fn), "ppv": _defined_ratio(tp, tp + fp), "tp": tp, "fn": fn, "fp": fp}
    return {"V": veb, "S": sveb}


def compute_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: tuple[str, ...] | list[str],
    loss: float | None = None,
    records: np.ndarray | None = None,
    patients: Mapping[str, str] | None = None,
) -> dict:
    """Metrics of predictions ``y_pred`` against ``y_true`` (both (n_beats,) class indices into ``classes``);
    with ``records`` ((n_beats,) str, each beat's record), also record by record, their average, and
    intervals over the records (over the patients where ``patients``, ``{record: patient}``, groups them).
    ArrhythmiaError for labels of different lengths, or labels that are not indices of ``classes``."""
    y_true, y_pred = _class_indices(y_true, y_pred, classes)
    labels = list(range(len(classes)))
    confusion = confusion_matrix(y_true, y_pred, labels=labels)
    row_sums = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion, row_sums, out=np.zeros(confusion.shape), where=row_sums > 0)
    per_class = {}
    for i, ((tn, fp), (fn, tp)) in enumerate(multilabel_confusion_matrix(y_true, y_pred, labels=labels)):
        se, ppv = _defined_ratio(tp, tp + fn), _defined_ratio(tp, tp + fp)
        per_class[classes[i]] = {
            "se": se,
            "ppv": ppv,
            "fpr": _defined_ratio(fp, fp + tn),
            "acc": _defined_ratio(tp + tn, tp + tn + fp + fn),
            "precision": ppv,
            "recall": se,
            "f1": _defined_ratio(2 * tp, 2 * tp + fp + fn),
            "support": int(tp + fn),
        }
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        averages.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        **averages,
        "loss": None if loss is None else float(loss),
        "n_beats": int(len(y_true)),
        "classes": list(classes),
        "per_class": per_class,
        "ec57": ec57_beat_statistics(confusion, classes),
        "confusion": confusion.tolist(),
        "confusion_normalised": normalised.round(6).tolist(),
    }
    if records is not None:
        metrics["per_record"] = per_record_metrics(y_true, y_pred, records, classes)
        metrics["record_average"] = record_average(metrics["per_record"], classes)
        metrics["intervals"] = record_intervals(y_true, y_pred, records, classes, patients=patients)
    return metrics


def _class_indices(
    y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...] | list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as arrays, after checking that they are as long as each other and that every
    label is a class index (0 .. len(classes) - 1): scikit-learn leaves other labels out of the confusion."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ArrhythmiaError(
            f"true labels have shape {y_true.shape}, predicted {y_pred.shape}; metrics take one label a beat for both"
        )
    checked = []
    for labels, which in ((y_true, "true"), (y_pred, "predicted")):
        if labels.dtype.kind == "f" and np.array_equal(labels, np.round(labels)):  # whole numbers, as floats
            labels = labels.astype(np.int64)
        if labels.dtype.kind not in "iu":
            raise ArrhythmiaError(f"{which} labels hold {labels.dtype} values; metrics take class indices (integers)")
        checked.append(labels)
        outside = np.unique(labels[(labels < 0) | (labels >= len(classes))])
        if len(outside):
            raise ArrhythmiaError(
                f"{which} labels {', '.join(map(str, outside[:10].tolist()))} are not class indices of the "
                f"{len(classes)} classes ({', '.join(classes)}): 0..{len(classes) - 1}"
            )
    return checked[0], checked[1]


def ratio_interval(
    hits: np.ndarray, totals: np.ndarray, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> list[float] | None:
    """The ``level`` interval of ``sum(hits) / sum(totals)`` over records: hits, totals (n_records,) each
    record's counts (or seconds). The records with a total (those holding beats of the class, or episodes of
    the type; the others add nothing to the ratio) are drawn with replacement ``resamples`` times (SciPy's
    ``bootstrap``, percentile method, the two paired). ``[low, high]``, or None where fewer than two records
    have a total."""
    hits, totals = np.asarray(hits, dtype=np.float64), np.asarray(totals, dtype=np.float64)
    hits, totals = hits[totals > 0], totals[totals > 0]
    if len(totals) < 2:
        return None
    if np.ptp(hits / totals) == 0:  # every record gives the same ratio: no spread to draw
        return [float(hits[0] / totals[0])] * 2
    return bootstrap_interval(
        (hits, totals), lambda a, b, axis: a.sum(axis=axis) / b.sum(axis=axis), level, resamples, seed
    )


def bootstrap_interval(
    arrays: tuple[np.ndarray, ...], statistic: Callable, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> list[float] | None:
    """The ``level`` interval of ``statistic(*arrays, axis)`` over the records, drawn with replacement
    ``resamples`` times, the arrays (each (n_records,)) drawn together (SciPy's ``bootstrap``, paired,
    percentile method). ``[low, high]``, or None where the draws leave it undefined (a ratio of nothing)."""
    from scipy.stats import bootstrap

    # a draw without beats of a rare class: its ratio is NaN, said by None
    with np.errstate(invalid="ignore", divide="ignore"), warnings_ignored():
        result = bootstrap(
            arrays,
            statistic,
            paired=True,
            vectorized=True,
            confidence_level=level,
            n_resamples=resamples,
            method="percentile",
            random_state=seed,
        )
    low, high = result.confidence_interval
    return [float(low), float(high)] if np.isfinite([low, high]).all() else None


def record_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    records: np.ndarray,
    classes: tuple[str, ...] | list[str],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    patients: Mapping[str, str] | None = None,
) -> dict:
    """The ``level`` interval (``ratio_interval``) of the pooled accuracy and of each class's Se and +P over
    records, each figure pooled over the beats of the records drawn. y_true, y_pred: (n_beats,) class
    indices; records: (n_beats,) each beat's record. ``[low, high]`` fractions (a class's Se over the records
    holding beats of it, its +P over those with beats called it), or None where fewer than two do. With
    ``patients`` (``{record: patient}``) a patient's records are drawn together: records of one patient are
    not independent, and drawn apart they would narrow the interval.

    Returns ``{"level", "resamples", "records": the number of records, "patients": the number of patients
    (with ``patients`` only), "accuracy": [low, high] or None, <class>: {"se", "ppv"}}``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    names = np.asarray(records).astype(str)
    # The units drawn: each beat's patient, which is its record where no patients are given.
    _, unit = np.unique(patient_of(names, patients), return_inverse=True)
    n_units = int(unit.max()) + 1 if len(unit) else 0

    def per_unit(mask: np.ndarray) -> np.ndarray:
        return np.bincount(unit, weights=mask.astype(np.float64), minlength=n_units)

    def interval(hits: np.ndarray, totals: np.ndarray) -> list[float] | None:
        return ratio_interval(hits, totals, level, resamples, seed)

    intervals: dict = {"level": level, "resamples": resamples, "records": len(np.unique(names))}
    if patients:
        intervals["patients"] = n_units
    intervals["accuracy"] = interval(per_unit(y_true == y_pred), per_unit(np.ones(len(y_true), bool)))
    for c, label in enumerate(classes):
        hits = per_unit((y_true == c) & (y_pred == c))
        intervals[label] = {
            "se": interval(hits, per_unit(y_true == c)),
            "ppv": interval(hits, per_unit(y_pred == c)),
        }
    return intervals


def _defined_ratio(num: int, den: int) -> float | None:
    return float(num / den) if den else None


def per_record_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, records: np.ndarray, classes: tuple[str, ...] | list[str]
) -> list[dict]:
    """EC57's record-by-record results: for each record (sorted), its beats, accuracy and, per class, its
    beats of the class, beats called the class, Se and +P (None where undefined). y_true, y_pred: (n_beats,)
    class indices; records: (n_beats,) each beat's record."""
    records = np.asarray(records).astype(str)
    rows = []
    for name in sorted(set(records)):
        mine = records == name
        truth, called = np.asarray(y_true)[mine], np.asarray(y_pred)[mine]
        per_class = {}
        for c, label in enumerate(classes):
            hits = int(((truth == c) & (called == c)).sum())
            beats, calls = int((truth == c).sum()), int((called == c).sum())
            per_class[label] = {
                "beats": beats,
                "called": calls,
                "se": _defined_ratio(hits, beats),
                "ppv": _defined_ratio(hits, calls),
            }
        accuracy = float((truth == called).mean())
        rows.append({"record": name, "beats": int(mine.sum()), "accuracy": accuracy, "per_class": per_class})
    return rows


def record_average(per_record: list[dict], classes: tuple[str, ...] | list[str]) -> dict:
    """EC57's average statistics: per class, the mean Se over the records holding beats of it and the mean
    +P over the records with beats called it (``per_record_metrics`` rows), with how many records each is over."""
    average = {}
    for label in classes:
        se = [row["per_class"][label]["se"] for row in per_record if row["per_class"][label]["se"] is not None]
        ppv = [row["per_class"][label]["ppv"] for row in per_record if row["per_class"][label]["ppv"] is not None]
        average[label] = {
            "se": float(np.mean(se)) if se else None,
            "se_records": len(se),
            "ppv": float(np.mean(ppv)) if ppv else None,
            "ppv_records": len(ppv),
        }
    return average


def beat_indices(index: np.ndarray, n_beats: int, source: str) -> np.ndarray:
    """``index`` as (k,) int64 indices of ``n_beats`` beats: integer indices as they are, a boolean mask of
    ``n_beats`` entries as the indices it marks. ArrhythmiaError (one line) for a mask of another length,
    indices that are not integers, or indices outside 0 .. n_beats - 1."""
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (n_beats,):
            raise ArrhythmiaError(f"{source}: a mask of shape {index.shape} for {n_beats} beats")
        return np.flatnonzero(index)
    if index.size == 0:
        return np.zeros(0, dtype=np.int64)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise ArrhythmiaError(
            f"{source}: beat index holds {index.dtype} values of shape {index.shape}; give (k,) beat indices "
            "(integers) or a boolean mask"
        )
    outside = np.unique(index[(index < 0) | (index >= n_beats)])
    if len(outside):
        raise ArrhythmiaError(
            f"{source}: beat indices {', '.join(map(str, outside[:10].tolist()))} are outside its {n_beats} beats "
            f"(0..{n_beats - 1})"
        )
    return index.astype(np.int64, copy=False)


def evaluate(
    classifier: Classifier, beats: BeatSet, index: np.ndarray, patients: Mapping[str, str] | None = None
) -> tuple[dict, np.ndarray]:
    """Metrics of ``classifier`` on ``beats[index]``, and its class probabilities (len(index), n_classes).

    index : (k,) int beat indices (0 .. len(beats) - 1), or a (len(beats),) bool mask of the beats to take.
    patients : ``{record: patient}``: the intervals draw a patient's records together (``record_intervals``).
    The beats are read a batch at a time (from a beat store, only those rows), never gathered whole;
    labels and context features are a few bytes a beat.
    """
    if tuple(beats.classes) != classifier.classes:
        theirs, ours = ", ".join(beats.classes), ", ".join(classifier.classes)
        raise ArrhythmiaError(f"{beats.source}: classes {theirs} do not match the model's {ours}")
    index = beat_indices(index, len(beats), beats.source)
    y_true = beats.y[index]
    context = beats.context[index] if classifier.takes_context and beats.context is not None else None
    probs = classifier.predict_proba(LazyRows(beats.X, index), context)
    n = len(y_true)
    loss = float(-np.log(np.clip(probs[np.arange(n), y_true], 1e-12, None)).mean()) if n else None
    # Figures by record are figures by patient: none where the "records" are the Heartbeat CSVs' files.
    records = None if records_are_files(beats) else beats.record[index]
    metrics = compute_metrics(y_true, probs.argmax(1), classifier.classes, loss, records, patients)
    return metrics, probs


def _other_data_split(run: Run, beats: BeatSet) -> Split:
    """The split of another source's ``beats`` that ``run`` is tested on. For an inter-patient run: on the
    database it trained on (MIT-BIH for a run on MIT-BIH; the same source, or one holding its test records,
    for a run on another database), its own split (DS2, or its test records; ``make_split``); on MIT-BIH for
    a run that trained on another database, DS2 (de Chazal's test records); on another database, every beat.
    None of the last two's patients was trained on. Else the source's own test split, or a random one
    (``intra``)."""
    record = beats.record.astype(str)
    held_out = list(run.config.test_records)
    if run.config.protocol != "inter" or records_are_files(beats):
        return make_split(beats, "intra", run.config.seed)
    described = run.data() if (run.path / run.DATA).is_file() else {}
    # A run on MIT-BIH holds out DS1 records, or splits DS1 -> DS2 (its note says so); one that kept no
    # description trained before other databases could be split by patient: on MIT-BIH.
    trained = str(described.get("split_note", "DS1 -> "))  # "DS1 -> ", not "DS1": a folder named DS1-something
    on_mitdb = set(held_out) <= set(DS1) if held_out else trained.startswith("DS1 -> ")
    mitdb = set(record) <= MITDB_RECORDS
    if mitdb:
        same = on_mitdb
    else:
        same_source = beats.source == described.get("source") or (
            beats.origin is not None and beats.origin == described.get("data")
        )
        same = not on_mitdb and (same_source or bool(np.isin(record, held_out).any()))
    if same:
        if np.isin(record, held_out or (DS2 if mitdb else record)).any():
            return make_split(beats, "inter", run.config.seed, held_out, run.patients())
        # The run's database without the records it tested on: only a random split of beats is left.
        return make_split(beats, "intra", run.config.seed)
    tested = np.flatnonzero(np.isin(record, DS2)) if mitdb else np.empty(0, dtype=np.int64)
    if len(tested):  # MIT-BIH's DS2, for a run that trained on another database
        missing = [r for r in DS2 if r not in set(record)]
        part = f", {len(DS2) - len(missing)} of its {len(DS2)} records (missing {' '.join(missing)})" if missing else ""
        note = (
            f"DS2 of {beats.source} (de Chazal 2004's test records{part}): another database than the run's, "
            "none of whose patients it trained on"
        )
    else:  # another database than the run's (or an MIT-BIH folder without DS2): every beat
        tested = np.arange(len(beats))
        note = f"every beat of {beats.source}: another database, none of whose patients the run trained on"
    return Split(tested[:0], tested[:0], tested, "inter", note)


def evaluate_run(
    run: Run, data: str | None = None, beats: BeatSet | None = None, log: Callable[[str], None] = print
) -> tuple[dict, np.ndarray]:
    """Evaluate the model of ``run`` on a test split and write its metrics file.

    By default the test split of the run's own beats (``beats``, else ``run.beats()``: its data, cut with
    its window) to ``metrics.json``. With ``data`` (another source with the same classes, e.g. the
    Heartbeat CSVs for a model trained on MIT-BIH) that source's test split (``_other_data_split``: under
    the run's protocol, every beat of another database, or ``intra``), to ``metrics-<source>.json``.
    Returns the metrics and the test probabilities.
    """
    classifier = run.classifier()
    protocol = run.config.protocol
    if data is None:
        beats = beats if beats is not None else run.beats(progress=False)
        split = run.split(beats)
    else:
        beats = run.load_other_beats(data)
        split = _other_data_split(run, beats)
        protocol = split.protocol
    metrics, probs = evaluate(classifier, beats, split.test, run.patients())
    metrics["data"] = {
        "source": beats.source,
        # what --data named (a directory as its absolute path): compare --data finds these figures by it
        "origin": beats.origin,
        "description": beats.description,
        "synthetic": beats.synthetic,
        "protocol": protocol,
        "split_note": split.note,
    }
    run.write_metrics(metrics, None if data is None else beats.source)
    run.write_predictions(predictions_table(beats, split.test, probs), None if data is None else beats.source)
    log(format_metrics(metrics))
    return metrics, probs


def predictions_table(beats: BeatSet, index: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """One row per tested beat (``beats[index]``, in that order; ``probs``: (len(index), n_classes)): its
    record, sample and symbol, the true and the called class, and each class's probability: what a paper's
    own statistics (McNemar's test, another averaging, a subgroup) are counted from.

    ``sample`` is the beat's R wave at the recording's rate; the Heartbeat CSVs hold cut beats and no
    recording (``BeatSet.sample`` -1 for every beat), so there it is the beat's row in its CSV (``record``,
    0 for the first row, the order ``beats`` holds them in): ``record`` and ``sample`` name one beat either
    way. Probabilities are written as the model gave them (float32, each as its shortest exact decimal):
    rounded, two classes' could tie, and their argmax would not give ``called`` back."""
    import pandas as pd  # on use: a second of start-up for every command that imports this module

    index = beat_indices(index, len(beats), beats.source)
    probs = np.asarray(probs)
    if probs.shape != (len(index), len(beats.classes)):
        raise ArrhythmiaError(
            f"{beats.source}: probabilities of shape {probs.shape} for {len(index)} beats of "
            f"{len(beats.classes)} classes"
        )
    classes = np.asarray(beats.classes)
    record = beats.record.astype(str)
    sample = beats.sample
    if records_are_files(beats):  # no recording to hold a sample: the beat's row in its file names it instead
        sample = np.empty(len(beats), dtype=np.int64)
        for name in np.unique(record):
            mine = record == name
            sample[mine] = np.arange(int(mine.sum()))
    table = pd.DataFrame(
        {
            "record": record[index],
            "sample": sample[index].astype(np.int64),
            "symbol": beats.symbol[index].astype(str),
            "true": classes[beats.y[index]],
            "called": classes[probs.argmax(1)] if len(probs) else np.array([], dtype=str),
        }
    )
    for c, name in enumerate(classes):
        # Not rounded: float32 as it is, which pandas writes as its shortest decimal that reads back exactly.
        table[f"p_{name}"] = probs[:, c].astype(np.float32 if probs.dtype.itemsize <= 4 else np.float64)
    return table


def figure_text(value: float | None, percent: bool = False) -> str:
    """A fraction as ``0.9123`` (``91.2`` with ``percent``), "-" where it is undefined (None)."""
    if value is None:
        return "-"
    return f"{100 * value:.1f}" if percent else f"{value:.4f}"


def record_average_cells(average: dict) -> str:
    """One class's record-average Se and +P (``record_average``'s entry) as two 9-wide cells, "-" where
    no record defines them."""
    return "".join(f"{figure_text(v):>9}" for v in (average["se"], average["ppv"]))


def interval_text(interval: list[float] | None, percent: bool = False) -> str:
    """``[low, high]`` (fractions) as ``0.912-0.935`` (``91.2-93.5`` with ``percent``), "-" for None."""
    if interval is None:
        return "-"
    low, high = (100 * v for v in interval) if percent else interval
    return f"{low:.1f}-{high:.1f}" if percent else f"{low:.3f}-{high:.3f}"


def ec57_text(ec57: dict, percent: bool = False) -> str:
    """``ec57_beat_statistics``'s figures on one line, fractions (percent with ``percent``), "-" where
    undefined."""

    def figure(value: float | None, digits: int = 1) -> str:
        if value is None:
            return "-"
        return f"{100 * value:.{digits}f}" if percent else f"{value:.4f}"

    veb, sveb = ec57["V"], ec57["S"]
    return (
        f"EC57 as bxb counts it (F and Q beats called V, Q beats called S, count against neither): "
        f"VEB Se {figure(veb['se'])} +P {figure(veb['ppv'])} FPR {figure(veb['fpr'], 2)}; "
        f"SVEB Se {figure(sveb['se'])} +P {figure(sveb['ppv'])}"
    )


def format_metrics(metrics: dict) -> str:
    """The metrics as plain-text tables: headline, per-class EC57 statistics, confusion matrix. Columns
    widen for class names longer than the figures (PTB's normal / abnormal)."""
    classes = metrics["classes"]
    name_width = max(6, max(map(len, classes), default=0) + 1)
    cell = max(8, max(map(len, classes), default=0) + 2)  # a confusion column headed by a class name
    data = metrics.get("data", {})
    loss = "" if metrics["loss"] is None else f"  loss {metrics['loss']:.4f}"  # none for labels without probabilities
    lines = [
        f"test set: {metrics['n_beats']:,} beats of {data.get('description', '?')} ({data.get('protocol', '?')})",
        f"accuracy {metrics['accuracy']:.4f}{loss}",
    ]
    for average in ("macro", "weighted"):
        p, r, f = (metrics[f"{average}_{m}"] for m in ("precision", "recall", "f1"))
        lines.append(f"{average:<9} precision {p:.4f}  recall {r:.4f}  F1 {f:.4f}")
    average = metrics.get("record_average")
    lines += [
        "",
        f"{'class':<{name_width}}{'Se':>8}{'+P':>8}{'FPR':>8}{'Acc':>8}{'F1':>8}{'support':>9}"
        + (f"{'avg Se':>9}{'avg +P':>9}  (mean over {len(metrics['per_record'])} records)" if average else ""),
    ]
    for name in classes:
        c = metrics["per_class"][name]
        cells = "".join(f"{figure_text(c[k]):>8}" for k in ("se", "ppv", "fpr", "acc", "f1"))
        line = f"{name:<{name_width}}{cells}{c['support']:>9,}"
        if average:
            line += record_average_cells(average[name])
        lines.append(line)
    ec57 = metrics.get("ec57")
    if ec57:
        lines += ["", ec57_text(ec57)]
    intervals = metrics.get("intervals")
    if intervals and intervals.get("accuracy"):
        over = f"the {intervals['records']} records"
        if "patients" in intervals:
            over = f"the {intervals['patients']} patients ({intervals['records']} records, a patient's drawn together)"
        lines += ["", f"{intervals['level']:.0%} intervals over {over} (bootstrap):"]
        lines.append(f"accuracy  {interval_text(intervals['accuracy'])}")
        for name in classes:
            se, ppv = (interval_text(intervals[name][k]) for k in ("se", "ppv"))
            lines.append(f"{name:<{name_width}}Se  {se:<13}  +P  {ppv}")
    header = " " * name_width + "".join(f"{n:>{cell}}" for n in classes)
    lines += ["", "confusion (rows: true, columns: predicted)", header]
    for name, row in zip(classes, metrics["confusion"]):
        lines.append(f"{name:<{name_width}}" + "".join(f"{v:>{cell},}" for v in row))
    return "\n".join(lines)
