"""Webhooks: register endpoints, rotate their secrets, read deliveries, replay a message."""

from __future__ import annotations

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.openapi import spec
from api.services import services
from shared.celery_app import DELIVER_WEBHOOK
from shared.errors import Conflict, InvalidField, MalformedRequest, NotFound
from shared.media import MediaError
from shared.media.fetch import check_url
from shared.schemas import ErrorResponse
from shared.webhook_schemas import (
    DeliveriesQuery,
    DeliveriesResponse,
    ReplayQueued,
    WebhookCreate,
    WebhookCreated,
    WebhookPatch,
    WebhookResponse,
    WebhooksResponse,
)
from shared.webhooks import url_policy

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")
bp.before_request(authenticate_app)


def _check_url(url: str) -> None:
    """Refuse a URL the sender may never call (the input URLs' SSRF rules)."""
    try:
        check_url(url, url_policy(services().settings))
    except MediaError as exc:
        if exc.code == "unresolvable_host":
            return  # may be a passing DNS failure: each send judges the host again
        raise InvalidField("url", exc.message, details={"reason": exc.code}) from exc


@bp.post("")
@spec.validate(json=WebhookCreate, resp=Response(HTTP_201=WebhookCreated, HTTP_409=ErrorResponse),
               tags=["webhooks"])
def create_webhook():
    """Register an endpoint; its signing secret is shown once."""
    body: WebhookCreate = request.context.json
    _check_url(body.url)
    webhook, secret = services().webhooks.create(current_app_id(), body.url, list(body.events),
                                                 body.description)
    return {"webhook": webhook, "secret": secret}, 201


@bp.get("")
@spec.validate(resp=Response(HTTP_200=WebhooksResponse), tags=["webhooks"])
def list_webhooks():
    """The app's endpoints, oldest first (never their secrets)."""
    return {"webhooks": services().webhooks.list(current_app_id())}


@bp.get("/<webhook_id>")
@spec.validate(resp=Response(HTTP_200=WebhookResponse, HTTP_404=ErrorResponse),
               tags=["webhooks"])
def get_webhook(webhook_id: str):
    """One endpoint, with why it is disabled or since when it fails, if so."""
    return {"webhook": services().webhooks.get(current_app_id(), webhook_id)}


@bp.patch("/<webhook_id>")
@spec.validate(json=WebhookPatch, resp=Response(HTTP_200=WebhookResponse,
                                                HTTP_404=ErrorResponse), tags=["webhooks"])
def update_webhook(webhook_id: str):
    """Change the URL, events or description; enable or disable the endpoint."""
    body: WebhookPatch = request.context.json
    given = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("url", "events", "enabled"):
        if name in given and given[name] is None:
            raise InvalidField(name, "may not be null")
    if "url" in given:
        _check_url(given["url"])
    return {"webhook": services().webhooks.update(current_app_id(), webhook_id, **given)}


@bp.delete("/<webhook_id>")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=ErrorResponse), tags=["webhooks"])
def delete_webhook(webhook_id: str):
    """Delete an endpoint, its secret and its deliveries log."""
    services().webhooks.delete(current_app_id(), webhook_id)
    return "", 204


@bp.post("/<webhook_id>/secret/rotate")
@spec.validate(resp=Response(HTTP_200=WebhookCreated, HTTP_404=ErrorResponse),
               tags=["webhooks"])
def rotate_secret(webhook_id: str):
    """Replace the signing secret; the new one is shown once, the old one stops at once."""
    svc = services()
    secret = svc.webhooks.rotate_secret(current_app_id(), webhook_id)
    return {"webhook": svc.webhooks.get(current_app_id(), webhook_id), "secret": secret}


@bp.get("/<webhook_id>/deliveries")
@spec.validate(query=DeliveriesQuery, resp=Response(HTTP_200=DeliveriesResponse,
                                                    HTTP_404=ErrorResponse), tags=["webhooks"])
def list_deliveries(webhook_id: str):
    """The endpoint's delivery attempts, newest first, a page at a time."""
    q: DeliveriesQuery = request.context.query
    if q.page_token and not q.page_token.isdigit():
        raise MalformedRequest("page_token is not a token this server issued",
                               details={"field": "page_token"})
    svc = services()
    svc.webhooks.get(current_app_id(), webhook_id)
    entries, offset = svc.webhooks.deliveries(current_app_id(), webhook_id, q.limit,
                                              int(q.page_token or 0))
    return {"deliveries": entries, "next_page_token": str(offset) if offset else None}


@bp.post("/<webhook_id>/messages/<message_id>/replay")
@spec.validate(resp=Response(HTTP_202=ReplayQueued, HTTP_404=ErrorResponse,
                             HTTP_409=ErrorResponse), tags=["webhooks"])
def replay_message(webhook_id: str, message_id: str):
    """Send a message to the endpoint again: same id and body, new timestamp and signature."""
    svc = services()
    app = current_app_id()
    webhook = svc.webhooks.get(app, webhook_id)
    message = svc.webhooks.message(app, message_id)
    if message is None or webhook_id not in message["endpoints"]:
        raise NotFound(f"message {message_id!r} of webhook {webhook_id!r} not found "
                       "(or expired)", details={"message_id": message_id})
    if not webhook["enabled"]:
        raise Conflict(f"webhook {webhook_id!r} is disabled; enable it first",
                       code="webhook_disabled", details={"webhook_id": webhook_id})
    svc.dispatch.send(DELIVER_WEBHOOK, [app, webhook_id, message_id], {"replay": True})
    return {"webhook_id": webhook_id, "message_id": message_id, "status": "queued"}, 202
