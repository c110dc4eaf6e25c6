"""headstart.client against the live stack: the real API over loopback HTTP, real
Redis, the real Celery worker, real models and scikit-image's real photos.

No component of Headstart is mocked; the retry tests use a tiny scripted HTTP server
of their own, since the real API cannot be told to answer 503 on cue.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from headstart.client import (
    APIConnectionError,
    AuthenticationError,
    BadRequest,
    Client,
    Conflict,
    Data,
    File,
    JobFailed,
    JobTimeout,
    NewInput,
    NotFound,
    PayloadTooLarge,
    RetryPolicy,
    ServiceUnavailable,
    Url,
    ValidationError,
)
from headstart.client.webhooks import WebhookVerificationError, verify
from tests.data import COOKING, HELD_OUT_COOKING, HELD_OUT_SPORTS, SPORTS
from tests.media import crops, encode, photo
from tests.receiver import receiver_server

ADMIN_KEY = "test-admin-key"


@pytest.fixture()
def hs(api_url, worker) -> Iterator[Client]:
    """A client for a fresh app, created through the API with the admin key."""
    admin = Client(api_url, admin_key=ADMIN_KEY)
    created = admin.apps.create(f"cl-{uuid.uuid4().hex[:10]}")
    admin.close()
    with Client(api_url, created.api_key) as client:
        yield client


def write_photo_folder(root: Path) -> Path:
    """root/cat/*.jpg and root/coffee/*.jpg: crops of two real photos (one PNG)."""
    for name, seed in (("cat", 7), ("coffee", 8)):
        folder = root / name
        folder.mkdir(parents=True)
        for n, image in enumerate(crops(photo(name), 4, seed=seed)):
            if n == 3:
                image.save(folder / f"{name}{n}.png")
            else:
                image.save(folder / f"{name}{n}.jpg", quality=90)
    return root


# --- full flows -------------------------------------------------------------------------

def test_folder_of_photos_to_predictions(hs, tmp_path, media):
    folder = write_photo_folder(tmp_path / "photos")
    sent: list[tuple[int, int]] = []
    for concept in ("cat", "coffee"):
        paths = sorted((folder / concept).iterdir())
        upload = hs.inputs.add_files(paths, concepts=[concept], ids=[f"{concept}-{p.stem}"
                                                                     for p in paths],
                                     on_progress=lambda done, total: sent.append((done, total)))
        assert upload.requests == 1 and len(upload.inputs) == 4
        assert {i.modality for i in upload.inputs} == {"image"}
    # A URL input too: the worker fetches it from the loopback media server.
    url = media.add(f"/client/{uuid.uuid4().hex}.jpg", encode(crops(photo("cat"), 1, seed=9)[0]))
    upload = hs.inputs.add_urls([url], concepts=["cat"], ids=["cat-url"], wait=True)
    assert upload.jobs[0].result == {"embedded": 1, "failed": 0, "skipped": 0}
    assert sent[-1] == (4, 4)

    model = hs.models.create("photos", ["cat", "coffee"], modality="image",
                             mutually_exclusive=True)
    assert model.embedder == "efficientnet-lite0"
    version = hs.versions.train("photos", timeout=300)
    assert version.status == "trained"
    assert version.counts["positives"] == {"cat": 5, "coffee": 4}
    assert version.metrics["accuracy"] == 1.0

    stored = hs.inputs.get("cat-cat0")
    assert stored.status == "embedded" and stored.positives == ["cat"]
    assert stored.data["image"]["format"] == "JPEG"

    # Predict unseen whole photos given as a path, as bytes and by URL.
    whole_cat = tmp_path / "cat.jpg"
    photo("cat").transpose(0).save(whole_cat)
    coffee_url = media.add(f"/client/{uuid.uuid4().hex}.jpg", encode(photo("coffee")))
    prediction = hs.predict("photos", [whole_cat, encode(photo("coffee")),
                                       Url(coffee_url)], ids=["path", "bytes", "url"])
    assert prediction.model_version == version.id
    assert [o.input_id for o in prediction.outputs] == ["path", "bytes", "url"]
    assert [o.top.id for o in prediction.outputs] == ["cat", "coffee", "coffee"]
    assert prediction.outputs[0].top.value > 0.5


def test_csv_of_texts_to_predictions(hs, tmp_path):
    table = tmp_path / "topics.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"])
        for n, text in enumerate(SPORTS):
            writer.writerow([f"s{n}", text, "sports"])
        for n, text in enumerate(COOKING):
            writer.writerow([f"c{n}", text, "cooking"])
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    upload = hs.inputs.add([NewInput(r["text"], concepts=[r["label"]], id=r["id"])
                            for r in rows])
    assert len(upload.inputs) == 16 and upload.ids[:2] == ["s0", "s1"]

    hs.models.create("topics", ["sports", "cooking"], mutually_exclusive=True)
    # No wait for the embed job: the train job waits for it (the API's contract).
    version = hs.versions.train("topics")
    assert version.metrics["status"] == "ok"
    assert version.metrics["accuracy"] >= 0.9
    assert set(version.metrics["concepts"]) == {"sports", "cooking"}

    prediction = hs.predict("topics", HELD_OUT_SPORTS + HELD_OUT_COOKING, max_concepts=1)
    assert [o.top.id for o in prediction.outputs] == ["sports"] * 3 + ["cooking"] * 3
    assert all(len(o.concepts) == 1 for o in prediction.outputs)
    assert [v.id for v in hs.versions.list("topics")] == [version.id]
    assert hs.models.get("topics").default_version == version.id


# --- batching ---------------------------------------------------------------------------

def _recording_client(url: str, key: str, **kw) -> tuple[Client, list[httpx.Request]]:
    requests: list[httpx.Request] = []
    http = httpx.Client(timeout=120, event_hooks={"request": [requests.append]})
    return Client(url, key, http_client=http, **kw), requests


def test_300_texts_go_in_three_requests_and_are_all_stored(hs, api_url):
    client, requests = _recording_client(api_url, hs.transport.api_key)
    texts = [f"short text number {n}" for n in range(300)]
    ids = [f"b{n:03d}" for n in range(300)]
    progress: list[tuple[int, int]] = []
    upload = client.inputs.add_texts(texts, concepts=["bulk"], ids=ids,
                                     on_progress=lambda d, t: progress.append((d, t)))
    posts = [r for r in requests if r.method == "POST" and r.url.path == "/v1/inputs"]
    sizes = [len(json.loads(r.content)["inputs"]) for r in posts]
    assert sizes == [128, 128, 44]
    assert upload.requests == 3 and upload.ids == ids
    assert progress == [(128, 300), (256, 300), (300, 300)]
    # Each request carries its own Idempotency-Key.
    assert len({r.headers["Idempotency-Key"] for r in posts}) == 3

    seen: list[tuple[int, int]] = []
    upload.wait(timeout=300, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (300, 300)
    stored = {i.id for i in client.inputs.iter(concept="bulk")}
    assert stored == set(ids)
    client.close()


def test_media_batches_stay_under_the_byte_cap(hs, api_url):
    images = [encode(image) for image in crops(photo("astronaut"), 6, seed=3)]
    cap = max(len(b) for b in images) * 2 + 2048  # room for two images a request
    client, requests = _recording_client(api_url, hs.transport.api_key, max_batch_bytes=cap)
    upload = client.inputs.add([NewInput(Data(b), concepts=["astronaut"]) for b in images],
                               wait=True, timeout=300)
    posts = [r for r in requests if r.method == "POST" and r.url.path == "/v1/inputs"]
    assert len(posts) == 3
    assert all(r.headers["content-type"].startswith("multipart/form-data") for r in posts)
    assert all(int(r.headers["content-length"]) <= cap + 4096 for r in posts)
    assert sum(j.result["embedded"] for j in upload.jobs) == 6
    client.close()


def test_over_the_servers_count_cap_the_client_splits_and_learns_it(hs, api_url):
    client, requests = _recording_client(api_url, hs.transport.api_key, max_batch_inputs=200)
    upload = client.inputs.add_texts([f"text {n}" for n in range(200)])
    posts = [r for r in requests if r.method == "POST" and r.url.path == "/v1/inputs"]
    # 200 refused with 413 (limit 128), then 100 + 100.
    assert [len(json.loads(r.content)["inputs"]) for r in posts] == [200, 100, 100]
    assert upload.requests == 2 and len(upload.inputs) == 200
    assert client.inputs.max_batch_inputs == 128
    client.close()


# --- typed errors -----------------------------------------------------------------------

def test_errors_are_typed_and_carry_the_apis_code_message_and_details(hs, api_url):
    with pytest.raises(NotFound) as caught:
        hs.models.get("nope")
    assert caught.value.status == 404 and caught.value.code == "not_found"
    assert "nope" in caught.value.message

    with pytest.raises(ValidationError) as caught:
        hs.inputs.add_texts(["fine", "   "])
    assert caught.value.status == 422 and caught.value.code == "invalid_field"
    assert caught.value.field == "inputs[1].data.text"

    hs.models.create("dup", ["a", "b"])
    with pytest.raises(Conflict) as caught:
        hs.models.create("dup", ["a", "b"])
    assert caught.value.code == "model_exists" and caught.value.field == "id"

    with pytest.raises(ValidationError) as caught:
        hs.inputs.add_bytes([b"\xff\xd8\xff" + b"not really a jpeg"])
    assert caught.value.code == "invalid_media"
    assert caught.value.field == "inputs[0].data.image.file"
    assert caught.value.details["reason"] in ("truncated", "corrupt", "unsupported_format")

    with pytest.raises(PayloadTooLarge) as caught:
        hs.transport.request("POST", "/v1/inputs", json={
            "inputs": [{"data": {"text": f"t{n}"}} for n in range(129)]})
    assert caught.value.details == {"field": "inputs", "limit": 128, "count": 129}

    with pytest.raises(AuthenticationError) as caught:
        Client(api_url, "hsk_000000000000_" + "x" * 43).models.list()
    assert caught.value.status == 401 and caught.value.code == "unauthorized"

    with pytest.raises(Conflict) as caught:
        hs.predict("dup", ["a text"])
    assert caught.value.code == "no_trained_version"


# --- jobs -------------------------------------------------------------------------------

def test_job_wait_reports_progress_and_times_out(hs):
    upload = hs.inputs.add_texts([f"progress text {n}" for n in range(40)])
    job = upload.jobs[0]
    with pytest.raises(JobTimeout) as caught:
        job.wait(timeout=0)
    assert caught.value.job is job and caught.value.code == "timeout"
    assert isinstance(caught.value, TimeoutError)

    seen: list[tuple[str, int, int]] = []
    job.wait(timeout=120, poll=0.05,
             on_progress=lambda j: seen.append((j.status, j.progress.done, j.progress.total)))
    assert seen[0][0] in ("queued", "running", "succeeded")
    assert seen[-1] == ("succeeded", 40, 40)
    assert job.result == {"embedded": 40, "failed": 0, "skipped": 0}
    assert hs.jobs.get(job.id).status == "succeeded"
    listed = hs.jobs.list(type="embed")
    assert job.id in {j.id for j in listed}


def test_a_failed_training_raises_job_failed_with_its_code(hs):
    hs.models.create("empty", ["x", "y"], modality="image", mutually_exclusive=True)
    with pytest.raises(JobFailed) as caught:
        hs.versions.train("empty", timeout=120)
    assert caught.value.code == "no_data"
    assert caught.value.job.status == "failed"
    assert hs.versions.get("empty", "1").status == "failed"


def test_a_repeated_idempotency_key_returns_the_first_version(hs):
    hs.inputs.add_texts(SPORTS[:3], concepts=["sports"])
    hs.inputs.add_texts(COOKING[:3], concepts=["cooking"])
    hs.models.create("idem", ["sports", "cooking"], mutually_exclusive=True)
    key = uuid.uuid4().hex
    first, job1 = hs.versions.create("idem", idempotency_key=key)
    again, job2 = hs.versions.create("idem", idempotency_key=key)
    assert (again.id, job2.id) == (first.id, job1.id)
    job1.wait(timeout=120)
    assert [v.id for v in hs.versions.list("idem")] == [first.id]


# --- retries ----------------------------------------------------------------------------

class Scripted:
    """A loopback HTTP server answering each request from a script, then 200 ``{}``."""

    def __init__(self, replies: list[tuple[int, dict[str, str]]]) -> None:
        self.replies = list(replies)
        self.hits: list[tuple[float, str, str, dict[str, str]]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                scripted.hits.append((time.monotonic(), self.command, self.path,
                                      dict(self.headers)))
                status, headers = scripted.replies.pop(0) if scripted.replies else (200, {})
                body = b'{"models": []}' if status == 200 else json.dumps({"error": {
                    "code": "queue_unavailable" if status == 503 else f"code_{status}",
                    "message": "scripted", "details": {}}}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815 - http.server's names

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def gaps(self) -> list[float]:
        return [b[0] - a[0] for a, b in zip(self.hits, self.hits[1:])]


def test_503s_are_retried_with_exponential_backoff_and_jitter():
    server = Scripted([(503, {}), (503, {}), (503, {})])
    retries: list[tuple[int, float, str]] = []
    client = Client(server.url, "k", retry=RetryPolicy(max_retries=4, backoff_base=0.2),
                    on_retry=lambda n, delay, why: retries.append((n, delay, why)))
    assert client.models.list() == []
    server.close()
    assert len(server.hits) == 4
    assert [r[0] for r in retries] == [1, 2, 3] and {r[2] for r in retries} == {"HTTP 503"}
    # Retry n waits between half and all of 0.2 * 2**(n-1) seconds.
    for (n, delay, _), gap in zip(retries, server.gaps()):
        assert 0.1 * 2 ** (n - 1) <= delay <= 0.2 * 2 ** (n - 1)
        assert gap >= delay * 0.95


def test_429_honours_retry_after_and_a_post_keeps_its_idempotency_key():
    server = Scripted([(429, {"Retry-After": "1"}), (503, {"Retry-After": "0"})])
    client = Client(server.url, "k", retry=RetryPolicy(max_retries=3, backoff_base=5))
    client.transport.request("POST", "/v1/models", json={"id": "m", "concepts": ["a"]})
    server.close()
    assert len(server.hits) == 3
    assert server.gaps()[0] >= 0.99  # Retry-After: 1, not the 2.5-5 s backoff
    assert server.gaps()[1] < 1.0  # Retry-After: 0
    keys = {hit[3]["Idempotency-Key"] for hit in server.hits}
    assert len(keys) == 1 and len(keys.pop()) == 32


def test_giving_up_raises_the_typed_error_and_4xx_is_never_retried():
    server = Scripted([(503, {})] * 3 + [(400, {})])
    client = Client(server.url, "k", retry=RetryPolicy(max_retries=2, backoff_base=0.01))
    with pytest.raises(ServiceUnavailable) as caught:
        client.models.list()
    assert caught.value.code == "queue_unavailable" and len(server.hits) == 3
    with pytest.raises(BadRequest) as caught:
        client.models.list()
    assert caught.value.status == 400 and len(server.hits) == 4
    # A POST sent without an Idempotency-Key (forced off) is not retried after a 503.
    server.replies = [(503, {})]
    with pytest.raises(ServiceUnavailable):
        client.transport.request("POST", "/v1/models", json={}, replay_safe=False)
    assert len(server.hits) == 5
    server.close()


def test_an_unreachable_api_raises_a_connection_error_after_retrying():
    server = Scripted([])
    url = server.url
    server.close()  # nothing listens there now
    retries: list[int] = []
    client = Client(url, "k", retry=RetryPolicy(max_retries=2, backoff_base=0.01),
                    on_retry=lambda n, *_: retries.append(n))
    with pytest.raises(APIConnectionError) as caught:
        client.models.list()
    assert retries == [1, 2] and caught.value.status is None


# --- webhooks ---------------------------------------------------------------------------

def test_webhook_endpoints_and_a_real_delivery_verified(hs):
    with receiver_server() as receiver:
        created = hs.webhooks.create(receiver.url("/hs"), ["job.succeeded"], description="ci")
        assert created.secret.startswith("whsec_") and created.webhook.enabled
        hook = created.webhook
        assert [w.id for w in hs.webhooks.list()] == [hook.id]
        assert hs.webhooks.get(hook.id).description == "ci"

        upload = hs.inputs.add_texts(["a webhook text"], wait=True)
        hit = receiver.wait("/hs", 1)[0]
        event = verify(created.secret, hit.headers, hit.body)
        assert event["type"] == "job.succeeded"
        assert event["data"]["job"]["id"] == upload.jobs[0].id
        with pytest.raises(WebhookVerificationError):
            verify(created.secret, hit.headers, hit.body + b" ")

        deliveries = []
        for _ in range(100):
            deliveries = hs.webhooks.deliveries(hook.id).items
            if deliveries:
                break
            time.sleep(0.05)
        assert deliveries[0].outcome == "succeeded"
        message_id = deliveries[0].message_id
        assert message_id == hit.headers["webhook-id"]

        rotated = hs.webhooks.rotate_secret(hook.id)
        assert rotated.secret != created.secret
        assert hs.webhooks.replay(hook.id, message_id)["status"] == "queued"
        replayed = receiver.wait("/hs", 2)[1]
        assert replayed.headers["webhook-id"] == message_id
        assert verify(rotated.secret, replayed.headers, replayed.body) == event
        with pytest.raises(WebhookVerificationError) as caught:
            verify(created.secret, replayed.headers, replayed.body)
        assert caught.value.reason == "bad_signature"

        assert hs.webhooks.update(hook.id, enabled=False).enabled is False
        updated = hs.webhooks.update(hook.id, description=None, events=["job.failed"])
        assert updated.description is None and updated.events == ["job.failed"]
        with pytest.raises(ValidationError) as caught:
            hs.webhooks.create("http://10.0.0.1/x", ["job.succeeded"])
        assert caught.value.field == "url"
        hs.webhooks.delete(hook.id)
        with pytest.raises(NotFound):
            hs.webhooks.get(hook.id)


def test_file_sources_detect_their_modality(tmp_path):
    (tmp_path / "note.txt").write_text("a text file", encoding="utf-8")
    (tmp_path / "noext").write_bytes(encode(photo("rocket"), "PNG"))
    assert File(tmp_path / "note.txt").data("p") == {"text": "a text file"}
    assert File(tmp_path / "noext").data("p") == {"image": {"file": "p"}}
    assert Data(encode(photo("rocket"))).kind() == "image"


def test_every_resource_round_trips(hs, api_url):
    assert hs.health() and hs.apps.me().default_embedders["text"] == "all-minilm-l6-v2"
    assert {e.id for e in hs.embedders.list()} >= {"all-minilm-l6-v2", "efficientnet-lite0"}

    # Keys: add one, rotate it, revoke the rotated one; the first key keeps working.
    extra = hs.keys.create()
    assert extra.api_key.startswith(f"hsk_{extra.key.id}_")
    rotated = hs.keys.rotate(extra.key.id)
    with pytest.raises(AuthenticationError):
        Client(api_url, extra.api_key).apps.me()
    assert Client(api_url, rotated.api_key).apps.me().id == hs.apps.me().id
    hs.keys.revoke(rotated.key.id)
    assert rotated.key.id not in {k.id for k in hs.keys.list()}

    # Concepts.
    hs.concepts.create("sports", name="Sport")
    assert hs.concepts.rename("sports", "Sports").name == "Sports"
    assert [c.id for c in hs.concepts.list()] == ["sports"]
    assert hs.concepts.get("sports").name == "Sports"

    # Inputs: add, patch labels and metadata, list, delete.
    hs.inputs.add([NewInput(t, concepts=["sports"], id=f"s{n}") for n, t in enumerate(SPORTS)]
                  + [NewInput(t, concepts={"cooking": 1, "sports": 0}, id=f"c{n}",
                              metadata={"src": "book"}) for n, t in enumerate(COOKING)]
                  + [NewInput("The chef ran a marathon then baked bread.", id="u1")],
                  wait=True)
    patched = hs.inputs.patch("s0", concepts={"cooking": 0}, metadata={"lang": "en"})
    assert patched.concepts == [{"id": "sports", "value": 1}, {"id": "cooking", "value": 0}]
    assert patched.metadata == {"lang": "en"}
    assert hs.inputs.get("c1").metadata == {"src": "book"}
    page = hs.inputs.list(concept="cooking", limit=5)
    assert len(page) == 5 and page.next_page_token
    assert len(list(hs.inputs.iter(concept="cooking", page_size=3))) == len(COOKING)
    hs.inputs.delete("c7")
    with pytest.raises(NotFound):
        hs.inputs.get("c7")

    # Models, versions, pinning, suggestions, named-version and async predict.
    hs.models.create("topics", ["sports", "cooking"], mutually_exclusive=True)
    first = hs.versions.train("topics")
    second = hs.versions.train("topics", description="again")
    assert second.description == "again" and hs.versions.default("topics").id == second.id
    assert hs.versions.pin("topics", first.id).default_version == first.id
    with pytest.raises(Conflict) as caught:
        hs.versions.delete("topics", first.id)
    assert caught.value.code == "version_pinned"
    hs.versions.delete("topics", second.id)
    assert [v.id for v in hs.versions.list("topics")] == [first.id]
    suggestions = hs.models.suggestions("topics", limit=1)
    assert suggestions.suggestions[0].input["id"] == "u1"
    named = hs.predict("topics", [HELD_OUT_COOKING[0]], version=first.id)
    assert named.model_version == first.id and named.outputs[0].top.id == "cooking"
    job = hs.predict.submit("topics", [HELD_OUT_SPORTS[0]], max_concepts=1)
    assert job.type == "predict"
    result = job.wait(timeout=60).result
    assert result["outputs"][0]["concepts"][0]["id"] == "sports"
    assert [m.id for m in hs.models.list()] == ["topics"]
    hs.models.delete("topics")
    with pytest.raises(NotFound):
        hs.models.get("topics")

    # A job that already ended cannot be cancelled.
    with pytest.raises(Conflict) as caught:
        hs.jobs.cancel(job.id)
    assert caught.value.code == "job_finished"
