"""Who is calling: an app's API key (``Authorization: Bearer``) or the admin key."""

from __future__ import annotations

import hmac

from flask import g, request

from api.services import services
from shared.errors import Unauthorized


def bearer_token() -> str:
    """The bearer token of the request; ``Unauthorized`` when absent."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing 'Authorization: Bearer <key>' header")
    return token.strip()


def authenticate_app() -> None:
    """Blueprint hook: resolve the key to its app and keep it on ``g.app``."""
    g.app, g.key_id = services().apps.authenticate(bearer_token())


def current_app_id() -> str:
    """The app the authenticated key belongs to."""
    return g.app


def require_admin() -> None:
    """Allow only the admin key from the settings (constant-time comparison)."""
    token = bearer_token()
    admin = services().settings.admin_key
    if admin is None:
        raise Unauthorized("app creation is disabled: HEADSTART_ADMIN_KEY is not set")
    if not hmac.compare_digest(token.encode(), admin.get_secret_value().encode()):
        raise Unauthorized("invalid admin key")
