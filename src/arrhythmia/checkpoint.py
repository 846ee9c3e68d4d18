"""Checkpoint files: the one description of a trained model (``ModelSpec``), and the resume state.

Files are written atomically and read with ``torch.load(weights_only=True)``, so no code runs. Two kinds,
told apart by their ``format`` entry:

- ``model.pt`` (``MODEL_FORMAT``): a ``ModelSpec``, everything inference needs: the model name, classes,
  beat window, context feature names, the standardisation fitted on the training split, and the weights
  of one model or of each ensemble member. Training writes it, ``Classifier`` and ``export`` read it.
- ``last.pt`` (``RESUME_FORMAT``): the whole training state after the last finished epoch, for ``--resume``.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from arrhythmia.data.beats import WINDOWS, Window
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.files import atomic_write_bytes
from arrhythmia.models import create_model
from arrhythmia.models.ensemble import Ensemble
from arrhythmia.scaling import Scaling

#: File names of a model in a run directory or a shipped model's folder.
MODEL_FILE = "model.pt"
ONNX_FILE = "model.onnx"
MODEL_FORMAT = "arrhythmia-model/1"
RESUME_FORMAT = "arrhythmia-resume/1"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` via a temporary file and a rename: a kill never leaves half a file."""
    atomic_write_bytes(Path(path), lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, expected_format: str = MODEL_FORMAT) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``; ArrhythmiaError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ArrhythmiaError(f"{path}: checkpoint does not exist")
    if is_torchscript(path):  # torch.load would warn, then refuse it in a paragraph
        raise ArrhythmiaError(
            f"{path}: a TorchScript export, which is for deployment and is not read back; give a run folder, "
            "its model.pt checkpoint or an .onnx export"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch raises this both for files that would build arbitrary objects and for broken pickle streams.
        if "Unsupported global" in str(exc):
            raise ArrhythmiaError(
                f"{path}: refused: the checkpoint holds objects other than weights (foreign or unsafe file)"
            ) from None
        raise ArrhythmiaError(f"{path}: not a readable checkpoint (corrupt or truncated)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArrhythmiaError(f"{path}: not a readable checkpoint (corrupt or truncated: {exc})") from None
    except Exception:  # noqa: BLE001 - other bytes make the unpickler fail otherwise (a CSV: IndexError)
        raise ArrhythmiaError(f"{path}: not a readable checkpoint (not a file torch.save wrote)") from None
    if not isinstance(state, dict) or state.get("format") != expected_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ArrhythmiaError(f"{path}: not an arrhythmia checkpoint of format {expected_format} (found {found!r})")
    return state


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``: a zip holding ``constants.pkl``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.rsplit("/", 1)[-1] == "constants.pkl" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


@dataclass
class Member:
    """One trained network of a model: its registry name and weights."""

    model: str
    state_dict: dict[str, torch.Tensor]


@dataclass
class ModelSpec:
    """A trained model, as a ``model.pt`` file holds it.

    model : registry name of the architecture; classes : class names in output order; window : how beats
    are cut for it; context_features : names of the context features it takes (empty: beat window only);
    scaling : the training split's standardisation; members : one ``Member``, or several for an ensemble
    (their probabilities are averaged); epoch, val_loss : the epoch the kept checkpoint is from
    (``TrainConfig.checkpoint``) and its validation loss;
    synthetic : trained on generated data.
    """

    model: str
    classes: tuple[str, ...]
    window: Window
    context_features: tuple[str, ...]
    scaling: Scaling
    members: list[Member] = field(default_factory=list)
    epoch: int | None = None
    val_loss: float | None = None
    synthetic: bool = False

    @property
    def input_length(self) -> int:
        return self.window.length

    @property
    def n_context(self) -> int:
        return len(self.context_features)

    @property
    def name(self) -> str:
        """How the model is shown: its architecture, or 'ensemble of K <architecture>'."""
        return self.model if len(self.members) == 1 else f"ensemble of {len(self.members)} {self.model}"

    def create_network(self, model: str | None = None) -> nn.Module:
        """A freshly initialised network of this spec's shape (of architecture ``model`` if given)."""
        return create_model(
            model or self.model, n_classes=len(self.classes), input_length=self.input_length, n_context=self.n_context
        )

    def build(self, where: str = "checkpoint") -> nn.Module:
        """The network with its weights loaded: one model, or an ``Ensemble`` of the members."""
        networks = []
        for member in self.members:
            try:
                network = self.create_network(member.model)
            except ArrhythmiaError as exc:  # e.g. a model of a plugin package that is not installed here
                raise ArrhythmiaError(f"{where}: {exc}") from None
            misfit = _misfit(network.state_dict(), member.state_dict)
            if misfit:
                raise ArrhythmiaError(f"{where}: weights do not fit model {member.model!r} ({misfit})")
            network.load_state_dict(member.state_dict)
            networks.append(network)
        if not networks:
            raise ArrhythmiaError(f"{where}: the checkpoint holds no weights")
        return networks[0] if len(networks) == 1 else Ensemble(networks)

    def to_state(self) -> dict[str, Any]:
        """The ``model.pt`` dictionary (format ``MODEL_FORMAT``; the key names of the first release)."""
        single = len(self.members) == 1
        state = {
            "format": MODEL_FORMAT,
            "model": self.model,
            "state_dict": self.members[0].state_dict if single else {},
            "classes": list(self.classes),
            "input_length": self.input_length,
            "window": self.window.to_dict(),
            "n_rr": self.n_context,
            "rr_features": list(self.context_features),
            **self.scaling.to_state(),
            "epoch": self.epoch,
            "val_loss": self.val_loss,
            "synthetic": self.synthetic,
        }
        if not single:
            state["members"] = [{"model": m.model, "state_dict": m.state_dict} for m in self.members]
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], where: str = "checkpoint") -> ModelSpec:
        try:
            members = state.get("members") or [{"model": state["model"], "state_dict": state["state_dict"]}]
            scaling = Scaling.from_state(state)
            n_context = int(state.get("n_rr", 0))
            names = tuple(state.get("rr_features") or ())
            if len(names) != n_context:  # the first checkpoints named no features
                names = tuple(f"context_{i}" for i in range(n_context))
            return cls(
                model=state["model"],
                classes=tuple(state["classes"]),
                window=Window.from_dict(state.get("window", WINDOWS["kachuee"].to_dict())),
                context_features=names,
                scaling=scaling,
                members=[Member(m["model"], m["state_dict"]) for m in members],
                epoch=state.get("epoch"),
                val_loss=state.get("val_loss"),
                synthetic=bool(state.get("synthetic", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArrhythmiaError(f"{where}: incomplete model checkpoint ({exc!r})") from None

    def save(self, path: str | Path) -> None:
        save_checkpoint(self.to_state(), Path(path))

    @classmethod
    def load(cls, path: str | Path) -> ModelSpec:
        return cls.from_state(load_checkpoint(path, MODEL_FORMAT), str(path))

    @classmethod
    def ensemble(cls, specs: list[ModelSpec]) -> ModelSpec:
        """One spec whose members are those of ``specs`` (trained on the same data, window and scaling)."""
        first = specs[0]
        members = [member for spec in specs for member in spec.members]
        return cls(**{**vars(first), "members": members, "epoch": None, "val_loss": None})


def _misfit(expected: dict, saved: dict) -> str:
    """How the ``saved`` weights do not fit a network whose own are ``expected``, in one line (torch's
    ``load_state_dict`` says it over many lines); empty where they fit."""
    missing = [key for key in expected if key not in saved]
    unexpected = [key for key in saved if key not in expected]
    reshaped = [
        f"{key} {tuple(saved[key].shape)} where the model has {tuple(expected[key].shape)}"
        for key in expected
        if key in saved and tuple(saved[key].shape) != tuple(expected[key].shape)
    ]
    problems = [
        f"{len(keys)} {what}, e.g. {keys[0]}"
        for keys, what in ((missing, "missing"), (unexpected, "not in the model"), (reshaped, "of another shape"))
        if keys
    ]
    return "; ".join(problems)
