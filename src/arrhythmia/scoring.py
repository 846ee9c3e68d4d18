"""What ``predict`` gives on annotated recordings, scored beat by beat as PhysioNet's ``bxb`` scores it.

``score_recordings`` labels each recording through ``predict.label_recording`` (detected beats, the
options predict takes: what users get) and compares the labelled detections with the recording's reference
beats: a WFDB annotation file beside the record (``atr`` by default; its beat symbols mapped to the model's
classes, MIT-BIH's symbols to the AAMI classes as EC57 maps them) or a CSV of ``sample,label``. Detections
and reference beats are paired one-to-one, closest first, within 150 ms (``detection.match_beats``); the
pairs make a confusion matrix, a reference beat with no detection is missed, a detection with no reference
beat is extra (none is counted inside the reference's ventricular flutter, ``[`` to ``]``, where no beat is
annotated, as ``bxb`` leaves them out). ``comparison_metrics`` pools the recordings: one-vs-rest figures
over the matched beats, record by record and their intervals (``evaluation.compute_metrics``), EC57's VEB and
SVEB figures with missed and extra beats counted (``evaluation.ec57_beat_statistics``), and the detection's
Se and +P. A reference beat of no class of the model (a symbol a ``labels: mitdb`` model has no class for)
is left out, with the detection paired with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arrhythmia.data.beats import AAMI_CLASSES, SYMBOL_TO_AAMI
from arrhythmia.data.detection import match_beats
from arrhythmia.data.recording import Recording, read_input
from arrhythmia.data.wfdb_source import read_beat_annotations
from arrhythmia.errors import DataError
from arrhythmia.evaluation import compute_metrics, ec57_beat_statistics, format_metrics
from arrhythmia.predict import BeatModel, label_recording, read_reviewed

#: Largest distance between a detection and the reference beat it stands for, s (EC57's match window).
TOLERANCE_S = 0.15


@dataclass
class BeatComparison:
    """One recording's labels against its reference beats.

    y_true, y_pred : (matched,) int64 class indices into ``classes`` of the paired reference beats and
    detections; detection_index : (matched,) int64 the paired detections' indices among those given;
    missed : (n_classes,) reference beats of each class no detection was paired with; extra : (n_classes,)
    detections paired with no reference beat, by label; left_out : reference beats of no class of the
    model; n_reference, n_detected : the reference beats and labelled detections compared (neither those
    left out nor unpaired detections inside the spans ignored).
    """

    record: str
    classes: tuple[str, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    detection_index: np.ndarray
    missed: np.ndarray
    extra: np.ndarray
    n_reference: int
    n_detected: int
    left_out: int = 0

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if len(self.y_true) else float("nan")


def reference_classes(symbols: Iterable[str], classes: tuple[str, ...]) -> np.ndarray:
    """(n,) str: each reference label as a class of the model, "" where it is none. A label that is a
    class stays; for a model of the AAMI classes, a MIT-BIH beat symbol becomes its AAMI class."""
    aami = tuple(classes) == AAMI_CLASSES
    return np.array(
        [s if s in classes else SYMBOL_TO_AAMI.get(s, "") if aami else "" for s in symbols], dtype=object
    ).astype(str)


def compare_beats(
    record: str,
    detected: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
    reference_labels: np.ndarray,
    classes: tuple[str, ...],
    fs: float,
    ignored: np.ndarray | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> BeatComparison:
    """Compare labelled detections with reference beats.

    detected : (n,) int samples of the labelled detections, labels : (n,) str their labels (classes of
    the model); reference : (m,) int samples of the reference beats, reference_labels : (m,) str their
    classes ("" for a beat of no class: left out, with the detection paired with it); fs : Hz, both at the
    same rate; ignored : (k, 2) int sample spans in which an unpaired detection is not counted (the
    reference's ventricular flutter).
    """
    detected, reference = np.asarray(detected, np.int64), np.asarray(reference, np.int64)
    labels, reference_labels = np.asarray(labels, str), np.asarray(reference_labels, str)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"{record}: labels {', '.join(unknown)} are not classes of the model ({', '.join(classes)})")
    det_index, ref_index = match_beats(detected, reference, round(tolerance_s * fs))
    kept = reference_labels[ref_index] != ""
    index = {name: i for i, name in enumerate(classes)}
    y_true = np.array([index[c] for c in reference_labels[ref_index[kept]]], dtype=np.int64)
    y_pred = np.array([index[c] for c in labels[det_index[kept]]], dtype=np.int64)

    unpaired_ref = np.ones(len(reference), bool)
    unpaired_ref[ref_index] = False
    missed_labels = reference_labels[unpaired_ref]
    unpaired_det = np.ones(len(detected), bool)
    unpaired_det[det_index] = False
    if ignored is not None and len(ignored):
        at = detected[:, None]
        inside = ((at >= ignored[:, 0]) & (at <= ignored[:, 1])).any(axis=1)
        unpaired_det &= ~inside
        n_ignored = int(np.sum(inside & ~np.isin(np.arange(len(detected)), det_index)))
    else:
        n_ignored = 0
    return BeatComparison(
        record=record,
        classes=tuple(classes),
        y_true=y_true,
        y_pred=y_pred,
        detection_index=det_index[kept],
        missed=np.array([np.sum(missed_labels == c) for c in classes], dtype=np.int64),
        extra=np.array([np.sum(labels[unpaired_det] == c) for c in classes], dtype=np.int64),
        n_reference=int(np.sum(reference_labels != "")),
        n_detected=int(len(detected) - np.sum(~kept) - n_ignored),
        left_out=int(np.sum(reference_labels == "")),
    )


def flutter_spans(samples: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """The reference's ventricular flutter or fibrillation episodes, ``[`` to ``]`` (a ``[`` left open runs
    to the end): (k, 2) int64 samples."""
    spans, start = [], None
    for sample, symbol in zip(samples, symbols):
        if symbol == "[" and start is None:
            start = int(sample)
        elif symbol == "]" and start is not None:
            spans.append((start, int(sample)))
            start = None
    if start is not None:
        spans.append((start, np.iinfo(np.int64).max))
    return np.array(spans, dtype=np.int64).reshape(-1, 2)


def read_reference(
    path: Path, classes: tuple[str, ...], annotator: str = "atr", reference_csv: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A recording's reference beats: ``(samples (m,) int64, classes (m,) str, flutter (k, 2) int64)``.

    From ``reference_csv`` (columns ``sample,label``, as a review sheet; labels classes of the model or
    MIT-BIH beat symbols) if given, else from the WFDB annotation file ``annotator`` beside the record (its
    beat annotations; rhythm, noise and other notes are not beats). One-line DataError for a missing or
    unreadable file, or a CSV label that is neither."""
    if reference_csv is not None:
        reviewed = read_reviewed(reference_csv)
        samples = np.array(sorted(reviewed), dtype=np.int64)
        symbols = np.array([reviewed[s] for s in samples.tolist()], dtype=str)
        named = reference_classes(symbols, classes)
        if (named == "").any():
            odd = sorted(set(symbols[named == ""]))
            raise DataError(
                f"{reference_csv}: labels {', '.join(map(repr, odd))} are neither classes of the model "
                f"({', '.join(classes)}) nor MIT-BIH beat symbols"
            )
        return samples, named, np.zeros((0, 2), np.int64)
    record = path.with_suffix("") if path.suffix.lower() in (".hea", ".dat") else path
    if not record.with_suffix(f".{annotator}").is_file():
        raise DataError(
            f"{record}: no reference annotations ({record.with_suffix(f'.{annotator}').name}); "
            "name the annotator (--annotator) or give a CSV of sample,label (--reference)"
        )
    samples, symbols = read_beat_annotations(record, annotator)
    is_beat = np.isin(symbols, list(SYMBOL_TO_AAMI)) | np.isin(symbols, list(classes))
    return samples[is_beat], reference_classes(symbols[is_beat], classes), flutter_spans(samples, symbols)


