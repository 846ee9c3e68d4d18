"""Files as a Windows PC meets them: outputs written in UTF-8 whatever the platform's default encoding
(cp1252 on a Western Windows), so that a report's ``µV`` or a folder's ``Müller`` reads back as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _strict_encoding(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``code`` run in a Python that fails on any open() without encoding= (the platform's default: cp1252 on a
    Western Windows, where a report's ``µV`` would be written as byte 0xB5 under a page that says UTF-8)."""
    return subprocess.run(
        [sys.executable, "-X", "warn_default_encoding", "-W", "error::EncodingWarning", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )


def test_text_and_json_are_written_and_read_as_utf8(tmp_path):
    code = (
        "from pathlib import Path\n"
        "from arrhythmia.files import write_text_atomic, write_json, read_json\n"
        "write_text_atomic(Path('Patient Müller') / 'beats.csv', 'lead\\nECG (µV)\\n')\n"
        "write_json(Path('summary.json'), {'lead': 'ECG (µV)'})\n"
        "assert read_json(Path('summary.json'))['lead'] == 'ECG (µV)'\n"
    )
    done = _strict_encoding(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "Patient Müller" / "beats.csv").read_bytes() == "lead\nECG (µV)\n".encode()


def test_json_saved_by_notepad_with_a_byte_order_mark_is_read(tmp_path):
    from arrhythmia.files import read_json

    (tmp_path / "card.json").write_bytes('{"author": "Müller"}'.encode("utf-8-sig"))
    assert read_json(tmp_path / "card.json") == {"author": "Müller"}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-16"], ids=["Notepad UTF-8", "ANSI", "Unicode"])
def test_a_list_of_recordings_saved_by_notepad_is_read_in_its_encoding(tmp_path, encoding):
    from arrhythmia.archive import find_recordings

    folder = tmp_path / "Patient Müller"
    folder.mkdir()
    for name in ("EKG 24h.CSV", "Holter Jürgen.EDF"):
        (folder / name).write_bytes(b"")
    listing = tmp_path / "Liste.txt"
    listing.write_bytes("Patient Müller\\EKG 24h.CSV\r\nPatient Müller/Holter Jürgen.EDF\r\n".encode(encoding))
    assert find_recordings([listing]) == [folder / "EKG 24h.CSV", folder / "Holter Jürgen.EDF"]


@pytest.mark.parametrize("given", ["rec.HEA", "rec"])
def test_a_wfdb_record_with_upper_case_suffixes_is_named_so(tmp_path, given):
    # copied from a Windows share, where 'rec.HEA' and 'rec.hea' are one file; WFDB looks for 'rec.hea'
    from conftest import write_wfdb_record

    from arrhythmia.data.recording import read_input
    from arrhythmia.errors import DataError

    write_wfdb_record(tmp_path, "rec", seconds=5.0)
    for suffix in ("hea", "dat", "atr"):
        (tmp_path / f"rec.{suffix}").rename(tmp_path / f"rec.{suffix.upper()}")
    with pytest.raises(DataError, match=r"rec\.HEA: WFDB reads a header named 'rec\.hea'.*rename"):
        read_input(tmp_path / given)
