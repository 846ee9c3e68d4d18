"""What ``predict`` gives on annotated recordings, scored beat by beat and episode by episode as
PhysioNet's ``bxb`` and ``epicmp`` score them.

``score_recordings`` labels each recording through ``predict.label_recording`` (detected beats, the
options predict takes: what users get) and compares the labelled detections with the recording's reference
beats: a WFDB annotation file beside the record (``atr`` by default; its beat symbols mapped to the model's
classes, MIT-BIH's symbols to the AAMI classes as EC57 maps them) or a CSV of ``sample,label``. Detections
and reference beats are paired one-to-one, closest first, within 150 ms (``detection.match_beats``); the
pairs make a confusion matrix, a reference beat with no detection is missed, a detection with no reference
beat is extra (none is counted inside the reference's ventricular flutter, ``[`` to ``]``, where no beat is
annotated, as ``bxb`` leaves them out). ``comparison_metrics`` pools the recordings: one-vs-rest figures
over the matched beats, record by record and their intervals (``evaluation.compute_metrics``), EC57's VEB and
SVEB figures with missed and extra beats counted (``evaluation.ec57_beat_statistics``), and the detection's
Se and +P. A reference beat of no class of the model (a symbol a ``labels: mitdb`` model has no class for)
is left out, with the detection paired with it.

Where the reference carries rhythm notes (``+`` annotations: ``(AFIB``, ``(VT``, ...; each holds until the
next), predict's episodes are scored against them (``episode_scores``): EC57's episode Se and +P (a
reference episode overlapped by a detected one; a detected episode overlapping a reference one) and
duration Se and +P (the overlapped time over the reference's, over the detected). Pauses are taken from
the reference beats (an interval of ``EpisodeConfig.pause_s`` or more, unless noise or ventricular flutter
is marked inside it). A reference with no rhythm notes (a CSV, or a database that annotates beats only)
scores beats alone; one of rhythm notes alone (the MIT-BIH Atrial Fibrillation Database's ``atr``)
episodes alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from wfdb.io.annotation import ann_label_table

from arrhythmia.data.beats import AAMI_CLASSES, SYMBOL_TO_AAMI
from arrhythmia.data.detection import match_beats
from arrhythmia.data.quality import overlapping, true_runs
from arrhythmia.data.recording import Recording, read_input
from arrhythmia.data.wfdb_source import read_annotations
from arrhythmia.ectopic_runs import RUN_BINS, RUN_NAMES, RXR_CLASS, compare_runs, run_statistics
from arrhythmia.episodes import EpisodeConfig
from arrhythmia.errors import ArrhythmiaError, DataError
from arrhythmia.evaluation import compute_metrics, ec57_beat_statistics, format_metrics, ratio_interval
from arrhythmia.files import read_json
from arrhythmia.predict import BeatModel, label_recording, read_reviewed

#: Largest distance between a detection and the reference beat it stands for, s (EC57's match window).
TOLERANCE_S = 0.15
#: WFDB rhythm notes (MIT-BIH's) and the episode type of predict each stands for.
RHYTHM_NOTES = {
    "(AFIB": "AF",
    "(AFL": "AFL",
    "(VT": "VT",
    "(VFL": "VF",
    "(SVTA": "SVT",
    "(B": "bigeminy",
    "(T": "trigeminy",
}
#: Every symbol a WFDB annotation file can hold (wfdb's table: beats, rhythm changes, noise, waves, ...).
WFDB_SYMBOLS = tuple(str(symbol) for symbol in ann_label_table["symbol"] if str(symbol).strip())
#: The episode types scored: those of ``RHYTHM_NOTES``, and pauses.
SCORED_EPISODES = ("AF", "AFL", "VT", "VF", "SVT", "bigeminy", "trigeminy", "pause")
#: Annotations inside an interval between beats that make it no pause: noise, ventricular flutter.
NOT_A_PAUSE = ("~", "[", "!", "]")

Episodes = dict[str, list[tuple[float, float]]]


@dataclass
class RecordingComparison:
    """One recording's labels and episodes against its reference.

    y_true, y_pred : (matched,) int64 class indices into ``classes`` of the paired reference beats and
    detections; detection_index : (matched,) int64 the paired detections' indices among those given;
    missed : (n_classes,) reference beats of each class no detection was paired with; extra : (n_classes,)
    detections paired with no reference beat, by label; left_out : reference beats of no class of the
    model; n_reference, n_detected : the reference beats and labelled detections compared (neither those
    left out nor unpaired detections inside the spans ignored); reference_episodes, detected_episodes :
    ``{type: [(start_s, end_s), ...]}`` of ``SCORED_EPISODES`` (reference None: no rhythm notes to score by);
    lead, fs : the lead predict labelled and its rate, Hz (None where not known: labels made elsewhere); runs :
    ``ectopic_runs.compare_runs``' counts of the couplets and runs (None where the reference marks no beats).
    """

    record: str
    classes: tuple[str, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    detection_index: np.ndarray
    missed: np.ndarray
    extra: np.ndarray
    n_reference: int
    n_detected: int
    left_out: int = 0
    reference_episodes: Episodes | None = None
    detected_episodes: Episodes = field(default_factory=dict)
    lead: str | None = None
    fs: float | None = None
    runs: dict[str, np.ndarray] | None = None

    @property
    def beats_annotated(self) -> bool:
        """Whether the reference marks beats at all (a reference of rhythm notes alone scores episodes only)."""
        return self.n_reference + self.left_out > 0

    def confusion(self) -> np.ndarray:
        """(n_classes, n_classes) int64 counts of the paired beats, rows the reference class, columns the label."""
        n = len(self.classes)
        return np.bincount(self.y_true * n + self.y_pred, minlength=n * n).reshape(n, n)

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if len(self.y_true) else float("nan")


def reference_classes(symbols: Iterable[str], classes: tuple[str, ...]) -> np.ndarray:
    """(n,) str: each reference label as a class of the model, "" where it is none. A label that is a
    class stays; for a model of the AAMI classes, a WFDB beat symbol becomes its AAMI class."""
    aami = tuple(classes) == AAMI_CLASSES
    return np.array(
        [s if s in classes else SYMBOL_TO_AAMI.get(s, "") if aami else "" for s in symbols], dtype=object
    ).astype(str)


def compare_beats(
    record: str,
    detected: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
    reference_labels: np.ndarray,
    classes: tuple[str, ...],
    fs: float,
    ignored: np.ndarray | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> RecordingComparison:
    """Compare labelled detections with reference beats.

    detected : (n,) int samples of the labelled detections, labels : (n,) str their labels (classes of
    the model); reference : (m,) int samples of the reference beats, reference_labels : (m,) str their
    classes ("" for a beat of no class: left out, with the detection paired with it); fs : Hz, both at the
    same rate; ignored : (k, 2) int sample spans in which an unpaired detection is not counted (the
    reference's ventricular flutter).
    """
    detected, reference = np.asarray(detected, np.int64), np.asarray(reference, np.int64)
    labels, reference_labels = np.asarray(labels, str), np.asarray(reference_labels, str)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"{record}: labels {', '.join(unknown)} are not classes of the model ({', '.join(classes)})")
    det_index, ref_index = match_beats(detected, reference, round(tolerance_s * fs))
    kept = reference_labels[ref_index] != ""
    index = {name: i for i, name in enumerate(classes)}
    y_true = np.array([index[c] for c in reference_labels[ref_index[kept]]], dtype=np.int64)
    y_pred = np.array([index[c] for c in labels[det_index[kept]]], dtype=np.int64)

    unpaired_ref = np.ones(len(reference), bool)
    unpaired_ref[ref_index] = False
    missed_labels = reference_labels[unpaired_ref]
    unpaired_det = np.ones(len(detected), bool)
    unpaired_det[det_index] = False
    n_ignored = 0
    if ignored is not None and len(ignored):
        at = detected[:, None]
        unpaired_inside = unpaired_det & ((at >= ignored[:, 0]) & (at <= ignored[:, 1])).any(axis=1)
        n_ignored = int(unpaired_inside.sum())
        unpaired_det &= ~unpaired_inside
    return RecordingComparison(
        record=record,
        classes=tuple(classes),
        y_true=y_true,
        y_pred=y_pred,
        detection_index=det_index[kept],
        missed=np.array([np.sum(missed_labels == c) for c in classes], dtype=np.int64),
        extra=np.array([np.sum(labels[unpaired_det] == c) for c in classes], dtype=np.int64),
        n_reference=int(np.sum(reference_labels != "")),
        n_detected=int(len(detected) - np.sum(~kept) - n_ignored),
        left_out=int(np.sum(reference_labels == "")),
    )


def flutter_spans(samples: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """The reference's ventricular flutter or fibrillation episodes, ``[`` to ``]`` (a ``[`` left open runs
    to the end): (k, 2) int64 samples."""
    spans, start = [], None
    for sample, symbol in zip(samples, symbols):
        if symbol == "[" and start is None:
            start = int(sample)
        elif symbol == "]" and start is not None:
            spans.append((start, int(sample)))
            start = None
    if start is not None:
        spans.append((start, np.iinfo(np.int64).max))
    return np.array(spans, dtype=np.int64).reshape(-1, 2)


def rhythm_notes(symbols: np.ndarray, notes: np.ndarray) -> np.ndarray:
    """(n,) bool: which annotations (symbols, notes: (n,) str, ``read_annotations``') are rhythm notes, a
    ``+`` with its text (``(AFIB``, ``(N``, ...)."""
    return (np.asarray(symbols, str) == "+") & (np.asarray(notes, str) != "")


def reference_episodes(
    samples: np.ndarray,
    symbols: np.ndarray,
    notes: np.ndarray,
    fs: float,
    length_s: float,
    pause_s: float = EpisodeConfig.pause_s,
    missing_s: np.ndarray | None = None,
) -> Episodes | None:
    """The reference's episodes from its annotations (``read_annotations``: samples, symbols, notes), ``{type:
    [(start_s, end_s), ...]}`` for each of ``SCORED_EPISODES``: each rhythm note holds until the next (the
    last until ``length_s``), and a pause is an interval of ``pause_s`` or more between two beats with no
    noise or ventricular flutter marked inside it and no stretch of ``missing_s`` ((k, 2) start and end, s:
    where the recording holds no signal) overlapping it. None where the annotations hold no rhythm note. Where
    they hold no beat (the AF Database's atr), only the types their notes name somewhere: such a reference
    notes the rhythms it was made for, and says nothing of pauses, VT or bigeminy, which would all count false."""
    samples, symbols, notes = np.asarray(samples), np.asarray(symbols, str), np.asarray(notes, str)
    marked = rhythm_notes(symbols, notes)
    if not marked.any():
        return None
    starts = samples[marked] / fs
    ends = np.append(starts[1:], length_s)
    episodes: Episodes = {kind: [] for kind in SCORED_EPISODES}
    for start, end, note in zip(starts, ends, notes[marked]):
        kind = RHYTHM_NOTES.get(str(note))
        if kind is not None and end > start:
            episodes[kind].append((float(start), float(end)))
    beats = samples[np.isin(symbols, list(SYMBOL_TO_AAMI))] / fs
    if not len(beats):
        # rhythm notes alone (the MIT-BIH Atrial Fibrillation Database's atr: AFIB, AFL, J and N only): every
        # pause, VT or bigeminy predict found would be counted false against a reference silent about them
        named = {RHYTHM_NOTES.get(str(note)) for note in notes[marked]}
        return {kind: spans for kind, spans in episodes.items() if kind in named}
    not_paused = samples[np.isin(symbols, list(NOT_A_PAUSE))] / fs
    before, after = beats[:-1], beats[1:]
    paused = after - before >= pause_s
    paused &= ~overlapping(before, after, np.column_stack([not_paused, not_paused]), touching=False)
    if missing_s is not None:  # no signal between the beats (a multi-segment record's gap): nothing said of a pause
        paused &= ~overlapping(before, after, missing_s, touching=False)
    episodes["pause"] = [(float(a), float(b)) for a, b in zip(before[paused], after[paused])]
    return episodes


#: Suffixes of a record's files that are not WFDB annotation files: its header and signals, and the files
#: other tools keep beside it.
NOT_ANNOTATIONS = {"hea", "dat", "mat", "edf", "bdf", "csv", "npy", "json", "txt", "html", "png", "pdf", "xws", "xyz"}


def annotators_beside(path: Path) -> list[str]:
    """The annotators of the files beside a WFDB record (``100.atr``, ``100.qrs``: ``["atr", "qrs"]``), by
    their file names alone."""
    record = _record_path(Path(path))
    if not record.parent.is_dir():
        return []
    prefix = f"{record.name}."  # compared as text: a name may hold glob characters ("site [1].atr")
    found = {p.name[len(prefix) :] for p in record.parent.iterdir() if p.name.startswith(prefix) and p.is_file()}
    return sorted(a for a in found if a and "." not in a and a.lower() not in NOT_ANNOTATIONS)


def _record_path(path: Path) -> Path:
    """A WFDB record named by its header or signal file is named without the suffix (``100.hea``: ``100``)."""
    return path.with_suffix("") if path.suffix.lower() in (".hea", ".dat") else path


def read_reference(
    path: Path,
    classes: tuple[str, ...],
    annotator: str = "atr",
    reference_csv: Path | None = None,
    fs: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...] | None]:
    """A recording's reference beats: ``(samples (m,) int64, classes (m,) str, flutter (k, 2) int64,
    annotations)``, the last every annotation (``read_annotations``' samples, symbols and notes, for
    ``reference_episodes`` and the runs; of a CSV, its beats' rows with their labels as written, and no note).

    From ``reference_csv`` (columns ``sample,label``, as a review sheet; labels classes of the model or
    MIT-BIH beat symbols) if given, else from the WFDB annotation file ``annotator`` beside the record (its
    beat annotations; rhythm, noise and other notes are not beats). One-line DataError for a missing or
    unreadable file, or a CSV label that is neither. ``fs``: the rate of the lead scored, Hz, which the
    annotations' samples count at (``read_annotations``: a lead stored several samples to a WFDB frame has
    its own rate); None, the record's default lead's."""
    if reference_csv is not None:
        reviewed = read_reviewed(reference_csv)
        samples = np.array(sorted(reviewed), dtype=np.int64)
        symbols = np.array([reviewed[s] for s in samples.tolist()], dtype=str)
        named = reference_classes(symbols, classes)
        # its ventricular flutter ([ to ]), as the annotation file it was exported from marks it
        flutter = flutter_spans(samples, symbols)
        # an annotation file exported as a table keeps its rhythm and noise notes (+, ~, x, ...): not beats
        beat = (named != "") | ~np.isin(symbols, WFDB_SYMBOLS)
        samples, symbols, named = samples[beat], symbols[beat], named[beat]
        if (named == "").any():
            odd = sorted(set(symbols[named == ""].tolist()))
            raise DataError(
                f"{reference_csv}: labels {', '.join(map(repr, odd))} are neither classes of the model "
                f"({', '.join(classes)}) nor WFDB annotation symbols"
            )
        # its labels as written, for the runs: MIT-BIH's escape beats (j, e, n) are supraventricular there, as in
        # the annotation file it was exported from (ectopic_runs.RXR_CLASS), N among the classes
        as_written = samples, symbols, np.full(len(samples), "", dtype=str)
        return samples, named, flutter, as_written
    record = _record_path(path)
    if not record.with_suffix(f".{annotator}").is_file():
        beside = annotators_beside(record)
        found = f"; beside it: {', '.join(record.name + '.' + a for a in beside)}" if beside else ""
        raise DataError(
            f"{record}: no reference annotations ({record.with_suffix(f'.{annotator}').name}{found}); "
            "name the annotator (--annotator) or give a CSV of sample,label (--reference)"
        )
    samples, symbols, notes = read_annotations(record, annotator, fs=fs)
    is_beat = np.isin(symbols, list(SYMBOL_TO_AAMI)) | np.isin(symbols, list(classes))
    beats = samples[is_beat], reference_classes(symbols[is_beat], classes)
    return *beats, flutter_spans(samples, symbols), (samples, symbols, notes)


def episodes_by_type(table) -> Episodes:
    """predict's episodes table (``type, start_s, end_s, ...``) as ``{type: [(start_s, end_s), ...]}`` for
    each of ``SCORED_EPISODES``."""
    episodes: Episodes = {kind: [] for kind in SCORED_EPISODES}
    if table is not None:
        for kind, start, end in zip(table["type"], table["start_s"], table["end_s"]):
            if kind in episodes:
                episodes[kind].append((float(start), float(end)))
    return episodes


def _reference_of(
    path: Path, classes: tuple[str, ...], annotator: str, reference_csv: Path | None, n_samples: int, fs: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...] | None]:
    """``read_reference`` of a recording of ``n_samples`` at ``fs`` Hz, and one error line where it marks
    neither beats nor rhythm, or a beat past the recording's end (another recording's reference)."""
    reference = read_reference(path, classes, annotator, reference_csv, fs)
    annotations = reference[3]
    has_notes = annotations is not None and bool(rhythm_notes(annotations[1], annotations[2]).any())
    where = reference_csv if reference_csv is not None else f"{_record_path(path)} ({annotator})"
    if not len(reference[0]) and not has_notes:
        raise DataError(f"{where}: the reference marks neither beats nor rhythm; nothing to score")
    if len(reference[0]) and reference[0][-1] >= n_samples:
        raise DataError(
            f"{where}: reference beat at sample {reference[0][-1]:,} is past the end of the recording "
            f"({n_samples:,} samples at {fs:g} Hz)"
        )
    return reference


def missing_stretches(signal: np.ndarray, fs: float) -> np.ndarray:
    """Where a signal holds no samples (NaN: a multi-segment record's gaps, samples a WFDB record marks
    invalid): (k, 2) float64 start and end, s. signal: (n_samples,) float; fs: Hz."""
    runs = np.array(true_runs(np.isnan(np.asarray(signal, dtype=np.float64))), dtype=np.float64).reshape(-1, 2)
    return (runs + [0, 1]) / fs  # a run ends one sample after its last (true_runs gives it inclusive)


def _may_pause(annotations: tuple[np.ndarray, ...] | None, fs: float, pause_s: float) -> bool:
    """Whether the reference's beats leave an interval of ``pause_s`` or more: a pause, unless the signal is
    missing there (``missing_stretches``); a reference with no rhythm notes scores no pause."""
    if annotations is None or not rhythm_notes(annotations[1], annotations[2]).any():
        return False
    beats = annotations[0][np.isin(annotations[1], list(SYMBOL_TO_AAMI))]
    return bool(len(beats) > 1 and (np.diff(beats) >= pause_s * fs).any())


def _compared(
    path: Path,
    reference: tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...] | None],
    beats: pd.DataFrame,
    episodes: pd.DataFrame | None,
    classes: tuple[str, ...],
    fs: float,
    length_s: float,
    pause_s: float,
    missing_s: np.ndarray | None = None,
) -> RecordingComparison:
    """A recording's labels (``beats``: predict's table, ``sample`` and ``label``; ``episodes``: its episodes
    table) against its reference (``_reference_of``): the beats (``compare_beats``) and, where the reference
    has rhythm notes, the episodes (no reference pause where the signal is missing, ``missing_s``: (k, 2) s)."""
    samples, labels, flutter, annotations = reference
    labelled = beats[beats["label"].astype(str) != ""]  # a detection left unlabelled is not a beat
    compared = compare_beats(
        _record_path(path).name,
        labelled["sample"].to_numpy(np.int64),
        labelled["label"].to_numpy(str),
        samples,
        labels,
        classes,
        fs,
        flutter,
    )
    detected_episodes = episodes_by_type(episodes)
    notes = None if annotations is None else reference_episodes(*annotations, fs, length_s, pause_s, missing_s)
    if compared.beats_annotated:
        labelled_beats = labelled["sample"].to_numpy(np.int64), labelled["label"].to_numpy(str)
        runs = compare_runs(
            _run_beats(samples, labels, annotations),
            labelled_beats,
            fs,
            _run_episodes(notes, fs, np.minimum(flutter, round(length_s * fs))),  # a [ left open: to the end
            _run_episodes(_markable(detected_episodes, notes, flutter), fs),
        )
        compared = replace(compared, runs=runs)
    if annotations is None:
        return compared
    return replace(compared, reference_episodes=notes, detected_episodes=detected_episodes)


def _run_beats(
    samples: np.ndarray, labels: np.ndarray, annotations: tuple[np.ndarray, ...] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The reference beats as ``rxr`` reads them: the symbols of a WFDB file, or a CSV's labels as written (MIT-BIH's
    escape beats ``j e n`` are supraventricular there, N among the AAMI classes); without them, the classes."""
    if annotations is None:
        return samples, labels
    all_samples, symbols = annotations[0], np.asarray(annotations[1], str)
    is_beat = np.isin(symbols, list(RXR_CLASS)) | np.isin(symbols, list(SYMBOL_TO_AAMI))
    return all_samples[is_beat], symbols[is_beat]


