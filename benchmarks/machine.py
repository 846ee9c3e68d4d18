"""The machine a benchmark ran on, in one line printed under its timings: its CPUs, and whether other work
shared them, so that a figure copied from the table carries the machine's state with it.

    with noted_machine():  # in a benchmark script's ``if __name__ == "__main__":``
        main()

prints, once the block ends (normally or not), e.g.::

    machine: 2 CPUs (AMD EPYC), shared: load average 2.31 at the start, 3.02 at the end (1 minute; quiet under 1.0)

The load average (processes running or waiting for a CPU, averaged over the last minute) at the start is the
other work's, since the benchmark has not run yet: under ``QUIET_LOAD_PER_CPU`` per CPU the machine is called
quiet. The one at the end counts the benchmark's own processes too, and shows other work that began meanwhile.
Kept apart from ``common`` (no ``arrhythmia`` import), so that it loads whatever state the package is in.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Other work under which a machine is called quiet: the 1-minute load average at the start, per CPU. Half a
#: CPU's worth on average leaves the benchmark its cores nearly to itself; more, and its seconds are shared.
QUIET_LOAD_PER_CPU = 0.5


def load_average() -> float | None:
    """The 1-minute load average now; None where the system keeps none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cpu_model() -> str:
    """The CPU's model name as Linux's /proc/cpuinfo gives it, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU unknown"


def machine_state(
    load_start: float | None, load_end: float | None = None, cpus: int | None = None, model: str | None = None
) -> str:
    """One line: ``cpus`` CPUs (default: this machine's) of ``model``, quiet or shared by ``load_start`` (the
    1-minute load average before the benchmark ran; None: unknown, and so neither), and ``load_end``."""
    cpus = cpus or os.cpu_count() or 1
    model = model or cpu_model()
    border = QUIET_LOAD_PER_CPU * cpus
    if load_start is None:
        return f"machine: {cpus} CPUs ({model}), load average unknown: quiet or shared not known"
    state = "quiet" if load_start < border else "shared"
    end = "" if load_end is None else f", {load_end:.2f} at the end"
    return (
        f"machine: {cpus} CPUs ({model}), {state}: load average {load_start:.2f} at the start{end} "
        f"(1 minute; quiet under {border:.1f})"
    )


@contextmanager
def noted_machine() -> Iterator[None]:
    """Print ``machine_state`` of the block it wraps when the block ends (an error or Ctrl-C included: the
    tables printed before it are then measured on that machine too)."""
    start = load_average()
    try:
        yield
    finally:
        print(f"\n{machine_state(start, load_average())}", flush=True)
