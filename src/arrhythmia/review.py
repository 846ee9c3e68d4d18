"""A reviewer's corrections of one recording's labels, kept beside the recording: the store behind
``arrhythmia serve``, usable without it.

The recordings of a folder are its WFDB records (``NAME.hea``), EDF, CSV and ``.npy`` files; each gets a
sidecar folder ``DIR/.arrhythmia/NAME/`` and the recording itself is never written to::

    DIR/.arrhythmia/NAME/
      status.json         new / queued / running / done / failed, the stage, the error line
      options.json        how to read and label it (``ReadOptions``: fs, lead, model, adapt, ask)
      current.json        which analysis is current ({"generation": g})
      analysis-G/         everything ``predict --report --ask K`` writes (beats.csv, summary.json, episodes.csv,
                          hourly.csv, families.csv, families.png, review.csv, review.png, report.html, ...)
                          plus meta.json, templates.npy, signal.npy (the lead analysed, float32, read
                          memory-mapped for the strips) and the (k, 2) sample stretches noise.npy,
                          ventricular.npy and muscle.npy
      corrections.jsonl   the journal: one JSON line per correction, undo or re-analysis, fsync'ed before
                          the request is answered, so a killed server loses at most the one in flight
      reviewer-labels.csv the reviewer's labels a re-analysis with ``use_corrections`` took (``--labels``)
      reviewed/           the reviewed outputs written by ``export`` (beats.csv, summary.json, episodes.csv,
                          hourly.csv, daily.csv (longer than a day), families.csv, events.csv, report.html,
                          NAME.rev) and version.json, the version they are of
      export/             NAME.rev as ``serve``'s annotations download last wrote it

The reviewed labels are the current analysis's labels with the journal replayed over them; the version of a
recording is the number of journal lines. Every change may name the version it was made against, and a
stale one is refused (``VersionConflict``), so two tabs never overwrite each other silently.

store = ReviewStore(folder, "100")
store.analyse(load_classifier())                      # label it as predict does
store.relabel(samples=[1907], labels=["V"], version=store.state().version)
store.relabel_family(3, "S")
store.undo()
store.summary()["per_class"]; store.export()          # counts of the reviewed labels; the reviewed files
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from arrhythmia.data.beats import Window
from arrhythmia.data.clock import parse_start, start_text
from arrhythmia.data.recording import RECORDING_SUFFIXES, Recording, read_input
from arrhythmia.data.wfdb_source import without_segments
from arrhythmia.diary import patient_events
from arrhythmia.episodes import EpisodeConfig, find_episodes
from arrhythmia.errors import ArrhythmiaError, DataError
from arrhythmia.files import read_json, read_json_or_none, write_json, write_text_atomic
from arrhythmia.hourly import readable_heart_rate
from arrhythmia.labelling import PredictOptions, label_file
from arrhythmia.predict import (
    UNSURE_BELOW,
    BeatModel,
    RecordingLabels,
    as_aami,
    atrial_of,
    beat_noise_of,
    rhythm_summary,
    rhythm_tables,
    save_recording,
    summarise,
)
from arrhythmia.recording_report import write_recording_report
from arrhythmia.scoring import TOLERANCE_S

SIDECAR = ".arrhythmia"
#: A recording name: a plain file name (no folder, no leading dot, no ``..``), at most 128 characters.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
#: MIT-BIH annotation symbols written for each AAMI class; a beat the model could not cut is Q.
MIT_SYMBOLS = {"N": "N", "S": "S", "V": "V", "F": "F", "Q": "Q", "": "Q"}
ANNOTATION_EXTENSION = "rev"
#: A correction made before a re-analysis goes to the nearest beat it detected within this many seconds (the
#: beat-matching window of ``score``): the same heartbeat, found a few samples away on another lead or by
#: another model. One with no beat that near is kept, applied to nothing, and counted (``unmatched``).
CARRY_TOLERANCE_S = TOLERANCE_S
#: In the analysis folder of a re-labelling with the corrections (``save_relabelled``): the beats whose reviewed
#: label it changed and the label each had before (``samples``, ``before``: what the page marks "+"), and the beats
#: whose label in this analysis is not the one the model first gave them, with that one (``model_samples``,
#: ``model_before``: a reviewer's label the analysis took, an answer carried, through every re-labelling so far).
RELABELLED = "relabelled.json"
#: The export's ``beats.csv`` columns after predict's, ``model_label`` and ``reviewed`` (0/1, which ``predict
#: --labels`` reads): how a beat's label came from the review (``hand``: a reviewer set it; ``carried``: a
#: re-labelling with the corrections gave it, an answer carried through its family or group; empty: the model's),
#: and, on those rows, the label the model gave before the review.
REVIEW_COLUMNS = ("reviewed_how", "label_before")
#: What an export written by this version holds (``reviewed/version.json``): one written before 2 (without
#: ``REVIEW_COLUMNS``, its report counting no label changed once re-labelled) is written again, not handed out.
EXPORT_FORMAT = 2


class NotFound(ArrhythmiaError):
    """No such recording (or not analysed yet)."""


class VersionConflict(ArrhythmiaError):
    """A change was made against an older version of the reviewed labels than the current one."""

    def __init__(self, message: str, version: int):
        super().__init__(message)
        self.version = version


def _label_counts(labels: np.ndarray) -> dict[str, int]:
    """How many beats have each label, in label order: ``{label: count}``."""
    values, n = np.unique(labels, return_counts=True)
    return {str(value): int(count) for value, count in zip(values, n)}


def undone_text(entry: dict) -> str:
    """A journal entry's correction in words, for the reviewer who undoes it (perhaps from another tab, so
    that they can tell which change went): ``"family 3 relabelled V (version 12)"``, ``"2 beats relabelled
    N, V (version 13)"``."""
    samples, labels = entry.get("samples", []), sorted(set(entry.get("labels", [])))
    plural = "" if len(samples) == 1 else "s"
    beats = f"family {entry['family']}" if "family" in entry else f"{len(samples)} beat{plural}"
    version = f" (version {entry['version']})" if "version" in entry else ""
    return f"{beats} relabelled {', '.join(labels) or 'nothing'}{version}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.fullmatch(name)) and ".." not in name


