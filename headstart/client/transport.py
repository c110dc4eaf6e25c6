"""The HTTP layer: base URL, bearer keys, JSON in and out, typed errors, retries.

One :class:`Transport` wraps one ``httpx.Client`` (a connection pool); resources
call :meth:`Transport.request` and get decoded JSON back or a typed exception.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from headstart import __version__
from headstart.client.errors import APIConnectionError, error_from_response
from headstart.client.retry import RetryPolicy, is_replay_safe, parse_retry_after

# A part of a multipart body: (part name, (file name, bytes, content type)).
FilePart = tuple[str, tuple[str, bytes, str]]
# Called before each retry with (retry number, seconds it waits, why).
RetryHook = Callable[[int, float, str], None]

IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TIMEOUT = 120.0  # predict and worker reads may wait up to a minute server-side


def _never_sent(exc: httpx.TransportError) -> bool:
    # The request never left: no connection was made, so sending again cannot
    # repeat any work, whatever the method.
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


class Transport:
    """Sends requests to one Headstart API and decodes its answers.

    Args:
        base_url: The API's root, e.g. ``http://127.0.0.1:8000`` (``/v1`` is added per call).
        api_key: The app's key (``hsk_...``), sent as ``Authorization: Bearer``.
        admin_key: The deployment's admin key, used only where a call asks for it.
        timeout: Seconds per attempt (connect is capped at 10 s).
        retry: When and how long to retry.
        http_client: An ``httpx.Client`` to use instead of a new one (for proxies,
            custom TLS or event hooks); the transport does not close it.
        on_retry: Called before each retry with (retry number, wait seconds, reason).
        sleep: The sleep function (replaceable so callers can cap waits).
    """

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 admin_key: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None, http_client: httpx.Client | None = None,
                 on_retry: RetryHook | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not base_url:
            raise ValueError("base_url is required, e.g. http://127.0.0.1:8000")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.admin_key = admin_key
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._sleep = sleep
        self._owns_http = http_client is None
        self.http = http_client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": f"headstart-python/{__version__}"},
            # The API never redirects its JSON endpoints; a redirect would drop the
            # Authorization header on a host change anyway.
            follow_redirects=False)

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            self.http.close()

    def request(self, method: str, path: str, *, json: Any = None,
                params: Mapping[str, Any] | None = None, data: Mapping[str, str] | None = None,
                files: Sequence[FilePart] | None = None, admin: bool = False,
                idempotency_key: str | None = None, replay_safe: bool | None = None) -> Any:
        """Send one request (retrying as :class:`RetryPolicy` allows) and decode the answer.

        Every POST carries an ``Idempotency-Key`` (``idempotency_key``, else a random
        one), the same on each retry, so a retry the API already served is answered
        from its first response instead of doing the work twice.

        Args:
            method: HTTP method.
            path: Path under the base URL, e.g. ``/v1/models``.
            json: JSON body.
            params: Query parameters; ``None`` values are left out.
            data: Form fields of a multipart body (with ``files``).
            files: File parts of a multipart body.
            admin: Authenticate with the admin key instead of the app key.
            idempotency_key: The POST's ``Idempotency-Key``; generated when omitted.
            replay_safe: Override whether the request may be retried after it was sent
                (default: idempotent methods, or a POST with an ``Idempotency-Key``).

        Returns:
            The decoded JSON body, or ``None`` for an empty answer (``204``).

        Raises:
            APIError: A subclass for the status (``NotFound``, ``ValidationError``...).
            APIConnectionError: No answer after every retry.
        """
        method = method.upper()
        headers: dict[str, str] = {}
        key = self.admin_key if admin else self.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if method == "POST":
            headers[IDEMPOTENCY_HEADER] = idempotency_key or uuid.uuid4().hex
        safe = is_replay_safe(method, headers) if replay_safe is None else replay_safe
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path
        retry = 0
        while True:
            try:
                # Rebuilt on every attempt: a multipart body is a fresh stream each time.
                response = self.http.request(method, url, json=json, params=query or None,
                                             data=data, files=files, headers=headers)
            except httpx.TransportError as exc:
                if retry < self.retry.max_retries and (safe or _never_sent(exc)):
                    retry += 1
                    self._wait(retry, None, f"{type(exc).__name__}: {exc}")
                    continue
                raise APIConnectionError(f"{method} {url}: {type(exc).__name__}: {exc}",
                                         code="connection_error") from exc
            if response.is_success:
                return _decode(response) if response.content else None
            body = _decode(response)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry < self.retry.max_retries and safe and _retryable(response.status_code, body,
                                                                      self.retry.statuses):
                retry += 1
                self._wait(retry, retry_after, f"HTTP {response.status_code}")
                continue
            raise error_from_response(response.status_code, body, retry_after=retry_after)

    def _wait(self, retry: int, retry_after: float | None, reason: str) -> None:
        delay = self.retry.delay(retry, retry_after)
        if self.on_retry is not None:
            self.on_retry(retry, delay, reason)
        self._sleep(delay)


def _retryable(status: int, body: Any, statuses: frozenset[int]) -> bool:
    if status in statuses:
        return True
    # The first request with this Idempotency-Key is still running: its answer
    # will be replayed to us once it is done.
    if status == 409 and isinstance(body, dict):
        return (body.get("error") or {}).get("code") == "idempotency_in_progress"
    return False


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
