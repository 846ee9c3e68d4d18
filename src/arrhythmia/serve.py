"""``arrhythmia serve``: a local web app and REST API to review and correct a folder's recordings.

app = create_app("holter/", token="s3cret")            # FastAPI; uvicorn.run(app) serves it
The API is documented at /docs; the review store behind it is ``arrhythmia.review``.

One server per folder. Analyses run one at a time on a background thread with the same code as
``predict --report`` (``ReviewStore.analyse``); requests read the reviewed labels from memory and every
correction is on disk (fsync'ed) before it is answered. Responses about a recording carry its version
(JSON ``version`` and the ``ETag`` header); a change may send the version it was made against (``version`` in
the JSON body, or ``If-Match``), and a stale one is answered 409 with the current version.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import ipaddress
import json
import math
import os
import re
import secrets
import shutil
import socket
import threading
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import numpy as np
from fastapi import APIRouter, Body, Depends, FastAPI, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arrhythmia.data.download import safe_extract_zip
from arrhythmia.data.recording import PLAUSIBLE_FS, SIGNAL_SUFFIXES, Recording, is_ecg_rate
from arrhythmia.data.wfdb_source import MIXED_LEAD, choose_lead, with_signal_names
from arrhythmia.errors import ArrhythmiaError, DataError, one_line
from arrhythmia.predict import BeatModel
from arrhythmia.review import (
    RELABELLED,
    SIDECAR,
    NotFound,
    ReadOptions,
    ReviewStore,
    VersionConflict,
    find_recordings,
    recording_path,
    valid_name,
)
from arrhythmia.settings import fits

#: Files an upload may hold (directly or in a .zip): recordings and a WFDB record's signal and annotations.
UPLOAD_SUFFIXES = {*SIGNAL_SUFFIXES, ".atr"}
#: A .zip upload may unpack to at most this many times ``max_upload_mb``: recordings compress 2 to 5 times
#: (a CSV of a Holter the most), a zip bomb a thousand times, which would fill the folder's disk.
UNPACK_RATIO = 10
#: The most files a .zip upload may hold (Starlette's own limit on the files of one request).
MAX_UPLOAD_MEMBERS = 1000
#: The latest recordings whose ``RELABELLED`` the server keeps read (a few recordings' worth).
RELABELLED_KEPT = 16
EXPORTS = {
    "beats.csv": "text/csv",
    "summary.json": "application/json",
    "episodes.csv": "text/csv",
    "hourly.csv": "text/csv",
    "daily.csv": "text/csv",
    "families.csv": "text/csv",
    "report.html": "text/html",
    "events.csv": "text/csv",
}

#: What the review pages may load (``SecurityHeaders``): this server's scripts, styles and API, nothing inline
#: and nothing from elsewhere, and no other site may frame them (a hidden frame could make a reviewer's clicks
#: relabel beats). The data a page shows is text from outside (lead names, event notes): should it ever reach
#: the page as markup, no script in it runs.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: A file the API hands out (report.html, the CSVs) is a download; a browser that shows one anyway shows it as an
#: inert document of its own origin (``sandbox``): no script, nothing fetched, nothing of this server's reachable.
EXPORT_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
EXPORT_HEADERS = {"Content-Security-Policy": EXPORT_POLICY}
#: Headers every answer carries, unless a route set its own.
SECURITY_HEADERS = {
    "content-security-policy": PAGE_POLICY,
    "x-content-type-options": "nosniff",  # a CSV or JSON answer is never taken for a script or a page
    "x-frame-options": "DENY",  # frame-ancestors, for browsers that predate it
    "referrer-policy": "no-referrer",  # a recording's name in a URL stays on this machine
}


#: What ``serve`` says when it listens beyond loopback: the server speaks plain HTTP.
OPEN_HOST_WARNING = (
    "warning: plain HTTP: the token and the recordings cross the network unencrypted; serve on a network "
    "you trust, or behind an HTTPS reverse proxy"
)

#: Below this many characters a token is said to be easily guessed (``secrets.token_urlsafe()`` gives 43).
SHORT_TOKEN = 16
SHORT_TOKEN_WARNING = (
    'warning: a token this short is easily guessed; make one with: python -c "import secrets; '
    'print(secrets.token_urlsafe())"'
)

#: The file in the sidecar folder that a running server holds locked.
SERVER_LOCK = "server.lock"
#: What reading a CSV without a time column or a .npy file says without its sampling rate (``read_input``).
NEEDS_FS = "needs its sampling rate"
#: ... and what the server says instead, in the page's words and the API's (``fs``).
FS_MISSING = "the file does not say its sampling rate: give it (fs, Hz) and analyse again"


# --- The API's answers, as /docs describes them (documentation only: the routes answer the dicts they build).


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Shape):
    """An error, as every error of the API is answered: one line, naming the recording where there is one."""

    detail: str = Field(description="What was wrong, one line", examples=["r01: no such recording in the folder"])


class Stale(Problem):
    """409 for a change made against an older version of the recording's labels."""

    version: int = Field(description="The current version: read the labels again, then send the change against it")


class Uploaded(_Shape):
    name: str = Field(description="The (first) new recording's name in the API's paths: 'patch.npy'; a WFDB record's")
    names: list[str] = Field(description="Every recording the upload added (a .zip may hold several)")


class Queued(_Shape):
    name: str
    status: Literal["queued", "running"]
    joined: bool | None = Field(None, description="true where an analysis asked the same was already queued or running")


class PatientEvent(_Shape):
    time_s: float = Field(description="s from the recording's start")
    text: str


class Relabelled(_Shape):
    corrections: int = Field(description="The reviewer's labels the re-labelling went in with")
    changed: int = Field(description="Labels it changed beyond them (carried to families and timing groups)")


