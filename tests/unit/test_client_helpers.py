"""The client's and the CLI's pure parts: batching, retry timing, sources, ids,
tables, config files, exit codes; and that the client never imports the server's stack."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import stat
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from headstart.cli.config import read_config, resolve, write_config
from headstart.cli.exit_codes import ExitCode, exit_code_for
from headstart.cli.files import input_id, read_table, scan_folder
from headstart.client import Data, File, NewInput, RetryPolicy, Text, Url
from headstart.client.batching import batches, concept_labels, request_body
from headstart.client.errors import (
    APIConnectionError,
    AuthenticationError,
    Conflict,
    NotFound,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    ValidationError,
    error_from_response,
)
from headstart.client.retry import is_replay_safe, parse_retry_after
from headstart.client.sources import guess_source, sniff

REPO = Path(__file__).resolve().parents[2]


def test_the_client_and_cli_import_without_torch_flask_or_the_server_packages():
    code = ("import sys, headstart.client, headstart.client.webhooks, headstart.cli\n"
            "heavy = {'torch', 'transformers', 'flask', 'celery', 'qdrant_client', 'api', "
            "'shared', 'workers'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_batches_respect_count_and_bytes_in_order():
    assert [len(b) for b in batches(range(300), lambda _: 1, 128, 10**9)] == [128, 128, 44]
    sizes = [5, 5, 5, 20, 1, 1]
    assert list(batches(sizes, lambda s: s, 10, 11)) == [[5, 5], [5], [20], [1, 1]]
    with pytest.raises(ValueError):
        list(batches([1], lambda s: s, 0, 10))


def test_request_bodies_are_json_for_texts_and_multipart_with_files(tmp_path):
    body = request_body([NewInput("hello", concepts={"a": 1, "b": 0}, id="x",
                                  metadata={"k": 1})])
    assert body == {"json": {"inputs": [{"data": {"text": "hello"}, "id": "x",
                                         "concepts": [{"id": "a", "value": 1},
                                                      {"id": "b", "value": 0}],
                                         "metadata": {"k": 1}}]}}
    image = tmp_path / "a.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 fake")
    body = request_body([NewInput("t"), NewInput(image, concepts=["cat"]),
                         NewInput(Url("https://example.com/v.mp4", "video", 2000))],
                        {"options": {"max_concepts": 1}})
    assert set(body) == {"data", "files"}
    assert body["files"] == [("file1", ("a.jpg", b"\xff\xd8\xff\xe0 fake", "image/jpeg"))]
    sent = json.loads(body["data"]["json"])
    assert sent["inputs"][1]["data"] == {"image": {"file": "file1"}}
    assert sent["inputs"][2]["data"] == {"video": {"url": "https://example.com/v.mp4",
                                                   "sample_ms": 2000}}
    assert sent["options"] == {"max_concepts": 1}
    assert concept_labels("cat") == [{"id": "cat", "value": 1}]


def test_sources_sniff_and_guess():
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "image"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video"
    assert sniff(b"\x1a\x45\xdf\xa3....") == "video"
    assert sniff(b"hello world") is None
    assert Data(b"\x00\x00\x00\x18ftypisom").data("p") == {"video": {"file": "p"}}
    with pytest.raises(ValueError):
        Data(b"plain text").kind()
    assert guess_source("https://example.com/clip.webm") == Url("https://example.com/clip.webm",
                                                                "video")
    assert guess_source(__file__) == File(__file__)
    assert guess_source("no such file, so a text") == Text("no such file, so a text")
    with pytest.raises(ValueError):
        Url("ftp://example.com/a.jpg")


def test_backoff_is_exponential_with_jitter_and_capped():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0)
    rng = random.Random(1)
    for retry, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)):
        delays = [policy.backoff(retry, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not fixed
    assert policy.delay(1, 7.0) == 7.0
    assert RetryPolicy(retry_after_max=3).delay(1, 60) == 3
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


def test_retry_after_parsing_and_what_is_safe_to_replay():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = parse_retry_after(formatdate(time.time() + 30, usegmt=True))
    assert 28 <= later <= 31
    assert is_replay_safe("GET", {}) and is_replay_safe("DELETE", {})
    assert not is_replay_safe("POST", {})
    assert is_replay_safe("POST", {"Idempotency-Key": "k"})


def test_errors_map_by_status_and_keep_code_message_details():
    body = {"error": {"code": "invalid_field", "message": "inputs[0].data.text: blank",
                      "details": {"field": "inputs[0].data.text"}}}
    exc = error_from_response(422, body)
    assert isinstance(exc, ValidationError) and exc.field == "inputs[0].data.text"
    assert str(exc) == "422 invalid_field: inputs[0].data.text: blank"
    assert isinstance(error_from_response(404, {}), NotFound)
    assert isinstance(error_from_response(401, None), AuthenticationError)
    limited = error_from_response(429, "slow down", retry_after=3.0)
    assert isinstance(limited, RateLimited) and limited.retry_after == 3.0
    assert limited.code == "http_429" and "slow down" in limited.message
    assert isinstance(error_from_response(502, "<html>"), ServerError)


def test_exit_codes():
    assert exit_code_for(NotFound("x", status=404)) == ExitCode.NOT_FOUND == 3
    assert exit_code_for(AuthenticationError("x", status=401)) == ExitCode.AUTH == 4
    assert exit_code_for(Conflict("x", status=409)) == ExitCode.ERROR == 1
    assert exit_code_for(ServiceUnavailable("x", status=503)) == ExitCode.UNAVAILABLE == 7
    assert exit_code_for(APIConnectionError("x")) == ExitCode.UNAVAILABLE


def test_input_ids_are_valid_stable_and_distinct():
    digest = hashlib.sha1(b"cat/cat0.jpg").hexdigest()[:10]
    assert input_id("cat/cat0.jpg") == input_id("cat/cat0.jpg") == f"cat_cat0.jpg-{digest}"
    assert input_id("cat0.jpg") == "cat0.jpg"
    a, b = input_id("a b/c.jpg"), input_id("a_b/c.jpg")
    assert a != b
    pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
    for name in ("a b/c.jpg", "_x.jpg", "é/ü.png", "x" * 300, "..."):
        assert pattern.match(input_id(name)), name


def test_folder_scan_labels_by_subfolder_or_one_concept(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog" / "more").mkdir(parents=True)
    (tmp_path / "cat" / "a.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "dog" / "more" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "loose.txt").write_text("a loose text")
    (tmp_path / "notes.json").write_text("{}")
    (tmp_path / ".hidden.jpg").write_bytes(b"\xff\xd8\xff")
    scan = scan_folder(tmp_path, None)
    assert {(i.id, tuple(i.concepts)) for i in scan.inputs} == {
        (input_id("cat/a.jpg"), ("cat",)),
        (input_id("dog/more/b.png"), ("dog",)), ("loose.txt", ())}
    assert scan.per_concept == {"cat": 1, "dog": 1}
    assert [p.name for p in scan.skipped] == ["notes.json"]
    assert all(i.metadata["path"] for i in scan.inputs)
    one = scan_folder(tmp_path / "dog", "puppy")
    assert [tuple(i.concepts) for i in one.inputs] == [("puppy",)]


def test_tables_read_csv_tsv_and_jsonl(tmp_path):
    csv_file = tmp_path / "data.csv"
    csv_file.write_text('text,label,id\n"Hello, world",greeting,g1\nBye,farewell|polite,\n'
                        "No label,,\n", encoding="utf-8")
    rows = read_table(csv_file)
    assert [(r.text, r.labels, r.id) for r in rows] == [
        ("Hello, world", ["greeting"], "g1"), ("Bye", ["farewell", "polite"], "data-2"),
        ("No label", [], "data-3")]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": ["x", "y"]}\n\n{"text": "b", "label": "z"}\n')
    assert [(r.text, r.labels, r.id) for r in read_table(jsonl)] == [
        ("a", ["x", "y"], "d-1"), ("b", ["z"], "d-2")]
    (tmp_path / "bad.csv").write_text("words,label\nhi,x\n")
    with pytest.raises(ValueError, match="no 'text' column"):
        read_table(tmp_path / "bad.csv")
    (tmp_path / "blank.jsonl").write_text('{"text": "ok"}\n{"text": " "}\n')
    with pytest.raises(ValueError, match="blank.jsonl:2"):
        read_table(tmp_path / "blank.jsonl")
    with pytest.raises(ValueError, match="expected"):
        read_table(tmp_path / "x.xlsx")


def test_config_file_precedence_and_permissions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "cfg" / "headstart" / "config.toml"
    write_config({"url": "http://file:1", "api_key": 'k"ey\\'}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_config(path) == {"url": "http://file:1", "api_key": 'k"ey\\'}
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HEADSTART_API_KEY": "from-env"}
    assert resolve({}, env) == {"url": "http://file:1", "api_key": "from-env",
                                "admin_key": None}
    assert resolve({"url": "http://flag:2"}, env)["url"] == "http://flag:2"
    assert resolve({}, {"XDG_CONFIG_HOME": str(tmp_path / "none")})["url"] == (
        "http://127.0.0.1:8000")
    (tmp_path / ".env").write_text("HEADSTART_ADMIN_KEY=from-dotenv\n")
    assert resolve({}, env)["admin_key"] == "from-dotenv"
    write_config({"api_key": None}, path)
    assert read_config(path) == {"url": "http://file:1"}
    os.chmod(path, 0o644)
    write_config({"url": "http://x:3"}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not = [toml")
    with pytest.raises(ValueError):
        read_config(path)
    path.unlink()
