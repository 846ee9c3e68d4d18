"""The hourly table of a Holter recording, and heart-rate variability over its normal beats.

``hourly_table`` gives one row per hour of the recording (per clock hour where the recording's start time is
known, else per hour from its start; the first and last hours may be partial), and ``daily_table`` the same
columns per day, for a recording longer than a day (a 7- or 14-day patch recording):
beats per class, heart rate, S and V couplets and runs, pauses and AF minutes (from the episodes), the
analysable minutes, and the time-domain HRV of the hour's NN intervals. ``hrv`` is that HRV for any
stretch: SDNN, RMSSD and pNN50 from NeuroKit2's ``hrv_time``, over the intervals between two consecutive beats
labelled N. An interval next to an ectopic beat is no NN interval, and neither is one inside a ``noise``,
``noisy``, ``artefact``, ``AF``, ``AFL``, ``VF`` or ``pause`` episode (``HRV_EXCLUDES``): heart-rate
variability measures the sinus node, which neither lost signal nor an atrial or ventricular arrhythmia shows,
and one sinus pause of several seconds would outweigh an hour of beat-to-beat variation (record 232: SDNN 658
ms with its pauses, 311 ms without). Nor is an interval that differs by more than a fifth (``NN_MAX_CHANGE``)
from the NN interval just before it, the editing rule of Holter HRV: a sinus node does not change its rate by
that much in one beat, so such an interval stands beside a beat the labels or the detector got wrong (an
atrial premature beat labelled N, a missed or an extra beat), and one of them outweighs minutes of true
variation.
"""

from __future__ import annotations

from itertools import groupby

import numpy as np
import pandas as pd

from arrhythmia.data.clock import DAY_S, Start, clock_at, seconds_past_hour, seconds_past_midnight
from arrhythmia.data.quality import overlapping
from arrhythmia.errors import warnings_ignored

#: HRV needs at least this many seconds of NN intervals; shorter stretches get NaN (and say so).
HRV_MIN_S = 60.0
#: Episode types whose intervals are no NN intervals (see the module docstring).
HRV_EXCLUDES = ("noise", "AF", "AFL", "VF", "pause", "artefact", "noisy")
#: An NN interval that differs from the NN interval before it by more than this share of it is left out (the
#: conventional 20%; chosen over none on MIT-BIH DS1 by agreement with the annotated beats' HRV,
#: docs/choosing-the-rhythm-settings.md, "HRV: editing the NN intervals").
NN_MAX_CHANGE = 0.2
#: When the editing leaves out more than this share (%) of the NN intervals, the rhythm is more irregular than
#: a sinus rhythm (an arrhythmia no episode names, ectopy the labels missed, noise) and the HRV is marked as
#: unreliable. Placed on MIT-BIH DS1 (CV fold models), whose records are at 3.1% or less but for 108 (noise,
#: 10.6%) and 201 (AF and nodal rhythm, 16.3%).
HRV_EDITED_OUT_ABOVE = 10.0
#: Episodes whose intervals say nothing of the heart rate: lost signal, the waves of ventricular flutter
#: that the detector took for beats (207's read as 20 bpm), and runs of noise it took for beats (``artefact``).
RATE_EXCLUDES = ("noise", "VF", "artefact", "noisy")
#: Episodes a run of ectopic beats cannot carry on across: lost signal, ventricular flutter and runs of noise the
#: detector took for beats. Beats read in noise (``noisy``) set no heart rate but are beats all the same: a run of
#: V or S beats goes on through them (an SVT's 16 S beats in 222 were counted as runs of 11 and 4 otherwise).
RUN_BREAKS = ("noise", "VF", "artefact")
HOUR_S = 3600.0
#: A running median over this many RR intervals gives the heart rate, so one ectopic beat does not set the
#: minimum or maximum.
RATE_BEATS = 8


def heart_rate(times: np.ndarray, readable: np.ndarray | None = None) -> np.ndarray:
    """The heart rate at each beat after the first, bpm: 60 over a running median of ``RATE_BEATS`` RR
    intervals (centred), so one ectopic beat does not set a minimum or maximum. times: (n,) s ->
    (n - 1,); readable: (n - 1,) bool, the intervals the medians may take (``rate_intervals``), or None
    (all)."""
    rr = np.diff(np.asarray(times, dtype=np.float64))
    if readable is not None:
        rr[~np.asarray(readable, dtype=bool)] = np.nan
    return 60.0 / pd.Series(rr).rolling(RATE_BEATS, center=True, min_periods=1).median().to_numpy()


