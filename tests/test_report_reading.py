"""The recording report as a Holter reader reads it: its event strips show the rates its cards give, a run's rate
is its mean, a rhythm present from the first beat has no onset, a recording without a beat says why, and the
figures leave the data they plot in sight. Small beat tables made here, no model."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from conftest import render_holter_report

from arrhythmia.episodes import EPISODE_COLUMNS

FS = 250.0
CLASSES = ("N", "S", "V", "F", "Q")


def beat_table(times_s: np.ndarray, labels=None) -> pd.DataFrame:
    """A beats.csv table of beats at ``times_s`` (s), all N unless ``labels`` says otherwise."""
    times_s = np.asarray(times_s, dtype=np.float64)
    samples = np.round(times_s * FS).astype(np.int64)
    labels = ["N"] * len(samples) if labels is None else list(labels)
    return pd.DataFrame({"sample": samples, "time_s": samples / FS, "label": labels, "confidence": 0.9})


def episode_table(*rows) -> pd.DataFrame:
    """An episodes.csv table of ``rows``: (type, start_s, end_s, beats, max_hr_bpm, mean_hr_bpm)."""
    return pd.DataFrame([dict(zip(EPISODE_COLUMNS, row)) for row in rows], columns=list(EPISODE_COLUMNS))


def test_the_strips_show_the_fastest_and_slowest_rate_the_summary_gives():
    """207: the cards said min 31, max 167 bpm, its strips 43 and 126: they kept 10 s away from ventricular
    flutter, and the slowest rate was the idioventricular escape just after it, the fastest a VT just before."""
    from arrhythmia.predict import summarise
    from arrhythmia.recording_report import event_strips

    rr = [1.0] * 60 + [0.4] * 10 + [1.0] * 3  # a run at 150 bpm ending 3 s before the flutter
    before = 1.0 + np.concatenate([[0.0], np.cumsum(rr)])
    flutter_start, flutter_end = before[-1] + 0.5, before[-1] + 20.0
    after = flutter_end + 0.5 + np.concatenate([[0.0], np.cumsum([2.0] * 8 + [1.0] * 60)])  # 30 bpm, then 60
    beats = beat_table(np.concatenate([before, after]))
    episodes = episode_table(("VF", flutter_start, flutter_end, 0, np.nan, np.nan))
    rate = summarise(beats, CLASSES, episodes)["heart_rate_bpm"]
    assert rate["max"] == pytest.approx(150.0) and rate["min"] == pytest.approx(30.0)

    strips = {title: start for title, start, _ in event_strips(beats, episodes, FS)}
    (fastest,) = [title for title in strips if title.startswith("Fastest")]
    (slowest,) = [title for title in strips if title.startswith("Slowest")]
    assert fastest.startswith(f"Fastest heart rate: {rate['max']:.0f} bpm, at ")  # was the 60 bpm far from it
    assert slowest.startswith(f"Slowest heart rate: {rate['min']:.0f} bpm, at ")
    # each strip holds its moment, which its title names by the time from the start
    for title, start in strips.items():
        if title.startswith(("Fastest", "Slowest")):
            hours, minutes, seconds = map(int, title.rsplit(" ", 1)[1].split(":"))
            assert start < hours * 3600 + minutes * 60 + seconds < start + 10.0, title


def test_a_run_s_rate_is_its_mean_and_a_pause_has_no_rate():
    """203: "Longest VT: 5 beats, up to 334 bpm", from one interval of 180 ms (a beat detected twice) in a run
    whose mean was 190 bpm; and a 5.9 s pause was listed with a "max HR" of 10 bpm."""
    from arrhythmia.recording_report import _episodes_html, event_strips

    beats = beat_table(np.arange(1.0, 80.0, 0.8))
    episodes = episode_table(
        ("VT", 30.0, 31.26, 5, 334.0, 190.0),
        ("pause", 50.0, 55.9, 0, 60 / 5.9, 60 / 5.9),
    )
    titles = [title for title, *_ in event_strips(beats, episodes, FS)]
    assert "Longest VT: 5 beats, 190 bpm on average, at 0:00:30" in titles
    assert not any("334" in title for title in titles)
    assert "Longest pause: 5.9 s, at 0:00:50" in titles
    page = _episodes_html(episodes)
    every = page.split("<details>")[1]
    cells = [re.sub(r"<[^>]+>", "|", row).strip("|").split("||") for row in every.split("</thead>")[1].split("</tr>")]
    assert re.findall(r"<th[^>]*>([^<]*)</th>", every)[-2:] == ["mean HR bpm", "max HR bpm"]
    assert ["VT", "0:00:30", "1.3 s", "5", "190", "334"] in cells
    assert ["pause", "0:00:50", "5.9 s", "0", "–", "–"] in cells  # its length is its duration; no rate


def test_a_pause_longer_than_a_strip_is_shown_whole_with_the_beats_around_it():
    from arrhythmia.recording_report import STRIP_S, event_strips

    beats = beat_table(np.concatenate([np.arange(1.0, 40.0, 0.8), np.arange(53.0, 90.0, 0.8)]))
    last_before, first_after = 39.4, 53.0
    episodes = episode_table(("pause", last_before, first_after, 0, np.nan, np.nan))
    ((title, start, seconds),) = [strip for strip in event_strips(beats, episodes, FS) if "pause" in strip[0]]
    assert title == "Longest pause: 13.6 s, at 0:00:39"
    assert seconds > STRIP_S and start < last_before - 1 and start + seconds > first_after + 1
    short = episode_table(("pause", 20.0, 23.0, 0, np.nan, np.nan))
    assert [strip[2] for strip in event_strips(beats, short, FS) if "pause" in strip[0]] == [STRIP_S]


def test_a_rhythm_present_from_the_first_beat_has_no_onset():
    """201 and 203 begin in AF: their strips read "AF onset at 0:00:00", an onset the recording never held."""
    from arrhythmia.recording_report import event_strips

    beats = beat_table(np.arange(0.6, 400.0, 0.7))
    first = beats["time_s"].iloc[0]
    episodes = episode_table(("AF", first, 100.0, 142, 110.0, 86.0), ("AF", 200.0, 300.0, 142, 110.0, 86.0))
    titles = [title for title, *_ in event_strips(beats, episodes, FS)]
    assert "AF onset at or before 0:00:01: the recording began in AF" in titles
    assert "AF onset at 0:03:20" in titles
    assert not any(title.startswith("AF onset at 0:00:0") for title in titles)


def test_a_flat_recording_says_it_could_not_be_read_and_gives_no_burden(tmp_path):
    """A flat line (a lead off) read "No beats were found in this recording: nothing to analyse" beside an S and
    a V burden of 0.00%: a reader could take it for a recording without ectopy, or for asystole."""
    beats = beat_table(np.zeros(0))
    episodes = episode_table(("noise", 0.0, 120.0, 0, np.nan, np.nan))
    page = render_holter_report(beats, episodes, 120.0, tmp_path)
    assert "none of the recording was analysable" in page and "is no asystole" in page
    assert not re.search(r"(?<![\d.])0\.00?%", page)  # nor an AF burden of none read ("100.0% unanalysable" is)
    assert '<div class="value">–</div><div class="label">S burden</div>' in page
    assert '<div class="value">–</div><div class="label">AF</div>' in page
    assert "<p>Under 60 s of NN intervals: no HRV.</p>" in page  # a sentence, as the report's others


def test_af_under_noise_is_not_af_read_in_the_card_or_the_cohort(tmp_path):
    from arrhythmia.archive import cohort_row

    times = np.arange(1.0, 399.0, 0.8)
    episodes = episode_table(("AF", 100.0, 300.0, 250, 110.0, 75.0), ("noise", 200.0, 240.0, 0, np.nan, np.nan))
    page = render_holter_report(beat_table(times), episodes, 400.0, tmp_path)
    assert '<div class="value">0:02:40</div><div class="label">AF</div>' in page
    assert "burden 40.0% of the recording" in page
    assert cohort_row(tmp_path / "out")["af_burden_percent"] == pytest.approx(40.0)


def test_the_ectopy_table_says_its_runs_are_not_the_vt_episodes(tmp_path):
    """207: the ectopy table's longest V run was 59 beats, its longest VT 8: the 59 were an idioventricular rhythm
    under 100 bpm, a run there and no VT; the report did not say why the two differ."""
    rr = [1.0] * 30 + [1.2] * 6 + [1.0] * 30  # six V beats in a row at 50 bpm: a run, no VT
    times = 1.0 + np.concatenate([[0.0], np.cumsum(rr)])
    labels = ["N"] * 31 + ["V"] * 6 + ["N"] * 30
    page = render_holter_report(beat_table(times, labels), episode_table(), times[-1] + 1.0, tmp_path)
    assert "runs: 3 or more, at any rate. The runs faster than 100 bpm are the VT and SVT episodes" in page


def test_the_tachogram_s_legend_leaves_the_longest_intervals_in_sight(monkeypatch, tmp_path):
    """232: the legend stood in the tachogram's upper right, over the 4-6 s pauses a reader looks for."""
    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    times = np.arange(1.0, 1800.0, 0.8)
    rr = np.full(len(times), 0.8)
    rr[-20:] = 6.0  # the pauses, at the end: the upper right
    labels = np.where(np.arange(len(times)) % 7 == 0, "S", "N")
    figures.plot_rr_tachogram_poincare(times, rr, labels, tmp_path / "rr.png")
    fig = drawn[0]
    fig.savefig(io.BytesIO(), format="png")  # lays it out
    tachogram = fig.axes[0]
    (legend,) = fig.legends
    assert tachogram.get_legend() is None
    assert legend.get_window_extent().y1 < tachogram.get_tightbbox().y0  # below the axes
    assert [text.get_text() for text in legend.get_texts()] == [figures.class_label(c) for c in ("N", "S")]


