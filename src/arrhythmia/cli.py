"""The ``arrhythmia`` command line: a thin shell over the Python API.

Every command that reads data takes ``--data``: ``mitdb`` (default; downloaded to the data cache on first
use), ``heartbeat``, ``synthetic``, or a directory holding a WFDB database or the Heartbeat CSVs.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import typing
import warnings
from dataclasses import MISSING, fields
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from arrhythmia.config import RENAMED, TrainConfig
from arrhythmia.errors import ArrhythmiaError, Interrupted, one_line
from arrhythmia.hourly import HRV_EDITED_OUT_ABOVE

app = typer.Typer(
    help="Heartbeat classification in ECG signals with 1D CNNs (MIT-BIH, AAMI EC57).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect beat data sets.", no_args_is_help=True)


def _print_version(value: bool) -> None:
    if value:
        from arrhythmia import __version__

        typer.echo(f"arrhythmia {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Heartbeat classification in ECG signals with 1D CNNs (MIT-BIH, AAMI EC57)."""


app.add_typer(data_app, name="data")
console = Console()


def say(line: str) -> None:
    """Print one line as it is: never wrapped (a path cut at the terminal's width cannot be copied), and
    square brackets in a path never read as markup."""
    console.print(line, soft_wrap=True, markup=False, highlight=False)


DataOption = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="mitdb (default), heartbeat, synthetic, or a directory with a WFDB database or the Heartbeat CSVs.",
    ),
]


class Database(StrEnum):
    mitdb = "mitdb"
    heartbeat = "heartbeat"


@app.command()
def download(
    database: Annotated[Database, typer.Argument(help="mitdb (PhysioNet) or heartbeat (Kachuee et al. CSVs).")],
    dest: Annotated[Path | None, typer.Option(help="Target directory (default: the user data cache).")] = None,
) -> None:
    """Download a database, resumably, and verify it (PhysioNet's SHA256SUMS for mitdb)."""
    from arrhythmia.data import SOURCES
    from arrhythmia.data.download import default_data_dir

    path = SOURCES[database.value].download(dest or default_data_dir() / database.value)
    say(f"{database.value}: ready in {path}")


@data_app.command("summary")
def data_summary(
    data: DataOption = None,
    window: Annotated[
        str | None,
        typer.Option(help="Beat window: kachuee or centred (default: a store's own, else kachuee)."),
    ] = None,
    patients: Annotated[
        Path | None,
        typer.Option(
            help="CSV with columns record and patient: the inter-patient split keeps a patient's records together, "
            "as train --patients does (records it does not name are patients of their own)."
        ),
    ] = None,
) -> None:
    """Beats per class, and per split for each protocol the source supports."""
    from arrhythmia.data import PROTOCOLS, get_window, load_beats, make_split
    from arrhythmia.data.splits import read_patients
    from arrhythmia.data.store import store_window

    # Before the beats are loaded: a file that cannot be read is one line, at once.
    record_patients = read_patients(patients) if patients is not None else None

    # A store holds beats of one window: the one it was built with, unless another is asked for (an error).
    chosen = get_window(window) if window else (data is not None and store_window(data)) or "kachuee"
    beats = load_beats(data, window=chosen)
    table = Table(title=f"{beats.description}, {beats.window.kind} window: {len(beats):,} beats")
    table.add_column("")
    for name in beats.classes:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")

    def add(label: str, counts: dict[str, int]) -> None:
        table.add_row(label, *(f"{counts.get(c, 0):,}" for c in beats.classes), f"{sum(counts.values()):,}")

    if "annotated" in beats.info:
        add("annotated beats", beats.info["annotated"])
        for reason, counts in beats.info.get("lost", {}).items():
            add(f"lost: {reason}", counts)
    add("extracted beats", beats.class_counts())
    notes = []
    for protocol in PROTOCOLS:
        try:
            split = make_split(beats, protocol, patients=record_patients if protocol == "inter" else None)
        except ArrhythmiaError as exc:
            notes.append(f"{protocol}: {exc}")
            continue
        table.add_section()
        for part, counts in split.class_counts(beats).items():
            add(f"{protocol} {part}", counts)
        notes.append(f"{protocol}: {split.note}")
    console.print(table)
    for note in notes:
        say(f"  {note}")


@data_app.command("build")
def data_build(
    data: Annotated[Path, typer.Option("--data", help="Directory with a WFDB database (beat annotations in atr).")],
    out: Annotated[Path, typer.Option("--out", help="Store directory; an interrupted build resumes there.")],
    window: Annotated[str, typer.Option(help="Beat window: kachuee or centred.")] = "kachuee",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Records extracted in parallel (default: CPU count).")
    ] = None,
) -> None:
    """Extract a WFDB database into a sharded beat store that `--data STORE` reads from disk per batch."""
    import time

    from arrhythmia.data.store import build_store, read_manifest, store_bytes

    began = time.perf_counter()
    path = build_store(data, out, window=window, workers=workers)
    manifest = read_manifest(path)
    say(
        f"{path}: {manifest['n']:,} beats in {len(manifest['shards'])} shards, "
        f"{store_bytes(path) / 2**20:,.1f} MiB on disk, {time.perf_counter() - began:.1f} s"
    )


