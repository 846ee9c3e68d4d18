"""Training end to end on small synthetic data: run directory, resume, checkpoints."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from arrhythmia import report
from arrhythmia.augment import AUGMENTATIONS
from arrhythmia.batches import epoch_order
from arrhythmia.checkpoint import MODEL_FORMAT, load_checkpoint
from arrhythmia.config import TrainConfig
from arrhythmia.data import get_window
from arrhythmia.data.synthetic import load_synthetic
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import evaluate_run
from arrhythmia.experiment import run_experiment
from arrhythmia.inference import Classifier
from arrhythmia.train import TrainingInterrupted


@pytest.fixture(scope="module")
def beats():
    return load_synthetic(n_records=4, duration_s=60)


def small_config(**overrides) -> TrainConfig:
    return TrainConfig(**{"model": "kachuee-resnet", "epochs": 4, "batch_size": 32, "threads": 1, **overrides})


def test_train_writes_a_complete_run_directory(tmp_path, beats):
    run = run_experiment(small_config(), run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None)
    for name in ("config.json", "environment.json", "history.csv", "model.pt", "last.pt", "data.json", "metrics.json"):
        assert (run / name).is_file(), name
    assert not list(run.path.glob("*.tmp")) and not list(run.path.glob(".*"))
    with (run / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert json.loads((run / "config.json").read_text())["model"] == "kachuee-resnet"
    env = json.loads((run / "environment.json").read_text())
    assert env["device"] == "cpu" and env["versions"]["torch"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_class"]) == {"N", "S", "V", "F", "Q"}
    assert 0 <= metrics["accuracy"] <= 1 and metrics["data"]["synthetic"] is True
    assert json.loads((run / "data.json").read_text())["synthetic"] is True


def test_training_learns_the_synthetic_classes(tmp_path, beats):
    run = run_experiment(
        small_config(model="seed-cnn", epochs=5),
        run_dir=tmp_path / "run",
        beats=beats,
        progress=False,
        log=lambda _: None,
    )
    assert json.loads((run / "metrics.json").read_text())["accuracy"] > 0.9


def test_best_checkpoint_carries_standardisation_fitted_on_train(tmp_path, beats):
    run = run_experiment(
        small_config(epochs=1), run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None
    )
    state = load_checkpoint(run / "model.pt", MODEL_FORMAT)
    from arrhythmia.data import make_split

    split = make_split(beats, "intra", 42)
    assert np.allclose(state["mean"].numpy(), beats.X[split.train].mean(axis=0), atol=1e-5)
    assert not np.allclose(state["mean"].numpy(), beats.X.mean(axis=0), atol=1e-6)
    classifier = Classifier.from_run(run)
    assert classifier.predict_proba(beats.X[:10]).shape == (10, 5)


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, beats):
    full = run_experiment(small_config(), run_dir=tmp_path / "full", beats=beats, progress=False, log=lambda _: None)

    def interrupt_after_epoch_2(line: str) -> None:
        if line.startswith("epoch   2/"):
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="--resume"):
        run_experiment(
            small_config(), run_dir=tmp_path / "cut", beats=beats, progress=False, log=interrupt_after_epoch_2
        )
    assert len(load_checkpoint(tmp_path / "cut" / "last.pt", "arrhythmia-resume/1")["history"]) == 2
    run_experiment(
        small_config(), run_dir=tmp_path / "cut", resume=True, beats=beats, progress=False, log=lambda _: None
    )

    expected = json.loads((full / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert resumed["confusion"] == expected["confusion"]
    assert resumed["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    a = load_checkpoint(full / "model.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "cut" / "model.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, beats):
    with pytest.raises(ArrhythmiaError, match="nothing to resume"):
        run_experiment(small_config(), run_dir=tmp_path, resume=True, beats=beats, progress=False)


def _files(folder) -> dict:
    """Every file under ``folder`` with its modification time and size."""
    return {str(f.relative_to(folder)): (f.stat().st_mtime_ns, f.stat().st_size) for f in folder.rglob("*")}


def test_training_into_a_folder_that_holds_a_run_is_refused_before_anything_is_written(tmp_path, beats):
    quiet = {"beats": beats, "progress": False, "log": lambda _: None}
    run = run_experiment(small_config(epochs=1), run_dir=tmp_path / "run", report=False, **quiet)
    before = _files(run.path)
    with pytest.raises(ArrhythmiaError, match=r"run: already holds a finished run; choose another --run-dir"):
        run_experiment(small_config(epochs=3, lr=0.01), run_dir=run.path, **quiet)
    assert _files(run.path) == before and run.config.epochs == 1
    (run / "metrics.json").unlink()  # stopped before it was tested: resumable
    with pytest.raises(ArrhythmiaError, match=re.escape(f"continue it with `arrhythmia train --resume {run.path}`")):
        run_experiment(small_config(epochs=3, lr=0.01), run_dir=run.path, **quiet)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "report.html").write_text("mine")
    with pytest.raises(ArrhythmiaError, match=r"already holds files a run writes \(report.html\)"):
        run_experiment(small_config(epochs=1), run_dir=tmp_path / "other", **quiet)
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["report.html"]
    (tmp_path / "stale").mkdir()  # another model's predictions on another source: a new run would sit beside them
    (tmp_path / "stale" / "predictions-db.csv").write_text("record,sample\n")
    with pytest.raises(ArrhythmiaError, match=r"already holds files a run writes \(predictions-db.csv\)"):
        run_experiment(small_config(epochs=1), run_dir=tmp_path / "stale", **quiet)


def test_a_run_that_fails_before_its_first_epoch_is_saved_leaves_no_directory(tmp_path, beats):
    with pytest.raises(ArrhythmiaError, match="data directory does not exist"):
        run_experiment(small_config(data=str(tmp_path / "none")), run_dir=tmp_path / "made" / "run", progress=False)
    assert not (tmp_path / "made").exists()

    def interrupt(line: str) -> None:
        if "parameters" in line:  # the model is built: its first epoch is next
            raise KeyboardInterrupt

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("kept")
    with pytest.raises(TrainingInterrupted, match="interrupted before the first epoch was saved; nothing to keep"):
        run_experiment(small_config(), run_dir=mine, beats=beats, progress=False, log=interrupt)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]  # what the run wrote went, the folder stays


def test_an_interrupted_ensemble_member_names_the_ensemble_to_resume_and_a_finished_run_says_so(tmp_path, beats):
    config = small_config(epochs=2, ensemble=2)
    seen: list[str] = []

    def interrupt_in_member_2(line: str) -> None:
        seen.append(line)
        if any("member 2/2" in s for s in seen) and line.startswith("epoch   1/"):
            raise KeyboardInterrupt

    run_dir = tmp_path / "ensemble"
    with pytest.raises(TrainingInterrupted, match="ensemble member 2/2") as stopped:
        run_experiment(config, run_dir=run_dir, beats=beats, progress=False, log=interrupt_in_member_2)
    assert str(stopped.value).endswith(f"continue with `arrhythmia train --resume {run_dir}`")
    lines: list[str] = []
    run = run_experiment(config, run_dir=run_dir, resume=True, beats=beats, progress=False, log=lines.append)
    assert f"{run_dir / 'members' / '0'}: finished before (2 epochs); nothing left to train" in lines
    assert Classifier.from_run(run).model_name == "ensemble of 2 kachuee-resnet"
    lines.clear()
    run_experiment(config, run_dir=run_dir, resume=True, beats=beats, progress=False, log=lines.append, report=False)
    assert f"{run_dir / 'members' / '1'}: finished before (2 epochs); nothing left to train" in lines


def test_class_weights_and_early_stopping(tmp_path, beats):
    lines: list[str] = []
    config = small_config(epochs=6, class_weights="balanced", early_stopping_patience=1, lr=1e-9)
    run = run_experiment(config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lines.append)
    with (run / "history.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) < 6
    assert any("early stopping" in line for line in lines)


def test_a_run_that_stopped_early_and_is_resumed_says_how_many_epochs_it_trained(tmp_path, beats, monkeypatch):
    import itertools

    import arrhythmia.train as training

    # The validation loss worsens every epoch: with a patience of 2, epochs 1-3 train and the 4th is never begun.
    worse = itertools.count(1.0)
    monkeypatch.setattr(training, "validate", lambda *args, **kwargs: (next(worse), 0.5))
    config = small_config(epochs=6, early_stopping_patience=2)
    run = training.train(config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None)
    assert len(run.history()) == 3
    state = load_checkpoint(run.resume_path, "arrhythmia-resume/1")
    assert state["finished"] and state["epoch"] + 1 == 3  # the last epoch trained, not the one stopped before
    lines: list[str] = []
    training.train(config, run_dir=run.path, resume=True, beats=beats, progress=False, log=lines.append)
    assert f"{run.path}: finished before (3 epochs); nothing left to train" in lines  # it said 4


def test_history_gives_the_learning_rate_each_epoch_trained_with(tmp_path, beats, monkeypatch):
    """history.csv (and the epoch's log line, and the report's schedule) gave the rate after the scheduler's
    step, the next epoch's: an epoch whose validation loss made the rate drop was shown at the lowered rate,
    though it had trained at the one before."""
    import itertools

    import arrhythmia.train as training

    worse = itertools.count(1.0)  # the validation loss worsens every epoch: the rate drops after epochs 2, 3
    monkeypatch.setattr(training, "validate", lambda *args, **kwargs: (next(worse), 0.5))
    used: list[float] = []
    train_epoch = training.train_epoch

    def recording(model, batches, optimizer, *args, **kwargs):
        used.append(optimizer.param_groups[0]["lr"])
        return train_epoch(model, batches, optimizer, *args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", recording)
    config = small_config(epochs=3, lr=1e-3, lr_patience=0, lr_factor=0.5, early_stopping_patience=10)
    lines: list[str] = []
    run = training.train(config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lines.append)
    assert used == pytest.approx([1e-3, 1e-3, 5e-4])
    assert [row["lr"] for row in run.history()] == pytest.approx(used)
    assert [line.split("| lr ")[1][:7] for line in lines if "| lr " in line] == ["1.0e-03", "1.0e-03", "5.0e-04"]


def test_the_report_says_when_early_stopping_stopped_each_member_and_their_training_time(tmp_path, beats, monkeypatch):
    """The report said '3 (at most 6)' epochs and no more: not that early stopping had ended the run, nor, for
    an ensemble, that its curves and kept epoch were member 1's alone, and its training time was member 1's."""
    import itertools

    import arrhythmia.train as training

    worse = itertools.count(1.0)  # every member's validation loss worsens: 3 epochs each, epoch 1 kept
    monkeypatch.setattr(training, "validate", lambda *args, **kwargs: (next(worse), 0.5))
    config = small_config(model="seed-cnn", epochs=6, early_stopping_patience=2, ensemble=2)
    run = run_experiment(config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None)
    page = (run / "report.html").read_text()
    stopped = "3 (at most 6); stopped early: no validation improvement in the 2 epochs after epoch 1 (patience 2)"
    assert f"<dt>epochs trained</dt><dd>{stopped}</dd>" in page
    assert "the curves and kept epoch are member 1&#x27;s" in page
    assert f"<dt>member 2 (seed 43)</dt><dd>epochs trained {stopped}; kept epoch 1</dd>" in page
    seconds = sum(row["seconds"] for member in run.members() for row in member.history())
    assert f"<dt>total training time</dt><dd>{report.format_duration(seconds)}</dd>" in page
    assert report.epochs_text(run.history()[:2], replace(config, epochs=2)) == "2 (at most 2)"  # ran to the end
    assert report.epochs_text(run.history(), replace(config, checkpoint="last")) == "3 (at most 6)"


def test_last_checkpoint_trains_every_epoch_and_keeps_the_last(tmp_path, beats):
    from arrhythmia.checkpoint import ModelSpec
    from arrhythmia.train import train

    config = small_config(epochs=4, early_stopping_patience=1, lr=1e-9, checkpoint="last")
    run = train(config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None)
    with (run / "history.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 4  # no early stopping
    assert ModelSpec.load(run.model_path).epoch == 4
    with pytest.raises(ArrhythmiaError, match="checkpoint must be 'best' or 'last'"):
        small_config(checkpoint="first").validate()


@pytest.mark.parametrize(
    ("setting", "recorded", "in_report"),
    [
        ("other_lead", {"leads": ["V5"]}, "training beats cut from the other lead (V5)"),
        ("mixed_lead", {"angles_deg": [20.0, 160.0]}, "training beats cut from a mixture of the record"),
    ],
)
def test_the_other_or_a_mixed_lead_adds_training_beats_only(tmp_path, wfdb_db, setting, recorded, in_report):
    from arrhythmia.train import train

    config = TrainConfig(
        model="fast-cnn", data=str(wfdb_db), window="centred", context_features=True, epochs=1, **{setting: True}
    )
    run = run_experiment(config, run_dir=tmp_path / "run", progress=False, log=lambda _: None)
    data = json.loads((run / "data.json").read_text())
    first = run.split()
    assert in_report in (run / "report.html").read_text()
    assert sum(data["counts"]["train"].values()) == len(first.train)  # the first lead's, as evaluation reloads
    assert data[setting] == {**recorded, "train_beats_added": len(first.train)}
    assert {"other_lead", "mixed_lead"} & set(data) == {setting}
    with pytest.raises(ArrhythmiaError, match="one lead per record"):
        train(replace(config, data="synthetic"), run_dir=tmp_path / "synthetic", progress=False, log=lambda _: None)


def test_record_batches_hold_one_lead_of_one_record(tmp_path, wfdb_db, monkeypatch):
    """With record batches (and the other lead's copies), every training batch is one record's beats cut
    from one lead, so BatchNorm normalises it with one recording's statistics."""
    import arrhythmia.train as train_module

    batches: list[np.ndarray] = []

    class Spy(train_module.EpochBatches):
        def __iter__(self):
            for index, seed in super().__iter__():
                batches.append(index)
                yield index, seed

    monkeypatch.setattr(train_module, "EpochBatches", Spy)
    config = TrainConfig(
        model="fast-cnn", data=str(wfdb_db), window="centred", context_features=True, epochs=1, batch_size=16,
        other_lead=True, record_batches=True,
    )  # fmt: skip
    run = train_module.train(config, run_dir=tmp_path / "run", progress=False, log=lambda _: None)
    n_first = len(run.beats(progress=False))
    records = run.beats(progress=False).record
    first, copies = [index[index < n_first] for index in batches], [index[index >= n_first] for index in batches]
    assert sum(map(len, first)) == len(run.split().train) and sum(map(len, copies)) > 0
    assert all(len(a) == 0 or len(b) == 0 for a, b in zip(first, copies))  # one lead per batch
    assert all(len(set(records[a])) <= 1 for a in first)  # one record per batch
    with pytest.raises(ArrhythmiaError, match="record batches need sampling shuffle"):
        TrainConfig(record_batches=True, sampling="balanced").validate()


class Foreign:
    """Not a tensor: torch.load(weights_only=True) must refuse to build it."""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda p: p.write_bytes(b"not a checkpoint at all"), "not a readable checkpoint"),
        # a run's history.csv given for its model (`arrhythmia export RUN/history.csv`): an IndexError's traceback
        (lambda p: p.write_bytes(b"epoch,train_loss,train_acc\n1,0.5,0.8\n"), "not a readable checkpoint"),
        (lambda p: torch.save({"weights": torch.zeros(2)}, p), "not an arrhythmia checkpoint"),
        (lambda p: torch.save({"format": MODEL_FORMAT, "evil": Foreign()}, p), "refused"),
    ],
)
def test_corrupt_or_foreign_checkpoint(tmp_path, content, message):
    path = tmp_path / "model.pt"
    content(path)
    with pytest.raises(ArrhythmiaError, match=message) as info:
        Classifier.from_checkpoint(path)
    assert str(path) in str(info.value)


