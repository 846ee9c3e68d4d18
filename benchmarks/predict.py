"""Speed of `arrhythmia predict`, stage by stage, for the PyTorch and ONNX engines.

    python benchmarks/predict.py [--data ../shared/data/mitdb] [--record 100] [--hours 0 [--rate HZ]] [--run RUN]

Prints, per engine, seconds for each stage (read, filter, detect, segment, classify) and in total for one
30-minute MIT-BIH record, and the classifier alone in beats/s (batch 4096 for ONNX, 1024 for PyTorch;
best of three passes, each engine in a fresh process) on the record's beats repeated to 100,000. With
``--hours H`` it also labels an H-hour signal made by concatenating records (48 records = 24 h) with
``label_recording`` (what ``predict`` does: the beats a chunk at a time, then the episodes and hourly
table), each engine in a fresh process whose peak resident memory (signal included) is reported; with
``--rate HZ`` each record is resampled to that rate first (a device's: ``--hours 168 --rate 250`` is a 7-day
patch recording). With ``--counts`` that signal is labelled as a patch's
export is: written as a .npy of int16 counts (409.6 per mV) with its second day turned over (worn upside down),
then read and labelled by ``predict``'s own ``label_file`` (``arrhythmia predict FILE --fs HZ --units 409.6``:
reading, the turning and the outputs included), each engine in a fresh process. With ``--csv`` it is labelled
as a device's CSV export is: a ``time_s`` column (0.1 ms) and the lead in mV (1 uV), read and labelled by
``label_file`` (``arrhythmia predict FILE.csv``: the time column gives the rate). The model is the shipped
default unless ``--pretrained`` names another shipped model or ``--run`` a run directory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from common import in_fresh_process, load_engines, long_recording
from machine import noted_machine

from arrhythmia import pretrained
from arrhythmia.data.detection import bandpass, find_r_peaks
from arrhythmia.data.pipeline import cut_beats
from arrhythmia.data.recording import Recording, read_input
from arrhythmia.data.wfdb_source import record_names
from arrhythmia.labelling import PredictOptions, label_file
from arrhythmia.predict import label_recording

#: A patch's counts per mV (``--counts``), and the day its export turns over (from 0): worn upside down.
COUNTS_PER_MV = 409.6
TURNED_DAY = 1


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
    beats = cut_beats(recording.signal, recording.fs, peaks, model.window, with_context=model.takes_context)
    times["segment"] = time.perf_counter() - began
    began = time.perf_counter()
    model.predict_proba(beats.X, beats.context)
    times["classify"] = time.perf_counter() - began
    times["total"] = sum(times.values())
    return times, len(peaks)


def long_signal_run(
    data: Path, hours: float, engine: str, run: Path | None, shipped: str, rate_hz: float | None = None
) -> tuple[int, float, float, float]:
    """In a fresh process: read records up to ``hours``, label them; (records, read s, label s, peak MB)."""
    model = load_engines(run, shipped)[engine]
    find_r_peaks(bandpass(np.sin(np.arange(7200) / 9.0), 360.0), 360.0)  # import NeuroKit2 before timing
    began = time.perf_counter()
    recording = long_recording(data, hours, rate_hz=rate_hz)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    label_recording(recording, model)
    label_s = time.perf_counter() - began
    return len(record_names(data)), read_s, label_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def patch_file(data: Path, hours: float, rate_hz: float | None, folder: Path) -> tuple[Path, float]:
    """An ``hours``-long signal (``long_recording``) written as a patch exports it: ``folder/patch.npy``, int16
    counts at ``COUNTS_PER_MV``, day ``TURNED_DAY`` turned over where the signal reaches it; and its rate, Hz."""
    recording = long_recording(data, hours, rate_hz=rate_hz)
    day = int(round(86_400 * recording.fs))
    recording.signal[TURNED_DAY * day : (TURNED_DAY + 1) * day] *= -1
    counts = np.clip(np.round(recording.signal * COUNTS_PER_MV), -32768, 32767).astype(np.int16)
    path = folder / "patch.npy"
    np.save(path, counts)
    return path, recording.fs


def csv_file(data: Path, hours: float, rate_hz: float | None, folder: Path) -> Path:
    """An ``hours``-long signal (``long_recording``) written as a device's CSV export: ``folder/export.csv``,
    ``time_s`` to 0.1 ms and the lead in mV to 1 uV."""
    recording = long_recording(data, hours, rate_hz=rate_hz)
    path = folder / "export.csv"
    with path.open("w") as fh:
        fh.write(f"time_s,{recording.lead} (mV)\n")
        times = np.arange(len(recording.signal)) / recording.fs
        np.savetxt(fh, np.column_stack([times, recording.signal]), fmt=["%.4f", "%.3f"], delimiter=",")
    return path


def file_run(
    path: Path, options: PredictOptions, engine: str, run: Path | None, shipped: str, out: Path
) -> tuple[float, float]:
    """In a fresh process: label the file ``path`` as ``arrhythmia predict`` does; (seconds, peak MB)."""
    import warnings

    model = load_engines(run, shipped)[engine]
    find_r_peaks(bandpass(np.sin(np.arange(7200) / 9.0), 360.0), 360.0)  # import NeuroKit2 before timing
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the turned day's caution, said once per engine
        label_file(path, model, out / engine, options)
    return time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def classifier_rate(model, X: np.ndarray, context: np.ndarray | None, n: int = 100_000, repeats: int = 3) -> float:
    """Beats per second of the classifier alone on ``n`` beats (X and context repeated), the best of ``repeats``
    passes (as ``timeit`` reports: on a shared machine the slower passes measure the other jobs)."""
    beats = np.resize(X, (n, X.shape[1])).astype(np.float32)
    context = None if context is None else np.resize(context, (n, context.shape[1])).astype(np.float32)
    model.predict_proba(beats[:2048], None if context is None else context[:2048])  # warm-up
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        model.predict_proba(beats, context)
        seconds.append(time.perf_counter() - began)
    return n / min(seconds)


def engine_rate(engine: str, run: Path | None, shipped: str, X: np.ndarray, context: np.ndarray | None) -> float:
    return classifier_rate(load_engines(run, shipped)[engine], X, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--record", default="100")
    parser.add_argument("--hours", type=float, default=0.0, help="also time a signal this long (0: skip)")
    parser.add_argument("--rate", type=float, default=None, help="with --hours: resample each record to this rate, Hz")
    parser.add_argument("--counts", action="store_true", help="with --hours: label it as a patch's int16 .npy file")
    parser.add_argument("--csv", action="store_true", help="with --hours: label it as a device's CSV export")
    parser.add_argument("--run", type=Path, default=None, help="run directory (default: a shipped model)")
    parser.add_argument("--pretrained", default=pretrained.DEFAULT, help="shipped model (default: the default one)")
    args = parser.parse_args()
    engines = load_engines(args.run, args.pretrained)

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

    stages = ["read", "filter", "detect", "segment", "classify", "total"]
    print(f"model: {engines['torch'].model_name}; seconds per stage on this machine")
    print("| signal | engine | beats | " + " | ".join(stages) + " |")
    print("|---|---|---:|" + "---:|" * len(stages))
    for signal, engine, times, n_beats in rows:
        print(f"| {signal} | {engine} | {n_beats:,} | " + " | ".join(f"{times[s]:.3f}" for s in stages) + " |")

    peaks = find_r_peaks(bandpass(recording.signal, recording.fs), recording.fs)
    beats = cut_beats(recording.signal, recording.fs, peaks, engines["torch"].window)
    context = beats.context if engines["torch"].takes_context else None
    del engines  # each engine alone in a fresh process below: one engine's idle threads do not slow the other
    print("\n| engine | classifier alone, beats/s |\n|---|---:|")
    for name in ("torch", "onnx"):
        rate = in_fresh_process(engine_rate, name, args.run, args.pretrained, beats.X, context)
        print(f"| {name} | {rate:,.0f} |")
    if args.hours:
        at = f" at {args.rate:g} Hz" if args.rate else ""
        print(f"\n{args.hours:g} h signal (records concatenated{at}), labelled by label_recording:")
        print("| engine | read s | label s (filter to classify) | peak memory, MB |\n|---|---:|---:|---:|")
        for name in ("torch", "onnx"):
            _, read_s, label_s, peak = in_fresh_process(
                long_signal_run, args.data, args.hours, name, args.run, args.pretrained, args.rate
            )
            print(f"| {name} | {read_s:.2f} | {label_s:.2f} | {peak:,.0f} |")
    if args.hours and args.counts:
        with tempfile.TemporaryDirectory() as folder:
            path, fs = patch_file(args.data, args.hours, args.rate, Path(folder))
            size = path.stat().st_size / 2**20
            turned = f", day {TURNED_DAY + 1} upside down" if args.hours > 24 * TURNED_DAY else ""
            print(f"\nthe same as a patch's file ({size:,.0f} MB of int16 counts{turned}),")
            print(f"labelled as `arrhythmia predict FILE --fs {fs:g} --units {COUNTS_PER_MV:g}` labels it:")
            print("| engine | read, label and write s | peak memory, MB |\n|---|---:|---:|")
            options = PredictOptions(fs=fs, units=str(COUNTS_PER_MV))
            for name in ("torch", "onnx"):
                seconds, peak = in_fresh_process(file_run, path, options, name, args.run, args.pretrained, Path(folder))
                print(f"| {name} | {seconds:.2f} | {peak:,.0f} |")
    if args.hours and args.csv:
        with tempfile.TemporaryDirectory() as folder:
            path = csv_file(args.data, args.hours, args.rate, Path(folder))
            print(f"\nthe same as a device's CSV export ({path.stat().st_size / 2**20:,.0f} MB: time_s and mV),")
            print("labelled as `arrhythmia predict FILE.csv` labels it:")
            print("| engine | read, label and write s | peak memory, MB |\n|---|---:|---:|")
            for name in ("torch", "onnx"):
                seconds, peak = in_fresh_process(
                    file_run, path, PredictOptions(), name, args.run, args.pretrained, Path(folder)
                )
                print(f"| {name} | {seconds:.2f} | {peak:,.0f} |")


if __name__ == "__main__":
    with noted_machine():
        main()
