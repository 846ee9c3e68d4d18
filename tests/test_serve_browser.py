"""End to end in a real browser: `arrhythmia serve` in a process of its own, the review page in headless
Chromium through Playwright: the token, the strip, a beat relabelled with the keyboard, the count, the export."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_wfdb_record

from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.export import load_classifier
from arrhythmia.review import ReviewStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
TOKEN = "browser-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(folder: Path, log_path: Path, *options: str):
    """``arrhythmia serve folder`` on 127.0.0.1 and a free port, in a process of its own, until the block ends
    (stopped by its pid); yields its URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])}
    command = [sys.executable, "-m", "arrhythmia", "serve", str(folder), "--port", str(port), *options]
    log = open(log_path, "wb")  # noqa: SIM115 (closed with the server)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/openapi.json", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log_path.read_text(encoding="utf-8", errors="replace")[-2000:]) from None
                time.sleep(0.2)
        yield url
    finally:
        os.kill(process.pid, 15)
        process.wait(timeout=20)
        log.close()


@contextlib.contextmanager
def chromium():
    """Headless Chromium through Playwright."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> tuple[Path, int]:
    """A folder with one 90-second record analysed once (its start time given, one unsure beat, a patient's
    event), and the sample of its unsure beat."""
    folder = tmp_path_factory.mktemp("analysed") / "recordings"
    folder.mkdir()
    write_wfdb_record(folder, "r01", seconds=90, seed=5)
    header = folder / "r01.hea"
    first, *rest = header.read_text().splitlines()
    header.write_text("\n".join([f"{first} 10:59:30 28/11/2026", *rest]) + "\n")  # the recording's start
    store = ReviewStore(folder, "r01")
    store.analyse(load_classifier())
    beats = pd.read_csv(store.analysis() / "beats.csv", keep_default_na=False)
    beats["confidence"] = 0.99
    beats.loc[len(beats) - 3, "confidence"] = 0.2  # one beat the network was unsure of
    beats.to_csv(store.analysis() / "beats.csv", index=False)
    meta = json.loads((store.analysis() / "meta.json").read_text())
    meta["events"] = [[40.0, "dizzy"]]  # a patient's event, as an EDF+ file's annotation gives it
    (store.analysis() / "meta.json").write_text(json.dumps(meta))
    return folder, int(beats.loc[len(beats) - 3, "sample"])


@pytest.fixture
def server(analysed, tmp_path):
    """The server with a token for a copy of the analysed folder, on 127.0.0.1 and a free port."""
    folder = Path(shutil.copytree(analysed[0], tmp_path / "recordings"))
    with serving(folder, tmp_path / "server.log", "--token", TOKEN) as url:
        yield url, folder, analysed[1]


def test_review_page_relabel_with_keyboard_and_export(server, tmp_path):
    import wfdb

    url, _, unsure = server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page, errors = watched_page(browser, accept_downloads=True, viewport={"width": 1280, "height": 900})
            page.goto(url)  # the recordings, then the review page of one
            page.fill("#login input", TOKEN)  # asked once, then kept for the session
            page.click("#login button")
            # how much the adaptation changed, with the threshold this recording was analysed with
            adapted = page.locator("tr[data-name='r01'] td").nth(3)
            assert "% changed" in adapted.text_content()
            assert adapted.get_attribute("title") == "review recommended above 8% changed"
            page.click("a[href='/recordings/r01']")
            page.wait_for_function("() => Number(document.getElementById('strip').dataset.beats) > 5")
            assert "(10:59:30 to 10:59:40)" in page.text_content("#strip-time")  # the clock, from the header's start
            event = page.locator("#events tbody tr").first  # the patient's event: a click shows its strip
            assert "dizzy" in event.text_content() and "11:00:10" in event.text_content()
            event.click()
            page.wait_for_function("() => document.getElementById('strip-time').textContent.startsWith('0:35.0')")
            before = int(page.text_content("#count-V").replace(",", ""))
            for _ in range(30):  # move to a beat the model calls N
                page.keyboard.press("ArrowRight")
                page.wait_for_function("() => document.getElementById('selected').textContent.includes('sample')")
                if re.search(r"\): N\b", page.text_content("#selected")):
                    break
            selected = page.text_content("#selected")
            sample = int(re.search(r"sample (\d+)", selected).group(1))
            page.keyboard.press("v")
            page.wait_for_function(
                f"() => document.getElementById('count-V').textContent.replace(/,/g, '') == '{before + 1}'"
            )
            assert "version 1" in page.text_content("#version")
            # the beats to review: a click selects the beat asked about
            page.wait_for_selector("#questions tbody tr")
            question = page.locator("#questions tbody tr").first
            asked = int(question.get_attribute("data-sample"))
            question.click()
            page.wait_for_function(
                f"() => document.getElementById('selected').textContent.includes('(sample {asked})')"
            )
            assert "current" in question.get_attribute("class")
            # Enter: the next beat to review
            unanswered = page.locator("#questions tbody tr", has_not_text="answered")
            following = int(
                unanswered.nth(1 if unanswered.first.get_attribute("data-sample") == str(asked) else 0).get_attribute(
                    "data-sample"
                )
            )
            page.keyboard.press("Enter")
            page.wait_for_function(
                f"() => document.getElementById('selected').textContent.includes('(sample {following})')"
            )
            # c: the next unsure beat; past the only one, none later, and Shift+C goes back to it
            page.keyboard.press("c")
            shown = f"document.getElementById('selected').textContent.includes('(sample {unsure})')"
            page.wait_for_function(
                f"() => {shown} || document.getElementById('message').textContent.includes('unsure')"
            )
            if "unsure" in page.text_content("#message"):
                page.keyboard.press("Shift+C")
                page.wait_for_function(f"() => {shown}")
            assert page.text_content("#count-unsure") == "1"
            page.keyboard.press("n")  # reviewed: no longer left
            page.wait_for_function("() => document.getElementById('count-unsure').textContent == '0'")
            page.click("#export summary")  # the exports' menu
            with page.expect_download() as download:
                page.click("#export-annotations")
            download.value.save_as(tmp_path / "r01.rev")
            page.reload()  # the token is kept for the session: never asked again
            page.wait_for_function("() => Number(document.getElementById('strip').dataset.beats) > 5")
            assert not page.is_visible("#login") and page.text_content("#count-V").replace(",", "") == str(before + 1)
            assert not errors, errors
        finally:
            browser.close()
    annotations = wfdb.rdann(str(tmp_path / "r01"), "rev")
    symbols = dict(zip(annotations.sample.tolist(), annotations.symbol))
    assert symbols[sample] == "V" and list(symbols.values()).count("V") == before + 1


def test_recordings_page_asks_for_the_sampling_rate_a_file_does_not_say_and_says_the_upload_limit(tmp_path):
    """A CSV without a time column uploaded without its rate: the analysis fails saying so in the page's words,
    the row asks for the rate beside its analyse button, and analysing with it works. An upload over the
    limit says the limit (not "413 Request Entity Too Large"). The analyse button pressed from the keyboard
    keeps the focus while the analysis runs (disabled meanwhile, it dropped the focus to the page's start);
    pressed again meanwhile it says the recording is already queued or running, until it has finished."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    ecg = synthetic_ecg(duration_s=40, fs=250, seed=7).signal
    csv = ("ECG\n" + "\n".join(f"{v:.4f}" for v in ecg)).encode()
    with serving(folder, tmp_path / "server.log", "--max-upload-mb", "1") as url, chromium() as browser:
        page, errors = watched_page(browser, viewport={"width": 1280, "height": 900})
        page.goto(url)
        big = {"name": "big.csv", "mimeType": "text/csv", "buffer": b"0\n" * 600_000}
        page.set_input_files("#upload input[type=file]", [big])
        page.click("#upload button")
        page.wait_for_function("() => document.getElementById('message').textContent.includes('1 MB')")
        assert "larger than this server takes" in page.text_content("#message")
        page.set_input_files("#upload input[type=file]", [{"name": "plain.csv", "mimeType": "text/csv", "buffer": csv}])
        page.click("#upload button")
        row = page.locator("tr[data-name='plain.csv']")
        row.locator("input.fs").wait_for(timeout=30_000)  # failed: the rate is asked for
        assert "sampling rate" in row.text_content() and "--fs" not in row.text_content()
        row.locator("button").click()  # without a rate: the page says what to do, nothing is sent
        assert "enter its sampling rate" in page.text_content("#message")
        row.locator("input.fs").fill("250")
        row.locator("button").focus()
        page.keyboard.press("Enter")  # from the keyboard: the focus stays on the button while it runs and after
        row.locator("button[aria-disabled='true']").wait_for()
        page.keyboard.press("Enter")  # again while it runs: said, until it has finished
        assert page.text_content("#message").startswith("plain.csv: already ")
        page.wait_for_function(
            "() => document.querySelector(\"tr[data-name='plain.csv'] td.status-done\") !== null", timeout=30_000
        )
        page.wait_for_function("() => document.querySelector('#recordings button:not([aria-disabled])')")
        assert page.evaluate("document.activeElement.dataset.focus") == "plain.csv analyse"
        assert "already" not in page.text_content("#message")  # it was left saying so of a recording done
        assert row.locator("a").get_attribute("href") == "/recordings/plain.csv"
        assert not errors, errors


def watched_page(owner, **options):
    """A new page of ``owner`` (a browser or a context) and the list its uncaught script errors go to."""
    page = owner.new_page(**options)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def open_review(page, url: str, name: str = "r01", login: bool = True) -> None:
    """The review page of ``name``, the token given (unless this tab has it already), once its strip is drawn."""
    page.goto(f"{url}/recordings/{name}")
    if login:
        page.fill("#login input", TOKEN)
        page.click("#login button")
    page.wait_for_function("() => Number(document.getElementById('strip').dataset.beats) > 5")


def wait_version(page, version: int) -> None:
    page.wait_for_function(f"() => document.getElementById('version').textContent === 'version {version}'")


def test_enter_after_a_click_does_not_press_the_button_again_and_a_conflict_is_said(server):
    """Enter after clicking undo is the page's Enter (the next beat to review), not a second undo of the
    correction made since; a change refused because another tab changed the recording says so after the
    reload; the clock carries 59.96 s to the next minute."""
    url, _, _ = server
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page, errors = watched_page(context)
        open_review(page, url)
        assert page.evaluate("[clock(59.96), clock(121.96), clock(3599.96), clock(0.04)]") == [
            "1:00.0",
            "2:02.0",
            "1:00:00.0",
            "0:00.0",
        ]
        page.keyboard.press("ArrowRight")
        page.keyboard.press("q")
        wait_version(page, 1)
        page.click("#undo")  # with the mouse
        wait_version(page, 2)
        # which correction went back: from another tab it may not be the one this reviewer remembers
        assert page.text_content("#message").startswith("undone: 1 beat relabelled Q (version 1)")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("q")
        wait_version(page, 3)
        page.keyboard.press("Enter")  # the next beat to review, not the undo button again
        page.wait_for_selector("#questions tr.current")
        page.wait_for_timeout(500)
        assert page.text_content("#version") == "version 3" and page.text_content("#count-Q") == "1"
        # another tab, still at version 3, then this one changes the recording
        other = context.new_page()
        open_review(other, url)
        wait_version(other, 3)
        page.keyboard.press("ArrowRight")
        page.keyboard.press("q")
        wait_version(page, 4)
        other.keyboard.press("ArrowRight")
        other.keyboard.press("q")  # refused: 409, reloaded, and said
        wait_version(other, 4)
        other.wait_for_function("() => document.getElementById('message').textContent.includes('changed elsewhere')")
        assert other.get_attribute("#message", "class") == "error"
        # keys pressed quickly, each sent with the version the one before was answered with (the second was
        # refused as stale and said to be another tab's change)
        wait_version(page, 4)
        for key in ("ArrowRight", "q", "ArrowRight", "q"):
            page.keyboard.press(key)
        wait_version(page, 6)
        page.keyboard.press("ArrowRight")
        page.keyboard.press("q")
        page.keyboard.press("u")  # undoes that q
        wait_version(page, 8)
        assert page.text_content("#message").startswith("undone: 1 beat relabelled Q (version 7)")
        assert page.get_attribute("#message", "class") != "error"
        assert not errors, errors


#: Run before a page's scripts: every text drawn on the strip's canvas and its colour, in ``window.drawn``.
STRIP_TEXTS = """window.drawn = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  if (this.canvas.id === "strip") window.drawn.push([String(text), String(this.fillStyle), ...rest.slice(0, 2)]);
  return fillText.call(this, text, ...rest);
};"""
#: Of ``window.drawn``: the beats' letters drawn on the strip that run into another on the same row.
OVERLAPPING = """(() => {
  const g = document.createElement("canvas").getContext("2d");
  g.font = "bold 12px sans-serif";
  const letters = window.drawn.filter(([text]) => /^[A-Z?][*+?]*$/.test(text))
    .map(([text, , x, y]) => [text, x - g.measureText(text).width / 2, x + g.measureText(text).width / 2, y]);
  return letters.filter(([, left, right, y], i) =>
    letters.some(([, l, r, y2], j) => j !== i && y2 === y && left < r && l < right)).map(([text]) => text);
})()"""
#: ``OVERLAPPING`` of the strip drawn once now (in one script: no other drawing comes between).
OVERLAPPING_NOW = f"(() => {{ window.drawn = []; drawStrip(); return {OVERLAPPING}; }})()"


def test_relabelling_with_the_corrections_says_what_it_did_and_marks_the_beats_it_changed(server):
    """A family's exemplar answered from the keyboard, then re-labelled: the page says how many beats changed
    and the moves per class of those beats alone (the hand correction made since the page was opened was
    counted among them: "7 beats changed label (F +8, V -8)"); a beat whose label the re-labelling changed is
    marked "+" on the strip and says its label before in the selected beat's line (it was shown as the
    model's own label: what an answer carried to its family could not be seen); the focus stays on the
    button pressed. On a 60-s strip no two beats' letters run into each other. The button pressed twice
    quickly asks for one re-labelling (it asked the server for two), and is marked disabled while it runs;
    ``u`` with nothing to undo says so quietly (it sent a request refused with 422, an error in red and in
    the console). The family cards say their numbers formatted, the prematurity among them."""
    url, _, _ = server
    with chromium() as browser:
        page, errors = watched_page(browser, viewport={"width": 1280, "height": 900})
        page.add_init_script(STRIP_TEXTS)
        sent: list[str] = []
        page.on("request", lambda request: sent.append(f"{request.method} {request.url.split('/api/')[-1]}"))
        # opened while an analysis runs (from another tab): the button is marked as busy, and pressing it says so
        running = {"name": "r01", "analysed": True, "status": "running", "stage": "labelling", "per_class": {"N": 1}}
        page.route("**/api/recordings/r01?summary=false", lambda route: route.fulfill(json=running))
        page.goto(f"{url}/recordings/r01")
        page.wait_for_function("() => document.getElementById('message').textContent === 'r01: running (labelling)'")
        assert page.get_attribute("#relabel", "aria-disabled") == "true"
        page.focus("#relabel")
        page.keyboard.press("Enter")
        assert page.text_content("#message") == "r01: already running; wait for it"
        page.unroute("**/api/recordings/r01?summary=false")
        page.fill("#login input", TOKEN)  # the server's own answer asks for the token
        page.click("#login button")
        page.wait_for_function("() => Number(document.getElementById('strip').dataset.beats) > 5")
        assert page.get_attribute("#relabel", "aria-disabled") is None
        page.keyboard.press("u")  # nothing to undo yet
        page.wait_for_function("() => document.getElementById('message').textContent === 'nothing to undo'")
        assert page.get_attribute("#message", "class") != "error" and not any("undo" in a for a in sent), sent
        family = page.locator(".family .muted").first.text_content()
        assert re.search(r"; RR before \d\.\d\d of the local median$", family), family
        exemplar = page.locator("#questions tbody tr", has_text="exemplar of family").first
        label = exemplar.locator(".cls").text_content()
        answer = "F" if label != "F" else "V"
        exemplar.focus()
        page.keyboard.press("Enter")
        asked = exemplar.get_attribute("data-sample")
        page.wait_for_function(f"() => document.getElementById('selected').textContent.includes('(sample {asked})')")
        page.keyboard.press(answer.lower())
        wait_version(page, 1)
        page.focus("#relabel")
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")  # again, at once
        assert page.get_attribute("#relabel", "aria-disabled") == "true"
        page.wait_for_function(
            "() => document.getElementById('message').textContent.startsWith('re-labelled with your 1 correction: ')",
            timeout=60_000,
        )
        assert [a for a in sent if a.endswith("/analyse")] == ["POST recordings/r01/analyse"], sent
        assert page.get_attribute("#relabel", "aria-disabled") is None
        said = page.text_content("#message")
        found = re.search(r": (\d+) beats? changed label \((.*)\)$", said)
        assert found, said
        changed = int(found.group(1))
        moves = dict(re.fullmatch(r"([A-Z]) ([+\u2212]\d+)", m).groups() for m in found.group(2).split(", "))
        assert moves == {answer: f"+{changed}", label: f"\u2212{changed}"}, said
        assert page.text_content("#version") == "version 2"
        assert page.evaluate("document.activeElement.id") == "relabel"
        carried = page.evaluate(
            "apiJSON(BASE + '/beats').then((beats) => beats.filter((b) => b.relabelled_from !== undefined))"
        )
        assert len(carried) == changed and all(b["relabelled_from"] == label for b in carried), carried
        assert all(b["label"] == answer and not b["reviewed"] for b in carried), carried
        page.evaluate(f"showBeat(view.beats[0]).then(() => showBeat({json.dumps(carried[0])}))")
        shown = f"(sample {carried[0]['sample']})"
        page.wait_for_function(f"() => document.getElementById('selected').textContent.includes('{shown}')")
        assert f"({label} before re-labelling with your corrections)" in page.text_content("#selected")
        page.evaluate("window.drawn = []; drawStrip()")  # the strip as it is now, drawn once
        assert any(re.fullmatch(answer + r"\+\??", text) for text, *_ in page.evaluate("window.drawn"))
        # the answered beat still says what the model had said (the re-labelled analysis holds the answer as its own)
        page.evaluate(f"showBeat({{sample: {asked}, time_s: {asked} / view.rec.fs}})")
        page.wait_for_function(f"() => document.getElementById('selected').textContent.includes('(sample {asked})')")
        assert f"(sample {asked}): {answer} (model: {label})" in page.text_content("#selected")
        assert not page.evaluate(OVERLAPPING_NOW)
        for _ in range(3):  # a 60-s strip: its letters on as many rows as keep them apart (they ran together)
            page.keyboard.press("+")
        page.wait_for_function("() => view.signal.end_s - view.signal.start_s > 50")
        page.set_viewport_size({"width": 640, "height": 900})  # 60 s in 600 px: 10 px a beat
        assert not page.evaluate(OVERLAPPING_NOW)
        assert not errors, errors


def test_the_api_docs_work_with_no_network(server):
    """Swagger UI at /docs shows the API with every request to anywhere but the server refused."""
    url, _, _ = server
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        elsewhere = []

        def offline(route):
            if route.request.url.startswith(url):
                return route.continue_()
            elsewhere.append(route.request.url)
            return route.abort()

        page.route("**/*", offline)
        page.goto(f"{url}/docs")
        page.get_by_text("/api/recordings/{name}/beats", exact=True).first.wait_for(timeout=15_000)
        assert not elsewhere, elsewhere


def test_the_pages_fit_a_phone_and_a_click_below_the_strip_shows_it(server):
    """At 390 px neither page scrolls sideways (the recordings table scrolls in its own box); "show" on a
    family card far below the strip brings the strip into view; one beat is "1 beat"."""
    url, _, _ = server
    with chromium() as browser:
        page, errors = watched_page(browser, viewport={"width": 390, "height": 844})
        page.goto(url)
        page.fill("#login input", TOKEN)
        page.click("#login button")
        page.wait_for_selector("#recordings tbody tr")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        open_review(page, url, login=False)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.evaluate("[count(1, 'beat'), count(21960, 'beat')]") == ["1 beat", "21,960 beats"]
        page.wait_for_selector(".family button:text-is('show')")
        show = page.locator(".family button:text-is('show')").last
        show.scroll_into_view_if_needed()
        strip_top = "document.getElementById('strip').closest('section').getBoundingClientRect().top"
        assert page.evaluate(strip_top) < 0  # scrolled past it
        show.click()
        page.wait_for_function(f"() => {strip_top} >= 0 && {strip_top} < window.innerHeight / 2")
        assert "sample" in page.text_content("#selected")
        assert not errors, errors


def test_the_strip_follows_a_change_the_class_menu_gives_the_keys_back_and_a_reload_keeps_the_place(
    server,
):
    """A change's answer lists at most 1,000 of the beats it changed (a family can hold thousands): the strip
    asks for its beats again rather than keep showing the labels replaced. The class chosen beside [ ] with
    the mouse hands the keyboard back (kept focused, the menu took "f" for a class). A reload comes back to
    the strip and the beat the reviewer was at."""
    url, _, _ = server
    with chromium() as browser:
        page, errors = watched_page(browser, viewport={"width": 1280, "height": 900})
        open_review(page, url)

        def unlisted(route):  # the answer of a change of more beats than it lists
            if route.request.method != "PATCH":
                return route.continue_()
            answer = route.fetch()
            return route.fulfill(response=answer, json={**answer.json(), "beats": []})

        page.route("**/api/recordings/r01/beats", unlisted)
        page.keyboard.press("PageDown")
        page.wait_for_function("() => document.getElementById('strip-time').textContent.startsWith('0:10.0')")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.getElementById('selected').textContent.includes('sample')")
        sample = int(re.search(r"sample (\d+)", page.text_content("#selected")).group(1))
        label_of = f"view.beats.find((b) => b.sample === {sample}).label"
        wanted = "F" if page.evaluate(label_of) != "F" else "Q"
        page.focus("#jump-class")  # as a click on the menu leaves it
        page.select_option("#jump-class", "S")
        page.keyboard.press(wanted.lower())  # the page's key: relabel the selected beat
        wait_version(page, 1)
        page.wait_for_function(f"() => {label_of} === '{wanted}'")
        assert page.input_value("#jump-class") == "S"
        page.unroute("**/api/recordings/r01/beats")
        page.reload()
        page.wait_for_function("() => Number(document.getElementById('strip').dataset.beats) > 5")
        assert page.text_content("#strip-time").startswith("0:10.0")
        assert f"(sample {sample}): {wanted}" in page.text_content("#selected")
        assert not errors, errors


def test_a_server_that_stops_answering_is_said_and_a_wrong_token_is_said(server):
    """A change the server never answered says it was not saved (not the browser's "Failed to fetch");
    re-labelling waits for a server that stops answering meanwhile, then says how it ended. A refused
    token is said, not asked for again as if nothing had happened."""
    url, _, _ = server
    with chromium() as browser:
        page, errors = watched_page(browser, viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)  # re-labelling on a machine two test workers share: once past 30 s
        page.goto(f"{url}/recordings/r01")
        page.fill("#login input", "not-the-token")
        page.click("#login button")
        page.wait_for_function("() => document.querySelector('#login .login-note')?.textContent.includes('refused')")
        assert page.is_visible("#login") and page.input_value("#login input") == ""
        page.fill("#login input", TOKEN)
        page.click("#login button")
        page.wait_for_function("() => Number(document.getElementById('strip').dataset.beats) > 5")
        page.route("**/api/recordings/r01/**", lambda route: route.abort())  # the server gone
        page.keyboard.press("ArrowRight")
        page.keyboard.press("v")
        page.wait_for_function("() => document.getElementById('message').textContent.startsWith('Not saved')")
        assert "not answering" in page.text_content("#message") and page.text_content("#version") == "version 0"
        page.unroute("**/api/recordings/r01/**")
        page.click("#relabel")
        page.wait_for_function("() => document.getElementById('message').textContent.startsWith('re-labelling')")
        page.route("**/api/recordings/r01?summary=false", lambda route: route.abort())
        page.wait_for_function("() => document.getElementById('message').textContent.includes('waiting for it')")
        page.unroute("**/api/recordings/r01?summary=false")
        page.wait_for_function(
            "() => document.getElementById('message').textContent.startsWith('re-labelled with your')", timeout=60_000
        )
        assert not errors, errors


def test_a_file_s_words_stay_text_and_the_pages_keep_to_their_content_security_policy(analysed, tmp_path):
    """A patient's event whose text is markup is shown as text and runs nothing; the recordings page, the
    review page and /docs work under the server's Content-Security-Policy (no inline script or style): the
    browser reports no violation of it."""
    folder = Path(shutil.copytree(analysed[0], tmp_path / "recordings"))
    store = ReviewStore(folder, "r01")
    meta = json.loads((store.analysis() / "meta.json").read_text())
    meta["events"] = [[40.0, "<script>alert(1)</script>"], [50.0, "<img src=x onerror=alert(2)>"]]
    (store.analysis() / "meta.json").write_text(json.dumps(meta))
    with serving(folder, tmp_path / "server.log", "--token", TOKEN) as url, chromium() as browser:
        page, errors = watched_page(browser, viewport={"width": 1280, "height": 900})
        dialogs, violations = [], []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        open_review(page, url)
        page.wait_for_function("() => document.querySelectorAll('#events tbody tr').length === 2")
        assert page.text_content("#events tbody tr:first-child td:last-child") == "<script>alert(1)</script>"
        page.click("#events tbody tr:last-child")  # a row is still a click from its strip
        page.wait_for_function("() => document.getElementById('strip-time').textContent.startsWith('0:45')")
        page.goto(url)
        page.wait_for_function("() => document.querySelectorAll('#recordings tbody tr').length === 1")
        page.goto(f"{url}/docs")
        page.get_by_text("/api/recordings/{name}/beats", exact=True).first.wait_for(timeout=15_000)
        assert not dialogs and not violations and not errors, (dialogs, violations, errors)


def test_every_control_works_from_the_keyboard_and_keeps_its_focus(server, tmp_path):
    """A reviewer without a mouse: Enter on a button reached with Tab presses it (an export downloads; it was
    taken for "next beat to review"); a family relabelled from its focused button keeps the focus once the
    cards are drawn again (it fell to the page's start); a beat to review and a patient's event are rows Tab
    reaches and Enter opens; Ctrl with + or - is the browser's zoom, not the strip's length; the class menu,
    changed with the arrow keys, and the undo button with nothing left to undo hand the focus to the strip,
    where it is seen. Every control is a target of 24 by 24 px at least (WCAG 2.2; a family's class buttons
    were 18 by 22), the header keeps to one line at 1280 px (it wrapped, pushing the strip down) with the
    exports in a menu that Enter opens and that hands the focus back to its "export" once closed. The
    recordings list, drawn again
    every few seconds, keeps the focus on its link (it fell to the page's start); Tab stays out of the page
    behind the token's box."""
    url, _, _ = server
    with chromium() as browser:
        page, errors = watched_page(browser, accept_downloads=True, viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_function("() => document.querySelector('#login input') === document.activeElement")
        for _ in range(3):
            page.keyboard.press("Tab")
            assert page.evaluate("!document.activeElement.closest('header, main')"), "Tab went behind the token's box"
        page.fill("#login input", TOKEN)
        page.keyboard.press("Enter")
        page.wait_for_selector("#recordings tbody tr a")
        page.focus("#recordings tbody tr a")
        page.evaluate("window.row = document.querySelector('#recordings tbody tr'); poll()")
        page.wait_for_function("() => document.querySelector('#recordings tbody tr') !== window.row")  # drawn again
        assert page.evaluate("document.activeElement.getAttribute('href')") == "/recordings/r01"
        open_review(page, url, login=False)
        page.wait_for_selector("#family-0 button")
        # every control a target of 24 by 24 px at least (a family's class buttons were 18 by 22), and the
        # header on one line at 1280 px, a 24-hour recording's counts too (it took two, the strip pushed down)
        small = page.evaluate(
            """[...document.querySelectorAll("button, a, select, input, summary, [tabindex]")]
              .filter((e) => e.offsetParent !== null)
              .map((e) => [e.getAttribute("aria-label") || e.textContent, e.getBoundingClientRect()])
              .filter(([, r]) => r.width < 24 || r.height < 24).map(([name]) => name)"""
        )
        assert not small, small
        one_line = "document.querySelector('header').getBoundingClientRect().height < 50"
        assert page.evaluate(one_line)
        page.evaluate("showCounts({N: 101234, S: 1234, V: 12345, F: 311, Q: 22}, 12345)")
        assert page.evaluate(one_line)
        page.focus("#export summary")
        page.keyboard.press("Enter")  # the exports' menu opens: not taken for "next beat to review"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "export-annotations"
        with page.expect_download(timeout=10_000) as download:
            page.keyboard.press("Enter")
        assert download.value.suggested_filename == "r01.rev"
        assert page.text_content("#selected").startswith("click a beat")  # Enter did nothing else
        # the menu closed, the keyboard back on its "export" rather than on a hidden button
        assert not page.evaluate("document.getElementById('export').open")
        assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
        page.keyboard.press("Space")
        assert page.evaluate("document.getElementById('export').open")
        page.keyboard.press("Escape")
        assert not page.evaluate("document.getElementById('export').open")
        assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
        for key in ("Control+Equal", "Control+Minus"):
            page.keyboard.press(key)
        page.wait_for_timeout(300)
        assert page.text_content("#width") == "10"
        label = "Q" if page.evaluate("view.families[0].label") != "Q" else "F"
        button = page.locator(f"#family-0 button[data-focus='0 {label}']")
        assert button.get_attribute("aria-label").startswith("family 0: label all ") and button.text_content() == label
        page.evaluate("window.card = document.getElementById('family-0')")
        button.focus()
        page.keyboard.press("Space")
        wait_version(page, 1)
        page.wait_for_function("() => document.getElementById('family-0') !== window.card")  # drawn again
        assert page.evaluate("document.activeElement.dataset.focus") == f"0 {label}"
        page.focus("#undo")
        page.keyboard.press("Enter")  # the only correction undone: the focus goes on to the strip
        wait_version(page, 2)
        assert page.is_disabled("#undo") and page.evaluate("document.activeElement.id") == "strip"
        row = page.locator("#questions tbody tr").nth(1)
        asked = row.get_attribute("data-sample")
        row.focus()
        assert page.evaluate("document.activeElement.dataset.sample") == asked  # a Tab stop
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.getElementById('selected').textContent.includes('(sample {asked})')")
        assert page.evaluate("document.activeElement.id") == "strip"
        assert page.locator("#questions tbody tr[aria-current='true']").get_attribute("data-sample") == asked
        before = page.text_content("#strip-time")
        page.locator("#events tbody tr").first.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('strip-time').textContent.startsWith('0:35.0')")
        assert before != page.text_content("#strip-time")
        page.focus("#jump-class")
        page.keyboard.press("ArrowDown")
        page.wait_for_function("() => document.activeElement.id === 'strip'")
        outline = page.evaluate("getComputedStyle(document.getElementById('strip')).outlineStyle")
        assert outline != "none", "the strip's focus is not seen"
        assert not errors, errors


def contrast(page, foreground: str, background: str) -> float:
    """WCAG's contrast ratio of two CSS colours, as the page's canvas reads them."""
    return page.evaluate(
        """([a, b]) => {
          const g = document.createElement("canvas").getContext("2d");
          const lum = (c) => { g.fillStyle = "#000"; g.fillStyle = c; g.fillRect(0, 0, 1, 1);
            const [r, gg, bb] = g.getImageData(0, 0, 1, 1).data;
            return [r, gg, bb].map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
              .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0); };
          const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
          return (x + 0.05) / (y + 0.05);
        }""",
        [foreground, background],
    )


def test_the_page_is_read_without_colour_without_sight_and_at_200_percent_zoom(server):
    """Red-green colour blind, with a screen reader, at 200% zoom: an unsure beat is a "?" after its letter on the
    strip (it was not marked at all), every letter drawn and every class badge is 4.5:1 against its ground (S's
    white on orange was 2.7:1, the greys 4.3:1), the row of the selected beat to review is pointed at, not only
    tinted; the strip, the class menu and the upload field have names, the selected beat and the messages are
    live regions; at 1280x720 zoomed 200% a key that moves the strip brings it on screen."""
    url, _, unsure = server
    with chromium() as browser:
        page, errors = watched_page(browser, viewport={"width": 640, "height": 360}, device_scale_factor=2)
        page.add_init_script(
            """window.drawn = [];
            const fillText = CanvasRenderingContext2D.prototype.fillText;
            CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
              if (this.canvas.id === "strip") window.drawn.push([String(text), String(this.fillStyle)]);
              return fillText.call(this, text, ...rest);
            };"""
        )
        page.goto(url)
        page.fill("#login input", TOKEN)
        page.click("#login button")
        assert page.get_attribute("#upload input[type=file]", "aria-label")
        open_review(page, url, login=False)
        # the strip out of sight (scrolled past: the header now on fewer lines, it no longer starts below)
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        assert page.evaluate("document.getElementById('strip').getBoundingClientRect().bottom") < 0
        page.keyboard.press("c")  # the unsure beat
        page.wait_for_function(f"() => document.getElementById('selected').textContent.includes('(sample {unsure})')")
        page.wait_for_function(
            "() => document.getElementById('strip').getBoundingClientRect().top >= 0"
            " && document.getElementById('strip').getBoundingClientRect().bottom <= 360"
        )
        label = page.evaluate(f"view.beats.find((b) => b.sample === {unsure}).label")
        assert "(unsure)" in page.text_content("#selected")
        letters = [(text, style) for text, style in page.evaluate("window.drawn") if re.fullmatch(r"[A-Z?][*?]?", text)]
        assert any(text == label + "?" for text, _ in letters), letters  # the unsure beat's mark
        for text, style in letters:
            assert contrast(page, style, "#fff") >= 4.5, (text, style)
        for badge in page.locator("#counts .cls").all():
            colour, ground = badge.evaluate("(e) => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
            assert contrast(page, colour, ground) >= 4.5, (badge.text_content(), colour, ground)
        muted = page.evaluate("getComputedStyle(document.getElementById('strip-time')).color")
        assert contrast(page, muted, "#fafafa") >= 4.5
        version = page.evaluate("getComputedStyle(document.getElementById('version')).color")
        assert contrast(page, version, "#263238") >= 4.5
        page.keyboard.press("Enter")  # a beat to review: its row pointed at, not only tinted
        page.wait_for_selector("#questions tr.current")
        marker = page.evaluate(
            "getComputedStyle(document.querySelector('#questions tr.current td'), '::before').content"
        )
        assert "\u25b6" in marker and page.get_attribute("#questions tr.current", "aria-current") == "true"
        assert page.get_attribute("#strip", "role") == "img" and page.get_attribute("#strip", "aria-label")
        assert page.get_attribute("#strip", "aria-describedby") == "selected"
        assert page.get_attribute("#jump-class", "aria-label")
        assert page.get_attribute("#selected", "aria-live") == "polite"
        assert page.get_attribute("#message", "role") == "status"
        assert page.evaluate("document.documentElement.scrollWidth") <= 640
        page.click("#export summary")  # the exports' menu whole in the window (it lay past its left edge)
        menu = "document.querySelector('#export .menu').getBoundingClientRect()"
        page.wait_for_function(f"() => {menu}.width > 0 && {menu}.left >= 0 && {menu}.right <= 640", timeout=5_000)
        page.click("#export summary")
        page.route("**/api/recordings/r01/beats", lambda route: route.abort())  # the server gone
        page.keyboard.press("q")  # not saved: said as an error, in sight with the strip
        page.wait_for_function("() => document.getElementById('message').className === 'error'")
        page.unroute("**/api/recordings/r01/beats")
        top = page.evaluate("document.getElementById('message').getBoundingClientRect().top")
        assert 0 <= top < 360 and page.evaluate("document.getElementById('strip').getBoundingClientRect().top") < 360
        assert not errors, errors