class RecordingAbout(_Shape):
    """A recording: its status and, once analysed, what its reviewed labels say. The fields from ``fs`` on are
    there once ``analysed`` is true."""

    name: str
    status: Literal["new", "queued", "running", "done", "failed"] = Field(
        description="new: never analysed; queued, running: an analysis is on its way; done; failed: see error"
    )
    stage: str | None = Field(None, description="While running: what the analysis is doing")
    error: str | None = Field(None, description="Where failed: why, one line")
    needs: Literal["fs"] | None = Field(None, description="Where failed for want of a setting: analyse with it")
    updated: str | None = Field(None, description="When the status last changed, ISO 8601 UTC")
    relabelled: Relabelled | None = Field(None, description="After a re-labelling with the corrections")
    version: int | None = Field(
        None, description="The labels' version (also the ETag): changes send it back; absent where unreadable"
    )
    analysed: bool
    beats: int | None = Field(None, description="Detected beats")
    fs: float | None = Field(None, description="Sampling rate of the lead analysed, Hz")
    duration_s: float | None = None
    lead: str | None = None
    start_time: str | None = Field(None, description="The wall-clock start the file gives, ISO 8601, or null")
    events: list[PatientEvent] | None = Field(None, description="The patient's events the file marks")
    classes: list[str] | None = Field(None, description="The labels a beat may take: N, S, V, F, Q")
    model: str | None = None
    can_undo: int | None = Field(None, description="Corrections that can be undone")
    per_class: dict[str, int] | None = Field(None, description="Beats per reviewed label")
    unsure_left: int | None = Field(None, description="Unsure beats (confidence under 0.5) nobody has reviewed")
    corrections_unmatched: int | None = Field(None, description="Corrections of beats this analysis did not detect")
    adaptation_changed_percent: float | None = Field(None, description="Share of labels the adaptation changed")
    review_recommended: bool | None = None
    review_above_percent: float | None = None
    summary: dict[str, Any] | None = Field(
        None,
        description="predict's summary.json of the reviewed labels (counts, heart rate, ectopy, episodes per "
        "type, HRV) and 'reviewed': what the reviewer changed; unless summary=false",
    )


class Beat(_Shape):
    sample: int = Field(description="The R peak, a sample index at the recording's rate (fs)")
    time_s: float = Field(description="The R peak, s from the start (between samples)")
    label: str = Field(description="The reviewed label: N, S, V, F or Q ('' for a beat that could not be cut)")
    model_label: str = Field(description="The analysis's label")
    reviewed: bool = Field(description="A reviewer set the label")
    confidence: float | None = Field(description="The network's own probability for its label, 0-1")
    family: int = Field(description="Its morphology family (-1: none)")
    label_before: str | None = Field(description="Where the review changed or set it: the model's label before")
    relabelled_from: str | None = Field(
        None, description="Where the latest re-labelling with the corrections changed it: the label before"
    )


class Question(Beat):
    reason: str = Field(description="The family or group of beats its answer speaks for")


class Change(_Shape):
    """What a correction (or an undo) did."""

    version: int = Field(description="The labels' new version")
    time: str = Field(description="When, ISO 8601 UTC")
    action: Literal["relabel", "undo"]
    changed: int = Field(description="Beats whose labels it set")
    beats: list[Beat] = Field(description="Those beats (the first 1,000)")
    per_class: dict[str, int]
    unsure_left: int
    can_undo: int
    undone: str | None = Field(None, description="For an undo: the correction undone, in words")


class Strip(_Shape):
    start_s: float
    end_s: float
    fs: float = Field(description="The recording's sampling rate, Hz")
    step_s: float = Field(description="Seconds between values (past 'points', min and max pairs: half a bin)")
    values: list[float | None] = Field(description="mV; null where a sample is missing")


class Overview(_Shape):
    bin_s: float
    duration_s: float
    heart_rate_bpm: list[float | None] = Field(description="Per bin; null without beats")
    counts: dict[str, list[int]] = Field(description="Per reviewed label present, beats per bin")
    version: int


class Family(_Shape):
    family: int
    beats: int
    model_label: str = Field(description="The analysis's label for the family")
    label: str = Field(description="Its beats' most common reviewed label")
    counts: dict[str, int] = Field(description="Its beats per reviewed label")
    pre_rr_ratio: float | None = Field(description="How premature its beats are against the patient's own rhythm")
    example_sample: int
    template: list[float] = Field(description="The family's median beat window at the model's rate (125 Hz)")


class Episode(_Shape):
    type: str = Field(description="AF, AFL, VT, SVT, bigeminy, pause, noise, ... (README: Rhythm episodes)")
    start_s: float
    end_s: float
    beats: int
    max_hr_bpm: float | None
    mean_hr_bpm: float | None


def _answers(model: Any, *errors: int, status: int = 200, stale: bool = False, **described: str) -> dict:
    """``responses`` of a route for /docs: its answer's ``model`` at ``status`` and each of ``errors`` as a
    ``Problem`` (a 409 as ``Stale`` where ``stale``: a change), said as ``described`` says (keys ``e404``, ...)
    or as ``ERRORS`` says."""
    out: dict[int | str, dict] = {status: {"model": model, "description": "Success"}}
    for code in errors:
        out[code] = {"model": Stale if code == 409 and stale else Problem}
        out[code]["description"] = described.get(f"e{code}", ERRORS[code])
    return out


#: What each error means, where a route does not say it otherwise.
ERRORS = {
    401: "Missing or wrong bearer token (a server started with --token)",
    403: "A request made by another site's page",
    404: "No such recording in the folder, or it is not analysed yet",
    409: "Conflict",
    413: "The upload is larger than the server takes (--max-upload-mb)",
    422: "Bad input: a parameter, body or file the server cannot use, said in one line",
}


@dataclass
class ServeConfig:
    """directory : the recordings' folder; token : the bearer token every API request must carry (None: no
    token, for 127.0.0.1 only); pretrained : the shipped model that labels (None: the default);
    max_upload_mb : the largest upload accepted; max_strip_s : the longest stretch of signal one request
    returns; strip_points : at most this many points per stretch (min/max pairs past it); cached_signals :
    recordings whose signals are kept open (memory-mapped) for strips."""

    directory: Path
    token: str | None = None
    pretrained: str | None = None
    max_upload_mb: float = 500.0
    max_strip_s: float = 60.0
    strip_points: int = 4000
    cached_signals: int = 2


