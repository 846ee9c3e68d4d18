"""Export a trained model for deployment (ONNX, TorchScript) and run ONNX models with onnxruntime.

The exported graph takes raw beats ``(n, input_length) float32`` (cut with the model's beat window) and,
for models with rhythm features, ``rr (n, n_rr) float32``, and returns class probabilities
``(n, n_classes)``: the training split's standardisation and the softmax are part of the graph, so a
deployment needs nothing else. Class names, input length, beat window, RR feature names, standardisation
and the model name are also stored in the file's metadata (ONNX ``metadata_props``; TorchScript
``metadata.json`` extra file).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from arrhythmia.data.beats import WINDOWS, Window
from arrhythmia.data.cache import atomic_write_bytes
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.inference import Classifier

FORMATS = ("onnx", "torchscript")
# model.pt is the training checkpoint: the TorchScript export must not overwrite it.
SUFFIX = {"onnx": ".onnx", "torchscript": ".ts.pt"}


class Deployable(nn.Module):
    """Standardise, classify, softmax: raw beats (n, L) [and rr (n, n_rr)] -> probabilities (n, n_classes)."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.model = classifier.model.cpu().eval()
        scaling = classifier.scaling
        self.register_buffer("mean", torch.from_numpy(scaling.mean))
        self.register_buffer("std", torch.from_numpy(scaling.std))
        self.takes_rr = classifier.takes_rr
        if self.takes_rr:
            self.register_buffer("rr_mean", torch.from_numpy(scaling.rr_mean))
            self.register_buffer("rr_std", torch.from_numpy(scaling.rr_std))

    def forward(self, beats: torch.Tensor, rr: torch.Tensor | None = None) -> torch.Tensor:
        x = ((beats - self.mean) / self.std).unsqueeze(1)
        rr = (rr - self.rr_mean) / self.rr_std if self.takes_rr else None
        return torch.softmax(self.model(x, rr), dim=1)


def metadata(classifier: Classifier) -> dict[str, str]:
    """String metadata stored with an exported model."""
    from arrhythmia.data.rhythm import CONTEXT_FEATURES

    scaling = classifier.scaling
    return {
        "producer": "arrhythmia",
        "model": classifier.model_name,
        "classes": json.dumps(list(classifier.classes)),
        "input_length": str(classifier.input_length),
        "window": json.dumps(classifier.window.to_dict()),
        "rr_features": json.dumps(list(CONTEXT_FEATURES) if classifier.takes_rr else []),
        "input": "beats (n, input_length) float32, cut with the window above; rr (n, n_rr) float32 if rr_features",
        "output": "class probabilities (n, n_classes); standardisation and softmax are in the graph",
        "mean": json.dumps(scaling.mean.tolist()),
        "std": json.dumps(scaling.std.tolist()),
    }


def export_model(run_dir: str | Path, fmt: str = "onnx", out: str | Path | None = None) -> Path:
    """Write the best model of ``run_dir`` as ONNX or TorchScript; returns the file written."""
    if fmt not in FORMATS:
        raise ArrhythmiaError(f"unknown export format {fmt!r} ({' or '.join(FORMATS)})")
    classifier = Classifier.from_run(run_dir, device="cpu")
    out = Path(out) if out else Path(run_dir) / f"model{SUFFIX[fmt]}"
    module = Deployable(classifier).eval()
    example = (torch.from_numpy(np.full((2, classifier.input_length), 0.5, dtype=np.float32)),)
    names = ["beats"]
    if classifier.takes_rr:
        example += (torch.ones(2, classifier.scaling.n_rr),)
        names.append("rr")
    meta = metadata(classifier)
    if fmt == "torchscript":
        traced = torch.jit.trace(module, example)
        extra = {"metadata.json": json.dumps(meta)}
        atomic_write_bytes(out, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra))
        return out

    import onnx

    def write(tmp: Path) -> None:
        torch.onnx.export(
            module,
            example,
            str(tmp),
            dynamo=False,
            input_names=names,
            output_names=["probabilities"],
            dynamic_axes={**{name: {0: "n"} for name in names}, "probabilities": {0: "n"}},
            opset_version=17,
        )
        graph = onnx.load(str(tmp))
        onnx.helper.set_model_props(graph, meta)
        onnx.save(graph, str(tmp))

    atomic_write_bytes(out, write)
    return out


class OnnxClassifier:
    """An exported ONNX model run with onnxruntime; the same predict API as ``Classifier``."""

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ArrhythmiaError(f"{path}: ONNX model does not exist")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for invalid files
            raise ArrhythmiaError(f"{path}: not a valid ONNX model ({str(exc).splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("producer") != "arrhythmia":
            raise ArrhythmiaError(f"{path}: not an ONNX model exported by arrhythmia (no class metadata)")
        self.path = path
        self.classes: tuple[str, ...] = tuple(json.loads(meta["classes"]))
        self.input_length = int(meta["input_length"])
        self.model_name = meta["model"]
        self.window = Window.from_dict(json.loads(meta["window"])) if "window" in meta else WINDOWS["kachuee"]
        self.n_rr = len(json.loads(meta.get("rr_features", "[]")))

    @property
    def takes_rr(self) -> bool:
        return self.n_rr > 0

    @classmethod
    def from_pretrained(cls, name: str | None = None) -> OnnxClassifier:
        """The ONNX export of a model shipped with the package; the default one without ``name``."""
        from arrhythmia import pretrained

        return cls(pretrained.model_dir(name or pretrained.DEFAULT) / "model.onnx")

    @classmethod
    def from_run(cls, run_dir: str | Path) -> OnnxClassifier:
        """The run's ONNX export, written on first use."""
        path = Path(run_dir) / "model.onnx"
        if not path.is_file() or path.stat().st_mtime < (Path(run_dir) / "model.pt").stat().st_mtime:
            export_model(run_dir, "onnx", path)
        return cls(path)

    def predict_proba(self, X: np.ndarray, rr: np.ndarray | None = None, batch_size: int = 4096) -> np.ndarray:
        """Class probabilities (n_beats, n_classes) float32 for raw beats X: (n_beats, input_length) and,
        for models with rhythm features, rr: (n_beats, n_rr)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.input_length:
            raise ArrhythmiaError(f"beats have shape {X.shape}, the model takes (n, {self.input_length})")
        if self.takes_rr and (rr is None or np.shape(rr) != (len(X), self.n_rr)):
            raise ArrhythmiaError(
                f"{self.path}: the model needs the RR features of each beat, (n, {self.n_rr}); beats without "
                "R-peak positions (e.g. Heartbeat CSV rows) cannot be classified by it"
            )
        parts = []
        for i in range(0, len(X), batch_size):
            feeds = {"beats": X[i : i + batch_size]}
            if self.takes_rr:
                feeds["rr"] = np.ascontiguousarray(rr[i : i + batch_size], dtype=np.float32)
            parts.append(self.session.run(None, feeds)[0])
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes)), dtype=np.float32)

    def predict(self, X: np.ndarray, rr: np.ndarray | None = None) -> np.ndarray:
        return self.predict_proba(X, rr).argmax(axis=1)
