"""Webhooks end to end: the API, real events from real jobs, the real worker on the
`webhooks` queue, and a real HTTP receiver on loopback. Signatures are checked with
the `standardwebhooks` package, never with the sender's code.

The session's settings (tests/conftest.py) make retries quick: 4 attempts, backoff
base 0.4 s (delays drawn in [0.2, 0.4], [0.4, 0.8], [0.8, 1.6] s), cap 3 s, a 1 s
timeout, and endpoints disabled after failing for 4 s.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.jobs import JobStore
from shared.redis_store import now
from shared.webhooks import WebhookStore, new_message_id
from tests.receiver import Hit, Reply, receiver_server
from workers import delivery

ALL_EVENTS = ["job.succeeded", "job.failed", "job.cancelled", "model_version.trained",
              "model_version.failed", "input.failed"]


@pytest.fixture(scope="module")
def receiver():
    with receiver_server() as server:
        yield server


def _path() -> str:
    return f"/hook/{uuid.uuid4().hex[:12]}"


def register(tenant, url: str, events=("job.succeeded",), **extra) -> tuple[dict, str]:
    resp = tenant.post("/v1/webhooks", json={"url": url, "events": list(events), **extra})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    return body["webhook"], body["secret"]


def trigger(tenant) -> str:
    """Add one text input: its embed job ends `succeeded` (a `job.succeeded` event)."""
    body = tenant.add_texts([("a short text", None)], wait=False,
                            id_prefix=f"w{uuid.uuid4().hex[:8]}-")
    return body["job"]["id"]


def verify(hit: Hit, secret: str) -> dict:
    """The payload, once `standardwebhooks` accepted the signature."""
    return Webhook(secret).verify(hit.body, hit.headers)


def deliveries(tenant, webhook_id: str, count: int, timeout: float = 15.0) -> list[dict]:
    """The deliveries log once it holds ``count`` entries (written after each POST)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = tenant.get(f"/v1/webhooks/{webhook_id}/deliveries?limit=500")
        assert resp.status_code == 200, resp.get_json()
        entries = resp.get_json()["deliveries"]
        if len(entries) >= count or time.monotonic() > deadline:
            assert len(entries) >= count, entries
            return entries
        time.sleep(0.05)


def webhook(tenant, webhook_id: str) -> dict:
    resp = tenant.get(f"/v1/webhooks/{webhook_id}")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["webhook"]


def quiet(receiver, path: str, count: int, seconds: float) -> None:
    """Assert that ``path`` gets no more than ``count`` requests within ``seconds``."""
    time.sleep(seconds)
    assert len(receiver.hits_of(path)) == count


# --- the endpoint resource ------------------------------------------------------------

def test_register_read_change_and_delete(tenant, receiver):
    url = receiver.url(_path())
    created, secret = register(tenant, url, ["job.succeeded", "input.failed"],
                               description="orders service")
    assert secret.startswith("whsec_") and len(secret) > 40
    assert created["id"].startswith("ep_") and created["url"] == url
    assert created["events"] == ["job.succeeded", "input.failed"]
    assert created["enabled"] is True and created["description"] == "orders service"
    assert created["disabled_reason"] is None and created["failing_since"] is None

    # The secret is shown once: never in a read.
    for resp in (tenant.get("/v1/webhooks"), tenant.get(f"/v1/webhooks/{created['id']}")):
        assert resp.status_code == 200 and secret not in resp.get_data(as_text=True)
    assert [w["id"] for w in tenant.get("/v1/webhooks").get_json()["webhooks"]] == [
        created["id"]]

    resp = tenant.patch(f"/v1/webhooks/{created['id']}",
                        json={"events": ["job.failed"], "description": None})
    assert resp.status_code == 200
    changed = resp.get_json()["webhook"]
    assert changed["events"] == ["job.failed"] and changed["description"] is None
    assert changed["url"] == url

    off = tenant.patch(f"/v1/webhooks/{created['id']}", json={"enabled": False}).get_json()
    assert off["webhook"]["enabled"] is False
    assert off["webhook"]["disabled_reason"]["code"] == "disabled_by_app"
    assert off["webhook"]["disabled_at"] is not None
    on = tenant.patch(f"/v1/webhooks/{created['id']}", json={"enabled": True}).get_json()
    assert on["webhook"]["enabled"] is True and on["webhook"]["disabled_reason"] is None

    assert tenant.delete(f"/v1/webhooks/{created['id']}").status_code == 204
    assert tenant.get(f"/v1/webhooks/{created['id']}").status_code == 404
    assert tenant.delete(f"/v1/webhooks/{created['id']}").status_code == 404
    assert tenant.get("/v1/webhooks").get_json()["webhooks"] == []


