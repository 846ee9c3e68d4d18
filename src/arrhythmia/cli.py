"""The ``arrhythmia`` command line: a thin shell over the Python API.

Every command that reads data takes ``--data``: ``mitdb`` (default; downloaded to the data cache on first
use), ``heartbeat``, ``synthetic``, or a directory holding a WFDB database or the Heartbeat CSVs.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from arrhythmia.errors import ArrhythmiaError

app = typer.Typer(
    help="Heartbeat classification in ECG signals with 1D CNNs (MIT-BIH, AAMI EC57).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect beat data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()

DataOption = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="mitdb (default), heartbeat, synthetic, or a directory with a WFDB database or the Heartbeat CSVs.",
    ),
]


class Database(str, Enum):
    mitdb = "mitdb"
    heartbeat = "heartbeat"


@app.command()
def download(
    database: Annotated[Database, typer.Argument(help="mitdb (PhysioNet) or heartbeat (Kachuee et al. CSVs).")],
    dest: Annotated[Path | None, typer.Option(help="Target directory (default: the user data cache).")] = None,
) -> None:
    """Download a database, resumably, and verify it (PhysioNet's SHA256SUMS for mitdb)."""
    from arrhythmia.data import download as dl

    path = dl.download_physionet(dest=dest) if database is Database.mitdb else dl.download_heartbeat(dest=dest)
    console.print(f"{database.value}: ready in {path}")


@data_app.command("summary")
def data_summary(data: DataOption = None) -> None:
    """Beats per class, and per split for each protocol the source supports."""
    from arrhythmia.data import PROTOCOLS, load_beats, make_split

    beats = load_beats(data)
    table = Table(title=f"{beats.description}: {len(beats):,} beats")
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
            split = make_split(beats, protocol)
        except ArrhythmiaError as exc:
            notes.append(f"{protocol}: {exc}")
            continue
        table.add_section()
        for part in ("train", "val", "test"):
            add(f"{protocol} {part}", beats.subset(getattr(split, part)).class_counts())
        notes.append(f"{protocol}: {split.note}")
    console.print(table)
    for note in notes:
        console.print(f"  {note}")


@app.command("models")
def models_list() -> None:
    """List the registered models with their parameter counts."""
    from arrhythmia.models import count_parameters, create_model, describe, list_models

    table = Table(title="models")
    for column in ("name", "parameters", "description"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    for name in list_models():
        total, _ = count_parameters(create_model(name))
        table.add_row(name, f"{total:,}", describe(name))
    console.print(table)


@app.command()
def train(
    model: Annotated[str | None, typer.Option(help="Model name (see `arrhythmia models`); default seed-cnn.")] = None,
    data: DataOption = None,
    protocol: Annotated[str | None, typer.Option(help="intra (random 60/20/20) or inter (DS1 -> DS2).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (default 50).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 128).")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate (default 1e-3).")] = None,
    class_weights: Annotated[str | None, typer.Option(help="none or balanced (inverse class frequency).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 42).")] = None,
    device: Annotated[str | None, typer.Option(help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML or JSON file with any of these settings.")] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/<model>-<protocol>-<time>).")
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the interrupted run in this directory.")] = None,
) -> None:
    """Train a model, keep its best checkpoint and evaluate it on the test split."""
    from arrhythmia.config import TrainConfig
    from arrhythmia.train import load_run_config
    from arrhythmia.train import train as run_training

    if resume is not None:
        cfg = load_run_config(resume)
        path = run_training(cfg, run_dir=resume, resume=True)
    else:
        cfg = TrainConfig.from_file(config) if config else TrainConfig()
        overrides = {
            "model": model,
            "data": data,
            "protocol": protocol,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "class_weights": class_weights,
            "seed": seed,
            "device": device,
        }
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        path = run_training(cfg, run_dir=run_dir)
    console.print(f"run directory: {path}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory written by `arrhythmia train`.")],
    data: DataOption = None,
) -> None:
    """Evaluate a run's best model on the test split (of its own data, or of --data)."""
    from arrhythmia.evaluation import evaluate_run

    evaluate_run(run, data=data)
    if data is None:  # the report describes the run on its own data
        from arrhythmia.report import write_report

        write_report(run)


@app.command()
def report(run: Annotated[Path, typer.Argument(help="Run directory written by `arrhythmia train`.")]) -> None:
    """Write the run's figures and its self-contained report.html."""
    from arrhythmia.report import write_report

    write_report(run)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 1."""
    try:
        app()
    except ArrhythmiaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
