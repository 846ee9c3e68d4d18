"""The report of one recording, as a Holter reader reads it: ``predict --report`` writes ``report.html``.

One self-contained page (inline CSS, every figure a ``data:`` URI, nothing fetched): whose recording it is, as
its file says (its name; an EDF header's patient and recording fields, a WFDB header's comment lines, a CSV's
``#`` lines, verbatim and escaped; nothing where the file says nothing); the recording's duration and
analysable time; the heart-rate trend with its episodes shaded; the hourly table; ectopy and
episode tables; the patient's events with the rhythm around each (``diary``); the morphology families;
10-second event strips (fastest and slowest heart rate, longest pause, longest VT and SVT runs, AF onsets, the
patient's first events), beats coloured and labelled; an RR tachogram and a Poincaré plot; and the
heart-rate variability, or a line saying why there is none. Where the recording's start is known, hours and
onsets are also given by the clock. Printed, or saved as PDF (``PRINT_CSS``, ``page_css``), each page names the
recording and its page number, the figures and tables fit the page whole, and the folded lists print open.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from arrhythmia.data.beats import Window
from arrhythmia.data.clock import DAY_S, Start, clock_at, day_of, time_of_day
from arrhythmia.data.quality import overlapping
from arrhythmia.data.recording import Recording
from arrhythmia.data.wfdb_source import another_lead
from arrhythmia.diary import AROUND_S
from arrhythmia.episodes import RUN_MIN_BEATS
from arrhythmia.figures import (
    EPISODE_COLOURS,
    beats_text,
    clock,
    plot_family_templates,
    plot_heart_rate_trend,
    plot_recording_beats,
    plot_rr_tachogram_poincare,
    rounds_to_nought,
    share,
)
from arrhythmia.files import write_text_atomic
from arrhythmia.hourly import (
    HRV_EDITED_OUT_ABOVE,
    HRV_EXCLUDES,
    NN_MAX_CHANGE,
    heart_rate,
    rate_intervals,
    readable_heart_rate,
)
from arrhythmia.predict import UNSURE_BELOW, RecordingLabels
from arrhythmia.report import CSS, REPORT_POLICY_META, _image, _table, esc, format_duration
from arrhythmia.report import page_css as run_page_css

STRIP_S = 10.0
#: A recording shorter than this is a strip (a resting ECG's 10 s, a monitor's strip), not a Holter recording:
#: its report leaves out the heart-rate trend, the hourly table and the RR tachogram (a dozen intervals of one
#: stretch, which the strip shows beat by beat), and says which episodes it was too short to hold. HRV needs 60 s
#: of NN intervals (``hourly``) and AF 60 s of irregular rhythm (``episodes.EpisodeConfig.af_min_s``).
SHORT_S = 60.0
PAUSE_MARGIN_S = 2.0  # of signal each side of a pause longer than a strip
#: A figure is shown at least this wide (or as drawn, where that is narrower), in a box that scrolls
#: sideways on a narrower screen: the figures are drawn about 1200 px wide, and scaled down to a phone's
#: 358 px their text would be a third of its size, unreadable.
FIGURE_MIN_PX = 800
#: Beside the run report's style. Every table and figure sits in a box of its own that scrolls sideways where
#: it is wider than the page (a phone's 390 px), so the page itself never does. The wide tables (the hourly
#: and daily ones, 18 columns, 19 with muscle noise filtered) are set tighter, their headings smaller than
#: their numbers, which never break ("82 / 100 / 128" on three lines), in a page 1200 px wide inside (the run
#: report's is 1100 px): they need about 1100 px, and fit a 1280 px screen whole. On a phone the cards go two
#: to a row, in a smaller type.
EXTRA_CSS = (
    "main { max-width: 1280px; }"
    " .scroll { overflow-x: auto; } .wide th, .wide td { padding: 4px 5px; font-size: 0.84rem; }"
    " .wide th { font-size: 0.78rem; } .wide td { white-space: nowrap; }"
    " .figure-scroll { overflow-x: auto; }"
    " h1 { overflow-wrap: anywhere; }"
    " .identity { color: inherit; font-size: 0.9rem; margin: 0 0 6px; overflow-wrap: anywhere; }"
    " .cards { grid-template-columns: repeat(4, minmax(0, 1fr)); }"
    " .card .value { font-size: 2.2rem; } .thresholds { color: var(--muted); font-size: 0.9rem; }"
    " @media (max-width: 800px) { .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 10px; }"
    " .card { padding: 12px 6px; } .card .value { font-size: 1.6rem; } }"
)
#: On paper (printed, or saved as PDF, to be filed in a chart, often in black and white): no box scrolls, so a
#: figure is shrunk to the page's width (its inline min-width, for a phone, overflowed the page and was cut off
#: at its right) and the wide tables are set small enough that their 19 columns fit a portrait A4 or Letter
#: page (they were cut after the 13th); a figure is never cut across two pages, nor parted from its caption,
#: and a heading is never left alone at the foot of a page; the folded lists (every episode, every hour) are
#: printed open, which closed left them out of the printout, in rows set closer (232's 110 pauses took five
#: pages at the screen's spacing).
PRINT_CSS = (
    " @media print {"
    " body { background: #fff; } main { max-width: none; min-height: 0; padding: 0; }"
    " .scroll, .figure-scroll { overflow: visible; }"
    " figure img { min-width: 0 !important; max-width: 100%; height: auto; }"
    " figure, .card, tr, .warning { break-inside: avoid; }"
    " h1, h2, h3, summary { break-after: avoid; }"
    " th, td { padding: 2px 8px; } .wide th, .wide td { padding: 1px 2px; font-size: 6.5pt; }"
    " .wide th { font-size: 6pt; }"
    " details::details-content { content-visibility: visible; display: contents; }"
    " details > summary { list-style: none; font-weight: 600; }"
    " }"
)
#: The morphology families drawn in the gallery, the largest (all are in families.csv).
FAMILIES_SHOWN = 12
#: At most this many onsets of each of VF, AF and AFL get a strip of their own (the first ones).
MAX_AF_STRIPS = 3
#: The patient events given a strip each, the first ones (all are in the table and events.csv).
MAX_EVENT_STRIPS = 6
#: The rows of the episode and patient-event tables, the first ones; the rest are in episodes.csv, events.csv.
MAX_EPISODE_ROWS = 200
_READABLE = {
    "noise": "unanalysable signal",
    "AF": "atrial fibrillation",
    "AFL": "atrial flutter",
    "VF": "ventricular flutter or fibrillation",
    "pause": "pauses",
}
#: What the HRV section says it is taken over (``hourly.HRV_EXCLUDES``, ``hourly.NN_MAX_CHANGE``).
HRV_NOTE = (
    "Over the intervals between two consecutive N beats, leaving out "
    + ", ".join(_READABLE.get(kind, kind) for kind in HRV_EXCLUDES)
    + f", and an interval that differs by more than {NN_MAX_CHANGE:.0%} from the one before it"
    + ": heart-rate variability measures the sinus node."
)


HRV_UNRELIABLE = (
    f"HRV unreliable: more than {HRV_EDITED_OUT_ABOVE:g}% of the NN intervals changed by over "
    f"{NN_MAX_CHANGE:.0%} from the one before, which a sinus rhythm does not do. An irregular rhythm no "
    "episode names (atrial fibrillation that was not found), ectopic beats labelled N, or noise is in them."
)


def _hrv_coverage(hrv: dict) -> str:
    return (
        f"Taken over {hrv['nn_intervals']:,} NN intervals; the {NN_MAX_CHANGE:.0%} rule left out "
        f"{share(hrv['edited_out_percent'])} of them."
    )


def _beat_times(beats: pd.DataFrame, fs: float) -> np.ndarray:
    """(n_beats,) s: the times beats.csv gives (R peak plus the beat's offset), or samples / ``fs`` Hz for a
    table written before it gave them."""
    return beats["time_s"].to_numpy(np.float64) if "time_s" in beats else beats["sample"].to_numpy(np.float64) / fs


def event_strips(
    beats: pd.DataFrame, episodes: pd.DataFrame, fs: float, start: Start = None
) -> list[tuple[str, float, float]]:
    """The moments a reader looks at: ``(title, strip start s, strip length s)`` for the fastest and slowest
    heart rate, the longest pause, the longest VT and SVT runs, and the first ``MAX_AF_STRIPS`` VF, AF and AFL
    onsets of each; each strip holds its event near its middle, and its title says when (h:mm:ss from the start,
    and the time of day where the recording's ``start`` is known, as the hourly and episode tables give it).
    Strips are ``STRIP_S`` long, but a pause's, which is as long as the pause and ``PAUSE_MARGIN_S`` on each side
    where that is longer: the beats that end it and resume are what a reader checks.

    The fastest and slowest heart rate are read as the summary reads its maximum and minimum (``predict.summarise``:
    the running median of ``hourly.RATE_BEATS`` intervals, leaving out those that share time with a
    ``hourly.RATE_EXCLUDES`` episode), so that the strips show the very rates the cards and the hourly table give:
    a strip kept 10 s away from lost signal and ventricular flutter showed 43 bpm where the summary said 31 (207's
    idioventricular escape just after its flutter). An episode that began with the recording's first beat is
    titled as one the recording began in, its onset at or before that beat: not recorded; and so is one that
    began as the signal came back after unanalysable signal (a lead-off cuts an episode in two, and the piece
    after it begins with the first beat read, whenever the rhythm began)."""
    events: list[tuple[str, float]] = []

    def when(seconds: float) -> str:
        # by the clock too: the hourly table's rows are clock hours, where "at 0:54:57" was to be added up
        return clock(seconds) + (f" ({time_of_day(start, seconds)})" if start is not None else "")

    times = _beat_times(beats, fs)  # which the summary and the episodes are read from
    labelled = times[beats["label"].astype(str).to_numpy() != ""]
    times = times[np.concatenate([[True], np.diff(times) > 0])] if len(times) else times  # as the summary does
    if len(times) >= 3:
        readable = rate_intervals(times, episodes)
        if readable.any():
            rate = heart_rate(times, readable)
            at = np.flatnonzero(readable)
            fastest, slowest = at[np.argmax(rate[at])], at[np.argmin(rate[at])]
            for name, k in (("Fastest", fastest), ("Slowest", slowest)):
                moment = times[k + 1]
                events.append(
                    (f"{name} heart rate: {rate[k]:.0f} bpm, at {when(moment)}", moment - STRIP_S / 2, STRIP_S)
                )
    pauses = episodes[episodes["type"] == "pause"]
    if len(pauses):
        longest = pauses.loc[(pauses["end_s"] - pauses["start_s"]).idxmax()]
        length = longest["end_s"] - longest["start_s"]
        title = f"Longest pause: {length:.1f} s, at {when(longest['start_s'])}"
        seconds = max(STRIP_S, length + 2 * PAUSE_MARGIN_S)
        events.append((title, longest["start_s"] - (seconds - length) / 2, seconds))
    for kind in ("VT", "SVT"):
        runs = episodes[episodes["type"] == kind]
        if len(runs):
            longest = runs.loc[runs["beats"].idxmax()]
            # A run's rate is its mean: the fastest single interval of a few beats (one beat detected twice, one
            # beat of noise) read as 334 bpm in a 5-beat run of 203 whose mean was 190.
            mean = longest["mean_hr_bpm"] if "mean_hr_bpm" in runs else np.nan
            speed = f"{mean:.0f} bpm on average" if np.isfinite(mean) else f"up to {longest['max_hr_bpm']:.0f} bpm"
            title = f"Longest {kind}: {longest['beats']} beats, {speed}, at {when(longest['start_s'])}"
            events.append((title, longest["start_s"] - 2.0, STRIP_S))
    first_beat = labelled.min() if len(labelled) else 0.0  # the episodes are read over the labelled beats
    lost = episodes.loc[episodes["type"] == "noise", ["start_s", "end_s"]].to_numpy(np.float64).reshape(-1, 2)
    for kind in ("VF", "AF", "AFL"):
        for row in episodes[episodes["type"] == kind].head(MAX_AF_STRIPS).itertuples():
            before = labelled[labelled < row.start_s - 0.001]  # within a millisecond: times written to 0.1 ms
            if row.start_s <= first_beat + 0.001:
                title = f"{kind} onset at or before {when(row.start_s)}: the recording began in {kind}"
            elif len(before) and overlapping(before[-1:], np.array([row.start_s]), lost, touching=False)[0]:
                # An episode is cut at a lead-off: the piece after it starts with the signal, not with the rhythm
                title = f"{kind} at {when(row.start_s)}, as the signal came back: its onset was not recorded"
            else:
                title = f"{kind} onset at {when(row.start_s)}"
            events.append((title, row.start_s - STRIP_S / 2, STRIP_S))
    return [(title, max(start, 0.0), seconds) for title, start, seconds in events]


def _burden(ectopy: dict | None, summary: dict) -> str:
    """A class's burden, % of the classified beats; "–" where no beat was classified: "0.00%" of no beats read as
    a recording without ectopy."""
    if not summary.get("classified", 0) or not ectopy:
        return "–"
    return share(ectopy.get("burden_percent", 0), 2)  # one V beat in a day's 100,000 is no "0.00%"


def _no_beats(analysable_s: float) -> str:
    """The warning of a recording without a beat, which says whether any of it could be read (``analysable_s``,
    s): a flat line or a lead off is no asystole, and a signal that was read but held no beat needs looking at."""
    if analysable_s < 1.0:
        return (
            "No beats were found, and none of the recording was analysable: the signal is flat or noise throughout "
            "(a lead off, an electrode disconnected). This says nothing of the heart's rhythm, and is no asystole: "
            "check the electrodes and the recording."
        )
    return (
        f"No beats were found in {clock(analysable_s)} (h:mm:ss) of analysable signal: look at the recording "
        "(a lead off, a signal too small to read, or asystole)."
    )


def _runs_note(run_bpm: float) -> str:
    """What the ectopy table's runs are, beside the VT and SVT episodes (``run_bpm``: their rate, bpm)."""
    return (
        f"Couplets: 2 ectopic beats in a row; runs: 3 or more, at any rate. The runs faster than {run_bpm:g} bpm "
        "are the VT and SVT episodes below; a slower one (an idioventricular or ectopic atrial rhythm, a run "
        "broken by a long interval) is a run here and no episode there, so the longest run may be longer than "
        "the longest VT or SVT."
    )


def _af_card(af_s: float | None, duration_s: float, af_min_s: float | None = None) -> tuple[str, ...]:
    """The AF card: its time (h:mm:ss) and its burden, the share of the recording (``duration_s``, s) it took, as
    cohort.csv's ``af_burden_percent`` gives it; a reader weighs AF by its burden, which the time alone left
    to be worked out. None: no hourly table. A recording shorter than ``af_min_s`` (s, the shortest AF episode)
    cannot hold AF, which "0:00:00, burden 0.0%" of a 10-s ECG read as none found."""
    if af_min_s is not None and duration_s < af_min_s:
        return ("AF", "–", f"AF needs {af_min_s:g} s of recording")
    if af_s is None:
        return ("AF", "–")
    burden = min(100.0 * af_s / duration_s, 100.0) if duration_s > 0 else 0.0
    # a minute of AF in a week is 0.01%: "burden 0.0%" beside it read as none
    return ("AF", clock(af_s), f"h:mm:ss; burden {share(burden)} of the recording")


def _analysable_card(analysable_s: float, duration_s: float, known: bool) -> tuple[str, ...]:
    """The analysable card: the time that could be read (h:mm:ss) and how much of the recording (``duration_s``,
    s) could not, which a reader had to work out from the recorded card above it or add up from the noise
    episodes. ``known``: the analysable time was measured (an hourly table), else it is the whole recording."""
    if not known:
        return ("analysable", clock(analysable_s), "h:mm:ss")
    lost = max(duration_s - analysable_s, 0.0)
    if lost < 0.5:  # the hours' minutes summed: a rounding's worth short of the whole
        return ("analysable", clock(analysable_s), "h:mm:ss; all of the recording")
    share = 100.0 * lost / duration_s
    said = f"{share:.1f}%" if share >= 0.05 else "under 0.1%"
    return ("analysable", clock(analysable_s), f"h:mm:ss; {clock(lost)} unanalysable, {said} of the recording")


#: The episode types that say where the signal could not be read, not what the heart did: the episodes card
#: counts the others (a noisy Holter's 250 stretches of noise had read as 256 "episodes").
SIGNAL_EPISODES = ("noise", "noisy", "artefact")


def _episodes_card(episodes: pd.DataFrame | None) -> tuple[str, ...]:
    """The episodes card: the rhythm episodes (pauses, runs, AF, ...), with the stretches of noise in a note."""
    if episodes is None:
        return ("rhythm episodes", "–")
    signal = episodes["type"].isin(SIGNAL_EPISODES)
    noise = int(signal.sum())
    note = (f"and {noise:,} stretch{'es' if noise != 1 else ''} of noise",) if noise else ()
    return ("rhythm episodes", f"{int((~signal).sum()):,}", *note)


def _cards(items: list[tuple[str, ...]]) -> str:
    """Headline cards: each item (label, value) or (label, value, note)."""
    cells = "".join(
        f'<div class="card"><div class="value">{esc(value)}</div><div class="label">{esc(label)}</div>'
        + "".join(f'<div class="note">{esc(n)}</div>' for n in note)
        + "</div>"
        for label, value, *note in items
    )
    return f'<div class="cards">{cells}</div>'


def _figure(path: Path, alt: str, caption: str = "") -> str:
    """A figure in a box that scrolls sideways where the screen is narrower than ``FIGURE_MIN_PX``."""
    with Image.open(path) as png:
        width, height = png.size
    # min-width wins over the page's max-width: 100%, so on a phone the image overflows its box, which scrolls
    size = f' width="{width}" height="{height}" style="min-width: {min(width, FIGURE_MIN_PX)}px">'
    image = _image(path, alt).removesuffix(">") + size
    text = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><div class="figure-scroll">{image}</div>{text}</figure>'


def _trend_alt(episodes: pd.DataFrame | None) -> str:
    """The heart-rate trend's alt text: which episodes it shades and whether it marks pauses, which a reader who
    cannot see it was not told ("episodes shaded", whichever there were)."""
    kinds = set(episodes["type"]) if episodes is not None else set()
    shaded = [kind for kind in EPISODE_COLOURS if kind in kinds]
    text = "heart rate over the recording; " + (f"shaded: {', '.join(shaded)}" if shaded else "no episode shaded")
    return text + ("; pauses marked by dashed lines" if "pause" in kinds else "")


def _families_alt(families: pd.DataFrame) -> str:
    """The family gallery's alt text: each family drawn (``FAMILIES_SHOWN``, the largest), its label, beats and
    share, as its panel's title gives them, for a reader who cannot see the panels ("median beat of each family"
    told them nothing)."""
    shown = families.head(FAMILIES_SHOWN)
    each = "; ".join(
        f"family {r.family}: {r.label}, {beats_text(r.beats)} ({share(r.percent)})" for r in shown.itertuples()
    )
    return f"median beat of each of the {len(shown)} largest morphology families: {each}"


def _scrolling(table: str, wide: bool = False) -> str:
    """A table in a box of its own that scrolls sideways where the table is wider than the page; ``wide``: set
    tighter (the 18 columns of the hourly and daily tables)."""
    return f'<div class="scroll{" wide" if wide else ""}">{table}</div>'


def _number(value, digits: int = 0) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:,.{digits}f}"


def _amount(value, digits: int = 1) -> str:
    """A time or share of an hourly or daily row (``_number``), where one above nought that the digits would round
    to nought reads "<0.1" (short: the wide tables fit a laptop's screen): a day's 1 min 30 s of AF read "AF h
    0.0" beside an AF card of 0:03:10, as a day without AF does."""
    if rounds_to_nought(value, digits):
        return f"&lt;{10.0**-digits:.{digits}f}"
    return _number(value, digits)


def _hourly_html(hourly: pd.DataFrame, classes: tuple[str, ...], start: Start = None) -> str:
    """The hourly table; its rows named by the clock where the recording's ``start`` is known (``10:23-11:00``;
    ``day 2 10:00-11:00`` in a recording longer than a day, whose hours of the clock come again), else by the
    hours from the start (``00:00-01:00``, ``24:00-25:00``; the last ends where the recording does:
    ``01:00-01:30:05``)."""
    several_days = start is not None and len(hourly) > 0 and float(hourly["end_s"].max()) > DAY_S

    def elapsed(seconds: float) -> str:
        whole = round(seconds)
        minutes = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}"
        return minutes if whole % 60 == 0 else f"{minutes}:{whole % 60:02d}"

    def hours(r: dict) -> str:
        if start is None:
            return f"{elapsed(r['start_s'])}-{elapsed(r['end_s'])}"
        clock_hours = f"{time_of_day(start, r['start_s'], False)}-{time_of_day(start, r['end_s'], False)}"
        return f"day {day_of(start, r['start_s'])} {clock_hours}" if several_days else clock_hours

    return _period_html(hourly, classes, "clock time" if start is not None else "hours", hours, minutes=True)


