"""The recording report's numbers against themselves and the tables beside it: a share above nought is never shown
as "0.0%", one beat is "1 beat". Small beat tables made here, no model."""

from __future__ import annotations

import html
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
    samples = np.round(np.asarray(times_s, dtype=np.float64) * FS).astype(np.int64)
    labels = ["N"] * len(samples) if labels is None else list(labels)
    return pd.DataFrame({"sample": samples, "time_s": samples / FS, "label": labels, "confidence": 0.9})


def episode_table(*rows) -> pd.DataFrame:
    """An episodes.csv table of ``rows``: (type, start_s, end_s, beats, max_hr_bpm, mean_hr_bpm)."""
    return pd.DataFrame([dict(zip(EPISODE_COLUMNS, row)) for row in rows], columns=list(EPISODE_COLUMNS))


def card(page: str, label: str) -> tuple[str, list[str]]:
    """The value and notes of the card ``label``."""
    chunk = page.split(f'<div class="label">{label}</div>')
    value = re.findall(r'<div class="value">([^<]*)</div>$', chunk[0])[0]
    return value, re.findall(r'<div class="note">([^<]*)</div>', chunk[1].split('<div class="card">')[0])


def test_one_ectopic_beat_among_thousands_is_no_burden_of_nought(tmp_path):
    """A day's Holter with one V beat among ~100,000 read "V burden 0.00%" on its card and in the ectopy table,
    as a recording without any; the burden is shown as under 0.01%, and summary.json keeps its value."""
    times = np.arange(1.0, 1.0 + 25_000 * 0.5, 0.5)  # 25,000 beats at 120 bpm
    labels = ["N"] * len(times)
    labels[1000] = "V"  # 0.004%
    page = render_holter_report(beat_table(times, labels), episode_table(), times[-1] + 1.0, tmp_path)
    assert card(page, "V burden")[0] == "under 0.01%"
    assert card(page, "S burden")[0] == "0.00%"  # none is nought
    ectopy = page.split("<h2>Ectopy</h2>")[1].split("</table>")[0]
    assert '<td>V</td><td class="num">1</td>' in ectopy and ">under 0.01%</td>" in ectopy


def test_a_minute_of_af_in_a_week_is_no_af_burden_of_nought(tmp_path):
    """AF of 0:01:00 read "burden 0.0% of the recording" beside it where it was 0.01% (a week's patch: 0.0099%)."""
    from arrhythmia.recording_report import _af_card

    assert _af_card(60.0, 7 * 86400.0) == ("AF", "0:01:00", "h:mm:ss; burden under 0.1% of the recording")
    assert _af_card(0.0, 7 * 86400.0)[2] == "h:mm:ss; burden 0.0% of the recording"
    assert _af_card(200.0, 400.0)[2] == "h:mm:ss; burden 50.0% of the recording"


def test_a_family_of_one_beat_is_one_beat_and_not_none_of_the_recording(monkeypatch, tmp_path):
    """201's gallery alt text and panel titles read "family 7: V, 1 beats (0.1%)" and 208's "family 11: N, 1 beats
    (0.0%)": a family of one beat among 2,950 is "1 beat (under 0.1%)"."""
    from arrhythmia import figures
    from arrhythmia.data.beats import WINDOWS
    from arrhythmia.recording_report import _families_alt

    families = pd.DataFrame(
        {
            "family": [0, 1, 2],
            "beats": [2948, 1, 1],
            "percent": [100 * 2948 / 2950, 100 / 2950, 100 / 2950],
            "label": ["N", "V", "N"],
            "pre_rr_ratio": 1.0,
        }
    )
    alt = _families_alt(families)
    assert "family 0: N, 2,948 beats (99.9%)" in alt
    assert "family 1: V, 1 beat (under 0.1%)" in alt and "1 beats" not in alt and "(0.0%)" not in alt

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    window = WINDOWS["kachuee"]
    templates = np.zeros((3, window.length), dtype=np.float32)
    figures.plot_family_templates(templates, families, window, tmp_path / "families.png")
    drawn[0].savefig(io.BytesIO(), format="png")
    titles = [ax.get_title() for ax in drawn[0].axes if ax.get_visible()]
    assert titles[1].startswith("family 1: V, 1 beat (under 0.1%)\n")
    assert titles[0].startswith("family 0: N, 2,948 beats (99.9%)\n")


@pytest.mark.parametrize(("percent", "digits", "text"), [(0.004, 2, "under 0.01%"), (0.005, 2, "0.01%"),
                                                          (0.0, 1, "0.0%"), (0.049, 1, "under 0.1%"),
                                                          (35.09, 1, "35.1%"), (100.0, 2, "100.00%")])  # fmt: skip
