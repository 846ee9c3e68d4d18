"""What a hospital's security review tries on ``serve`` and ``predict --report``: words from outside files in the
reports and the CSVs, the review server's headers, zip bombs, a server reachable from the network."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_wfdb_record
from fastapi.testclient import TestClient

from arrhythmia import archive, serve
from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.export import load_classifier
from arrhythmia.files import spreadsheet_text
from arrhythmia.review import ReviewStore
from arrhythmia.serve import OPEN_HOST_WARNING, SHORT_TOKEN_WARNING, create_app, run_server

WEB = Path(serve.__file__).parent / "web"
#: Words an EDF+ file's annotations may hold: markup, and cells a spreadsheet would run as formulas.
EVENTS = [
    (10.0, "<script>alert(1)</script>"),
    (20.0, '=HYPERLINK("http://e.example","x")'),  # an EDF+ annotation holds 40 characters
    (30.0, "@SUM(1+1)"),
    (40.0, "+1 dizzy"),
    (50.0, "-2 chest pain"),
    (60.0, "dizzy"),
]
LEAD = "<svg onload=1>"  # an EDF signal label holds 16 characters


def write_hostile_edf(path: Path) -> None:
    """An EDF+ Holter file whose lead is named with markup and whose patient events are ``EVENTS``."""
    from pyedflib import highlevel

    ecg_uv = synthetic_ecg(duration_s=80, fs=256, seed=3).signal * 1000.0
    header = highlevel.make_header(startdate=datetime(2026, 11, 28, 9, 0, 0))
    header["annotations"] = [[onset, -1, text] for onset, text in EVENTS]
    signal = highlevel.make_signal_header(
        LEAD, dimension="uV", sample_frequency=256, physical_min=-5000, physical_max=5000
    )
    highlevel.write_edf(str(path), [ecg_uv], [signal], header)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    """A folder with the hostile EDF file, analysed once as ``predict --report`` labels it."""
    folder = tmp_path_factory.mktemp("security") / "recordings"
    folder.mkdir()
    write_hostile_edf(folder / "hostile.edf")
    ReviewStore(folder, "hostile.edf").analyse(load_classifier())
    return folder


@pytest.fixture
def folder(analysed, tmp_path) -> Path:
    return Path(shutil.copytree(analysed, tmp_path / "recordings"))


def test_spreadsheet_text_marks_formulas_and_leaves_the_rest():
    for formula in ("=1+1", "+1", "-2 mg", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_text(formula) == "'" + formula
    for kept in ("dizzy", "chest pain =", "", "'=already"):
        assert spreadsheet_text(kept) == kept
    for number in (-0.5, -3, float("nan"), None):  # numbers stay numbers
        assert spreadsheet_text(number) is number


def _events_cells(path: Path) -> list[str]:
    return pd.read_csv(path, dtype=str, keep_default_na=False)["event"].tolist()


def test_a_file_s_own_words_are_text_in_the_report_and_in_the_csvs(analysed):
    """The annotations of an EDF file from outside reach events.csv as text a spreadsheet does not run
    (=HYPERLINK would send the sheet's data elsewhere), and report.html as text no browser runs."""
    analysis = ReviewStore(analysed, "hostile.edf").analysis()
    expected = [("'" + text if text[0] in "=+-@" else text) for _, text in EVENTS]
    assert _events_cells(analysis / "events.csv") == expected
    events = pd.read_csv(analysis / "events.csv")
    assert events["heart_rate_bpm"].dtype.kind == "f" and events["time_s"].tolist()[:2] == [10.0, 20.0]
    report = (analysis / "report.html").read_text()
    assert "<script>" not in report and "<svg onload" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report and "&lt;svg onload=1&gt;" in report
    # and, should anything ever slip through, the report's own policy runs no script and fetches nothing
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in report


def test_every_answer_of_the_server_carries_the_security_headers(folder):
    """No other site may frame the pages (clickjacking a relabel), the pages run only the server's own scripts
    (no inline script or style), nothing is sniffed into a script, the API's answers are not cached, the
    docs run Swagger UI's one inline script by its hash, and an export shown in a browser is sandboxed."""
    with TestClient(create_app(folder, token="t0ken")) as client:
        auth = {"Authorization": "Bearer t0ken"}
        answers = {
            path: client.get(path, headers=auth)
            for path in ("/", "/recordings/hostile.edf", "/static/review.js", "/api/recordings", "/nothere")
        }
        answers["401"] = client.get("/api/recordings")
        for what, answer in answers.items():
            policy = answer.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy, what
            assert "unsafe-inline" not in policy, what
            assert answer.headers.get("x-content-type-options") == "nosniff", what
            assert answer.headers.get("x-frame-options") == "DENY", what
        assert answers["/api/recordings"].headers["cache-control"] == "no-store"
        assert answers["401"].headers["cache-control"] == "no-store"
        docs = client.get("/docs")
        scripts = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
        assert f"script-src 'self' 'sha256-{digest}';" in docs.headers["content-security-policy"]
        for path in ("/api/recordings/hostile.edf/export/events.csv", "/api/recordings/hostile.edf/annotations"):
            answer = client.get(path, headers=auth)
            assert answer.status_code == 200 and answer.headers["content-security-policy"].startswith("sandbox;")
            assert answer.headers["content-disposition"].startswith("attachment")
        # the reviewed export takes the same care of the file's words
        exported = client.get("/api/recordings/hostile.edf/export/events.csv", headers=auth)
        assert pd.read_csv(io.StringIO(exported.text), dtype=str, keep_default_na=False)["event"][1].startswith("'=")


def test_the_pages_hold_no_inline_script_or_style():
    """The pages' Content-Security-Policy allows no inline script or style attribute: they must need none."""
    for page in WEB.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), page.name
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), page.name
    for script in WEB.glob("*.js"):  # attributes given to element(): a style attribute is inline style
        assert not re.search(r"\bstyle:\s*[\"'`]", script.read_text()), script.name


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive_file:
        for name, data in members.items():
            archive_file.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_and_a_zip_of_other_files_are_refused_before_anything_is_unpacked(tmp_path, monkeypatch):
    """A .zip of 1 MB may unpack to a thousand: refused (the limit said) from the sizes it declares, before a
    byte is written; so is a zip of files an upload may not hold, or of too many files. A body sent in
    chunks, with no length said, is held to the upload limit as one that says its length."""
    write_wfdb_record(tmp_path, "r01", seconds=10)
    folder = tmp_path / "recordings"
    folder.mkdir()
    unpacked = []
    real = serve.safe_extract_zip
    monkeypatch.setattr(serve, "safe_extract_zip", lambda *a: unpacked.append(a) or real(*a))
    bomb = _zip({"holter.csv": b"ECG\n" + b"0\n" * 15_000_000})  # 30 MB of zeros: 30 kB zipped
    assert len(bomb) < 2**20
    others = _zip({"r01.hea": (tmp_path / "r01.hea").read_bytes(), "run.sh": b"rm -rf /"})
    many = _zip({f"r{i}.atr": b"" for i in range(serve.MAX_UPLOAD_MEMBERS + 1)})
    with TestClient(create_app(folder, max_upload_mb=1)) as client:
        answer = client.post("/api/recordings", files={"files": ("bomb.zip", bomb)}, data={"fs": "250"})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"] == (
            "bomb.zip: unpacks to 29 MB, more than this server unpacks from an upload: 10 MB "
            "(10 times `arrhythmia serve --max-upload-mb`)"
        )
        answer = client.post("/api/recordings", files={"files": ("others.zip", others)})
        assert answer.status_code == 422 and "member 'run.sh'" in answer.json()["detail"]
        answer = client.post("/api/recordings", files={"files": ("many.zip", many)})
        assert answer.status_code == 422 and "more than an upload takes (1,000)" in answer.json()["detail"]
        assert not unpacked and sorted(p.name for p in folder.iterdir()) == [".arrhythmia"]
        chunked = client.patch("/api/recordings/r01/beats", content=(b"0" * 2**16 for _ in range(20)))
        assert chunked.status_code == 413 and "1 MB (`arrhythmia serve --max-upload-mb` sets it)" in chunked.text
        # a zip within the limit is still unpacked and taken
        fine = _zip({name: (tmp_path / name).read_bytes() for name in ("r01.hea", "r01.dat")})
        assert client.post("/api/recordings", files={"files": ("fine.zip", fine)}).status_code == 201
        assert len(unpacked) == 1 and (folder / "r01.hea").is_file()