@app.command("models")
def models_list() -> None:
    """List the registered models (built in, and those of installed plugin packages: entry point group
    arrhythmia.models), and the shipped ones with their accuracy beside their speed."""
    from arrhythmia.models import catalogue

    table = Table(title="models")
    for column in ("name", "parameters", "from", "description"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    entries = catalogue()
    for entry in entries:
        parameters = "?" if entry.parameters is None else f"{entry.parameters:,}"
        table.add_row(entry.name, parameters, entry.source, entry.description)
    console.print(table)
    for entry in entries:
        if entry.problem:
            warnings.warn(entry.problem, stacklevel=1)

    from arrhythmia import pretrained

    # Seven narrow columns, so that an 80-column terminal shows every name and figure whole.
    shipped = Table(
        title="shipped models (trained on MIT-BIH DS1; --pretrained NAME)",
        caption="* the default. acc, S, V: DS2 through predict; beats acc: the network alone on DS2's annotated "
        "beats; torch/s, ONNX/s: classifier beats a second (k: thousand) on the 2-core CPU of the model cards",
    )
    shipped.add_column("name", no_wrap=True)
    for column in ("acc", "S Se/+P", "V Se/+P", "beats acc", "torch/s", "ONNX/s"):
        shipped.add_column(column, justify="right", no_wrap=True)
    for name in pretrained.available():
        c = pretrained.card(name)
        adapted = c.get("predict_ds2", {}).get("adapted")
        through_predict = (
            [
                f"{100 * adapted['accuracy']:.1f}%",
                f"{100 * adapted['S_se']:.1f}/{100 * adapted['S_ppv']:.1f}",
                f"{100 * adapted['V_se']:.1f}/{100 * adapted['V_ppv']:.1f}",
            ]
            if adapted
            else ["n/a"] * 3
        )
        shipped.add_row(
            name + ("*" if name == pretrained.DEFAULT else ""),
            *through_predict,
            f"{100 * c['ds2']['accuracy']:.1f}%",
            _thousands(c["torch_beats_per_s"]),
            _thousands(c["onnx_beats_per_s"]),
        )
    console.print(shipped)


def _thousands(count: float) -> str:
    """``130k``, ``4.9k``: a count in thousands, short enough for a table on an 80-column terminal."""
    return f"{count / 1000:.0f}k" if count >= 10_000 else f"{count / 1000:.1f}k"


def _option_type(annotation) -> type:
    """The command-line type of a TrainConfig field: lists are given comma-separated, Optional[X] is X."""
    if typing.get_origin(annotation) is list:
        return str
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _config_parameters() -> list[inspect.Parameter]:
    """One ``--option`` per TrainConfig field, its help and default taken from the field (config.setting)."""
    hints = typing.get_type_hints(TrainConfig)
    parameters = []
    for setting in fields(TrainConfig):
        if not setting.metadata.get("cli", True):
            continue
        kind = _option_type(hints[setting.name])
        default = setting.default_factory() if setting.default_factory is not MISSING else setting.default
        flag = "--" + setting.name.replace("_", "-")
        declarations = [flag]
        if kind is bool:
            declarations = [f"{flag}/--no-{flag[2:]}"]
            old_flags = [old.replace("_", "-") for old in _aliases(setting.name)]
            declarations += [f"--{old}/--no-{old}" for old in old_flags]
        shown = ",".join(default) if isinstance(default, list) else default
        help_text = setting.metadata["help"] + (f" (default: {shown})" if shown not in (None, "", []) else "")
        option = typer.Option(*declarations, help=help_text, show_default=False)
        parameters.append(
            inspect.Parameter(
                setting.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind | None, option]
            )
        )
    return parameters


def _option(name: str, annotation, default, help: str) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[annotation, typer.Option(help=help)]
    )


def _aliases(name: str) -> list[str]:
    return [old for old, new in RENAMED.items() if new == name]