def test_a_share_is_nought_only_when_nothing_is_in_it(percent, digits, text):
    from arrhythmia.figures import share

    assert share(percent, digits) == text


def test_one_unsure_beat_among_thousands_is_one_beat_and_no_share_of_nought(tmp_path):
    """A recording with one beat under even odds read "1 beats (0.0%) are unsure: the network gave their label"."""
    times = np.arange(1.0, 1.0 + 3000 * 0.5, 0.5)
    beats = beat_table(times)
    beats.loc[1000, "confidence"] = 0.3
    page = render_holter_report(beats, episode_table(), times[-1] + 1.0, tmp_path)
    assert "1 beat (under 0.1%) is unsure: the network gave its label under even odds" in page
    beats.loc[1001:1003, "confidence"] = 0.3
    page = render_holter_report(beats, episode_table(), times[-1] + 1.0, tmp_path)
    assert "4 beats (0.1%) are unsure: the network gave their label under even odds" in page


def test_one_nn_interval_edited_out_of_thousands_is_no_share_of_nought():
    """ "Taken over 4,999 NN intervals; the 20% rule left out 0.0% of them" where it had left one out."""
    from arrhythmia.recording_report import _hrv_coverage

    assert _hrv_coverage({"nn_intervals": 4999, "edited_out_percent": 0.02}).endswith("left out under 0.1% of them.")
    assert _hrv_coverage({"nn_intervals": 4999, "edited_out_percent": 0.0}).endswith("left out 0.0% of them.")


def _cells(table_html: str) -> list[dict[str, str]]:
    """Each row of a table as {heading: cell text}."""
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table_html)
    rows = re.findall(r"<tr>(.*?)</tr>", table_html.split("<tbody>")[1])
    return [dict(zip(heads, map(html.unescape, re.findall(r"<td[^>]*>([^<]*)</td>", row)))) for row in rows]


def test_a_day_s_minutes_of_af_are_no_af_hours_of_nought():
    """A recording of 25 h whose AF card said 0:03:10 read "AF h 0.0" in each day's row, and an hour holding 2 s
    of an AF episode that began in the hour before read "AF min 0.0", as hours without AF do: both read "<0.1"."""
    from arrhythmia.hourly import daily_table, hourly_table
    from arrhythmia.recording_report import _daily_html, _hourly_html

    duration = 25 * 3600.0
    times = np.arange(1.0, duration - 1.0, 2.0)
    labels = np.array(["N"] * len(times))
    episodes = episode_table(("AF", 3000.0, 3602.0, 300, 120.0, 90.0), ("AF", 87_000.0, 87_090.0, 45, 120.0, 90.0))
    days = _cells(_daily_html(daily_table(times, labels, duration, episodes), CLASSES))
    assert [day["AF h"] for day in days] == ["0.2", "<0.1"]  # 10 min 02 s; 1 min 30 s
    assert [day["analysable h"] for day in days] == ["24.0", "1.0"]
    hours = _cells(_hourly_html(hourly_table(times[times < 7200], labels[times < 7200], 7200.0, episodes), CLASSES))
    assert [hour["AF min"] for hour in hours] == ["10.0", "<0.1"]
    assert [hour["AFL min"] for hour in hours] == ["0.0", "0.0"]  # none is nought