def score_recording(
    path: Path,
    model: BeatModel,
    annotator: str = "atr",
    reference_csv: Path | None = None,
    fs: float | None = None,
    lead: str | None = None,
    **options,
) -> BeatComparison:
    """Read ``path`` (``read_input``, with ``fs`` and ``lead``), label it with ``label_recording(recording,
    model, **options)`` and compare the labelled detections with its reference beats (``read_reference``)."""
    path = Path(path)
    recording = read_input(path, fs=fs, lead=lead)
    if not isinstance(recording, Recording):
        raise DataError(f"{path}: a table of beats has no signal to detect beats in; give the recording itself")
    classes = tuple(model.classes)
    reference, reference_labels, flutter = read_reference(path, classes, annotator, reference_csv)
    table = label_recording(recording, model, **options).beats
    labelled = table[table["label"].astype(str) != ""]  # a detection left unlabelled is not a beat
    name = path.with_suffix("").name if path.suffix.lower() in (".hea", ".dat") else path.name
    return compare_beats(
        name,
        labelled["sample"].to_numpy(np.int64),
        labelled["label"].to_numpy(str),
        reference,
        reference_labels,
        classes,
        recording.fs,
        flutter,
    )


def score_recordings(
    paths: list[Path],
    model: BeatModel,
    annotator: str = "atr",
    reference_csv: Path | None = None,
    log: Callable[[str], None] | None = None,
    **options,
) -> list[BeatComparison]:
    """``score_recording`` for each of ``paths``; ``log`` gets a line per recording. A CSV reference names
    one recording's beats, so it takes one path."""
    if reference_csv is not None and len(paths) != 1:
        raise DataError(f"{reference_csv}: a reference CSV holds one recording's beats; give one recording with it")
    comparisons = []
    for path in paths:
        comparison = score_recording(Path(path), model, annotator, reference_csv, **options)
        comparisons.append(comparison)
        if log is not None:
            log(f"{comparison.record}: {len(comparison.y_true):,} beats matched, accuracy {comparison.accuracy:.1%}")
    return comparisons


