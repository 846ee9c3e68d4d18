"""On-disk cache of extracted beat sets, keyed by a hash of the source files and the extraction code."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import platformdirs

from arrhythmia.data.beats import BeatSet, Window
from arrhythmia.files import atomic_write_bytes

# Bump when extraction or splitting changes what it produces, so stale caches are not reused.
EXTRACTION_VERSION = "upright-aligned-v6"
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
    if beats.context is not None:
        arrays["context"] = beats.context

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
                context=z.get("context"),
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