def test_an_hour_whose_hrv_is_unreliable_is_marked_so():
    """The first hour (201 then 203) of six MIT-BIH records put end to end had 20% of its NN intervals edited out and
    read "SDNN 328" beside the other hours' 189 and 85, unmarked: only the whole recording's HRV was said to be
    unreliable."""
    from arrhythmia.hourly import HRV_EDITED_OUT_ABOVE, hourly_table
    from arrhythmia.recording_report import _daily_html, _hourly_html

    rng = np.random.default_rng(0)
    steady = 0.8 + 0.01 * rng.standard_normal(4400)  # the first hour: every fourth interval 30% longer
    steady[: 4400 // 2][::4] *= 1.3
    times = 1.0 + np.concatenate([[0.0], np.cumsum(steady)])
    labels = np.array(["N"] * len(times))
    hourly = hourly_table(times, labels, 7200.0, episode_table())
    assert hourly["nn_edited_out_percent"][0] > HRV_EDITED_OUT_ABOVE > hourly["nn_edited_out_percent"][1]
    page = _hourly_html(hourly, CLASSES)
    first, second = _cells(page)
    assert first["SDNN ms"].endswith("*") and first["RMSSD ms"].endswith("*") and first["pNN50 %"].endswith("*")
    assert not second["SDNN ms"].endswith("*")
    assert "* HRV unreliable in this hour: the 20% rule left out more than 10% of its NN intervals" in page
    hourly["nn_edited_out_percent"] = 1.0
    assert "*" not in _hourly_html(hourly, CLASSES)  # no mark, no note
    daily = hourly.rename(columns={"hour": "day"}).assign(nn_edited_out_percent=12.0)
    assert "* HRV unreliable in this day" in _daily_html(daily, CLASSES)


def test_a_recording_whose_every_interval_crosses_a_lead_off_has_no_heart_rate(tmp_path):
    """Three beats, a lead-off between each two: summary.json read "mean": NaN (no JSON parser but Python's takes
    it), the card "nan" and "min nan, max nan", and the command line "nan / nan / nan", where the hourly table
    said "– / – / –"."""
    import json

    beats = beat_table(np.array([1.0, 40.0, 80.0]))
    episodes = episode_table(("noise", 2.0, 39.0, 0, np.nan, np.nan), ("noise", 41.0, 79.0, 0, np.nan, np.nan))
    page = render_holter_report(beats, episodes, 90.0, tmp_path)

    def refuse(constant: str):
        raise ValueError(f"summary.json holds {constant}, which is not JSON")

    summary = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=refuse)
    assert "heart_rate_bpm" not in summary and summary["classified"] == 3
    assert card(page, "mean heart rate, bpm") == ("–", [])
    assert not re.search(r"\bnan\b", page, re.I)


def test_a_strip_says_when_by_the_clock_where_the_start_is_known():
    """A recording started at 10:23:05: its hourly table's rows are clock hours (11:00-12:00) and its episodes have a
    clock time, but its strips said "Fastest heart rate: 150 bpm, at 0:36:58" alone, to be added up to find the
    row (11:00:03). Without a start they say the time from the start only, as before."""
    from datetime import datetime

    from arrhythmia.recording_report import event_strips

    rr = [0.8] * 2770 + [0.4] * 20 + [0.8] * 200  # a run at 150 bpm from 2,217 s (0:36:57) in
    times = 1.0 + np.concatenate([[0.0], np.cumsum(rr)])
    beats = beat_table(times)
    fast = times[2770 + 10]
    episodes = episode_table(("pause", 100.0, 103.0, 0, np.nan, np.nan), ("AF", 2400.0, 2500.0, 120, 110.0, 90.0))
    start = datetime(2026, 11, 28, 10, 23, 5)
    titles = [title for title, *_ in event_strips(beats, episodes, FS, start)]
    (fastest,) = [title for title in titles if title.startswith("Fastest")]
    elapsed, clock_time = re.fullmatch(r"Fastest heart rate: 150 bpm, at (\S+) \((\S+)\)", fastest).groups()
    hours, minutes, seconds = map(int, elapsed.split(":"))
    assert abs(hours * 3600 + minutes * 60 + seconds - fast) < 5
    moment = 10 * 3600 + 23 * 60 + 5 + hours * 3600 + minutes * 60 + seconds
    assert clock_time == f"{moment // 3600:02d}:{moment % 3600 // 60:02d}:{moment % 60:02d}"
    assert "Longest pause: 3.0 s, at 0:01:40 (10:24:45)" in titles
    assert "AF onset at 0:40:00 (11:03:05)" in titles
    assert "AF onset at 0:40:00" in [title for title, *_ in event_strips(beats, episodes, FS)]  # no start


def test_the_episodes_card_counts_rhythm_episodes_and_says_the_noise_apart(tmp_path):
    """A noisy Holter's card read '256 episodes', 250 of them stretches of noise."""
    beats = beat_table(np.arange(0.5, 300.0, 0.8))
    episodes = episode_table(
        ("noise", 10.0, 20.0, 0, np.nan, np.nan),
        ("noisy", 30.0, 32.0, 3, np.nan, np.nan),
        ("artefact", 40.0, 42.0, 4, np.nan, np.nan),
        ("pause", 100.0, 102.5, 2, np.nan, np.nan),
        ("AF", 150.0, 290.0, 175, 90.0, 75.0),
    )
    page = render_holter_report(beats, episodes, 300.0, tmp_path)
    assert card(page, "rhythm episodes") == ("2", ["and 3 stretches of noise"])
    quiet = render_holter_report(beats, episodes.iloc[3:], 300.0, tmp_path)
    assert card(quiet, "rhythm episodes") == ("2", [])
