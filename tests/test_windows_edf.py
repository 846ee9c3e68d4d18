"""EDF files from Windows Holter software, whose header writes a latin-1 ``µV`` (byte 0xB5) or a patient's
umlaut where EDF allows only ASCII, which pyedflib refuses: read as their software meant them, in mV, with
their start, events and patient as written."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from arrhythmia.data.recording import identification, read_input
from arrhythmia.data.synthetic import synthetic_ecg

FS = 256
MV = synthetic_ecg(duration_s=30.0, fs=FS, seed=5).signal
START = datetime(2024, 3, 1, 9, 12, 33)


def _edf(path, plus: bool, dimension: str = "uV", patient: str | None = None):
    """A one-lead EDF (``plus``: EDF+, with an event) in µV, then its header patched as the vendor writes it:
    the physical dimension ``dimension`` and the patient field ``patient``, in latin-1."""
    import pyedflib

    writer = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS if plus else pyedflib.FILETYPE_EDF)
    writer.setSignalHeaders(
        [
            {
                "label": "EKG II",
                "dimension": "uV",
                "sample_frequency": FS,
                "physical_max": 5000,
                "physical_min": -5000,
                "digital_max": 32767,
                "digital_min": -32768,
                "transducer": "",
                "prefilter": "",
            }
        ]
    )
    writer.setStartdatetime(START)
    writer.writeSamples([MV * 1000.0])
    if plus:
        writer.writeAnnotation(12.0, -1, "Patient event")
    writer.close()
    header = bytearray(path.read_bytes())
    header[256 + 96 : 256 + 104] = dimension.encode("latin-1").ljust(8)
    if patient is not None:
        header[8:88] = patient.encode("latin-1").ljust(80)
    path.write_bytes(bytes(header))
    return path


@pytest.mark.parametrize("plus", [True, False], ids=["EDF+", "EDF"])
@pytest.mark.parametrize(
    ("dimension", "patient"),
    [("µV", None), ("uV", "MUELLER1 M 01-JAN-1950 Hans_Müller"), ("µV", "MUELLER1 M 01-JAN-1950 Hans_Müller")],
    ids=["micro", "umlaut", "both"],
)
def test_a_latin1_header_is_read(tmp_path, plus, dimension, patient):
    path = _edf(tmp_path / "Holter Müller.EDF", plus, dimension, patient)
    recording = read_input(path)
    assert recording.fs == FS and recording.lead == "EKG II" and recording.millivolts
    assert np.allclose(recording.signal, MV, atol=1e-3)
    assert recording.start == START
    assert recording.events == (((12.0, "Patient event"),) if plus else ())
    if patient is not None:
        assert identification(recording)["patient"] == patient


def test_the_same_file_with_an_ascii_header_reads_alike(tmp_path):
    ascii_ = read_input(_edf(tmp_path / "a.edf", True))
    latin = read_input(_edf(tmp_path / "b.edf", True, "µV"))
    assert np.allclose(ascii_.signal, latin.signal, rtol=0, atol=1e-9)  # pyedflib scales in another order
    assert ascii_.fs == latin.fs and ascii_.start == latin.start and ascii_.events == latin.events