def _daily_html(daily: pd.DataFrame, classes: tuple[str, ...]) -> str:
    """The daily table of a recording longer than a day (``hourly.daily_table``): its rows are the days of the
    recording (by the calendar where its start is known), its times in hours."""
    return _period_html(daily, classes, "day", lambda r: f"day {r['day']}", minutes=False)


def _read(text: str, unread: bool) -> str:
    """A finding of an hourly or daily row as ``text``, or "–" where no minute of the row was read (``unread``)."""
    return "–" if unread else text


def _period_html(table: pd.DataFrame, classes: tuple[str, ...], first: str, name, minutes: bool) -> str:
    """The rows of an hourly or daily table, each named by ``name(row)`` under the heading ``first``; times in
    minutes (``minutes``) or hours. The time low-passed for muscle noise is a column where some was
    (``muscle_filtered_min``; absent from a table of an older analysis)."""
    unit, per_unit = ("min", 1.0) if minutes else ("h", 60.0)
    filtered = "muscle_filtered_min" in table and bool((table["muscle_filtered_min"] > 0).any())
    header = [first, f"analysable {unit}", *[f"muscle-filtered {unit}"] * filtered, "beats", *classes]
    header += ["HR min / mean / max", "S couplets / runs", "V couplets / runs", "pauses", f"AF {unit}", f"AFL {unit}"]
    header += ["SDNN ms", "RMSSD ms", "pNN50 %", "NN edited out %"]
    rows = []
    marked = False
    for r in table.to_dict("records"):
        # An hour (day) whose editing left out more than HRV_EDITED_OUT_ABOVE of its NN intervals has an HRV as
        # unreliable as a whole recording's, which the report warns of: the first hour (201 then 203) of six MIT-BIH
        # records put end to end (20% left out) read "SDNN 328" beside the other hours' 189 and 85, unmarked.
        unreliable = r.get("nn_edited_out_percent", np.nan) > HRV_EDITED_OUT_ABOVE and np.isfinite(r["sdnn_ms"])
        marked |= bool(unreliable)
        mark = "*" if unreliable else ""
        # A row of which no minute could be read (a lead off for the whole hour) found no ectopy, pause or AF
        # because it read nothing: "0 / 0", "0" and "0.0" there said there had been none, as its heart rate's
        # and HRV's "–" do not.
        unread = not r["analysable_min"] > 0
        rows.append(
            [
                name(r),
                _amount(r["analysable_min"] / per_unit),
                *([_amount(r["muscle_filtered_min"] / per_unit)] if filtered else []),
                _number(r["beats"]),
                *[_number(r[c]) for c in classes],
                " / ".join(_number(r[k]) for k in ("hr_min", "hr_mean", "hr_max")),
                _read(f"{r['s_couplets']} / {r['s_runs']}", unread),
                _read(f"{r['v_couplets']} / {r['v_runs']}", unread),
                _read(_number(r["pauses"]), unread),
                _read(_amount(r["af_min"] / per_unit), unread),
                _read(_amount(r["afl_min"] / per_unit), unread),
                _number(r["sdnn_ms"]) + mark,
                _number(r["rmssd_ms"]) + mark,
                _number(r["pnn50"], 1) + mark,
                _amount(r["nn_edited_out_percent"]),
            ]
        )
    note = f'<p class="thresholds">{esc(_unreliable_rows_note(minutes))}</p>' if marked else ""
    return _scrolling(_table(header, rows), wide=True) + note


