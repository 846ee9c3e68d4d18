"""Pretrained models shipped with the package, each in a folder with its ``model.pt``, ``model.onnx``,
``MODEL_CARD.md`` and ``card.json`` (the measured figures of the card, for ``arrhythmia models``).

They are trained on MIT-BIH DS1 records only (de Chazal et al. 2004), so their DS2 scores are an honest
inter-patient estimate. ``arrhythmia predict`` uses ``DEFAULT`` when no ``--run`` is given.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from arrhythmia.checkpoint import MODEL_FILE
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.files import read_json

DEFAULT = "fast-cnn-ds1"


def available() -> list[str]:
    """Names of the shipped models."""
    root = resources.files(__name__)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / MODEL_FILE).is_file())


def model_dir(name: str = DEFAULT) -> Path:
    """The folder of a shipped model (``model.pt``, ``model.onnx``, ``MODEL_CARD.md``)."""
    path = Path(str(resources.files(__name__) / name))
    if not (path / MODEL_FILE).is_file():
        raise ArrhythmiaError(f"no shipped model {name!r} (available: {', '.join(available()) or 'none'})")
    return path


def card(name: str) -> dict:
    """The measured figures of a shipped model (``card.json``): DS2 scores, intra accuracy, speed."""
    return read_json(model_dir(name) / "card.json", what="model card")