def _error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()["error"]


@pytest.mark.parametrize("body, field", [
    ({"events": ["job.succeeded"]}, "url"),
    ({"url": "http://127.0.0.1:9/x"}, "events"),
    ({"url": "http://127.0.0.1:9/x", "events": []}, "events"),
    ({"url": "http://127.0.0.1:9/x", "events": ["job.succeeded", "job.exploded"]}, "events[1]"),
    ({"url": "http://127.0.0.1:9/x", "events": ["job.failed", "job.failed"]}, "events"),
    ({"url": "http://127.0.0.1:9/x", "events": "job.failed"}, "events"),
    ({"url": "http://127.0.0.1:9/x", "events": ["job.failed"], "description": "d" * 501},
     "description"),
    ({"url": "http://127.0.0.1:9/x", "events": ["job.failed"], "secret": "whsec_x"}, "secret"),
    ({"url": "x" * 2049, "events": ["job.failed"]}, "url"),
])
def test_invalid_registrations_name_the_field(tenant, body, field):
    error = _error(tenant.post("/v1/webhooks", json=body), 422)
    assert error["code"] == "invalid_field" and error["details"]["field"] == field
    assert tenant.get("/v1/webhooks").get_json()["webhooks"] == []


@pytest.mark.parametrize("url", [
    "http://10.0.0.5/hook",
    "http://192.168.1.20:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:10.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://user:pw@example.com/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "not a url",
])
def test_registration_refuses_what_the_ssrf_rules_refuse(tenant, url):
    error = _error(tenant.post("/v1/webhooks", json={"url": url, "events": ["job.failed"]}),
                   422)
    assert error["details"]["field"] == "url" and error["details"]["reason"] == "forbidden_url"
    assert tenant.get("/v1/webhooks").get_json()["webhooks"] == []


def test_invalid_changes_and_unknown_ids(tenant, receiver):
    created, _ = register(tenant, receiver.url(_path()))
    base = f"/v1/webhooks/{created['id']}"
    assert _error(tenant.patch(base, json={"url": "http://10.1.2.3/"}), 422)["details"][
        "field"] == "url"
    assert _error(tenant.patch(base, json={"url": None}), 422)["details"]["field"] == "url"
    assert _error(tenant.patch(base, json={"events": ["nope"]}), 422)["details"][
        "field"] == "events[0]"
    assert _error(tenant.patch(base, json={"enabled": "maybe"}), 422)["details"][
        "field"] == "enabled"
    assert _error(tenant.get(f"{base}/deliveries?limit=0"), 422)["details"]["field"] == "limit"
    assert _error(tenant.get(f"{base}/deliveries?page_token=abc"), 400)["details"][
        "field"] == "page_token"
    assert webhook(tenant, created["id"])["url"] == created["url"]  # nothing changed
    for method, path in [("get", "/v1/webhooks/ep_nope"), ("patch", "/v1/webhooks/ep_nope"),
                         ("delete", "/v1/webhooks/ep_nope"),
                         ("post", "/v1/webhooks/ep_nope/secret/rotate"),
                         ("get", "/v1/webhooks/ep_nope/deliveries"),
                         ("post", f"{base}/messages/msg_nope/replay")]:
        kwargs = {"json": {}} if method == "patch" else {}
        assert _error(getattr(tenant, method)(path, **kwargs), 404)["code"] == "not_found"


def test_apps_never_see_or_receive_each_others_webhooks(live, other_tenant, receiver):
    mine, other = _path(), _path()
    created, _ = register(live, receiver.url(mine))
    register(other_tenant, receiver.url(other))  # the same event type, another app
    base = f"/v1/webhooks/{created['id']}"
    assert other_tenant.get("/v1/webhooks").get_json()["webhooks"][0]["id"] != created["id"]
    for method, path in [("get", base), ("patch", base), ("post", f"{base}/secret/rotate"),
                         ("get", f"{base}/deliveries"), ("delete", base)]:
        kwargs = {"json": {"enabled": False}} if method == "patch" else {}
        assert getattr(other_tenant, method)(path, **kwargs).status_code == 404, path
    assert webhook(live, created["id"])["enabled"] is True

    trigger(live)
    receiver.wait(mine, 1)
    quiet(receiver, other, 0, 1.0)