def _inside(directory: Path, path: Path) -> bool:
    """Whether ``path``, with every link followed, lies in ``directory``."""
    try:
        path.resolve(strict=True).relative_to(directory.resolve(strict=True))
    except (OSError, ValueError):
        return False
    return True


def find_recordings(directory: str | Path) -> dict[str, Path]:
    """The recordings directly in ``directory``: ``{name: path}``, a WFDB record by its name (``100`` for
    ``100.hea``), any other by its file name (``holter.edf``). Files that are links out of the folder, or
    whose names are not plain names, are left out, and so are the segments of a multi-segment record."""
    directory = Path(directory)
    found = {}
    for path in without_segments(sorted(directory.iterdir())):
        suffix = path.suffix.lower()
        if suffix not in RECORDING_SUFFIXES or not path.is_file():
            continue
        name = path.stem if suffix == ".hea" else path.name
        if valid_name(name) and _inside(directory, path):
            found[name] = path
    return found


def recording_path(directory: str | Path, name: str) -> Path:
    """The file of recording ``name`` in ``directory`` (for a WFDB record, the record path without ``.hea``).
    NotFound unless it is a plain name of a recording that lies, links followed, inside ``directory``; a WFDB
    header naming signal files outside the folder is refused too."""
    directory = Path(directory)
    if not valid_name(name):
        raise NotFound(f"{name!r}: not a recording name")
    header = directory / f"{name}.hea"
    candidates = [header] + ([directory / name] if Path(name).suffix.lower() in RECORDING_SUFFIXES[1:] else [])
    path = next((c for c in candidates if c.is_file()), None)
    if path is None or not _inside(directory, path):
        raise NotFound(f"{name}: no such recording in {directory}")
    if path != header:
        return path
    import wfdb

    try:
        fields = wfdb.rdheader(str(header.with_suffix("")))
    except Exception as exc:  # wfdb raises plain errors on malformed headers
        raise DataError(
            f"{header}: cannot read WFDB header ({str(exc).splitlines()[0] if str(exc) else exc})"
        ) from None
    files = list(getattr(fields, "file_name", None) or [])
    for segment in getattr(fields, "seg_name", None) or []:  # a multi-segment record: its segments' files too
        if segment == "~":
            continue
        files.append(f"{segment}.hea")
        if Path(segment).name == segment and (directory / f"{segment}.hea").is_file():
            with contextlib.suppress(Exception):  # an unreadable segment is reported when the record is read
                files += list(wfdb.rdheader(str(directory / segment)).file_name or [])
    for file_name in files:
        signal_file = directory / file_name
        if Path(file_name).name != file_name or (signal_file.exists() and not _inside(directory, signal_file)):
            raise NotFound(f"{header}: signal file {file_name!r} lies outside {directory}")
    return header.with_suffix("")


@dataclass
class ReadOptions:
    """How a recording is read and labelled: fs (Hz; CSV without a time column and .npy), lead, the shipped
    model ``pretrained`` (None: the default one), whether the labels are adapted to the recording (``adapt``:
    True, False, or a dict of ``adapt.AdaptConfig`` settings, as ``PredictOptions.adapt``), and how many beats
    each analysis asks the reviewer about (``ask``, as ``predict --ask``; 0: none)."""

    fs: float | None = None
    lead: str | None = None
    pretrained: str | None = None
    adapt: bool | dict = True
    ask: int = 12


@dataclass
class ReviewState:
    """The reviewed labels of the current analysis, with the journal replayed.

    samples : (n_beats,) int64, at the recording's rate; model_labels, labels : (n_beats,) str (``''`` for a
    beat the model could not cut); reviewed : (n_beats,) bool, set by a standing correction; family :
    (n_beats,) int64 (-1: none); undo : the standing corrections, latest last, each (indices, the labels and
    reviewed flags they replaced, what ``unmatched`` held for the samples they left unmatched, and
    ``undone_text`` of the journal entry that made it); version :
    journal lines read; unmatched : ``{sample: label}`` of the standing corrections that no beat of this
    analysis lies near (``CARRY_TOLERANCE_S``): kept, applied to nothing.
    """

    base: pd.DataFrame
    samples: np.ndarray
    model_labels: np.ndarray
    labels: np.ndarray
    reviewed: np.ndarray
    family: np.ndarray
    undo: list
    version: int
    last_change: str | None = None
    unmatched: dict = field(default_factory=dict)

    def carried(self, first_labels: np.ndarray) -> np.ndarray:
        """(n_beats,) bool: the beats no reviewer labelled whose label differs from the model's first
        (``first_labels``, ``ReviewStore.first_model_labels``): answers a re-labelling with the corrections
        carried through their families and groups."""
        return ~self.reviewed & (self.labels != first_labels)


