"""Typed exceptions for the API's errors, built from its ``{"error": {...}}`` bodies.

Every API error answers ``{"error": {"code", "message", "details"}}`` with an HTTP
status; :func:`error_from_response` turns that into the subclass for the status, so
callers can ``except NotFound`` and still read the stable ``code``.
"""

from __future__ import annotations

from typing import Any


class HeadstartError(Exception):
    """Base of every error the client raises.

    Attributes:
        status: The HTTP status, or ``None`` when no response came (network errors,
            job failures, timeouts).
        code: The API's stable machine-readable code (``not_found``, ``invalid_field``...).
        message: The API's human-readable message.
        details: The API's ``details`` object (may be empty).
    """

    def __init__(self, message: str, *, code: str = "error", status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details: dict[str, Any] = details or {}

    @property
    def field(self) -> str | None:
        """The offending field's path (``inputs[0].data.text``) when the API named one."""
        value = self.details.get("field")
        return value if isinstance(value, str) else None

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
                f"message={self.message!r})")


class APIError(HeadstartError):
    """An error answered by the API (``status`` is always set)."""


class BadRequest(APIError):
    """400: a malformed body, an unsupported ``Content-Type``, a foreign page token."""


class AuthenticationError(APIError):
    """401: no key, or an unknown, revoked or rotated one (or the wrong kind of key)."""


class NotFound(APIError):
    """404: the resource does not exist in the calling app."""


class MethodNotAllowed(APIError):
    """405: the route exists, not with this method."""


class Conflict(APIError):
    """409: an id is taken, a version is not trained, a job already ended..."""


class PayloadTooLarge(APIError):
    """413: over the request byte cap, the inputs-per-request cap or a media cap."""


class ValidationError(APIError):
    """422: a field the API refuses (``field`` names it) or an unusable media file."""


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if any."""

    retry_after: float | None = None


class ServerError(APIError):
    """500: an unexpected server error, or a synchronous predict whose job failed."""


class ServiceUnavailable(APIError):
    """503: the queue, Redis or the workers are unavailable for now; retry later."""


class APIConnectionError(HeadstartError):
    """No answer from the server: refused connection, DNS failure, timeout."""


class JobFailed(HeadstartError):
    """A job ended ``failed`` or ``cancelled``; ``job`` holds it, ``code`` its error code."""

    def __init__(self, job: Any) -> None:
        error = job.error or {}
        code = error.get("code") or job.status
        message = error.get("message") or f"job {job.id} {job.status}"
        super().__init__(message, code=code, details=error.get("details") or {})
        self.job = job


class JobTimeout(HeadstartError, TimeoutError):
    """Waiting for a job ran out of time; the job goes on (``job`` is its last state)."""

    def __init__(self, job: Any, timeout: float) -> None:
        super().__init__(f"job {job.id} still {job.status} after {timeout:g}s", code="timeout")
        self.job = job
        self.timeout = timeout


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationError,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_class(status: int) -> type[APIError]:
    """The exception class for an HTTP status (unknown 4xx/5xx fall back by range)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else APIError


def error_from_response(status: int, body: Any, *, retry_after: float | None = None,
                        ) -> APIError:
    """Build the typed error for a non-2xx answer.

    Args:
        status: The HTTP status.
        body: The decoded JSON body, or anything else (a proxy's HTML page, ``None``).
        retry_after: The ``Retry-After`` header in seconds, when present.

    Returns:
        The matching :class:`APIError` subclass carrying the API's code, message and
        details; bodies not in the API's shape still give a useful message.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or f"http_{status}")
        message = str(error.get("message") or "")
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
    else:
        # Not the API's shape: a proxy or load balancer answered.
        code, message, details = f"http_{status}", f"HTTP {status}", {}
        if isinstance(body, str) and body.strip():
            message = f"HTTP {status}: {body.strip()[:200]}"
    exc = error_class(status)(message, code=code, status=status, details=details)
    if isinstance(exc, RateLimited):
        exc.retry_after = retry_after
    return exc
