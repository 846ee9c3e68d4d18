"""Shared fixtures: an isolated cache per test, small WFDB databases and Heartbeat CSVs made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from arrhythmia.data import AAMI_CLASSES, BeatSet, get_window
from arrhythmia.data.splits import DS1, DS2, PACED
from arrhythmia.data.synthetic import synthetic_ecg

REPO = Path(__file__).resolve().parents[1]
MITDB = Path(os.environ.get("ARRHYTHMIA_MITDB", REPO.parent / "shared" / "data" / "mitdb"))
needs_mitdb = pytest.mark.skipif(
    not (MITDB / "RECORDS").is_file(),
    reason=f"MIT-BIH database not found at {MITDB} (set ARRHYTHMIA_MITDB to a local copy)",
)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    """Each test gets its own beat cache and data directory, so no test sees another's files."""
    monkeypatch.setenv("ARRHYTHMIA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("ARRHYTHMIA_DATA_DIR", str(tmp_path_factory.mktemp("data")))


def write_edf_holter(path: Path, start, events: list[tuple[float, str]], seconds: float = 90.0, seed: int = 0) -> None:
    """An EDF+ Holter file: one synthetic ECG lead at 256 Hz in µV, starting at ``start`` (a datetime), with
    ``events`` (seconds from the start, text) as its annotations, as an event button or a diary marks them."""
    from pyedflib import highlevel

    ecg_uv = synthetic_ecg(duration_s=seconds, fs=256, seed=seed).signal * 1000.0
    header = highlevel.make_header(startdate=start)
    header["annotations"] = [[onset, -1, text] for onset, text in events]
    signal = highlevel.make_signal_header(
        "ECG", dimension="uV", sample_frequency=256, physical_min=-5000, physical_max=5000
    )
    highlevel.write_edf(str(path), [ecg_uv], [signal], header)


def write_wfdb_record(directory: Path, name: str, seconds: float = 60.0, seed: int = 0, fs: float = 360.0):
    """A two-lead WFDB record (MLII + V5, format 212) with beat and non-beat `atr` annotations."""
    import wfdb

    rec = synthetic_ecg(duration_s=seconds, fs=fs, seed=seed)
    signal = np.column_stack([rec.signal, 0.5 * rec.signal])
    wfdb.wrsamp(
        name,
        fs=int(fs),
        units=["mV", "mV"],
        sig_name=["MLII", "V5"],
        p_signal=signal,
        fmt=["212", "212"],
        adc_gain=[200, 200],
        baseline=[1024, 1024],
        write_dir=str(directory),
    )
    symbols = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "/"}
    samples = np.concatenate([[5], rec.r_peaks])
    ann_symbols = ["+"] + [symbols[c] for c in rec.labels]  # a rhythm annotation first, as in MIT-BIH
    wfdb.wrann(
        name,
        "atr",
        samples,
        symbol=ann_symbols,
        aux_note=["(N"] + [""] * len(rec.r_peaks),
        write_dir=str(directory),
    )
    return rec


def write_multisegment_record(directory: Path, name: str, x: np.ndarray, gap: int = 360) -> int:
    """A MIMIC-style multi-segment WFDB record of ``x`` ((n,) mV at 360 Hz): a master header, a layout
    segment (leads II and V5), a first segment with both leads, a ``~`` gap of ``gap`` samples and a second
    segment with lead II alone. Returns where the gap starts."""
    import wfdb

    half = len(x) // 2
    both = np.column_stack([-x[:half], x[:half]])
    for segment, signal, leads in ((f"{name}_0", both, ["V5", "II"]), (f"{name}_1", x[half:, None], ["II"])):
        wfdb.wrsamp(
            segment, fs=360, units=["mV"] * len(leads), sig_name=leads, p_signal=signal, fmt=["16"] * len(leads),
            write_dir=str(directory),
        )  # fmt: skip
    (directory / f"{name}_layout.hea").write_text(
        f"{name}_layout 2 360 0\n~ 0 200/mV 16 0 0 0 0 II\n~ 0 200/mV 16 0 0 0 0 V5\n"
    )
    (directory / f"{name}.hea").write_text(
        f"{name}/4 2 360 {len(x) + gap}\n{name}_layout 0\n{name}_0 {half}\n~ {gap}\n{name}_1 {len(x) - half}\n"
    )
    return half


