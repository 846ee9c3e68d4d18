"""A training run's report printed (to PDF, A4 or Letter, for a meeting or a paper's supplement) and read without
colour (black-and-white print, a red-green colour-blind reader) or without sight (alt text)."""

from __future__ import annotations

import itertools
import re
import shutil

import numpy as np
import pytest
from conftest import measured_in_chromium

from arrhythmia import figures
from arrhythmia import report as run_report
from arrhythmia.config import TrainConfig
from arrhythmia.data.synthetic import load_synthetic
from arrhythmia.experiment import run_experiment

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
#: The width of a printed page inside ``PAGE_MARGIN``'s 12 mm left and right, CSS px (96 to the inch).
PRINTED_PX = {"A4": round((210 - 24) / 25.4 * 96), "Letter": round(8.5 * 96 - 24 / 25.4 * 96)}
ALT = re.compile(r'<img src="data:image/png;base64,[^"]*" alt="([^"]*)">')


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny synthetic run (2 epochs, 4 records) with its report, tested record by record (the wide table)."""
    root = tmp_path_factory.mktemp("print-run")
    with pytest.MonkeyPatch.context() as mp:  # conftest's per-test directories do not outlive a test
        mp.setenv("ARRHYTHMIA_CACHE_DIR", str(root / "cache"))
        mp.setenv("ARRHYTHMIA_DATA_DIR", str(root / "data"))
        beats = load_synthetic(n_records=4, duration_s=60)
        return run_experiment(
            TrainConfig(epochs=2, batch_size=64),
            run_dir=root / "crossval-x" / "fold-2",
            beats=beats,
            progress=False,
            log=lambda _: None,
        )


def _print_layout(report, width: int, media: str = "print") -> dict:
    """How ``report`` lays out in headless Chromium as printed (media print) on a page ``width`` CSS px wide: the
    page's width, each table's, figure's and preformatted block's width against its box's, whether each table is
    shown (not in a closed ``details``), and how each figure breaks across pages."""
    measure = """() => ({
        page: document.documentElement.scrollWidth,
        tables: [...document.querySelectorAll('table')].map(t => ({
            table: t.offsetWidth, box: t.parentElement.clientWidth,
            shown: t.checkVisibility({contentVisibilityAuto: true}),
        })),
        figures: [...document.querySelectorAll('figure')].map(f => ({
            img: f.querySelector('img').offsetWidth, box: f.clientWidth, breaks: getComputedStyle(f).breakInside,
        })),
        pre: [...document.querySelectorAll('pre')].map(p => [p.scrollWidth, p.clientWidth]),
        banners: [...document.querySelectorAll('.banner')].map(b => getComputedStyle(b).color),
    })"""
    return measured_in_chromium(report, width, media, measure)


@needs_chromium
@pytest.mark.parametrize("paper", PRINTED_PX)
def test_the_printed_run_report_shows_every_table_figure_and_line_whole(run, paper):
    """Printed on A4 (703 px inside its margins), the table of gross and record-average statistics was 930 px wide
    and lost its right columns (the +P figures), the model's structure ran 833 px, cut at the page's edge, the
    table of every test record, folded, was left out, and a figure could be split from its caption."""
    width = PRINTED_PX[paper]
    layout = _print_layout(run.report_path, width)
    assert layout["page"] == width
    assert len(layout["tables"]) >= 4
    for table in layout["tables"]:
        assert 0 < table["table"] <= table["box"] <= width and table["shown"], table
    assert len(layout["figures"]) == 7
    for figure in layout["figures"]:
        assert 0 < figure["img"] <= figure["box"] <= width and figure["breaks"] == "avoid", figure
    for scroll, box in layout["pre"]:
        assert scroll <= box, (scroll, box)


@needs_chromium
def test_the_synthetic_banner_prints_dark_without_backgrounds(run):
    """Printed as a browser prints by default, without backgrounds, the SYNTHETIC banner's white letters on red were
    a pale grey on white (2:1): the one warning that the figures are not from real ECG all but vanished."""
    (colour,) = _print_layout(run.report_path, PRINTED_PX["A4"])["banners"]
    red, green, blue = (int(v) for v in re.findall(r"\d+", colour)[:3])
    assert max(red, green, blue) < 80, colour  # dark on the white paper, whatever prints the background


def test_every_printed_page_names_the_run_and_its_page(run):
    """A printed page said nothing of whose it was; a cross-validation's fold was named 'fold-2', as every other
    cross-validation's second fold is."""
    assert run_report.run_title(run.path) == "crossval-x/fold-2"
    page = run.report_path.read_text()
    title = re.search(r"<title>(.*)</title>", page).group(1)
    assert "crossval-x/fold-2" in title and "<h1>" in page and "crossval-x/fold-2</h1>" in page
    assert f"@page {{ margin: {run_report.PAGE_MARGIN}; @top-left {{ content: " in page
    assert '@bottom-right { content: "page " counter(page) " of " counter(pages);' in page
    assert '@top-left { content: "seed-cnn \\b7  crossval-x/fold-2 (SYNTHETIC data)";' in page
    # A name can end neither the CSS string nor the <style>; one not in ASCII is escaped in CSS, not as &#...;
    assert 'content: "a\\22 b\\3c /style\\3e  \\e9 ";' in run_report.page_css('a"b</style> é')


