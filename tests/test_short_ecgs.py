"""Resting 12-lead ECGs: 10-s recordings at 500 Hz (PTB-XL's layout), the cardiograph's CSV exports of them,
and a folder of many; made here from synthetic signals, or from MIT-BIH where it is present."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from arrhythmia.data.recording import read_input
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.errors import DataError

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def twelve_leads(seconds: float = 10.0, fs: float = 500.0, seed: int = 0) -> np.ndarray:
    """(n_samples, 12) mV: a synthetic lead as II, the others scaled, inverted and mixed versions of it."""
    ii = synthetic_ecg(duration_s=seconds, fs=fs, seed=seed).signal
    other = np.roll(ii, int(0.02 * fs))  # a lead whose complexes fall a little later, as V1's may
    i = 0.6 * ii + 0.2 * other
    leads = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2, other, 1.2 * other, 0.6 * other + 0.5 * ii]
    leads += [0.2 * other + 0.9 * ii, ii, 0.8 * ii]
    return np.column_stack(leads)


def cardiograph_csv(path, signal: np.ndarray, header: list[str], microvolts: bool = True) -> None:
    """A cardiograph's export: a block of ``key: value`` lines, a blank line, then one named column per lead
    (integer microvolts, or mV)."""
    rows = np.round(signal * 1000).astype(int) if microvolts else np.round(signal, 4)
    table = "\n".join(",".join(str(v) for v in row) for row in rows)
    lines = header + ["", ",".join(LEADS), table]
    path.write_text("\n".join(lines) + "\n")


HEADER = ["Patient ID: 12345", "Device: MAC 5500", "Sampling Rate: 500 Hz", "Units: uV", "Date: 2024-03-01"]


def test_a_cardiographs_header_block_is_read_for_its_rate_and_unit(tmp_path):
    """A cardiograph's CSV opens with ``key: value`` lines (no '#'): they were read as the table ('not a valid
    CSV (Error tokenizing data ...)'). They are the recording's notes, and their sampling rate and unit are
    the file's, so that the export needs neither --fs nor --units."""
    signal = twelve_leads()
    path = tmp_path / "ecg.csv"
    cardiograph_csv(path, signal, HEADER)
    data = read_input(path)
    assert data.fs == 500 and data.lead == "II" and data.millivolts
    assert np.allclose(data.signal, signal[:, 1], atol=1e-3)  # read in mV from the file's microvolts
    assert data.notes == tuple(HEADER)
    with pytest.warns(UserWarning, match=r"--fs 250 Hz left aside: its header gives 500 Hz"):
        assert read_input(path, fs=250).fs == 500  # an archive's one --fs for its other CSVs
    cardiograph_csv(path, signal, ["Sample rate: 500Hz", "Resolution: 1 uV/LSB"], microvolts=False)
    data = read_input(path)
    assert data.fs == 500 and not data.millivolts  # no unit given: read from the beats' size, as before
    path.write_text("\n".join(HEADER) + "\n")  # an export cut off before its table
    with pytest.raises(DataError, match=r"ecg\.csv: file holds no samples \(only a header\)"):
        read_input(path)
    cardiograph_csv(path, signal, ["Sampling Rate: fast"])
    with pytest.raises(DataError, match=r"ecg\.csv: its header's 'Sampling Rate: fast' gives no sampling rate"):
        read_input(path)


def test_a_header_blocks_date_and_time_is_the_recordings_start(tmp_path):
    """'Acquisition Date: 2024-03-01 09:12:33' was a note only: summary.json's start_time and the cohort's were
    empty, and a cohort could not be joined to its patients' visits by when they were recorded."""
    from datetime import datetime

    signal = twelve_leads()
    path = tmp_path / "ecg.csv"
    cardiograph_csv(path, signal, [*HEADER, "Acquisition Date: 2024-03-01 09:12:33"])
    assert read_input(path).start == datetime(2024, 3, 1, 9, 12, 33)
    cardiograph_csv(path, signal, HEADER)  # "Date: 2024-03-01": a day without its time gives no start
    assert read_input(path).start is None


def test_a_comment_line_giving_the_rate_gives_the_rate(tmp_path):
    """``# Sampling rate: 250 Hz`` above the table, as a device writes it: the rate, where it was only a note."""
    signal = twelve_leads(fs=250)[:, 1]
    path = tmp_path / "ecg.csv"
    path.write_text("# Sampling rate: 250 Hz\nECG\n" + "\n".join(f"{v:.4f}" for v in signal) + "\n")
    assert read_input(path).fs == 250


