"""A sharded beat store read from disk per batch: beat sets larger than memory.

``build_store`` extracts the beats of a WFDB database once, one shard per record, in parallel and
resumably; ``open_store`` gives them back as a ``BeatSet`` whose waveforms stay on disk and are read per
batch (``beats.X[index]``). ``load_beats`` opens a store when ``--data`` names one.

Layout of a store directory::

    store.json                 manifest, written last: format, source, classes, window, shards, counts
    shards/<record>/X.npy      (n, window.length) float32 beat waveforms
    shards/<record>/y.npy      (n,) int64 class index
    shards/<record>/context.npy     (n, 9) float32 context features (``context.CONTEXT_FEATURES``)
    shards/<record>/sample.npy (n,) int64 R-peak sample at the record's sampling rate
    shards/<record>/symbol.npy (n,) fixed-width unicode annotation symbol
    shards/<record>/done.json  written after the arrays: the shard is complete

Every file is plain NumPy or JSON, written to a temporary name and renamed, so a reader never sees half
a file and an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shlex
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from arrhythmia.data.beats import AAMI_CLASSES, BeatSet, Window, get_window
from arrhythmia.data.cache import EXTRACTION_VERSION
from arrhythmia.data.context import CONTEXT_FEATURES
from arrhythmia.data.sources import Source
from arrhythmia.errors import DataError
from arrhythmia.files import atomic_write_bytes, read_json_or_none, write_json

STORE_FORMAT = "arrhythmia-store/1"
MANIFEST = "store.json"
DONE = "done.json"
#: The per-beat arrays of a shard, each in ``<name>.npy``.
SHARD_ARRAYS = ("X", "y", "context", "sample", "symbol")


def _settings(source: str, window: Window) -> dict:
    """What the beats of a store depend on besides the record files; shards built otherwise do not mix."""
    return {"format": STORE_FORMAT, "source": source, "window": window.to_dict(), "extraction": EXTRACTION_VERSION}


def _differences(stored: dict, wanted: dict) -> str:
    """What differs between the settings a store was built with and those asked for, in words."""
    parts = []
    for key in wanted:
        old, new = stored.get(key), wanted[key]
        if old != new:
            if key == "window" and isinstance(old, dict) and old.get("kind") != new["kind"]:
                old, new = old.get("kind"), new["kind"]
            parts.append(f"{key} {old}, asked for {new}")
    return "; ".join(parts)


def _record_files(data_dir: Path, record: str) -> dict[str, list[int]]:
    """Size and modification time of a record's files: a shard built from other files is rebuilt."""
    path = data_dir / record
    files = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix in (".hea", ".dat", ".atr")]
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(files)}


def _worker_context() -> multiprocessing.context.BaseContext:
    """How the build's worker processes start: from a fork server that has imported what they need once (1.5
    s of SciPy and wfdb), not by forking this process, whose threads (tqdm's monitor, PyTorch's) a fork can
    leave holding a lock (Python 3.12 warns of it); spawned where there is no fork server (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["scipy.signal", "wfdb", "arrhythmia.data.wfdb_source"])
    return context


def _build_shard(
    record_path: str, shard_dir: str, name: str, record_name: str, settings: dict, files: dict, data_dir: str
) -> dict:
    """Extract one record and write its shard; returns the shard's ``done.json``. Runs in a worker process.
    ``data_dir``, the database's folder, is only recorded: to say how to finish an interrupted build."""
    from arrhythmia.data.wfdb_source import load_record_beats

    window = Window.from_dict(settings["window"])
    record = load_record_beats(Path(record_path), window, settings["source"])
    beats, shard = record.beats, Path(shard_dir)
    arrays = {
        "X": beats.X.astype(np.float32, copy=False),
        "y": beats.y.astype(np.int64, copy=False),
        "context": beats.context.astype(np.float32, copy=False),
        "sample": beats.sample.astype(np.int64, copy=False),
        "symbol": beats.symbol.astype(str),
    }
    lost: dict[str, dict[str, int]] = {}
    for (reason, cls), count in record.lost.items():
        lost.setdefault(reason, {})[cls] = count
    done = {
        "settings": settings,
        "files": files,
        "name": name,
        "record": record_name,
        "n": len(beats),
        "counts": beats.class_counts(),
        "lead": record.lead,
        "annotated": {c: record.annotated.get(c, 0) for c in AAMI_CLASSES},
        "lost": lost,
        "data_dir": data_dir,
    }
    try:
        # Leftovers of an interrupted build (temp files, arrays of other settings) go first.
        shutil.rmtree(shard, ignore_errors=True)
        for key, array in arrays.items():
            atomic_write_bytes(shard / f"{key}.npy", functools.partial(_save_npy, array=array))
        write_json(shard / DONE, done)  # last: its presence says the arrays are complete
    except OSError as exc:
        raise DataError(f"{shard}: cannot write shard ({exc.strerror or exc})") from None
    return done