def test_truncated_checkpoint(tmp_path, beats):
    run = run_experiment(
        small_config(epochs=1), run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None
    )
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArrhythmiaError, match="corrupt or truncated"):
        evaluate_run(run, beats=beats, log=lambda _: None)


def test_config_file_round_trip_and_unknown_keys(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("model: kachuee-resnet\nepochs: 3\nprotocol: inter\n")
    config = TrainConfig.from_file(path)
    assert (config.model, config.epochs, config.protocol) == ("kachuee-resnet", 3, "inter")
    path.write_text("epochz: 3\n")
    with pytest.raises(ArrhythmiaError, match="unknown setting.*epochz"):
        TrainConfig.from_file(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ArrhythmiaError, match="expected a mapping"):
        TrainConfig.from_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: ten\n", "epochs='ten': expected int"),
        ("epochs: 1.5\n", "epochs=1.5: expected int"),
        ("device: null\n", "device=None: expected str"),
        ('other_lead: "false"\n', "other_lead='false': expected bool (true or false, without quotes)"),
        ("augment: [scale, 3.5]\n", "augment=['scale', 3.5]: expected list[str]"),
        ("lr: fast\n", "lr='fast': expected float"),
        # out of range: the README promises the file and the setting; this said only "lr_factor must be ..."
        ("lr_factor: 2\n", "lr_factor must be between 0 and 1 (the learning rate is multiplied by it), not 2"),
        ("model: nope\n", "unknown model 'nope' (available: "),
        ("epochs: 0\n", "epochs must be at least 1"),
        ("augment: scale,rotate\n", "unknown augmentation(s) rotate"),
    ],
)
def test_a_config_file_value_of_the_wrong_type_or_out_of_its_range_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(ArrhythmiaError, match="^" + re.escape(f"{path}: {message}")):
        TrainConfig.from_file(path)


