"""The beat set: the one data structure every loader returns and every later stage consumes."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from arrhythmia.errors import DataError

#: AAMI EC57 heartbeat classes, in label order.
AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")

#: WFDB beat annotation symbol -> AAMI class (ANSI/AAMI EC57:1998). MIT-BIH uses all but ``B`` (bundle
#: branch block, unspecified), ``n`` (supraventricular escape) and ``r`` (R-on-T premature ventricular
#: contraction), which other WFDB databases (St Petersburg INCART, AHA) use.
SYMBOL_TO_AAMI: dict[str, str] = {
    **dict.fromkeys(["N", "L", "R", "B", "e", "j", "n"], "N"),
    **dict.fromkeys(["A", "a", "J", "S"], "S"),
    **dict.fromkeys(["V", "E", "r"], "V"),
    "F": "F",
    **dict.fromkeys(["/", "f", "Q"], "Q"),
}

#: WFDB annotation symbols that mark no beat (signal quality and rhythm changes, artefacts, comments, waves,
#: pacer spikes, flutter waves, non-conducted P waves, waveform onsets and ends): left out of the beats
#: without a word. Any other symbol not in ``SYMBOL_TO_AAMI`` is a beat no class is known for (WFDB's ``?``,
#: "learning", or a database's own custom label): left out too, and counted (``wfdb_source``).
NON_BEAT_SYMBOLS: frozenset[str] = frozenset('~|sT*D"=p^t+u![]@x()')

#: MIT-BIH's beat symbols in the order of its documentation: the classes of ``labels: mitdb``.
SYMBOL_ORDER: tuple[str, ...] = ("N", "L", "R", "e", "j", "A", "a", "J", "S", "V", "E", "F", "/", "f", "Q")
#: The names of the label sets (``TrainConfig.labels``).
LABEL_SETS = ("aami", "mitdb")
#: A beat symbol is a class of ``labels: mitdb`` when it has at least this many beats.
MIN_SYMBOL_BEATS = 100

#: Kachuee et al. 2018 beat length: 1.5 s at 125 Hz.
BEAT_LENGTH = 187
BEAT_FS = 125.0


@dataclass(frozen=True)
class Window:
    """Where a beat window lies around its R peak and at what rate it is sampled.

    kind : ``"kachuee"`` or ``"centred"``; before_s, after_s : seconds before and after the R peak
    (``centred`` only); fs : sampling rate of the window, Hz.
    """

    kind: str = "kachuee"
    before_s: float = 0.0
    after_s: float = 1.496
    fs: float = BEAT_FS

    @property
    def r_peak(self) -> int:
        """The R peak's sample in the window (0 for Kachuee beats, which start at it)."""
        return int(round(self.before_s * self.fs))

    @property
    def length(self) -> int:
        """Samples per beat window."""
        if self.kind == "kachuee":
            return BEAT_LENGTH
        return self.r_peak + int(round(self.after_s * self.fs))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Window:
        return cls(**values)


#: The named windows (``--window``). The centred window spans P wave to T wave at normal heart rates.
WINDOWS: dict[str, Window] = {
    "kachuee": Window(),
    "centred": Window("centred", before_s=0.25, after_s=0.45, fs=BEAT_FS),
}


def get_window(name: str) -> Window:
    """The named beat window (a key of ``WINDOWS``); DataError (one line) for another name."""
    if name not in WINDOWS:
        raise DataError(f"unknown beat window {name!r} (available: {', '.join(WINDOWS)})")
    return WINDOWS[name]


class BeatSetError(DataError, ValueError):
    """Arrays that do not make a beat set (a ValueError too, as the checks raised before they had a type)."""


def nonfinite_rows(values: np.ndarray) -> np.ndarray:
    """(n,) bool: the rows of ``values`` ((n, k) numbers: beats, context features) holding NaN or an infinity."""
    return ~np.isfinite(values).all(axis=1)


def _check_finite(values: np.ndarray, name: str, source: str) -> None:
    """BeatSetError where rows of ``values`` (n_beats, k) hold NaN or infinite values, saying how many."""
    bad = nonfinite_rows(values)
    if bad.any():
        raise BeatSetError(
            f"BeatSet of {source}: {int(bad.sum())} of {len(values)} beats hold NaN or infinite values in {name} "
            f"(the first: beat {int(np.argmax(bad))}); drop or repair them first"
        )


