"""Label a whole archive of recordings in parallel with Dask, resumably, and write a cohort table.

Every recording is labelled by ``labelling.label_file``, exactly as ``arrhythmia predict`` labels one, into
``OUT/<record>/``; ``done.json`` is written there last, so a recording whose marker exists (and names the same
source, options and model, its source files have the sizes and times it records, and the files it lists are
there) is complete and skipped on a rerun. A folder whose marker names another recording
(an earlier batch's ``100``) is never written over nor emptied: the recording takes a longer name
(``siteC__100``), and the cohort table keeps the earlier batch's rows. The work runs as Dask tasks: on a
``LocalCluster`` of worker processes started here by default, or on an existing cluster (``scheduler``); each
worker process loads the model once and keeps it. A recording that cannot be read gets a ``failed`` row with
its one-line error and the others go on; a worker process that dies is replaced and its recordings are
rescheduled by Dask. What ``predict`` would warn about a recording (too few beats to adapt to, no valid
samples, ...) goes into its row's ``warnings``, not onto the terminal among the progress bar.

recordings = find_recordings(["archive/", "more/*.edf", "list.txt"])
result = label_archive(recordings, "predictions", workers=2)
result.cohort                       # one row per recording, also in predictions/cohort.csv
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from arrhythmia.data import AAMI_CLASSES
from arrhythmia.data.recording import RECORDING_SUFFIXES
from arrhythmia.data.tables import csv_encoding, shown
from arrhythmia.data.wfdb_source import parsed_header, without_segments
from arrhythmia.device import usable_cpus
from arrhythmia.errors import ArrhythmiaError, one_line
from arrhythmia.export import OnnxClassifier, load_classifier
from arrhythmia.files import read_json_or_none, spreadsheet_columns, write_json, write_text_atomic
from arrhythmia.labelling import PredictOptions, label_file

if TYPE_CHECKING:
    from dask.distributed import Client

    from arrhythmia.inference import Classifier

#: A text file listing recordings, one path a line (relative to the file's folder; ``#`` starts a comment).
LIST_SUFFIX = ".txt"
MARKER = "done.json"
COHORT = "cohort.csv"
GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class ModelChoice:
    """Which model labels the archive, as ``predict`` takes it: ``run`` (a run directory, ``model.pt`` or
    ``.onnx``), else the shipped model ``pretrained`` (default: the default one); ``engine`` torch or onnx."""

    run: str | None = None
    pretrained: str | None = None
    engine: str = "torch"

    def load(self) -> Classifier | OnnxClassifier:
        return load_classifier(self.run, self.engine, self.pretrained)


@dataclass(frozen=True)
class Task:
    """One recording to label: its source file, its output folder, how to label it and with what."""

    source: str
    out: str
    options: PredictOptions
    model: ModelChoice
    # PyTorch threads of the worker process: the parallelism is over recordings, one worker per core (two
    # threads in one worker labelled MIT-BIH 2.5x slower than one on a busy 2-core machine).
    threads: int | None = 1


@dataclass
class ArchiveResult:
    """What ``label_archive`` did: the cohort table (also written to ``path``) and how many recordings were
    labelled in this run, skipped as already complete, and failed, how many rows carry warnings, how many
    rows are of recordings that earlier runs labelled into the same folder (``earlier``), the wall-clock
    ``seconds`` it took, and ``failures``: the one-line error of each recording that failed, by record name."""

    cohort: pd.DataFrame
    path: Path
    labelled: int = 0
    skipped: int = 0
    failed: int = 0
    warned: int = 0
    earlier: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# Finding recordings


def is_archive_path(path: str | Path) -> bool:
    """True for what names many recordings: a folder, a ``.txt`` list, or a glob pattern matching no file."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == LIST_SUFFIX:
        return True
    return not path.exists() and any(c in str(path) for c in GLOB_CHARACTERS)


