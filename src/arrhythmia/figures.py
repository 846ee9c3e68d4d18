"""Figures of a training run: the data, the training curves and the test results, one PNG each.

Every ``plot_*`` function takes plain data (arrays, dicts, a BeatSet), writes one PNG atomically and
returns its path; they know nothing of runs. ``reporting.make_figures(run)`` draws a run's seven figures
into ``run_dir/figures/``.

Figures are drawn on ``matplotlib.figure.Figure`` objects directly rather than through pyplot: no
backend or global figure registry is involved, so this works headless and leaks no open figures.
Beats are windows around the R peak (e.g. 187 samples at 125 Hz, 1.5 s from the R peak, for the Kachuee
window), scaled to about [0, 1] ("normalised amplitude").
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator
from PIL import Image

from arrhythmia.data.beats import WINDOWS, BeatSet, Window
from arrhythmia.data.quality import merged_stretches
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import figure_text
from arrhythmia.files import atomic_write_bytes

FIGURES_DIR = "figures"
#: File name of each figure in ``run_dir/figures/``, in report order.
FIGURE_FILES: dict[str, str] = {
    "example_beats": "01_example_beats.png",
    "beat_statistics": "02_beat_statistics.png",
    "class_distribution": "03_class_distribution.png",
    "training_curves": "04_training_curves.png",
    "confusion": "05_confusion.png",
    "sample_predictions": "06_sample_predictions.png",
    "ec57": "07_ec57.png",
}
#: Readable names of the AAMI EC57 classes; other class names are shown as they are.
AAMI_NAMES: dict[str, str] = {
    "N": "normal",
    "S": "supraventricular ectopic",
    "V": "ventricular ectopic",
    "F": "fusion",
    "Q": "unclassifiable / paced",
}
DPI = 100  # with the sizes below and a 256-colour palette, PNGs stay around 15-60 KB
RIGHT, WRONG = "#1a7f37", "#cf222e"  # green / red for correct / wrong predictions
WRONG_FRAME_LW = 3.0  # the frame of a wrong prediction's panel, points (matplotlib's usual: 0.8)
SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
#: And a hatch each: val's orange and test's green are one grey in black-and-white print (CIELAB L* 65 and 63) and
#: 4 CIELAB units apart with deuteranopia, so the class-distribution bars of the two were told apart by nothing.
SPLIT_HATCHES = {"train": None, "val": "///", "test": "..."}
#: The line style of each class's histogram, in turn: five classes in matplotlib's first five colours printed as
#: three greys (N, F and Q one of them), and with deuteranopia V's green and F's red were one olive.
CLASS_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))
AMPLITUDE = "normalised amplitude"


def class_label(name: str) -> str:
    """``"V"`` -> ``"V (ventricular ectopic)"``; names that are not AAMI classes unchanged."""
    return f"{name} ({AAMI_NAMES[name]})" if name in AAMI_NAMES else name


def _title(text: str, synthetic: bool) -> str:
    # Generated data must never be mistaken for real ECG, so every title says so.
    return f"{text} (SYNTHETIC data)" if synthetic else text


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` in one rename (no half-written file is ever visible).

    The image is reduced to a 256-colour palette: plots use few colours, and the report embeds
    every figure, so this halves the files at no visible cost.
    """
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    image = Image.open(buffer).convert("RGB").quantize(256)
    atomic_write_bytes(path, lambda tmp: image.save(tmp, format="png", optimize=True))
    return path


def clock(seconds: float, with_seconds: bool = True) -> str:
    """A time from the start of a recording as a Holter report gives it: ``1:02:03`` (``1:02`` without
    seconds); seconds: >= 0."""
    whole = int(round(seconds)) if with_seconds else int(seconds // 60) * 60
    hours, rest = divmod(whole, 3600)
    text = f"{hours}:{rest // 60:02d}"
    return f"{text}:{rest % 60:02d}" if with_seconds else text


def rounds_to_nought(value: float | None, digits: int) -> bool:
    """Whether ``value`` is above nought but ``digits`` decimals would write it as nought: "0.0" reads as none (one
    V beat in a day's 100,000, a family of one beat among 3,000, a day's 1 min 30 s of AF in hours)."""
    return value is not None and 0 < value < 10.0**-digits / 2


def share(percent: float, digits: int = 1) -> str:
    """A share (%) to ``digits`` decimals: ``"0.5%"``; one above nought that those decimals would round to
    nought (``rounds_to_nought``) as ``"under 0.1%"`` (``"under 0.01%"``)."""
    if rounds_to_nought(percent, digits):
        return f"under {10.0**-digits:.{digits}f}%"
    return f"{percent:.{digits}f}%"


def beats_text(beats: int) -> str:
    """``"1 beat"``, ``"1,619 beats"``."""
    return f"{beats:,} beat{'s' if beats != 1 else ''}"


#: Tick steps of a whole-recording time axis, s: the first that gives at most 12 ticks is taken (from a second
#: a tick, for a recording of seconds, to two days a tick: a 14-day patch recording reads 0:00, 48:00, ... 336:00).
CLOCK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800)  # a second to half an hour
CLOCK_STEPS_S += (3600, 7200, 10800, 14400, 21600, 43200, 86400, 172800)  # an hour to two days


