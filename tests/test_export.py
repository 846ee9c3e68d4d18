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
    from arrhythmia.export import preprocessing

    run, _ = run_and_beats
    path = export_model(run, "onnx")
    onnx_model = OnnxClassifier(path)
    meta = onnx_model.session.get_modelmeta().custom_metadata_map
    text = meta["preprocessing"]
    assert "arrhythmia.data.pipeline.cut_beats" in text and "125 Hz" in text and "10 s windows" in text
    assert "context:" not in text  # kachuee-resnet takes no context features
    assert text == preprocessing(onnx_model.window, [])

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
    assert "0.5 Hz" in described and "context: 9 features" in described and "within 150 s" in described
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
