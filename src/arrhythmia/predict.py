"""Label every beat of a recording: band-pass, detect R peaks, segment as in training, classify, summarise.

classifier = Classifier.from_run("runs/seed-cnn-intra")
beats = predict_record("100.hea", classifier)          # pandas.DataFrame, one row per beat
summary = summarise(beats)                              # counts, heart rate, ectopy
"""

from __future__ import annotations

import warnings
from itertools import groupby
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from arrhythmia.data.segmentation import kachuee_segments
from arrhythmia.recording import BeatRows, Recording, read_input

ECTOPIC_CLASSES = ("S", "V")


class BeatModel(Protocol):
    """What predict needs of a model: class names and probabilities for (n, 187) beats."""

    classes: tuple[str, ...]

    def predict_proba(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray: ...


def _table(samples: np.ndarray, fs: float | None, probs: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    labels = np.asarray(classes, dtype=object)[probs.argmax(axis=1)] if len(probs) else np.array([], dtype=object)
    frame = pd.DataFrame(
        {
            "sample": samples.astype(np.int64),
            "time_s": samples / fs if fs else np.full(len(samples), np.nan),
            "label": labels,
            "confidence": probs.max(axis=1) if len(probs) else np.array([]),
        }
    )
    for i, name in enumerate(classes):
        frame[f"p_{name}"] = probs[:, i] if len(probs) else np.array([])
    return frame


def predict_signal(recording: Recording, model: BeatModel) -> pd.DataFrame:
    """Per-beat table of one recording: sample, time_s, label, confidence and p_<class> per class.

    Beats are detected on the band-passed signal (``detect_r_peaks`` filters it) and cut from the raw
    one, exactly as training beats were cut around annotated R peaks. A detected beat that cannot be
    cut (alone in its 10 s window) gets an empty label.
    """
    from arrhythmia.detection import detect_r_peaks

    signal = recording.signal
    if len(signal) == 0 or np.all(~np.isfinite(signal)):
        warnings.warn(f"{recording.path}: the signal holds no valid samples; no beats", stacklevel=2)
        return _table(np.zeros(0), recording.fs, np.zeros((0, len(model.classes))), model.classes)
    peaks = detect_r_peaks(signal, recording.fs)
    if len(peaks) < 2:
        warnings.warn(f"{recording.path}: fewer than two beats detected; nothing to classify", stacklevel=2)
        return _table(np.zeros(0), recording.fs, np.zeros((0, len(model.classes))), model.classes)
    clean = np.nan_to_num(signal, nan=float(np.nanmedian(signal)))
    segments = kachuee_segments(clean, recording.fs, peaks)
    probs = np.full((len(peaks), len(model.classes)), np.nan, dtype=np.float32)
    probs[segments.kept] = model.predict_proba(segments.X)
    table = _table(peaks, recording.fs, np.nan_to_num(probs, nan=0.0), model.classes)
    table.loc[~segments.kept, ["label", "confidence"]] = ["", np.nan]
    return table


def predict_beats(rows: BeatRows, model: BeatModel) -> pd.DataFrame:
    """Per-row table of already segmented beats: row, label, confidence and p_<class> per class."""
    table = _table(np.arange(len(rows.X)), None, model.predict_proba(rows.X), model.classes)
    return table.drop(columns="time_s").rename(columns={"sample": "row"})


def predict_record(
    path: str | Path, model: BeatModel, fs: float | None = None, lead: str | int | None = None
) -> pd.DataFrame:
    """Read a recording (WFDB, EDF, CSV, .npy) or a Heartbeat beat CSV and label every beat."""
    data = read_input(path, fs=fs, lead=lead)
    return predict_beats(data, model) if isinstance(data, BeatRows) else predict_signal(data, model)


def _runs(labels: list[str], cls: str) -> dict[str, int]:
    lengths = [len(list(group)) for label, group in groupby(labels) if label == cls]
    return {
        "isolated": sum(1 for n in lengths if n == 1),
        "couplets": sum(1 for n in lengths if n == 2),
        "runs": sum(1 for n in lengths if n >= 3),
        "longest_run": max(lengths, default=0),
    }


def summarise(beats: pd.DataFrame, classes: tuple[str, ...] = ("N", "S", "V", "F", "Q")) -> dict:
    """Counts per class, heart rate and ectopy of a per-beat table from ``predict_signal``.

    Heart rate (bpm) comes from RR intervals between consecutive detected beats: mean = 60 / mean RR;
    min and max are taken over a running median of 8 beats so one ectopic beat does not set them.
    Ectopy: isolated beats, couplets (2 in a row) and runs (3 or more in a row) of S and V, and burden
    (percent of classified beats).
    """
    labels = [str(label) for label in beats["label"]]
    classified = [label for label in labels if label]
    counts = {name: classified.count(name) for name in classes}
    summary: dict = {"beats": len(labels), "classified": len(classified), "per_class": counts}
    if "time_s" in beats and beats["time_s"].notna().sum() >= 2:
        rr = np.diff(beats["time_s"].to_numpy())
        rr = rr[rr > 0]
        hr = 60.0 / pd.Series(rr).rolling(8, min_periods=1, center=True).median().to_numpy()
        summary["heart_rate_bpm"] = {"mean": float(60.0 / rr.mean()), "min": float(hr.min()), "max": float(hr.max())}
        summary["duration_s"] = float(beats["time_s"].iloc[-1] - beats["time_s"].iloc[0])
    summary["ectopy"] = {
        cls: {**_runs(classified, cls), "burden_percent": 100.0 * counts.get(cls, 0) / max(len(classified), 1)}
        for cls in ECTOPIC_CLASSES
    }
    return summary
