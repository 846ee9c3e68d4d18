"""Train and evaluate each model setup under each protocol; print one table of accuracy and EC57 statistics.

    python benchmarks/accuracy.py [--data ../shared/data/mitdb] [--setups fast,best] [--protocols intra,inter]
                                  [--quick] [--set key=value ...] [--runs runs/accuracy]

A setup is a preset (``best``, ``fast``) or a registered model name with its defaults (e.g. ``seed-cnn``);
``--set`` overrides any TrainConfig setting for every setup (e.g. ``--set epochs=20``). For each setup and
protocol it trains one run (kept under ``--runs``), then prints:

- the validation split's scores (accuracy, macro F1, S Se and S F1), the only ones used to choose
  settings: for ``inter`` these are DS1 records held out by record, so DS2 is never looked at while choosing;
- the test split's scores (DS2 for ``inter``): accuracy, macro F1, Se and +P of N, S, V, F (percent);
- training minutes on this machine.

``--quick`` is a smoke run: two epochs of the fast preset on both protocols. Results are also written as
JSON lines to ``<runs>/results.jsonl``; ``--show FILE ...`` prints the table of such files again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from arrhythmia.config import PRESETS, TrainConfig
from arrhythmia.data import load_beats, make_split
from arrhythmia.evaluation import compute_metrics
from arrhythmia.experiment import run_experiment
from arrhythmia.inference import Classifier

CLASSES_SHOWN = ("N", "S", "V", "F")


def setup_config(name: str, protocol: str, data: str, overrides: dict) -> TrainConfig:
    config = TrainConfig.from_preset(name, protocol) if name in PRESETS else TrainConfig(model=name)
    values = {**config.to_dict(), "protocol": protocol, "data": data, **overrides}
    return TrainConfig.from_dict(values, where=f"setup {name}")


def validation_metrics(run: Path, config: TrainConfig) -> dict:
    """Scores of the run's best model on its validation split (what settings may be chosen by)."""
    beats = load_beats(config.data, progress=False, window=config.window)
    split = make_split(beats, config.protocol, config.seed)
    val = beats.subset(split.val)
    classifier = Classifier.from_run(run, device="cpu")
    probs = classifier.predict_proba(val.X, val.context if classifier.takes_context else None)
    return compute_metrics(val.y, probs.argmax(1), classifier.classes)


def row(setup: str, protocol: str, val: dict, test: dict, minutes: float) -> list[str]:
    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}"  # None: undefined (no beats of the class, or none called it)

    cells = [setup, protocol, pct(val["accuracy"]), f"{val['macro_f1']:.3f}", pct(val["per_class"]["S"]["se"])]
    cells += [f"{val['per_class']['S']['f1']:.3f}"]
    cells += [pct(test["accuracy"]), f"{test['macro_f1']:.3f}"]
    for name in CLASSES_SHOWN:
        cells += [pct(test["per_class"][name]["se"]), pct(test["per_class"][name]["ppv"])]
    return cells + [f"{minutes:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mitdb")
    parser.add_argument("--setups", default="seed-cnn,kachuee-resnet,fast,best")
    parser.add_argument("--protocols", default="intra,inter")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--runs", default="runs/accuracy", help="where the runs are kept")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs of the fast preset")
    parser.add_argument(
        "--show", nargs="+", metavar="RESULTS", help="print the table of results.jsonl files, train nothing"
    )
    args = parser.parse_args()

    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    setups = args.setups.split(",")
    if args.quick:
        setups, overrides = ["fast"], {**overrides, "epochs": 2}
    header = ["setup", "protocol", "val acc", "val mF1", "val S Se", "val S F1", "acc", "macro F1"]
    header += [f"{c} {s}" for c in CLASSES_SHOWN for s in ("Se", "+P")] + ["train min"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    if args.show:
        for path in args.show:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                setup = r["setup"] + "".join(f" {k}={v}" for k, v in r["overrides"].items())
                lines.append("| " + " | ".join(row(setup, r["protocol"], r["val"], r["test"], r["minutes"])) + " |")
        print("\n".join(lines))
        return
    runs = Path(args.runs)
    tag = "-".join(f"{k}={v}" for k, v in sorted(overrides.items())).replace("/", "_").replace(" ", "")
    for setup in setups:
        for protocol in args.protocols.split(","):
            config = setup_config(setup, protocol, args.data, overrides)
            run_dir = runs / f"{setup}-{protocol}{'-' + tag if tag else ''}"
            began = time.perf_counter()
            # a run of this setup kept from before is evaluated again, not retrained (train refuses its folder)
            run_experiment(config, run_dir, resume=run_dir.is_dir(), progress=False, report=False, log=lambda _: None)
            minutes = (time.perf_counter() - began) / 60
            test = json.loads((run_dir / "metrics.json").read_text())
            val = validation_metrics(run_dir, config)
            lines.append("| " + " | ".join(row(setup, protocol, val, test, minutes)) + " |")
            print(lines[-1], flush=True)
            record = {"setup": setup, "protocol": protocol, "overrides": overrides, "minutes": minutes}
            with (runs / "results.jsonl").open("a") as fh:
                fh.write(json.dumps({**record, "val": val, "test": test}) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
