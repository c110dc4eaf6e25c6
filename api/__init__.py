"""The Headstart HTTP API: a thin Flask app that validates, authenticates,
records jobs and enqueues work. It never loads a model or opens Qdrant."""

from __future__ import annotations

from flask import Flask, current_app, request

from api.errors import register_error_handlers
from api.openapi import openapi_document, spec
from api.request_body import MULTIPART
from api.services import Services
from shared.embedders import check_defaults
from shared.errors import MalformedRequest
from shared.settings import Settings, get_settings


def _takes_multipart() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "accepts_multipart", False))


def _reject_malformed_json() -> None:
    # SpecTree reads bodies leniently (bad JSON becomes {}); a client that sent
    # broken JSON must hear 400, not a confusing 422 about missing fields.
    if request.method in ("POST", "PATCH", "PUT") and request.content_length:
        if request.mimetype == MULTIPART and _takes_multipart():
            return
        if request.mimetype != "application/json":
            raise MalformedRequest("request body must be JSON (Content-Type: application/json)",
                                   code="unsupported_media_type")
        if request.get_json(silent=True) is None:
            raise MalformedRequest("request body is not valid JSON")


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app.

    Args:
        settings: Configuration; read from the environment when omitted.

    Returns:
        The configured app, with every blueprint and the OpenAPI document.
    """
    from api import (
        apps,
        concepts,
        console,
        embedders,
        inputs,
        jobs,
        keys,
        models,
        predict,
        suggestions,
        versions,
        webhooks,
    )

    settings = settings or get_settings()
    check_defaults(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    # A multipart request's `json` part may carry base64 media: Werkzeug's 500 kB
    # default for text parts would refuse it.
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_request_bytes
    app.json.sort_keys = False
    app.extensions["headstart"] = Services.build(settings)
    app.before_request(_reject_malformed_json)
    for module in (apps, keys, inputs, concepts, models, versions, predict, suggestions, jobs,
                   embedders):
        app.register_blueprint(module.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(console.bp)  # static files at /console (no /v1 API)
    register_error_handlers(app)
    spec.register(app)
    # Endpoint names starting with "openapi" are left out of the document itself.
    app.add_url_rule("/v1/openapi.json", "openapi_v1", openapi_document)

    @app.get("/healthz")
    def healthz():
        app.extensions["headstart"].redis.ping()
        return {"status": "ok"}

    return app
