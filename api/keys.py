"""API keys of the calling app: list, create, rotate, revoke."""

from __future__ import annotations

from flask import Blueprint
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.openapi import spec
from api.services import services
from shared.schemas import ErrorResponse, KeyCreated, KeysResponse

bp = Blueprint("keys", __name__, url_prefix="/v1/keys")
bp.before_request(authenticate_app)


@bp.get("")
@spec.validate(resp=Response(HTTP_200=KeysResponse), tags=["keys"])
def list_keys():
    """Key ids and creation times of the app (secrets are never shown again)."""
    return {"keys": services().apps.list_keys(current_app_id())}


@bp.post("")
@spec.validate(resp=Response(HTTP_201=KeyCreated), tags=["keys"])
def create_key():
    """Add a key to the app; the key is shown once."""
    key, api_key = services().apps.create_key(current_app_id())
    return {"key": key, "api_key": api_key}, 201


@bp.post("/<key_id>/rotate")
@spec.validate(resp=Response(HTTP_201=KeyCreated, HTTP_404=ErrorResponse), tags=["keys"])
def rotate_key(key_id: str):
    """Replace a key with a new one; the old key stops working at once."""
    key, api_key = services().apps.rotate_key(current_app_id(), key_id)
    return {"key": key, "api_key": api_key}, 201


@bp.delete("/<key_id>")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=ErrorResponse, HTTP_409=ErrorResponse),
               tags=["keys"])
def revoke_key(key_id: str):
    """Revoke a key at once (not the app's last one: rotate that)."""
    services().apps.revoke_key(current_app_id(), key_id)
    return "", 204
