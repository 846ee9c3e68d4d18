"""A trained model ready to label beats: weights, standardisation and class names together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from arrhythmia.checkpoint import MODEL_FORMAT, load_checkpoint
from arrhythmia.device import pick_device
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.models import create_model

MODEL_FILE = "model.pt"


@dataclass
class Classifier:
    """Labels beats with a trained model.

    model : the network, in eval mode; classes : class names in output order;
    mean, std : (input_length,) float32, the standardisation fitted on the training split.
    """

    model: nn.Module
    model_name: str
    classes: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    device: torch.device

    @property
    def input_length(self) -> int:
        return len(self.mean)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> Classifier:
        state = load_checkpoint(path, MODEL_FORMAT)
        model = create_model(state["model"], n_classes=len(state["classes"]), input_length=int(state["input_length"]))
        try:
            model.load_state_dict(state["state_dict"])
        except RuntimeError as exc:
            raise ArrhythmiaError(f"{path}: weights do not fit model {state['model']!r} ({exc})") from None
        chosen = pick_device(device)
        return cls(
            model=model.to(chosen).eval(),
            model_name=state["model"],
            classes=tuple(state["classes"]),
            mean=state["mean"].numpy(),
            std=state["std"].numpy(),
            device=chosen,
        )

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> Classifier:
        """The best model of a training run directory."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ArrhythmiaError(f"{run_dir}: run directory does not exist")
        return cls.from_checkpoint(run_dir / MODEL_FILE, device)

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """X: (n_beats, input_length) in [0, 1] -> standardised float32."""
        if X.ndim != 2 or X.shape[1] != self.input_length:
            raise ArrhythmiaError(f"beats have shape {X.shape}, the model takes (n, {self.input_length})")
        return ((X - self.mean) / self.std).astype(np.float32)

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities, (n_beats, n_classes) float32, for beats X: (n_beats, input_length)."""
        return softmax_batches(self.model, self.standardise(X), self.device, batch_size)

    def predict(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class indices, (n_beats,) int64."""
        return self.predict_proba(X, batch_size).argmax(axis=1)

    def predict_record(self, path: str | Path, fs: float | None = None, lead: str | int | None = None):
        """Label every beat of a recording (WFDB, EDF, CSV, .npy) or beat CSV -> pandas.DataFrame.

        One row per detected beat: sample, time_s, label, confidence, p_<class> for each class.
        """
        from arrhythmia.predict import predict_record

        return predict_record(path, self, fs=fs, lead=lead)


@torch.no_grad()
def softmax_batches(model: nn.Module, X: np.ndarray, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Softmax outputs of ``model`` on standardised beats X: (n, length) float32, in batches."""
    model.eval()
    out = []
    for start in range(0, len(X), batch_size):
        xb = torch.from_numpy(X[start : start + batch_size]).unsqueeze(1).to(device)
        out.append(torch.softmax(model(xb), dim=1).cpu().numpy())
    n_classes = out[0].shape[1] if out else 0
    return np.concatenate(out) if out else np.zeros((0, n_classes), dtype=np.float32)
