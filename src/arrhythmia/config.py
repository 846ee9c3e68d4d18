"""Training configuration as data: one dataclass, loaded from YAML/JSON, saved with every run."""

from __future__ import annotations

import json
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from arrhythmia.errors import ArrhythmiaError
from arrhythmia.files import write_json
from arrhythmia.settings import fits

SAMPLINGS = ("shuffle", "balanced", "sqrt")
#: Settings saved under another name by earlier versions (run configs and config files keep working).
RENAMED = {"rr_features": "context_features"}
LOSSES = ("ce", "focal")
#: Settings that say where and how fast a run computes, not what it computes, so a cross-validation fold
#: continued or kept under other values is the same experiment: ``device`` (a request, "auto" on every
#: machine; environment.json says what ran), ``threads`` (CPU threads: rounding at float32's last bits) and
#: ``workers`` (batches read ahead: the same batches and weights). Not ``amp``: float16 arithmetic on CUDA
#: trains other weights.
RUNTIME_SETTINGS = ("device", "threads", "workers")


def setting(default, help: str, **kwargs):
    """A TrainConfig field with its help text: the one place a setting is described (``arrhythmia train
    --help`` and the README's settings table are made from it)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class TrainConfig:
    """Everything that determines a training run. Defaults reproduce the classic notebook setup."""

    model: str = setting("seed-cnn", "Model name (see `arrhythmia models`).")
    data: str | None = setting(
        None, "mitdb (default, downloaded on first use), heartbeat, synthetic, or a directory (WFDB, CSVs, store)."
    )
    protocol: str = setting(
        "intra",
        "intra (random 60/20/20 by beat) or inter (no shared patients: MIT-BIH's DS1 -> DS2; another database's"
        " patients, a third of them tested on).",
    )
    test_records: list[str] = setting(
        [],
        "Inter-patient protocol: records, comma-separated, to test on; neither trained nor validated on. On"
        " MIT-BIH, DS1 records instead of DS2 (one fold of a cross-validation over DS1's records: `arrhythmia"
        " crossval`); on another database, instead of a third of its patients drawn with the seed.",
    )
    patients: str | None = setting(
        None,
        "Inter-patient protocol: a CSV file with columns record and patient, for a database with several records"
        " of one patient: they are kept together (train, validation or test; one cross-validation fold). Records"
        " it does not name are patients of their own. On MIT-BIH, DS1 -> DS2 stays de Chazal's (201 and 202 are"
        " one patient on either side): the file groups validation records only.",
    )
    window: str = setting("kachuee", "Beat window: kachuee (from the R peak, 187 samples) or centred (87).")
    labels: str = setting(
        "aami",
        "Classes: aami (N, S, V, F, Q) or mitdb (MIT-BIH's own beat symbols with at least 100 beats: N, L, R, A,"
        " V, ...; annotated WFDB data).",
    )
    other_lead: bool = setting(
        False,
        "Also train on each training beat cut from the record's other lead (MIT-BIH: V1, V2, V4 or V5 beside"
        " MLII), with its label; validation and test stay on the first lead. WFDB data only.",
    )
    mixed_lead: bool = setting(
        False,
        "Also train on each training beat cut from a mixture of the record's two leads (cos a x the first + sin"
        " a x the other, a drawn per record between 20 and 160 degrees with the seed): a lead of the same heart"
        " that no electrode recorded, as other placements and devices give. WFDB data with two leads only.",
    )
    context_features: bool = setting(
        False, "Also feed each beat's nine context features (RR intervals, likeness to the typical beat)."
    )
    epochs: int = setting(50, "Maximum epochs.")
    batch_size: int = setting(128, "Beats per step and process (under torchrun, x WORLD_SIZE per step).")
    lr: float = setting(1e-3, "Adam learning rate.")
    weight_decay: float = setting(1e-4, "Adam weight decay.")
    class_weights: str = setting("none", "none, or balanced (inverse class frequency on the training split).")
    sampling: str = setting("shuffle", "shuffle, balanced (each class equally often) or sqrt (frequency^-1/2).")
    record_batches: bool = setting(
        False,
        "Each training batch holds beats of one recording only (one lead of one record), so BatchNorm"
        " normalises every batch with one patient's statistics, as predict's adaptation does (sampling"
        " shuffle only).",
    )
    loss: str = setting("ce", "ce (cross-entropy) or focal (Lin et al. 2017).")
    focal_gamma: float = setting(2.0, "Focusing parameter of the focal loss.")
    augment: list[str] = setting(
        [], "Augmentations, comma-separated: scale, wander, noise, shift, lowpass, stretch ('none': none)."
    )
    ensemble: int = setting(1, "Train this many models (seeds seed, seed+1, ...) and average their probabilities.")
    lr_factor: float = setting(0.5, "Learning-rate factor of ReduceLROnPlateau (on validation loss).")
    lr_patience: int = setting(10, "Epochs without validation improvement before the learning rate drops.")
    early_stopping_patience: int = setting(15, "Epochs without validation improvement before training stops.")
    checkpoint: str = setting(
        "best",
        "Which epoch's weights the run keeps: best (lowest validation loss; early stopping on) or last (every"
        " epoch is trained; for few validation patients, whose loss is too noisy to choose an epoch by).",
    )
    seed: int = setting(42, "Random seed (weights, split, batches, augmentation).")
    device: str = setting("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
    threads: int | None = setting(None, "CPU threads for torch (default: torch's own choice).")
    amp: bool = setting(False, "Mixed precision (float16 autocast and gradient scaling) on CUDA; ignored elsewhere.")
    workers: int | None = setting(
        None, "Processes reading batches ahead (default: 0 for beats in memory, up to 4 for a beat store)."
    )
    preset: str | None = setting(None, "The preset these settings started from (recorded, not applied).", cli=False)

    def to_dict(self) -> dict:
        return asdict(self)

    def experiment_settings(self) -> dict:
        """``to_dict()`` without the ``RUNTIME_SETTINGS``: what two runs must share to be the same experiment."""
        return {key: value for key, value in self.to_dict().items() if key not in RUNTIME_SETTINGS}

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> TrainConfig:
        """The config of ``values`` (a config file's, a run's ``config.json``, the command line's), their
        names and types checked first (``checked_values``); ``where`` names them in an error."""
        return cls(**cls.checked_values(values, where))

    @classmethod
    def checked_values(cls, values: dict, where: str = "config") -> dict:
        """``values`` under their current names (``RENAMED``), each checked against its setting's type, so a
        mistyped one is one error line naming ``where`` and the setting, never a traceback from the code that
        uses it. Read as the command line reads them: a string that is a plain number is that number for a
        number setting (PyYAML reads ``lr: 1e-3`` as a string); a list setting also takes comma-separated
        text (``augment: scale,shift``; ``none``: empty) or one record number (``test_records: 101``), and
        record numbers in its list (``test_records: [101, 106]``). Nothing else is converted: a quoted
        ``"false"`` is not a bool. Each value's range or choices are checked too (``setting_problem``); how
        settings go together is ``validate``'s."""
        values = {RENAMED.get(key, key): value for key, value in values.items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ArrhythmiaError(
                f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        hints = typing.get_type_hints(cls)
        checked = {}
        for key, value in values.items():
            value = _read_as(value, hints[key])
            if not fits(value, hints[key]):
                raise ArrhythmiaError(f"{where}: {_type_error(key, value, cls.__dataclass_fields__[key].type)}")
            # Its range here too, where the file that holds it is known (validate() does not know it).
            problem = setting_problem(key, value)
            if problem:
                raise ArrhythmiaError(f"{where}: {problem}")
            checked[key] = value
        return checked

    @classmethod
    def from_preset(cls, name: str, protocol: str = "intra") -> TrainConfig:
        """The settings of a named preset (``PRESETS``) for ``protocol``, on top of the defaults."""
        if name not in PRESETS:
            raise ArrhythmiaError(f"unknown preset {name!r} (available: {', '.join(PRESETS)})")
        extra = PRESET_PROTOCOL_SETTINGS.get(protocol, {})
        return cls(**{**PRESETS[name], **extra}, protocol=protocol, preset=name)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a YAML or JSON config file (JSON is valid YAML). A ``preset`` it names is applied first, as
        ``--preset`` is, and the file's other settings over it (a run's ``config.json`` holds them all)."""
        values = cls.checked_values(cls.read_file(path), where=str(path))
        return cls.layered(values.get("preset"), values.get("protocol", "intra"), values, where=str(path))

    @classmethod
    def layered(cls, preset: str | None, protocol: str, *layers: dict, where: str = "config") -> TrainConfig:
        """The defaults for ``protocol``, then ``preset``'s settings (if one is named), then each of ``layers``
        (settings by name: a config file's, the command line's) over the ones before; ``where`` names the
        last in an error."""
        base = cls.from_preset(preset, protocol) if preset else cls(protocol=protocol)
        merged = base.to_dict()
        for layer in layers:
            merged.update(layer)
        return cls.from_dict(merged, where=where)

    @staticmethod
    def read_file(path: str | Path) -> dict:
        """The settings in a YAML or JSON file, unchecked."""
        path = Path(path)
        if not path.is_file():
            raise ArrhythmiaError(f"{path}: config file does not exist")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ArrhythmiaError(f"{path}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise ArrhythmiaError(f"{path}: expected a mapping of settings, found {type(values).__name__}")
        return values

    def validate(self) -> None:
        """ArrhythmiaError (one line) for a setting of the wrong type, out of its range or choices
        (``setting_problem``), or settings that do not go together."""
        from arrhythmia.models import no_context, takes_context

        # Types first: the ranges below compare numbers, and the Python API takes any value.
        hints = typing.get_type_hints(type(self))
        for setting in fields(self):
            if not fits(getattr(self, setting.name), hints[setting.name]):
                raise ArrhythmiaError(_type_error(setting.name, getattr(self, setting.name), setting.type))
            problem = setting_problem(setting.name, getattr(self, setting.name))
            if problem:
                raise ArrhythmiaError(problem)
        checks = [
            (
                not self.test_records or self.protocol == "inter",
                "test records are for the inter-patient protocol (--protocol inter)",
            ),
            (
                not self.patients or self.protocol == "inter",
                "patients are for the inter-patient protocol (--protocol inter)",
            ),
            # seed .. seed + ensemble - 1 seed NumPy and scikit-learn too, which take 0 .. 2**32 - 1.
            (
                self.seed + max(self.ensemble, 1) - 1 < 2**32,
                f"seed must be between 0 and {2**32 - max(self.ensemble, 1)}, not {self.seed}",
            ),
            (
                not self.context_features or takes_context(self.model),
                lambda: no_context(self.model),  # lists every model, the plugins' too: made on failure only
            ),
            (
                not self.record_batches or self.sampling == "shuffle",
                f"record batches need sampling shuffle, not {self.sampling!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ArrhythmiaError(message() if callable(message) else message)

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())


def setting_problem(name: str, value) -> str | None:
    """What is wrong with the value of the setting ``name`` on its own (its type already checked): out of
    its range, or not one of its choices; None where nothing is. The one place each range is written:
    ``TrainConfig.validate`` and ``checked_values`` (config files, the command line, a run's config.json)."""
    from arrhythmia.augment import AUGMENTATIONS
    from arrhythmia.data import PROTOCOLS, WINDOWS
    from arrhythmia.data.beats import LABEL_SETS
    from arrhythmia.models import is_model, unknown_model

    if name == "model":  # a built-in name imports no plugin; the error names a run's model of a missing one
        return None if is_model(value) else unknown_model(value)
    checks: dict[str, Callable[[typing.Any], tuple[bool, str]]] = {
        "protocol": lambda v: (v in PROTOCOLS, f"unknown protocol {v!r} (intra or inter)"),
        "epochs": lambda v: (v >= 1, "epochs must be at least 1"),
        "checkpoint": lambda v: (v in ("best", "last"), f"checkpoint must be 'best' or 'last', not {v!r}"),
        "labels": lambda v: (v in LABEL_SETS, f"labels must be one of {', '.join(LABEL_SETS)}, not {v!r}"),
        "batch_size": lambda v: (v >= 1, "batch size must be at least 1"),
        "lr": lambda v: (v > 0 and math.isfinite(v), f"learning rate (lr) must be a positive number, not {v}"),
        "weight_decay": lambda v: (v >= 0 and math.isfinite(v), f"weight_decay must be 0 or more, not {v}"),
        "lr_factor": lambda v: (
            0 < v < 1,
            f"lr_factor must be between 0 and 1 (the learning rate is multiplied by it), not {v}",
        ),
        "lr_patience": lambda v: (v >= 0, f"lr_patience must be 0 or more epochs, not {v}"),
        "early_stopping_patience": lambda v: (v >= 1, f"early_stopping_patience must be at least 1 epoch, not {v}"),
        "focal_gamma": lambda v: (v >= 0 and math.isfinite(v), f"focal_gamma must be 0 or more, not {v}"),
        "threads": lambda v: (
            v is None or v >= 1,
            f"threads must be at least 1 (or unset: torch's own choice), not {v}",
        ),
        "seed": lambda v: (0 <= v < 2**32, f"seed must be between 0 and {2**32 - 1}, not {v}"),
        "class_weights": lambda v: (v in ("none", "balanced"), "class weights must be 'none' or 'balanced'"),
        "window": lambda v: (v in WINDOWS, f"unknown beat window {v!r} ({' or '.join(WINDOWS)})"),
        "sampling": lambda v: (v in SAMPLINGS, f"sampling must be one of {', '.join(SAMPLINGS)}"),
        "loss": lambda v: (v in LOSSES, f"loss must be one of {', '.join(LOSSES)}"),
        "augment": lambda v: (
            set(v) <= set(AUGMENTATIONS),
            f"unknown augmentation(s) {', '.join(sorted(set(v) - set(AUGMENTATIONS)))} "
            f"(available: {', '.join(AUGMENTATIONS)})",
        ),
        "ensemble": lambda v: (v >= 1, "ensemble must be at least 1 model"),
        "workers": lambda v: (v is None or v >= 0, "workers must be 0 (read batches in the training process) or more"),
    }
    if name not in checks:
        return None
    ok, message = checks[name](value)
    return None if ok else message


def settings_text(settings: dict) -> str:
    """Settings by name as a config file or KEY=VALUE gives them, in one line: ``augment=scale,shift
    other_lead=true``; ``-`` for none."""

    def text(value) -> str:
        if isinstance(value, bool) or value is None:
            return json.dumps(value)
        return (
            ",".join(map(str, value))
            if isinstance(value, list)
            else f"{value:g}"
            if isinstance(value, float)
            else str(value)
        )

    return " ".join(f"{key}={text(value)}" for key, value in sorted(settings.items())) or "-"


_PLAIN_INT = re.compile(r"\s*[-+]?\d+\s*")
_PLAIN_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _read_as(value, kind):
    """``value`` read as the command line reads a setting of type ``kind`` (``TrainConfig.checked_values``);
    unchanged where that does not apply, for ``fits`` to judge."""
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    if any(typing.get_origin(option) is list for option in options):  # list[str]: test_records, augment
        if isinstance(value, str):  # comma-separated, as on the command line
            return [item.strip() for item in value.split(",") if item.strip() and item.strip() != "none"]
        if fits(value, int):  # one record, written as a number
            return [str(value)]
        if isinstance(value, list):
            return [str(item) if fits(item, int) else item for item in value]
        return value
    if isinstance(value, str):
        if int in options and _PLAIN_INT.fullmatch(value):
            return int(value)
        if float in options and _PLAIN_NUMBER.fullmatch(value):
            return float(value)
    return value


def _type_error(name: str, value, written: str) -> str:
    """The message for setting ``name`` holding ``value``, which is not of its type (``written`` as the
    dataclass writes it: ``float``, ``int | None``, ``list[str]``)."""
    hint = ""
    if "bool" in written and isinstance(value, str):
        hint = " (true or false, without quotes)"
    elif "int" in written and isinstance(value, float):
        hint = " (a whole number)"
    elif value is None:
        hint = " (leave the setting out for its default)"
    return f"{name}={value!r}: expected {written}{hint}"


#: ``arrhythmia train --preset NAME``: the configurations measured best on the validation records
#: (benchmarks/accuracy.py; docs/training-measured.md, "What was tried for new patients, chosen on validation"),
#: with the settings that differ between the two protocols.
PRESETS: dict[str, dict] = {
    # Accuracy first: the SE-ResNet on centred windows with context features, augmented, an ensemble of seeds.
    "best": {
        "model": "se-resnet",
        "window": "centred",
        "context_features": True,
        "augment": ["scale", "wander", "noise", "shift", "lowpass"],
        "epochs": 20,
        "early_stopping_patience": 6,
        "lr_patience": 3,
        "ensemble": 3,
    },
    # Minutes on a laptop CPU, and the fast model for inference.
    "fast": {
        "model": "fast-cnn",
        "window": "centred",
        "context_features": True,
        "augment": ["scale", "wander", "noise", "shift", "lowpass"],
        "epochs": 20,
        "batch_size": 256,
        "lr": 2e-3,
        "early_stopping_patience": 6,
        "lr_patience": 3,
    },
}
#: Per protocol: new patients (inter) need the rare classes weighted up, or S and F are hardly ever
#: predicted; with the same patients in training (intra) the weights only cost accuracy. The few
#: validation patients of inter are too noisy to pick an epoch by: the last is kept (README, DS1 CV).
PRESET_PROTOCOL_SETTINGS: dict[str, dict] = {
    "inter": {"class_weights": "balanced", "checkpoint": "last"},
    "intra": {},
}
