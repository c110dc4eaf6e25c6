"""Webhook secrets and signatures, as the Standard Webhooks spec defines them.

A secret reads ``whsec_<base64 of 32 random bytes>``; the HMAC key is the decoded
bytes after the prefix. A signature is ``v1,<base64 of HMAC-SHA256(key,
"{webhook-id}.{webhook-timestamp}.{body}")>``. See
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
# The spec asks for 24 to 64 random bytes.
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the base64-decoded part after ``whsec_``.

    Raises:
        ValueError: The secret is not ``whsec_`` + valid base64.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is base64 after its prefix") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one send.

    Args:
        secret: The endpoint's ``whsec_...`` secret.
        msg_id: The ``webhook-id`` (the same on every attempt of a message).
        timestamp: The ``webhook-timestamp``, integer Unix seconds of this attempt.
        body: The exact request body bytes.

    Returns:
        ``"v1,<base64 signature>"``.
    """
    signed = msg_id.encode() + b"." + str(int(timestamp)).encode() + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