def test_a_preset_named_in_a_config_file_is_applied(tmp_path):
    """``preset: fast`` in a file was recorded in config.json but not applied: the run trained the defaults'
    model and window under the preset's name."""
    from arrhythmia.cli import _train_config

    path = tmp_path / "cfg.yaml"
    path.write_text("preset: fast\nprotocol: inter\nepochs: 3\n")
    expected = replace(TrainConfig.from_preset("fast", "inter"), epochs=3)
    assert TrainConfig.from_file(path) == expected
    assert _train_config(None, path, {}, "intra") == expected
    assert _train_config(None, path, {"epochs": 2}, "intra") == replace(expected, epochs=2)  # options over the file


def test_a_config_file_is_read_as_the_command_line_reads_its_values(tmp_path):
    path = tmp_path / "cfg.yaml"
    # PyYAML reads 1e-3 as a string; a list setting takes comma-separated text or a record number, as options do.
    path.write_text("lr: 1e-3\nepochs: '3'\naugment: scale,shift\nprotocol: inter\ntest_records: 101\n")
    config = TrainConfig.from_file(path)
    assert (config.lr, config.epochs, config.augment, config.test_records) == (1e-3, 3, ["scale", "shift"], ["101"])
    path.write_text("augment: scale\ntest_records: [101, 106]\nprotocol: inter\n")
    config = TrainConfig.from_file(path)
    assert config.augment == ["scale"] and config.test_records == ["101", "106"]
    config.validate()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"lr_factor": 2.0}, "lr_factor must be between 0 and 1"),
        ({"lr_factor": 0.0}, "lr_factor must be between 0 and 1"),
        ({"threads": -1}, "threads must be at least 1"),
        ({"weight_decay": -1.0}, "weight_decay must be 0 or more"),
        ({"loss": "focal", "focal_gamma": -3.0}, "focal_gamma must be 0 or more"),
        ({"early_stopping_patience": 0}, "early_stopping_patience must be at least 1"),
        ({"lr_patience": -1}, "lr_patience must be 0 or more"),
        ({"lr": float("inf")}, "learning rate"),
        ({"seed": -1}, "seed must be between 0 and"),
        ({"epochs": 1.5}, "epochs=1.5: expected int"),
    ],
)
def test_settings_out_of_range_fail_before_a_run_directory_is_made(tmp_path, beats, setting, message):
    with pytest.raises(ArrhythmiaError, match=message):
        run_experiment(small_config(**setting), run_dir=tmp_path / "run", beats=beats, progress=False)
    assert not (tmp_path / "run").exists()


