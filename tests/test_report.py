"""Figures and the HTML report of a run: files, embedded images, content, self-containment, a real render."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest
from conftest import measured_in_chromium

from arrhythmia.config import TrainConfig
from arrhythmia.data.synthetic import load_synthetic
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import interval_text
from arrhythmia.experiment import run_experiment
from arrhythmia.figures import FIGURE_FILES, best_epoch, class_label, lr_drops, pick_sample_indices
from arrhythmia.files import read_json
from arrhythmia.inference import Classifier
from arrhythmia.models import count_parameters
from arrhythmia.report import format_loss, make_figures, percent, render_report, write_report
from arrhythmia.runs import Run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 150_000
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
# Any attribute that can make a browser fetch or navigate somewhere.
URL_ATTRIBUTE = re.compile(r"\b(src|href|srcset|action|poster|formaction)\s*=\s*[\"']([^\"']*)[\"']", re.I)
SYNTHETIC_BANNER = "SYNTHETIC DATA: these results come from generated beats, not real ECG."
INTRA_WARNING = (
    "Intra-patient protocol: beats of the same patients appear in both the training and the test set, "
    "so these scores overstate performance on new patients. Use --protocol inter for a patient-independent estimate."
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny synthetic run (2 epochs) with its figures and report: (run_dir, beats, report path, log lines)."""
    root = tmp_path_factory.mktemp("report-run")
    # conftest's isolated cache directories are per test; this fixture outlives a test, so it sets its own.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARRHYTHMIA_CACHE_DIR", str(root / "cache"))
        mp.setenv("ARRHYTHMIA_DATA_DIR", str(root / "data"))
        beats = load_synthetic(n_records=4, duration_s=60)
        # The report is made below, where its log is captured.
        run_dir = run_experiment(
            TrainConfig(epochs=2, batch_size=64),
            run_dir=root / "run",
            beats=beats,
            progress=False,
            log=lambda _: None,
            report=False,
        ).path
        lines: list[str] = []
        report = write_report(Run.open(run_dir), beats=beats, log=lines.append)
    return run_dir, beats, report, lines


@pytest.fixture(scope="module")
def page(run) -> str:
    return run[2].read_text()


def test_all_seven_figures_are_small_pngs(run):
    run_dir = run[0]
    for name in FIGURE_FILES.values():
        path = run_dir / "figures" / name
        assert path.is_file(), name
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert path.stat().st_size < MAX_PNG_BYTES, f"{name}: {path.stat().st_size:,} bytes"
    assert sorted(p.name for p in (run_dir / "figures").iterdir()) == sorted(FIGURE_FILES.values())  # no temp files


def test_report_path_is_logged(run):
    _, _, report, lines = run
    assert report == run[0] / "report.html"
    assert lines and str(report) in lines[-1]


def test_every_figure_is_embedded(run, page):
    embedded = [base64.b64decode(data) for data in DATA_URI.findall(page)]
    assert len(embedded) == 7
    assert all(png[:8] == PNG_MAGIC for png in embedded)
    on_disk = {(run[0] / "figures" / name).read_bytes() for name in FIGURE_FILES.values()}
    assert set(embedded) == on_disk


def test_headline_metrics_classes_and_parameters_are_shown(run, page):
    run_dir = run[0]
    metrics = read_json(run_dir / "metrics.json")
    for key in ("accuracy", "macro_f1", "weighted_f1"):
        assert f'<div class="value">{percent(metrics[key])}</div>' in page, key
    assert f'<div class="value">{format_loss(metrics["loss"])}</div>' in page
    for name in metrics["classes"]:
        se = percent(metrics["per_class"][name]["se"])
        assert f'<tr><td>{html.escape(class_label(name))}</td><td class="num">{se}</td>' in page, name
    veb = metrics["ec57"]["V"]  # the synthetic beats carry the AAMI classes
    shown = "&ndash;" if veb["ppv"] is None else percent(veb["ppv"])
    assert f"+P <strong>{shown}</strong>, FPR" in page and "PhysioNet's <code>bxb</code>" in page
    total, trainable = count_parameters(Classifier.from_run(run_dir, device="cpu").model)
    assert f"{total:,} total, {trainable:,} trainable" in page
    assert "<pre>" in page and "Conv1d" in page  # the architecture