def write_wfdb_database(directory: Path, n_records: int = 3) -> Path:
    """``directory`` holding a WFDB database of ``n_records`` synthetic records (``r01``, ``r02``, ...; record
    ``k`` drawn with seed ``k``) and its RECORDS file."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"r{i + 1:02d}" for i in range(n_records)]
    for i, name in enumerate(names):
        write_wfdb_record(directory, name, seed=i)
    (directory / "RECORDS").write_text("".join(f"{name}\n" for name in names))
    return directory


@pytest.fixture
def wfdb_db(tmp_path) -> Path:
    """A 3-record WFDB database with a RECORDS file."""
    return write_wfdb_database(tmp_path / "db")


def write_heartbeat_csvs(directory: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """Small Heartbeat-format CSVs: 187 values in [0, 1] + a label per row, all five classes."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name, n, n_classes in (
        ("mitbih_train.csv", n_train, 5),
        ("mitbih_test.csv", n_test, 5),
        ("ptbdb_normal.csv", n_test, 1),
        ("ptbdb_abnormal.csv", n_test, 1),
    ):
        X = rng.random((n, 187))
        y = np.arange(n) % n_classes if n_classes > 1 else np.full(n, 0 if "normal" in name[6:12] else 1)
        if name == "ptbdb_abnormal.csv":
            y = np.ones(n)
        np.savetxt(directory / name, np.column_stack([X, y]), delimiter=",", fmt="%.6e")
    return directory


@pytest.fixture
def heartbeat_dir(tmp_path) -> Path:
    return write_heartbeat_csvs(tmp_path / "heartbeat")


def beats_of_records(records: list[str], per_record: int, source: str) -> BeatSet:
    """``per_record`` random 187-sample beats of each of ``records`` (from ``source``), each record holding
    every AAMI class."""
    n = per_record * len(records)
    rng = np.random.default_rng(0)
    return BeatSet(
        X=rng.random((n, 187), dtype=np.float32),
        y=np.tile(np.arange(per_record) % 5, len(records)),
        classes=AAMI_CLASSES,
        record=np.repeat(records, per_record),
        sample=np.arange(n),
        symbol=np.full(n, "N"),
        source=source,
    )


def _fake_mitdb_beats(per_record: int = 40) -> BeatSet:
    """Beats labelled with MIT-BIH record ids, each record holding every class."""
    return beats_of_records(list(DS1) + list(DS2) + list(PACED), per_record, "mitdb")


def irregular_ecg(p_waves: bool, seed: int = 0, fs: float = 250.0, n_beats: int = 200):
    """An ECG with irregular RR (0.5-1.1 s) and Gaussian QRS complexes; each beat has its P wave 160 ms
    before the R peak, or (``p_waves=False``) the atria fibrillate (4-9 Hz waves of 0.05-0.1 mV) instead."""
    rng = np.random.default_rng(seed)
    peaks_s = 1.0 + np.concatenate([[0.0], np.cumsum(rng.uniform(0.5, 1.1, n_beats - 1))])
    time = np.arange(int((peaks_s[-1] + 1.0) * fs)) / fs
    signal = 0.01 * rng.standard_normal(len(time))
    for r in peaks_s:
        signal += 1.0 * np.exp(-0.5 * ((time - r) / 0.012) ** 2)
        if p_waves:
            signal += 0.15 * np.exp(-0.5 * ((time - r + 0.16) / 0.025) ** 2)
    if not p_waves:
        for _ in range(6):
            f, a = rng.uniform(4, 9), rng.uniform(0.02, 0.04)
            signal += a * np.sin(2 * np.pi * (f * time + 0.3 * np.sin(2 * np.pi * 0.2 * time)) + rng.uniform(0, 6))
    return signal, fs, np.round(peaks_s * fs).astype(np.int64)


