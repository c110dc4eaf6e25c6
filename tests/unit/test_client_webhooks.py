"""headstart.client.webhooks.verify against signatures made independently: by the
`standardwebhooks` package and by hand with hmac, per the Standard Webhooks spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from headstart.client.webhooks import WebhookVerificationError, sign, verify

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
BODY = json.dumps({"type": "job.succeeded", "app": "demo",
                   "data": {"job": {"id": "j1", "status": "succeeded"}}},
                  separators=(",", ":")).encode()
NOW = 1_795_821_505


def headers_from_library(msg_id: str = "msg_1", timestamp: int = NOW,
                         body: bytes = BODY) -> dict[str, str]:
    signature = Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(timestamp, timezone.utc),
                                     body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature}


def test_accepts_what_the_standardwebhooks_library_signs():
    headers = headers_from_library()
    assert verify(SECRET, headers, BODY, now=NOW) == json.loads(BODY)
    # Header names in any case (HTTP headers are case-insensitive), body as str too.
    upper = {k.title(): v for k, v in headers.items()}
    assert verify(SECRET, upper, BODY.decode(), now=NOW + 299)["app"] == "demo"


def test_matches_a_hand_computed_vector():
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"msg_1.{NOW}.".encode() + BODY,
                                         hashlib.sha256).digest()).decode()
    assert sign(SECRET, "msg_1", NOW, BODY) == f"v1,{expected}"
    assert headers_from_library()["webhook-signature"] == f"v1,{expected}"
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW),
               "webhook-signature": sign(SECRET, "msg_1", NOW, BODY)}
    assert verify(SECRET, headers, BODY, now=NOW)


def test_several_signatures_one_valid_is_enough_and_unknown_versions_are_ignored():
    good = headers_from_library()["webhook-signature"]
    value = good.partition(",")[2]
    headers = {**headers_from_library(),
               "webhook-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,{value} {good}"}
    assert verify(SECRET, headers, BODY, now=NOW)
    only_other_version = {**headers, "webhook-signature": f"v2,{value}"}
    with pytest.raises(WebhookVerificationError) as caught:
        verify(SECRET, only_other_version, BODY, now=NOW)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize("change", ["body", "id", "timestamp_header", "secret"])
def test_refuses_tampering(change):
    headers = headers_from_library()
    body, secret = BODY, SECRET
    if change == "body":
        body = BODY.replace(b"succeeded", b"failed")
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    elif change == "timestamp_header":
        headers["webhook-timestamp"] = str(NOW + 1)
    else:
        secret = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
    with pytest.raises(WebhookVerificationError) as caught:
        verify(secret, headers, body, now=NOW)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_refuses_timestamps_outside_the_tolerance(offset):
    headers = headers_from_library(timestamp=NOW + offset)
    with pytest.raises(WebhookVerificationError) as caught:
        verify(SECRET, headers, BODY, now=NOW)
    assert caught.value.reason == "stale_timestamp"
    assert verify(SECRET, headers, BODY, now=NOW, tolerance=abs(offset) + 1)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_refuses_missing_headers(missing):
    headers = headers_from_library()
    del headers[missing]
    with pytest.raises(WebhookVerificationError) as caught:
        verify(SECRET, headers, BODY, now=NOW)
    assert caught.value.reason == "missing_headers"


def test_refuses_a_bad_timestamp_and_a_non_json_body():
    with pytest.raises(WebhookVerificationError) as caught:
        verify(SECRET, {**headers_from_library(), "webhook-timestamp": "soon"}, BODY, now=NOW)
    assert caught.value.reason == "bad_timestamp"
    headers = headers_from_library(body=b"not json")
    with pytest.raises(WebhookVerificationError) as caught:
        verify(SECRET, headers, b"not json", now=NOW)
    assert caught.value.reason == "bad_body"


def test_the_library_accepts_our_signature_at_the_current_time():
    import time

    now = int(time.time())
    headers = {"webhook-id": "msg_9", "webhook-timestamp": str(now),
               "webhook-signature": sign(SECRET, "msg_9", now, BODY)}
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)
