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

from arrhythmia.data.beats import WINDOWS, Window
from arrhythmia.data.context import rr_features
from arrhythmia.data.pipeline import cut_beats
from arrhythmia.data.recording import BeatRows, Recording, read_input
from arrhythmia.errors import ArrhythmiaError

ECTOPIC_CLASSES = ("S", "V")


class BeatModel(Protocol):
    """What predict needs of a model: class names, how to cut beats, and probabilities for cut beats
    X: (n, window length) with their context features: (n, n_context) where the model takes them."""

    classes: tuple[str, ...]
    window: Window
    takes_context: bool

    def predict_proba(self, X: np.ndarray, context: np.ndarray | None = None) -> np.ndarray: ...


def _table(index: dict[str, np.ndarray], probs: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """``index`` columns, then label, confidence and p_<class> from ``probs: (n, n_classes)``."""
    frame = pd.DataFrame(
        {**index, "label": np.asarray(classes, dtype=object)[probs.argmax(axis=1)], "confidence": probs.max(axis=1)}
    )
    for i, name in enumerate(classes):
        frame[f"p_{name}"] = probs[:, i]
    return frame


def _beat_index(samples: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    return {"sample": samples.astype(np.int64), "time_s": samples / fs}


#: Long recordings are labelled in chunks of this many seconds, so memory stays flat. A multiple of the
#: 10 s segmentation window, so chunks see the same windows (and 125 Hz sample grid) as the whole signal.
CHUNK_S = 600.0
#: Context on each side of a chunk: filter transients, detector rules (running RR) and beat segments
#: that run past the chunk's end all settle well within it. Also a multiple of 10 s.
MARGIN_S = 20.0


def _stretch(signal: np.ndarray, fs: float, first: int, last: int) -> tuple[int, np.ndarray]:
    """``signal[first:last]`` with ``MARGIN_S`` of context on each side, and where that context starts."""
    margin = int(round(MARGIN_S * fs))
    lo, hi = max(first - margin, 0), min(last + margin, len(signal))
    return lo, signal[lo:hi]


def _detect(signal: np.ndarray, fs: float, first: int, last: int) -> np.ndarray:
    """R peaks (samples of ``signal``) in ``signal[first:last]``, found with context around it."""
    from arrhythmia.data.detection import detect_r_peaks

    lo, stretch = _stretch(signal, fs, first, last)
    if np.all(~np.isfinite(stretch)):
        return np.zeros(0, np.int64)
    peaks = detect_r_peaks(stretch, fs) + lo
    return peaks[(peaks >= first) & (peaks < last)]


def _classify(signal, fs, first, last, peaks, rr, model: BeatModel) -> tuple[np.ndarray, np.ndarray]:
    """Whether each of ``peaks`` (all in ``[first, last)``) could be cut, and class probabilities.

    rr : (len(peaks), 6) the RR features of these peaks, computed over the whole recording."""
    lo, stretch = _stretch(signal, fs, first, last)
    cut = cut_beats(stretch, fs, peaks, model.window, with_context=model.takes_context, rr=rr, start=lo)
    probs = np.zeros((len(peaks), len(model.classes)), dtype=np.float32)
    if cut.kept.any():
        probs[cut.kept] = model.predict_proba(cut.X, cut.context)
    return cut.kept, probs


def _chunks(n_samples: int, fs: float, chunk_s: float) -> list[tuple[int, int]]:
    """``[first, last)`` sample ranges of whole 10 s windows, about ``chunk_s`` long, covering the signal."""
    chunk = max(int(round(chunk_s / 10.0)) * 10, 10) * fs
    bounds = np.arange(0, n_samples, int(chunk)).tolist() + [n_samples]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < MARGIN_S * fs:
        bounds.pop(-2)  # fold a short tail into the last chunk
    return list(zip(bounds[:-1], bounds[1:]))


def label_peaks(
    recording: Recording, peaks: np.ndarray, model: BeatModel, chunk_s: float = CHUNK_S
) -> tuple[np.ndarray, np.ndarray]:
    """Classify the beats at ``peaks`` (ascending samples of the recording): whether each could be cut,
    (n_peaks,) bool, and its class probabilities, (n_peaks, n_classes) float32 (zeros where not cut).

    RR features come from all ``peaks``; each beat is cut from the raw signal with the model's window and
    compared with the typical beat of its minute by ``pipeline.cut_beats``, exactly as training beats are
    cut around annotated R peaks; long recordings a chunk at a time (see ``predict_signal``).
    """
    signal, fs = recording.signal, recording.fs
    rr = rr_features(peaks, fs)
    kept, probs = [], []
    for first, last in _chunks(len(signal), fs, chunk_s):
        inside = (peaks >= first) & (peaks < last)
        k, p = _classify(signal, fs, first, last, peaks[inside], rr[inside], model)
        kept.append(k)
        probs.append(p)
    return np.concatenate(kept), np.concatenate(probs)


def predict_signal(recording: Recording, model: BeatModel, chunk_s: float = CHUNK_S) -> pd.DataFrame:
    """Per-beat table of one recording: sample, time_s, label, confidence and p_<class> per class.

    Beats are detected on the band-passed signal (``detect_r_peaks`` filters it) and classified by
    ``label_peaks``. A detected beat that cannot be cut (e.g. alone in its 10 s window) gets an empty
    label. Recordings longer than ``chunk_s`` seconds are processed in chunks with ``MARGIN_S`` of context
    on each side, so memory does not grow with length.
    """
    signal, fs = recording.signal, recording.fs
    empty = _table(_beat_index(np.zeros(0), fs), np.zeros((0, len(model.classes))), model.classes)
    if len(signal) == 0 or np.all(~np.isfinite(signal)):
        warnings.warn(f"{recording.path}: the signal holds no valid samples; no beats", stacklevel=2)
        return empty
    peaks = np.concatenate([_detect(signal, fs, a, b) for a, b in _chunks(len(signal), fs, chunk_s)])
    if len(peaks) < 2:
        warnings.warn(f"{recording.path}: fewer than two beats detected; nothing to classify", stacklevel=2)
        return empty
    kept, probs = label_peaks(recording, peaks, model, chunk_s)
    table = _table(_beat_index(peaks, fs), probs, model.classes)
    table.loc[~kept, ["label", "confidence"]] = ["", np.nan]
    return table


def predict_beats(rows: BeatRows, model: BeatModel) -> pd.DataFrame:
    """Per-row table of already segmented beats: row, label, confidence and p_<class> per class."""
    if model.window != WINDOWS["kachuee"] or model.takes_context:
        raise ArrhythmiaError(
            f"{rows.path}: beat CSV rows are Kachuee segments without R-peak positions; this model needs "
            f"{model.window.kind} windows{' and RR features' if model.takes_context else ''} (give it a raw recording)"
        )
    return _table({"row": np.arange(len(rows.X))}, model.predict_proba(rows.X), model.classes)


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
