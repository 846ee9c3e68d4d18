"""ONNX and TorchScript exports: metadata, agreement with PyTorch, and safe defaults."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from arrhythmia.config import TrainConfig
from arrhythmia.data.synthetic import load_synthetic
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.experiment import run_experiment
from arrhythmia.export import OnnxClassifier, export_model, load_classifier
from arrhythmia.inference import Classifier


@pytest.fixture(scope="module")
def run_and_beats(tmp_path_factory):
    beats = load_synthetic(n_records=3, duration_s=60)
    config = TrainConfig(model="kachuee-resnet", epochs=2, batch_size=64, threads=1)
    run = run_experiment(
        config, run_dir=tmp_path_factory.mktemp("run"), beats=beats, progress=False, log=lambda _: None, report=False
    )
    return run, beats


def test_onnx_agrees_with_pytorch_and_carries_metadata(run_and_beats):
    run, beats = run_and_beats
    path = export_model(run, "onnx")
    assert path == run / "model.onnx"
    onnx_model = OnnxClassifier(path)
    assert onnx_model.classes == ("N", "S", "V", "F", "Q") and onnx_model.input_length == 187
    expected = Classifier.from_run(run).predict_proba(beats.X)
    got = onnx_model.predict_proba(beats.X)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9999


def _shipped_inputs(model, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Beats and context features for a shipped model, as another lead or device would give them."""
    rng = np.random.default_rng(0)
    X = rng.normal(0.2, 0.5, (n, model.input_length)).astype(np.float32)
    return X, np.abs(rng.normal(1.0, 0.2, (n, model.n_context))).astype(np.float32)


def test_onnx_renormalised_agrees_with_pytorch():
    onnx_model = OnnxClassifier.from_pretrained()
    torch_model = Classifier.from_pretrained(device="cpu")
    X, context = _shipped_inputs(onnx_model)
    expected = torch_model.renormalised(X[:300], context[:300]).predict_proba(X, context)
    got = onnx_model.renormalised(X[:300], context[:300], batch_size=128).predict_proba(X, context)
    assert np.abs(got - expected).max() > 1e-3  # batches of 128, not 1024: other batch statistics
    got = onnx_model.renormalised(X[:300], context[:300]).predict_proba(X, context)
    assert np.abs(got - expected).max() < 1e-4
    unadapted = onnx_model.predict_proba(X, context)
    assert np.abs(got - unadapted).max() > 0.05  # the statistics did change ...
    assert np.abs(unadapted - torch_model.predict_proba(X, context)).max() < 1e-4  # ... in the copy only


def test_an_onnx_graph_with_its_normalisation_folded_in_is_not_renormalised(tmp_path):
    import onnx

    from arrhythmia import pretrained
    from arrhythmia.adapt import AdaptConfig, adapt

    graph = onnx.load(str(pretrained.model_dir(pretrained.DEFAULT) / "model.onnx"))
    # as exports before BatchNormalization nodes were kept: none in the graph (here simply taken out), and
    # no metadata saying they were
    kept = [prop for prop in graph.metadata_props if prop.key == "batchnorm"]
    assert kept and kept[0].value == "nodes"
    graph.metadata_props.remove(kept[0])
    for node in [n for n in graph.graph.node if n.op_type == "BatchNormalization"]:
        for n in graph.graph.node:
            if node.output[0] in n.input:
                n.input[list(n.input).index(node.output[0])] = node.input[0]
        graph.graph.node.remove(node)
    onnx.save(graph, str(tmp_path / "folded.onnx"))
    folded = OnnxClassifier(tmp_path / "folded.onnx")
    X, context = _shipped_inputs(folded, 100)
    assert folded.renormalised(X, context) is None
    result = adapt(folded, X, context, folded.predict_proba(X, context), AdaptConfig(families=False, rhythm=False))
    assert result.steps["batchnorm"].startswith("skipped: the ONNX graph has its normalisation folded in")


