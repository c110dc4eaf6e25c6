"""Idempotency-Key: a repeat gets the first response, never a second job."""

from __future__ import annotations

import io
import json
import sys
import threading

import pytest

from api.idempotency import HEADER, IdempotencyStore
from tests.media import encode, photo


def _post(tenant, path: str, body, key: str | None, **kw):
    headers = {**tenant.headers, **({HEADER: key} if key is not None else {})}
    return tenant.client.post(path, json=body, headers=headers, **kw)


def _jobs(tenant, job_type: str) -> list[dict]:
    return tenant.get(f"/v1/jobs?type={job_type}").get_json()["jobs"]


def test_same_key_and_body_replays_the_first_response(tenant):
    body = {"inputs": [{"data": {"text": "no id given: the server picks one"}}]}
    first = _post(tenant, "/v1/inputs", body, "add-1")
    assert first.status_code == 202 and first.headers.get("Idempotent-Replayed") is None
    # The same JSON with other spacing and key order is the same request.
    raw = json.dumps({"inputs": [{"data": {"text": body["inputs"][0]["data"]["text"]}}]},
                     indent=2)
    again = tenant.client.post("/v1/inputs", data=raw, content_type="application/json",
                               headers={**tenant.headers, HEADER: "add-1"})
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(_jobs(tenant, "embed")) == 1
    # Without the header every request is new.
    assert _post(tenant, "/v1/inputs", body, None).get_json()["job"] != first.get_json()["job"]


def test_same_key_with_another_body_is_a_conflict_naming_the_header(tenant):
    assert _post(tenant, "/v1/inputs", {"inputs": [{"data": {"text": "a"}}]}, "k").status_code \
        == 202
    resp = _post(tenant, "/v1/inputs", {"inputs": [{"data": {"text": "b"}}]}, "k")
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["code"] == "idempotency_key_reused" and HEADER in error["message"]
    assert error["details"] == {"header": HEADER}
    assert len(_jobs(tenant, "embed")) == 1


def test_keys_are_scoped_to_the_app_and_the_route(tenant, other_tenant):
    body = {"inputs": [{"id": "x", "data": {"text": "x"}}]}
    mine = _post(tenant, "/v1/inputs", body, "shared-key").get_json()
    theirs = _post(other_tenant, "/v1/inputs", body, "shared-key")
    assert theirs.status_code == 202 and theirs.get_json()["job"]["id"] != mine["job"]["id"]
    tenant.post("/v1/models", json={"id": "m", "concepts": ["c"]})
    version = _post(tenant, "/v1/models/m/versions", {}, "shared-key")
    assert version.status_code == 202 and "version" in version.get_json()


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_invalid_keys_are_refused_naming_the_header(tenant, key):
    resp = _post(tenant, "/v1/inputs", {"inputs": [{"data": {"text": "a"}}]}, key)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_idempotency_key" and error["details"] == {"header": HEADER}
    assert _jobs(tenant, "embed") == []


def test_a_key_in_use_answers_in_progress(tenant, flask_app, settings):
    body = {"inputs": [{"id": "a", "data": {"text": "a"}}]}
    with flask_app.test_request_context("/v1/inputs", method="POST", json=body):
        from api.idempotency import request_fingerprint

        fingerprint = request_fingerprint()
    store = IdempotencyStore(tenant.client.application.extensions["headstart"].redis,
                             settings.redis_prefix)
    record = store.record_key(tenant.id, "POST", "/v1/inputs", "busy")
    # What a first request does while it runs: hold the reservation.
    reservation, existing = store.reserve(record, fingerprint, 60)
    assert existing is None
    resp = _post(tenant, "/v1/inputs", body, "busy")
    assert resp.status_code == 409 and resp.headers["Retry-After"] == "1"
    assert resp.get_json()["error"]["code"] == "idempotency_in_progress"
    store.release(record, reservation)
    assert _post(tenant, "/v1/inputs", body, "busy").status_code == 202