def run_server(
    directory: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    pretrained: str | None = None,
    max_upload_mb: float = 500.0,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve ``directory`` with uvicorn until stopped (what ``arrhythmia serve`` does). A host other than
    loopback needs a ``token``; on loopback only loopback host names are answered (against DNS rebinding).
    One server per folder: a second one on the same folder is refused while the first runs, since each
    would count the corrections' versions on its own and overwrite the other's."""
    import uvicorn
    from filelock import FileLock, Timeout

    if not is_loopback(host) and not token:
        raise ArrhythmiaError(f"--host {host} is reachable from other machines: give --token TOKEN")
    hosts = sorted({host, "127.0.0.1", "localhost"}) if is_loopback(host) else None
    (_folder(directory) / SIDECAR).mkdir(exist_ok=True)
    lock = FileLock(_folder(directory) / SIDECAR / SERVER_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ArrhythmiaError(
            f"{directory}: another `arrhythmia serve` is serving this folder (stop it first: two servers "
            "would overwrite each other's corrections)"
        ) from None
    try:
        # Made under the lock: the app marks analyses a killed server left running as failed.
        app = create_app(directory, token, pretrained, max_upload_mb, allowed_hosts=hosts)
        listening = _listen(host, port)  # bound before it is announced: a busy port is the only line said
        try:
            announce(f"reviewing {directory} at http://{host}:{port}/ (API docs at /docs)")
            if hosts is None:  # reachable from the network, over plain HTTP
                announce(OPEN_HOST_WARNING)
            if token is not None and len(token) < SHORT_TOKEN:
                announce(SHORT_TOKEN_WARNING)
            uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run(sockets=[listening])
        finally:
            listening.close()
    finally:
        lock.release()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` for uvicorn to serve on; ArrhythmiaError (one line) when it cannot
    be (the port taken by another program, an address not of this machine)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listening = socket.socket(family, kind, protocol)
    except OSError as exc:
        raise ArrhythmiaError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart need not wait
        listening.bind(address)
    except OSError as exc:
        listening.close()
        taken = " (another program is using it: stop it or give --port)" if exc.errno == errno.EADDRINUSE else ""
        raise ArrhythmiaError(f"cannot serve on {host}:{port}: {exc.strerror or exc}{taken}") from None
    return listening


def _folder(directory: str | Path) -> Path:
    """``directory`` as a Path; ArrhythmiaError (one line) unless it is a folder."""
    if not Path(directory).is_dir():
        raise ArrhythmiaError(f"{directory}: not a folder")
    return Path(directory)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``localhost`` or an IP address) is this machine's loopback, reachable from it alone."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame) -> list[dict]:
    return _clean(frame.to_dict(orient="records"))


@dataclass
class Server:
    """What the app keeps between requests: the stores by name, the analysis worker, the loaded models and
    the recently read signals."""

    config: ServeConfig
    stores: dict[str, ReviewStore] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="analyse"))
    models: dict = field(default_factory=dict)
    signals: OrderedDict = field(default_factory=OrderedDict)
    relabelled: OrderedDict = field(default_factory=OrderedDict)
    #: By recording: what its latest queued analysis was asked (``_asked``), for a second request to join it.
    asked: dict = field(default_factory=dict)

    def store(self, name: str) -> ReviewStore:
        """The store of recording ``name`` (NotFound for a bad name, a missing recording or one that lies
        outside the folder)."""
        store = ReviewStore(self.config.directory, name)  # validates the name and the path every time
        with self.lock:
            return self.stores.setdefault(name, store)

    def model(self, pretrained: str | None) -> BeatModel:
        from arrhythmia.export import load_classifier

        name = pretrained or self.config.pretrained
        if name not in self.models:
            self.models[name] = load_classifier(pretrained_name=name)
        return self.models[name]

    def signal(self, store: ReviewStore) -> Recording:
        """The recording's analysed signal, memory-mapped (``ReviewStore.signal``), kept open for the
        ``cached_signals`` latest recordings."""
        return self._kept(self.signals, (store.name, store.generation()), store.signal, self.config.cached_signals)

    def relabelled_from(self, store: ReviewStore) -> dict[int, str]:
        """``{sample: label before}`` of the beats the current analysis's re-labelling with the corrections
        changed (``RELABELLED``); empty for an analysis that was no such re-labelling. Read once per file, kept
        for the ``RELABELLED_KEPT`` latest."""
        path = store.analysis() / RELABELLED
        try:
            key = (str(path), path.stat().st_mtime_ns)
        except OSError:  # not written (yet): asked again next time
            return {}

        return self._kept(self.relabelled, key, lambda: store.relabelled()[0], RELABELLED_KEPT)

    def _kept(self, table: OrderedDict, key: tuple, load: Callable[[], Any], limit: int) -> Any:
        """``table[key]``, loaded by ``load()`` (outside the lock: requests are answered in threads) where it is
        not there yet; the ``limit`` latest kept, the least recently asked for dropped."""
        with self.lock:
            if key in table:
                table.move_to_end(key)
                return table[key]
        value = load()
        with self.lock:
            table[key] = value
            while len(table) > limit:
                table.popitem(last=False)
        return value

    def analyse(self, store: ReviewStore, use_corrections: bool, options: ReadOptions | None = None) -> bool:
        """Queue the analysis of ``store`` with ``options`` (default: its saved ones; new ones are saved
        once the analysis succeeds). False, queuing nothing, while one of the recording is queued or running:
        the status is checked and set under the lock, so that two requests at once (a button pressed twice)
        queue one analysis, not two of the same recording one after the other."""
        options = options or store.options()
        asked = _asked(store, use_corrections, options)  # outside the lock: a request holding the store's takes it
        with self.lock:
            if store.status()["status"] in ("queued", "running"):
                return False
            store.set_status("queued")
            self.asked[store.name] = asked
        self.worker.submit(self._run, store, use_corrections, options)
        return True

    def joins(self, store: ReviewStore, use_corrections: bool, options: ReadOptions) -> bool:
        """Whether an analysis of ``store`` is queued or running that was asked the same (the same settings, the
        corrections as they are now): a second request for it is answered by the first rather than refused."""
        asked = _asked(store, use_corrections, options)
        with self.lock:
            return store.status()["status"] in ("queued", "running") and self.asked.get(store.name) == asked

    def _run(self, store: ReviewStore, use_corrections: bool, options: ReadOptions) -> None:
        try:
            store.set_status("running", stage="loading the model")
            model = self.model(options.pretrained)
            stage = lambda text: store.set_status("running", stage=text)  # noqa: E731
            before = store.labels_snapshot()
            corrections = len(store.reviewer_labels()) if use_corrections else 0
            summary = store.analyse(model, use_corrections, stage, options)
            about = {"beats": summary.get("beats", 0)}
            if before is not None and use_corrections:  # what re-labelling did, for the page to say
                about["relabelled"] = {"corrections": corrections, "changed": store.save_relabelled(before)}
            store.set_status("done", **about)
        except Exception as exc:  # the server keeps running; the reviewer sees the one line
            error = one_line(exc)
            if options.fs is None and NEEDS_FS in error:  # said for the command line: --fs
                store.set_status("failed", error=f"{store.name}: {FS_MISSING}", needs="fs")
            else:
                store.set_status("failed", error=said_in_folder(error, self.config.directory))


def _asked(store: ReviewStore, use_corrections: bool, options: ReadOptions) -> tuple:
    """What an analysis of ``store`` is asked: its settings and, re-labelling with the corrections, the version
    of the corrections it starts from (one made since is not in a re-labelling already running)."""
    version = store.state().version if use_corrections and store.generation() is not None else None
    return use_corrections, json.dumps(asdict(options), sort_keys=True), version


def said_in_folder(text: str, directory: Path) -> str:
    """``text`` (an error line) as an answer says it: a file of the served folder ``directory`` by its name in
    the folder (``/home/ward3/holter/100.hea: ...`` is ``100.hea: ...``) and the folder itself as "the
    folder", so that an answer, perhaps to another machine, tells nothing of where the server keeps its files
    (a user's name, the hospital's shares)."""
    folder = str(directory)
    if len(Path(folder).parts) < 2:  # the root: every path would go
        return text
    return text.replace(folder + os.sep, "").replace(folder, "the folder")


def _version_of(body_version: Any, if_match: str | None) -> int | None:
    """The version a change was made against: the body's ``version``, else ``If-Match`` (``"7"`` or 7)."""
    value = body_version if body_version is not None else (if_match.strip().strip('W/"') if if_match else None)
    if value is None or value == "*":
        return None
    # A whole number, as the answers give it: never 1.5 or true taken for 1, nor an infinity (JSON's 1e400) a 500.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if fits(value, int) and value >= 0:
        return value
    raise DataError(f"version {value!r} is not a version number (a whole number, as the answers give it)")


def _check_options(source: Path, name: str, options: ReadOptions) -> None:
    """One-line DataError for analysis settings that cannot work, before any is kept or queued: ``fs`` a
    sampling rate an ECG is recorded at, ``lead`` one of the recording's (``_check_lead``), ``pretrained`` a
    shipped model, ``adapt`` true, false or adaptation settings (``AdaptConfig``), ``ask`` a whole number
    of beats."""
    from arrhythmia import pretrained
    from arrhythmia.adapt.pipeline import AdaptConfig

    if options.fs is not None and (
        isinstance(options.fs, bool) or not isinstance(options.fs, int | float) or not is_ecg_rate(options.fs)
    ):
        low, high = PLAUSIBLE_FS
        raise DataError(f"{name}: fs {options.fs!r} is not a sampling rate an ECG has ({low:g}-{high:,g} Hz)")
    if options.pretrained is not None and options.pretrained not in pretrained.available():
        raise DataError(
            f"{name}: no shipped model {options.pretrained!r} (available: {', '.join(pretrained.available())})"
        )
    if not isinstance(options.adapt, bool | dict):
        raise DataError(f"{name}: adapt is true, false or a dict of adaptation settings")
    try:
        AdaptConfig.from_value(options.adapt)
    except ArrhythmiaError as exc:
        raise DataError(f"{name}: {exc}") from None
    if not fits(options.ask, int) or options.ask < 0:
        raise DataError(f"{name}: ask must be a whole number of beats, 0 or more")
    _check_lead(source, name, options.lead)


def _check_lead(source: Path, name: str, lead: Any) -> None:
    """One-line DataError unless ``lead`` is a lead's name or index, and, where the recording's header says
    its leads without reading the signal (a WFDB record of one segment, an EDF or BDF file), one of them;
    for a CSV or .npy file the analysis says (and its settings are kept only if it succeeds)."""
    if lead is None:
        return
    if not (isinstance(lead, str) and lead.strip()) and not (fits(lead, int) and lead >= 0):
        raise DataError(f"{name}: lead {lead!r} is not a lead's name or index")
    if isinstance(lead, str) and lead.startswith(f"{MIXED_LEAD}:"):
        return  # made of the record's leads, as read_input makes it
    leads = None
    if Path(f"{source}.hea").is_file():
        import wfdb

        with contextlib.suppress(Exception):  # an unreadable header is the analysis's to report
            header = wfdb.rdheader(str(source))
            leads = None if isinstance(header, wfdb.MultiRecord) else with_signal_names(header).sig_name
    elif source.suffix.lower() in (".edf", ".bdf"):
        import pyedflib

        with contextlib.suppress(Exception), pyedflib.EdfReader(str(source)) as reader:
            leads = [str(n).strip() for n in reader.getSignalLabels()]
    if leads is not None:
        choose_lead(leads, lead, name)


def _is_beat_change(item: Any) -> bool:
    """``{"sample": S, "label": L}`` and nothing else."""
    return isinstance(item, dict) and set(item) == {"sample", "label"}


def _versioned(payload: dict, version: int, status_code: int = 200) -> JSONResponse:
    return JSONResponse(_clean(payload), status_code=status_code, headers={"ETag": f'"{version}"'})


def create_app(
    directory: str | Path,
    token: str | None = None,
    pretrained: str | None = None,
    max_upload_mb: float = 500.0,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The review app for the recordings in ``directory`` (see the module docstring). With ``token``, every
    API request needs ``Authorization: Bearer TOKEN`` (401 otherwise); the HTML pages and /docs hold no
    data and load without it, the page asks for the token once and keeps it for the browser session.
    A request body over ``max_upload_mb`` is refused (413) before it is parsed. ``allowed_hosts``: the only
    ``Host`` headers answered (against DNS rebinding; the CLI sets the loopback names when it serves on
    127.0.0.1). A change (POST, PATCH) sent from another site's page (an ``Origin`` not this server's) is
    refused with 403, so a page elsewhere cannot use a token-less server on this machine."""
    directory = _folder(directory)
    server = Server(ServeConfig(directory.resolve(), token, pretrained, max_upload_mb))
    _recover(server)
    bearer = HTTPBearer(auto_error=False, description="The server's --token")

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    app = ReviewApp(
        title="arrhythmia review",
        summary="Review and correct the beat labels of a folder's recordings.",
        version="1",
        max_body_size=int(max_upload_mb * 2**20),
        docs_url=None,  # served by _add_docs from this machine; ReDoc, which only a CDN serves, not at all
        redoc_url=None,
    )
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.state.server = server

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": said_in_folder(str(exc), server.config.directory)}, status_code=404)

    @app.exception_handler(VersionConflict)
    async def conflict(request: Request, exc: VersionConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "version": exc.version}, status_code=409)

    @app.exception_handler(ArrhythmiaError)
    async def bad_input(request: Request, exc: ArrhythmiaError) -> JSONResponse:
        return JSONResponse({"detail": said_in_folder(str(exc), server.config.directory)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own checks (a query or form field of the wrong type) as one line, as every other error."""
        first = exc.errors()[0] if exc.errors() else {}
        location = tuple(first.get("loc", ()))
        if location[:1] == ("body",):  # said of the body, not of pydantic's names for it ("1", "dict[any,any]")
            if first.get("type") == "json_invalid":
                detail = "the request body is not valid JSON"
            elif first.get("type") == "missing":
                detail = "the request needs a JSON body"
            else:
                detail = f"the request body: {first.get('msg', 'not valid')}"
            return JSONResponse({"detail": detail}, status_code=422)
        where = ".".join(str(part) for part in location[1:]) or "the request"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'not valid')}"}, status_code=422)

    every = {code: {"model": Problem, "description": ERRORS[code]} for code in (401, 403, 422)}
    api = APIRouter(prefix="/api", dependencies=[Depends(authorised), Depends(same_origin)], responses=every)
    _add_api(api, server)
    app.include_router(api)
    _add_pages(app)
    _add_docs(app)
    return app