@dataclass
class BeatSet:
    """Segmented heartbeats with labels and per-beat provenance.

    Attributes
    ----------
    X : (n_beats, window.length) float32
        Beat waveforms cut as ``window`` says, scaled to about [0, 1] (see ``segmentation``).
    y : (n_beats,) int64
        Class index into ``classes``.
    classes : tuple of str
        Class names, e.g. the AAMI classes ``("N", "S", "V", "F", "Q")``.
    record : (n_beats,) str
        Record (patient) the beat comes from; for sources without patients, the file it came from.
    sample : (n_beats,) int64
        R-peak sample index at the record's own sampling rate; -1 where the source has none.
    symbol : (n_beats,) str
        Original annotation symbol ('' where the source has none).
    source : str
        Where the beats came from, e.g. ``"mitdb"``, ``"heartbeat-mitbih"``, ``"synthetic"``.
    synthetic : bool
        True for generated beats; every result derived from them must say so.
    is_test : (n_beats,) bool or None
        Beats the source itself reserves for testing (the Heartbeat CSVs' test file).
    info : dict
        What the source says of how the beats were read (a WFDB database or a store: the annotated beats
        per class, the beats lost and why, the lead of each record; synthetic data: seed and duration), the
        beat cache's ``cache_key``, and ``by_symbol``'s ``dropped_symbols``. A subset drops ``cache_key``.
    context : (n_beats, 9) float32 or None
        Context features of each beat (``context.CONTEXT_FEATURES``: RR intervals, and likeness to the
        recording's typical beat); None where the source has no R-peak positions (the Heartbeat CSVs).
    window : Window
        How the beats were cut.
    origin : str or None
        What ``load_beats`` read the beats from, so that ``load_beats(origin)`` reads them again: a source's
        name (``"mitdb"``, ``"synthetic"``) or a directory (absolute path). None for beats made in memory, a
        subset, or another lead than the default; relabelling (``by_symbol``) keeps it.

    Construction checks the arrays (``BeatSetError``, one line): X (n_beats, window.length) numbers, every
    beat finite; y integer class indices into ``classes``; context (n_beats, k) numbers, finite. The
    waveforms of a beat store (read from disk on indexing) are checked for their shape and type only.
    """

    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    record: np.ndarray
    sample: np.ndarray
    symbol: np.ndarray
    source: str
    synthetic: bool = False
    is_test: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    context: np.ndarray | None = None
    window: Window = field(default_factory=Window)
    origin: str | None = None

    def __post_init__(self) -> None:
        n = len(self.X)
        for name in ("y", "record", "sample", "symbol", "context"):
            if getattr(self, name) is not None and len(getattr(self, name)) != n:
                raise BeatSetError(
                    f"BeatSet of {self.source}: {name} has {len(getattr(self, name))} entries, X has {n}"
                )
        self._check_waveforms()
        self._check_labels()
        if self.context is not None:
            self._check_context()

    def _check_waveforms(self) -> None:
        shape, dtype = tuple(self.X.shape), np.dtype(self.X.dtype)
        if len(shape) != 2:
            raise BeatSetError(
                f"BeatSet of {self.source}: X has shape {shape}; it takes (n_beats, {self.window.length}), a row a beat"
            )
        if dtype.kind not in "iuf":
            raise BeatSetError(f"BeatSet of {self.source}: X holds {dtype} values; it takes numbers (float32)")
        if shape[1] != self.window.length:
            raise BeatSetError(
                f"BeatSet of {self.source}: beats of {shape[1]} samples, its {self.window.kind!r} window cuts "
                f"{self.window.length}"
            )
        if isinstance(self.X, np.ndarray):  # a beat store's waveforms stay on disk
            _check_finite(self.X, "X", self.source)

    def _check_labels(self) -> None:
        y = np.asarray(self.y)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise BeatSetError(
                f"BeatSet of {self.source}: y holds {y.dtype} values of shape {y.shape}; it takes (n_beats,) "
                "class indices (integers)"
            )
        outside = np.unique(y[(y < 0) | (y >= len(self.classes))])
        if len(outside):
            raise BeatSetError(
                f"BeatSet of {self.source}: labels {', '.join(map(str, outside[:10].tolist()))} are not class "
                f"indices of its {len(self.classes)} classes ({', '.join(self.classes)}): 0..{len(self.classes) - 1}"
            )

    def _check_context(self) -> None:
        context = np.asarray(self.context)
        if context.ndim != 2:
            raise BeatSetError(
                f"BeatSet of {self.source}: context has shape {context.shape}; it takes (n_beats, n_features)"
            )
        if context.dtype.kind not in "iuf":
            raise BeatSetError(f"BeatSet of {self.source}: context holds {context.dtype} values; it takes numbers")
        _check_finite(context, "context", self.source)

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, index: np.ndarray) -> BeatSet:
        """The beats at ``index`` (integer indices or a boolean mask), metadata included."""
        return replace(
            self,
            X=self.X[index],
            y=self.y[index],
            record=self.record[index],
            sample=self.sample[index],
            symbol=self.symbol[index],
            is_test=None if self.is_test is None else self.is_test[index],
            context=None if self.context is None else self.context[index],
            # A subset is not the cached set it came from: its splits must not be read from the cache, and
            # loading its origin again would not give it.
            info={k: v for k, v in self.info.items() if k != "cache_key"},
            origin=None,
        )

    def class_counts(self) -> dict[str, int]:
        """Number of beats per class name, in class order (zero counts included)."""
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts)}

    def records(self) -> list[str]:
        """The distinct records, sorted."""
        return sorted(Counter(self.record.tolist()))

    @property
    def description(self) -> str:
        """A short human label for reports; says 'synthetic' for generated data."""
        return f"{self.source} (SYNTHETIC data)" if self.synthetic else self.source


