"""ONNX and TorchScript exports: metadata, agreement with PyTorch, and safe defaults."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from arrhythmia.config import TrainConfig
from arrhythmia.data.synthetic import load_synthetic
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.experiment import run_experiment
from arrhythmia.export import OnnxClassifier, export_model
from arrhythmia.inference import Classifier


@pytest.fixture(scope="module")
def run_and_beats(tmp_path_factory):
    beats = load_synthetic(n_records=3, duration_s=60)
    config = TrainConfig(model="kachuee-resnet", epochs=2, batch_size=64, threads=1)
    run = run_experiment(
        config, run_dir=tmp_path_factory.mktemp("run"), beats=beats, progress=False, log=lambda _: None, report=False
    )
    return run, beats


def test_onnx_agrees_with_pytorch_and_carries_metadata(run_and_beats):
    run, beats = run_and_beats
    path = export_model(run, "onnx")
    assert path == run / "model.onnx"
    onnx_model = OnnxClassifier(path)
    assert onnx_model.classes == ("N", "S", "V", "F", "Q") and onnx_model.input_length == 187
    expected = Classifier.from_run(run).predict_proba(beats.X)
    got = onnx_model.predict_proba(beats.X)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9999


def test_torchscript_export_keeps_the_checkpoint(run_and_beats):
    run, beats = run_and_beats
    checkpoint = (run / "model.pt").read_bytes()
    path = export_model(run, "torchscript")
    assert path.name == "model.ts.pt" and (run / "model.pt").read_bytes() == checkpoint
    extra = {"metadata.json": ""}
    scripted = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["classes"] == '["N", "S", "V", "F", "Q"]'
    with torch.no_grad():
        probs = scripted(torch.from_numpy(beats.X[:16])).numpy()
    assert np.allclose(probs, Classifier.from_run(run).predict_proba(beats.X[:16]), atol=1e-5)


def test_foreign_onnx_file_is_refused(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"garbage")
    with pytest.raises(ArrhythmiaError, match="not a valid ONNX model"):
        OnnxClassifier(path)


def test_unknown_format(run_and_beats):
    with pytest.raises(ArrhythmiaError, match="unknown export format"):
        export_model(run_and_beats[0], "tflite")