def train(
    preset: str | None = None,
    config: Path | None = None,
    run_dir: Path | None = None,
    resume: Path | None = None,
    **settings,
) -> None:
    """Train a model (kept: its best or last epoch, --checkpoint), evaluate it on the test split, write its report.

    Settings come from the defaults, then --preset, then --config, then the options given.
    """
    from arrhythmia.experiment import run_experiment
    from arrhythmia.runs import Run

    if resume is not None:
        stopped = Run.open(resume)
        left_aside = _left_aside_by_resume(stopped.config, preset, config, run_dir, resume, settings)
        if left_aside:
            warnings.warn(
                f"{resume}: --resume continues the run with the settings it started with; left aside: "
                + ", ".join(left_aside),
                stacklevel=1,
            )
        run = run_experiment(stopped.config, run_dir=resume, resume=True)
    else:
        run = run_experiment(_train_config(preset, config, settings, "intra"), run_dir=run_dir)
    say(f"run directory: {run.path}")


def _left_aside_by_resume(
    started: TrainConfig, preset: str | None, config: Path | None, run_dir: Path | None, resume: Path, settings: dict
) -> list[str]:
    """The options given beside ``--resume`` that it does not take, as the user gave them: every one that
    differs from the settings the run ``started`` with (a resumed run keeps its own), with the run's value."""
    left = [f"--preset {preset}"] if preset else []
    left += [f"--config {config}"] if config else []
    if run_dir is not None and Path(run_dir) != Path(resume):
        left.append(f"--run-dir {run_dir}")
    given = TrainConfig.checked_values({k: v for k, v in settings.items() if v is not None}, "command line")
    for key, value in given.items():
        theirs = getattr(started, key)
        if value != theirs:
            flag = "--" + key.replace("_", "-")
            shown = ",".join(value) if isinstance(value, list) else value
            if isinstance(value, bool):
                left.append(flag if value else f"--no-{flag[2:]}")
            else:
                left.append(f"{flag} {shown} (the run's: {','.join(theirs) if isinstance(theirs, list) else theirs})")
    return left


def _train_config(preset: str | None, config: Path | None, settings: dict, protocol: str) -> TrainConfig:
    """The settings of a training command: the defaults, then ``preset``, then the ``config`` file, then the
    options given (``settings``, None where not given); ``protocol`` where none of them names one."""
    # The file's names and types are checked before any of its values is used.
    from_file = TrainConfig.checked_values(TrainConfig.read_file(config), where=str(config)) if config else {}
    protocol = settings.get("protocol") or from_file.get("protocol", protocol)
    given = {key: value for key, value in settings.items() if value is not None}
    # List settings are comma-separated on the command line ("none": an empty list), read by checked_values.
    # A file's preset is applied as --preset is, the file's settings over it.
    return TrainConfig.layered(preset or from_file.get("preset"), protocol, from_file, given, where="command line")


train.__signature__ = inspect.Signature(
    [
        _option(
            "preset", str | None, None, "best or fast: the measured best settings (see the README); options override."
        ),
        _option("config", Path | None, None, "YAML or JSON file with any of these settings."),
        _option("run_dir", Path | None, None, "Run directory (default runs/<model>-<protocol>-<time>)."),
        _option("resume", Path | None, None, "Continue the interrupted run in this directory."),
        *_config_parameters(),
    ]
)
train.__annotations__ = {}
app.command()(train)


def crossval(
    folds: int = 5,
    fold_seed: int = 0,
    out: Path | None = None,
    report: bool = False,
    preset: str | None = None,
    config: Path | None = None,
    **settings,
) -> None:
    """Cross-validate over DS1's records, or another database's: one inter-patient run per group, tested on it.

    On MIT-BIH choose settings here, on DS1 alone; DS2 (`arrhythmia train --protocol inter`) is for the figure
    you report. On another database every record is dealt (a patient's records in one group: --patients).
    A stopped cross-validation continues where it stopped when run again with the same options.
    """
    from arrhythmia.crossval import cross_validate, format_cross_validation

    cfg = _train_config(preset, config, settings, "inter")
    cv = cross_validate(cfg, k=folds, seed=fold_seed, out_dir=out, report=report)
    if cv.metrics:  # under torchrun, rank 0's
        say(format_cross_validation(cv))
        say(f"cross-validation directory: {cv.path}")


crossval.__signature__ = inspect.Signature(
    [
        _option("folds", int, 5, "Groups of DS1 records (another database: of its patients), one run tested on each."),
        _option("fold_seed", int, 0, "Shuffle that deals the records into groups (5 folds, seed 0: the README's)."),
        _option("out", Path | None, None, "Directory (default runs/<model>-crossval<folds>-<time>)."),
        _option("report", bool, False, "Also write each fold's figures and report.html."),
        *[p for p in train.__signature__.parameters.values() if p.name in ("preset", "config")],
        *[p for p in _config_parameters() if p.name != "test_records"],
    ]
)
crossval.__annotations__ = {}
app.command()(crossval)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory written by `arrhythmia train`.")],
    data: DataOption = None,
) -> None:
    """Evaluate a run's model on the test split (of its own data, or of --data); report for its own."""
    from arrhythmia.experiment import evaluate_and_report
    from arrhythmia.runs import Run

    opened = Run.open(run)
    _warn_unfinished(opened)
    evaluate_and_report(opened, data=data)


