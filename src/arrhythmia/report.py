"""The run report: one self-contained ``report.html`` with the headline numbers, tables and figures.

``write_report(run)`` draws the figures (``make_figures``, with the plot functions of ``arrhythmia.figures``)
and writes ``run_dir/report.html``:
a single file with every image embedded as a ``data:`` URI and inline CSS, so it can be mailed,
archived or opened offline. It links to nothing outside itself (no fonts, scripts or CDNs). Printed, or saved
as PDF (``PRINT_CSS``, ``page_css``), each page names the model and the run and its page number, the figures and
tables fit the page whole, and the folded table of test records prints open; each figure's alt text says what it
shows for this run (``alt_texts``).
"""

from __future__ import annotations

import base64
import html
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from arrhythmia.data import BeatSet, Split
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import interval_text
from arrhythmia.figures import (
    FIGURE_FILES,
    best_epoch,
    class_label,
    loss_names,
    lr_drops,
    plot_beat_statistics,
    plot_class_distribution,
    plot_confusion,
    plot_ec57,
    plot_example_beats,
    plot_sample_predictions,
    plot_training_curves,
)
from arrhythmia.files import write_text_atomic
from arrhythmia.models import count_parameters
from arrhythmia.runs import Run

#: The reports' own Content-Security-Policy: a report is one file of text, inline CSS and ``data:`` images;
#: should words from a recording or a run ever reach it as markup, no script in them runs and nothing is
#: fetched (a report is opened from disk, mailed, archived: no server sends it a policy).
REPORT_POLICY_META = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">"
)
SYNTHETIC_BANNER = "SYNTHETIC DATA: these results come from generated beats, not real ECG."
INTRA_WARNING = (
    "Intra-patient protocol: beats of the same patients appear in both the training and the test set, "
    "so these scores overstate performance on new patients. Use --protocol inter for a patient-independent estimate."
)
#: Figure name -> (caption, alt text); the order of the page is set in ``render_report``.
CAPTIONS: dict[str, tuple[str, str]] = {
    "example_beats": (
        "One example beat of each class: the first beat of that class in the training split, cut as the run's "
        "beat window says (Kachuee et al. 2018: from the R peak, 1.2 median RR intervals, normalised to [0, 1] "
        "and zero-padded to 1.5 s at 125 Hz; centred: 0.25 s before to 0.45 s after the R peak).",
        "example beat of each class",
    ),
    "beat_statistics": (
        "Distribution of each training beat's mean and standard deviation, per class (densities, so rare "
        "classes are as visible as the common ones).",
        "histograms of beat mean and standard deviation per class",
    ),
    "class_distribution": (
        "Beats per class in the training, validation and test splits (log scale; counts on the bars).",
        "bar chart of beats per class and split",
    ),
    "training_curves": (
        "Loss and accuracy per epoch on the training and validation splits. The dashed line marks the kept "
        "checkpoint (the lowest validation loss, or the last epoch where the run keeps the last); dotted lines "
        "mark learning-rate drops.",
        "training and validation loss and accuracy per epoch",
    ),
    "confusion": (
        "Confusion matrix on the test split: counts (left) and normalised per true class (right; the diagonal "
        "is each class's sensitivity).",
        "confusion matrices, counts and row-normalised",
    ),
    "sample_predictions": (
        "Eight test beats with their true and predicted classes and the model's confidence; green where the "
        "prediction is right, red in a heavy frame with a bold title where it is wrong. Errors are deliberately "
        "included.",
        "eight sample test beats with predictions",
    ),
    "ec57": (
        "Per-class sensitivity Se = TP/(TP+FN) and positive predictivity +P = TP/(TP+FP) on the test split, in "
        "percent, each class against the rest (the table above); the title gives EC57's VEB and SVEB figures, "
        "counted as bxb counts them (a fusion or unclassifiable beat called V counts against neither), which "
        "differ from the V and S bars where such beats are called V.",
        "bar chart of per-class Se and +P",
    ),
}

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --soft: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; background: #eef1f4; color: var(--ink); line-height: 1.5;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 40px 48px; background: #fff; min-height: 100vh; }
h1 { margin: 0 0 4px; font-size: 2rem; }
h2 { margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line); font-size: 1.45rem; }
h3 { margin: 24px 0 8px; font-size: 1.1rem; }
.subtitle { color: var(--muted); margin: 0 0 18px; }
.banner { margin: 16px 0; padding: 16px 20px; border-radius: 8px; background: #cf222e; color: #fff;
          font-size: 1.2rem; font-weight: 700; text-align: center; letter-spacing: 0.02em; }
