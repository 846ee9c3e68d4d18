"""What a hospital's security review tries on ``serve`` and ``predict --report``: words from outside files in the
reports and the CSVs, the review server's headers, zip bombs, a server reachable from the network."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from arrhythmia import archive
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.export import load_classifier
from arrhythmia.files import spreadsheet_text
from arrhythmia.review import ReviewStore

#: Words an EDF+ file's annotations may hold: markup, and cells a spreadsheet would run as formulas.
EVENTS = [
    (10.0, "<script>alert(1)</script>"),
    (20.0, '=HYPERLINK("http://e.example","x")'),  # an EDF+ annotation holds 40 characters
    (30.0, "@SUM(1+1)"),
    (40.0, "+1 dizzy"),
    (50.0, "-2 chest pain"),
    (60.0, "dizzy"),
]
LEAD = "<svg onload=1>"  # an EDF signal label holds 16 characters


def write_hostile_edf(path: Path) -> None:
    """An EDF+ Holter file whose lead is named with markup and whose patient events are ``EVENTS``."""
    from pyedflib import highlevel

    ecg_uv = synthetic_ecg(duration_s=80, fs=256, seed=3).signal * 1000.0
    header = highlevel.make_header(startdate=datetime(2026, 11, 28, 9, 0, 0))
    header["annotations"] = [[onset, -1, text] for onset, text in EVENTS]
    signal = highlevel.make_signal_header(
        LEAD, dimension="uV", sample_frequency=256, physical_min=-5000, physical_max=5000
    )
    highlevel.write_edf(str(path), [ecg_uv], [signal], header)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    """A folder with the hostile EDF file, analysed once as ``predict --report`` labels it."""
    folder = tmp_path_factory.mktemp("security") / "recordings"
    folder.mkdir()
    write_hostile_edf(folder / "hostile.edf")
    ReviewStore(folder, "hostile.edf").analyse(load_classifier())
    return folder


def test_spreadsheet_text_marks_formulas_and_leaves_the_rest():
    for formula in ("=1+1", "+1", "-2 mg", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_text(formula) == "'" + formula
    for kept in ("dizzy", "chest pain =", "", "'=already"):
        assert spreadsheet_text(kept) == kept
    for number in (-0.5, -3, float("nan"), None):  # numbers stay numbers
        assert spreadsheet_text(number) is number


def _events_cells(path: Path) -> list[str]:
    return pd.read_csv(path, dtype=str, keep_default_na=False)["event"].tolist()


def test_a_file_s_own_words_are_text_in_the_report_and_in_the_csvs(analysed):
    """The annotations of an EDF file from outside reach events.csv as text a spreadsheet does not run
    (=HYPERLINK would send the sheet's data elsewhere), and report.html as text no browser runs."""
    analysis = ReviewStore(analysed, "hostile.edf").analysis()
    expected = [("'" + text if text[0] in "=+-@" else text) for _, text in EVENTS]
    assert _events_cells(analysis / "events.csv") == expected
    events = pd.read_csv(analysis / "events.csv")
    assert events["heart_rate_bpm"].dtype.kind == "f" and events["time_s"].tolist()[:2] == [10.0, 20.0]
    report = (analysis / "report.html").read_text()
    assert "<script>" not in report and "<svg onload" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report and "&lt;svg onload=1&gt;" in report
    # and, should anything ever slip through, the report's own policy runs no script and fetches nothing
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in report


def test_the_cohort_table_s_names_are_text_in_a_spreadsheet(tmp_path, monkeypatch):
    """A recording's file name is words from outside: cohort.csv gives one that starts like a formula as text."""
    recordings = [tmp_path / "=HYPERLINK(1).csv", tmp_path / "plain.csv"]
    for path in recordings:
        path.write_text("ECG\n0\n")
    failed = {"status": "failed", "error": "could not read it"}
    monkeypatch.setattr(archive, "_run", lambda todo, *rest: {name: dict(failed) for name in todo})
    result = archive.label_archive(recordings, tmp_path / "out", progress=False)
    assert sorted(result.cohort["record"]) == ["=HYPERLINK(1)", "plain"]  # the table in Python: as it is
    written = pd.read_csv(result.path, dtype=str, keep_default_na=False)
    assert sorted(written["record"]) == ["'=HYPERLINK(1)", "plain"]
    assert written["source"].str.startswith(("'", str(tmp_path))).all()