def _unreliable_rows_note(hours: bool) -> str:
    """What the mark (*) on an hourly (``hours``) or daily row's HRV says."""
    period = "hour" if hours else "day"
    return (
        f"* HRV unreliable in this {period}: the {NN_MAX_CHANGE:.0%} rule left out more than "
        f"{HRV_EDITED_OUT_ABOVE:g}% of its NN intervals, which a sinus rhythm does not do (an irregular rhythm no "
        "episode names, ectopic beats labelled N, or noise)."
    )


def episode_thresholds(settings: dict) -> str:
    """The episode thresholds a recording was read with (``EpisodeConfig`` as a dict), in a reader's words."""
    s = settings
    if s["afl_organisation"] is None:  # turned off
        flutter = "AFL: not looked for"
    else:
        low, high = s["afl_hz"]
        flutter = f"AFL: organised atrial waves at {low * 60:g}-{high * 60:g} a minute for {s['afl_min_s']:g} s or more"
    if s["vf_min_s"] is None:
        ventricular = "VF: not looked for"
    else:
        ventricular = f"VF: one large fast wave without QRS complexes for {s['vf_min_s']:g} s or more"
    breaking = s.get("run_break_bpm")
    run_break = f", a run ending at an interval slower than {breaking:g} bpm" if breaking else ""
    if s.get("vt_unalike_below") is not None:  # an analysis from before runs of noise were told apart has none
        run_break += "; a run of beats unlike each other in a noisy signal is an artefact, not VT"
    return (
        f"Thresholds: a pause is {'a quiet' if s['pause_quiet_below'] is not None else 'an'} RR interval of "
        f"{s['pause_s']:g} s or more; bradycardia under "
        f"{s['bradycardia_bpm']:g} bpm and tachycardia over {s['tachycardia_bpm']:g} bpm for "
        f"{s['sustained_s']:g} s or more; VT and SVT: {RUN_MIN_BEATS} or more V (S) beats in a row over "
        f"{s['run_bpm']:g} bpm{run_break}; bigeminy and trigeminy: at least {s['bigeminy_min_v']} and "
        f"{s['trigeminy_min_v']} V beats in the pattern; AF: an irregular rhythm without P waves for "
        f"{s['af_min_s']:g} s or more; {flutter}; {ventricular} (predict --episode-setting changes them)."
    )


