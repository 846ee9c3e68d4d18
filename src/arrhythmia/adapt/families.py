"""Morphology families: one recording's beats grouped by the shape of their QRS complex, as Holter software
groups them for a reviewer, and the family consensus that gives every beat of a family one morphology.

The largest family (family 0) stands for the patient's usual beat; ``arrhythmia.adapt`` says how the
families are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arrhythmia.data.beats import SYMBOL_TO_AAMI, Window

#: Morphology groups of the AAMI classes (and of MIT-BIH's beat symbols, by their AAMI class): beats of one
#: group look alike; S and N differ only in timing.
MORPHOLOGY = {
    symbol: {"N": "SV", "S": "SV", "V": "V", "F": "F", "Q": "Q"}[aami] for symbol, aami in SYMBOL_TO_AAMI.items()
}


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
        """(n_families,) int64: the beats in each family, largest first."""
        return np.bincount(self.family, minlength=len(self.templates))


def _qrs_shapes(X: np.ndarray, window: Window, qrs_s: tuple[float, float]) -> np.ndarray:
    """The QRS part of each beat window, centred and scaled to unit norm: (n_beats, m) float64, so that
    the dot product of two rows is their correlation (a flat one: the constant unit vector)."""
    first = max(window.r_peak - int(round(qrs_s[0] * window.fs)), 0)
    last = min(window.r_peak + int(round(qrs_s[1] * window.fs)), X.shape[1])
    shapes = np.asarray(X[:, first:last], dtype=np.float64)
    shapes = shapes - shapes.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(shapes, axis=1, keepdims=True)
    # A flat QRS (a saturated or lost stretch) has no shape: the constant unit vector, orthogonal to every
    # centred shape, puts such beats in a family of their own instead of dividing by zero.
    flat = norms[:, 0] < 1e-9
    shapes[flat] = 1.0 / np.sqrt(shapes.shape[1])
    return shapes / np.where(flat[:, None], 1.0, norms)


def morphology_families(
    X: np.ndarray,
    window: Window,
    distance: float = 0.15,
    qrs_s: tuple[float, float] = (0.10, 0.15),
    sample: int = 2000,
    seed: int = 0,
) -> Families:
    """Group beat windows X: (n_beats, window.length) by QRS shape (the module docstring and ``arrhythmia.adapt``)."""
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


def exemplars(families: Families) -> np.ndarray:
    """(n_families,) int: each family's most typical beat, the one whose QRS is likest to its template."""
    order = np.lexsort((-families.likeness, families.family))  # by family, the likest first
    first = np.searchsorted(families.family[order], np.arange(len(families.templates)))
    return order[np.minimum(first, len(order) - 1)]


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
    beat comes late (``AdaptConfig.fusion_late_above``) or that hold more than a fifth of the beats
    (``AdaptConfig.fusion_share_below``), or every family (``AdaptConfig.fusion_families`` off). A reviewer's
    F for a family's exemplar carries the family either way (208's fusion beats repeat a few shapes), but for
    the usual beat's family (family 0), which is never fusion.
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


def family_medians(family: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(n_families,) the median of ``values`` ((n_beats,)) over each family's beats (``family``: (n_beats,)
    int, numbered from 0), NaN for a family with no beats."""
    n_families = int(family.max()) + 1 if len(family) else 0
    return np.array([np.median(values[family == f]) if (family == f).any() else np.nan for f in range(n_families)])


def family_shares(family: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_families,) each family's size and the share of its beats (``family``: (n_beats,) int) that are
    ``members`` ((n_beats,) bool; with (n_beats,) float weights, their mean over the family)."""
    sizes = np.bincount(family, minlength=int(family.max()) + 1)
    return sizes, np.bincount(family, weights=members, minlength=len(sizes)) / np.maximum(sizes, 1)


def lone_beats(family: np.ndarray, min_family_beats: int) -> np.ndarray:
    """(n_beats,) bool: the beats of a shape fewer than ``min_family_beats`` beats share (``family``:
    (n_beats,) int, numbered from 0), too few to vote as a family."""
    return np.bincount(family)[family] < min_family_beats
