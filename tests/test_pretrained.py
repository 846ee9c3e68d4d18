"""The shipped models: present, loadable without code execution, documented, ONNX in step with PyTorch."""

import numpy as np
import pytest

from arrhythmia import pretrained
from arrhythmia.data.pipeline import cut_beats
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.export import OnnxClassifier
from arrhythmia.inference import Classifier


def test_default_model_is_the_fast_one():
    assert pretrained.DEFAULT in pretrained.available()
    assert pretrained.card(pretrained.DEFAULT)["model"] == "fast-cnn"
    assert Classifier.from_pretrained(device="cpu").model_name == "fast-cnn"


def test_unknown_shipped_model_is_one_clear_error():
    with pytest.raises(ArrhythmiaError, match="no shipped model 'nope'"):
        Classifier.from_pretrained("nope")


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_model_has_its_card_and_is_small(name):
    folder = pretrained.model_dir(name)
    card = (folder / "MODEL_CARD.md").read_text()
    assert "DS1" in card and "Limitations" in card and "arrhythmia train" in card
    assert (folder / "model.pt").stat().st_size < 5_000_000
    figures = pretrained.card(name)
    assert 0 < figures["ds2"]["accuracy"] <= 1 and figures["onnx_beats_per_s"] > 0


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_checkpoint_and_onnx_agree(name):
    folder = pretrained.model_dir(name)
    torch_model = Classifier.from_checkpoint(folder / "model.pt", device="cpu")
    onnx_model = OnnxClassifier(folder / "model.onnx")
    assert torch_model.classes == onnx_model.classes == ("N", "S", "V", "F", "Q")
    assert torch_model.window == onnx_model.window and torch_model.takes_context == onnx_model.takes_context
    rec = synthetic_ecg(duration_s=60, fs=360, seed=8)
    segments = cut_beats(rec.signal, rec.fs, rec.r_peaks, torch_model.window)
    context = segments.context if torch_model.takes_context else None
    assert (
        np.abs(torch_model.predict_proba(segments.X, context) - onnx_model.predict_proba(segments.X, context)).max()
        < 1e-4
    )


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_onnx_carries_the_metadata_an_export_writes_today(name):
    """A deployment reads the preprocessing from the graph (docs/labelling.md, Export): the shipped files
    lacked the ``preprocessing`` and ``preprocessing_settings`` keys that ``export`` had come to write."""
    from arrhythmia.export import metadata

    shipped = OnnxClassifier(pretrained.model_dir(name) / "model.onnx").session.get_modelmeta().custom_metadata_map
    today = metadata(Classifier.from_pretrained(name, device="cpu"))
    assert shipped == today
