"""Verify the webhooks Headstart sends, per the Standard Webhooks scheme.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries, each over
``{id}.{timestamp}.{raw body}`` keyed with the base64-decoded part of the endpoint's
``whsec_...`` secret. Verify the raw bytes before parsing them.

Importable on its own (standard library only), e.g. in a receiver::

    from headstart.client.webhooks import verify, WebhookVerificationError

    try:
        event = verify(secret, request.headers, request.get_data())
    except WebhookVerificationError:
        return "", 400
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds either way: a captured delivery cannot be replayed later


class WebhookVerificationError(Exception):
    """The delivery is forged, altered, stale or malformed (``reason`` says which)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _secret_key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret is not a whsec_<base64> webhook secret") from exc


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value for a message (``v1,<base64>``).

    Args:
        secret: The endpoint's ``whsec_...`` secret (or the raw key bytes).
        msg_id: The ``webhook-id``.
        timestamp: The ``webhook-timestamp`` (Unix seconds).
        body: The raw body.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + raw
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes | str,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> Any:
    """Check a delivery's signature and timestamp; return its parsed JSON body.

    Args:
        secret: The endpoint's ``whsec_...`` secret (or the raw key bytes).
        headers: The request's headers (any mapping; names are matched case-insensitively).
        body: The raw request body, exactly as received.
        tolerance: Seconds the ``webhook-timestamp`` may be from ``now``, either way.
        now: The current Unix time (default: the clock).

    Returns:
        The decoded JSON payload (``{"type", "timestamp", "app", "data"}``).

    Raises:
        WebhookVerificationError: A header is missing, the timestamp is outside the
            tolerance, or no ``v1`` signature matches (compared in constant time).
    """
    lower = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing_headers", "missing webhook-id, "
                                       "webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("bad_timestamp", f"bad webhook-timestamp {stamp!r}") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError(
            "stale_timestamp", f"webhook-timestamp {timestamp} is more than {tolerance:g}s "
            f"from now ({int(current)})")
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    expected = sign(secret, msg_id, timestamp, raw).partition(",")[2].encode("ascii")
    matched = False
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        # Check every entry (no early exit): timing does not reveal which one matched.
        if version == "v1" and hmac.compare_digest(value.encode("ascii", "replace"), expected):
            matched = True
    if not matched:
        raise WebhookVerificationError("bad_signature", "no webhook-signature matches")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise WebhookVerificationError("bad_body", "the body is not JSON") from exc