def test_an_onnx_export_of_a_model_without_normalisation_is_renormalised_as_it_is(run_and_beats):
    run, beats = run_and_beats  # kachuee-resnet: no BatchNorm layer
    onnx_model = OnnxClassifier(export_model(run, "onnx"))
    same = onnx_model.renormalised(beats.X[:100])
    assert same is not None and np.array_equal(same.predict_proba(beats.X), onnx_model.predict_proba(beats.X))


def test_torchscript_export_keeps_the_checkpoint(run_and_beats):
    run, beats = run_and_beats
    checkpoint = (run / "model.pt").read_bytes()
    path = export_model(run, "torchscript")
    assert path.name == "model.ts.pt" and (run / "model.pt").read_bytes() == checkpoint
    extra = {"metadata.json": ""}
    scripted = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["classes"] == '["N", "S", "V", "F", "Q"]'
    with torch.no_grad():
        probs = scripted(torch.from_numpy(beats.X[:16])).numpy()
    assert np.allclose(probs, Classifier.from_run(run).predict_proba(beats.X[:16]), atol=1e-5)


def test_export_out_may_be_a_folder_and_its_name_must_not_say_another_format(run_and_beats, tmp_path):
    run, _ = run_and_beats
    folder = tmp_path / "exports"
    folder.mkdir()
    assert export_model(run, "onnx", folder) == folder / "model.onnx"  # was '.exports.XXXX.tmp: Is a directory'
    # A name without a suffix that does not exist yet is a folder too, not a file without an extension.
    assert export_model(run, "onnx", tmp_path / "new" / "dir") == tmp_path / "new" / "dir" / "model.onnx"
    assert (tmp_path / "new" / "dir" / "model.onnx").is_file()
    assert export_model(run, "torchscript", tmp_path / "ts") == tmp_path / "ts" / "model.ts.pt"
    assert OnnxClassifier(folder / "model.onnx").classes == ("N", "S", "V", "F", "Q")
    for fmt, name, message in (
        ("torchscript", "x.onnx", "a .onnx name is for ONNX files, but --format torchscript writes PyTorch"),
        ("onnx", "x.pt", "a .pt name is for PyTorch (TorchScript) files, but --format onnx writes ONNX"),
    ):
        with pytest.raises(ArrhythmiaError, match=re.escape(f"{tmp_path / name}: {message}")):
            export_model(run, fmt, tmp_path / name)
        assert not (tmp_path / name).exists()
    checkpoint = (run / "model.pt").read_bytes()
    with pytest.raises(ArrhythmiaError, match="model.pt: the run's training checkpoint"):
        export_model(run, "torchscript", run / "model.pt")
    assert (run / "model.pt").read_bytes() == checkpoint


def test_a_torchscript_export_given_as_a_model_is_one_line_saying_what_is_taken(run_and_beats):
    from arrhythmia.checkpoint import ModelSpec

    path = export_model(run_and_beats[0], "torchscript")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's 'looks like a TorchScript archive' warning came first
        with pytest.raises(ArrhythmiaError, match="^" + re.escape(f"{path}: a TorchScript export; --run takes a run")):
            load_classifier(path)
        with pytest.raises(ArrhythmiaError, match="a TorchScript export, which is for deployment and is not read back"):
            ModelSpec.load(path)


def test_foreign_onnx_file_is_refused(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"garbage")
    with pytest.raises(ArrhythmiaError, match="not a valid ONNX model"):
        OnnxClassifier(path)
    # MODEL.ONNX is read as an ONNX graph too (it was sent to the PyTorch checkpoint reader)
    shouting = tmp_path / "MODEL.ONNX"
    shouting.write_bytes(b"garbage")
    with pytest.raises(ArrhythmiaError, match="not a valid ONNX model"):
        load_classifier(shouting)


def test_unknown_format(run_and_beats):
    with pytest.raises(ArrhythmiaError, match="unknown export format"):
        export_model(run_and_beats[0], "tflite")


