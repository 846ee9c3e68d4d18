"""What a student following the README meets around a run: a run still training in another process, a
stopped run trained into again, the training curves of a few epochs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import write_wfdb_database
from test_cli import assert_one_line_error, run_cli

from arrhythmia.config import TrainConfig
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.experiment import evaluate_and_report, run_experiment
from arrhythmia.runs import Run
from arrhythmia.train import TrainingInterrupted

QUIET = {"progress": False, "log": lambda _: None}


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """A small WFDB database: runs trained on it reopen from the folder, as the commands reopen them."""
    return write_wfdb_database(tmp_path_factory.mktemp("db"), n_records=4)


def small_config(database, **overrides) -> TrainConfig:
    settings = {"model": "kachuee-resnet", "data": str(database), "epochs": 3, "batch_size": 32, "threads": 1}
    return TrainConfig(**{**settings, **overrides})


def stopped_run(path, database, after_epoch: int = 1) -> Run:
    """A run stopped by Ctrl-C after ``after_epoch`` of its 3 epochs were saved."""

    def interrupt(line: str) -> None:
        if line.startswith(f"epoch {after_epoch:3d}/"):  # said once the epoch is saved
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        run_experiment(small_config(database), run_dir=path, progress=False, log=interrupt)
    return Run.open(path)


def test_a_stopped_run_evaluated_meanwhile_is_not_called_finished_when_trained_into_again(tmp_path, database):
    """The README lets a stopped run be evaluated as it stands; its metrics.json then made the run's folder
    'a finished run; choose another --run-dir' to the student who typed the same train command again."""
    run = stopped_run(tmp_path / "run", database, after_epoch=2)
    evaluate_and_report(run, log=lambda _: None, report=False)
    assert (run / "metrics.json").is_file()
    with pytest.raises(ArrhythmiaError) as refused:
        run_experiment(small_config(database), run_dir=run.path, **QUIET)
    message = str(refused.value)
    assert "finished" not in message
    assert "stopped after epoch 2 (of at most 3)" in message
    assert f"continue it with `arrhythmia train --resume {run.path}`" in message


#: Holds a run's training lock, as a process training it does, until its stdin closes.
HOLD = """
import sys
from arrhythmia.runs import Run
with Run(sys.argv[1]).training():
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_run_still_training_in_another_process_is_refused_by_the_commands_that_read_it(tmp_path, database):
    """Evaluating a run while it trained said it had 'stopped and was not resumed', wrote a metrics.json and a
    report that training was about to replace, and `train --resume` began a second training of it."""
    run = stopped_run(tmp_path / "run", database, after_epoch=1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run.in_training()
        for command in (["evaluate"], ["report"], ["export"], ["train", "--resume"]):
            result = run_cli(*command, run.path)
            assert_one_line_error(result, f"{run.path}: still training in another process", "1 epoch saved so far")
        result = run_cli("compare", run.path, run.path)
        assert_one_line_error(result, f"{run.path}: still training in another process")
        # predict and score read its model.pt, which each epoch replaces: labels of a model half trained
        for command in (["predict", "--out", tmp_path / "labels"], ["score"]):
            result = run_cli(*command, database / "r01", "--run", run.path)
            assert_one_line_error(result, f"{run.path}: still training in another process")
        assert not (tmp_path / "labels").exists()
        assert not (run / "metrics.json").exists() and not (run / "report.html").exists()
        assert not (run / "model.onnx").exists()
        with pytest.raises(ArrhythmiaError, match="still training in another process"):
            evaluate_and_report(run, log=lambda _: None)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # Once that process is gone (finished, stopped or killed: the lock goes with it) the run is as it stands.
    assert not run.in_training()
    result = run_cli("evaluate", run.path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"warning: .*training stopped after epoch 1 \(of at most 3\)", result.stderr)
    result = run_cli("predict", database / "r01", "--run", run.path, "--out", tmp_path / "labels")
    assert result.returncode == 0, result.stderr  # labelled by the model as it stands, and said so
    assert re.search(r"warning: .*training stopped after epoch 1 \(of at most 3\)", result.stderr)


def test_training_holds_the_lock_only_while_it_trains(tmp_path, database):
    seen: list[bool] = []
    path = tmp_path / "run"

    def look(line: str) -> None:
        if line.startswith("epoch "):  # asked from another process, as `arrhythmia evaluate` would
            probe = "import sys; from arrhythmia.runs import Run; print(Run(sys.argv[1]).in_training())"
            answer = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True)
            seen.append(answer.stdout.strip() == "True")

    run = run_experiment(small_config(database, epochs=2), run_dir=path, progress=False, log=look)
    assert seen == [True, True]
    assert not run.in_training() and not (run / Run.TRAINING).exists()
    assert (run / "metrics.json").is_file()  # evaluated by the same command once training let go


@pytest.mark.parametrize("n_epochs", [1, 2, 3])
def test_the_training_curves_of_a_few_epochs_are_drawn_on_whole_epochs(tmp_path, monkeypatch, n_epochs):
    """A first try with --epochs 1 drew its one epoch on an axis from 0.945 to 1.050 ticked in thousandths."""
    from arrhythmia import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or path)
    history = [
        {"epoch": e, "train_loss": 1 / e, "train_acc": 0.9, "val_loss": 1 / e, "val_acc": 0.9, "lr": 1e-3, "seconds": 1}
        for e in range(1, n_epochs + 1)
    ]
    figures.plot_training_curves(history, tmp_path / "curves.png", best_epoch=n_epochs)
    for ax in drawn[0].axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks == list(range(1, n_epochs + 1))


def test_a_run_killed_in_its_first_epoch_says_so_and_how_to_go_on(tmp_path, database):
    """A training killed in its first epoch (the terminal closed, kill -9) leaves its config and no epoch:
    evaluate said 'model.pt: checkpoint does not exist' and report 'run `arrhythmia evaluate` first'."""
    run = Run.create(small_config(database), tmp_path / "run")
    run.write_environment("cpu")
    for command in ("evaluate", "report", "export"):
        result = run_cli(command, run.path)
        assert_one_line_error(
            result, f"{run.path}: no epoch of this run was saved", f"`arrhythmia train --resume {run.path}`"
        )