# --- events and signatures ---------------------------------------------------------------

def test_event_is_signed_per_standard_webhooks(live, receiver):
    path = _path()
    created, secret = register(live, receiver.url(path))
    job_id = trigger(live)
    [hit] = receiver.wait(path, 1)
    payload = verify(hit, secret)
    assert payload["type"] == "job.succeeded" and payload["app"] == live.id
    assert payload["data"]["job"]["id"] == job_id
    assert payload["data"]["job"]["type"] == "embed"
    assert payload["data"]["job"]["status"] == "succeeded"
    assert payload["data"]["job"]["finished_at"] >= payload["data"]["job"]["created_at"]
    assert datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00")).tzinfo
    assert hit.headers["webhook-id"].startswith("msg_")
    assert abs(int(hit.headers["webhook-timestamp"]) - time.time()) < 10
    assert hit.headers["Content-Type"] == "application/json"
    assert set(json.loads(hit.body)) == {"type", "timestamp", "app", "data"}  # thin
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(hit.body, hit.headers)

    [entry] = deliveries(live, created["id"], 1)
    assert entry["message_id"] == hit.headers["webhook-id"]
    assert entry["event_type"] == "job.succeeded" and entry["attempt"] == 1
    assert entry["status_code"] == 200 and entry["outcome"] == "succeeded"
    assert entry["error"] is None and entry["next_attempt_at"] is None
    assert entry["replay"] is False and 0 <= entry["latency_ms"] < 1000


def test_training_emits_job_and_model_version_events(live, receiver):
    path = _path()
    _, secret = register(live, receiver.url(path), ALL_EVENTS)
    live.add_texts([("goal scored in the final", "sports"), ("a recipe for bread", "cooking")])
    receiver.wait(path, 1)  # the embed job's job.succeeded
    live.post("/v1/models", json={"id": "m", "concepts": ["sports", "cooking"]})
    version = live.train("m")
    assert version["status"] == "trained"
    hits = receiver.wait(path, 3)
    payloads = {(p["type"], p["data"].get("job", {}).get("type")): p
                for p in (verify(h, secret) for h in hits)}
    assert set(payloads) == {("job.succeeded", "embed"), ("job.succeeded", "train"),
                             ("model_version.trained", None)}
    trained = payloads[("model_version.trained", None)]["data"]["model_version"]
    assert trained == {**trained, "id": version["id"], "model_id": "m", "status": "trained",
                       "job_id": version["job_id"]}
    assert payloads[("job.succeeded", "train")]["data"]["job"]["id"] == version["job_id"]
    quiet(receiver, path, 3, 0.5)


def test_failed_training_emits_job_failed_and_model_version_failed(live, receiver):
    path = _path()
    _, secret = register(live, receiver.url(path), ["job.failed", "model_version.failed"])
    live.post("/v1/models", json={"id": "empty", "concepts": ["p", "q"], "modality": "image"})
    version = live.train("empty")
    assert version["status"] == "failed"
    payloads = {p["type"]: p["data"] for p in map(lambda h: verify(h, secret),
                                                  receiver.wait(path, 2))}
    assert payloads["job.failed"]["job"]["id"] == version["job_id"]
    assert payloads["job.failed"]["error"] == {"code": "no_data"}
    assert payloads["model_version.failed"]["model_version"]["id"] == version["id"]
    assert payloads["model_version.failed"]["error"] == {"code": "no_data"}


def test_an_input_that_fails_emits_input_failed(live, receiver, media):
    path = _path()
    _, secret = register(live, receiver.url(path), ["input.failed"])
    live.add_inputs([{"id": "ok", "data": {"text": "fine"}},
                     {"id": "gone", "data": {"image": {"url": media.base + "/missing.jpg"}}}])
    [hit] = receiver.wait(path, 1)
    payload = verify(hit, secret)
    assert payload["type"] == "input.failed"
    assert payload["data"]["input"]["id"] == "gone"
    assert payload["data"]["input"]["status"] == "failed"
    assert payload["data"]["error"] == {"code": "fetch_failed"}
    quiet(receiver, path, 1, 0.5)


