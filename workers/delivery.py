"""Webhook delivery: sign a kept message, POST it through the SSRF guard, judge the
answer, log the attempt and say when to try again.

Plain functions; ``workers/tasks.py`` wraps :func:`deliver` in the task that runs
on the ``webhooks`` queue and schedules its retries.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from shared.media import MediaError
from shared.media.fetch import UrlPolicy, check_url, checked_pool
from shared.redis_store import now
from shared.settings import Settings
from shared.webhook_signing import sign
from shared.webhooks import GONE, WebhookStore, url_policy

log = logging.getLogger(__name__)

USER_AGENT = "headstart-webhooks/1"

# How an attempt ended, as the deliveries log says it.
SUCCEEDED, RETRYING, FAILED, DISABLED = "succeeded", "retrying", "failed", "disabled"


@dataclass(frozen=True)
class Answer:
    """What one POST came to.

    Attributes:
        status_code: The HTTP status, None when no response came.
        latency_ms: Time to the response headers (or to the failure).
        error: ``{"code", "message"}`` unless the status was 2xx.
        retryable: Worth another attempt: a network error, a timeout, 5xx or 429.
        retry_after: Seconds the receiver asked us to wait (``Retry-After``), if any.
    """

    status_code: int | None
    latency_ms: float
    error: dict[str, str] | None = None
    retryable: bool = False
    retry_after: float | None = None


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one send (Standard Webhooks names)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def parse_retry_after(value: str | None, at: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    Args:
        value: The header value, if any.
        at: Now, in Unix seconds (a date is counted from it).

    Returns:
        Seconds (never negative), or None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - datetime.fromtimestamp(at, tz=timezone.utc).timestamp())


def retry_delay(failed_attempt: int, base: float, cap: float,
                rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter after attempt number ``failed_attempt`` (1-based).

    The nominal delay is ``base * 2 ** (failed_attempt - 1)``, capped at ``cap``; the
    delay drawn lies between half of it and all of it, so retries of many messages
    that failed together spread out while each still waits at least half its step.
    """
    nominal = min(cap, base * 2 ** max(failed_attempt - 1, 0))
    return (rng or random).uniform(nominal / 2, nominal)


def next_delay(answer: Answer, failed_attempt: int, settings: Settings,
               rng: random.Random | None = None) -> float:
    """The wait before the next attempt: the receiver's ``Retry-After`` when it gave
    one, else the backoff; never over ``webhook_backoff_max_seconds``."""
    cap = settings.webhook_backoff_max_seconds
    if answer.retry_after is not None:
        return min(answer.retry_after, cap)
    return retry_delay(failed_attempt, settings.webhook_backoff_base_seconds, cap, rng)


def judge(status: int, location: str | None, retry_after: float | None,
          latency_ms: float) -> Answer:
    """Turn an HTTP status into an :class:`Answer`."""
    if 200 <= status < 300:
        return Answer(status, latency_ms)
    if 300 <= status < 400:
        # Following would send the signed body somewhere the app never registered
        # (and past the address check): a redirect is a failed delivery.
        where = f" to {location}" if location else ""
        return Answer(status, latency_ms, {"code": "redirect", "message": (
            f"HTTP {status}{where}; redirects are not followed")})
    retryable = status == 429 or status >= 500
    return Answer(status, latency_ms, {"code": "http_status", "message": f"HTTP {status}"},
                  retryable=retryable, retry_after=retry_after if retryable else None)