def _deploy(path, signal: np.ndarray, fs: float) -> tuple[np.ndarray, object]:
    """README's deployment: the graph in ONNX Runtime, its inputs cut by the package's own function."""
    import onnxruntime as ort

    from arrhythmia.data import Window
    from arrhythmia.data.detection import detect_r_peaks
    from arrhythmia.data.pipeline import cut_beats

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    window = Window.from_dict(json.loads(meta["window"]))
    peaks = detect_r_peaks(signal, fs)
    beats = cut_beats(signal, fs, peaks, window, with_context=bool(json.loads(meta["context_features"])))
    feeds = {"beats": beats.X} | ({"context": beats.context} if beats.context is not None else {})
    return session.run(None, feeds)[0], beats


def test_an_onnx_file_says_how_its_inputs_are_made_and_they_can_be_made_so(run_and_beats):
    from arrhythmia.data.synthetic import synthetic_ecg
    from arrhythmia.export import preprocessing, preprocessing_settings

    run, _ = run_and_beats
    path = export_model(run, "onnx")
    onnx_model = OnnxClassifier(path)
    meta = onnx_model.session.get_modelmeta().custom_metadata_map
    text = meta["preprocessing"]
    assert "arrhythmia.data.pipeline.cut_beats" in text and "125 Hz" in text and "10 s windows" in text
    assert "context:" not in text  # kachuee-resnet takes no context features
    assert text == preprocessing(onnx_model.window, [])
    assert json.loads(meta["preprocessing_settings"]) == preprocessing_settings(onnx_model.window, [])

    ecg = synthetic_ecg(duration_s=60, fs=360, seed=3)
    probabilities, beats = _deploy(path, ecg.signal, 360)
    assert len(probabilities) == beats.kept.sum() > 50
    expected = Classifier.from_run(run).predict_proba(beats.X)
    assert np.abs(probabilities - expected).max() < 1e-4

    # A shipped model with context features: the description says how to make all nine, and the graph given
    # what cut_beats makes gives the package's probabilities.
    from arrhythmia import pretrained

    shipped = Classifier.from_pretrained(device="cpu")
    described = preprocessing(shipped.window, shipped.spec.context_features)
    assert "0.5 Hz" in described and "context: 9 float32 features" in described and "within 150 s" in described
    probabilities, beats = _deploy(pretrained.model_dir(pretrained.DEFAULT) / "model.onnx", ecg.signal, 360)
    assert beats.context.shape == (beats.kept.sum(), 9)
    assert np.abs(probabilities - shipped.predict_proba(beats.X, beats.context)).max() < 1e-4


def test_a_checkpoint_or_a_shipped_model_is_exported_as_predict_takes_it(run_and_beats, tmp_path, monkeypatch):
    from arrhythmia import pretrained

    run, beats = run_and_beats
    checkpoint = tmp_path / "kept" / "best.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes((run / "model.pt").read_bytes())
    path = export_model(checkpoint, "onnx")
    assert path == tmp_path / "kept" / "best.onnx"
    expected = Classifier.from_run(run).predict_proba(beats.X)
    assert np.abs(OnnxClassifier(path).predict_proba(beats.X) - expected).max() < 1e-4
    assert export_model(run / "model.pt", "onnx") == run / "model.onnx"

    # A shipped model, by its folder, its model.pt or its name: into the current folder, not the package.
    folder = pretrained.model_dir(pretrained.DEFAULT)
    shipped = (folder / "model.onnx").read_bytes()
    monkeypatch.chdir(tmp_path)
    for given in (folder, folder / "model.pt", pretrained.DEFAULT):
        written = export_model(given, "onnx")
        assert written == Path(f"{pretrained.DEFAULT}.onnx") and written.is_file(), given
        written.unlink()
    assert export_model(None, "onnx", tmp_path / "x.onnx", pretrained_name=pretrained.DEFAULT) == tmp_path / "x.onnx"
    assert (folder / "model.onnx").read_bytes() == shipped
    X = np.random.default_rng(0).normal(0.3, 0.2, (50, 87)).astype(np.float32)
    context = np.ones((50, 9), dtype=np.float32)
    got = OnnxClassifier(tmp_path / "x.onnx").predict_proba(X, context)
    assert np.abs(got - Classifier.from_pretrained(device="cpu").predict_proba(X, context)).max() < 1e-4

    for given, message in (
        (tmp_path / "nothing", "no such run directory or checkpoint, nor a shipped model (shipped: fast-cnn-ds1"),
        (tmp_path / "x.onnx", "an ONNX export already"),
        (tmp_path, "no model.pt here"),
    ):
        with pytest.raises(ArrhythmiaError, match=re.escape(f"{given}: {message}")):
            export_model(given, "onnx")