def concatenate(parts: list[BeatSet], source: str, info: dict | None = None) -> BeatSet:
    """One beat set from several with the same classes."""
    if not parts:
        raise DataError(f"{source}: no beats")
    return BeatSet(
        X=np.concatenate([p.X for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        classes=parts[0].classes,
        record=np.concatenate([p.record for p in parts]),
        sample=np.concatenate([p.sample for p in parts]),
        symbol=np.concatenate([p.symbol for p in parts]),
        source=source,
        synthetic=any(p.synthetic for p in parts),
        info=info or {},
        context=None if any(p.context is None for p in parts) else np.concatenate([p.context for p in parts]),
        window=parts[0].window,
    )


def by_symbol(
    beats: BeatSet,
    min_beats: int | None = None,
    records: list[str] | None = None,
    classes: tuple[str, ...] | None = None,
) -> BeatSet:
    """The beats relabelled by their own MIT-BIH symbol instead of its AAMI class.

    The classes are the symbols (in ``SYMBOL_ORDER``) with at least ``min_beats`` (default
    ``MIN_SYMBOL_BEATS``) beats among the beats of
    ``records`` (default: all; give the records a protocol uses, so that a class is not made of records it
    leaves out, such as the paced ones); beats of the other symbols are dropped. ``info["dropped_symbols"]``
    counts them. ``classes``: take these symbols instead (another lead of the same records).
    """
    min_beats = MIN_SYMBOL_BEATS if min_beats is None else min_beats
    if classes is None:
        counted = beats.symbol if records is None else beats.symbol[np.isin(beats.record, records)]
        symbols, counts = np.unique(counted, return_counts=True)
        enough = {str(s) for s, n in zip(symbols, counts) if n >= min_beats}
        classes = tuple(s for s in SYMBOL_ORDER if s in enough)
    if not classes:
        raise DataError(
            f"{beats.source}: no beat symbol has {min_beats} beats (the symbols are needed for labels: mitdb)"
        )
    keep = np.isin(beats.symbol, classes)
    dropped = {str(s): int(n) for s, n in zip(*np.unique(beats.symbol[~keep], return_counts=True))}
    kept = beats.subset(keep)
    y = np.array([classes.index(s) for s in kept.symbol], dtype=np.int64)
    # The same beats relabelled: loading their origin and relabelling them so (``Run.labelled``) gives them again.
    return replace(kept, y=y, classes=classes, info={**kept.info, "dropped_symbols": dropped}, origin=beats.origin)