def test_a_server_reachable_from_the_network_says_it_speaks_plain_http(tmp_path, monkeypatch):
    """A token guards the API, but over plain HTTP it and the recordings cross the network unencrypted:
    served beyond loopback, ``serve`` says so; on loopback it says nothing more."""
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets: None)
    said: list[str] = []
    run_server(tmp_path, host="0.0.0.0", port=0, token="t0ken", announce=said.append)
    assert said[1:] == [OPEN_HOST_WARNING, SHORT_TOKEN_WARNING] and "unencrypted" in OPEN_HOST_WARNING
    said.clear()
    run_server(tmp_path, host="127.0.0.1", port=0, announce=said.append)
    assert len(said) == 1 and said[0].startswith("reviewing")
    run_server(tmp_path, host="0.0.0.0", port=0, token="a" * 43, announce=said.append)
    assert SHORT_TOKEN_WARNING not in said and "easily guessed" in SHORT_TOKEN_WARNING


def test_the_token_is_taken_from_the_environment_too(tmp_path, monkeypatch):
    """--token is seen by every user of the machine in `ps`; ARRHYTHMIA_TOKEN is not."""
    from typer.testing import CliRunner

    from arrhythmia import serve
    from arrhythmia.cli import app as cli_app

    given = []
    monkeypatch.setattr(serve, "run_server", lambda directory, host, port, token, *rest, **kw: given.append(token))
    monkeypatch.setenv("ARRHYTHMIA_TOKEN", "from-the-environment")
    assert CliRunner().invoke(cli_app, ["serve", str(tmp_path), "--host", "0.0.0.0"]).exit_code == 0
    assert CliRunner().invoke(cli_app, ["serve", str(tmp_path), "--token", "given"]).exit_code == 0
    assert given == ["from-the-environment", "given"]


