"""On-disk cache of extracted beat sets, keyed by a hash of the source files and the extraction code."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import platformdirs

from arrhythmia.data.beats import BeatSet, Window

# Bump when extraction or splitting changes what it produces, so stale caches are not reused.
EXTRACTION_VERSION = "windows-context-v3"
SPLIT_VERSION = "splits-v1"


def cache_dir() -> Path:
    """``$ARRHYTHMIA_CACHE_DIR``, else the platform's user cache directory."""
    env = os.environ.get("ARRHYTHMIA_CACHE_DIR")
    return Path(env) if env else platformdirs.user_cache_path("arrhythmia") / "beats"


def file_hash(path: Path, algorithm: str = "blake2b", chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file's contents, read in chunks (hashlib.file_digest needs Python 3.11)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def files_key(files: Iterable[Path], settings: dict) -> str:
    """Hash of the files' names and contents and of the extraction settings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps({"version": EXTRACTION_VERSION, **settings}, sort_keys=True).encode())
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(file_hash(path).encode())
    return digest.hexdigest()


def atomic_write_bytes(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_beats(beats: BeatSet, path: Path) -> None:
    meta = {
        "classes": list(beats.classes),
        "source": beats.source,
        "synthetic": beats.synthetic,
        "info": beats.info,
        "window": beats.window.to_dict(),
    }
    arrays = {
        "X": beats.X,
        "y": beats.y,
        "record": beats.record.astype(str),
        "sample": beats.sample,
        "symbol": beats.symbol.astype(str),
        "meta": np.array(json.dumps(meta)),
    }
    if beats.is_test is not None:
        arrays["is_test"] = beats.is_test
    if beats.rr is not None:
        arrays["rr"] = beats.rr

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)

    atomic_write_bytes(path, write)


def load_cached_beats(path: Path) -> BeatSet | None:
    """The cached beat set at ``path``, or None if it is absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return BeatSet(
                X=z["X"],
                y=z["y"],
                classes=tuple(meta["classes"]),
                record=z["record"],
                sample=z["sample"],
                symbol=z["symbol"],
                source=meta["source"],
                synthetic=meta["synthetic"],
                is_test=z.get("is_test"),
                info=meta["info"],
                rr=z.get("rr"),
                window=Window.from_dict(meta["window"]),
            )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached(files: list[Path], settings: dict, build: Callable[[], BeatSet]) -> BeatSet:
    """The beat set built from ``files`` with ``settings``: from the cache, else built and cached."""
    key = files_key(files, settings)
    path = cache_dir() / f"{settings.get('source', 'beats')}-{key}.npz"
    beats = load_cached_beats(path)
    if beats is None:
        beats = build()
        with contextlib.suppress(OSError):  # a read-only cache directory only costs speed
            save_beats(beats, path)
    beats.info["cache_key"] = key
    return beats


def cached_split(beats: BeatSet, protocol: str, seed: int, build: Callable):
    """The split of a cached beat set, from the cache when present; others are always built."""
    from arrhythmia.data.splits import Split

    key = beats.info.get("cache_key")
    if key is None:
        return build()
    path = cache_dir() / f"split-{key}-{SPLIT_VERSION}-{protocol}-{seed}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return Split(z["train"], z["val"], z["test"], protocol, str(z["note"]))
    except (OSError, ValueError, KeyError):
        pass
    split = build()

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, train=split.train, val=split.val, test=split.test, note=np.array(split.note))

    with contextlib.suppress(OSError):
        atomic_write_bytes(path, write)
    return split
