"""What `arrhythmia predict` gives on raw signals, scored beat by beat against the reference annotations.

    python benchmarks/adaptive.py [--records ds2|ds1|all|100,101,...] [--pretrained NAME | --run DIR]
                                  [--engine torch|onnx]
                                  [--variant mlii|lead2|inverted|mixedDEG|RATEhz|lowpassHZ|monitor|mains50|mains60
                                             |motionDB|muscleDB|burstDB|LEAD+CHANGE+... ...]
                                  [--predict-option key=value ...] [--strips SECONDS [EVERY]] [--per-record]
                                  [--out results.jsonl]
    python benchmarks/adaptive.py --cv [K] [--set key=value ...] [--work runs/adaptive-cv] [...as above]
    python benchmarks/adaptive.py --folds DIR [...as above]
    python benchmarks/adaptive.py --hours 24 [--variant mlii|muscleDB|burstDB ...] [--predict-option key=value ...]
    python benchmarks/adaptive.py --show results.jsonl ...
    python benchmarks/adaptive.py --compare a.jsonl b.jsonl ...

Each record is read, turned into a signal (``--variant``), labelled by ``label_recording`` (detection,
segmentation, classification, adaptation, episodes and hourly table: what ``predict`` does), and scored: the
detected beats that got a label are matched one-to-one, nearest first, to the reference beat annotations
(``atr`` symbols of ``SYMBOL_TO_AAMI``) within 150 ms; matched pairs make a 5-class AAMI confusion. One row
per variant:

- beats: matched beats; acc %: accuracy over them; N Se, and Se / +P of S, V, F (``compute_metrics``);
- median record acc: median of the per-record accuracies; records < 85%: how many fall below 85 %;
- det Se / +P: matched / reference beats, matched / labelled detections (a detection left unlabelled,
  e.g. alone in its 10 s window, counts as not detected);
- s per 30 min: seconds of ``label_recording`` alone (reading excluded) per 30 minutes of signal;
- under each table, the 95% interval of the accuracy and of N Se, S and V Se / +P over records
  (``evaluation.record_intervals``: the records drawn again with replacement, 2,000 times; the spread of a
  figure between the patients one happens to test on, which a difference between two settings has to
  exceed), and the review flag (``AdaptConfig.review_above_percent``): how many records it marked, how
  many of the records below 95% it marked, and the median accuracy of the marked and of the other records;
  ``--per-record`` gives each record's share of labels the adaptation changed and whether it was marked;
- and EC57's VEB and SVEB figures as PhysioNet's ``bxb`` counts them (``evaluation.ec57_beat_statistics``):
  a fusion or Q beat called V, or a Q beat called S, is held against neither Se nor +P, while reference
  beats no detection matched count as missed and detections matching no reference beat count against
  +P, except inside the reference's ventricular flutter (``[`` to ``]``), where no beat is annotated (the
  table's columns count matched beats only, one-vs-rest).

Variants: ``mlii`` (the lead ``read_input`` picks: MLII, else lead 0), ``lead2`` (the record's other lead,
mostly V1), ``RATEhz`` (MLII resampled to RATE Hz with ``resample_poly``, annotations rescaled: ``128hz``
as the MIT-BIH Supraventricular Arrhythmia Database, ``250hz`` as many patches, ``500hz`` as a 12-lead ECG),
``lowpassHZ`` (MLII through a causal 4th-order Butterworth low-pass at HZ Hz, as a device or a monitor
mode that keeps 0.5-40 Hz records it: ``lowpass40``), ``monitor`` (MLII through that whole monitor-mode
band, a causal 2nd-order Butterworth band-pass at 0.5-40 Hz, as many patches and monitors record it),
``inverted`` (MLII times -1), ``mains50`` / ``mains60`` (MLII with 0.2 mV of 50 / 60 Hz hum added, as from an
electrode with poor contact), ``motionDB`` / ``muscleDB`` / ``burstDB`` (MLII with synthetic noise added at a
signal-to-noise ratio of DB decibels, e.g. ``motion12``, ``muscle6``, ``burst6``: muscle noise in bursts;
``noisy_signal``), ``mixedDEG`` (cos DEG x MLII + sin DEG x the other lead: a lead no electrode recorded, as
another placement or device gives; ``mixed60``). A lead and changes join with ``+``, the lead first:
``lead2+128hz`` (the second lead at 128 Hz), ``mixed120+lowpass40+burst6``. ``--predict-option key=value`` (values
read as JSON where they parse, else strings: ``adapt=true``, ``chunk_s=300``) is passed to ``label_recording`` as a
keyword argument. ``--strips SECONDS [EVERY]`` labels each record as strips of SECONDS s, one every EVERY s
(default 60), each on its own as a resting ECG or a monitor's strip is (``--strips 10``: a 12-lead ECG's 10 s),
and pools the figures of the beats inside the strips (those at a strip's edges included).

Modes:

- default: one model (``--run``, ``--pretrained``, else the shipped default) on ``--records`` (default
  DS2). Report with this, once settings are chosen.
- ``--cv K`` (default 5): choose settings with this. ``arrhythmia crossval`` (``cross_validate``) with the
  ``fast`` preset plus ``--set`` overrides: the 22 DS1 records shuffled (``--cv-seed``) into K groups, for
  each group a model trained on the other DS1 records and early-stopped on whole records held out from
  those; each group's records are then scored through predict. The fold models are kept under ``--work``
  and reused, so trying predict options retrains nothing. Prints the pooled table (all 22 records, each
  scored by a model that never saw it) and one row per fold. DS2 is never scored.
- ``--folds DIR``: the same scoring with the fold models of any ``arrhythmia crossval`` directory (any
  settings, any model).
- ``--hours H``: seconds and peak resident memory (signal included) of ``label_recording`` on an H-hour
  signal (MIT-BIH MLII records concatenated, 48 records = 24 h), in a fresh process; per ``--variant``,
  ``mlii`` or a noise variant (``muscle6``: the noise added to each record as it is read).

Results are also appended as JSON lines to ``--out``; ``--show FILE ...`` prints their tables again.
``--compare FILE ...`` tells results on the same records apart (two settings, two models, a filter on and off):
every figure of each result against the first's, each difference with its 95% interval from a paired bootstrap
over the records (``comparison.paired_difference_interval``, as ``arrhythmia compare`` does for runs; ``*``
where it leaves out 0), since two figures' separate intervals over the records (the lines under each table)
overlap where a paired one does not. Results on other records are refused.
Paced records (102, 104, 107, 217) are in neither DS1 nor DS2 and never scored by ``ds1``/``ds2``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import (
    fold_models,
    in_fresh_process,
    long_recording,
    noise_variant,
    record_list,
    resampled,
    with_noise,
)
from machine import noted_machine

from arrhythmia import pretrained
from arrhythmia.config import TrainConfig
from arrhythmia.crossval import cross_validate
from arrhythmia.data.beats import AAMI_CLASSES, SYMBOL_TO_AAMI
from arrhythmia.data.recording import Recording, read_input
from arrhythmia.data.splits import DS1, record_groups
from arrhythmia.data.wfdb_source import OTHER_LEAD, read_beat_annotations, read_lead, record_names
from arrhythmia.evaluation import compute_metrics, ec57_beat_statistics, ec57_text, interval_text, record_intervals
from arrhythmia.export import load_classifier
from arrhythmia.files import read_json
from arrhythmia.predict import label_recording
from arrhythmia.scoring import TOLERANCE_S, compare_beats, flutter_spans

#: The variants named as they are; the noise variants are named by their kind and SNR (``motion12``).
FIXED_VARIANTS = ("mlii", "lead2", "inverted", "mains50", "mains60", "monitor")
VARIANTS = (*FIXED_VARIANTS, "mixedDEG", "RATEhz", "lowpassHZ", "motionDB", "muscleDB", "burstDB")
#: Amplitude of the hum the ``mains`` variants add, mV.
HUM_MV = 0.2
LOW_ACCURACY = 0.85
#: The review flag is scored by how many of the records below this accuracy it marks.
REVIEW_ACCURACY = 0.95
SHOWN = ("S", "V", "F")
HEADER = [
    "beats",
    "acc %",
    "N Se",
    "S Se / +P",
    "V Se / +P",
    "F Se / +P",
    "median record acc",
    "records < 85%",
    "det Se / +P",
    "s per 30 min",
]


# -- signals and reference beats -----------------------------------------------------------------------


def _whole_number(variant: str, prefix: str = "", suffix: str = "") -> int | None:
    """The positive whole number between ``prefix`` and ``suffix`` of ``variant``, else None."""
    number = variant.removeprefix(prefix).removesuffix(suffix)
    if number == variant or not number.isdigit() or int(number) == 0:
        return None
    return int(number)


def resampled_rate(variant: str) -> int | None:
    """128 for the variant ``"128hz"`` (any whole number of Hz), None for any other variant."""
    return _whole_number(variant, suffix="hz")


def low_passed_at(variant: str) -> int | None:
    """40 for the variant ``"lowpass40"`` (any whole number of Hz), None for any other variant."""
    return _whole_number(variant, prefix="lowpass")


def mixed_angle(variant: str) -> int | None:
    """60 for the variant ``"mixed60"`` (any whole number of degrees), None for any other variant."""
    return _whole_number(variant, prefix="mixed")


def variant_recording(path: Path, variant: str) -> tuple[Recording, np.ndarray, np.ndarray, np.ndarray]:
    """The signal of one WFDB record as ``variant`` makes it, and its reference beats.

    ``variant`` is a lead (``mlii``, ``lead2``, ``inverted``, ``mixedDEG``; else MLII) and what a device or
    the skin does to it, in the order given, joined by ``+`` (``lead2+128hz``: the second lead at 128 Hz).
    Returns ``(recording, samples, classes, flutter)``: the Recording (signal (n,) float64 mV at recording.fs
    Hz), the reference beats' samples (m,) int64 at the recording's rate, their AAMI class indices (m,) into
    ``AAMI_CLASSES``, and the reference's flutter episodes (``scoring.flutter_spans``, (k, 2) seconds). Other
    non-beat annotations are dropped.
    """
    all_samples, symbols = read_beat_annotations(path)
    is_beat = np.isin(symbols, list(SYMBOL_TO_AAMI))
    samples = all_samples[is_beat]
    classes = np.array([AAMI_CLASSES.index(SYMBOL_TO_AAMI[s]) for s in symbols[is_beat]], dtype=np.int64)
    lead, *changes = variant.split("+")
    if lead not in ("mlii", "lead2", "inverted") and mixed_angle(lead) is None:
        lead, changes = "mlii", [lead, *changes]
    if lead == "lead2":
        signal, fs, name = read_lead(path, OTHER_LEAD)  # the lead beside the one read_input picks
        recording = Recording(signal, fs, name, path)
    else:
        recording = read_input(path)  # what `arrhythmia predict` reads: MLII, else lead 0
    if lead == "inverted":
        recording = replace(recording, signal=-recording.signal)
    angle = mixed_angle(lead)
    if angle is not None:
        # A lead no electrode recorded: another projection of the heart's axis, as another placement gives.
        other = read_lead(path, OTHER_LEAD)[0]
        radians = np.deg2rad(angle)
        recording = replace(recording, signal=np.cos(radians) * recording.signal + np.sin(radians) * other)
    # seconds (the rate may change below), a flutter left open at the end closed there
    flutter = np.minimum(flutter_spans(all_samples, symbols), len(recording.signal)) / recording.fs
    for change in changes:
        recording, samples = _changed(recording, samples, change, path)
    return recording, samples, classes, flutter


def _changed(recording: Recording, samples: np.ndarray, change: str, path: Path) -> tuple[Recording, np.ndarray]:
    """``recording`` and its reference beat ``samples`` after one ``change`` (``RATEhz``, ``lowpassHZ``,
    ``monitor``, ``mains50``, ``mains60`` or a noise variant; module docstring)."""
    rate_hz = resampled_rate(change)
    if rate_hz is not None:
        resampled_recording, ratio = resampled(recording, rate_hz)
        return resampled_recording, np.round(samples * ratio).astype(np.int64)
    cutoff_hz = low_passed_at(change)
    if cutoff_hz is not None:
        from scipy.signal import butter, sosfilt

        # causal, as a device's own filter is: the beats come a few milliseconds late, as they would
        band = butter(4, min(cutoff_hz, 0.45 * recording.fs), fs=recording.fs, output="sos")
        return replace(recording, signal=sosfilt(band, recording.signal)), samples
    if change == "monitor":
        from scipy.signal import butter, sosfilt

        # a monitor-mode front end (0.5-40 Hz), causal as a device's is: its high-pass bends the ST-T segment
        band = butter(2, (0.5, min(40.0, 0.45 * recording.fs)), btype="bandpass", fs=recording.fs, output="sos")
        return replace(recording, signal=sosfilt(band, recording.signal)), samples
    if change in ("mains50", "mains60"):
        hz = 50.0 if change == "mains50" else 60.0
        t = np.arange(len(recording.signal)) / recording.fs
        return replace(recording, signal=recording.signal + HUM_MV * np.sin(2 * np.pi * hz * t)), samples
    return with_noise(recording, samples, change, path.name), samples


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index into ascending ``b`` of the element nearest each ``a`` (ties: the earlier)."""
    right = np.clip(np.searchsorted(b, a), 0, len(b) - 1)
    left = np.clip(right - 1, 0, len(b) - 1)
    return np.where(np.abs(a - b[left]) <= np.abs(b[right] - a), left, right)


