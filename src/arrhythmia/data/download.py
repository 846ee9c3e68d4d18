"""Fetch the raw data sets: PhysioNet databases (checksummed, resumable) and the Heartbeat CSVs.

PhysioNet publishes a ``SHA256SUMS.txt`` next to every database version, so a download can be
verified file by file, resumed after an interruption, and repeated cheaply (files whose checksum
already matches are not fetched again). The Heartbeat CSVs of Kachuee et al. live on Google
Drive, which only ``gdown`` can reliably fetch.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import gdown
import gdown.exceptions
import platformdirs
import requests
from tqdm import tqdm

from arrhythmia.data.cache import file_hash
from arrhythmia.errors import DataError, one_line
from arrhythmia.files import atomic_write_bytes

PHYSIONET_URL = "https://physionet.org/files/"
MITDB = "mitdb/1.0.0"

HEARTBEAT_GDRIVE_ID = "1xAs-CjlpuDqUT2EJUVR5cPuqTUdw2uQg"
#: The four CSVs of the Heartbeat archive (the MIT-BIH pair, then the PTB pair).
HEARTBEAT_FILES = ("mitbih_train.csv", "mitbih_test.csv", "ptbdb_normal.csv", "ptbdb_abnormal.csv")

SUMS_NAME = "SHA256SUMS.txt"
# Network reads are small (64 KiB): when a connection drops, urllib3 discards the partly filled chunk it
# was assembling, so the chunk size bounds what an interruption loses from the resumable .part.
STREAM_CHUNK_SIZE = 1 << 16
# (connect, read) seconds: fail fast on an unreachable host, tolerate a slow server mid-stream.
TIMEOUT = (10.0, 60.0)

# gdown >= 6 raises on failure (older versions returned None); DownloadError only exists in >= 6.
_GDOWN_ERRORS: tuple[type[BaseException], ...] = tuple(
    getattr(gdown.exceptions, name)
    for name in ("DownloadError", "FileURLRetrievalError")
    if hasattr(gdown.exceptions, name)
) + (requests.RequestException, OSError)

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def default_data_dir() -> Path:
    """Directory under which downloaded data sets are stored.

    Returns
    -------
    Path
        ``$ARRHYTHMIA_DATA_DIR`` when that variable is set (and not empty), else the per-user
        cache directory ``<user cache>/arrhythmia/data``.
    """
    env = os.environ.get("ARRHYTHMIA_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_cache_path("arrhythmia") / "data"


def local_copy_hint(name: str) -> str:
    """Said after a failed download (offline, most often): a copy of the data set on disk needs none."""
    return f"with a copy of {name} on disk, no download is needed: point --data at its folder (--data DIR)"


@contextlib.contextmanager
def _downloading(dest: Path, name: str) -> Iterator[None]:
    """Around a download into ``dest``: a DataError says how to do without it (``local_copy_hint``), and a
    download that fails (or is interrupted) leaves none of the folders it created empty; what it fetched is
    kept, for the next call to resume from."""
    created = [folder for folder in (dest, *dest.parents) if not folder.exists()]  # deepest first
    try:
        yield
    except DataError as exc:
        _remove_if_empty(created)
        raise DataError(f"{exc}; {local_copy_hint(name)}") from None
    except BaseException:
        _remove_if_empty(created)
        raise


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that is empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty, or not there
            if folder.exists():
                return


def _is_unsafe_path(name: str) -> bool:
    """True if ``name`` could escape the directory it is joined to.

    Both separators are checked on every platform: an archive or checksum list made on Windows
    must not become a traversal when it is later read there.
    """
    if not name or name.startswith(("/", "\\")) or _DRIVE_LETTER.match(name):
        return True
    return ".." in re.split(r"[/\\]", name)


def _get(session: requests.Session, url: str, headers: dict[str, str] | None = None) -> requests.Response:
    """GET ``url`` as a stream; HTTP and network errors become DataError naming the URL."""
    try:
        response = session.get(url, headers=headers, stream=True, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise DataError(f"{url}: download failed ({one_line(exc)})") from None
    return response


def _raise_for_status(response: requests.Response, url: str) -> None:
    try:
        response.raise_for_status()
    except requests.HTTPError:
        response.close()
        raise DataError(f"{url}: HTTP {response.status_code} {response.reason}".rstrip()) from None


def _parse_sums(text: str, url: str) -> list[tuple[str, str]]:
    """Parse ``<sha256hex> <relative path>`` lines; refuse malformed lines and unsafe paths."""
    entries: list[tuple[str, str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2 or not re.fullmatch(r"[0-9A-Fa-f]{64}", parts[0]):
            raise DataError(f"{url}: line {lineno}: expected '<sha256> <path>', got {line.strip()!r}")
        digest, name = parts[0].lower(), parts[1].strip()
        if name.startswith("*"):  # sha256sum's binary-mode marker, not part of the name
            name = name[1:]
        if _is_unsafe_path(name):
            raise DataError(f"{url}: line {lineno}: unsafe path {name!r} (absolute path or '..')")
        entries.append((digest, name))
    if not entries:
        raise DataError(f"{url}: checksum list is empty")
    return entries


def _fetch_to_part(session: requests.Session, url: str, part: Path) -> None:
    """Stream ``url`` into ``part``, resuming from its current size when the server allows it.

    On a network error the ``.part`` file is kept, so the next call continues where this one
    stopped; only a failed checksum (checked by the caller) discards it.
    """
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else None
    response = _get(session, url, headers)
    with response:
        if offset and response.status_code == 416:
            # Nothing past our offset: the .part is already whole (interrupted before the rename)
            # or longer than the file. The caller's checksum decides which.
            return
        _raise_for_status(response, url)
        # 206 means the server honoured the Range header; any other success carries the whole
        # body, so start over instead of appending a second copy.
        mode = "ab" if offset and response.status_code == 206 else "wb"
        try:
            with open(part, mode) as fh:
                for chunk in response.iter_content(chunk_size=STREAM_CHUNK_SIZE):
                    fh.write(chunk)
        except requests.RequestException as exc:
            raise DataError(f"{url}: download interrupted ({one_line(exc)}); run again to resume") from None
        except OSError as exc:  # requests' errors are OSErrors too, hence this order
            raise DataError(f"{part}: cannot write ({one_line(exc)})") from None


def _fetch_database(session: requests.Session, database: str, db_url: str, dest: Path, progress: bool) -> None:
    """The work of ``download_physionet``: the checksum list, then every file it lists not yet verified."""
    sums_url = db_url + SUMS_NAME
    response = _get(session, sums_url)
    with response:
        _raise_for_status(response, sums_url)
        try:
            sums_bytes = response.content
        except requests.RequestException as exc:
            raise DataError(f"{sums_url}: download failed ({one_line(exc)})") from None
    try:
        sums_text = sums_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{sums_url}: not a text file") from None
    # Parse (and refuse unsafe paths) before touching the disk.
    entries = _parse_sums(sums_text, sums_url)

    dest.mkdir(parents=True, exist_ok=True)
    for expected, name in tqdm(entries, desc=database, unit="file", disable=not progress):
        target = dest / name
        if target.is_file() and file_hash(target, "sha256") == expected:
            continue
        url = db_url + quote(name)
        # Subfolders of dest made for this file (deepest first): not left empty if it fails.
        made = [folder for folder in target.parents if dest in folder.parents and not folder.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        try:
            _fetch_to_part(session, url, part)
            got = file_hash(part, "sha256")
            if got != expected:
                # A resumed file that fails is unrecoverable by resuming again: start over next time.
                part.unlink(missing_ok=True)
                raise DataError(f"{url}: checksum mismatch (expected {expected}, got {got})")
        except BaseException:
            _remove_if_empty(made)
            raise
        os.replace(part, target)
    # Written last, so its presence means every listed file was verified at least once.
    atomic_write_bytes(dest / SUMS_NAME, lambda tmp: tmp.write_bytes(sums_bytes))


def download_physionet(
    database: str = MITDB,
    dest: Path | None = None,
    base_url: str = PHYSIONET_URL,
    session: requests.Session | None = None,
    progress: bool = True,
) -> Path:
    """Download and verify every file of a PhysioNet database.

    Files whose SHA-256 already matches ``SHA256SUMS.txt`` are skipped, so calling this again
    is cheap and repairs a partial or corrupted copy. Interrupted downloads resume from their
    ``<file>.part`` with an HTTP ``Range`` request.

    Parameters
    ----------
    database : str
        Database and version as in the PhysioNet URL, e.g. ``"mitdb/1.0.0"``.
    dest : Path, optional
        Target directory; defaults to ``default_data_dir() / "mitdb"`` (the database name
        without its version).
    base_url : str
        Root of the file server; ``{base_url}{database}/SHA256SUMS.txt`` must exist.
    session : requests.Session, optional
        Session to reuse (connection pooling, proxies, tests); a private one is made otherwise.
    progress : bool
        Show a progress bar over the files.

    Returns
    -------
    Path
        ``dest``, holding the database files and its ``SHA256SUMS.txt``.

    Raises
    ------
    DataError
        On an HTTP or network error (naming the URL), a malformed checksum list, a listed path
        that is absolute or contains ``..`` (checked before anything is downloaded), or a
        checksum mismatch (the bad ``.part`` is deleted); the message ends with ``local_copy_hint``.
        Folders the call created and left empty are removed.
    """
    name = database.strip("/").split("/")[0]
    dest = Path(dest) if dest is not None else default_data_dir() / name
    db_url = base_url.rstrip("/") + "/" + database.strip("/") + "/"
    own_session = session is None
    session = requests.Session() if session is None else session
    try:
        with _downloading(dest, name):
            _fetch_database(session, database, db_url, dest, progress)
    finally:
        if own_session:
            session.close()
    return dest


def safe_extract_zip(zip_path: Path, dest: Path) -> list[Path]:
    """Extract a zip archive, refusing it whole if any member could escape ``dest``.

    Parameters
    ----------
    zip_path : Path
        The archive.
    dest : Path
        Directory to extract into (created if needed).

    Returns
    -------
    list of Path
        The extracted files (directories are not listed).

    Raises
    ------
    DataError
        If the file is missing or not a valid zip, or a member name is absolute (``/``, ``\\``
        or a drive letter) or has a ``..`` component; nothing is extracted in that case.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            # Check every name first: a refused archive must leave nothing behind.
            for info in members:
                if _is_unsafe_path(info.filename):
                    raise DataError(f"{zip_path}: unsafe member {info.filename!r} (absolute path or '..')")
            dest.mkdir(parents=True, exist_ok=True)
            extracted = []
            for info in members:
                path = Path(archive.extract(info, dest))
                if not info.is_dir():
                    extracted.append(path)
    except FileNotFoundError:
        raise DataError(f"{zip_path}: file does not exist") from None
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path}: not a valid zip file ({one_line(exc)})") from None
    except NotImplementedError as exc:  # e.g. an unsupported compression method
        raise DataError(f"{zip_path}: cannot extract ({one_line(exc)})") from None
    return extracted