def comparison_metrics(comparisons: list[BeatComparison]) -> dict:
    """The recordings pooled: ``compute_metrics``'s dict over the matched beats (with ``per_record``,
    ``record_average`` and ``intervals``), ``ec57`` with missed and extra beats counted, and ``detection``:
    ``{"reference", "detected", "matched", "left_out", "se", "ppv"}`` (fractions; None where undefined)."""
    if not comparisons:
        raise DataError("no recordings to score")
    classes = comparisons[0].classes
    y_true = np.concatenate([c.y_true for c in comparisons])
    y_pred = np.concatenate([c.y_pred for c in comparisons])
    records = np.concatenate([[c.record] * len(c.y_true) for c in comparisons]).astype(str)
    metrics = compute_metrics(y_true, y_pred, classes, records=records)
    recordings = f"{len(comparisons)} recording{'s' if len(comparisons) > 1 else ''}"
    metrics["data"] = {"description": f"{recordings} through predict", "protocol": "paired with the reference beats"}
    missed, extra = sum(c.missed for c in comparisons), sum(c.extra for c in comparisons)
    metrics["ec57"] = ec57_beat_statistics(metrics["confusion"], classes, missed, extra)
    reference, detected = sum(c.n_reference for c in comparisons), sum(c.n_detected for c in comparisons)
    matched = len(y_true)
    metrics["detection"] = {
        "reference": reference,
        "detected": detected,
        "matched": matched,
        "left_out": sum(c.left_out for c in comparisons),
        "se": matched / reference if reference else None,
        "ppv": matched / detected if detected else None,
    }
    return metrics


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _se_ppv(stats: dict | None) -> str:
    """A class's Se / +P in percent from a ``per_record`` row's entry, "- / -" where there is none."""
    stats = stats or {}
    return f"{_percent(stats.get('se'))} / {_percent(stats.get('ppv'))}"


def format_scores(metrics: dict, comparisons: list[BeatComparison], per_record: bool = False) -> str:
    """``comparison_metrics`` as plain text: the detection, ``evaluation.format_metrics``' tables (one
    class against the rest over the paired beats, EC57's figures, the confusion), and with ``per_record``
    a line per recording."""
    detection = metrics["detection"]
    paired = (
        f"detection: {detection['reference']:,} reference beats, {detection['detected']:,} labelled detections, "
        f"{detection['matched']:,} paired within {TOLERANCE_S * 1000:.0f} ms "
        f"(Se {_percent(detection['se'])}%, +P {_percent(detection['ppv'])}%)"
    )
    if detection["left_out"]:
        paired += f"; {detection['left_out']:,} reference beats of no class of the model left out"
    lines = [paired, "", format_metrics(metrics)]
    if per_record:
        shown = [c for c in ("S", "V") if c in metrics["classes"]]
        header = f"{'record':<10}{'reference':>10}{'paired':>8}{'missed':>8}{'extra':>7}{'acc %':>7}"
        lines += ["", header + "".join(f"{c + ' Se / +P':>15}" for c in shown)]
        rows = {row["record"]: row for row in metrics["per_record"]}
        for c in comparisons:
            row = rows.get(c.record, {"accuracy": None, "per_class": {}})
            counts = f"{c.n_reference:>10,}{len(c.y_true):>8,}{int(c.missed.sum()):>8,}{int(c.extra.sum()):>7,}"
            cells = "".join(f"{_se_ppv(row['per_class'].get(k)):>15}" for k in shown)
            lines.append(f"{c.record:<10}{counts}{_percent(row['accuracy']):>7}{cells}")
    return "\n".join(lines)