def _check_run_model(run: Path | None) -> None:
    """``--run RUN`` for labelling (predict, score): ``_warn_unfinished`` where RUN is a training run's folder;
    its model.pt is replaced each epoch while another process trains it."""
    from arrhythmia.runs import Run

    if run is not None and (Path(run) / Run.CONFIG).is_file():
        _warn_unfinished(Run.open(run))


def _warn_unfinished(run, model: bool = True) -> None:
    """One warning line where ``run`` (a Run) stopped training before its end and was not resumed: evaluated,
    reported or exported as it stands, it is the model of the epochs trained so far. One error line where
    another process is training it still (``Run.refuse_if_training``), or, for a command that reads its
    ``model`` (not compare, which reads metrics.json), where no epoch of it was saved."""
    run.refuse_if_training()
    if model:
        run.refuse_if_untrained()
    line = run.unfinished()
    if line:
        warnings.warn(line, stacklevel=1)


@app.command()
def compare(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories; the first is the one the others are measured against.")
    ],
    data: Annotated[
        str | None,
        typer.Option(help="Compare the figures `evaluate --data SOURCE` wrote (default: each run's own test split)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the comparison as JSON here.")] = None,
) -> None:
    """Compare runs tested on the same records: each figure side by side, each difference with a paired interval."""
    from arrhythmia.comparison import compare_runs, format_comparison
    from arrhythmia.files import write_json
    from arrhythmia.runs import Run

    for path in dict.fromkeys(runs):  # a run folder (not a crossval's) stopped before its end: said once
        if (path / Run.CONFIG).is_file():
            _warn_unfinished(Run.open(path), model=False)
    comparison = compare_runs(runs, source=data)
    say(format_comparison(comparison))
    if out is not None:
        write_json(out, comparison)
        say(f"comparison: {out}")


@app.command()
def report(run: Annotated[Path, typer.Argument(help="Run directory written by `arrhythmia train`.")]) -> None:
    """Write the run's figures and its self-contained report.html."""
    from arrhythmia.report import write_report
    from arrhythmia.runs import Run

    opened = Run.open(run)
    _warn_unfinished(opened)
    write_report(opened)


class Engine(StrEnum):
    torch = "torch"
    onnx = "onnx"


class ExportFormat(StrEnum):
    onnx = "onnx"
    torchscript = "torchscript"


# The options of the commands that label recordings (predict, score).
RunOption = Annotated[
    Path | None, typer.Option(help="Run directory, model.pt or model.onnx (default: a shipped DS1 model).")
]
PretrainedOption = Annotated[
    str | None, typer.Option(help="Shipped model to use without --run (see `arrhythmia models`).")
]
EngineOption = Annotated[Engine, typer.Option(help="torch, or onnx (onnxruntime; exported on first use).")]
FsOption = Annotated[float | None, typer.Option(help="Sampling rate in Hz (CSV without a time column, .npy).")]
LeadOption = Annotated[
    str | None,
    typer.Option(help="Lead name or index (default: MLII, else lead II, else the first ECG lead, V1-V3 last)."),
]
MuscleFilterOption = Annotated[
    bool, typer.Option(help="Low-pass (25 Hz) the stretches that hold muscle noise before reading beats.")
]
UnitsOption = Annotated[
    str | None,
    typer.Option(
        help="The signal's unit where the file names none (CSV, .npy): mV, uV or V, or a recorder's counts per mV "
        "(e.g. 409.6); default: read from the size of its beats."
    ),
]


def _key_value_option(flag: str, help: str):
    """A repeatable ``--flag KEY=VALUE`` option (a list of the items, None when not given)."""
    return Annotated[list[str] | None, typer.Option(flag, metavar="KEY=VALUE", help=help)]


AdaptSettings = _key_value_option(
    "--adapt-setting", "An adaptation setting (adapt.AdaptConfig), e.g. fusion_families=false; repeatable."
)
EpisodeSettings = _key_value_option(
    "--episode-setting",
    "An episode threshold (episodes.EpisodeConfig), e.g. pause_s=3 or tachycardia_bpm=120; repeatable.",
)


