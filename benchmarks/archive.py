"""Labelling an archive: throughput with 1 and 2 workers, Dask against a plain ProcessPoolExecutor, the cost
of a rerun, and a projection to an Icentia11k-sized archive.

    python benchmarks/archive.py [--data ../shared/data/mitdb] [--copies 1] [--workers 1,2]
                                 [--backends dask,processes] [--workdir DIR] [--keep]

The archive is ``--copies`` copies of every record of ``--data`` (default ``$ARRHYTHMIA_MITDB`` or
``../shared/data/mitdb``; MIT-BIH: 48 records of 30 min), symbolic links in a temporary folder. For each
backend and worker count it is labelled from scratch, the shipped default model, ``predict``'s default
options:

- ``dask``: ``label_archive(workers=N)``, what ``arrhythmia predict FOLDER --workers N`` runs: a Dask
  ``LocalCluster`` of N worker processes started and closed inside the timing;
- ``processes``: the same task function (``archive.label_one``, the model cached per process) through
  ``concurrent.futures.ProcessPoolExecutor(N)`` (spawned processes, as Dask's), pool start-up included.

Reported: wall time, recording-hours labelled per minute, beats per second, the speed-up over one worker,
the summed per-recording labelling time (from each recording's ``done.json``) against the workers' wall time
(what is left is start-up, scheduling, and idle workers at the end), the workers' CPU seconds per
recording-hour (process time, which other work on a shared machine does not inflate as it does wall time),
how many times a model was loaded (once per worker process is the target), the peak resident memory of a
worker process and the machine's load average. Then a rerun of the finished archive (``label_archive``
again, and the whole ``arrhythmia predict`` command with its imports: every recording skipped),
the round trip of 500 empty tasks through each backend, and, on paper, how long an Icentia11k-sized archive
(11,000 patients, about 2.7 billion beats) would take from the measured rate per core.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from arrhythmia.archive import (
    MARKER,
    ModelChoice,
    Task,
    find_recordings,
    label_archive,
    label_one,
    record_names,
)
from arrhythmia.device import usable_cpus
from arrhythmia.labelling import PredictOptions

ICENTIA_PATIENTS = 11_000
ICENTIA_BEATS = 2.7e9


def make_archive(data: Path, copies: int, folder: Path) -> list[Path]:
    """``copies`` folders of symbolic links to every WFDB record of ``data``; the records' headers."""
    headers = sorted(data.glob("*.hea"))
    for k in range(copies):
        target = folder / f"copy{k:02d}"
        target.mkdir(parents=True)
        for header in headers:
            for path in data.glob(f"{header.stem}.*"):
                (target / path.name).symlink_to(path.resolve())
    return find_recordings([folder])


def markers(out: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(out.glob(f"*/{MARKER}"))]


def with_processes(recordings: list[Path], out: Path, workers: int) -> None:
    """The archive's tasks through a plain ProcessPoolExecutor: no scheduler, no retries, no cluster."""
    tasks = [
        Task(str(path), str(out / name), PredictOptions(), ModelChoice())
        for name, path in zip(record_names(recordings), recordings)
    ]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = list(pool.map(label_one, tasks))
    failed = [row["error"] for row in rows if row["status"] == "failed"]
    assert not failed, failed


def empty_task(x: int) -> int:
    return x


def task_overhead(backend: str, workers: int, n: int = 500) -> tuple[float, float]:
    """Seconds to start the backend's workers, and milliseconds per empty task once started."""
    began = time.perf_counter()
    if backend == "dask":
        from dask.distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=None, silence_logs=logging.CRITICAL
            ) as cluster,
            Client(cluster) as client,
        ):
            client.wait_for_workers(workers)
            started = time.perf_counter()
            client.gather(client.map(empty_task, range(n), pure=False))
            done = time.perf_counter()
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(empty_task, range(workers)))  # the processes exist once each ran a task
            started = time.perf_counter()
            list(pool.map(empty_task, range(n)))
            done = time.perf_counter()
    return started - began, 1000 * (done - started) / n


