"""Offline tests of the downloaders against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
import zipfile
from pathlib import Path

import gdown
import gdown.exceptions
import pytest
import requests

from arrhythmia.data import download
from arrhythmia.data.download import (
    HEARTBEAT_FILES,
    HEARTBEAT_GDRIVE_ID,
    default_data_dir,
    download_heartbeat,
    download_physionet,
    safe_extract_zip,
)
from arrhythmia.errors import DataError

DB = "fakedb/1.0.0"
FILES = {
    "100.dat": bytes(range(256)) * 40,
    "100.hea": b"100 2 360 650000\n",
    "x_mitdb/x_108.atr": b"\x00\x01annotations" * 50,
}


class _Server(http.server.ThreadingHTTPServer):
    """Serves ``root``; records ``(path, Range header)`` per request; behaviour set per test."""

    daemon_threads = True
    root: Path
    log: list[tuple[str, str | None]]
    honour_range: bool = True
    truncate: bool = False  # data files: announce the full length, send only half, hang up


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        srv = self.server
        range_header = self.headers.get("Range")
        srv.log.append((self.path, range_header))
        path = srv.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and srv.honour_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.truncate and not self.path.endswith("SHA256SUMS.txt")
        self.wfile.write(body[: len(body) // 2] if cut else body)


@pytest.fixture
def server(tmp_path: Path) -> _Server:
    root = tmp_path / "srv"
    root.mkdir()
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.root = root
    httpd.log = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _base_url(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _publish(srv: _Server, files: dict[str, bytes] = FILES, sums: str | None = None) -> None:
    """Put ``files`` and their SHA256SUMS.txt (or the given text) under ``{root}/{DB}/``."""
    db = srv.root / DB
    for name, data in files.items():
        (db / name).parent.mkdir(parents=True, exist_ok=True)
        (db / name).write_bytes(data)
    if sums is None:
        sums = "".join(f"{_sha(data)} {name}\n" for name, data in files.items())
    db.mkdir(parents=True, exist_ok=True)
    (db / "SHA256SUMS.txt").write_text(sums)


def _fetch(srv: _Server, dest: Path) -> Path:
    return download_physionet(DB, dest=dest, base_url=_base_url(srv), progress=False)


def _file_requests(srv: _Server) -> list[tuple[str, str | None]]:
    return [entry for entry in srv.log if not entry[0].endswith("SHA256SUMS.txt")]


# --- default_data_dir ---------------------------------------------------------------------------


def test_default_data_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARRHYTHMIA_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    monkeypatch.delenv("ARRHYTHMIA_DATA_DIR")
    assert default_data_dir().parts[-2:] == ("arrhythmia", "data")


# --- download_physionet -------------------------------------------------------------------------


def test_full_download(server: _Server, tmp_path: Path) -> None:
    _publish(server)
    dest = tmp_path / "out"
    assert _fetch(server, dest) == dest
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    assert (dest / "SHA256SUMS.txt").read_text() == (server.root / DB / "SHA256SUMS.txt").read_text()
    assert not list(dest.rglob("*.part")) and not list(dest.rglob("*.tmp"))


def test_default_dest_is_database_name(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _publish(server)
    monkeypatch.setenv("ARRHYTHMIA_DATA_DIR", str(tmp_path / "data"))
    dest = download_physionet(DB, base_url=_base_url(server), progress=True)
    assert dest == tmp_path / "data" / "fakedb"
    assert (dest / "100.hea").read_bytes() == FILES["100.hea"]


def test_resume_sends_range(server: _Server, tmp_path: Path) -> None:
    _publish(server)
    dest = tmp_path / "out"
    dest.mkdir()
    data = FILES["100.dat"]
    half = len(data) // 2
    (dest / "100.dat.part").write_bytes(data[:half])
    _fetch(server, dest)
    assert ("/fakedb/1.0.0/100.dat", f"bytes={half}-") in server.log
    assert (dest / "100.dat").read_bytes() == data
    assert not (dest / "100.dat.part").exists()


def test_server_ignoring_range_restarts(server: _Server, tmp_path: Path) -> None:
    _publish(server)
    server.honour_range = False
    dest = tmp_path / "out"
    dest.mkdir()
    data = FILES["100.dat"]
    (dest / "100.dat.part").write_bytes(data[: len(data) // 2])
    _fetch(server, dest)
    assert any(rng is not None for _, rng in server.log)  # it asked, the server answered 200
    assert (dest / "100.dat").read_bytes() == data  # not half + whole


def test_complete_part_gets_416_and_is_used(server: _Server, tmp_path: Path) -> None:
    _publish(server)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "100.hea.part").write_bytes(FILES["100.hea"])  # crashed between download and rename
    _fetch(server, dest)
    assert ("/fakedb/1.0.0/100.hea", f"bytes={len(FILES['100.hea'])}-") in server.log
    assert (dest / "100.hea").read_bytes() == FILES["100.hea"]


def test_interrupted_download_keeps_part_and_resumes(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks smaller than the half that arrives, so that some of it reaches the .part file.
    monkeypatch.setattr(download, "STREAM_CHUNK_SIZE", 1024)
    _publish(server, {"100.dat": FILES["100.dat"]})
    dest = tmp_path / "out"
    server.truncate = True
    with pytest.raises(DataError, match=r"100\.dat.*interrupted"):
        _fetch(server, dest)
    part = dest / "100.dat.part"
    assert part.is_file() and 0 < part.stat().st_size < len(FILES["100.dat"])
    assert not (dest / "100.dat").exists()

    kept = part.stat().st_size
    server.truncate = False
    server.log.clear()
    _fetch(server, dest)
    assert _file_requests(server) == [("/fakedb/1.0.0/100.dat", f"bytes={kept}-")]  # resumed
    assert (dest / "100.dat").read_bytes() == FILES["100.dat"]


def test_checksum_mismatch(server: _Server, tmp_path: Path) -> None:
    files = {"100.hea": FILES["100.hea"]}
    _publish(server, files, sums=f"{_sha(b'something else')} 100.hea\n")
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="checksum") as info:
        _fetch(server, dest)
    assert "/fakedb/1.0.0/100.hea" in str(info.value) and "\n" not in str(info.value)
    assert not (dest / "100.hea").exists()
    assert not (dest / "100.hea.part").exists()


def test_complete_files_not_requested_again(server: _Server, tmp_path: Path) -> None:
    _publish(server)
    dest = tmp_path / "out"
    _fetch(server, dest)
    assert len(_file_requests(server)) == len(FILES)

    server.log.clear()
    _fetch(server, dest)
    assert server.log == [("/fakedb/1.0.0/SHA256SUMS.txt", None)]

    # A corrupted local copy is detected and only that file is fetched again.
    (dest / "100.hea").write_bytes(b"corrupt")
    server.log.clear()
    _fetch(server, dest)
    assert _file_requests(server) == [("/fakedb/1.0.0/100.hea", None)]
    assert (dest / "100.hea").read_bytes() == FILES["100.hea"]


@pytest.mark.parametrize("bad", ["../evil", "sub/../../evil", "/etc/evil", "..\\evil", "C:/evil"])
def test_unsafe_sums_entry_refused(server: _Server, tmp_path: Path, bad: str) -> None:
    sums = f"{_sha(FILES['100.hea'])} 100.hea\n{_sha(b'x')} {bad}\n"
    _publish(server, {"100.hea": FILES["100.hea"]}, sums=sums)
    dest = tmp_path / "work" / "out"
    with pytest.raises(DataError, match="unsafe path"):
        _fetch(server, dest)
    assert _file_requests(server) == []  # refused before downloading anything
    assert not dest.exists()
    assert not (tmp_path / "work" / "evil").exists()


def test_malformed_sums_line(server: _Server, tmp_path: Path) -> None:
    _publish(server, {}, sums="not-a-hash 100.hea\n")
    with pytest.raises(DataError, match=r"SHA256SUMS\.txt: line 1"):
        _fetch(server, tmp_path / "out")


def test_404_names_url(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="404") as info:
        download_physionet("nosuchdb/1.0", dest=tmp_path / "out", base_url=_base_url(server), progress=False)
    assert f"{_base_url(server)}nosuchdb/1.0/SHA256SUMS.txt" in str(info.value)

    # A listed file missing on the server.
    _publish(server, {}, sums=f"{_sha(b'x')} gone.dat\n")
    with pytest.raises(DataError, match="404") as info:
        _fetch(server, tmp_path / "out")
    assert f"{_base_url(server)}{DB}/gone.dat" in str(info.value)


def test_connection_refused_names_url(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(DataError, match="download failed") as info:
        download_physionet(DB, dest=tmp_path / "out", base_url=url, progress=False)
    assert f"{url}{DB}/SHA256SUMS.txt" in str(info.value)
    assert "\n" not in str(info.value)


# --- safe_extract_zip ---------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def test_safe_extract_zip(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"top.txt": b"1", "sub/inner.txt": b"2"})
    dest = tmp_path / "out"
    files = safe_extract_zip(archive, dest)
    assert sorted(files) == sorted([dest / "top.txt", dest / "sub" / "inner.txt"])
    assert (dest / "sub" / "inner.txt").read_bytes() == b"2"


@pytest.mark.parametrize(
    "bad", ["../evil.txt", "/abs.txt", "sub/../../evil.txt", "..\\evil.txt", "\\abs.txt", "C:/abs.txt"]
)
def test_safe_extract_zip_refuses_unsafe(tmp_path: Path, bad: str) -> None:
    archive = _zip(tmp_path / "a.zip", {"good.txt": b"ok", bad: b"evil"})
    (tmp_path / "work").mkdir()
    dest = tmp_path / "work" / "out"
    with pytest.raises(DataError, match="unsafe member") as info:
        safe_extract_zip(archive, dest)
    assert str(archive) in str(info.value) and repr(bad) in str(info.value)
    assert not dest.exists()  # nothing extracted, not even the good member
    assert {p.name for p in tmp_path.rglob("*")} == {"a.zip", "work"}


def test_safe_extract_zip_bad_file(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match="not a valid zip") as info:
        safe_extract_zip(bogus, tmp_path / "out")
    assert str(bogus) in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        safe_extract_zip(tmp_path / "missing.zip", tmp_path / "out")


# --- download_heartbeat -------------------------------------------------------------------------


def _fake_gdown(calls: list[dict], members: dict[str, bytes] | None = None):
    if members is None:
        members = {f"heartbeat/{name}": f"{name}\n".encode() for name in HEARTBEAT_FILES}

    def fake_download(**kwargs: object) -> str:
        calls.append(kwargs)
        _zip(Path(str(kwargs["output"])), members)
        return str(kwargs["output"])

    return fake_download


def test_download_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    monkeypatch.setattr(gdown, "download", _fake_gdown(calls))
    dest = tmp_path / "hb"
    assert download_heartbeat(dest, progress=False) == dest
    assert len(calls) == 1
    assert calls[0]["id"] == HEARTBEAT_GDRIVE_ID and calls[0]["resume"] is True and calls[0]["quiet"] is True
    assert calls[0]["output"] == str(dest / "heartbeat.zip")
    for name in HEARTBEAT_FILES:
        assert (dest / name).read_bytes() == f"{name}\n".encode()
    assert not (dest / "heartbeat").exists()  # emptied subfolder removed

    assert download_heartbeat(dest, progress=False) == dest
    assert len(calls) == 1  # second call finds the CSVs and does not download


def test_download_heartbeat_default_dest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARRHYTHMIA_DATA_DIR", str(tmp_path / "data"))
    calls: list[dict] = []
    flat = {name: b"x\n" for name in HEARTBEAT_FILES}  # CSVs at the archive root also work
    monkeypatch.setattr(gdown, "download", _fake_gdown(calls, flat))
    dest = download_heartbeat()
    assert dest == tmp_path / "data" / "heartbeat"
    assert calls[0]["quiet"] is False
    assert all((dest / name).is_file() for name in HEARTBEAT_FILES)


def test_download_heartbeat_gdown_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gdown, "download", lambda **kwargs: None)
    with pytest.raises(DataError, match=HEARTBEAT_GDRIVE_ID):
        download_heartbeat(tmp_path / "hb", progress=False)


def test_download_heartbeat_gdown_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(**kwargs: object) -> str:
        raise gdown.exceptions.FileURLRetrievalError("Cannot retrieve the public link\nof the file.")

    monkeypatch.setattr(gdown, "download", failing)
    with pytest.raises(DataError, match="download failed") as info:
        download_heartbeat(tmp_path / "hb", progress=False)
    assert "\n" not in str(info.value)


def test_download_heartbeat_incomplete_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    partial = {f"heartbeat/{name}": b"x\n" for name in HEARTBEAT_FILES[:2]}
    monkeypatch.setattr(gdown, "download", _fake_gdown(calls, partial))
    with pytest.raises(DataError, match="ptbdb_normal.csv, ptbdb_abnormal.csv"):
        download_heartbeat(tmp_path / "hb", progress=False)


def test_download_heartbeat_corrupt_zip_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def corrupt(**kwargs: object) -> str:
        Path(str(kwargs["output"])).write_bytes(b"<html>quota exceeded</html>")
        return str(kwargs["output"])

    monkeypatch.setattr(gdown, "download", corrupt)
    dest = tmp_path / "hb"
    with pytest.raises(DataError, match="not a valid zip"):
        download_heartbeat(dest, progress=False)
    assert not (dest / "heartbeat.zip").exists()  # so gdown's resume=True will not reuse it


def test_a_download_that_fails_when_a_command_needs_the_data_says_how_to_give_a_local_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`arrhythmia train` with no --data on a machine offline: the error names --data, which the user needs."""
    from dataclasses import replace

    from arrhythmia.data import SOURCES, load_beats

    def offline(directory: Path) -> Path:
        raise DataError("https://physionet.org/files/mitdb/1.0.0/SHA256SUMS.txt: download failed (no network)")

    monkeypatch.setenv("ARRHYTHMIA_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(SOURCES, "mitdb", replace(SOURCES["mitdb"], download=offline))
    with pytest.raises(DataError, match=r"download failed \(no network\); with a copy of mitdb on disk, no download "):
        load_beats("mitdb")


def _unreachable_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_a_failed_download_leaves_no_folder_it_made_empty(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(server, {}, sums=f"{_sha(b'x')} sub/gone.dat\n")  # listed, then 404
    dest = tmp_path / "new" / "db"
    with pytest.raises(DataError, match="404"):
        _fetch(server, dest)
    assert not (tmp_path / "new").exists()
    dest.mkdir(parents=True)  # a folder that was there before stays
    with pytest.raises(DataError, match="404"):
        _fetch(server, dest)
    assert dest.is_dir() and not any(dest.iterdir())  # but not the subfolder made for the missing file

    def offline(**kwargs: object) -> str:
        raise requests.ConnectionError("no network")

    monkeypatch.setattr(gdown, "download", offline)
    with pytest.raises(DataError, match="download failed"):
        download_heartbeat(tmp_path / "hb" / "x", progress=False)
    assert not (tmp_path / "hb").exists()

    def interrupted(**kwargs: object) -> str:  # Ctrl-C midway: the part fetched stays, to resume from
        Path(f"{kwargs['output']}abc.part").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(gdown, "download", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_heartbeat(tmp_path / "hb2", progress=False)
    assert [p.name for p in (tmp_path / "hb2").iterdir()] == ["heartbeat.zipabc.part"]


def test_a_failed_download_says_how_to_do_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`arrhythmia download mitdb` offline, as README's Quick start says: the error names --data."""
    from dataclasses import replace

    from typer.testing import CliRunner

    from arrhythmia.cli import app
    from arrhythmia.data import SOURCES, load_beats

    url = _unreachable_url()
    hint = "; with a copy of mitdb on disk, no download is needed: point --data at its folder (--data DIR)"
    with pytest.raises(DataError, match="download failed") as info:
        download_physionet("mitdb/1.0.0", dest=tmp_path / "m", base_url=url, progress=False)
    assert str(info.value).endswith(hint) and "\n" not in str(info.value)

    def offline(**kwargs: object) -> str:
        raise requests.ConnectionError("no network")

    monkeypatch.setattr(gdown, "download", offline)
    with pytest.raises(DataError, match="download failed") as info:
        download_heartbeat(tmp_path / "hb", progress=False)
    assert str(info.value).endswith(hint.replace("mitdb", "heartbeat"))

    # The download command says it, and a command that downloads on first use says it once.
    monkeypatch.setenv("ARRHYTHMIA_DATA_DIR", str(tmp_path / "data"))
    physionet = replace(SOURCES["mitdb"], download=lambda d: download_physionet(dest=d, base_url=url, progress=False))
    monkeypatch.setitem(SOURCES, "mitdb", physionet)
    result = CliRunner().invoke(app, ["download", "mitdb", "--dest", str(tmp_path / "m")])
    assert isinstance(result.exception, DataError) and str(result.exception).endswith(hint)
    with pytest.raises(DataError) as info:
        load_beats("mitdb")
    assert str(info.value).endswith(hint) and str(info.value).count("--data DIR") == 1