@app.command()
def predict(
    records: Annotated[
        list[Path],
        typer.Argument(
            help="WFDB record (with or without .hea), EDF, CSV, .npy, or a beat CSV; several, a folder, a glob "
            "or a .txt list of recordings label an archive.",
            metavar="PATH",
            show_default=False,
        ),
    ],
    run: RunOption = None,
    pretrained: PretrainedOption = None,
    engine: EngineOption = Engine.torch,
    fs: FsOption = None,
    lead: LeadOption = None,
    units: UnitsOption = None,
    adapt: Annotated[
        bool, typer.Option(help="Adapt the labels to the recording: morphology families, its own statistics.")
    ] = True,
    adapt_setting: AdaptSettings = None,
    episode_setting: EpisodeSettings = None,
    muscle_filter: MuscleFilterOption = True,
    ask: Annotated[
        int,
        typer.Option(min=0, help="Write a review sheet of K beats, each standing for a family or a timing group."),
    ] = 0,
    labels: Annotated[
        Path | None,
        typer.Option(help="A reviewer's labels (CSV: sample,label), carried through their families and groups."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default predictions/<record name>; for an archive predictions/)."),
    ] = None,
    plot: Annotated[bool, typer.Option(help="Also draw a stretch of the recording with its beats marked.")] = False,
    start: Annotated[float, typer.Option(help="Start of the plotted stretch, s.")] = 0.0,
    seconds: Annotated[float, typer.Option(help="Length of the plotted stretch, s.")] = 10.0,
    report: Annotated[
        bool, typer.Option(help="Also write report.html: trend, hourly table, episodes, families, event strips.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Archive: local worker processes (default: the usable CPUs).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Archive: address of a running Dask scheduler (tcp://HOST:8786) to use.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Archive: label again the recordings already complete.")] = False,
    started_at: Annotated[
        str | None,
        typer.Option(
            help="When the recording started, for a file that names no start (.npy, CSV without time stamps): "
            "2026-11-28T08:15:00, or 08:15:00; its hourly table and report then read in times of day."
        ),
    ] = None,
) -> None:
    """Label every beat of a recording: beats.csv, episodes.csv, hourly.csv, families.csv, summary.json.

    Several recordings, a folder, a glob or a .txt list label an archive: one folder per recording under
    --out, in parallel (Dask), resumably, and a cohort table OUT/cohort.csv."""
    from arrhythmia.archive import is_archive_path
    from arrhythmia.export import load_classifier
    from arrhythmia.labelling import PredictOptions, label_file
    from arrhythmia.predict import UNSURE_BELOW

    _check_run_model(run)
    options = PredictOptions(
        fs=fs,
        lead=lead,
        units=units,
        adapt=_adapt_value(adapt, adapt_setting or []),
        ask=ask,
        labels=labels,
        plot=plot,
        start=start,
        seconds=seconds,
        report=report,
        episodes=_episode_value(episode_setting or []),
        muscle_filter=muscle_filter,
        started_at=started_at,
    )
    if len(records) > 1 or is_archive_path(records[0]):
        if started_at is not None:
            raise ArrhythmiaError(
                "--started-at names one recording's start; an archive's recordings each start at their own time"
            )
        _predict_archive(records, out, options, run, pretrained, engine, workers, scheduler, force)
        return
    record = records[0]
    model = load_classifier(run, engine.value, pretrained)
    out = out or Path("predictions") / record.with_suffix("").name
    done = label_file(record, model, out, options)
    summary = done.summary
    if done.result is None:
        counts = summary["per_class"]
        say(f"{summary['beats']:,} beats: " + ", ".join(f"{c} {n:,}" for c, n in counts.items()))
        say(f"per-beat table: {done.files['beats']}")
        return
    from arrhythmia.figures import share as share_text  # a share above nought never printed as nought

    data = done.recording
    table = Table(title=f"{record.name} ({data.lead}, {data.fs:g} Hz): {summary['beats']:,} beats")
    table.add_column("")
    table.add_column("value", justify="right")
    if summary.get("start_time"):
        table.add_row("started", summary["start_time"].replace("T", " "))
    if summary.get("recording_s"):  # the time the counts below were read from: a patch off the body is none of it
        from arrhythmia.report import format_duration

        total, lost, noisy = summary["recording_s"], summary.get("unanalysable_s", 0.0), summary.get("noisy_s", 0.0)
        in_noise = f"; {format_duration(noisy)} of it in noise (no heart rate)" if noisy else ""
        table.add_row("analysable", f"{format_duration(total - lost)} of {format_duration(total)}{in_noise}")
    for name, count in summary["per_class"].items():
        table.add_row(f"{name} beats", f"{count:,}")
    if "heart_rate_bpm" in summary:
        hr = summary["heart_rate_bpm"]
        table.add_row("heart rate mean / min / max (bpm)", f"{hr['mean']:.0f} / {hr['min']:.0f} / {hr['max']:.0f}")
    for cls, ectopy in summary["ectopy"].items():
        table.add_row(
            f"{cls}: isolated / couplets / runs", f"{ectopy['isolated']} / {ectopy['couplets']} / {ectopy['runs']}"
        )
        table.add_row(f"{cls} burden", share_text(ectopy["burden_percent"], 2))
    if summary.get("muscle_filtered_s"):
        table.add_row("muscle noise low-passed (25 Hz)", f"{summary['muscle_filtered_s'] / 60:.1f} min")
    if done.result.families is not None:
        table.add_row("morphology families", f"{len(done.result.families):,}")
    if "unsure_beats" in summary:
        unsure = share_text(100 * summary["unsure_beats"] / max(summary["classified"], 1))
        table.add_row(f"unsure beats (confidence < {UNSURE_BELOW:g})", f"{summary['unsure_beats']:,} ({unsure})")
    changed = done.result.adaptation.get("changed_percent")
    if changed is not None:
        review = " (review recommended)" if done.result.adaptation["review_recommended"] else ""
        table.add_row("labels the adaptation changed", f"{changed:.1f}%{review}")
    if summary.get("patient_events"):
        table.add_row("patient events (EDF+ annotations)", f"{summary['patient_events']:,}")
    if summary.get("episodes"):
        table.add_row("episodes", ", ".join(f"{kind} {n:,}" for kind, n in summary["episodes"].items()))
    if isinstance(summary.get("hrv"), dict):
        hrv = summary["hrv"]
        values = f"{hrv['sdnn_ms']:.0f} / {hrv['rmssd_ms']:.0f}, {hrv['pnn50']:.1f}%"
        if hrv.get("edited_out_percent", 0.0) > HRV_EDITED_OUT_ABOVE:
            values += f" (unreliable: {hrv['edited_out_percent']:.0f}% of NN intervals edited out)"
        table.add_row("SDNN / RMSSD (ms), pNN50", values)
    console.print(table)
    files = done.files
    if "families_plot" in files:
        say(f"families: {files['families']}, {files['families_plot']}")
    if "review" in files:
        say(
            f"review sheet: {files['review']} and {files['review_plot']}; fill in the label column, then "
            f"`arrhythmia predict {record} --labels {files['review']}`"
        )
    if "plot" in files:
        say(f"plot: {files['plot']}")
    if "report" in files:
        say(f"report: {files['report']}")
    if "events" in files:
        say(f"patient events, each with the rhythm around it: {files['events']}")
    say(f"per-beat table: {files['beats']}; episodes: {out / 'episodes.csv'}; summary: {files['summary']}")
    if done.removed:
        say(f"removed what an earlier labelling had written to {out} and this one did not: {', '.join(done.removed)}")


