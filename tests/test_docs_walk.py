"""What a student following the README meets around a run: a stopped run trained into again."""

from __future__ import annotations

import pytest
from conftest import write_wfdb_record

from arrhythmia.config import TrainConfig
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.experiment import evaluate_and_report, run_experiment
from arrhythmia.runs import Run
from arrhythmia.train import TrainingInterrupted

QUIET = {"progress": False, "log": lambda _: None}


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """A small WFDB database: runs trained on it reopen from the folder, as the commands reopen them."""
    directory = tmp_path_factory.mktemp("db")
    for i, name in enumerate(("r01", "r02", "r03", "r04")):
        write_wfdb_record(directory, name, seed=i)
    (directory / "RECORDS").write_text("r01\nr02\nr03\nr04\n")
    return directory


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
