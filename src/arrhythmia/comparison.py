"""Two or more runs' test figures side by side, each difference with a paired interval over the test records.

Two models are told apart on the same test patients, not on two figures' separate intervals: the records are
drawn with replacement together for both runs (a paired bootstrap, SciPy's ``bootstrap``), so a record that is
hard for both moves both figures alike and the difference's interval is as narrow as the data allow. Where
the first run kept a patients file (``TrainConfig.patients``), a patient's records are drawn together, as one
unit (``by_patient``). Each figure is pooled over the beats of the records drawn, as
``evaluation.record_intervals`` pools it; the counts come from each run's ``metrics.json`` (``per_record``),
so runs evaluated long ago compare without their models. Only runs tested on the same beats of the same records
compare (intra-patient runs of other seeds test other beats: refused). A
``crossval`` directory compares as a run tested on all its records (its pooled held-out labels,
``crossval.json``): two settings cross-validated over the same records (DS1's, or another database's) are
told apart as the choice of a setting needs.

    from arrhythmia.comparison import compare_runs, format_comparison
    comparison = compare_runs(["runs/a", "runs/b"])   # the first is the reference
    print(format_comparison(comparison))              # a Markdown table, ready for a paper
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arrhythmia.config import RUNTIME_SETTINGS, TrainConfig, settings_text
from arrhythmia.crossval import SUMMARY
from arrhythmia.data.splits import patient_of, read_patients
from arrhythmia.errors import ArrhythmiaError
from arrhythmia.evaluation import bootstrap_interval, figure_text
from arrhythmia.files import read_json, read_json_or_none
from arrhythmia.runs import Run


def record_counts(metrics: dict) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The test records of a run's ``metrics`` (``metrics.json``) and, for each pooled figure (``accuracy``,
    ``<class> Se``, ``<class> +P``), each record's hits and total beats, (n_records,) float64 each, in the
    records' order (sorted): the figure over any set of records is ``hits.sum() / total.sum()``."""
    rows = sorted(metrics.get("per_record") or [], key=lambda row: str(row["record"]))
    if not rows:
        raise ArrhythmiaError("its metrics hold no record-by-record figures (run `arrhythmia evaluate` again)")
    records = [str(row["record"]) for row in rows]
    beats = np.array([row["beats"] for row in rows], dtype=np.float64)
    counts = {"accuracy": (np.round(np.array([row["accuracy"] for row in rows]) * beats), beats)}
    for label in metrics["classes"]:
        held = np.array([row["per_class"][label]["beats"] for row in rows], dtype=np.float64)
        called = np.array([row["per_class"][label]["called"] for row in rows], dtype=np.float64)
        se = np.array([row["per_class"][label]["se"] or 0.0 for row in rows], dtype=np.float64)
        true_positive = np.round(se * held)
        counts[f"{label} Se"] = (true_positive, held)
        counts[f"{label} +P"] = (true_positive, called)
    return records, counts