def test_a_model_without_context_features_takes_and_leaves_aside_the_context_given(run_and_beats, tmp_path):
    """Beside a model that takes only the beat window, context features given anyway are left aside, by
    ``renormalised`` too (it fed them to ``torch.from_numpy`` as None: a TypeError traceback)."""
    _, beats = run_and_beats
    config = TrainConfig(model="fast-cnn", context_features=False, epochs=1, batch_size=64, threads=1)
    run = run_experiment(
        config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None, report=False
    )
    classifier = Classifier.from_run(run)
    assert classifier.spec.n_context == 0 and any(
        isinstance(m, torch.nn.BatchNorm1d) for m in classifier.model.modules()
    )
    context = np.ones((len(beats.X), 9), dtype=np.float32)
    adapted = classifier.renormalised(beats.X, context)
    np.testing.assert_allclose(
        adapted.predict_proba(beats.X, context), classifier.renormalised(beats.X).predict_proba(beats.X)
    )


def _documented_cut(signal: np.ndarray, fs: float, peaks: np.ndarray, meta: dict) -> tuple:
    """The beats and context features of a centred-window model made as its metadata says, with NumPy and
    SciPy alone (what a deployment without this package writes): (X, context, kept)."""
    from fractions import Fraction

    from scipy.signal import butter, resample_poly, sosfiltfilt

    s = json.loads(meta["preprocessing_settings"])
    assert s["kind"] == json.loads(meta["window"])["kind"] == "centred"
    n_in = int(meta["input_length"])
    assert s["before_samples"] + 1 + s["after_samples"] == n_in
    x = np.asarray(signal, dtype=np.float64)
    x = np.where(np.isnan(x), np.nanmedian(x), x)
    x = sosfiltfilt(butter(s["baseline_highpass_order"], s["baseline_highpass_hz"], "highpass", fs=fs, output="sos"), x)
    ratio = Fraction(s["fs_hz"] / fs).limit_denominator(s["resample_max_denominator"])
    if ratio != 1:
        x = resample_poly(x, ratio.numerator, ratio.denominator)
    assert s["r_peak_rounding"] == "half_to_even" and s["edge"] == "repeat"
    at = np.clip(np.round(peaks * s["fs_hz"] / fs).astype(int), 0, len(x) - 1)
    block = int(round(s["scale_window_s"] * s["fs_hz"]))
    rows, kept = [], np.zeros(len(peaks), dtype=bool)
    for i, p in enumerate(at):
        stretch = x[p // block * block : (p // block + 1) * block]
        lo, hi = stretch.min(), stretch.max()
        if hi > lo:
            kept[i] = True
            index = np.clip(np.arange(p - s["before_samples"], p + s["after_samples"] + 1), 0, len(x) - 1)
            rows.append((x[index] - lo) / (hi - lo))
    X = np.array(rows, dtype=np.float32).reshape(-1, n_in)

    t = peaks / fs
    if len(peaks) < 2:
        rr = np.ones((len(peaks), 6))
    else:
        intervals = np.clip(np.diff(t), *s["rr_range_s"])
        pre, post = np.r_[intervals[:1], intervals], np.r_[intervals, intervals[-1:]]
        local = np.array([pre[max(0, i - s["local_beats"] + 1) : i + 1].mean() for i in range(len(t))])
        half = s["global_s"] / 2
        wide = np.array([pre[(t >= ti - half) & (t <= ti + half)].mean() for ti in t])
        rr = np.stack([pre, post, pre / post, pre / local, post / local, pre / wide], axis=1)
    B = X.astype(np.float64)
    minute = peaks[kept] // int(round(s["template_block_s"] * fs))
    template = np.empty_like(B)
    for b in np.unique(minute):
        members = minute == b
        template[members] = np.median(B[members] if members.sum() >= s["template_min_beats"] else B, axis=0)
    e, cap = s["template_eps"], s["template_max_ratio"]
    bc, mc = B - B.mean(1, keepdims=True), template - template.mean(1, keepdims=True)
    corr = (bc * mc).sum(1) / (np.linalg.norm(bc, axis=1) * np.linalg.norm(mc, axis=1) + e)
    rms = np.minimum(np.sqrt(((B - template) ** 2).mean(1)) / (template.std(1) + e), cap)
    amplitude = np.minimum(np.ptp(B, axis=1) / (np.ptp(template, axis=1) + e), cap)
    context = np.hstack([rr[kept], np.stack([corr, rms, amplitude], axis=1)]).astype(np.float32)
    return X, context, kept


def test_the_preprocessing_the_metadata_describes_is_the_one_cut_beats_does():
    """A deployment that cannot install this package makes the graph's inputs from the metadata alone. The
    text left out what the first and last beats' windows hold past the signal's ends (MIT-BIH 100 and 208:
    their first and last beats, so the template features of every beat of the first and last minute, 80 and
    113 beats, differed), the rounding of R peaks at 125 Hz (C's round() moves a quarter of the beats of a
    250 Hz recording by one sample: 28 labels of 208), and the template features' guard against a flat median
    (template_rms off by up to 2e-4)."""
    from arrhythmia.data import Window
    from arrhythmia.data.pipeline import cut_beats
    from arrhythmia.data.synthetic import synthetic_ecg
    from arrhythmia.export import metadata

    meta = metadata(Classifier.from_pretrained(device="cpu"))
    window = Window.from_dict(json.loads(meta["window"]))
    text = meta["preprocessing"]
    assert "first or last sample's value" in text and "halves rounded to even" in text and "e = 1e-06" in text
    for fs, seed in ((360, 1), (250, 2), (128, 3)):
        ecg = synthetic_ecg(duration_s=130, fs=fs, seed=seed)  # its last minute holds fewer than 8 beats
        signal = ecg.signal.copy()
        signal[int(40 * fs) : int(41 * fs)] = np.nan  # a gap: the lead's median there
        peaks = np.r_[3, ecg.r_peaks, len(signal) - 2]  # windows that run past both ends
        if fs == 250:
            peaks = peaks | 1  # odd samples: every one halfway between two at 125 Hz
        peaks = np.unique(peaks)
        beats = cut_beats(signal, fs, peaks, window)
        X, context, kept = _documented_cut(signal, fs, peaks, meta)
        assert kept.all() and np.array_equal(kept, beats.kept), fs
        np.testing.assert_allclose(X, beats.X, rtol=0, atol=1e-6, err_msg=f"{fs} Hz")
        np.testing.assert_allclose(context, beats.context, rtol=1e-6, atol=1e-6, err_msg=f"{fs} Hz")
    # one beat (no RR interval), and a flat lead (no beat at all)
    for signal, peaks in ((ecg.signal, ecg.r_peaks[5:6]), (np.zeros(1280), np.array([300, 700]))):
        beats = cut_beats(signal, 128, peaks, window)
        X, context, kept = _documented_cut(signal, 128, peaks, meta)
        assert np.array_equal(kept, beats.kept)
        np.testing.assert_allclose(X, beats.X, atol=1e-6)
        np.testing.assert_allclose(context, beats.context, atol=1e-6)


def test_an_export_that_cannot_be_written_or_read_says_so_in_one_line(run_and_beats, tmp_path, monkeypatch):
    import onnx

    from arrhythmia import export

    run, _ = run_and_beats
    blocker = tmp_path / "model.onnx"
    blocker.write_bytes(b"x")
    with pytest.raises(ArrhythmiaError, match=re.escape(f"{blocker / 'v2.onnx'}: {blocker} is a file, not a folder")):
        export_model(run, "onnx", blocker / "v2.onnx")

    def refused(path, write):  # as a read-only folder answers (root writes anywhere, so it is simulated)
        raise PermissionError(13, "Permission denied", str(path.parent / f".{path.name}.abc123.tmp"))

    monkeypatch.setattr(export, "atomic_write_bytes", refused)
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.ts.pt")):
        with pytest.raises(ArrhythmiaError) as caught:
            export_model(run, fmt, tmp_path / name)
        assert str(caught.value) == f"{tmp_path / name}: cannot write the export there (Permission denied)"
    monkeypatch.undo()

    # A graph whose metadata another tool damaged or dropped in part: one line, not a KeyError or JSON traceback.
    graph = onnx.load(str(export_model(run, "onnx")))
    meta = {prop.key: prop.value for prop in graph.metadata_props}
    # An export from before 0.2 names its context features rr_features: damaged, that key is the one named.
    before_0_2 = {k: v for k, v in meta.items() if k != "context_features"}
    for key, value, message, base in (
        ("classes", "N,S,V", "classes: 'N,S,V' is not valid", meta),
        ("input_length", None, "input_length: missing", meta),
        ("rr_features", "rr,pre", "rr_features: 'rr,pre' is not valid", before_0_2),
    ):
        changed = {k: v for k, v in base.items() if k != key} | ({key: value} if value is not None else {})
        del graph.metadata_props[:]
        onnx.helper.set_model_props(graph, changed)
        path = tmp_path / f"damaged_{key}.onnx"
        onnx.save(graph, str(path))
        with pytest.raises(
            ArrhythmiaError, match=re.escape(f"{path}: its arrhythmia metadata is damaged ({message}); export")
        ):
            load_classifier(path, engine="onnx")


def test_a_cross_validations_directory_is_named_so_with_its_folds_to_export(tmp_path):
    """`arrhythmia export` of a crossval directory said 'no model.pt here (a run directory holds one once
    trained)', as if training had not finished, where its five fold models sit one folder down."""
    for k in (1, 2):
        (tmp_path / "cv" / f"fold-{k}").mkdir(parents=True)
        (tmp_path / "cv" / f"fold-{k}" / "model.pt").write_bytes(b"")
    (tmp_path / "cv" / "crossval.json").write_text("{}")
    with pytest.raises(ArrhythmiaError) as refused:
        export_model(tmp_path / "cv", "onnx")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'cv'}: a cross-validation's directory: its folds are runs (fold-1, fold-2)")
    assert f"`arrhythmia export {tmp_path / 'cv' / 'fold-1'}`" in message


