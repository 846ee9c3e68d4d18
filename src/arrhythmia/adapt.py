"""Patient-adaptive labelling: each recording's own beats as the reference for its labels.

A model trained on other patients meets a new patient's normal beat, lead and electrode placement for the
first time; what is abnormal *for this patient* is what departs from the patient's own usual beat and
rhythm. Beats are always cut pointing up (``detection.polarity``, in training as in ``predict``); then
five steps, each switchable (``AdaptConfig``), run on one recording's beats after they are cut:

1. **Morphology families** (``morphology_families``): the beats grouped by the shape of their QRS complex
   (average-linkage clustering on correlation distance of a subsample, every beat then joined to the
   nearest family template), as Holter software groups them for a reviewer. The largest family stands
   for the patient's usual beat.
2. **Re-estimated normalisation** (``Classifier.renormalised``, AdaBN, Li et al. 2016): the network's
   BatchNorm statistics re-estimated on the beats of the largest family, the patient's usual beat, so its
   features are normalised for this patient, lead and device (PyTorch engine; an ONNX graph has its
   statistics folded in). A family the network called V with confidence before (mean V probability at
   least ``AdaptConfig.keep_v_above``) keeps its beats' probabilities from before: normalising on a
   bundle-branch-block usual beat can pull an unmistakable V family towards N. So does a family the
   re-estimated normalisation alone made V (``AdaptConfig.keep_not_v_below``): normalising on the usual
   beat of a lead the network has not met can push a family it called supraventricular to V.
3. **Family consensus** (``family_consensus``): every beat of a family shares its morphology (supraventricular
   N/S, V, F or Q), taken from the family's mean probabilities (``AdaptConfig.fusion_families``: whether
   the network's vote may make a family fusion); which of N and S a supraventricular beat is stays the
   beat's own call, since the two differ in timing, not in shape.
4. **The patient's rhythm**: a family of its own shape whose beats come early in a regular rhythm is
   ventricular (``early_families_as_v``); the timing of the other supraventricular beats is then read
   against the patient's own rhythm (``rhythm_border``): a beat that comes early against its neighbours
   is S; in an irregular rhythm (atrial fibrillation) none is; a beat called S for its shape that comes on
   time, in a family of its own whose beats come on time (a sinus beat conducted another way), is N
   (``on_time_families_as_n``); and the beats of a supraventricular run, on time against each other but
   fast against the last five minutes, carry on the run of the S beat that began it
   (``supraventricular_runs``).
5. **Atrial fibrillation episodes** (``supraventricular_as_n``, run by ``predict`` once the recording's
   episodes are known; off unless ``AdaptConfig.af_as_n``): no beat inside an AF episode is S.

A reviewer's labels (``reviewed``) take precedence: a labelled beat keeps its label, and the label of the
beat that stands for a family (its exemplar, ``exemplars``) or a timing group (``representatives``;
``timing_groups``: the supraventricular beats of one family that the rules called S early, S on time, N in
a fast stretch or N early in an irregular rhythm) is carried to the family's morphology (an S family's
beats all S) or to the group. ``questions`` picks those beats to ask about, so that each answer settles
a whole group, as a Holter reviewer relabels a family or a run at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arrhythmia.data.beats import SYMBOL_TO_AAMI, Window
from arrhythmia.data.context import RHYTHM_BEATS
from arrhythmia.data.quality import true_runs
from arrhythmia.settings import settings_from

#: Morphology groups of the AAMI classes (and of MIT-BIH's beat symbols, by their AAMI class): beats of one
#: group look alike; S and N differ only in timing.
MORPHOLOGY = {
    symbol: {"N": "SV", "S": "SV", "V": "V", "F": "F", "Q": "Q"}[aami] for symbol, aami in SYMBOL_TO_AAMI.items()
}


@dataclass
class AdaptConfig:
    """Which adaptation steps ``predict`` runs, and their settings (chosen on DS1 records; README).

    batchnorm : re-estimate BatchNorm statistics on the recording's beats (PyTorch engine only).
    keep_v_above : a family of at least ``min_family_beats`` whose mean V probability before the
        re-estimated normalisation is at least this keeps the probabilities from before; None: none does.
    keep_not_v_below : a family of at least ``min_family_beats`` whose mean V probability is below this
        before the re-estimated normalisation and 0.5 or more after it keeps the probabilities from before
        (209's second lead); None: none does.
    batchnorm_on : ``usual``: the statistics of the recording's largest family, the patient's usual beat,
        so the patient's ectopic beats stand out from it as they do in training; ``all``: of every beat (a
        recording with many V beats then normalises them away).
    families : group beats into morphology families and label each family's morphology by consensus.
    family_distance : cosine distance (1 - correlation of the QRS part) below which beats join a family.
    min_family_beats : families smaller than this keep their beats' own labels (too few to vote).
    min_beats : recordings with fewer beats are not adapted (a warning says so).
    qrs_s : the part of the beat window the families compare, seconds before and after the R peak.
    sample : at most this many beats are clustered; the others join the nearest family template.
    rhythm : decide N or S of supraventricular beats by their timing against the patient's own rhythm
        (``rhythm_border``): S when it comes early, N in an irregular rhythm.
    premature_ratio : a beat whose RR interval is below this fraction of its neighbours' median is early.
    irregular_above : a local irregularity (``context.local_rhythm``) above this is an irregular rhythm.
    runs : make S the beats of supraventricular runs (``supraventricular_runs``).
    run_above_bpm, run_interval_ratio, run_long_ratio : a beat called N is in a run when it comes at over
        ``run_above_bpm`` and under ``run_long_ratio`` of the last five minutes' median interval; it
        starts one when it is early against the intervals before it, and carries on the run of an S beat
        before it when its interval is within ``run_interval_ratio`` times that beat's.
    on_time_families_n : a beat called S for its shape that comes on time, in a family other than the
        usual beat's whose median beat comes on time and most of whose beats are called N, is N
        (``on_time_families_as_n``).
    early_families_v : the beats called N or S of a family other than the usual beat's whose median beat
        comes early in a regular rhythm and most of whose beats are called N or S are V
        (``early_families_as_v``).
    fusion_families : the network's vote may make a family fusion (F) (``family_consensus``); False
        suits a lead the network has not met, where a family it calls fusion is mostly a shape it does not
        know (README). A reviewer's answer for a family's exemplar always may, but for the usual beat's
        family.
    fusion_late_above : the network's vote never makes fusion a family whose median beat comes later than
        this (prematurity): a fusion beat is a ventricular beat that fired as the sinus beat arrived, never
        after it (a family of beats after a pause is the usual beat conducted another way); None: no limit.
    af_as_n : a beat called S inside an atrial fibrillation episode (``episodes.beats_in``) is N
        (``supraventricular_as_n``): with no organised atrial rhythm no beat is premature against it. Off by
        default: a false AF episode (frequent atrial ectopy) would take its S beats along (README).
    previous_ratio : a beat called S whose RR interval is not under this fraction of the one before it is N,
        unless it follows an S beat that was (``late_against_previous_as_n``); None: no such rule.
    lone_on_time_above : a beat of a shape fewer than ``min_family_beats`` beats share, called V, F or Q, whose
        interval is at least this fraction of its neighbours' median and of the interval before it, in a
        regular rhythm, is N (``lone_on_time_beats_as_n``); None: no such rule.
    group_voters_from : a timing group of at least this many beats is asked about three of its beats
        (``representatives``) once every group has had a question, and goes the way most answers go; None:
        one beat speaks for every group.
    """

    batchnorm: bool = True
    keep_v_above: float | None = 0.7
    keep_not_v_below: float | None = 0.1
    batchnorm_on: str = "usual"
    families: bool = True
    family_distance: float = 0.15
    min_family_beats: int = 5
    min_beats: int = 60
    qrs_s: tuple[float, float] = (0.10, 0.15)
    sample: int = 2000
    rhythm: bool = True
    premature_ratio: float = 0.86
    irregular_above: float = 0.12
    runs: bool = True
    run_above_bpm: float = 100.0
    run_interval_ratio: float = 1.15
    run_long_ratio: float = 0.8
    on_time_families_n: bool = True
    early_families_v: bool = True
    fusion_families: bool = True
    fusion_late_above: float | None = 1.05
    af_as_n: bool = False
    previous_ratio: float | None = 0.9
    lone_on_time_above: float | None = 0.95
    group_voters_from: int | None = 40

    @classmethod
    def from_value(cls, value: bool | dict | AdaptConfig | None) -> AdaptConfig | None:
        """``True``/``None``: the defaults; ``False``: no adaptation; a dict: the defaults with its settings."""
        if isinstance(value, AdaptConfig):
            return value
        if value is False:
            return None
        if value is True or value is None:
            return cls()
        return settings_from(cls, value, "adaptation setting")


@dataclass
class Timing:
    """Each beat's timing against the patient's own rhythm (``context.local_rhythm``), (n_beats,) each:
    ``prematurity`` and ``irregularity`` over about half a minute of neighbours, ``long_prematurity``
    over about five minutes (``context.LONG_RHYTHM_BEATS``), against which the beats of a fast run still come early,
    and ``rr_s``, the interval before each beat in seconds (inf for the first) (None: not measured)."""

    prematurity: np.ndarray
    irregularity: np.ndarray
    long_prematurity: np.ndarray | None = None
    rr_s: np.ndarray | None = None


@dataclass
class Families:
    """Morphology families of one recording's beats.

    family : (n_beats,) int, the family of each beat, numbered by size (0: the largest, the patient's usual
    beat); templates : (n_families, qrs length) float32, each family's mean QRS shape (unit norm);
    likeness : (n_beats,) float32, the correlation of each beat's QRS with its family's template.
    """

    family: np.ndarray
    templates: np.ndarray
    likeness: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.family, minlength=len(self.templates))


def _qrs_shapes(X: np.ndarray, window: Window, qrs_s: tuple[float, float]) -> np.ndarray:
    """The QRS part of each beat window, centred and scaled to unit norm: (n_beats, m) float64, so that
    the dot product of two rows is their correlation."""
    first = max(window.r_peak - int(round(qrs_s[0] * window.fs)), 0)
    last = min(window.r_peak + int(round(qrs_s[1] * window.fs)), X.shape[1])
    shapes = np.asarray(X[:, first:last], dtype=np.float64)
    shapes = shapes - shapes.mean(axis=1, keepdims=True)
    return shapes / (np.linalg.norm(shapes, axis=1, keepdims=True) + 1e-9)


def morphology_families(
    X: np.ndarray, window: Window, distance: float = 0.15, qrs_s=(0.10, 0.15), sample: int = 2000, seed: int = 0
) -> Families:
    """Group beat windows X: (n_beats, window.length) by QRS shape (see the module docstring)."""
    from sklearn.cluster import AgglomerativeClustering

    shapes = _qrs_shapes(X, window, qrs_s)
    n = len(shapes)
    if n < 2:
        return Families(np.zeros(n, dtype=np.int64), shapes[:1].astype(np.float32), np.ones(n, dtype=np.float32))
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=min(n, sample), replace=False))
    clustering = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance, metric="cosine", linkage="average"
    ).fit(shapes[chosen])
    k = clustering.labels_.max() + 1
    templates = np.stack([shapes[chosen][clustering.labels_ == c].mean(axis=0) for c in range(k)])
    templates /= np.linalg.norm(templates, axis=1, keepdims=True) + 1e-9
    similarity = shapes @ templates.T
    nearest = np.argmax(similarity, axis=1)
    likeness = similarity[np.arange(n), nearest].astype(np.float32)
    # Number families by size, the largest first; drop templates no beat is nearest to.
    sizes = np.bincount(nearest, minlength=k)
    order = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]
    renumber = np.empty(k, dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return Families(renumber[nearest], templates[order].astype(np.float32), likeness)


def family_consensus(
    probs: np.ndarray,
    family: np.ndarray,
    classes: tuple[str, ...],
    min_family_beats: int = 5,
    reviewed: dict[int, int] | None = None,
    exemplar: np.ndarray | None = None,
    no_fusion: np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities (n_beats, n_classes) with each family's beats confined to one morphology.

    A family's morphology is the group (``MORPHOLOGY``) with the largest summed mean probability over its
    beats; its beats' probabilities outside that group are set to zero and the rest renormalised, so a
    supraventricular family's beats keep their own N-or-S call. Families smaller than
    ``min_family_beats`` and classes outside ``MORPHOLOGY`` are left as they are. A family with reviewed
    beats (``reviewed``: beat index -> class index) takes the morphology most of them were given, whatever
    its size; with ``exemplar`` ((n_families,), each family's most typical beat, ``exemplars``) only that
    beat speaks for its family: a reviewer's correction of another beat picks out an exception and stays
    with it.

    The network's vote never makes fusion (F) a family of ``no_fusion`` ((n_families,) bool; None: none),
    which takes the morphology it looks most like after fusion: ``adapt`` passes the families whose median
    beat comes late (``AdaptConfig.fusion_late_above``), or every family (``AdaptConfig.fusion_families``
    off). A reviewer's F for a family's exemplar carries the family either way (208's fusion beats repeat a
    few shapes), but for the usual beat's family (family 0), which is never fusion.
    """
    reviewed = reviewed or {}
    if exemplar is not None:
        reviewed = {i: c for i, c in reviewed.items() if exemplar[family[i]] == i}
    # A fusion beat blends the usual beat with a ventricular one: the usual beat's family is never fusion.
    reviewed = {i: c for i, c in reviewed.items() if family[i] != 0 or MORPHOLOGY.get(classes[c]) != "F"}
    groups = [MORPHOLOGY.get(name) for name in classes]
    if None in groups:
        return probs
    names = sorted(set(groups))
    member = np.array([[g == name for g in groups] for name in names], dtype=np.float64)  # (n_groups, n_classes)
    not_fusion = np.array([name != "F" for name in names])
    out = probs.astype(np.float64, copy=True)
    for f in np.unique(family):
        rows = family == f
        votes = [names.index(groups[c]) for i, c in reviewed.items() if family[i] == f]
        if votes:
            keep = member[np.bincount(votes).argmax()]
        elif rows.sum() >= min_family_beats:
            score = member @ out[rows].mean(axis=0)
            if no_fusion is not None and no_fusion[f]:
                score = np.where(not_fusion, score, -np.inf)
            keep = member[np.argmax(score)]
        else:
            continue
        confined = out[rows] * keep
        total = confined.sum(axis=1, keepdims=True)
        # A beat with no probability left in the family's group (underflow) is spread over the group.
        out[rows] = np.where(total > 0, confined / np.where(total > 0, total, 1.0), keep / keep.sum())
    return out.astype(np.float32)


