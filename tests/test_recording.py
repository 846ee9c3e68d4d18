"""Reading recordings of every supported format, and their one-line errors."""

from __future__ import annotations

import warnings
from datetime import date, datetime, time

import numpy as np
import pytest
from conftest import MITDB, needs_mitdb, write_multisegment_record, write_wfdb_record

from arrhythmia.data.recording import BeatRows, Recording, read_input
from arrhythmia.errors import DataError


@pytest.fixture
def record(tmp_path):
    rec = write_wfdb_record(tmp_path, "rec", seconds=20)
    return tmp_path / "rec", rec


def test_wfdb_with_and_without_hea(record):
    path, rec = record
    for given in (path, path.with_suffix(".hea")):
        data = read_input(given)
        assert isinstance(data, Recording) and data.fs == 360 and data.lead == "MLII"
        assert len(data.signal) == len(rec.signal)
        assert np.allclose(data.signal, rec.signal, atol=0.01)  # 212 format: 5 uV steps at gain 200


def test_wfdb_start_time_from_the_header(record, tmp_path):
    """A WFDB header's base time (and date) is the recording's wall-clock start; MIT-BIH gives none."""
    import wfdb

    path, rec = record
    assert read_input(path).start is None
    for name, base_date, start in (
        ("dated", date(2026, 11, 28), datetime(2026, 11, 28, 10, 23, 5)),
        ("timed", None, time(10, 23, 5)),
    ):
        wfdb.wrsamp(
            name,
            fs=360,
            units=["mV"],
            sig_name=["MLII"],
            p_signal=rec.signal[:3600, None],
            fmt=["16"],
            write_dir=str(tmp_path),
            base_time=time(10, 23, 5),
            base_date=base_date,
        )
        assert read_input(tmp_path / name).start == start


def test_wfdb_lead_by_name_and_index(record):
    path, _ = record
    assert read_input(path, lead="V5").lead == "V5"
    assert read_input(path, lead="1").lead == "V5"
    with pytest.raises(DataError, match="lead 'II' does not exist"):
        read_input(path, lead="II")


def test_edf(record, tmp_path):
    from wfdb.io.convert.edf import wfdb_to_edf

    path, rec = record
    edf = tmp_path / "rec.edf"
    wfdb_to_edf(str(path), output_filename=str(edf))
    data = read_input(edf)
    assert data.fs == 360 and data.lead == "MLII"
    # wfdb's EDF writer declares one more 10 s data record than it fills (padded with the digital
    # minimum), so compare the samples that were written.
    assert len(data.signal) >= len(rec.signal)
    assert np.corrcoef(data.signal[: len(rec.signal)], rec.signal)[0, 1] > 0.99


def test_multi_segment_wfdb_records_are_joined(record, tmp_path):
    """MIMIC-style records: a master header naming segments, a layout segment when the leads vary between
    segments, and ``~`` for a gap, which comes back as missing samples."""
    _, rec = record
    x = rec.signal[: 360 * 20]
    half = write_multisegment_record(tmp_path, "rec", x)
    data = read_input(tmp_path / "rec.hea")
    assert data.fs == 360 and data.lead == "II" and len(data.signal) == len(x) + 360
    gap = np.zeros(len(data.signal), dtype=bool)
    gap[half : half + 360] = True
    assert np.isnan(data.signal[gap]).all()
    assert np.abs(data.signal[~gap] - x).max() < 0.01
    assert read_input(tmp_path / "rec.hea", lead="V5").lead == "V5"
    (tmp_path / "rec_1.dat").unlink()
    with pytest.raises(DataError, match=r"rec_1.dat: signal file is missing .*\(a segment of .*rec.hea\)"):
        read_input(tmp_path / "rec.hea")