def test_record_by_record_results_and_their_average_are_shown(run, page):
    metrics = read_json(run[0] / "metrics.json")
    records = [row["record"] for row in metrics["per_record"]]
    assert len(records) == 4 and "Gross and record-average statistics" in page
    assert f"Each of the {len(records)} test records" in page
    for record in records:
        assert f"<tr><td>{html.escape(record)}</td>" in page
    for name in metrics["classes"]:
        average = metrics["record_average"][name]["se"]
        shown = "&ndash;" if average is None else percent(average)
        gross = percent(metrics["per_class"][name]["se"])
        spread = interval_text(metrics["intervals"][name]["se"], percent=True)  # its 95% interval over records
        assert f'<td class="num">{gross}</td><td class="num">{spread}</td><td class="num">{shown}</td>' in page, name
    assert "95% over records" in page


def test_synthetic_banner_and_intra_warning(page):
    assert SYNTHETIC_BANNER in page
    assert INTRA_WARNING in page
    # The banner comes before the numbers it qualifies.
    assert page.index(SYNTHETIC_BANNER) < page.index('<div class="cards">')


def test_no_banner_or_warning_for_real_data_under_inter(run, tmp_path):
    run_dir = run[0]
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    data = read_json(copy / "data.json")
    data.update(synthetic=False, protocol="inter")
    (copy / "data.json").write_text(json.dumps(data))
    figures = {name: copy / "figures" / file for name, file in FIGURE_FILES.items()}
    other = render_report(Run.open(copy), figures)
    assert SYNTHETIC_BANNER not in other
    assert "Intra-patient protocol" not in other


def test_report_is_self_contained(page):
    assert "http://" not in page and "https://" not in page  # base64 has no ':', so this covers the images too
    lowered = page.lower()
    for needle in ("<script", "<link", "@import", "url(", "<iframe", "<object", "<embed"):
        assert needle not in lowered, needle
    attributes = URL_ATTRIBUTE.findall(page)
    assert attributes
    for name, value in attributes:
        if value.startswith("data:image/png;base64,"):
            continue  # base64 may contain '//' but names no place
        assert "//" not in value and not re.match(r"^[a-z][a-z0-9+.-]*:", value, re.I), f"{name}={value!r}"


def test_make_figures_refuses_other_beats(run):
    with pytest.raises(ArrhythmiaError, match="do not match"):
        make_figures(Run.open(run[0]), beats=load_synthetic(n_records=3, duration_s=30))


def test_recording_times_read_as_a_clock_from_the_start():
    from matplotlib.figure import Figure

    from arrhythmia.figures import _clock_axis, clock

    assert [clock(0), clock(59.6), clock(3723), clock(86399)] == ["0:00:00", "0:01:00", "1:02:03", "23:59:59"]
    assert clock(3723, with_seconds=False) == "1:02"
    cases = [(1800, 300, "0:05"), (86400, 7200, "2:00"), (720, 60, "0:01"), (7 * 86400, 86400, "24:00")]
    cases += [(14 * 86400, 172800, "48:00")]  # a 7- and a 14-day patch recording
    cases += [(10, 1, "0:00:01"), (40, 5, "0:00:05"), (300, 30, "0:00:30")]  # under 12 min: seconds
    for span_s, step_s, label in cases:
        ax = Figure().add_subplot()
        _clock_axis(ax, span_s)
        ticks = ax.xaxis.get_major_locator().tick_values(0, span_s)
        inside = ticks[(ticks >= 0) & (ticks <= span_s)]
        assert np.allclose(np.diff(ticks), step_s) and len(inside) <= 13  # at most 12 steps
        assert ax.xaxis.get_major_formatter()(step_s, 0) == label
        assert ax.get_xlabel().endswith("(h:mm:ss)" if step_s < 60 else "(h:mm)")