# -- scoring ----------------------------------------------------------------------------------------------


@dataclass
class RecordScore:
    """One record through predict. y_true, y_pred: (matched,) AAMI class indices of the matched pairs;
    confidence: (matched,) their ``beats.csv`` confidence."""

    record: str
    n_reference: int
    n_detected: int  # detections with a label
    y_true: np.ndarray
    y_pred: np.ndarray
    confidence: np.ndarray
    seconds: float  # label_recording alone
    duration_s: float  # signal length
    missed: np.ndarray  # (n_classes,) reference beats of each AAMI class no labelled detection matched
    extra: np.ndarray  # (n_classes,) labelled detections matching no beat, by label (none inside flutter)
    changed_percent: float | None = None  # the share of the network's labels the adaptation changed
    review_recommended: bool = False  # the adaptation marked the recording for review

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if len(self.y_true) else float("nan")


def reference_answers(asked, reference: np.ndarray, ref_classes: np.ndarray, fs: float) -> dict[int, str]:
    """The reviewer's answers, given by the reference annotations: each asked beat (``asked``: the
    questions table) gets the class of the reference beat within 150 ms of it; a detection with none (not
    a beat) is left unanswered."""
    samples = asked["sample"].to_numpy(np.int64)
    nearest = _nearest(samples, reference)
    near = np.abs(reference[nearest] - samples) <= round(TOLERANCE_S * fs)
    return {int(s): AAMI_CLASSES[ref_classes[j]] for s, j, ok in zip(samples, nearest, near) if ok}