def _markable(detected: Episodes, notes: Episodes | None, flutter: np.ndarray) -> Episodes:
    """predict's episodes that the reference could have marked: all of them where it has rhythm notes; else
    (a CSV, an annotator of beats alone) no atrial fibrillation or flutter, and ventricular flutter only where
    it marks flutter (``[`` to ``]``). A reference silent about a rhythm has its beats there, called N: each
    such episode of the labels would count as a false long run, as ``reference_episodes`` leaves it unscored."""
    if notes is not None:
        return detected
    return {"VF": detected.get("VF", [])} if len(flutter) else {}


def _run_episodes(episodes: Episodes | None, fs: float, flutter: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The episodes a run-by-run comparison reads (``ectopic_runs.compare_runs``), in samples: ventricular
    flutter (the episodes, and the reference's ``[`` to ``]`` spans) as ventricular runs, atrial fibrillation
    and flutter as supraventricular ones."""
    episodes = episodes or {}

    def spans(*kinds: str) -> np.ndarray:
        found = [(start, end) for kind in kinds for start, end in episodes.get(kind, [])]
        return np.round(np.array(found, dtype=np.float64).reshape(-1, 2) * fs).astype(np.int64)

    ventricular = spans("VF")
    if flutter is not None and len(flutter):
        ventricular = np.concatenate([ventricular, np.asarray(flutter, np.int64)])
    return {"V": ventricular, "S": spans("AF", "AFL")}


def score_recording(
    path: str | Path,
    model: BeatModel,
    annotator: str = "atr",
    reference_csv: Path | None = None,
    fs: float | None = None,
    lead: str | None = None,
    units: str | None = None,
    **options,
) -> RecordingComparison:
    """Read ``path`` (``read_input``, with ``fs``, ``lead`` and ``units``), label it with ``label_recording(recording,
    model, **options)`` and compare its labels and episodes with its reference (``read_reference``)."""
    path = Path(path)
    recording = read_input(path, fs=fs, lead=lead, units=units)
    if not isinstance(recording, Recording):
        raise DataError(f"{path}: a table of beats has no signal to detect beats in; give the recording itself")
    classes = tuple(model.classes)
    reference = _reference_of(path, classes, annotator, reference_csv, len(recording.signal), recording.fs)
    missing_s = missing_stretches(recording.signal, recording.fs)
    labels = label_recording(recording, model, **options)
    pause_s = labels.episode_settings.get("pause_s", EpisodeConfig.pause_s)
    length_s = len(recording.signal) / recording.fs
    compared = _compared(
        path, reference, labels.beats, labels.episodes, classes, recording.fs, length_s, pause_s, missing_s
    )
    return replace(compared, lead=recording.lead, fs=float(recording.fs))


def score_predictions(
    path: str | Path, folder: str | Path, annotator: str = "atr", reference_csv: Path | None = None
) -> RecordingComparison:
    """Compare the labels and episodes ``predict`` already wrote for the recording ``path`` into ``folder``
    (its ``beats.csv``, ``episodes.csv`` and ``summary.json``: the model's classes, the rate, the signal's
    length and the pause threshold) with the recording's reference (``read_reference``), without labelling it again:
    an archive labelled once is scored at the cost of reading its tables, and a reviewer's corrected labels
    as well as the model's."""
    path, folder = Path(path), Path(folder)
    summary_file, beats_file = folder / "summary.json", folder / "beats.csv"
    if not summary_file.is_file() or not beats_file.is_file():
        raise DataError(f"{folder}: no labels of predict here (beats.csv and summary.json); label {path} first")
    summary = read_json(summary_file, "predict's summary")
    try:
        classes, fs = tuple(summary["per_class"]), float(summary["fs"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{summary_file}: not a summary predict wrote for a recording (no per_class, fs)") from None
    if "recording_s" in summary:
        length_s = float(summary["recording_s"])
    else:  # written before summary.json said how long the signal is
        recording = read_input(path)
        length_s = len(recording.signal) / recording.fs
    episodes_file = folder / "episodes.csv"
    try:
        beats = pd.read_csv(beats_file, usecols=["sample", "label"], keep_default_na=False)
        episodes = pd.read_csv(episodes_file, usecols=["type", "start_s", "end_s"]) if episodes_file.is_file() else None
    except (ValueError, pd.errors.ParserError) as error:  # a missing column, a broken row
        raise DataError(f"{folder}: predict's tables cannot be read ({error})") from None
    pause_s = (summary.get("episode_settings") or {}).get("pause_s", EpisodeConfig.pause_s)
    reference = _reference_of(path, classes, annotator, reference_csv, round(length_s * fs), fs)
    missing_s = None
    if _may_pause(reference[3], fs, pause_s):  # the signal is read only where a reference pause may lie in a gap
        try:
            recording = read_input(path, fs=fs, lead=summary.get("lead"))
        except DataError:  # a lead named otherwise than the file names it (a mixture): the default lead's gaps
            recording = read_input(path, fs=fs)
        if isinstance(recording, Recording):
            missing_s = missing_stretches(recording.signal, recording.fs)
    compared = _compared(path, reference, beats, episodes, classes, fs, length_s, pause_s, missing_s)
    return replace(compared, lead=summary.get("lead"), fs=fs)


def score_recordings(
    paths: list[str | Path],
    model: BeatModel | None,
    annotator: str = "atr",
    reference_csv: Path | None = None,
    log: Callable[[str], None] | None = None,
    failures: dict[str, str] | None = None,
    predictions: list[Path] | None = None,
    **options,
) -> list[RecordingComparison]:
    """``score_recording`` for each of ``paths`` (with ``predictions``, each path's folder of predict's
    output: ``score_predictions``, no model); ``log`` gets a line per recording. A CSV reference names one
    recording's beats, so it takes one path. With ``failures`` (a dict), a recording that cannot be read or
    scored is noted there (its path: the one-line error) and the others are scored; without, the error is
    raised."""
    if reference_csv is not None and len(paths) != 1:
        raise DataError(f"{reference_csv}: a reference CSV holds one recording's beats; give one recording with it")
    comparisons = []
    for i, path in enumerate(paths):
        try:
            if predictions is not None:
                comparison = score_predictions(path, predictions[i], annotator, reference_csv)
            else:
                comparison = score_recording(path, model, annotator, reference_csv, **options)
        except ArrhythmiaError as error:
            if failures is None:
                raise
            failures[str(path)] = str(error)
            if log is not None:
                log(f"failed: {error}")
            continue
        comparisons.append(comparison)
        if log is None:
            continue
        # the lead the figures are of: a 12-lead record's, or the one an unused channel gave way to
        said = [f"{comparison.lead}, {comparison.fs:g} Hz"] if comparison.lead and comparison.fs else []
        if comparison.beats_annotated and not len(comparison.y_true):
            line = "no beat matched"
        elif comparison.beats_annotated:
            line = f"{len(comparison.y_true):,} beats matched, accuracy {comparison.accuracy:.1%}"
        else:
            line = "rhythm notes only, episodes scored"
            others = [a for a in annotators_beside(Path(path)) if a != annotator] if reference_csv is None else []
            said += [f"the beats in {', '.join(others)}? --annotator {others[0]} scores them"] if others else []
        log(f"{comparison.record}: {line}" + (f" ({'; '.join(said)})" if said else ""))
    return comparisons


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """How long two ``(start_s, end_s)`` intervals overlap, s (0 where they do not)."""
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def episode_scores(pairs: list[tuple[list, list]], intervals: bool = False) -> dict:
    """EC57's episode and duration Se and +P over ``(reference, detected)`` lists of ``(start_s, end_s)``,
    one pair per recording (fractions; NaN where undefined), the episodes and minutes on each side; with
    ``intervals``, each figure's 95% interval over the recordings (``evaluation.ratio_interval``)."""
    # per recording: reference, found, detected, true (episodes); reference, covered, detected (seconds)
    tallies = np.zeros((len(pairs), 7))
    for i, (reference, detected) in enumerate(pairs):
        tallies[i] = [
            len(reference),
            sum(any(overlap(r, d) > 0 for d in detected) for r in reference),
            len(detected),
            sum(any(overlap(d, r) > 0 for r in reference) for d in detected),
            sum(e - s for s, e in reference),
            sum(overlap(r, d) for r in reference for d in detected),
            sum(e - s for s, e in detected),
        ]
    ref_n, ref_hit, det_n, det_hit, ref_time, covered, det_time = tallies.sum(axis=0)

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    figures = {}
    if intervals:
        columns = {"episode_se": (1, 0), "episode_ppv": (3, 2), "duration_se": (5, 4), "duration_ppv": (5, 6)}
        figures = {key: ratio_interval(tallies[:, a], tallies[:, b]) for key, (a, b) in columns.items()}
    return {
        "reference": int(ref_n),
        "detected": int(det_n),
        "episode_se": ratio(ref_hit, ref_n),
        "episode_ppv": ratio(det_hit, det_n),
        "duration_se": ratio(covered, ref_time),
        "duration_ppv": ratio(covered, det_time),
        "reference_min": ref_time / 60,
        "detected_min": det_time / 60,
        "intervals": figures,
    }


def comparison_metrics(comparisons: list[RecordingComparison]) -> dict:
    """The recordings pooled: ``compute_metrics``'s dict over the matched beats (with ``per_record``,
    ``record_average`` and ``intervals``), ``ec57`` with missed and extra beats counted, ``detection``:
    ``{"reference", "detected", "matched", "left_out", "se", "ppv"}`` (fractions; None where undefined), over
    the ``beats_recordings`` whose reference marks beats; and ``episodes`` (``episode_scores`` per type of
    ``SCORED_EPISODES``, None where undefined) over the ``episodes_recordings`` whose reference has rhythm
    notes. A reference of rhythm notes alone (the MIT-BIH Atrial Fibrillation Database's ``atr``) scores
    episodes only: ``n_beats`` 0 and no beat figures."""
    if not comparisons:
        raise DataError("no recordings to score")
    classes = comparisons[0].classes
    with_beats = [c for c in comparisons if c.beats_annotated]
    metrics: dict = {"classes": list(classes), "n_beats": 0, "beats_recordings": len(with_beats)}
    if with_beats and not sum(len(c.y_true) for c in with_beats):
        names = ", ".join(c.record for c in with_beats[:3]) + (", ..." if len(with_beats) > 3 else "")
        if not sum(c.n_detected for c in with_beats):  # nothing detected: the lead, not the reference, is in doubt
            raise DataError(
                f"{names}: predict detected no beat ({sum(c.n_reference for c in with_beats):,} in the "
                "reference): is the lead an ECG, and not flat? (--lead names another)"
            )
        raise DataError(
            f"{names}: no detected beat lies within {TOLERANCE_S * 1000:.0f} ms of a reference beat "
            f"({sum(c.n_detected for c in with_beats):,} detected, {sum(c.n_reference for c in with_beats):,} "
            "in the reference); is the reference of this recording, at its sampling rate?"
        )
    if with_beats:
        y_true = np.concatenate([c.y_true for c in with_beats])
        y_pred = np.concatenate([c.y_pred for c in with_beats])
        records = np.concatenate([[c.record] * len(c.y_true) for c in with_beats]).astype(str)
        metrics.update(compute_metrics(y_true, y_pred, classes, records=records))
        recordings = f"{len(with_beats)} recording{'s' if len(with_beats) > 1 else ''}"
        metrics["data"] = {
            "description": f"{recordings} through predict",
            "protocol": "paired with the reference beats",
        }
        missed, extra = sum(c.missed for c in with_beats), sum(c.extra for c in with_beats)
        metrics["ec57"] = ec57_beat_statistics(metrics["confusion"], classes, missed, extra)
        reference, detected = sum(c.n_reference for c in with_beats), sum(c.n_detected for c in with_beats)
        matched = len(y_true)
        metrics["detection"] = {
            "reference": reference,
            "detected": detected,
            "matched": matched,
            "left_out": sum(c.left_out for c in with_beats),
            "se": matched / reference if reference else None,
            "ppv": matched / detected if detected else None,
        }
        metrics["runs"] = pooled_runs(with_beats)
    with_notes = [c for c in comparisons if c.reference_episodes is not None]
    metrics["episodes"] = {}
    for kind in SCORED_EPISODES:
        pairs = [
            (c.reference_episodes[kind], c.detected_episodes.get(kind, []))
            for c in with_notes
            if kind in c.reference_episodes  # a reference of rhythm notes alone: only the rhythms it names
        ]
        scores = episode_scores(pairs, intervals=True)
        metrics["episodes"][kind] = {k: None if v != v else v for k, v in scores.items()}  # JSON has no NaN
    metrics["episodes_recordings"] = len(with_notes)
    return metrics


def pooled_runs(comparisons: list[RecordingComparison]) -> dict[str, dict] | None:
    """EC57's couplet and run figures (``ectopic_runs.run_statistics``) over ``comparisons``' runs summed,
    ``{"V": ..., "S": ...}``; None where none of them has runs counted."""
    counted = [c.runs for c in comparisons if c.runs is not None]
    if not counted:
        return None
    return {kind: run_statistics(sum(runs[kind] for runs in counted)) for kind in counted[0]}


def scores_document(
    metrics: dict, comparisons: list[RecordingComparison], scored_with: dict, failures: dict[str, str]
) -> dict:
    """What ``arrhythmia score --out`` writes: ``comparison_metrics``' dict; each recording's missed and
    extra beats by class and its own EC57 figures, as ``bxb`` reports a record (``recordings``); what the
    figures were measured with (``scored_with``: model, settings, reference); and the recordings that could
    not be scored (``failed``: path -> error)."""
    recordings = [
        {
            "record": c.record,
            "lead": c.lead,
            "fs": c.fs,
            "missed": c.missed.tolist(),
            "extra": c.extra.tolist(),
            "left_out": c.left_out,
            "ec57": ec57_beat_statistics(c.confusion(), c.classes, c.missed, c.extra) if c.beats_annotated else None,
            "runs": pooled_runs([c]),
        }
        for c in comparisons
    ]
    return {**metrics, "recordings": recordings, "scored_with": scored_with, "failed": dict(failures)}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _se_ppv(stats: dict | None) -> str:
    """A class's Se / +P in percent from a ``per_record`` row's entry, "- / -" where there is none."""
    stats = stats or {}
    return f"{_percent(stats.get('se'))} / {_percent(stats.get('ppv'))}"


def format_scores(metrics: dict, comparisons: list[RecordingComparison], per_record: bool = False) -> str:
    """``comparison_metrics`` as plain text: the detection, ``evaluation.format_metrics``' tables (one
    class against the rest over the paired beats, EC57's figures, the confusion), and with ``per_record``
    a line per recording."""
    without_beats = len(comparisons) - metrics["beats_recordings"]
    if not metrics["beats_recordings"]:
        lines = ["no reference beat annotations: the episodes alone are scored"]
    else:
        detection = metrics["detection"]
        paired = (
            f"detection: {detection['reference']:,} reference beats, {detection['detected']:,} labelled "
            f"detections, {detection['matched']:,} paired within {TOLERANCE_S * 1000:.0f} ms "
            f"(Se {_percent(detection['se'])}%, +P {_percent(detection['ppv'])}%)"
        )
        if detection["left_out"]:
            paired += f"; {detection['left_out']:,} reference beats of no class of the model left out"
        if without_beats:
            paired += f"; {without_beats:,} recordings with no beat annotations scored for episodes only"
        lines = [paired, "", format_metrics(metrics)]
        if metrics.get("runs"):
            lines += ["", *runs_lines(metrics["runs"])]
    if metrics.get("episodes_recordings"):
        lines += ["", f"episodes (EC57, over the {metrics['episodes_recordings']} recordings with rhythm notes):"]
        lines.append(
            f"{'type':<11}{'reference':>10}{'detected':>9}{'episode Se':>12}{'+P':>7}{'duration Se':>13}{'+P':>7}"
            f"{'ref min':>9}{'det min':>9}"
        )
        for kind, e in metrics["episodes"].items():
            if e["reference"] or e["detected"]:
                figures = f"{_percent(e['episode_se']):>12}{_percent(e['episode_ppv']):>7}"
                figures += f"{_percent(e['duration_se']):>13}{_percent(e['duration_ppv']):>7}"
                minutes = f"{e['reference_min']:>9.1f}{e['detected_min']:>9.1f}"
                lines.append(f"{kind:<11}{e['reference']:>10,}{e['detected']:>9,}{figures}{minutes}")
    if per_record and metrics["beats_recordings"]:
        shown = [c for c in ("S", "V") if c in metrics["classes"]]
        header = f"{'record':<10}{'reference':>10}{'paired':>8}{'missed':>8}{'extra':>7}{'acc %':>7}"
        lines += ["", header + "".join(f"{c + ' Se / +P':>15}" for c in shown)]
        rows = {row["record"]: row for row in metrics["per_record"]}
        for c in (c for c in comparisons if c.beats_annotated):
            row = rows.get(c.record, {"accuracy": None, "per_class": {}})
            counts = f"{c.n_reference:>10,}{len(c.y_true):>8,}{int(c.missed.sum()):>8,}{int(c.extra.sum()):>7,}"
            cells = "".join(f"{_se_ppv(row['per_class'].get(k)):>15}" for k in shown)
            lines.append(f"{c.record:<10}{counts}{_percent(row['accuracy']):>7}{cells}")
    if per_record:
        lines += _run_record_lines(comparisons) + _atrial_lines(comparisons)
    return "\n".join(lines)


def _run_record_lines(comparisons: list[RecordingComparison]) -> list[str]:
    """Per recording, its couplets and runs as ``rxr``'s line format gives them (AAMI's record-by-record table):
    for couplets (C), short (S) and long runs (L), the reference runs found and missed (Ts, FN), the labelled
    runs true and false (Tp, FP); a block for V runs, one for S runs."""
    counted = [c for c in comparisons if c.runs is not None]
    lines = []
    for kind, name in RUN_NAMES.items():
        rows = []
        for c in counted:
            figures = run_statistics(c.runs[kind])
            cells = [figures[n][k] for n, _, _ in RUN_BINS for k in ("tp_se", "fn", "tp_ppv", "fp")]
            rows.append(f"{c.record:<10}" + "".join(f"{v:>5}" for v in cells))
        if rows:
            heads = [f"{b}{k}" for b in "CSL" for k in ("Ts", "FN", "Tp", "FP")]
            lines += ["", f"{name} runs per recording (rxr's line format: C couplets, S short, L long runs; Ts found, "
                      "FN missed, Tp true, FP false):"]  # fmt: skip
            lines += [f"{'record':<10}" + "".join(f"{h:>5}" for h in heads), *rows]
    return lines


def runs_lines(runs: dict[str, dict]) -> list[str]:
    """``pooled_runs``' figures as a table: per kind and length, the reference runs and how many the labels
    found (Se), the labelled runs and how many are true (+P)."""
    lines = [
        "couplets and runs (EC57, as rxr counts them: a short run is 3-5 beats, a long one 6 or more):",
        f"{'':<28}{'reference':>10}{'found':>7}{'Se':>7}{'labelled':>10}{'true':>6}{'+P':>7}",
    ]
    for kind, figures in runs.items():
        for name, _, _ in RUN_BINS:
            f = figures[name]
            counts = f"{f['tp_se'] + f['fn']:>10,}{f['tp_se']:>7,}{_percent(f['se']):>7}"
            counts += f"{f['tp_ppv'] + f['fp']:>10,}{f['tp_ppv']:>6,}{_percent(f['ppv']):>7}"
            lines.append(f"{RUN_NAMES[kind] + ' ' + name + 's':<28}{counts}")
    return lines


def _atrial_lines(comparisons: list[RecordingComparison]) -> list[str]:
    """Per recording with atrial fibrillation or flutter in the reference or in predict's episodes, their
    duration Se / +P and minutes on each side (what an AF database is read for)."""
    lines = []
    for c in comparisons:
        if c.reference_episodes is None:
            continue
        cells = []
        for kind in ("AF", "AFL"):
            if kind not in c.reference_episodes:
                continue  # a reference of rhythm notes alone that never names it: not scored
            e = episode_scores([(c.reference_episodes[kind], c.detected_episodes.get(kind, []))])
            if e["reference"] or e["detected"]:
                figures = (None if v != v else v for v in (e["duration_se"], e["duration_ppv"]))
                se, ppv = (_percent(v) for v in figures)
                cells.append(f"{kind} {se} / {ppv} ({e['reference_min']:.1f} / {e['detected_min']:.1f} min)")
        if cells:
            lines.append(f"{c.record:<10}" + "   ".join(cells))
    if lines:
        header = "atrial episodes per recording: duration Se / +P (reference / detected minutes)"
        lines = ["", header, *lines]
    return lines