def test_cancelling_a_job_emits_job_cancelled_once(live, receiver, redis_client, settings):
    path = _path()
    _, secret = register(live, receiver.url(path), ["job.cancelled", "job.succeeded"])
    # A job recorded as the API does, whose task is never sent: it stays queued.
    job = JobStore(redis_client, settings.redis_prefix).create(live.id, "embed", 1)
    assert live.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    assert live.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409
    [hit] = receiver.wait(path, 1)
    payload = verify(hit, secret)
    assert payload["type"] == "job.cancelled"
    assert payload["data"]["job"] == {**payload["data"]["job"], "id": job["id"],
                                      "status": "cancelled"}
    quiet(receiver, path, 1, 0.5)


# --- retries, backoff, Retry-After, disabling ---------------------------------------------

def test_retries_back_off_exponentially_with_the_same_message(live, receiver, settings):
    path = _path()
    receiver.script(path, 500, 503, 502)
    created, secret = register(live, receiver.url(path))
    trigger(live)
    hits = receiver.wait(path, 4)
    log = deliveries(live, created["id"], 4)
    quiet(receiver, path, 4, 0.5)

    # One message: one id, one body, each attempt freshly signed and verifiable.
    assert len({h.headers["webhook-id"] for h in hits}) == 1
    assert len({h.body for h in hits}) == 1
    for hit in hits:
        verify(hit, secret)
    # Newest first: three retried failures, then the success.
    assert [e["attempt"] for e in log] == [4, 3, 2, 1]
    assert [e["status_code"] for e in log] == [200, 502, 503, 500]
    assert [e["outcome"] for e in log] == ["succeeded", "retrying", "retrying", "retrying"]
    assert log[0]["next_attempt_at"] is None
    assert all(e["error"] == {"code": "http_status", "message": f"HTTP {e['status_code']}"}
               for e in log[1:])
    # Each retry came no earlier than scheduled, and the schedule doubles (with jitter).
    base = settings.webhook_backoff_base_seconds
    gaps = [later.at - earlier.at for earlier, later in zip(hits, hits[1:])]
    print(f"\nretry gaps (s): {[round(g, 3) for g in gaps]}")
    for n, (gap, entry) in enumerate(zip(gaps, reversed(log[1:])), start=1):
        nominal = base * 2 ** (n - 1)
        assert hits[n].at >= entry["next_attempt_at"]
        assert nominal / 2 <= entry["next_attempt_at"] - entry["at"]
        assert nominal / 2 <= gap <= nominal + 1.5, (n, gap)
    assert webhook(live, created["id"])["failing_since"] is None  # the success ended it


def test_retry_after_is_honoured_in_seconds_and_as_a_date(live, receiver):
    path = _path()

    def in_two_seconds() -> dict[str, str]:
        # Whole seconds: the wait asked for is between 1 and 2 s.
        when = datetime.fromtimestamp(time.time() + 2, tz=timezone.utc)
        return {"Retry-After": format_datetime(when, usegmt=True)}

    receiver.script(path, Reply(429, {"Retry-After": "1"}), Reply(503, in_two_seconds))
    created, _ = register(live, receiver.url(path))
    trigger(live)
    hits = receiver.wait(path, 3)
    # The backoff alone would have waited at most 0.4 s, then 0.8 s.
    first_gap = hits[1].at - hits[0].at
    asked = parsedate_to_datetime(receiver.answered[path][1][1]["Retry-After"]).timestamp()
    print(f"\nRetry-After gaps (s): {round(first_gap, 3)}, {round(hits[2].at - hits[1].at, 3)}"
          f" (date asked {round(asked - hits[1].at, 3)} s after the second hit)")
    assert 1.0 <= first_gap <= 2.5
    assert hits[2].at >= asked and asked - hits[1].at > 0.8
    log = deliveries(live, created["id"], 3)
    assert [e["status_code"] for e in log] == [200, 503, 429]
    assert log[2]["next_attempt_at"] - log[2]["at"] >= 1.0