def _no_fusion(family: np.ndarray, rhythm: Timing | None, config: AdaptConfig) -> np.ndarray | None:
    """(n_families,) bool: the families the network's vote may not make fusion (``family_consensus``),
    by ``config.fusion_families`` and ``config.fusion_late_above``; None: none."""
    n_families = int(family.max()) + 1 if len(family) else 0
    if not config.fusion_families:
        return np.ones(n_families, dtype=bool)
    if config.fusion_late_above is None or rhythm is None:
        return None
    return family_medians(family, rhythm.prematurity) > config.fusion_late_above


def _s_score(probs: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """How much more S than N each beat looks: log p_S - log p_N, (n_beats,); 0 is the model's own border."""
    s, n = classes.index("S"), classes.index("N")
    return np.log(np.maximum(probs[:, s], 1e-12)) - np.log(np.maximum(probs[:, n], 1e-12))


def reviewed_s_border(probs: np.ndarray, classes: tuple[str, ...], reviewed: dict[int, int]) -> float:
    """Where this recording's border between N and S lies on ``_s_score``, from the reviewed N and S beats:
    midway between the most S-like reviewed N beat and the least S-like reviewed S beat where they are
    apart; a reviewed N beat above the model's border (0) moves it above that beat, a reviewed S beat
    below it moves it below; 0 without reviewed N or S beats."""
    score = _s_score(probs, classes)
    n_scores = [score[i] for i, c in reviewed.items() if classes[c] == "N"]
    s_scores = [score[i] for i, c in reviewed.items() if classes[c] == "S"]
    highest_n, lowest_s = max(n_scores, default=-np.inf), min(s_scores, default=np.inf)
    if highest_n < lowest_s:  # separable: the reviewed beats all fall on their side of one border
        if np.isfinite(highest_n) and np.isfinite(lowest_s):
            return float((highest_n + lowest_s) / 2)
        if np.isfinite(highest_n):
            return float(max(0.0, highest_n + 1e-6))
        if np.isfinite(lowest_s):
            return float(min(0.0, lowest_s - 1e-6))
        return 0.0
    return 0.0  # the reviewed N and S beats overlap: the model's own border is as good as any


def apply_s_border(probs: np.ndarray, classes: tuple[str, ...], border: float) -> np.ndarray:
    """Move the N/S border of every beat called N or S to ``border`` (on ``_s_score``): a beat above it is
    S, below it N; the probability of the other classes is left as it is."""
    if border == 0.0 or "S" not in classes or "N" not in classes:
        return probs
    s, n = classes.index("S"), classes.index("N")
    out = probs.copy()
    shifted = _s_score(probs, classes) - border
    pair = probs[:, s] + probs[:, n]
    out[:, s] = pair / (1.0 + np.exp(-shifted))
    out[:, n] = pair - out[:, s]
    return out


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
    is the reference that carries over (chosen on DS1 records, README)."""
    if "S" not in classes or "N" not in classes:
        return probs
    s, n = classes.index("S"), classes.index("N")
    called = probs.argmax(axis=1)
    supraventricular = (called == s) | (called == n)
    regular = irregularity <= irregular_above
    is_s = supraventricular & regular & ((prematurity < premature_ratio) | (called == s))
    is_n = supraventricular & ~is_s
    return _decide_supraventricular(probs, s, n, is_s, is_n)


def _median_before(rr_s: np.ndarray, beats: int) -> np.ndarray:
    """(n,) the median of the ``beats`` finite intervals before each one of ``rr_s`` (n,) (fewer at the
    start; NaN for the first)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(beats, np.nan), np.where(np.isfinite(rr_s), rr_s, np.nan)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: nothing before the first beat
        return np.nanmedian(sliding_window_view(padded, beats)[:-1], axis=1)


def _interval_before(rr_s: np.ndarray) -> np.ndarray:
    """(n_beats,) s: for each beat, the interval before the one before it (``Timing.rr_s`` one beat later),
    against which it comes early or on time; inf for the first beat."""
    return np.concatenate([[np.inf], np.asarray(rr_s, dtype=np.float64)[:-1]])


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
    return _decide_supraventricular(probs, s, n, starts_run | carried, np.zeros(len(probs), dtype=bool))


def family_medians(family: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(n_families,) the median of ``values`` ((n_beats,)) over each family's beats (``family``: (n_beats,)
    int, numbered from 0), NaN for a family with no beats."""
    n_families = int(family.max()) + 1 if len(family) else 0
    return np.array([np.median(values[family == f]) if (family == f).any() else np.nan for f in range(n_families)])


def _family_shares(family: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_families,) each family's size and the share of its beats (``family``: (n_beats,) int) that are
    ``members`` ((n_beats,) bool; with (n_beats,) float weights, their mean over the family)."""
    sizes = np.bincount(family, minlength=int(family.max()) + 1)
    return sizes, np.bincount(family, weights=members, minlength=len(sizes)) / np.maximum(sizes, 1)


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
    sizes, share_s = _family_shares(family, called_s)
    on_time = (sizes >= min_family_beats) & (family_medians(family, timing.prematurity) >= premature_ratio)
    on_time &= share_s < 0.5
    on_time[0] = False
    fast = timing.long_prematurity < long_ratio if timing.long_prematurity is not None else np.zeros(len(probs), bool)
    is_n = on_time[family] & called_s & (timing.prematurity >= premature_ratio) & ~fast
    return _decide_supraventricular(probs, s, n, np.zeros_like(is_n), is_n)


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
    lone = np.bincount(family)[family] < min_family_beats
    on_time = (timing.prematurity >= on_time_above) & (timing.rr_s >= on_time_above * _interval_before(timing.rr_s))
    on_time &= timing.irregularity <= irregular_above
    rows = odd & lone & on_time
    rows[list(reviewed or {})] = False
    out = probs.copy()
    _call(out, np.flatnonzero(rows), classes.index("N"))
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
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with the beats of early families of their own shape called V.

    A family other than the usual beat's (family 0), of at least ``min_family_beats`` beats, whose median
    beat comes early (``timing.prematurity < premature_ratio``) in a regular rhythm (median
    ``timing.irregularity <= irregular_above``) is a run of premature beats whose QRS is not the patient's
    usual one: what a Holter reader calls ventricular ectopy, since atrial premature beats are conducted
    like the sinus beat and join the usual family. A network trained on other leads can call such a family
    supraventricular (116's and 118's V beats on their second lead); where most of its beats are called N
    or S, each of its beats called N or S gets its largest probability moved to V (and V's to the class it
    was called). An aberrantly conducted atrial family looks the same from timing and shape: a reviewer's
    answer for the family (``answered``: (n_families,) bool, families whose exemplar was reviewed) leaves
    it as the answer made it. ``probs`` is returned as it is without N, S and V classes.
    """
    if not {"N", "S", "V"} <= set(classes) or len(probs) == 0:
        return probs
    v = classes.index("V")
    supraventricular = np.isin(probs.argmax(axis=1), [classes.index("N"), classes.index("S")])
    sizes, share_sv = _family_shares(family, supraventricular)
    early = (sizes >= min_family_beats) & (share_sv > 0.5)
    early &= family_medians(family, timing.prematurity) < premature_ratio
    early &= family_medians(family, timing.irregularity) <= irregular_above
    early[0] = False
    if answered is not None:
        early &= ~answered
    out = probs.copy()
    _call(out, np.flatnonzero(early[family] & supraventricular), v)
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
    return _decide_supraventricular(probs, s, n, np.zeros_like(is_n), is_n)


def supraventricular_as_n(probs: np.ndarray, classes: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with each beat of ``rows`` ((n_beats,) bool) that is called S
    called N instead, its larger of the N and S probabilities going to N; other beats and classes are left
    as they are. ``predict`` applies it to the beats inside atrial fibrillation episodes
    (``AdaptConfig.af_as_n``): MIT-BIH, and a Holter reader, count no premature atrial beats in AF."""
    if "S" not in classes or "N" not in classes:
        return probs
    s, n = classes.index("S"), classes.index("N")
    is_n = rows & (probs.argmax(axis=1) == s)
    return _decide_supraventricular(probs, s, n, np.zeros_like(is_n), is_n)


def _call(probs: np.ndarray, rows: np.ndarray, target: int) -> None:
    """In place: each beat of ``rows`` (indices into ``probs``, (n_beats, n_classes)) called class
    ``target``, its largest probability moved to ``target`` and ``target``'s to the class it was called."""
    called = probs[rows].argmax(axis=1)
    top, given = probs[rows, called], probs[rows, target]
    probs[rows, target], probs[rows, called] = top, given


def _decide_supraventricular(probs: np.ndarray, s: int, n: int, is_s: np.ndarray, is_n: np.ndarray) -> np.ndarray:
    """``probs`` with the larger of each beat's N and S probabilities moved to S where ``is_s``, to N where
    ``is_n``."""
    high, low = np.maximum(probs[:, s], probs[:, n]), np.minimum(probs[:, s], probs[:, n])
    out = probs.copy()
    out[is_s, s], out[is_s, n] = high[is_s], low[is_s]
    out[is_n, n], out[is_n, s] = high[is_n], low[is_n]
    return out


#: The kinds of timing groups (``timing_groups``), in the order of their numbers.
TIMING_KINDS = (
    "early beats called S",
    "on-time beats called S",
    "beats of a fast stretch called N",
    "early beats of an irregular rhythm called N",
)


def timing_groups(
    probs: np.ndarray,
    classes: tuple[str, ...],
    family: np.ndarray,
    timing: Timing,
    premature_ratio: float = 0.86,
    irregular_above: float = 0.12,
) -> np.ndarray:
    """(n_beats,) int: the timing group of each beat called N or S, ``kind * n_families + family``, and -1
    for the others. The kinds (``TIMING_KINDS``): called S and early (``prematurity < premature_ratio``),
    called S on time, called N on time against its neighbours but early against the last five minutes
    (``long_prematurity < premature_ratio``) in a regular rhythm (a supraventricular run, or a sinus rate
    that rose), and called N early in an irregular rhythm (``irregularity > irregular_above``, where timing
    said nothing). The rules (``rhythm_border``) decide each beat of a group the same way, so a reviewer's answer
    for one of them holds for the group (``reviewed_timing``)."""
    groups = np.full(len(probs), -1, dtype=np.int64)
    if "S" not in classes or "N" not in classes or len(probs) == 0:
        return groups
    called = probs.argmax(axis=1)
    early = timing.prematurity < premature_ratio
    is_s, is_n = called == classes.index("S"), called == classes.index("N")
    kind = np.full(len(probs), -1, dtype=np.int64)
    kind[is_s & early] = 0
    kind[is_s & ~early] = 1
    if timing.long_prematurity is not None:
        fast = (timing.long_prematurity < premature_ratio) & (timing.irregularity <= irregular_above)
        kind[is_n & ~early & fast] = 2
    kind[is_n & early & (timing.irregularity > irregular_above)] = 3
    n_families = int(family.max()) + 1
    return np.where(kind >= 0, kind * n_families + family, -1)


def beat_count(n: int) -> str:
    """``"1 beat"``, ``"12 beats"``: a group's size as the review sheet says it."""
    return f"{n} beat" if n == 1 else f"{n} beats"


def describe_group(group: int, family: np.ndarray) -> str:
    """A reviewer's words for timing group ``group`` (``timing_groups`` of the recording's ``family``)."""
    n_families = int(family.max()) + 1
    return f"{TIMING_KINDS[group // n_families]} in family {group % n_families}"


def exemplars(families: Families) -> np.ndarray:
    """(n_families,) int: each family's most typical beat, the one whose QRS is likest to its template."""
    order = np.lexsort((-families.likeness, families.family))  # by family, the likest first
    first = np.searchsorted(families.family[order], np.arange(len(families.templates)))
    return order[np.minimum(first, len(order) - 1)]


def representatives(
    groups: np.ndarray, prematurity: np.ndarray, exclude: np.ndarray, voters_from: int | None = None
) -> dict[int, list[int]]:
    """``{group: [beat index, ...]}``: the beats of each timing group (``groups``, ``timing_groups``) that
    speak for it, leaving out the beats ``exclude`` (the families' exemplars, asked about for their
    families). First the beat whose ``prematurity`` is nearest the group's median; in a group of at least
    ``voters_from`` beats (None: none) also those nearest its lower and upper quartiles, so that one
    atypical beat cannot decide a large group (``group_answers``). Only these beats' answers speak for
    their group: a reviewer's correction of any other beat is kept to that beat, since corrections pick out
    the exceptions."""
    chosen: dict[int, list[int]] = {}
    free = ~np.isin(np.arange(len(groups)), exclude)
    for group in np.unique(groups[(groups >= 0) & free]):
        rows = np.flatnonzero((groups == group) & free)
        beats = [int(rows[np.argmin(np.abs(prematurity[rows] - np.median(prematurity[rows])))])]
        if voters_from is not None and len(rows) >= max(voters_from, 3):
            for quartile in (25, 75):
                rest = rows[~np.isin(rows, beats)]
                target = np.percentile(prematurity[rows], quartile)
                beats.append(int(rest[np.argmin(np.abs(prematurity[rest] - target))]))
        chosen[int(group)] = beats
    return chosen


def group_answers(standing: dict[int, list[int]], reviewed: dict[int, int]) -> dict[int, int]:
    """``{group: class index}``: each timing group's answer, the class most of its answered
    ``representatives`` (``standing``) were given in ``reviewed`` (beat index -> class index); a tie goes
    to the first of them answered, the beat of median prematurity where it was."""
    answers = {}
    for group, beats in standing.items():
        given = [reviewed[i] for i in beats if i in reviewed]
        if given:
            votes = {c: given.count(c) for c in given}
            answers[group] = next(c for c in given if votes[c] == max(votes.values()))
    return answers


def reviewed_timing(
    probs: np.ndarray, classes: tuple[str, ...], groups: np.ndarray, answers: dict[int, int]
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with every beat of each answered timing group (``groups``,
    ``timing_groups``; ``answers``: group -> class index, from the group's ``representatives``) called
    what its group was answered: the beat's largest probability goes to that class, and that class's to
    the one the beat was called. Other beats are left as they are."""
    out = probs.copy()
    for group, answer in answers.items():
        _call(out, np.flatnonzero(groups == group), answer)
    return out


def reviewed_s_families(
    probs: np.ndarray, classes: tuple[str, ...], family: np.ndarray, exemplar: np.ndarray, reviewed: dict[int, int]
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with every beat called N or S of each family (``family``: (n_beats,))
    but the usual beat's whose exemplar (``exemplar``: (n_families,), ``exemplars``) was reviewed S called S,
    its larger of the N and S probabilities going to S. A family of its own shape that a reviewer calls S is
    the patient's aberrantly conducted atrial premature beats: they are aberrant because they come early,
    whatever the rhythm around them."""
    if "S" not in classes or "N" not in classes:
        return probs
    s, n = classes.index("S"), classes.index("N")
    answered_s = [f for f in range(1, len(exemplar)) if reviewed.get(int(exemplar[f])) == s]
    is_s = np.isin(family, answered_s) & np.isin(probs.argmax(axis=1), [s, n])
    return _decide_supraventricular(probs, s, n, is_s, np.zeros_like(is_s))


def questions(
    probs: np.ndarray,
    classes: tuple[str, ...],
    families: Families | None,
    k: int,
    min_family_beats: int = 5,
    groups: np.ndarray | None = None,
    prematurity: np.ndarray | None = None,
    voters_from: int | None = None,
) -> list[tuple[int, str]]:
    """The ``k`` beats whose labels, given by a reviewer, would settle the most labels: ``(beat index,
    why)`` pairs, each answer settling a group, as a Holter reviewer works:

    1. at most half of ``k`` (at least one): the most typical beat of each family of at least
       ``min_family_beats`` beats, largest first, but for the usual beat's family (family 0) unless the model
       calls its morphology other than N or S; an answer sets the family's morphology (``family_consensus``);
    2. one beat of each timing group (``groups``, ``timing_groups``), largest first: the beat that stands
       for it (``representatives``, by ``prematurity``); an answer sets the group's class
       (``reviewed_timing``);
    3. two more beats of each group of at least ``voters_from`` beats, largest first, so that the group
       goes the way most of its three go (``group_answers``);
    4. the beats nearest the N/S border, taken alternately from either side, to place this patient's border
       (``reviewed_s_border``)."""
    chosen: list[tuple[int, str]] = []
    if k <= 0:
        return chosen
    called = probs.argmax(axis=1)
    if families is not None:
        sizes, typical = families.sizes, exemplars(families)
        supraventricular = [classes.index(name) for name in ("N", "S") if name in classes]
        usual_is_sv = bool(np.isin(np.bincount(called[families.family == 0]).argmax(), supraventricular))
        for f in np.argsort(-sizes, kind="stable"):
            if len(chosen) >= max(1, k // 2) or sizes[f] < min_family_beats:
                break
            if f == 0 and usual_is_sv:
                continue
            chosen.append((int(typical[f]), f"exemplar of family {f} ({beat_count(sizes[f])})"))
        if groups is not None and prematurity is not None:
            standing = representatives(groups, prematurity, typical, voters_from)
            found, size = np.unique(groups[groups >= 0], return_counts=True)
            largest = sorted(zip(found.tolist(), size.tolist()), key=lambda pair: -pair[1])
            for group, n in largest:
                if len(chosen) < k and group in standing:
                    chosen.append((standing[group][0], f"{describe_group(group, families.family)} ({beat_count(n)})"))
            for group, n in largest:
                for beat in standing.get(group, [])[1:]:
                    if len(chosen) < k:
                        chosen.append((beat, f"another of {describe_group(group, families.family)} ({beat_count(n)})"))
    taken = {i for i, _ in chosen}
    if "S" in classes and "N" in classes:
        sv = np.flatnonzero(np.isin(called, [classes.index("N"), classes.index("S")]))
        score = _s_score(probs[sv], classes)
        above = sv[score >= 0][np.argsort(score[score >= 0])]
        below = sv[score < 0][np.argsort(-score[score < 0])]
        sides = [list(above), list(below)]
        while len(chosen) < k and (sides[0] or sides[1]):
            for side in sides:
                while side and side[0] in taken:
                    side.pop(0)
                if side and len(chosen) < k:
                    chosen.append((int(side.pop(0)), "near the N/S border"))
                    taken.add(chosen[-1][0])
    return chosen[:k]


def _families_kept(
    before: np.ndarray, after: np.ndarray, families: Families | None, classes: tuple[str, ...], config: AdaptConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(n_beats,) bool each: the beats of families (at least ``config.min_family_beats``) that keep their
    probabilities ``before`` the re-estimated normalisation rather than take those ``after`` it: those
    called V with confidence before (mean V probability at least ``config.keep_v_above``), and those the
    normalisation alone made V (mean V below ``config.keep_not_v_below`` before, 0.5 or more after)."""
    nothing = np.zeros(len(before), dtype=bool)
    if families is None or "V" not in classes:
        return nothing, nothing
    v = classes.index("V")
    sizes, mean_before = _family_shares(families.family, before[:, v])
    mean_after = _family_shares(families.family, after[:, v])[1]
    large = sizes >= config.min_family_beats
    v_kept, not_v_kept = np.zeros_like(large), np.zeros_like(large)
    if config.keep_v_above is not None:
        v_kept = large & (mean_before >= config.keep_v_above)
    if config.keep_not_v_below is not None:
        not_v_kept = large & (mean_after >= 0.5) & (mean_before < config.keep_not_v_below)
    return v_kept[families.family], not_v_kept[families.family]


@dataclass
class Adaptation:
    """The adapted labelling of one recording: probs (n_beats, n_classes), families (or None), the timing
    groups of the labels before a reviewer's answers (``timing_groups``; None without families or
    timing), and what was done (``steps``, for summary.json)."""

    probs: np.ndarray
    families: Families | None
    steps: dict[str, Any] = field(default_factory=dict)
    groups: np.ndarray | None = None


def adapt(
    model: Any,
    X: np.ndarray,
    context: np.ndarray | None,
    probs: np.ndarray,
    config: AdaptConfig,
    where: str = "recording",
    reviewed: dict[int, int] | None = None,
    rhythm: Timing | None = None,
) -> Adaptation:
    """Adapt the labels ``probs`` (n_beats, n_classes) of one recording's beats X: (n_beats, L) (context:
    (n_beats, n_context)) to the recording, as ``config`` says; see the module docstring. ``model`` is what
    predict labels with (``predict.BeatModel``); one with a ``renormalised(X, context)`` method (the PyTorch
    ``Classifier``) gets its normalisation re-estimated. ``reviewed`` (beat index -> class index, a
    reviewer's labels) decides its families' morphology, its timing groups' N or S (``timing_groups``,
    ``representatives``) and this recording's N/S border, and its beats keep their given labels.
    ``rhythm``: each beat's ``Timing``, for ``config.rhythm`` and the timing groups."""
    reviewed = reviewed or {}
    steps: dict[str, Any] = {"adapted": False}
    if len(X) < config.min_beats:
        warnings.warn(
            f"{where}: {len(X)} beats are too few to adapt to the recording (at least {config.min_beats}); "
            "labels are the model's own",
            stacklevel=2,
        )
        steps["reason"] = f"fewer than {config.min_beats} beats"
        probs = probs.copy()
        for i, c in reviewed.items():
            probs[i] = np.eye(len(model.classes), dtype=probs.dtype)[c]
        return Adaptation(probs, None, steps)
    families, typical = None, None
    if config.families or config.batchnorm_on == "usual":
        families = morphology_families(X, model.window, config.family_distance, config.qrs_s, config.sample)
        typical = exemplars(families)  # the beat that speaks for each family
    if config.batchnorm:
        if hasattr(model, "renormalised"):
            usual = families.family == 0 if families is not None else None
            # The usual beat's statistics where it is a family of its own size; else every beat's.
            enough = usual is not None and config.batchnorm_on == "usual" and usual.sum() >= config.min_beats // 2
            on = usual if enough else slice(None)
            reference_context = None if context is None else context[on]
            renormalised = model.renormalised(X[on], reference_context).predict_proba(X, context)
            v_kept, not_v_kept = _families_kept(probs, renormalised, families, tuple(model.classes), config)
            probs = np.where((v_kept | not_v_kept)[:, None], probs, renormalised).astype(renormalised.dtype)
            steps["batchnorm"] = True
            steps["v_families_kept"] = int(v_kept.sum())
            steps["not_v_families_kept"] = int(not_v_kept.sum())
        else:
            steps["batchnorm"] = "skipped: the ONNX engine has its normalisation folded into the graph"
    if config.families:
        probs = family_consensus(
            probs,
            families.family,
            tuple(model.classes),
            config.min_family_beats,
            reviewed,
            typical,
            _no_fusion(families.family, rhythm, config),
        )
        steps["families"] = int(len(families.templates))
    if config.rhythm and rhythm is not None:
        classes = tuple(model.classes)
        before = probs.argmax(axis=1)
        counts = {}
        if config.lone_on_time_above is not None and families is not None:
            called = probs.argmax(axis=1)
            probs = lone_on_time_beats_as_n(
                probs,
                classes,
                families.family,
                rhythm,
                config.lone_on_time_above,
                config.irregular_above,
                config.min_family_beats,
                reviewed,
            )
            counts["lone_on_time"] = int((probs.argmax(axis=1) != called).sum())
        if config.early_families_v and families is not None:
            called = probs.argmax(axis=1)
            answered = np.isin(typical, list(reviewed))
            probs = early_families_as_v(
                probs,
                classes,
                families.family,
                rhythm,
                config.premature_ratio,
                config.irregular_above,
                config.min_family_beats,
                answered,
            )
            counts["early_families"] = int((probs.argmax(axis=1) != called).sum())
        probs = rhythm_border(
            probs, classes, rhythm.prematurity, rhythm.irregularity, config.premature_ratio, config.irregular_above
        )
        if config.runs:
            called = probs.argmax(axis=1)
            probs = supraventricular_runs(
                probs,
                classes,
                rhythm,
                config.run_above_bpm,
                config.run_interval_ratio,
                config.run_long_ratio,
                config.irregular_above,
                config.premature_ratio,
            )
            counts["in_runs"] = int((probs.argmax(axis=1) != called).sum())
        if config.on_time_families_n and families is not None:
            called = probs.argmax(axis=1)
            probs = on_time_families_as_n(
                probs,
                classes,
                families.family,
                rhythm,
                config.premature_ratio,
                config.run_long_ratio,
                config.min_family_beats,
            )
            counts["on_time_families"] = int((probs.argmax(axis=1) != called).sum())
        if config.previous_ratio is not None and rhythm.rr_s is not None:
            called = probs.argmax(axis=1)
            probs = late_against_previous_as_n(probs, classes, rhythm.rr_s, config.previous_ratio)
            counts["late_against_previous"] = int((probs.argmax(axis=1) != called).sum())
        # lone_on_time: made N by lone_on_time_beats_as_n; early_families: made V by early_families_as_v;
        # in_runs: made S by supraventricular_runs; on_time_families: made N by on_time_families_as_n
        steps["rhythm"] = {"relabelled": int((probs.argmax(axis=1) != before).sum()), **counts}
    groups = None
    if families is not None and rhythm is not None:
        groups = timing_groups(
            probs, tuple(model.classes), families.family, rhythm, config.premature_ratio, config.irregular_above
        )
    if reviewed:
        # The border is placed by the answers about beats in no timing group: a group's answer is its own.
        outside = {i: c for i, c in reviewed.items() if groups is None or groups[i] < 0}
        border = reviewed_s_border(probs, tuple(model.classes), outside)
        probs = apply_s_border(probs, tuple(model.classes), border)
        if groups is not None:
            standing = representatives(groups, rhythm.prematurity, typical, config.group_voters_from)
            answers = group_answers(standing, reviewed)
            probs = reviewed_timing(probs, tuple(model.classes), groups, answers)
            steps["groups_answered"] = len(answers)
        if families is not None:
            probs = reviewed_s_families(probs, tuple(model.classes), families.family, typical, reviewed)
        for i, c in reviewed.items():
            probs[i] = np.eye(len(model.classes), dtype=probs.dtype)[c]
        steps["reviewed_beats"] = len(reviewed)
        steps["s_border"] = border
    steps["adapted"] = True
    return Adaptation(probs, families, steps, groups)