def test_inter_patient_run_evaluates_on_a_source_without_patients(tmp_path):
    """A model trained DS1 -> DS2 can be scored on the Heartbeat CSVs' own test file."""
    from conftest import _fake_mitdb_beats, write_heartbeat_csvs

    run = run_experiment(
        small_config(epochs=1, protocol="inter"),
        run_dir=tmp_path / "run",
        beats=_fake_mitdb_beats(),
        progress=False,
        log=lambda _: None,
        report=False,
    )
    metrics, _ = evaluate_run(run, data=str(write_heartbeat_csvs(tmp_path / "hb")), log=lambda _: None)
    assert metrics["data"]["protocol"] == "intra" and metrics["n_beats"] == 20


def test_inter_patient_run_evaluates_on_every_beat_of_another_database(tmp_path, wfdb_db):
    """None of another database's patients was trained on: all its beats are tested (it was a random 20% of
    them, under 'intra'). The same database under its own protocol would hold a third of its patients out."""
    from conftest import _fake_mitdb_beats

    from arrhythmia.data import load_beats

    config = small_config(epochs=1, protocol="inter")
    run = run_experiment(config, run_dir=tmp_path / "run", beats=_fake_mitdb_beats(), progress=False, report=False)
    metrics, _ = evaluate_run(run, data=str(wfdb_db), log=lambda _: None)
    assert metrics["n_beats"] == len(load_beats(str(wfdb_db), progress=False)) > 100
    assert metrics["data"]["protocol"] == "inter" and metrics["data"]["split_note"].startswith("every beat of db")
    assert metrics["data"]["origin"] == str(wfdb_db.resolve())  # what compare --data finds the figures by
    tested = (run / "predictions-db.csv").read_text().splitlines()  # each beat's labels, beside metrics-db.json
    assert len(tested) == metrics["n_beats"] + 1 and tested[0] == "record,sample,symbol,true,called," + ",".join(
        f"p_{c}" for c in metrics["classes"]
    )
    assert (run / "predictions.csv").is_file()  # the run's own test split's, written by training's evaluation


