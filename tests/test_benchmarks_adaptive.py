"""benchmarks/adaptive.py --compare: two results of predict on the same records told apart by a paired interval."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def adaptive():
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their sibling modules (common, machine)
    try:
        spec = importlib.util.spec_from_file_location("benchmark_adaptive", BENCHMARKS / "adaptive.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("benchmark_adaptive", None)


def result(adaptive, name: str, records: list[tuple[str, np.ndarray, np.ndarray]]) -> dict:
    """A JSON line of --out for records given as (name, y_true, y_pred) of AAMI class indices."""
    scores = [
        adaptive.RecordScore(
            record,
            len(y_true),
            len(y_pred),
            y_true,
            y_pred,
            np.ones(len(y_true)),
            1.0,
            1800.0,
            np.zeros(5),
            np.zeros(5),
        )
        for record, y_true, y_pred in records
    ]
    rows = [adaptive.record_row(s) for s in scores]
    return {"model": name, "variant": "mlii", "options": {}, "per_record": rows}


def write(path: Path, *results: dict) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in results), encoding="utf-8")
    return str(path)


def records(wrong_s: list[int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Ten records of 90 N and 10 S beats each, the given number of S beats called N on each."""
    out = []
    for i, wrong in enumerate(wrong_s):
        y_true = np.array([0] * 90 + [1] * 10)
        y_pred = y_true.copy()
        y_pred[90 : 90 + wrong] = 0
        out.append((str(100 + i), y_true, y_pred))
    return out


def test_a_record_row_counts_the_beats_called_each_class(adaptive):
    row = result(adaptive, "a", records([3]))["per_record"][0]
    assert row["per_class"]["S"]["called"] == 7 and row["per_class"]["N"]["called"] == 93


def test_a_difference_on_every_record_is_told_apart_and_a_tie_is_not(adaptive, tmp_path, capsys):
    first = result(adaptive, "first", records([5] * 10))
    better = result(adaptive, "better", records([1] * 10))
    mixed = result(adaptive, "mixed", records([0, 10] * 5))  # the same 50 S beats missed, on half the records
    adaptive.compare_results([write(tmp_path / "a.jsonl", first), write(tmp_path / "b.jsonl", better, mixed)])
    out = capsys.readouterr().out
    s_se = next(line for line in out.splitlines() if line.startswith("| S Se |"))
    cells = [c.strip() for c in s_se.strip("|").split("|")]
    assert cells[1:4] == ["50.0", "90.0", "50.0"]
    assert cells[4].startswith("+40.0 (+40.0 to +40.0) *")  # every record gained 4 of its 10
    assert cells[5].startswith("+0.0 (") and "*" not in cells[5]  # pooled alike, drawn apart: not told apart
    assert "accuracy" in out and "22 records" not in out and "10 records" in out


def test_results_on_other_records_are_refused_naming_the_file(adaptive, tmp_path):
    first = write(tmp_path / "a.jsonl", result(adaptive, "a", records([1, 2])))
    other = result(adaptive, "b", records([1, 2]))
    other["per_record"][1]["record"] = "999"
    second = write(tmp_path / "b.jsonl", other)
    with pytest.raises(SystemExit, match=r"b\.jsonl.*999"):
        adaptive.compare_results([first, second])


def test_rows_written_before_the_counts_leave_out_a_ppv_they_cannot_give(adaptive, tmp_path, capsys):
    old = result(adaptive, "old", records([10, 2]))  # record 100: no S beat right, none called S
    for row in old["per_record"]:
        for figures in row["per_class"].values():
            del figures["called"]
    old["per_record"][0]["per_class"]["V"].update(ppv=0.0)  # some V called, none right: how many is lost
    adaptive.compare_results([write(tmp_path / "a.jsonl", old), write(tmp_path / "b.jsonl", old)])
    out = capsys.readouterr().out
    assert "| S +P |" in out  # derived from Se and +P where +P says it
    assert "| V +P |" not in out and "V +P" in out.split("\n\n")[-1]  # said left out, under the table