def flutter_ecg(seed: int = 0, fs: float = 250.0, seconds: float = 180.0, atrial_hz: float = 5.0):
    """Atrial flutter: sawtooth flutter waves at ``atrial_hz`` (0.15 mV) and a QRS after every second to
    fourth of them at random, 0.12-0.28 s after its wave (variable conduction; RR 0.4-0.8 s at 5 Hz);
    the R peaks are returned too."""
    from scipy.signal import sawtooth

    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * fs)) / fs
    signal = 0.01 * rng.standard_normal(len(time)) + 0.075 * sawtooth(2 * np.pi * atrial_hz * time, 0.2)
    cycle = 1.0 / atrial_hz
    peaks_s, wave = [], 1.0
    while wave < seconds - 1.5:
        peaks_s.append(wave + rng.uniform(0.12, 0.28))
        wave += cycle * rng.integers(2, 5)
    for r in peaks_s:
        signal += 1.0 * np.exp(-0.5 * ((time - r) / 0.012) ** 2) + 0.2 * np.exp(-0.5 * ((time - r - 0.3) / 0.05) ** 2)
    return signal, fs, np.round(np.array(peaks_s) * fs).astype(np.int64)


def always_model(label: str = "N"):
    """A stand-in model that calls every beat ``label`` (AAMI classes, centred windows, no context)."""
    from types import SimpleNamespace

    probs = np.eye(len(AAMI_CLASSES), dtype=np.float32)[AAMI_CLASSES.index(label)] * 0.9 + 0.02
    return SimpleNamespace(
        classes=tuple(AAMI_CLASSES),
        window=get_window("centred"),
        takes_context=False,
        model_name="stand-in",
        predict_proba=lambda X, context=None: np.tile(probs, (len(X), 1)),
    )


def measured_in_chromium(page_file: Path, width: int, media: str, script: str):
    """What the JavaScript ``script`` (a function of no arguments) returns on ``page_file`` opened in Debian's
    headless Chromium at ``width`` CSS px (900 high) for ``media`` (``screen`` or ``print``); skips without
    Playwright or Chromium."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.emulate_media(media=media)
            page.goto(Path(page_file).resolve().as_uri())
            return page.evaluate(script)
        finally:
            browser.close()


def render_holter_report(beats, episodes, duration_s: float, tmp_path: Path, fs: float = 250.0, families=None) -> str:
    """The Holter report's HTML (no figures) of a beats.csv table ``beats`` (``time_s``, ``label``, ...) and an
    episodes.csv table ``episodes`` in a recording of ``duration_s`` s at ``fs`` Hz, its files saved under
    ``tmp_path / "out"`` as predict saves them."""
    from dataclasses import asdict

    from arrhythmia.data.recording import Recording
    from arrhythmia.episodes import EpisodeConfig
    from arrhythmia.hourly import hourly_table, recording_hrv
    from arrhythmia.predict import RecordingLabels, save_recording
    from arrhythmia.recording_report import render_recording_report

    times, labels = beats["time_s"].to_numpy(), beats["label"].astype(str).to_numpy()
    recording = Recording(np.zeros(int(duration_s * fs), dtype=np.float32), fs, "MLII", tmp_path / "rec.csv")
    result = RecordingLabels(
        beats=beats,
        episodes=episodes,
        hourly=hourly_table(times, labels, duration_s, episodes),
        hrv=recording_hrv(times, labels, episodes),
        recording=recording,
        episode_settings=asdict(EpisodeConfig()),
        families=families,
    )
    summary = save_recording(result, tmp_path / "out", {"model": "none"}, AAMI_CLASSES)
    return render_recording_report(recording, result, summary, {})