def _episodes_html(episodes: pd.DataFrame, start: Start = None) -> str:
    """The episodes per type and, folded, each episode; with the recording's ``start`` known, the clock time
    each episode began beside its time from the start."""
    lengths = (episodes["end_s"] - episodes["start_s"]).groupby(episodes["type"])
    summary = _scrolling(
        _table(
            ["type", "episodes", "total time"],
            [[esc(kind), f"{len(group):,}", format_duration(group.sum())] for kind, group in lengths],
        )
    )
    rows = []
    for r in episodes.head(MAX_EPISODE_ROWS).itertuples():
        # A pause is one interval, its length the duration: the 60 / length episodes.csv keeps as its rate read as
        # "max HR 10 bpm" beside a 5.9 s pause. A run's mean rate is its rate (an older episodes.csv has none).
        pause = r.type == "pause"
        mean = getattr(r, "mean_hr_bpm", np.nan)
        rows.append(
            [
                esc(r.type),
                clock(r.start_s),
                *([time_of_day(start, r.start_s)] if start is not None else []),
                format_duration(r.end_s - r.start_s),
                f"{r.beats:,}",
                _number(np.nan if pause else mean),
                _number(np.nan if pause else r.max_hr_bpm),
            ]
        )
    more = len(episodes) - MAX_EPISODE_ROWS
    note = f"<p>{more:,} more in episodes.csv.</p>" if more > 0 else ""
    began = ["clock time"] if start is not None else []
    header = ["type", "start (h:mm:ss)", *began, "duration", "beats", "mean HR bpm", "max HR bpm"]
    detail = _scrolling(_table(header, rows))
    return summary + "<details><summary>Every episode</summary>" + detail + note + "</details>"