def test_edf_signals_keep_their_own_rates(record, tmp_path):
    """A Holter or sleep-study EDF stores ECG at 256 Hz beside an accelerometer at 32 Hz: the ECG is read at
    256 Hz and in mV, not averaged down to a 32 Hz frame rate the two share."""
    import pyedflib
    from pyedflib import highlevel
    from scipy.signal import resample_poly

    _, rec = record
    ecg_uv = resample_poly(rec.signal[: 360 * 20], 32, 45) * 1000.0  # 20 s at 256 Hz, in µV
    accelerometer = np.random.default_rng(0).normal(0.0, 1.0, 20 * 32)
    headers = [
        highlevel.make_signal_header("Accel X", dimension="g", sample_frequency=32, physical_min=-8, physical_max=8),
        highlevel.make_signal_header(
            "ECG", dimension="uV", sample_frequency=256, physical_min=-5000, physical_max=5000
        ),
    ]
    path = tmp_path / "holter.edf"
    highlevel_header = highlevel.make_header(startdate=datetime(2026, 11, 28, 8, 15, 30))
    highlevel_header["annotations"] = [[4.5, -1, "Patient event"], [12.25, -1, "dizzy"]]  # EDF+ annotations
    highlevel.write_edf(str(path), [accelerometer, ecg_uv], headers, highlevel_header)
    data = read_input(path)
    assert data.fs == 256 and data.lead == "ECG" and len(data.signal) == len(ecg_uv)
    assert data.start == datetime(2026, 11, 28, 8, 15, 30)  # the EDF header's start date and time
    assert data.events == ((4.5, "Patient event"), (12.25, "dizzy"))  # the patient's events, from the start
    assert np.abs(data.signal - ecg_uv / 1000.0).max() < 0.01
    # BDF, the 24-bit variant research amplifiers write, reads the same way.
    highlevel.write_edf(
        str(tmp_path / "amplifier.bdf"), [accelerometer, ecg_uv], headers, file_type=pyedflib.FILETYPE_BDFPLUS
    )
    bdf = read_input(tmp_path / "amplifier.bdf")
    assert bdf.fs == 256 and np.abs(bdf.signal - ecg_uv / 1000.0).max() < 0.001


def test_signals_in_microvolts_are_read_in_millivolts(record, tmp_path):
    """EDF Holter files mostly store µV: the quality checks and plots work in mV, so the unit is applied."""
    import wfdb
    from wfdb.io.convert.edf import wfdb_to_edf

    _, rec = record
    signal = np.column_stack([rec.signal, rec.signal]) * 1000.0
    wfdb.wrsamp(
        "uv",
        fs=360,
        units=["uV", "uV"],
        sig_name=["MLII", "V5"],
        p_signal=signal,
        fmt=["16", "16"],
        adc_gain=[1.0, 1.0],
        baseline=[0, 0],
        write_dir=str(tmp_path),
    )
    data = read_input(tmp_path / "uv.hea")
    assert np.allclose(data.signal, rec.signal, atol=0.002)
    wfdb_to_edf(str(tmp_path / "uv"), output_filename=str(tmp_path / "uv.edf"))
    edf = read_input(tmp_path / "uv.edf")
    assert np.abs(edf.signal[: len(rec.signal)] - rec.signal).max() < 0.01


def test_csv_with_header_needs_fs(tmp_path):
    path = tmp_path / "sig.csv"
    signal = np.sin(np.arange(1000) / 10)
    np.savetxt(path, np.column_stack([signal, -signal]), delimiter=",", header="V1,MLII", comments="")
    with pytest.raises(DataError, match="needs its sampling rate: pass --fs"):
        read_input(path)
    data = read_input(path, fs=250)
    assert data.fs == 250 and data.lead == "MLII" and np.allclose(data.signal, -signal)


def test_csv_with_semicolons_and_decimal_commas_or_tabs(tmp_path):
    """Spreadsheets in much of Europe write ``0,125`` and separate cells with ``;``; others export tabs."""
    signal = np.round(np.sin(np.arange(1000) / 10), 4)
    times = np.arange(1000) / 250.0
    european = tmp_path / "europe.csv"
    lines = [f"{t:.3f};{-x:.4f};{x:.4f}".replace(".", ",") for t, x in zip(times, signal)]
    european.write_text("Time (s);V1;MLII\n" + "\n".join(lines) + "\n")
    data = read_input(european)
    assert data.fs == pytest.approx(250) and data.lead == "MLII" and np.allclose(data.signal, signal)
    tabbed = tmp_path / "tabs.csv"
    np.savetxt(tabbed, np.column_stack([signal, -signal]), delimiter="\t", fmt="%.4f")
    data = read_input(tabbed, fs=250)
    assert data.signal.shape == (1000,) and np.allclose(data.signal, signal)
    one_lead = tmp_path / "one_lead.csv"  # no separator at all: each line's comma is its decimal mark
    one_lead.write_text("ECG\n" + "\n".join(f"{x:.4f}".replace(".", ",") for x in signal) + "\n")
    data = read_input(one_lead, fs=250)
    assert data.lead == "ECG" and np.allclose(data.signal, signal)


