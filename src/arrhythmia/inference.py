"""A trained model ready to label beats: weights, standardisation, beat window and class names together."""

from __future__ import annotations

import copy
import numbers
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from arrhythmia import pretrained
from arrhythmia.checkpoint import MODEL_FILE, ModelSpec
from arrhythmia.data.beats import Window, nonfinite_rows
from arrhythmia.data.detection import MIN_DURATION_S
from arrhythmia.device import pick_device
from arrhythmia.errors import ArrhythmiaError, one_line
from arrhythmia.scaling import Scaling

if TYPE_CHECKING:
    import pandas as pd

    from arrhythmia.data.recording import Recording
    from arrhythmia.episodes import EpisodeConfig
    from arrhythmia.predict import RecordingLabels


def as_numbers(values: Any, what: str) -> Any:
    """``values`` as a NumPy array of numbers: a list, a tuple or another array-like through ``np.asarray``;
    an array that reads its rows when sliced (``batches.LazyRows``, a beat store's ``ShardedArray``) as it
    is; None as None. ArrhythmiaError (one line, naming ``what``) for values that are not numbers."""
    if values is None:
        return None
    reads_on_slicing = not isinstance(values, np.ndarray) and isinstance(getattr(values, "dtype", None), np.dtype)
    if not reads_on_slicing:
        try:
            values = np.asarray(values)
        except (ValueError, TypeError) as exc:  # ragged rows, most often
            raise ArrhythmiaError(f"{what} are not an array of numbers ({one_line(exc)})") from None
    if values.dtype.kind not in "iuf":
        raise ArrhythmiaError(f"{what} hold {values.dtype} values; they must be numbers")
    return values


