"""Label every beat of a recording: band-pass, detect R peaks, segment as in training, classify, summarise.

classifier = Classifier.from_run("runs/seed-cnn-intra")
beats = predict_record("100.hea", classifier)          # pandas.DataFrame, one row per beat
summary = summarise(beats)                              # counts, heart rate, ectopy
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from arrhythmia.adapt import (
    AdaptConfig,
    Families,
    Timing,
    family_medians,
    questions,
    supraventricular_as_n,
    with_answers,
)
from arrhythmia.adapt import adapt as adapt_labels
from arrhythmia.data.atrial import atrial_activity
from arrhythmia.data.beats import AAMI_CLASSES, SYMBOL_TO_AAMI, WINDOWS, Window
from arrhythmia.data.clock import DAY_S, Start, start_text
from arrhythmia.data.context import (
    LONG_RHYTHM_BEATS,
    closed_gaps,
    local_rhythm,
    p_wave_consistency,
    p_wave_stretches,
    pattern_irregularity,
    rr_features,
)
from arrhythmia.data.detection import as_signal, detect_and_filter, peak_offsets, polarity, search_gaps, turned_parts
from arrhythmia.data.mains import mains_frequency, remove_mains
from arrhythmia.data.muscle import SAME_BAND_SHARE, muscle_noise, noisy_stretches, remove_muscle, same_band
from arrhythmia.data.pipeline import CutBeats, cut_beats
from arrhythmia.data.quality import beat_noise, gap_activity, overlapping, unanalysable
from arrhythmia.data.recording import BeatRows, Recording, identification, read_input
from arrhythmia.data.tables import read_csv_cells
from arrhythmia.data.units import millivolt_scale, typical_qrs_amplitude
from arrhythmia.data.ventricular import ventricular_flutter
from arrhythmia.data.wfdb_source import flat_lead
from arrhythmia.diary import patient_events
from arrhythmia.episodes import EpisodeConfig, beats_in, find_episodes
from arrhythmia.errors import ArrhythmiaError, DataError
from arrhythmia.files import spreadsheet_columns, write_json, write_text_atomic
from arrhythmia.hourly import (
    HRV_MIN_S,
    daily_table,
    hourly_table,
    rate_intervals,
    readable_rate_range,
    recording_hrv,
    run_breaks,
    run_lengths,
)

ECTOPIC_CLASSES = ("S", "V")


class BeatModel(Protocol):
    """What predict needs of a model: class names, how to cut beats, and probabilities for cut beats
    X: (n, window length) with their context features: (n, n_context) where the model takes them."""

    classes: tuple[str, ...]
    window: Window
    takes_context: bool

    def predict_proba(self, X: np.ndarray, context: np.ndarray | None = None) -> np.ndarray: ...


#: How ``label_recording`` names the unit it read a CSV or NumPy signal in, by its mV per unit.
UNIT_NAMES = {1000.0: "volts", 0.001: "microvolts"}

#: A beat whose confidence (the network's own probability for its label) is under this is "unsure": 7-9% of
#: DS1's beats through the CV fold models, holding half the wrong labels (docs/labelling.md, "Which beats to look at").
UNSURE_BELOW = 0.5

#: The beats table's columns of each beat's atrial activity (``data.atrial.atrial_activity``), in the order
#: ``find_episodes`` takes them.
ATRIAL_COLUMNS = ("atrial_hz", "atrial_organisation", "atrial_mv")
#: The beats table's columns of ``data.quality.beat_noise``: each beat's QRS likeness to the beat before and the
#: noise around it, by which ``episodes`` tells beats of noise (VT runs, AF's irregularity).
BEAT_NOISE_COLUMNS = ("likeness", "noise_level")


def atrial_of(beats: pd.DataFrame) -> tuple[np.ndarray, ...] | None:
    """The ``atrial`` of ``find_episodes`` from a beats table (``beats.csv``): its ``ATRIAL_COLUMNS`` as float
    arrays, or None for a table without the first two (written before atrial flutter was looked for); a
    table without ``atrial_mv`` (written before the flutter waves' amplitude was) gives NaN for it."""
    if not set(ATRIAL_COLUMNS[:2]) <= set(beats.columns):
        return None
    missing = np.full(len(beats), np.nan)
    return tuple(beats[c].to_numpy(np.float64) if c in beats.columns else missing for c in ATRIAL_COLUMNS)


def beat_noise_of(beats: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``beat_noise`` of ``find_episodes`` from a beats table (``beats.csv``): its ``BEAT_NOISE_COLUMNS`` as
    float arrays, or None for a table without them (written before beats of noise were told apart)."""
    if not set(BEAT_NOISE_COLUMNS) <= set(beats.columns):
        return None
    return tuple(beats[c].to_numpy(np.float64) for c in BEAT_NOISE_COLUMNS)


def _columns(
    index: dict[str, np.ndarray],
    probs: np.ndarray,
    classes: tuple[str, ...],
    network: np.ndarray | None = None,
    unlabelled: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``_table``'s columns, by name: ``index``'s, then label, confidence and p_<class>; the rows ``unlabelled``
    ((n,) bool, or None) have label '' and confidence NaN."""
    labels = probs.argmax(axis=1)
    network = probs if network is None else network
    label = np.asarray(classes, dtype=object)[labels]
    confidence = network[np.arange(len(labels)), labels]
    if unlabelled is not None:
        label[unlabelled], confidence[unlabelled] = "", np.nan
    columns = {**index, "label": label, "confidence": confidence}
    return columns | {f"p_{name}": probs[:, i] for i, name in enumerate(classes)}


def _table(
    index: dict[str, np.ndarray], probs: np.ndarray, classes: tuple[str, ...], network: np.ndarray | None = None
) -> pd.DataFrame:
    """``index`` columns, then label, confidence and p_<class> from ``probs: (n, n_classes)``; the confidence is
    ``network``'s probability (n, n_classes; default ``probs``) for the label."""
    return pd.DataFrame(_columns(index, probs, classes, network))


def _beat_index(samples: np.ndarray, fs: float, offsets: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The beats table's first columns: sample, and time_s, between samples where ``offsets`` place the peaks."""
    times = (samples if offsets is None else samples + offsets) / fs
    return {"sample": samples.astype(np.int64), "time_s": times}


#: Long recordings are labelled in chunks of this many seconds, so memory stays flat. A multiple of the
#: 10 s segmentation window, so chunks see the same windows (and 125 Hz sample grid) as the whole signal.
CHUNK_S = 600.0
#: Context on each side of a chunk: filter transients, detector rules (running RR) and beat segments
#: that run past the chunk's end all settle well within it. Also a multiple of 10 s.
MARGIN_S = 20.0


def _stretch(signal: np.ndarray, fs: float, first: int, last: int) -> tuple[int, np.ndarray]:
    """``signal[first:last]`` with ``MARGIN_S`` of context on each side, and where that context starts."""
    margin = int(round(MARGIN_S * fs))
    lo, hi = max(first - margin, 0), min(last + margin, len(signal))
    return lo, signal[lo:hi]


def _detect(signal: np.ndarray, fs: float, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R peaks (samples of ``signal``) in ``signal[first:last]``, found with context around it, their
    P-wave stretches (``context.p_wave_stretches``) from the same band-passed stretch, and where between
    samples each peak lies (``detection.peak_offsets``)."""
    lo, stretch = _stretch(signal, fs, first, last)
    if np.all(~np.isfinite(stretch)):
        return np.zeros(0, np.int64), p_wave_stretches(np.zeros(0), fs, np.zeros(0, np.int64)), np.zeros(0)
    found, filtered = detect_and_filter(stretch, fs)
    inside = (found + lo >= first) & (found + lo < last)
    peaks = found[inside] + lo
    return peaks, p_wave_stretches(filtered, fs, peaks, lo), peak_offsets(filtered, found[inside])


def _chunks(n_samples: int, fs: float, chunk_s: float) -> list[tuple[int, int]]:
    """``[first, last)`` sample ranges of whole 10 s windows, about ``chunk_s`` long, covering the signal."""
    chunk = max(int(round(chunk_s / 10.0)) * 10, 10) * fs
    bounds = np.arange(0, n_samples, int(chunk)).tolist() + [n_samples]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < MARGIN_S * fs:
        bounds.pop(-2)  # fold a short tail into the last chunk
    return list(zip(bounds[:-1], bounds[1:]))


def cut_recording(
    recording: Recording,
    peaks: np.ndarray,
    window: Window,
    with_context: bool = True,
    chunk_s: float = CHUNK_S,
    only: np.ndarray | None = None,
    lost: np.ndarray | None = None,
) -> CutBeats:
    """The beats at ``peaks`` (ascending samples of the recording), cut a chunk at a time.

    RR features come from all ``peaks``; each beat is cut from the raw signal with ``window`` and compared
    with the typical beat of its minute by ``pipeline.cut_beats``, exactly as training beats are cut
    around annotated R peaks. Returns ``CutBeats`` over all peaks: kept (n_peaks,), X (n_kept, length),
    context (n_kept, 9) or None. only : (n_peaks,) bool, at least one True: cut just these beats (every
    peak still gives them their RR and typical-beat features; only the chunks holding one are cut), and
    return ``CutBeats`` over ``peaks[only]``. lost : (k, 2) start and end samples of the stretches with no
    signal (``data.quality.unanalysable``): the RR features read the rhythm with them closed up
    (``context.closed_gaps``).
    """
    signal, fs = recording.signal, recording.fs
    rr = rr_features(peaks if lost is None else closed_gaps(peaks, lost), fs)
    # The windows are filled into arrays made once, as many rows as beats asked for: a week's 760,000 windows
    # gathered chunk by chunk and joined at the end were held twice over (hundreds of MB).
    rows_at_most = len(peaks) if only is None else int(np.count_nonzero(only))
    X, context, filled = None, None, 0
    kept, lost_reason = [], []
    for first, last in _chunks(len(signal), fs, chunk_s):
        inside = (peaks >= first) & (peaks < last)
        if only is not None and not (only & inside).any():
            continue
        lo, stretch = _stretch(signal, fs, first, last)
        part = cut_beats(stretch, fs, peaks[inside], window, with_context, rr=rr[inside], start=lo)
        if only is not None:
            rows = only[inside]
            part_context = part.context[rows[part.kept]] if with_context else None
            part = CutBeats(part.X[rows[part.kept]], part_context, part.kept[rows], part.lost_reason[rows])
        if X is None:
            X = np.empty((rows_at_most, part.X.shape[1]), dtype=part.X.dtype)
            if with_context:
                context = np.empty((rows_at_most, part.context.shape[1]), dtype=part.context.dtype)
        X[filled : filled + len(part.X)] = part.X
        if with_context:
            context[filled : filled + len(part.X)] = part.context
        filled += len(part.X)
        kept.append(part.kept)
        lost_reason.append(part.lost_reason)
    return CutBeats(
        X=X[:filled],
        context=context[:filled] if with_context else None,
        kept=np.concatenate(kept),
        lost_reason=np.concatenate(lost_reason),
    )


@dataclass
class RecordingLabels:
    """What predict makes of one recording.

    beats : one row per detected beat (sample, time_s, label, confidence: the network's own probability for
        the label, before the adaptation changed any (1 for a reviewer's label), p_<class>: the adapted
        probabilities, whose largest is the label, family, p_wave: the P-wave consistency,
        ``context.p_wave_consistency``; atrial_hz, atrial_organisation, atrial_mv: the atrial activity of its
        10 s, ``data.atrial.atrial_activity``; gap_activity: how much the signal moves in the interval after
        it, where that is 1 s or longer, ``data.quality.gap_activity``; likeness: the correlation of its QRS
        complex with the beat before's, noise_level: the noise of the signal around it, a share of the beats'
        QRS band, ``data.quality.beat_noise``);
    families : one row per morphology family (``families_table``), or None when not adapted;
    templates : (n_families, window length) float32, each family's median beat window (None likewise);
    adaptation : what the adaptation did (for summary.json);
    questions : the beats a reviewer is asked about (``ask``): sample, time_s, label, family, reason;
    inverted : the recording's beats pointed down and were turned over before they were cut;
    turned : (k, 2) start and end samples of the stretches whose beats pointed the other way from the rest
        of the recording's (``data.detection.turned_parts``: a patch worn upside down for a day), turned over
        again there, so that all its beats are cut pointing up;
    episodes : the rhythm episodes (``episodes.find_episodes``: AF, runs, pauses, noise, ...);
    hourly : the hourly table (``hourly.hourly_table``); daily : its columns per day for a recording longer
    than a day (``hourly.daily_table``), else None; hrv : SDNN, RMSSD, pNN50 of the whole recording, the
    NN intervals they are taken over and the share the editing left out (``hourly.recording_hrv``).
    found_in_v_runs : beats added by the search-back inside runs of V beats (``label_recording``).
    mv_per_unit : the millivolts per unit of the file's signal: 1.0 but where a CSV or NumPy signal's beats
        were too small or too large for mV (``data.units``: 1000 read as volts, 0.001 as microvolts);
    mains_hz : the mains hum (50 or 60 Hz) notched out of the signal before anything else, or None
        (``data.mains``); muscle_filtered : the stretches low-passed for muscle noise (``data.muscle``), (k, 2)
        start and end samples, and ``muscle_filtered_s`` how long they last, s; episode_settings : the
        ``EpisodeConfig`` the episodes were found with, as a dict;
    recording : the recording as it was labelled: as read, with that hum notched out and that muscle noise
        filtered (what to draw);
    events : the patient's events the file marks, each with the rhythm around it (``diary.patient_events``),
        or None where the file marks none;
    unanalysable, ventricular : (k, 2) start and end samples of the stretches without analysable signal
        (``data.quality.unanalysable``) and of those that look like ventricular flutter
        (``data.ventricular.ventricular_flutter``, before ``EpisodeConfig.vf_min_s``).
    """

    beats: pd.DataFrame
    families: pd.DataFrame | None = None
    templates: np.ndarray | None = None
    adaptation: dict = field(default_factory=dict)
    questions: pd.DataFrame | None = None
    inverted: bool = False
    turned: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    episodes: pd.DataFrame | None = None
    hourly: pd.DataFrame | None = None
    daily: pd.DataFrame | None = None
    hrv: dict = field(default_factory=dict)
    found_in_v_runs: int = 0
    mains_hz: float | None = None
    muscle_filtered: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    mv_per_unit: float = 1.0
    recording: Recording | None = None
    episode_settings: dict = field(default_factory=dict)
    events: pd.DataFrame | None = None
    unanalysable: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    ventricular: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    @property
    def muscle_filtered_s(self) -> float:
        """How long the signal was low-passed for muscle noise, s (0 where nothing was)."""
        lengths = self.muscle_filtered[:, 1] - self.muscle_filtered[:, 0]
        return float(lengths.sum()) / self.recording.fs if len(lengths) else 0.0


#: A reviewer's label names a detected beat within this many seconds of it.
REVIEW_TOLERANCE_S = 0.05
#: The most beats one review sheet asks about: each answer settles a family or a timing group, and past a
#: hundred a reviewer is better served by the review app (``arrhythmia serve``), which shows them all.
MAX_QUESTIONS = 100


def check_reviewed_labels(reviewed: dict[int, str], classes: tuple[str, ...], where: str) -> None:
    """One-line DataError, said of ``where``, if a label of ``reviewed`` (``{sample: label}``) is not one of
    the model's ``classes``."""
    unknown = sorted({label for label in reviewed.values() if label not in classes})
    if unknown:
        raise DataError(
            f"{where}: labels {', '.join(map(repr, unknown))} are not classes of the model ({', '.join(classes)})"
        )


class NotABeatError(DataError):
    """A reviewer's label on a sample that is no detected beat; ``problem``: the message without the
    recording's name, for the caller that knows the labels file to name it instead."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


def check_questions(ask: int) -> None:
    """One error line unless ``ask`` is a number of beats a review sheet can ask about (0-``MAX_QUESTIONS``)."""
    if not 0 <= ask <= MAX_QUESTIONS:
        raise ArrhythmiaError(
            f"--ask {ask}: a review sheet asks about 0 to {MAX_QUESTIONS} beats (review them all in arrhythmia serve)"
        )


def read_reviewed(path: str | Path, classes: tuple[str, ...] | None = None) -> dict[int, str]:
    """A reviewer's labels: a CSV with columns ``sample`` (at the recording's rate) and ``label``, as
    ``review.csv`` is written or as a spreadsheet saves it again; ``{sample: label}``. With a ``reviewed``
    column, as the review app's exported ``beats.csv`` has, only its rows marked 1 are the reviewer's: the
    others hold the model's labels, which are to be adapted again, not fixed. One-line DataError for a missing
    file, missing columns, bad samples or, given the model's ``classes``, a label outside them."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: labels file does not exist")
    cells = read_csv_cells(path)  # as a spreadsheet saves it: commas, semicolons or tabs, with or without a BOM
    frame = cells.iloc[1:].set_axis([str(name).strip() for name in cells.iloc[0]], axis=1)
    missing = {"sample", "label"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: needs columns sample and label (missing: {', '.join(sorted(missing))})")
    if "reviewed" in frame.columns:
        marks = frame["reviewed"].astype(str).str.strip().str.lower()
        odd = marks[~marks.isin(["0", "1", "true", "false", ""])]
        if len(odd):
            raise DataError(f"{path}: its reviewed column holds {odd.iloc[0]!r}; expected 1 (a reviewer's label) or 0")
        frame = frame[marks.isin(["1", "true"]).to_numpy()]
    lines = (frame.index + 1).tolist()  # each row's line in the file, the header line 1
    samples = pd.to_numeric(frame["sample"], errors="coerce")
    bad = samples.isna() | (samples < 0) | (samples != samples.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: row {lines[row]}: sample {frame['sample'].iloc[row]!r} is not a sample number")
    reviewed: dict[int, str] = {}
    for line, sample, label in zip(lines, samples.astype(np.int64).tolist(), frame["label"].str.strip()):
        if reviewed.setdefault(sample, label) != label:  # which of the two the reviewer meant is theirs to say
            raise DataError(f"{path}: row {line}: sample {sample} is labelled twice ({reviewed[sample]}, {label})")
    if classes is not None:
        check_reviewed_labels(reviewed, classes, str(path))
    return reviewed


def _reviewed_beats(
    reviewed: dict[int, str], peaks: np.ndarray, fs: float, classes: tuple[str, ...], where: str
) -> dict[int, int]:
    """``{sample: label}`` -> ``{index into peaks: class index}`` (peaks: ascending); one-line DataError for a
    label outside ``classes`` or a sample farther than ``REVIEW_TOLERANCE_S`` from every beat that could be
    labelled."""
    check_reviewed_labels(reviewed, classes, where)
    out = {}
    for sample, label in reviewed.items():
        i = int(np.clip(np.searchsorted(peaks, sample), 1, len(peaks) - 1)) if len(peaks) > 1 else 0
        nearest = i if abs(peaks[i] - sample) <= abs(peaks[i - 1] - sample) else i - 1
        if abs(peaks[nearest] - sample) > REVIEW_TOLERANCE_S * fs:
            problem = (
                f"sample {sample} is not a detected beat that could be labelled (nearest: {peaks[nearest]}, "
                f"{abs(peaks[nearest] - sample) / fs:.3f} s away)"
            )
            raise NotABeatError(f"{where}: {problem}", problem)
        out[int(nearest)] = classes.index(label)
    return out


def _reviewed_split(
    reviewed: dict[int, str], peaks: np.ndarray, found: np.ndarray, fs: float, classes: tuple[str, ...], where: str
) -> tuple[dict[int, int], dict[int, int]]:
    """``_reviewed_beats`` over the detected beats that were cut (``peaks``) and the beats found in V runs
    (``found``, ``_beats_in_v_runs``), both ascending: ``({index into peaks: class}, {index into found:
    class})``."""
    both = np.concatenate([peaks, found])
    order = np.argsort(both, kind="stable")
    given = _reviewed_beats(reviewed, both[order], fs, classes, where)
    on_peaks, on_found = {}, {}
    for i, c in given.items():
        j = int(order[i])
        if j < len(peaks):
            on_peaks[j] = c
        else:
            on_found[j - len(peaks)] = c
    return on_peaks, on_found


#: Search-back inside runs of V beats (``_beats_in_v_runs``): an RR gap next to a V beat at least this many
#: times the shorter interval around it may hold a beat of the run the detector missed, and a gap can hold
#: two (passes). Chosen on DS1 by cross-validation over record groups (docs/labelling.md, "Rhythm episodes").
V_RUN_GAP_RATIO = 1.7
V_RUN_PASSES = 2


def _v_run_gaps(peaks: np.ndarray, is_v: np.ndarray) -> np.ndarray:
    """Indices ``g`` of the RR gaps ``peaks[g] .. peaks[g + 1]`` next to a V beat (``is_v``: (n,) bool) and
    longer than ``V_RUN_GAP_RATIO`` x the shorter of the intervals on either side."""
    rr = np.diff(peaks).astype(np.float64)
    if len(rr) < 2:
        return np.zeros(0, np.int64)
    shorter = np.minimum(np.concatenate([[np.inf], rr[:-1]]), np.concatenate([rr[1:], [np.inf]]))
    return np.flatnonzero((is_v[:-1] | is_v[1:]) & (rr > V_RUN_GAP_RATIO * shorter))


def _beats_in_v_runs(
    recording: Recording, peaks: np.ndarray, labels: np.ndarray, model: BeatModel, chunk_s: float, lost: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Beats the detector missed inside runs of V beats (two wide complexes of a fast run can fall into
    one of its QRS windows): looked for in the signal (``detection.search_gaps``) in the RR gaps that
    ``_v_run_gaps`` names, cut among all beats, classified by ``model``, and kept where it calls them V.

    peaks : (n,) ascending R-peak samples; labels : (n,) AAMI labels ('' for a beat not cut); lost : (k, 2)
    the stretches with no signal, samples (no gap across one is searched). Returns the
    found beats' samples (k,) int64, ascending, and their probabilities (k, n_classes) float32.
    """
    found = np.zeros(0, np.int64)
    found_probs = np.zeros((0, len(model.classes)), np.float32)
    beats, is_v = peaks, labels == "V"
    for _ in range(V_RUN_PASSES):
        gaps = _v_run_gaps(beats, is_v)
        gaps = gaps[~overlapping(beats[gaps], beats[gaps + 1], lost, touching=False)]  # a lead-off hides no beat
        candidates = search_gaps(recording.signal, recording.fs, beats, gaps)
        candidates = np.setdiff1d(candidates[candidates >= 0], beats)
        if len(candidates) == 0:
            break
        merged = np.union1d(beats, candidates)
        only = np.isin(merged, candidates)
        cut = cut_recording(recording, merged, model.window, model.takes_context, chunk_s, only, lost)
        if len(cut.X) == 0:
            break
        probs = model.predict_proba(cut.X, cut.context).astype(np.float32)
        called_v = aami_calls(probs, model.classes) == "V"
        if not called_v.any():
            break
        added = candidates[cut.kept][called_v]
        found = np.concatenate([found, added])
        found_probs = np.concatenate([found_probs, probs[called_v]])
        beats = np.union1d(beats, added)
        is_v = np.isin(beats, found) | np.isin(beats, peaks[labels == "V"])
    order = np.argsort(found)
    return found[order], found_probs[order]


def _still_in_v_runs(found: np.ndarray, peaks: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k,) bool: which ``found`` beats still have a V beat next to them among ``peaks`` (ascending, their
    final AAMI ``labels``)."""
    after = np.searchsorted(peaks, found)
    is_v = np.concatenate([[False], labels == "V", [False]])
    return is_v[after] | is_v[after + 1]


def families_table(family: np.ndarray, labels: np.ndarray, peaks: np.ndarray, prematurity: np.ndarray) -> pd.DataFrame:
    """One row per family of the kept beats: its size and share, the label most of its beats carry, how
    premature its beats typically are against the patient's own rhythm (the median ``prematurity``,
    ``context.local_rhythm``: about 1 for the usual rhythm, under 0.86 for premature beats), and one beat
    of it to look at. family, labels, peaks, prematurity: (n_kept,) each."""
    rows = []
    medians = family_medians(family, prematurity)
    for f in range(len(medians)):
        members = np.flatnonzero(family == f)
        counts = pd.Series(labels[members]).value_counts()
        rows.append(
            {
                "family": f,
                "beats": len(members),
                "percent": 100.0 * len(members) / len(family),
                "label": counts.index[0] if len(counts) else "",
                "label_share": float(counts.iloc[0] / len(members)) if len(counts) else 0.0,
                "pre_rr_ratio": float(medians[f]),
                "example_sample": int(peaks[members[len(members) // 2]]) if len(members) else -1,
            }
        )
    return pd.DataFrame(rows)


def questions_table(
    probs: np.ndarray,
    peaks: np.ndarray,
    fs: float,
    classes: tuple[str, ...],
    families: Families | None,
    ask: int,
    min_family_beats: int,
    groups: np.ndarray | None = None,
    prematurity: np.ndarray | None = None,
    voters_from: int | None = None,
) -> pd.DataFrame:
    """The review sheet: the ``ask`` beats ``adapt.questions`` picks among the kept beats (probs:
    (n_kept, n_classes), peaks, groups (their timing groups) and prematurity: (n_kept,)), with their
    sample, time, label, family and reason."""
    asked = questions(probs, tuple(classes), families, ask, min_family_beats, groups, prematurity, voters_from)
    rows = [i for i, _ in asked]
    return pd.DataFrame(
        {
            "sample": peaks[rows].astype(np.int64),
            "time_s": peaks[rows] / fs,
            "label": np.asarray(classes, dtype=object)[probs[rows].argmax(axis=1)],
            "family": families.family[rows] if families is not None else np.full(len(rows), -1),
            "reason": [why for _, why in asked],
        }
    )


def label_recording(
    recording: Recording,
    model: BeatModel,
    chunk_s: float = CHUNK_S,
    adapt: bool | dict | AdaptConfig | None = True,
    reviewed: dict[int, str] | None = None,
    ask: int = 0,
    episodes: EpisodeConfig | None = None,
    search_back: bool = True,
    muscle_filter: bool = True,
    in_place: bool = False,
    with_rhythm: bool = True,
) -> RecordingLabels:
    """Detect, cut, classify and (with ``adapt``, the default) adapt the labels of one recording, and find
    its rhythm episodes (``episodes``: their thresholds, default ``EpisodeConfig()``).

    Beats are detected on the band-passed signal (``detect_r_peaks`` filters it) a chunk at a time, cut
    by ``cut_recording`` and classified; with ``adapt`` the labels are then adapted to the recording
    (``arrhythmia.adapt``: morphology families, normalisation re-estimated on its beats, family consensus;
    ``False`` turns it off, a dict or ``AdaptConfig`` sets it). A detected beat that cannot be cut (e.g.
    alone in its 10 s window) gets an empty label. Detection and cutting go in chunks of ``chunk_s``
    seconds with ``MARGIN_S`` of context on each side.

    reviewed : a reviewer's labels, ``{sample: label}`` (``read_reviewed``): those beats keep them, and
    they carry their families' morphology, their timing groups' N or S and the recording's N/S border
    (``adapt.adapt``; with ``adapt`` off, families are still formed to carry them). ask : also pick the
    ``ask`` beats whose review would help most (``RecordingLabels.questions``).

    search_back : look for the beats the detector missed inside runs of V beats (``_beats_in_v_runs``,
    on the model's own labels). Those the model calls V are added where a beat next to them is still V
    after the adaptation (or where the reviewer labelled them), outside the families and questions, with
    family -1 and no P-wave consistency (``RecordingLabels.found_in_v_runs`` counts them).

    muscle_filter : low-pass the stretches that hold muscle noise at 25 Hz before anything reads them
    (``data.muscle``; ``RecordingLabels.muscle_filtered_s`` says how long); False reads the signal as it is.

    in_place : where beats point down (``RecordingLabels.inverted``, ``turned``), ``recording.signal`` may be
    turned over in place while it is labelled, and is turned back before this returns or raises: for a caller
    that holds the signal alone (``predict``'s own read of a file), it saves a copy of it (1.2 GB for a week at
    250 Hz). A signal this makes of its own (in mV, hum or muscle noise filtered out) is turned so anyway.

    with_rhythm : find the rhythm episodes, the hourly (and daily) table, the HRV and the patient's events after the
    beats; False leaves them None (``episodes``, ``hourly``, ``daily``, ``events``; ``hrv`` empty) for a caller
    that wants the beats alone (``predict_signal``): a quarter of a 10-s strip's time. The beats are the same.
    """
    check_questions(ask)
    # 0. The signal in mV, without hum or muscle noise; the stretches with no beats to read.
    as_read = recording.signal
    cleaned = _clean_signal(recording, muscle_filter)
    recording, signal, fs = cleaned.recording, cleaned.signal, recording.fs
    config = AdaptConfig.from_value(adapt)
    if reviewed and config is None:
        config = AdaptConfig(batchnorm=False)
    noise = unanalysable(signal, fs)
    ventricular = ventricular_flutter(signal, fs)
    # the recording before it is turned upright below: drawn as read, without the hum
    result = RecordingLabels(
        beats=pd.DataFrame(),  # the beats table of _label_upright, or of no beats where none are found
        mains_hz=cleaned.mains_hz,
        muscle_filtered=noisy_stretches(cleaned.noisy_blocks, fs, len(signal)),
        recording=recording,
        mv_per_unit=cleaned.mv_per_unit,
    )

    def without_beats() -> RecordingLabels:  # a recording without beats still gets its noise and hours
        result.beats = _beats_table(_DetectedBeats.none(len(model.classes)), recording, model.classes)
        nothing = np.zeros(0, np.int64), np.zeros(0, str)
        return _add_rhythm(
            result, *nothing, recording, noise, episodes, ventricular=ventricular, with_rhythm=with_rhythm
        )

    if len(signal) == 0 or np.all(~np.isfinite(signal)):
        warnings.warn(f"{recording.path}: the signal holds no valid samples; no beats", stacklevel=2)
        return without_beats()

    # 1. Detect, in chunks.
    try:
        detected = [_detect(signal, fs, a, b) for a, b in _chunks(len(signal), fs, chunk_s)]
    except ArrhythmiaError as exc:  # e.g. a signal too short to detect on: say which recording
        raise ArrhythmiaError(f"{recording.path}: {exc}") from None
    peaks = np.concatenate([chunk_peaks for chunk_peaks, _, _ in detected])
    offsets = np.concatenate([chunk_offsets for _, _, chunk_offsets in detected])
    if len(peaks) < 2:
        flat = flat_lead(as_read)  # say why where the lead holds nothing (an unused channel, read with --lead)
        why = f": lead {recording.lead} holds no ECG ({flat})" if flat else ""
        warnings.warn(f"{recording.path}: fewer than two beats detected{why}; nothing to classify", stacklevel=2)
        return without_beats()

    # 2. Cut and classify. Detection does not depend on the sign (it works on the rectified signal); the beats
    # are cut pointing up, as training beats are, so a reversed electrode or a lead like V1 gives upright beats.
    sign = polarity(signal, fs, peaks)
    # A multi-day recording may point one way for a day and the other the next (a patch worn upside down):
    # the parts whose beats clearly point against the rest are turned as well.
    result.turned, result.inverted = turned_parts(signal, fs, peaks, sign), sign < 0
    detection = _Detection(
        peaks, offsets, np.concatenate([stretches for _, stretches, _ in detected]), noise, ventricular
    )
    steps = _Steps(config, chunk_s, reviewed, ask, episodes, search_back, with_rhythm)
    # Turned in place where the signal is this function's own, or its caller's to lend: a copy of a week's signal
    # is gigabytes.
    with _upright(recording, sign, result.turned, in_place or signal is not as_read) as upright:
        return _label_upright(result, upright, model, detection, cleaned.noisy_blocks, steps)


@dataclass
class _Detection:
    """What ``label_recording`` found before labelling: the detected beats, (n,) each, their R-peak ``peaks``
    (samples) and ``offsets`` (between samples); the detector's P-wave ``stretches`` (``p_wave_consistency``);
    ``noise``: (n_samples,) bool, unanalysable; ``ventricular``: the ventricular flutter stretches."""

    peaks: np.ndarray
    offsets: np.ndarray
    stretches: np.ndarray
    noise: np.ndarray
    ventricular: np.ndarray


@dataclass
class _Steps:
    """``label_recording``'s settings for the steps from cutting the beats on (see its parameters); ``adapt``:
    the adaptation's settings, None for none."""

    adapt: AdaptConfig | None
    chunk_s: float
    reviewed: dict[int, str] | None
    ask: int
    episodes: EpisodeConfig | None
    search_back: bool
    with_rhythm: bool


@contextmanager
def _upright(recording: Recording, sign: int, turned: np.ndarray, in_place: bool) -> Iterator[Recording]:
    """``recording`` with its beats pointing up: its signal turned over (``_turn_over``) where ``sign`` is -1 or
    parts are ``turned``; a copy, or, ``in_place``, the signal itself, turned back when the block ends, whatever
    happens (the recording is drawn as read)."""
    if not (sign < 0 or len(turned)):
        yield recording
        return
    upright = recording.signal if in_place else recording.signal.copy()
    _turn_over(upright, sign, turned)
    try:
        yield replace(recording, signal=upright)
    finally:
        if in_place:
            _turn_over(upright, sign, turned)


def _turn_over(signal: np.ndarray, sign: int, turned: np.ndarray) -> None:
    """Turn ``signal`` ((n,) float) over in place: all of it where ``sign`` is -1, and then each of the ``turned``
    stretches ((k, 2) start and end samples); done twice, it gives the signal back as it was."""
    if sign < 0:
        np.negative(signal, out=signal)
    for start, end in turned.tolist():
        np.negative(signal[start:end], out=signal[start:end])


def _label_upright(
    result: RecordingLabels,
    recording: Recording,
    model: BeatModel,
    detection: _Detection,
    noisy_blocks: np.ndarray,
    steps: _Steps,
) -> RecordingLabels:
    """``label_recording``'s steps from cutting the beats on: ``recording`` is the signal with its beats pointing
    up, ``detection`` its beats; ``noisy_blocks``: the blocks low-passed for muscle noise (``_CleanSignal``)."""
    peaks, offsets, noise = detection.peaks, detection.offsets, detection.noise
    config, chunk_s, reviewed, ask, episodes = steps.adapt, steps.chunk_s, steps.reviewed, steps.ask, steps.episodes
    fs = recording.fs
    # The rhythm is read with each interval across lost signal closed up: the gap is no beat's interval.
    cut = cut_recording(recording, peaks, model.window, model.takes_context, chunk_s, lost=noise)
    kept_probs = model.predict_proba(cut.X, cut.context) if len(cut.X) else np.zeros((0, len(model.classes)))
    kept_peaks = peaks[cut.kept]
    found, found_probs = np.zeros(0, np.int64), np.zeros((0, len(model.classes)), np.float32)
    if steps.search_back:
        labels_before = np.full(len(peaks), "", dtype=object)
        labels_before[cut.kept] = aami_calls(kept_probs, model.classes)
        found, found_probs = _beats_in_v_runs(recording, peaks, labels_before.astype(str), model, chunk_s, noise)
    given, given_found = {}, {}
    if reviewed:
        where = str(recording.path)
        given, given_found = _reviewed_split(reviewed, kept_peaks, found, fs, tuple(model.classes), where)
    # The network's own calls, which `confidence` reads: where the adaptation overrode them, or they were
    # unsure, is where the wrong labels are (DS1 CV: they rank them at AUROC 0.82-0.89, adapted ones 0.48-0.64).
    network_probs = with_answers(kept_probs, given)

    # 3. Adapt the labels to the recording (families, normalisation, rhythm) and to the reviewer's answers.
    family = np.full(len(peaks), -1, dtype=np.int64)
    if config is not None:
        rhythm = _timing(closed_gaps(peaks, noise), fs, cut.kept, config)
        # Where much of the recording was low-passed for muscle noise, its beats are grouped by shape with all
        # of them low-passed alike: else the filtered beats of the usual shape split off into families of their own.
        alike = noisy_blocks.any() and noisy_blocks.mean() >= SAME_BAND_SHARE
        shapes = same_band(cut.X, model.window.fs) if alike else None
        adapted = adapt_labels(
            model, cut.X, cut.context, kept_probs, config, str(recording.path), given, rhythm, shapes
        )
        kept_probs, result.adaptation = adapted.probs, {**adapted.steps, "settings": asdict(config)}
        if adapted.families is not None:
            family[cut.kept] = adapted.families.family
            labels = np.asarray(model.classes, dtype=object)[kept_probs.argmax(axis=1)]
            result.families = families_table(adapted.families.family, labels, kept_peaks, rhythm.prematurity)
            result.templates = np.stack(
                [np.median(cut.X[adapted.families.family == f], axis=0) for f in range(len(result.families))]
            ).astype(np.float32)
    p_wave = p_wave_consistency(detection.stretches)
    atrial_values = atrial_activity(recording.signal, fs, peaks)  # (hz, organisation, mV), (n_peaks,) each
    if config is not None and config.af_as_n:
        atrial = tuple(values[cut.kept] for values in atrial_values)
        kept_probs, relabelled = _no_s_in_af(
            kept_probs, kept_peaks, model.classes, fs, noise, episodes, p_wave[cut.kept], given, atrial
        )
        result.adaptation["af_as_n"] = {"relabelled": relabelled}
    if ask:
        families, groups = (adapted.families, adapted.groups) if config is not None else (None, None)
        settings = config or AdaptConfig()
        result.questions = questions_table(
            kept_probs,
            kept_peaks,
            fs,
            model.classes,
            families,
            ask,
            settings.min_family_beats,
            groups,
            rhythm.prematurity if config else None,
            settings.group_voters_from,
        )

    # 4. Every detected beat, with the beats the search-back found inside V runs where they are still V runs.
    probs = np.zeros((len(peaks), len(model.classes)), dtype=np.float32)
    probs[cut.kept] = kept_probs
    network = probs.copy()
    network[cut.kept] = network_probs
    beats = _DetectedBeats(peaks, offsets, probs, network, cut.kept, family, p_wave, atrial_values)
    if len(found):
        found_probs = with_answers(found_probs, given_found)
        added = _still_in_v_runs(found, kept_peaks, aami_calls(kept_probs, model.classes))
        added[list(given_found)] = True
        result.found_in_v_runs = int(added.sum())
        beats = beats.with_found(found[added], found_probs[added])
    table = _beats_table(beats, recording, model.classes)
    result.beats = table

    # 5. The rhythm: episodes, hourly (and daily) tables and HRV over the labelled beats.
    labelled = table["label"].astype(str).to_numpy() != ""
    labels = as_aami(table["label"].astype(str).to_numpy()[labelled])
    atrial = tuple(values[labelled] for values in beats.atrial)
    rhythm_of = (beats.p_wave[labelled], atrial, table["gap_activity"].to_numpy()[labelled], detection.ventricular)
    # Each beat's likeness is to the detected beat before it, labelled or not (unlabelled ones are rare: a window
    # cut off at an edge of the signal).
    run_noise = tuple(table[column].to_numpy()[labelled] for column in BEAT_NOISE_COLUMNS)
    between_samples = (beats.peaks + beats.offsets)[labelled]  # episodes and HRV read the times beats.csv gives
    return _add_rhythm(
        result,
        between_samples,
        labels,
        recording,
        noise,
        episodes,
        *rhythm_of,
        beat_noise=run_noise,
        with_rhythm=steps.with_rhythm,
    )


@dataclass
class _CleanSignal:
    """A recording as ``label_recording`` reads it: in mV, its mains hum notched out and its muscle noise
    low-passed where they are found (``recording``; ``signal``: its (n_samples,) float signal, mV).

    mv_per_unit : the mV per unit of a CSV or NumPy signal (``data.units``; 1.0 for files that say their unit);
    mains_hz : the hum notched out (50 or 60 Hz), or None; noisy_blocks : (n_blocks,) bool, the blocks of
    ``data.muscle.muscle_noise`` that were low-passed (empty where the filter is off).
    """

    recording: Recording
    signal: np.ndarray
    mv_per_unit: float
    mains_hz: float | None
    noisy_blocks: np.ndarray


def _clean_signal(recording: Recording, muscle_filter: bool) -> _CleanSignal:
    """``recording`` read in mV, without mains hum and, with ``muscle_filter``, without muscle noise. A signal
    left as it was keeps its recording object (what ``RecordingLabels.recording`` draws)."""
    signal, fs = as_signal(recording.signal, recording.fs), recording.fs  # one line for a 2-D array or a bad rate
    if np.isinf(signal).any():  # NaN is a missing sample; an infinity no ECG holds (an overflow), as read_input says
        sample = int(np.flatnonzero(np.isinf(signal))[0])
        raise DataError(f"{recording.path}: sample {sample}: not a finite number ({signal[sample]})")
    mv_per_unit = 1.0
    if not recording.millivolts:  # a CSV or NumPy signal: its unit from the size of its beats
        height = typical_qrs_amplitude(signal, fs)
        mv_per_unit = millivolt_scale(height)
        if mv_per_unit != 1.0:
            unit = UNIT_NAMES.get(mv_per_unit, f"units of {mv_per_unit:g} mV")
            warnings.warn(
                f"{recording.path}: its QRS complexes are {height:.3g} units tall, too "
                f"{'small' if mv_per_unit > 1 else 'large'} for mV: read as {unit}",
                stacklevel=3,
            )
            signal = signal * mv_per_unit
            recording = replace(recording, signal=signal)
    # Hum out first, so that a lead that came off and picks up only hum reads as flat (noise, not a pause).
    mains_hz = mains_frequency(signal, fs)
    if mains_hz is not None:
        signal = remove_mains(signal, fs, mains_hz)
        recording = replace(recording, signal=signal)
    # Muscle noise next, where it is found (a clean recording is read as it is): read as wide beats otherwise.
    noisy_blocks = muscle_noise(signal, fs) if muscle_filter else np.zeros(0, dtype=bool)
    if noisy_blocks.any():
        signal = remove_muscle(signal, fs, noisy_blocks)
        recording = replace(recording, signal=signal)
    return _CleanSignal(recording, signal, mv_per_unit, mains_hz, noisy_blocks)


def _timing(peaks: np.ndarray, fs: float, kept: np.ndarray, config: AdaptConfig) -> Timing:
    """The rhythm the adaptation reads (``adapt.Timing``) of the ``kept`` beats of ``peaks`` (samples, Hz):
    prematurity over the short and the long window, irregularity, the interval before (the first: inf), the
    pattern irregularity at ``config.pattern_lags``, and the beat times."""
    prematurity, irregularity = local_rhythm(peaks, fs)
    long_prematurity = local_rhythm(peaks, fs, LONG_RHYTHM_BEATS)[0]
    rr_s = np.diff(peaks, prepend=peaks[0]) / fs
    rr_s[0] = np.inf
    pattern = pattern_irregularity(peaks, fs, config.pattern_lags)
    return Timing(
        prematurity[kept], irregularity[kept], long_prematurity[kept], rr_s[kept], pattern[kept], peaks[kept] / fs
    )


@dataclass
class _DetectedBeats:
    """Every detected beat of a recording, in sample order, (n,) each: R-peak sample and its offset between
    samples; probabilities (n, n_classes), adapted and the network's own; ``kept``: cut and labelled;
    family (-1: none); P-wave consistency; atrial activity ``(hz, organisation, mV)`` (NaN unknown)."""

    peaks: np.ndarray
    offsets: np.ndarray
    probs: np.ndarray
    network: np.ndarray
    kept: np.ndarray
    family: np.ndarray
    p_wave: np.ndarray
    atrial: tuple[np.ndarray, ...]

    @classmethod
    def none(cls, n_classes: int) -> _DetectedBeats:
        """No beats, for a recording in which none is found."""
        empty = np.zeros(0)
        no_probs = np.zeros((0, n_classes), np.float32)
        return cls(
            empty.astype(np.int64),
            empty,
            no_probs,
            no_probs,
            empty.astype(bool),
            empty.astype(np.int64),
            empty,
            (empty, empty, empty),
        )

    def with_found(self, samples: np.ndarray, probs: np.ndarray) -> _DetectedBeats:
        """These beats and the ``samples`` the search-back found, labelled by ``probs`` (never adapted), in
        sample order: on their sample, in no family, with no P stretch or atrial window of their own."""
        n = len(samples)
        order = np.argsort(np.concatenate([self.peaks, samples]), kind="stable")
        unknown = np.full(n, np.nan)

        def joined(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
            return np.concatenate([ours, theirs])[order]

        return _DetectedBeats(
            peaks=joined(self.peaks, samples),
            offsets=joined(self.offsets, np.zeros(n)),
            probs=joined(self.probs, probs),
            network=joined(self.network, probs),
            kept=joined(self.kept, np.ones(n, bool)),
            family=joined(self.family, np.full(n, -1)),
            p_wave=joined(self.p_wave, unknown),
            atrial=tuple(joined(values, unknown) for values in self.atrial),
        )


def _beats_table(beats: _DetectedBeats, recording: Recording, classes: tuple[str, ...]) -> pd.DataFrame:
    """``RecordingLabels.beats``: one row per detected beat, the beats not cut unlabelled, with their family
    (-1: none, every beat where the recording was not adapted) and the signal's measures around each
    (``gap_activity``, ``beat_noise``). The same columns whatever the recording, none or one beat included:
    tables of several recordings stack."""
    signal, fs = recording.signal, recording.fs
    index = _beat_index(beats.peaks, fs, beats.offsets)
    columns = _columns(index, beats.probs, classes, beats.network, unlabelled=~beats.kept)
    columns["family"] = beats.family
    columns["p_wave"] = beats.p_wave
    atrial = np.column_stack(beats.atrial)
    columns |= {name: atrial[:, i] for i, name in enumerate(ATRIAL_COLUMNS)}
    columns["gap_activity"] = gap_activity(signal, fs, beats.peaks)
    noise = np.column_stack(beat_noise(signal, fs, beats.peaks))
    columns |= {name: noise[:, i] for i, name in enumerate(BEAT_NOISE_COLUMNS)}
    return pd.DataFrame(columns)  # made once: a column added at a time cost a strip 5 ms of pandas


def _no_s_in_af(
    probs: np.ndarray,
    samples: np.ndarray,
    classes: tuple[str, ...],
    fs: float,
    noise: np.ndarray,
    config: EpisodeConfig | None,
    p_wave: np.ndarray,
    reviewed: dict[int, int],
    atrial: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, int]:
    """``probs`` (n_beats, n_classes) of the beats at ``samples`` with those called S inside the AF episodes
    that their own labels give called N (``adapt.supraventricular_as_n``), and how many changed; a
    reviewer's beats (``reviewed``: beat index -> class index) keep their labels."""
    labels = aami_calls(probs, classes)
    in_af = beats_in(samples, fs, find_episodes(samples, labels, fs, noise, config, p_wave, atrial), "AF")
    in_af[list(reviewed)] = False
    out = supraventricular_as_n(probs, tuple(classes), in_af)
    return out, int((out.argmax(axis=1) != probs.argmax(axis=1)).sum())


def as_aami(labels: np.ndarray) -> np.ndarray:
    """Labels as AAMI classes: a MIT-BIH beat symbol (a model trained with ``labels: mitdb``) becomes its
    class (L -> N, A -> S, E -> V, ...); AAMI labels and '' stay."""
    return np.array([SYMBOL_TO_AAMI.get(label, label) for label in labels], dtype=object).astype(str)


def aami_calls(probs: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """(n,) str: the AAMI class (``as_aami``) of each row's most probable class; probs: (n, n_classes)."""
    return as_aami(np.asarray(classes, dtype=object)[probs.argmax(axis=1)].astype(str))


def rhythm_tables(
    samples: np.ndarray,
    labels: np.ndarray,
    fs: float,
    duration_s: float,
    noise: np.ndarray,
    config: EpisodeConfig | None = None,
    p_wave: np.ndarray | None = None,
    atrial: tuple[np.ndarray, np.ndarray] | None = None,
    gap: np.ndarray | None = None,
    ventricular: np.ndarray | None = None,
    start: Start = None,
    filtered: np.ndarray | None = None,
    beat_noise: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict]:
    """The episodes, hourly table, daily table (None for a recording of a day or less) and HRV of labelled
    beats (samples, AAMI labels, p_wave: their P-wave consistency or None: (n,); atrial: their atrial activity,
    ``(dominant_hz, organisation, mv)``, or None; gap: the activity in the interval after each,
    ``data.quality.gap_activity``, or None) of a recording of ``duration_s`` seconds at ``fs`` Hz with
    unanalysable stretches ``noise`` and flutter-like ones ``ventricular`` ((k, 2) samples;
    ``data.ventricular``). The samples may lie between samples (``time_s * fs`` of ``beats.csv``), so that HRV
    does not read the sample grid as beat-to-beat variation; ``start``, the recording's wall-clock start
    (``data.clock``), makes the hourly table's rows clock hours and the daily table's calendar days;
    ``filtered``, the stretches low-passed for muscle noise ((k, 2) samples), gives each hour its minutes of
    them; ``beat_noise``, the beats' ``(likeness, noise_level)`` (``data.quality.beat_noise``) or None, tells
    the beats that are noise from VT runs and AF's irregularity. Also what the review server recomputes after a
    reviewer's corrections."""
    episodes = find_episodes(samples, labels, fs, noise, config, p_wave, atrial, gap, ventricular, beat_noise)
    in_seconds = None if filtered is None else np.asarray(filtered, dtype=np.float64) / fs
    hourly = hourly_table(samples / fs, labels, duration_s, episodes, AAMI_CLASSES, start, in_seconds)
    daily = None  # a day or less: the hourly table says it all
    if duration_s > DAY_S:
        daily = daily_table(samples / fs, labels, duration_s, episodes, AAMI_CLASSES, start, in_seconds)
    return episodes, hourly, daily, recording_hrv(samples / fs, labels, episodes)


def rhythm_summary(episodes: pd.DataFrame, hrv_values: dict) -> dict:
    """``summary.json``'s rhythm part: ``episodes`` (episodes per type), how long the signal could not be read
    (``unanalysable_s``: the ``noise`` episodes) and how long it was read in noise (``noisy_s``: no heart rate or
    HRV there), and ``hrv`` (``hrv_values``, or why there are none)."""
    has_hrv = np.isfinite(hrv_values["sdnn_ms"])

    def seconds(kind: str) -> float:
        rows = episodes[episodes["type"] == kind]
        return round(float((rows["end_s"] - rows["start_s"]).sum()), 1)

    return {
        "episodes": {kind: int(n) for kind, n in episodes["type"].value_counts().sort_index().items()},
        "unanalysable_s": seconds("noise"),
        "noisy_s": seconds("noisy"),
        "hrv": hrv_values if has_hrv else f"under {HRV_MIN_S:g} s of NN intervals: no HRV",
    }


def _add_rhythm(
    result,
    samples,
    labels,
    recording,
    noise,
    config,
    p_wave=None,
    atrial=None,
    gap=None,
    ventricular=None,
    beat_noise=None,
    with_rhythm=True,
) -> RecordingLabels:
    """``result`` with ``rhythm_tables`` of its labelled beats and the recording's ``noise`` and flutter (without
    the tables where not ``with_rhythm``)."""
    result.unanalysable = noise
    if ventricular is not None:
        result.ventricular = ventricular
    if not with_rhythm:
        return result
    duration_s = len(recording.signal) / recording.fs
    config = EpisodeConfig.from_value(config)
    rhythm_of = (p_wave, atrial, gap, ventricular)
    tables = rhythm_tables(
        samples,
        labels,
        recording.fs,
        duration_s,
        noise,
        config,
        *rhythm_of,
        recording.start,
        result.muscle_filtered,
        beat_noise,
    )
    result.episodes, result.hourly, result.daily, result.hrv = tables
    if recording.events:
        times = np.asarray(samples, dtype=np.float64) / recording.fs
        result.events = patient_events(recording.events, times, labels, result.episodes, recording.start)
    result.episode_settings = asdict(config)
    return result


def predict_signal(
    recording: Recording,
    model: BeatModel,
    chunk_s: float = CHUNK_S,
    adapt: bool | dict | AdaptConfig | None = True,
    reviewed: dict[int, str] | None = None,
    search_back: bool = True,
    muscle_filter: bool = True,
) -> pd.DataFrame:
    """Per-beat table of one recording: beats.csv's columns (sample, time_s, label, confidence, p_<class> per
    class, family when adapted, p_wave, the atrial activity, gap_activity and the beat-noise columns; see
    ``label_recording`` and ``_beats_table``)."""
    # the beats alone: the rhythm tables after them would be made only to be dropped
    result = label_recording(
        recording,
        model,
        chunk_s,
        adapt,
        reviewed,
        search_back=search_back,
        muscle_filter=muscle_filter,
        with_rhythm=False,
    )
    return result.beats


def predict_beats(rows: BeatRows, model: BeatModel) -> pd.DataFrame:
    """Per-row table of already segmented beats: row, label, confidence and p_<class> per class."""
    if model.window != WINDOWS["kachuee"] or model.takes_context:
        raise ArrhythmiaError(
            f"{rows.path}: beat CSV rows are Kachuee segments without R-peak positions; this model needs "
            f"{model.window.kind} windows{' and context features' if model.takes_context else ''} "
            "(give it a raw recording)"
        )
    return _table({"row": np.arange(len(rows.X))}, model.predict_proba(rows.X), model.classes)


def predict_record(
    path: str | Path,
    model: BeatModel,
    fs: float | None = None,
    lead: str | int | None = None,
    adapt: bool | dict | AdaptConfig | None = True,
    units: str | float | None = None,
) -> pd.DataFrame:
    """Read a recording (WFDB, EDF, CSV, .npy; ``fs``, ``lead`` and ``units`` as ``read_input`` takes them) or
    a Heartbeat beat CSV and label every beat. For a recording, the table's ``attrs`` name the lead read and
    its rate (``{"lead": "II", "fs": 257.0}``), as the command line's title does: with no ``lead`` given it is
    the one ``read_input`` chose."""
    data = read_input(path, fs=fs, lead=lead, units=units)
    if isinstance(data, BeatRows):
        return predict_beats(data, model)
    table = predict_signal(data, model, adapt=adapt)
    table.attrs.update(lead=data.lead, fs=float(data.fs))
    return table


def _runs(labels: list[str], cls: str, parted: np.ndarray | None) -> dict[str, int]:
    lengths = run_lengths(labels, cls, parted)
    return {
        "isolated": sum(1 for n in lengths if n == 1),
        "couplets": sum(1 for n in lengths if n == 2),
        "runs": sum(1 for n in lengths if n >= 3),
        "longest_run": max(lengths, default=0),
    }


def summarise(
    beats: pd.DataFrame, classes: tuple[str, ...] = ("N", "S", "V", "F", "Q"), episodes: pd.DataFrame | None = None
) -> dict:
    """Counts per class, heart rate and ectopy of a per-beat table from ``predict_signal``.

    Heart rate (bpm) comes from RR intervals between consecutive detected beats: mean = 60 / mean RR;
    min and max are taken over a running median of 8 beats so one ectopic beat does not set them, and
    hold the mean (``hourly.rate_range``). With the recording's ``episodes``, the intervals inside noise or
    ventricular flutter are left out (``hourly.rate_intervals``); without an interval left, there is no
    ``heart_rate_bpm``, as with fewer than two beats.
    Ectopy: isolated beats, couplets (2 in a row) and runs (3 or more in a row) of S and V, and burden
    (percent of classified beats), by AAMI class (a MIT-BIH symbol label counts as its class). With a
    confidence column, ``unsure_beats``: the classified beats whose confidence is under ``UNSURE_BELOW``.
    """
    labels = [str(label) for label in beats["label"]]
    classified = [label for label in labels if label]
    counts = {name: classified.count(name) for name in classes}
    aami = as_aami(np.array(labels, dtype=str)).tolist()  # ectopy by AAMI class, whatever the labels
    summary: dict = {"beats": len(labels), "classified": len(classified), "per_class": counts}
    if "confidence" in beats:
        summary["unsure_beats"] = int((beats["confidence"].to_numpy(np.float64) < UNSURE_BELOW).sum())
    parted = None  # the beats a run of ectopic beats cannot carry on into: a lead-off lies before them
    if "time_s" in beats and beats["time_s"].notna().sum() >= 2:
        parted = run_breaks(beats["time_s"].to_numpy(), episodes)
        times = beats["time_s"].to_numpy()
        times = times[np.concatenate([[True], np.diff(times) > 0])]
        readable = rate_intervals(times, episodes)
        slowest, mean, fastest = readable_rate_range(times, readable)
        if np.isfinite(mean):  # no interval read (each across a lead-off): no rate, which NaN wrote as invalid JSON
            summary["heart_rate_bpm"] = {"mean": mean, "min": slowest, "max": fastest}
        summary["duration_s"] = float(beats["time_s"].iloc[-1] - beats["time_s"].iloc[0])
    summary["ectopy"] = {
        cls: {**_runs(aami, cls, parted), "burden_percent": 100.0 * aami.count(cls) / max(len(classified), 1)}
        for cls in ECTOPIC_CLASSES
    }
    return summary


#: Columns of seconds from the start of a recording: written to the tenth of a millisecond, where six
#: significant digits (every other number's) would round a beat an hour in to 0.1 s and a week in to 1 s.
SECONDS_COLUMNS = ("time_s", "start_s", "end_s")


def csv_text(table: pd.DataFrame) -> str:
    """``table`` as CSV text: times (``SECONDS_COLUMNS``) to 0.1 ms, other numbers to six significant digits."""
    times = [column for column in SECONDS_COLUMNS if column in table and table[column].dtype.kind == "f"]
    if times:
        table = table.copy()
        for column in times:
            values = table[column].to_numpy(np.float64)
            text = np.char.mod("%.4f", values).astype(object)
            text[~np.isfinite(values)] = ""
            table[column] = text
    return table.to_csv(index=False, float_format="%.6g")


def save_beat_rows(table: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Write the per-row table of a beat CSV to ``out/beats.csv``; returns the table."""
    write_text_atomic(Path(out) / "beats.csv", csv_text(table))
    return table


#: The text columns of ``save_recording``'s tables that carry words from the recording's file (an EDF+
#: annotation's text), written through ``files.spreadsheet_text`` (a leading ' before = + - @).
OUTSIDE_TEXT = {"events.csv": ("event",)}


def recording_summary(result: RecordingLabels, about: dict, classes: tuple[str, ...]) -> dict:
    """``summary.json`` of ``result``, as ``save_recording`` writes it, without writing anything: ``about``
    (the caller's own keys first: ``record``, ``model``, ...), ``summarise``'s summary, the recording's polarity,
    hum, muscle filtering, unit and start, what the adaptation did and, where ``result`` has them, episodes per
    type, HRV and the number of patient events. Plain Python values (``json.dumps`` takes them)."""
    summary = {**about, **summarise(result.beats, classes, result.episodes)}
    summary["inverted"] = result.inverted
    # where the beats pointed the other way from the rest of the recording's, and were turned: [[start_s, end_s]]
    summary["turned_s"] = (result.turned / result.recording.fs).round(1).tolist() if result.recording else []
    summary["mains_hz"] = result.mains_hz
    summary["muscle_filtered_s"] = round(result.muscle_filtered_s, 1)
    summary["mv_per_unit"] = result.mv_per_unit
    summary["start_time"] = start_text(result.recording.start) if result.recording is not None else None
    # whose recording it is, verbatim from its file (a report filed away is matched to a patient by this)
    summary["recording"] = identification(result.recording) if result.recording is not None else None
    if result.recording is not None:  # the signal's length (duration_s spans the first to the last beat)
        summary["recording_s"] = len(result.recording.signal) / result.recording.fs
    summary["beats_found_in_v_runs"] = result.found_in_v_runs
    summary["adaptation"] = result.adaptation
    if result.episodes is not None:
        summary.update(rhythm_summary(result.episodes, result.hrv))
        summary["episode_settings"] = result.episode_settings
    if result.events is not None:
        summary["patient_events"] = len(result.events)
    return summary


def save_recording(result: RecordingLabels, out: Path, about: dict, classes: tuple[str, ...]) -> dict:
    """Write what predict made of a recording into ``out``: ``beats.csv``, ``summary.json``
    (``recording_summary``: ``about``, ``summarise``'s summary, what the adaptation did, episodes per type and
    the HRV), ``episodes.csv`` (the rhythm episodes), ``hourly.csv``, ``daily.csv`` for a recording longer than
    a day, ``families.csv`` when adapted, ``events.csv`` when the file marks patient events
    (``diary.patient_events``; their number in ``summary.json``'s ``patient_events``), and ``review.csv`` when
    beats were asked about: its ``label`` column holds the model's labels for the reviewer to correct, and the
    corrected file is what ``--labels`` takes. ``summary.json``'s ``recording`` says whose recording it is, as
    its file does (``data.recording.identification``: name, start, patient, recording_id, notes). Each file is
    written whole or not at all. Returns the summary."""
    out = Path(out)
    summary = recording_summary(result, about, classes)
    for name, table in _tables(result).items():
        if name in OUTSIDE_TEXT:  # a file's own words, which a spreadsheet must show, not run
            table = spreadsheet_columns(table, OUTSIDE_TEXT[name])
        write_text_atomic(out / name, csv_text(table))
    write_json(out / "summary.json", summary)
    return summary


def _tables(result: RecordingLabels) -> dict[str, pd.DataFrame]:
    """The tables ``save_recording`` writes for ``result``, by file name: those the recording has."""
    tables = {
        "beats.csv": result.beats,
        "families.csv": result.families,
        "review.csv": result.questions,
        "episodes.csv": result.episodes,
        "hourly.csv": result.hourly,
        "daily.csv": result.daily,
        "events.csv": result.events,
    }
    return {name: table for name, table in tables.items() if table is not None}


def saved_files(result: RecordingLabels, out: Path) -> dict[str, Path]:
    """The files ``save_recording`` wrote for ``result`` into ``out``, by kind (``beats``, ``summary``,
    ``episodes``, ``hourly``, ``daily``, ``families``, ``review``, ``events``): those of this labelling
    only, not what an earlier one left in the folder (a reviewer's answered ``review.csv``, say)."""
    names = ["summary.json", *_tables(result)]
    return {Path(name).stem: Path(out) / name for name in names}