def test_ptb_beats_get_no_figures_by_record_and_their_long_class_names_keep_the_columns_apart(tmp_path):
    """The PTB CSVs' two "records" are its two files (normal, abnormal): no record average or interval over
    them (it printed 'intervals over the 2 records: accuracy 0.000-1.000'); and 'normal', 'abnormal' ran into
    the next column ('normalSe', confusion header 'normalabnormal')."""
    import shutil

    from conftest import write_heartbeat_csvs

    both = write_heartbeat_csvs(tmp_path / "all", n_test=40)
    ptb = tmp_path / "ptb"
    ptb.mkdir()
    for name in ("ptbdb_normal.csv", "ptbdb_abnormal.csv"):
        shutil.copy(both / name, ptb / name)
    lines: list[str] = []
    config = small_config(epochs=1, data=str(ptb))
    run = run_experiment(config, run_dir=tmp_path / "run", progress=False, log=lines.append, report=False)
    metrics = run.metrics()
    assert metrics["classes"] == ["normal", "abnormal"] and metrics["data"]["source"] == "heartbeat-ptbdb"
    assert not {"per_record", "record_average", "intervals"} & set(metrics)
    table = lines[-1].splitlines()
    assert not any("intervals over" in line for line in table)
    assert next(line for line in table if line.startswith("class")).split()[:3] == ["class", "Se", "+P"]
    assert table[table.index("confusion (rows: true, columns: predicted)") + 1].split() == ["normal", "abnormal"]
    assert next(line for line in table if line.startswith("abnormal ")).split()[0] == "abnormal"


@pytest.fixture(scope="module")
def centred_beats():
    return load_synthetic(n_records=4, duration_s=60, window=get_window("centred"))


def test_rr_model_on_centred_windows_trains_and_predicts(tmp_path, centred_beats):
    config = small_config(
        model="fast-cnn", window="centred", context_features=True, epochs=6, augment=list(AUGMENTATIONS)
    )
    run = run_experiment(config, run_dir=tmp_path / "run", beats=centred_beats, progress=False, log=lambda _: None)
    state = load_checkpoint(run / "model.pt", MODEL_FORMAT)
    assert state["window"]["kind"] == "centred" and state["n_rr"] == 9 and len(state["rr_mean"]) == 9
    classifier = Classifier.from_run(run)
    assert classifier.takes_context and classifier.window == get_window("centred")
    assert json.loads((run / "metrics.json").read_text())["accuracy"] > 0.8
    with pytest.raises(ArrhythmiaError, match="needs the context features"):
        classifier.predict_proba(centred_beats.X[:4])


