"""Cross-validation over MIT-BIH's DS1 records, or over every record of another database: on MIT-BIH, choose
settings on DS1 alone and keep DS2 for the figure you report.

The inter-patient protocol's four or five validation records are too few to choose settings by (two seeds
of the same settings differ as much as two settings). Here DS1's records are dealt into ``k`` groups
(``data.splits.record_groups``); fold ``i`` is an ordinary inter-patient run that tests on group ``i``
instead of DS2 (``TrainConfig.test_records``), trained and early-stopped on the other groups' records. Each
DS1 beat is then labelled once, by the one model that never saw its patient, and the pooled labels give the
cross-validated figures. DS2 is never read. With MIT-BIH's own beat symbols as classes (``labels: mitdb``)
every fold has the same classes, the symbols with enough beats in DS1. On another database (records that
are not MIT-BIH's) every record is dealt, and with ``TrainConfig.patients`` a patient's records stay in
one group (``fold_records``).

    cv = cross_validate(TrainConfig.from_preset("fast", "inter"), k=5)   # what `arrhythmia crossval` does
    cv.metrics["per_class"]["S"]["se"], cv.records, cv.path / "crossval.json"

Its directory (``runs/<model>-crossval<k>-<time>`` by default)::

    fold-1/ ... fold-k/   one run each (config.json with its test_records, model.pt, metrics.json, ...)
    crossval.json         settings, groups, pooled metrics (metrics.json's shape, record by record included),
                          each fold's, and the spread over the folds
    records.csv           per record: fold, beats, accuracy, and each class's beats, Se and +P
    predictions.csv       every held-out beat: fold, record, sample, symbol, true and called class, probabilities
    figures/              the pooled confusion matrix and EC57 statistics

A stopped cross-validation is run again with the same command: finished folds are kept, an interrupted one
resumes from its last epoch, and other settings in a fold's directory are an error rather than a mix (where and
how fast it runs aside: device, threads, workers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from arrhythmia import distributed
from arrhythmia.config import TrainConfig, settings_text
from arrhythmia.data import BeatSet, get_window, load_beats
from arrhythmia.data.heartbeat import records_are_files
from arrhythmia.data.splits import DS1, MITDB_RECORDS, check_patients, patient_of, read_patients, record_groups
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import compute_metrics, ec57_text, evaluate_run, figure_text, record_average_cells
from arrhythmia.figures import plot_confusion, plot_ec57
from arrhythmia.files import atomic_write_bytes, write_json
from arrhythmia.report import write_report
from arrhythmia.runs import Run, data_path, new_path, saved_paths
from arrhythmia.train import TrainingInterrupted, train

SUMMARY = "crossval.json"
RECORDS = "records.csv"
DS1_RECORDS = "DS1's records"


@dataclass
class CrossValidation:
    """A finished cross-validation.

    path : its directory; groups : the test records of each fold; runs : each fold's run; metrics : the pooled
    metrics of every held-out beat (``evaluation.compute_metrics``' shape); folds : each fold's test records,
    split note and metrics; spread : mean and sd over the folds of accuracy, macro F1 and each class's Se, +P
    and F1; records : one row per record (fold, beats, accuracy, and each class's beats, Se and +P).
    """

    path: Path
    groups: list[list[str]]
    runs: list[Run]
    metrics: dict
    folds: list[dict]
    spread: dict
    records: pd.DataFrame


def cross_validate(
    config: TrainConfig,
    k: int = 5,
    seed: int = 0,
    out_dir: str | Path | None = None,
    beats: BeatSet | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    report: bool = False,
) -> CrossValidation:
    """Train and test ``k`` inter-patient runs of ``config``, each tested on one group of the records
    ``fold_records`` deals: DS1's on MIT-BIH, every record of another database, a patient's records in one
    group where ``config.patients`` names them.

    config : the settings of every fold (its protocol must be inter; ``test_records`` is set per fold).
    k, seed : how many groups of records (of patients), and the shuffle that deals them (``record_groups``).
    out_dir : the cross-validation's directory (default ``runs/<model>-crossval<k>-<time>``); a directory
        from before is taken up where it stopped.
    beats : the beat set to use instead of loading ``config.data`` (Python API, tests).
    report : also write each fold's figures and ``report.html``.
    """
    if config.protocol != "inter":
        raise ArrhythmiaError(
            f"cross-validation over records is inter-patient: protocol inter, not {config.protocol!r}"
        )
    if config.test_records:
        raise ArrhythmiaError("cross-validation chooses each fold's test records itself: leave test_records empty")
    # Before the beats are loaded and the directory made: a mistyped setting is one line, and leaves nothing.
    config.validate()
    config = saved_paths(config)  # as each fold's run saves it
    patients = read_patients(config.patients) if config.patients else None
    beats = beats if beats is not None else load_beats(config.data, progress=progress, window=get_window(config.window))
    records, groups = fold_records(beats, k, seed, patients)
    path = Path(out_dir) if out_dir is not None else new_path(f"{config.model}-crossval{k}")
    path.mkdir(parents=True, exist_ok=True)
    if distributed.from_environment().is_main:
        which = "DS1 " if _records_name(records) == DS1_RECORDS else ""
        people = len(set(patient_of(np.array(records), patients).tolist())) if patients else len(records)
        of = f" of {people} patients" if people != len(records) else ""  # the folds deal patients, not records
        log(f"cross-validation over {len(records)} {which}records{of}, {k} folds (seed {seed}) in {path}")

    # One process group for every fold under torchrun (train() then joins it and leaves it open); none alone.
    ctx, _ = distributed.setup(config.device)
    try:
        runs, fold_metrics, labelled = _train_and_test_folds(config, groups, path, beats, log, progress, report, ctx)
    finally:
        distributed.teardown(ctx)
    if not ctx.is_main:  # every process trains; rank 0 tests and writes
        return CrossValidation(path, groups, [], {}, [], {}, pd.DataFrame())

    classes = tuple(runs[0].classifier().classes)
    if any(tuple(run.classifier().classes) != classes for run in runs):
        raise ArrhythmiaError(f"{path}: the folds' models have different classes; they cannot be pooled")
    y_true, y_pred, record = (np.concatenate([part[j] for part in labelled]) for j in range(3))
    pooled = compute_metrics(y_true, y_pred, classes, records=record, patients=patients)
    fold_of = {name: fold for fold, group in enumerate(groups, 1) for name in group}
    per_record = _records_table(pooled["per_record"], fold_of, classes)
    summary = {
        "k": k,
        "seed": seed,
        "groups": groups,
        "config": {key: value for key, value in config.to_dict().items() if key != "test_records"},
        "pooled": pooled,
        "folds": fold_metrics,
        "spread": _spread(fold_metrics, classes),
    }
    write_json(path / SUMMARY, summary)
    atomic_write_bytes(path / RECORDS, lambda tmp: per_record.to_csv(tmp, index=False))
    # every held-out beat's labels, from the fold model that never saw its patient
    held_out = pd.concat([run.predictions().assign(fold=i) for i, run in enumerate(runs, 1)])
    held_out = held_out[["fold", *held_out.columns[:-1]]]
    atomic_write_bytes(path / Run.PREDICTIONS, lambda tmp: held_out.to_csv(tmp, index=False))
    figures = path / "figures"
    tested_on = f"{_records_name(list(fold_of))}, each beat labelled by the fold model that never saw its patient"
    plot_confusion(
        pooled["confusion"], pooled["confusion_normalised"], classes, figures / "confusion.png", tested_on=tested_on
    )
    plot_ec57(pooled["per_class"], classes, figures / "ec57.png", tested_on=tested_on, ec57=pooled["ec57"])
    return CrossValidation(path, groups, runs, pooled, fold_metrics, summary["spread"], per_record)


def fold_records(
    beats: BeatSet, k: int, seed: int = 0, patients: Mapping[str, str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """The records cross-validated over, and each fold's test records: MIT-BIH's DS1 records (DS2 stays the
    inter-patient test set), or every record of another database; dealt into ``k`` groups by patient
    (``patients``, ``{record: patient}``; a record not in it is a patient of its own; ``record_groups``)."""
    present = sorted(set(beats.record.astype(str)))
    if records_are_files(beats):
        raise ArrhythmiaError(
            f"{beats.source}: cross-validation over records needs their patients' records (a WFDB database); "
            "the Heartbeat CSVs carry no patient ids"
        )
    mitdb = set(present) <= MITDB_RECORDS
    records = [r for r in DS1 if r in present] if mitdb else present
    if len(records) < 2:
        needs = f"MIT-BIH's DS1 records (found {len(records)} of {len(DS1)})" if mitdb else "2 records or more"
        raise ArrhythmiaError(f"{beats.source}: cross-validation needs {needs}; it has {' '.join(records) or 'none'}")
    check_patients(patients, present, beats.source)
    patient = dict(zip(records, patient_of(np.array(records), patients).tolist()))
    people = sorted(set(patient.values()))
    if patients and not 2 <= k <= len(people):
        raise ArrhythmiaError(f"cross-validation needs 2 to {len(people)} folds over its patients, not {k}")
    dealt = record_groups(people, k, seed)

    def left_to_train(folds: int) -> int:  # by the fold that tests the most patients: groups differ by one at most
        return len(people) - math.ceil(len(people) / folds)

    if not mitdb and left_to_train(k) < 2:  # database_split trains and validates on 2 patients at least
        fits = [n for n in range(2, len(people) + 1) if left_to_train(n) >= 2]
        hint = f"use --folds {fits[0]} or more" if fits else "it needs 3 patients or more"
        raise ArrhythmiaError(
            f"{beats.source}: cross-validation in {k} folds over {len(people)} patients leaves a fold "
            f"{left_to_train(k)} to train and validate on, not 2: {hint}"
        )
    return records, [sorted(r for r in records if patient[r] in group) for group in dealt]


def _records_name(records: list[str]) -> str:
    """What a cross-validation held out, for its log and figures: DS1's records, or so many records."""
    return DS1_RECORDS if set(records) <= set(DS1) else f"{len(records)} records"


def _train_and_test_folds(
    config: TrainConfig,
    groups: list[list[str]],
    path: Path,
    beats: BeatSet,
    log: Callable[[str], None],
    progress: bool,
    report: bool,
    ctx: distributed.Context,
) -> tuple[list[Run], list[dict], list[tuple]]:
    """Each fold's run (trained, resumed or kept) and, on rank 0, its test: the runs, each fold's test
    records, split note and metrics, and its held-out beats' (true class, called class, record)."""
    runs, fold_metrics, labelled = [], [], []
    for i, group in enumerate(groups, 1):
        fold_log = (lambda m, i=i: log(f"fold {i}: {m}")) if ctx.is_main else (lambda _: None)
        run = _fold_run(path / f"fold-{i}", replace(config, test_records=group), beats, fold_log, progress, ctx)
        if not ctx.is_main:
            continue
        fold_beats = run.use_beats(beats)
        split = run.split()
        metrics, probs = evaluate_run(run, beats=fold_beats, log=lambda _: None)  # metrics.json, as evaluate writes it
        if report:
            write_report(run, beats=fold_beats, log=lambda _: None, test_probs=probs)
        log(f"fold {i}: records {' '.join(group)}: accuracy {metrics['accuracy']:.4f} on {metrics['n_beats']:,} beats")
        runs.append(run)
        fold_metrics.append({"test_records": group, "split_note": split.note, "metrics": metrics})
        labelled.append((fold_beats.y[split.test], probs.argmax(1), fold_beats.record[split.test].astype(str)))
    return runs, fold_metrics, labelled


def _fold_run(
    fold_dir: Path,
    config: TrainConfig,
    beats: BeatSet,
    log: Callable[[str], None],
    progress: bool,
    ctx: distributed.Context = distributed.SINGLE,
) -> Run:
    """The fold's run: kept when it has finished (its ``metrics.json``), resumed when it was started (from its
    last epoch, or from the first where none was saved), else trained; a directory trained with other settings
    is an error, not a mix (``config.RUNTIME_SETTINGS``, where and how fast it ran, are not compared: the
    command's apply). Under torchrun rank 0 looks and every rank does
    what it found: another rank could find the folder rank 0 has just started and resume where rank 0
    trains, and their process group would wait forever."""
    state, problem = distributed.broadcast_object(_fold_state(fold_dir, config) if ctx.is_main else None, ctx)
    if state == "refused":
        raise ArrhythmiaError(problem)
    if state == "kept":
        log("finished before; kept")
        return Run.open(fold_dir)
    resume = state in ("resumed", "restarted")
    if resume:
        log("resuming from its last epoch" if state == "resumed" else "training again (no epoch was saved)")
    else:
        log(f"training (test records {' '.join(config.test_records)})")
    try:
        return train(config, run_dir=fold_dir, resume=resume, beats=beats, log=log, progress=progress)
    except TrainingInterrupted as exc:
        # Not `train --resume` of the fold (train's line): that would leave the other folds and the pooling undone.
        where = f" in epoch {exc.epoch}" if exc.epoch else ""
        launcher = f" under torchrun with {ctx.world_size} processes" if ctx.enabled else ""
        raise TrainingInterrupted(
            f"{fold_dir}: interrupted{where}; the finished folds and what this one saved are kept: run the same "
            f"`arrhythmia crossval` command again{launcher} with `--out {fold_dir.parent}`, which resumes this "
            "fold and trains and tests the rest",
            exc.epoch,
        ) from None


def _fold_state(fold_dir: Path, config: TrainConfig) -> tuple[str, str]:
    """What a fold's folder holds: ``new``, ``kept`` (finished), ``resumed`` (an epoch saved), ``restarted``
    (started, no epoch saved) or ``refused`` (other settings), with the error line for the last."""
    if not (fold_dir / Run.CONFIG).is_file():
        return "new", ""
    run = Run.open(fold_dir)
    # A fold saved before runs saved their data path absolute holds it as typed, read from here. Where and how
    # fast it ran (device, threads, workers: RUNTIME_SETTINGS) is no other setting: the command's apply.
    theirs, ours = (
        {**run.config.experiment_settings(), "data": data_path(run.config.data)},
        config.experiment_settings(),
    )
    if theirs != ours:
        changed = sorted(k for k, v in ours.items() if theirs.get(k) != v)
        there = settings_text({key: theirs.get(key) for key in changed})
        here = settings_text({key: ours[key] for key in changed})
        return "refused", (
            f"{fold_dir}: trained with other settings ({', '.join(changed)}): {there} there, {here} in this "
            "command; run it with the fold's settings to go on, or remove the fold or use another directory"
        )
    # a fold whose training stopped is resumed even where its model was evaluated as it stood
    if run.metrics_path().is_file() and run.unfinished() is None:
        return "kept", ""
    return ("resumed" if run.saved_an_epoch() else "restarted"), ""


def _records_table(per_record: list[dict], fold_of: dict[str, int], classes: tuple[str, ...]) -> pd.DataFrame:
    """``records.csv``: one row per held-out record (``compute_metrics``' ``per_record``), with its fold, and
    each class's beats, Se and +P (empty where undefined)."""
    rows = []
    for row in per_record:
        flat = {
            "record": row["record"],
            "fold": fold_of[row["record"]],
            "beats": row["beats"],
            "accuracy": row["accuracy"],
        }
        for label in classes:
            stats = row["per_class"][label]
            flat.update({f"{label}_beats": stats["beats"], f"{label}_se": stats["se"], f"{label}_ppv": stats["ppv"]})
        rows.append(flat)
    return pd.DataFrame(rows).sort_values(["fold", "record"], kind="stable").reset_index(drop=True)


def _spread(folds: list[dict], classes: tuple[str, ...]) -> dict:
    """Mean and standard deviation over the folds of accuracy, macro F1 and each class's Se, +P and F1: how
    much the figure moves with the patients tested. A class's figure is over the folds that define it (its
    Se over those with beats of it, its +P over those calling it; ``folds`` says how many), None where none do."""
    values: dict[str, list[float]] = {"accuracy": [], "macro_f1": []}
    for fold in folds:
        metrics = fold["metrics"]
        values["accuracy"].append(metrics["accuracy"])
        values["macro_f1"].append(metrics["macro_f1"])
        for label in classes:
            for stat in ("se", "ppv", "f1"):
                value = metrics["per_class"][label][stat]
                values.setdefault(f"{label}_{stat}", []).extend([] if value is None else [value])
    return {
        name: {
            "mean": float(np.mean(v)) if v else None,
            "sd": (float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) if v else None,
            "folds": len(v),
        }
        for name, v in values.items()
    }


def format_cross_validation(cv: CrossValidation) -> str:
    """The pooled figures, and one line per fold: what ``arrhythmia crossval`` prints."""
    metrics, classes = cv.metrics, cv.metrics["classes"]
    records = _records_name([name for group in cv.groups for name in group])
    lines = [
        f"cross-validation over {records}: {len(cv.groups)} folds, {metrics['n_beats']:,} held-out beats (each "
        f"labelled by the fold model that never saw its patient){'; DS2 not used' if records == DS1_RECORDS else ''}",
        f"pooled accuracy {metrics['accuracy']:.4f}  macro F1 {metrics['macro_f1']:.4f}",
        "",
        f"{'class':<6}{'Se':>8}{'+P':>8}{'F1':>8}{'support':>9}{'avg Se':>9}{'avg +P':>9}  "
        f"(avg: mean over the records, EC57)",
    ]
    for name in classes:
        c, means = metrics["per_class"][name], record_average_cells(metrics["record_average"][name])
        cells = "".join(f"{figure_text(c[k]):>8}" for k in ("se", "ppv", "f1"))
        lines.append(f"{name:<6}{cells}{c['support']:>9,}{means}")
    if metrics.get("ec57"):
        lines += ["", ec57_text(metrics["ec57"])]
    header = "".join(f"{name + ' Se/+P':>13}" for name in classes)
    lines += ["", f"{'fold':<5}{'acc':>7}{'beats':>8}{header}  test records"]
    for i, fold in enumerate(cv.folds, 1):
        m = fold["metrics"]
        cells = "".join(
            f"{figure_text(m['per_class'][n]['se'], True):>7}/{figure_text(m['per_class'][n]['ppv'], True):<5}"
            for n in classes
        )
        lines.append(f"{i:<5}{m['accuracy'] * 100:>7.1f}{m['n_beats']:>8,}{cells}  {' '.join(fold['test_records'])}")
    accuracy = cv.spread["accuracy"]
    lines += ["", f"accuracy over the folds: {accuracy['mean']:.4f} +/- {accuracy['sd']:.4f} (mean +/- sd)"]
    return "\n".join(lines)
