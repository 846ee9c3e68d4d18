"""Do the ONNX and PyTorch engines give the same labels? Every beat of a database, both engines.

    python benchmarks/engines.py [--data ../shared/data/mitdb] [--pretrained NAME | --run RUN] [--predict]

Loads the database's annotated beats, cut with the model's own window (with its context features where the
model takes them), labels them with the PyTorch checkpoint and with the ONNX export, and prints the share of
beats given the same label and the largest difference of any class probability. With ``--predict`` it also
labels every record's raw signal through ``predict`` (detection, adaptation with its re-estimated
normalisation, rhythm rules) with each engine and compares the labels beat by beat. The model is the shipped
default unless ``--pretrained`` names another shipped model or ``--run`` a run directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import load_engines

from arrhythmia import pretrained
from arrhythmia.data import load_beats
from arrhythmia.data.recording import read_input
from arrhythmia.data.wfdb_source import record_names
from arrhythmia.predict import label_recording


def through_predict(data: Path, engines: dict, name: str) -> None:
    """Every record of ``data`` labelled by ``predict`` with each engine: a table row of how many of the
    detected beats got the same label, and which records differ."""
    beats, differing, records = 0, 0, []
    for record in record_names(data):
        recording = read_input(data / record)
        labels = [label_recording(recording, engine).beats["label"].to_numpy(str) for engine in engines.values()]
        beats += len(labels[0])
        differ = int((labels[0] != labels[1]).sum()) if len(labels[0]) == len(labels[1]) else len(labels[0])
        differing += differ
        if differ:
            records.append(f"{record} ({differ})")
    print("\n| through predict (adapted) | detected beats | same label | differing beats | records that differ |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| {name} | {beats:,} | {100 * (1 - differing / max(beats, 1)):.3f}% | {differing} "
        f"| {', '.join(records) or 'none'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mitdb")
    parser.add_argument("--run", type=Path, default=None, help="run directory (default: a shipped model)")
    parser.add_argument("--pretrained", default=pretrained.DEFAULT, help="shipped model (default: the default one)")
    parser.add_argument("--predict", action="store_true", help="also compare the labels predict gives each record")
    args = parser.parse_args()
    name = str(args.run) if args.run else args.pretrained
    engines = load_engines(args.run, args.pretrained)
    torch_engine, onnx_engine = engines["torch"], engines["onnx"]

    beats = load_beats(args.data, progress=False, window=torch_engine.window)
    context = beats.context if torch_engine.takes_context else None
    p_torch = torch_engine.predict_proba(beats.X, context)
    p_onnx = onnx_engine.predict_proba(beats.X, context)
    same = p_torch.argmax(1) == p_onnx.argmax(1)
    print("| model | beats | same label | differing beats | max abs probability difference |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| {name} | {len(beats):,} | {100 * same.mean():.3f}% | {int((~same).sum())} "
        f"| {float(np.abs(p_torch - p_onnx).max()):.1e} |"
    )
    if args.predict:
        through_predict(Path(args.data), engines, name)


if __name__ == "__main__":
    main()
