"""The review server on a 24-hour recording: analysis, first paint, strips, a 10,000-beat relabel, memory.

    python benchmarks/serve.py [--hours 24] [--data ../shared/data/mitdb] [--strips 50]

Builds an H-hour signal (MIT-BIH's records concatenated, MLII, as ``common.long_recording``) as a ``.npy``
file in a temporary folder, starts ``arrhythmia serve`` on it in a process of its own (127.0.0.1, a free
port), analyses it through the API and times, over HTTP:

- the analysis (POST analyse until done: the same code as ``predict --report``);
- first paint: what the review page needs before it draws (its HTML, script and style, the recording, the
  overview, the first strip's signal and beats, the families), cold (a server just started) and warm
  (median of 5); and, where Playwright and Chromium are installed, the page in headless Chromium from
  navigation to the strip drawn;
- a strip request (signal + beats of a stretch at a random place; median and 95th percentile);
- relabelling a family of about 10,000 beats (PATCH ``{"family": F}``) and a list of 10,000 beats, and
  undoing them; the summary of the reviewed labels after a change; the annotation file;
- the server's memory (resident now, and its peak) after analysing, and in a server restarted on the
  analysed folder after all the requests above;
- a correction, then ``kill -9`` and a restart: is it still there?
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from common import long_recording
from machine import noted_machine

NAME = "holter.npy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])}
    command = [sys.executable, "-m", "arrhythmia", "serve", str(folder), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of process ``pid``, MB."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def first_paint(client: httpx.Client, url: str) -> float:
    """Seconds until the review page has all it draws: HTML, then its files, then the data, in parallel
    as the browser fetches them."""
    base = f"{url}/api/recordings/{NAME}"
    began = time.perf_counter()
    client.get(f"{url}/recordings/{NAME}").raise_for_status()
    with ThreadPoolExecutor(4) as pool:
        for answer in pool.map(client.get, [f"{url}/static/{f}" for f in ("style.css", "common.js", "review.js")]):
            answer.raise_for_status()
        client.get(base, params={"summary": "false"}).raise_for_status()
        calls = [
            (f"{base}/signal", {"start_s": 0, "end_s": 10}),
            (f"{base}/beats", {"start_s": 0, "end_s": 10}),
            (f"{base}/overview", {}),
            (f"{base}/families", {}),
        ]
        for answer in pool.map(lambda c: client.get(c[0], params=c[1]), calls):
            answer.raise_for_status()
    return time.perf_counter() - began


def browser_paint(url: str) -> float | None:
    """Seconds from navigation to the strip drawn in headless Chromium; None without Playwright/Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        began = time.perf_counter()
        page.goto(f"{url}/recordings/{NAME}")
        page.wait_for_function("Number(document.getElementById('strip').dataset.beats) > 0", timeout=60_000)
        seconds = time.perf_counter() - began
        browser.close()
    return seconds


def timed(function, *args, **kwargs) -> tuple[float, httpx.Response]:
    began = time.perf_counter()
    answer = function(*args, **kwargs)
    answer.raise_for_status()
    return time.perf_counter() - began, answer


