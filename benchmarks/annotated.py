"""A model alone on a database's annotated beats: the model cards' and README's "DS2's annotated beats" figures.

    python benchmarks/annotated.py [--data ../shared/data/mitdb] [--records ds2|ds1|all|100,101,...]
                                   [--pretrained NAME | --run DIR] [--engine torch|onnx]

``arrhythmia evaluate RUN`` gives these figures for a training run's own test split, but the shipped models
come without the run that trained them (``arrhythmia evaluate fast-cnn-ds1`` is refused: no run directory).
This labels each annotated beat of ``--records`` (default DS2) with the model alone, as ``evaluate`` does: the
beat cut at its annotated R peak with the model's own window and context features, no detection, no
``predict`` adaptation, and prints ``evaluation.format_metrics``' tables (accuracy, macro and weighted F1,
each class's Se / +P / support, the confusion, EC57's figures and the intervals over the records).
``fast-cnn-ds1`` on DS2 gives its card's 93.0%, S 78.2 / 40.1, V 88.4 / 80.6. What ``predict`` gives on the
raw signals (detected beats, adapted) is ``benchmarks/adaptive.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import record_list

from arrhythmia import pretrained
from arrhythmia.data import load_beats
from arrhythmia.evaluation import evaluate, format_metrics
from arrhythmia.export import load_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--records", default="ds2", help="ds2 (default), ds1, all (not paced) or 100,101,...")
    parser.add_argument("--run", type=Path, default=None, help="run directory (default: a shipped model)")
    parser.add_argument("--pretrained", default=pretrained.DEFAULT, help="shipped model (default: the default one)")
    parser.add_argument("--engine", choices=["torch", "onnx"], default="torch")
    args = parser.parse_args()

    classifier = load_classifier(args.run, args.engine, args.pretrained, device="cpu")
    names = record_list(args.records, args.data)
    beats = load_beats(args.data, progress=False, download=False, window=classifier.window)
    records = beats.record.astype(str)
    missing = sorted(set(names) - set(records))
    if missing:
        raise SystemExit(f"{args.data}: no annotated beats of record(s) {', '.join(missing)}")
    index = np.flatnonzero(np.isin(records, names))
    metrics, _ = evaluate(classifier, beats, index)
    metrics["data"] = {"description": f"{args.data.name} {args.records}", "protocol": "annotated beats, no predict"}
    model = str(args.run) if args.run else args.pretrained
    print(f"model: {model} ({args.engine}) alone; records: {args.records} ({len(names)}), the annotated beats")
    print(format_metrics(metrics))


if __name__ == "__main__":
    main()