class ReviewApp(FastAPI):
    """FastAPI whose answer to a body over ``max_body_size`` says the limit, in JSON (``TooLargeAsJSON``)."""

    def build_middleware_stack(self) -> ASGIApp:
        # Outside every middleware: the body limit sends its 413 past the ones added with add_middleware, and
        # every answer (the 400 of TrustedHostMiddleware and that 413 too) carries the security headers.
        return SecurityHeaders(TooLargeAsJSON(super().build_middleware_stack(), self.max_body_size))


class SecurityHeaders:
    """``SECURITY_HEADERS`` on every HTTP answer that does not set its own; ``Cache-Control: no-store`` on the
    API's, whose answers are a patient's data (not to be kept in a shared workstation's browser cache)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = dict(SECURITY_HEADERS)
        if scope.get("path", "").startswith("/api/"):
            extra["cache-control"] = "no-store"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.decode("latin-1").lower() for name, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in extra.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TooLargeAsJSON:
    """The body limit's answer (413, plain text "Content Too Large", sent by Starlette before any handler
    runs) as JSON that says the limit, as every other error is: the page shows ``detail``."""

    def __init__(self, app: ASGIApp, max_body_size: int | None) -> None:
        self.app = app
        self.detail = (
            f"the upload is larger than this server takes: {(max_body_size or 0) / 2**20:g} MB "
            "(`arrhythmia serve --max-upload-mb` sets it)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        replaced = False

        async def send_json(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                body = json.dumps({"detail": self.detail}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 413, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            elif not replaced:  # the plain text it replaced is dropped
                await send(message)

        await self.app(scope, receive, send_json)


def same_origin(request: Request) -> None:
    """403 for a change sent by a page of another origin (a browser always sends ``Origin`` with one), and
    for any request a browser says another site's page made (``Sec-Fetch-Site``: ``cross-site``, or
    ``same-site`` for another port of this host): an ``<img>`` elsewhere pointing at an export made a
    token-less server write it (and spend seconds on its report). A request that says nothing (curl, a
    script) or ``same-origin`` / ``none`` (the user's own address bar) is answered."""
    site = request.headers.get("sec-fetch-site")
    if site not in (None, "same-origin", "none"):
        raise HTTPException(403, f"a request made by another site's page ({site}) is not accepted")
    origin = request.headers.get("origin")
    if request.method in ("GET", "HEAD", "OPTIONS") or origin is None:
        return
    if urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, f"a change from another site ({origin}) is not accepted")


