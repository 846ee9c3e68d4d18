"""Training configuration as data: one dataclass, loaded from YAML/JSON, saved with every run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from arrhythmia.errors import ArrhythmiaError

SAMPLINGS = ("shuffle", "balanced", "sqrt")
LOSSES = ("ce", "focal")


@dataclass
class TrainConfig:
    """Everything that determines a training run. Defaults reproduce the classic notebook setup."""

    model: str = "seed-cnn"
    data: str | None = None  # None: MIT-BIH from the data cache, downloaded on first use
    protocol: str = "intra"  # intra | inter
    window: str = "kachuee"  # kachuee | centred (data.WINDOWS)
    rr_features: bool = False  # also feed each beat's rhythm features (models that take them)
    epochs: int = 50
    batch_size: int = 128  # per process: under torchrun each step sees batch_size * WORLD_SIZE beats
    lr: float = 1e-3
    weight_decay: float = 1e-4
    class_weights: str = "none"  # none | balanced (inverse class frequency on the training split)
    sampling: str = "shuffle"  # shuffle | balanced (each class equally often) | sqrt (frequency^-1/2)
    loss: str = "ce"  # ce (cross-entropy) | focal (Lin et al. 2017)
    focal_gamma: float = 2.0
    augment: list[str] = field(default_factory=list)  # any of augment.AUGMENTATIONS
    ensemble: int = 1  # members trained with seeds seed, seed+1, ...; their probabilities are averaged
    lr_factor: float = 0.5  # ReduceLROnPlateau on validation loss
    lr_patience: int = 10
    early_stopping_patience: int = 15
    seed: int = 42
    device: str = "auto"  # auto | cpu | cuda | mps
    threads: int | None = None  # CPU threads for torch; None leaves torch's default
    amp: bool = False  # mixed precision (float16 autocast + gradient scaling); CUDA only, ignored elsewhere
    workers: int | None = None  # DataLoader processes reading batches ahead; None: 0 in memory, up to 4 for a store
    preset: str | None = None  # the preset these settings started from, if any (recorded, not applied)

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
    def from_preset(cls, name: str, protocol: str = "intra") -> TrainConfig:
        """The settings of a named preset (``PRESETS``) for ``protocol``, on top of the defaults."""
        if name not in PRESETS:
            raise ArrhythmiaError(f"unknown preset {name!r} (available: {', '.join(PRESETS)})")
        extra = PRESET_PROTOCOL_SETTINGS.get(protocol, {})
        return cls(**{**PRESETS[name], **extra}, protocol=protocol, preset=name)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a YAML or JSON config file (JSON is valid YAML)."""
        return cls.from_dict(cls.read_file(path), where=str(path))

    @staticmethod
    def read_file(path: str | Path) -> dict:
        """The settings in a YAML or JSON file, unchecked."""
        path = Path(path)
        if not path.is_file():
            raise ArrhythmiaError(f"{path}: config file does not exist")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ArrhythmiaError(f"{path}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise ArrhythmiaError(f"{path}: expected a mapping of settings, found {type(values).__name__}")
        return values

    def validate(self) -> None:
        from arrhythmia.augment import AUGMENTATIONS
        from arrhythmia.data import PROTOCOLS, WINDOWS
        from arrhythmia.models import list_models, rr_models

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
            (self.window in WINDOWS, f"unknown beat window {self.window!r} ({' or '.join(WINDOWS)})"),
            (
                not self.rr_features or self.model in rr_models(),
                f"model {self.model!r} does not take RR features (ones that do: {', '.join(rr_models())})",
            ),
            (self.sampling in SAMPLINGS, f"sampling must be one of {', '.join(SAMPLINGS)}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}"),
            (
                set(self.augment) <= set(AUGMENTATIONS),
                f"unknown augmentation(s) {', '.join(sorted(set(self.augment) - set(AUGMENTATIONS)))} "
                f"(available: {', '.join(AUGMENTATIONS)})",
            ),
            (self.ensemble >= 1, "ensemble must be at least 1 model"),
            (
                self.workers is None or self.workers >= 0,
                "workers must be 0 (read batches in the training process) or more",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ArrhythmiaError(message)

    def save(self, path: Path) -> None:
        from arrhythmia.runs import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


#: ``arrhythmia train --preset NAME``: the configurations measured best on the validation records
#: (benchmarks/accuracy.py, README), with the settings that differ between the two protocols.
PRESETS: dict[str, dict] = {
    # Accuracy first: the SE-ResNet on centred windows with RR features, augmented, an ensemble of seeds.
    "best": {
        "model": "se-resnet",
        "window": "centred",
        "rr_features": True,
        "augment": ["scale", "wander", "noise", "shift"],
        "epochs": 20,
        "early_stopping_patience": 6,
        "lr_patience": 3,
        "ensemble": 3,
    },
    # Minutes on a laptop CPU, and the fast model for inference.
    "fast": {
        "model": "fast-cnn",
        "window": "centred",
        "rr_features": True,
        "epochs": 20,
        "batch_size": 256,
        "lr": 2e-3,
        "early_stopping_patience": 6,
        "lr_patience": 3,
    },
}
#: Per protocol: new patients (inter) need the rare classes weighted up, or S and F are hardly ever
#: predicted; with the same patients in training (intra) the weights only cost accuracy.
PRESET_PROTOCOL_SETTINGS: dict[str, dict] = {"inter": {"class_weights": "balanced"}, "intra": {}}