def check_beat_inputs(
    X: np.ndarray, context: np.ndarray | None, input_length: int, n_context: int, model_name: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """ArrhythmiaError unless X is (n, input_length) numbers and, for a model with context features,
    context is (n, n_context) numbers, every beat and its features finite (X read on slicing, a beat
    store's, is checked for its shape only): the one check both engines (PyTorch and ONNX Runtime) make
    before classifying. Returns X and context as arrays (``as_numbers``: lists are taken); the context None
    for a model without context features, which takes none (``renormalised`` fed them to it)."""
    X = as_numbers(X, "beats")
    context = as_numbers(context, "context features") if n_context else None
    if X.ndim != 2 or X.shape[1] != input_length:
        raise ArrhythmiaError(f"beats have shape {X.shape}, {model_name} takes (n, {input_length})")
    if n_context and context is None:
        raise ArrhythmiaError(
            f"{model_name} needs the context features of each beat, (n, {n_context}); "
            "beats without R-peak positions (e.g. Heartbeat CSV rows) cannot be classified by it"
        )
    if n_context and (context.ndim != 2 or context.shape[1] != n_context):
        raise ArrhythmiaError(f"context features have shape {context.shape}, {model_name} takes (n, {n_context})")
    if n_context and len(context) != len(X):
        raise ArrhythmiaError(
            f"context features have {len(context)} rows for {len(X)} beats; {model_name} takes one row a beat"
        )
    for values, what in ((X, "samples"), (context if n_context else None, "context features")):
        if isinstance(values, np.ndarray):
            bad = int(nonfinite_rows(values).sum())
            if bad:
                raise ArrhythmiaError(
                    f"{bad} of {len(values)} beats hold NaN or infinite {what}; {model_name} cannot classify "
                    "them (drop or repair those beats first)"
                )
    return X, context


@torch.no_grad()
def softmax_batches(
    model: nn.Module,
    X: np.ndarray,
    device: torch.device,
    batch_size: int = 1024,
    context: np.ndarray | None = None,
    scaling: Scaling | None = None,
) -> np.ndarray:
    """Class probabilities (n, n_classes) of ``model`` for beats X: (n, length) and context features
    context: (n, n_context) or None, in batches; raw inputs standardised with ``scaling`` (None: already
    standardised). X may be any array that slices to NumPy rows (e.g. a beat store's ShardedArray)."""
    model.eval()
    out = []
    for start in range(0, len(X), batch_size):
        xb = np.asarray(X[start : start + batch_size])
        cb = None if context is None else context[start : start + batch_size]
        if scaling is not None:
            xb, cb = scaling.beats(xb), scaling.context(cb)
        x = torch.from_numpy(xb).unsqueeze(1).to(device)
        c = None if cb is None else torch.from_numpy(cb).to(device)
        out.append(torch.softmax(model(x, c), dim=1).cpu().numpy())
    n_classes = out[0].shape[1] if out else 0
    return np.concatenate(out) if out else np.zeros((0, n_classes), dtype=np.float32)


def with_batch_norms_folded(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` in which every BatchNorm that follows a convolution inside an
    ``nn.Sequential`` (each shipped model's blocks) is folded into that convolution's weights and bias
    (``torch.nn.utils.fusion.fuse_conv_bn_eval``): the same function with one pass over the activations
    fewer, for labelling only (the statistics can no longer be re-estimated: ``renormalised`` works on the
    model itself). ``model`` is left as it is."""
    folded = copy.deepcopy(model).eval()
    for sequence in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        layers = list(sequence)
        for i in range(len(layers) - 1):
            conv, norm = layers[i], layers[i + 1]
            if isinstance(conv, nn.modules.conv._ConvNd) and isinstance(norm, nn.modules.batchnorm._BatchNorm):
                sequence[i] = fuse_conv_bn_eval(conv, norm)
                sequence[i + 1] = nn.Identity()
    return folded


def signal_recording(signal: Any, fs: Any, units: str | float | None = None) -> Recording:
    """An ECG held in memory as the ``Recording`` that ``predict`` labels (lead and path ``signal``), in mV:
    ``RecordingLabeller.predict_signal``'s checks and conversions (see there), each refusal one
    ``ArrhythmiaError`` line."""
    from arrhythmia.data.recording import PLAUSIBLE_FS, Recording, is_ecg_rate
    from arrhythmia.data.units import millivolt_scale, mv_per_unit, typical_qrs_amplitude

    if signal is None:
        raise ArrhythmiaError(f"signal: no samples (None); a strip is at least {MIN_DURATION_S:g} s of one lead")
    if isinstance(signal, np.ma.MaskedArray):  # a device's mask marks samples it has not got: missing, as NaN
        signal = np.ma.asarray(signal, dtype=np.float64).filled(np.nan)
    signal = as_numbers(signal, "signal samples")
    if signal.ndim == 2 and 1 in signal.shape:  # one lead as a column or a row: nothing to choose
        signal = signal.reshape(-1)
    if signal.size == 0:  # as a strip under 2 s is refused, not an empty table for a device that sent nothing
        raise ArrhythmiaError(
            f"signal: no samples (an array of shape {signal.shape}); a strip is at least {MIN_DURATION_S:g} s "
            "of one lead"
        )
    if signal.dtype.kind in "iu":  # samples as whole numbers: floats, which can be NaN where missing
        signal = signal.astype(np.float64)
    if isinstance(fs, bool) or not isinstance(fs, numbers.Real):
        raise ArrhythmiaError(f"fs must be a sampling rate in Hz (a number), not {fs!r}")
    fs = float(fs)  # np.float32, Fraction, ...: a float, as every step takes it
    if np.isfinite(fs) and fs > 0 and not is_ecg_rate(fs):  # kHz given as Hz, a period: as predict and serve say
        low, high = PLAUSIBLE_FS
        raise ArrhythmiaError(f"signal: fs {fs:g} Hz is not an ECG sampling rate ({low:g}-{high:,g} Hz)")
    if units is not None:
        signal = np.asarray(signal, dtype=np.float64) * mv_per_unit(units)
    elif signal.ndim == 1 and np.isfinite(fs) and fs > 0 and not np.isinf(signal).any():
        height = typical_qrs_amplitude(np.asarray(signal, dtype=np.float64), fs)
        if millivolt_scale(height) != 1.0:  # counts or volts given as mV: the mV thresholds would misread them
            warnings.warn(
                f"signal: its QRS complexes are {height:.3g} units tall, too "
                f"{'small' if height < 1 else 'large'} for mV; labelled as mV all the same "
                "(pass units: 'uV', 'V' or the units per mV, e.g. a recorder's gain)",
                stacklevel=3,
            )
    return Recording(signal=signal, fs=fs, lead="signal", path="signal")


class RecordingLabeller:
    """``predict_signal`` and ``predict_record`` for a beat model (``Classifier``, ``export.OnnxClassifier``):
    every beat of an ECG in memory or in a file labelled through ``predict``, as ``arrhythmia predict`` does."""

    def predict_signal(
        self, signal: np.ndarray, fs: float, adapt: bool = True, units: str | float | None = None
    ) -> pd.DataFrame:
        """Label every beat of an ECG held in memory -> pandas.DataFrame (the table ``predict_record`` gives).

        signal : (n_samples,) numbers, one lead (a list, an int16 array, an (n_samples, 1) or (1, n_samples)
        array will do; NaN where samples are missing, a lead that came off; an infinity is refused), in mV
        unless ``units`` says otherwise: ``"uV"``, ``"V"`` or the units per mV (a recorder's ADC gain, ``200``
        for int16 counts of 5 uV). A signal whose QRS complexes are too small or too large for mV
        (``data.units``) is labelled as given, with a warning that names ``units``. fs : its sampling rate,
        Hz (a number, 20 to 10,000, as ``predict --fs`` takes it). adapt : adapt the labels to the recording
        (``arrhythmia.adapt``); a strip of fewer than ``AdaptConfig.batchnorm_min_beats`` (60) beats, as a
        10-s strip is, is adapted by its beats' shapes and timing without re-estimating the network's
        normalisation; one of fewer than ``AdaptConfig.min_beats`` (6) cannot be adapted and gets the network's
        own labels with a warning each call: ``adapt=False`` gives the same labels without it.

        A masked array's masked samples are missing samples, as NaN ones are.

        Raises ``ArrhythmiaError`` (one line) for a signal that is not numbers, not one lead or holds no samples
        (None, an empty array: as a strip under 2 s is refused), or a rate that is not a number or not a rate
        (``label_recording`` checks the rest). The model is loaded once: label any number of strips with one
        Classifier; from several threads at once it gives the labels it gives one strip at a time.
        """
        from arrhythmia.predict import predict_signal

        return predict_signal(signal_recording(signal, fs, units), self, adapt=adapt)

    def label_signal(
        self,
        signal: np.ndarray,
        fs: float,
        adapt: bool = True,
        units: str | float | None = None,
        episodes: dict | EpisodeConfig | None = None,
    ) -> RecordingLabels:
        """Everything ``arrhythmia predict`` makes of an ECG held in memory, without writing a file ->
        ``predict.RecordingLabels``: ``beats`` (the table ``predict_signal`` gives), ``episodes`` (the rhythm
        episodes, ``episodes.csv``'s rows: type, start_s, end_s, ...), ``hourly`` (``hourly.csv``), ``daily``
        (past a day, else None), ``hrv`` (SDNN, RMSSD, pNN50 of the whole signal), ``families``, ``adaptation``.
        ``predict.recording_summary(result, about, classifier.classes)`` gives its ``summary.json`` as a dict
        of plain Python values. ``signal``, ``fs``, ``adapt`` and ``units`` as ``predict_signal`` takes them (and
        refuses them); ``episodes``: the episodes' thresholds (``episodes.EpisodeConfig``'s fields, as
        ``--episode-setting`` sets them). Times are seconds from the signal's first sample, ``sample`` columns
        sample indices at ``fs``."""
        from arrhythmia.episodes import EpisodeConfig
        from arrhythmia.predict import label_recording

        config = EpisodeConfig.from_value(episodes)  # a misspelt or mistyped setting: one error line
        return label_recording(signal_recording(signal, fs, units), self, adapt=adapt, episodes=config)

    def predict_record(
        self,
        path: str | Path,
        fs: float | None = None,
        lead: str | int | None = None,
        adapt: bool = True,
        units: str | float | None = None,
    ) -> pd.DataFrame:
        """Label every beat of a recording (WFDB, EDF, CSV, .npy) or beat CSV -> pandas.DataFrame.

        For a recording, one row per detected beat: sample, time_s, label, confidence, p_<class> for each
        class, the beat's morphology family when the labels are adapted to the recording (``adapt``, the
        default; ``arrhythmia.adapt``) and more (``predict.predict_signal``); the table's ``attrs`` name the
        lead read and its rate (``{"lead": "MLII", "fs": 360.0}``). For a beat CSV, one row per CSV row: row,
        label, confidence, p_<class>. ``fs``, ``lead`` and ``units`` (the unit of a CSV or NumPy signal,
        ``--units``) as ``read_input`` takes them.
        """
        from arrhythmia.predict import predict_record

        return predict_record(path, self, fs=fs, lead=lead, adapt=adapt, units=units)


@dataclass
class Classifier(RecordingLabeller):
    """Labels beats with a trained model (or an ensemble of them).

    spec : the model's description (classes, window, context features, scaling, weights); model : its
    network, in eval mode on ``device``.
    """

    spec: ModelSpec
    model: nn.Module
    device: torch.device
    _labelling_model: nn.Module | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def labelling_model(self) -> nn.Module:
        """``model`` with its BatchNorms folded into the convolutions before them (``with_batch_norms_folded``),
        made once: what ``predict_proba`` runs."""
        if self._labelling_model is None:
            self._labelling_model = with_batch_norms_folded(self.model)
        return self._labelling_model

    @property
    def model_name(self) -> str:
        return self.spec.name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def window(self) -> Window:
        return self.spec.window

    @property
    def scaling(self) -> Scaling:
        return self.spec.scaling

    @property
    def input_length(self) -> int:
        return self.spec.input_length

    @property
    def takes_context(self) -> bool:
        return self.spec.n_context > 0

    @classmethod
    def from_spec(cls, spec: ModelSpec, device: str = "auto", where: str = "checkpoint") -> Classifier:
        """The network ``spec`` describes, built on ``device`` (``device.pick_device``) in eval mode; ``where``
        names the checkpoint in the one-line error of weights that do not fit it."""
        chosen = pick_device(device)
        return cls(spec=spec, model=spec.build(where).to(chosen).eval(), device=chosen)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> Classifier:
        """The model of a ``model.pt`` checkpoint (``checkpoint.ModelSpec.load``)."""
        return cls.from_spec(ModelSpec.load(path), device, str(path))

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> Classifier:
        """The model of a training run directory."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ArrhythmiaError(f"{run_dir}: run directory does not exist")
        return cls.from_checkpoint(run_dir / MODEL_FILE, device)

    @classmethod
    def from_pretrained(cls, name: str | None = None, device: str = "auto") -> Classifier:
        """A model shipped with the package (``arrhythmia.pretrained``); the default one without ``name``."""
        return cls.from_checkpoint(pretrained.model_dir(name or pretrained.DEFAULT) / MODEL_FILE, device)

    @torch.no_grad()
    def renormalised(self, X: np.ndarray, context: np.ndarray | None = None, batch_size: int = 1024) -> Classifier:
        """A copy whose BatchNorm statistics are those of the beats X: (n, input_length) (and their context
        features): every BatchNorm layer's running mean and variance re-estimated over them (AdaBN, Li et
        al. 2016), weights and all else unchanged. Adapts the model to one recording's patient, lead and
        device (``arrhythmia.adapt``)."""
        X, context = check_beat_inputs(X, context, self.input_length, self.spec.n_context, self.model_name)
        model = copy.deepcopy(self.model)
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return self
        model.eval()
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over all batches: the statistics of these beats
            norm.train()
        for start in range(0, len(X), batch_size):
            x = torch.from_numpy(self.scaling.beats(np.asarray(X[start : start + batch_size]))).unsqueeze(1)
            c = None if context is None else torch.from_numpy(self.scaling.context(context[start : start + batch_size]))
            model(x.to(self.device), None if c is None else c.to(self.device))
        return replace(self, model=model.eval())

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray, context: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities (n_beats, n_classes) float32 for raw beats X: (n_beats, input_length) cut
        with ``self.window``, and their context features: (n_beats, n_context) where ``takes_context``
        (arrays or lists of numbers; ArrhythmiaError, one line, for anything else); (0, n_classes) for none."""
        X, context = check_beat_inputs(X, context, self.input_length, self.spec.n_context, self.model_name)
        if len(X) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return softmax_batches(self.labelling_model, X, self.device, batch_size, context=context, scaling=self.scaling)

    def predict(self, X: np.ndarray, context: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
        """Class indices, (n_beats,) int64 (empty for no beats)."""
        return self.predict_proba(X, context, batch_size).argmax(axis=1).astype(np.int64)