def test_a_ten_second_recording_s_trend_reads_in_seconds(monkeypatch, tmp_path):
    import pandas as pd

    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    times = np.arange(0.8, 10.0, 0.8)
    no_episodes = pd.DataFrame(columns=["type", "start_s", "end_s"])
    figures.plot_heart_rate_trend(times, np.full(len(times), 75.0), no_episodes, tmp_path / "trend.png", 10.0)
    (ax,) = drawn[0].axes
    assert ax.get_xlim() == (0.0, 10.0)  # the recording, not a minute
    ticks = [t for t in ax.get_xticks() if 0 <= t <= 10]
    labels = [ax.xaxis.get_major_formatter()(t, 0) for t in ticks]
    assert len(set(labels)) == len(labels) >= 5 and labels[1] == "0:00:01", labels  # was 0:00, 0:01 (h:mm)
    # a steady 75 bpm reads steady: 20 bpm around it, not an axis of fractions of a beat per minute
    assert ax.get_ylim() == (65.0, 85.0)


def test_best_epoch_and_lr_drops():
    history = [
        {"epoch": e, "val_loss": v, "lr": lr}
        for e, v, lr in [(1, 0.9, 1e-3), (2, 0.5, 1e-3), (3, 0.6, 5e-4), (4, 0.7, 5e-4), (5, 0.8, 2.5e-4)]
    ]
    assert best_epoch(history) == 2
    assert best_epoch(history, "last") == history[-1]["epoch"]
    assert lr_drops(history) == [3, 5]
    assert best_epoch([]) is None


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """The matplotlib Figure each plot function draws, by the file it would be saved to, kept instead of saved."""
    import arrhythmia.figures as figures

    kept: dict = {}

    def keep(fig, path):
        kept[str(path)] = fig
        return path

    monkeypatch.setattr(figures, "_save", keep)
    return kept


def _texts(fig) -> list[str]:
    """Every text drawn on ``fig``: titles, axis labels, cell annotations, legends."""
    return [text.get_text() for text in fig.findobj(lambda artist: hasattr(artist, "get_text"))]


def test_the_per_class_figure_says_its_bars_are_one_against_the_rest_and_gives_ec57s_figures(drawn):
    from arrhythmia.evaluation import compute_metrics
    from arrhythmia.figures import plot_ec57

    # 10 V beats, all called V; 10 F beats called V: one against the rest V +P is 50%, EC57's VEB +P 100%.
    y_true = np.array([0] * 30 + [2] * 10 + [3] * 10)
    y_pred = np.array([0] * 30 + [2] * 10 + [2] * 10)
    metrics = compute_metrics(y_true, y_pred, ("N", "S", "V", "F", "Q"))
    path = plot_ec57(metrics["per_class"], metrics["classes"], "ec57.png", ec57=metrics["ec57"])
    (title,) = [ax.get_title() for ax in drawn[str(path)].axes]
    # It was titled "AAMI EC57 per-class statistics" over a V +P of 50.0, beside the report's EC57 VEB +P 100.0.
    assert title.startswith("Se and +P per class, one class against the rest")
    assert "VEB Se 100.0 / +P 100.0, SVEB Se - / +P -" in title
    assert "50.0" in _texts(drawn[str(path)])  # the bar: V +P one against the rest


def test_training_curves_name_the_loss_the_run_trained_and_validated_with(drawn):
    from arrhythmia.figures import loss_names, plot_training_curves

    history = [
        {"epoch": e, "train_loss": 0.5, "val_loss": 0.7, "train_acc": 0.9, "val_acc": 0.8, "lr": 1e-3} for e in (1, 2)
    ]
    assert loss_names() == ("cross-entropy", "cross-entropy")
    plot_training_curves(history, "plain.png", 2, losses=loss_names())
    assert drawn["plain.png"].axes[0].get_ylabel() == "cross-entropy loss"
    # Balanced class weights and a focal loss: the validation loss is the weighted cross-entropy, not a focal loss.
    losses = loss_names("focal", "balanced", 2.0)
    plot_training_curves(history, "focal.png", 2, losses=losses)
    axis = drawn["focal.png"].axes[0]
    assert axis.get_ylabel() == "loss"  # it said "cross-entropy loss" of both
    legend = [text.get_text() for text in axis.get_legend().get_texts()]
    assert legend[:2] == ["train (class-weighted focal loss (gamma 2))", "validation (class-weighted cross-entropy)"]


def test_the_report_says_which_loss_its_validation_and_test_losses_are(run, page):
    history = Run.open(run[0]).history()
    kept = best_epoch(history)
    val_loss = next(row["val_loss"] for row in history if row["epoch"] == kept)
    assert f"<dd>{format_loss(val_loss)} (cross-entropy)</dd>" in page
    assert "cross-entropy, classes unweighted" in page  # the test loss, whatever the training's class weights


