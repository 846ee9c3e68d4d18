"""Every command that reopens a run works on every kind of run: a Kachuee-window run, a centred-window run
with context features, and an ensemble (evaluate and report once failed on centred-window runs, reloading
their beats with the Kachuee window)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import write_wfdb_database
from test_cli import run_cli

KINDS = {
    "kachuee": ["--model", "seed-cnn", "--window", "kachuee"],
    "centred-context": ["--model", "fast-cnn", "--window", "centred", "--context-features"],
    "ensemble": ["--model", "fast-cnn", "--window", "centred", "--rr-features", "--ensemble", "2"],
}


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    return write_wfdb_database(tmp_path_factory.mktemp("db"), n_records=4)


@pytest.fixture(scope="module", params=list(KINDS))
def trained(request, database, tmp_path_factory):
    run = tmp_path_factory.mktemp(request.param) / "run"
    result = run_cli(
        "train", "--data", database, "--epochs", "2", "--batch-size", "64", "--threads", "1", "--run-dir", run,
        *KINDS[request.param],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return request.param, run


def test_evaluate_reproduces_the_metrics_of_training(trained, database):
    kind, run = trained
    written = json.loads((run / "metrics.json").read_text())
    result = run_cli("evaluate", run)
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "metrics.json").read_text()) == written  # the same beats, cut the same way
    # Named as another source, the same database is cut with the run's window too.
    result = run_cli("evaluate", run, "--data", database)
    assert result.returncode == 0, result.stderr
    other = json.loads((run / f"metrics-{database.name}.json").read_text())
    assert other["n_beats"] == written["n_beats"] and other["accuracy"] == written["accuracy"]


def test_report_draws_every_figure(trained):
    kind, run = trained
    (run / "report.html").unlink()
    result = run_cli("report", run)
    assert result.returncode == 0, result.stderr
    assert (run / "report.html").stat().st_size > 20_000 and len(list((run / "figures").glob("*.png"))) == 7


def test_export_and_predict_with_both_engines(trained, database, tmp_path):
    from arrhythmia.data.recording import read_input
    from arrhythmia.export import export_model, load_classifier
    from arrhythmia.predict import label_recording

    kind, run = trained
    assert export_model(run, "torchscript", tmp_path / "m.ts.pt").stat().st_size > 0
    onnx_file = export_model(run, "onnx", tmp_path / "m.onnx")
    recording = read_input(database / "r01")
    # Without adaptation: re-estimated normalisation runs in PyTorch only (the ONNX graph has it folded in).
    labels = {
        engine: label_recording(recording, load_classifier(run, engine), adapt=False).beats["label"].tolist()
        for engine in ("torch", "onnx")
    }
    assert labels["torch"] == labels["onnx"] and len(labels["torch"]) > 50
    # The exported ONNX file labels the recording through predict as the run does (the command line's export
    # and engines: test_cli.test_export_both_formats and test_predict_a_wfdb_record_with_both_engines).
    out = tmp_path / "predict-file"
    result = run_cli("predict", database / "r01", "--run", onnx_file, "--out", out, "--no-adapt")
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(out / "beats.csv", keep_default_na=False)["label"].tolist() == labels["torch"]


def test_an_interrupted_run_evaluated_reported_or_exported_as_it_stands_says_so(tmp_path):
    """A run stopped by Ctrl-C after epoch 1 of 2 and never resumed was evaluated, reported and exported as
    any other: its report said '1 (at most 2)' epochs and nothing else, and a paper's figures could come
    from a run that was never finished."""
    from arrhythmia.config import TrainConfig
    from arrhythmia.experiment import run_experiment
    from arrhythmia.runs import Run
    from arrhythmia.train import TrainingInterrupted

    def interrupt_after_epoch_1(line: str) -> None:
        if line.startswith("epoch   1/"):
            raise KeyboardInterrupt

    config = TrainConfig(data="synthetic", model="seed-cnn", epochs=2, batch_size=64, threads=1)
    path = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        run_experiment(config, run_dir=path, progress=False, log=interrupt_after_epoch_1)
    said = f"{path}: training stopped after epoch 1 (of at most 2) and was not resumed"
    assert Run.open(path).unfinished().startswith(said)
    evaluated = run_cli("evaluate", path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stderr.strip().splitlines() == [f"warning: {Run.open(path).unfinished()}"]
    assert "<strong>Unfinished.</strong>" in (path / "report.html").read_text()
    exported = run_cli("export", path)
    assert exported.returncode == 0 and exported.stderr.startswith(f"warning: {said}"), exported.stderr
    compared = run_cli("compare", path, path)
    assert compared.returncode == 0 and compared.stderr.count(said) == 1, compared.stderr
    run_experiment(config, run_dir=path, resume=True, progress=False, log=lambda _: None)
    assert Run.open(path).unfinished() is None
    assert "Unfinished." not in (path / "report.html").read_text()


def test_a_file_or_a_cross_validation_given_for_a_run_is_named_as_what_it_is(tmp_path):
    """`arrhythmia evaluate RUN/model.pt` said the run directory 'does not exist', and a crossval directory
    was 'not a run directory (no config.json)' without a word of its folds."""
    from arrhythmia.errors import ArrhythmiaError
    from arrhythmia.runs import Run

    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(ArrhythmiaError, match=r"model.pt: a file, not a run directory"):
        Run.open(tmp_path / "model.pt")
    (tmp_path / "cv" / "fold-1").mkdir(parents=True)
    (tmp_path / "cv" / "fold-1" / "config.json").write_text("{}")
    with pytest.raises(ArrhythmiaError, match=r"cv: a cross-validation's directory, not a run: its folds are runs "):
        Run.open(tmp_path / "cv")
    with pytest.raises(ArrhythmiaError, match=r"missing: run directory does not exist"):
        Run.open(tmp_path / "missing")
