"""Helpers the benchmark scripts share (they import it as a sibling module: run them as scripts)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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
