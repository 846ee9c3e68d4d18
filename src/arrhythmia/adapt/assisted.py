"""Assisted mode: which beats to ask a reviewer about, and how each answer is carried to the family,
timing group or N/S border it stands for (``arrhythmia.adapt``, "A reviewer's labels").
"""

from __future__ import annotations

import numpy as np

from arrhythmia.adapt.families import Families, exemplars, family_medians
from arrhythmia.adapt.rhythm import Timing, decide_supraventricular, relabel


def with_answers(probs: np.ndarray, reviewed: dict[int, int]) -> np.ndarray:
    """A copy of ``probs`` (n_beats, n_classes) with the rows a reviewer answered (``{row: class index}``)
    one-hot: a reviewer's label is certain."""
    probs = probs.copy()
    for row, c in reviewed.items():
        probs[row] = np.eye(probs.shape[1], dtype=probs.dtype)[c]
    return probs


def _s_score(probs: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """How much more S than N each beat looks: log p_S - log p_N, (n_beats,); 0 is the model's own border."""
    s, n = classes.index("S"), classes.index("N")
    return np.log(np.maximum(probs[:, s], 1e-12)) - np.log(np.maximum(probs[:, n], 1e-12))


def reviewed_s_border(probs: np.ndarray, classes: tuple[str, ...], reviewed: dict[int, int]) -> float:
    """Where this recording's border between N and S lies on ``_s_score``, from the reviewed N and S beats:
    the border nearest the model's own (0) that leaves every reviewed N beat below it and every reviewed S
    beat above it. A reviewed S beat below 0 moves it just below that beat, a reviewed N beat above 0 just
    above that beat; where the model's border already parts them, or the reviewed N and S beats overlap
    (no border parts them), it stays at 0. The least move: a beat answered S whose shape the network
    scored far on the N side (an atrial premature beat told by its timing, not its shape) moves the border
    only as far as that beat, not halfway to the most N-like beat answered N (215: docs/choosing-the-adaptation.md,
    "Assisted mode"). 0 where ``classes`` lack N or S (``labels: mitdb`` calls atrial premature beats A): no
    border to move."""
    if "S" not in classes or "N" not in classes:
        return 0.0
    score = _s_score(probs, classes)
    n_scores = [score[i] for i, c in reviewed.items() if classes[c] == "N"]
    s_scores = [score[i] for i, c in reviewed.items() if classes[c] == "S"]
    highest_n, lowest_s = max(n_scores, default=-np.inf), min(s_scores, default=np.inf)
    if highest_n >= lowest_s:  # the reviewed N and S beats overlap: the model's own border is as good as any
        return 0.0
    if lowest_s < 0.0:
        return float(lowest_s - 1e-6)
    if highest_n >= 0.0:
        return float(highest_n + 1e-6)
    return 0.0


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


def reviewed_timing(probs: np.ndarray, groups: np.ndarray, answers: dict[int, int]) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with every beat of each answered timing group (``groups``,
    ``timing_groups``; ``answers``: group -> class index, from the group's ``representatives``) called
    what its group was answered: the beat's largest probability goes to that class, and that class's to
    the one the beat was called. Other beats are left as they are."""
    out = probs.copy()
    for group, answer in answers.items():
        relabel(out, np.flatnonzero(groups == group), answer)
    return out


def reviewed_s_families(
    probs: np.ndarray,
    classes: tuple[str, ...],
    family: np.ndarray,
    exemplar: np.ndarray,
    reviewed: dict[int, int],
    prematurity: np.ndarray | None = None,
    premature_ratio: float = 0.86,
) -> np.ndarray:
    """Probabilities (n_beats, n_classes) with every beat called N or S of each family (``family``: (n_beats,))
    but the usual beat's whose exemplar (``exemplar``: (n_families,), ``exemplars``) was reviewed S and whose
    median beat comes early (``prematurity``: (n_beats,), under ``premature_ratio``; None: every such family)
    called S, its larger of the N and S probabilities going to S. A family of its own shape that a reviewer
    calls S and that comes early is the patient's aberrantly conducted atrial premature beats: they are
    aberrant because they come early, whatever the rhythm around them. A family that comes on time is a
    shape the patient's supraventricular beats take (another axis, another part of the recording), S or N
    by each beat's timing as in the usual family."""
    if "S" not in classes or "N" not in classes:
        return probs
    s, n = classes.index("S"), classes.index("N")
    answered_s = [f for f in range(1, len(exemplar)) if reviewed.get(int(exemplar[f])) == s]
    if prematurity is not None and answered_s:
        medians = family_medians(family, np.asarray(prematurity, dtype=np.float64))
        answered_s = [f for f in answered_s if medians[f] < premature_ratio]
    is_s = np.isin(family, answered_s) & np.isin(probs.argmax(axis=1), [s, n])
    return decide_supraventricular(probs, s, n, is_s, np.zeros_like(is_s))


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