@app.command()
def score(
    records: Annotated[
        list[Path],
        typer.Argument(
            help="Annotated recordings: WFDB records, several, a folder, a glob or a .txt list.",
            metavar="PATH",
            show_default=False,
        ),
    ],
    annotator: Annotated[str, typer.Option(help="The WFDB annotation file of the reference beats.")] = "atr",
    reference: Annotated[
        Path | None,
        typer.Option(help="Reference beats of one recording as a CSV (sample,label), for EDF, CSV or .npy."),
    ] = None,
    run: RunOption = None,
    pretrained: PretrainedOption = None,
    engine: EngineOption = Engine.torch,
    fs: FsOption = None,
    lead: LeadOption = None,
    units: UnitsOption = None,
    adapt: Annotated[bool, typer.Option(help="Adapt the labels to the recording, as predict does by default.")] = True,
    adapt_setting: AdaptSettings = None,
    episode_setting: EpisodeSettings = None,
    muscle_filter: MuscleFilterOption = True,
    predictions: Annotated[
        Path | None,
        typer.Option(
            help="Score the labels predict already wrote here (its --out: a recording's folder, or an archive's "
            "with a folder per recording) instead of labelling again; the model options are then not used."
        ),
    ] = None,
    per_record: Annotated[bool, typer.Option(help="Also print a line per recording.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Also write the figures, and each recording's, to this JSON file.")
    ] = None,
) -> None:
    """Label annotated recordings through predict and score them against the reference, as EC57 asks.

    Beat by beat as PhysioNet's bxb counts them (beside one class against the rest), couplets and runs as rxr
    counts them, and episodes against the reference's rhythm notes as epicmp does."""
    from arrhythmia.archive import find_recordings, folder_names
    from arrhythmia.data.units import mv_per_unit
    from arrhythmia.episodes import EpisodeConfig
    from arrhythmia.export import load_classifier
    from arrhythmia.files import write_json
    from arrhythmia.scoring import comparison_metrics, format_scores, score_recordings, scores_document

    if units is not None:
        mv_per_unit(units)  # a unit that is none is said once, not once per recording
    if predictions is None:
        _check_run_model(run)
    recordings = find_recordings(records)
    if not recordings:
        raise ArrhythmiaError(f"{', '.join(map(str, records))}: no recordings found")
    adapt_value, episode_settings = _adapt_value(adapt, adapt_setting or []), _episode_value(episode_setting or [])
    folders = None
    if predictions is not None:  # predict's --out: the recording's own folder, or an archive's folder of them
        alone = len(recordings) == 1 and (predictions / "beats.csv").is_file()
        # the folders predict chose, which an earlier batch's recording of the same name may have moved aside
        folders = [predictions]
        if not alone:
            names, notes = folder_names(recordings, predictions, placed="is looked for in")
            folders = [predictions / name for name in names]
            for note in notes:  # where a folder of the recording's name holds another recording's labels
                warnings.warn(note, stacklevel=1)
    model = load_classifier(run, engine.value, pretrained) if predictions is None else None
    failures: dict[str, str] = {}
    comparisons = score_recordings(
        recordings,
        model,
        annotator,
        reference,
        log=lambda line: print(line, file=sys.stderr),
        failures=failures if len(recordings) > 1 else None,  # one recording: its error is the error
        predictions=folders,
        fs=fs,
        lead=lead,
        units=units,
        adapt=adapt_value,
        episodes=EpisodeConfig.from_value(episode_settings),
        muscle_filter=muscle_filter,
    )
    if not comparisons:
        raise ArrhythmiaError(f"none of the {len(recordings):,} recordings could be scored (each failure is above)")
    metrics = comparison_metrics(comparisons)
    say(format_scores(metrics, comparisons, per_record))
    if out is not None:
        # what the figures were measured with, to measure them again
        scored_with = {"reference": str(reference) if reference else f"WFDB annotator {annotator}"}
        if predictions is not None:
            scored_with["labels"] = f"predict's output in {predictions} (its summary.json says how)"
        else:
            scored_with |= {
                "model": str(run) if run else pretrained or "the shipped default",
                "engine": engine.value,
                "adapt": adapt_value,
                "episode_settings": episode_settings or {},
                "muscle_filter": muscle_filter,
            }
        write_json(out, scores_document(metrics, comparisons, scored_with, failures))
        say(f"figures: {out}")
    if failures:
        print(
            f"{len(failures):,} of {len(recordings):,} recordings could not be scored (listed above)", file=sys.stderr
        )
        raise typer.Exit(1)