def score_record(
    path: Path, variant: str, model, options: dict, strips: tuple[float, float] | None = None
) -> RecordScore:
    """Read ``path`` as ``variant``, label it with ``label_recording(recording, model, **options)``, match
    the labelled detections to the reference beats and keep the pairs' classes. With ``ask=K`` in the
    options, assisted mode: predict asks about K beats, the reference annotations answer them
    (``reference_answers``) and the record is labelled again with those answers (``reviewed``); the
    seconds are those of both passes. With ``strips`` (``(seconds, every)``), each strip of that many
    seconds that starts every ``every`` seconds is labelled on its own, as a resting ECG or a monitor's strip
    is (the record's other beats unseen), and the strips' figures pooled."""
    recording, reference, ref_classes, flutter = variant_recording(path, variant)
    if strips is None:
        return _scored(path.name, recording, reference, ref_classes, flutter, model, options)
    length, every = (round(seconds * recording.fs) for seconds in strips)
    pieces = []
    for start in range(0, len(recording.signal) - length + 1, every):
        inside = (reference >= start) & (reference < start + length)
        strip = replace(recording, signal=recording.signal[start : start + length])
        spans = np.clip(flutter - start / recording.fs, 0.0, length / recording.fs)
        pieces.append(_scored(path.name, strip, reference[inside] - start, ref_classes[inside], spans, model, options))
    changed = [(p.changed_percent, len(p.y_true)) for p in pieces if p.changed_percent is not None]
    return RecordScore(
        path.name,
        sum(p.n_reference for p in pieces),
        sum(p.n_detected for p in pieces),
        np.concatenate([p.y_true for p in pieces]),
        np.concatenate([p.y_pred for p in pieces]),
        np.concatenate([p.confidence for p in pieces]),
        sum(p.seconds for p in pieces),
        sum(p.duration_s for p in pieces),
        sum(p.missed for p in pieces),
        sum(p.extra for p in pieces),
        # the strips' share of changed labels, weighted by their beats; marked where any strip was
        sum(c * n for c, n in changed) / max(sum(n for _, n in changed), 1) if changed else None,
        any(p.review_recommended for p in pieces),
    )