class ReviewStore:
    """One recording of ``directory`` with its sidecar folder: its analysis, its reviewed labels and their
    journal. Methods are safe to call from several threads (one lock per store); one server per folder."""

    def __init__(self, directory: str | Path, name: str):
        self.directory = Path(directory)
        self.name = name
        self.source = recording_path(self.directory, name)
        self.folder = self.directory / SIDECAR / name
        self.lock = threading.RLock()
        self._state: ReviewState | None = None
        self._state_generation: int | None = None
        self._rhythm: tuple[int, dict] | None = None
        self._first: tuple[tuple, np.ndarray] | None = None  # first_model_labels, by analysis and RELABELLED

    # --- status and options ---------------------------------------------------------------------------

    def status(self) -> dict:
        """``{"status": new|queued|running|done|failed, "stage", "error", "updated"}``."""
        saved = read_json_or_none(self.folder / "status.json")
        if saved is None:
            return {"status": "done" if self.generation() is not None else "new"}
        return saved

    def set_status(self, status: str, **about) -> None:
        write_json(self.folder / "status.json", {"status": status, **about, "updated": now_iso()})

    def options(self) -> ReadOptions:
        saved = read_json_or_none(self.folder / "options.json") or {}
        known = ReadOptions.__dataclass_fields__
        return ReadOptions(**{k: v for k, v in saved.items() if k in known})

    def set_options(self, options: ReadOptions) -> None:
        write_json(self.folder / "options.json", asdict(options))

    def generation(self) -> int | None:
        current = read_json_or_none(self.folder / "current.json")
        if current is None or not (self.folder / f"analysis-{current['generation']}").is_dir():
            return None
        return int(current["generation"])

    def analysis(self) -> Path:
        """The folder of the current analysis; NotFound when there is none yet."""
        generation = self.generation()
        if generation is None:
            raise NotFound(f"{self.name}: not analysed yet")
        return self.folder / f"analysis-{generation}"

    def meta(self) -> dict:
        return read_json(self.analysis() / "meta.json", "analysis metadata")

    # --- analysis ---------------------------------------------------------------------------------------

    def read_recording(self) -> Recording:
        """The recording's signal, read as its options say. ArrhythmiaError (one line) if it cannot be."""
        options = self.options()
        data = read_input(self.source, fs=options.fs, lead=options.lead)
        if not isinstance(data, Recording):
            raise DataError(f"{self.source}: a file of segmented beats, not a recording to review")
        return data

    def signal(self) -> Recording:
        """The analysed signal (as read, float32, mV), memory-mapped from the analysis's copy."""
        analysis, meta = self.analysis(), self.meta()
        path = analysis / "signal.npy"
        if not path.exists():
            return self.read_recording()
        signal = np.load(path, mmap_mode="r")
        start = parse_start(meta.get("start_time"))
        events = tuple((float(t), str(text)) for t, text in meta.get("events", []))
        return Recording(
            signal,
            meta["fs"],
            meta["lead"],
            self.source,
            start=start,
            events=events,
            patient=meta.get("patient"),
            recording_id=meta.get("recording_id"),
            notes=tuple(meta.get("notes", ())),
        )

    def reviewer_labels(self) -> dict[int, str]:
        """``{sample: label}`` of the beats a standing correction set, that the model could label (the
        reviewer's labels that ``label_recording(reviewed=...)`` takes)."""
        with self.lock:
            if self.generation() is None:
                return {}
            state = self.state()
            chosen = state.reviewed & (state.model_labels != "")
            return dict(zip(state.samples[chosen].tolist(), state.labels[chosen].tolist()))

    def analyse(
        self,
        model: BeatModel,
        use_corrections: bool = False,
        stage: Callable[[str], None] | None = None,
        options: ReadOptions | None = None,
    ) -> dict:
        """Label the recording with ``model`` exactly as ``predict --report`` does and make it the current
        analysis. With ``use_corrections`` the reviewer's labels so far go in as ``predict --labels`` does:
        those beats keep them, their families take their morphology and the reviewed N and S beats place the
        N/S border; the journal is kept (corrections stay), undo starts afresh. ``stage(text)`` is told
        what it is doing. ``options``: how to read and label it (default: the saved ones), saved as the
        recording's once the analysis has succeeded, so settings that fail never stay for the next one.
        Returns the summary. Raises ArrhythmiaError (one line) for an unreadable recording."""
        stage = stage or (lambda text: None)
        options = options or self.options()
        generation = (self.generation() or 0) + 1
        out = self.folder / f"analysis-{generation}"
        shutil.rmtree(out, ignore_errors=True)
        labels_file = None
        if use_corrections:
            reviewed = self.reviewer_labels()
            if reviewed:
                labels_file = self.folder / "reviewer-labels.csv"
                frame = pd.DataFrame({"sample": list(reviewed), "label": list(reviewed.values())})
                write_text_atomic(labels_file, frame.to_csv(index=False))
        stage("labelling")
        predict = PredictOptions(
            fs=options.fs, lead=options.lead, adapt=options.adapt, ask=options.ask, labels=labels_file, report=True
        )
        done = label_file(self.source, model, out, predict)
        stage("saving")
        recording, result = done.recording, done.result
        if result.templates is not None:
            np.save(out / "templates.npy", result.templates)
        # the strips are read from this copy, memory-mapped: a 24-hour recording is never held in memory
        copy = np.lib.format.open_memmap(out / "signal.npy", "w+", np.float32, recording.signal.shape)
        copy[:] = recording.signal  # cast through the map: no second copy of the signal in memory
        copy.flush()
        del copy
        stretches_of = {
            "noise.npy": result.unanalysable,
            "ventricular.npy": result.ventricular,
            "muscle.npy": result.muscle_filtered,
        }
        for name, stretches in stretches_of.items():
            np.save(out / name, np.asarray(stretches, dtype=np.int64).reshape(-1, 2))
        meta = {
            "fs": recording.fs,
            "n_samples": len(recording.signal),
            "lead": recording.lead,
            "start_time": start_text(recording.start),
            "events": [list(event) for event in recording.events],  # the patient's events the file marks
            # whose recording it is, as its file says: the reviewed report and summary.json say it again
            "patient": recording.patient,
            "recording_id": recording.recording_id,
            "notes": list(recording.notes),
            "classes": list(model.classes),
            "model": getattr(model, "model_name", ""),
            "window": model.window.to_dict(),
            "with_corrections": bool(labels_file),
            "analysed": now_iso(),
            "episode_settings": result.episode_settings,
            # how much adapting to the recording changed the network's labels, and whether that asks for a review
            "adaptation_changed_percent": result.adaptation.get("changed_percent"),
            "review_recommended": bool(result.adaptation.get("review_recommended", False)),
            "review_above_percent": result.adaptation.get("settings", {}).get("review_above_percent"),
        }
        write_json(out / "meta.json", meta)
        with self.lock:
            self.set_options(options)
            write_json(self.folder / "current.json", {"generation": generation})
            if self.journal_path().exists():
                self._append({"action": "reanalysed", "generation": generation})
            self._state = None
            for old in self.folder.glob("analysis-*"):
                if old != out:
                    shutil.rmtree(old, ignore_errors=True)
        return done.summary

    # --- the reviewed labels ----------------------------------------------------------------------------

    def journal_path(self) -> Path:
        return self.folder / "corrections.jsonl"

    def _read_journal(self) -> list[dict]:
        """The journal's entries. A last line cut short by a kill is dropped (and the file rewritten without
        it, so the next entry starts on a line of its own); any other unreadable line is a DataError."""
        path = self.journal_path()
        if not path.exists():
            return []
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        entries, torn = [], False
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # the one in flight when the server was killed
                    torn = True
                    continue
                raise DataError(f"{path}: line {i + 1} is not a journal entry") from None
        if torn or (raw and not raw.endswith(b"\n")):
            write_text_atomic(path, "".join(json.dumps(e) + "\n" for e in entries))
        return entries

    def _append(self, entry: dict) -> dict:
        """Append one journal entry and fsync it; returns it with its version and time."""
        version = (self._state.version if self._state is not None else len(self._read_journal())) + 1
        entry = {"version": version, "time": now_iso(), **entry}
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.journal_path(), "a", encoding="utf-8") as journal:
            journal.write(json.dumps(entry) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        if self._state is not None:
            self._state.version = version
            self._state.last_change = entry["time"]
        return entry

    def state(self) -> ReviewState:
        """The reviewed labels of the current analysis (loaded once, then kept up to date)."""
        with self.lock:
            generation = self.generation()
            if self._state is None or self._state_generation != generation:
                self._state = self._load()
                self._state_generation = generation
            return self._state

    def _load(self) -> ReviewState:
        path = self.analysis() / "beats.csv"
        base = pd.read_csv(path, dtype={"label": str}, keep_default_na=False, na_values=[""])
        base["label"] = base["label"].fillna("").astype(str)
        labels = base["label"].to_numpy(dtype=str)
        family = base["family"].to_numpy(np.int64) if "family" in base else np.full(len(base), -1, np.int64)
        # A correction made before a re-analysis names the sample its beat had then; one that detects the beats
        # elsewhere (another lead, another model) finds each a few samples away.
        tolerance = int(round(CARRY_TOLERANCE_S * self.meta()["fs"]))
        state = ReviewState(
            base=base,
            samples=base["sample"].to_numpy(np.int64),
            model_labels=labels.copy(),
            labels=labels.astype("<U8"),
            reviewed=np.zeros(len(base), bool),
            family=family,
            undo=[],
            version=0,
        )
        for entry in self._read_journal():
            state.version = int(entry.get("version", state.version + 1))
            state.last_change = entry.get("time")
            if entry["action"] == "relabel":
                samples, labels = np.asarray(entry["samples"], np.int64), np.asarray(entry["labels"], dtype=str)
                index, found = self._nearest(state, samples, tolerance)
                lost = dict(zip(samples[~found].tolist(), labels[~found].tolist()))
                self._apply(state, index, labels[found], entry, lost)
            elif entry["action"] == "undo" and state.undo:
                self._restore(state)
            elif entry["action"] == "reanalysed":
                state.undo.clear()
        return state

    @staticmethod
    def _indices(state: ReviewState, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the beats at ``samples`` (exact), and which of ``samples`` are beats."""
        at = np.clip(np.searchsorted(state.samples, samples), 0, max(len(state.samples) - 1, 0))
        found = (state.samples[at] == samples) if len(state.samples) else np.zeros(len(samples), bool)
        return at[found], found

    @staticmethod
    def _nearest(state: ReviewState, samples: np.ndarray, tolerance: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the beats nearest ``samples`` within ``tolerance`` samples, and which of ``samples``
        have one."""
        n = len(state.samples)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(len(samples), bool)
        right = np.clip(np.searchsorted(state.samples, samples), 0, n - 1)
        left = np.maximum(right - 1, 0)
        nearer_left = np.abs(state.samples[left] - samples) < np.abs(state.samples[right] - samples)
        at = np.where(nearer_left, left, right)
        found = np.abs(state.samples[at] - samples) <= tolerance
        return at[found], found

    @staticmethod
    def _apply(
        state: ReviewState, index: np.ndarray, labels: np.ndarray, entry: dict, lost: dict | None = None
    ) -> None:
        """Set ``labels`` at ``index`` as reviewed, by the correction of journal ``entry``; ``lost``: ``{sample:
        label}`` of the correction's beats that no beat lies near, kept as unmatched."""
        lost = lost or {}
        before = {sample: state.unmatched.get(sample) for sample in lost}
        what = undone_text(entry)
        state.undo.append((index, state.labels[index].copy(), state.reviewed[index].copy(), before, what))
        state.labels[index] = labels
        state.reviewed[index] = True
        state.unmatched.update(lost)

    @staticmethod
    def _restore(state: ReviewState) -> np.ndarray:
        index, labels, reviewed, before, _ = state.undo.pop()
        state.labels[index] = labels
        state.reviewed[index] = reviewed
        for sample, label in before.items():
            if label is None:
                state.unmatched.pop(sample, None)
            else:
                state.unmatched[sample] = label
        return index

    def _check_version(self, state: ReviewState, version: int | None) -> None:
        if version is not None and int(version) != state.version:
            raise VersionConflict(
                f"{self.name}: changed since version {version} (now version {state.version}); reload and retry",
                state.version,
            )

    def _check_labels(self, labels) -> None:
        classes = tuple(self.meta()["classes"])
        unknown = sorted({str(label) for label in labels if label not in classes})
        if unknown:
            raise DataError(
                f"{self.name}: labels {', '.join(map(repr, unknown))} are not classes ({', '.join(classes)})"
            )

    def relabel(self, samples: ArrayLike, labels: ArrayLike, version: int | None = None) -> dict:
        """Give the beats at ``samples`` (sample numbers, exact) the ``labels`` (one each, or one for all).
        DataError for a sample that is not a beat, a sample given twice (which label would stand is not
        for the order of a list to decide) or a label that is not a class; VersionConflict when ``version``
        is given and stale. Returns ``change`` (what the journal holds)."""
        try:
            samples = np.atleast_1d(np.asarray(samples, dtype=np.int64))
        except (OverflowError, TypeError, ValueError):  # past int64: no recording is that long
            raise DataError(f"{self.name}: a sample is a sample number of the recording (0 to its length)") from None
        labels = np.atleast_1d(np.asarray(labels, dtype=str))
        if len(labels) == 1:
            labels = np.repeat(labels, len(samples))
        if len(samples) == 0 or len(labels) != len(samples):
            raise DataError(f"{self.name}: give one label per beat (got {len(samples)} beats, {len(labels)} labels)")
        values, counts = np.unique(samples, return_counts=True)
        if (counts > 1).any():
            raise DataError(f"{self.name}: sample {values[counts > 1][0]} is given more than once")
        with self.lock:
            state = self.state()
            self._check_version(state, version)
            self._check_labels(set(labels.tolist()))
            index, found = self._indices(state, samples)
            if not found.all():
                missing = samples[~found][0]
                raise DataError(f"{self.name}: sample {missing} is not a detected beat")
            return self._commit(state, index, labels, None)

    def relabel_family(self, family: int, label: str, version: int | None = None) -> dict:
        """Give every beat of morphology family ``family`` the label ``label`` (see ``relabel``)."""
        with self.lock:
            state = self.state()
            self._check_version(state, version)
            self._check_labels({label})
            # -1 marks the beats of no family (every beat of an analysis not adapted): never a family to relabel
            index = np.flatnonzero(state.family == int(family)) if int(family) >= 0 else np.zeros(0, np.int64)
            if len(index) == 0:
                raise DataError(f"{self.name}: no family {family}")
            return self._commit(state, index, np.repeat(np.asarray([label], dtype=str), len(index)), int(family))

    def _commit(self, state: ReviewState, index: np.ndarray, labels: np.ndarray, family: int | None) -> dict:
        entry = {"action": "relabel", "samples": state.samples[index].tolist(), "labels": labels.tolist()}
        if family is not None:
            entry["family"] = family
        entry = self._append(entry)  # on disk before the labels change in memory
        self._apply(state, index, labels, entry)
        return self.change(entry, index)

    def undo(self, version: int | None = None) -> dict:
        """Undo the latest standing correction (back to the labels it replaced). DataError when there is
        none (nothing, or everything since the last analysis, was undone)."""
        with self.lock:
            state = self.state()
            self._check_version(state, version)
            if not state.undo:
                raise DataError(f"{self.name}: nothing to undo")
            undone = state.undo[-1][-1]
            entry = self._append({"action": "undo"})
            return {**self.change(entry, self._restore(state)), "undone": undone}

    def change(self, entry: dict, index: np.ndarray) -> dict:
        """What a change did: the new version, its time, the beats it touched and the counts per class."""
        state = self.state()
        return {
            "version": state.version,
            "time": entry["time"],
            "action": entry["action"],
            "changed": len(index),
            "beats": self.beat_rows(index[:1000]),
            "per_class": self.counts(),
            "unsure_left": self.unsure_left(),
            "can_undo": len(state.undo),
        }

    def unsure(self) -> np.ndarray:
        """(n_beats,) bool: the beats nobody has reviewed whose confidence is under ``UNSURE_BELOW`` (NaN, a
        beat not labelled: never)."""
        state = self.state()
        return (state.base["confidence"].to_numpy(np.float64) < UNSURE_BELOW) & ~state.reviewed

    def unsure_left(self) -> int:
        """How many beats are unsure and not yet reviewed (``unsure``)."""
        return int(self.unsure().sum())

    def counts(self) -> dict[str, int]:
        state = self.state()
        classes = self.meta()["classes"]
        found = _label_counts(state.labels[state.labels != ""])
        return {c: found.get(c, 0) for c in classes}

    # --- reading ------------------------------------------------------------------------------------------

    def times_s(self) -> np.ndarray:
        """(n_beats,) the beats' times, s: ``beats.csv``'s ``time_s`` (between samples), or samples / fs for
        an analysis written before it was."""
        state = self.state()
        if "time_s" in state.base:
            return state.base["time_s"].to_numpy(np.float64)
        return state.samples / self.meta()["fs"]

    def beat_rows(self, index: np.ndarray | None = None) -> list[dict]:
        """Beats as JSON rows: sample, time_s, label, model_label, reviewed, confidence, family, and
        ``label_before``: the model's label before the review on a beat the review labelled (by hand, or carried
        by a re-labelling: ``reviewed_table``), else None."""
        state = self.state()
        if index is None:
            index = np.arange(len(state.samples))
        confidence = state.base["confidence"].to_numpy(np.float64)[index]
        first = self.first_model_labels()[index]
        # reviewed or carried (``ReviewState.carried``), over the rows asked for alone: a strip asks for a few
        marked = state.reviewed[index] | (state.labels[index] != first)
        columns = {
            "sample": state.samples[index].tolist(),
            "time_s": self.times_s()[index].round(4).tolist(),
            "label": state.labels[index].tolist(),
            "model_label": state.model_labels[index].tolist(),
            "reviewed": state.reviewed[index].tolist(),
            "confidence": [None if np.isnan(c) else round(float(c), 4) for c in confidence],
            "family": state.family[index].tolist(),
            "label_before": [label if mark else None for label, mark in zip(first.tolist(), marked.tolist())],
        }
        return [dict(zip(columns, row)) for row in zip(*columns.values())]

    def beats_between(self, start_s: float | None = None, end_s: float | None = None) -> list[dict]:
        """The beats (``beat_rows``) whose R peaks lie from ``start_s`` to ``end_s`` s (None: the recording's
        start, its end)."""
        state = self.state()
        fs = self.meta()["fs"]
        lo = 0 if start_s is None else int(np.searchsorted(state.samples, start_s * fs))
        hi = len(state.samples) if end_s is None else int(np.searchsorted(state.samples, end_s * fs, side="right"))
        return self.beat_rows(np.arange(lo, max(hi, lo)))

    def next_beat(
        self, after_s: float, label: str | None = None, backwards: bool = False, unsure: bool = False
    ) -> dict | None:
        """The first beat after (before, with ``backwards``) ``after_s`` seconds, of ``label`` if given; with
        ``unsure``, the first nobody has reviewed whose confidence is under ``UNSURE_BELOW``. DataError for a
        label that is not a class (rather than "no such beat")."""
        if label is not None:
            self._check_labels({label})
        state = self.state()
        at = self.times_s()
        mask = (at < after_s - 1e-6) if backwards else (at > after_s + 1e-6)
        if label is not None:
            mask &= state.labels == label
        if unsure:
            mask &= self.unsure()
        hits = np.flatnonzero(mask)
        if len(hits) == 0:
            return None
        return self.beat_rows(hits[-1:] if backwards else hits[:1])[0]

    def reviewed_table(self) -> pd.DataFrame:
        """``beats.csv`` as predict writes it, with the reviewed labels in ``label`` and the model's in
        ``model_label``, ``reviewed`` (1 where a reviewer set the label) and ``REVIEW_COLUMNS``: ``reviewed_how``
        (``hand``, ``carried`` or empty) and ``label_before``, the model's label before the review, on the rows
        the review labelled (a re-labelling gives its analysis the reviewer's labels: ``model_label`` alone
        would no longer say what the model had said)."""
        with self.lock:
            state = self.state()
            table = state.base.copy()
            first = self.first_model_labels()
            table["model_label"] = state.model_labels
            table["label"] = state.labels
            table["reviewed"] = state.reviewed.astype(int)
            carried = state.carried(first)
            table["reviewed_how"] = np.where(state.reviewed, "hand", np.where(carried, "carried", ""))
            table["label_before"] = np.where(state.reviewed | carried, first, "")
        return table

    def relabelled(self) -> tuple[dict[int, str], dict[int, str]]:
        """What the current analysis's re-labelling with the corrections saved (``RELABELLED``): ``{sample: reviewed
        label before}`` of the beats it changed, and ``{sample: the model's first label}`` of the beats whose
        label it took from the review; both empty for an analysis that was no such re-labelling."""
        saved = read_json_or_none(self.analysis() / RELABELLED) or {}
        changed = dict(zip(saved.get("samples", []), saved.get("before", [])))
        return changed, dict(zip(saved.get("model_samples", []), saved.get("model_before", [])))

    def first_model_labels(self) -> np.ndarray:
        """(n_beats,) str: each beat's label as the model gave it before any re-labelling with the corrections took
        the review's labels (``relabelled``); the current analysis's own elsewhere. Made once per analysis (a strip
        asks for it); not to be changed."""
        with self.lock:
            state = self.state()
            try:
                stamp = (self.analysis() / RELABELLED).stat().st_mtime_ns
            except OSError:  # no re-labelling, or its record not written yet
                stamp = None
            key = (self._state_generation, stamp)
            if self._first is None or self._first[0] != key:
                first = state.model_labels.copy()
                _, before = self.relabelled() if stamp is not None else ({}, {})
                if before:
                    samples = np.fromiter(before, np.int64, len(before))
                    index, found = self._indices(state, samples)
                    first[index] = np.asarray(list(before.values()), dtype=first.dtype)[found]
                self._first = (key, first)
            return self._first[1]

    def labels_snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The current analysis's beats, reviewed labels and first model labels (``first_model_labels``), copied;
        None before the first analysis. Taken before a re-labelling, for ``save_relabelled``."""
        with self.lock:
            if self.generation() is None:
                return None
            state = self.state()
            return state.samples.copy(), state.labels.copy(), self.first_model_labels().copy()

    def save_relabelled(self, before: tuple[np.ndarray, np.ndarray, np.ndarray]) -> int:
        """After a re-labelling with the corrections: write ``RELABELLED`` into its analysis, from ``before``
        (``labels_snapshot`` of the analysis it replaced), and return how many beats found at the same sample
        have another reviewed label now."""
        with self.lock:
            after = self.labels_snapshot()
            if after is None:
                return 0
            model = self.state().model_labels.copy()
        _, old, new = np.intersect1d(before[0], after[0], return_indices=True)
        moved = before[1][old] != after[1][new]
        first = before[2][old] != model[new]  # the model said otherwise before the review gave this analysis its label
        saved = {
            "samples": after[0][new][moved].tolist(),
            "before": before[1][old][moved].tolist(),
            "model_samples": after[0][new][first].tolist(),
            "model_before": before[2][old][first].tolist(),
        }
        write_json(self.analysis() / RELABELLED, saved)
        return int(moved.sum())

    def families(self) -> list[dict]:
        """The morphology families with their counts per reviewed label and their template (median beat
        window: a list of floats at the model's window rate)."""
        state = self.state()
        path = self.analysis() / "families.csv"
        if not path.exists():
            return []
        table = pd.read_csv(path, keep_default_na=False)
        templates_path = self.analysis() / "templates.npy"
        templates = np.load(templates_path) if templates_path.exists() else None
        rows = []
        for _, row in table.iterrows():
            f = int(row["family"])
            counts = _label_counts(state.labels[state.family == f])
            rows.append(
                {
                    "family": f,
                    "beats": int(row["beats"]),
                    "model_label": str(row["label"]),
                    "label": max(counts, key=counts.get) if counts else "",
                    "counts": counts,
                    "pre_rr_ratio": None if row["pre_rr_ratio"] == "" else float(row["pre_rr_ratio"]),
                    "example_sample": int(row["example_sample"]),
                    "template": [] if templates is None else np.round(templates[f], 4).tolist(),
                }
            )
        return rows

    def questions(self) -> list[dict]:
        """The beats the current analysis asks the reviewer about (its ``review.csv``, ``adapt.questions``),
        in the order asked: each beat's rows as ``beat_rows`` gives them (its reviewed label, whether a
        standing correction set it) with ``reason``, the family or group its answer speaks for."""
        path = self.analysis() / "review.csv"
        if not path.exists():
            return []
        asked = pd.read_csv(path, keep_default_na=False)
        index, found = self._indices(self.state(), asked["sample"].to_numpy(np.int64))
        reasons = asked["reason"].astype(str).to_numpy()[found]
        return [{**row, "reason": reason} for row, reason in zip(self.beat_rows(index), reasons)]

    def rhythm(self) -> dict:
        """The reviewed labels' summary (``predict.summarise`` plus episodes per type and HRV), episodes,
        hourly table and HRV, recomputed once per version, and the episode settings they were found with."""
        with self.lock:  # a snapshot; the tables are made outside the lock, so strips and changes go on meanwhile
            state = self.state()
            first = self.first_model_labels()
            # the re-labelling's record too: written just after its analysis became current, it changes the counts
            key = (self._state_generation, state.version, self._first[0])
            if self._rhythm is not None and self._rhythm[0] == key:
                return self._rhythm[1]
            meta = self.meta()
            labels, samples_all = state.labels.copy(), state.samples
            p_wave = state.base["p_wave"].to_numpy(np.float64) if "p_wave" in state.base else None
            atrial = atrial_of(state.base)  # None for an analysis from before AFL was looked for
            gap = state.base["gap_activity"].to_numpy(np.float64) if "gap_activity" in state.base else None
            run_noise = beat_noise_of(state.base)  # None for an analysis from before beats of noise were told apart
            times_s = self.times_s()  # between samples, as beats.csv gives them
            noise, ventricular = self.lost_stretches()
            filtered = self.saved_stretches("muscle.npy")
            # Against the model's first labels: a re-labelling gives its analysis the reviewer's (no label changed)
            reviewed = {
                "version": state.version,
                "beats_reviewed": int(state.reviewed.sum()),
                "labels_changed": int((state.reviewed & (labels != first)).sum()),
                # the labels a re-labelling with the corrections changed: answers carried to families and groups
                "labels_carried": int(state.carried(first).sum()),
                "last_change": state.last_change,
                # corrections of beats this analysis did not detect (within CARRY_TOLERANCE_S): kept, not applied
                "corrections_unmatched": len(state.unmatched),
            }
        fs = meta["fs"]
        labelled = labels != ""
        config = EpisodeConfig.from_value(meta.get("episode_settings"))  # as the analysis found them
        episodes, hourly, daily, hrv = rhythm_tables(
            times_s[labelled] * fs,
            as_aami(labels[labelled]),
            fs,
            meta["n_samples"] / fs,
            noise,
            config,
            p_wave=None if p_wave is None else p_wave[labelled],
            atrial=None if atrial is None else tuple(values[labelled] for values in atrial),
            gap=None if gap is None else gap[labelled],
            ventricular=ventricular,
            start=parse_start(meta.get("start_time")),  # None for an analysis from before start times were read
            filtered=filtered,
            beat_noise=None if run_noise is None else tuple(values[labelled] for values in run_noise),
        )
        beats = pd.DataFrame({"sample": samples_all, "time_s": times_s, "label": labels})
        summary = {
            "record": self.name,
            "lead": meta["lead"],
            "fs": fs,
            "model": meta["model"],
            "start_time": meta.get("start_time"),
            **summarise(beats, tuple(meta["classes"]), episodes),
        }
        summary.update(rhythm_summary(episodes, hrv))
        summary["reviewed"] = reviewed
        result = {"summary": summary, "episodes": episodes, "hourly": hourly, "daily": daily, "hrv": hrv}
        result["settings"] = asdict(config)
        with self.lock:
            self._rhythm = (key, result)
        return result

    def summary(self) -> dict:
        return self.rhythm()["summary"]

    def overview(self, bin_s: float | None = None) -> dict:
        """The whole recording in bins of ``bin_s`` seconds (default: about 1,500 bins, at least 10 s):
        heart rate (bpm, median over the bin of the running-median rate; None without beats) and beats per
        reviewed class in each bin."""
        state = self.state()
        meta = self.meta()
        duration_s = meta["n_samples"] / meta["fs"]
        if bin_s is None:
            bin_s = max(10.0, float(np.ceil(duration_s / 1500.0 / 10.0) * 10.0))
        n_bins = max(int(np.ceil(duration_s / bin_s)), 1)
        labelled = state.labels != ""
        times = self.times_s()[labelled]
        labels = state.labels[labelled]
        rate = np.full(n_bins, np.nan)
        if len(times) >= 3:
            # Intervals across lost signal or flutter waves say nothing of the heart rate. Those stretches are
            # the analysis's, whatever the labels, so the overview does not wait for the episodes of each version.
            noise, ventricular = self.lost_stretches()
            config = EpisodeConfig.from_value(meta.get("episode_settings"))
            lost = find_episodes(
                np.zeros(0), np.zeros(0, dtype=str), meta["fs"], noise, config, ventricular=ventricular
            )
            hr = readable_heart_rate(times, lost)
            where = np.minimum((times[1:] / bin_s).astype(int), n_bins - 1)
            frame = pd.DataFrame({"bin": where, "hr": hr}).groupby("bin")["hr"].median()
            rate[frame.index.to_numpy()] = frame.to_numpy()
        bins = np.minimum((times / bin_s).astype(int), n_bins - 1)
        counts = {c: np.bincount(bins[labels == c], minlength=n_bins).tolist() for c in meta["classes"] if c in labels}
        return {
            "bin_s": bin_s,
            "duration_s": duration_s,
            "heart_rate_bpm": [None if np.isnan(r) else round(float(r), 1) for r in rate],
            "counts": counts,
            "version": state.version,
        }

    # --- export -------------------------------------------------------------------------------------------

    def write_annotations(self, folder: Path, snapshot: tuple[ReviewState, dict] | None = None) -> Path:
        """The reviewed labels as a WFDB annotation file ``folder/NAME.rev`` (``wfdb.wrann``; MIT symbols N, S,
        V, F, Q; a beat the model could not cut and no reviewer labelled is Q): those of ``snapshot`` (a state and
        its analysis's meta, taken together), or the current ones."""
        import wfdb

        state, meta = snapshot or (self.state(), self.meta())
        folder.mkdir(parents=True, exist_ok=True)
        symbols = [MIT_SYMBOLS.get(label, label) for label in as_aami(state.labels).tolist()]
        record = re.sub(r"[^A-Za-z0-9_-]", "_", self.name)
        tmp = folder / f".tmp-{record}-{os.getpid()}-{threading.get_ident()}"
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            if len(state.samples):
                wfdb.wrann(
                    record, ANNOTATION_EXTENSION, state.samples, symbol=symbols, fs=meta["fs"], write_dir=str(tmp)
                )
            else:
                (tmp / f"{record}.{ANNOTATION_EXTENSION}").write_bytes(b"\x00\x00")  # WFDB's end of annotations
            target = folder / f"{record}.{ANNOTATION_EXTENSION}"
            os.replace(tmp / f"{record}.{ANNOTATION_EXTENSION}", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def saved_stretches(self, name: str, default: np.ndarray | None = None) -> np.ndarray | None:
        """The (k, 2) sample stretches the analysis saved as ``name`` (``ventricular.npy``, ``muscle.npy``), or
        ``default`` for an analysis from before they were looked for."""
        path = self.analysis() / name
        return np.load(path) if path.exists() else default

    def lost_stretches(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The analysis's unanalysable stretches and those like ventricular flutter, (k, 2) samples each (the
        second None for an analysis from before flutter was looked for)."""
        return np.load(self.analysis() / "noise.npy"), self.saved_stretches("ventricular.npy")

    def export(
        self, window: Window | None = None, recording: Recording | None = None, report: bool = True
    ) -> dict[str, Path]:
        """Write the reviewed outputs into ``reviewed/``: what ``save_recording`` writes of them (beats.csv,
        summary.json, episodes.csv, hourly.csv, daily.csv, families.csv, events.csv, those the recording has),
        report.html (the recording report of the reviewed labels; not with ``report=False``, which spares a
        reviewer who asked for a table the seconds its figures take), the WFDB annotation file and
        version.json (the version exported, read by ``exported``); each whole or not at all. Returns the paths
        of beats.csv, summary.json, the annotation file and report.html, by kind (``beats``, ``summary``,
        ``annotations``, ``report``)."""
        with self.lock:
            state = self.state()
            meta = self.meta()
            rhythm = self.rhythm()
            table = self.reviewed_table()
            times_s = self.times_s()
            version = state.version
            key = self._export_key()  # of the snapshot: an analysis that becomes current meanwhile is not this one
            # The snapshot's analysis files are read under the lock too: a re-analysis that becomes current
            # meanwhile deletes the folder they are in.
            analysis = self.analysis()
            families = None
            if (analysis / "families.csv").exists():
                families = pd.read_csv(analysis / "families.csv", keep_default_na=False)
            templates = np.load(analysis / "templates.npy") if (analysis / "templates.npy").exists() else None
            muscle_filtered = self.saved_stretches("muscle.npy", np.zeros((0, 2), np.int64))
            recording = recording or self.signal()  # memory-mapped: the report's strips read only their stretches
        out = self.folder / "reviewed"
        if families is not None:
            labels, family = table["label"].to_numpy(), table["family"].to_numpy()  # the snapshot, not live state
            for i, f in enumerate(families["family"].to_numpy()):
                counts = _label_counts(labels[family == f])
                if counts:
                    label = max(counts, key=counts.get)  # the first of the most common, as in families()
                    families.loc[i, "label"] = label
                    families.loc[i, "label_share"] = counts[label] / sum(counts.values())
        events = None
        if recording.events:
            labels = table["label"].astype(str).to_numpy()
            labelled = labels != ""
            events = patient_events(
                recording.events, times_s[labelled], labels[labelled], rhythm["episodes"], recording.start
            )
        result = RecordingLabels(
            beats=table,
            families=families,
            templates=templates,
            episodes=rhythm["episodes"],
            hourly=rhythm["hourly"],
            daily=rhythm["daily"],
            hrv=rhythm["hrv"],
            episode_settings=rhythm["settings"],
            recording=recording,
            events=events,
            muscle_filtered=muscle_filtered,
        )
        about = {
            "record": self.name,
            "lead": meta["lead"],
            "fs": meta["fs"],
            "model": meta["model"],
            "reviewed": rhythm["summary"]["reviewed"],
        }
        summary = save_recording(result, out, about, tuple(meta["classes"]))
        files = {name: out / f"{name}.{ext}" for name, ext in (("beats", "csv"), ("summary", "json"))}
        files["annotations"] = self.write_annotations(out, (state, meta))
        if report:
            window = window or Window.from_dict(meta["window"])
            files["report"] = write_recording_report(recording, result, summary, window, out)
        else:
            (out / "report.html").unlink(missing_ok=True)  # an older version's report must not pass for this one
        write_json(out / "version.json", {**key, "version": version, "report": report})
        return files

    def _export_key(self) -> dict:
        """What an export is of besides its version: the analysis, and whether its re-labelling's record
        (``RELABELLED``, written just after the analysis becomes current) was there to say the carried beats."""
        relabelled = (self.analysis() / RELABELLED).exists()
        return {"generation": self._state_generation, "relabelled": relabelled, "format": EXPORT_FORMAT}

    def exported(self, report: bool = True) -> Path | None:
        """``reviewed/`` when it holds the export of the current version (with its report.html if ``report``),
        else None."""
        saved = read_json_or_none(self.folder / "reviewed" / "version.json") or {}
        with self.lock:
            current = {"version": self.state().version, **self._export_key()}
        fresh = {key: saved.get(key) for key in current} == current and (saved.get("report", True) or not report)
        return self.folder / "reviewed" if fresh else None
