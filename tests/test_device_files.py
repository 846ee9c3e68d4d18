"""Recordings as hospital devices export them, not as PhysioNet tidies them: multi-segment WFDB records whose
segments differ, uncalibrated WFDB leads, and what the reader says about each."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from arrhythmia.data.recording import read_input
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.errors import DataError

FS = 360


@pytest.fixture
def ecg() -> np.ndarray:
    """Ten seconds of a synthetic lead, (3600,) mV at 360 Hz."""
    return synthetic_ecg(duration_s=10, fs=FS, seed=3).signal


def _segment(directory: Path, name: str, x: np.ndarray, unit: str = "mV", fs: int = FS, lead: str = "MLII") -> None:
    import wfdb

    wfdb.wrsamp(name, fs=fs, units=[unit], sig_name=[lead], p_signal=x[:, None], fmt=["16"], write_dir=str(directory))


def _master(directory: Path, name: str, segments: list[tuple[str, int]], length: int | None = None) -> Path:
    """A multi-segment record's master header naming ``segments`` ((name or "~", samples)), one lead."""
    total = sum(n for _, n in segments) if length is None else length
    lines = [f"{name}/{len(segments)} 1 {FS} {total}", *(f"{seg} {n}" for seg, n in segments)]
    (directory / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return directory / f"{name}.hea"


def test_segments_in_different_units_are_each_read_in_millivolts(tmp_path, ecg):
    """One lead recorded in µV by one monitor and in mV by the next: wfdb joins the values as written and
    names the first segment's unit, which made the mV half a thousand times too small."""
    half = len(ecg) // 2
    _segment(tmp_path, "r_0", ecg[:half] * 1000, unit="uV")
    _segment(tmp_path, "r_1", ecg[half:], unit="mV")
    data = read_input(_master(tmp_path, "r", [("r_0", half), ("r_1", len(ecg) - half)]))
    assert data.millivolts and len(data.signal) == len(ecg)
    assert np.abs(data.signal - ecg).max() < 0.01


def test_a_fixed_layout_record_that_starts_with_a_gap(tmp_path, ecg):
    """A record whose first segment is ``~`` (the monitor started before the lead was on) reads as missing
    samples, then the signal; wfdb's joining fails on it ('NoneType' object has no attribute 'fmt')."""
    _segment(tmp_path, "g_0", ecg)
    data = read_input(_master(tmp_path, "g", [("~", FS), ("g_0", len(ecg))]))
    assert len(data.signal) == len(ecg) + FS and data.lead == "MLII"
    assert np.isnan(data.signal[:FS]).all() and np.abs(data.signal[FS:] - ecg).max() < 0.01


def test_a_segment_at_another_sampling_rate_is_refused(tmp_path, ecg):
    """wfdb joins a 250 Hz segment into a 360 Hz record as if at 360 Hz: every interval after it wrong."""
    half = len(ecg) // 2
    _segment(tmp_path, "f_0", ecg[:half])
    _segment(tmp_path, "f_1", ecg[half:], fs=250)
    hea = _master(tmp_path, "f", [("f_0", half), ("f_1", len(ecg) - half)])
    with pytest.raises(DataError, match=r"f_1.hea: segment at 250 Hz in a record at 360 Hz"):
        read_input(hea)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated", r"t_1.dat: signal file is truncated \(.*\(a segment of .*t.hea\)"),
        ("missing", r"t_1.hea: header file is missing \(a segment of .*t.hea\)"),
        ("record line", r"t.hea: its segments hold 3,600 samples, where its record line gives 7,200"),
        ("segment line", r"t_0.hea: segment of 1,800 samples, where .*t.hea gives it 2,000"),
    ],
)
def test_a_segment_that_disagrees_with_the_master_header_is_one_line_naming_it(tmp_path, ecg, case, message):
    """wfdb's own errors were 'operands could not be broadcast together', 'True is not in list' and 'sampto
    must be shorter than the signal length', naming no file."""
    half = len(ecg) // 2
    _segment(tmp_path, "t_0", ecg[:half])
    _segment(tmp_path, "t_1", ecg[half:])
    segments, length = [("t_0", half), ("t_1", len(ecg) - half)], None
    if case == "truncated":
        dat = tmp_path / "t_1.dat"
        dat.write_bytes(dat.read_bytes()[:1000])
    elif case == "missing":
        (tmp_path / "t_1.hea").unlink()
    elif case == "record line":
        length = 2 * len(ecg)
    else:
        segments[0] = ("t_0", 2000)
        length = len(ecg)
    with pytest.raises(DataError, match=message):
        read_input(_master(tmp_path, "t", segments, length))