def _recover(server: Server) -> None:
    """An analysis a killed server left queued or running is marked failed, with why."""
    sidecar = server.config.directory / SIDECAR
    for name in find_recordings(server.config.directory):
        if (sidecar / name / "status.json").exists():
            try:
                store = server.store(name)
            except ArrhythmiaError:  # not servable (e.g. its signal files lie outside the folder)
                continue
            if store.status()["status"] in ("queued", "running"):
                store.set_status("failed", error="interrupted: the server stopped during the analysis; analyse again")


def _describe(store: ReviewStore, with_summary: bool) -> tuple[dict, int]:
    status = store.status()
    about: dict = {"name": store.name, **status, "version": 0}
    if store.generation() is not None:
        state = store.state()
        meta = store.meta()
        about.update(
            version=state.version,
            analysed=True,
            fs=meta["fs"],
            duration_s=meta["n_samples"] / meta["fs"],
            lead=meta["lead"],
            start_time=meta.get("start_time"),  # the wall-clock start the file gave (ISO 8601), or None
            events=[{"time_s": t, "text": text} for t, text in meta.get("events", [])],  # the patient's events
            classes=meta["classes"],
            model=meta["model"],
            can_undo=len(state.undo),
            beats=len(state.samples),
            per_class=store.counts(),
            unsure_left=store.unsure_left(),
            corrections_unmatched=len(state.unmatched),  # of beats this analysis did not detect: not applied
            adaptation_changed_percent=meta.get("adaptation_changed_percent"),
            review_recommended=meta.get("review_recommended", False),
            review_above_percent=meta.get("review_above_percent"),
        )
        if with_summary:
            about["summary"] = store.summary()
    else:
        about["analysed"] = False
    return about, about["version"]