def paired_difference_interval(
    first: tuple[np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[float] | None:
    """The ``level`` interval of ``second``'s pooled ratio minus ``first``'s, the records drawn together for
    both (percentile method). first, second: (hits, total), (n_records,) each, the same records in the same
    order. ``[low, high]``, or None where fewer than two records have a total on either side or a draw's
    ratio is undefined throughout."""
    (hits_a, total_a), (hits_b, total_b) = first, second
    counted = (total_a > 0) | (total_b > 0)
    if counted.sum() < 2:
        return None
    arrays = tuple(np.asarray(a, dtype=np.float64)[counted] for a in (hits_a, total_a, hits_b, total_b))
    if np.array_equal(arrays[0], arrays[2]) and np.array_equal(arrays[1], arrays[3]):
        return [0.0, 0.0]  # the same counts on every record: nothing to draw

    def difference(ha, ta, hb, tb, axis):
        return hb.sum(axis=axis) / tb.sum(axis=axis) - ha.sum(axis=axis) / ta.sum(axis=axis)

    return bootstrap_interval(arrays, difference, level, resamples, seed)


def _check_same_beats(
    path: Path,
    first: Path,
    records: list[str],
    first_counts: dict[str, tuple[np.ndarray, np.ndarray]],
    counts: dict[str, tuple[np.ndarray, np.ndarray]],
    classes: list[str],
) -> None:
    """Refuse a run whose test beats are not the first run's: the same test beats hold, record by record,
    as many beats of each class. Intra-patient runs of other seeds test other beats of the same records
    (the split is drawn with the seed): paired, their difference would mix the models with the beats."""
    for label in classes:
        theirs, ours = first_counts[f"{label} Se"][1], counts[f"{label} Se"][1]
        differs = np.flatnonzero(theirs != ours)
        if len(differs):
            i = int(differs[0])
            raise ArrhythmiaError(
                f"{path}: tested on other beats than {first} (record {records[i]} holds {int(ours[i]):,} {label} "
                f"beats here, {int(theirs[i]):,} there): a paired comparison needs the same test beats (an "
                "intra-patient split draws them with --seed; compare inter-patient runs, or runs of one seed)"
            )


def _ratio(counts: tuple[np.ndarray, np.ndarray]) -> float | None:
    hits, total = counts
    return float(hits.sum() / total.sum()) if total.sum() else None


def compare_runs(
    runs: list[str | Path], source: str | None = None, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> dict:
    """The test figures of ``runs`` (run or ``crossval`` directories; the first is the one the others are
    measured against), read from each run's ``metrics.json`` (``metrics-<source>.json`` with ``source``; a
    cross-validation's pooled ``crossval.json``), and each other run's
    difference from the first with its paired ``level`` interval over the test records, or over their
    patients where the first run has a patients file (``paired_difference_interval``, ``by_patient``).
    ArrhythmiaError, naming the run, where a run has no metrics or was tested on other records, beats (each
    record's beats of each class differ) or classes than the first.

    Returns ``{"runs": [{"path", "model", "protocol", "preset", "seed", "epochs", "settings", "beats",
    "records"}],
    "records": [...], "patients": the number of patients drawn, or None where records are drawn, "level",
    "resamples", "figures": [{"name", "values": [fraction or None per run], "differences": [None,
    {"difference", "interval"} per other run]}]}``; ``settings``: the run's settings that differ from the
    first run's (``other_settings``)."""
    if len(runs) < 2:
        raise ArrhythmiaError("compare takes two runs or more (the first is the one the others are measured against)")
    about, counts, first_records, classes, first_config = [], [], None, None, None
    for path in runs:
        path, metrics, config = _tested(Path(path), source)
        try:
            records, record_figures = record_counts(metrics)
        except ArrhythmiaError as error:
            raise ArrhythmiaError(f"{path}: {error}") from None
        if first_records is None:
            first_records, classes = records, list(metrics["classes"])
        elif records != first_records or list(metrics["classes"]) != classes:
            only = sorted(set(records) ^ set(first_records))
            what = f"records {' '.join(only[:8])}{' ...' if len(only) > 8 else ''}" if only else "classes"
            raise ArrhythmiaError(
                f"{path}: tested on other {what} than {Path(runs[0])}: a paired comparison needs the same test "
                "records and classes (train them with the same --protocol and --test-records)"
            )
        else:
            _check_same_beats(path, Path(runs[0]), records, counts[0], record_figures, classes)
        first_config = first_config or config
        about.append(
            {
                "path": str(path),
                "model": config.model,
                "protocol": config.protocol,
                "preset": config.preset,
                "seed": config.seed,
                "epochs": config.epochs,
                "settings": other_settings(config, first_config),
                "beats": int(metrics["n_beats"]),
                "records": len(records),
            }
        )
        counts.append(record_figures)
    patients = _patients(Path(runs[0]))
    if patients:  # a patient's records drawn together: apart, they would narrow every interval
        counts = [by_patient(first_records, figures_of_run, patients) for figures_of_run in counts]
    figures = []
    for name in counts[0]:
        differences: list[dict | None] = [None]
        for other in counts[1:]:
            a, b = _ratio(counts[0][name]), _ratio(other[name])
            differences.append(
                None
                if a is None or b is None
                else {
                    "difference": b - a,
                    "interval": paired_difference_interval(counts[0][name], other[name], level, resamples, seed),
                }
            )
        figures.append({"name": name, "values": [_ratio(c[name]) for c in counts], "differences": differences})
    n_patients = len(set(patient_of(np.array(first_records), patients).tolist())) if patients else None
    return {
        "runs": about,
        "records": first_records,
        "patients": n_patients,
        "level": level,
        "resamples": resamples,
        "figures": figures,
    }


#: Settings the table shows in columns of their own, and those that say where and how fast a run computed,
#: not what it trained (``config.RUNTIME_SETTINGS``); ``test_records``: a cross-validation's fold sets it.
_NOT_LISTED = ("model", "protocol", "preset", "seed", "epochs", "test_records", "data", *RUNTIME_SETTINGS)


def other_settings(config: TrainConfig, first: TrainConfig) -> dict:
    """The settings ``config`` trained with that differ from ``first``'s, by name (``--other-lead``,
    ``--record-batches``, another window or loss ...), but for those in columns of their own and the ones
    that do not change what is trained (``_NOT_LISTED``; ``data``: the same test records are checked)."""
    mine, theirs = config.to_dict(), first.to_dict()
    return {key: value for key, value in mine.items() if key not in _NOT_LISTED and value != theirs.get(key)}


def by_patient(
    records: list[str], counts: dict[str, tuple[np.ndarray, np.ndarray]], patients: dict[str, str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``record_counts``' counts summed over each patient's records (``patients``: ``{record: patient}``),
    (n_patients,) each: the units a bootstrap draws."""
    _, patient = np.unique(patient_of(np.array(records), patients), return_inverse=True)
    n = int(patient.max()) + 1 if len(patient) else 0
    return {
        name: (np.bincount(patient, hits, n), np.bincount(patient, total, n)) for name, (hits, total) in counts.items()
    }


def _is_crossval(path: Path) -> bool:
    """Whether ``path`` is a ``crossval`` directory (its summary, and no run of its own), not a run."""
    return (path / SUMMARY).is_file() and not (path / Run.CONFIG).is_file()


def _patients(path: Path) -> dict[str, str] | None:
    """The ``{record: patient}`` a run (or a cross-validation's folds) split its database by, or None."""
    if _is_crossval(path):
        copies = sorted(path.glob(f"fold-*/{Run.PATIENTS}"))
        if copies:
            return read_patients(copies[0])
        given = read_json(path / SUMMARY, "cross-validation summary").get("config", {}).get("patients")
        return read_patients(given) if given else None
    return Run.open(path).patients()


def _tested(path: Path, source: str | None) -> tuple[Path, dict, TrainConfig]:
    """A run's test metrics (``metrics.json``, or ``metrics-<source>.json``) and settings, or a ``crossval``
    directory's pooled held-out metrics and the settings of its folds."""
    if _is_crossval(path):
        if source is not None:
            raise ArrhythmiaError(f"{path}: a cross-validation is tested on its held-out records alone, not on --data")
        summary = read_json(path / SUMMARY, "cross-validation summary")
        try:
            return path, summary["pooled"], TrainConfig.from_dict(summary["config"], where=str(path / SUMMARY))
        except KeyError as missing:
            raise ArrhythmiaError(f"{path / SUMMARY}: holds no {missing} (an unfinished cross-validation?)") from None
    run = Run.open(path)
    return run.path, run.metrics(_evaluated_source(run, source)), run.config  # a missing file's error names it


def _evaluated_source(run: Run, source: str | None) -> str | None:
    """The name ``evaluate --data SOURCE`` wrote ``run``'s figures under (``metrics-<name>.json``): the beats'
    source, which for a directory is not the path given (``--data ../data/incartdb``: ``incartdb``; the
    Heartbeat CSVs' folder: ``heartbeat``). That of the run's metrics whose ``data.origin`` is the directory,
    else the directory's name (a WFDB database's beats are named after its folder; metrics from before the
    origin was kept); ``source`` itself where its metrics file exists or it is no directory."""
    if source is None or run.metrics_path(source).is_file():
        return source
    directory = Path(source).expanduser()
    if not directory.is_dir():
        return source
    directory = directory.resolve()
    for path in sorted(run.path.glob("metrics-*.json")):
        if ((read_json_or_none(path) or {}).get("data") or {}).get("origin") == str(directory):
            return path.stem.removeprefix("metrics-")
    return directory.name


def _difference_text(difference: dict | None) -> str:
    if difference is None:
        return "-"
    sign = f"{100 * difference['difference']:+.1f}"
    interval = difference["interval"]
    if interval is None:
        return f"{sign} (no interval)"
    low, high = (100 * v for v in interval)
    apart = " *" if low > 0 or high < 0 else ""
    return f"{sign} ({_bound_text(low)} to {_bound_text(high)}){apart}"


def _bound_text(value: float) -> str:
    """An interval's bound in percentage points, to one decimal; one that rounds to 0.0 but is not 0 to one
    significant digit (``+0.05``), so its sign shows: an interval from 0.047 points up read '(+0.0 to +1.4) *',
    its star (the interval leaves out 0) seeming to contradict it."""
    return f"{value:+.1g}" if value and round(value, 1) == 0 else f"{value:+.1f}"


def format_comparison(comparison: dict) -> str:
    """``compare_runs``' result as Markdown: the runs (how each was trained), then one row per figure, in
    percent, each other run's difference from the first with its interval (``*``: the interval leaves out 0,
    the two runs are told apart on these records)."""
    runs = comparison["runs"]
    lines = [
        "| run | model | protocol | preset | seed | epochs (max) | other settings than A | test beats | test records |"
    ]
    lines.append("|---|---|---|---|---:|---:|---|---:|---:|")
    for i, run in enumerate(runs):
        lines.append(
            f"| {chr(65 + i) if i < 26 else i + 1}: {run['path']} | {run['model']} | {run['protocol']} | "
            f"{run['preset'] or '-'} | {run['seed']} | {run['epochs']} | {settings_text(run.get('settings', {}))} "
            f"| {run['beats']:,} | {run['records']} |"
        )
    names = [chr(65 + i) if i < 26 else str(i + 1) for i in range(len(runs))]
    header = ["figure, %", *names, *(f"{n} - A ({100 * comparison['level']:g}% interval)" for n in names[1:])]
    lines += ["", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for figure in comparison["figures"]:
        values = [figure_text(v, percent=True) for v in figure["values"]]
        if all(v is None for v in figure["values"]):
            continue  # a class no run's test records hold and no run called
        differences = [_difference_text(d) for d in figure["differences"][1:]]
        lines.append("| " + " | ".join([figure["name"], *values, *differences]) + " |")
    drawn = "records"
    if comparison.get("patients"):
        drawn = f"{comparison['patients']} patients' records (a patient's together)"
    lines += [
        "",
        f"Figures pooled over the beats of {len(comparison['records'])} test records; each difference's interval "
        f"from the {drawn} drawn together for both runs ({comparison['resamples']:,} paired bootstrap resamples, "
        "percentile). *: the interval leaves out 0, the runs are told apart on these records; without it, not.",
    ]
    return "\n".join(lines)
