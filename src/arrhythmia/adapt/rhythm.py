"""The patient's rhythm: whether a supraventricular beat is N or S read from its timing against the
patient's own rhythm, and the rules that relabel families and beats by when they come (``arrhythmia.adapt``,
step 4).

Every rule takes class probabilities (n_beats, n_classes) and returns them with some beats' largest
probability moved to the class the rule decides, so later steps and the reviewer's answers still see how
sure the network was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arrhythmia.adapt.families import family_medians, family_shares, lone_beats
from arrhythmia.data.context import RHYTHM_BEATS, rhythm_irregularity
from arrhythmia.data.quality import true_runs
from arrhythmia.errors import warnings_ignored


@dataclass
class Timing:
    """Each beat's timing against the patient's own rhythm (``context.local_rhythm``), (n_beats,) each:
    ``prematurity`` and ``irregularity`` over about half a minute of neighbours, ``long_prematurity``
    over about five minutes (``context.LONG_RHYTHM_BEATS``), against which the beats of a fast run still come early,
    ``rr_s``, the interval before each beat in seconds (inf for the first), and ``pattern_irregularity``, the
    irregularity at the lag where the rhythm repeats best (``context.pattern_irregularity``: low in bigeminy and
    trigeminy too), and ``times_s``, each beat's time in s (None: not measured)."""

    prematurity: np.ndarray
    irregularity: np.ndarray
    long_prematurity: np.ndarray | None = None
    rr_s: np.ndarray | None = None
    pattern_irregularity: np.ndarray | None = None
    times_s: np.ndarray | None = None


def relabel(probs: np.ndarray, rows: np.ndarray, target: int) -> None:
    """In place: each beat of ``rows`` (indices into ``probs``, (n_beats, n_classes)) called class
    ``target``, its largest probability moved to ``target`` and ``target``'s to the class it was called."""
    called = probs[rows].argmax(axis=1)
    top, given = probs[rows, called], probs[rows, target]
    probs[rows, target], probs[rows, called] = top, given


def decide_supraventricular(probs: np.ndarray, s: int, n: int, is_s: np.ndarray, is_n: np.ndarray) -> np.ndarray:
    """``probs`` with the larger of each beat's N and S probabilities moved to S where ``is_s``, to N where
    ``is_n``."""
    high, low = np.maximum(probs[:, s], probs[:, n]), np.minimum(probs[:, s], probs[:, n])
    out = probs.copy()
    out[is_s, s], out[is_s, n] = high[is_s], low[is_s]
    out[is_n, n], out[is_n, s] = high[is_n], low[is_n]
    return out


