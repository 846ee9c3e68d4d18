"""On-disk formats for the sharded beat store: ``.npy`` (what ``arrhythmia.data.store`` writes), Zarr, Parquet.

    python benchmarks/store_formats.py [--rows 2000000] [--length 187] [--shards 960] [--chunk 4096]
                                       [--batches 200] [--batch 128] [--workdir DIR] [--seed 0]

Builds a float32 beat matrix (``--rows`` x ``--length``; rows are smooth random walks scaled to [0, 1], fixed
seed), cuts it into ``--shards`` equal-ish shards (one per record, as in the store; 960 = 48 records x 20) and
writes it in each format to a new directory under ``--workdir`` (default: the system's), deleted at the end:

* npy: one ``.npy`` per shard, read through the store's own ``ShardedArray`` (plain file reads, runs of rows at once);
* zarr: one Zarr v2 array per shard, chunks of ``--chunk`` rows, default compressor (Blosc lz4), if ``zarr`` imports;
* parquet: one file per shard, one FixedSizeList<float32> column, row groups of ``--chunk`` rows, pyarrow's default
  compression (snappy) over BYTE_STREAM_SPLIT encoding (Parquet's byte shuffle, as Blosc's), if ``pyarrow`` imports.

A format whose library is missing is skipped with a note. Per format it prints one row of a markdown table: seconds
to write every shard (no fsync: the data may still be in the page cache), MiB on disk (allocated blocks, as ``du``),
mean microseconds to gather one training batch (``--batch`` sorted random rows over all rows, so spread across
shards, as the training loop asks) over ``--batches`` batches, and mean milliseconds to read one whole shard into
memory (over 20 shards). The page cache cannot be dropped without root, so each measurement follows one warm-up pass
over the same reads: the numbers are for warm files (decoding and gathering cost, not disk reads).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import noted_machine

from arrhythmia.data.store import ShardedArray


def make_beats(rows: int, length: int, seed: int) -> np.ndarray:
    """(rows, length) float32 random walks, each scaled to [0, 1]; built in blocks to bound memory."""
    rng, out = np.random.default_rng(seed), np.empty((rows, length), dtype=np.float32)
    for lo in range(0, rows, 100_000):
        walk = np.cumsum(rng.standard_normal((min(100_000, rows - lo), length), dtype=np.float32), axis=1)
        walk -= walk.min(axis=1, keepdims=True)
        out[lo : lo + len(walk)] = walk / np.maximum(walk.max(axis=1, keepdims=True), 1e-6)
    return out


def du_mib(path: Path) -> float:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


def gatherer(read_rows: Callable[[int, np.ndarray], np.ndarray], parts: list[np.ndarray]) -> Callable:
    """A batch reader of sorted global rows, calling ``read_rows(shard, local_rows)`` per shard (as ShardedArray)."""
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]])

    def gather(rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), parts[0].shape[1]), dtype=np.float32)
        shard = np.searchsorted(starts, rows, side="right") - 1
        cuts = np.flatnonzero(np.diff(shard)) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(rows)]):
            s = int(shard[lo])
            out[lo:hi] = read_rows(s, rows[lo:hi] - starts[s])
        return out

    return gather


def fmt_npy(root: Path, parts: list[np.ndarray], chunk: int):
    start, paths = time.perf_counter(), [root / f"{i:04d}.npy" for i in range(len(parts))]
    for path, part in zip(paths, parts):
        np.save(path, part)
    write_s, store = time.perf_counter() - start, ShardedArray(paths, [len(p) for p in parts], parts[0].shape[1:])
    return write_s, store.__getitem__, lambda s: np.array(np.load(paths[s], mmap_mode="r"))


def fmt_zarr(root: Path, parts: list[np.ndarray], chunk: int):
    import zarr

    start = time.perf_counter()
    for i, part in enumerate(parts):
        zarr.array(part, chunks=(chunk, part.shape[1]), store=str(root / f"{i:04d}.zarr"))
    write_s = time.perf_counter() - start
    arrays = [zarr.open_array(str(root / f"{i:04d}.zarr"), mode="r") for i in range(len(parts))]
    read_rows = lambda s, local: arrays[s].get_orthogonal_selection((local, slice(None)))  # noqa: E731
    return write_s, gatherer(read_rows, parts), lambda s: arrays[s][:]


def fmt_parquet(root: Path, parts: list[np.ndarray], chunk: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    for i, part in enumerate(parts):
        column = pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), part.shape[1])
        pq.write_table(pa.table({"x": column}), root / f"{i:04d}.parquet", row_group_size=chunk, **PARQUET)
    write_s, files = time.perf_counter() - start, [pq.ParquetFile(root / f"{i:04d}.parquet") for i in range(len(parts))]
    length = parts[0].shape[1]

    def to_numpy(table) -> np.ndarray:
        return table.column("x").combine_chunks().flatten().to_numpy().reshape(-1, length)

    def read_rows(s: int, local: np.ndarray) -> np.ndarray:
        groups = local // chunk  # every row group but the last holds exactly ``chunk`` rows
        wanted = np.unique(groups)
        block = to_numpy(files[s].read_row_groups(wanted.tolist(), columns=["x"]))
        return block[np.searchsorted(wanted, groups) * chunk + local % chunk]

    return write_s, gatherer(read_rows, parts), lambda s: to_numpy(files[s].read(columns=["x"]))


#: Dictionary encoding (the default) is tried and abandoned on float data: files 1.4x the raw size instead of 0.8x.
PARQUET = {"use_dictionary": False, "column_encoding": {"x.list.element": "BYTE_STREAM_SPLIT"}}
FORMATS = {"npy": (fmt_npy, None), "zarr": (fmt_zarr, "zarr"), "parquet": (fmt_parquet, "pyarrow")}


def timed(fn: Callable, items: list) -> float:
    """Mean seconds of ``fn(item)`` over ``items``, after one warm-up pass over the same items."""
    for item in items:
        fn(item)
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--length", type=int, default=187)
    parser.add_argument("--shards", type=int, default=48 * 20)
    parser.add_argument("--chunk", type=int, default=4096, help="rows per Zarr chunk / Parquet row group")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    beats = make_beats(args.rows, args.length, args.seed)
    bounds = np.linspace(0, args.rows, args.shards + 1).astype(np.int64)
    parts = [beats[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    rng = np.random.default_rng(args.seed + 1)
    batches = [np.sort(rng.choice(args.rows, args.batch, replace=False)) for _ in range(args.batches)]
    whole = rng.choice(args.shards, min(20, args.shards), replace=False).tolist()
    workdir = Path(tempfile.mkdtemp(prefix="store-formats-", dir=args.workdir))
    print(f"{args.rows} x {args.length} float32 ({beats.nbytes / 2**20:.0f} MiB), {args.shards} shards, in {workdir}\n")
    table = [
        f"| format | write s | MiB on disk | µs per random batch of {args.batch} | ms per whole shard |",
        "|---|---|---|---|---|",
    ]
    try:
        for name, (build, module) in FORMATS.items():
            if module is not None:
                try:
                    __import__(module)
                except ImportError:
                    print(f"note: {name} skipped ({module} does not import)")
                    continue
            root = workdir / name
            root.mkdir()
            write_s, get, read_shard = build(root, parts, args.chunk)
            assert np.array_equal(get(batches[0]), beats[batches[0]]), name
            assert np.array_equal(read_shard(whole[0]), parts[whole[0]]), name
            batch_us, shard_ms = timed(get, batches) * 1e6, timed(read_shard, whole) * 1e3
            table.append(f"| {name} | {write_s:.1f} | {du_mib(root):.0f} | {batch_us:.0f} | {shard_ms:.2f} |")
            shutil.rmtree(root)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(table))


if __name__ == "__main__":
    with noted_machine():
        main()