def is_output_folder(folder: Path) -> bool:
    """True for a folder of our own outputs: a recording's (``done.json``, or ``predict``'s ``summary.json``
    beside ``beats.csv``) or an archive's (a ``cohort.csv`` of ours)."""
    if (folder / MARKER).is_file() or ((folder / "summary.json").is_file() and (folder / "beats.csv").is_file()):
        return True
    try:
        with open(folder / COHORT, encoding="utf-8", errors="replace") as fh:
            return fh.readline().startswith(",".join(LEADING_COLUMNS[:3]))
    except OSError:
        return False


def _in_folder(folder: Path, exclude: Path | None) -> list[Path]:
    """The recordings in ``folder`` at any depth, less our own outputs: what lies under ``exclude`` (OUT inside
    the archive) and any folder an earlier run wrote (``is_output_folder``), whose beats.csv and cohort.csv
    are no recordings."""
    found = []
    for top, folders, files in os.walk(folder, onerror=_unreadable):
        here = Path(top)
        if is_output_folder(here) or (exclude is not None and here.resolve().is_relative_to(exclude)):
            folders.clear()
            continue
        folders.sort()
        for name in files:
            path = here / name
            if path.suffix.lower() in RECORDING_SUFFIXES and not name.startswith(".") and path.is_file():
                found.append(path)
    return sorted(without_segments(found))


def _unreadable(exc: OSError) -> None:
    """os.walk's word on a folder it cannot list (another ward's on a shared drive, a mount gone away), which it
    would pass over in silence: a warning, as its recordings are missing from the archive's cohort."""
    warnings.warn(
        f"{exc.filename}: folder cannot be read ({(exc.strerror or str(exc)).lower()}): its recordings are left out",
        stacklevel=3,
    )


def _listed(list_file: Path) -> list[Path]:
    """The recordings a ``.txt`` list names, as Notepad saves one in any of its encodings (UTF-8 with or without
    a BOM, ANSI's cp1252, "Unicode": ``tables.csv_encoding``), each relative to the list's folder; a Windows
    path's backslashes (``Patient Müller\\EKG.csv``) are folders where no file is named with them."""
    try:
        lines = list_file.read_text(encoding=csv_encoding(list_file), errors="replace").splitlines()
    except OSError as exc:
        raise ArrhythmiaError(f"{list_file}: cannot read the list of recordings ({exc})") from None
    numbered = [(n, entry) for n, entry in enumerate((line.split("#", 1)[0].strip() for line in lines), 1) if entry]
    for n, entry in numbered:
        try:
            (list_file.parent / entry).exists()
        except OSError as exc:  # a name longer than the file system holds: exists() says False only for others
            raise ArrhythmiaError(
                f"{list_file}: line {n}: {shown(entry)} is no path ({exc.strerror.lower()}): a list names one "
                "recording a line"
            ) from None
    entries = [entry for _, entry in numbered]
    listed = [_windows_path(list_file.parent, entry) for entry in entries]
    # A listed recording that does not exist is kept: it becomes a failed row naming it, not a stopped run. A
    # list of which none exists is no list: most often a signal saved as text, each of its samples a "recording".
    if listed and not any(path.exists() or Path(f"{path}.hea").is_file() for path in listed):
        numbers = all(_numbers(entry) for entry in entries[:20])
        why = (
            "; its lines are numbers: a signal? Save it as .csv (a .txt file is a list of recordings)"
            if numbers
            else ""
        )
        raise ArrhythmiaError(f"{list_file}: none of the {len(listed):,} recordings it lists exists{why}")
    return listed


def _windows_path(folder: Path, entry: str) -> Path:
    """``folder / entry``, ``entry``'s backslashes read as folders where it names no file with them."""
    path = folder / entry
    if "\\" in entry and os.sep != "\\" and not path.exists() and not Path(f"{path}.hea").is_file():
        return folder / entry.replace("\\", "/")
    return path


def _numbers(line: str) -> bool:
    """Whether a line holds numbers only (separated by commas, semicolons, tabs or spaces)."""
    try:
        [float(cell) for cell in line.replace(",", " ").replace(";", " ").split()]
    except ValueError:
        return False
    return True


