"""Labelling short strips in memory, as a telemetry service does: latency, memory, warnings and threads.

    python benchmarks/strips.py [--data ../shared/data/mitdb] [--calls 2000] [--seconds 10 60] [--fs 250]
                                [--threads 4] [--torch-threads N] [--no-adapt] [--engines torch onnx]
                                [--pretrained NAME | --run RUN]

One model is loaded once per engine (PyTorch ``Classifier``, ONNX Runtime ``OnnxClassifier``), each engine in a
fresh process, and labels ``--calls`` 10-s strips one after the other (a strip of S seconds: ``calls * 10 / S``
of them, at least 50): consecutive stretches of the database's records (the lead ``read_input`` picks, resampled
to ``--fs``), with ``predict_signal`` and its defaults (adapted unless ``--no-adapt``). Printed per engine and strip
length: seconds per call (median, 95th percentile), the process's resident memory after the first calls and
its growth over the second half of the loop, which labels strips the first half labelled (a leak grows it call
after call; a first pass over new strips raises the allocator's high-water mark), the Python heap's growth over
100 further calls under ``tracemalloc``, the warnings each call issues, and how many different messages
they were (Python's default filter shows each message once). Then ``--threads`` threads label the same strips
at once with the one model: whether every strip gets the labels it got alone, the speed-up over one at a
time, and whether the process's warning filters were left changed.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import in_fresh_process, resampled
from machine import noted_machine

from arrhythmia import pretrained
from arrhythmia.data.recording import Recording, read_input
from arrhythmia.data.wfdb_source import record_names
from arrhythmia.export import ENGINES, load_classifier
from arrhythmia.predict import predict_signal


def resident_mb() -> float:
    """The process's resident memory now, MB (Linux: /proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text(encoding="utf-8").split()[1])
    return pages * 4096 / 2**20


