"""The adaptation's steps in order (``adapt``) and their settings (``AdaptConfig``); ``arrhythmia.adapt``
says what each step does and why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from arrhythmia.adapt.assisted import (
    apply_s_border,
    group_answers,
    representatives,
    reviewed_s_border,
    reviewed_s_families,
    reviewed_timing,
    timing_groups,
    with_answers,
)
from arrhythmia.adapt.families import (
    Families,
    exemplars,
    family_consensus,
    family_medians,
    family_shares,
    morphology_families,
)
from arrhythmia.adapt.rhythm import (
    Timing,
    early_families_as_v,
    late_against_previous_as_n,
    lone_on_time_beats_as_n,
    on_time_families_as_n,
    patient_premature_ratio,
    rhythm_border,
    split_intervals_as_n,
    supraventricular_runs,
    unlike_early_beats_as_v,
)
from arrhythmia.settings import settings_from

#: Settings given under another name by earlier versions (``--adapt-setting`` lines in scripts keep working).
RENAMED = {"keep_not_v_below": "keep_if_made_below"}


@dataclass
class AdaptConfig:
    """Which adaptation steps ``predict`` runs, and their settings (chosen on DS1 records; docs/labelling.md).

    batchnorm : re-estimate BatchNorm statistics on the recording's beats (either engine; an ONNX graph
        exported before its BatchNormalization nodes were kept cannot).
    keep_v_above : a family of at least ``min_family_beats`` whose mean V probability before the
        re-estimated normalisation is at least this keeps the probabilities from before; None: none does.
    keep_usual_v_share, usual_earlier_by : so does the usual beat's family (the largest) where the network
        calls at least ``keep_usual_v_share`` of its beats V and its beats come early against a family of at
        least half ``batchnorm_min_beats`` beats most of which it calls N or S (that family's median prematurity higher
        by ``usual_earlier_by`` or more): a recording can hold more ventricular ectopic beats of one shape
        than normal beats of any one shape (MIT-BIH 208's second lead), and normalised on their own
        statistics they look usual and turn N. A bundle-branch-block usual beat the network calls V comes on
        time, as the rest of the rhythm does, and is normalised as usual. None: no such family is kept.
    keep_if_made_below, keep_if_made : a family of at least ``min_family_beats`` that the re-estimated
        normalisation alone made one of the classes ``keep_if_made`` (its mean probability of that class below
        ``keep_if_made_below`` before, 0.5 or more after) keeps the probabilities from before: 209's second
        lead, made V; 124's, whose normal beats fall into two large families, the second made Q
        (unclassifiable) when normalised on the first (docs/adaptation-in-detail.md, "The steps in full"); None: none
        does.
    batchnorm_on : ``usual``: the statistics of the recording's largest family, the patient's usual beat,
        so the patient's ectopic beats stand out from it as they do in training (where that family holds
        at least half ``batchnorm_min_beats`` beats; else every beat's); ``all``: of every beat (a recording with many
        V beats then normalises them away).
    families : group beats into morphology families and label each family's morphology by consensus.
    family_distance : cosine distance (1 - correlation of the QRS part) below which beats join a family.
    min_family_beats : families smaller than this keep their beats' own labels (too few to vote).
    min_beats : recordings with fewer beats are not adapted (a warning says so): too few to compare a beat's
        timing and shape with.
    batchnorm_min_beats : recordings with fewer beats are adapted without the re-estimated normalisation (a
        10-s to 60-s strip): the statistics of a few dozen beats cost more than they give (10-s strips of DS1,
        fold models: V Se 74.2 with them, 81.4 without; docs/choosing-the-adaptation.md, "Short strips").
    qrs_s : the part of the beat window the families compare, seconds before and after the R peak.
    sample : at most this many beats are clustered; the others join the nearest family template.
    rhythm : decide N or S of supraventricular beats by their timing against the patient's own rhythm
        (``rhythm_border``): S when it comes early, N in an irregular rhythm.
    premature_ratio : a beat whose RR interval is below this fraction of its neighbours' median is early
        (the border for every recording where ``premature_spread`` is None, and where a recording has
        too few beats in a regular rhythm to place its own).
    premature_spread, premature_bounds : each recording's own border, in place of ``premature_ratio``: 1
        minus ``premature_spread`` times the spread of its beats' prematurity, within ``premature_bounds``
        (``rhythm.patient_premature_ratio``); None: ``premature_ratio`` for every recording.
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
    early_usual_rhythm : ... where the rhythm also counts as regular when the usual beats come regularly among
        themselves, however irregular the ectopic beats between them (``early_families_as_v``'s
        ``usual_rhythm``; chosen on DS1 records, docs/choosing-the-adaptation.md).
    unlike_early_spreads : a beat of the usual family that comes early, is called N or S, and whose QRS is less
        like the family's template than its on-time beats are by more than this many robust spreads is V
        (``unlike_early_beats_as_v``; chosen on DS1 records, docs/choosing-the-adaptation.md); None: none is.
    pattern_lags : for ``early_families_v``, a rhythm is regular where its intervals repeat, below
        ``irregular_above``, at a lag of 1 to this many beats (``context.pattern_irregularity``; 2 and 3:
        bigeminy and trigeminy, whose early beats make every interval change; 1: beat to beat only). Chosen on
        DS1 records (docs/labelling.md).
    fusion_families : the network's vote may make a family fusion (F) (``family_consensus``); False
        suits a lead the network has not met, where a family it calls fusion is mostly a shape it does not
        know (docs/labelling.md). A reviewer's answer for a family's exemplar always may, but for the usual beat's
        family.
    fusion_late_above : the network's vote never makes fusion a family whose median beat comes later than
        this (prematurity): a fusion beat is a ventricular beat that fired as the sinus beat arrived, never
        after it (a family of beats after a pause is the usual beat conducted another way); None: no limit.
    fusion_share_below : nor a family holding more than this share of the recording's beats: a fusion beat is
        the chance meeting of a ventricular and a sinus beat (MIT-BIH's most, 208's, are 12.6% of its beats),
        while on a lead the network has not met a whole family of V beats can look like fusion to it (208 on
        a mixture of its two leads: 746 V beats); None: no limit. Set from MIT-BIH's annotations, not tuned.
    af_as_n : a beat called S inside an atrial fibrillation episode (``episodes.beats_in``) is N
        (``supraventricular_as_n``): with no organised atrial rhythm no beat is premature against it. Off by
        default: a false AF episode (frequent atrial ectopy) would take its S beats along (docs/labelling.md).
    previous_ratio : a beat called S whose RR interval is not under this fraction of the one before it is N,
        unless it follows an S beat that was (``late_against_previous_as_n``); None: no such rule.
    split_intervals_within : a beat called S after a beat of a shape fewer than ``min_family_beats`` beats
        share that came early, whose interval and that beat's together make this range of times its
        neighbours' median interval, is N (``split_intervals_as_n``: the beat before split the interval);
        None: no such rule.
    lone_on_time_above : a beat of a shape fewer than ``min_family_beats`` beats share, called V, F or Q, whose
        interval is at least this fraction of its neighbours' median and of the interval before it, in a
        regular rhythm, is N (``lone_on_time_beats_as_n``); None: no such rule.
    group_voters_from : a timing group of at least this many beats is asked about three of its beats
        (``representatives``) once every group has had a question, and goes the way most answers go; None:
        one beat speaks for every group.
    review_above_percent : a recording on which the adaptation changed the network's label of more than this
        percentage of the beats is marked for review (``steps["review_recommended"]``): the steps change
        many labels where the network is least at home with the patient or lead, which is where the labels
        are most often wrong (docs/labelling.md); None: none is marked.
    """

    batchnorm: bool = True
    keep_v_above: float | None = 0.7
    keep_usual_v_share: float | None = 0.5
    usual_earlier_by: float = 0.1
    keep_if_made_below: float | None = 0.1
    keep_if_made: tuple[str, ...] = ("V", "Q")
    batchnorm_on: str = "usual"
    families: bool = True
    family_distance: float = 0.15
    min_family_beats: int = 5
    min_beats: int = 6
    batchnorm_min_beats: int = 60
    qrs_s: tuple[float, float] = (0.10, 0.15)
    sample: int = 2000
    rhythm: bool = True
    premature_ratio: float = 0.86
    premature_spread: float | None = 3.0
    premature_bounds: tuple[float, float] = (0.80, 0.92)
    irregular_above: float = 0.12
    runs: bool = True
    run_above_bpm: float = 100.0
    run_interval_ratio: float = 1.15
    run_long_ratio: float = 0.8
    on_time_families_n: bool = True
    early_families_v: bool = True
    early_usual_rhythm: bool = True
    unlike_early_spreads: float | None = 8.0
    pattern_lags: int = 3
    fusion_families: bool = True
    fusion_late_above: float | None = 1.05
    fusion_share_below: float | None = 0.2
    af_as_n: bool = False
    previous_ratio: float | None = 0.9
    split_intervals_within: tuple[float, float] | None = (0.8, 1.25)
    lone_on_time_above: float | None = 0.95
    group_voters_from: int | None = 40
    review_above_percent: float | None = 8.0

    @classmethod
    def from_value(cls, value: bool | dict | AdaptConfig | None) -> AdaptConfig | None:
        """``True``/``None``: the defaults; ``False``: no adaptation; a dict: the defaults with its settings."""
        if isinstance(value, AdaptConfig):
            return value
        if value is False:
            return None
        if value is True or value is None:
            return cls()
        return settings_from(cls, {RENAMED.get(key, key): v for key, v in value.items()}, "adaptation setting")


@dataclass
class Adaptation:
    """The adapted labelling of one recording: probs (n_beats, n_classes), families (or None), the timing
    groups of the labels before a reviewer's answers (``timing_groups``; None without families or
    timing), and what was done (``steps``, for summary.json)."""

    probs: np.ndarray
    families: Families | None
    steps: dict[str, Any] = field(default_factory=dict)
    groups: np.ndarray | None = None


def _no_fusion(family: np.ndarray, rhythm: Timing | None, config: AdaptConfig) -> np.ndarray | None:
    """(n_families,) bool: the families the network's vote may not make fusion (``family_consensus``),
    by ``config.fusion_families``, ``config.fusion_share_below`` and ``config.fusion_late_above``; None: none."""
    n_families = int(family.max()) + 1 if len(family) else 0
    if not config.fusion_families:
        return np.ones(n_families, dtype=bool)
    limits = []
    if config.fusion_share_below is not None:
        limits.append(np.bincount(family, minlength=n_families) > config.fusion_share_below * len(family))
    if config.fusion_late_above is not None and rhythm is not None:
        limits.append(family_medians(family, rhythm.prematurity) > config.fusion_late_above)
    return np.logical_or.reduce(limits) if limits else None


def _usual_is_ventricular(
    families: Families | None, calls: np.ndarray, classes: tuple[str, ...], rhythm: Timing | None, config: AdaptConfig
) -> bool:
    """Whether the usual beat's family (0) is ventricular ectopy (``AdaptConfig.keep_usual_v_share``): the
    network (``calls``: (n_beats,) class indices) calls most of it V, and its beats come early against a
    large enough family it calls N or S."""
    if families is None or rhythm is None or config.keep_usual_v_share is None or "V" not in classes:
        return False
    sizes, v_share = family_shares(families.family, calls == classes.index("V"))
    if len(sizes) < 2 or v_share[0] < config.keep_usual_v_share:
        return False
    supraventricular = np.isin(calls, [classes.index(name) for name in ("N", "S") if name in classes])
    sv_share = family_shares(families.family, supraventricular)[1]
    timing = family_medians(families.family, rhythm.prematurity)
    later = timing >= timing[0] + config.usual_earlier_by
    return bool(((sizes >= config.batchnorm_min_beats // 2) & (sv_share > 0.5) & later).any())


def _families_kept(
    before: np.ndarray, after: np.ndarray, families: Families | None, classes: tuple[str, ...], config: AdaptConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(n_beats,) bool each: the beats of families (at least ``config.min_family_beats``) that keep their
    probabilities ``before`` the re-estimated normalisation rather than take those ``after`` it: those
    called V with confidence before (mean V probability at least ``config.keep_v_above``), and those the
    normalisation alone made one of ``config.keep_if_made`` (mean probability of that class below
    ``config.keep_if_made_below`` before, 0.5 or more after)."""
    nothing = np.zeros(len(before), dtype=bool)
    if families is None:
        return nothing, nothing
    large = families.sizes >= config.min_family_beats
    v_kept, made_kept = np.zeros_like(large), np.zeros_like(large)
    if config.keep_v_above is not None and "V" in classes:
        v_kept = large & (family_shares(families.family, before[:, classes.index("V")])[1] >= config.keep_v_above)
    if config.keep_if_made_below is not None:
        for c in [classes.index(name) for name in config.keep_if_made if name in classes]:
            mean_before = family_shares(families.family, before[:, c])[1]
            mean_after = family_shares(families.family, after[:, c])[1]
            made_kept |= large & (mean_after >= 0.5) & (mean_before < config.keep_if_made_below)
    return v_kept[families.family], made_kept[families.family]