def test_concurrent_requests_with_one_key_create_one_job(tenant, flask_app):
    body = {"inputs": [{"data": {"text": f"text {n}"}} for n in range(50)]}
    answers: list = []
    start = threading.Barrier(8)

    def send() -> None:
        client = flask_app.test_client()
        start.wait()
        answers.append(client.post("/v1/inputs", json=body,
                                   headers={**tenant.headers, HEADER: "race"}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    # Switch threads as often as possible: any gap between checking a key and
    # claiming it gets hit.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    jobs = _jobs(tenant, "embed")
    assert len(jobs) == 1
    for resp in answers:
        if resp.status_code == 202:
            assert resp.get_json()["job"]["id"] == jobs[0]["id"]
        else:
            assert resp.status_code == 409
            assert resp.get_json()["error"]["code"] == "idempotency_in_progress"
    assert sum(1 for r in answers if r.headers.get("Idempotent-Replayed") is None
               and r.status_code == 202) == 1


def test_a_refusal_is_kept_but_a_server_error_frees_the_key(tenant, queue_down):
    missing = _post(tenant, "/v1/models/later/versions", {}, "v-1")
    assert missing.status_code == 404
    tenant.post("/v1/models", json={"id": "later", "concepts": ["c"]})
    replay = _post(tenant, "/v1/models/later/versions", {}, "v-1")
    assert replay.status_code == 404 and replay.headers["Idempotent-Replayed"] == "true"

    with queue_down():
        down = _post(tenant, "/v1/models/later/versions", {}, "v-2")
    assert down.status_code == 503
    retried = _post(tenant, "/v1/models/later/versions", {}, "v-2")
    assert retried.status_code == 202 and retried.headers.get("Idempotent-Replayed") is None
    newest, refused = tenant.get("/v1/models/later/versions").get_json()["versions"]
    assert refused["status"] == "failed" and refused["error"]["code"] == "queue_unavailable"
    # The retry's version was queued: the session's worker may already have taken it.
    assert newest["id"] == retried.get_json()["version"]["id"]
    assert (newest.get("error") or {}).get("code") != "queue_unavailable"


def test_multipart_retry_with_a_new_boundary_is_the_same_request(tenant):
    image = encode(photo("cat"), "PNG")

    def upload(data: bytes):
        form = {"json": json.dumps({"inputs": [{"id": "up", "data": {"image": {"file": "f"}}}]}),
                "f": (io.BytesIO(data), "cat.png")}
        return tenant.client.post("/v1/inputs", data=form, content_type="multipart/form-data",
                                  headers={**tenant.headers, HEADER: "upload"})

    first = upload(image)
    assert first.status_code == 202, first.get_json()
    again = upload(image)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = upload(encode(photo("coffee"), "PNG"))
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_train_and_predict_repeat_the_first_version_and_job(live):
    live.add_texts([("the match ended two nil", "sport"), ("a late goal won it", "sport"),
                    ("simmer the sauce", "food"), ("knead the dough", "food")])
    live.post("/v1/models", json={"id": "m", "concepts": ["sport", "food"]})
    first = _post(live, "/v1/models/m/versions", {}, "train-once")
    assert first.status_code == 202
    live.wait_job(first.get_json()["job"]["id"])
    again = _post(live, "/v1/models/m/versions", {}, "train-once")
    assert again.get_json() == first.get_json()
    assert len(live.get("/v1/models/m/versions").get_json()["versions"]) == 1

    body = {"inputs": [{"data": {"text": "a goal in extra time"}}]}
    predicted = _post(live, "/v1/models/m/predict", body, "predict-once")
    assert predicted.status_code == 200, predicted.get_json()
    replay = _post(live, "/v1/models/m/predict", body, "predict-once")
    assert replay.status_code == 200 and replay.get_json() == predicted.get_json()
    assert len(_jobs(live, "predict")) == 1
    named = _post(live, "/v1/models/m/versions/1/predict", body, "predict-once")
    assert named.status_code == 200 and named.headers.get("Idempotent-Replayed") is None
