"""Helpers the benchmark scripts share (they import it as a sibling module: run them as scripts)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from arrhythmia.data.recording import Recording, read_input
from arrhythmia.data.wfdb_source import record_names
from arrhythmia.export import ENGINES, load_classifier


def in_fresh_process(function, *args):
    """``function(*args)`` in a new interpreter (spawned, not forked), so its threads and peak memory are
    its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def load_engines(run: Path | None, shipped: str | None = None) -> dict:
    """Both engines of one model, on the CPU: ``{"torch": Classifier, "onnx": OnnxClassifier}`` of the run
    directory ``run``, else of the shipped model ``shipped`` (default: the default one)."""
    return {engine: load_classifier(run, engine, shipped, device="cpu") for engine in ENGINES}


def long_recording(data: Path, hours: float) -> Recording:
    """An ``hours``-long signal: the records of the WFDB database ``data`` (each its MLII lead, as
    ``read_input`` picks) concatenated in ``record_names`` order, from the first again if needed
    (MIT-BIH's 48 records of 30 min give 24 h). signal: (hours * 3600 * fs,) float64, mV.

    Filled record by record into one array, so that building it holds the signal and one record, not
    the signal twice: the benchmarks' peak memory is predict's, not this builder's."""
    names = record_names(data)
    part = read_input(data / names[0])
    fs = part.fs
    signal = np.empty(int(hours * 3600 * fs), dtype=np.float64)
    filled, count = 0, 1
    while True:
        take = min(len(part.signal), len(signal) - filled)
        signal[filled : filled + take] = part.signal[:take]
        filled += take
        if filled == len(signal):
            break
        part = read_input(data / names[count % len(names)])
        count += 1
    return Recording(signal, fs, "MLII", Path("concatenated"))