def test_the_run_report_s_alt_text_says_what_each_figure_shows_for_this_run(run):
    """Read aloud, every run's figures were 'confusion matrices, counts and row-normalised', 'training and validation
    loss and accuracy per epoch', whatever the run: nothing of its numbers."""
    page = run.report_path.read_text()
    alts = ALT.findall(page)
    assert len(alts) == 7
    metrics, history = run.metrics(), run.history()
    named = [alt for alt in alts if "crossval-x/fold-2" in alt]
    assert len(named) >= 5, alts
    texts = run_report.alt_texts("r", metrics, history, run.data()["counts"], 2)
    n = int(np.asarray(metrics["confusion"]).sum())
    assert f"{n:,} test beats" in texts["confusion"] and "true N (" in texts["confusion"]
    assert (
        f"over {len(history)} epochs" in texts["training_curves"]
        and "kept checkpoint: epoch 2" in texts["training_curves"]
    )
    assert "N Se " in texts["ec57"] and "+P" in texts["ec57"]
    train = run.data()["counts"]["train"]
    assert f"N {train['N']:,}" in texts["class_distribution"]


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the plot functions draw, instead of their PNGs."""
    figures_drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: figures_drawn.append(fig) or path)
    return figures_drawn


def test_the_splits_bars_are_hatched_apart_for_black_and_white_print(drawn, tmp_path):
    """val's orange and test's green printed as one grey (L* 65 and 63), 4 CIELAB units apart with deuteranopia."""
    counts = {"train": {"N": 900, "S": 30}, "val": {"N": 200, "S": 8}, "test": {"N": 300, "S": 10}}
    figures.plot_class_distribution(counts, tmp_path / "c.png")
    (ax,) = drawn[0].axes
    hatches = [ax.containers[i][0].get_hatch() for i in range(3)]
    assert len(set(hatches)) == 3, hatches
    legend = ax.get_legend().legend_handles
    assert [handle.get_hatch() for handle in legend] == hatches  # the legend says which is which


def test_train_and_validation_curves_differ_in_line_and_marker_not_colour_alone(drawn, tmp_path):
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.8, "val_acc": 0.7, "lr": 1e-3}
        for e in range(1, 6)
    ]
    figures.plot_training_curves(history, tmp_path / "t.png", best_epoch=5)
    for ax in drawn[0].axes:
        train, val = ax.get_lines()[:2]
        assert train.get_label() == "train" and val.get_label() == "validation"
        assert train.get_linestyle() != val.get_linestyle() and train.get_marker() != val.get_marker()


def test_each_class_s_histogram_has_its_own_line_style(drawn, tmp_path):
    """Printed in black and white, N, F and Q were outlines of one grey; with deuteranopia V and F one olive."""
    beats = load_synthetic(n_records=2, duration_s=60)
    figures.plot_beat_statistics(beats, tmp_path / "b.png")
    for ax in drawn[0].axes:
        styles = [patch.get_linestyle() for patch in ax.patches]
        assert len(styles) == len(set(beats.y.tolist())) and len(set(map(str, styles))) == len(styles), styles


def test_a_wrong_sample_prediction_is_framed_and_bold_not_red_alone(drawn, tmp_path):
    """Green and red print as one grey and are one olive with deuteranopia: an error was told only by a small word."""
    rng = np.random.default_rng(0)
    y_true = np.arange(40) % 5
    probs = np.eye(5)[np.where(np.arange(40) < 4, (y_true + 1) % 5, y_true)] * 0.9 + 0.02
    figures.plot_sample_predictions(rng.random((40, 187)), y_true, probs, list("NSVFQ"), tmp_path / "s.png")
    panels = [ax for ax in drawn[0].axes if ax.get_title()]
    wrong = [ax for ax in panels if "WRONG" in ax.get_title()]
    right = [ax for ax in panels if "(right)" in ax.get_title()]
    assert len(wrong) == 4 and len(right) == 4
    for ax, is_wrong in itertools.chain(((ax, True) for ax in wrong), ((ax, False) for ax in right)):
        widths = {spine.get_linewidth() for spine in ax.spines.values()}
        weight = ax.title.get_fontweight()
        assert (min(widths) >= 2.5 and weight == "bold") if is_wrong else (max(widths) < 1.5 and weight != "bold")


@needs_chromium
def test_the_table_of_every_test_record_prints_whole_with_mitdb_s_fifteen_classes(tmp_path):
    """With MIT-BIH's own symbols as classes (--labels mitdb) the table of each test record has a column per class:
    printed on A4 it ran 973 px on a 703 px page, its last five classes cut off."""
    from arrhythmia.evaluation import compute_metrics

    rng = np.random.default_rng(0)
    classes = tuple(["N", "L", "R", "A", "a", "J", "S", "V", "F", "e", "j", "E", "/", "f", "Q"])
    truth = rng.integers(0, len(classes), 5000)
    called = np.where(rng.random(5000) < 0.2, (truth + 1) % len(classes), truth)
    records = np.repeat([str(200 + i) for i in range(22)], 228)[:5000]
    metrics = compute_metrics(truth, called, classes, records=records)
    page = tmp_path / "records.html"
    style = run_report.CSS + run_report.PRINT_CSS + run_report.page_css("x")
    page.write_text(f"<!DOCTYPE html><html><head><style>{style}</style></head><body><main>")
    with page.open("a") as out:
        out.write(run_report._record_tables(metrics) + "</main></body></html>")
    layout = _print_layout(page, PRINTED_PX["A4"])
    assert layout["page"] == PRINTED_PX["A4"]
    (*_, every_record) = layout["tables"]
    assert every_record["shown"] and every_record["table"] <= every_record["box"], every_record
    # Opened on a laptop's screen it ran 1,617 px and pushed the whole page sideways; now it scrolls in its own box.
    page.write_text(page.read_text().replace("<details>", "<details open>"))
    assert _print_layout(page, 1280, media="screen")["page"] == 1280


def test_compare_s_interval_that_leaves_out_zero_never_reads_as_zero():
    """compare's table printed 'N +P ... +0.6 (+0.0 to +1.4) *' for an interval from +0.047 points (two DS1
    cross-validations, seeds 42 and 43): the star says it leaves out 0, its bound read 0."""
    from arrhythmia.comparison import format_comparison

    run = {"path": "a", "model": "m", "protocol": "inter", "preset": None, "seed": 1, "epochs": 1, "beats": 9}
    figure = {
        "name": "N +P",
        "values": [0.978, 0.984],
        "differences": [None, {"difference": 0.0062, "interval": [0.00047, 0.0139]}],
    }
    table = format_comparison(
        {
            "runs": [{**run, "records": 2}] * 2,
            "records": ["1", "2"],
            "level": 0.95,
            "resamples": 2000,
            "figures": [figure],
        }
    )
    assert "| N +P | 97.8 | 98.4 | +0.6 (+0.05 to +1.4) * |" in table, table