def test_a_csv_lead_not_connected_gives_way_to_the_next(tmp_path):
    """A cardiograph writes a lead not connected as a column of zeros: a CSV's lead II of zeros was read, and
    the ECG had 'fewer than two beats'. As a WFDB, EDF or NumPy lead does, it gives way to the next ECG lead,
    with a warning naming both; --lead II still reads it."""
    signal = twelve_leads()
    signal[:, 1] = 0.0
    path = tmp_path / "ecg.csv"
    cardiograph_csv(path, signal, HEADER)
    with pytest.warns(UserWarning, match=r"ecg\.csv: lead II holds no ECG \(every sample is 0\): read I instead"):
        data = read_input(path)
    assert data.lead == "I" and np.allclose(data.signal, signal[:, 0], atol=1e-3)
    assert read_input(path, lead="II").lead == "II"


def write_twelve_lead_record(directory, name: str, seconds: float = 10.0, seed: int = 0, comments=()) -> np.ndarray:
    """A PTB-XL-like record: 12 leads at 500 Hz in mV, format 16 (1000 adu/mV), one .hea/.dat."""
    import wfdb

    signal = twelve_leads(seconds, seed=seed)
    wfdb.wrsamp(
        name,
        fs=500,
        units=["mV"] * 12,
        sig_name=LEADS,
        p_signal=signal,
        fmt=["16"] * 12,
        adc_gain=[1000.0] * 12,
        baseline=[0] * 12,
        write_dir=str(directory),
        comments=list(comments),
    )
    return signal


def test_a_records_header_is_parsed_once_per_labelling(tmp_path, monkeypatch):
    """Labelling an archive of 10-s records, each file's header was parsed four times (the lead, its start, its
    comments, the archive's list of its files), a third of a 12-lead record's time: wfdb parses a header's signal
    lines slowly. Once now; a header changed since is read again."""
    import wfdb

    from arrhythmia.archive import source_files

    write_twelve_lead_record(tmp_path, "00001_hr", comments=["age: 61"])
    parsed = []
    rdheader = wfdb.rdheader
    monkeypatch.setattr(wfdb, "rdheader", lambda *a, **k: parsed.append(a) or rdheader(*a, **k))
    data = read_input(tmp_path / "00001_hr")
    files = source_files(tmp_path / "00001_hr")
    assert data.lead == "II" and data.notes == ("age: 61",) and len(files) == 2
    assert len(parsed) == 1
    write_twelve_lead_record(tmp_path, "00001_hr", comments=["age: 62, re-read"])
    assert read_input(tmp_path / "00001_hr").notes == ("age: 62, re-read",)


@pytest.fixture(scope="module")
def classifier():
    from arrhythmia.inference import Classifier

    return Classifier.from_pretrained(device="cpu")