def test_a_class_without_beats_has_no_row_to_normalise_and_reads_as_a_dash(drawn):
    from arrhythmia.figures import plot_confusion

    confusion = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])  # no beats of the third class
    normalised = np.divide(confusion, np.maximum(confusion.sum(1, keepdims=True), 1))
    plot_confusion(confusion, normalised, ["N", "S", "V"], "confusion.png")
    right = drawn["confusion.png"].axes[1]
    cells = [text.get_text() for text in right.texts]
    assert cells == ["80%", "20%", "0%", "25%", "75%", "0%", "-", "-", "-"]  # it read 0% 0% 0%


def test_sample_pick_is_reproducible_and_shows_errors():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, 200)
    y_pred = y_true.copy()
    wrong = rng.choice(200, 10, replace=False)
    y_pred[wrong] = (y_true[wrong] + 1) % 5

    picked = pick_sample_indices(y_true, y_pred, n=8, seed=42)
    assert np.array_equal(picked, pick_sample_indices(y_true, y_pred, n=8, seed=42))
    assert len(picked) == 8 and len(set(picked.tolist())) == 8
    assert (y_true[picked] != y_pred[picked]).sum() == 4
    assert not np.array_equal(picked, pick_sample_indices(y_true, y_pred, n=8, seed=7))

    for n_errors, expected in [(1, 1), (2, 2), (3, 3), (50, 4)]:
        y_pred = y_true.copy()
        y_pred[:n_errors] = (y_true[:n_errors] + 1) % 5
        picked = pick_sample_indices(y_true, y_pred, n=8, seed=42)
        assert len(picked) == 8
        assert (y_true[picked] != y_pred[picked]).sum() == expected, n_errors


def test_sample_pick_without_errors_and_with_few_beats():
    y = np.arange(100) % 5
    picked = pick_sample_indices(y, y.copy(), n=8, seed=42)
    assert len(picked) == 8 and len(set(picked.tolist())) == 8  # all correct: there is nothing else
    assert len(pick_sample_indices(y[:5], y[:5], n=8)) == 5
    # Fewer correct beats than slots: errors fill the gap.
    y_pred = (y[:10] + 1) % 5
    y_pred[:2] = y[:2]
    picked = pick_sample_indices(y[:10], y_pred, n=8, seed=42)
    assert len(picked) == 8 and (y[:10][picked] == y_pred[picked]).sum() == 2


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(run, tmp_path):
    from PIL import Image

    report = run[2]
    base = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    url = report.resolve().as_uri()
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(DATA_URI.findall(dom.stdout)) == 7, dom.stderr[-2000:]
    assert SYNTHETIC_BANNER in dom.stdout

    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1280,4000", url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert shot.stat().st_size > 50_000
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape == (4000, 1280, 3)
    assert pixels.std() > 20  # not a blank page
    # The synthetic banner's red (#cf222e) is drawn: the CSS was applied.
    red = (np.abs(pixels - np.array([0xCF, 0x22, 0x2E])).sum(axis=2) < 30).sum()
    assert red > 10_000


# --- the recording report (predict --report) on a phone and on a laptop ---------------------------------------

HOLTER_FS = 100.0
PHONE_PX, LAPTOP_PX = 390, 1280


