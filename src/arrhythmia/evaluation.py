"""Test metrics: accuracy, precision/recall/F1, AAMI EC57 per-class statistics, confusion matrices.

``compute_metrics`` returns the stable ``metrics.json`` shape (fractions in 0..1)::

    {"accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision", "weighted_recall",
     "weighted_f1", "loss", "n_beats", "classes": [...], "confusion": [[...]],
     "confusion_normalised": [[...]],
     "per_class": {"N": {"se", "ppv", "fpr", "acc", "precision", "recall", "f1", "support"}, ...}}

EC57 statistics are one-vs-rest for each class: Se = TP/(TP+FN) (sensitivity), +P = TP/(TP+FP)
(positive predictivity), FPR = FP/(FP+TN), Acc = (TP+TN)/all. A class with no true or no predicted
beats gets 0.0 where the ratio is undefined (as scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def compute_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...] | list[str], loss: float | None = None
) -> dict:
    """Metrics of predictions ``y_pred`` against ``y_true`` (both (n_beats,) class indices)."""
    labels = list(range(len(classes)))
    confusion = confusion_matrix(y_true, y_pred, labels=labels)
    row_sums = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion, row_sums, out=np.zeros(confusion.shape), where=row_sums > 0)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {}
    for i, ((tn, fp), (fn, tp)) in enumerate(multilabel_confusion_matrix(y_true, y_pred, labels=labels)):
        per_class[classes[i]] = {
            "se": _ratio(tp, tp + fn),
            "ppv": _ratio(tp, tp + fp),
            "fpr": _ratio(fp, fp + tn),
            "acc": _ratio(tp + tn, tp + tn + fp + fn),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        averages.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        **averages,
        "loss": None if loss is None else float(loss),
        "n_beats": int(len(y_true)),
        "classes": list(classes),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "confusion_normalised": normalised.round(6).tolist(),
    }


def evaluate_run(
    run_dir,
    data: str | None = None,
    beats=None,
    log=print,
    report: bool = False,
) -> dict:
    """Evaluate the best model of ``run_dir`` on a test split and write ``metrics.json``.

    By default the test split of the run's own data and protocol. With ``data`` (another source with
    the same classes, e.g. the Heartbeat CSVs for a model trained on MIT-BIH) its test split under the
    run's protocol, or under ``intra`` where that source has no patients for ``inter``, written to
    ``metrics-<source>.json``. ``report``: also write the figures and ``report.html``, from the beats and
    test predictions already at hand; only for the run's own data, which is what the report describes.
    """
    from pathlib import Path

    from arrhythmia.data import load_beats, make_split
    from arrhythmia.errors import ArrhythmiaError
    from arrhythmia.inference import Classifier
    from arrhythmia.runs import write_json
    from arrhythmia.train import LazyRows, load_run_config

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    classifier = Classifier.from_run(run_dir, device=config.device)
    if beats is None:
        beats = load_beats(data if data is not None else config.data)
    if tuple(beats.classes) != classifier.classes:
        theirs, ours = ", ".join(beats.classes), ", ".join(classifier.classes)
        raise ArrhythmiaError(f"{beats.source}: classes {theirs} do not match the model's {ours}")
    same_source = data is None
    protocol = config.protocol
    if not same_source and protocol == "inter" and not _has_mitdb_records(beats):
        protocol = "intra"  # no DS1/DS2 patients in that source: use its own (or a random) test split
    split = make_split(beats, protocol, config.seed)
    # Streamed: the test beats are read a batch at a time (from a beat store, only those rows), never
    # gathered whole; y and rr are a few bytes a beat.
    y_true = beats.y[split.test]
    rr = beats.rr[split.test] if classifier.takes_rr and beats.rr is not None else None
    probs = classifier.predict_proba(LazyRows(beats.X, split.test), rr)
    y_pred = probs.argmax(1)
    n = len(y_true)
    loss = float(-np.log(np.clip(probs[np.arange(n), y_true], 1e-12, None)).mean()) if n else None
    metrics = compute_metrics(y_true, y_pred, classifier.classes, loss=loss)
    metrics["data"] = {
        "source": beats.source,
        "description": beats.description,
        "synthetic": beats.synthetic,
        "protocol": protocol,
        "split_note": split.note,
    }
    write_json(run_dir / ("metrics.json" if same_source else f"metrics-{beats.source}.json"), metrics)
    log(format_metrics(metrics))
    if report and same_source:
        from arrhythmia.report import write_report

        write_report(run_dir, beats=beats, test_probs=probs, log=log)
    return metrics


def _has_mitdb_records(beats) -> bool:
    from arrhythmia.data.splits import DS2

    return bool(np.isin(beats.record.astype(str), DS2).any())


def format_metrics(metrics: dict) -> str:
    """The metrics as plain-text tables: headline, per-class EC57 statistics, confusion matrix."""
    classes = metrics["classes"]
    data = metrics.get("data", {})
    loss = "n/a" if metrics["loss"] is None else f"{metrics['loss']:.4f}"
    lines = [
        f"test set: {metrics['n_beats']:,} beats of {data.get('description', '?')} ({data.get('protocol', '?')})",
        f"accuracy {metrics['accuracy']:.4f}  loss {loss}",
    ]
    for average in ("macro", "weighted"):
        p, r, f = (metrics[f"{average}_{m}"] for m in ("precision", "recall", "f1"))
        lines.append(f"{average:<9} precision {p:.4f}  recall {r:.4f}  F1 {f:.4f}")
    lines += [
        "",
        f"{'class':<6}{'Se':>8}{'+P':>8}{'FPR':>8}{'Acc':>8}{'F1':>8}{'support':>9}",
    ]
    for name in classes:
        c = metrics["per_class"][name]
        lines.append(
            f"{name:<6}{c['se']:>8.4f}{c['ppv']:>8.4f}{c['fpr']:>8.4f}{c['acc']:>8.4f}{c['f1']:>8.4f}{c['support']:>9,}"
        )
    lines += ["", "confusion (rows: true, columns: predicted)", " " * 6 + "".join(f"{n:>8}" for n in classes)]
    for name, row in zip(classes, metrics["confusion"]):
        lines.append(f"{name:<6}" + "".join(f"{v:>8,}" for v in row))
    return "\n".join(lines)
