"""One place mapping every error to ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from shared.errors import HeadstartError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, details: dict | None = None):
    """A JSON error response."""
    return jsonify({"error": {"code": code, "message": message, "details": details or {}}}), status


def register_error_handlers(app: Flask) -> None:
    """Install the handlers: our errors, HTTP errors, and anything unexpected."""

    @app.errorhandler(HeadstartError)
    def _headstart(exc: HeadstartError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        if exc.response is not None and exc.response.is_json:
            return exc.response  # already one of ours (e.g. raised through abort)
        return error_response(status, _HTTP_CODES.get(status, "http_error"),
                              exc.description or exc.name)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _redis_down(exc: Exception):
        log.warning("redis unavailable: %s", exc)
        return error_response(503, "dependency_unavailable",
                              "the job store is unreachable; try again")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
