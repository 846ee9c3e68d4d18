"""Training configuration as data: one dataclass, loaded from YAML/JSON, saved with every run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from arrhythmia.errors import ArrhythmiaError


@dataclass
class TrainConfig:
    """Everything that determines a training run. Defaults reproduce the classic notebook setup."""

    model: str = "seed-cnn"
    data: str | None = None  # None: MIT-BIH from the data cache, downloaded on first use
    protocol: str = "intra"  # intra | inter
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    class_weights: str = "none"  # none | balanced (inverse class frequency on the training split)
    lr_factor: float = 0.5  # ReduceLROnPlateau on validation loss
    lr_patience: int = 10
    early_stopping_patience: int = 15
    seed: int = 42
    device: str = "auto"  # auto | cpu | cuda | mps
    threads: int | None = None  # CPU threads for torch; None leaves torch's default

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ArrhythmiaError(
                f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a YAML or JSON config file (JSON is valid YAML)."""
        path = Path(path)
        if not path.is_file():
            raise ArrhythmiaError(f"{path}: config file does not exist")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ArrhythmiaError(f"{path}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise ArrhythmiaError(f"{path}: expected a mapping of settings, found {type(values).__name__}")
        return cls.from_dict(values, where=str(path))

    def validate(self) -> None:
        from arrhythmia.data import PROTOCOLS
        from arrhythmia.models import list_models

        checks = [
            (
                self.model in list_models(),
                f"unknown model {self.model!r} (available: {', '.join(list_models())})",
            ),
            (self.protocol in PROTOCOLS, f"unknown protocol {self.protocol!r} (intra or inter)"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (self.lr > 0, "learning rate must be positive"),
            (self.class_weights in ("none", "balanced"), "class weights must be 'none' or 'balanced'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ArrhythmiaError(message)

    def save(self, path: Path) -> None:
        from arrhythmia.runs import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