def test_csv_time_column_of_date_times_gives_the_rate(tmp_path):
    """Devices and phone apps export each sample's clock time: ISO 8601 date-times give the rate too."""
    signal = np.round(np.sin(np.arange(1000) / 10), 4)
    clock = np.datetime64("2026-11-28T23:59:58") + np.arange(1000) * np.timedelta64(4, "ms")  # over midnight
    lines = [f"{str(t).replace('T', ' ')},{x:.4f}" for t, x in zip(clock, signal)]
    path = tmp_path / "app.csv"
    path.write_text("timestamp,ECG\n" + "\n".join(lines) + "\n")
    data = read_input(path)
    assert data.fs == pytest.approx(250) and data.lead == "ECG" and np.allclose(data.signal, signal)
    assert data.start == datetime(2026, 11, 28, 23, 59, 58)  # the first time stamp: the recording's start
    path.write_text("timestamp,ECG\n" + "\n".join(f"{str(t)}+01:00,{x:.4f}" for t, x in zip(clock, signal)) + "\n")
    zoned = read_input(path)
    assert zoned.fs == pytest.approx(250) and zoned.start == datetime(2026, 11, 28, 23, 59, 58)  # as written
    seconds = tmp_path / "seconds.csv"
    seconds.write_text("time,ECG\n" + "\n".join(f"{i * 0.004:.3f},{x:.4f}" for i, x in enumerate(signal)) + "\n")
    assert read_input(seconds).start is None  # times from the start give no clock


def test_csv_cells_left_empty_or_nan_are_missing_samples(tmp_path):
    """A device that lost the lead writes empty or NaN cells: those samples are missing (NaN, as WFDB and
    NumPy signals mark them; predict reports the stretch as noise), not a reason to refuse the file."""
    path = tmp_path / "gaps.csv"
    path.write_text("time,ECG\n0.000,0.10\n0.004,\n0.008,NaN\n0.012, n/a \n0.016,0.30\n")
    data = read_input(path)
    assert data.fs == pytest.approx(250) and np.isnan(data.signal[1:4]).all() and data.signal[4] == 0.3
    path.write_text("time,ECG\n0.000,0.10\n,0.2\n0.008,0.3\n")
    with pytest.raises(DataError, match="time column 'time' has no value at row 3"):
        read_input(path)


def test_beat_csv_is_recognised(tmp_path):
    path = tmp_path / "beats.csv"
    np.savetxt(path, np.random.default_rng(0).random((5, 188)), delimiter=",")
    data = read_input(path)
    assert isinstance(data, BeatRows) and data.X.shape == (5, 187)


def test_fs_given_for_a_file_whose_header_gives_its_rate_is_left_aside_with_a_warning(tmp_path):
    rec = write_wfdb_record(tmp_path, "rec", seconds=10)
    with pytest.warns(UserWarning, match=r"rec: --fs 250 Hz left aside: its header gives 360 Hz"):
        assert read_input(tmp_path / "rec", fs=250).fs == 360
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.allclose(read_input(tmp_path / "rec.hea", fs=360).signal, read_input(tmp_path / "rec").signal)
    assert len(rec.signal) == 3600


def test_npy_one_and_two_dimensional(tmp_path):
    one, two = tmp_path / "one.npy", tmp_path / "two.npy"
    np.save(one, np.zeros(500))
    np.save(two, np.zeros((500, 3)))
    assert read_input(one, fs=500).signal.shape == (500,)
    assert read_input(two, fs=500, lead=2).lead == "2"
    for path in (one, two):  # its own array, though the file is mapped read-only: predict may turn it over in place
        signal = read_input(path, fs=500).signal
        assert signal.flags.owndata and signal.flags.writeable and signal.dtype == np.float64
    with pytest.raises(DataError, match="needs its sampling rate"):
        read_input(one)
    for rate in (-5, 0, float("nan"), 10, 1e6):
        with pytest.raises(DataError, match=r"is not an ECG sampling rate \(20-10000 Hz\)"):
            read_input(one, fs=rate)
    with pytest.raises(DataError, match="lead index 5 does not exist"):
        read_input(two, fs=500, lead=5)


def test_npy_whose_header_claims_more_samples_than_the_file_holds_is_one_line(tmp_path):
    """A header saying 10^12 samples over a 4 kB body: np.load allocated them first (a MemoryError traceback
    for 3.6 TiB; a smaller false shape really allocated). It is read mapped now, checked against the file."""
    from numpy.lib import format as npy_format

    path = tmp_path / "huge.npy"
    with path.open("wb") as fh:
        npy_format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
        fh.write(b"\0" * 4096)
    with pytest.raises(DataError, match="huge.npy: not a readable .npy array .its header gives more samples than"):
        read_input(path, fs=360)
    np.save(path, np.arange(1000, dtype=np.float32))  # a whole one is read as before, into memory
    recording = read_input(path, fs=360)
    assert isinstance(recording.signal, np.ndarray) and not isinstance(recording.signal, np.memmap)
    assert recording.signal[999] == 999


