"""Damaged and hostile files, as a shared drive collects them: each reader answers with one ``DataError`` line
naming the file and the problem, never a traceback, a hang, gigabytes of memory or a silently wrong signal."""

from __future__ import annotations

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
