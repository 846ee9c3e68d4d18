"""A trained model ready to label beats: weights, standardisation, beat window and class names together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from arrhythmia.checkpoint import MODEL_FORMAT, load_checkpoint
from arrhythmia.data.beats import Window
from arrhythmia.device import pick_device
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.models import create_model
from arrhythmia.models.ensemble import Ensemble

MODEL_FILE = "model.pt"


@dataclass
class Scaling:
    """Standardisation fitted on the training split.

    mean, std : (window length,) float32, per sample of the beat window;
    rr_mean, rr_std : (n_rr,) float32 per rhythm feature, or None for models without RR features.
    """

    mean: np.ndarray
    std: np.ndarray
    rr_mean: np.ndarray | None = None
    rr_std: np.ndarray | None = None

    @property
    def n_rr(self) -> int:
        return 0 if self.rr_mean is None else len(self.rr_mean)

    def beats(self, X: np.ndarray) -> np.ndarray:
        """Raw beats X: (n, length) -> standardised float32."""
        return ((X - self.mean) / self.std).astype(np.float32)

    def rr(self, rr: np.ndarray | None) -> np.ndarray | None:
        """Rhythm features (n, n_rr) -> standardised float32; None for a model without them."""
        if self.rr_mean is None:
            return None
        return ((rr - self.rr_mean) / self.rr_std).astype(np.float32)

    def to_state(self) -> dict:
        as_tensor = lambda a: None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float32))  # noqa: E731
        return {k: as_tensor(v) for k, v in vars(self).items()}

    @classmethod
    def from_state(cls, state: dict) -> Scaling:
        as_array = lambda t: None if t is None else t.numpy()  # noqa: E731
        return cls(*(as_array(state.get(k)) for k in ("mean", "std", "rr_mean", "rr_std")))


@torch.no_grad()
def softmax_batches(
    model: nn.Module,
    X: np.ndarray,
    device: torch.device,
    batch_size: int = 1024,
    rr: np.ndarray | None = None,
    scaling: Scaling | None = None,
) -> np.ndarray:
    """Class probabilities (n, n_classes) of ``model`` for beats X: (n, length) and rhythm features
    rr: (n, n_rr) or None, in batches; raw inputs standardised with ``scaling`` (None: already standardised).
    X may be any array that slices to NumPy rows (e.g. a beat store's ShardedArray)."""
    model.eval()
    out = []
    for start in range(0, len(X), batch_size):
        xb, rb = np.asarray(X[start : start + batch_size]), None if rr is None else rr[start : start + batch_size]
        if scaling is not None:
            xb, rb = scaling.beats(xb), scaling.rr(rb)
        x = torch.from_numpy(xb).unsqueeze(1).to(device)
        r = None if rb is None else torch.from_numpy(rb).to(device)
        out.append(torch.softmax(model(x, r), dim=1).cpu().numpy())
    n_classes = out[0].shape[1] if out else 0
    return np.concatenate(out) if out else np.zeros((0, n_classes), dtype=np.float32)


def build_model(state: dict, where: str) -> nn.Module:
    """The network a model checkpoint describes (one model, or an ensemble of members), weights loaded."""
    n_classes, length, n_rr = len(state["classes"]), int(state["input_length"]), int(state.get("n_rr", 0))
    members = state.get("members") or [{"model": state["model"], "state_dict": state["state_dict"]}]
    networks = []
    for member in members:
        network = create_model(member["model"], n_classes=n_classes, input_length=length, n_rr=n_rr)
        try:
            network.load_state_dict(member["state_dict"])
        except RuntimeError as exc:
            raise ArrhythmiaError(f"{where}: weights do not fit model {member['model']!r} ({exc})") from None
        networks.append(network)
    return networks[0] if len(networks) == 1 else Ensemble(networks)


@dataclass
class Classifier:
    """Labels beats with a trained model (or an ensemble of them).

    model : the network, in eval mode; classes : class names in output order; scaling : the training
    split's standardisation; window : how beats must be cut for this model; takes_rr : whether it also
    needs the rhythm features of each beat.
    """

    model: nn.Module
    model_name: str
    classes: tuple[str, ...]
    scaling: Scaling
    window: Window
    device: torch.device

    @property
    def input_length(self) -> int:
        return len(self.scaling.mean)

    @property
    def takes_rr(self) -> bool:
        return self.scaling.n_rr > 0

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> Classifier:
        state = load_checkpoint(path, MODEL_FORMAT)
        model = build_model(state, str(path))
        chosen = pick_device(device)
        n_members = len(state.get("members") or [None])
        return cls(
            model=model.to(chosen).eval(),
            model_name=state["model"] if n_members == 1 else f"ensemble of {n_members} {state['model']}",
            classes=tuple(state["classes"]),
            scaling=Scaling.from_state(state),
            window=Window.from_dict(state.get("window", Window().to_dict())),
            device=chosen,
        )

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> Classifier:
        """The best model of a training run directory."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ArrhythmiaError(f"{run_dir}: run directory does not exist")
        return cls.from_checkpoint(run_dir / MODEL_FILE, device)

    @classmethod
    def from_pretrained(cls, name: str | None = None, device: str = "auto") -> Classifier:
        """A model shipped with the package (``arrhythmia.pretrained``); the default one without ``name``."""
        from arrhythmia import pretrained

        return cls.from_checkpoint(pretrained.model_dir(name or pretrained.DEFAULT) / MODEL_FILE, device)

    def check_inputs(self, X: np.ndarray, rr: np.ndarray | None) -> None:
        if X.ndim != 2 or X.shape[1] != self.input_length:
            raise ArrhythmiaError(f"beats have shape {X.shape}, the model takes (n, {self.input_length})")
        if self.takes_rr and (rr is None or rr.shape != (len(X), self.scaling.n_rr)):
            raise ArrhythmiaError(
                f"{self.model_name} needs the RR features of each beat, (n, {self.scaling.n_rr}); "
                "beats without R-peak positions (e.g. Heartbeat CSV rows) cannot be classified by it"
            )

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray, rr: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities (n_beats, n_classes) float32 for raw beats X: (n_beats, input_length) cut
        with ``self.window``, and their RR features rr: (n_beats, n_rr) where ``takes_rr``."""
        self.check_inputs(X, rr)
        return softmax_batches(self.model, X, self.device, batch_size, rr=rr, scaling=self.scaling)

    def predict(self, X: np.ndarray, rr: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
        """Class indices, (n_beats,) int64."""
        return self.predict_proba(X, rr, batch_size).argmax(axis=1)

    def predict_record(self, path: str | Path, fs: float | None = None, lead: str | int | None = None):
        """Label every beat of a recording (WFDB, EDF, CSV, .npy) or beat CSV -> pandas.DataFrame.

        One row per detected beat: sample, time_s, label, confidence, p_<class> for each class.
        """
        from arrhythmia.predict import predict_record

        return predict_record(path, self, fs=fs, lead=lead)
