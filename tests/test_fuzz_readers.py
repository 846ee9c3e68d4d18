"""Damaged and hostile files, as a shared drive collects them: each reader answers with one ``DataError`` line
naming the file and the problem, never a traceback, a hang, gigabytes of memory or a silently wrong signal."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_wfdb_record

from arrhythmia.data.recording import read_input
from arrhythmia.errors import DataError


def _with_record_line(directory, rate: str) -> str:
    """``r1``'s header (a 360 Hz record) with ``rate`` written as its record line's sampling rate."""
    write_wfdb_record(directory, "r1", seconds=10)
    hea = directory / "r1.hea"
    lines = hea.read_text(encoding="utf-8").splitlines()
    fields = lines[0].split()
    fields[2] = rate
    hea.write_text("\n".join([" ".join(fields), *lines[1:]]) + "\n", encoding="utf-8")
    return str(directory / "r1")


@pytest.mark.parametrize("rate", ["nan", "inf", "-360", "1e9", "0x168", "360Hz"])
def test_a_wfdb_rate_field_that_is_no_number_is_said_not_read_as_another_rate(tmp_path, rate):
    # wfdb reads "nan", "inf" and "-360" at its default 250 Hz and "1e9" as 1 Hz, without a word
    with pytest.raises(DataError, match=rf"r1\.hea: .*sampling rate {rate!r}"):
        read_input(_with_record_line(tmp_path, rate))


@pytest.mark.parametrize("rate", ["0.001", "1", "5", "1000000"])
def test_a_wfdb_rate_no_ecg_is_recorded_at_is_one_line(tmp_path, rate):
    # 0.001 Hz gave predict a ZeroDivisionError traceback; 1 Hz an empty band-pass filter
    with pytest.raises(DataError, match=r"r1\.hea: .* Hz is not an ECG sampling rate"):
        read_input(_with_record_line(tmp_path, rate))


@pytest.mark.parametrize("rate", ["360", "360.0", "360/1", "360/360(0)"])
def test_a_wfdb_rate_field_with_its_counter_frequency_still_reads(tmp_path, rate):
    assert read_input(_with_record_line(tmp_path, rate)).fs == 360.0


def _edf(path, tmp_path) -> bytes:
    """An EDF+ file of one ECG lead (256 Hz, 20 s) and its annotation signal; its bytes."""
    from pyedflib import highlevel

    from arrhythmia.data.synthetic import synthetic_ecg

    signal = synthetic_ecg(duration_s=20, fs=256, seed=0).signal
    header = highlevel.make_signal_header(
        "ECG II", dimension="mV", sample_frequency=256, physical_min=-5, physical_max=5
    )
    highlevel.write_edf(str(path), [signal], [header])
    return path.read_bytes()


def _put(data: bytes, offset: int, width: int, text: str) -> bytes:
    return data[:offset] + text.encode("latin-1").ljust(width)[:width] + data[offset + width :]


def test_an_edf_header_that_counts_more_signals_than_it_holds_is_one_line(tmp_path):
    path = tmp_path / "ns.edf"
    path.write_bytes(_put(_edf(path, tmp_path), 252, 4, "9999"))  # a ValueError traceback before
    with pytest.raises(DataError, match=r"ns\.edf: .*9,999 signals"):
        read_input(path)


def test_an_edf_header_field_no_number_in_a_latin1_header_is_one_line(tmp_path):
    path = tmp_path / "odd.edf"
    data = _put(_edf(path, tmp_path), 8, 80, "Müller")  # a latin-1 umlaut: read past pyedflib
    ns = int(data[252:256])
    path.write_bytes(_put(data, 256 + ns * 104, 8, "abc"))  # the ECG's physical minimum
    with pytest.raises(DataError, match=r"odd\.edf: .*'abc'"):
        read_input(path)


@pytest.mark.parametrize("segments", [["m", "m"], ["loop", "loop"]])
def test_a_multi_segment_header_naming_itself_or_another_master_is_one_line(tmp_path, segments):
    # a master header naming itself as a segment, or two naming each other: a TypeError traceback before
    (tmp_path / "m.hea").write_text(f"m/2 1 360 7200\n{segments[0]} 3600\n{segments[1]} 3600\n", encoding="utf-8")
    (tmp_path / "loop.hea").write_text("loop/1 1 360 3600\nm 3600\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"\.hea: .*multi-segment record itself.*m\.hea"):
        read_input(tmp_path / "m")


@pytest.mark.parametrize(("rows", "columns"), [(1, 20_000), (3, 5_000)])
def test_a_csv_far_wider_than_a_table_of_leads_is_refused_before_it_is_parsed(tmp_path, rows, columns):
    # a signal written as one row, or a matrix: each cell a lead, parsed a column at a time for minutes before
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(",".join(["0.1"] * columns) for _ in range(rows)) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"wide\.csv: its first row holds (more than )?[\d,]+ cells"):
        read_input(path, fs=250)


def test_a_csv_of_a_few_hundred_leads_still_reads(tmp_path):
    path = tmp_path / "many.csv"
    rows = np.tile(np.sin(np.arange(2500) / 40.0)[:, None], (1, 300))
    np.savetxt(path, rows, delimiter=",", fmt="%.4f", header=",".join(f"ECG{i}" for i in range(300)), comments="")
    assert read_input(path, fs=250).signal.shape == (2500,)


def test_a_cell_of_megabytes_is_named_in_a_line_of_a_few_words(tmp_path):
    # the whole 10-MB cell was the message: a terminal, a log, an archive's cohort.csv of megabytes
    path = tmp_path / "long.csv"
    path.write_text("ECG\n" + "1" * 1_000_000 + "\n" + "0.1\n" * 3000, encoding="utf-8")
    with pytest.raises(DataError, match=r"long\.csv: row 2, column 1: not a finite number \('1111") as caught:
        read_input(path, fs=250)
    assert len(str(caught.value)) < 300
    assert "1,000,000 characters" in str(caught.value)


def _npy_zip(path) -> None:
    np.savez(path.with_suffix(".npz"), ecg=np.zeros(5000))
    path.with_suffix(".npz").rename(path)


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("empty.npy", lambda p: p.write_bytes(b""), r"empty\.npy: .*empty"),  # EOFError traceback before
        ("zip.npy", _npy_zip, r"zip\.npy: .*\.npz archive"),  # AttributeError: 'NpzFile' object has no 'dtype'
        # the imaginary part was dropped with NumPy's own warning, the real part read as the ECG
        ("complex.npy", lambda p: np.save(p, np.ones(5000) + 1j), r"complex\.npy: .*complex128"),
        ("times.npy", lambda p: np.save(p, np.arange(5000).astype("timedelta64[ms]")), r"times\.npy: .*timedelta64"),
        ("text.npy", lambda p: np.save(p, np.array(["0.1"] * 5000)), r"text\.npy: .*<U3 values of shape \(5000,\)"),
    ],
)
def test_a_npy_file_that_is_no_array_of_real_numbers_is_one_line(tmp_path, name, write, message):
    write(tmp_path / name)
    with pytest.raises(DataError, match=message):
        read_input(tmp_path / name, fs=250)


@pytest.mark.parametrize("dtype", [">f8", ">i2", "float16", "uint8"])
def test_a_npy_signal_of_any_real_dtype_and_byte_order_reads_its_values(tmp_path, dtype):
    values = np.round(np.sin(np.arange(5000) / 40.0) * 100)
    np.save(tmp_path / "x.npy", values.astype(dtype) if dtype != "uint8" else (values + 128).astype(dtype))
    signal = read_input(tmp_path / "x.npy", fs=250).signal
    assert signal.dtype == np.float64
    np.testing.assert_array_equal(signal, values if dtype != "uint8" else values + 128)


def test_a_csv_whose_end_was_never_written_is_refused_before_it_is_read(tmp_path):
    # a 10-GB sparse file (an interrupted copy, a full disk) with a valid first line: pandas read its NULs as
    # one line of gigabytes, 2 GB of memory and more, then "not a valid CSV (... out of memory)"
    import os

    path = tmp_path / "sparse.csv"
    path.write_text("ECG\n" + "0.1\n" * 3000, encoding="utf-8")
    os.truncate(path, 256 << 20)
    with open(path, "rb") as fh:
        if not hasattr(os, "SEEK_HOLE") or os.lseek(fh.fileno(), 0, os.SEEK_HOLE) >= 256 << 20:
            pytest.skip("this file system keeps no holes in a file")
    with pytest.raises(DataError, match=r"sparse\.csv: .*never written"):
        read_input(path, fs=250)


def test_an_annotation_file_cut_mid_word_says_so(tmp_path):
    # wfdb's own words: "cannot reshape array of size 1001 into shape (2)"
    from arrhythmia.data.wfdb_source import read_beat_annotations

    write_wfdb_record(tmp_path, "r1", seconds=20)
    atr = tmp_path / "r1.atr"
    atr.write_bytes(atr.read_bytes()[:51])
    with pytest.raises(DataError, match=r"r1\.atr: .*cut short.*51 bytes"):
        read_beat_annotations(tmp_path / "r1")


@pytest.mark.parametrize("damage", [b"(5000,#, }", b"(5000,, }  ", b"(50\x0000,), "])
def test_a_npy_header_damaged_into_no_python_literal_is_one_line(tmp_path, damage):
    # NumPy's header parser raised tokenize.TokenError ('EOF in multi-line statement'), a traceback
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros(5000))
    data = path.read_bytes()
    at = data.index(b"(5000,)")
    path.write_bytes(data[:at] + damage + data[at + len(damage) :])
    with pytest.raises(DataError, match=r"bad\.npy: not a readable \.npy array"):
        read_input(path, fs=250)


def test_control_characters_a_header_names_a_lead_with_are_shown_escaped_not_sent_to_the_terminal(tmp_path):
    # an EDF label "ECG\x1b[2J..." cleared the screen and set the terminal's title when predict printed its lead
    path = tmp_path / "ctrl.edf"
    data = bytearray(_edf(path, tmp_path))
    data[256:272] = b"ECG\x1b[2J\x07II".ljust(16)
    path.write_bytes(bytes(data))
    recording = read_input(path)
    assert recording.lead == "ECG\\x1b[2J\\x07II"
    assert recording.lead.isprintable()


@pytest.mark.parametrize("size", [0, 2])
def test_a_wfdb_signal_file_shorter_than_one_frame_under_a_header_without_length_says_so(tmp_path, size):
    # wfdb's words: "sampto must be greater than sampfrom"
    (tmp_path / "s.hea").write_text(
        "s 2 360\ns.dat 212 200 11 1024 0 0 0 MLII\ns.dat 212 200 11 1024 0 0 0 V5\n", encoding="utf-8"
    )
    (tmp_path / "s.dat").write_bytes(b"\x00" * size)
    with pytest.raises(DataError, match=rf"s\.dat: .*{size} bytes.*3 bytes"):
        read_input(tmp_path / "s")


@pytest.mark.parametrize(("count", "lines"), [(100_000, 1), (1, 2), (3, 2)])
def test_a_wfdb_record_line_counting_other_signals_than_its_lines_give_says_both(tmp_path, count, lines):
    # wfdb's words: "list index out of range", "'>' not supported between instances of 'NoneType' and 'int'"
    write_wfdb_record(tmp_path, "r1", seconds=10)
    hea = tmp_path / "r1.hea"
    text = hea.read_text(encoding="utf-8").splitlines()
    fields = text[0].split()
    fields[1] = str(count)
    hea.write_text("\n".join([" ".join(fields), *text[1 : 1 + lines]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"r1\.hea: its record line counts {count:,} signals?, and {lines} signal"):
        read_input(tmp_path / "r1")