.warning { margin: 18px 0; padding: 12px 16px; border: 1px solid #d4a72c; border-left: 6px solid #bf8700;
           border-radius: 6px; background: #fff8c5; }
nav { margin: 8px 0 0; font-size: 0.95rem; }
nav a { color: var(--accent); text-decoration: none; margin-right: 18px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 16px; margin: 20px 0 8px; }
.card { border: 1px solid var(--line); border-radius: 12px; padding: 18px 12px; text-align: center;
        background: linear-gradient(180deg, #fff, var(--soft)); }
.card .value { font-size: 2.7rem; font-weight: 700; line-height: 1.1; font-variant-numeric: tabular-nums; }
.card .label { margin-top: 6px; font-size: 1rem; font-weight: 600; }
.card .note { color: var(--muted); font-size: 0.85rem; }
table { border-collapse: collapse; margin: 10px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 6px 14px; }
th { background: var(--soft); text-align: left; }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
tfoot td { font-style: italic; background: var(--soft); }
.muted { color: var(--muted); font-size: 0.85em; }
figure { margin: 22px 0 30px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { margin-top: 6px; color: var(--muted); font-size: 0.93rem; max-width: 900px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px;
      overflow-x: auto; font-size: 0.82rem; line-height: 1.35; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 8px 0 16px; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.scroll { overflow-x: auto; }
footer { margin-top: 48px; padding-top: 12px; border-top: 1px solid var(--line); color: var(--muted);
         font-size: 0.85rem; }
@media (max-width: 800px) { .cards { grid-template-columns: repeat(2, 1fr); } main { padding: 16px; } }
"""
#: On paper (printed, or saved as PDF, for a meeting or a paper's supplement): the page is white to its edge, no
#: box scrolls, so the tables are set smaller and closer to fit a portrait A4 or Letter page (the 9-column table of
#: gross and record-average statistics ran 920 px wide on a 703 px page and lost its right columns) and the model's
#: structure wraps its long lines (cut at the page's edge); a figure is never cut across two pages nor parted from
#: its caption (which began the next page), a heading is never left alone at the foot of a page, and the folded
#: table of every test record prints open (closed, it was left out of the printout), set smaller still: with MIT-BIH's
#: own symbols as classes (``--labels mitdb``, 15 of them) it ran 973 px; the links lead nowhere on paper. The
#: SYNTHETIC banner is black in a black frame: its white letters on red, printed as a browser prints by default
#: (no backgrounds), were a pale grey on white (2:1), the one warning that the figures are not real ECG's. (On
#: screen the two wide tables scroll in their own box, ``.scroll``: the table of every record ran 1,617 px with 15
#: classes and pushed the whole page sideways on a laptop; on paper nothing scrolls.)
PRINT_CSS = """
@media print {
  body { background: #fff; } main { max-width: none; min-height: 0; padding: 0; }
  nav { display: none; } .scroll { overflow: visible; }
  .banner { background: none; color: #000; border: 3px solid #000; }
  figure, .card, tr, .warning, .banner { break-inside: avoid; }
  h1, h2, h3, summary { break-after: avoid; }
  table { font-size: 8.5pt; } th, td { padding: 2px 5px; } dl.facts { break-inside: avoid; }
  .records table { font-size: 6.5pt; } .records th, .records td { padding: 1px 2px; }
  pre { overflow: visible; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 7pt; }
  details::details-content { content-visibility: visible; display: contents; }
  details > summary { list-style: none; font-weight: 600; }
}
"""
#: The printed page's margins, ``@page``'s (top and bottom, left and right), inside which its header and page number.
PAGE_MARGIN = "14mm 12mm"


def esc(value: object) -> str:
    """Any value as HTML-escaped text."""
    return html.escape(str(value))


def percent(fraction: float | None) -> str:
    """0.8571 -> ``"85.7%"``, the format of every percentage in the report; None/NaN -> ``"n/a"``."""
    if fraction is None or (isinstance(fraction, float) and math.isnan(fraction)):
        return "n/a"
    return f"{100 * fraction:.1f}%"


def format_loss(loss: float | None) -> str:
    """A cross-entropy loss as shown in the report: 4 decimals, or ``"n/a"``."""
    return "n/a" if loss is None or math.isnan(loss) else f"{loss:.4f}"


def format_duration(seconds: float) -> str:
    """12.3 -> ``"12.3 s"``, 245 -> ``"4 min 05 s"``, 3720 -> ``"1 h 02 min"``; 59.96 -> ``"1 min 00 s"``
    (not "60.0 s")."""
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string: every character but ASCII letters, digits, spaces and ``.-_:,()/`` escaped,
    so a run's name can end neither the string nor the ``<style>`` element it stands in, and one not in ASCII is
    not written as an HTML reference (``write_report``), which a style element shows as it stands (the space after
    each escape ends the escape, and is not shown)."""
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in " .-_:,()/" else f"\\{ord(ch):x} " for ch in text)
    return f'"{safe}"'


def page_css(title: str, quoted: Callable[[str], str] = css_string) -> str:
    """The ``@page`` rule of a printed report: ``title`` (a run report's, the model and the run) at the top left of
    every page, quoted by ``quoted``, "page n of m" at its bottom right, so a page that comes loose from a printout
    says whose it is."""
    return (
        f"@page {{ margin: {PAGE_MARGIN};"
        f" @top-left {{ content: {quoted(title)}; font: 8pt sans-serif; color: #444; }}"
        ' @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt sans-serif; color: #444; }'
        " }"
    )


def run_title(path: Path) -> str:
    """A run's name as its report gives it: its directory's name, and a cross-validation fold's (``fold-3``) with
    its cross-validation's (``crossval-fast/fold-3``): every cross-validation names its folds alike."""
    path = Path(path).resolve()
    return f"{path.parent.name}/{path.name}" if re.fullmatch(r"fold-\d+", path.name) else path.name


def _image(path: Path, alt: str) -> str:
    """An <img> whose PNG is embedded as a base64 data URI, so the page needs no other file."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def _figure(figures: Mapping[str, Path], name: str, alt: str | None = None) -> str:
    """A figure with its caption; ``alt``: what it shows for this run (default: ``CAPTIONS``' general words)."""
    caption, general = CAPTIONS[name]
    return f"<figure>{_image(figures[name], alt or general)}<figcaption>{esc(caption)}</figcaption></figure>"


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric_from: int = 1,
    footer: Iterable[Sequence[str]] = (),
) -> str:
    """An HTML table of already-escaped cell strings; columns from ``numeric_from`` are right-aligned."""

    def row_html(cells: Sequence[str], tag: str = "td") -> str:
        return (
            "<tr>"
            + "".join(
                f'<{tag} class="num">{c}</{tag}>' if i >= numeric_from else f"<{tag}>{c}</{tag}>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )

    head = row_html([esc(h) for h in header], "th")
    body = "".join(row_html(r) for r in rows)
    foot = "".join(row_html(r) for r in footer)
    return (
        f"<table><thead>{head}</thead><tbody>{body}</tbody>" + (f"<tfoot>{foot}</tfoot>" if foot else "") + "</table>"
    )


def _headline(metrics: Mapping) -> str:
    """The four big numbers: accuracy, macro F1, weighted F1, test loss."""
    n = metrics.get("n_beats", 0)
    cards = [
        (percent(metrics["accuracy"]), "Accuracy", f"{n:,} test beats"),
        (percent(metrics["macro_f1"]), "Macro F1", "unweighted mean over classes"),
        (percent(metrics["weighted_f1"]), "Weighted F1", "weighted by class support"),
        (format_loss(metrics.get("loss")), "Test loss", "cross-entropy, classes unweighted"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{esc(v)}</div><div class="label">{esc(label)}</div>'
            f'<div class="note">{esc(note)}</div></div>'
            for v, label, note in cards
        )
        + "</div>"
    )


def _per_class_table(metrics: Mapping) -> str:
    """Se, +P, FPR, Acc, F1 (percent) and support per class, with macro and weighted averages below."""
    rows = []
    for name in metrics["classes"]:
        c = metrics["per_class"][name]
        rows.append(
            [esc(class_label(name))]
            + [_maybe_percent(c[k]) for k in ("se", "ppv", "fpr", "acc", "f1")]
            + [f"{c['support']:,}"]
        )
    footer = [
        [
            esc(f"{average} average"),
            esc(percent(metrics[f"{average}_recall"])),
            esc(percent(metrics[f"{average}_precision"])),
            "",
            "",
            esc(percent(metrics[f"{average}_f1"])),
            f"{metrics['n_beats']:,}",
        ]
        for average in ("macro", "weighted")
    ]
    return _table(["class", "Se", "+P", "FPR", "Acc", "F1", "support"], rows, footer=footer)


def _ec57_paragraph(metrics: Mapping) -> str:
    """EC57's VEB and SVEB figures as ``bxb`` counts them (``metrics["ec57"]``), or "" where the classes are
    not the AAMI ones (or the metrics predate them)."""
    ec57 = metrics.get("ec57")
    if not ec57:
        return ""
    veb, sveb = ec57["V"], ec57["S"]
    return (
        "<p>As EC57 counts its two ectopic classes (PhysioNet's <code>bxb</code>, the figures to set beside "
        "published ones): a fusion or unclassifiable beat called V, or an unclassifiable beat called S, counts "
        f"against neither. VEB Se <strong>{_maybe_percent(veb['se'])}</strong>, +P "
        f"<strong>{_maybe_percent(veb['ppv'])}</strong>, FPR {_maybe_percent(veb['fpr'])}; SVEB Se "
        f"<strong>{_maybe_percent(sveb['se'])}</strong>, +P <strong>{_maybe_percent(sveb['ppv'])}</strong>.</p>"
    )


def _maybe_percent(value: float | None) -> str:
    return "&ndash;" if value is None else esc(percent(value))


def _record_tables(metrics: Mapping) -> str:
    """EC57's record-by-record results (``metrics.json``'s ``per_record``) and their average per class,
    beside the gross (pooled) statistics; empty for metrics from before they were kept."""
    per_record, average = metrics.get("per_record"), metrics.get("record_average")
    if not per_record or not average:
        return ""
    classes = metrics["classes"]
    intervals = metrics.get("intervals") or {}  # absent from metrics from before they were kept

    def spread(name: str, key: str) -> list[str]:
        return [esc(interval_text(intervals[name][key], percent=True))] if intervals else []

    rows = [
        [
            esc(class_label(name)),
            _maybe_percent(metrics["per_class"][name]["se"]),
            *spread(name, "se"),
            _maybe_percent(average[name]["se"]),
            esc(average[name]["se_records"]),
            _maybe_percent(metrics["per_class"][name]["ppv"]),
            *spread(name, "ppv"),
            _maybe_percent(average[name]["ppv"]),
            esc(average[name]["ppv_records"]),
        ]
        for name in classes
    ]
    drawn = "patients" if "patients" in intervals else "records"  # a patient's records drawn together
    level = f"{intervals.get('level', 0.95):.0%}"
    ci = [f"{level} over {drawn}"] if intervals else []
    header = ["class", "Se, gross", *ci, "Se, record average", "records", "+P, gross", *ci, "+P, record average"]
    header += ["records"]
    record_rows = [
        [esc(row["record"]), f"{row['beats']:,}", esc(percent(row["accuracy"]))]
        + [
            f"{_maybe_percent(row['per_class'][name]['se'])} / {_maybe_percent(row['per_class'][name]['ppv'])}"
            f' <span class="muted">({row["per_class"][name]["beats"]:,})</span>'
            for name in classes
        ]
        for row in per_record
    ]
    return (
        "<h3>Gross and record-average statistics</h3>"
        "<p>Gross statistics pool every test beat, so the records with most beats of a class rule them; EC57 "
        "also asks for each record's own results and their average: Se over the records that hold beats of the "
        f"class, +P over those with beats called it. The {level} interval of each gross figure over records (the "
        f"test records drawn again with replacement, {intervals.get('resamples', 2000):,} times"
        + (", each patient's records together" if drawn == "patients" else "")
        + ") says how much it would move on other patients.</p>"
        + f'<div class="scroll">{_table(header, rows)}</div>'
        + f"<details><summary>Each of the {len(per_record)} test records: Se / +P per class "
        "(the record's beats of the class)</summary>"
        + '<div class="records scroll">'
        + _table(["record", "beats", "accuracy", *classes], record_rows)
        + "</div></details>"
    )


def _distribution_table(counts: Mapping[str, Mapping[str, int]], classes: Sequence[str]) -> str:
    """Beats per class (rows) and split (columns), each with its share of the split."""
    splits = list(counts)
    totals = {s: sum(counts[s].values()) for s in splits}
    everything = sum(totals.values())
    rows = []
    for name in classes:
        cells = [esc(class_label(name))]
        for s in splits:
            n = counts[s].get(name, 0)
            share = percent(n / totals[s]) if totals[s] else "n/a"
            cells.append(f'{n:,} <span class="muted">{esc(share)}</span>')
        cells.append(f"{sum(counts[s].get(name, 0) for s in splits):,}")
        rows.append(cells)
    footer = [["total"] + [f"{totals[s]:,}" for s in splits] + [f"{everything:,}"]]
    return _table(["class", *splits, "all"], rows, footer=footer)


def _share_text(row: Sequence[float], classes: Sequence[str]) -> str:
    """One true class's row-normalised confusion row as words: ``"96% N, 3% S"`` (each share of 1% or more)."""
    shares = sorted(((v, name) for v, name in zip(row, classes) if v >= 0.005), reverse=True)
    return ", ".join(f"{v:.0%} {name}" for v, name in shares) or "none"


def alt_texts(run_name: str, metrics: Mapping, history: Sequence[Mapping], counts: Mapping, best: int | None) -> dict:
    """What each figure of a run's report shows for this run, in words, for its ``alt`` text: read aloud, the
    figures were 'confusion matrices, counts and row-normalised' whatever the run. ``{figure name: text}``
    (``CAPTIONS``' names); a figure not here keeps ``CAPTIONS``' general words."""
    classes = list(metrics["classes"])
    per_class, n = metrics["per_class"], metrics.get("n_beats", 0)
    texts = {}
    confusion = np.asarray(metrics["confusion"], dtype=np.int64)
    rows = [
        f"true {name} ({confusion[i].sum():,} beats) called {_share_text(metrics['confusion_normalised'][i], classes)}"
        for i, name in enumerate(classes)
        if confusion[i].sum()
    ]
    texts["confusion"] = f"Confusion matrices of {run_name} on its {n:,} test beats: " + "; ".join(rows) + "."
    se_ppv = [
        f"{name} Se {_plain_percent(per_class[name]['se'])}, +P {_plain_percent(per_class[name]['ppv'])}"
        for name in classes
    ]
    texts["ec57"] = f"Bar chart of {run_name}'s Se and +P per class on the test split: " + "; ".join(se_ppv) + "."
    if history:
        first, last = history[0], history[-1]
        drops = lr_drops(history)
        texts["training_curves"] = (
            f"Training curves of {run_name} over {len(history)} epochs: train loss {format_loss(first['train_loss'])} "
            f"to {format_loss(last['train_loss'])}, validation loss {format_loss(first['val_loss'])} to "
            f"{format_loss(last['val_loss'])}; train accuracy {percent(first['train_acc'])} to "
            f"{percent(last['train_acc'])}, validation accuracy {percent(first['val_acc'])} to "
            f"{percent(last['val_acc'])}; kept checkpoint: epoch {best if best is not None else 'none'}"
            + (
                f"; learning rate lowered at epoch{'s' if len(drops) > 1 else ''} {', '.join(map(str, drops))}"
                if drops
                else ""
            )
            + "."
        )
    if counts:
        splits = [
            f"{split}: " + ", ".join(f"{name} {counts[split].get(name, 0):,}" for name in classes) for split in counts
        ]
        texts["class_distribution"] = "Bar chart of beats per class and split, log scale; " + "; ".join(splits) + "."
        train = counts.get("train", {})
        held = ", ".join(f"{name} ({train.get(name, 0):,} beats)" for name in classes)
        texts["example_beats"] = f"One example beat of each class from {run_name}'s training split: {held}."
        texts["beat_statistics"] = (
            f"Histograms of each training beat's mean and standard deviation per class, {run_name}: {held}."
        )
    return texts


def _plain_percent(value: float | None) -> str:
    return "undefined" if value is None else percent(value)


def _facts(items: Iterable[tuple[str, str]]) -> str:
    """A two-column list of label/value pairs (values already escaped)."""
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def render_report(run: Run, figures: Mapping[str, Path]) -> str:
    """The HTML text of a run's report, given its figures (``make_figures``'s result)."""
    config = run.config
    data = run.data()
    metrics = run.metrics()
    history = run.history()
    env = run.environment()
    classifier = run.classifier()  # the one make_figures used; only its structure is shown here
    total, trainable = count_parameters(classifier.model)

    run_name = run_title(run.path)
    synthetic = bool(data.get("synthetic"))
    protocol = data.get("protocol", config.protocol)
    counts = data.get("counts", {})
    classes = metrics["classes"]
    best = best_epoch(history, config.checkpoint)
    best_row = next((r for r in history if r["epoch"] == best), None)
    split_sizes = ", ".join(f"{s} {sum(c.values()):,}" for s, c in counts.items())
    alts = alt_texts(run_name, metrics, history, counts, best)

    def figure(name: str) -> str:
        return _figure(figures, name, alts.get(name))

    parts = [
        f"<header><h1>{esc(classifier.model_name)} &middot; {esc(run_name)}</h1>",
        f'<p class="subtitle">Heartbeat classification report. Data: {esc(data.get("description", "?"))}; '
        f"protocol: {esc(protocol)}; generated {esc(time.strftime('%Y-%m-%d %H:%M'))}.</p>",
        '<nav><a href="#results">Results</a><a href="#predictions">Predictions</a>'
        '<a href="#training">Training</a><a href="#data">Data</a><a href="#model">Model</a></nav></header>',
    ]
    if synthetic:
        parts.append(f'<div class="banner">{esc(SYNTHETIC_BANNER)}</div>')
    parts.append(_headline(metrics))
    unfinished = run.unfinished()
    if unfinished:  # an interrupted run evaluated as it stands: its figures are not the run's it was set up as
        parts.append(f'<div class="warning"><strong>Unfinished.</strong> {esc(unfinished)}</div>')
    if protocol == "intra":
        parts.append(f'<div class="warning"><strong>Warning.</strong> {esc(INTRA_WARNING)}</div>')

    parts += [
        '<section id="results"><h2>Test results per class (AAMI EC57)</h2>',
        "<p>Se: sensitivity, +P: positive predictivity, FPR: false-positive rate, Acc: accuracy, each one "
        "class against the rest; support: test beats of the class.</p>",
        _per_class_table(metrics),
        _ec57_paragraph(metrics),
        _record_tables(metrics),
        figure("ec57"),
        figure("confusion"),
        "</section>",
        '<section id="predictions"><h2>Sample predictions</h2>',
        figure("sample_predictions"),
        "</section>",
    ]

    # every member's epochs: an ensemble's history.csv is its first member's (a lone run's: its own, read above)
    members = run.members()
    histories = [history] if len(members) == 1 else [member.history() for member in members]
    training_time = sum(r["seconds"] for member_history in histories for r in member_history)
    parts += [
        '<section id="training"><h2>Training</h2>',
        _facts(
            [
                ("samples per split", esc(split_sizes or "n/a")),
                ("batch size", esc(config.batch_size)),
                ("epochs trained", esc(epochs_text(history, config))),
                (f"kept epoch ({config.checkpoint})", esc(best if best is not None else "n/a")),
                (
                    "its validation loss",
                    esc(f"{format_loss(best_row['val_loss'] if best_row else None)} ({_losses(config)[1]})"),
                ),
                *_ensemble_facts(histories, config),
                ("learning rate", esc(_lr_text(history, config.lr))),
                ("class weights", esc(config.class_weights)),
                ("total training time", esc(format_duration(training_time))),
                ("device", esc(env.get("device", "unknown"))),
                ("seed", esc(config.seed)),
            ]
        ),
        figure("training_curves"),
        "</section>",
    ]

    parts += [
        '<section id="data"><h2>Data</h2>',
        _facts(
            [
                ("source", esc(data.get("description", data.get("source", "?")))),
                ("citation", esc(data.get("citation", "n/a"))),
                ("protocol", esc(protocol)),
                ("split", esc(data.get("split_note", ""))),
                *([("also trained on", esc(_other_lead_text(data["other_lead"])))] if data.get("other_lead") else []),
                *([("and on", esc(_mixed_lead_text(data["mixed_lead"])))] if data.get("mixed_lead") else []),
            ]
        ),
        "<h3>Class distribution</h3>",
        _distribution_table(counts, classes) if counts else "<p>No class counts in data.json.</p>",
        figure("class_distribution"),
        figure("example_beats"),
        figure("beat_statistics"),
        "</section>",
    ]

    parts += [
        '<section id="model"><h2>Model</h2>',
        _facts(
            [
                ("model", esc(classifier.model_name)),
                ("parameters", esc(f"{total:,} total, {trainable:,} trainable")),
                (
                    "input",
                    esc(
                        f"{classifier.input_length} samples ({classifier.window.kind} window at "
                        f"{classifier.window.fs:g} Hz)"
                        + (f" and {classifier.scaling.n_context} context features" if classifier.takes_context else "")
                        + ", standardised with the training split's mean and standard deviation"
                    ),
                ),
                ("classes", esc(", ".join(classifier.classes))),
            ]
        ),
        f"<pre>{esc(classifier.model)}</pre>",
        "</section>",
        _footer(env),
    ]

    title = f"{classifier.model_name} · {run_name}" + (" (SYNTHETIC data)" if synthetic else "")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{REPORT_POLICY_META}\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}{PRINT_CSS}{page_css(title)}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(parts)
        + "\n</main>\n</body>\n</html>\n"
    )


def epochs_text(history: Sequence[Mapping], config) -> str:
    """How many epochs a run (``history``, ``config``: its TrainConfig) trained, of how many it could, and
    whether early stopping ended it: ``"7 (at most 14); stopped early: no validation improvement in the 3
    epochs after epoch 4"``. Said from the history as training decides it (``train.fit``: with the checkpoint
    ``best``, stopped once the epochs since the lowest validation loss reach ``early_stopping_patience``)."""
    trained = len(history)
    text = f"{trained} (at most {config.epochs})"
    best = best_epoch(history, config.checkpoint)
    if config.checkpoint != "best" or not history or trained >= config.epochs:
        return text
    since = history[-1]["epoch"] - (best if best is not None else 0)
    if since < config.early_stopping_patience:
        return text
    after = f"after epoch {best}" if best is not None else "from the first epoch"
    return (
        f"{text}; stopped early: no validation improvement in the {since} epoch{'s' if since > 1 else ''} {after} "
        f"(patience {config.early_stopping_patience})"
    )


def _ensemble_facts(histories: Sequence[Sequence[Mapping]], config) -> list[tuple[str, str]]:
    """An ensemble's members in the training facts (values escaped), from each member's history (``histories``;
    ``config``: the run's TrainConfig): the run's history.csv is its first member's, so the curves and the kept
    epoch above are member 1's; each member's epochs and kept epoch. No facts for a lone run."""
    if len(histories) < 2:
        return []
    facts = [
        (
            "ensemble",
            esc(f"{len(histories)} models, their probabilities averaged; the curves and kept epoch are member 1's"),
        )
    ]
    for k, history in enumerate(histories):
        kept = best_epoch(history, config.checkpoint)
        facts.append(
            (
                f"member {k + 1} (seed {config.seed + k})",
                esc(f"epochs trained {epochs_text(history, config)}; kept epoch {kept if kept is not None else 'n/a'}"),
            )
        )
    return facts


def _lr_text(history: Sequence[Mapping], initial: float) -> str:
    """``"0.001 -> 0.00025 (2 drops)"``, or the one learning rate when it never changed."""
    if not history:
        return f"{initial:g}"
    drops = len(lr_drops(history))
    final = history[-1]["lr"]
    if not drops:
        return f"{final:g} (constant)"
    return f"{history[0]['lr']:g} \u2192 {final:g} ({drops} drop{'s' if drops > 1 else ''})"


def _footer(env: Mapping) -> str:
    """Provenance: package versions, Python, platform and git commit from environment.json."""
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    items = [
        f"versions: {versions}" if versions else "",
        f"Python {env['python']}" if env.get("python") else "",
        f"platform {env['platform']}" if env.get("platform") else "",
        f"git commit {env['git_commit']}" if env.get("git_commit") else "",
        f"training started {env['started']}" if env.get("started") else "",
    ]
    return "<footer>" + "<br>".join(esc(i) for i in items if i) + "</footer>"


def make_figures(run: Run, beats: BeatSet | None = None, test_probs: np.ndarray | None = None) -> dict[str, Path]:
    """Write the seven figures of a run into its ``figures/`` folder; returns ``{name: path}`` (FIGURE_FILES).

    beats : the beat set the run trained on (default: ``run.beats()``, its data cut with its window).
    test_probs : (n_test, n_classes) the model's probabilities on the test split; predicted here when None.
    """
    config, data, metrics, history = run.config, run.data(), run.metrics(), run.history()
    classifier = run.classifier()
    beats = run.use_beats(beats) if beats is not None else run.beats(progress=False)
    split = run.split(beats)
    _check_same_data(run, beats, split, data, classifier.classes)

    paths = {name: run.figures_dir / file for name, file in FIGURE_FILES.items()}
    synthetic = bool(data.get("synthetic", beats.synthetic))
    train = beats.subset(split.train)
    test = beats.subset(split.test)
    if test_probs is None:
        test_probs = classifier.predict_proba(test.X, test.context if classifier.takes_context else None)
    plot_example_beats(train, paths["example_beats"])
    plot_beat_statistics(train, paths["beat_statistics"])
    plot_class_distribution(data["counts"], paths["class_distribution"], synthetic=synthetic)
    kept = best_epoch(history, config.checkpoint)
    plot_training_curves(history, paths["training_curves"], kept, synthetic=synthetic, losses=_losses(config))
    plot_confusion(
        metrics["confusion"], metrics["confusion_normalised"], metrics["classes"], paths["confusion"], synthetic
    )
    plot_sample_predictions(
        test.X,
        test.y,
        test_probs,
        classifier.classes,
        paths["sample_predictions"],
        seed=config.seed,
        synthetic=synthetic,
        window=classifier.window,
    )
    plot_ec57(metrics["per_class"], metrics["classes"], paths["ec57"], synthetic=synthetic, ec57=metrics.get("ec57"))
    return paths


def _losses(config) -> tuple[str, str]:
    """What the run's history calls train and validation loss (``figures.loss_names``)."""
    return loss_names(config.loss, config.class_weights, config.focal_gamma)


def _mixed_lead_text(mixed_lead: dict) -> str:
    low, high = mixed_lead.get("angles_deg", ["?", "?"])
    return (
        f"{mixed_lead.get('train_beats_added', 0):,} training beats cut from a mixture of the record's two leads "
        f"(an angle per record from {low} to {high} degrees)"
    )


def _other_lead_text(other_lead: dict) -> str:
    leads = ", ".join(other_lead.get("leads", [])) or "?"
    return f"{other_lead.get('train_beats_added', 0):,} training beats cut from the other lead ({leads})"


def _check_same_data(run: Run, beats: BeatSet, split: Split, data: dict, classes: Sequence[str]) -> None:
    """Refuse to draw a run's figures from beats other than those it trained on."""
    counts = split.class_counts(beats)
    if tuple(beats.classes) != tuple(classes) or counts != data.get("counts", counts):
        raise ArrhythmiaError(
            f"{run.path}: the beats of {beats.description} do not match the data the run trained on "
            f"(data.json); pass the same beat set (Python API: beats=...)"
        )


def write_report(
    run: Run,
    beats: BeatSet | None = None,
    log: Callable[[str], None] = print,
    test_probs: np.ndarray | None = None,
) -> Path:
    """Draw the run's figures and write its self-contained ``report.html``; returns the report's path.

    beats : the beat set the run trained on (default: ``run.beats()``).
    test_probs : (n_test, n_classes) the model's probabilities on the test split, when already computed.
    """
    figures = make_figures(run, beats=beats, test_probs=test_probs)
    # Pure ASCII (other characters as &#...; references): the file reads the same whatever encoding
    # the platform writes text in.
    page = render_report(run, figures).encode("ascii", "xmlcharrefreplace").decode("ascii")
    write_text_atomic(run.report_path, page)
    log(f"report: {run.report_path}")
    return run.report_path