def _scored(
    name: str, recording: Recording, reference: np.ndarray, ref_classes: np.ndarray, flutter: np.ndarray, model, options
) -> RecordScore:
    """``score_record`` of one signal: ``recording`` with its reference beats (samples, class indices) and
    flutter spans (s)."""
    options = dict(options)
    ask = int(options.pop("ask", 0))
    began = time.perf_counter()
    if ask:
        asked = label_recording(recording, model, ask=ask, **options).questions
        options["reviewed"] = reference_answers(asked, reference, ref_classes, recording.fs)
    labelled_recording = label_recording(recording, model, **options)
    seconds = time.perf_counter() - began
    table, adaptation = labelled_recording.beats, labelled_recording.adaptation
    labelled = table[table["label"].astype(str) != ""]
    detected = labelled["sample"].to_numpy(np.int64)
    compared = compare_beats(
        name,
        detected,
        labelled["label"].to_numpy(str),
        reference,
        np.array(AAMI_CLASSES)[ref_classes],
        AAMI_CLASSES,
        recording.fs,
        np.round(flutter * recording.fs).astype(np.int64),
        TOLERANCE_S,
    )
    return RecordScore(
        name,
        len(reference),
        len(detected),
        compared.y_true,
        compared.y_pred,
        labelled["confidence"].to_numpy(np.float64)[compared.detection_index],
        seconds,
        len(recording.signal) / recording.fs,
        compared.missed,
        compared.extra,
        adaptation.get("changed_percent"),
        bool(adaptation.get("review_recommended", False)),
    )


def summarise(scores: list[RecordScore]) -> dict:
    """Pooled figures of some records (fractions, not percent): the table row's numbers."""
    y_true = np.concatenate([s.y_true for s in scores])
    y_pred = np.concatenate([s.y_pred for s in scores])
    metrics = compute_metrics(y_true, y_pred, AAMI_CLASSES)
    accuracies = [s.accuracy for s in scores if len(s.y_true)]
    matched, reference = len(y_true), sum(s.n_reference for s in scores)
    detected = sum(s.n_detected for s in scores)
    return {
        "records": [s.record for s in scores],
        "beats": matched,
        "accuracy": metrics["accuracy"],
        "per_class": {c: {k: metrics["per_class"][c][k] for k in ("se", "ppv", "support")} for c in AAMI_CLASSES},
        "confusion": metrics["confusion"],
        "ec57": ec57_beat_statistics(
            metrics["confusion"], AAMI_CLASSES, sum(s.missed for s in scores), sum(s.extra for s in scores)
        ),
        "median_record_accuracy": float(np.median(accuracies)) if accuracies else float("nan"),
        "records_below": int(sum(a < LOW_ACCURACY for a in accuracies)),
        "detection_se": matched / reference if reference else float("nan"),
        "detection_ppv": matched / detected if detected else float("nan"),
        "seconds_per_30_min": 1800 * sum(s.seconds for s in scores) / sum(s.duration_s for s in scores),
        "review": review_figures(scores),
        "confidence": confidence_figures(scores),
        "intervals": record_intervals(
            y_true, y_pred, np.concatenate([[s.record] * len(s.y_true) for s in scores]), AAMI_CLASSES
        ),
    }


def intervals_line(figures: dict) -> str:
    """One line of ``summarise``'s ``intervals``: how far the pooled figures move with the records drawn."""
    classes = ", ".join(
        f"{c} Se {interval_text(figures[c]['se'], True)} / +P {interval_text(figures[c]['ppv'], True)}"
        for c in ("S", "V")
    )
    return (
        f"{figures['level']:.0%} intervals over the {figures['records']} records (bootstrap): accuracy "
        f"{interval_text(figures['accuracy'], True)}, N Se {interval_text(figures['N']['se'], True)}, {classes}"
    )


#: The share of the least confident beats a reviewer reads first, in ``confidence_figures``.
LEAST_CONFIDENT = 0.05


def confidence_figures(scores: list[RecordScore]) -> dict:
    """How well ``beats.csv``'s confidence points a reviewer at the wrong labels: the ROC AUC of low confidence
    for a wrong label over the matched beats, and the share of the wrong labels among the ``LEAST_CONFIDENT``
    least confident beats (fractions; NaN where the labels are all right or all wrong)."""
    from sklearn.metrics import roc_auc_score

    confidence = np.concatenate([s.confidence for s in scores])
    wrong = np.concatenate([s.y_true != s.y_pred for s in scores])
    if not wrong.any() or wrong.all():
        return {"auroc": float("nan"), "errors_in_least_confident": float("nan")}
    least = np.argsort(confidence, kind="stable")[: int(round(LEAST_CONFIDENT * len(confidence)))]
    return {
        "auroc": float(roc_auc_score(wrong, -confidence)),
        "errors_in_least_confident": float(wrong[least].sum() / wrong.sum()),
    }


def confidence_line(figures: dict) -> str:
    """One line of ``confidence_figures``."""
    return (
        f"confidence: ranks the wrong labels at ROC AUC {figures['auroc']:.3f}; the "
        f"{100 * LEAST_CONFIDENT:.0f}% least confident beats hold {pct(figures['errors_in_least_confident'])}% of them"
    )


