"""What a data source is: how to recognise it on disk, load its beats, download it, and cite it.

Each source module (``wfdb_source``, ``heartbeat``, ``store``, ``synthetic``) ends with a ``SOURCE``, and
``data/__init__.py`` lists them in ``SOURCES``: a new source is one file and one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from arrhythmia.data.beats import BeatSet, Window


@dataclass(frozen=True)
class Source:
    """One kind of beat data.

    name : what ``--data NAME`` calls it, and the prefix of the ``BeatSet.source`` of its beats.
    citation : the text reports and the README cite it with.
    load : ``(directory, window, progress) -> BeatSet``: the beats in a directory of this kind, cut with
        ``window`` (sources holding ready-cut beats raise DataError for a window they do not hold).
    recognise : ``directory -> bool``: whether a directory holds this kind of data (None: never given as a
        directory, e.g. generated data).
    download : ``directory -> directory``: fetch the data into a directory (None: nothing to download); the
        source is then also a name ``--data`` takes, kept in the user data directory.
    is_downloaded : ``directory -> bool``: whether a download into that directory is complete.
    leads : whether ``load`` also takes ``lead=`` (records with several leads, e.g. WFDB); the others hold
        one lead, or beats already cut from one.
    """

    name: str
    citation: str
    load: Callable[[Path, Window, bool], BeatSet]
    recognise: Callable[[Path], bool] | None = None
    download: Callable[[Path], Path] | None = None
    is_downloaded: Callable[[Path], bool] | None = None
    leads: bool = False