def _predict_archive(records, out, options, run, pretrained, engine, workers, scheduler, force) -> None:
    """predict over an archive: label_archive, then one summary line; exit status 1 if any recording failed."""
    from arrhythmia.archive import ModelChoice, find_recordings, label_archive

    out = out or Path("predictions")
    recordings = find_recordings(records, exclude=out)
    if not recordings:
        raise ArrhythmiaError(f"{', '.join(map(str, records))}: no recordings found")
    model = ModelChoice(str(run) if run else None, pretrained, engine.value)
    try:
        result = label_archive(recordings, out, options, model, workers=workers, scheduler=scheduler, force=force)
    except KeyboardInterrupt:  # Ctrl-C: one line (the worker processes ignore it: no traceback of theirs)
        print(
            f"\ninterrupted: the recordings labelled so far are kept in {out}; run the same command again to "
            "resume (they are skipped)",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    for name, error in sorted(result.failures.items()):
        print(f"failed: {name}: {error}", file=sys.stderr)
    say(
        f"{len(recordings):,} recordings: {result.labelled:,} labelled, {result.skipped:,} skipped (complete), "
        f"{result.failed:,} failed, {result.warned:,} with warnings, in {result.seconds:.1f} s; cohort: {result.path}"
        + (f" (and {result.earlier:,} more that earlier runs labelled there)" if result.earlier else "")
    )
    if result.failed:
        raise typer.Exit(1)


@app.command()
def export(
    run: Annotated[
        str | None,
        typer.Argument(
            help="Run directory written by `arrhythmia train`, a .pt checkpoint (model.pt), or a shipped model's "
            "name or folder.",
            metavar="MODEL",
            show_default=False,
        ),
    ] = None,
    pretrained: PretrainedOption = None,
    format: Annotated[ExportFormat, typer.Option("--format", help="onnx or torchscript.")] = ExportFormat.onnx,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output file or folder (default RUN/model.onnx or RUN/model.ts.pt; beside a checkpoint; NAME.onnx "
            "here for a shipped model)."
        ),
    ] = None,
) -> None:
    """Export a model (as `predict --run` or `--pretrained` takes it) with its classes, standardisation, input
    length and preprocessing in the metadata."""
    from arrhythmia.export import export_model
    from arrhythmia.runs import Run

    if run is not None and (Path(run) / Run.CONFIG).is_file():  # a run folder, not a checkpoint or shipped name
        _warn_unfinished(Run.open(run))
    path = export_model(run, format.value, out, pretrained)
    say(f"{format.value}: {path}")