def test_the_af_card_gives_the_burden(tmp_path):
    """The AF card gave the time alone (0:10:34 in 201's 0:30:06): the burden a reader weighs was left to work out."""
    times = np.arange(1.0, 399.0, 0.8)
    episodes = episode_table(("AF", 100.0, 300.0, 250, 110.0, 75.0))
    page = render_holter_report(beat_table(times), episodes, 400.0, tmp_path)
    assert '<div class="value">0:03:20</div><div class="label">AF</div>' in page
    assert "h:mm:ss; burden 50.0% of the recording" in page


def test_the_trend_reads_the_times_the_summary_reads(monkeypatch, tmp_path):
    """The trend read the beats' samples, the summary beats.csv's times (R peak plus the beat's offset): the
    trend's top stood 1-2 bpm off the card's maximum (203: 181.5 against 180.3)."""
    from arrhythmia import recording_report
    from arrhythmia.data.beats import WINDOWS
    from arrhythmia.data.recording import Recording
    from arrhythmia.hourly import hourly_table, recording_hrv
    from arrhythmia.predict import RecordingLabels, save_recording

    drawn, draw = {}, recording_report.plot_heart_rate_trend

    def trend(times_s, rate_bpm, *args):
        drawn["rate"] = rate_bpm
        return draw(times_s, rate_bpm, *args)

    monkeypatch.setattr(recording_report, "plot_heart_rate_trend", trend)
    beats = beat_table(np.arange(1.0, 119.0, 0.8))
    beats["time_s"] += np.where(np.arange(len(beats)) % 2, 0.03, 0.0)  # offsets of 30 ms: 0.77 and 0.83 s
    times, labels = beats["time_s"].to_numpy(), beats["label"].to_numpy()
    episodes = episode_table()
    recording = Recording(np.zeros(int(120 * FS)), FS, "MLII", tmp_path / "rec.csv")
    result = RecordingLabels(
        beats=beats,
        episodes=episodes,
        hourly=hourly_table(times, labels, 120.0, episodes),
        hrv=recording_hrv(times, labels, episodes),
        recording=recording,
    )
    summary = save_recording(result, tmp_path / "out", {"model": "none"}, CLASSES)
    recording_report.write_recording_report(recording, result, summary, WINDOWS["kachuee"], tmp_path / "out")
    assert np.nanmax(drawn["rate"]) == pytest.approx(summary["heart_rate_bpm"]["max"], rel=1e-9)
    assert np.nanmin(drawn["rate"]) == pytest.approx(summary["heart_rate_bpm"]["min"], rel=1e-9)


