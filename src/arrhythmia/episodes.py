"""Rhythm episodes of a labelled recording: what a Holter reader looks for, not beat by beat.

From the beats ``predict`` labelled (R-peak samples and AAMI labels) and the stretches the signal cannot be
analysed in (``data.quality.unanalysable``), ``find_episodes`` lists:

- ``AF``: atrial fibrillation, where the RR intervals are irregular (``EpisodeConfig.af_irregularity``:
  the median change from one interval to the next, ignoring intervals next to a V beat) and the beats
  have no P wave (``af_p_wave_below``: the P stretch of a beat is unlike its neighbours',
  ``context.p_wave_consistency``) for at least ``af_min_s``; thresholds chosen on MIT-BIH DS1 against its
  rhythm annotations (docs/labelling.md, "Rhythm episodes"). Without P-wave consistency (``p_wave`` None)
  irregularity alone decides. Intervals next to a beat that looks like noise (``af_unalike_below``,
  ``af_noise_above``) are left out of the irregularity too.
- ``VT`` / ``SVT``: three or more V (S) beats in a row faster than ``run_bpm``, a run ending at an interval
  slower than ``run_break_bpm`` (a pause between two runs); an SVT run inside an AF or AFL episode is the
  fibrillation's (flutter's) ventricular response and is not listed (``svt_in_af``); nor is a VT run of
  beats unlike each other in a noisy signal (``vt_unalike_below``, ``vt_noise_above``): noise the detector
  read as beats, listed as ``artefact`` instead.
- ``bigeminy`` / ``trigeminy``: a V beat after every normal beat, or after every second one, at least
  ``bigeminy_min_v`` (``trigeminy_min_v``) V beats in a row of the pattern.
- ``pause``: an RR interval of at least ``pause_s``, unless the gap overlaps an unanalysable stretch (a
  lead that came off is ``noise``, never a pause) or the signal inside it swings like a QRS complex
  (``pause_quiet_below``: ventricular flutter, or noise that hid the beats, is no pause).
- ``bradycardia`` / ``tachycardia``: the heart rate (``hourly.heart_rate``) below
  ``bradycardia_bpm`` or above ``tachycardia_bpm`` for at least ``sustained_s``.
- ``noisy``: signal readable but noisy (``EpisodeConfig.rate_noise_above``): the intervals around beats in noise
  give no heart rate and no HRV (beats are missed there and noise read as beats).
- ``noise``: each unanalysable stretch. Every other episode ends where one begins and starts again after it
  (the beats either side of a lead-off are not neighbours in the rhythm), so none counts minutes no one saw.
- ``VF``: ventricular flutter or fibrillation, from the signal itself (``data.ventricular``): a stretch of at
  least ``vf_min_s`` that is one large fast wave without QRS complexes or baseline. The beats detected inside
  it (some of its waves) start no other episode, as in noise, and its intervals are no pause.

- ``AFL``: atrial flutter, where the atrial activity between the beats (``data.atrial``) has its dominant
  frequency at a flutter rate (``afl_hz``) holding most of its power (``afl_organisation``) for at least
  ``afl_min_s``, the beats mostly supraventricular; no AF is reported inside it. RR intervals cannot find
  flutter (its ventricular response is as often regular as not); a coarse or irregular flutter whose waves
  are not one sharp spectral peak (MIT-BIH 203's) is reported as ``AF`` when irregular.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arrhythmia.data.context import rhythm_irregularity
from arrhythmia.data.quality import merged_stretches, overlapping, true_runs
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.hourly import heart_rate, rate_range
from arrhythmia.settings import fits, settings_from

#: VT and SVT runs: at least this many V (S) beats in a row.
RUN_MIN_BEATS = 3
#: The columns of the episode table (``episodes.csv``).
EPISODE_COLUMNS = ("type", "start_s", "end_s", "beats", "max_hr_bpm", "mean_hr_bpm")


#: The episode settings that may be 0 (no bridging, every interval loud or quiet); the others must be above.
MAY_BE_ZERO = frozenset({"af_bridge_s", "pause_quiet_below", "af_irregularity", "vt_noise_above", "af_noise_above"})


@dataclass
class EpisodeConfig:
    """Thresholds of ``find_episodes`` (the clinical conventions unless said otherwise).

    pause_s : an RR interval at least this long is a pause.
    pause_quiet_below : ... when the signal inside it moves less than this share of the beats' QRS band
        (``data.quality.gap_activity``): a pause is quiet, and an interval as loud as that is ventricular
        flutter, or noise that hid the beats. Chosen on MIT-BIH DS1 (docs/labelling.md); None: every long interval.
    bradycardia_bpm, tachycardia_bpm : sustained heart rate below / above these.
    sustained_s : bradycardia and tachycardia last at least this long.
    run_bpm : VT and SVT runs are faster than this (their mean rate).
    run_break_bpm : a run of V (S) beats ends at an interval slower than this: V V V, a pause, V V V is two
        runs, each read against ``run_bpm`` on its own, not one whose mean rate the pause brings down (MIT-BIH
        106's three V beats at 130 bpm and the V beats after a 1.5 s pause); None: every stretch of
        consecutive V (S) beats is one run. Chosen on MIT-BIH DS1 (docs/choosing-the-rhythm-settings.md, "VT
        episodes").
    af_irregularity : median |log(RR_i / RR_i-1)| over ``af_beats`` intervals on each side above which the
        rhythm is irregular (sinus rhythm with the odd ectopic beat: 0.02-0.05). This and the other ``af_``
        settings were chosen on MIT-BIH DS1 records (``benchmarks/rhythm.py --records ds1 --grid``).
    af_beats : the intervals on each side that irregularity, and the median P-wave consistency, are taken over.
    af_p_wave_below : a stretch whose median P-wave consistency (``context.p_wave_consistency``) is this or
        more has P waves, and is not AF however irregular (sinus arrhythmia, frequent atrial ectopy); None:
        irregularity alone.
    af_min_s : an irregular stretch shorter than this is not AF.
    af_bridge_s : irregular stretches less than this apart are one (a few organised beats inside AF).
    af_skip_labels : beats whose intervals the irregularity ignores (ectopic beats reset the rhythm).
    bigeminy_min_v, trigeminy_min_v : the fewest V beats in a row of the pattern that make an episode.
        Three N-N-V cycles come by chance among frequent ectopic beats, and MIT-BIH's annotators did not
        call them trigeminy: on DS1, with the reference beat labels themselves, 3 finds every reference
        trigeminy at 59% episode +P, 4 finds 87% at 75% (docs/labelling.md).
    afl_organisation : a beat's atrial activity is flutter-like where its window's organisation index
        (``data.atrial.atrial_activity``) is at least this and its dominant frequency within ``afl_hz``
        (atrial rates of 240-420 a minute; 207's ventricular flutter, at 3-3.75 Hz, stays out); chosen on
        MIT-BIH DS1 (docs/labelling.md); None: no AFL.
    afl_min_mv : ... and its flutter waves (the dominant peak and its harmonics) at least this RMS amplitude,
        mV: a lead's noise can hold a steady peak that small (MIT-BIH 101's V1, 0.1 mV QRS: 0.007-0.023 mV),
        flutter waves 0.1 mV high are 0.029 mV RMS (MIT-BIH 203's atrial activity: 0.05-0.18); NaN (unknown,
        a table from before it was measured): no floor; None: no floor.
    afl_min_s : flutter-like beats in a row for at least this long, most of them not V, are an AFL episode.
    vf_min_s : a stretch of flutter-like signal (``data.ventricular.ventricular_flutter``) at least this
        long is a VF episode; chosen on MIT-BIH DS1 (docs/labelling.md); None: no VF.
    vt_unalike_below, vt_noise_above : a beat whose QRS complex correlates with the one before's by less than
        ``vt_unalike_below`` where the signal around it is noisy (``data.quality.beat_noise``: the noise a
        share of the beats' QRS band) looks like noise the detector read as a beat. A VT run of such beats
        (the run's medians; noise over ``vt_noise_above``) is not listed: both are needed, since a true run of
        beats of several shapes sits in a quiet signal and a true run in noise repeats one shape; it is listed
        as an ``artefact`` episode instead, for a reviewer to look at. Chosen on MIT-BIH DS1 with synthetic
        noise (docs/labelling.md); ``vt_unalike_below`` None: every VT run is listed.
    af_unalike_below, af_noise_above : the same for AF, beat by beat: the intervals next to a beat unlike the
        one before (under ``af_unalike_below``) where the noise is over ``af_noise_above`` are left out of the
        irregularity, as those next to V beats are (a false beat splits an interval in two, which reads as
        irregular). Lower likeness and higher noise than VT's: fibrillation waves lie in the QRS band too and,
        on a lead like V1, blur the beats' likeness. Chosen on MIT-BIH DS1 (docs/labelling.md); either None: none
        left out.
    rate_noise_above, rate_noise_times_median : a beat whose noise (``data.quality.beat_noise``: the noise around
        it, a share of the beats' QRS band) is over ``rate_noise_above`` and over ``rate_noise_times_median``
        times the recording's median is in noise: beats are missed there and noise is read as beats, so the
        intervals on either side of it give no heart rate and no HRV (a ``noisy`` episode from the beat before
        to the beat after). Against the recording's own median, so that a recording noisy throughout keeps its
        heart rate. Chosen on MIT-BIH DS1 with synthetic noise (docs/labelling.md); None: none.
    svt_in_af : also report an SVT run that overlaps an AF (or AFL) episode. Off: in atrial fibrillation a run
        of fast beats called S is the fibrillation's ventricular response, not a supraventricular tachycardia,
        and a Holter reader, like MIT-BIH's rhythm notes, counts it as AF (on DS1, through the CV fold models,
        this drops one false SVT episode per training seed and loses none; docs/labelling.md); likewise in flutter.
    """

    pause_s: float = 2.0
    pause_quiet_below: float | None = 0.22
    bradycardia_bpm: float = 50.0
    tachycardia_bpm: float = 100.0
    sustained_s: float = 30.0
    run_bpm: float = 100.0
    run_break_bpm: float | None = 80.0
    af_irregularity: float = 0.08
    af_beats: int = 20
    af_p_wave_below: float | None = 0.8
    af_min_s: float = 60.0
    af_bridge_s: float = 0.0
    af_skip_labels: tuple[str, ...] = ("V",)
    afl_organisation: float | None = 0.55
    afl_hz: tuple[float, float] = (4.0, 7.0)
    afl_min_mv: float | None = 0.025
    afl_min_s: float = 30.0
    vf_min_s: float | None = 4.0
    bigeminy_min_v: int = 3
    trigeminy_min_v: int = 4
    svt_in_af: bool = False
    vt_unalike_below: float | None = 0.5
    vt_noise_above: float = 0.03
    af_unalike_below: float | None = 0.3
    af_noise_above: float | None = 0.05
    rate_noise_above: float | None = 0.05
    rate_noise_times_median: float = 2.0

    @classmethod
    def from_value(cls, value: dict | EpisodeConfig | None) -> EpisodeConfig:
        """``None``: the defaults; a dict (``--episode-setting``, ``summary.json``): the defaults with its
        settings, names and types checked (one error line for a wrong one)."""
        if isinstance(value, EpisodeConfig):
            return value
        config = settings_from(cls, value or {}, "episode setting")
        for key, given in (value or {}).items():  # thresholds of time, rate, counts and shares: none below 0
            numbers = given if isinstance(given, (list, tuple)) else [given]
            may_be_zero = key in MAY_BE_ZERO
            for number in numbers:
                if fits(number, float) and (
                    not math.isfinite(number) or number < 0 or (number == 0 and not may_be_zero)
                ):
                    bound = ">= 0" if may_be_zero else "> 0"
                    raise ArrhythmiaError(f"episode setting {key}={given!r}: expected a number {bound}")
        return config


def _row(kind: str, start: float, end: float, beats: int, max_hr: float, mean_hr: float) -> dict:
    return dict(zip(EPISODE_COLUMNS, (kind, float(start), float(end), int(beats), float(max_hr), float(mean_hr))))


def _rows(kind: str, times: np.ndarray, stretches: list[tuple[int, int]], rate: np.ndarray | None = None) -> list[dict]:
    """Episode rows of beats ``first..last`` (inclusive) of each stretch; times: (n_beats,) seconds. The
    fastest rate is 60 over the shortest interval inside (a run of a few beats is as fast as its fastest
    beat), or with ``rate`` ((n_beats - 1,) bpm, ``hourly.heart_rate``), for a rhythm held for a minute or
    more, the fastest of the running median the summary's maximum is read from, so that one premature beat
    does not set a bradycardia's maximum."""
    rows = []
    for first, last in stretches:
        inside = np.diff(times[first : last + 1])
        positive = inside[inside > 0]
        fastest = 60.0 / positive.min() if len(positive) else np.nan
        mean = 60.0 * len(positive) / positive.sum() if len(positive) else np.nan
        if rate is not None and len(positive):
            fastest = rate_range(rate[first:last][inside > 0], positive)[2]
        rows.append(_row(kind, times[first], times[last], last - first + 1, fastest, mean))
    return rows


def _unbroken(stretches: list[tuple[int, int]], crosses: np.ndarray) -> list[tuple[int, int]]:
    """The ``(first, last)`` beat stretches cut wherever an interval between two of their beats crosses a
    stretch with no beat-by-beat rhythm to read (``crosses``: (n_beats - 1,) bool, interval i -> i + 1): the
    beats either side of a lead-off are neighbours in the beat list, not in the rhythm, so no episode runs
    through one and none counts its minutes."""
    pieces = []
    for first, last in stretches:
        cuts = first + np.flatnonzero(crosses[first:last])
        pieces += list(zip([first, *(cuts + 1).tolist()], [*cuts.tolist(), last]))
    return [(int(a), int(b)) for a, b in pieces]


def _label_runs(
    labels: np.ndarray,
    times: np.ndarray,
    label: str,
    min_beats: int,
    bpm: float,
    break_bpm: float | None,
    crosses: np.ndarray,
) -> list[tuple[int, int]]:
    """First and last beat of each run: at least ``min_beats`` (2 or more) beats labelled ``label`` in a row,
    none of its intervals slower than ``break_bpm`` (None: no limit) or crossing an unanalysable stretch
    (``crosses``, as ``_unbroken`` takes it), with a mean rate over ``bpm``."""
    same = labels == label
    linked = same[:-1] & same[1:] & ~crosses  # linked[i]: beats i and i + 1 are one run
    if break_bpm is not None:
        linked &= np.diff(times) < 60.0 / break_bpm
    runs = []
    for first, last_link in true_runs(linked):
        last = last_link + 1
        span = times[last] - times[first]
        if last - first + 1 >= min_beats and span > 0 and 60.0 * (last - first) / span > bpm:
            runs.append((int(first), int(last)))
    return runs


def _patterns(labels: np.ndarray, every: int, min_ectopics: int, crosses: np.ndarray) -> list[tuple[int, int]]:
    """Stretches where an isolated V beat follows every ``every - 1`` non-V beats (bigeminy: 2,
    trigeminy: 3), with at least ``min_ectopics`` V beats, no interval of it crossing an unanalysable stretch
    (``crosses``, as ``_unbroken`` takes it); from the normal beat before the first V to the last V."""
    is_v = labels == "V"
    neighbour_v = np.zeros(len(is_v), dtype=bool)
    neighbour_v[1:] |= is_v[:-1]
    neighbour_v[:-1] |= is_v[1:]
    isolated = np.flatnonzero(is_v & ~neighbour_v)
    chains, chain = [], []
    for i in isolated:
        if chain and i - chain[-1] == every and not is_v[chain[-1] + 1 : i].any() and not crosses[chain[-1] : i].any():
            chain.append(i)
        else:
            if len(chain) >= min_ectopics:
                chains.append(chain)
            chain = [i]
    if len(chain) >= min_ectopics:
        chains.append(chain)
    # The normal beat(s) before the first V join the stretch unless a gap lies between them.
    return [(c[0] - _reach_back(c[0], every - 1, crosses), c[-1]) for c in chains]


def _reach_back(beat: int, wanted: int, crosses: np.ndarray) -> int:
    """How many of the ``wanted`` beats before ``beat`` lie on its side of every unanalysable stretch."""
    back = 0
    while back < wanted and beat - back - 1 >= 0 and not crosses[beat - back - 1]:
        back += 1
    return back


def find_episodes(
    samples: np.ndarray,
    labels: np.ndarray,
    fs: float,
    unanalysable: np.ndarray | None = None,
    config: EpisodeConfig | None = None,
    p_wave: np.ndarray | None = None,
    atrial: tuple[np.ndarray, ...] | None = None,
    gap_activity: np.ndarray | None = None,
    ventricular: np.ndarray | None = None,
    beat_noise: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The rhythm episodes of one recording (see the module docstring).

    samples : (n_beats,) float, R-peak samples (between samples too), ascending; labels : (n_beats,) str, AAMI
    labels ('' for a beat left unlabelled); fs : Hz; unanalysable : (k, 2) start and end samples of the
    stretches with no analysable signal (``data.quality.unanalysable``), or None; p_wave : (n_beats,) float, each beat's
    P-wave consistency (``context.p_wave_consistency``; NaN unknown), or None; atrial : each beat's
    atrial activity, ``(dominant_hz, organisation, mv)`` ((n_beats,) float each,
    ``data.atrial.atrial_activity``; NaN unknown; ``mv`` may be left out: no floor), or None (no AFL);
    gap_activity : (n_beats,) float, how much the signal moves in the interval after each beat
    (``data.quality.gap_activity``; NaN unknown), or None (every long interval is a pause); ventricular :
    (k, 2) start and end samples of the stretches that look like ventricular flutter
    (``data.ventricular.ventricular_flutter``), or None (no VF); beat_noise : each beat's QRS likeness to
    the beat before and the noise around it, ``(likeness, noise)`` ((n_beats,) float each,
    ``data.quality.beat_noise``; NaN unknown), or None (no beat is read as noise: every VT run listed, every
    interval in AF's irregularity).

    Returns a table with ``EPISODE_COLUMNS``, one row per episode, ordered by start: type, start and end
    (s from the start of the recording; a pause spans its RR interval), beats in it, and the fastest
    (60 / the shortest RR inside; for AF, AFL, bradycardia and tachycardia, the fastest running median of
    ``hourly.heart_rate``, as the summary's) and mean heart rate, bpm.
    """
    config = config or EpisodeConfig()
    times = np.asarray(samples, dtype=np.float64) / fs
    labels = np.asarray(labels, dtype=str)
    noise_s = _stretches_s(unanalysable, fs)
    vf_s = _stretches_s(ventricular if config.vf_min_s is not None else None, fs)
    vf_s = vf_s[vf_s[:, 1] - vf_s[:, 0] >= (config.vf_min_s or 0.0)]
    lost_s = np.concatenate([noise_s, vf_s])  # no beat-by-beat rhythm to read in either
    in_noise = overlapping(times, times, lost_s)
    crosses = overlapping(times[:-1], times[1:], lost_s)  # intervals that span a stretch with no rhythm to read
    rows: list[dict] = []
    noisy_s = _noisy_stretches(times, beat_noise, config)
    for kind, stretches in (("noise", noise_s), ("VF", vf_s), ("noisy", noisy_s)):
        for start, end in stretches:
            beats = int(((times >= start) & (times <= end)).sum())
            rows.append(_row(kind, start, end, beats, np.nan, np.nan))
    if len(times) >= 2:
        clean = np.where(in_noise, "", labels)  # beats detected in noise start no episode
        skipped = np.isin(labels, list(config.af_skip_labels))
        if beat_noise is not None and config.af_unalike_below is not None and config.af_noise_above is not None:
            skipped |= _noise_like(beat_noise, config.af_unalike_below, config.af_noise_above)
        afl = _afl_stretches(times, labels, in_noise, crosses, config, atrial)
        in_afl = np.zeros(len(times), dtype=bool)
        for first, last in afl:
            in_afl[first : last + 1] = True
        af = _af_stretches(times, skipped, in_noise | in_afl, crosses, config, p_wave)
        svt = _label_runs(clean, times, "S", RUN_MIN_BEATS, config.run_bpm, config.run_break_bpm, crosses)
        if not config.svt_in_af:  # fast beats in AF or AFL are its ventricular response, not a separate run
            svt = [(a, b) for a, b in svt if not any(a <= last and b >= first for first, last in af + afl)]
        vt = _label_runs(clean, times, "V", RUN_MIN_BEATS, config.run_bpm, config.run_break_bpm, crosses)
        if beat_noise is not None and config.vt_unalike_below is not None:
            of_noise = [run for run in vt if _noise_run(run, beat_noise, config)]
            vt = [run for run in vt if run not in of_noise]
            rows += _rows("artefact", times, of_noise)  # listed apart, for a reviewer to look at
        rows += _rows("VT", times, vt)
        rows += _rows("SVT", times, svt)
        rows += _rows("bigeminy", times, _patterns(clean, 2, config.bigeminy_min_v, crosses))
        rows += _rows("trigeminy", times, _patterns(clean, 3, config.trigeminy_min_v, crosses))
        rows += _pauses(times, lost_s, config.pause_s, config.pause_quiet_below, gap_activity)
        rate = heart_rate(times, ~overlapping(times[:-1], times[1:], noisy_s, touching=False))  # none from noise
        rows += _sustained_rate(times, rate, in_noise, crosses, config)
        rows += _rows("AF", times, af, rate)
        rows += _rows("AFL", times, afl, rate)
    table = pd.DataFrame(rows, columns=list(EPISODE_COLUMNS))
    return table.sort_values(["start_s", "type"], kind="stable").reset_index(drop=True)


def _noise_run(run: tuple[int, int], beat_noise: tuple[np.ndarray, np.ndarray], config: EpisodeConfig) -> bool:
    """Whether the beats ``run`` (first, last) are noise the detector read as beats: unlike each other
    (the second beat on, each against the one before) in a noisy signal; unknown (NaN): not noise."""
    first, last = run
    likeness, noise = (np.asarray(values, dtype=np.float64) for values in beat_noise)
    return _known_median(likeness[first + 1 : last + 1]) < config.vt_unalike_below and (
        _known_median(noise[first : last + 1]) > config.vt_noise_above
    )


def _noisy_stretches(
    times: np.ndarray, beat_noise: tuple[np.ndarray, np.ndarray] | None, config: EpisodeConfig
) -> np.ndarray:
    """(k, 2) start and end (s) of the stretches whose intervals give no heart rate (``rate_noise_above``):
    each run of beats in noise, from the beat before it to the beat after it; none without ``beat_noise``."""
    if beat_noise is None or config.rate_noise_above is None or len(times) < 2:
        return np.zeros((0, 2))
    noise = np.asarray(beat_noise[1], dtype=np.float64)
    if not np.isfinite(noise).any():
        return np.zeros((0, 2))
    border = max(config.rate_noise_above, config.rate_noise_times_median * float(np.nanmedian(noise)))
    with np.errstate(invalid="ignore"):  # NaN: unknown, not noisy
        noisy = noise > border
    last = len(times) - 1
    runs = [(times[max(first - 1, 0)], times[min(final + 1, last)]) for first, final in true_runs(noisy)]
    return merged_stretches(np.array(runs, dtype=np.float64))  # one clean beat between two runs: one stretch


def _noise_like(beat_noise: tuple[np.ndarray, np.ndarray], unalike_below: float, noise_above: float) -> np.ndarray:
    """(n_beats,) bool: the beats unlike the one before in a noisy signal (``beat_noise``: likeness, noise);
    unknown (NaN): not."""
    likeness, noise = (np.asarray(values, dtype=np.float64) for values in beat_noise)
    return (likeness < unalike_below) & (noise > noise_above)


def _known_median(values: np.ndarray) -> float:
    """The median of the finite ``values``; NaN where there are none."""
    known = values[np.isfinite(values)]
    return float(np.median(known)) if len(known) else np.nan


def _stretches_s(stretches: np.ndarray | None, fs: float) -> np.ndarray:
    """(k, 2) start and end samples (or None: none) as seconds."""
    return (np.zeros((0, 2)) if stretches is None else np.asarray(stretches, dtype=np.float64).reshape(-1, 2)) / fs


def beats_in(samples: np.ndarray, fs: float, episodes: pd.DataFrame, kind: str) -> np.ndarray:
    """(n_beats,) bool: which beats (R-peak ``samples`` at ``fs`` Hz) fall inside an episode of type ``kind``
    of ``episodes`` (a ``find_episodes`` table), its first and last beat included."""
    times = np.asarray(samples, dtype=np.float64) / fs
    stretches = episodes.loc[episodes["type"] == kind, ["start_s", "end_s"]].to_numpy(dtype=np.float64)
    return overlapping(times, times, stretches)


def _pauses(
    times: np.ndarray, lost_s: np.ndarray, pause_s: float, quiet_below: float | None, activity: np.ndarray | None
) -> list[dict]:
    rr = np.diff(times)
    rows = []
    # A gap across an unanalysable stretch (or ventricular flutter) is no heart that paused.
    lost = overlapping(times[:-1], times[1:], lost_s)
    if quiet_below is not None and activity is not None:
        lost |= np.asarray(activity, dtype=np.float64)[:-1] >= quiet_below  # NaN (unknown) stays a pause
    for i in np.flatnonzero((rr >= pause_s) & ~lost):
        rows.append(_row("pause", times[i], times[i + 1], 0, 60.0 / rr[i], 60.0 / rr[i]))
    return rows


def _sustained_rate(
    times: np.ndarray, rate: np.ndarray, in_noise: np.ndarray, crosses: np.ndarray, config: EpisodeConfig
) -> list[dict]:
    """Bradycardia and tachycardia: stretches of ``config.sustained_s`` or more whose running-median heart
    rate (``rate``: (n_beats - 1,) bpm, ``hourly.heart_rate``) is below / above the thresholds, and that cross
    no unanalysable stretch (``crosses``, as ``_unbroken`` takes it)."""
    at_beat = np.concatenate([rate[:1], rate])  # the first beat takes its successor's rate
    rows = []
    for kind, mask in (
        ("bradycardia", at_beat < config.bradycardia_bpm),
        ("tachycardia", at_beat > config.tachycardia_bpm),
    ):
        pieces = _unbroken(true_runs(mask & ~in_noise), crosses)
        stretches = [(a, b) for a, b in pieces if times[b] - times[a] >= config.sustained_s]
        rows += _rows(kind, times, stretches, rate)
    return rows


def _af_stretches(
    times: np.ndarray,
    skipped: np.ndarray,
    in_noise: np.ndarray,
    crosses: np.ndarray,
    config: EpisodeConfig,
    p_wave: np.ndarray | None,
) -> list[tuple[int, int]]:
    """First and last beat of each AF episode (see the module docstring); ``skipped``: (n_beats,) bool, the
    beats whose intervals the irregularity leaves out (``af_skip_labels``, and beats that look like noise);
    an episode ends at an unanalysable stretch (``crosses``, as ``_unbroken`` takes it)."""
    irregular = rhythm_irregularity(times, skipped, config.af_beats) > config.af_irregularity
    irregular &= ~in_noise
    if p_wave is not None and config.af_p_wave_below is not None:
        window = 2 * config.af_beats + 1
        local = pd.Series(np.asarray(p_wave, dtype=np.float64)).rolling(window, center=True, min_periods=1).median()
        irregular &= ~(local.to_numpy() >= config.af_p_wave_below)  # P waves: not AF; unknown (NaN): rhythm alone
    stretches = _unbroken(true_runs(irregular), crosses)
    # Bridge short regular gaps (a few organised beats inside an AF episode), then drop short stretches.
    merged: list[tuple[int, int]] = []
    for first, last in stretches:
        near = merged and times[first] - times[merged[-1][1]] < config.af_bridge_s
        if near and not crosses[merged[-1][1] : first].any():
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return [(a, b) for a, b in merged if times[b] - times[a] >= config.af_min_s]


def _afl_stretches(
    times: np.ndarray,
    labels: np.ndarray,
    in_noise: np.ndarray,
    crosses: np.ndarray,
    config: EpisodeConfig,
    atrial: tuple[np.ndarray, ...] | None,
) -> list[tuple[int, int]]:
    """First and last beat of each AFL episode (see ``EpisodeConfig.afl_organisation``)."""
    if atrial is None or config.afl_organisation is None:
        return []
    dominant, organisation, *amplitude = (np.asarray(values, dtype=np.float64) for values in atrial)
    with np.errstate(invalid="ignore"):  # NaN: unknown, not flutter-like
        flutter = (
            (organisation >= config.afl_organisation) & (dominant >= config.afl_hz[0]) & (dominant <= config.afl_hz[1])
        )
        if amplitude and config.afl_min_mv is not None:
            flutter &= ~(amplitude[0] < config.afl_min_mv)  # NaN amplitude: unknown, no floor
    stretches = _unbroken(true_runs(flutter & ~in_noise), crosses)
    return [
        (a, b)
        for a, b in stretches
        if times[b] - times[a] >= config.afl_min_s and np.mean(labels[a : b + 1] == "V") < 0.5
    ]