def test_ensemble_run_averages_its_members(tmp_path, centred_beats):
    config = small_config(model="fast-cnn", window="centred", context_features=True, epochs=2, ensemble=2)
    run = run_experiment(config, run_dir=tmp_path / "run", beats=centred_beats, progress=False, log=lambda _: None)
    members = [Classifier.from_run(run / "members" / str(k)) for k in range(2)]
    ensemble = Classifier.from_run(run)
    assert ensemble.model_name == "ensemble of 2 fast-cnn"
    X, context = centred_beats.X[:20], centred_beats.context[:20]
    expected = np.mean([m.predict_proba(X, context) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba(X, context), expected, atol=1e-5)


@pytest.mark.parametrize("sampling", ["balanced", "sqrt"])
def test_balanced_sampling_draws_rare_classes_more_often(sampling):
    y = np.array([0] * 900 + [1] * 90 + [2] * 10)
    order = epoch_order(y, sampling, torch.Generator().manual_seed(0)).numpy()
    assert len(order) == len(y)
    shares = np.bincount(y[order], minlength=3) / len(y)
    expected = (
        np.array([1, 1, 1]) / 3 if sampling == "balanced" else np.sqrt([900, 90, 10]) / np.sqrt([900, 90, 10]).sum()
    )
    np.testing.assert_allclose(shares, expected, atol=0.05)
    assert sorted(epoch_order(y, "shuffle", torch.Generator().manual_seed(0)).tolist()) == list(range(len(y)))


def test_focal_loss_and_balanced_sampling_train(tmp_path, beats):
    config = small_config(epochs=1, loss="focal", sampling="sqrt", class_weights="balanced")
    run = run_experiment(
        config, run_dir=tmp_path / "run", beats=beats, progress=False, log=lambda _: None, report=False
    )
    assert (run / "metrics.json").is_file()


def test_presets_and_bad_settings():
    best = TrainConfig.from_preset("best")
    assert best.context_features and best.window == "centred" and best.preset == "best"
    # Run configs written before the features were called context features still load.
    assert TrainConfig.from_dict({"rr_features": True}).context_features
    best.validate()
    TrainConfig.from_preset("fast").validate()
    with pytest.raises(ArrhythmiaError, match="unknown preset"):
        TrainConfig.from_preset("fastest")
    for bad, message in [
        ({"model": "seed-cnn", "context_features": True}, "does not take context features"),
        ({"augment": ["rotate"]}, "unknown augmentation"),
        ({"window": "wide"}, "unknown beat window"),
        ({"sampling": "oversample"}, "sampling must be"),
    ]:
        with pytest.raises(ArrhythmiaError, match=message):
            TrainConfig(**bad).validate()


def test_rr_features_need_r_peaks(tmp_path, beats):
    no_rr = replace(beats, context=None)
    with pytest.raises(ArrhythmiaError, match="no context features"):
        run_experiment(
            small_config(model="fast-cnn", context_features=True),
            run_dir=tmp_path / "r",
            beats=no_rr,
            log=lambda _: None,
        )


def test_batches_do_not_depend_on_the_number_of_loader_workers(beats):
    """Augmentation is seeded per batch, so worker processes reading ahead make exactly the batches the
    training process would."""
    from torch.utils.data import DataLoader

    from arrhythmia.batches import EpochBatches, TrainBatches
    from arrhythmia.data import make_split
    from arrhythmia.scaling import fit_scaling

    split = make_split(beats, "intra", 0)
    scaling = fit_scaling(beats.X, None, split.train)
    dataset = TrainBatches(beats, scaling, list(AUGMENTATIONS))
    sampler = EpochBatches(beats.y[split.train], split.train, "balanced", 64, seed=3)
    sampler.set_epoch(2)
    epochs = []
    for workers in (0, 2):
        loader = DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=workers)
        epochs.append(list(loader))
    assert len(epochs[0]) == len(epochs[1]) == len(sampler)
    for (x0, rr0, y0), (x1, rr1, y1) in zip(*epochs):
        assert torch.equal(x0, x1) and torch.equal(y0, y1) and rr0 is None and rr1 is None
    raw = torch.from_numpy(beats.X[np.sort(list(sampler)[0][0])]).unsqueeze(1)
    assert not torch.allclose(epochs[0][0][0], (raw - torch.from_numpy(scaling.mean)) / torch.from_numpy(scaling.std))


