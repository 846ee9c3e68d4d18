"""Data in: beat sets from WFDB databases, Heartbeat CSVs or the synthetic generator, and their splits.

``load_beats(data)`` is the one entry point: ``data`` is ``None`` or ``"mitdb"`` (the MIT-BIH database in
the data cache, downloaded on first use), ``"heartbeat"`` (the Heartbeat CSVs, likewise), ``"synthetic"``,
or a directory holding a WFDB database, the Heartbeat CSVs or a beat store (``data.store``).
"""

from __future__ import annotations

from pathlib import Path

from arrhythmia.data.beats import (
    AAMI_CLASSES,
    BEAT_FS,
    BEAT_LENGTH,
    SYMBOL_TO_AAMI,
    WINDOWS,
    BeatSet,
    Window,
    get_window,
)
from arrhythmia.data.splits import PROTOCOLS, Split, make_split
from arrhythmia.errors import DataError

__all__ = [
    "AAMI_CLASSES",
    "BEAT_FS",
    "BEAT_LENGTH",
    "PROTOCOLS",
    "SYMBOL_TO_AAMI",
    "WINDOWS",
    "BeatSet",
    "Window",
    "get_window",
    "Split",
    "load_beats",
    "make_split",
    "resolve_data_dir",
]

NAMED_SOURCES = ("mitdb", "heartbeat", "synthetic")


def resolve_data_dir(data: str | Path | None, download: bool = True) -> Path | str:
    """The directory (or ``"synthetic"``) that ``data`` names, downloading a named database if needed."""
    name = "mitdb" if data is None else str(data)
    if name == "synthetic":
        return name
    if name in ("mitdb", "heartbeat"):
        from arrhythmia.data import download as dl

        target = dl.default_data_dir() / name
        ready = (
            (target / "RECORDS").is_file()
            if name == "mitdb"
            else all((target / f).is_file() for f in dl.HEARTBEAT_FILES)
        )
        if not ready:
            if not download:
                raise DataError(f"{target}: {name} is not downloaded (run `arrhythmia download {name}`)")
            return dl.download_physionet(dest=target) if name == "mitdb" else dl.download_heartbeat(target)
        return target
    path = Path(name).expanduser()
    if not path.exists():
        raise DataError(f"{path}: data directory does not exist")
    if not path.is_dir():
        raise DataError(f"{path}: --data takes a directory (a WFDB database or the Heartbeat CSVs)")
    return path


def load_beats(
    data: str | Path | None = None, progress: bool = True, download: bool = True, window: str | Window = "kachuee"
) -> BeatSet:
    """Beats of the data source ``data`` (see the module docstring), cut as ``window`` (a name in
    ``WINDOWS`` or a ``Window``) says, from the cache when possible."""
    from arrhythmia.data.cache import cached
    from arrhythmia.data.heartbeat import MITBIH_FILES, PTBDB_FILES, is_heartbeat_dir, load_heartbeat
    from arrhythmia.data.wfdb_source import load_wfdb_database, record_names

    window = get_window(window) if isinstance(window, str) else window
    where = resolve_data_dir(data, download=download)
    if where == "synthetic":
        from arrhythmia.data.synthetic import load_synthetic

        return load_synthetic(window=window)
    directory = Path(where)
    if (directory / "store.json").is_file():  # a beat store built by `arrhythmia data build`
        from arrhythmia.data.store import open_store

        return open_store(directory, window=window)
    if is_heartbeat_dir(directory):
        if window != WINDOWS["kachuee"]:
            raise DataError(
                f"{directory}: the Heartbeat CSVs hold ready-cut Kachuee beats; the {window.kind!r} window "
                "needs raw recordings with R-peak annotations (a WFDB database)"
            )
        subset = "mitbih" if all((directory / f).is_file() for f in MITBIH_FILES) else "ptbdb"
        files = [directory / f for f in (MITBIH_FILES if subset == "mitbih" else PTBDB_FILES)]
        for f in files:
            if not f.is_file():
                raise DataError(f"{f}: file does not exist")
        return cached(files, {"source": f"heartbeat-{subset}"}, lambda: load_heartbeat(directory, subset))
    names = record_names(directory)
    files = [p for name in names for p in directory.glob(f"{name}.*") if p.suffix in (".hea", ".dat", ".atr")]
    source = directory.name or "wfdb"
    return cached(
        files,
        {"source": source, "records": names, "window": window.to_dict()},
        lambda: load_wfdb_database(directory, source=source, progress=progress, window=window),
    )