def _median_before(rr_s: np.ndarray, beats: int) -> np.ndarray:
    """(n,) the median of the ``beats`` finite intervals before each one of ``rr_s`` (n,) (fewer at the
    start; NaN for the first)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(beats, np.nan), np.where(np.isfinite(rr_s), rr_s, np.nan)])
    with warnings_ignored(RuntimeWarning):  # all-NaN windows: nothing before the first beat
        return np.nanmedian(sliding_window_view(padded, beats)[:-1], axis=1)


def _interval_before(rr_s: np.ndarray) -> np.ndarray:
    """(n_beats,) s: for each beat, the interval before the one before it (``Timing.rr_s`` one beat later),
    against which it comes early or on time; inf for the first beat."""
    return np.concatenate([[np.inf], np.asarray(rr_s, dtype=np.float64)[:-1]])


#: A patient's own border between early and on time needs at least this many beats in a regular rhythm.
MIN_BORDER_BEATS = 30


def patient_premature_ratio(
    timing: Timing, spread: float, bounds: tuple[float, float], irregular_above: float, default: float
) -> float:
    """The prematurity below which a beat of this patient comes early: ``1 - spread`` times the robust
    spread (SciPy's median absolute deviation scaled to a normal standard deviation, x 1.4826) of the
    prematurity of the recording's beats in a regular rhythm (irregularity at most ``irregular_above``),
    clipped to ``bounds``. A steady sinus rhythm then
    gives a border near 1 (an atrial beat 10% early stands out), sinus arrhythmia a lower one (its beats
    drift early and late with breathing). ``default`` where fewer than ``MIN_BORDER_BEATS`` beats are in a
    regular rhythm."""
    prematurity = np.asarray(timing.prematurity, dtype=np.float64)
    regular = np.isfinite(prematurity) & (np.asarray(timing.irregularity) <= irregular_above)
    if regular.sum() < MIN_BORDER_BEATS:
        return default
    from scipy.stats import median_abs_deviation

    deviation = median_abs_deviation(prematurity[regular], scale="normal")
    return float(np.clip(1.0 - spread * deviation, *bounds))


def rhythm_border(
    probs: np.ndarray,
    classes: tuple[str, ...],
    prematurity: np.ndarray,
    irregularity: np.ndarray,
    premature_ratio: float = 0.86,
    irregular_above: float = 0.12,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the N-or-S call of each supraventricular beat (called N or S)
    made by its timing against the patient's own rhythm (``context.local_rhythm``; prematurity and
    irregularity: (n_beats,)): where the rhythm is irregular (``irregularity > irregular_above``, as in
    atrial fibrillation) the beat is N; where it is regular, a beat that comes early (``prematurity <
    premature_ratio``) is S and another keeps the model's call. The larger of its N and S probabilities
    goes to the class decided, the smaller to the other; other classes are left as they are.

    A network trained on other patients places the border between N and S on absolute shape and RR
    features, and in atrial fibrillation calls hundreds of irregular beats S; the patient's own rhythm
    is the reference that carries over (chosen on DS1 records, docs/labelling.md)."""
    if "S" not in classes or "N" not in classes:
        return probs
    s, n = classes.index("S"), classes.index("N")
    called = probs.argmax(axis=1)
    supraventricular = (called == s) | (called == n)
    regular = irregularity <= irregular_above
    is_s = supraventricular & regular & ((prematurity < premature_ratio) | (called == s))
    is_n = supraventricular & ~is_s
    return decide_supraventricular(probs, s, n, is_s, is_n)


def supraventricular_runs(
    probs: np.ndarray,
    classes: tuple[str, ...],
    timing: Timing,
    above_bpm: float = 100.0,
    interval_ratio: float = 1.15,
    long_ratio: float = 0.8,
    irregular_above: float = 0.12,
    premature_ratio: float = 0.86,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the beats of supraventricular runs called S.

    A run of supraventricular tachycardia starts with an early beat and goes on at its rate, so after the
    first beat each is on time against its neighbours and the rhythm rule (``rhythm_border``) calls it N
    (209's runs); in a run of 21 beats or more (half of the 41 around a beat) even the first is. Every beat
    of a run is fast: over ``above_bpm``, early against the last five minutes (``timing.long_prematurity <
    long_ratio``), in a regular rhythm (``timing.irregularity <= irregular_above``). A fast beat called N
    starts a run when it comes early (``premature_ratio``) against the median of the 20 intervals before
    it (``context.RHYTHM_BEATS``), the rhythm it broke; it carries on the run of the beat before it when
    that beat is S (called so, starting a run or carrying one on) and it comes within ``interval_ratio``
    times the interval before that beat (no pause: a premature beat followed by the sinus rhythm ends
    there). The larger of its N and S probabilities goes to S. ``timing`` needs ``long_prematurity`` and
    ``rr_s``; without them, or without N and S classes, ``probs`` is returned as it is.
    """
    if "S" not in classes or "N" not in classes or timing.long_prematurity is None or timing.rr_s is None:
        return probs
    s, n = classes.index("S"), classes.index("N")
    called = probs.argmax(axis=1)
    rr = timing.rr_s
    fast = (
        (called == n)
        & (rr < 60.0 / above_bpm)
        & (timing.long_prematurity < long_ratio)
        & (timing.irregularity <= irregular_above)
    )
    with np.errstate(invalid="ignore"):  # NaN: no interval before the first beat
        starts_run = fast & (rr < premature_ratio * _median_before(rr, RHYTHM_BEATS))
    carries = fast & ~starts_run & (rr <= interval_ratio * _interval_before(rr))
    is_s_before = (called == s) | starts_run
    # Each stretch of consecutive carrying beats goes on the run of the beat before it, if that one is S.
    begins = carries & ~np.concatenate([[False], carries[:-1]])
    first = np.flatnonzero(begins)
    follows_s = (first > 0) & is_s_before[np.maximum(first - 1, 0)]
    stretch = np.maximum(np.cumsum(begins) - 1, 0)  # the stretch each beat is in (or after)
    carried = carries & follows_s[stretch] if len(first) else np.zeros(len(probs), dtype=bool)
    return decide_supraventricular(probs, s, n, starts_run | carried, np.zeros(len(probs), dtype=bool))


def on_time_families_as_n(
    probs: np.ndarray,
    classes: tuple[str, ...],
    family: np.ndarray,
    timing: Timing,
    premature_ratio: float = 0.86,
    long_ratio: float = 0.8,
    min_family_beats: int = 5,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the S calls of on-time families made N.

    A family of the patient's beats with a shape of its own whose median beat comes on time
    (``timing.prematurity >= premature_ratio``) and most of whose beats are called N is a way of conducting
    the sinus beat (pre-excitation, as in 230; a rate-dependent bundle-branch block; a change of posture),
    not premature atrial beats, which differ from the usual beat in timing rather than shape. Its beats
    that the network called S for their shape, though they come on time and outside a fast stretch
    (``timing.long_prematurity >= long_ratio``; the beats of a run stay S), become N, the larger of their
    N and S probabilities going to N. The usual beat's family (0), families smaller than
    ``min_family_beats`` and families mostly called S (a patient's atrial premature beats of a shape of
    their own that do not come early against the median interval, as in a rhythm with long pauses) are
    left as they are, and so is ``probs`` without N and S classes.
    """
    if "S" not in classes or "N" not in classes or len(probs) == 0:
        return probs
    s, n = classes.index("S"), classes.index("N")
    called_s = probs.argmax(axis=1) == s
    sizes, share_s = family_shares(family, called_s)
    on_time = (sizes >= min_family_beats) & (family_medians(family, timing.prematurity) >= premature_ratio)
    on_time &= share_s < 0.5
    on_time[0] = False
    fast = timing.long_prematurity < long_ratio if timing.long_prematurity is not None else np.zeros(len(probs), bool)
    is_n = on_time[family] & called_s & (timing.prematurity >= premature_ratio) & ~fast
    return decide_supraventricular(probs, s, n, np.zeros_like(is_n), is_n)


def lone_on_time_beats_as_n(
    probs: np.ndarray,
    classes: tuple[str, ...],
    family: np.ndarray,
    timing: Timing,
    on_time_above: float = 0.95,
    irregular_above: float = 0.12,
    min_family_beats: int = 5,
    reviewed: dict[int, int] | None = None,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the V, F and Q calls of lone beats that come on time made N.

    A beat of a shape fewer than ``min_family_beats`` beats of the recording share (``family``), whose
    interval is at least ``on_time_above`` of its neighbours' median (``timing.prematurity``) and of the
    interval before it (``timing.rr_s``), in a regular rhythm (``timing.irregularity <= irregular_above``),
    and that the network calls V, F or Q is the usual beat distorted (noise, electrode motion), not an
    ectopic one: a ventricular ectopic beat comes early, and ventricular beats that do not (escape beats,
    an idioventricular rhythm) repeat their shape. Its largest probability goes to N (and N's to the class
    it was called); the rhythm steps after it decide N or S. Reviewed beats (``reviewed``: beat index ->
    class index) keep their labels. ``probs`` is returned as it is without an N class or ``timing.rr_s``.
    """
    if "N" not in classes or timing.rr_s is None or len(probs) == 0:
        return probs
    odd = np.isin(probs.argmax(axis=1), [classes.index(c) for c in ("V", "F", "Q") if c in classes])
    lone = lone_beats(family, min_family_beats)
    on_time = (timing.prematurity >= on_time_above) & (timing.rr_s >= on_time_above * _interval_before(timing.rr_s))
    on_time &= timing.irregularity <= irregular_above
    rows = odd & lone & on_time
    rows[list(reviewed or {})] = False
    out = probs.copy()
    relabel(out, np.flatnonzero(rows), classes.index("N"))
    return out


def early_families_as_v(
    probs: np.ndarray,
    classes: tuple[str, ...],
    family: np.ndarray,
    timing: Timing,
    premature_ratio: float = 0.86,
    irregular_above: float = 0.12,
    min_family_beats: int = 5,
    answered: np.ndarray | None = None,
    usual_rhythm: bool = True,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the beats of early families of their own shape called V.

    A family other than the usual beat's (family 0), of at least ``min_family_beats`` beats, whose median beat
    comes early (``timing.prematurity < premature_ratio``) in a regular rhythm (median
    ``timing.pattern_irregularity``, else ``timing.irregularity``, ``<= irregular_above``: a rhythm whose early
    beats come every second or third beat is regular, atrial fibrillation is not; with ``usual_rhythm`` and
    ``timing.times_s``, also regular where the usual beats come regularly among themselves,
    ``context.rhythm_irregularity`` with every other family skipped: ectopic beats that come often at no fixed
    pattern, as in MIT-BIH 233, make every lag irregular, and in atrial fibrillation the usual beats are
    irregular too) is a run of premature beats
    whose QRS is not the patient's usual one: what a Holter reader calls ventricular ectopy, since atrial
    premature beats are conducted like the sinus beat and join the usual family. A network trained on other
    leads can call such a family supraventricular (116's and 118's V beats on their second lead); where most of
    its beats are called N or S, each of its beats called N or S gets its largest probability moved to V (and
    V's to the class it was called). An aberrantly conducted atrial family looks the same from timing and shape:
    a reviewer's answer for the family (``answered``: (n_families,) bool, families whose exemplar was reviewed)
    leaves it as the answer made it. ``probs`` is returned as it is without N, S and V classes.
    """
    if not {"N", "S", "V"} <= set(classes) or len(probs) == 0:
        return probs
    v = classes.index("V")
    supraventricular = np.isin(probs.argmax(axis=1), [classes.index("N"), classes.index("S")])
    sizes, share_sv = family_shares(family, supraventricular)
    early = (sizes >= min_family_beats) & (share_sv > 0.5)
    early &= family_medians(family, timing.prematurity) < premature_ratio
    irregularity = timing.irregularity if timing.pattern_irregularity is None else timing.pattern_irregularity
    if usual_rhythm and timing.times_s is not None:
        irregularity = np.fmin(irregularity, rhythm_irregularity(timing.times_s, family != 0))
    early &= family_medians(family, irregularity) <= irregular_above
    early[0] = False
    if answered is not None:
        early &= ~answered
    out = probs.copy()
    relabel(out, np.flatnonzero(early[family] & supraventricular), v)
    return out


#: The least robust spread of the usual family's likeness ``unlike_early_beats_as_v`` reads: a family of beats
#: nearly identical (a synthetic signal) would otherwise call any early beat's smallest difference unlike.
MIN_LIKENESS_SPREAD = 1e-3


def unlike_early_beats_as_v(
    probs: np.ndarray,
    classes: tuple[str, ...],
    family: np.ndarray,
    likeness: np.ndarray,
    timing: Timing,
    premature_ratio: float = 0.86,
    unlike_spreads: float = 8.0,
    reviewed: dict[int, int] | None = None,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the early beats of the usual family whose QRS is unlike its own
    on-time beats' called V.

    An atrial premature beat is conducted like the sinus beat: its QRS is as like the usual family's template as the
    family's beats that come on time are. A beat of the usual family (0) that comes early (``timing.prematurity <
    premature_ratio``), is called N or S, and whose likeness to the template (``likeness``: (n_beats,),
    ``Families.likeness``) lies more than ``unlike_spreads`` robust spreads (SciPy's median absolute deviation
    scaled to a normal standard deviation, as ``patient_premature_ratio``'s, at least ``MIN_LIKENESS_SPREAD``) below
    the median of the family's on-time beats is a ventricular beat that the clustering let into the usual family (a
    bundle-branch-block usual beat is wide, like the patient's ventricular ectopic beats: MIT-BIH 214). Its largest
    probability moves to V (and V's to the class it was called). Reviewed beats (``reviewed``: beat index -> class
    index) keep their labels; ``probs`` is returned as it is without N, S and V classes or with fewer than
    ``MIN_BORDER_BEATS`` on-time beats in the usual family.
    """
    if not {"N", "S", "V"} <= set(classes) or len(probs) == 0:
        return probs
    likeness = np.asarray(likeness, dtype=np.float64)
    usual = family == 0
    early = timing.prematurity < premature_ratio
    on_time = usual & ~early & np.isfinite(likeness)
    if on_time.sum() < MIN_BORDER_BEATS:
        return probs
    from scipy.stats import median_abs_deviation

    centre = np.median(likeness[on_time])
    spread = max(median_abs_deviation(likeness[on_time], scale="normal"), MIN_LIKENESS_SPREAD)
    supraventricular = np.isin(probs.argmax(axis=1), [classes.index("N"), classes.index("S")])
    rows = usual & early & supraventricular & (likeness < centre - unlike_spreads * spread)
    rows[list(reviewed or {})] = False
    out = probs.copy()
    relabel(out, np.flatnonzero(rows), classes.index("V"))
    return out


def late_against_previous_as_n(
    probs: np.ndarray, classes: tuple[str, ...], rr_s: np.ndarray, previous_ratio: float = 0.9
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the S calls of beats that do not come early against the
    interval before them made N.

    An atrial premature beat comes early against the beat before it: its interval is under
    ``previous_ratio`` times the one before (``rr_s``: (n_beats,) s, the interval before each beat, inf for
    the first). Sinus arrhythmia speeds the rhythm up over several beats, each a little earlier than its
    neighbours' median (``context.local_rhythm``) but hardly earlier than the one before, and a network
    trained on other patients calls such beats S. A stretch of consecutive S beats keeps its S from its
    first early beat on (a couplet or run goes on at the rate it started); the S beats before that beat
    become N, the larger of their N and S probabilities going to N. ``probs`` without N and S classes is
    returned as it is.
    """
    if "S" not in classes or "N" not in classes or len(probs) == 0:
        return probs
    s, n = classes.index("S"), classes.index("N")
    with np.errstate(invalid="ignore"):
        early = np.asarray(rr_s, dtype=np.float64) < previous_ratio * _interval_before(rr_s)
    called_s = probs.argmax(axis=1) == s
    is_n = np.zeros(len(probs), dtype=bool)
    for first, last in true_runs(called_s):
        starts = np.flatnonzero(early[first : last + 1])
        is_n[first : first + (starts[0] if len(starts) else last - first + 1)] = True
    return decide_supraventricular(probs, s, n, np.zeros_like(is_n), is_n)


def split_intervals_as_n(
    probs: np.ndarray,
    classes: tuple[str, ...],
    family: np.ndarray,
    timing: Timing,
    premature_ratio: float = 0.86,
    within: tuple[float, float] = (0.8, 1.25),
    min_family_beats: int = 5,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the S calls of beats that come early only because the beat
    before them split the usual interval made N.

    A beat called S whose previous beat is of a shape fewer than ``min_family_beats`` beats share
    (``family``), came early itself (``timing.prematurity < premature_ratio``), and left it an interval
    that, added to its own, makes about one of the patient's usual intervals (the two within ``within``
    times the neighbours' median, ``context.local_rhythm``) comes when the next usual beat was due: the
    beat before it was a false detection (noise, a tall T wave) or a ventricular beat slipped in between
    two sinus beats (interpolated), and this one is not premature. Its larger of the N and S probabilities
    goes to N. ``probs`` is returned as it is without N and S classes or ``timing.rr_s``.
    """
    if "S" not in classes or "N" not in classes or timing.rr_s is None or len(probs) < 2:
        return probs
    s, n = classes.index("S"), classes.index("N")
    rr = np.asarray(timing.rr_s, dtype=np.float64)
    prematurity = np.asarray(timing.prematurity, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        together = (rr + _interval_before(rr)) * prematurity / rr  # the two intervals over the neighbours' median
    lone = lone_beats(family, min_family_beats)
    early = prematurity < premature_ratio
    after_split = np.concatenate([[False], lone[:-1] & early[:-1]])
    is_n = (probs.argmax(axis=1) == s) & after_split & (together >= within[0]) & (together <= within[1])
    return decide_supraventricular(probs, s, n, np.zeros_like(is_n), is_n)


def supraventricular_as_n(probs: np.ndarray, classes: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with each beat of ``rows`` ((n_beats,) bool) that is called S
    called N instead, its larger of the N and S probabilities going to N; other beats and classes are left
    as they are. ``predict`` applies it to the beats inside atrial fibrillation episodes
    (``AdaptConfig.af_as_n``): MIT-BIH, and a Holter reader, count no premature atrial beats in AF."""
    if "S" not in classes or "N" not in classes:
        return probs
    s, n = classes.index("S"), classes.index("N")
    is_n = rows & (probs.argmax(axis=1) == s)
    return decide_supraventricular(probs, s, n, np.zeros_like(is_n), is_n)
