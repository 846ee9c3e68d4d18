"""Helpers the benchmark scripts share (they import it as a sibling module: run them as scripts)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from arrhythmia.data.recording import Recording, read_input
from arrhythmia.data.wfdb_source import read_beat_annotations, record_names
from arrhythmia.export import ENGINES, load_classifier
from arrhythmia.files import read_json


def in_fresh_process(function, *args):
    """``function(*args)`` in a new interpreter (spawned, not forked), so its threads and peak memory are
    its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def load_engines(run: Path | None, shipped: str | None = None) -> dict:
    """Both engines of one model, on the CPU: ``{"torch": Classifier, "onnx": OnnxClassifier}`` of the run
    directory ``run``, else of the shipped model ``shipped`` (default: the default one)."""
    return {engine: load_classifier(run, engine, shipped, device="cpu") for engine in ENGINES}


def long_recording(
    data: Path, hours: float, noise: tuple[str, float] | None = None, rate_hz: float | None = None
) -> Recording:
    """An ``hours``-long signal: the records of the WFDB database ``data`` (each its MLII lead, as
    ``read_input`` picks) concatenated in ``record_names`` order, from the first again if needed
    (MIT-BIH's 48 records of 30 min give 24 h). signal: (hours * 3600 * fs,) float64, mV. ``noise``:
    ``(kind, snr_db)`` of ``noisy_signal``, added to each record as it is read (SNR from its own beats).
    ``rate_hz``: each record resampled to that rate as it is read (``resampled``; a device's rate).

    Filled record by record into one array, so that building it holds the signal and one record, not
    the signal twice: the benchmarks' peak memory is predict's, not this builder's."""
    names = record_names(data)

    def read(count: int) -> np.ndarray:
        name = names[count % len(names)]
        part = read_input(data / name)
        if noise is not None:
            beats = read_beat_annotations(data / name)[0]
            noisy = noisy_signal(part.signal, part.fs, beats, *noise, seed=record_seed(name) + count)
            part = replace(part, signal=noisy)
        return part.signal if rate_hz is None else resampled(part, rate_hz)[0].signal

    fs = float(rate_hz) if rate_hz else read_input(data / names[0]).fs
    signal = np.empty(int(hours * 3600 * fs), dtype=np.float64)
    filled, count = 0, 0
    while filled < len(signal):
        part = read(count)
        take = min(len(part), len(signal) - filled)
        signal[filled : filled + take] = part[:take]
        filled += take
        count += 1
    return Recording(signal, fs, "MLII", Path("concatenated"))


def resampled(recording: Recording, rate_hz: float) -> tuple[Recording, float]:
    """``recording`` resampled to ``rate_hz`` (polyphase, as a device recording at that rate would give it)
    and the ratio of the new rate to the old, by which its sample numbers scale."""
    from scipy.signal import resample_poly

    ratio = Fraction(rate_hz).limit_denominator(1000) / Fraction(recording.fs).limit_denominator(1000)
    signal = resample_poly(recording.signal, ratio.numerator, ratio.denominator)
    return replace(recording, signal=signal, fs=float(rate_hz)), float(ratio)


#: Where each kind of synthetic noise lies, Hz: electrode motion (slow, in bursts), muscle (broadband,
#: throughout) and muscle in bursts (a patient who moves now and then).
NOISE_BANDS_HZ = {"motion": (1.0, 10.0), "muscle": (10.0, 100.0), "burst": (10.0, 100.0)}
#: The kinds whose amplitude follows a slowly varying envelope, off about half of the time.
IN_BURSTS = ("motion", "burst")


def noise_variant(variant: str) -> tuple[str, float]:
    """``("motion", 12.0)`` for ``"motion12"``; a ValueError for a variant that is no known one."""
    kind = variant.rstrip("0123456789")
    if kind not in NOISE_BANDS_HZ or kind == variant:
        raise ValueError(f"unknown noise {variant!r} (motionDB, muscleDB or burstDB, e.g. motion12)")
    return kind, float(variant[len(kind) :])


def noisy_signal(signal: np.ndarray, fs: float, beats: np.ndarray, kind: str, snr_db: float, seed: int) -> np.ndarray:
    """``signal`` (n,) mV with synthetic noise of ``kind`` added at ``snr_db``, as the MIT-BIH Noise Stress
    Test Database measures it: signal power (QRS peak-to-peak amplitude)^2 / 8, the median over the
    reference ``beats`` (samples), over the noise's mean square. ``motion``: noise band-limited to 1-10 Hz,
    the band of the QRS complex itself, in bursts (its amplitude follows a slowly varying envelope, as an
    electrode that moves does now and then); ``muscle``: noise band-limited to 10-100 Hz throughout;
    ``burst``: the same muscle noise in motion's bursts (the SNR is that of the whole noise). Neither is
    the recorded noise of that database (not in ../shared): a stand-in with the same SNR convention."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(seed)
    low, high = NOISE_BANDS_HZ[kind]
    band = butter(4, [low, min(high, 0.45 * fs)], btype="band", fs=fs, output="sos")
    noise = sosfiltfilt(band, rng.standard_normal(len(signal)))
    if kind in IN_BURSTS:
        envelope = sosfiltfilt(butter(2, 0.05, fs=fs, output="sos"), rng.standard_normal(len(signal)))
        noise *= np.clip(envelope / envelope.std(), 0.0, None)
    half = round(0.05 * fs)
    p2p = np.median([np.ptp(signal[max(b - half, 0) : b + half + 1]) for b in beats])
    noise *= np.sqrt(p2p**2 / 8 / 10 ** (snr_db / 10)) / noise.std()
    return signal + noise


def with_noise(recording: Recording, beats: np.ndarray, variant: str, name: str) -> Recording:
    """``recording`` with the synthetic noise of a noise ``variant`` (``noise_variant``: ``motion12``) added
    (``noisy_signal``, its SNR from the reference ``beats``, (m,) samples), seeded by the record ``name``."""
    kind, snr_db = noise_variant(variant)
    noisy = noisy_signal(recording.signal, recording.fs, beats, kind, snr_db, seed=record_seed(name))
    return replace(recording, signal=noisy)


def record_list(spec: str, data: Path, paced: bool = False) -> list[str]:
    """The records ``--records`` names: ``ds1``, ``ds2``, ``all`` (the database's records, the paced ones only
    with ``paced``: no AAMI beat figure is asked of them), or comma-separated record names."""
    from arrhythmia.data.splits import DS1, DS2, PACED

    sets = {"ds1": DS1, "ds2": DS2, "all": [r for r in record_names(data) if paced or r not in PACED]}
    return list(sets[spec]) if spec in sets else [r.strip() for r in spec.split(",") if r.strip()]


def record_seed(name: str) -> int:
    """A reproducible seed for one record's synthetic noise: its number, or a checksum of its name."""
    import zlib

    return int(name) if name.isdigit() else zlib.crc32(name.encode())


def fold_models(folds: Path) -> dict[str, Path]:
    """``{record: fold directory}``: the fold model that held each record out, in an ``arrhythmia crossval``
    directory (each fold's ``test_records``; ``benchmarks/adaptive.py --cv`` makes them so too)."""
    held_out = {}
    for fold in sorted(folds.glob("fold-*")):
        if (fold / "config.json").is_file():
            held_out.update(dict.fromkeys(read_json(fold / "config.json", "fold config").get("test_records", []), fold))
    if not held_out:
        raise SystemExit(f"--folds {folds}: no fold-* with test records there (made by arrhythmia crossval)")
    return held_out