def report_of(directory, classifier, seconds: float) -> str:
    """report.html of a synthetic 12-lead record of ``seconds`` s labelled as ``predict --report`` does."""
    from arrhythmia.labelling import PredictOptions, label_file

    directory.mkdir(parents=True, exist_ok=True)
    write_twelve_lead_record(directory, "ecg", seconds=seconds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 4-s ECG's too few beats to adapt to
        label_file(directory / "ecg", classifier, directory / "out", PredictOptions(report=True))
    return (directory / "out" / "report.html").read_text()


def test_a_10_s_ecgs_report_says_what_10_s_cannot_show(tmp_path, classifier):
    """A resting ECG's report was a Holter report of 10 s: an hourly table of one row '00:00-00:00:10 | 0.2 min',
    a heart-rate trend and an RR tachogram of a dozen intervals, 'AF 0:00:00, burden 0.0%' where AF needs 60 s
    to be found at all, and the same 10 s drawn twice as the fastest and the slowest heart rate's strips. It is
    an ECG strip's report now: the whole strip once, with those events in its caption; what 10 s cannot show
    said in one line each. Its dozen beats are adapted to (a strip of fewer than six is not, and says its labels
    are the network's own)."""
    page = report_of(tmp_path, classifier, 10.0)
    assert "ECG strip analysis" in page and "Holter analysis" not in page
    assert "Hourly table" not in page and "heart rate over the recording" not in page
    assert "RR tachogram" not in page
    # two figures: the whole strip, once, and its beats' morphology families
    assert page.count("<figure") == 2 and page.count("<h2>Morphology families</h2>") == 1
    assert "The whole recording, 0:00:10" in page and "Fastest heart rate" in page
    assert "AF needs 60 s of recording" in page and "burden 0.0%" not in page
    assert "AF needs 60 s, atrial flutter 30 s, bradycardia and tachycardia 30 s" in page
    assert "network's own" not in page
    assert "too few to adapt to (it takes 6)" in report_of(tmp_path / "4s", classifier, 4.0)


def test_a_10_s_ecgs_strip_is_titled_within_its_figure(tmp_path, classifier, monkeypatch):
    """The whole strip's figure was titled with its caption, the events and all, which ran off both its sides;
    the figure's title is the strip's, the events in its caption."""
    import arrhythmia.recording_report as recording_report

    titles = []
    plot = recording_report.plot_recording_beats
    monkeypatch.setattr(
        recording_report, "plot_recording_beats", lambda *a, **k: titles.append(k["title"]) or plot(*a, **k)
    )
    page = report_of(tmp_path, classifier, 10.0)
    assert titles == ["The whole recording, 0:00:10 (h:mm:ss)"]
    assert "The whole recording, 0:00:10 (h:mm:ss). Fastest heart rate" in page


def test_a_longer_recordings_report_keeps_its_holter_parts(tmp_path, classifier):
    """A 5-minute rhythm strip keeps the trend, the hourly table, the tachogram and the AF card as before."""
    page = report_of(tmp_path, classifier, 70.0)
    assert "Holter analysis" in page and "Hourly table" in page and "RR tachogram" in page
    assert "heart rate over the recording" in page and "AF needs" not in page and "burden 0.0%" in page


def test_a_cohort_of_10_s_ecgs_gives_no_af_burden_where_none_could_be_read(tmp_path, classifier):
    """cohort.csv gave a 10-s ECG 'af_burden_percent 0, af_episodes 0', as it gives a Holter recording with no
    AF: a cohort's AF prevalence over 2,000 resting ECGs read nought, patients in AF among them, where AF needs
    60 s of recording to be found. Those cells are empty now (AFL's, which needs 30 s, too); a longer
    recording's are as before."""
    from arrhythmia.archive import cohort_row

    report_of(tmp_path / "short", classifier, 10.0)
    row = cohort_row(tmp_path / "short" / "out")
    assert row["beats"] > 5 and row["duration_s"] == 10.0 and row["hr_mean_bpm"] > 0
    assert row["af_burden_percent"] is None and row["af_episodes"] is None
    assert row["afl_burden_percent"] is None and row["afl_episodes"] is None
    assert row["vt_episodes"] == 0 and row["pauses"] == 0  # a run or a pause fits in 10 s
    report_of(tmp_path / "long", classifier, 70.0)
    row = cohort_row(tmp_path / "long" / "out")
    assert row["af_burden_percent"] == 0 and row["af_episodes"] == 0 and row["afl_episodes"] == 0


def test_a_header_blocks_separate_date_and_time_fields_are_the_start(tmp_path):
    """Many cardiographs write the day and the time of day in two fields (``Date: 2024-03-01``, ``Time:
    09:12:33``): that gave no start, and the report and cohort had no time of recording."""
    from datetime import datetime

    signal = twelve_leads()
    path = tmp_path / "ecg.csv"
    cardiograph_csv(path, signal, [*HEADER, "Time: 09:12:33"])
    assert read_input(path).start == datetime(2024, 3, 1, 9, 12, 33)
    cardiograph_csv(path, signal, ["Acquisition Time: 09:12", *HEADER])  # the time first, without seconds
    assert read_input(path).start == datetime(2024, 3, 1, 9, 12)
    cardiograph_csv(path, signal, [*HEADER, "Time: soon"])  # no time of day: no start, as without the field
    assert read_input(path).start is None


def test_a_title_line_above_a_header_block_is_part_of_it(tmp_path):
    """An export that opens with its title (``MAC 5500 Resting ECG Export``), then its ``key: value`` block: the
    title was taken for the table's header row and the block for its rows ('not a valid CSV'). A title is
    kept with the notes; a one-column table's name (``ECG``, then numbers) is still its header."""
    signal = twelve_leads()
    path = tmp_path / "ecg.csv"
    cardiograph_csv(path, signal, ["MAC 5500 Resting ECG Export", "", *HEADER])
    data = read_input(path)
    assert data.fs == 500 and data.lead == "II" and data.notes == ("MAC 5500 Resting ECG Export", *HEADER)
    path.write_text("ECG\n" + "\n".join(f"{v:.4f}" for v in signal[:, 1]) + "\n")
    data = read_input(path, fs=500)
    assert data.lead == "ECG" and len(data.signal) == len(signal)
