"""R-peak detection accuracy and speed of every registered detector on a WFDB database (MIT-BIH).

    python benchmarks/detect.py [--data ../shared/data/mitdb] [--methods a,b,...] [--records 100,101]
                                [--noise motionDB|muscleDB]

Each record's lead is chosen by ``read_lead`` (MLII where present, else lead 0). Detections are
scored against the reference beat annotations (``atr``; non-beat annotations ignored), one-to-one
within 150 ms. Prints, per method, a markdown table of Se, +P and detection seconds per record
with a total row (Se = TP/(TP+FN), +P = TP/(TP+FP) summed over records; mean seconds per record,
file reading excluded, band-pass filtering included), then a summary of all methods. ``--noise`` adds
synthetic electrode-motion or muscle noise at a signal-to-noise ratio first (``common.noisy_signal``, e.g.
``--noise muscle6``). Nothing is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import noise_variant, noisy_signal, record_seed
from machine import noted_machine

from arrhythmia.data.beats import SYMBOL_TO_AAMI
from arrhythmia.data.detection import DEFAULT_METHOD, METHODS, detect_r_peaks, match_peaks
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.data.wfdb_source import read_beat_annotations, read_lead, record_names

TOLERANCE_S = 0.15


def percent(num: int, den: int) -> float:
    return 100.0 * num / den if den else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mitdb", help="WFDB database directory")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}")
    parser.add_argument("--records", default=None, help="comma-separated record names (default: all)")
    parser.add_argument("--noise", default=None, help="synthetic noise added first: motionDB or muscleDB (motion12)")
    args = parser.parse_args()

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    noise = None
    if args.noise:
        try:
            noise = noise_variant(args.noise)
        except ValueError as exc:
            parser.error(str(exc))
    data = Path(args.data)
    names = args.records.split(",") if args.records else record_names(data)

    # Read everything first so that only detection is timed.
    records = []
    for name in names:
        signal, fs, lead = read_lead(data / name)
        samples, symbols = read_beat_annotations(data / name)
        reference = samples[np.isin(symbols, list(SYMBOL_TO_AAMI))]
        if noise is not None:
            signal = noisy_signal(signal, fs, reference, *noise, seed=record_seed(name))
        records.append((name, signal, fs, lead, reference))

    summary = []
    for method in methods:
        warm = synthetic_ecg(duration_s=10.0, fs=records[0][2], seed=0)
        detect_r_peaks(warm.signal, warm.fs, method)  # warm-up: library imports and first-call costs
        print(f"\n### {method}{' (default)' if method == DEFAULT_METHOD else ''}\n")
        print("| record | lead | beats | TP | FP | FN | Se % | +P % | s |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        totals = np.zeros(3, dtype=np.int64)
        seconds = []
        for name, signal, fs, lead, reference in records:
            began = time.perf_counter()
            peaks = detect_r_peaks(signal, fs, method)
            seconds.append(time.perf_counter() - began)
            tp, fp, fn = match_peaks(peaks, reference, round(TOLERANCE_S * fs))
            totals += (tp, fp, fn)
            print(
                f"| {name} | {lead} | {len(reference)} | {tp} | {fp} | {fn} "
                f"| {percent(tp, tp + fn):.2f} | {percent(tp, tp + fp):.2f} | {seconds[-1]:.3f} |",
                flush=True,
            )
        tp, fp, fn = (int(v) for v in totals)
        se, pp, s = percent(tp, tp + fn), percent(tp, tp + fp), float(np.mean(seconds))
        print(f"| **total** | | {tp + fn} | {tp} | {fp} | {fn} | **{se:.2f}** | **{pp:.2f}** | {s:.3f} |")
        summary.append((method, se, pp, fp, fn, s))

    noisy = f", {args.noise} noise" if args.noise else ""
    print(f"\n### Summary ({len(records)} records{noisy}, match within {TOLERANCE_S * 1000:.0f} ms)\n")
    print("| method | Se % | +P % | FP | FN | s/record |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, se, pp, fp, fn, s in summary:
        label = f"{method} (default)" if method == DEFAULT_METHOD else method
        print(f"| {label} | {se:.2f} | {pp:.2f} | {fp} | {fn} | {s:.3f} |")


if __name__ == "__main__":
    with noted_machine():
        main()