def _save_npy(tmp: Path, array: np.ndarray) -> None:
    # A file handle, not a path: np.save would add ".npy" to the temporary name.
    with tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)


def build_store(
    data_dir: str | Path,
    out: str | Path,
    window: str | Window = "kachuee",
    workers: int | None = None,
    progress: bool = True,
    repeat: int = 1,
) -> Path:
    """Extract the beats of a WFDB database (beat annotations in ``atr``) into a sharded store at ``out``.

    One shard per record, extracted in parallel and written as plain ``.npy`` files (see the module
    docstring for the layout); the beats are those ``load_wfdb_database`` returns, in the same order.
    Resumable: a re-run keeps the shards already complete for the same settings and record files, and
    redoes the others; a shard whose files are not whole (missing, or not as long as their ``.npy`` header
    says) is rebuilt, with a warning naming it.

    Parameters
    ----------
    data_dir : the database directory (``RECORDS`` file, else every ``*.hea``).
    out : the store directory; created if needed. An existing store must have the same source (the
        database directory's name) and window, else DataError.
    window : beat window, a name in ``WINDOWS`` or a ``Window``.
    workers : worker processes (default ``os.cpu_count()``).
    progress : show a progress bar over records.
    repeat : extract each record this many times, copy ``k > 0`` as shard and record ``<record>~<k>``.
        Only for benchmarks that need a store N times the database's size: the copies are the same
        patients' beats, so a store built with ``repeat > 1`` is no data set to evaluate on.

    Returns ``out``.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    data_dir, out = Path(data_dir), Path(out)
    window = get_window(window) if isinstance(window, str) else window
    from arrhythmia.data.wfdb_source import record_names

    records = record_names(data_dir)
    settings = _settings(data_dir.name or "wfdb", window)
    _check_target(out, settings)

    shards: dict[str, dict] = {}  # name -> done.json, in database order
    todo: list[tuple[str, str, str, dict]] = []  # (shard name, record path, record name, files)
    for record in records:
        files = _record_files(data_dir, record)
        for k in range(repeat):
            suffix = f"~{k}" if k else ""
            name, record_name = record + suffix, Path(record).name + suffix
            done = read_json_or_none(out / "shards" / name / DONE)
            if done is not None and done.get("settings") != settings:
                raise DataError(
                    f"{out / 'shards' / name / DONE}: shard was built with other settings "
                    f"({_differences(done.get('settings') or {}, settings)}); use another --out"
                )
            if done is not None and done.get("files") != files:
                done = None  # built from other record files
            if done is not None and (damage := _shard_damage(out / "shards" / name, done)):
                warnings.warn(f"{out / 'shards' / name}: {damage}; rebuilding the shard", stacklevel=2)
                done = None
            shards[name] = done
            if done is None:
                todo.append((name, record, record_name, files))

    if todo:
        # store.json says every shard it lists is whole: gone while shards are rebuilt, so that a build stopped
        # midway (Ctrl-C) leaves an unfinished store, which says how to finish it, not one that reads stale shards.
        (out / MANIFEST).unlink(missing_ok=True)
        bar = tqdm(
            total=len(shards),
            initial=len(shards) - len(todo),
            desc=f"building {out.name}",
            unit="record",
            disable=None if progress else True,
        )
        max_workers = min(workers or os.cpu_count() or 1, len(todo))
        with bar, ProcessPoolExecutor(max_workers=max_workers, mp_context=_worker_context()) as pool:
            futures = {
                pool.submit(
                    _build_shard,
                    str(data_dir / record),
                    str(out / "shards" / name),
                    name,
                    record_name,
                    settings,
                    files,
                    str(data_dir.resolve()),
                ): name
                for name, record, record_name, files in todo
            }
            try:
                for future in as_completed(futures):
                    shards[futures[future]] = future.result()
                    bar.update()
            except DataError as exc:
                pool.shutdown(cancel_futures=True)
                # The worker's traceback is no help for a bad input file: the message names it.
                raise exc from None
            except BrokenProcessPool:
                pool.shutdown(cancel_futures=True)
                raise DataError(
                    f"{data_dir}: a worker process died while extracting records (out of memory? try fewer workers)"
                ) from None
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    _write_manifest(out, data_dir, settings, window, shards)
    return out


def _shard_damage(shard: Path, done: dict) -> str | None:
    """What is wrong with the arrays of a shard its ``done.json`` calls complete, in words; None when nothing.

    Checks what can be checked without reading the beats: every array is there, its header can be read, holds
    the ``n`` rows ``done.json`` records, and the file is as long as its header says (a copy cut short, a
    disk that filled up, a file truncated by hand)."""
    for key in SHARD_ARRAYS:
        path = shard / f"{key}.npy"
        try:
            with path.open("rb") as fh:
                shape, _, dtype = read_npy_header(fh)
                expected = fh.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                size = os.fstat(fh.fileno()).st_size
        except FileNotFoundError:
            return f"{path.name} is missing"
        except (OSError, ValueError) as exc:
            return f"{path.name} cannot be read ({exc})"
        if not shape or shape[0] != done.get("n"):
            return f"{path.name} holds {shape[0] if shape else 0} beats, its done.json says {done.get('n')}"
        if size != expected:
            return f"{path.name} is {size:,} bytes, its header says {expected:,}"
    return None


def _check_target(out: Path, settings: dict) -> None:
    """Refuse to build into a directory that is something else, or a store with other settings."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a directory")
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        manifest = read_json_or_none(manifest_path)
        if manifest is None or manifest.get("format") != STORE_FORMAT:
            raise DataError(f"{manifest_path}: not an {STORE_FORMAT} manifest; use another --out")
        if manifest.get("settings") != settings:
            raise DataError(
                f"{out}: store was built with other settings "
                f"({_differences(manifest.get('settings') or {}, settings)}); use another --out"
            )
    elif out.is_dir() and not _holds_only_shards(out):
        raise DataError(f"{out}: directory is not empty and holds no beat store; use another --out")