def review_figures(scores: list[RecordScore]) -> dict:
    """How well the adaptation's review flag (``AdaptConfig.review_above_percent``) picks out the records
    whose labels are worst: how many it marked, how many of those below ``REVIEW_ACCURACY`` it marked, and
    the median accuracy of the marked and of the other records (fractions)."""
    scored = [s for s in scores if len(s.y_true)]
    marked = [s.accuracy for s in scored if s.review_recommended]
    unmarked = [s.accuracy for s in scored if not s.review_recommended]
    low = [s for s in scored if s.accuracy < REVIEW_ACCURACY]
    return {
        "records": len(scored),
        "marked": len(marked),
        "low": len(low),
        "low_marked": sum(s.review_recommended for s in low),
        "marked_median_accuracy": float(np.median(marked)) if marked else float("nan"),
        "unmarked_median_accuracy": float(np.median(unmarked)) if unmarked else float("nan"),
    }


def review_line(figures: dict) -> str:
    """One line of ``review_figures``."""
    marked, unmarked = pct(figures["marked_median_accuracy"]), pct(figures["unmarked_median_accuracy"])
    return (
        f"review recommended: {figures['marked']} of {figures['records']} records, {figures['low_marked']} of the "
        f"{figures['low']} below {100 * REVIEW_ACCURACY:.0f}% (median accuracy {marked}% marked, {unmarked}% not)"
    )


def record_row(s: RecordScore) -> dict:
    """Per-record figures for the per-record table and the JSON lines."""
    per_class = compute_metrics(s.y_true, s.y_pred, AAMI_CLASSES)["per_class"]
    return {
        "record": s.record,
        "reference": s.n_reference,
        "detected": s.n_detected,
        "matched": len(s.y_true),
        "accuracy": s.accuracy,
        "per_class": {
            c: {**{k: per_class[c][k] for k in ("se", "ppv", "support")}, "called": int((s.y_pred == i).sum())}
            for i, c in enumerate(AAMI_CLASSES)
        },
        "missed": dict(zip(AAMI_CLASSES, s.missed.tolist())),
        "extra": dict(zip(AAMI_CLASSES, s.extra.tolist())),
        "seconds": s.seconds,
        "changed_percent": s.changed_percent,
        "review_recommended": s.review_recommended,
    }


# -- tables ----------------------------------------------------------------------------------------------


def pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}"  # None (per_class) or NaN: undefined


def se_ppv(per_class: dict, name: str) -> str:
    c = per_class[name]
    return f"{pct(c['se'])} / {pct(c['ppv'])}" if c["support"] else f"(no {name}) / {pct(c['ppv'])}"


def row_cells(s: dict) -> list[str]:
    cells = [f"{s['beats']:,}", pct(s["accuracy"]), pct(s["per_class"]["N"]["se"])]
    cells += [se_ppv(s["per_class"], c) for c in SHOWN]
    cells += [pct(s["median_record_accuracy"]), str(s["records_below"])]
    return cells + [f"{pct(s['detection_se'])} / {pct(s['detection_ppv'])}", f"{s['seconds_per_30_min']:.2f}"]


def print_table(first: list[str], rows: list[tuple[list[str], dict]]) -> None:
    """A markdown table: the ``first`` columns (labels of each row) then ``HEADER``."""
    print("| " + " | ".join(first + HEADER) + " |")
    print("|" + "---|" * len(first) + "---:|" * len(HEADER))
    for labels, summary in rows:
        print("| " + " | ".join(labels + row_cells(summary)) + " |")