def test_giving_up_then_disabling_an_endpoint_that_keeps_failing(live, receiver, settings):
    path = _path()
    receiver.script(path, *[500] * 10)
    created, _ = register(live, receiver.url(path))
    trigger(live)
    receiver.wait(path, settings.webhook_max_attempts)
    log = deliveries(live, created["id"], settings.webhook_max_attempts)
    quiet(receiver, path, settings.webhook_max_attempts, 2.0)  # no 5th attempt
    assert log[0]["outcome"] == "failed" and log[0]["next_attempt_at"] is None
    state = webhook(live, created["id"])
    assert state["enabled"] is True and state["failing_since"] is not None

    # Still failing after HEADSTART_WEBHOOK_DISABLE_AFTER_SECONDS: the next failure disables it.
    time.sleep(max(0.0, state["failing_since"] + settings.webhook_disable_after_seconds + 0.2
                   - now()))
    trigger(live)
    receiver.wait(path, settings.webhook_max_attempts + 1)
    assert deliveries(live, created["id"], settings.webhook_max_attempts + 1)[0][
        "outcome"] == "disabled"
    state = webhook(live, created["id"])
    assert state["enabled"] is False and state["disabled_at"] is not None
    assert state["disabled_reason"]["code"] == "failing"
    assert "failed for" in state["disabled_reason"]["message"]
    # A disabled endpoint gets nothing...
    trigger(live)
    quiet(receiver, path, settings.webhook_max_attempts + 1, 1.5)
    # ...until the app enables it again, with a fresh streak.
    receiver.script(path)
    enabled = live.patch(f"/v1/webhooks/{created['id']}", json={"enabled": True}).get_json()
    assert enabled["webhook"]["failing_since"] is None
    assert enabled["webhook"]["disabled_reason"] is None
    trigger(live)
    receiver.wait(path, settings.webhook_max_attempts + 2)


def test_410_gone_disables_the_endpoint_at_once(live, receiver):
    path = _path()
    receiver.script(path, 410)
    created, _ = register(live, receiver.url(path))
    trigger(live)
    receiver.wait(path, 1)
    [entry] = deliveries(live, created["id"], 1)
    assert entry["status_code"] == 410 and entry["outcome"] == "disabled"
    state = webhook(live, created["id"])
    assert state["enabled"] is False
    assert state["disabled_reason"] == {"code": "gone",
                                        "message": "the endpoint answered 410 Gone"}
    trigger(live)
    quiet(receiver, path, 1, 1.5)


def test_redirects_are_not_followed(live, receiver):
    path, elsewhere = _path(), _path()
    receiver.script(path, Reply(302, {"Location": receiver.url(elsewhere)}))
    created, _ = register(live, receiver.url(path))
    trigger(live)
    receiver.wait(path, 1)
    quiet(receiver, path, 1, 1.5)  # a redirect is a failure that is not retried
    assert receiver.hits_of(elsewhere) == []
    [entry] = deliveries(live, created["id"], 1)
    assert entry["status_code"] == 302 and entry["outcome"] == "failed"
    assert entry["error"]["code"] == "redirect"
    assert receiver.url(elsewhere) in entry["error"]["message"]


def test_a_timeout_is_retried(live, receiver, settings):
    path = _path()
    receiver.script(path, Reply(200, delay=settings.webhook_timeout_seconds + 0.5))
    created, _ = register(live, receiver.url(path))
    trigger(live)
    receiver.wait(path, 2)
    log = deliveries(live, created["id"], 2)
    assert [e["outcome"] for e in log] == ["succeeded", "retrying"]
    assert log[1]["status_code"] is None and log[1]["error"]["code"] == "timeout"
    assert log[1]["latency_ms"] >= settings.webhook_timeout_seconds * 1000 * 0.9


def test_send_time_check_refuses_forbidden_addresses(tenant, receiver, redis_client,
                                                     settings):
    # Registered while loopback was allowed; the sender's settings now refuse it (as
    # they would a host whose DNS answer changed to a private address).
    strict = settings.model_copy(update={"fetch_allow_loopback": False})
    store = WebhookStore(redis_client, settings.redis_prefix)
    port = receiver.base.rsplit(":", 1)[1]
    for url, message in [(receiver.url(_path()), "address 127.0.0.1 is forbidden"),
                         (f"http://localhost:{port}{_path()}", "resolves to forbidden")]:
        created, _ = register(tenant, url)
        msg = {"id": new_message_id(), "type": "job.succeeded", "created_at": now(),
               "endpoints": [created["id"]], "body": '{"type":"job.succeeded"}'}
        store.save_message(tenant.id, msg, 60)
        assert delivery.deliver(store, strict, tenant.id, created["id"], msg["id"]) is None
        [entry] = deliveries(tenant, created["id"], 1)
        assert entry["outcome"] == "failed" and entry["status_code"] is None
        assert entry["error"]["code"] == "forbidden_url"
        assert message in entry["error"]["message"]
        assert receiver.hits_of(url.split(port, 1)[1]) == []