def _holds_only_shards(path: Path) -> bool:
    """True where the directory at ``path`` holds nothing but what a build writes before ``store.json``."""
    return all(p.name == "shards" or p.name.startswith(f".{MANIFEST}.") for p in path.iterdir())


def unfinished_store(path: str | Path) -> str | None:
    """What to say of the directory at ``path`` where it is a beat store whose build was interrupted (shards
    and no ``store.json`` yet): how to finish it. None where it is anything else."""
    path = Path(path)
    if (path / MANIFEST).exists() or not (path / "shards").is_dir() or not _holds_only_shards(path):
        return None
    data_dir = window = None
    for done_path in sorted((path / "shards").glob(f"*/{DONE}")):  # any finished shard knows the build's
        done = read_json_or_none(done_path)
        if isinstance(done, dict) and isinstance(done.get("settings"), dict):
            data_dir, window = done.get("data_dir"), (done["settings"].get("window") or {}).get("kind")
            break
    return f"{path}: unfinished beat store: run `{_build_command(data_dir, path, window)}` again to finish it"


def _write_manifest(out: Path, data_dir: Path, settings: dict, window: Window, shards: dict[str, dict]) -> None:
    annotated: Counter[str] = Counter()
    lost: dict[str, Counter[str]] = {}
    for done in shards.values():
        annotated.update(done["annotated"])
        for reason, counts in done["lost"].items():
            lost.setdefault(reason, Counter()).update(counts)
    manifest = {
        "format": STORE_FORMAT,
        "settings": settings,
        "source": settings["source"],
        "synthetic": False,
        "classes": list(AAMI_CLASSES),
        "window": window.to_dict(),
        "context_features": list(CONTEXT_FEATURES),
        "data_dir": str(data_dir.resolve()),
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "n": sum(done["n"] for done in shards.values()),
        "shards": [
            {"name": name, "record": done["record"], "n": done["n"], "counts": done["counts"], "lead": done["lead"]}
            for name, done in shards.items()
        ],
        "annotated": {c: annotated.get(c, 0) for c in AAMI_CLASSES},
        "lost": {reason: dict(counts) for reason, counts in lost.items()},
        "leads": {name: done["lead"] for name, done in shards.items()},
    }
    write_json(out / MANIFEST, manifest)