def _add_api(api: APIRouter, server: Server) -> None:
    config = server.config

    @api.get(
        "/recordings",
        summary="The folder's recordings with their status",
        response_model=None,
        responses=_answers(list[RecordingAbout]),
    )
    def list_recordings() -> list[dict]:
        """Every recording of the folder; one that cannot be served (signal files outside the folder) is left
        out, one whose header cannot be read is listed as failed with why."""
        listed = []
        for name in find_recordings(config.directory):
            try:
                listed.append(_describe(server.store(name), False)[0])
            except NotFound:
                continue
            except ArrhythmiaError as exc:
                error = said_in_folder(str(exc), config.directory)
                listed.append({"name": name, "status": "failed", "error": error, "analysed": False})
        return _clean(listed)

    @api.post(
        "/recordings",
        status_code=201,
        summary="Upload a recording (files, or a .zip of them)",
        response_model=None,
        responses=_answers(Uploaded, 409, 413, status=201, e409="A recording of that name is already in the folder"),
    )
    def upload(
        files: Annotated[
            list[UploadFile],
            File(description="A recording's files (.hea with .dat, .edf, .bdf, .csv, .npy), or a .zip"),
        ],
        fs: Annotated[float | None, Form(description="Sampling rate, Hz (CSV without time column, .npy)")] = None,
        lead: Annotated[str | None, Form()] = None,
        analyse: Annotated[bool, Form(description="Queue the analysis at once")] = False,
    ) -> dict:
        """Multipart form: ``files`` (one or more), ``fs``, ``lead``, ``analyse``. Answers the new recordings'
        names, which the other paths take. A name already in the folder is refused (409), and so is a .npy
        without ``fs`` (422); the file's samples are read by its analysis: an unreadable file is accepted and
        its analysis fails (``status`` failed, ``error`` saying why). With ``analyse``, or after ``POST
        /recordings/{name}/analyse``, poll ``GET /recordings/{name}`` until ``status`` is done or failed."""
        options = ReadOptions(fs=fs, lead=lead, pretrained=config.pretrained)

        def settle(names: list[str]) -> None:
            """Each new recording's store, with how to read it; a name whose store cannot be made undoes
            the upload (its sidecar folders too)."""
            try:
                for name in names:
                    server.store(name).set_options(options)
            except Exception:
                for name in names:
                    with server.lock:
                        server.stores.pop(name, None)
                    shutil.rmtree(config.directory / SIDECAR / name, ignore_errors=True)
                raise

        def check(path: Path, name: str) -> None:
            if fs is None and path.suffix.lower() == ".npy":
                raise DataError(f"{name}: a .npy file does not say its sampling rate: give it (fs, Hz) with the upload")
            _check_options(path, name, options)

        names = _store_upload(config.directory, files, check, settle, UNPACK_RATIO * config.max_upload_mb * 2**20)
        if analyse:
            for name in names:
                server.analyse(server.store(name), False)
        return {"name": names[0], "names": names}

    @api.post(
        "/recordings/{name}/analyse",
        status_code=202,
        summary="Analyse (again) in the background",
        response_model=None,
        responses=_answers(Queued, 404, 409, status=202, e409="An analysis asked otherwise is queued or running"),
    )
    def analyse(
        name: str,
        settings: Annotated[dict | None, Body(examples=[{"use_corrections": True}, {"fs": 250, "lead": "II"}])] = None,
    ) -> dict:
        """Queue the analysis. Body (optional): ``fs``, ``lead``, ``pretrained``, ``adapt``, ``ask`` (how to
        read and label it and how many beats to ask the reviewer about, kept for later), ``use_corrections``:
        re-label with the reviewer's labels as ``predict --labels`` does (those beats keep them; their
        families and timing groups follow them). While an analysis of the recording is queued or running, a
        request asking the same (a button pressed twice) joins it (202, ``joined``: one analysis runs); one
        asking otherwise is refused (409)."""
        store = server.store(name)
        settings = settings or {}
        unknown = set(settings) - {"fs", "lead", "pretrained", "use_corrections", "adapt", "ask"}
        if unknown:
            raise DataError(f"{name}: unknown analysis settings {', '.join(sorted(unknown))}")
        use_corrections = settings.get("use_corrections", False)
        if not isinstance(use_corrections, bool):
            raise DataError(f"{name}: use_corrections is true or false")
        options = store.options()
        for key in ("fs", "lead", "pretrained", "adapt", "ask"):
            if key in settings:
                setattr(options, key, settings[key])
        _check_options(store.source, name, options)
        if not server.analyse(store, use_corrections, options):  # the settings are kept once it succeeds
            status = store.status()["status"]
            if server.joins(store, use_corrections, options):  # the same asked twice (a double click): one analysis
                return {"name": name, "status": status, "joined": True}
            raise HTTPException(409, f"{name}: already {status}")
        return {"name": name, "status": "queued"}

    @api.get(
        "/recordings/{name}",
        summary="Status, and the reviewed labels' summary once analysed",
        response_model=None,
        responses=_answers(RecordingAbout, 404, e404="No such recording in the folder"),
    )
    def recording(
        name: str,
        summary: Annotated[bool, Query(description="Include the summary (recomputed once per version)")] = True,
    ) -> JSONResponse:
        """``status``; once analysed also ``version``, ``per_class`` (the reviewed labels' counts), ``unsure_left``
        (unsure beats not yet reviewed), ``fs``,
        ``duration_s``, ``classes`` and, unless ``summary=false``, ``summary``: ``predict``'s summary of the
        reviewed labels (counts, heart rate, ectopy, episodes per type, HRV) and what the reviewer changed."""
        about, version = _describe(server.store(name), summary)
        return _versioned(about, version)

    @api.get(
        "/recordings/{name}/beats",
        summary="The beats (sample, time_s, label, model_label, ...)",
        response_model=None,
        responses=_answers(list[Beat], 404),
    )
    def beats(
        name: str,
        start_s: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
        end_s: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    ) -> JSONResponse:
        """The beats from ``start_s`` to ``end_s`` s; a beat whose label the latest re-labelling with the
        corrections changed also has ``relabelled_from``, the reviewed label it had before."""
        store = server.store(name)
        with store.lock:
            rows = store.beats_between(start_s, end_s)
            version = store.state().version
            was = server.relabelled_from(store)
        for row in rows if was else ():
            if row["sample"] in was:
                row["relabelled_from"] = was[row["sample"]]
        return JSONResponse(_clean(rows), headers={"ETag": f'"{version}"'})

    @api.get(
        "/recordings/{name}/beats/next",
        summary="The next (or previous) beat, of a label if given; with unsure, one not reviewed and unsure",
        response_model=None,
        responses=_answers(Beat, 404, e404="No such recording, not analysed, or no such beat"),
    )
    def next_beat(
        name: str,
        after_s: float,
        label: str | None = None,
        backwards: bool = False,
        unsure: bool = False,
    ) -> dict:
        beat = server.store(name).next_beat(after_s, label, backwards, unsure)
        if beat is None:
            which = " ".join(w for w in ("earlier" if backwards else "later", "unsure" if unsure else "", label) if w)
            raise HTTPException(404, f"{name}: no {which} beat")
        return _clean(beat)

    @api.patch(
        "/recordings/{name}/beats",
        summary="Relabel beats or a whole family",
        response_model=None,
        responses=_answers(Change, 404, 409, stale=True, e409="Stale: the labels changed since the version sent"),
    )
    def patch_beats(
        name: str,
        change: Annotated[
            dict | list,
            Body(
                examples=[
                    {"sample": 1907, "label": "V", "version": 3},
                    [{"sample": 1907, "label": "V"}, {"sample": 2300, "label": "N"}],
                    {"family": 2, "label": "S", "version": 3},
                ]
            ),
        ],
        if_match: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """``{"sample": S, "label": L}``, a list of them, ``{"beats": [...]}`` or ``{"family": F, "label":
        L}``; the version it was made against in ``version`` or ``If-Match`` (409 when stale). Saved
        before it is answered; answers the new version, the beats changed and the counts per class."""
        store = server.store(name)
        body = change if isinstance(change, dict) else {"beats": change}
        version = _version_of(body.get("version"), if_match)
        forms = [form for form in ("family", "sample", "beats") if form in body]
        if len(forms) != 1:  # one change per request: a sample beside a family would be silently ignored
            raise DataError(f"{name}: give {{sample, label}}, a list of them, or {{family, label}}: one of them")
        allowed = {"beats": {"beats", "version"}}.get(forms[0], {forms[0], "label", "version"})
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise DataError(f"{name}: unknown fields {', '.join(unknown)} in a {forms[0]} change")
        if forms[0] == "family":
            if not fits(body["family"], int) or not isinstance(body.get("label"), str):
                raise DataError(f"{name}: a family change needs an integer family and a label")
            done = store.relabel_family(body["family"], body["label"], version)
        else:
            items = body["beats"] if forms[0] == "beats" else [{k: v for k, v in body.items() if k != "version"}]
            if not isinstance(items, list) or not items or not all(_is_beat_change(i) for i in items):
                raise DataError(f"{name}: give {{sample, label}}, a list of them, or {{family, label}}")
            if not all(fits(i["sample"], int) and isinstance(i["label"], str) for i in items):
                raise DataError(f"{name}: a sample is an integer and a label a string")
            done = store.relabel([i["sample"] for i in items], [i["label"] for i in items], version)
        return _versioned(done, done["version"])

    @api.post(
        "/recordings/{name}/undo",
        summary="Undo the latest correction",
        response_model=None,
        responses=_answers(Change, 404, 409, stale=True, e409="Stale: the labels changed since the version sent"),
    )
    def undo(
        name: str,
        body: Annotated[dict | None, Body(examples=[{"version": 4}])] = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        done = server.store(name).undo(_version_of((body or {}).get("version"), if_match))
        return _versioned(done, done["version"])

    @api.get(
        "/recordings/{name}/signal",
        summary="A stretch of the signal, for the strip",
        response_model=None,
        responses=_answers(Strip, 404),
    )
    def signal(
        name: str,
        start_s: Annotated[float, Query(ge=0, allow_inf_nan=False)] = 0.0,
        end_s: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
        points: Annotated[int | None, Query(ge=100, le=20000)] = None,
    ) -> dict:
        """At most ``max_strip_s`` (60 s) of signal from ``start_s``; past ``points`` values (default 4,000)
        each run of samples is sent as its minimum and maximum, so no QRS complex is lost."""
        store = server.store(name)
        store.analysis()
        end_s = start_s + 10.0 if end_s is None else end_s
        if end_s <= start_s or end_s - start_s > config.max_strip_s:
            raise DataError(f"{name}: a stretch is more than 0 and at most {config.max_strip_s:g} s long")
        recording = server.signal(store)
        fs = recording.fs
        lo, hi = int(start_s * fs), min(int(np.ceil(end_s * fs)), len(recording.signal))
        values = recording.signal[lo : max(hi, lo)]
        limit = points or config.strip_points
        step = 1.0 / fs
        if len(values) > limit:
            per = int(np.ceil(len(values) / (limit // 2)))
            cut = len(values) // per * per
            blocks = values[:cut].reshape(-1, per)
            pairs = np.column_stack([np.nanmin(blocks, axis=1), np.nanmax(blocks, axis=1)])
            values, step = pairs.ravel(), per / fs / 2
        values = np.round(values.astype(np.float64), 4)
        return {
            "start_s": lo / fs,
            "end_s": hi / fs,
            "fs": fs,
            "step_s": step,
            "values": [None if not math.isfinite(v) else v for v in values.tolist()],
        }

    @api.get(
        "/recordings/{name}/overview",
        summary="Heart rate and beats per class over the whole recording",
        response_model=None,
        responses=_answers(Overview, 404),
    )
    def overview(name: str, bin_s: Annotated[float | None, Query(ge=1, allow_inf_nan=False)] = None) -> dict:
        return _clean(server.store(name).overview(bin_s))

    @api.get(
        "/recordings/{name}/families",
        summary="The morphology families: counts, labels, templates",
        response_model=None,
        responses=_answers(list[Family], 404),
    )
    def families(name: str) -> list[dict]:
        return _clean(server.store(name).families())

    @api.get(
        "/recordings/{name}/questions",
        summary="The beats whose labels would settle the most (assisted mode)",
        response_model=None,
        responses=_answers(list[Question], 404),
    )
    def questions(name: str) -> list[dict]:
        """The beats the analysis asks about (``predict --ask``), in order: each beat with its reviewed label,
        whether a reviewer set it, and ``reason``, the family or group of beats its answer speaks for once the
        recording is re-labelled with the corrections."""
        return _clean(server.store(name).questions())

    @api.get(
        "/recordings/{name}/episodes",
        summary="The rhythm episodes of the reviewed labels",
        response_model=None,
        responses=_answers(list[Episode], 404),
    )
    def episodes(name: str) -> list[dict]:
        return _records(server.store(name).rhythm()["episodes"])

    @api.get(
        "/recordings/{name}/annotations",
        summary="The reviewed labels as a WFDB annotation file (MIT symbols N, S, V, F, Q)",
        response_class=FileResponse,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "NAME.rev, WFDB's annotation format"},
            404: {"model": Problem, "description": ERRORS[404]},
        },
    )
    def annotations(name: str) -> FileResponse:
        store = server.store(name)
        with store.lock:
            path = store.write_annotations(store.folder / "export")
        return FileResponse(path, media_type="application/octet-stream", filename=path.name, headers=EXPORT_HEADERS)

    @api.get(
        "/recordings/{name}/export/{what}",
        summary="A reviewed output: beats.csv, report.html, ...",
        response_class=FileResponse,
        responses={
            200: {
                "content": {media: {} for media in sorted(set(EXPORTS.values()))},
                "description": f"The file, as predict writes it: one of {', '.join(EXPORTS)}",
            },
            404: {"model": Problem, "description": "No such recording or export, or the recording's outputs hold none"},
        },
    )
    def export(name: str, what: str) -> FileResponse:
        if what not in EXPORTS:
            raise HTTPException(404, f"no export {what!r} (one of {', '.join(EXPORTS)})")
        store = server.store(name)
        report = what == "report.html"  # the report's figures take most of an export's time: only when asked
        folder = store.exported(report)
        if folder is None:
            store.export(report=report)
            folder = store.folder / "reviewed"
        if not (folder / what).is_file():  # daily.csv of a recording of a day or less, families.csv unadapted
            raise HTTPException(404, f"{store.name}: its reviewed outputs hold no {what}")
        filename = f"{store.name}-reviewed-{what}"
        return FileResponse(folder / what, media_type=EXPORTS[what], filename=filename, headers=EXPORT_HEADERS)


def _store_upload(
    directory: Path,
    files: list[UploadFile],
    check: Callable[[Path, str], None],
    settle: Callable[[list[str]], None],
    max_unpacked: float = math.inf,
) -> list[str]:
    """Save an upload's files (a .zip is unpacked with ``safe_extract_zip``) flat into ``directory`` and
    return the recordings it brought. All or nothing: every file name must be a plain name of an allowed type
    that is not in the folder yet, and every recording one the server can serve (a readable WFDB header
    naming only files beside it, ``recording_path``) that passes ``check(path, name)``; it is all checked
    in a staging folder first, and ``settle(names)`` runs once the files are in the folder, which takes
    them out again if it fails. Otherwise nothing is kept (422, or 409 for a name that exists). A .zip is
    looked into before anything of it is unpacked (``_check_zip``): its files must be ones an upload may hold
    and unpack to at most ``max_unpacked`` bytes in all."""
    staging = directory / SIDECAR / ".uploads" / uuid.uuid4().hex
    flat = staging / "flat"  # the files as they will lie in the folder, so that they are checked as they will be read
    flat.mkdir(parents=True)
    moved: list[Path] = []
    try:
        kept: dict[str, Path] = {}
        for upload in files:
            name = Path(upload.filename or "").name
            if not name or name != (upload.filename or "") or not valid_name(name):
                raise DataError(f"{upload.filename!r}: not a plain file name")
            target = staging / name
            with open(target, "wb") as out:
                shutil.copyfileobj(upload.file, out, 1 << 20)
            if name.lower().endswith(".zip"):
                _check_zip(target, name, max_unpacked)
                for path in safe_extract_zip(target, staging / f"{name}.d"):
                    _keep(kept, path.name, path, f"{name}: member {path.name!r}")
            else:
                _keep(kept, name, target, repr(name))
        for name, path in kept.items():
            path.replace(flat / name)
        names = sorted(find_recordings(flat))  # a multi-segment record once, by its master header
        if not names:
            raise DataError("the upload holds no recording (.hea with its .dat, .edf, .bdf, .csv or .npy)")
        for name in names:
            try:
                check(recording_path(flat, name), name)
            except ArrhythmiaError as exc:  # said of the file's name, not of the staging folder
                text = str(exc).replace(f"{flat}{os.sep}", "").replace(str(flat), "the upload")
                raise DataError(text) from None
        with _UPLOADING:  # two uploads of one name at once: the second finds the first's files
            taken = [n for n in kept if (directory / n).exists()]
            if taken:
                raise HTTPException(409, f"{taken[0]}: already in the folder")
            for name in kept:
                (flat / name).replace(directory / name)
                moved.append(directory / name)
            settle(names)
        moved.clear()
        return names
    finally:
        for path in moved:  # settling failed: the upload leaves nothing behind
            path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


#: Held while an upload's files go into the folder.
_UPLOADING = threading.Lock()


def _check_zip(path: Path, name: str, max_unpacked: float) -> None:
    """Refuse the .zip upload ``name`` (saved at ``path``) before it is unpacked when a file in it is not one an
    upload may hold, it holds more than ``MAX_UPLOAD_MEMBERS`` files or its files come to more than
    ``max_unpacked`` bytes (a zip bomb): DataError (422). The sizes are the ones the archive declares, which
    unpacking holds each file to. A file that is not a readable zip is left to ``safe_extract_zip`` to say."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return
    if len(members) > MAX_UPLOAD_MEMBERS:
        raise DataError(f"{name}: holds {len(members):,} files, more than an upload takes ({MAX_UPLOAD_MEMBERS:,})")
    for info in members:
        _check_upload_name(info.filename.replace("\\", "/").rsplit("/", 1)[-1], f"{name}: member {info.filename!r}")
    unpacked = sum(info.file_size for info in members)
    if unpacked > max_unpacked:  # 422 as any refused upload: a 413 is the body limit's (TooLargeAsJSON)
        raise DataError(
            f"{name}: unpacks to {unpacked / 2**20:,.0f} MB, more than this server unpacks from an upload: "
            f"{max_unpacked / 2**20:,.0f} MB ({UNPACK_RATIO} times `arrhythmia serve --max-upload-mb`)"
        )


def _check_upload_name(name: str, what: str) -> None:
    """DataError naming ``what`` unless ``name`` is a plain file name of a type an upload may hold."""
    if not valid_name(name) or Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise DataError(f"{what}: not a plain name of a {', '.join(sorted(UPLOAD_SUFFIXES))} file")


def _keep(kept: dict[str, Path], name: str, path: Path, what: str) -> None:
    _check_upload_name(name, what)
    if name in kept:
        raise DataError(f"{what}: two files named {name!r}")
    kept[name] = path


def _add_docs(app: FastAPI) -> None:
    """/docs: the API in Swagger UI, its script and style served from this machine (the package
    ``swagger-ui-bundle-v2``) rather than FastAPI's CDN, so that the docs of an offline tool work offline."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
        # The page starts Swagger UI with an inline script: that one script, by its hash, and no other.
        inline = re.findall(r"<script>(.*?)</script>", bytes(page.body).decode(), flags=re.DOTALL)
        hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline)
        page.headers["content-security-policy"] = PAGE_POLICY.replace(
            "script-src 'self'", f"script-src 'self' {hashes}"
        ).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")  # Swagger UI styles its elements inline
        return page


def _add_pages(app: FastAPI) -> None:
    web = resources.files("arrhythmia") / "web"

    def page(file: str) -> HTMLResponse:
        return HTMLResponse((web / file).read_text(encoding="utf-8"))

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return page("index.html")

    @app.get("/recordings/{name}", include_in_schema=False)
    def review(name: str) -> HTMLResponse:
        if not valid_name(name):
            raise HTTPException(404, "not a recording name")
        return page("review.html")

    app.mount("/static", StaticFiles(directory=str(web)), name="static")