def print_per_record(variant: str, rows: list[dict]) -> None:
    print(f"\nper record, {variant}:\n")
    print(
        "| record | reference | detected | matched | acc % | N Se | S Se / +P | V Se / +P | F Se / +P "
        "| labels adapted % | review | s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        cells = [r["record"], str(r["reference"]), str(r["detected"]), str(r["matched"]), pct(r["accuracy"])]
        cells += [pct(r["per_class"]["N"]["se"])] + [se_ppv(r["per_class"], c) for c in SHOWN]
        changed = r.get("changed_percent")
        cells += ["–" if changed is None else f"{changed:.1f}", "yes" if r.get("review_recommended") else ""]
        print("| " + " | ".join(cells + [f"{r['seconds']:.2f}"]) + " |")


def options_text(options: dict) -> str:
    return " ".join(f"{k}={json.dumps(v)}" for k, v in options.items()) or "defaults"


def predict_defaults() -> str:
    """``label_recording``'s keyword arguments and their defaults, e.g. ``chunk_s=600.0 adapt=True``."""
    parameters = inspect.signature(label_recording).parameters.values()
    return " ".join(f"{p.name}={p.default!r}" for p in parameters if p.default is not p.empty)


# -- the model on some records ---------------------------------------------------------------------------


def score_records(
    data: Path, names: list[str], variant: str, model, options: dict, strips: tuple[float, float] | None = None
) -> list[RecordScore]:
    scores = []
    for name in names:
        scores.append(score_record(data / name, variant, model, options, strips))
        s = scores[-1]
        print(f"  {variant} {name}: {len(s.y_true)} matched, acc {pct(s.accuracy)}, {s.seconds:.2f} s", file=sys.stderr)
    return scores


def warm_up(data: Path, name: str, model, options: dict) -> None:
    """Label one minute once: the first call imports NeuroKit2 and warms the engine (start-up, not speed)."""
    recording = read_input(data / name)
    minute = Recording(recording.signal[: int(60 * recording.fs)], recording.fs, "warm-up", Path("warm-up"))
    label_recording(minute, model, **{k: v for k, v in options.items() if k != "ask"})


def check_options(options: dict) -> None:
    """Exit with a message when ``label_recording`` takes none of these keyword arguments."""
    parameters = inspect.signature(label_recording).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [k for k in options if k != "ask" and (k not in parameters or k in ("recording", "model"))]
    if unknown:
        taken = ", ".join(p for p in parameters if p not in ("recording", "model"))
        raise SystemExit(f"label_recording takes no option {', '.join(unknown)} (it takes: {taken})")


# -- cross-validation on DS1 -----------------------------------------------------------------------------


def run_cv(args, options: dict, overrides: dict) -> list[dict]:
    config = TrainConfig.from_preset("fast", "inter")
    values = {**config.to_dict(), "data": str(args.data), **overrides, "protocol": "inter"}
    config = TrainConfig.from_dict(values, where="--set")
    groups = record_groups(DS1, args.cv, args.cv_seed)  # as crossval deals them
    tag = "-".join(f"{k}={json.dumps(v)}" for k, v in sorted(overrides.items())).replace("/", "_").replace(" ", "")
    work = args.work / f"fast{'-' + tag if tag else ''}-k{args.cv}-seed{args.cv_seed}"
    print(f"CV over DS1: {args.cv} groups of records (seed {args.cv_seed}); fold models in {work}")
    for i, group in enumerate(groups, 1):
        print(f"- fold {i}: {' '.join(group)}")
    print(f"training settings: fast preset, inter-patient{', ' + tag if tag else ''}; predict: {options_text(options)}")
    # The fold models are arrhythmia crossval's (trained, resumed or kept there), tested on the annotated
    # beats there too; here each is scored through predict.
    cv = cross_validate(
        config,
        k=args.cv,
        seed=args.cv_seed,
        out_dir=work,
        log=lambda m: print(f"  {m}", file=sys.stderr),
        progress=False,
    )
    folds = [(group, run.path) for group, run in zip(cv.groups, cv.runs)]
    about = {"k": args.cv, "seed": args.cv_seed, "groups": groups, "work": str(work)}
    return score_folds(args, options, folds, {"mode": "cv", "cv": about, "train_overrides": overrides})


def given_folds(args, options: dict) -> list[dict]:
    """``--folds DIR``: score DS1 through predict with the fold models already in DIR (``arrhythmia crossval``
    or ``--cv``'s work directory), each record by the model that held it out."""
    held_out = fold_models(args.folds)
    by_fold: dict[Path, list[str]] = {}
    for record, fold_dir in held_out.items():
        by_fold.setdefault(fold_dir, []).append(record)
    folds = [(sorted(records), fold_dir) for fold_dir, records in sorted(by_fold.items())]
    print(f"CV over DS1: the fold models in {args.folds}; predict: {options_text(options)}")
    return score_folds(args, options, folds, {"mode": "cv", "cv": {"folds": str(args.folds)}})


def score_folds(args, options: dict, folds: list[tuple[list[str], Path]], about: dict) -> list[dict]:
    """Each fold's held-out records labelled through predict by its model (``folds``: (records, fold
    directory)), per ``--variant``: the pooled table, one row per fold, and the results to save."""
    results = []
    for variant in args.variant:
        pooled, rows = [], []
        for i, (group, fold_dir) in enumerate(folds, 1):
            note = read_json(fold_dir / "data.json").get("split_note", "")
            val_records = note.split("validation records: ")[-1].split(";")[0]
            model = load_classifier(fold_dir, args.engine, None, device="cpu")
            warm_up(args.data, group[0], model, options)
            scores = score_records(args.data, group, variant, model, options, args.strips)
            pooled += scores
            rows.append(([f"fold {i}: {' '.join(group)}", val_records], summarise(scores)))
        summary = summarise(pooled)
        print(f"\n### CV over DS1 ({len(folds)} folds), {variant}, predict {options_text(options)}\n")
        print_table(["variant", "options"], [([variant, options_text(options)], summary)])
        print(f"\n{review_line(summary['review'])}\n{confidence_line(summary['confidence'])}")
        print(intervals_line(summary["intervals"]))
        print(ec57_text(summary["ec57"], percent=True))
        print("\nper fold (each scored by the model trained on the other DS1 records):\n")
        print_table(["held out", "early-stopping records"], rows)
        if args.per_record:
            print_per_record(variant, [record_row(s) for s in pooled])
        results.append(
            {
                **about,
                "engine": args.engine,
                "variant": variant,
                "options": options,
                "summary": summary,
                "folds": [{"held_out": g, "summary": s} for (g, _), (_, s) in zip(folds, rows)],
                "per_record": [record_row(s) for s in pooled],
            }
        )
    return results


# -- a long signal ---------------------------------------------------------------------------------------


def long_signal_run(
    data: Path, hours: float, engine: str, run: Path | None, shipped: str, options: dict, variant: str = "mlii"
):
    """In a fresh process: label an ``hours`` signal (with a noise ``variant``'s noise added to each record);
    (beats, seconds, peak resident MB incl. the signal)."""
    model = load_classifier(run, engine, shipped, device="cpu")
    recording = long_recording(data, hours, None if variant == "mlii" else noise_variant(variant))
    warm_up(data, record_names(data)[0], model, options)
    began = time.perf_counter()
    table = label_recording(recording, model, **options).beats  # with its episodes and hourly table, as predict
    seconds = time.perf_counter() - began
    return len(table), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- main ------------------------------------------------------------------------------------------------


def parse_settings(items: list[str], flag: str) -> dict:
    """``["key=value", ...]`` as a dict; each value read as JSON where it parses, else kept as a string."""
    settings = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"{flag} {item!r}: expected key=value")
        key, value = item.split("=", 1)
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return settings


