"""EC57's run-by-run comparison: couplets and runs of ectopic beats, counted as PhysioNet's ``rxr`` counts them.

A Holter's ectopy table is read as couplets and runs, and EC57 asks for them beside the beat figures:
the sensitivity and positive predictivity of ventricular (and supraventricular) couplets, short runs (3-5
beats) and long runs (6 or more). ``compare_runs`` makes ``rxr``'s two matrices for one recording and
``run_statistics`` the six figures from them (summed over recordings first: EC57's gross statistics).

As ``rxr`` reads an annotation file:

- a run is a stretch of consecutive ectopic beats: V or F beats for a ventricular run, S beats for a
  supraventricular one (MIT-BIH's ``A a J S j e n``: ``rxr`` counts escape beats here, where ``bxb`` counts
  them N), ended by any other beat; its length is counted up to 6 (``LONGEST``); a run still open when the
  beats end is not counted;
- ventricular flutter or fibrillation begins a ventricular run of length 6, atrial fibrillation or flutter a
  supraventricular one (a run of beats already under way goes on as counted), and its end carries the run
  to there; inside atrial fibrillation N beats count as S, so a V, F or Q beat there ends the run and the
  beats after it begin a new one, counted by its beats (an AF record with ventricular ectopy holds many S
  couplets and short runs);
- for the sensitivity, each reference run is looked for in the labels from 150 ms before its first beat to
  150 ms after its last (or its episode's end): the longest stretch of the labels' ectopic beats in that
  window (6 where the labels' own episode overlaps it). A reference couplet is found by a couplet or longer,
  a short run by a run of 3 or more, a long run by a long run. The positive predictivity is the same with
  the two sides swapped.

Unlike ``rxr``, which starts at minute 5 (EC57's learning period), every beat is counted from the first
second, as the beat figures are here. Shutdown (both leads unreadable) is not marked by ``predict`` and is
not read from the reference.
"""

from __future__ import annotations

import numpy as np

from arrhythmia.data.quality import overlapping

#: Runs are counted up to this length; a run this long or longer is a long run.
LONGEST = 6
#: The two kinds of run and, for each, the rxr classes of the beats that make one.
RUN_KINDS = {"V": ("V", "F"), "S": ("S",)}
#: Each kind's name in the tables.
RUN_NAMES = {"V": "ventricular", "S": "supraventricular"}
#: A beat label (an AAMI class, or a WFDB beat symbol) -> the class ``rxr`` reads it as.
RXR_CLASS: dict[str, str] = {
    **dict.fromkeys(["N", "L", "R", "B"], "N"),
    **dict.fromkeys(["S", "A", "a", "J", "j", "e", "n"], "S"),
    **dict.fromkeys(["V", "E", "r"], "V"),
    "F": "F",
    **dict.fromkeys(["Q", "/", "f", "?"], "Q"),
}
#: The length bins of EC57's figures: (name, shortest, longest).
RUN_BINS = (("couplet", 2, 2), ("short run", 3, LONGEST - 1), ("long run", LONGEST, LONGEST))
#: How far a run may lie from its match on the other side, s (EC57's match window).
MATCH_S = 0.15


def _runs(samples: np.ndarray, labels: np.ndarray, episodes: np.ndarray, kind: str) -> list[tuple[int, int, int]]:
    """One side's runs of ``kind``, read as ``rxr`` reads an annotation file: ``(first_sample, last_sample,
    length)``, the length capped at ``LONGEST``.

    samples: (n,) int beat samples in ascending order; labels: (n,) str their labels; episodes: (k, 2) int
    sample spans of this side's episodes of the kind (ventricular flutter; atrial fibrillation or flutter).

    A run begins at an ectopic beat of the kind (length 1) or at an episode's start outside a run (length
    ``LONGEST``); an ectopic beat lengthens it and an episode's end carries it to there; any other beat ends it,
    inside an episode too (inside atrial fibrillation, N beats count as S: there a V beat ends the run, and the
    beats after it begin a new one). A run still open when the beats end is not counted.
    """
    ectopic = _is_ectopic(labels, kind)
    if kind == "S":  # inside atrial fibrillation or flutter every supraventricular beat counts as S
        ectopic |= overlapping(samples, samples, episodes) & (_rxr_classes(labels) == "N")
    # in time order; at one sample an episode's start, then the beat, then an episode's end (its ends hold it)
    events = [(int(s), 1, bool(e)) for s, e in zip(samples, ectopic)]
    events += [(int(start), 0, True) for start in episodes[:, 0]] + [(int(end), 2, True) for end in episodes[:, 1]]
    events.sort(key=lambda event: event[:2])
    runs, current = [], None
    for sample, what, extends in events:
        if what == 0:  # an episode begins: a long run, unless a run of beats is already under way
            current = current or [sample, sample, LONGEST]
        elif what == 2:  # an episode ends: the run reaches it
            if current is not None:
                current[1] = max(current[1], sample)
        elif extends:
            current = [sample, sample, 0] if current is None else current
            current[1], current[2] = sample, min(LONGEST, current[2] + 1)
        elif current is not None:  # any other beat ends the run
            runs.append(tuple(current))
            current = None
    return runs


