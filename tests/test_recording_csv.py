"""CSV signals with a time column: the time gives the sampling rate and is never taken for the lead."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb

from arrhythmia.data.recording import Recording, read_input
from arrhythmia.errors import DataError

SIGNAL = np.sin(np.arange(2000) / 7.0)  # any non-monotonic signal


def write_csv(path, header: str | None, columns: list[np.ndarray], fmt: list[str]):
    np.savetxt(path, np.column_stack(columns), delimiter=",", fmt=fmt, header=header or "", comments="")
    return path


def test_time_column_gives_fs_and_the_ecg_column_is_the_lead(tmp_path):
    t = np.arange(len(SIGNAL)) / 250
    path = write_csv(tmp_path / "sig.csv", "time,ECG", [t, SIGNAL], ["%.3f", "%.5f"])
    data = read_input(path)
    assert isinstance(data, Recording) and data.fs == 250 and data.lead == "ECG"
    assert np.allclose(data.signal, SIGNAL, atol=1e-5)
    assert read_input(path, fs=250.5).fs == 250.5  # an --fs within 1% of the time column stands


def test_times_rounded_to_the_millisecond_still_give_the_rate(tmp_path):
    # 360 Hz written to 3 decimals steps by 2 or 3 ms: rounding, not jitter.
    t = np.arange(len(SIGNAL)) / 360
    path = write_csv(tmp_path / "sig.csv", "Time (s),MLII", [t, SIGNAL], ["%.3f", "%.5f"])
    assert read_input(path).fs == 360


def test_timestamp_in_milliseconds(tmp_path):
    t = 1_700_000_000_000 + 4 * np.arange(len(SIGNAL))  # epoch milliseconds at 250 Hz
    path = write_csv(tmp_path / "sig.csv", "timestamp,ECG", [t, SIGNAL], ["%d", "%.5f"])
    data = read_input(path)
    assert data.fs == 250 and data.lead == "ECG"
    path = write_csv(tmp_path / "ms.csv", "time_ms,ECG", [2.0 * np.arange(len(SIGNAL)), SIGNAL], ["%g", "%.5f"])
    assert read_input(path).fs == 500


@pytest.mark.parametrize(("times", "fs"), [(np.arange(2000) / 500, 500), (2 * np.arange(2000), 500)])
def test_headerless_increasing_first_column_is_time(tmp_path, times, fs):
    # Seconds where the step gives an ECG rate (0.002 s -> 500 Hz), else milliseconds (2 ms -> 500 Hz).
    path = write_csv(tmp_path / "sig.csv", None, [times, SIGNAL, -SIGNAL], ["%.4f", "%.5f", "%.5f"])
    data = read_input(path)
    assert data.fs == fs and data.lead == "1" and np.allclose(data.signal, SIGNAL, atol=1e-5)


def test_a_sample_counter_is_not_the_lead_and_gives_no_rate(tmp_path):
    path = write_csv(tmp_path / "sig.csv", ",ECG", [np.arange(len(SIGNAL)), SIGNAL], ["%d", "%.5f"])  # pandas index
    with pytest.raises(DataError, match="needs its sampling rate"):
        read_input(path)
    assert read_input(path, fs=360).lead == "ECG"


@pytest.mark.parametrize(
    ("times", "message"),
    [
        # a step of 1.875 periods: not rows missing (a whole number of periods, within 1% of one)
        (np.r_[np.arange(1000), np.arange(1000, 2000) + 0.875] / 250, "unevenly spaced: 3.996 to 4.0035 at row 1002"),
        (np.arange(2000) / 250 + np.tile([0, 0.001], 1000), "unevenly spaced"),  # jitter: a quarter sample
        (np.r_[np.arange(1000), np.arange(1000)] / 250, "does not increase at row 1002"),  # two files joined
    ],
)
def test_uneven_time_column_is_a_one_line_error(tmp_path, times, message):
    # Written to 0.1 ms: rounding to whole milliseconds could hide a jitter of 1 ms (see _read_csv).
    path = write_csv(tmp_path / "sig.csv", "time,ECG", [times, SIGNAL], ["%.4f", "%.5f"])
    with pytest.raises(DataError, match=message) as info:
        read_input(path)
    assert str(path) in str(info.value) and "time column 'time'" in str(info.value) and "\n" not in str(info.value)


def test_rows_missing_from_the_time_column_are_read_as_missing_samples(tmp_path):
    # A device that loses packets leaves steps of a whole number of periods: the time column skips them. That was
    # refused as unevenly spaced; now the missing samples are NaN (which predict reads as unanalysable), said once.
    t = np.arange(len(SIGNAL)) / 250
    kept = np.ones(len(SIGNAL), dtype=bool)
    kept[1000:1250] = kept[1500:1502] = False  # 1 s lost 4 s in, and two samples at 6 s
    path = write_csv(tmp_path / "lost.csv", "time,ECG", [t[kept], SIGNAL[kept]], ["%.4f", "%.5f"])
    message = (
        r"lost.csv: time column 'time' skips 252 samples in 2 gaps \(1.0 s in all, the longest 1.0 s, 4.000 s from "
        r"the start\): read as missing"
    )
    with pytest.warns(UserWarning, match=message):
        data = read_input(path)
    assert data.fs == 250 and len(data.signal) == len(SIGNAL)
    assert np.isnan(data.signal[~kept]).all() and np.allclose(data.signal[kept], SIGNAL[kept], atol=1e-5)

    # Times rounded to the millisecond at 360 Hz, a third of a period: one lost sample is still a whole step.
    t = np.arange(len(SIGNAL)) / 360
    path = write_csv(tmp_path / "ms.csv", "t,ECG", [np.delete(t, 700), np.delete(SIGNAL, 700)], ["%.3f", "%.5f"])
    with pytest.warns(UserWarning, match=r"skips 1 sample in 1 gap \(0.003 s, 1.944 s from the start\)"):
        data = read_input(path)
    assert data.fs == 360 and np.flatnonzero(np.isnan(data.signal)).tolist() == [700]

    # A table saved with its row numbers after rows were dropped: its index skips them too.
    path = write_csv(
        tmp_path / "index.csv", ",ECG", [np.delete(np.arange(2000), [5, 6]), np.delete(SIGNAL, [5, 6])], ["%d", "%.5f"]
    )
    with pytest.warns(UserWarning, match="the sample index in column 1 skips 2 samples in 1 gap"):
        data = read_input(path, fs=360)
    assert data.fs == 360 and np.flatnonzero(np.isnan(data.signal)).tolist() == [5, 6]

    # A time that jumps further than the file is long is no lost packet: one line, as uneven times are.
    jump = np.r_[t[:1000], t[1000:2000] + 60.0]
    path = write_csv(tmp_path / "jump.csv", "time,ECG", [jump, SIGNAL], ["%.6f", "%.5f"])
    with pytest.raises(DataError, match=r"skips 21,600 samples \(60.0 s\) in 1 gap\(s\), more than the 2,000 rows"):
        read_input(path)


def test_fs_disagreeing_with_the_time_column_is_an_error(tmp_path):
    t = np.arange(len(SIGNAL)) / 250
    path = write_csv(tmp_path / "sig.csv", "seconds,ECG", [t, SIGNAL], ["%.3f", "%.5f"])
    with pytest.raises(DataError, match=r"--fs 360 Hz disagrees with time column 'seconds' \(250 Hz\)") as info:
        read_input(path, fs=360)
    assert str(path) in str(info.value)


def test_named_lead_is_preferred_to_position(tmp_path):
    t = np.arange(len(SIGNAL)) / 250
    columns, fmt = [t, 0 * SIGNAL, SIGNAL, -SIGNAL], ["%.3f", "%.5f", "%.5f", "%.5f"]
    assert read_input(write_csv(tmp_path / "a.csv", "t,resp,V1,x", columns, fmt)).lead == "V1"
    assert read_input(write_csv(tmp_path / "b.csv", "t,resp,V1,MLII", columns, fmt)).lead == "MLII"
    assert read_input(write_csv(tmp_path / "c.csv", "t,resp,x,y", columns, fmt)).lead == "resp"
    assert read_input(tmp_path / "a.csv", lead="x").lead == "x"  # --lead still wins
    with pytest.raises(DataError, match="column 't' increases steadily"):
        read_input(tmp_path / "a.csv", lead="t")
    # A lead not in the file is said with the leads it has: the time column is none of them.
    with pytest.raises(DataError, match=r"a.csv: lead 'V5' does not exist \(leads: resp, V1, x\)$"):
        read_input(tmp_path / "a.csv", lead="V5")


@pytest.fixture(scope="module")
def record_100_csv(tmp_path_factory):
    """Two minutes of MIT-BIH record 100 (MLII) resampled to 250 Hz as a `time,ECG` CSV, and its beat count."""
    if not (MITDB / "100.hea").is_file():
        pytest.skip(f"MIT-BIH record 100 not found at {MITDB} (set ARRHYTHMIA_MITDB to a local copy)")
    import wfdb
    from scipy.signal import resample_poly

    from arrhythmia.data.beats import SYMBOL_TO_AAMI

    seconds = 120
    record = wfdb.rdrecord(str(MITDB / "100"), sampto=360 * seconds, channel_names=["MLII"])
    signal = resample_poly(record.p_signal[:, 0], 25, 36)  # 360 -> 250 Hz
    path = tmp_path_factory.mktemp("csv") / "timecol.csv"
    write_csv(path, "time,ECG", [np.arange(len(signal)) / 250, signal], ["%.3f", "%.4f"])
    annotation = wfdb.rdann(str(MITDB / "100"), "atr", sampto=360 * seconds)
    return path, sum(symbol in SYMBOL_TO_AAMI for symbol in annotation.symbol)


@needs_mitdb
def test_record_100_as_time_ecg_csv_finds_its_beats(record_100_csv):
    from arrhythmia.inference import Classifier
    from arrhythmia.predict import predict_record

    path, n_annotated = record_100_csv
    beats = predict_record(path, Classifier.from_pretrained())
    assert abs(len(beats) - n_annotated) <= 0.03 * n_annotated, (len(beats), n_annotated)
    assert (beats["label"] == "N").mean() > 0.9  # record 100: 2 ectopic beats in these two minutes


@needs_mitdb
def test_cli_predicts_a_time_ecg_csv_without_fs(record_100_csv, tmp_path):
    from typer.testing import CliRunner

    from arrhythmia.cli import app

    path, n_annotated = record_100_csv
    result = CliRunner().invoke(app, ["predict", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "(ECG, 250 Hz)" in result.output
    n_found = len((tmp_path / "out" / "beats.csv").read_text().splitlines()) - 1
    assert abs(n_found - n_annotated) <= 0.03 * n_annotated


def test_comment_lines_above_the_table_are_skipped_and_kept_as_notes(tmp_path):
    """A device's export starts with '#' lines (its name, the patient, settings): they were read as the header
    row and the first samples ('row 2, column 1: not a finite number', or a tokenizing error where the
    table has more columns than the comment). The table under them is read, its rate from its time column."""
    t = np.arange(len(SIGNAL)) / 250
    table = "\n".join(f"{a:.3f},{b:.5f}" for a, b in zip(t, SIGNAL))
    path = tmp_path / "export.csv"
    path.write_text(f"# Recorder XYZ export, v2.1\n# Patient: 0042\n\ntime,ECG\n{table}\n")
    data = read_input(path)
    assert data.fs == 250 and data.lead == "ECG" and np.allclose(data.signal, SIGNAL, atol=1e-5)
    assert data.notes == ("Recorder XYZ export, v2.1", "Patient: 0042")
    path.write_text(f"# Recorder XYZ export\ntime,ECG\n{table}\n0.8,oops\n")
    with pytest.raises(DataError, match=rf"export\.csv: row {len(SIGNAL) + 3}, column 2: not a finite number"):
        read_input(path)  # the row is the file's line, comment included
    path.write_text("# Recorder XYZ export\n# nothing recorded\n")
    with pytest.raises(DataError, match=r"export\.csv: file holds no samples"):
        read_input(path)


EURO = [f"{v:.4f}".replace(".", ",") for v in SIGNAL]


@pytest.mark.parametrize("separator", [";", ","])
@pytest.mark.parametrize("comment", ["", "# exportiert von Holter-Software\n"])
def test_quoted_cells_with_a_decimal_comma_are_read_as_decimals(tmp_path, separator, comment):
    """European software quotes its cells and writes a decimal comma: ``"0,125";"0,130"`` or, comma-separated,
    ``"0,125","0,130"``, whose quoted cells were each 'not a finite number'."""
    rows = "\n".join(f'"{a}"{separator}"{b}"' for a, b in zip(EURO, EURO[::-1]))
    path = tmp_path / "eu.csv"
    path.write_text(f'{comment}"I"{separator}"II"\n{rows}\n')
    data = read_input(path, fs=250)
    assert data.lead == "II" and np.allclose(data.signal, SIGNAL[::-1], atol=1e-4)


def test_a_quoted_number_that_may_be_a_thousands_separator_is_refused_in_one_line(tmp_path):
    """``"1,250"`` is 1.25 to a European program and 1250 to an English one: the file is refused, naming the
    cell, rather than read a thousand times off."""
    rows = "\n".join(f'"{1 + i % 7},{100 + i % 900:03d}"' for i in range(50))
    path = tmp_path / "counts.csv"
    path.write_text(f'"ECG"\n{rows}\n')
    with pytest.raises(DataError, match=r"counts\.csv: row 2, column 1: '1,100' may be a decimal comma or a thousands"):
        read_input(path, fs=250)


def test_a_header_whose_first_name_is_a_hash_is_no_comment(tmp_path):
    """``#,time,ECG`` (a row-number column named ``#``) is the header, not a comment line to skip: skipped, the
    file lost its names and its time column, and asked for --fs."""
    t = np.arange(len(SIGNAL)) / 250
    rows = "\n".join(f"{i},{a:.3f},{b:.5f}" for i, (a, b) in enumerate(zip(t, SIGNAL)))
    path = tmp_path / "rows.csv"
    path.write_text(f"# exported\n#,time,ECG\n{rows}\n")
    data = read_input(path)
    assert data.lead == "ECG" and data.fs == 250 and data.notes == ("exported",)


def test_a_semicolon_files_header_names_keep_their_commas(tmp_path):
    """With ';' between cells a comma in a number is a decimal mark, but a name's comma is the name's."""
    rows = "\n".join(f"{i / 250:.3f};{v:.4f}".replace(".", ",") for i, v in enumerate(SIGNAL))
    path = tmp_path / "eu.csv"
    path.write_text("Time (s);Lead II, mV\n" + rows + "\n")
    data = read_input(path)
    assert data.lead == "Lead II, mV" and data.fs == 250
    assert np.allclose(data.signal, SIGNAL, atol=1e-4)
    assert read_input(path, lead="Lead II, mV").lead == "Lead II, mV"


def test_a_beat_csv_skips_the_comment_lines_above_its_rows(tmp_path):
    from arrhythmia.data.heartbeat import read_beat_csv

    beats = np.round(np.random.default_rng(0).random((3, 187)), 4)
    table = "\n".join(",".join(f"{v:g}" for v in row) + ",1" for row in beats)
    path = tmp_path / "beats.csv"
    path.write_text("# exported by a beat tool\n# classes: N S V F Q\n" + table + "\n")
    X, y = read_beat_csv(path, n_classes=5)
    assert np.allclose(X, beats, atol=1e-6) and y.tolist() == [1, 1, 1]


# A day of samples: read straight into numbers where the table is plain numbers, else as text a chunk at a time
# (a day as one table of strings had taken several GB: 3.0 GB for 6 hours of time and two leads).

LONG = np.sin(np.arange(3000) / 7.0) + 0.001 * np.arange(3000)
STAMPS = np.datetime64("2026-11-28T08:00:00") + (np.arange(3000) * 4).astype("timedelta64[ms]")


def _elapsed(seconds: float) -> str:
    return f"'{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}'"


LAYOUTS = {
    "time and lead": lambda: "time_s,ECG\n" + "".join(f"{i / 250:.4f},{v:.4f}\n" for i, v in enumerate(LONG)),
    "physionet elapsed": lambda: (
        "'Elapsed time','MLII'\n'hh:mm:ss.mmm','mV'\n"
        + "".join(f"{_elapsed(i / 250)},{v:.3f}\n" for i, v in enumerate(LONG))
    ),
    "date-times": lambda: "timestamp,ECG\n" + "".join(f"{s},{v:.4f}\n" for s, v in zip(STAMPS.astype(str), LONG)),
    "semicolons": lambda: (
        "Zeit;EKG\n" + "".join(f"{i / 250:.4f};{v:.4f}\n".replace(".", ",") for i, v in enumerate(LONG))
    ),
    "quoted decimal commas": lambda: '"ECG"\n' + "".join(f'"{v:.4f}"\n'.replace(".", ",") for v in LONG),
    "missing cells": lambda: (
        "time,ECG\n" + "".join(f"{i / 250:.4f},{'NaN' if i % 997 == 5 else f'{v:.4f}'}\n" for i, v in enumerate(LONG))
    ),
    "headerless": lambda: "".join(f"{v:.4f},{-v:.4f}\n" for v in LONG),
}


def _read(path, monkeypatch, chunk_rows: int, numbers: bool):
    from arrhythmia.data import recording

    monkeypatch.setattr(recording, "CHUNK_ROWS", chunk_rows)
    if not numbers:
        monkeypatch.setattr(recording, "csv_numbers", lambda *args: None)
    return read_input(path, fs=250)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_long_file_reads_the_same_in_chunks_as_whole(tmp_path, monkeypatch, layout):
    """The three routes a CSV can take give the same recording: straight into numbers, as text in one piece,
    and as text 64 rows at a time (date-times, elapsed times and decimal commas converted in every chunk)."""
    path = tmp_path / "long.csv"
    path.write_text(LAYOUTS[layout]())
    whole = _read(path, monkeypatch, 10**9, numbers=False)
    for chunk_rows, numbers in [(64, False), (64, True), (10**9, True)]:
        data = _read(path, monkeypatch, chunk_rows, numbers)
        assert (data.fs, data.lead, data.start, data.millivolts) == (
            whole.fs,
            whole.lead,
            whole.start,
            whole.millivolts,
        )
        assert np.array_equal(data.signal, whole.signal, equal_nan=True)
        # its own array, writable: predict turns a part worn upside down over in place, and a day's numbers from
        # pandas came back read-only (benchmarks/predict.py --csv failed so)
        assert data.signal.flags.owndata and data.signal.flags.writeable
    read = ~np.isnan(whole.signal)  # the missing cells, and only they, are NaN
    assert len(whole.signal) == len(LONG) and np.count_nonzero(~read) == (4 if layout == "missing cells" else 0)
    assert np.allclose(whole.signal[read], LONG[read], atol=1e-3)
    if layout == "date-times":
        assert str(whole.start) == "2026-11-28 08:00:00"


@pytest.mark.parametrize("numbers", [True, False])
def test_a_bad_cell_deep_in_a_long_file_is_named_by_its_line(tmp_path, monkeypatch, numbers):
    rows = [f"{i / 250:.4f},{v:.4f}" for i, v in enumerate(LONG)]
    rows[2000] = f"{2000 / 250:.4f},lead off"
    path = tmp_path / "long.csv"
    path.write_text("# exported\ntime,ECG\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"long\.csv: row 2003, column 2: not a finite number \('lead off'\)"):
        _read(path, monkeypatch, 64, numbers)


def test_times_printed_coarser_further_on_are_allowed_the_rounding_they_show(tmp_path, monkeypatch):
    """360 Hz printed to 0.1 ms in the first rows, then to 1 ms: the later steps (2 or 3 ms for 2.78) are
    rounding, as the whole column shows, not the jitter the first rows' rounding would make of them."""
    t = np.arange(len(LONG)) / 360
    rows = [f"{s:.4f},{v:.4f}" if i < 100 else f"{s:.3f},{v:.4f}" for i, (s, v) in enumerate(zip(t, LONG))]
    path = tmp_path / "long.csv"
    path.write_text("time,ECG\n" + "\n".join(rows) + "\n")
    from arrhythmia.data import recording

    monkeypatch.setattr(recording, "CHUNK_ROWS", 64)
    data = read_input(path)
    assert data.fs == 360 and len(data.signal) == len(LONG)


@pytest.mark.parametrize(
    ("table", "read"),
    [
        ("ECG\n0.5\n-0.25\n1e-3\n\nNaN\n", True),
        ("ECG\n0.5\n'0.25'\n", False),  # quoted as PhysioNet quotes: the text route says what it is
        ("ECG\n0.5\ninf\n", False),
        ("ECG\n0.5\nlead off\n", False),
    ],
)
def test_plain_numbers_are_read_straight_into_numbers(tmp_path, table, read):
    from arrhythmia.data.tables import csv_numbers

    path = tmp_path / "t.csv"
    path.write_text(table)
    values = csv_numbers(path, header_rows=1)
    assert (values is not None) == read
    if read:
        assert np.array_equal(values[:, 0], [0.5, -0.25, 1e-3, np.nan], equal_nan=True)