def rate_range(rate: np.ndarray, rr: np.ndarray) -> tuple[float, float, float]:
    """Min, mean and max heart rate (bpm) of a stretch: rate: (k,) bpm of its beats (``heart_rate``), rr: (k,)
    s, the intervals they end. The mean is the beats a reader counts per minute (60 x intervals / their
    time); min and max come from ``rate`` and are widened to hold the mean, since over a few beats a running
    median can lie wholly on one side of it (a 10 s strip read 65 bpm on average, 66 at its slowest).
    NaN each for an empty stretch."""
    if len(rr) == 0 or rr.sum() <= 0:
        return np.nan, np.nan, np.nan
    mean = float(60.0 * len(rr) / rr.sum())
    return min(float(rate.min()), mean), mean, max(float(rate.max()), mean)


def readable_rate_range(times: np.ndarray, readable: np.ndarray) -> tuple[float, float, float]:
    """``rate_range`` of the beats at ``times`` ((n,) s) from the ``readable`` intervals only ((n - 1,) bool,
    ``rate_intervals``): the slowest, mean and fastest heart rate, bpm."""
    return rate_range(heart_rate(times, readable)[readable], np.diff(times)[readable])


def nn_intervals(
    times: np.ndarray,
    labels: np.ndarray,
    excluded_s: np.ndarray | None = None,
    max_change: float | None = NN_MAX_CHANGE,
) -> np.ndarray:
    """The NN intervals of a recording: ``(k, 2)`` rows of (end time s, interval s), for every pair of
    consecutive beats both labelled N whose interval shares no time with an excluded stretch (touching one
    at a beat is allowed), and which differs from the NN interval just before it (ending where it starts) by
    at most ``max_change`` of that interval (None: any change). times: (n,) s, labels: (n,) str,
    excluded_s: (m, 2) start and end, s (``hrv_excluded``)."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) < 2:
        return np.zeros((0, 2))
    normal = np.asarray(labels) == "N"
    rr = np.diff(times)
    keep = normal[:-1] & normal[1:] & (rr > 0)
    if excluded_s is not None:
        keep &= ~overlapping(times[:-1], times[1:], excluded_s, touching=False)
    if max_change is not None:
        # Each interval against the one before it, when both are NN intervals (the first of a stretch stays).
        jump = np.zeros(len(rr), dtype=bool)
        jump[1:] = keep[:-1] & (np.abs(rr[1:] - rr[:-1]) > max_change * rr[:-1])
        keep &= ~jump
    return np.stack([times[1:][keep], rr[keep]], axis=1)


def episode_stretches(episodes: pd.DataFrame, kinds: tuple[str, ...]) -> np.ndarray:
    """(k, 2) start and end (s) of the ``episodes`` of the types ``kinds``."""
    rows = episodes[episodes["type"].isin(kinds)]
    return rows[["start_s", "end_s"]].to_numpy(dtype=np.float64)


def hrv_excluded(episodes: pd.DataFrame) -> np.ndarray:
    """(k, 2) start and end (s) of the episodes whose intervals HRV leaves out (``HRV_EXCLUDES``)."""
    return episode_stretches(episodes, HRV_EXCLUDES)


def rate_intervals(times: np.ndarray, episodes: pd.DataFrame | None) -> np.ndarray:
    """(n - 1,) bool: which intervals between the beats at ``times`` ((n,) s) the heart rate is read from:
    those that share no time with a ``RATE_EXCLUDES`` episode (all of them without ``episodes``)."""
    return ~_crossing(times, episodes, RATE_EXCLUDES)


def run_breaks(times: np.ndarray, episodes: pd.DataFrame | None) -> np.ndarray:
    """(n,) bool: the beats at ``times`` ((n,) s) that a run of ectopic beats cannot carry on into, the interval
    before them sharing time with a ``RUN_BREAKS`` episode (``run_spans``' ``parted``; none without ``episodes``)."""
    return np.concatenate([[False], _crossing(times, episodes, RUN_BREAKS)]) if len(times) else np.zeros(0, bool)


def _crossing(times: np.ndarray, episodes: pd.DataFrame | None, kinds: tuple[str, ...]) -> np.ndarray:
    """(n - 1,) bool: which intervals between the beats at ``times`` ((n,) s) share time with an episode of
    ``kinds`` (none without ``episodes``)."""
    times = np.asarray(times, dtype=np.float64)
    if episodes is None or len(times) < 2:
        return np.zeros(max(len(times) - 1, 0), dtype=bool)
    return overlapping(times[:-1], times[1:], episode_stretches(episodes, kinds), touching=False)


def readable_heart_rate(times: np.ndarray, episodes: pd.DataFrame | None) -> np.ndarray:
    """``heart_rate`` for a trend: (n - 1,) bpm at each beat after the first (times: (n,) s), from the
    ``rate_intervals`` only, and NaN (a gap in a drawn line) at each interval that shares time with a
    ``RATE_EXCLUDES`` episode of ``episodes``."""
    readable = rate_intervals(times, episodes)
    return np.where(readable, heart_rate(times, readable), np.nan)


def hrv(nn: np.ndarray) -> dict[str, float]:
    """SDNN and RMSSD (ms) and pNN50 (%) of NN intervals ``nn`` (``nn_intervals``), by NeuroKit2; NaN for
    each when they span less than ``HRV_MIN_S``."""
    empty = {"sdnn_ms": np.nan, "rmssd_ms": np.nan, "pnn50": np.nan}
    if len(nn) < 3 or nn[:, 1].sum() < HRV_MIN_S:
        return empty
    import neurokit2 as nk

    with warnings_ignored():  # NeuroKit2 warns about indices the short stretches cannot give
        table = nk.hrv_time({"RRI": nn[:, 1] * 1000.0, "RRI_Time": nn[:, 0]})
    return {
        "sdnn_ms": float(table["HRV_SDNN"].iloc[0]),
        "rmssd_ms": float(table["HRV_RMSSD"].iloc[0]),
        "pnn50": float(table["HRV_pNN50"].iloc[0]),
    }


def _nn_with_unedited(times: np.ndarray, labels: np.ndarray, episodes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The recording's NN intervals (``nn_intervals``, edited) and the end times (s) of those before the
    editing, for the share it left out (``_edited_out_percent``)."""
    excluded = hrv_excluded(episodes)
    return nn_intervals(times, labels, excluded), nn_intervals(times, labels, excluded, max_change=None)[:, 0]


def recording_hrv(times: np.ndarray, labels: np.ndarray, episodes: pd.DataFrame) -> dict[str, float]:
    """The whole recording's ``hrv`` (times: (n,) s, labels: (n,) str, its ``episodes``), with the NN
    intervals it is taken over (``nn_intervals``) and the share (%) the editing left out (``NN_MAX_CHANGE``;
    above ``HRV_EDITED_OUT_ABOVE`` the HRV is unreliable)."""
    nn, unedited_ends = _nn_with_unedited(times, labels, episodes)
    edited_out = _edited_out_percent(unedited_ends, nn[:, 0], -np.inf, np.inf)
    return {**hrv(nn), "nn_intervals": len(nn), "edited_out_percent": edited_out}


def run_lengths(labels: list[str], cls: str, parted: np.ndarray | None = None) -> list[int]:
    """How many beats each run of ``cls`` in ``labels`` ((n,) str) holds, in order. A beat left unlabelled
    ('') neither counts nor parts a run. ``parted``: (n,) bool, the beats a run cannot carry on into (the
    interval before them crosses a lead-off: ``rate_intervals``), or None."""
    return [beats for _, beats in run_spans(labels, cls, parted)]


def run_spans(labels: list[str], cls: str, parted: np.ndarray | None = None) -> list[tuple[int, int]]:
    """``run_lengths``'s runs as ``(first, beats)``: the index in ``labels`` of each run's first beat, and how
    many beats it holds."""
    stretch = np.zeros(len(labels), dtype=np.int64) if parted is None else np.cumsum(np.asarray(parted, dtype=bool))
    labelled = [(int(k), label, i) for i, (k, label) in enumerate(zip(stretch, labels)) if label]
    spans = []
    for (_, label), group in groupby(labelled, key=lambda beat: beat[:2]):
        if label == cls:
            members = [i for _, _, i in group]
            spans.append((members[0], len(members)))
    return spans


def _runs(spans: list[tuple[int, int]], inside: np.ndarray) -> tuple[int, int]:
    """Couplets (2 in a row) and runs (3 or more) among ``spans`` (``run_spans``) that begin at a beat
    ``inside`` ((n,) bool)."""
    lengths = [beats for first, beats in spans if inside[first]]
    return sum(n == 2 for n in lengths), sum(n >= 3 for n in lengths)


def _stretches_within(stretches: np.ndarray, start: float, end: float) -> float:
    """How much of ``[start, end)`` (s) the ``stretches`` ((k, 2) start and end, s) cover, s."""
    return float(np.clip(np.minimum(stretches[:, 1], end) - np.maximum(stretches[:, 0], start), 0, None).sum())


def _overlap_s(episodes: pd.DataFrame, kind: str, start: float, end: float) -> float:
    """How much of ``[start, end)`` (s) the episodes of type ``kind`` cover, s."""
    rows = episodes.loc[episodes["type"] == kind, ["start_s", "end_s"]]
    return _stretches_within(rows.to_numpy(np.float64).reshape(-1, 2), start, end)


def _analysable_overlap_s(episodes: pd.DataFrame, kind: str, start: float, end: float) -> float:
    """How much of ``[start, end)`` (s) the episodes of type ``kind`` cover outside ``noise`` episodes, s: an
    AF episode's minutes of lead-off are not minutes of AF read (nor more than the analysable minutes)."""
    spans = episodes.loc[episodes["type"] == kind, ["start_s", "end_s"]].to_numpy(np.float64).reshape(-1, 1, 2)
    noise = episodes.loc[episodes["type"] == "noise", ["start_s", "end_s"]].to_numpy(np.float64).reshape(1, -1, 2)
    # each episode's overlap with each noise stretch (episodes of one type do not overlap each other)
    both = np.stack([np.maximum(spans[..., 0], noise[..., 0]), np.minimum(spans[..., 1], noise[..., 1])], axis=-1)
    return _stretches_within(spans.reshape(-1, 2), start, end) - _stretches_within(both.reshape(-1, 2), start, end)


def _edited_out_percent(unedited_ends: np.ndarray, kept_ends: np.ndarray, start: float, end: float) -> float:
    """The share (%) of the NN intervals ending in [start, end) that the editing left out; NaN where there
    were none to edit (an hour in AF, or without beats: nothing was left out, nor kept)."""
    before = int(((unedited_ends >= start) & (unedited_ends < end)).sum())
    after = int(((kept_ends >= start) & (kept_ends < end)).sum())
    return 100.0 * (before - after) / before if before else float("nan")


def hourly_table(
    times: np.ndarray,
    labels: np.ndarray,
    duration_s: float,
    episodes: pd.DataFrame,
    classes: tuple[str, ...] = ("N", "S", "V", "F", "Q"),
    start: Start = None,
    filtered: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per hour of a recording of ``duration_s`` seconds (a recording under an hour gets one
    partial row): hour, start_s, end_s, clock, analysable_min, muscle_filtered_min, beats, one count per class,
    hr_min / hr_mean / hr_max (bpm), S and V couplets and runs, pauses, af_min, afl_min, and sdnn_ms, rmssd_ms,
    pnn50 (NaN for an hour with under ``HRV_MIN_S`` of NN intervals) with nn_edited_out_percent, the share of the
    hour's NN intervals the editing left out (``NN_MAX_CHANGE``; above ``HRV_EDITED_OUT_ABOVE`` the hour's HRV is
    unreliable).

    times : (n_beats,) s of the labelled beats, ascending; labels : (n_beats,) str; episodes : the
    recording's ``episodes.find_episodes`` table (its ``noise`` rows are the unanalysable stretches; HRV
    leaves out the intervals of its ``HRV_EXCLUDES`` rows); start : the wall-clock time of the recording's
    first sample (``data.clock``), or None. With a start the rows are clock hours, as a Holter report gives
    them (a recording started at 10:23:05 has a first row to 11:00:00), and ``clock`` is each row's start
    (``data.clock.clock_at``); without one the rows are hours from the start and ``clock`` is "".
    filtered : (k, 2) start and end, s, of the stretches low-passed for muscle noise (``data.muscle``), or None.
    """
    first_cut = HOUR_S - seconds_past_hour(start)  # where the clock's first hour ends in it
    return _period_table(times, labels, duration_s, episodes, classes, start, filtered, HOUR_S, first_cut, "hour")


def daily_table(
    times: np.ndarray,
    labels: np.ndarray,
    duration_s: float,
    episodes: pd.DataFrame,
    classes: tuple[str, ...] = ("N", "S", "V", "F", "Q"),
    start: Start = None,
    filtered: np.ndarray | None = None,
) -> pd.DataFrame:
    """``hourly_table``'s columns per day of the recording: by the calendar where ``start`` is known (a
    recording started at 10:23:05 has a first row to midnight), else per 24 hours from its start; ``day``
    counts from 1 and the HRV is the day's (SDNN over a day's NN intervals, the 24-hour SDNN of a Holter)."""
    first_cut = DAY_S - seconds_past_midnight(start)
    return _period_table(times, labels, duration_s, episodes, classes, start, filtered, DAY_S, first_cut, "day", 1)


def _period_table(
    times: np.ndarray,
    labels: np.ndarray,
    duration_s: float,
    episodes: pd.DataFrame,
    classes: tuple[str, ...],
    start: Start,
    filtered: np.ndarray | None,
    period_s: float,
    first_cut_s: float,
    name: str,
    first_number: int = 0,
) -> pd.DataFrame:
    """One row per ``period_s`` of the recording, cut at ``first_cut_s`` and every ``period_s`` after it; the
    rows numbered from ``first_number`` in the column ``name`` (``hourly_table``'s columns)."""
    filtered = np.zeros((0, 2)) if filtered is None else np.asarray(filtered, dtype=np.float64).reshape(-1, 2)
    times = np.asarray(times, dtype=np.float64)
    labels = np.asarray(labels, dtype=str)
    nn, unedited_ends = _nn_with_unedited(times, labels, episodes)
    rr = np.diff(times)
    readable = rate_intervals(times, episodes)
    rate = heart_rate(times, readable)
    # The runs are read over the whole recording and each counted in the hour (day) of its first beat, as the
    # summary counts them: cut at the hour, four V beats across it read as a couplet in each of two hours.
    parted = run_breaks(times, episodes)  # the beats just after a lead-off
    spans = {cls: run_spans(labels.tolist(), cls, parted) for cls in ("S", "V")}
    rows = []
    cuts = np.arange(first_cut_s, duration_s, period_s)
    edges = np.concatenate([[0.0], cuts, [max(duration_s, 0.0)]])
    for number, (row_start, end) in enumerate(zip(edges[:-1], edges[1:]), first_number):
        row_start, end = float(row_start), float(end)
        inside = (times >= row_start) & (times < end)
        period_labels = labels[inside].tolist()
        ending = inside[1:] & readable  # the intervals that end in this row's hour or day
        period_rate, period_rr = rate[ending], rr[ending]
        s_couplets, s_runs = _runs(spans["S"], inside)
        v_couplets, v_runs = _runs(spans["V"], inside)
        row = {
            name: number,
            "start_s": row_start,
            "end_s": end,
            "clock": clock_at(start, row_start),
            "analysable_min": (end - row_start - _overlap_s(episodes, "noise", row_start, end)) / 60.0,
            "muscle_filtered_min": _stretches_within(filtered, row_start, end) / 60.0,
            "beats": int(inside.sum()),
            **{label: period_labels.count(label) for label in classes},
            **dict(zip(("hr_min", "hr_mean", "hr_max"), rate_range(period_rate, period_rr))),
            "s_couplets": s_couplets,
            "s_runs": s_runs,
            "v_couplets": v_couplets,
            "v_runs": v_runs,
            "pauses": int(((episodes["type"] == "pause") & episodes["start_s"].between(row_start, end, "left")).sum()),
            "af_min": _analysable_overlap_s(episodes, "AF", row_start, end) / 60.0,
            "afl_min": _analysable_overlap_s(episodes, "AFL", row_start, end) / 60.0,
            **hrv(nn[(nn[:, 0] >= row_start) & (nn[:, 0] < end)]),
            "nn_edited_out_percent": _edited_out_percent(unedited_ends, nn[:, 0], row_start, end),
        }
        rows.append(row)
    return pd.DataFrame(rows)
