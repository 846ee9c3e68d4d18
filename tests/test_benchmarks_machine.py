"""The timing benchmarks say the machine they ran on: its CPUs, and quiet or shared (benchmarks/machine.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_machine():
    spec = importlib.util.spec_from_file_location("benchmark_machine", BENCHMARKS / "machine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quiet_or_shared_by_the_load_at_the_start_per_cpu():
    machine = load_machine()
    assert "quiet" in machine.machine_state(0.65, 1.9, cpus=2, model="AMD EPYC")
    shared = machine.machine_state(2.3, 3.0, cpus=2, model="AMD EPYC")
    assert "shared" in shared and "quiet:" not in shared
    assert "2.30 at the start, 3.00 at the end" in shared and "2 CPUs (AMD EPYC)" in shared
    # the same load on a machine eight times larger leaves it most of its cores
    assert "quiet" in machine.machine_state(2.3, cpus=16, model="x").split(":")[1]
    assert machine.machine_state(1.0, cpus=2, model="x").split(":")[1].strip().startswith("2 CPUs (x), shared")


def test_no_load_average_is_said_unknown_not_quiet():
    line = load_machine().machine_state(None, None, cpus=4, model="x")
    assert "unknown" in line and "quiet," not in line and "shared" not in line.split(":")[1].split("(")[0]


def test_the_line_is_printed_even_when_the_benchmark_fails(capsys):
    machine = load_machine()
    with pytest.raises(KeyboardInterrupt), machine.noted_machine():
        print("| table |")
        raise KeyboardInterrupt
    out = capsys.readouterr().out
    assert out.index("| table |") < out.index("machine: ")


def test_a_timing_benchmark_prints_the_machine_under_its_table(tmp_path):
    # store_formats is the timing benchmark that runs in a few seconds without MIT-BIH
    command = [sys.executable, str(BENCHMARKS / "store_formats.py"), "--rows", "400", "--shards", "2"]
    command += ["--batches", "2", "--batch", "8", "--chunk", "64", "--workdir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=300, check=True)
    lines = result.stdout.splitlines()
    table = max(i for i, line in enumerate(lines) if line.startswith("| npy |"))
    machine = [line for line in lines[table:] if line.startswith("machine: ")]
    assert len(machine) == 1 and f"{os.cpu_count()} CPUs" in machine[0], result.stdout
