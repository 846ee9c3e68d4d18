"""Label one recording file and write everything ``arrhythmia predict`` writes: the one entry point that the
CLI, the archive labeller and the review server share, so a recording is labelled the same way by all three.

model = load_classifier()                                     # the shipped default
done = label_file("100.hea", model, "predictions/100", PredictOptions(report=True))
done.summary["per_class"], done.files                         # counts; the paths written
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from arrhythmia import figures
from arrhythmia.data.clock import Start, clock_at, given_start, start_text
from arrhythmia.data.quality import clipping
from arrhythmia.data.recording import BeatRows, Recording, read_input
from arrhythmia.data.units import mv_per_unit
from arrhythmia.episodes import EpisodeConfig
from arrhythmia.errors import ArrhythmiaError, DataError
from arrhythmia.predict import (
    BeatModel,
    NotABeatError,
    RecordingLabels,
    check_questions,
    label_recording,
    predict_beats,
    read_reviewed,
    save_beat_rows,
    save_recording,
    saved_files,
)
from arrhythmia.recording_report import write_recording_report


@dataclass
class PredictOptions:
    """How ``predict`` reads and labels a recording and what it writes beside ``beats.csv``.

    fs, lead : sampling rate in Hz (for CSV without a time column and .npy) and the lead to read
    (default MLII, else lead II, else the first ECG lead, V1-V3 last). adapt : adapt the labels to the recording (True,
    False, or a dict of ``adapt.AdaptConfig`` settings that differ from the defaults). ask : write a
    review sheet of that many beats. labels : a reviewer's CSV (``sample,label``). plot, start, seconds :
    draw that stretch (s) with its beats marked. report : write ``report.html``. episodes : the
    ``episodes.EpisodeConfig`` settings that differ from the defaults (pause, bradycardia, ... thresholds).
    muscle_filter : low-pass the stretches that hold muscle noise (``data.muscle``). units : the signal's unit
    where the file names none (CSV, .npy): a voltage unit (``"uV"``) or the units per mV of a recorder's counts
    (``"409.6"``; ``data.units.mv_per_unit``); None: read from the size of its beats. started_at : when the
    recording started (``data.clock.given_start``: ``2026-11-28T08:15:00``, or a time of day), for a file that
    names no start (a .npy, a CSV without time stamps), so that its hourly table, episodes and report read
    in times of day; it takes the place of a start the file names, with a warning. None: the file's own.
    """

    fs: float | None = None
    lead: str | None = None
    units: str | None = None
    adapt: bool | dict = True
    ask: int = 0
    labels: Path | None = None
    plot: bool = False
    start: float = 0.0
    seconds: float = 10.0
    report: bool = False
    episodes: dict | None = None
    muscle_filter: bool = True
    started_at: str | None = None

    def __post_init__(self) -> None:
        # said before any recording is read: a stretch that cannot be drawn, a sheet too long to answer
        check_questions(self.ask)
        if self.started_at is not None:
            try:
                given_start(self.started_at)
            except ValueError as exc:
                raise ArrhythmiaError(f"--started-at: {exc}") from None
        if self.units is not None:
            mv_per_unit(self.units)  # a wrong unit is said before a long recording is read
        if not self.seconds > 0 or not self.start >= 0:
            raise ArrhythmiaError(
                f"--start {self.start:g} --seconds {self.seconds:g}: the stretch to draw starts at 0 s or later "
                "and lasts more than 0 s"
            )


@dataclass
class LabelledFile:
    """What ``label_file`` made: the recording as it was labelled (``RecordingLabels.recording``: in mV, mains
    hum notched out and muscle noise low-passed where ``label_recording`` found them; None for a beat CSV), the
    labels (None for a beat CSV), the summary written to ``summary.json`` (for a beat CSV: the file, the row
    count and counts per class), the files written, by what they hold (``beats``, ``summary``, ``episodes``,
    ``families_plot``, ``report``, ...), and ``removed``: the names of the ``DERIVED_FILES`` an earlier
    labelling had left in the folder that this one did not write, deleted."""

    recording: Recording | None
    result: RecordingLabels | None
    summary: dict
    files: dict[str, Path] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # an earlier labelling's files this one did not write


#: The files a labelling writes that the next labelling into the same folder replaces: an earlier one's file
#: this one does not write (its report, its families when this one is not adapted) would describe other labels.
#: ``review.csv`` is not among them: it may hold a reviewer's answers; nor its picture ``review.png``, the
#: strips of the beats that sheet asks about, which a reviewer still answering it needs.
DERIVED_FILES = (
    "beats.csv",
    "summary.json",
    "episodes.csv",
    "hourly.csv",
    "daily.csv",
    "families.csv",
    "families.png",
    "events.csv",
    "beats.png",
    "report.html",
)


def _without_stale(done: LabelledFile, out: Path) -> LabelledFile:
    """``done`` with the ``DERIVED_FILES`` an earlier labelling left in ``out`` and this one did not write
    removed (after this one has written all of its own, so a failed run removes nothing)."""
    written = {path.name for path in done.files.values()}
    done.removed = [name for name in DERIVED_FILES if name not in written and (out / name).is_file()]
    for name in done.removed:
        (out / name).unlink()
    return done


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.095 else f"{share:.1%}"


def clipping_warning(recording: Recording, result: RecordingLabels) -> str | None:
    """One line saying where ``recording`` (as read: its flat tops are not yet filtered) is flat-topped,
    clipped by its recorder's range or saturated (``data.quality.clipping``, over the beats ``result``
    found), in mV; None where it is not. Such a recording's beats lose their peaks and much of it reads as
    noise, which without this line is a puzzle."""
    clip = clipping(recording.signal, recording.fs, result.beats["sample"].to_numpy())
    if clip is None:
        return None
    sides = []
    for level, beats in ((clip.high, clip.high_beats), (clip.low, clip.low_beats)):
        if level is not None:
            sides.append(
                f"at {level * result.mv_per_unit:+.2f} mV" + (f" in {_percent(beats)} of its beats" if beats else "")
            )
    limits = "these limits" if len(sides) == 2 else "this limit"
    return (
        f"{recording.path}: the signal is flat-topped (clipped or saturated) {' and '.join(sides)}, "
        f"{_percent(clip.time)} of its time held at {limits}: the recorder's input range is too narrow for "
        "this lead, so the QRS complexes there lose their peaks and such stretches may read as noise"
    )


#: The turned stretches a caution names; it counts the others (``summary.json``'s ``turned_s`` lists them all).
TURNED_NAMED = 5


def _started_at(recording: Recording, start: Start) -> Recording:
    """``recording`` started at ``start`` (``--started-at``), with a warning where its file named another."""
    if recording.start is not None and recording.start != start:
        warnings.warn(
            f"{recording.path}: the file says it started at {start_text(recording.start)}; "
            f"--started-at {start_text(start)} is taken instead",
            stacklevel=2,
        )
    return replace(recording, start=start)


def turned_warning(recording: Recording, result: RecordingLabels) -> str | None:
    """One line saying where ``recording``'s beats pointed the other way from the rest of its beats and were
    turned over to be read (``RecordingLabels.turned``: a patch or an electrode worn the other way round for a
    while); None where nowhere. The first ``TURNED_NAMED`` stretches from the start (h:mm:ss), and by the clock
    where that is known; the others counted."""
    if not len(result.turned):
        return None

    def at(sample: int) -> str:
        seconds = round(sample / recording.fs)
        clock = clock_at(recording.start, seconds)
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" + (f" ({clock})" if clock else "")

    named = [f"{at(start)}-{at(end)}" for start, end in result.turned[:TURNED_NAMED].tolist()]
    rest = len(result.turned) - len(named)
    stretches = ", ".join(named) + (f" and {rest} more" if rest else "")  # a line, not a week's list
    hours = float(np.sum(result.turned[:, 1] - result.turned[:, 0])) / recording.fs / 3600.0
    return (
        f"{recording.path}: its beats point the other way from the rest of the recording's over {stretches} "
        f"({hours:.1f} h in all): was the recorder worn the other way round? They were turned over to be read"
    )


#: A median heart rate outside this, bpm, says more often a sampling rate given wrong than a heart: a 250 Hz
#: recording given as 50 Hz reads five times slower. (A rate 1.4 times off stays within it, and one given
#: several times too high is held under 300 bpm by the detector, which keeps beats 0.2 s apart.)
PLAUSIBLE_MEDIAN_BPM = (25.0, 250.0)


def rate_warning(recording: Recording, result: RecordingLabels, fs: float | None) -> str | None:
    """One line where the rate ``fs`` the user gave (Hz; None: the file's own) makes the recording's median
    heart rate one no heart keeps (``PLAUSIBLE_MEDIAN_BPM``); None otherwise, and for a file read at a rate of
    its own (a header's, a time column's), beside which ``read_input`` left ``fs`` aside."""
    times = result.beats["time_s"].to_numpy()
    if fs is None or recording.fs != fs or len(times) < 3:
        return None
    bpm = 60.0 / float(np.median(np.diff(times)))
    low, high = PLAUSIBLE_MEDIAN_BPM
    if low <= bpm <= high:
        return None
    return (
        f"{recording.path}: at --fs {recording.fs:g} Hz its median heart rate is {bpm:.0f} bpm, which no heart "
        f"keeps for long: is {recording.fs:g} Hz the rate the recorder sampled at?"
    )


def label_file(
    path: str | Path, model: BeatModel, out: str | Path, options: PredictOptions | None = None
) -> LabelledFile:
    """Read ``path`` (WFDB record, EDF, CSV, .npy, or a beat CSV), label it with ``model`` and write the
    outputs into ``out``, each file whole or not at all; then deletes what an earlier labelling into ``out``
    wrote and this one did not (``DERIVED_FILES``). Raises ``ArrhythmiaError`` (one line naming the file) for
    input that cannot be read."""
    options = options or PredictOptions()
    path, out = Path(path), Path(out)
    sheet = out / "review.csv"
    labels = Path(options.labels) if options.labels is not None else None
    if options.ask and labels is not None and labels.exists() and sheet.exists() and sheet.samefile(labels):
        raise ArrhythmiaError(
            f"{options.labels}: asking again would write the new review sheet over these answers; "
            "label into another --out, or copy the answers elsewhere first"
        )
    data = read_input(path, fs=options.fs, lead=options.lead, units=options.units)
    if options.started_at is not None and isinstance(data, Recording):
        data = _started_at(data, given_start(options.started_at))
    # a label outside the model's classes is said of the labels file, before any time goes into labelling
    reviewed = read_reviewed(options.labels, tuple(model.classes)) if options.labels is not None else None
    if isinstance(data, BeatRows):
        beats = save_beat_rows(predict_beats(data, model), out)
        counts = beats["label"].value_counts().to_dict()
        summary = {"record": str(path), "beats": len(beats), "per_class": {c: counts.get(c, 0) for c in model.classes}}
        return _without_stale(LabelledFile(None, None, summary, {"beats": out / "beats.csv"}), out)

    episodes = EpisodeConfig.from_value(options.episodes)
    try:
        result = label_recording(
            data,
            model,
            adapt=options.adapt,
            reviewed=reviewed,
            ask=options.ask,
            episodes=episodes,
            muscle_filter=options.muscle_filter,
            in_place=True,  # read here, held here alone: turned over where its beats point down, not copied
        )
    except NotABeatError as error:  # the labels file is what to mend, not the recording
        raise DataError(f"{options.labels}: in {path}, {error.problem}") from None
    # What the signal itself says against its labels, on the terminal and, for whoever reads the outputs
    # later, in summary.json's ``cautions`` and the report.
    said = (clipping_warning(data, result), rate_warning(data, result, options.fs), turned_warning(data, result))
    cautions = [line for line in said if line]
    for line in cautions:
        warnings.warn(line, stacklevel=2)
    data = result.recording  # drawn and reviewed as it was labelled: without mains hum or muscle noise
    about = {"record": str(path), "lead": data.lead, "fs": data.fs, "model": model.model_name, "cautions": cautions}
    summary = save_recording(result, out, about, model.classes)
    files = saved_files(result, out)
    name = path.with_suffix("").name
    if result.families is not None:
        files["families_plot"] = figures.plot_family_templates(
            result.templates, result.families, model.window, out / "families.png", title=f"{name}: families"
        )
    if result.questions is not None:
        files["review_plot"] = figures.plot_review_strips(data.signal, data.fs, result.questions, out / "review.png")
    if options.plot:
        end = options.start + options.seconds
        files["plot"] = figures.plot_recording_beats(
            data.signal,
            data.fs,
            result.beats,
            out / "beats.png",
            options.start,
            options.seconds,
            title=f"{name}: beats from {options.start:g} s to {end:g} s",
        )
    if options.report:
        files["report"] = write_recording_report(data, result, summary, model.window, out)
    return _without_stale(LabelledFile(data, result, summary, files), out)
