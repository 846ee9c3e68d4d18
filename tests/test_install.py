"""The package as a user installs it: ``python -m arrhythmia``, and a wheel installed in a fresh environment.

The editable install used for development reads everything from ``src/``, so it hides files that the wheel
leaves out. Here the wheel is built from a copy of the source tree (so no ``build/`` or ``*.egg-info`` lands
in the checkout) and installed into a new virtual environment; torch and the other dependencies come from
the running interpreter's site-packages (``--system-site-packages``, and its own virtual
environment's through a ``.pth``), so nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arrhythmia.data.synthetic import synthetic_ecg

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "src" / "arrhythmia" / "pretrained"
SHIPPED = sorted(p.name for p in PRETRAINED.iterdir() if (p / "model.pt").is_file())

needs_setuptools = pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None,
    reason="building the wheel offline (--no-build-isolation) needs setuptools in this environment",
)


def clean_env() -> dict[str, str]:
    """The environment for the installed package: nothing that could put the checkout's src/ on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"  # a user-site copy must not shadow the wheel either
    env["COLUMNS"] = "200"  # rich shortens table cells to fit 80 columns, model names included
    return env


def run(*args, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(map(str, args)), capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


# -- python -m arrhythmia -----------------------------------------------------------------------------------


def test_python_m_help_lists_the_commands():
    result = check(run(sys.executable, "-m", "arrhythmia", "--help"))
    for command in (
        "download",
        "data",
        "models",
        "train",
        "evaluate",
        "compare",
        "report",
        "predict",
        "export",
        "serve",
    ):
        assert command in result.stdout


def test_python_m_turns_user_errors_into_one_line(tmp_path):
    result = run(sys.executable, "-m", "arrhythmia", "data", "summary", "--data", tmp_path / "missing", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert "missing" in lines[0]


# -- the wheel --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the project (pip builds in the source tree)."""
    root = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md", "setup.py", "setup.cfg", "MANIFEST.in", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    check(
        run(
            sys.executable,
            *("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, "."),
            cwd=root,
        )
    )
    (path,) = out.glob("arrhythmia-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed; the dependencies come from this interpreter.

    It is made without pip (no ensurepip: faster, and works where python3-venv lacks it): the system pip,
    seen through --system-site-packages, installs into the environment of the interpreter that runs it.
    The wheel's copy wins over the editable install, whose ``.pth`` puts ``src/`` at the end of sys.path
    (setuptools' import-hook editable finder is appended to sys.meta_path, so it comes after it as well);
    ``test_wheel_is_the_one_imported`` checks that.
    """
    env_dir = tmp_path_factory.mktemp("venv")
    check(run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", env_dir))
    python = env_python(env_dir)
    # Run from a virtual environment (as most users run the suite), --system-site-packages reaches the base
    # interpreter's packages, not this environment's: its site-packages are put on the new one's path too, after
    # its own (a .pth of plain paths: their own .pth files, the editable install's among them, are not read).
    own = check(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")).stdout.strip()
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    (Path(own) / "_running_interpreter.pth").write_text("".join(f"{path}\n" for path in sorted(ours)))
    check(run(python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel, env=clean_env()))
    return env_dir


def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def env_script(env_dir: Path, name: str) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin") / name


@needs_setuptools
def test_wheel_ships_every_file_of_the_shipped_models(wheel):
    assert len(SHIPPED) >= 2, SHIPPED
    with zipfile.ZipFile(wheel) as zf:
        packed = set(zf.namelist())
    for name in SHIPPED:
        for path in sorted((PRETRAINED / name).iterdir()):
            assert f"arrhythmia/pretrained/{name}/{path.name}" in packed, f"{path.name} of {name} is not in the wheel"
    assert "arrhythmia/__main__.py" in packed


@needs_setuptools
def test_wheel_ships_the_review_pages(wheel):
    web = REPO / "src" / "arrhythmia" / "web"
    with zipfile.ZipFile(wheel) as zf:
        packed = set(zf.namelist())
    for path in sorted(web.iterdir()):
        assert f"arrhythmia/web/{path.name}" in packed, f"{path.name} of the review pages is not in the wheel"


@needs_setuptools
def test_wheel_is_the_one_imported(venv, tmp_path):
    result = check(
        run(env_python(venv), "-c", "import arrhythmia; print(arrhythmia.__file__)", cwd=tmp_path, env=clean_env())
    )
    location = Path(result.stdout.strip()).resolve()
    assert location.is_relative_to(venv.resolve()), location
    assert not location.is_relative_to(REPO), location


@needs_setuptools
def test_installed_models_lists_the_shipped_models(venv, tmp_path):
    result = check(run(env_script(venv, "arrhythmia"), "models", cwd=tmp_path, env=clean_env()))
    assert "Traceback" not in result.stderr
    for name in SHIPPED:
        assert name in result.stdout


@needs_setuptools
def test_installed_python_m_works(venv, tmp_path):
    result = check(run(env_python(venv), "-m", "arrhythmia", "--help", cwd=tmp_path, env=clean_env()))
    assert "predict" in result.stdout


@needs_setuptools
def test_installed_predict_labels_a_signal(venv, tmp_path):
    rec = synthetic_ecg(duration_s=60.0, fs=360.0, seed=1)
    np.save(tmp_path / "sig.npy", rec.signal)
    out = tmp_path / "out"
    check(
        run(
            env_script(venv, "arrhythmia"),
            *("predict", "sig.npy", "--fs", "360", "--out", out),
            cwd=tmp_path,
            env=clean_env(),
        )
    )
    beats = pd.read_csv(out / "beats.csv")
    assert len(beats) > len(rec.r_peaks) // 2
    assert set(beats["label"]) <= {"N", "S", "V", "F", "Q"}
    assert (out / "summary.json").is_file()


# -- the Python versions it promises -------------------------------------------------------------------------


def test_the_oldest_dependency_versions_allowed_run_on_the_oldest_python_promised():
    """``requires-python`` is a promise that ``pip install`` works on that Python: a dependency whose lowest
    version allowed needs a newer Python cannot be installed there (fastapi>=0.165 needs 3.11, and
    ``requires-python`` said 3.10, Ubuntu 22.04's Python). Checked for the dependencies installed here at the
    lowest version pyproject.toml allows, whose own Requires-Python is then the one that binds."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    oldest_python = min(
        (Version(s.version) for s in SpecifierSet(project["requires-python"]) if s.operator == ">="), default=None
    )
    assert oldest_python is not None, "requires-python names no lowest version"
    checked = []
    for text in project["dependencies"]:
        requirement = Requirement(text)
        lowest = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        try:
            installed = metadata.metadata(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        if not lowest or Version(installed["Version"]) != max(lowest):
            continue  # a newer version is installed: what the lowest one needs is not known here
        needs = SpecifierSet(installed.get("Requires-Python") or "")
        assert needs.contains(oldest_python), (
            f"{requirement.name}>={max(lowest)} needs Python {needs}, but requires-python is "
            f"{project['requires-python']}"
        )
        checked.append(requirement.name)
    if not checked:
        pytest.skip("no dependency is installed here at the lowest version pyproject.toml allows")
