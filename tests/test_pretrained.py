"""The shipped models: present, loadable without code execution, documented, ONNX in step with PyTorch."""

import numpy as np

from arrhythmia import pretrained
from arrhythmia.data.synthetic import load_synthetic
from arrhythmia.export import OnnxClassifier
from arrhythmia.inference import Classifier


def test_default_model_is_shipped_with_its_card():
    assert pretrained.DEFAULT in pretrained.available()
    folder = pretrained.model_dir()
    card = (folder / "MODEL_CARD.md").read_text()
    assert "DS1" in card and "Limitations" in card and "arrhythmia train" in card
    assert (folder / "model.pt").stat().st_size < 5_000_000


def test_shipped_checkpoint_and_onnx_agree():
    folder = pretrained.model_dir()
    torch_model = Classifier.from_checkpoint(folder / "model.pt", device="cpu")
    onnx_model = OnnxClassifier(folder / "model.onnx")
    assert torch_model.classes == onnx_model.classes == ("N", "S", "V", "F", "Q")
    X = load_synthetic(n_records=2, duration_s=60).X
    assert np.abs(torch_model.predict_proba(X) - onnx_model.predict_proba(X)).max() < 1e-4
