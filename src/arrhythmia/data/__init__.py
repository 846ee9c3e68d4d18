"""Data in: beat sets from WFDB databases, Heartbeat CSVs, beat stores or the synthetic generator, and
their splits.

``load_beats(data)`` is the one entry point: ``data`` is ``None`` or the name of a downloadable source
(``"mitdb"``, ``"heartbeat"``: kept in the user data directory, downloaded on first use), ``"synthetic"``,
or a directory that one of ``SOURCES`` recognises (a beat store, the Heartbeat CSVs, a WFDB database).
"""

from __future__ import annotations

from pathlib import Path

from arrhythmia.data import heartbeat, store, synthetic, wfdb_source
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
from arrhythmia.data.sources import Source
from arrhythmia.data.splits import PROTOCOLS, Split, make_split
from arrhythmia.errors import DataError

__all__ = [
    "AAMI_CLASSES",
    "BEAT_FS",
    "BEAT_LENGTH",
    "PROTOCOLS",
    "SOURCES",
    "SYMBOL_TO_AAMI",
    "WINDOWS",
    "BeatSet",
    "Source",
    "Split",
    "Window",
    "citation",
    "get_window",
    "load_beats",
    "make_split",
]

#: The data sources, in the order a directory is matched against them (a store or the CSVs before a
#: WFDB database, whose recognition is the loosest). A new source: one module with a ``SOURCE``, one line here.
SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        store.SOURCE,
        heartbeat.SOURCE,
        wfdb_source.MITDB_SOURCE,
        wfdb_source.SOURCE,
        synthetic.SOURCE,
    )
}
DEFAULT_SOURCE = "mitdb"


def citation(source_name: str) -> str:
    """The citation for a beat set's ``source`` (``heartbeat-mitbih`` is the ``heartbeat`` source's); a WFDB
    database without a source of its own gets the generic WFDB line."""
    for name, source in SOURCES.items():
        if source_name.startswith(name):
            return source.citation
    return SOURCES["wfdb"].citation


def _directory_source(directory: Path) -> Source:
    for source in SOURCES.values():
        if source.recognise is not None and source.recognise(directory):
            return source
    raise DataError(
        f"{directory}: not a data directory this package reads (a WFDB database with RECORDS or .hea files, "
        "the Heartbeat CSVs, or a beat store)"
    )


def load_beats(
    data: str | Path | None = None,
    progress: bool = True,
    download: bool = True,
    window: str | Window = "kachuee",
    lead: str | int | None = None,
) -> BeatSet:
    """Beats of the data source ``data`` (see the module docstring), cut as ``window`` (a name in
    ``WINDOWS`` or a ``Window``) says, from the beat cache when possible. ``lead``: which lead of each
    record (a name, an index, or ``"other"``: the one beside the default MLII); sources whose records have
    several leads (WFDB) only. The beats' ``origin`` says what to load again to have them: the source's
    name, or the directory as an absolute path (None for another lead than the default), so that a run
    trained on them (``Run``) reopens on the same data."""
    from arrhythmia.data.download import default_data_dir, local_copy_hint

    window = get_window(window) if isinstance(window, str) else window
    name = DEFAULT_SOURCE if data is None else str(data)
    source = SOURCES.get(name)
    directory, origin = Path(), name
    if source is not None and source.download is not None:
        directory = default_data_dir() / name
        if not source.is_downloaded(directory):
            if not download:
                raise DataError(f"{directory}: {name} is not downloaded (run `arrhythmia download {name}`)")
            try:
                directory = source.download(directory)
            except DataError as error:  # offline, most often: a copy already on disk is one option away
                if local_copy_hint(name) in str(error):  # the download functions say so themselves
                    raise
                raise DataError(f"{error}; {local_copy_hint(name)}") from None
    elif source is None or source.recognise is not None:  # a directory, unless generated data
        directory = Path(name).expanduser()
        origin = str(directory.resolve())
        if not directory.exists():
            raise DataError(f"{directory}: data directory does not exist")
        if not directory.is_dir():
            raise DataError(f"{directory}: --data takes a directory (a WFDB database, the Heartbeat CSVs or a store)")
        source = _directory_source(directory)
    if lead is None:
        beats = source.load(directory, window, progress)
        beats.origin = origin
        return beats
    if not source.leads:
        raise DataError(f"{name}: {source.name} data holds one lead per record; a lead can be chosen in WFDB records")
    return source.load(directory, window, progress, lead=lead)