def test_the_trend_and_the_families_alt_text_say_what_they_show(tmp_path):
    """Read aloud, 208's trend was "heart rate over the recording, episodes shaded" and its family gallery "median
    beat of each family": a reader who cannot see them heard neither which episodes nor which families."""
    from PIL import Image

    from arrhythmia.data.recording import Recording
    from arrhythmia.predict import RecordingLabels
    from arrhythmia.recording_report import render_recording_report

    png = tmp_path / "figure.png"
    Image.new("RGB", (40, 20), "white").save(png)
    beats = beat_table(np.arange(1.0, 300.0, 0.8))
    episodes = episode_table(("pause", 50.0, 53.0, 0, np.nan, np.nan), ("trigeminy", 90.0, 120.0, 36, 90.0, 80.0))
    families = pd.DataFrame(
        {"family": [0, 1], "beats": [1619, 940], "percent": [54.93, 31.9], "label": ["N", "V"], "pre_rr_ratio": 1.0}
    )
    recording = Recording(np.zeros(int(300 * FS)), FS, "MLII", tmp_path / "208")
    result = RecordingLabels(beats=beats, episodes=episodes, families=families, recording=recording)
    page = render_recording_report(recording, result, {"classified": len(beats)}, {"trend": png, "families": png})
    assert 'alt="heart rate over the recording; shaded: trigeminy; pauses marked by dashed lines"' in page
    assert (
        'alt="median beat of each of the 2 largest morphology families: family 0: N, 1,619 beats (54.9%); '
        'family 1: V, 940 beats (31.9%)"'
    ) in page