class _Attending(torch.nn.Module):
    """A tiny transformer over the beat window: attention, whose fast path PyTorch takes only without autograd."""

    def __init__(self, n_classes: int = 5, input_length: int = 187):
        super().__init__()
        self.embed = torch.nn.Conv1d(1, 16, kernel_size=8, stride=4)
        self.encoder = torch.nn.TransformerEncoderLayer(16, nhead=2, dim_feedforward=32, batch_first=True)
        self.head = torch.nn.Linear(16, n_classes)

    def forward(self, x, context=None):
        tokens = self.encoder(self.embed(x).transpose(1, 2))
        return self.head(tokens.mean(dim=1))


def test_a_model_with_attention_is_exported_as_torchscript(tmp_path):
    """Traced with autograd on, PyTorch's attention took one path on the first run and another on the check
    ('TracingCheckError: Graphs differed across invocations'): a transformer of one's own could not be exported."""
    from arrhythmia import models

    models.register("test-attending", "a tiny transformer")(_Attending)
    try:
        beats = load_synthetic(n_records=3, duration_s=60)
        config = TrainConfig(model="test-attending", epochs=1, batch_size=64, threads=1)
        run = run_experiment(
            config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None, report=False
        )
        path = export_model(run, "torchscript")
        with torch.no_grad():
            probs = torch.jit.load(str(path))(torch.from_numpy(beats.X[:16])).numpy()
        assert np.allclose(probs, Classifier.from_run(run).predict_proba(beats.X[:16]), atol=1e-5)
    finally:
        for table in (models._REGISTRY, models._DESCRIPTIONS, models._SOURCES):
            table.pop("test-attending", None)