def _events_html(events: pd.DataFrame) -> str:
    """The patient's events (``diary.patient_events``), each with the rhythm around it."""
    clocked = bool(events["clock"].astype(bool).any())
    rows = [
        [
            clock(r.time_s),
            *([esc(r.clock)] if clocked else []),
            esc(r.event),
            _number(r.heart_rate_bpm),
            esc(r.beats),
            esc(r.episodes or "none"),
        ]
        for r in events.head(MAX_EPISODE_ROWS).itertuples()
    ]
    more = len(events) - MAX_EPISODE_ROWS
    when = ["clock time"] if clocked else []
    header = ["at (h:mm:ss)", *when, "event", "HR bpm", f"beats within {AROUND_S:g} s", "episodes"]
    note = (
        f"<p>The events the recording marks (a patient's event button, a diary entry), each with the heart rate, "
        f"the beats and the episodes within {AROUND_S:g} s of it; the first {MAX_EVENT_STRIPS} have a strip below.</p>"
    )
    return note + _scrolling(_table(header, rows)) + (f"<p>{more:,} more in events.csv.</p>" if more > 0 else "")


def _css_string(text: str) -> str:
    """``text`` as a quoted CSS string: every character but letters, digits, spaces and ``.-_:,()`` escaped, so
    that a file's name can neither end the string nor the ``<style>`` element it stands in (the space after each
    escape ends it, and is not shown)."""
    safe = "".join(ch if ch.isalnum() or ch in " .-_:,()" else f"\\{ord(ch):x} " for ch in text)
    return f'"{safe}"'