# --- deliveries log, replay, secret rotation -------------------------------------------

def test_deliveries_log_pages_and_replay(live, receiver):
    path = _path()
    created, secret = register(live, receiver.url(path))
    for _ in range(3):
        live.wait_job(trigger(live))
    hits = receiver.wait(path, 3)
    log = deliveries(live, created["id"], 3)
    base = f"/v1/webhooks/{created['id']}"
    page = live.get(f"{base}/deliveries?limit=2").get_json()
    assert page["deliveries"] == log[:2] and page["next_page_token"] == "2"
    rest = live.get(f"{base}/deliveries?limit=2&page_token=2").get_json()
    assert rest["deliveries"] == log[2:] and rest["next_page_token"] is None

    # Replay the oldest message: same id and body, a new timestamp and signature.
    first = hits[0]
    msg_id = first.headers["webhook-id"]
    time.sleep(1.1)  # timestamps are whole seconds
    resp = live.post(f"{base}/messages/{msg_id}/replay")
    assert resp.status_code == 202
    assert resp.get_json() == {"webhook_id": created["id"], "message_id": msg_id,
                               "status": "queued"}
    replayed = receiver.wait(path, 4)[3]
    assert replayed.headers["webhook-id"] == msg_id and replayed.body == first.body
    assert int(replayed.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert replayed.headers["webhook-signature"] != first.headers["webhook-signature"]
    assert verify(replayed, secret) == verify(first, secret)
    newest = deliveries(live, created["id"], 4)[0]
    assert newest["replay"] is True and newest["message_id"] == msg_id
    assert newest["attempt"] == 1 and newest["outcome"] == "succeeded"

    # Only messages this endpoint was sent, and only while it is enabled.
    other, _ = register(live, receiver.url(_path()), ["job.failed"])
    assert live.post(f"/v1/webhooks/{other['id']}/messages/{msg_id}/replay").status_code == 404
    assert live.post(f"{base}/messages/{new_message_id()}/replay").status_code == 404
    live.patch(base, json={"enabled": False})
    assert _error(live.post(f"{base}/messages/{msg_id}/replay"), 409)["code"] == \
        "webhook_disabled"


def test_rotating_the_secret_retires_the_old_one(live, receiver):
    path = _path()
    created, old_secret = register(live, receiver.url(path))
    trigger(live)
    verify(receiver.wait(path, 1)[0], old_secret)
    resp = live.post(f"/v1/webhooks/{created['id']}/secret/rotate")
    assert resp.status_code == 200
    body = resp.get_json()
    new_secret = body["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert body["webhook"]["id"] == created["id"]
    assert new_secret not in live.get(f"/v1/webhooks/{created['id']}").get_data(as_text=True)
    trigger(live)
    hit = receiver.wait(path, 2)[1]
    assert verify(hit, new_secret)["type"] == "job.succeeded"
    with pytest.raises(WebhookVerificationError):
        verify(hit, old_secret)


# --- emitting never breaks the main path ----------------------------------------------------

def test_a_broker_outage_loses_the_event_not_the_job(tenant, receiver, redis_client, settings):
    from shared.celery_app import make_celery
    from shared.events import Events

    path = _path()
    register(tenant, receiver.url(path))
    down = make_celery(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    down.conf.task_publish_retry = False
    events = Events(redis_client, settings, down)
    jobs = JobStore(redis_client, settings.redis_prefix, events)
    job = jobs.create(tenant.id, "embed", 1)
    jobs.start(job["id"])
    assert jobs.succeed(job["id"], {"embedded": 1}) is True
    assert jobs.get(job["id"])["status"] == "succeeded"
    # A redelivered task finding the job ended changes nothing and emits nothing.
    assert jobs.succeed(job["id"], {"embedded": 1}) is False
    kept = list(redis_client.scan_iter(f"{settings.redis_prefix}:app:{tenant.id}:webhook-msg:*"))
    assert len(kept) == 1
    # A Redis outage under the emitter is logged too, never raised.
    broken = Events(redis.Redis(port=1, retry=Retry(NoBackoff(), 0)), settings, down)
    assert broken.emit(tenant.id, "job.succeeded", {}) is None
    assert receiver.hits_of(path) == []