def _matching(pattern: Path) -> list[Path]:
    """The paths the glob ``pattern`` matches (``**``: folders at any depth), sorted; names beginning with a dot
    left out unless the pattern writes one, as ``glob.glob`` does. pathlib's ``**`` does not enter a link to a
    folder, where glob.glob's does: a link back up the tree (a copied archive's ``current -> ..``) made its
    walk repeat the tree without end, doubling at each level where two did."""
    parts = pattern.parts
    first = next(i for i, part in enumerate(parts) if any(c in part for c in GLOB_CHARACTERS))
    root, rest = Path(*parts[:first]), Path(*parts[first:])  # Path() is the current folder
    dotted = any(part.startswith(".") for part in rest.parts)
    return sorted(
        match
        for match in root.glob(str(rest))
        if dotted or not any(part.startswith(".") for part in match.relative_to(root).parts)
    )


def find_recordings(paths: list[str | Path], exclude: str | Path | None = None) -> list[Path]:
    """The recordings that ``paths`` name, each once, in the order given (a folder's sorted).

    A path may be a recording file (a WFDB record with or without ``.hea``, EDF, CSV, .npy), a folder (searched
    recursively for ``.hea``, ``.edf``, ``.bdf``, ``.csv`` and ``.npy`` files, the folders of our own outputs
    left out: ``is_output_folder``), a glob pattern (``data/**/*.hea``) or a ``.txt`` file listing recordings
    one a line. ``exclude``: a folder whose files are never taken (the output folder). Raises
    ``ArrhythmiaError`` for a path that names nothing.
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found += _in_folder(given, skip)
        elif given.suffix.lower() == LIST_SUFFIX and given.is_file():
            found += _listed(given)
        elif given.exists() or Path(f"{given}.hea").is_file():
            found.append(given)
        elif any(c in str(given) for c in GLOB_CHARACTERS):
            matches = _matching(given)
            if not matches:
                raise ArrhythmiaError(f"{given}: no file matches this pattern")
            for match in matches:
                if match.is_dir():
                    found += _in_folder(match, skip)
                elif not is_output_folder(match.parent):  # ``out/**/*.csv``: not our beats.csv
                    found.append(match)
        else:
            raise ArrhythmiaError(f"{given}: no such file or folder")
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(_source(path), path)
    return list(unique.values())


def _record_key(path: Path) -> Path:
    """One key per recording: a WFDB record's .hea, .dat and bare name are the same recording."""
    path = Path(os.path.abspath(path))
    return path.with_suffix("") if path.suffix.lower() in (".hea", ".dat") else path


def record_names(recordings: list[Path]) -> list[str]:
    """A distinct output folder name per recording: its name without suffix (as ``predict`` names it), and
    where two recordings share one, the names of the folders above it (``siteA__100``), as many as it takes;
    the same record in two formats in one folder keeps its suffix (``100.edf``, ``100.csv``)."""
    keys = [_record_key(p) for p in recordings]
    if len(set(keys)) < len(keys):
        raise ArrhythmiaError(
            "the same recording is given twice: " + ", ".join(str(key) for key, n in Counter(keys).items() if n > 1)
        )
    bare = [key.with_suffix("") if key.suffix.lower() in RECORDING_SUFFIXES else key for key in keys]
    twins = Counter(bare)  # rec.csv beside rec.npy: the suffix is what tells them apart, not the folders above
    stems = [key.name if twins[bare[i]] > 1 else bare[i].name for i, key in enumerate(keys)]

    def name(i: int, depth: int) -> str:
        parents = [part for part in keys[i].parent.parts if part != keys[i].parent.anchor]
        if depth <= len(parents):
            return "__".join([*parents[len(parents) - depth :], stems[i]])
        return "__".join([*parents, keys[i].name])

    names = list(stems)
    depth = 0
    while True:
        counts = Counter(names)
        clashing = [i for i, n in enumerate(names) if counts[n] > 1]
        if not clashing:
            return names
        depth += 1
        for i in clashing:
            names[i] = name(i, depth)


