"""CSV signals as Excel on Windows saves them: "CSV (Comma delimited)" in cp1252 with CRLF and a ``µV`` (byte
0xB5) in its header, "CSV UTF-8" with a byte-order mark, "Unicode Text" (UTF-16 with a BOM, tab-separated), and
German files (``;`` between cells, decimal commas, ``Zeit [s]``, ``Ableitung II [µV]``). Each is read at its
rate, in mV, its names as written (never ``Âµ``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arrhythmia.data.recording import read_input
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.errors import DataError

FS = 250
MV = synthetic_ecg(duration_s=20.0, fs=FS, seed=3).signal
TIMES = np.arange(len(MV)) / FS


def _rows(separator: str, decimal: str) -> str:
    return "".join(f"{t:.3f}{separator}{v * 1000:.1f}\n".replace(".", decimal) for t, v in zip(TIMES, MV))


def _write(path, text: str, encoding: str):
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))  # Windows' line endings
    return path


EXCEL = {
    "comma delimited, cp1252": ("Time (s),ECG (µV)\n" + _rows(",", "."), "cp1252", "ECG (µV)"),
    "CSV UTF-8": ("Time (s),ECG (µV)\n" + _rows(",", "."), "utf-8-sig", "ECG (µV)"),
    "Unicode Text": ("Time (s)\tECG (µV)\n" + _rows("\t", "."), "utf-16", "ECG (µV)"),
    "German, cp1252": ("Zeit [s];Ableitung II [µV]\n" + _rows(";", ","), "cp1252", "Ableitung II [µV]"),
    "German, Unicode Text": ("Zeit [s]\tAbleitung II [µV]\n" + _rows("\t", ","), "utf-16", "Ableitung II [µV]"),
}


@pytest.mark.parametrize("saved_as", list(EXCEL))
def test_excel_csv_is_read_in_its_encoding(tmp_path, saved_as):
    text, encoding, lead = EXCEL[saved_as]
    recording = read_input(_write(tmp_path / "Patient Müller.csv", text, encoding))
    assert recording.fs == FS and recording.lead == lead and recording.millivolts
    assert np.allclose(recording.signal, MV, atol=1e-4)


def test_a_cp1252_comment_above_the_table_is_kept_as_written(tmp_path):
    text = "# Patient: Müller, Jürgen\n# Einheit: µV\n" + "Zeit [s];EKG\n" + _rows(";", ",")
    recording = read_input(_write(tmp_path / "ekg.csv", text, "cp1252"))
    assert recording.notes == ("Patient: Müller, Jürgen", "Einheit: µV")
    assert recording.lead == "EKG" and recording.fs == FS


def test_a_trailing_separator_and_empty_rows_at_the_end_are_no_samples(tmp_path):
    # Excel ends every row with ';' where a column beyond the table was once touched, and saves the rows below
    # the table it was touched in as ';;' and blank lines
    rows = _rows(";", ",").replace("\n", ";\n")
    text = "Zeit [s];Ableitung II [µV];\n" + rows + ";;\n\n;;\n"
    recording = read_input(_write(tmp_path / "ekg.csv", text, "cp1252"))
    assert recording.fs == FS and recording.lead == "Ableitung II [µV]"
    assert len(recording.signal) == len(MV) and np.allclose(recording.signal, MV, atol=1e-4)


def test_a_last_line_cut_off_is_left_out_with_a_warning(tmp_path):
    # a copy from the share stopped mid-line: no line end, and the row holds only part of its cells
    text = "Zeit [s];Ableitung II [µV]\n" + _rows(";", ",") + "20,0"
    path = _write(tmp_path / "ekg.csv", text, "cp1252")
    with pytest.warns(UserWarning, match=r"ekg\.csv: its last line is cut off .*'20,0'.*left out"):
        recording = read_input(path)
    assert recording.fs == FS and len(recording.signal) == len(MV)


def test_a_whole_last_line_without_a_line_end_is_a_sample(tmp_path):
    text = "Zeit [s];Ableitung II [µV]\n" + _rows(";", ",").rstrip("\n")
    recording = read_input(_write(tmp_path / "ekg.csv", text, "cp1252"))
    assert len(recording.signal) == len(MV)


def test_time_stamps_above_empty_rows_still_give_the_rate_and_start(tmp_path):
    stamps = pd.Timestamp("2024-03-01 09:12:33") + pd.to_timedelta(TIMES, unit="s")
    rows = "".join(f"{s:%Y-%m-%d %H:%M:%S.%f};{v * 1000:.1f}\n".replace(".", ",") for s, v in zip(stamps, MV))
    recording = read_input(_write(tmp_path / "ekg.csv", "Zeit;Ableitung II [µV]\n" + rows + ";\n;\n", "cp1252"))
    assert recording.fs == FS and str(recording.start) == "2024-03-01 09:12:33"
    assert len(recording.signal) == len(MV)


def test_excel_error_cells_are_missing_samples_said_in_one_warning(tmp_path):
    # a German Excel writes NA() as '#NV', a division by an empty cell as '#DIV/0!'
    lines = ("Zeit [s];Ableitung II [µV]\n" + _rows(";", ",")).splitlines()
    for row, cell in ((101, "#NV"), (202, "#DIV/0!"), (303, "#NV")):
        lines[row] = lines[row].split(";")[0] + ";" + cell
    path = _write(tmp_path / "ekg.csv", "\n".join(lines) + "\n", "cp1252")
    with pytest.warns(
        UserWarning,
        match=r"ekg\.csv: 3 cells hold Excel's error values \('#NV' 2, '#DIV/0!' 1; "
        r"the first at row 102, column 2\): read as missing samples",
    ) as caught:
        recording = read_input(path)
    assert len([w for w in caught if "Excel" in str(w.message)]) == 1
    assert recording.fs == FS and np.isnan(recording.signal[[100, 201, 302]]).all()
    assert np.isnan(recording.signal).sum() == 3


def test_another_word_in_a_cell_is_still_named(tmp_path):
    lines = ("Time (s),ECG (µV)\n" + _rows(",", ".")).splitlines()
    lines[50] = lines[50].split(",")[0] + ",lead off"
    with pytest.raises(DataError, match=r"ekg\.csv: row 51, column 2: not a finite number \('lead off'\)"):
        read_input(_write(tmp_path / "ekg.csv", "\n".join(lines) + "\n", "cp1252"))