@app.command()
def serve(
    directory: Annotated[Path, typer.Argument(help="Folder of recordings (WFDB, EDF, CSV, .npy); uploads go there.")],
    host: Annotated[str, typer.Option(help="Address to listen on; any but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="ARRHYTHMIA_TOKEN",
            help="Every API request must carry 'Authorization: Bearer TOKEN' (or set ARRHYTHMIA_TOKEN: an option "
            "is seen by every user of the machine in `ps`).",
        ),
    ] = None,
    pretrained: Annotated[
        str | None, typer.Option(help="Shipped model that labels (see `arrhythmia models`; default: the default).")
    ] = None,
    max_upload_mb: Annotated[float, typer.Option(min=1, help="Largest upload accepted, MB.")] = 500.0,
) -> None:
    """Review and correct the labels of a folder's recordings in the browser (REST API at /docs)."""
    from arrhythmia.serve import run_server

    run_server(directory, host, port, token, pretrained, max_upload_mb, announce=say)


def _adapt_value(adapt: bool, settings: list[str]) -> bool | dict:
    """``--adapt/--no-adapt`` and the ``--adapt-setting KEY=VALUE`` items as ``predict``'s ``adapt``: a
    bool, or a dict of settings (values read as JSON where they parse: true, 0.9, null), checked here so
    that a wrong one is one error line before any recording is read."""
    from arrhythmia.adapt import AdaptConfig

    if not settings:
        return adapt
    if not adapt:
        raise ArrhythmiaError("--adapt-setting: the adaptation is off (--no-adapt)")
    chosen = _key_values(settings, "--adapt-setting")
    AdaptConfig.from_value(chosen)
    return chosen


def _episode_value(settings: list[str]) -> dict | None:
    """The ``--episode-setting KEY=VALUE`` items as a dict of ``EpisodeConfig`` settings (None: none),
    checked here so that a wrong one is one error line before any recording is read."""
    from arrhythmia.episodes import EpisodeConfig

    if not settings:
        return None
    chosen = _key_values(settings, "--episode-setting")
    EpisodeConfig.from_value(chosen)
    return chosen


def _key_values(items: list[str], flag: str) -> dict:
    """``KEY=VALUE`` items as a dict, each value read as JSON where it parses (true, 0.9, null, [1, 2])
    and kept as text where it does not."""
    chosen = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals:
            raise ArrhythmiaError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            chosen[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            chosen[key.strip()] = text
    return chosen


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """A warning as the command line prints it: one line saying what it is about (the message names the
    file), not the line of our source that raised it."""
    return f"warning: {message}\n"


#: Said where a command is stopped by Ctrl-C that says nothing of its own: every file is written whole or not
#: at all, so what was finished is kept, and the commands that go on where they stopped do so when run again.
INTERRUPTED = (
    "interrupted: what was finished is kept; run the same command again to go on (data build, download, train "
    "--resume, crossval and an archive continue where they stopped)"
)
#: Words of the error a torchrun process meets when another one of the run stopped (killed, out of memory).
PEER_LOST = ("connection reset by peer", "connection closed by peer", "broken pipe", "gloo", "nccl")


def _torchrun_rank() -> int | None:
    """This process's rank under torchrun with more than one process, else None."""
    try:
        return int(os.environ["RANK"]) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
    except (KeyError, ValueError):
        return None


def main() -> None:
    """Entry point: user errors, and the file system's (a file where a directory is to go, no permission, a
    full disk), become one line on stderr and exit status 1; Ctrl-C one line and status 130; warnings one
    line each. Under torchrun a user error is said by rank 0 alone (every process read the same options and
    met the same error), and a process whose peer stopped says so in one line."""
    warnings.formatwarning = _warning_line
    rank = _torchrun_rank()
    try:
        app()
    except Interrupted as exc:  # Ctrl-C said by the command itself ("RUN: interrupted in epoch 2; ..."): no error
        if not rank:
            print(f"\n{exc}", file=sys.stderr)
        sys.exit(130)
    except ArrhythmiaError as exc:
        if not rank:
            print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        if not rank:
            print(f"\n{INTERRUPTED}", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        # typer turns Ctrl-C into a silent exit 130 (Exit raised from the KeyboardInterrupt); a command that
        # said its own line first (an archive) raised its Exit from None
        if exc.code == 130 and isinstance(getattr(exc.__context__, "__cause__", None), KeyboardInterrupt) and not rank:
            print(f"\n{INTERRUPTED}", file=sys.stderr)
        raise
    except OSError as exc:
        where = "" if exc.filename is None else f"{exc.filename}: "
        prefix = "" if rank is None else f"rank {rank}: "
        print(f"error: {prefix}{where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
    except RuntimeError as exc:
        if rank is None or not any(word in str(exc).lower() for word in PEER_LOST):
            raise
        print(
            f"error: rank {rank}: another process of this torchrun run stopped ({one_line(exc)[:160]}); "
            "the epochs it finished are kept: resume under torchrun with the same process count and "
            "train --resume RUN",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