def row(*cells) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/mitdb")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--strips", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        recording = long_recording(args.data, args.hours)
        np.save(folder / NAME, recording.signal.astype(np.float32))
        fs, duration_s = recording.fs, len(recording.signal) / recording.fs
        del recording
        process, url = start_server(folder)
        client = httpx.Client(timeout=600)
        base = f"{url}/api/recordings/{NAME}"
        try:
            began = time.perf_counter()
            client.post(f"{base}/analyse", json={"fs": fs}).raise_for_status()
            while (about := client.get(base, params={"summary": "false"}).json())["status"] not in ("done", "failed"):
                time.sleep(0.5)
            if about["status"] == "failed":
                raise SystemExit(f"analysis failed: {about['error']}")
            results.append(("analysis (POST analyse until done)", f"{time.perf_counter() - began:.1f} s", ""))
            rss, peak = memory_mb(process.pid)
            results.append(("server memory after analysing: resident / peak", f"{rss:.0f} / {peak:.0f} MB", ""))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait()

        process, url = start_server(folder)  # a server started on the analysed folder, as after a restart
        base = f"{url}/api/recordings/{NAME}"
        try:
            results.append(
                ("first paint, data over HTTP, cold server", f"{first_paint(client, url) * 1000:.0f} ms", "1 s")
            )
            warm = statistics.median(first_paint(client, url) for _ in range(5))
            results.append(("first paint, data over HTTP, warm (median of 5)", f"{warm * 1000:.0f} ms", "1 s"))
            paint = browser_paint(url)
            if paint is not None:
                results.append(
                    ("first paint in headless Chromium (navigation to strip drawn)", f"{paint * 1000:.0f} ms", "1 s")
                )
            for width in (10.0, 60.0):
                times = []
                for start in rng.uniform(0, duration_s - width, args.strips):
                    params = {"start_s": start, "end_s": start + width}
                    began = time.perf_counter()
                    client.get(f"{base}/signal", params=params).raise_for_status()
                    client.get(f"{base}/beats", params=params).raise_for_status()
                    times.append(time.perf_counter() - began)
                median, p95 = np.median(times) * 1000, np.percentile(times, 95) * 1000
                results.append(
                    (f"strip of {width:g} s: signal + beats (median / p95)", f"{median:.0f} / {p95:.0f} ms", "100 ms")
                )

            about = client.get(base, params={"summary": "false"}).json()
            version = about["version"]
            families = client.get(f"{base}/families").json()
            family = min(families, key=lambda f: (f["beats"] < 10_000, abs(f["beats"] - 10_000)))
            seconds, answer = timed(
                client.patch, f"{base}/beats", json={"family": family["family"], "label": "S", "version": version}
            )
            results.append(
                (f"relabel family {family['family']} ({family['beats']:,} beats)", f"{seconds * 1000:.0f} ms", "1 s")
            )
            beats = client.get(f"{base}/beats", params={"start_s": 0, "end_s": duration_s / 4}).json()
            chosen = [{"sample": b["sample"], "label": "V"} for b in beats[:10_000]]
            seconds, answer = timed(
                client.patch, f"{base}/beats", json=chosen, headers={"If-Match": f'"{answer.json()["version"]}"'}
            )
            results.append((f"relabel a list of {len(chosen):,} beats", f"{seconds * 1000:.0f} ms", "1 s"))
            seconds, _ = timed(client.get, base)
            results.append(
                (
                    "summary of the reviewed labels after a change (episodes, hourly, HRV)",
                    f"{seconds * 1000:.0f} ms",
                    "",
                )
            )
            seconds, _ = timed(client.get, f"{base}/annotations")
            results.append(("annotation file (wfdb.wrann, all beats)", f"{seconds * 1000:.0f} ms", ""))
            seconds, _ = timed(client.post, f"{base}/undo")
            results.append((f"undo the {len(chosen):,}-beat list", f"{seconds * 1000:.0f} ms", ""))
            seconds, _ = timed(client.get, f"{base}/export/beats.csv")
            results.append(("export: reviewed beats.csv and the other tables", f"{seconds:.1f} s", ""))
            seconds, _ = timed(client.get, f"{base}/export/report.html")
            results.append(("export: report.html (the tables already written)", f"{seconds:.1f} s", ""))
            rss, peak = memory_mb(process.pid)
            results.append(
                ("server memory after all of the above: resident / peak", f"{rss:.0f} / {peak:.0f} MB", "1 GB")
            )

            # a correction, then kill -9: after a restart it is there
            version = client.get(base, params={"summary": "false"}).json()["version"]
            sample = beats[len(beats) // 2]["sample"]
            client.patch(f"{base}/beats", json={"sample": sample, "label": "F", "version": version}).raise_for_status()
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        process, url = start_server(folder)
        try:
            after = client.get(f"{url}/api/recordings/{NAME}", params={"summary": "false"}).json()
            label = client.get(
                f"{url}/api/recordings/{NAME}/beats",
                params={"start_s": sample / fs - 0.01, "end_s": sample / fs + 0.01},
            ).json()[0]["label"]
            kept = after["version"] == version + 1 and label == "F"
            results.append(("a correction, kill -9, restart: correction kept", "yes" if kept else "NO", "yes"))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait()

    hours = f"{duration_s / 3600:.1f} h at {fs:g} Hz"
    print(f"`python benchmarks/serve.py --hours {args.hours:g}`: {about['beats']:,} beats, {hours}")
    print()
    row("measure", "value", "target")
    print("|---|---:|---:|")
    for cells in results:
        row(*cells)


if __name__ == "__main__":
    with noted_machine():
        main()