def _longer_names(path: Path) -> list[str]:
    """Other folder names for ``path`` than its own (``record_names``), each longer than the last: the names of
    the folders above it (``siteC__100``, ``data__siteC__100``, ...), then its full path."""
    key = _record_key(path)
    stem = key.with_suffix("").name if key.suffix.lower() in RECORDING_SUFFIXES else key.name
    parents = [part for part in key.parent.parts if part != key.parent.anchor]
    return ["__".join([*parents[len(parents) - depth :], stem]) for depth in range(1, len(parents) + 1)] + [
        "__".join([*parents, key.name])
    ]


def _source(path: str | Path) -> str:
    """A recording's identity, as its ``done.json`` names it: its absolute path with its folder resolved
    (symbolic links, ``..``) and a WFDB record's without ``.hea`` or ``.dat``, so that ``src/100``,
    ``src/100.hea`` and ``./link-to-src/100.dat`` are one recording."""
    key = _record_key(Path(path))
    return str(Path(os.path.realpath(key.parent)) / key.name)


def _marker_source(marker: dict) -> str | None:
    settings = marker.get("settings")
    source = settings.get("source") if isinstance(settings, dict) else None
    return _source(source) if isinstance(source, str) else None


def _labelled_folders(out: Path) -> dict[str, dict]:
    """The folders under ``out`` that hold a ``done.json`` naming their source: folder name -> marker."""
    if not out.is_dir():
        return {}
    folders = {}
    for folder in sorted(out.iterdir()):
        marker = read_json_or_none(folder / MARKER) if folder.is_dir() else None
        if marker is not None and _marker_source(marker) is not None:
            folders[folder.name] = marker
    return folders


def folder_names(
    recordings: list[Path], out: str | Path, placed: str = "is labelled into"
) -> tuple[list[str], list[str]]:
    """The folder under ``out`` of each recording, and a line for each recording that could not take its
    own name (``record_names``), saying the recording ``placed`` the folder it has instead (``score`` reads
    labels there: "is looked for in").

    A folder whose ``done.json`` names this same recording is its folder again, whatever its name, so that
    names stay the same from run to run; a folder whose ``done.json`` names another recording (an earlier
    batch's ``100`` beside this one's ``100``) is never taken: the recording takes the next longer name that
    is free (``siteC__100``)."""
    names = record_names(recordings)
    out = Path(out)
    owners = {name: _marker_source(marker) for name, marker in _labelled_folders(out).items()}
    sources = [_source(path) for path in recordings]
    chosen: list[str | None] = [None] * len(recordings)
    for i, source in enumerate(sources):
        own = [name for name, owner in owners.items() if owner == source]
        if own:
            chosen[i] = names[i] if names[i] in own else own[0]
    taken = {name for name in chosen if name is not None}
    notes = []
    for i, source in enumerate(sources):
        if chosen[i] is not None:
            continue
        wanted = names[i]
        candidates = [wanted, *_longer_names(recordings[i])]
        candidates += [f"{candidates[-1]}__{n}" for n in range(2, len(recordings) + len(owners) + 3)]
        name = next(c for c in candidates if c not in taken and owners.get(c, source) == source)
        if name != wanted:
            holder = owners.get(wanted) or "another recording of this run"
            notes.append(
                f"{out / wanted} holds the labels of {holder}, another recording of the same name: "
                f"{recordings[i]} {placed} {out / name}"
            )
        chosen[i] = name
        taken.add(name)
    return [str(name) for name in chosen], notes


# ---------------------------------------------------------------------------------------------------------------
# Labelling one recording (runs in a worker process)

_MODELS: dict[ModelChoice, object] = {}


def _model(choice: ModelChoice, threads: int | None):
    """The worker process's model: loaded on its first recording, then kept (imports and loading once)."""
    if choice not in _MODELS:
        if threads:
            import torch

            torch.set_num_threads(threads)
        _MODELS[choice] = choice.load()
    return _MODELS[choice]


def _settings(task: Task) -> dict:
    """What a complete recording's marker must match: the source, the options and the model."""
    options = {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(task.options).items()}
    return {"source": _source(task.source), "options": options, "model": asdict(task.model)}