def main() -> None:
    default_data = Path(os.environ.get("ARRHYTHMIA_MITDB", Path(__file__).resolve().parents[2] / "shared/data/mitdb"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--backends", default="dask,processes")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="archive-bench-"))
    recordings = make_archive(args.data, args.copies, workdir / "in")
    counts = [int(w) for w in args.workers.split(",")]
    backends = args.backends.split(",")
    print(
        f"{len(recordings)} recordings ({args.copies} x {args.data}), {usable_cpus()} CPUs "
        f"(load average {os.getloadavg()[0]:.1f} before), workdir {workdir}"
    )

    results = {}
    try:
        for backend in backends:
            for workers in counts:
                out = workdir / f"out-{backend}-{workers}"
                began = time.perf_counter()
                if backend == "dask":
                    result = label_archive(recordings, out, workers=workers, progress=False)
                    assert result.failed == 0, result.failures
                else:
                    with_processes(recordings, out, workers)
                wall = time.perf_counter() - began
                done = markers(out)
                rows = [m["row"] for m in done]
                peaks = {}
                for m in done:
                    peaks[m["worker"]["pid"]] = max(peaks.get(m["worker"]["pid"], 0), m["worker"]["peak_rss_mib"])
                results[backend, workers] = {
                    "wall": wall,
                    "hours": sum(r["duration_s"] for r in rows) / 3600,
                    "beats": sum(r["beats"] for r in rows),
                    "busy": sum(m["worker"]["seconds"] for m in done),
                    "peak": max(peaks.values()),
                    "pids": len(peaks),
                    "loads": sum(m["worker"]["loaded_model"] for m in done),
                    "cpu": sum(m["worker"]["cpu_seconds"] for m in done),
                    "load": os.getloadavg()[0],  # ours and the machine's other work, over the last minute
                }
                print(f"  {backend}, {workers} worker(s): {wall:.1f} s", flush=True)
        rerun = None
        if "dask" in backends:
            out = workdir / f"out-dask-{counts[-1]}"
            began = time.perf_counter()
            again = label_archive(recordings, out, workers=counts[-1], progress=False)
            rerun = (time.perf_counter() - began, again.labelled, again.skipped)
            # What a user waits for: the whole command, Python and the libraries' imports included.
            began = time.perf_counter()
            command = [sys.executable, "-m", "arrhythmia", "predict", str(workdir / "in"), "--out", str(out)]
            printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
            rerun_command = (time.perf_counter() - began, printed)
        overhead = {(b, w): task_overhead(b, w) for b in backends for w in counts[-1:]}
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        "| backend | workers | wall s | recording-h / min | beats / s | speed-up | labelling s / worker-wall s "
        "| CPU s / recording-h | model loads | peak RSS per worker MiB | load average after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (backend, workers), r in results.items():
        one = results.get((backend, counts[0]))
        speedup = one["wall"] / r["wall"] if one else float("nan")
        print(
            f"| {backend} | {workers} | {r['wall']:.1f} | {r['hours'] / (r['wall'] / 60):.2f} "
            f"| {r['beats'] / r['wall']:,.0f} | {speedup:.2f}x | {r['busy'] / (workers * r['wall']):.2f} "
            f"| {r['cpu'] / r['hours']:.1f} | {r['loads']} | {r['peak']:,.0f} | {r['load']:.1f} |"
        )
    if rerun:
        first = results["dask", counts[-1]]["wall"]
        print(
            f"\nrerun of the finished archive (dask, {counts[-1]} workers): {rerun[0]:.2f} s, {rerun[1]} labelled, "
            f"{rerun[2]} skipped: {100 * rerun[0] / first:.1f}% of the first run; the command "
            f"`arrhythmia predict` over it: {rerun_command[0]:.1f} s ({100 * rerun_command[0] / first:.1f}%): "
            f"{rerun_command[1]}"
        )
    print()
    for (backend, workers), (start, per_task) in overhead.items():
        print(f"{backend}, {workers} workers: {start:.2f} s to start, {per_task:.2f} ms per empty task")

    # Projection (on paper) from two per-core rates: beats per CPU second of the workers (what a core does
    # when it is not shared; reading files over a cluster's network would add to it), and beats per second
    # of wall time per worker measured here, on cores shared with other work.
    most = max(counts)
    base = results.get(("dask", most)) or results[backends[0], most]
    print(
        f"\nPROJECTION, not measured: an Icentia11k-sized archive ({ICENTIA_PATIENTS:,} patients, "
        f"{ICENTIA_BEATS / 1e9:.1f} billion beats):"
    )
    for what, per_core in (
        ("per CPU second of a worker", base["beats"] / base["cpu"]),
        (f"per wall second per worker, {most} workers on this shared machine", base["beats"] / base["wall"] / most),
    ):
        core_hours = ICENTIA_BEATS / per_core / 3600
        print(
            f"  at {per_core:,.0f} beats/s per core ({what}): {core_hours:,.0f} core-hours; "
            + ", ".join(f"{cores} cores: {core_hours / cores:,.1f} h" for cores in (2, 16, 64, 256))
            + f"; done in 24 h with {core_hours / 24:,.0f} cores, in 8 h with {core_hours / 8:,.0f}"
        )


if __name__ == "__main__":
    main()