def test_a_file_that_is_no_npy_array_says_what_it_is(tmp_path):
    """NumPy answers a file that is no .npy at all (a CSV or EDF renamed, a download cut to its first bytes)
    with 'This file contains pickled (object) data. If you trust the file you can load it unsafely ...': the
    one line said that, and offered to unpickle an unknown file."""
    path = tmp_path / "ecg.npy"
    path.write_text("time,ECG\n0.000,0.12\n")
    with pytest.raises(DataError, match=r"ecg\.npy: not a readable \.npy array \(it does not begin as NumPy's") as info:
        read_input(path, fs=360)
    assert "pickle" not in str(info.value)
    np.save(path, np.array([{"lead": "II"}, 0.5], dtype=object))
    with pytest.raises(DataError, match=r"ecg\.npy: not a readable \.npy array \(it holds Python objects, not numbers"):
        read_input(path, fs=360)


def test_npy_channel_first_is_read_as_leads(tmp_path):
    """A (n_leads, n_samples) array, as NeuroKit2 and MNE store ECG, gives its leads, not 3 samples."""
    path = tmp_path / "leads_first.npy"
    leads = np.stack([np.full(500, 1.0), np.full(500, 2.0), np.full(500, 3.0)])
    np.save(path, leads)
    recording = read_input(path, fs=500, lead=1)
    assert recording.signal.shape == (500,) and recording.lead == "1"
    assert np.all(recording.signal == 2.0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.wav", b"RIFF", "unknown input format"),
        ("x.npy", b"not numpy", "not a readable .npy"),
        ("x.csv", b"", "file is empty"),
        ("x.edf", b"0       garbage", "cannot read EDF"),
        ("x.npy", np.zeros(0), "file holds no samples"),
        ("x.npy", np.r_[np.zeros(5000), np.inf, np.zeros(5000)], r"sample 5000: not a finite number \(inf\)"),
    ],
)
def test_bad_inputs_give_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_input(path, fs=360)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_input(tmp_path / "nothing.csv", fs=360)
    with pytest.raises(DataError, match=r"no such file, and no WFDB record \(no rec\.hea\)"):
        read_input(tmp_path / "rec")  # a mistyped record name: not 'unknown input format'


def test_csv_signal_with_a_bad_cell_names_its_line(tmp_path):
    path = tmp_path / "sig.csv"
    path.write_text("MLII,V5\n0.1,0.2\n0.3,oops\n")
    with pytest.raises(DataError, match=r"sig\.csv: row 3, column 2: not a finite number \('oops'\)"):
        read_input(path, fs=360)


def test_the_unit_of_a_signal_that_names_none_is_read_from_its_beats():
    from arrhythmia.data.synthetic import synthetic_ecg
    from arrhythmia.data.units import PLAUSIBLE_QRS_MV, millivolt_scale, typical_qrs_amplitude

    rec = synthetic_ecg(duration_s=60, fs=360, seed=3)
    height = typical_qrs_amplitude(rec.signal, 360)
    assert PLAUSIBLE_QRS_MV[0] < height < PLAUSIBLE_QRS_MV[1] and millivolt_scale(height) == 1.0
    assert typical_qrs_amplitude(rec.signal / 1000, 360) == pytest.approx(height / 1000)
    assert millivolt_scale(height / 1000) == 1000.0 and millivolt_scale(height * 1000) == 0.001
    assert millivolt_scale(height * 1e6) == 1e-6  # nanovolts
    # nothing to go by: as it is
    assert typical_qrs_amplitude(np.zeros(3600), 360) == 0.0 and millivolt_scale(0.0) == 1.0
    assert typical_qrs_amplitude(np.full(3600, np.nan), 360) == 0.0 and typical_qrs_amplitude(np.ones(100), 360) == 0.0
    assert typical_qrs_amplitude(np.full(3600, 0.3), 360) == 0.0  # constant: rounding, not beats