def _uncalibrated(tmp_path: Path, gain_field: str, counts_per_mv: float, ecg: np.ndarray) -> Path:
    """A record of a recorder's counts (``counts_per_mv`` per mV, baseline 0) whose header gives the lead
    ``gain_field`` for its gain ("0" or "" for none)."""
    counts = np.round(ecg * counts_per_mv).astype("<i2")
    (tmp_path / "u.dat").write_bytes(counts.tobytes())
    spec = f"u.dat 16 {gain_field} 16 0 0 0 0 ECG" if gain_field else "u.dat 16"
    (tmp_path / "u.hea").write_text(f"u 1 {FS} {len(ecg)}\n{spec}\n")
    return tmp_path / "u.hea"


@pytest.mark.parametrize("gain_field", ["0", "0(0)/mV", ""])
def test_an_uncalibrated_lead_is_read_in_adc_units_not_as_millivolts(tmp_path, ecg, gain_field):
    """A gain of 0 or none marks an uncalibrated signal (WFDB's header format); wfdb reads it at 200 adu per
    mV, so a recorder's 1000 counts per mV came in as millivolts five times too tall, its unit never
    questioned. It is read in counts, its unit left to the size of its beats or to ``--units``."""
    hea = _uncalibrated(tmp_path, gain_field, 1000.0, ecg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_input(hea)
    assert not data.millivolts
    assert np.abs(data.signal - np.round(ecg * 1000)).max() < 1e-9
    said = [str(w.message) for w in caught if "uncalibrated" in str(w.message)]
    assert len(said) == 1 and "u.hea" in said[0] and "--units" in said[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given = read_input(hea, units=1000.0)
    assert given.millivolts and np.abs(given.signal - ecg).max() < 0.001


def test_a_calibrated_lead_is_read_in_millivolts_without_a_word(tmp_path, ecg):
    hea = _uncalibrated(tmp_path, "1000(0)/mV", 1000.0, ecg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = read_input(hea)
    assert data.millivolts and np.abs(data.signal - ecg).max() < 0.001


@pytest.fixture
def edf_file(tmp_path) -> Path:
    from datetime import datetime

    from conftest import write_edf_holter

    path = tmp_path / "holter.edf"
    write_edf_holter(path, datetime(2026, 11, 28, 9, 0, 0), [(5.0, "button")], seconds=20)
    return path


def test_an_edf_file_cut_short_is_one_line_and_prints_nothing(edf_file, capfd):
    """A Holter export that stopped half-way: pyedflib said only that the file is not compliant ('Filesize'),
    naming the file twice, and printed 'filesize 47651 != 1554*60+1024' on stdout, without a newline."""
    data = edf_file.read_bytes()
    edf_file.write_bytes(data[: len(data) // 2])
    capfd.readouterr()
    with pytest.raises(DataError, match=r"holter.edf: EDF file cut short \([\d,]+ bytes, where its header's \d+ data"):
        read_input(edf_file)
    assert capfd.readouterr().out == ""


def test_an_edf_file_with_bytes_past_its_last_record_is_read(edf_file):
    edf_file.write_bytes(edf_file.read_bytes() + bytes(100))
    assert read_input(edf_file).fs == 256


def test_an_edf_file_of_no_data_records_says_so(edf_file):
    header_bytes = int(edf_file.read_bytes()[184:192])
    head = bytearray(edf_file.read_bytes()[:header_bytes])
    head[236:244] = b"0       "
    edf_file.write_bytes(bytes(head))
    with pytest.raises(DataError, match=r"holter.edf: EDF file holds no samples \(its header counts 0 data records\)"):
        read_input(edf_file)


def _discontinuous(path: Path, gap_s: float, after: int) -> None:
    """``path`` (an EDF+C/BDF+C file of 1-s data records) made EDF+D/BDF+D: every record from ``after`` on
    starts ``gap_s`` later, as a Holter writes a recording with a pause."""
    import re

    data = bytearray(path.read_bytes())
    header_bytes, n_records, ns = int(data[184:192]), int(data[236:244]), int(data[252:256])
    labels = [data[256 + 16 * i : 272 + 16 * i].decode().strip() for i in range(ns)]
    per_record = [int(data[256 + 216 * ns + 8 * i : 264 + 216 * ns + 8 * i]) for i in range(ns)]
    width = 3 if data[:1] == b"\xff" else 2
    annotation = next(i for i, label in enumerate(labels) if label.endswith("Annotations"))
    start, length = sum(per_record[:annotation]) * width, per_record[annotation] * width
    data[192:197] = (b"BDF" if width == 3 else b"EDF") + b"+D"
    for k in range(after, n_records):
        at = header_bytes + k * sum(per_record) * width + start
        tal = bytes(data[at : at + length])
        onset = re.match(rb"\+(\d+(?:\.\d*)?)\x14", tal)
        moved = f"+{float(onset.group(1)) + gap_s:g}".encode() + tal[onset.end(1) :]
        data[at : at + length] = moved[:length].ljust(length, b"\x00")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["edf", "bdf"])
def test_a_discontinuous_edf_plus_file_is_read_with_its_gaps_missing(tmp_path, ecg, kind):
    """EDF+D, as a Holter writes a recording with pauses: pyedflib cannot open it ('The file is discontinuous
    and cannot be read'). Each data record is placed at the time it gives, the gap between them missing."""
    import pyedflib
    from pyedflib import highlevel

    path = tmp_path / f"holter.{kind}"
    header = highlevel.make_header()
    header["annotations"] = [[2.5, -1, "button"]]
    digital = (-8388608, 8388607) if kind == "bdf" else (-32768, 32767)
    signals = [
        highlevel.make_signal_header(
            name,
            dimension="uV",
            sample_frequency=FS,
            physical_min=-5000,
            physical_max=5000,
            digital_min=digital[0],
            digital_max=digital[1],
        )  # fmt: skip
        for name in ("ECG V5", "ECG MLII")
    ]
    file_type = pyedflib.FILETYPE_BDFPLUS if kind == "bdf" else pyedflib.FILETYPE_EDFPLUS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyedflib's own notes on the signals' order in memory
        highlevel.write_edf(str(path), [500 * ecg, 1000 * ecg], signals, header, file_type=file_type)
    whole = read_input(path)
    _discontinuous(path, gap_s=4.0, after=5)
    with pytest.warns(UserWarning, match=rf"holter.{kind}: {kind.upper()}\+D: 1 gap\(s\) .*\(4.0 s in all\)"):
        data = read_input(path)
    assert data.fs == FS and data.lead == "ECG MLII" and data.millivolts and data.start == whole.start
    assert len(data.signal) == len(ecg) + 4 * FS
    assert np.isnan(data.signal[5 * FS : 9 * FS]).all()
    assert np.allclose(data.signal[: 5 * FS], whole.signal[: 5 * FS])
    assert np.allclose(data.signal[9 * FS :], whole.signal[5 * FS :])
    assert data.events == ((2.5, "button"),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read_input(path, lead="ECG V5").lead == "ECG V5"


def test_a_numpy_array_of_records_is_read_by_its_field_names(tmp_path, ecg):
    """A structured array (pandas' ``to_records``, a device SDK's dump) names its leads in its fields; it was
    refused as 'expected a numeric (n_samples,) or (n_samples, n_leads) array, got (3600, 1)'."""
    path = tmp_path / "leads.npy"
    np.save(path, np.rec.fromarrays([0.5 * ecg, ecg], names="V5,MLII"))
    data = read_input(path, fs=FS)
    assert data.lead == "MLII" and np.array_equal(data.signal, ecg) and data.fs == FS
    assert read_input(path, fs=FS, lead="V5").lead == "V5"
    np.save(path, np.rec.fromarrays([ecg, np.array(["x"] * len(ecg))], names="ECG,note"))
    with pytest.raises(DataError, match=r"leads.npy: field 'note' of the array holds <U1 values, not one number"):
        read_input(path, fs=FS)


@pytest.mark.parametrize("time_unit", ["seconds", "hh:mm:ss.mmm"])
def test_a_physionet_csv_export_with_its_unit_row_is_read(tmp_path, ecg, time_unit):
    """PhysioNet's CSV exports (rdsamp -c -v, the ATM's samples.csv) quote their names in single quotes and
    put a row of units under them: 'Elapsed time','MLII','V5' / 'seconds','mV','mV'. Their second row was
    read as a sample: 'row 2, column 1: not a finite number'."""
    t = np.arange(len(ecg)) / FS

    def when(s: float) -> str:
        return f"{s:.3f}" if time_unit == "seconds" else f"'{int(s // 3600)}:{int(s % 3600 // 60):02d}:{s % 60:06.3f}'"

    rows = [f"{when(s)},{0.5 * x:.3f},{x:.3f}" for s, x in zip(t, ecg)]
    path = tmp_path / "samples.csv"
    path.write_text(f"'Elapsed time','V5','MLII'\n'{time_unit}','mV','mV'\n" + "\n".join(rows) + "\n")
    data = read_input(path)
    assert data.fs == FS and data.lead == "MLII" and data.millivolts
    assert np.abs(data.signal - ecg).max() < 0.001
    assert read_input(path, lead="V5").lead == "V5"


def test_a_unit_row_in_microvolts_reads_the_signal_in_millivolts(tmp_path, ecg):
    rows = [f"{i / FS:.5f},{x * 1000:.1f}" for i, x in enumerate(ecg)]
    path = tmp_path / "uv.csv"
    path.write_text("time,ECG\ns,uV\n" + "\n".join(rows) + "\n")
    data = read_input(path)
    assert data.fs == FS and data.millivolts and np.abs(data.signal - ecg).max() < 0.001


def test_a_wfdb_header_without_a_rate_takes_the_one_given_or_says_it_is_guessed(tmp_path, ecg):
    """The record line's rate is optional: wfdb reads such a header at 250 Hz. A 360 Hz recorder's record came
    in at 250 Hz without a word, and --fs 360 was 'left aside: its header gives 250 Hz'."""
    (tmp_path / "n.dat").write_bytes(np.round(ecg * 200).astype("<i2").tobytes())
    (tmp_path / "n.hea").write_text("n 1\nn.dat 16 200/mV 16 0 0 0 0 ECG\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        given = read_input(tmp_path / "n.hea", fs=FS)
    assert given.fs == FS and len(given.signal) == len(ecg)
    assert not [w for w in caught if "n.hea" in str(w.message) or "left aside" in str(w.message)]
    with pytest.warns(UserWarning, match=r"n.hea: the header gives no sampling rate: read at WFDB's default of 250"):
        assert read_input(tmp_path / "n.hea").fs == 250


def test_an_unused_channel_that_reads_its_adcs_noise_gives_way_to_the_ecg(tmp_path, ecg):
    """A Holter's unused first channel reads a few ADC steps of noise, not exact zeros: it was taken for the
    lead, its noise read as 39 beats of a recording all noise, and 'flat-topped (clipped or saturated) at
    +0.01 mV' said of it."""
    import wfdb

    noise = np.random.default_rng(0).integers(-2, 3, len(ecg))
    counts = np.column_stack([noise, np.round(ecg * 200)]).astype(int)
    wfdb.wrsamp(
        "h", fs=FS, units=["mV", "mV"], sig_name=["ECG1", "ECG2"], d_signal=counts, fmt=["16", "16"],
        adc_gain=[200, 200], baseline=[0, 0], write_dir=str(tmp_path),
    )  # fmt: skip
    with pytest.warns(UserWarning, match=r"h.hea: lead ECG1 holds no ECG \(it holds only 5 values, -0.01 to 0.01"):
        data = read_input(tmp_path / "h")
    assert data.lead == "ECG2" and np.abs(data.signal - ecg).max() < 0.01
    assert read_input(tmp_path / "h", lead="ECG1").lead == "ECG1"  # asked for by name, it is read


@pytest.mark.parametrize(("name", "per_mv"), [("ECG (uV)", 1000.0), ("II [mV]", 1.0), ("ecg_uV", 1000.0)])
def test_a_unit_in_the_column_name_reads_the_lead_in_millivolts(tmp_path, ecg, name, per_mv):
    """Monitors name the unit in the column ('ECG (uV)'): it was left unread and the unit guessed from the
    size of the beats, which a lead of small beats can mislead."""
    path = tmp_path / "named.csv"
    path.write_text(f"time,{name}\n" + "\n".join(f"{i / FS:.5f},{x * per_mv:.3f}" for i, x in enumerate(ecg)) + "\n")
    data = read_input(path)
    assert data.millivolts and data.lead == name and np.abs(data.signal - ecg).max() < 0.001


def test_a_chest_lead_named_v_is_no_unit(tmp_path, ecg):
    path = tmp_path / "chest.csv"
    path.write_text("time,ECG_V\n" + "\n".join(f"{i / FS:.5f},{x:.3f}" for i, x in enumerate(ecg)) + "\n")
    assert not read_input(path).millivolts


def test_an_edf_plus_d_file_whose_records_overlap_is_one_line(edf_file):
    _discontinuous(edf_file, gap_s=-0.5, after=5)  # record 6 starts half a second before record 5 ends
    with pytest.raises(DataError, match=r"holter.edf: data record 6 of this EDF\+D file starts before the one before"):
        read_input(edf_file)


def test_a_segment_header_without_a_length_is_measured_by_its_signal_file(tmp_path, ecg):
    """A segment's record line may leave its length out (wfdb reads it off the signal file): it read right,
    but one shorter than the master header says raised 'unsupported format string passed to NoneType'."""
    half = len(ecg) // 2
    _segment(tmp_path, "s_0", ecg[:half])
    _segment(tmp_path, "s_1", ecg[half:])
    hea = tmp_path / "s_0.hea"
    lines = hea.read_text().splitlines()
    hea.write_text("\n".join([" ".join(lines[0].split()[:3]), *lines[1:]]) + "\n")
    data = read_input(_master(tmp_path, "s", [("s_0", half), ("s_1", len(ecg) - half)]))
    assert np.abs(data.signal - ecg).max() < 0.01
    with pytest.raises(DataError, match=r"s_0.hea: segment of 1,800 samples, where .*s.hea gives it 1,900"):
        read_input(_master(tmp_path, "s", [("s_0", half + 100), ("s_1", len(ecg) - half)]))


def _frames_record(directory: Path, name: str, ecg: np.ndarray, per_frame: int = 4) -> Path:
    """A record of 125 Hz frames holding ``per_frame`` samples of ``ecg`` (so at 125 x per_frame Hz; lead II)
    and one of a respiration signal, as some Holter and MIMIC records store an ECG beside slower signals."""
    import wfdb

    n_frames = len(ecg) // per_frame
    resp = np.sin(2 * np.pi * 0.25 * np.arange(n_frames) / 125.0)
    wfdb.wrsamp(
        name,
        fs=125,
        units=["mV", "mV"],
        sig_name=["RESP", "II"],
        e_p_signal=[resp, ecg[: n_frames * per_frame]],
        samps_per_frame=[1, per_frame],
        fmt=["16", "16"],
        adc_gain=[1000.0, 1000.0],
        baseline=[0, 0],
        write_dir=str(directory),
    )
    return directory / f"{name}.hea"


def test_an_ecg_at_several_samples_per_frame_is_read_at_its_own_rate(tmp_path):
    """A 500 Hz ECG stored 4 to each 125 Hz frame: wfdb's default averages each frame's samples, which read it
    as a 125 Hz lead, its QRS smoothed (and every time a quarter of what it is). It is read at 500 Hz, each
    sample as stored; the slower signal beside it at its 125 Hz."""
    ecg = synthetic_ecg(duration_s=20, fs=500, seed=4).signal
    hea = _frames_record(tmp_path, "f", ecg)
    data = read_input(hea)
    assert data.lead == "II" and data.fs == 500 and len(data.signal) == len(ecg)
    assert np.abs(data.signal - ecg).max() < 0.001  # each sample as stored (to the ADC's 1 uV step)
    resp = read_input(hea, lead="RESP")
    assert resp.fs == 125 and len(resp.signal) == len(ecg) // 4


def test_annotations_of_a_record_in_frames_count_the_ecgs_own_samples(tmp_path):
    """WFDB counts annotations in frames: a beat at frame 125 of a 125 Hz-frame record is at 1 s, sample 500
    of its 500 Hz ECG. The beats are cut at the ECG's samples, not a quarter of the way in."""
    import wfdb

    from arrhythmia.data.wfdb_source import load_record_beats, read_annotations

    ecg = synthetic_ecg(duration_s=20, fs=500, seed=4)
    _frames_record(tmp_path, "f", ecg.signal)
    frames = np.round(ecg.r_peaks / 4).astype(np.int64)
    wfdb.wrann("f", "atr", frames, np.full(len(frames), "N"), write_dir=str(tmp_path))
    samples = read_annotations(tmp_path / "f")[0]
    assert np.array_equal(samples, frames * 4)
    assert np.array_equal(read_annotations(tmp_path / "f", fs=125.0)[0], frames)  # the RESP signal's samples
    beats = load_record_beats(tmp_path / "f").beats
    assert len(beats.sample) >= len(frames) - 2
    assert np.abs(beats.sample[:, None] - ecg.r_peaks[None, :]).min(axis=1).max() <= 10  # on an R wave


def test_a_lead_in_frames_is_scored_against_annotations_counted_at_its_own_rate(tmp_path):
    """Lead II stored 4 to a 125 Hz frame, lead I one: ``score --lead I`` reads I at 125 Hz, and its reference
    beats must count I's samples (the frames), not II's (four times as many: past the end of I)."""
    import wfdb

    from arrhythmia.inference import Classifier
    from arrhythmia.scoring import score_recording

    ecg = synthetic_ecg(duration_s=30, fs=500, seed=4)
    n_frames = len(ecg.signal) // 4
    wfdb.wrsamp(
        "f",
        fs=125,
        units=["mV", "mV"],
        sig_name=["I", "II"],
        e_p_signal=[ecg.signal[: n_frames * 4 : 4], ecg.signal[: n_frames * 4]],
        samps_per_frame=[1, 4],
        fmt=["16", "16"],
        adc_gain=[1000.0, 1000.0],
        baseline=[0, 0],
        write_dir=str(tmp_path),
    )
    frames = np.round(ecg.r_peaks / 4).astype(np.int64)
    frames = frames[frames < n_frames]
    wfdb.wrann("f", "atr", frames, np.full(len(frames), "N"), write_dir=str(tmp_path))
    scored = score_recording(tmp_path / "f", Classifier.from_pretrained(device="cpu"), lead="I")
    assert scored.fs == 125.0 and scored.lead == "I"
    assert scored.n_reference == len(frames) and len(scored.y_true) >= len(frames) - 2  # every beat paired


def test_a_record_in_frames_cut_short_is_one_line(tmp_path):
    """The signal file's length counts each frame's samples (1 + 4 here): one cut short is said by its bytes."""
    hea = _frames_record(tmp_path, "f", synthetic_ecg(duration_s=20, fs=500, seed=4).signal)
    dat = tmp_path / "f.dat"
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size * 3 // 4])
    with pytest.raises(DataError, match=r"f\.dat: signal file is truncated"):
        read_input(hea)


def test_a_multi_segment_record_in_frames_is_read_at_the_leads_own_rate(tmp_path):
    """Segments of 125 Hz frames holding the ECG 4 to a frame, and a gap of 500 frames between them: the lead
    at 500 Hz, the gap 2,000 of its samples missing."""
    ecg = synthetic_ecg(duration_s=16, fs=500, seed=4).signal
    _frames_record(tmp_path, "s0", ecg[:4000])
    _frames_record(tmp_path, "s1", ecg[4000:])
    (tmp_path / "m.hea").write_text("m/3 2 125 2500\ns0 1000\n~ 500\ns1 1000\n")
    data = read_input(tmp_path / "m")
    assert data.fs == 500 and len(data.signal) == 10_000 and np.isnan(data.signal).sum() == 2000
    assert np.abs(data.signal[:4000] - ecg[:4000]).max() < 0.001
    assert np.abs(data.signal[6000:] - ecg[4000:]).max() < 0.001