#: The most characters of the patient field every printed page carries (an EDF+ patient field holds a code,
#: sex, birth date and name: the code first).
PAGE_PATIENT_CHARS = 40


def page_css(name: str, start: str = "", patient: str | None = None, kind: str = "Holter analysis") -> str:
    """The ``@page`` rule of a printed report: ``name`` (the recording's), ``patient`` (as the file gives it,
    cut at ``PAGE_PATIENT_CHARS``) and ``start`` (when it began) where known at the top left of every page,
    "page n of m" at its bottom right: a page that comes loose from a chart can be put back."""
    title = _page_title(name, patient, kind) + (f", started {start}" if start else "")
    # the recording's own quoting: its page is UTF-8, so a name's letters stay as they are
    return " " + run_page_css(title, _css_string)


def _page_title(name: str, patient: str | None, kind: str = "Holter analysis") -> str:
    """``NAME: Holter analysis`` (``kind``), with the patient's field after the name where the file gives one."""
    who = _printable(patient or "").strip()
    if len(who) > PAGE_PATIENT_CHARS:
        who = who[:PAGE_PATIENT_CHARS].rstrip() + "..."
    return f"{name}" + (f" (patient {who})" if who else "") + f": {kind}"


def _kind(duration_s: float) -> str:
    """What the report is of: a Holter recording, or a strip (shorter than ``SHORT_S``)."""
    return "ECG strip analysis" if duration_s < SHORT_S else "Holter analysis"


#: The episodes that need a stretch of recording to be found, each by the ``EpisodeConfig`` setting of its
#: shortest length, in the words ``_too_short_note`` says them in.
SUSTAINED_EPISODES = (
    ("af_min_s", "AF"),
    ("afl_min_s", "atrial flutter"),
    ("sustained_s", "bradycardia and tachycardia"),
    ("vf_min_s", "ventricular flutter"),
)


def _too_short_note(duration_s: float, settings: dict) -> str | None:
    """The line under a short recording's episodes naming those it was too short to hold (``settings``: the
    ``EpisodeConfig``'s, s), else None: a 10-s ECG's "None." read as no AF found."""
    needs = [(settings[key], name) for key, name in SUSTAINED_EPISODES if settings.get(key, 0) > duration_s]
    if not needs:
        return None
    return (
        f"The recording ({format_duration(duration_s)}) is too short to hold some episodes: "
        + ", ".join(f"{name}{' needs' if i == 0 else ''} {seconds:g} s" for i, (seconds, name) in enumerate(needs))
        + ". Pauses, VT and SVT runs, bigeminy and trigeminy are read as in any recording."
    )


#: The most characters of the file's own words the report's heading shows (``_identity``): two lines on a
#: laptop's screen; summary.json's ``recording`` holds them all (a header of twenty comment lines would push
#: the cards off the first page).
IDENTITY_CHARS = 160