def test_a_lead_off_for_most_of_a_recording_does_not_change_its_unit():
    from arrhythmia.data.synthetic import synthetic_ecg
    from arrhythmia.data.units import millivolt_scale, typical_qrs_amplitude

    signal = synthetic_ecg(duration_s=600, fs=360, seed=3).signal.copy()
    off = slice(60 * 360, 400 * 360)  # 340 s of 600: a few microvolts of noise where the electrode came off
    signal[off] = np.random.default_rng(0).normal(0, 0.001, off.stop - off.start)
    height = typical_qrs_amplitude(signal, 360)
    assert height == pytest.approx(typical_qrs_amplitude(signal[: 60 * 360], 360), rel=0.2)
    assert millivolt_scale(height) == 1.0


@pytest.mark.parametrize(("unit", "millivolts"), [("uV", True), ("mV", True), ("NU", False)])
def test_a_wfdb_header_naming_no_voltage_leaves_the_unit_to_the_beats(tmp_path, unit, millivolts):
    import wfdb

    from arrhythmia.data.synthetic import synthetic_ecg

    microvolts = synthetic_ecg(duration_s=20, fs=250, seed=2).signal * 1000
    wfdb.wrsamp(
        "r",
        fs=250,
        units=[unit],
        sig_name=["ECG"],
        p_signal=microvolts[:, None],
        fmt=["16"],
        adc_gain=[1.0],
        baseline=[0],
        write_dir=str(tmp_path),
    )
    recording = read_input(tmp_path / "r")
    assert recording.millivolts is millivolts
    scale = 1e-3 if unit == "uV" else 1.0  # a named voltage is brought to mV as it is read
    assert np.allclose(recording.signal, np.round(microvolts) * scale, atol=1e-6)


def test_a_wfdb_headers_comments_say_whose_recording_it_is(tmp_path):
    """A WFDB header's comment lines (MIT-BIH's age, sex and tape numbers, then the medications) are kept as
    the recording's notes, verbatim; a header without any says nothing."""
    import wfdb

    from arrhythmia.data.recording import identification

    x = np.sin(np.arange(3600) / 9.0)[:, None]
    wfdb.wrsamp("c", fs=360, units=["mV"], sig_name=["MLII"], p_signal=x, fmt=["16"], write_dir=str(tmp_path),
                comments=["69 M 1085 1629 x1", "Aldomet, Inderal"])  # fmt: skip
    said = identification(read_input(tmp_path / "c"))
    assert said == {
        "name": "c",
        "start": None,
        "patient": None,
        "recording_id": None,
        "notes": ["69 M 1085 1629 x1", "Aldomet, Inderal"],
    }
    wfdb.wrsamp("q", fs=360, units=["mV"], sig_name=["MLII"], p_signal=x, fmt=["16"], write_dir=str(tmp_path))
    assert identification(read_input(tmp_path / "q"))["notes"] == []


@needs_mitdb
def test_mitdb_100_is_named_with_its_headers_notes():
    from arrhythmia.data.recording import identification

    assert identification(read_input(MITDB / "100"))["notes"] == ["69 M 1085 1629 x1", "Aldomet, Inderal"]


def test_an_edf_headers_patient_and_recording_fields_are_kept_verbatim(tmp_path):
    """An EDF header's patient field and recording field, as written; EDF+'s ``X`` for every unknown part
    (``X X X X``, ``Startdate 02-JAN-2026 X X X``) says nothing, and is left out."""
    from pyedflib import highlevel

    from arrhythmia.data.recording import identification

    ecg = np.sin(np.arange(256 * 10) / 9.0) * 1000
    signal = highlevel.make_signal_header("ECG", dimension="uV", sample_frequency=256, physical_min=-5000,
                                          physical_max=5000)  # fmt: skip
    header = highlevel.make_header(
        patientcode="MCH-0234567", sex="Female", birthdate="02 may 1951", patientname="Haagse_Harry",
        equipment="DigiTrak", admincode="H-1234", startdate=datetime(2026, 1, 2, 10, 0),
    )  # fmt: skip
    highlevel.write_edf(str(tmp_path / "p.edf"), [ecg], [signal], header)
    said = identification(read_input(tmp_path / "p.edf"))
    assert said["name"] == "p.edf" and said["start"] == "2026-01-02T10:00:00" and said["notes"] == []
    assert said["patient"] == "MCH-0234567 F 02-MAY-1951 Haagse_Harry"
    assert said["recording_id"].startswith("Startdate 02-JAN-2026 H-1234") and "DigiTrak" in said["recording_id"]
    highlevel.write_edf(str(tmp_path / "x.edf"), [ecg], [signal], highlevel.make_header(startdate=datetime(2026, 1, 2)))
    said = identification(read_input(tmp_path / "x.edf"))
    assert said["patient"] is None and said["recording_id"] is None