def show(paths: list[str]) -> None:
    rows = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            cv = r.get("cv", {})
            model = r.get("model") or (
                f"CV, the folds in {cv['folds']}"
                if "folds" in cv
                else f"CV k={cv['k']} {json.dumps(r.get('train_overrides') or {})}"
            )
            rows.append(([model, r["variant"], options_text(r["options"])], r["summary"]))
    print_table(["model", "variant", "options"], rows)


#: The figures ``--compare`` tells apart, and the classes whose Se and +P it gives.
COMPARED_CLASSES = ("N", "S", "V", "F")


def record_counts(per_record: list[dict]) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray] | None]]:
    """The records of a result's ``per_record`` rows (sorted) and, per figure (``accuracy``, ``S Se``, ``S +P``,
    ...), each record's hits and total, (n_records,) each: the pooled figure is ``hits.sum() / total.sum()``. A
    +P is None where rows written before they counted the beats called each class (``called``) cannot give it:
    a record with some beats called the class and none of them right."""
    rows = sorted(per_record, key=lambda row: str(row["record"]))
    matched = np.array([row["matched"] for row in rows], dtype=np.float64)
    counts: dict[str, tuple[np.ndarray, np.ndarray] | None] = {
        "accuracy": (
            np.round(np.nan_to_num(np.array([row["accuracy"] for row in rows], dtype=float)) * matched),
            matched,
        )
    }
    for label in COMPARED_CLASSES:
        figures = [row["per_class"][label] for row in rows]
        held = np.array([f["support"] for f in figures], dtype=np.float64)
        hits = np.round(np.array([f["se"] or 0.0 for f in figures]) * held)
        counts[f"{label} Se"] = (hits, held)
        called = [f.get("called") for f in figures]
        for i, f in enumerate(figures):
            if called[i] is None and f["ppv"] is None:
                called[i] = 0  # no beat called the class
            elif called[i] is None and f["ppv"] > 0:
                called[i] = round(hits[i] / f["ppv"])
        counts[f"{label} +P"] = None if None in called else (hits, np.array(called, dtype=np.float64))
    return [str(row["record"]) for row in rows], counts


def compare_results(paths: list[str]) -> None:
    """Print each result of the ``--out`` files ``paths`` against the first: every figure pooled over the
    records, and each difference with its 95% interval from a paired bootstrap over the records (the records
    drawn together for both, as ``arrhythmia compare`` does for runs; ``*``: the interval leaves out 0).
    Results on other records are refused, naming the file and the records."""
    from arrhythmia.comparison import paired_difference_interval

    results = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if "per_record" not in r:
                raise SystemExit(
                    f"{path}: a result with no per_record rows ({r.get('mode', 'cv')} results cannot be compared)"
                )
            results.append((path, r, *record_counts(r["per_record"])))
    if len(results) < 2:
        raise SystemExit("--compare: two results or more (one a line of the --out files)")
    first_path, _, first_records, first_counts = results[0]
    for path, _, names, _ in results[1:]:
        if names != first_records:
            differ = sorted(set(names) ^ set(first_records))
            raise SystemExit(
                f"{path}: other records than {first_path} ({', '.join(differ[:8])}): "
                "compare results on the same records"
            )
    letters = [chr(ord("A") + i) for i in range(len(results))]
    print("| result | model | variant | options |\n|---|---|---|---|")
    for letter, (path, r, _, _) in zip(letters, results):
        print(f"| {letter}: {path} | {r.get('model', '')} | {r['variant']} | {options_text(r['options'])} |")
    header = " | ".join(letters) + " | " + " | ".join(f"{x} - A (95% interval)" for x in letters[1:])
    print(f"\n| figure, % | {header} |\n|---|" + "---:|" * (2 * len(results) - 1))
    left_out = []
    for figure in first_counts:
        counted = [counts[figure] for _, _, _, counts in results]
        if any(c is None for c in counted):
            left_out.append(figure)
            continue
        values, differences = [], []
        for hits, total in counted:
            values.append(pct(hits.sum() / total.sum()) if total.sum() else "–")
        a_hits, a_total = counted[0]
        for hits, total in counted[1:]:
            interval = paired_difference_interval(counted[0], (hits, total))
            if interval is None or not (a_total.sum() and total.sum()):
                differences.append("–")
                continue
            delta = 100 * (hits.sum() / total.sum() - a_hits.sum() / a_total.sum())
            low, high = (100 * x for x in interval)
            apart = " *" if low > 0 or high < 0 else ""
            differences.append(f"{delta:+.1f} ({low:+.1f} to {high:+.1f}){apart}")
        print(f"| {figure} | " + " | ".join(values + differences) + " |")
    print(
        f"\nFigures pooled over the matched beats of {len(first_records)} records; each difference's interval from"
        " the records drawn together for both results (2,000 paired bootstrap resamples, percentile). *: the"
        " interval leaves out 0, the results are told apart on these records; without it, not."
    )
    if left_out:
        print(
            f"Left out: {', '.join(left_out)} (a file written before --out counted the beats called each class;"
            " run it again)."
        )


