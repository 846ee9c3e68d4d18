"""The code base as the project's linter and formatter read it (pyproject.toml's ``[tool.ruff]``): among its
rules, every text file opened with its encoding named (PLW1514), never the platform's (cp1252 on a Western
Windows, where a report's ``µV`` was written as byte 0xB5)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("ruff") is None and subprocess.run([sys.executable, "-m", "ruff", "--version"]).returncode != 0,
    reason="ruff is not installed (pip install -e '.[test]' installs it)",
)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_finds_nothing(command):
    done = subprocess.run([sys.executable, "-m", "ruff", *command, "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_file_opened_without_its_encoding_is_found(tmp_path):
    (tmp_path / "module.py").write_text("def header(path):\n    return open(path).read()\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--output-format",
            "concise",
            "--config",
            str(ROOT / "pyproject.toml"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "unspecified-encoding" in done.stdout, done.stdout