def strips(data: Path, fs: float, seconds: float, count: int) -> list[np.ndarray]:
    """``count`` strips of ``seconds`` at ``fs`` Hz, (seconds * fs,) float32 each, mV: the first consecutive
    stretches of each record of ``data`` (its lead as ``read_input`` picks it, resampled to ``fs``)."""
    length = int(round(seconds * fs))
    names = record_names(data)
    each = -(-count // len(names))  # a few strips of every record: its rhythm, noise and beat shapes
    out: list[np.ndarray] = []
    for name in names:
        signal = resampled(read_input(data / name), fs)[0].signal.astype(np.float32)
        out += [signal[i : i + length] for i in range(0, len(signal) - length + 1, length)][:each]
    return out[:count]


def measure(
    data: Path, engine: str, model: str | None, shipped: str, seconds: float, calls: int, fs: float, args: dict
) -> dict:
    """One engine and strip length, in this (fresh) process: the row ``main`` prints."""
    import torch

    if args["torch_threads"]:
        torch.set_num_threads(args["torch_threads"])
    began = time.perf_counter()
    classifier = load_classifier(model, engine, shipped, device="cpu")
    load_s = time.perf_counter() - began
    # The second half of the calls labels strips the first half labelled: memory they add is no new strip's.
    pool = strips(data, fs, seconds, max(min(calls // 2, 500), 1))
    adapt = args["adapt"]

    def label(signal: np.ndarray):
        return predict_signal(Recording(signal.astype(np.float64), fs, "ECG", Path("strip")), classifier, adapt=adapt)

    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for signal in pool[:5]:  # warm-up: first calls allocate what later ones reuse
            label(signal)
        after_warm_up = resident_mb()
        caught.clear()
        times, halfway = [], after_warm_up
        for i in range(calls):
            began = time.perf_counter()
            label(pool[i % len(pool)])
            times.append(time.perf_counter() - began)
            if i == calls // 2:
                halfway = resident_mb()
        end = resident_mb()
        messages = [str(w.message) for w in caught]
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for signal in pool[:20]:
            label(signal)
        own = [tracemalloc.Filter(False, tracemalloc.__file__)]  # not the snapshots' own memory
        first = tracemalloc.take_snapshot().filter_traces(own)
        traced = 100
        for i in range(traced):
            label(pool[i % len(pool)])
        last = tracemalloc.take_snapshot().filter_traces(own)
        heap_growth = sum(s.size_diff for s in last.compare_to(first, "filename"))
    tracemalloc.stop()

    # Several threads, one model: the labels each strip gets alone, and the time.
    some = pool[: max(8 * args["threads"], 24)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filters_before = list(warnings.filters)
        began = time.perf_counter()
        alone = [label(signal)["label"].tolist() for signal in some]
        one_at_a_time_s = time.perf_counter() - began
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args["threads"]) as threads:
            together = [table["label"].tolist() for table in threads.map(label, some)]
        threads_s = time.perf_counter() - began
        filters_changed = list(warnings.filters) != filters_before
    times_ms = np.array(times) * 1000
    return {
        "engine": engine,
        "strip_s": seconds,
        "calls": calls,
        "load_s": load_s,
        "torch_threads": torch.get_num_threads(),
        "median_ms": float(np.median(times_ms)),
        "p95_ms": float(np.percentile(times_ms, 95)),
        "rss_mb": after_warm_up,
        "growth_mb_per_1000": (end - halfway) / max(calls - calls // 2, 1) * 1000,
        "heap_kb_per_1000": heap_growth / 1024 / traced * 1000,
        "warnings_per_call": len(messages) / calls,
        "distinct_warnings": len(set(messages)),
        "example_warning": statistics.mode(messages) if messages else "",
        "threads_same": sum(a == b for a, b in zip(alone, together)),
        "threads_strips": len(some),
        "speed_up": one_at_a_time_s / threads_s,
        "filters_changed": filters_changed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--calls", type=int, default=2000, help="10-s strips per engine (longer strips: fewer)")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0], help="strip lengths, s")
    parser.add_argument("--fs", type=float, default=250.0, help="the strips' sampling rate, Hz")
    parser.add_argument("--threads", type=int, default=4, help="threads labelling at once with one model")
    parser.add_argument("--torch-threads", type=int, default=0, help="PyTorch's intra-op threads (0: its default)")
    parser.add_argument("--no-adapt", action="store_true", help="label with adapt=False")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--run", type=Path, default=None, help="run directory (default: a shipped model)")
    parser.add_argument("--pretrained", default=pretrained.DEFAULT, help="shipped model (default: the default one)")
    args = parser.parse_args()
    options = {"threads": args.threads, "torch_threads": args.torch_threads, "adapt": not args.no_adapt}
    rows = []
    for seconds in args.seconds:
        calls = max(int(round(args.calls * 10.0 / seconds)), 50)
        for engine in args.engines:
            rows.append(
                in_fresh_process(
                    measure, args.data, engine, args.run, args.pretrained, seconds, calls, args.fs, options
                )
            )
    name = str(args.run) if args.run else args.pretrained
    print(f"\n{name}, strips at {args.fs:g} Hz, adapt={options['adapt']}, {args.threads} threads\n")
    print(
        "| engine | strip | calls | load s | median ms | p95 ms | RSS MB | RSS growth MB/1000 calls "
        "| heap growth KB/1000 calls | warnings/call (distinct) | threads: same labels | speed-up | filters changed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['engine']} ({r['torch_threads']} torch threads) | {r['strip_s']:g} s | {r['calls']} "
            f"| {r['load_s']:.2f} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['rss_mb']:.0f} "
            f"| {r['growth_mb_per_1000']:+.1f} | {r['heap_kb_per_1000']:+.0f} "
            f"| {r['warnings_per_call']:.2f} ({r['distinct_warnings']}) | {r['threads_same']}/{r['threads_strips']} "
            f"| {r['speed_up']:.2f} | {'yes' if r['filters_changed'] else 'no'} |"
        )
    warned = [r["example_warning"] for r in rows if r["example_warning"]]
    if warned:
        print(f"\nthe most frequent warning: {warned[0]}")


if __name__ == "__main__":
    with noted_machine():
        main()