def _signal_files(record: Path, segments: bool = True) -> list[Path]:
    """A WFDB record's header and the files it names: its signal files, a multi-segment record's segment
    headers and theirs. Only the header where it cannot be parsed (reading it says why)."""
    files = [Path(f"{record}.hea")]
    try:
        header = parsed_header(record)  # parsed once: reading the recording parses it too
    except Exception:  # a garbled or missing header: the header alone
        return files
    for segment in (getattr(header, "seg_name", None) or []) if segments else []:
        if segment != "~":
            files += _signal_files(record.parent / segment, segments=False)
    files += [record.parent / name for name in dict.fromkeys(getattr(header, "file_name", None) or [])]
    return files


def source_files(source: str | Path) -> dict[str, list[int] | None]:
    """The files a recording is read from, each with its size and modification time in ns (None: missing):
    a WFDB record's header and signal files, else the file itself. A change to any means label it again."""
    record = Path(_source(source))  # named as the recording is: by way of a link or not, the same files
    files = _signal_files(record) if Path(f"{record}.hea").is_file() else [record]
    stamps: dict[str, list[int] | None] = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            stamps[str(path)] = None
        else:
            stamps[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def completed(task: Task) -> dict | None:
    """The marker of a recording whose outputs are complete and were made with the task's settings from the
    source files as they are now (the same sizes and times), or None. A file the marker lists that is gone
    (beats.csv deleted) makes the recording incomplete."""
    out = Path(task.out)
    marker = read_json_or_none(out / MARKER)
    if marker is None or not isinstance(marker.get("settings"), dict) or "row" not in marker:
        return None
    if {**marker["settings"], "source": _marker_source(marker)} != _settings(task):  # the source as _source has it
        return None
    if marker.get("inputs") != source_files(task.source):
        return None
    if not all((out / name).is_file() for name in marker.get("files", [])):
        return None
    return marker


def _warning_text(caught: list[warnings.WarningMessage]) -> str:
    """The warnings of one recording as one cell: each distinct message's first line, in order, ``" | "``
    between them."""
    lines = (str(w.message).strip().splitlines() for w in caught)
    return " | ".join(dict.fromkeys(line[0] for line in lines if line))


def label_one(task: Task) -> dict:
    """Label one recording into ``task.out`` and return its cohort row; never raises for a bad recording
    (the row's ``status`` is ``failed`` and ``error`` holds the one-line reason). The warnings labelling it
    raised are the row's ``warnings`` (``_warning_text``), whether it failed or not."""
    out = Path(task.out)
    began, cpu_began = time.perf_counter(), time.process_time()
    loads_model = task.model not in _MODELS  # this worker's first recording: it pays the model's loading
    old = read_json_or_none(out / MARKER)
    holder = None if old is None else _marker_source(old)
    if holder is not None and holder != _source(task.source):  # never undo another recording's labels
        error = f"{out} holds the labels of {holder}, another recording: not labelled over them"
        return {"status": "failed", "error": error, "warnings": ""}
    (out / MARKER).unlink(missing_ok=True)  # first: a run killed from here on leaves the recording incomplete
    inputs = source_files(task.source)  # before reading them: a change while labelling is seen next run
    for name in (old or {}).get("files", []):
        (out / name).unlink(missing_ok=True)  # outputs of other options (beats.png, report.html) go too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)  # every recording's own, not once per worker process
        try:
            done = label_file(task.source, _model(task.model, task.threads), out, task.options)
            row = cohort_row(out)
        except Exception as exc:  # any failure of one recording is its row, not the archive's end
            return {"status": "failed", "error": one_line(exc), "warnings": _warning_text(caught)}
    row["warnings"] = _warning_text(caught)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 2**20)
    write_json(
        out / MARKER,
        {
            "settings": _settings(task),
            "inputs": inputs,
            "files": sorted(p.name for p in done.files.values()),
            "row": row,
            "worker": {
                "pid": os.getpid(),
                "seconds": time.perf_counter() - began,
                "cpu_seconds": time.process_time() - cpu_began,
                "loaded_model": loads_model,
                "peak_rss_mib": peak_mib,
            },
        },
    )
    return row


