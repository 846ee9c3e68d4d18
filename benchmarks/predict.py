"""Speed of `arrhythmia predict`, stage by stage, for the PyTorch and ONNX engines.

    python benchmarks/predict.py [--data ../shared/data/mitdb] [--record 100] [--hours 0] [--run RUN]

Prints, per engine, seconds for each stage (read, filter, detect, segment, classify) and in total for one
30-minute MIT-BIH record, and the classifier alone in beats/s (batch 4096 for ONNX, 1024 for PyTorch) on
the record's beats repeated to 100,000. With ``--hours H`` it also runs the stages on an H-hour signal made
by concatenating records (48 records = 24 h) and reports its peak memory (the whole signal is processed
at once: no chunking yet). The model is the shipped default unless ``--run`` names a run directory.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from arrhythmia import pretrained
from arrhythmia.data.segmentation import kachuee_segments
from arrhythmia.data.wfdb_source import record_names
from arrhythmia.detection import bandpass, find_r_peaks
from arrhythmia.export import OnnxClassifier
from arrhythmia.inference import Classifier
from arrhythmia.recording import Recording, read_input


def stage_times(recording: Recording, model, read_s: float) -> tuple[dict[str, float], int]:
    """Seconds per stage of the predict pipeline on one recording, and the number of beats."""
    times = {"read": read_s}
    began = time.perf_counter()
    filtered = bandpass(recording.signal, recording.fs)
    times["filter"] = time.perf_counter() - began
    began = time.perf_counter()
    peaks = find_r_peaks(filtered, recording.fs, invalid=np.isnan(recording.signal))
    times["detect"] = time.perf_counter() - began
    began = time.perf_counter()
    segments = kachuee_segments(recording.signal, recording.fs, peaks)
    times["segment"] = time.perf_counter() - began
    began = time.perf_counter()
    model.predict_proba(segments.X)
    times["classify"] = time.perf_counter() - began
    times["total"] = sum(times.values())
    return times, len(peaks)


def classifier_rate(model, X: np.ndarray, n: int = 100_000) -> float:
    beats = np.resize(X, (n, X.shape[1])).astype(np.float32)
    model.predict_proba(beats[:2048])  # warm-up
    began = time.perf_counter()
    model.predict_proba(beats)
    return n / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--record", default="100")
    parser.add_argument("--hours", type=float, default=0.0, help="also time a signal this long (0: skip)")
    parser.add_argument("--run", type=Path, default=None, help="run directory (default: the shipped model)")
    args = parser.parse_args()

    if args.run:
        engines = {"torch": Classifier.from_run(args.run, device="cpu"), "onnx": OnnxClassifier.from_run(args.run)}
    else:
        folder = pretrained.model_dir()
        engines = {
            "torch": Classifier.from_checkpoint(folder / "model.pt", device="cpu"),
            "onnx": OnnxClassifier(folder / "model.onnx"),
        }

    # Warm-up: the first detection imports NeuroKit2 (about 4 s), which is start-up, not throughput.
    warm = read_input(args.data / args.record)
    find_r_peaks(bandpass(warm.signal[:36_000], warm.fs), warm.fs)

    began = time.perf_counter()
    recording = read_input(args.data / args.record)
    read_s = time.perf_counter() - began
    rows = []
    for name, model in engines.items():
        times, n_beats = stage_times(recording, model, read_s)
        rows.append((f"{args.record} (30 min)", name, times, n_beats))

    if args.hours:
        names = record_names(args.data)
        began = time.perf_counter()
        parts, total = [], 0
        while total < args.hours * 3600 * recording.fs:
            part = read_input(args.data / names[len(parts) % len(names)])
            parts.append(part.signal)
            total += len(part.signal)
        long = Recording(np.concatenate(parts)[: int(args.hours * 3600 * recording.fs)], recording.fs, "MLII", "concat")
        read_long = time.perf_counter() - began
        for name, model in engines.items():
            times, n_beats = stage_times(long, model, read_long)
            rows.append((f"{args.hours:g} h ({len(parts)} records)", name, times, n_beats))

    stages = ["read", "filter", "detect", "segment", "classify", "total"]
    print(f"model: {engines['torch'].model_name}; seconds per stage on this machine")
    print("| signal | engine | beats | " + " | ".join(stages) + " |")
    print("|---|---|---:|" + "---:|" * len(stages))
    for signal, engine, times, n_beats in rows:
        print(f"| {signal} | {engine} | {n_beats:,} | " + " | ".join(f"{times[s]:.3f}" for s in stages) + " |")

    X = kachuee_segments(
        recording.signal, recording.fs, find_r_peaks(bandpass(recording.signal, recording.fs), recording.fs)
    ).X
    print("\n| engine | classifier alone, beats/s |\n|---|---:|")
    for name, model in engines.items():
        print(f"| {name} | {classifier_rate(model, X):,.0f} |")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of this process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