def post(url: str, body: bytes, headers: dict[str, str], policy: UrlPolicy,
         timeout: float) -> Answer:
    """POST ``body`` to ``url`` once: SSRF-checked, no redirects, within ``timeout``.

    Never raises for anything the network or the receiver does.
    """
    started = time.monotonic()

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    try:
        check_url(url, policy, resolve=False)
    except MediaError as exc:
        return Answer(None, 0.0, exc.to_dict())
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = checked_pool(url, policy, timeout)
    try:
        response = pool.urlopen("POST", target, body=body, headers=headers, redirect=False,
                                retries=False, preload_content=False)
        try:
            latency = elapsed()
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now())
            return judge(response.status, response.headers.get("Location"), retry_after,
                         latency)
        finally:
            # The body is not read: close drops the socket with whatever is unread.
            response.close()
    except MediaError as exc:
        # Resolved at connect time: a forbidden address is refused for good; a name
        # that does not resolve may resolve again later.
        return Answer(None, elapsed(), exc.to_dict(),
                      retryable=exc.code == "unresolvable_host")
    except HTTPError as exc:
        # NewConnectionError subclasses ConnectTimeoutError, so it must be ruled out.
        timed_out = isinstance(exc, Urllib3Timeout) and not isinstance(exc, NewConnectionError)
        code = "timeout" if timed_out else "connection_failed"
        return Answer(None, elapsed(), {"code": code, "message": str(exc)}, retryable=True)
    finally:
        pool.close()


def deliver(store: WebhookStore, settings: Settings, app: str, endpoint_id: str, msg_id: str,
            attempt: int = 1, replay: bool = False, rng: random.Random | None = None,
            ) -> float | None:
    """Make one delivery attempt of a kept message to one endpoint, and log it.

    A 2xx ends the endpoint's failing streak; 410 disables it at once; any other
    failure extends the streak and disables the endpoint once it is longer than
    ``webhook_disable_after_seconds``. Network errors, timeouts, 5xx and 429 are
    retried up to ``webhook_max_attempts`` attempts in all.

    Args:
        store: The webhook store.
        settings: Timeout, retry, disabling and log settings.
        app: The endpoint's app.
        endpoint_id: The endpoint.
        msg_id: The message (its id is the ``webhook-id`` of every attempt).
        attempt: This attempt's number, 1 for the first (or a replay's first).
        replay: Whether the app asked for this send again.
        rng: Jitter source (tests may seed one).

    Returns:
        Seconds to wait before the next attempt, or None when there is none.
    """
    endpoint = store.find(app, endpoint_id)
    if endpoint is None or not endpoint["enabled"]:
        log.info("webhook %s of app %s is gone or disabled; %s not sent", endpoint_id, app,
                 msg_id)
        return None
    message = store.message(app, msg_id)
    secret = store.secret(app, endpoint_id)
    if message is None or secret is None:
        log.warning("webhook message %s of app %s expired before it was delivered", msg_id, app)
        return None
    started = now()
    body = message["body"].encode()
    answer = post(endpoint["url"], body, signed_headers(secret, msg_id, int(started), body),
                  url_policy(settings), settings.webhook_timeout_seconds)
    entry: dict[str, Any] = {
        "message_id": msg_id, "event_type": message["type"], "attempt": attempt,
        "replay": replay, "at": started, "status_code": answer.status_code,
        "latency_ms": answer.latency_ms, "error": answer.error, "outcome": FAILED,
        "next_attempt_at": None,
    }
    delay = None
    if answer.error is None:
        store.record_success(app, endpoint_id)
        entry["outcome"] = SUCCEEDED
    elif answer.status_code == 410:
        store.disable(app, endpoint_id, GONE, "the endpoint answered 410 Gone")
        entry["outcome"] = DISABLED
    elif store.record_failure(app, endpoint_id, now(), settings.webhook_disable_after_seconds):
        entry["outcome"] = DISABLED
    elif answer.retryable and attempt < settings.webhook_max_attempts:
        delay = next_delay(answer, attempt, settings, rng)
        entry.update(outcome=RETRYING, next_attempt_at=now() + delay)
    store.log_attempt(app, endpoint_id, entry, settings.webhook_deliveries_kept)
    return delay


def hop(not_before: float, at: float, settings: Settings) -> float:
    """Countdown of the next task hop towards ``not_before``.

    A Redis broker hands a task that waits unacknowledged longer than its visibility
    timeout to a second worker, so a long delay is walked in hops of at most half of
    it: a task arriving early only sends itself on.
    """
    return max(0.0, min(not_before - at, settings.visibility_timeout / 2))
