"""The web console: static files (HTML, CSS, ES modules) served at ``/console``.

The console is a client of the public API like any other: its JavaScript sends
the API key in the ``Authorization`` header, so nothing here authenticates or
reads a resource. It needs no build step and loads nothing from elsewhere, so its
responses carry a strict Content-Security-Policy: scripts and styles from this
origin only (no inline code), requests to this origin only.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory, url_for

STATIC = Path(__file__).with_name("console_static")

# img-src admits http(s): an input added by URL is shown from its URL (never with a
# referrer, see index.html); its bytes are not kept by Headstart. Everything else is
# this origin only. blob:/data: are the thumbnails the console draws itself.
CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob: http: https:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

# The name starts with "openapi" because SpecTree leaves such endpoints out of
# /v1/openapi.json (as it does the document's own route): these are pages, not API
# operations.
bp = Blueprint("openapi_excluded_console", __name__, url_prefix="/console")


@bp.after_request
def _harden(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    # Small files that change with the code: always revalidate (ETag), never stale.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("")
def root():
    """``/console`` → ``/console/`` so the page's relative module paths resolve."""
    return redirect(url_for(".index"), code=308)


@bp.get("/")
def index():
    """The single page; its routes live in the URL fragment (``#/inputs``, ...)."""
    return send_from_directory(STATIC, "index.html")


@bp.get("/<path:filename>")
def asset(filename: str):
    """A file of the console (send_from_directory refuses paths leaving the folder)."""
    return send_from_directory(STATIC, filename)
