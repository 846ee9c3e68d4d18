"""The one place that chains the steps of an experiment: train -> evaluate -> report.

run = run_experiment(TrainConfig.from_preset("fast", protocol="inter"))   # what `arrhythmia train` does
evaluate_and_report(Run.open("runs/..."))                                 # what `arrhythmia evaluate` does
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from arrhythmia.config import TrainConfig
from arrhythmia.data import BeatSet
from arrhythmia.distributed import from_environment
from arrhythmia.evaluation import evaluate_run
from arrhythmia.report import write_report
from arrhythmia.runs import Run
from arrhythmia.train import train


def run_experiment(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    beats: BeatSet | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    report: bool = True,
) -> Run:
    """Train (``train.train``), evaluate the kept checkpoint on the test split (``metrics.json``) and, with
    ``report``, draw the figures and write ``report.html``; returns the run. Under torchrun every process
    trains and only rank 0 evaluates and reports. ``beats``: train on these instead of ``config.data``'s;
    the run keeps where they were loaded from (their ``origin``, in ``data.json``), so that reopening it
    (``Run.open(path).beats()``) reads the same folder, or says that beats made in memory must be given."""
    run = train(config, run_dir=run_dir, resume=resume, beats=beats, log=log, progress=progress)
    if from_environment().is_main:
        evaluate_and_report(run, log=log, report=report)
    return run


def evaluate_and_report(
    run: Run, data: str | None = None, log: Callable[[str], None] = print, report: bool = True
) -> dict:
    """Evaluate ``run`` on its own test split (or on ``data``'s) and, for its own data, write the report
    from the beats and test probabilities already in hand. Returns the metrics. A run another process is
    still training is refused (``Run.refuse_if_training``): what this wrote, training would replace."""
    run.refuse_if_training()
    metrics, test_probs = evaluate_run(run, data=data, log=log)
    if report and data is None:
        write_report(run, beats=run.beats(progress=False), log=log, test_probs=test_probs)
    return metrics