@pytest.fixture(scope="module")
def holter_report(tmp_path_factory):
    """The report of a made-up 2.5-hour recording built to be wide, with no model: every class in the thousands
    an hour, hours named by the clock, muscle noise filtered (a 19th column), a fast rate and its episodes."""
    from datetime import datetime

    import pandas as pd

    from arrhythmia.data.beats import WINDOWS
    from arrhythmia.data.recording import Recording
    from arrhythmia.episodes import find_episodes
    from arrhythmia.hourly import hourly_table, recording_hrv
    from arrhythmia.predict import RecordingLabels, save_recording
    from arrhythmia.recording_report import write_recording_report

    out = tmp_path_factory.mktemp("holter")
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.45, 0.75, 16_000))  # about 100 bpm
    times = times[times < 2.5 * 3600]
    labels = rng.choice(np.array(["N", "S", "V", "F", "Q"]), len(times), p=[0.6, 0.1, 0.2, 0.05, 0.05])
    samples = np.round(times * HOLTER_FS).astype(np.int64)
    signal = np.zeros(int(2.5 * 3600 * HOLTER_FS))
    signal[samples] = 1.0
    start = datetime(2026, 11, 28, 10, 23, 5)
    recording = Recording(signal, HOLTER_FS, "MLII", out / "holter.npy", start=start)
    episodes = find_episodes(samples, labels, HOLTER_FS)
    filtered = np.array([[600.0, 900.0]])  # s
    beats = pd.DataFrame({"sample": samples, "time_s": times, "label": labels, "confidence": 0.9})
    result = RecordingLabels(
        beats=beats,
        episodes=episodes,
        hourly=hourly_table(times, labels, len(signal) / HOLTER_FS, episodes, start=start, filtered=filtered),
        hrv=recording_hrv(times, labels, episodes),
        muscle_filtered=(filtered * HOLTER_FS).astype(np.int64),
        recording=recording,
    )
    summary = save_recording(result, out, {"model": "none"}, ("N", "S", "V", "F", "Q"))
    return write_recording_report(recording, result, summary, WINDOWS["kachuee"], out)


def _layout(report, width: int, media: str = "screen") -> dict:
    """How ``report`` lays out in headless Chromium at ``width`` CSS px for ``media`` (screen, or print): the
    page's scroll width, each table's width against its box's and whether it is shown (not in a closed
    ``details``), each figure's width against the PNG's and its box's, the cards whose value is cut off, and the
    lines of text in each row of the wide (hourly) table."""
    measure = """() => ({
        page: document.documentElement.scrollWidth,
        tables: [...document.querySelectorAll('table')].map(t => ({
            table: t.offsetWidth, box: t.parentElement.clientWidth,
            scrolls: getComputedStyle(t.parentElement).overflowX === 'auto', wide: t.parentElement.matches('.wide'),
            shown: t.checkVisibility({contentVisibilityAuto: true}),
        })),
        figures: [...document.querySelectorAll('figure img')].map(i => [i.offsetWidth, i.naturalWidth]),
        boxes: [...document.querySelectorAll('figure img')].map(i => i.parentElement.clientWidth),
        lines: [...document.querySelectorAll('.wide tr')].map(row => {
            const cell = row.firstElementChild, style = getComputedStyle(cell);
            const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
            return [cell.tagName, (row.offsetHeight - padding - 1) / parseFloat(style.lineHeight)];
        }),
        cut: [...document.querySelectorAll('.card .value')].filter(v => v.scrollWidth > v.clientWidth)
            .map(v => v.textContent),
    })"""
    return measured_in_chromium(report, width, media, measure)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_recording_report_fits_a_phone(holter_report):
    from arrhythmia.recording_report import FIGURE_MIN_PX

    layout = _layout(holter_report, PHONE_PX)
    assert layout["page"] == PHONE_PX  # nothing scrolls the page sideways
    assert layout["cut"] == []  # the cards wrap, their values whole
    assert len(layout["tables"]) >= 5
    for table in layout["tables"]:  # a table wider than the page scrolls in its own box
        assert table["scrolls"] and table["box"] < PHONE_PX, table
    assert any(table["table"] > table["box"] for table in layout["tables"])  # the hourly one does scroll
    assert len(layout["figures"]) >= 3
    for shown, drawn in layout["figures"]:  # readable: not shrunk to the screen's width
        assert shown == min(drawn, FIGURE_MIN_PX), (shown, drawn)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_the_hourly_table_shows_all_its_columns_on_a_laptop(holter_report):
    layout = _layout(holter_report, LAPTOP_PX)
    assert layout["page"] == LAPTOP_PX
    (hourly,) = [table for table in layout["tables"] if table["wide"]]
    assert hourly["table"] <= hourly["box"], hourly  # all 19 columns, none behind a scroll
    head, *rows = layout["lines"]
    assert head[0] == "TH" and head[1] <= 3.1  # the headings wrap to three lines at most
    assert len(rows) == 3 and all(lines < 1.1 for _, lines in rows), rows  # a number never breaks