def _csv_or_none(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() and path.stat().st_size > 0 else None


def cohort_row(out: Path) -> dict:
    """A recording's cohort row from the files ``predict`` wrote into ``out`` (summary.json, episodes.csv,
    hourly.csv). Durations in s, heart rates in bpm, burdens and the analysable share in percent of the
    recording (S and V: of its classified beats); NaN where the recording has no such value: AF's and AFL's
    burden and episodes where it is shorter than their shortest episode (``episodes.EpisodeConfig``'s
    ``af_min_s``, 60 s, and ``afl_min_s``), as a 10-s resting ECG is, for nought would say none was found."""
    summary = read_json_or_none(out / "summary.json") or {}
    hourly = _csv_or_none(out / "hourly.csv")
    episodes = _csv_or_none(out / "episodes.csv")
    row: dict = {"status": "ok", "error": "", "beats": summary.get("beats", 0), **summary.get("per_class", {})}
    # The recording's length: its hours end to end (summary.json's duration_s runs first to last beat only).
    duration = float(hourly["end_s"].max() - hourly["start_s"].min()) if hourly is not None else np.nan
    row["duration_s"] = duration
    per_s = 100.0 / duration if duration > 0 else np.nan  # percent of the recording per second

    def share(seconds: float) -> float:
        """``seconds`` in percent of the recording: to 0.001 %, at most 100 (sums of rounded minutes and
        seconds overshoot it by a hair: 100.00002)."""
        return float(np.clip(round(seconds * per_s, 3), 0.0, 100.0)) if per_s == per_s else np.nan

    ectopy = summary.get("ectopy", {})
    for cls in ("S", "V"):
        row[f"{cls}_burden_percent"] = ectopy.get(cls, {}).get("burden_percent", np.nan)
        for pattern in ("couplets", "runs"):  # pairs, and three or more in a row (summary.json's)
            row[f"{cls}_{pattern}"] = ectopy.get(cls, {}).get(pattern, np.nan)
    hr = summary.get("heart_rate_bpm", {})
    for stat in ("mean", "min", "max"):
        row[f"hr_{stat}_bpm"] = hr.get(stat, np.nan)
    if episodes is not None:
        af = episodes[episodes["type"] == "AF"]
        pauses = episodes[episodes["type"] == "pause"]
        row["af_episodes"] = len(af)
        afl = episodes[episodes["type"] == "AFL"]
        row["afl_episodes"] = len(afl)
        # The time in AF read outside noise: hourly.csv's AF minutes, as the report's AF card gives it.
        for kind, rows in (("af", af), ("afl", afl)):
            seconds = (
                60.0 * float(hourly[f"{kind}_min"].sum())
                if hourly is not None and f"{kind}_min" in hourly
                else (rows["end_s"] - rows["start_s"]).sum()  # an hourly table without them: the episodes
            )
            row[f"{kind}_burden_percent"] = share(float(seconds))
        settings = summary.get("episode_settings") or {}
        for kind, shortest in (("af", "af_min_s"), ("afl", "afl_min_s")):
            if duration < settings.get(shortest, 0.0):  # a 10-s ECG's "0% AF" read as none found: none could be
                row[f"{kind}_burden_percent"] = row[f"{kind}_episodes"] = np.nan
        row["vf_episodes"] = int((episodes["type"] == "VF").sum())
        row["vt_episodes"] = int((episodes["type"] == "VT").sum())
        row["svt_episodes"] = int((episodes["type"] == "SVT").sum())
        row["pauses"] = len(pauses)
        row["longest_pause_s"] = float((pauses["end_s"] - pauses["start_s"]).max()) if len(pauses) else 0.0
    row["analysable_percent"] = share(60.0 * float(hourly["analysable_min"].sum())) if hourly is not None else np.nan
    row["muscle_filtered_percent"] = share(float(summary.get("muscle_filtered_s", 0.0)))
    adaptation = summary.get("adaptation") or {}
    row["adaptation_changed_percent"] = adaptation.get("changed_percent", np.nan)
    row["review_recommended"] = adaptation.get("review_recommended", False)
    row["unsure_beats"] = summary.get("unsure_beats", np.nan)
    row["start_time"] = summary.get("start_time") or ""  # the wall-clock start where the file gave one
    # the patient field the file gives (an EDF header's), to join the row to the cohort's clinical data
    row["patient"] = (summary.get("recording") or {}).get("patient") or ""
    row["patient_events"] = summary.get("patient_events", 0)  # the events (button, diary) the file marks
    return {key: (None if isinstance(value, float) and np.isnan(value) else value) for key, value in row.items()}


# ---------------------------------------------------------------------------------------------------------------
# The archive

#: The cohort table's columns before the per-class counts, and after them.
LEADING_COLUMNS = ["record", "status", "error", "warnings", "source", "start_time", "patient", "duration_s", "beats"]
#: The cohort table's text columns that carry words from the archive's files (a file's name, its path, the
#: messages that quote them), written through ``files.spreadsheet_text`` (a leading ' before = + - @).
OUTSIDE_TEXT = ("record", "error", "warnings", "source", "patient")
TRAILING_COLUMNS = [
    "S_burden_percent",
    "V_burden_percent",
    "S_couplets",
    "S_runs",
    "V_couplets",
    "V_runs",
    "hr_mean_bpm",
    "hr_min_bpm",
    "hr_max_bpm",
    "af_burden_percent",
    "af_episodes",
    "afl_burden_percent",
    "afl_episodes",
    "vf_episodes",
    "vt_episodes",
    "svt_episodes",
    "pauses",
    "longest_pause_s",
    "analysable_percent",
    "muscle_filtered_percent",
    "adaptation_changed_percent",
    "review_recommended",
    "unsure_beats",
    "patient_events",
]


def cohort_table(rows: list[dict]) -> pd.DataFrame:
    """The cohort table of ``rows``: its columns in a fixed order, the same whatever the rows (the five AAMI
    classes' counts between, even where every recording failed; a model's other classes after them), sorted
    by record."""
    table = pd.DataFrame(rows)
    fixed = set(LEADING_COLUMNS) | set(TRAILING_COLUMNS) | set(AAMI_CLASSES)
    classes = list(AAMI_CLASSES) + [c for c in table.columns if c not in fixed]
    table = table.reindex(columns=LEADING_COLUMNS + classes + TRAILING_COLUMNS)
    return table.sort_values("record", kind="stable").reset_index(drop=True)


def _client(workers: int | None, scheduler: str | None):
    """A Dask client: of the cluster at ``scheduler``, else of a new local cluster of ``workers`` processes."""
    import logging

    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, ValueError) as exc:  # nothing listening there, or not an address
            raise ArrhythmiaError(f"{scheduler}: no Dask scheduler answers there ({one_line(exc)})") from None
    # Quiet: a recording's failure is its row, and shutting down makes workers log lost heartbeats.
    with _interrupts_ignored():  # the worker processes inherit it: Ctrl-C is for this process to handle
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
    return Client(cluster), cluster