def _clock_axis(ax, span_s: float, with_seconds: bool = False) -> None:
    """Label the x axis of ``ax`` (seconds from the start) as h:mm (or h:mm:ss for a strip); ticks at a
    round step over a span of ``span_s`` seconds (for a strip, whole seconds, so no two ticks read alike).
    A span under 12 minutes gets steps of seconds, read as h:mm:ss: by the minute, a 10-second recording's
    axis read 0:00, 0:01."""
    if with_seconds:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        step = next((s for s in CLOCK_STEPS_S if span_s / s <= 12), CLOCK_STEPS_S[-1])
        ax.xaxis.set_major_locator(MultipleLocator(step))
        with_seconds = step < 60
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock(max(x, 0.0), with_seconds)))
    ax.set_xlabel("time from the start (h:mm:ss)" if with_seconds else "time from the start (h:mm)")


def _time_axis(length: int, window: Window) -> np.ndarray:
    """Seconds from the R peak of each sample of a beat window of ``length`` samples."""
    return np.arange(length) / window.fs - window.before_s


def plot_example_beats(beats: BeatSet, path: str | Path) -> Path:
    """One example beat of each class (the first of its class in ``beats``), in a grid.

    beats.X : (n_beats, 187) at 125 Hz, normalised amplitude; classes with no beats get an empty panel.
    """
    classes = list(beats.classes)
    ncols = min(len(classes), 3)
    nrows = math.ceil(len(classes) / ncols)
    fig = Figure(figsize=(4.0 * ncols, 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    t = _time_axis(beats.X.shape[1], beats.window)
    for i, name in enumerate(classes):
        ax = axes[i]
        where = np.flatnonzero(beats.y == i)
        if len(where):
            ax.plot(t, beats.X[where[0]], color="#4c72b0", lw=1.4)
            ax.set_title(f"{class_label(name)}: {len(where):,} beats", fontsize=10)
        else:
            ax.text(0.5, 0.5, "no beats of this class", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(class_label(name), fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_xlabel("time from R peak (s)")
        ax.set_ylabel(AMPLITUDE)
    for ax in axes[len(classes) :]:
        ax.set_visible(False)
    fig.suptitle(_title("Example beat of each class (first of its class, training split)", beats.synthetic))
    return _save(fig, path)


def plot_beat_statistics(beats: BeatSet, path: str | Path) -> Path:
    """Per-class histograms of each beat's mean and standard deviation, overlaid (two panels).

    Densities rather than counts, so rare classes are as visible as the dominant one.
    """
    means, stds = beats.X.mean(axis=1), beats.X.std(axis=1)
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, values, what in ((axes[0], means, "beat mean"), (axes[1], stds, "beat standard deviation")):
        bins = np.histogram_bin_edges(values, bins=30) if len(values) else 10
        for i, name in enumerate(beats.classes):
            mine = values[beats.y == i]
            if len(mine):
                # Outlines, not filled bars: five overlaid classes stay distinguishable; each its own line style,
                # as well as its colour, for a black-and-white print or a colour-blind reader.
                style = CLASS_LINESTYLES[i % len(CLASS_LINESTYLES)]
                ax.hist(
                    mine, bins=bins, density=True, histtype="step", lw=1.6, ls=style, label=f"{name} (n={len(mine):,})"
                )
        ax.set_xlabel(f"{what} ({AMPLITUDE})")
        ax.set_ylabel("density")
        ax.set_title(f"Distribution of the {what}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(title="class", fontsize=8)
    fig.suptitle(_title("Beat statistics per class (training split)", beats.synthetic))
    return _save(fig, path)


def plot_class_distribution(counts: Mapping[str, Mapping[str, int]], path: str | Path, synthetic: bool = False) -> Path:
    """Grouped bar chart of beats per class in each split, counts on the bars, log-scale y.

    counts : ``{split: {class: n_beats}}``, e.g. data.json's ``counts``.
    """
    splits = list(counts)
    classes = list(next(iter(counts.values()))) if counts else []
    x = np.arange(len(classes))
    width = 0.8 / max(len(splits), 1)
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    for j, split in enumerate(splits):
        values = np.array([counts[split].get(c, 0) for c in classes])
        # Log scale: an empty class is drawn at the axis floor and still labelled 0.
        bars = ax.bar(
            x + (j - (len(splits) - 1) / 2) * width,
            np.maximum(values, 0.8),
            width,
            bottom=0.0,
            label=f"{split} ({values.sum():,})",
            color=SPLIT_COLOURS.get(split),
            hatch=SPLIT_HATCHES.get(split),
            hatchcolor="white",
            edgecolor="white",
            lw=0.5,
        )
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=7, padding=1)
    ax.set_yscale("log")
    ax.set_ylim(0.7, max([max(c.values(), default=1) for c in counts.values()], default=1) * 3)
    ax.set_xticks(x, [class_label(c) for c in classes], fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel("beats (log scale)")
    ax.legend(title="split (beats)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(_title("Beats per class and split", synthetic))
    return _save(fig, path)


def lr_drops(history: Sequence[Mapping]) -> list[int]:
    """Epochs whose learning rate is lower than the epoch before (ReduceLROnPlateau steps)."""
    return [b["epoch"] for a, b in zip(history, history[1:]) if b["lr"] < a["lr"]]


def _drops_label(drops: Sequence[int]) -> str:
    """Legend text for the learning-rate drops, naming the epochs while there are few."""
    if len(drops) > 4:
        return f"learning-rate drops ({len(drops)})"
    return f"learning-rate drop (epoch{'s' if len(drops) > 1 else ''} {', '.join(map(str, drops))})"


def best_epoch(history: Sequence[Mapping], checkpoint: str = "best") -> int | None:
    """The epoch of the saved checkpoint: with ``checkpoint="best"`` the one with the lowest validation
    loss, with ``"last"`` the last; None without one."""
    if checkpoint == "last":
        return history[-1]["epoch"] if history else None
    rows = [r for r in history if not math.isnan(r["val_loss"])]
    return min(rows, key=lambda r: r["val_loss"])["epoch"] if rows else None


def loss_names(loss: str = "ce", class_weights: str = "none", focal_gamma: float = 2.0) -> tuple[str, str]:
    """What history.csv's train and validation losses are, for a run's ``loss``, ``class_weights`` and
    ``focal_gamma`` (``TrainConfig``): training's loss function, and the validation loss, which is the
    cross-entropy with the same class weights (``train.validate``) whatever the training loss."""
    weighted = "class-weighted " if class_weights == "balanced" else ""
    train = f"{weighted}focal loss (gamma {focal_gamma:g})" if loss == "focal" else f"{weighted}cross-entropy"
    return train, f"{weighted}cross-entropy"


def plot_training_curves(
    history: Sequence[Mapping],
    path: str | Path,
    best_epoch: int | None,
    synthetic: bool = False,
    losses: tuple[str, str] = ("cross-entropy", "cross-entropy"),
) -> Path:
    """Loss and accuracy (train and validation) per epoch, best epoch and learning-rate drops marked.

    history : rows of history.csv (epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds).
    best_epoch : the epoch of the saved checkpoint (``best_epoch``), drawn as a vertical line.
    losses : what the train and the validation loss are (``loss_names``), as the axis and the legend say.
    """
    epochs = [r["epoch"] for r in history]
    drops = lr_drops(history)
    marker = "o" if len(epochs) <= 40 else None  # a few epochs are easier to read as points
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    same = losses[0] == losses[1]  # else each line names its loss: a focal loss is not a cross-entropy
    panels = (("loss", f"{losses[0]} loss" if same else "loss", 1.0), ("acc", "accuracy (%)", 100.0))
    for ax, (key, ylabel, scale) in zip(axes, panels):
        # Each line its own style and marker besides its colour: in black-and-white print the blue and the orange
        # are two close greys, and with deuteranopia the orange is the kept checkpoint's olive.
        for part, style in (("train", ("-", "o")), ("val", ("--", "s"))):
            values = [r[f"{part}_{key}"] * scale for r in history]
            name = "train" if part == "train" else "validation"
            if key == "loss" and not same:
                name += f" ({losses[0] if part == 'train' else losses[1]})"
            ls, shape = style
            ax.plot(
                epochs, values, ls=ls, marker=shape if marker else None, ms=3, color=SPLIT_COLOURS[part], label=name
            )
        if best_epoch is not None:
            ax.axvline(best_epoch, color="#2ca02c", ls="--", lw=1.2, label=f"kept checkpoint (epoch {best_epoch})")
        for k, epoch in enumerate(drops):
            ax.axvline(epoch, color="#9467bd", ls=":", lw=1.2, label=_drops_label(drops) if k == 0 else None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if epochs:  # half an epoch each side: one epoch alone was an axis of thousandths with no whole epoch
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("Loss", fontsize=10)
    axes[1].set_title("Accuracy", fontsize=10)
    fig.suptitle(_title("Training curves", synthetic))
    return _save(fig, path)


def _heatmap(ax, matrix: np.ndarray, labels: Sequence[str], text: Sequence[Sequence[str]], title: str) -> None:
    """One annotated confusion heatmap: rows true classes, columns predicted classes."""
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    top = matrix.max() if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            # White text on dark cells, black on light ones.
            colour = "white" if top and matrix[i, j] > 0.6 * top else "black"
            ax.text(j, i, text[i][j], ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)


def plot_confusion(
    confusion: Sequence[Sequence[int]] | np.ndarray,
    normalised: Sequence[Sequence[float]] | np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    synthetic: bool = False,
    tested_on: str = "the test split",
) -> Path:
    """Confusion matrix (n_classes, n_classes), rows true, columns predicted: ``confusion`` counts and
    the row-normalised fractions (``metrics.json``'s ``confusion`` and ``confusion_normalised``);
    ``tested_on`` names the beats in the title."""
    counts = np.asarray(confusion, dtype=np.int64)
    normalised = np.asarray(normalised, dtype=np.float64)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    _heatmap(axes[0], counts, classes, [[f"{v:,}" for v in row] for row in counts], "Counts (beats)")
    # A class without beats here has no row to normalise: "-", as its Se is, not a row of 0% read as missed beats.
    shares = [[f"{v:.0%}" if n else "-" for v in row] for row, n in zip(normalised, counts.sum(axis=1))]
    _heatmap(axes[1], normalised, classes, shares, "Row-normalised (recall)")
    fig.suptitle(_title(f"Confusion matrix on {tested_on}", synthetic))
    return _save(fig, path)


def pick_sample_indices(y_true: np.ndarray, y_pred: np.ndarray, n: int = 8, seed: int = 42) -> np.ndarray:
    """Indices of ``n`` beats to show, errors included, drawn reproducibly with ``default_rng(seed)``.

    Takes ``min(#errors, 4)`` wrong predictions (so at least two when there are two or more) and fills
    the rest with correct ones; when there are too few correct ones, more errors fill the gap.
    Returns sorted int64 indices into ``y_true``; fewer than ``n`` only when there are fewer beats.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(y_true != y_pred)
    right = np.flatnonzero(y_true == y_pred)
    wrong, right = rng.permutation(wrong), rng.permutation(right)
    n_wrong = min(len(wrong), 4)
    n_right = min(len(right), n - n_wrong)
    n_wrong = min(len(wrong), n - n_right)  # top up with errors when correct ones run out
    return np.sort(np.concatenate([wrong[:n_wrong], right[:n_right]])).astype(np.int64)


def plot_sample_predictions(
    X: np.ndarray,
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    seed: int = 42,
    synthetic: bool = False,
    window: Window = WINDOWS["kachuee"],
) -> Path:
    """Eight test beats with true label, predicted label and confidence; green where right, red where wrong, and
    a wrong one's panel also in a heavy frame, its title bold (seen without colour).

    X : (n_beats, window length) cut with ``window``; y_true : (n_beats,) class indices; probs : (n_beats, n_classes).
    """
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    picked = pick_sample_indices(y_true, y_pred, n=8, seed=seed)
    fig = Figure(figsize=(13, 5.6), layout="constrained")
    axes = fig.subplots(2, 4, sharex=True, sharey=True).ravel()
    t = _time_axis(X.shape[1], window)
    for ax, i in zip(axes, picked):
        ok = y_true[i] == y_pred[i]
        colour = RIGHT if ok else WRONG
        ax.plot(t, X[i], color=colour, lw=1.3)
        verdict = "right" if ok else "WRONG"
        ax.set_title(
            f"true {classes[y_true[i]]}, predicted {classes[y_pred[i]]}\n"
            f"confidence {probs[i, y_pred[i]]:.0%} ({verdict})",
            color=colour,
            fontsize=9,
            fontweight="normal" if ok else "bold",
        )
        if not ok:
            # A heavy frame and a bold title, not the red alone: green and red print as one grey, and are one
            # olive with deuteranopia, so an error was told from a right call only by its title's small word.
            for spine in ax.spines.values():
                spine.set(color=WRONG, lw=WRONG_FRAME_LW)
        ax.grid(alpha=0.3)
    for ax in axes[len(picked) :]:
        ax.text(0.5, 0.5, "no more test beats", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[4:]:
        ax.set_xlabel("time from R peak (s)")
    for ax in axes[::4]:
        ax.set_ylabel(AMPLITUDE)
    n_wrong = int((y_true[picked] != y_pred[picked]).sum())
    fig.suptitle(_title(f"Sample test predictions ({n_wrong} of {len(picked)} shown are errors)", synthetic))
    return _save(fig, path)


def plot_ec57(
    per_class: Mapping[str, Mapping[str, float | None]],
    classes: Sequence[str],
    path: str | Path,
    synthetic: bool = False,
    tested_on: str = "the test split",
    ec57: Mapping[str, Mapping[str, float | None]] | None = None,
) -> Path:
    """Per-class sensitivity (Se) and positive predictivity (+P) in percent, each class against the rest,
    values on the bars; with ``ec57``, EC57's VEB and SVEB figures as ``bxb`` counts them in the title.

    per_class : metrics.json's ``per_class``: ``{class: {"se", "ppv", "support", ...}}`` with fractions 0..1
        (None where undefined).
    tested_on : the beats, as the title names them.
    ec57 : metrics.json's ``ec57`` (``evaluation.ec57_beat_statistics``), or None where it has none.
    """
    x = np.arange(len(classes))
    # None: undefined (no test beats of the class, or none called it): no bar, "-" where it would stand.
    se = [None if per_class[c]["se"] is None else per_class[c]["se"] * 100 for c in classes]
    ppv = [None if per_class[c]["ppv"] is None else per_class[c]["ppv"] * 100 for c in classes]
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    for offset, values, name, colour in (
        (-0.2, se, "Se (sensitivity)", "#4c72b0"),
        (0.2, ppv, "+P (positive predictivity)", "#dd8452"),
    ):
        bars = ax.bar(x + offset, [v or 0.0 for v in values], 0.4, label=name, color=colour)
        labels = ["-" if v is None else f"{v:.1f}" for v in values]
        ax.bar_label(bars, labels=labels, fontsize=8, padding=1)
    ax.set_xticks(x, [f"{c}\n(n={per_class[c].get('support', 0):,})" for c in classes])
    ax.set_xlabel("class (test beats)")
    ax.set_ylabel("percent (%)")
    ax.set_ylim(0, 115)  # room for the labels above 100 %
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncols=2)
    # One class against the rest, which is not how EC57 counts V and S (F and Q beats called V count against
    # neither): the bars' V +P is not EC57's VEB +P, so the title says which the bars are and gives EC57's.
    title = f"Se and +P per class, one class against the rest, on {tested_on}"
    if ec57:
        veb, sveb = ({k: figure_text(ec57[c][k], percent=True) for k in ("se", "ppv")} for c in ("V", "S"))
        title += (
            f"\nEC57 as bxb counts it (F and Q called V count against neither): VEB Se {veb['se']} / "
            f"+P {veb['ppv']}, SVEB Se {sveb['se']} / +P {sveb['ppv']}"
        )
    ax.set_title(_title(title, synthetic), fontsize=10)
    return _save(fig, path)


#: One colour per AAMI class for beat markers on a recording.
CLASS_COLOURS = {"N": "#1a7f37", "S": "#bf8700", "V": "#cf222e", "F": "#8250df", "Q": "#57606a", "": "#000000"}
#: And one shape: the colours alone are one grey in black-and-white print (N, V, F and Q all about 45 CIELAB
#: L*), and N's green and V's red are told apart by little else with deuteranopia or protanopia.
CLASS_MARKERS = {"N": "o", "S": "^", "V": "s", "F": "D", "Q": "X", "": "P"}
#: The size of a beat's marker on the RR tachogram and Poincaré plot, points^2: the N beats, thousands of them,
#: are small dots; the others are drawn larger, big enough for their shape to be seen in print.
RR_DOT, RR_MARKER = 2.0, 9.0
#: The colour of a strip's beat letters (N, S, V, ...): the trace's ink.
LETTER_INK = "#24292f"


def class_marker(label: str) -> str:
    """The marker shape of a beat labelled ``label`` (``CLASS_MARKERS``; a label of another scheme: a star)."""
    return CLASS_MARKERS.get(label, "*")


def plot_recording_beats(
    signal: np.ndarray,
    fs: float,
    beats,
    path: str | Path,
    start_s: float = 0.0,
    seconds: float = 10.0,
    title: str = "",
) -> Path:
    """A stretch of a recording with each detected beat marked and coloured by its predicted label.

    signal: (n_samples,) in the file's unit (mV for WFDB); fs: Hz; beats: the per-beat table of
    ``arrhythmia.predict`` (columns sample, label, confidence).
    """
    first = max(int(start_s * fs), 0)
    last = min(first + int(seconds * fs), len(signal))
    if last <= first:
        raise ArrhythmiaError(f"--start {start_s:g} s is past the end of the recording ({len(signal) / fs:.1f} s)")
    t = np.arange(first, last) / fs
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(t, signal[first:last], color="#24292f", lw=0.8)
    shown = beats[(beats["sample"] >= first) & (beats["sample"] < last)]
    top = np.nanmax(signal[first:last]) if last > first else 1.0
    for label in sorted(set(shown["label"])):
        rows = shown[shown["label"] == label]
        ax.scatter(
            rows["sample"] / fs,
            signal[rows["sample"].to_numpy()],
            s=36,
            zorder=3,
            color=CLASS_COLOURS.get(label, "#0969da"),
            marker=class_marker(label),
            label=class_label(label) if label else "unclassified",
        )
        for _, row in rows.iterrows():
            ax.annotate(
                label or "?",
                (row["sample"] / fs, top),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=8,
                # in ink, not the class's colour: S's #bf8700 (2.9:1 on white) printed as a pale grey, unreadable
                # at this size; the marker below gives the colour and the shape
                color=LETTER_INK,
            )
    _clock_axis(ax, t[-1] - t[0], with_seconds=True)
    ax.set_ylabel("amplitude (mV)")
    ax.set_xlim(t[0], t[-1])
    ax.set_title(
        title or f"Beats from {clock(start_s)} to {clock(start_s + seconds)} ({start_s:g} to {start_s + seconds:g} s)"
    )
    ax.grid(alpha=0.3)
    if len(shown):
        ax.legend(loc="lower right", fontsize=8, ncols=5)
    return _save(fig, path)


def plot_family_templates(
    templates: np.ndarray, families, window: Window, path: str | Path, title: str = "", most: int = 12
) -> Path:
    """The morphology families of a recording as a gallery: each family's median beat window.

    templates : (n_families, window.length), normalised amplitude; families : the ``families.csv`` table
    (columns family, beats, percent, label, pre_rr_ratio), in the same order. The ``most`` largest are drawn.
    """
    shown = min(len(templates), most)
    ncols = min(max(shown, 1), 4)
    nrows = max(math.ceil(shown / ncols), 1)
    fig = Figure(figsize=(3.2 * ncols, 2.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    t = _time_axis(templates.shape[1], window) if len(templates) else np.zeros(0)
    for ax, (_, row), template in zip(axes, families.iterrows(), templates[:shown]):
        colour = CLASS_COLOURS.get(row["label"], "#0969da")
        ax.plot(t, template, color=colour, lw=1.4)
        ax.set_title(
            f"family {row['family']}: {row['label']}, {beats_text(row['beats'])} ({share(row['percent'])})\n"
            f"RR / local median {row['pre_rr_ratio']:.2f}",
            fontsize=8,
        )
        ax.grid(alpha=0.3)
    for ax in axes[shown:]:
        ax.set_visible(False)
    fig.supxlabel("time from the R peak (s)")
    fig.supylabel(AMPLITUDE)
    fig.suptitle(title or "Morphology families: the median beat of each")
    return _save(fig, path)


def plot_review_strips(signal: np.ndarray, fs: float, questions, path: str | Path, seconds: float = 3.0) -> Path:
    """One strip per beat a reviewer is asked about, the beat in the middle and marked.

    signal : (n_samples,) in the file's unit (mV for WFDB); questions : table with columns sample, label,
    family, reason (``RecordingLabels.questions``).
    """
    n = max(len(questions), 1)
    fig = Figure(figsize=(10, 1.6 * n + 0.6), layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False).ravel()
    half = int(seconds * fs / 2)
    for k, (ax, (_, row)) in enumerate(zip(axes, questions.iterrows())):
        lo, hi = max(int(row["sample"]) - half, 0), min(int(row["sample"]) + half, len(signal))
        ax.plot(np.arange(lo, hi) / fs, signal[lo:hi], color="#24292f", lw=0.8)
        ax.axvline(row["sample"] / fs, color=CLASS_COLOURS.get(row["label"], "#0969da"), lw=1.2, alpha=0.6)
        ax.set_title(
            f"{k + 1}. sample {int(row['sample'])} ({row['sample'] / fs:.2f} s): model says {row['label']}; "
            f"family {row['family']}; {row['reason']}",
            fontsize=8,
            loc="left",
        )
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("time (s)")
    return _save(fig, path)


#: The episode types shaded on the heart-rate trend, in the legend's order, and their colours: told apart with
#: any colour vision (Okabe and Ito's orange and vermillion, Paul Tol's muted colours), as shaded (SHADE_ALPHA
#: on white) at least 9 CIELAB units apart from each other with protanopia, deuteranopia or tritanopia too.
EPISODE_COLOURS = {
    "AF": "#e69f00",
    "AFL": "#ddcc77",
    "SVT": "#88ccee",
    "VT": "#d55e00",
    "VF": "#882255",
    "bigeminy": "#332288",
    "trigeminy": "#117733",
    "noise": "#999999",
}
#: And each is hatched its own way, but noise (plain grey): as printed in black and white, AF, AFL, SVT and noise
#: were four shades of one light grey (86-93 CIELAB L*), told apart by nothing; the ventricular ones densest.
EPISODE_HATCHES = {
    "AF": "\\\\",
    "AFL": "||",
    "SVT": "..",
    "VT": "////",
    "VF": "xxxx",
    "bigeminy": "--",
    "trigeminy": "++",
}
SHADE_ALPHA = 0.4
PAUSE_COLOUR = "#0072b2"  # Okabe and Ito's blue, a dashed line: not a shade, nor the trace


#: The heart-rate trend's axis spans at least this many bpm: a steady rate otherwise filled the axis, read
#: as swings and ticked in fractions of a beat per minute (74.25-76.00).
MIN_RATE_SPAN_BPM = 20.0


#: A recording longer than this (s) has its heart-rate trend drawn a day (``TREND_ROW_S``) to a row, the rows
#: one under the other on one scale: a week in one row was 14 minutes to a pixel, each day a seventh of the width.
#: (A Holter recording of a little over a day, 24-26 h, keeps its one row.)
TREND_ROWS_ABOVE_S = 26 * 3600.0
TREND_ROW_S = 24 * 3600.0


def plot_heart_rate_trend(
    times_s: np.ndarray, rate_bpm: np.ndarray, episodes, path: str | Path, duration_s: float | None = None
) -> Path:
    """The heart rate over the whole recording, with its episodes shaded and its pauses marked, the legend below
    the axes (inside them it covered the trace of a day-long recording), on the left (where a phone shows it).
    A recording longer than ``TREND_ROWS_ABOVE_S`` is drawn a day to a row ("day 1", "day 2", ..., each 24 hours
    from the start, on one heart-rate scale), so that days are told apart and each one's hours lie under the last's.

    times_s, rate_bpm : (n,) the time (s) and heart rate (bpm) of each beat (NaN: a gap in the line); episodes :
    the ``episodes.csv`` table (columns type, start_s, end_s); duration_s : the recording's length, where the
    axis ends (else at its last beat).
    """
    kinds = set(episodes["type"])
    legend = [kind for kind in EPISODE_COLOURS if kind in kinds] + ["pause"] * ("pause" in kinds)
    times_s = np.asarray(times_s, dtype=np.float64)
    rate_bpm = np.asarray(rate_bpm, dtype=np.float64)
    end_s = duration_s if duration_s is not None else (times_s[-1] if len(times_s) else 60.0)
    end_s = max(end_s, 1.0)
    if end_s > TREND_ROWS_ABOVE_S:
        rows = [(day * TREND_ROW_S, (day + 1) * TREND_ROW_S) for day in range(math.ceil(end_s / TREND_ROW_S))]
    else:
        rows = [(0.0, end_s)]
    height = (3.4 if len(rows) == 1 else 1.1 + 2.1 * len(rows)) + 0.4 * bool(legend)
    fig = Figure(figsize=(12, height), layout="constrained")
    axes = fig.subplots(len(rows), 1, sharey=True, squeeze=False)[:, 0]
    for day, (ax, (first, last)) in enumerate(zip(axes, rows)):
        inside = slice(None)
        if len(rows) > 1:  # a minute over each edge of the day: no gap in the line at its midnight
            inside = (times_s >= first - 60.0) & (times_s <= last + 60.0)
        ax.plot(times_s[inside], rate_bpm[inside], color="#24292f", lw=0.6, zorder=3)  # over the shades and pauses
        # An episode is shaded at least about two pixels wide: narrower, it was not seen (a VT run in a day's trend).
        least_s = 2 * (last - first) / (fig.get_figwidth() * DPI)
        for kind in legend:
            rows_of = episodes[
                (episodes["type"] == kind) & (episodes["end_s"] >= first) & (episodes["start_s"] <= last)
            ]
            if kind == "pause":
                for start in rows_of["start_s"]:
                    ax.axvline(start, color=PAUSE_COLOUR, lw=0.8, ls="--")
                continue
            starts, ends = rows_of["start_s"].to_numpy(np.float64), rows_of["end_s"].to_numpy(np.float64)
            for start, end in _merged(starts, ends, least_s):
                ax.axvspan(start, end, **_shading(kind))
        _clock_axis(ax, last - first)
        ax.set_ylabel("heart rate (bpm)" if len(rows) == 1 else f"day {day + 1}\n(bpm)")
        ax.grid(alpha=0.3)
        ax.set_xlim(first, last)
        if day < len(rows) - 1:
            ax.set_xlabel("")
    finite = rate_bpm[np.isfinite(rate_bpm)]
    if len(finite) and finite.max() - finite.min() < MIN_RATE_SPAN_BPM:  # a steady rhythm reads steady
        middle = (finite.max() + finite.min()) / 2
        axes[0].set_ylim(middle - MIN_RATE_SPAN_BPM / 2, middle + MIN_RATE_SPAN_BPM / 2)
    rowed = ", a day to a row" if len(rows) > 1 else ""
    axes[0].set_title(f"Heart rate over the recording (running median of 8 beats), episodes shaded{rowed}")
    if legend:
        handles = [
            Line2D([], [], color=PAUSE_COLOUR, lw=0.8, ls="--", label=kind)
            if kind == "pause"
            else Patch(label=kind, **_shading(kind))
            for kind in legend
        ]
        fig.legend(handles=handles, loc="outside lower left", ncols=len(handles), fontsize=9, frameon=False)
    return _save(fig, path)


def _merged(starts: np.ndarray, ends: np.ndarray, least_s: float) -> list[tuple[float, float]]:
    """The stretches ``starts``-``ends`` (s), each made at least ``least_s`` long, those that overlap then merged:
    translucent shades laid over each other darken, and a cluster of short episodes would read as another type."""
    stretches = np.stack([starts, np.maximum(ends, starts + least_s)], axis=1).astype(np.float64)
    return [(start, end) for start, end in merged_stretches(stretches).tolist()]


def _shading(kind: str) -> dict:
    """How an episode of type ``kind`` is shaded: its colour, translucent, hatched in that colour opaque."""
    colour = EPISODE_COLOURS[kind]
    return {"facecolor": to_rgba(colour, SHADE_ALPHA), "edgecolor": colour, "lw": 0, "hatch": EPISODE_HATCHES.get(kind)}


def plot_rr_tachogram_poincare(times_s: np.ndarray, rr_s: np.ndarray, labels: np.ndarray, path: str | Path) -> Path:
    """RR tachogram (each RR interval over time) and Poincaré plot (each interval against the next), the legend
    below the axes, as the heart-rate trend's: inside the tachogram's upper right it hid the longest intervals,
    the pauses a reader looks for (232's 4-6 s).

    times_s : (n,) time of the beat ending each interval, s; rr_s : (n,) intervals, s (NaN: not drawn, nor
    its pairs in the Poincaré plot); labels : (n,) the label of that beat, which sets its colour.
    """
    fig = Figure(figsize=(12, 4.3), layout="constrained")
    tachogram, poincare = fig.subplots(1, 2, width_ratios=[2, 1])
    labels = np.asarray(labels, dtype=str)
    for label in sorted(set(labels)):
        mine = labels == label
        colour = CLASS_COLOURS.get(label, "#0969da")
        # an N dot keeps its edge, which makes it big enough to see; a shape drawn with one is blurred round
        shape = {"s": RR_DOT} if label == "N" else {"marker": class_marker(label), "s": RR_MARKER, "lw": 0}
        tachogram.scatter(times_s[mine], rr_s[mine] * 1000, color=colour, label=class_label(label), **shape)
        after = np.flatnonzero(mine[:-1])
        poincare.scatter(rr_s[after] * 1000, rr_s[after + 1] * 1000, color=colour, alpha=0.5, **shape)
    _clock_axis(tachogram, float(np.max(times_s)) if len(times_s) else 60.0)
    tachogram.set_ylabel("RR interval (ms)")
    tachogram.set_title("RR tachogram")
    tachogram.grid(alpha=0.3)
    if len(labels):
        fig.legend(loc="outside lower left", ncols=len(set(labels)), fontsize=9, markerscale=4, frameon=False)
    poincare.set_xlabel("RR n (ms)")
    poincare.set_ylabel("RR n+1 (ms)")
    poincare.set_title("Poincaré plot")
    poincare.set_aspect("equal", adjustable="datalim")
    poincare.grid(alpha=0.3)
    return _save(fig, path)
