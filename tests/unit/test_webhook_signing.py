"""Webhook secrets and signatures agree with the Standard Webhooks spec and with an
independent implementation (the `standardwebhooks` package)."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.webhook_signing import new_secret, secret_key, sign

# The example of the Standard Webhooks spec and of Svix's documentation.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_spec_example_signs_as_published():
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_new_secrets_are_whsec_base64_of_32_random_bytes():
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(secret_key(first)) == 32
    assert base64.b64decode(first.removeprefix("whsec_")) == secret_key(first)


def test_standardwebhooks_verifies_what_we_sign():
    secret = new_secret()
    body = b'{"type":"job.succeeded","data":{"job":{"id":"j1"}}}'
    stamp = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(stamp),
               "webhook-signature": sign(secret, "msg_1", stamp, body)}
    assert Webhook(secret).verify(body, headers)["type"] == "job.succeeded"
    # ...and refuses a changed body, id or key.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"j1", b"j2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_signature_matches_standardwebhooks_own_signing():
    secret = new_secret()
    stamp = 1_700_000_000
    ours = sign(secret, "msg_x", stamp, "é".encode())
    theirs = Webhook(secret).sign("msg_x", datetime.fromtimestamp(stamp, tz=timezone.utc), "é")
    assert ours == theirs


@pytest.mark.parametrize("bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"])
def test_malformed_secrets_are_refused(bad):
    with pytest.raises(ValueError):
        secret_key(bad)