def variant_name(text: str) -> str:
    """``--variant``'s type: ``+``-joined parts (``variant_recording``), each a name of ``VARIANTS``, with
    ``RATEhz`` for any whole rate, ``lowpassHZ`` for any whole cut-off, ``mixedDEG`` for any whole angle and
    ``motionDB`` / ``muscleDB`` / ``burstDB`` for any whole DB; the lead, if any, first."""
    for position, part in enumerate(text.split("+")):
        if part in ("mlii", "lead2", "inverted") or mixed_angle(part) is not None:
            if position == 0:
                continue
            raise argparse.ArgumentTypeError(f"variant {text!r}: the lead ({part}) comes first")
        if part in FIXED_VARIANTS or resampled_rate(part) is not None or low_passed_at(part) is not None:
            continue
        try:
            noise_variant(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"unknown variant {part!r} (choose from {', '.join(VARIANTS)})") from None
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--records", default="ds2", help="ds2 (default), ds1, all (not paced) or 100,101,...")
    parser.add_argument("--run", type=Path, default=None, help="run directory (default: a shipped model)")
    parser.add_argument("--pretrained", default=pretrained.DEFAULT, help="shipped model (default: the default one)")
    parser.add_argument("--engine", default="torch", choices=("torch", "onnx"))
    parser.add_argument(
        "--variant", action="append", type=variant_name, help=f"{', '.join(VARIANTS)}; repeatable (default: mlii)"
    )
    parser.add_argument(
        "--predict-option", action="append", default=[], metavar="KEY=VALUE", help="keyword for label_recording"
    )
    parser.add_argument("--cv", type=int, nargs="?", const=5, default=None, help="cross-validate on DS1, K folds")
    parser.add_argument("--cv-seed", type=int, default=0, help="shuffle of the DS1 records into CV groups")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="training setting for --cv folds"
    )
    parser.add_argument("--work", type=Path, default=Path("runs/adaptive-cv"), help="where --cv keeps fold models")
    parser.add_argument(
        "--folds", type=Path, default=None, help="score DS1 with these fold models (an `arrhythmia crossval` directory)"
    )
    parser.add_argument("--hours", type=float, default=0.0, help="time predict on a signal this long instead")
    parser.add_argument(
        "--strips",
        type=float,
        nargs="+",
        metavar=("SECONDS", "EVERY"),
        default=None,
        help="label strips of SECONDS s, one every EVERY s (default 60), each on its own, as resting ECGs are",
    )
    parser.add_argument("--per-record", action="store_true", help="also print a table per record")
    parser.add_argument("--out", type=Path, default=None, help="append results as JSON lines to this file")
    parser.add_argument("--show", nargs="+", metavar="RESULTS", help="print the table of --out files, run nothing")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="RESULTS",
        help="each result of --out files against the first, on the same records: differences with paired intervals",
    )
    args = parser.parse_args()
    if args.show:
        show(args.show)
        return
    if args.compare:
        compare_results(args.compare)
        return
    with noted_machine():  # --show runs nothing, and says no machine
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Run the mode ``args`` asks for (all but ``--show``) and print its tables."""
    args.variant = args.variant or ["mlii"]
    if args.strips is not None:
        if len(args.strips) > 2 or min(args.strips) <= 0:
            raise SystemExit("--strips SECONDS [EVERY]: one or two positive numbers of seconds")
        args.strips = (args.strips[0], args.strips[1] if len(args.strips) == 2 else 60.0)
        print(f"strips: {args.strips[0]:g} s, one every {args.strips[1]:g} s, each labelled on its own")
    options = parse_settings(args.predict_option, "--predict-option")
    check_options(options)
    print(f"label_recording defaults: {predict_defaults()} (options given here override them)")
    began = time.perf_counter()

    if args.hours:
        print(f"{args.hours:g} h of MLII (MIT-BIH records concatenated), predict {options_text(options)}:\n")
        print("| variant | engine | beats | label s | peak memory, MB |\n|---|---|---:|---:|---:|")
        for variant in args.variant:
            if variant != "mlii":
                noise_variant(variant)  # only noise variants apply to the long signal: an error for others
            beats, seconds, peak = in_fresh_process(
                long_signal_run, args.data, args.hours, args.engine, args.run, args.pretrained, options, variant
            )
            print(f"| {variant} | {args.engine} | {beats:,} | {seconds:.1f} | {peak:,.0f} |")
        return

    if args.folds is not None:
        results = given_folds(args, options)
    elif args.cv:
        results = run_cv(args, options, parse_settings(args.set, "--set"))
    else:
        model = load_classifier(args.run, args.engine, args.pretrained, device="cpu")
        name = str(args.run) if args.run else args.pretrained
        names = record_list(args.records, args.data)
        print(f"model: {name} ({args.engine}); records: {args.records} ({len(names)}); predict {options_text(options)}")
        warm_up(args.data, names[0], model, options)
        results, rows = [], []
        for variant in args.variant:
            scores = score_records(args.data, names, variant, model, options, args.strips)
            summary = summarise(scores)
            rows.append(([variant, options_text(options)], summary))
            result = {"mode": "records", "model": name, "engine": args.engine, "records_spec": args.records}
            per_record = [record_row(s) for s in scores]
            results.append(
                {**result, "variant": variant, "options": options, "summary": summary, "per_record": per_record}
            )
        print()
        print_table(["variant", "options"], rows)
        for labels, summary in rows:
            print(f"{labels[0]}: {review_line(summary['review'])}")
            print(f"{labels[0]}: {confidence_line(summary['confidence'])}")
            print(f"{labels[0]}: {intervals_line(summary['intervals'])}")
            print(f"{labels[0]}: {ec57_text(summary['ec57'], percent=True)}")
        if args.per_record:
            for r in results:
                print_per_record(r["variant"], r["per_record"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as fh:
            for r in results:
                fh.write(json.dumps({**r, "predict_defaults": predict_defaults()}) + "\n")
    print(f"\n({(time.perf_counter() - began) / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