def test_a_run_with_loader_workers_and_a_resumed_one_train_to_the_weights_of_one_without(tmp_path, beats):
    """DataLoader workers (spawned, as for a store) neither change the weights (the loader drew their seeds
    from torch's global generator, which dropout draws from too: once with persistent workers, every epoch
    without) nor keep a run with them from resuming exactly."""
    from arrhythmia.train import train

    def trained(name: str, workers: int, cut: bool = False) -> dict:
        config = small_config(model="fast-cnn", epochs=3, batch_size=16, workers=workers, augment=["scale"])

        def interrupt_after_epoch_1(line: str) -> None:
            if line.startswith("epoch   1/"):
                raise KeyboardInterrupt

        if cut:
            with pytest.raises(TrainingInterrupted):
                train(config, run_dir=tmp_path / name, beats=beats, progress=False, log=interrupt_after_epoch_1)
        run = train(config, run_dir=tmp_path / name, resume=cut, beats=beats, progress=False, log=lambda _: None)
        state = load_checkpoint(run.resume_path, "arrhythmia-resume/1")
        return {**state, "history": [{k: v for k, v in row.items() if k != "seconds"} for row in state["history"]]}

    # One run with a worker, interrupted after its first epoch and resumed (a new worker), against one without.
    without, resumed = trained("w0", 0), trained("w1", 1, cut=True)
    assert resumed["history"] == without["history"]
    assert all(torch.equal(without["model"][k], resumed["model"][k]) for k in without["model"])