def test_the_cohort_table_s_names_are_text_in_a_spreadsheet(tmp_path, monkeypatch):
    """A recording's file name is words from outside: cohort.csv gives one that starts like a formula as text."""
    recordings = [tmp_path / "=HYPERLINK(1).csv", tmp_path / "plain.csv"]
    for path in recordings:
        path.write_text("ECG\n0\n")
    failed = {"status": "failed", "error": "could not read it"}
    monkeypatch.setattr(archive, "_run", lambda todo, *rest: {name: dict(failed) for name in todo})
    result = archive.label_archive(recordings, tmp_path / "out", progress=False)
    assert sorted(result.cohort["record"]) == ["=HYPERLINK(1)", "plain"]  # the table in Python: as it is
    written = pd.read_csv(result.path, dtype=str, keep_default_na=False)
    assert sorted(written["record"]) == ["'=HYPERLINK(1)", "plain"]
    assert written["source"].str.startswith(("'", str(tmp_path))).all()


def test_answers_name_a_file_by_its_name_in_the_folder_not_by_the_server_s_path(tmp_path):
    """An error answer, perhaps to another machine, says ``garbled.hea: ...``, not where the server keeps its
    files (``/home/ward3/holter/garbled.hea``: a user's name, a share's layout)."""
    import time

    folder = tmp_path / "ward3" / "holter"
    folder.mkdir(parents=True)
    (folder / "garbled.hea").write_text("zzz\n")
    write_wfdb_record(tmp_path, "elsewhere", seconds=10)
    write_wfdb_record(folder, "escapes", seconds=10)
    (folder / "escapes.dat").unlink()
    (folder / "escapes.dat").symlink_to(tmp_path / "elsewhere.dat")  # a signal file out of the folder
    write_wfdb_record(folder, "cut", seconds=20)
    (folder / "cut.dat").write_bytes((folder / "cut.dat").read_bytes()[:1000])  # cut short
    with TestClient(create_app(folder)) as client:
        garbled = client.get("/api/recordings/garbled")
        escapes = client.get("/api/recordings/escapes")
        assert client.post("/api/recordings/cut/analyse").status_code == 202
        deadline = time.monotonic() + 60
        while client.get("/api/recordings/cut").json()["status"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.1)
        answers = [garbled.text, escapes.text, client.get("/api/recordings").text]
        answers.append(client.get("/api/recordings/cut").text)
    assert garbled.status_code == 422 and garbled.json()["detail"].startswith("garbled.hea: cannot read WFDB header")
    assert escapes.status_code == 404 and escapes.json()["detail"].endswith("'escapes.dat' lies outside the folder")
    assert "cut.dat" in answers[-1] and "failed" in answers[-1]
    for answer in answers:
        assert str(tmp_path) not in answer, answer


def test_a_request_another_site_s_page_makes_is_refused_reads_too(folder):
    """A page elsewhere cannot make a token-less server do anything: an ``<img>`` pointing at an export made it
    write the export (its report taking seconds); the browser says such a request comes from another site."""
    with TestClient(create_app(folder)) as client:
        for site in ("cross-site", "same-site"):  # same-site: another port of this machine
            for path in ("/api/recordings/hostile.edf/annotations", "/api/recordings/hostile.edf/export/report.html"):
                answer = client.get(path, headers={"Sec-Fetch-Site": site})
                assert answer.status_code == 403 and "another site's page" in answer.json()["detail"]
        assert not (folder / ".arrhythmia" / "hostile.edf" / "export").exists()
        for site in ("same-origin", "none"):  # the page itself, the user's address bar
            assert client.get("/api/recordings", headers={"Sec-Fetch-Site": site}).status_code == 200
        assert client.get("/api/recordings").status_code == 200  # curl, a script
        assert client.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # a link to the page
