"""Error types shared by the API and the workers.

Each error carries a stable machine-readable ``code``, an HTTP ``status`` and
optional ``details``; the API turns any of them into
``{"error": {"code", "message", "details"}}`` and workers store them on jobs.
"""

from __future__ import annotations

from typing import Any


class HeadstartError(Exception):
    """Base class: an error the client can act on."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready ``{"code", "message", "details"}`` triple."""
        return {"code": self.code, "message": self.message, "details": self.details}


class MalformedRequest(HeadstartError):
    status, code = 400, "malformed_request"


class Unauthorized(HeadstartError):
    status, code = 401, "unauthorized"


class NotFound(HeadstartError):
    status, code = 404, "not_found"


class Conflict(HeadstartError):
    status, code = 409, "conflict"


class PayloadTooLarge(HeadstartError):
    status, code = 413, "payload_too_large"


class InvalidField(HeadstartError):
    """A field is present and well-formed JSON but its value is not acceptable."""

    status, code = 422, "invalid_field"

    def __init__(self, field: str, message: str, **kwargs: Any) -> None:
        details = {"field": field, **kwargs.pop("details", {})}
        super().__init__(f"{field}: {message}", details=details, **kwargs)
        self.field = field


class ServiceUnavailable(HeadstartError):
    status, code = 503, "service_unavailable"


class TrainingError(HeadstartError):
    """Training cannot produce a head from the data at hand (stored on the version)."""

    status, code = 422, "training_failed"


class TransientError(HeadstartError):
    """A dependency hiccup worth retrying (connection reset, timeout)."""

    status, code = 503, "transient"


def error_from_dict(status: int, error: dict[str, Any]) -> HeadstartError:
    """Rebuild an error a worker reported as ``status`` + ``{"code", "message", "details"}``."""
    exc = HeadstartError(error.get("message", "error"), code=error.get("code"),
                         details=error.get("details") or {})
    exc.status = status
    return exc