#: The width of a printed page inside its margins (``report.PAGE_MARGIN``, both reports'), CSS px (96 to the inch).
PRINTED_PX = {"A4": round((210 - 24) / 25.4 * 96), "Letter": round(8.5 * 96 - 24 / 25.4 * 96)}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
@pytest.mark.parametrize("paper", PRINTED_PX)
def test_the_printed_report_shows_every_figure_table_and_column_whole(holter_report, paper):
    """Printed to PDF on A4 (or Letter), each figure was cut off at its right (its min-width, 800 px for a phone,
    overflowed a 703 px page, and its box clipped it: the Poincaré plot lost its right half), the hourly table
    lost its columns after the 13th (pauses; AF, AFL, HRV gone) behind a scroll box paper cannot scroll, and the
    list of every episode, folded, was not printed at all."""
    width = PRINTED_PX[paper]
    layout = _layout(holter_report, width, media="print")
    screen = _layout(holter_report, LAPTOP_PX)
    assert layout["page"] == width
    assert len(layout["figures"]) == len(screen["figures"]) >= 3
    for (shown, _), box in zip(layout["figures"], layout["boxes"]):
        assert 0 < shown <= box <= width, (shown, box)
    assert len(layout["tables"]) == len(screen["tables"]) >= 5
    for table in layout["tables"]:  # every table printed, whole
        assert 0 < table["table"] <= table["box"] and table["shown"], table
    assert [table["shown"] for table in screen["tables"]].count(False) == 1  # on screen, every episode is folded


def test_every_printed_page_names_the_recording_and_its_page():
    """A printed page said nothing of whose it was: a page that came loose from a chart could not be put back."""
    from datetime import datetime

    import pandas as pd

    from arrhythmia.data.recording import Recording
    from arrhythmia.predict import RecordingLabels
    from arrhythmia.recording_report import page_css, render_recording_report

    css = page_css("208", "2026-11-28 10:23:05")
    assert '@top-left { content: "208: Holter analysis, started 2026-11-28 10:23:05";' in css
    assert '@bottom-right { content: "page " counter(page) " of " counter(pages);' in css
    # A file's name can neither end the CSS string nor the <style> element.
    assert 'content: "a\\22 b\\3c \\2f style\\3e .npy: Holter analysis";' in page_css('a"b</style>.npy')
    signal = np.zeros(6000)  # a minute: a shorter recording's report is an ECG strip's
    recording = Recording(signal, 100.0, "MLII", "rec 7.npy", start=datetime(2026, 11, 28, 10, 23, 5))
    result = RecordingLabels(beats=pd.DataFrame({"sample": [], "label": [], "confidence": []}), recording=recording)
    page = render_recording_report(recording, result, {"classified": 0}, {})
    assert '@top-left { content: "rec 7.npy: Holter analysis, started 2026-11-28 10:23:05";' in page
    # an EDF header's patient field: its code first, on every page and in the title, cut short if long
    edf = replace(recording, patient="MCH-0234567 F 02-MAY-1951 Haagse_Harry_with_a_very_long_name")
    page = render_recording_report(edf, replace(result, recording=edf), {"classified": 0}, {})
    assert '@top-left { content: "rec 7.npy (patient MCH-0234567 F 02-MAY-1951 Haagse_Harry_w...): Holter' in page
    assert "<title>rec 7.npy (patient MCH-0234567 F 02-MAY-1951 Haagse_Harry_w...): Holter analysis</title>" in page


#: Machado, Oliveira and Fernandes (2009): linear RGB as seen with protanopia, deuteranopia and tritanopia.
COLOUR_VISIONS = {
    "usual": np.eye(3),
    "protanopia": np.array([[0.1523, 1.0526, -0.2049], [0.1145, 0.7863, 0.0992], [-0.0039, -0.0481, 1.0520]]),
    "deuteranopia": np.array([[0.3673, 0.8606, -0.2280], [0.2801, 0.6725, 0.0474], [-0.0118, 0.0429, 0.9689]]),
    "tritanopia": np.array([[1.2555, -0.0767, -0.1788], [-0.0784, 0.9308, 0.1476], [0.0047, 0.6914, 0.3039]]),
}


