"""Export a trained model for deployment (ONNX, TorchScript) and run ONNX models with onnxruntime.

The exported graph takes raw beats ``(n, input_length) float32`` (cut with the model's beat window) and,
for models with rhythm features, ``context (n, n_context) float32``, and returns class probabilities
``(n, n_classes)``: the training split's standardisation and the softmax are part of the graph. Cutting
the beats and computing their context features is not: ``arrhythmia.data.pipeline.cut_beats`` makes them
(or a re-implementation of it that the ``preprocessing`` metadata describes). Class names, input length,
beat window, context feature names, that description, standardisation and the model name are also stored in
the file's metadata (ONNX ``metadata_props``; TorchScript ``metadata.json`` extra file).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from arrhythmia import pretrained
from arrhythmia.checkpoint import MODEL_FILE, ONNX_FILE, is_torchscript
from arrhythmia.data.beats import WINDOWS, Window
from arrhythmia.data.context import GLOBAL_S, LOCAL_BEATS, RR_RANGE_S, TEMPLATE_BLOCK_S, TEMPLATE_MIN_BEATS
from arrhythmia.data.segmentation import BASELINE_CUTOFF_HZ, SEGMENT_RR_FACTOR, WINDOW_SECONDS
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.files import atomic_write_bytes
from arrhythmia.inference import Classifier, RecordingLabeller, check_beat_inputs

FORMATS = ("onnx", "torchscript")
# model.pt is the training checkpoint: the TorchScript export must not overwrite it.
EXPORT_FILES = {"onnx": ONNX_FILE, "torchscript": "model.ts.pt"}
#: File name endings that say a format: an export is not written under another format's.
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".ts")}
FORMAT_NAMES = {"onnx": "ONNX", "torchscript": "PyTorch (TorchScript)"}
#: A run's training files, which an export must not replace.
TRAINING_FILES = (MODEL_FILE, "last.pt")


def _shipped_name(folder: Path) -> str | None:
    """The name of the shipped model whose folder ``folder`` is, else None."""
    for name in pretrained.available():
        if folder.resolve() == pretrained.model_dir(name).resolve():
            return name
    return None


def export_source(
    model: str | Path | None = None, fmt: str = "onnx", pretrained_name: str | None = None
) -> tuple[Path, Path]:
    """The checkpoint to export and where its export goes by default, for what ``predict --run`` and
    ``--pretrained`` take: a run directory (``RUN/model.onnx``), a ``.pt`` checkpoint (beside it:
    ``model.pt`` -> ``model.onnx``, ``x.pt`` -> ``x.onnx``), or a shipped model, by name or by its folder
    (``NAME.onnx`` in the current folder: never into the installed package). ArrhythmiaError, one line, for
    anything else."""
    ending = SUFFIXES[fmt][0] if fmt == "onnx" else ".ts.pt"
    if model is not None and pretrained_name is not None:
        raise ArrhythmiaError("give a model (a run directory, a .pt checkpoint) or --pretrained NAME, not both")
    if model is None:
        if pretrained_name is None:
            raise ArrhythmiaError("give a model to export: a run directory, a .pt checkpoint, or --pretrained NAME")
        return pretrained.model_dir(pretrained_name) / MODEL_FILE, Path(f"{pretrained_name}{ending}")
    path = Path(model)
    if not path.exists():
        if str(model) in pretrained.available():
            return export_source(None, fmt, str(model))
        raise ArrhythmiaError(
            f"{path}: no such run directory or checkpoint, nor a shipped model "
            f"(shipped: {', '.join(pretrained.available()) or 'none'})"
        )
    if path.is_dir():
        name = _shipped_name(path)
        if name is not None:
            return path / MODEL_FILE, Path(f"{name}{ending}")
        if not (path / MODEL_FILE).is_file():
            folds = sorted(p.name for p in path.glob("fold-*") if (p / MODEL_FILE).is_file())
            if folds:  # a crossval directory: a model per fold, none of its own
                raise ArrhythmiaError(
                    f"{path}: a cross-validation's directory: its folds are runs ({', '.join(folds)}), each with its "
                    f"model; export one (`arrhythmia export {path / folds[0]}`), or train the model to deploy "
                    "once with `arrhythmia train --protocol inter`"
                )
            raise ArrhythmiaError(f"{path}: no {MODEL_FILE} here (a run directory holds one once trained)")
        return path / MODEL_FILE, path / EXPORT_FILES[fmt]
    if path.suffix.lower() == ".onnx":
        raise ArrhythmiaError(f"{path}: an ONNX export already; export takes a run directory or a .pt checkpoint")
    if is_torchscript(path):
        raise ArrhythmiaError(f"{path}: a TorchScript export; export takes a run directory or a .pt checkpoint")
    name = _shipped_name(path.parent) if path.name == MODEL_FILE else None
    if name is not None:
        return path, Path(f"{name}{ending}")
    default = path.parent / EXPORT_FILES[fmt] if path.name == MODEL_FILE else path.with_name(f"{path.stem}{ending}")
    return path, default


def export_path(
    model: str | Path | None, fmt: str, out: str | Path | None = None, pretrained_name: str | None = None
) -> Path:
    """Where ``export_model`` writes: ``out``, or the format's file in ``out`` where that is a folder or a
    name without a suffix that does not exist yet (made), or ``export_source``'s default without it.
    ArrhythmiaError for a name whose ending says another format (TorchScript in ``x.onnx``) or a training
    checkpoint (the one exported, a run's ``model.pt``, ``last.pt``)."""
    checkpoint, default = export_source(model, fmt, pretrained_name)
    out = default if out is None else Path(out)
    if out.is_dir() or (not out.exists() and not out.suffix):  # exp/newdir: a folder, as an existing one is
        out = out / EXPORT_FILES[fmt]
    # The folders are made as the file is written; a file where one is to go said so there as "File exists".
    blocking = next((parent for parent in out.parents if parent.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise ArrhythmiaError(f"{out}: {blocking} is a file, not a folder to write the export in")
    for other, suffixes in SUFFIXES.items():
        if other != fmt and out.suffix.lower() in suffixes:
            raise ArrhythmiaError(
                f"{out}: a {out.suffix} name is for {FORMAT_NAMES[other]} files, but --format {fmt} writes "
                f"{FORMAT_NAMES[fmt]}; name it *{SUFFIXES[fmt][0]} (e.g. {EXPORT_FILES[fmt]})"
            )
    checkpoints = [checkpoint, *(checkpoint.parent / name for name in TRAINING_FILES)]
    if out.exists() and any(out.resolve() == path.resolve() for path in checkpoints):
        raise ArrhythmiaError(f"{out}: the run's training checkpoint; export to another file")
    return out


class Deployable(nn.Module):
    """Standardise, classify, softmax: raw beats (n, L) [and context (n, n_context)] -> probabilities (n, n_classes)."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.model = classifier.model.cpu().eval()
        scaling = classifier.scaling
        self.register_buffer("mean", torch.from_numpy(scaling.mean))
        self.register_buffer("std", torch.from_numpy(scaling.std))
        self.takes_context = classifier.takes_context
        if self.takes_context:
            self.register_buffer("context_mean", torch.from_numpy(scaling.context_mean))
            self.register_buffer("context_std", torch.from_numpy(scaling.context_std))

    def forward(self, beats: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = ((beats - self.mean) / self.std).unsqueeze(1)
        context = (context - self.context_mean) / self.context_std if self.takes_context else None
        return torch.softmax(self.model(x, context), dim=1)


#: How ``segmentation`` and ``context`` compute what the preprocessing text describes, where the package keeps
#: no constant of its own (numbers written in those functions): a test re-implements ``cut_beats`` from
#: ``preprocessing_settings`` alone and compares, so these cannot drift from the code unseen.
BASELINE_ORDER = 2  # segmentation.remove_baseline's Butterworth order
SHORT_SIGNAL_SAMPLES = 15  # remove_baseline subtracts the median from a lead this short (no room for filtfilt)
RESAMPLE_MAX_DENOMINATOR = 1000  # segmentation.resample's up/down: Fraction(...).limit_denominator(1000)
TEMPLATE_EPS = 1e-6  # context.template_features' guard in its three denominators
TEMPLATE_MAX_RATIO = 10.0  # and its cap on the RMS and amplitude ratios


def preprocessing_settings(window: Window, context_features: tuple[str, ...] | list[str]) -> dict:
    """The numbers the ``preprocessing`` text gives, as JSON for a re-implementation: rates in Hz, times in s,
    lengths in samples at ``fs_hz`` (``before_samples`` and ``after_samples``: the beat is
    ``before_samples + 1 + after_samples`` long, the R peak at index ``before_samples``)."""
    settings: dict = {
        "kind": window.kind,
        "fs_hz": window.fs,
        "resample_max_denominator": RESAMPLE_MAX_DENOMINATOR,
        "r_peak_rounding": "half_to_even",
        "scale_window_s": WINDOW_SECONDS,
    }
    if window.kind == "kachuee":
        settings |= {"length": window.length, "segment_rr_factor": SEGMENT_RR_FACTOR}
    else:
        settings |= {
            "baseline_highpass_hz": BASELINE_CUTOFF_HZ,
            "baseline_highpass_order": BASELINE_ORDER,
            "short_signal_samples": SHORT_SIGNAL_SAMPLES,
            "before_samples": window.r_peak,
            "after_samples": window.length - window.r_peak - 1,
            "edge": "repeat",
        }
    if context_features:
        settings |= {
            "rr_range_s": list(RR_RANGE_S),
            "local_beats": LOCAL_BEATS,
            "global_s": GLOBAL_S,
            "template_block_s": TEMPLATE_BLOCK_S,
            "template_min_beats": TEMPLATE_MIN_BEATS,
            "template_eps": TEMPLATE_EPS,
            "template_max_ratio": TEMPLATE_MAX_RATIO,
        }
    return settings


def preprocessing(window: Window, context_features: tuple[str, ...] | list[str]) -> str:
    """How the graph's inputs are made from a recording, in words, for the file's metadata: the graph holds
    the standardisation and the network, not the cutting of beats nor their context features, which
    ``arrhythmia.data.pipeline.cut_beats`` makes (``predict`` and training alike). Every step, order, rounding
    rule and edge case a re-implementation needs to give the same float32 inputs is said (the numbers also in
    ``preprocessing_settings``)."""
    low, high = RR_RANGE_S
    fs = f"{window.fs:g}"
    window_len = int(round(WINDOW_SECONDS * window.fs))
    # The steps both windows share: the same resampling, and the same mapping of R peaks to the new rate.
    resampled = (
        f"resampled to {fs} Hz (scipy.signal.resample_poly(x, up, down) with its defaults, up/down = "
        f"Fraction({fs} / fs).limit_denominator({RESAMPLE_MAX_DENOMINATOR}); none when fs is {fs} Hz). Each R "
        f"peak r (a sample at fs) becomes sample round(r * {fs} / fs) of the resampled signal, halves rounded to "
        f"even (numpy.round; C's round() differs for a peak exactly between two samples), clipped to the signal."
    )
    windows = (
        f"the {WINDOW_SECONDS:g} s windows are consecutive stretches of {window_len} samples of the resampled "
        f"signal from its first sample, the last one shorter, and an R peak's is the one holding its {fs} Hz sample"
    )
    if window.kind == "kachuee":
        beats = (
            f"beats: one ECG lead in mV (NaN or infinite samples replaced by the median of the others first), "
            f"{resampled} "
            f"{windows[0].upper()}{windows[1:]}. From each R peak, min(round({SEGMENT_RR_FACTOR:g} x the median "
            f"difference of the {fs} Hz samples of its window's R peaks), input_length) samples starting at the "
            f"peak, scaled as (x - min) / (max - min) by its window's minimum and maximum and clipped to [0, 1], "
            f"zeros after them (and past the signal's end) up to input_length; a window with fewer than 2 R peaks, "
            f"or flat, gives no beats."
        )
    else:
        before = window.r_peak
        after = window.length - window.r_peak - 1
        beats = (
            f"beats: one ECG lead in mV (NaN or infinite samples replaced by the median of the others first), "
            f"baseline removed "
            f"(Butterworth high-pass of order {BASELINE_ORDER} at {BASELINE_CUTOFF_HZ:g} Hz, zero phase: "
            f"scipy.signal.butter({BASELINE_ORDER}, {BASELINE_CUTOFF_HZ:g}, 'highpass', fs=fs, output='sos') run "
            f"by scipy.signal.sosfiltfilt with its default padding; a lead of {SHORT_SIGNAL_SAMPLES} samples or "
            f"fewer has its median subtracted instead), then {resampled} The beat is the {window.length} samples "
            f"from {before} before to {after} after that sample ({window.before_s:g} s before to "
            f"{window.after_s:g} s after the R peak), a sample before the signal's start or past its end taking "
            f"the first or last sample's value (the first and last beats are kept). Each beat is scaled as "
            f"(x - lo) / (hi - lo) in float64, then float32, with lo and hi the minimum and maximum of its R "
            f"peak's {WINDOW_SECONDS:g} s window ({windows}); a peak whose window is flat (hi = lo) gives no beat."
        )
    text = (
        "Inputs are made by arrhythmia.data.pipeline.cut_beats(signal_mV, fs, r_peaks, window) of the "
        f"arrhythmia package; a re-implementation must match it (the numbers below are also in "
        f"preprocessing_settings, JSON). R peaks: any detector (predict uses "
        f"arrhythmia.data.detection.detect_r_peaks, and cuts beats from the signal with mains hum removed and "
        f"muscle noise low-passed where there is any). {beats}"
    )
    if context_features:
        text += (
            f" context: {len(context_features)} float32 features per beat that gave one, in context_features' "
            f"order. RR features from every R peak given (all beats, not only those classified or kept) at the "
            f"recording's rate fs, not their {fs} Hz samples: RR intervals (r[i] - r[i-1]) / fs in s clipped to "
            f"[{low:g}, {high:g}], a beat's pre RR the interval before it and its post RR the one after it (the "
            f"first beat's pre RR is its post RR, the last's post RR its pre RR): pre_rr_s, post_rr_s, pre/post, "
            f"pre / local, post / local with local the mean pre RR of this beat and the {LOCAL_BEATS - 1} before it "
            f"(fewer at the start), pre / the mean pre RR of the beats whose time r / fs is within "
            f"{GLOBAL_S / 2:g} s either side of this one's (ends included); with fewer than 2 R peaks all six are "
            f"1. Template features against the typical beat of the beat's block, the {TEMPLATE_BLOCK_S:g} s "
            f"stretches of the recording from its first sample (block r // round({TEMPLATE_BLOCK_S:g} * fs)): the "
            f"sample-wise median, in float64, of the float32 beat windows of the beats in the block that gave "
            f"one, or of all the recording's such beats where the block holds fewer than {TEMPLATE_MIN_BEATS}. "
            f"For a beat window b and its typical beat m (b' = b - mean(b), m' = m - mean(m), e = "
            f"{TEMPLATE_EPS:g}): template_corr = sum(b' * m') / (norm(b') * norm(m') + e), template_rms = "
            f"min(sqrt(mean((b - m)^2)) / (std(m) + e), {TEMPLATE_MAX_RATIO:g}) with the population standard "
            f"deviation, template_amplitude = min((max(b) - min(b)) / (max(m) - min(m) + e), "
            f"{TEMPLATE_MAX_RATIO:g})."
        )
    return text + (
        " The output is the network's probabilities alone: predict's per-recording adaptation (its "
        "BatchNormalization statistics re-estimated on the recording, morphology families, rhythm rules) is "
        "not in the graph, so its labels can differ."
    )


def metadata(classifier: Classifier) -> dict[str, str]:
    """String metadata stored with an exported model."""
    scaling = classifier.scaling
    return {
        "producer": "arrhythmia",
        "model": classifier.model_name,
        "classes": json.dumps(list(classifier.classes)),
        "input_length": str(classifier.input_length),
        "window": json.dumps(classifier.window.to_dict()),
        "context_features": json.dumps(list(classifier.spec.context_features)),
        "input": "beats (n, input_length) float32, cut with the window above; "
        "context (n, n_context) float32 if context_features",
        "output": "class probabilities (n, n_classes); standardisation and softmax are in the graph",
        "preprocessing": preprocessing(classifier.window, classifier.spec.context_features),
        "preprocessing_settings": json.dumps(
            preprocessing_settings(classifier.window, classifier.spec.context_features)
        ),
        "mean": json.dumps(scaling.mean.tolist()),
        "std": json.dumps(scaling.std.tolist()),
        # Exports before this key folded BatchNormalization into the convolutions (``OnnxClassifier.renormalised``).
        "batchnorm": "nodes",
    }


def export_model(
    model: str | Path | None, fmt: str = "onnx", out: str | Path | None = None, pretrained_name: str | None = None
) -> Path:
    """Write ``model`` (a run directory, a ``.pt`` checkpoint, a shipped model's name or folder; or None and
    the shipped model ``pretrained_name``) as ONNX or TorchScript to ``export_path(...)``; returns the file
    written."""
    if fmt not in FORMATS:
        raise ArrhythmiaError(f"unknown export format {fmt!r} ({' or '.join(FORMATS)})")
    out = export_path(model, fmt, out, pretrained_name)  # checked before the model is read
    classifier = Classifier.from_checkpoint(export_source(model, fmt, pretrained_name)[0], device="cpu")
    module = Deployable(classifier).eval()
    example = (torch.from_numpy(np.full((2, classifier.input_length), 0.5, dtype=np.float32)),)
    names = ["beats"]
    if classifier.takes_context:
        example += (torch.ones(2, classifier.scaling.n_context),)
        names.append("context")
    meta = metadata(classifier)
    if fmt == "torchscript":
        with torch.no_grad():  # as it is run: attention takes another path with autograd, and the check fails
            traced = torch.jit.trace(module, example)
        extra = {"metadata.json": json.dumps(meta)}
        _write(out, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra))
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
            # BatchNormalization stays a node of its own (ONNX Runtime fuses it into the convolution when it
            # loads the graph), so that ``OnnxClassifier.renormalised`` can re-estimate its statistics.
            do_constant_folding=False,
        )
        graph = onnx.load(str(tmp))
        onnx.helper.set_model_props(graph, meta)
        onnx.save(graph, str(tmp))

    _write(out, write)
    return out


def _write(out: Path, write: Callable[[Path], None]) -> None:
    """``atomic_write_bytes(out, write)``, a file-system error said as the export's, in one line."""
    try:
        atomic_write_bytes(out, write)
    except OSError as exc:
        raise ArrhythmiaError(f"{out}: cannot write the export there ({exc.strerror or exc})") from None


def _metadata_field(
    meta: dict[str, str], key: str, parse: Callable[[str], Any], path: Path, default: Any = None
) -> Any:
    """``parse(meta[key])``: one field of an export's arrhythmia metadata (``metadata``), ``default`` where
    the field is absent and has one; ArrhythmiaError (one line) naming ``path`` where it is absent without a
    default or does not parse (a graph re-saved or edited by another tool)."""
    if key in meta:
        try:
            return parse(meta[key])
        except (ValueError, TypeError):
            found = f"{meta[key][:40]!r} is not valid"
    elif default is not None:
        return default
    else:
        found = "missing"
    raise ArrhythmiaError(f"{path}: its arrhythmia metadata is damaged ({key}: {found}); export the model again")


def _session(model: str | bytes, path: Path):
    """An ONNX Runtime session on the CPU for ``model`` (a file name or a serialised graph from ``path``)."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for invalid files
        raise ArrhythmiaError(f"{path}: not a valid ONNX model ({str(exc).splitlines()[0]})") from None


def _set_attribute(node, name: str, value) -> None:
    """Set ``node``'s attribute ``name`` (an ONNX NodeProto's), adding it where the node lacks it."""
    import onnx

    for attribute in node.attribute:
        if attribute.name == name:
            attribute.CopyFrom(onnx.helper.make_attribute(name, value))
            return
    node.attribute.append(onnx.helper.make_attribute(name, value))


class OnnxClassifier(RecordingLabeller):
    """An exported ONNX model run with onnxruntime; the same predict API as ``Classifier`` (``predict_proba``,
    ``predict_signal``, ``predict_record``)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise ArrhythmiaError(f"{path}: ONNX model does not exist")
        self.session = _session(str(path), path)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("producer") != "arrhythmia":
            raise ArrhythmiaError(f"{path}: not an ONNX model exported by arrhythmia (no class metadata)")
        self.path = path
        self.classes: tuple[str, ...] = _metadata_field(meta, "classes", lambda text: tuple(json.loads(text)), path)
        self.input_length = _metadata_field(meta, "input_length", int, path)
        self.model_name = _metadata_field(meta, "model", str, path)
        self.window = _metadata_field(
            meta, "window", lambda text: Window.from_dict(json.loads(text)), path, default=WINDOWS["kachuee"]
        )
        # Exports before 0.2 called the context features "rr_features" and their graph input "rr".
        context_key = "rr_features" if "rr_features" in meta and "context_features" not in meta else "context_features"
        self.n_context = _metadata_field(meta, context_key, lambda text: len(json.loads(text)), path, default=0)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.batchnorm_kept = meta.get("batchnorm") == "nodes"

    @property
    def takes_context(self) -> bool:
        return self.n_context > 0

    @classmethod
    def from_pretrained(cls, name: str | None = None) -> OnnxClassifier:
        """The ONNX export of a model shipped with the package; the default one without ``name``."""
        return cls(pretrained.model_dir(name or pretrained.DEFAULT) / ONNX_FILE)

    @classmethod
    def from_run(cls, run_dir: str | Path) -> OnnxClassifier:
        """The run's ONNX export, written on first use."""
        path = Path(run_dir) / ONNX_FILE
        if not path.is_file() or path.stat().st_mtime < (Path(run_dir) / MODEL_FILE).stat().st_mtime:
            export_model(run_dir, "onnx", path)
        return cls(path)

    def _batches(self, session, X: np.ndarray, context: np.ndarray | None, batch_size: int, outputs=None):
        """``session``'s ``outputs`` (None: all) for each batch of beats X and their context."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        check_beat_inputs(X, context, self.input_length, self.n_context, str(self.path))
        for i in range(0, len(X), batch_size):
            feeds = {self.input_names[0]: X[i : i + batch_size]}
            if self.takes_context:
                feeds[self.input_names[1]] = np.ascontiguousarray(context[i : i + batch_size], dtype=np.float32)
            yield session.run(outputs, feeds)

    def predict_proba(self, X: np.ndarray, context: np.ndarray | None = None, batch_size: int = 4096) -> np.ndarray:
        """Class probabilities (n_beats, n_classes) float32 for raw beats X: (n_beats, input_length) and,
        for models with rhythm features, context: (n_beats, n_context)."""
        parts = [out[0] for out in self._batches(self.session, X, context, batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes)), dtype=np.float32)

    def renormalised(
        self, X: np.ndarray, context: np.ndarray | None = None, batch_size: int = 1024
    ) -> OnnxClassifier | None:
        """A copy whose BatchNormalization statistics are those of the beats X: (n, input_length) (and their
        context features), as ``Classifier.renormalised`` (AdaBN) re-estimates them: one pass over the beats
        in batches of ``batch_size``, every BatchNormalization node in training mode (each batch normalised
        by its own statistics), its new mean and variance the average of the batches'. None where the graph
        has no BatchNormalization node and was exported before they were kept (folded into its convolutions:
        export the model again); an unchanged copy for a later export of a model without them."""
        import onnx
        from onnx import numpy_helper

        original = onnx.load(str(self.path))
        norms = [node for node in original.graph.node if node.op_type == "BatchNormalization"]
        if not norms:  # a model without normalisation has nothing to re-estimate; an older export cannot
            return copy.copy(self) if self.batchnorm_kept else None
        measuring = onnx.shape_inference.infer_shapes(original)  # the same nodes, in the same order
        shapes = {info.name: info.type.tensor_type.shape for info in measuring.graph.value_info}
        statistics, per_value = [], []  # per norm: its outputs' names; how many values each channel spans a beat
        for k, node in enumerate(n for n in measuring.graph.node if n.op_type == "BatchNormalization"):
            _set_attribute(node, "training_mode", 1)
            _set_attribute(node, "momentum", 0.0)  # the outputs are then this batch's statistics
            del node.output[1:]
            node.output.extend([f"adabn/{k}/mean", f"adabn/{k}/var"])
            for name in node.output[1:]:
                measuring.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
            statistics += node.output[1:]
            dims = shapes[node.input[0]].dim if node.input[0] in shapes else []
            per_value.append(int(np.prod([d.dim_value or 1 for d in dims[2:]])))
        session = _session(measuring.SerializeToString(), self.path)
        sums = [[0.0, 0.0] for _ in norms]
        batches = 0
        for outputs in self._batches(session, X, context, batch_size, statistics):
            rows = min(batch_size, len(X) - batches * batch_size)
            for k, (mean, variance) in enumerate(zip(outputs[::2], outputs[1::2])):
                count = rows * per_value[k]
                sums[k][0] = sums[k][0] + mean.astype(np.float64)
                # ONNX's batch variance is the population one; PyTorch keeps the unbiased one.
                sums[k][1] = sums[k][1] + variance.astype(np.float64) * count / max(count - 1, 1)
            batches += 1
        if batches == 0:  # no beats: the statistics stay as they were
            return copy.copy(self)
        initializers = {tensor.name: tensor for tensor in original.graph.initializer}
        for node, (mean, variance) in zip(norms, sums):
            for name, values in ((node.input[3], mean), (node.input[4], variance)):
                initializers[name].CopyFrom(numpy_helper.from_array((values / batches).astype(np.float32), name))
        adapted = copy.copy(self)
        adapted.session = _session(original.SerializeToString(), self.path)
        return adapted

    def predict(self, X: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """Class indices, (n_beats,) int64."""
        return self.predict_proba(X, context).argmax(axis=1)


ENGINES = ("torch", "onnx")


def load_classifier(
    model: str | Path | None = None, engine: str = "torch", pretrained_name: str | None = None, device: str = "auto"
) -> Classifier | OnnxClassifier:
    """A classifier of either engine from wherever a model lives.

    model : a run directory, a ``model.pt`` checkpoint or an exported ``.onnx`` file; None for the shipped
    model ``pretrained_name`` (default: the default one). engine : ``torch`` (``Classifier``) or ``onnx``
    (``OnnxClassifier``; a run's ONNX export is written on first use, and ONNX Runtime runs on the CPU).
    device : where PyTorch runs (``auto``: CUDA, then MPS, then CPU).
    """
    if engine not in ENGINES:
        raise ArrhythmiaError(f"unknown engine {engine!r} ({' or '.join(ENGINES)})")
    if model is None:
        if engine == "onnx":
            return OnnxClassifier.from_pretrained(pretrained_name)
        return Classifier.from_pretrained(pretrained_name, device=device)
    model = Path(model)
    if model.suffix.lower() == ".onnx":  # as export_source reads it: MODEL.ONNX is an ONNX graph too
        return OnnxClassifier(model)
    if model.is_file():
        if is_torchscript(model):
            raise ArrhythmiaError(
                f"{model}: a TorchScript export; --run takes a run folder, a .pt checkpoint (model.pt) or an .onnx "
                "file, not TorchScript"
            )
        return Classifier.from_checkpoint(model, device=device)
    return OnnxClassifier.from_run(model) if engine == "onnx" else Classifier.from_run(model, device=device)
