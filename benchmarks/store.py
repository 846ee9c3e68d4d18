"""Beat store against in-memory beats: build time, size on disk, memory and speed of a training epoch.

    python benchmarks/store.py [--data ../shared/data/mitdb] [--repeat 20] [--workers N] [--threads T]
                               [--workdir DIR] [--model M] [--keep] [--quick]

Builds a store of the whole database (``--data``, default ``$ARRHYTHMIA_MITDB`` or ``../shared/data/mitdb``)
and one ``--repeat`` times its size (every record extracted again under another name), timing each build
and measuring its size on disk. For each store, one epoch of ``--model`` (default fast-cnn; intra-patient split,
batch 128) is trained twice, each time in a fresh process: from the store (waveforms read from the shard files per
batch) and from the same beats read whole into memory first (what ``load_beats`` gives for a database).
Reported per run: microseconds to read one random batch of waveforms (no training), the epoch's seconds
(as training logs them), seconds for the whole ``train`` call (standardisation, validation and test
evaluation included), resident memory once the beats are ready (torch imported), the process's peak
resident memory and its peak anonymous memory (sampled; Linux): memory the kernel cannot drop when it runs
short, unlike the page cache the shard files are read through.

Stores and runs go under ``--workdir`` (default: a new temporary directory) and are deleted at the end
unless ``--keep``. ``--quick``: the first 3 records and ``--repeat 2``, a smoke run of a few minutes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import in_fresh_process
from machine import noted_machine

from arrhythmia.data.store import build_store, open_store, read_manifest, store_bytes
from arrhythmia.data.wfdb_source import record_names

MIB = 2**20


def _status_bytes(field: str) -> int | None:
    """A memory figure of this process from /proc/self/status (``VmRSS``, ``RssAnon``...), None off Linux."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class AnonPeak:
    """Peak anonymous resident memory of this process while in the ``with`` block, sampled every 20 ms."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.peak: int | None = _status_bytes("RssAnon")
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            value = _status_bytes("RssAnon")
            if value is not None:
                self.peak = max(self.peak or 0, value)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def read_whole(store: Path):
    """The store's beats with X read into one in-memory array, shard by shard (no second full copy)."""
    beats = open_store(store)
    X = np.empty(beats.X.shape, dtype=beats.X.dtype)
    start = 0
    for shard in read_manifest(store)["shards"]:
        X[start : start + shard["n"]] = np.load(store / "shards" / shard["name"] / "X.npy")
        start += shard["n"]
    return replace(beats, X=X)


def epoch_run(store: Path, in_memory: bool, run_dir: Path, threads: int | None, batch_size: int, model: str) -> dict:
    """In a fresh process: one training epoch of ``model`` on the store's beats; times and memory."""
    import torch  # noqa: F401  -- imported before the memory baseline is read

    from arrhythmia.config import TrainConfig
    from arrhythmia.train import train

    with AnonPeak() as anon:
        beats = read_whole(store) if in_memory else open_store(store)
        ready_rss = _status_bytes("VmRSS")
        # Reading alone: random training batches (sorted, as the training loop asks for them).
        rng = np.random.default_rng(0)
        batches = [np.sort(rng.choice(len(beats), min(batch_size, len(beats)), replace=False)) for _ in range(200)]
        began = time.perf_counter()
        for index in batches:
            beats.X[index]
        read_us = (time.perf_counter() - began) / len(batches) * 1e6
        config = TrainConfig(model=model, epochs=1, batch_size=batch_size, threads=threads, seed=0)
        began = time.perf_counter()
        run = train(config, run_dir=run_dir, beats=beats, log=lambda _: None, progress=False)
        train_s = time.perf_counter() - began
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {
        "epoch_s": run.history()[0]["seconds"],
        "train_s": train_s,
        "read_us": read_us,
        "ready_rss": ready_rss,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
        "peak_anon": anon.peak,
    }


def first_records(data: Path, n: int, target: Path) -> Path:
    """A database directory at ``target`` holding the first ``n`` records of ``data`` (links)."""
    target.mkdir(parents=True, exist_ok=True)
    names = record_names(data)[:n]
    for name in names:
        for file in data.glob(f"{name}.*"):
            if not (target / file.name).exists():
                (target / file.name).symlink_to(file.resolve())
    (target / "RECORDS").write_text("\n".join(names) + "\n")
    return target


def mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("ARRHYTHMIA_MITDB", "../shared/data/mitdb")))
    parser.add_argument("--repeat", type=int, default=20, help="size of the large store, in databases")
    parser.add_argument("--workers", type=int, default=None, help="build processes (default: CPU count)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", default="fast-cnn", help="model trained for one epoch (default fast-cnn)")
    parser.add_argument("--workdir", type=Path, default=None, help="where stores go (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and runs")
    parser.add_argument("--quick", action="store_true", help="3 records, --repeat 2: a smoke run")
    args = parser.parse_args()

    made_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="arrhythmia-store-")) if made_workdir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    created: list[Path] = [workdir] if made_workdir else []
    data, repeat = args.data, args.repeat
    if args.quick:
        data, repeat = first_records(args.data, 3, workdir / "mitdb"), 2
        created.append(data)

    print(
        f"{data}: {len(record_names(data))} records; build workers {args.workers or os.cpu_count()}, "
        f"{os.cpu_count()} CPUs; {args.model}, 1 epoch, batch {args.batch_size}, intra split"
    )
    columns = ["store", "beats", "shards", "build s", "MiB on disk", "beats from", "µs/batch read", "epoch s"]
    columns += ["train() s"]
    columns += ["RSS ready MiB", "peak RSS MiB", "peak anon MiB"]
    print("| " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * (len(columns) - 1))
    # Imported before the first build is timed (1.5 s): start-up, not building.
    import scipy.signal  # noqa: F401
    import wfdb  # noqa: F401

    try:
        for times in sorted({1, repeat}):
            store = workdir / f"store-x{times}"
            shutil.rmtree(store, ignore_errors=True)  # a fresh build: its time is what is measured
            created.append(store)
            began = time.perf_counter()
            build_store(data, store, workers=args.workers, progress=False, repeat=times)
            build_s = time.perf_counter() - began
            manifest = read_manifest(store)
            for in_memory in (False, True):
                run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
                created.append(run_dir)
                r = in_fresh_process(epoch_run, store, in_memory, run_dir, args.threads, args.batch_size, args.model)
                cells = [
                    f"{times}x",
                    f"{manifest['n']:,}",
                    str(len(manifest["shards"])),
                    f"{build_s:.1f}",
                    f"{store_bytes(store) / MIB:,.1f}",
                    "memory" if in_memory else "store",
                    f"{r['read_us']:,.0f}",
                    f"{r['epoch_s']:.1f}",
                    f"{r['train_s']:.1f}",
                    mib(r["ready_rss"]),
                    mib(r["peak_rss"]),
                    mib(r["peak_anon"]),
                ]
                print("| " + " | ".join(cells) + " |", flush=True)
    finally:
        if not args.keep:
            for path in reversed(created):
                if path.is_symlink() or path.is_file():
                    path.unlink()
                else:
                    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    with noted_machine():
        main()