def _rxr_classes(labels: np.ndarray) -> np.ndarray:
    """(n,) str: the class ``rxr`` reads each of ``labels`` as (``RXR_CLASS``; Q for a label it does not know)."""
    return np.array([RXR_CLASS.get(str(label), "Q") for label in labels], dtype=str)


def _is_ectopic(labels: np.ndarray, kind: str) -> np.ndarray:
    """(n,) bool: which of ``labels`` make a run of ``kind`` (``RUN_KINDS``)."""
    return np.isin(_rxr_classes(labels), RUN_KINDS[kind])


def _longest_in(window: tuple[int, int], samples: np.ndarray, ectopic: np.ndarray, episodes: np.ndarray) -> int:
    """The longest stretch (up to ``LONGEST``) of consecutive ectopic beats among ``samples`` inside ``window``
    (first and last sample, both included); ``LONGEST`` where one of ``episodes`` overlaps the window."""
    first, last = window
    if len(episodes) and ((episodes[:, 0] <= last) & (episodes[:, 1] >= first)).any():
        return LONGEST
    lo, hi = np.searchsorted(samples, first, side="left"), np.searchsorted(samples, last, side="right")
    longest = streak = 0
    for is_ectopic in ectopic[lo:hi]:
        streak = streak + 1 if is_ectopic else 0
        longest = max(longest, streak)
    return min(longest, LONGEST)


def _one_way(
    runs_of: tuple[np.ndarray, np.ndarray, np.ndarray],
    found_in: tuple[np.ndarray, np.ndarray, np.ndarray],
    kind: str,
    margin: int,
) -> np.ndarray:
    """(LONGEST + 1, LONGEST + 1) counts: each run of ``runs_of`` (samples, labels, episodes) by its length (row)
    and the longest run ``found_in`` the other side in its window (column)."""
    counts = np.zeros((LONGEST + 1, LONGEST + 1), dtype=np.int64)
    samples, labels, episodes = found_in
    ectopic = _is_ectopic(labels, kind)
    for first, last, length in _runs(*runs_of, kind):
        counts[length, _longest_in((first - margin, last + margin), samples, ectopic, episodes)] += 1
    return counts


def compare_runs(
    reference: tuple[np.ndarray, np.ndarray],
    labelled: tuple[np.ndarray, np.ndarray],
    fs: float,
    reference_episodes: dict[str, np.ndarray] | None = None,
    labelled_episodes: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One recording's run-by-run comparison, as ``rxr`` makes it.

    reference, labelled : ``(samples (n,) int, labels (n,) str)`` of the reference beats and the labelled
    detections, at the same rate ``fs`` (Hz); labels are AAMI classes or WFDB beat symbols (``RXR_CLASS``).
    reference_episodes, labelled_episodes : ``{"V": (k, 2) int, "S": (k, 2) int}`` sample spans of each side's
    ventricular flutter or fibrillation (``"V"``) and atrial fibrillation or flutter (``"S"``); none if omitted.

    Returns ``{"V": counts, "S": counts}``, each (2, LONGEST + 1, LONGEST + 1) int64: ``counts[0, i, j]`` the
    reference runs of length i in whose window the labels' longest run was j (sensitivity), ``counts[1, i, j]``
    the labels' runs of length i against the reference's longest j (positive predictivity); row 0 is empty.
    """
    margin = round(MATCH_S * fs)
    sides = []
    for (samples, labels), episodes in ((reference, reference_episodes), (labelled, labelled_episodes)):
        samples = np.asarray(samples, dtype=np.int64)
        order = np.argsort(samples, kind="stable")
        sides.append((samples[order], np.asarray(labels, dtype=str)[order], episodes or {}))
    counts = {}
    for kind in RUN_KINDS:
        ref, lab = ((s, lbl, _spans(e.get(kind))) for s, lbl, e in sides)
        counts[kind] = np.stack([_one_way(ref, lab, kind, margin), _one_way(lab, ref, kind, margin)])
    return counts


def _spans(spans: np.ndarray | None) -> np.ndarray:
    return np.zeros((0, 2), np.int64) if spans is None else np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def run_statistics(counts: np.ndarray) -> dict[str, dict]:
    """EC57's couplet, short-run and long-run figures from ``compare_runs``' counts of one kind (summed over
    recordings for the gross figures): ``{"couplet" | "short run" | "long run": {"se", "ppv", "tp_se", "fn",
    "tp_ppv", "fp"}}``, fractions, None where undefined.

    A reference run of a bin is found (``tp_se``) when the labels' longest run in its window reaches the bin's
    shortest length (a long run: is long too), else missed (``fn``); a labelled run of a bin is true (``tp_ppv``)
    when the reference's reaches it, else false (``fp``)."""
    counts = np.asarray(counts, dtype=np.int64)
    figures = {}
    for name, shortest, longest in RUN_BINS:
        rows = slice(shortest, longest + 1)
        tp_se, fn = int(counts[0, rows, shortest:].sum()), int(counts[0, rows, :shortest].sum())
        tp_ppv, fp = int(counts[1, rows, shortest:].sum()), int(counts[1, rows, :shortest].sum())
        figures[name] = {
            "se": tp_se / (tp_se + fn) if tp_se + fn else None,
            "ppv": tp_ppv / (tp_ppv + fp) if tp_ppv + fp else None,
            "tp_se": tp_se,
            "fn": fn,
            "tp_ppv": tp_ppv,
            "fp": fp,
        }
    return figures