def _cielab(rgba, vision: np.ndarray) -> np.ndarray:
    """CIELAB of the colour ``rgba`` laid over white, as seen with ``vision`` (a ``COLOUR_VISIONS`` matrix)."""
    r, g, b, alpha = rgba
    srgb = alpha * np.array([r, g, b]) + 1 - alpha
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(vision @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = np.cbrt(xyz / np.array([0.95047, 1.0, 1.08883]))  # no colour here is dark enough for the linear part
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_the_trend_s_legend_is_below_its_axes_and_its_episodes_are_told_apart(monkeypatch, tmp_path):
    import io
    import itertools

    import pandas as pd

    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    day = 86_400.0
    times = np.arange(1.0, day, 30.0)
    rate = np.where(np.arange(len(times)) % 2, 200.0, 40.0)  # the trace fills its axes, top to bottom
    kinds = [*figures.EPISODE_COLOURS, "pause"]
    starts = 600.0 + 3600.0 * np.arange(len(kinds))
    episodes = pd.DataFrame({"type": kinds, "start_s": starts, "end_s": starts + 5.0})  # runs of seconds
    figures.plot_heart_rate_trend(times, rate, episodes, tmp_path / "trend.png", day)
    fig = drawn[0]
    fig.savefig(io.BytesIO(), format="png")  # lays it out
    (ax,) = fig.axes
    (legend,) = fig.legends
    assert ax.get_legend() is None and legend.get_window_extent().y1 < ax.get_tightbbox().y0  # below the axes
    assert [text.get_text() for text in legend.get_texts()] == kinds
    shades = list(ax.patches)
    assert len(shades) == len(kinds) - 1 and all(shade.get_window_extent().width > 1.5 for shade in shades)  # seen
    colours = {kind: handle.get_facecolor() for kind, handle in zip(kinds, legend.legend_handles) if kind != "pause"}
    for name, vision in COLOUR_VISIONS.items():
        seen = {kind: _cielab(colour, vision) for kind, colour in colours.items()}
        for a, b in itertools.combinations(seen, 2):
            assert np.linalg.norm(seen[a] - seen[b]) > 9.0, (name, a, b)  # CIELAB units: told apart


def test_the_record_table_says_the_level_and_draws_its_intervals_were_made_with():
    """It said '95%' and '2,000 times' whatever the metrics held; a patient's records drawn together are said."""
    from arrhythmia.evaluation import compute_metrics
    from arrhythmia.report import _record_tables

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    called = np.where(rng.random(600) < 0.1, (truth + 1) % 3, truth)
    records = np.repeat([f"r{i}" for i in range(6)], 100)
    metrics = compute_metrics(truth, called, ("N", "S", "V", "F", "Q"), records=records)
    assert "95% over records" in _record_tables(metrics) and "2,000 times)" in _record_tables(metrics)
    metrics["intervals"].update(level=0.9, resamples=500)
    assert "90% over records" in _record_tables(metrics) and "500 times)" in _record_tables(metrics)
    classes = ("N", "S", "V", "F", "Q")
    grouped = _record_tables(compute_metrics(truth, called, classes, records=records, patients={"r0": "a", "r1": "a"}))
    assert "95% over patients" in grouped and "each patient's records together" in grouped


def _shapes(collections) -> list[bytes]:
    """The marker shape of each scatter in ``collections``, as the bytes of its path's vertices."""
    return [np.round(c.get_paths()[0].vertices, 3).tobytes() for c in collections]


def test_beats_are_told_apart_by_shape_in_black_and_white_and_with_deuteranopia(monkeypatch, tmp_path):
    """208's printed tachogram and Poincaré plot, and the strips' markers: N, V, F and Q were dots of one shape in
    colours of one grey (L* 40-47), and N's green and V's red 18 CIELAB units apart with deuteranopia (109 with
    usual sight): a reader in black and white, or red-green colour-blind, could not find the V beats."""
    import pandas as pd

    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    classes = ["N", "S", "V", "F", "Q"]
    times = np.arange(1.0, 61.0, 0.8)
    labels = np.array(classes * (len(times) // 5 + 1))[: len(times)]
    figures.plot_rr_tachogram_poincare(times, np.full(len(times), 0.8), labels, tmp_path / "rr.png")
    tachogram, poincare = drawn[0].axes
    assert len(set(_shapes(tachogram.collections))) == len(set(_shapes(poincare.collections))) == 5
    legend_shapes = _shapes(drawn[0].legends[0].legend_handles)
    assert len(set(legend_shapes)) == 5  # the legend says which shape is which class
    samples = np.round(times * 100).astype(np.int64)
    beats = pd.DataFrame({"sample": samples, "label": labels, "confidence": 0.9})
    figures.plot_recording_beats(np.zeros(7000), 100.0, beats, tmp_path / "strip.png", 0.0, 10.0)
    assert len(set(_shapes(drawn[1].axes[0].collections))) == 5


def test_every_episode_type_is_hatched_its_own_way_for_a_black_and_white_print(monkeypatch, tmp_path):
    """201's trend printed in black and white: its AF and its noise were two shades of one light grey (L* 88 and
    86), as were AFL and SVT (93, 91); only VT and VF were hatched."""
    import pandas as pd

    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    kinds = [kind for kind in figures.EPISODE_COLOURS if kind != "noise"]
    hatches = [figures.EPISODE_HATCHES.get(kind) for kind in kinds]
    assert None not in hatches and len(set(hatches)) == len(kinds)  # noise alone plain grey
    starts = 600.0 * (1 + np.arange(len(kinds) + 1))
    episodes = pd.DataFrame({"type": [*kinds, "noise"], "start_s": starts, "end_s": starts + 300.0})
    times = np.arange(1.0, 7200.0, 1.0)
    figures.plot_heart_rate_trend(times, np.full(len(times), 70.0), episodes, tmp_path / "trend.png", 7200.0)
    (ax,) = drawn[0].axes
    assert [shade.get_hatch() for shade in ax.patches] == [*hatches, None]
    assert [handle.get_hatch() for handle in drawn[0].legends[0].legend_handles] == [*hatches, None]


def test_a_strip_s_beat_letters_are_dark_enough_to_read_in_print(monkeypatch, tmp_path):
    """232's strips printed in black and white: its S letters, in the class's #bf8700 (2.9:1 on white), were a pale
    grey at 8 pt, hard to read, and the letters are what says which beat is which without colour."""
    import pandas as pd
    from matplotlib.colors import to_rgb

    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    samples = np.arange(50, 1000, 80)
    labels = np.array(["N", "S", "V", "F", "Q", ""] * 3)[: len(samples)]
    beats = pd.DataFrame({"sample": samples, "label": labels, "confidence": 0.9})
    figures.plot_recording_beats(np.ones(1000), 100.0, beats, tmp_path / "strip.png", 0.0, 10.0)
    letters = drawn[0].axes[0].texts
    assert sorted({text.get_text() for text in letters}) == ["?", "F", "N", "Q", "S", "V"]

    def luminance(colour) -> float:
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    for text in letters:  # WCAG's contrast against the white page: 4.5:1 for text
        assert 1.05 / (luminance(text.get_color()) + 0.05) >= 4.5, (text.get_text(), text.get_color())


def test_a_reviewed_report_counts_the_labels_the_answers_carried():
    """After a re-labelling with the corrections, the answers' labels carried to families and groups were
    called "the model's": 208's 174 carried labels were nowhere in the report."""
    import pandas as pd

    from arrhythmia.data.recording import Recording
    from arrhythmia.predict import RecordingLabels
    from arrhythmia.recording_report import render_recording_report

    recording = Recording(np.zeros(2000), 100.0, "MLII", "208.hea")
    result = RecordingLabels(beats=pd.DataFrame({"sample": [], "label": [], "confidence": []}), recording=recording)
    reviewed = {"beats_reviewed": 12, "labels_changed": 12, "labels_carried": 174, "last_change": "2026-12-02"}
    page = render_recording_report(recording, result, {"classified": 0, "reviewed": reviewed}, {})
    assert (
        "a person looked at 12 beats and changed 12 labels, last on 2026-12-02, and the answers carried to 174 "
        "more beats; the other labels are the model's." in page
    )
    reviewed["labels_carried"] = 0
    page = render_recording_report(recording, result, {"classified": 0, "reviewed": reviewed}, {})
    assert "changed 12 labels, last on 2026-12-02; the other labels are the model's." in page


def test_a_duration_that_rounds_to_a_minute_reads_as_one():
    from arrhythmia.report import format_duration

    assert format_duration(59.96) == "1 min 00 s"  # it read "60.0 s"
    assert (format_duration(59.94), format_duration(12.3), format_duration(245)) == ("59.9 s", "12.3 s", "4 min 05 s")