def _remove_empty_dirs(files: list[Path], root: Path) -> None:
    """Remove the now-empty directories between ``root`` and each of ``files`` (deepest first).

    Only directories that held extracted files are considered, so a user's own empty folders
    under ``root`` are left alone.
    """
    dirs = {parent for path in files for parent in path.parents if root in parent.parents}
    for directory in sorted(dirs, key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):  # not empty (or already gone): keep it
            directory.rmdir()


def _fetch_heartbeat(dest: Path, progress: bool) -> None:
    """The work of ``download_heartbeat``: the archive from Google Drive, then its CSVs into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    zip_path = dest / "heartbeat.zip"
    source = f"Google Drive file {HEARTBEAT_GDRIVE_ID}"
    try:
        result = gdown.download(id=HEARTBEAT_GDRIVE_ID, output=str(zip_path), quiet=not progress, resume=True)
    except _GDOWN_ERRORS as exc:
        raise DataError(f"{source}: download failed ({one_line(exc)})") from None
    if result is None or not zip_path.is_file():
        raise DataError(f"{source}: download failed (no file written to {zip_path})")

    try:
        extracted = safe_extract_zip(zip_path, dest)
    except DataError:
        # gdown's resume=True returns an existing output file untouched, so a corrupt archive
        # would be reused forever; delete it so the next call fetches a fresh one.
        zip_path.unlink(missing_ok=True)
        raise

    for name in HEARTBEAT_FILES:
        target = dest / name
        if target.is_file():
            continue
        # Prefer the shallowest copy and skip macOS resource-fork folders.
        candidates = sorted(
            (p for p in extracted if p.name == name and "__MACOSX" not in p.parts),
            key=lambda p: len(p.parts),
        )
        if candidates:
            shutil.move(str(candidates[0]), target)
    _remove_empty_dirs(extracted, dest)

    missing = [name for name in HEARTBEAT_FILES if not (dest / name).is_file()]
    if missing:
        raise DataError(f"{zip_path}: archive does not contain {', '.join(missing)}")
    # The CSVs are what later calls look for; the archive is just a large duplicate.
    zip_path.unlink(missing_ok=True)


def download_heartbeat(dest: Path | None = None, progress: bool = True) -> Path:
    """Download the Heartbeat CSVs (MIT-BIH and PTB beats of Kachuee et al. 2018).

    Parameters
    ----------
    dest : Path, optional
        Target directory; defaults to ``default_data_dir() / "heartbeat"``.
    progress : bool
        Let gdown print its progress bar.

    Returns
    -------
    Path
        ``dest``, holding the four files of ``HEARTBEAT_FILES`` directly (not in a subfolder).

    Raises
    ------
    DataError
        If the Google Drive download fails, the archive is invalid or unsafe (it is then
        deleted, so the next call downloads it again), or a CSV is missing from it; the message
        ends with ``local_copy_hint``. Folders the call created and left empty are removed.
    """
    dest = Path(dest) if dest is not None else default_data_dir() / "heartbeat"
    if all((dest / name).is_file() for name in HEARTBEAT_FILES):
        return dest
    with _downloading(dest, "heartbeat"):
        _fetch_heartbeat(dest, progress)
    return dest