def test_the_heading_says_whose_recording_it_is_as_the_file_does(tmp_path):
    """The report named the file and no one: a printed Holter report filed in a chart could not be matched to a
    patient. Under its name the heading gives the file's patient and recording fields and header notes,
    verbatim and escaped (a tag or a control character in them is shown, not run nor hidden), one line."""
    from arrhythmia.data.recording import Recording
    from arrhythmia.predict import RecordingLabels, save_recording
    from arrhythmia.recording_report import IDENTITY_CHARS, render_recording_report

    def render(recording: Recording) -> str:
        result = RecordingLabels(beats=beat_table(np.arange(1.0, 10.0)), recording=recording)
        summary = save_recording(result, tmp_path / "out", {"model": "none"}, CLASSES)
        return render_recording_report(recording, result, summary, {})

    signal = np.zeros(int(12 * FS))
    said = Recording(
        signal, FS, "MLII", tmp_path / "100", patient="<b>Jansen</b>\x00", recording_id="Startdate 02-JAN-2026 H-1",
        notes=("69 M 1085 1629 x1", "Aldomet, Inderal"),
    )  # fmt: skip
    page = render(said)
    heading = page[page.index("<header>") : page.index("</header>")]
    assert "<h1>100</h1>" in heading
    assert (
        '<p class="subtitle identity">Patient: &lt;b&gt;Jansen&lt;/b&gt;\\x00 · Recording: Startdate 02-JAN-2026 H-1'
        " · Notes: 69 M 1085 1629 x1 / Aldomet, Inderal</p>"
    ) in heading
    long = render(
        Recording(signal, FS, "MLII", tmp_path / "p", notes=tuple(f"line {i}: " + "x" * 40 for i in range(20)))
    )
    line = re.search(r'<p class="subtitle identity">(.*?)</p>', long).group(1)
    assert line.endswith("… (in full in summary.json)") and len(line) < IDENTITY_CHARS + 60
    bare = render(Recording(signal, FS, "MLII", tmp_path / "rec.csv"))
    assert "identity" not in bare.split("<style>")[0] + bare.split("</style>")[1]  # the file says nothing: no line


def test_the_heading_s_identity_line_keeps_to_two_lines_and_the_page_to_a_phone(tmp_path):
    """However much the file says (twenty header comments, a word of 200 letters), its line in the heading is
    two lines at most on a laptop and never widens a phone's page."""
    from conftest import measured_in_chromium

    from arrhythmia.data.recording import Recording
    from arrhythmia.predict import RecordingLabels, save_recording
    from arrhythmia.recording_report import render_recording_report

    notes = ("69 M 1085 1629 x1", "y" * 200, *(f"line {i}: a comment of the header" for i in range(20)))
    recording = Recording(np.zeros(int(12 * FS)), FS, "MLII", tmp_path / "100", patient="MCH-0234567 F", notes=notes)
    result = RecordingLabels(beats=beat_table(np.arange(1.0, 10.0)), recording=recording)
    summary = save_recording(result, tmp_path / "out", {"model": "none"}, CLASSES)
    page = tmp_path / "report.html"
    page.write_text(render_recording_report(recording, result, summary, {}), encoding="utf-8")
    measure = """() => { const line = document.querySelector('.identity'), style = getComputedStyle(line);
        return [document.documentElement.scrollWidth, line.offsetHeight / parseFloat(style.lineHeight)]; }"""
    assert measured_in_chromium(page, 390, "screen", measure)[0] == 390
    assert measured_in_chromium(page, 1280, "screen", measure)[1] < 2.1