@contextmanager
def _interrupts_ignored():
    """SIGINT ignored meanwhile (in the main thread; elsewhere signals cannot be set, nor arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def label_archive(
    recordings: list[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
    model: ModelChoice | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    progress: bool = True,
    client: Client | None = None,
) -> ArchiveResult:
    """Label ``recordings`` (see ``find_recordings``) into ``out/<record>/`` (``folder_names``: a folder
    labelled for another recording is never written over; a warning names the one taken instead) and write
    ``out/cohort.csv``: a row for each of ``recordings`` and for each recording earlier runs labelled into
    ``out``, so that batches labelled into one folder add up.

    options, model : as ``predict`` takes them (``options.labels`` belongs to one recording: refused).
    workers : local worker processes (default: the usable CPUs), each labelling with one PyTorch thread; a
    run with one recording to label labels it in this process instead.
    scheduler : the address of a running Dask scheduler (``tcp://host:8786``) to use instead; its workers must
    have this package and see the same paths. force : label every recording again, complete or not.
    progress : a progress bar over the recordings with the time left, on stderr.
    client : a Dask ``Client`` already open in this process (a notebook's) to label on instead; left open."""
    options = options or PredictOptions()
    model = model or ModelChoice()
    if options.labels is not None:
        raise ArrhythmiaError("--labels holds one recording's reviewed beats: it cannot apply to an archive")
    if workers is not None and workers < 1:
        raise ArrhythmiaError(f"workers must be at least 1, got {workers}")
    if client is not None and scheduler is not None:
        raise ArrhythmiaError("give a Dask scheduler's address or a client, not both")
    began = time.perf_counter()
    out = Path(out)
    recordings = [Path(r) for r in recordings]
    names, notes = folder_names(recordings, out)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    workers = workers or usable_cpus()
    # Absolute paths: a worker of a cluster elsewhere, or in another folder, finds the same files.
    where = Path(os.path.abspath(out))
    if model.run is not None:
        model = replace(model, run=os.path.abspath(model.run))
    tasks = {
        name: Task(os.path.abspath(path), str(where / name), options, model)
        for name, path in zip(names, recordings, strict=True)
    }
    rows: dict[str, dict] = {}
    todo: dict[str, Task] = {}
    for name, task in tasks.items():
        marker = None if force else completed(task)
        if marker is not None:
            rows[name] = marker["row"]
        else:
            todo[name] = task
    result = ArchiveResult(cohort=pd.DataFrame(), path=out / COHORT, skipped=len(rows))
    if todo:
        for name, row in _run(todo, workers, scheduler, progress, client).items():
            rows[name] = row
            if row["status"] == "failed":
                result.failures[name] = row["error"]
    result.failed = len(result.failures)
    result.labelled = len(todo) - result.failed
    result.warned = sum(bool(row.get("warnings")) for row in rows.values())
    for name, path in zip(names, recordings, strict=True):
        rows[name].update(record=name, source=str(path))  # the path as given
    # Batches add up: the recordings earlier runs labelled into OUT keep their rows.
    ours = {_source(path) for path in recordings}
    for name, marker in _labelled_folders(where).items():
        if name not in rows and _marker_source(marker) not in ours and isinstance(marker.get("row"), dict):
            rows[name] = {**marker["row"], "record": name, "source": marker["settings"]["source"]}
            result.earlier += 1
    result.cohort = cohort_table(list(rows.values()))
    out.mkdir(parents=True, exist_ok=True)
    # The names, paths and messages come from the archive's files: a spreadsheet must show them, not run them.
    written = spreadsheet_columns(result.cohort, OUTSIDE_TEXT)
    write_text_atomic(result.path, written.to_csv(index=False, float_format="%.6g"))
    result.seconds = time.perf_counter() - began
    return result


def _run(
    todo: dict[str, Task], workers: int, scheduler: str | None, progress: bool, given: Client | None
) -> dict[str, dict]:
    """Label the recordings of ``todo`` as Dask tasks; their rows by record name, as they finish."""
    from dask.distributed import as_completed

    if given is None and scheduler is None and len(todo) == 1:
        # One recording to label: here, with this process's threads; worker processes would take longer to
        # start than it takes to label, and cannot share one recording.
        ((name, task),) = todo.items()
        with tqdm(total=1, unit="recording", disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
            row = label_one(replace(task, threads=None))
            bar.update(1)
        return {name: row}
    client, cluster = (given, None) if given is not None else _client(workers, scheduler)
    rows: dict[str, dict] = {}
    try:
        # pure=False: a rerun of the same recording is new work, never a cached result.
        futures = {
            client.submit(label_one, task, key=f"label-{name}-{os.urandom(4).hex()}", pure=False): name
            for name, task in todo.items()
        }
        bar = tqdm(total=len(futures), unit="recording", disable=not progress, file=sys.stderr, dynamic_ncols=True)
        with bar:
            for future in as_completed(futures):
                name = futures[future]
                try:
                    rows[name] = future.result()
                except Exception as exc:  # e.g. KilledWorker: the recording killed its workers
                    rows[name] = {"status": "failed", "error": one_line(exc)}
                bar.update(1)
                bar.set_postfix(failed=sum(row["status"] == "failed" for row in rows.values()), refresh=False)
    finally:
        with _interrupts_ignored():  # a second Ctrl-C while the workers stop would only leave them running
            if given is None:
                client.close()
            if cluster is not None:
                cluster.close()
    return rows