def _counted(counts: dict[str, int], name: str, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``after``, the probabilities (n_beats, n_classes) a rhythm rule made of ``before``, with the number of
    beats whose label it changed put in ``counts[name]`` (``steps["rhythm"]``)."""
    counts[name] = int((after.argmax(axis=1) != before.argmax(axis=1)).sum())
    return after


def _rhythm_rules(
    probs: np.ndarray,
    classes: tuple[str, ...],
    families: Families | None,
    rhythm: Timing,
    config: AdaptConfig,
    reviewed: dict[int, int],
    answered: np.ndarray | None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Step 4, the patient's rhythm: the rules of ``adapt.rhythm`` in order, each as ``config`` turns it on,
    on probabilities (n_beats, n_classes). Returns the probabilities and ``steps["rhythm"]``: the labels the
    step changed in all (``relabelled``) and by each rule (``lone_on_time``: made N by
    ``lone_on_time_beats_as_n``; ``early_families``: made V by ``early_families_as_v``; ``unlike_early``: made V by
    ``unlike_early_beats_as_v``; ``in_runs``: made S by
    ``supraventricular_runs``; ``on_time_families``: made N by ``on_time_families_as_n``;
    ``late_against_previous``: made N by ``late_against_previous_as_n``; ``split_intervals``: made N by
    ``split_intervals_as_n``). ``answered``: (n_families,) bool, the families whose exemplar was reviewed."""
    before = probs.argmax(axis=1)
    counts: dict[str, int] = {}
    family = families.family if families is not None else None
    if config.lone_on_time_above is not None and family is not None:
        after = lone_on_time_beats_as_n(
            probs,
            classes,
            family,
            rhythm,
            config.lone_on_time_above,
            config.irregular_above,
            config.min_family_beats,
            reviewed,
        )
        probs = _counted(counts, "lone_on_time", probs, after)
    if config.early_families_v and family is not None:
        after = early_families_as_v(
            probs,
            classes,
            family,
            rhythm,
            config.premature_ratio,
            config.irregular_above,
            config.min_family_beats,
            answered,
            config.early_usual_rhythm,
        )
        probs = _counted(counts, "early_families", probs, after)
    if config.unlike_early_spreads is not None and families is not None:
        after = unlike_early_beats_as_v(
            probs,
            classes,
            families.family,
            families.likeness,
            rhythm,
            config.premature_ratio,
            config.unlike_early_spreads,
            reviewed,
        )
        probs = _counted(counts, "unlike_early", probs, after)
    probs = rhythm_border(
        probs, classes, rhythm.prematurity, rhythm.irregularity, config.premature_ratio, config.irregular_above
    )
    if config.runs:
        after = supraventricular_runs(
            probs,
            classes,
            rhythm,
            config.run_above_bpm,
            config.run_interval_ratio,
            config.run_long_ratio,
            config.irregular_above,
            config.premature_ratio,
        )
        probs = _counted(counts, "in_runs", probs, after)
    if config.on_time_families_n and family is not None:
        after = on_time_families_as_n(
            probs, classes, family, rhythm, config.premature_ratio, config.run_long_ratio, config.min_family_beats
        )
        probs = _counted(counts, "on_time_families", probs, after)
    if config.previous_ratio is not None and rhythm.rr_s is not None:
        after = late_against_previous_as_n(probs, classes, rhythm.rr_s, config.previous_ratio)
        probs = _counted(counts, "late_against_previous", probs, after)
    if config.split_intervals_within is not None and family is not None:
        after = split_intervals_as_n(
            probs,
            classes,
            family,
            rhythm,
            config.premature_ratio,
            config.split_intervals_within,
            config.min_family_beats,
        )
        probs = _counted(counts, "split_intervals", probs, after)
    return probs, {"relabelled": int((probs.argmax(axis=1) != before).sum()), **counts}


def adapt(
    model: Any,
    X: np.ndarray,
    context: np.ndarray | None,
    probs: np.ndarray,
    config: AdaptConfig,
    where: str = "recording",
    reviewed: dict[int, int] | None = None,
    rhythm: Timing | None = None,
    shapes: np.ndarray | None = None,
) -> Adaptation:
    """Adapt the labels ``probs`` (n_beats, n_classes) of one recording's beats X: (n_beats, L) (context:
    (n_beats, n_context)) to the recording, as ``config`` says; see ``arrhythmia.adapt``. ``model`` is what
    predict labels with (``predict.BeatModel``); one with a ``renormalised(X, context)`` method (``Classifier``,
    ``OnnxClassifier``) gets its normalisation re-estimated. ``reviewed`` (beat index -> class index, a
    reviewer's labels) decides its families' morphology, its timing groups' N or S (``timing_groups``,
    ``representatives``) and this recording's N/S border, and its beats keep their given labels.
    ``rhythm``: each beat's ``Timing``, for ``config.rhythm`` and the timing groups. ``shapes``: (n_beats, L)
    the windows the families are formed from, where they are not X (predict low-passes them all alike where
    part of a recording was filtered for muscle noise, so that one shape makes one family)."""
    reviewed = reviewed or {}
    steps: dict[str, Any] = {"adapted": False}
    network_calls = probs.argmax(axis=1)
    if len(X) < config.min_beats:
        warnings.warn(
            f"{where}: {len(X)} beats are too few to adapt to the recording (at least {config.min_beats}); "
            "labels are the model's own",
            stacklevel=2,
        )
        steps["reason"] = f"fewer than {config.min_beats} beats"
        return Adaptation(with_answers(probs, reviewed), None, steps)
    if rhythm is not None and config.premature_spread is not None:
        # this patient's own border between early and on time, for every step that reads timing
        border = patient_premature_ratio(
            rhythm, config.premature_spread, config.premature_bounds, config.irregular_above, config.premature_ratio
        )
        config = replace(config, premature_ratio=border)
        steps["premature_ratio"] = border
    families, typical = None, None
    if config.families or (config.batchnorm and config.batchnorm_on == "usual"):
        shaped = X if shapes is None else shapes
        families = morphology_families(shaped, model.window, config.family_distance, config.qrs_s, config.sample)
        typical = exemplars(families)  # the beat that speaks for each family
    if config.batchnorm and len(X) < config.batchnorm_min_beats:
        steps["batchnorm"] = f"skipped: fewer than {config.batchnorm_min_beats} beats"
    elif config.batchnorm:
        usual = families.family == 0 if families is not None else None
        # The usual beat's statistics where its family holds at least half batchnorm_min_beats beats; else every beat's.
        enough = usual is not None and config.batchnorm_on == "usual" and usual.sum() >= config.batchnorm_min_beats // 2
        on = usual if enough else slice(None)
        adapted_model = None
        if hasattr(model, "renormalised"):
            adapted_model = model.renormalised(X[on], None if context is None else context[on])
        if adapted_model is not None:
            renormalised = adapted_model.predict_proba(X, context)
            v_kept, made_kept = _families_kept(probs, renormalised, families, tuple(model.classes), config)
            usual_kept = _usual_is_ventricular(families, network_calls, tuple(model.classes), rhythm, config)
            if usual_kept:
                v_kept = v_kept | (families.family == 0)
            probs = np.where((v_kept | made_kept)[:, None], probs, renormalised).astype(renormalised.dtype)
            steps["batchnorm"] = True
            steps["usual_v_kept"] = usual_kept
            steps["v_families_kept"] = int(v_kept.sum())
            steps["made_families_kept"] = int(made_kept.sum())
        else:
            steps["batchnorm"] = "skipped: the ONNX graph has its normalisation folded in (export it again)"
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
        answered = np.isin(typical, list(reviewed)) if families is not None else None
        probs, steps["rhythm"] = _rhythm_rules(
            probs, tuple(model.classes), families, rhythm, config, reviewed, answered
        )
    groups = None
    if families is not None and rhythm is not None:
        groups = timing_groups(
            probs, tuple(model.classes), families.family, rhythm, config.premature_ratio, config.irregular_above
        )
    # How much the steps changed, before a reviewer's answers: the measure of how far the patient, lead or
    # device is from what the network knows, and so of how much the labels need a person's eye.
    changed = 100.0 * float(np.mean(probs.argmax(axis=1) != network_calls)) if len(probs) else 0.0
    steps["changed_percent"] = changed
    steps["review_recommended"] = bool(
        config.review_above_percent is not None and changed > config.review_above_percent
    )
    if reviewed:
        # The border is placed by the answers about beats in no timing group: a group's answer is its own.
        outside = {i: c for i, c in reviewed.items() if groups is None or groups[i] < 0}
        border = reviewed_s_border(probs, tuple(model.classes), outside)
        probs = apply_s_border(probs, tuple(model.classes), border)
        if groups is not None:
            standing = representatives(groups, rhythm.prematurity, typical, config.group_voters_from)
            answers = group_answers(standing, reviewed)
            probs = reviewed_timing(probs, groups, answers)
            steps["groups_answered"] = len(answers)
        if families is not None:
            prematurity = None if rhythm is None else rhythm.prematurity
            probs = reviewed_s_families(
                probs, tuple(model.classes), families.family, typical, reviewed, prematurity, config.premature_ratio
            )
        probs = with_answers(probs, reviewed)
        steps["reviewed_beats"] = len(reviewed)
        steps["s_border"] = border
    steps["adapted"] = True
    return Adaptation(probs, families, steps, groups)
