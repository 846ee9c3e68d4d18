"""benchmarks/annotated.py: the shipped model alone on annotated beats, the figures the model cards give."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import MITDB, needs_mitdb

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(BENCHMARKS / "annotated.py"), "--data", str(MITDB), *args]
    return subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=600)


@needs_mitdb
def test_the_shipped_model_alone_on_two_records_annotated_beats():
    result = run("--records", "100,103")
    assert result.returncode == 0, result.stderr
    # records 100 and 103: 2,273 and 2,084 annotated beats, every one of an AAMI class
    assert f"test set: 4,357 beats of {MITDB.name} 100,103" in result.stdout, result.stdout
    assert "model: fast-cnn-ds1 (torch) alone; records: 100,103 (2)" in result.stdout
    assert re.search(r"^S\s+\d\.\d{4}\s+\d\.\d{4}", result.stdout, re.MULTILINE)


@needs_mitdb
def test_a_record_with_no_annotated_beats_is_one_line():
    result = run("--records", "100,999")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no annotated beats of record(s) 999" in result.stderr