def _printable(text: str) -> str:
    """``text`` with each character that prints nothing (a control character, a stray NUL) as its escape
    (``\\x00``), so that what a file says is shown as it is without a character that would hide a part."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _identity(recording: Recording) -> str:
    """The heading's line of whose recording it is, as the file says it (``Recording``'s patient, recording_id
    and notes: an EDF header's patient and recording fields, a WFDB header's comments, a CSV's ``#`` lines),
    verbatim and escaped, cut at ``IDENTITY_CHARS``; "" where the file says nothing of it (the name and the
    start are in the heading already)."""
    said = [
        ("Patient", recording.patient),
        ("Recording", recording.recording_id),
        ("Notes", " / ".join(recording.notes)),
    ]
    text = " · ".join(f"{label}: {value}" for label, value in said if value)
    if not text:
        return ""
    text = _printable(text)
    more = ""
    if len(text) > IDENTITY_CHARS:
        text, more = text[: IDENTITY_CHARS - 1].rstrip() + "…", " (in full in summary.json)"
    return f'<p class="subtitle identity">{esc(text)}{more}</p>'


def _review_state(reviewed: dict | None) -> str:
    """The subtitle's last sentence: whether a person has reviewed the labels (``summary["reviewed"]``, the
    review app's: beats reviewed, labels changed, labels a re-labelling carried from the answers, last change),
    and how much."""
    if not reviewed or not reviewed.get("beats_reviewed"):
        return "Not a medical device: every label is a proposal for a person to review."
    changed, beats = reviewed.get("labels_changed", 0), reviewed["beats_reviewed"]
    when = f", last on {esc(str(reviewed['last_change']))}" if reviewed.get("last_change") else ""
    carried = reviewed.get("labels_carried", 0)  # answers a re-labelling carried through families and groups
    carried_text = f", and the answers carried to {carried:,} more beat{'s' if carried != 1 else ''}" if carried else ""
    text = (
        f"<strong>Reviewed</strong>: a person looked at {beats_text(beats)} and changed "
        f"{changed:,} label{'s' if changed != 1 else ''}{when}{carried_text}; the other labels are the model's."
    )
    unmatched = reviewed.get("corrections_unmatched", 0)
    if unmatched:
        text += f" {unmatched:,} correction{'s' if unmatched != 1 else ''} found no beat in this analysis."
    return text + " Not a medical device."


def render_recording_report(
    recording: Recording,
    result: RecordingLabels,
    summary: dict,
    figures: dict[str, Path],
    strip_titles: dict[str, str] | None = None,
) -> str:
    """The report's HTML (see the module docstring); ``figures``: name -> PNG drawn by
    ``write_recording_report``; ``strip_titles``: the caption of each event strip (``strip0``, ...)."""
    strip_titles = strip_titles or {}
    name = Path(str(recording.path)).name
    duration = len(recording.signal) / recording.fs
    short = duration < SHORT_S  # a strip: no trend, hourly table or tachogram (SHORT_S)
    analysable = float(result.hourly["analysable_min"].sum()) * 60 if result.hourly is not None else duration
    per_class = summary.get("per_class", {})
    classes = tuple(per_class)
    hr = summary.get("heart_rate_bpm")
    ectopy = summary.get("ectopy", {})
    parts = [
        f"<header><h1>{esc(name)}</h1>{_identity(recording)}",
        f'<p class="subtitle">{_kind(duration)}: lead {esc(recording.lead)}, {recording.fs:g} Hz, labelled by '
        f"{esc(summary.get('model', '?'))}"
        f"{f'; {result.mains_hz:g} Hz mains hum notched out' if result.mains_hz is not None else ''}"
        f"{f'; {clock(result.muscle_filtered_s)} of muscle noise low-passed' if result.muscle_filtered_s else ''}; "
        f"{f'started {clock_at(recording.start, 0)}; ' if recording.start is not None else ''}"
        f"generated {esc(time.strftime('%Y-%m-%d %H:%M'))}. {_review_state(summary.get('reviewed'))}</p></header>",
        _cards(
            [
                ("recorded", clock(duration), "h:mm:ss"),
                _analysable_card(analysable, duration, result.hourly is not None),
                ("beats", f"{summary.get('classified', 0):,}"),
                ("mean heart rate, bpm", f"{hr['mean']:.0f}", f"min {hr['min']:.0f}, max {hr['max']:.0f}")
                if hr
                else ("mean heart rate, bpm", "–"),
                ("S burden", _burden(ectopy.get("S"), summary)),
                ("V burden", _burden(ectopy.get("V"), summary)),
                # no analysable minute: AF could not be read, which 0:00:00 of AF would not say
                _af_card(
                    float(result.hourly["af_min"].sum()) * 60 if analysable > 0 and result.hourly is not None else None,
                    duration,
                    (result.episode_settings or {}).get("af_min_s"),
                ),
                _episodes_card(result.episodes),
            ]
        ),
    ]
    if summary.get("classified", 0) == 0:
        parts.append(f'<p class="warning">{esc(_no_beats(analysable))}</p>')
    for caution in summary.get("cautions") or []:  # clipped, or a rate no heart keeps (predict's warnings)
        parts.append(f'<p class="warning">{esc(caution)}</p>')
    adaptation = result.adaptation or {}
    if adaptation.get("reason") and summary.get("classified", 0):  # a strip's few beats: said, not only printed
        need = (adaptation.get("settings") or {}).get("min_beats")
        parts.append(
            f'<p class="thresholds">The labels are the network\'s own, not adapted to this patient as a longer '
            f"recording's are: {beats_text(summary['classified'])} {'is' if summary['classified'] == 1 else 'are'} "
            f"too few to adapt to ({f'it takes {need}' if need else esc(adaptation['reason'])}); read the S and V "
            "labels against the strips.</p>"
        )
    if adaptation.get("review_recommended"):
        parts.append(
            f'<p class="warning">Review recommended: adapting to this recording changed '
            f"{adaptation['changed_percent']:.1f}% of the network's beat labels (above "
            f"{adaptation['settings']['review_above_percent']:g}%). The recording is unlike those the model "
            "learned from (patient, lead or device), and such recordings hold most of the wrong labels.</p>"
        )
    if another_lead(recording.lead):
        parts.append(
            f'<p class="warning">Lead {esc(recording.lead)}: the shipped models learnt from MLII. On MIT-BIH\'s other '
            "leads (V1, V2, V4, V5) their labels are less accurate, and most of the VT runs they report there are "
            "false: check ventricular runs and flutter against the strips, or label MLII or lead II where the "
            "recording has it (predict --lead).</p>"
        )
    unsure = summary.get("unsure_beats", 0)
    if unsure:
        unsure_percent = 100 * unsure / max(summary.get("classified", 0), 1)
        one = unsure == 1  # "1 beats (0.0%) are unsure: ... their label" read of one beat among thousands
        parts.append(
            f'<p class="thresholds">{beats_text(unsure)} ({share(unsure_percent)}) {"is" if one else "are"} unsure: '
            f"the network gave {'its' if one else 'their'} label under even odds (confidence under "
            f"{UNSURE_BELOW:g}), or the adaptation overrode it; the wrong labels are most often among them "
            "(beats.csv's confidence; in the review app, <kbd>c</kbd> steps through them).</p>"
        )
    if "trend" in figures:
        parts += ["<h2>Heart rate</h2>", _figure(figures["trend"], _trend_alt(result.episodes))]
    if result.daily is not None:
        parts += ["<h2>Daily table</h2>", _daily_html(result.daily, classes)]
    if result.hourly is not None and not short:
        hourly = _hourly_html(result.hourly, classes, recording.start)
        if result.daily is not None:  # a week's 168 rows folded under its days
            hourly = f"<details><summary>Every hour ({len(result.hourly):,})</summary>{hourly}</details>"
        parts += ["<h2>Hourly table</h2>", hourly]
    parts += ["<h2>Ectopy</h2>"]
    ectopy_rows = [
        [
            esc(c),
            f"{per_class.get(c, 0):,}",
            f"{e['isolated']:,}",
            f"{e['couplets']:,}",
            f"{e['runs']:,}",
            f"{e['longest_run']}",
            _burden(e, summary),
        ]
        for c, e in ectopy.items()
    ]
    parts.append(
        _scrolling(_table(["class", "beats", "isolated", "couplets", "runs", "longest run", "burden"], ectopy_rows))
    )
    if result.episode_settings and "run_bpm" in result.episode_settings:
        parts.append(f'<p class="thresholds">{esc(_runs_note(result.episode_settings["run_bpm"]))}</p>')
    if result.episodes is not None:
        listed = _episodes_html(result.episodes, recording.start) if len(result.episodes) else "<p>None.</p>"
        parts += ["<h2>Episodes</h2>", listed]
        if result.episode_settings:
            parts.append(f'<p class="thresholds">{esc(episode_thresholds(result.episode_settings))}</p>')
            too_short = _too_short_note(duration, result.episode_settings)
            if too_short:
                parts.append(f'<p class="thresholds">{esc(too_short)}</p>')
    if result.events is not None:
        parts += ["<h2>Patient events</h2>", _events_html(result.events)]
    if "families" in figures:
        alt = _families_alt(result.families) if result.families is not None else "median beat of each family"
        parts += ["<h2>Morphology families</h2>", _figure(figures["families"], alt)]
    strips = [key for key in figures if key.startswith("strip")]
    if strips:
        parts += ["<h2>Event strips</h2>"] + [
            _figure(figures[key], strip_titles.get(key, key), strip_titles.get(key, "")) for key in strips
        ]
    if "rr" in figures:
        parts += ["<h2>RR intervals</h2>", _figure(figures["rr"], "RR tachogram and Poincaré plot")]
    parts.append("<h2>Heart-rate variability</h2>")
    hrv = summary.get("hrv")
    if isinstance(hrv, dict):
        parts.append(
            _scrolling(
                _table(
                    ["over the whole recording", "SDNN ms", "RMSSD ms", "pNN50 %"],
                    [["NN intervals", _number(hrv["sdnn_ms"]), _number(hrv["rmssd_ms"]), _number(hrv["pnn50"], 1)]],
                )
            )
        )
        parts.append(f"<p>{esc(HRV_NOTE)}</p>")
        if "nn_intervals" in hrv:
            parts.append(f"<p>{esc(_hrv_coverage(hrv))}</p>")
            if hrv["edited_out_percent"] > HRV_EDITED_OUT_ABOVE:
                parts.append(f'<p class="warning">{esc(HRV_UNRELIABLE)}</p>')
    else:
        said = hrv or "no HRV"
        parts.append(f"<p>{esc(said[:1].upper() + said[1:])}.</p>")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{REPORT_POLICY_META}'
        f"<title>{esc(_page_title(name, recording.patient, _kind(duration)))}</title>"
        f"<style>{CSS}{EXTRA_CSS}{PRINT_CSS}"
        f"{page_css(name, clock_at(recording.start, 0), recording.patient, _kind(duration))}</style>"
        "</head><body><main>" + "".join(parts) + "</main></body></html>"
    )


def write_recording_report(
    recording: Recording, result: RecordingLabels, summary: dict, window: Window, out: Path
) -> Path:
    """Draw the figures of one recording and write ``out/report.html`` (atomically); returns its path.
    recording : the recording as it was labelled (``RecordingLabels.recording``, which ``labelling.label_file``
    passes: the way up it was read, in mV, mains hum notched out and muscle noise low-passed); result,
    summary : what ``label_recording`` and ``save_recording`` gave; window : the model's beat window (for the
    families)."""
    out = Path(out)
    beats = result.beats
    labelled = beats[beats["label"].astype(str) != ""]
    # as the summary's heart rate is read: from the peaks' samples the trend's top stood 1-2 bpm off the card's
    times = _beat_times(labelled, recording.fs)
    labels = labelled["label"].astype(str).to_numpy()
    episodes = result.episodes if result.episodes is not None else pd.DataFrame(columns=["type", "start_s", "end_s"])
    duration = len(recording.signal) / recording.fs
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        figures: dict[str, Path] = {}
        if len(times) >= 3 and duration >= SHORT_S:  # a strip's trend and tachogram: a dozen points of it
            # An interval across lost signal, flutter waves or a run of noise is no heart interval: left out
            # (a gap in the trend), as the hourly table and the summary leave it out of the heart rate.
            rate = readable_heart_rate(times, episodes)
            rr = np.where(np.isfinite(rate), np.diff(times), np.nan)
            figures["trend"] = plot_heart_rate_trend(times[1:], rate, episodes, scratch / "trend.png", duration)
            figures["rr"] = plot_rr_tachogram_poincare(times[1:], rr, labels[1:], scratch / "rr.png")
        if result.families is not None and result.templates is not None:
            figures["families"] = plot_family_templates(
                result.templates, result.families, window, scratch / "families.png", most=FAMILIES_SHOWN
            )
        titles = {}
        moments = event_strips(beats, episodes, recording.fs, recording.start)
        if result.events is not None:
            for r in result.events.head(MAX_EVENT_STRIPS).itertuples():
                at = f"{clock(r.time_s)}" + (f" ({r.clock})" if r.clock else "")
                moments.append((f"Patient event at {at}: {r.event}", max(r.time_s - STRIP_S / 2, 0.0), STRIP_S))
        drawn: dict[int, str] = {}  # a strip's title on the figure, where it is not its caption
        if 0 < duration <= STRIP_S:
            # each event's strip would be the whole recording, drawn again: drawn once, the events its caption
            # (on the figure they ran off both its sides: three events are 150 characters)
            whole = f"The whole recording, {clock(duration)} (h:mm:ss)"
            moments = [(whole + "".join(f". {title}" for title, _, _ in moments), 0.0, duration)]
            drawn[0] = whole
        for k, (title, start, seconds) in enumerate(moments):
            titles[f"strip{k}"] = title
            start = min(start, max(len(recording.signal) / recording.fs - seconds, 0.0))
            figures[f"strip{k}"] = plot_recording_beats(
                recording.signal,
                recording.fs,
                beats,
                scratch / f"strip{k}.png",
                start,
                seconds,
                title=drawn.get(k, title),
            )
        page = render_recording_report(recording, result, summary, figures, titles)
    path = out / "report.html"
    write_text_atomic(path, page)
    return path