def read_manifest(path: str | Path) -> dict:
    """The ``store.json`` of the store at ``path``; DataError when there is none or it is not one."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        unfinished = unfinished_store(path)
        if unfinished:
            raise DataError(unfinished)
        raise DataError(f"{manifest_path}: no beat store here (build one with `arrhythmia data build`)")
    manifest = read_json_or_none(manifest_path)
    if manifest is None or manifest.get("format") != STORE_FORMAT:
        raise DataError(f"{manifest_path}: not an {STORE_FORMAT} manifest")
    return manifest


def store_bytes(path: str | Path) -> int:
    """Bytes the files of the store at ``path`` take: its manifest and the shards it lists."""
    path = Path(path)
    total = (path / MANIFEST).stat().st_size
    for shard in read_manifest(path)["shards"]:
        total += sum(f.stat().st_size for f in (path / "shards" / shard["name"]).iterdir() if f.is_file())
    return total


def _max_open_default() -> int:
    """How many shards a ShardedArray keeps open: each open shard holds a file descriptor."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 128
    return 4096 if soft == resource.RLIM_INFINITY else max(16, min(soft // 4, 4096))


#: np.save writes version 1.0 (2.0 for headers over 64 KiB); 3.0 is only for non-ASCII field names.
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def read_npy_header(fh) -> tuple[tuple, bool, np.dtype]:
    """The header of the ``.npy`` file open at its start in ``fh`` (binary): shape, Fortran order, dtype; the
    file is left at its first data byte. ValueError for a header not of the versions numpy writes (1.0, 2.0)."""
    version = np.lib.format.read_magic(fh)
    if version not in HEADER_READERS:
        raise ValueError(f".npy format version {version} (expected 1.0 or 2.0)")
    return HEADER_READERS[version](fh)


class ShardFile:
    """One ``.npy`` shard, open for reading rows with plain file reads.

    Not memory-mapped on purpose: rows read from a mapped file stay in the process's resident memory
    until the map is dropped, so an epoch over a store larger than memory would show all of it as the
    process's RSS. Read with positional reads (``os.preadv``), the file's pages sit in the kernel's page
    cache instead, and the process holds only the rows it asked for. Consecutive rows are read in one call.
    """

    def __init__(self, path: Path, n_rows: int, row_shape: tuple, dtype: np.dtype, remedy: str = "") -> None:
        self.path = path
        self._remedy = f"; {remedy}" if remedy else ""
        try:
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 -- kept open while the shard is cached
        except FileNotFoundError:
            raise DataError(f"{path}: shard file is missing{self._remedy}") from None
        try:
            shape, fortran_order, stored_dtype = read_npy_header(self._file)
        except (OSError, ValueError) as exc:
            self._file.close()
            raise DataError(f"{path}: cannot read shard ({exc}){self._remedy}") from None
        expected = (n_rows, *row_shape)
        if shape != expected or stored_dtype != dtype or fortran_order:
            self._file.close()
            raise DataError(
                f"{path}: shard holds {stored_dtype} {shape}, the store says {dtype} {expected}{self._remedy}"
            )
        self._offset = self._file.tell()
        self._row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        size = os.fstat(self._file.fileno()).st_size
        if size < self._offset + n_rows * self._row_bytes:
            self._file.close()
            raise DataError(f"{path}: cannot read shard (file is truncated: {size} bytes){self._remedy}")
        self._pid = os.getpid()

    def take(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Read ``rows`` (k,) int64, ascending, into ``out`` (k, *row_shape), C-contiguous."""
        buffer = memoryview(out.reshape(len(rows), -1).view(np.uint8)).cast("B")
        runs = np.flatnonzero(np.diff(rows) != 1) + 1
        for lo, hi in zip([0, *runs.tolist()], [*runs.tolist(), len(rows)]):
            offset = self._offset + int(rows[lo]) * self._row_bytes
            part = buffer[lo * self._row_bytes : hi * self._row_bytes]
            while len(part):  # a read may return fewer bytes than asked (a signal): read on from there
                got = self._read_at(part, offset)
                if got <= 0:
                    raise DataError(f"{self.path}: shard file was truncated while reading{self._remedy}")
                part, offset = part[got:], offset + got

    def _read_at(self, buffer: memoryview, offset: int) -> int:
        if os.getpid() != self._pid:
            # A forked DataLoader worker: it reads through a file of its own, not the one it inherited
            # (whose file position it would share with the parent and the other workers).
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115
            self._pid = os.getpid()
        if hasattr(os, "preadv"):  # a positional read: no file position to keep
            return os.preadv(self._file.fileno(), [buffer], offset)
        self._file.seek(offset)  # Windows has no preadv
        return self._file.readinto(buffer)

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()


def _open_shard(
    paths: list[Path], lengths: np.ndarray, row_shape: tuple, dtype: np.dtype, remedy: str, shard: int
) -> ShardFile:
    return ShardFile(paths[shard], int(lengths[shard]), row_shape, dtype, remedy)


class ShardedArray:
    """Rows of several ``.npy`` files read as one (n, ...) array, read from the files on indexing.

    Indexing with an integer, an integer array (any order, repeats allowed), a boolean mask or a slice
    returns an ordinary in-memory ``np.ndarray``, as indexing the concatenated array would. Shards are
    opened on first use (``ShardFile``); at most ``max_open`` stay open (each holds a file descriptor),
    the least recently used are closed first.

    Parameters
    ----------
    paths : the shards' ``.npy`` files, in row order.
    lengths : rows of each shard.
    row_shape, dtype : shape of one row and element type, the same in every shard (checked on opening).
    max_open : shards kept open at most (default: a quarter of the open-file limit, at most 4096).
    remedy : what to do when a shard cannot be read, in words; said after the error (a store's says how to
        rebuild it).
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        lengths: Sequence[int],
        row_shape: tuple[int, ...],
        dtype: np.dtype | type = np.float32,
        max_open: int | None = None,
        remedy: str = "",
    ) -> None:
        if len(paths) != len(lengths):
            raise ValueError(f"{len(paths)} shard paths but {len(lengths)} lengths")
        self._paths = [Path(p) for p in paths]
        self._lengths = np.asarray(lengths, dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._lengths)[:-1]]).astype(np.int64)
        self._n = int(self._lengths.sum())
        self._row_shape = tuple(int(s) for s in row_shape)
        self._dtype = np.dtype(dtype)
        self._max_open = max_open or _max_open_default()
        self._remedy = remedy
        # A cache over a function of the shard lists, not a bound method: no cycle that keeps files open.
        self._open = functools.lru_cache(maxsize=self._max_open)(
            functools.partial(_open_shard, self._paths, self._lengths, self._row_shape, self._dtype, remedy)
        )

    def __reduce__(self):
        # Pickle the paths, not the open files (e.g. for DataLoader workers); they open their own.
        state = (self._paths, self._lengths.tolist(), self._row_shape, self._dtype, self._max_open, self._remedy)
        return type(self), state

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._n, *self._row_shape)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return 1 + len(self._row_shape)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"ShardedArray(shape={self.shape}, dtype={self._dtype}, shards={len(self._paths)})"

    def check(self) -> None:
        """Open every shard once: DataError now, not mid-epoch, when one is missing or does not fit."""
        for shard in range(len(self._paths)):
            self._open(shard)

    def _rows(self, key) -> tuple[np.ndarray, tuple[int, ...]]:
        """``key`` as (k,) int64 row indices in [0, n), and the shape its rows take in the result."""
        n = len(self)
        if isinstance(key, slice):
            rows = np.arange(*key.indices(n), dtype=np.int64)
            return rows, rows.shape
        index = np.asarray(key)
        if index.dtype == bool:
            if index.shape != (n,):
                raise IndexError(f"boolean index of shape {index.shape} for {n} rows")
            rows = np.flatnonzero(index)
            return rows, rows.shape
        if index.size == 0:
            return np.empty(0, dtype=np.int64), index.shape
        if not np.issubdtype(index.dtype, np.integer):
            raise IndexError(f"rows must be indexed with integers, a boolean mask or a slice, not {index.dtype}")
        rows = index.astype(np.int64, copy=False).ravel()
        if rows.min() < -n or rows.max() >= n:
            raise IndexError(f"row index out of range for {n} rows")
        return np.where(rows < 0, rows + n, rows), index.shape

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):  # X[rows, columns...]: rows from the shards, the rest in memory
            rows = self[key[0]]
            return rows[(slice(None), *key[1:])] if rows.ndim == self.ndim else rows[key[1:]]
        index, shape = self._rows(key)
        if len(index) == 0:
            return np.empty((*shape, *self._row_shape), dtype=self._dtype)
        # Sorted (as the training loop asks), the rows of a shard are adjacent and read in file order.
        is_sorted = bool(np.all(index[1:] >= index[:-1]))
        order = None if is_sorted else np.argsort(index, kind="stable")
        rows = index if is_sorted else index[order]
        gathered = np.empty((len(rows), *self._row_shape), dtype=self._dtype)
        # side="right": an empty shard shares its start with the next one, which holds the row.
        shard = np.searchsorted(self._starts, rows, side="right") - 1
        cuts = np.flatnonzero(np.diff(shard)) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(rows)]):
            s = int(shard[lo])
            self._open(s).take(rows[lo:hi] - self._starts[s], out=gathered[lo:hi])
        if order is not None:  # back to the order asked for
            out = np.empty_like(gathered)
            out[order] = gathered
            gathered = out
        return gathered.reshape(*shape, *self._row_shape)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every row in memory (fine for small stores; a large one is what the shards are for)."""
        if copy is False:
            raise ValueError("a ShardedArray cannot be viewed as one array without copying")
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)


def store_window(path: str | Path) -> Window | None:
    """The window the beats of the store at ``path`` were cut with; None where ``path`` is not a store."""
    path = Path(path)
    return Window.from_dict(read_manifest(path)["window"]) if (path / MANIFEST).is_file() else None


def _build_command(data_dir: str | None, out: Path, window: str | None) -> str:
    """The ``arrhythmia data build`` command that builds (or repairs) the store at ``out``; ``SRC`` stands for
    the database where its folder is not known or no longer there."""
    src = shlex.quote(data_dir) if data_dir and Path(data_dir).is_dir() else "SRC"
    command = f"arrhythmia data build --data {src} --out {shlex.quote(str(out))}"
    return command + (f" --window {window}" if window else "")


def _rebuild_remedy(path: Path, manifest: dict) -> str:
    """What to do about a shard of the store at ``path`` that cannot be read: build it again (the build
    checks every shard and rebuilds the damaged ones)."""
    window = (manifest.get("window") or {}).get("kind")
    return f"run `{_build_command(manifest.get('data_dir'), path, window)}` again to rebuild it"


def open_store(path: str | Path, window: Window | None = None) -> BeatSet:
    """The beats of the store at ``path``, their waveforms left on disk.

    ``X`` is a ``ShardedArray`` of shape (n, window.length), float32, read from the shards on indexing;
    ``y``, ``record``, ``sample``, ``symbol`` and ``context`` (n, 9) are read into memory (a few dozen bytes a
    beat). ``info`` holds ``store`` (the path), ``annotated``, ``lost`` and ``leads`` as
    ``load_wfdb_database`` gives them. With ``window``, DataError unless the store was cut with it.
    """
    path = Path(path)
    manifest = read_manifest(path)
    stored = Window.from_dict(manifest["window"])
    if window is not None and stored != window:
        raise DataError(
            f"{path}: store holds beats cut with the {stored.kind!r} window, not {window.kind!r} (use --window "
            f"{stored.kind}, or build another store with --window {window.kind})"
        )
    shards = manifest["shards"]
    if not shards:
        raise DataError(f"{path / MANIFEST}: store has no shards")
    remedy = _rebuild_remedy(path, manifest)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in SHARD_ARRAYS if key != "X"}
    for shard in shards:
        for key, values in parts.items():
            file = path / "shards" / shard["name"] / f"{key}.npy"
            try:
                array = np.load(file, allow_pickle=False)
            except FileNotFoundError:
                raise DataError(f"{file}: shard file is missing; {remedy}") from None
            except (OSError, ValueError) as exc:
                raise DataError(f"{file}: cannot read shard ({exc}); {remedy}") from None
            if len(array) != shard["n"]:
                raise DataError(f"{file}: {len(array)} beats, store.json says {shard['n']}; {remedy}")
            values.append(array)
    X = ShardedArray(
        [path / "shards" / s["name"] / "X.npy" for s in shards],
        [s["n"] for s in shards],
        (stored.length,),
        remedy=remedy,
    )
    X.check()
    return BeatSet(
        X=X,
        y=np.concatenate(parts["y"]),
        classes=tuple(manifest["classes"]),
        record=np.repeat(np.array([s["record"] for s in shards]), [s["n"] for s in shards]),
        sample=np.concatenate(parts["sample"]),
        symbol=np.concatenate(parts["symbol"]),
        source=manifest["source"],
        synthetic=manifest.get("synthetic", False),
        info={
            "store": str(path),
            "annotated": manifest["annotated"],
            "lost": manifest["lost"],
            "leads": manifest["leads"],
        },
        context=np.concatenate(parts["context"]),
        window=stored,
    )


SOURCE = Source(
    name="store",
    citation="A beat store built by `arrhythmia data build` from a WFDB database; cite that database.",
    load=lambda directory, window, progress=True: open_store(directory, window=window),
    # An unfinished store too: opening it says how to finish it.
    recognise=lambda directory: (directory / MANIFEST).is_file() or unfinished_store(directory) is not None,
)
