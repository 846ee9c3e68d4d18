"""The review server's /docs as a front end's manual: each endpoint's answers and errors are described there,
and what the server answers is what the description says (checked against the OpenAPI schema it serves)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import write_wfdb_record
from fastapi.testclient import TestClient

from arrhythmia.data.synthetic import synthetic_ecg
from arrhythmia.export import load_classifier
from arrhythmia.review import ReviewStore
from arrhythmia.serve import create_app

TOKEN = "a-front-end-s-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = "application/json"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder with one 2-minute WFDB record, analysed once with the shipped default model."""
    folder = tmp_path_factory.mktemp("served")
    write_wfdb_record(folder, "r01", seconds=120, seed=1)
    ReviewStore(folder, "r01").analyse(load_classifier())
    return folder


@pytest.fixture(scope="module")
def client(folder):
    with TestClient(create_app(folder, token=TOKEN, max_upload_mb=1)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def doc(client) -> dict:
    return client.get("/openapi.json").json()


def _problems(value, schema: dict, doc: dict, where: str = "body") -> list[str]:
    """Where ``value`` (parsed JSON) does not fit ``schema`` (an OpenAPI 3.1 JSON schema, ``$ref`` into ``doc``)."""
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        tried = [_problems(value, option, doc, where) for option in schema["anyOf"]]
        return [] if any(not found for found in tried) else [f"{where}: fits none of {schema['anyOf']}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    kinds = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "null": type(None),
    }
    kind = schema.get("type")
    if kind is None:
        return []
    if not isinstance(value, kinds[kind]) or (kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{where}: {value!r} is not {kind}"]
    found = []
    if kind == "object":
        found += [f"{where}: {key} missing" for key in schema.get("required", []) if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in schema.get("properties", {}):
                found += _problems(item, schema["properties"][key], doc, f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}.{key}: not described")
            elif isinstance(extra, dict):
                found += _problems(item, extra, doc, f"{where}.{key}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            found += _problems(item, schema["items"], doc, f"{where}[{i}]")
    return found


def _described(doc: dict, response, path: str) -> None:
    """``response`` (a JSON answer to a request for the OpenAPI ``path``) is one the docs describe, as they say it."""
    method = response.request.method.lower()
    answers = doc["paths"][path][method]["responses"]
    code = str(response.status_code)
    assert code in answers, f"{method.upper()} {path}: {code} is not among the documented {sorted(answers)}"
    schema = answers[code]["content"][JSON]["schema"]
    problems = _problems(response.json(), schema, doc)
    assert not problems, f"{method.upper()} {path} {code}: {problems[:5]}"


def test_every_endpoint_describes_its_answer_and_its_errors(doc):
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            answers = operation["responses"]
            success = [code for code in answers if code.startswith("2")]
            assert len(success) == 1, f"{method.upper()} {path}: {sorted(answers)}"
            content = answers[success[0]].get("content", {})
            assert content, f"{method.upper()} {path}: no answer described"
            for media in content.values():
                assert media.get("schema") not in ({}, {"type": "object", "additionalProperties": True}), (
                    f"{method.upper()} {path}: answer without a shape"
                )
            for code in ("401", "403", "422"):
                assert code in answers, f"{method.upper()} {path}: {code} not described"
                assert answers[code]["content"][JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
            if "{name}" in path:
                assert "404" in answers, f"{method.upper()} {path}: 404 not described"
    assert doc["components"]["schemas"]["Problem"]["required"] == ["detail"]
    for path, method in [("/api/recordings/{name}/beats", "patch"), ("/api/recordings/{name}/undo", "post")]:
        stale = doc["paths"][path][method]["responses"]["409"]["content"][JSON]["schema"]
        assert "version" in doc["components"]["schemas"][stale["$ref"].rsplit("/", 1)[-1]]["properties"]
    upload = doc["paths"]["/api/recordings"]["post"]["responses"]
    assert "409" in upload and "413" in upload
    # how a front end learns that an upload's analysis is over, and that a broken file fails there
    said = " ".join(doc["paths"]["/api/recordings"]["post"]["description"].split())  # as /docs shows it
    assert "poll ``GET /recordings/{name}``" in said and "unreadable file is accepted and its analysis fails" in said


def test_what_the_server_answers_is_what_its_docs_describe(client, doc):
    name = "/api/recordings/{name}"
    get = lambda url, **kw: client.get(url, headers=AUTH, **kw)  # noqa: E731
    _described(doc, get("/api/recordings"), "/api/recordings")
    _described(doc, client.get("/api/recordings"), "/api/recordings")  # 401
    about = get("/api/recordings/r01")
    _described(doc, about, name)
    _described(doc, get("/api/recordings/nothing-here"), name)  # 404
    version = about.json()["version"]
    beats = get("/api/recordings/r01/beats", params={"start_s": 0, "end_s": 20})
    _described(doc, beats, f"{name}/beats")
    _described(doc, get("/api/recordings/r01/beats", params={"start_s": "soon"}), f"{name}/beats")  # 422
    _described(doc, get("/api/recordings/r01/beats/next", params={"after_s": 5}), f"{name}/beats/next")
    _described(doc, get("/api/recordings/r01/beats/next", params={"after_s": 500}), f"{name}/beats/next")  # 404
    for part in ("signal", "overview", "families", "questions", "episodes"):
        answer = get(f"/api/recordings/r01/{part}")
        assert answer.status_code == 200 and answer.json(), part
        _described(doc, answer, f"{name}/{part}")
    sample = beats.json()[3]["sample"]
    change = {"sample": sample, "label": "V", "version": version}
    done = client.patch("/api/recordings/r01/beats", json=change, headers=AUTH)
    _described(doc, done, f"{name}/beats")
    _described(doc, client.patch("/api/recordings/r01/beats", json=change, headers=AUTH), f"{name}/beats")  # 409
    stale = client.post("/api/recordings/r01/undo", json={"version": version}, headers=AUTH)
    assert stale.status_code == 409
    _described(doc, stale, f"{name}/undo")
    undone = client.post("/api/recordings/r01/undo", json={"version": done.json()["version"]}, headers=AUTH)
    _described(doc, undone, f"{name}/undo")
    _described(doc, get("/api/recordings/r01/beats", params={"start_s": 0, "end_s": 5}), f"{name}/beats")
    _described(doc, get("/api/recordings/r01/export/nothing.csv"), f"{name}/export/{{what}}")  # 404

    buffer = io.BytesIO()
    np.save(buffer, synthetic_ecg(duration_s=30, fs=250, seed=3).signal.astype(np.float32))
    files = {"files": ("patch.npy", buffer.getvalue())}
    uploaded = client.post("/api/recordings", files=files, data={"fs": "250"}, headers=AUTH)
    _described(doc, uploaded, "/api/recordings")
    _described(doc, client.post("/api/recordings", files=files, data={"fs": "250"}, headers=AUTH), "/api/recordings")
    too_large = {"files": ("big.npy", b"\0" * (2 * 2**20))}
    _described(doc, client.post("/api/recordings", files=too_large, headers=AUTH), "/api/recordings")  # 413
    queued = client.post("/api/recordings/patch.npy/analyse", headers=AUTH)
    _described(doc, queued, f"{name}/analyse")
    _described(doc, client.post("/api/recordings/patch.npy/analyse", json={"lead": 3}, headers=AUTH), f"{name}/analyse")
    deadline = time.monotonic() + 60
    while get("/api/recordings/patch.npy").json()["status"] in ("queued", "running") and time.monotonic() < deadline:
        _described(doc, get("/api/recordings/patch.npy"), name)
        time.sleep(0.1)
    _described(doc, get("/api/recordings/patch.npy"), name)
    _described(doc, get("/api/recordings"), "/api/recordings")