def test_store_trains_and_evaluates_as_in_memory(tmp_path, wfdb_db):
    """The same run from a beat store (rows read from the shard files per batch, by a spawned DataLoader
    worker where there are CPUs to spare; test beats streamed) and from the same beats in memory (no
    workers): identical weights and metrics."""
    from arrhythmia.data.store import build_store, open_store

    store = open_store(build_store(wfdb_db, tmp_path / "store", workers=1, progress=False))
    in_memory = replace(store, X=np.asarray(store.X))
    config = small_config(epochs=2, augment=["scale", "noise"])
    runs = {}
    for name, beat_set in (("store", store), ("memory", in_memory)):
        runs[name] = run_experiment(
            config, run_dir=tmp_path / name, beats=beat_set, progress=False, log=lambda _: None, report=False
        )
    a, b = (load_checkpoint(runs[k] / "model.pt")["state_dict"] for k in ("store", "memory"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    expected = json.loads((runs["memory"] / "metrics.json").read_text())
    assert evaluate_run(runs["store"], beats=store, log=lambda _: None)[0] == expected


def test_store_batches_read_by_loader_workers_are_the_training_processs(tmp_path, wfdb_db):
    """Worker processes (spawned, as training starts them) read the same batches from a store as the
    training process reads from memory."""
    from torch.utils.data import DataLoader

    from arrhythmia.batches import EpochBatches, TrainBatches
    from arrhythmia.data import make_split
    from arrhythmia.data.store import build_store, open_store
    from arrhythmia.scaling import fit_scaling

    store = open_store(build_store(wfdb_db, tmp_path / "store", workers=1, progress=False))
    in_memory = replace(store, X=np.asarray(store.X))
    split = make_split(store, "intra", 0)
    scaling = fit_scaling(store.X, None, split.train)
    sampler = EpochBatches(store.y[split.train], split.train, "shuffle", 32, seed=3)
    batches = {}
    for name, beat_set, workers in (("store", store, 2), ("memory", in_memory, 0)):
        loader = DataLoader(
            TrainBatches(beat_set, scaling, ["scale"]),
            batch_size=None,
            sampler=sampler,
            num_workers=workers,
            multiprocessing_context="spawn" if workers else None,
        )
        batches[name] = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            batches[name] += list(loader)
    assert len(batches["store"]) == len(batches["memory"]) == 2 * len(sampler)
    for (x0, _, y0), (x1, _, y1) in zip(batches["store"], batches["memory"]):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_amp_is_ignored_on_the_cpu_with_a_log_line(tmp_path, beats):
    lines: list[str] = []
    run_experiment(
        small_config(epochs=1, amp=True), run_dir=tmp_path / "r", beats=beats, log=lines.append, report=False
    )
    assert any("--amp ignored" in line and "cpu" in line for line in lines)
    with pytest.raises(ArrhythmiaError, match="workers must be"):
        small_config(workers=-1).validate()


def test_a_run_on_mitbih_symbols_trains_evaluates_and_predicts_them(tmp_path, wfdb_db, monkeypatch):
    import arrhythmia.data.beats as beats_module
    from arrhythmia.data.recording import read_input
    from arrhythmia.predict import label_recording

    monkeypatch.setattr(beats_module, "MIN_SYMBOL_BEATS", 10)
    config = TrainConfig(
        model="fast-cnn", data=str(wfdb_db), window="centred", context_features=True, epochs=2, labels="mitdb"
    )
    run = run_experiment(config, run_dir=tmp_path / "run", progress=False, log=lambda _: None, report=False)
    classes = tuple(run.classifier().classes)
    assert "N" in classes and set(classes) <= {"N", "A", "V", "F", "/"} and len(classes) >= 3
    assert set(json.loads((run / "metrics.json").read_text())["classes"]) == set(classes)
    result = label_recording(read_input(wfdb_db / "r01"), run.classifier(device="cpu"))
    assert set(result.beats["label"].astype(str)) <= set(classes) | {""}
    assert result.episodes is not None and result.hourly["beats"].sum() == (result.beats["label"] != "").sum()
    with pytest.raises(ArrhythmiaError, match="labels must be one of aami, mitdb"):
        replace(config, labels="symbols").validate()


def test_a_run_trained_on_beats_from_a_folder_reopens_on_that_folder_and_one_on_beats_in_memory_says_so(
    tmp_path, wfdb_db, beats, monkeypatch
):
    from arrhythmia.data import SOURCES, load_beats
    from arrhythmia.runs import Run

    def no_download(directory):
        raise AssertionError(f"download attempted into {directory}")

    monkeypatch.setitem(SOURCES, "mitdb", replace(SOURCES["mitdb"], download=no_download))
    quiet = {"progress": False, "log": lambda _: None, "report": False}
    folder_beats = load_beats(wfdb_db, progress=False)
    assert folder_beats.origin == str(wfdb_db.resolve()) and folder_beats.subset([0, 1]).origin is None
    run = run_experiment(small_config(epochs=1), run_dir=tmp_path / "folder", beats=folder_beats, **quiet)
    assert json.loads((run / "data.json").read_text())["data"] == str(wfdb_db.resolve())
    reopened = Run.open(run.path)  # as in a fresh process
    again = reopened.beats(progress=False)
    assert len(again) == len(folder_beats) and np.array_equal(again.y, folder_beats.y)
    assert np.array_equal(reopened.split().test, run.split().test)

    memory = run_experiment(small_config(epochs=1), run_dir=tmp_path / "memory", beats=beats, **quiet)
    assert json.loads((memory / "data.json").read_text())["data"] is None
    with pytest.raises(ArrhythmiaError, match=r"memory: trained on beats given in memory, .* data=\.\.\. / --data"):
        Run.open(memory.path).beats(progress=False)


def test_a_data_path_is_saved_absolute_and_a_resume_on_other_data_is_refused_naming_both(
    tmp_path, wfdb_db, monkeypatch
):
    """A run saved --data as typed and --resume read it from the current directory: resumed from another
    directory holding another folder of that name, it trained its last epochs on other records."""
    import shutil

    from conftest import write_wfdb_record

    from arrhythmia.runs import Run
    from arrhythmia.train import train

    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    shutil.copytree(wfdb_db, here / "db")
    (elsewhere / "db").mkdir(parents=True)
    for i, name in enumerate(("r01", "r02")):
        write_wfdb_record(elsewhere / "db", name, seed=10 + i)
    (elsewhere / "db" / "RECORDS").write_text("r01\nr02\n")
    ours, theirs = str((here / "db").resolve()), str((elsewhere / "db").resolve())

    def interrupt_after_epoch_1(line: str) -> None:
        if line.startswith("epoch   1/"):
            raise KeyboardInterrupt

    monkeypatch.chdir(here)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(small_config(data="db", epochs=2), run_dir=run_dir, progress=False, log=interrupt_after_epoch_1)
    config_file = run_dir / "config.json"
    saved = json.loads(config_file.read_text())
    assert saved["data"] == ours

    def resume(where):
        monkeypatch.chdir(where)
        return train(Run.open(run_dir).config, run_dir=run_dir, resume=True, progress=False, log=lambda _: None)

    # A run saved by an earlier version, with the path as typed, resumed from the other directory.
    config_file.write_text(json.dumps({**saved, "data": "db"}))
    with pytest.raises(ArrhythmiaError, match="not resumed") as refused:
        resume(elsewhere)
    assert theirs in str(refused.value) and ours in str(refused.value) and "\n" not in str(refused.value)
    assert len(load_checkpoint(run_dir / "last.pt", "arrhythmia-resume/1")["history"]) == 1
    # The run's own folder, holding other records since.
    (here / "db" / "RECORDS").write_text("r01\nr02\n")
    changed = (
        rf"beats loaded now, {re.escape(ours)} \(db: 80 train .*\), are not those the run trained on, "
        rf"{re.escape(ours)} \(db: 126 train"
    )
    with pytest.raises(ArrhythmiaError, match=changed):
        resume(here)
    (here / "db" / "RECORDS").write_text("r01\nr02\nr03\n")
    config_file.write_text(json.dumps(saved))
    assert resume(elsewhere).history()[-1]["epoch"] == 2  # saved absolute: resumed from anywhere
    assert json.loads((run_dir / "data.json").read_text())["data"] == ours

    from arrhythmia.runs import data_path  # source names are not paths

    assert [data_path(name) for name in ("mitdb", "heartbeat", "synthetic", None)] == [
        "mitdb",
        "heartbeat",
        "synthetic",
        None,
    ]
