"""Apps: created with the admin key; each returns its first API key once."""

from __future__ import annotations

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id, require_admin
from api.openapi import spec
from api.services import services
from shared.embedders import embedder_for
from shared.errors import InvalidField
from shared.schemas import AppCreate, AppCreated, ErrorResponse

bp = Blueprint("apps", __name__, url_prefix="/v1/apps")


@bp.post("")
@spec.validate(json=AppCreate, resp=Response(HTTP_201=AppCreated, HTTP_401=ErrorResponse,
                                             HTTP_409=ErrorResponse, HTTP_422=ErrorResponse),
               tags=["apps"], security={"admin": []})
def create_app_route():
    """Create an app (admin key). The API key in the answer is shown only once."""
    require_admin()
    body: AppCreate = request.context.json
    svc = services()
    chosen = {"text": body.default_embedders.text or svc.settings.text_embedder,
              "image": body.default_embedders.image or svc.settings.image_embedder}
    for modality, embedder_id in chosen.items():
        spec_ = embedder_for(svc.settings, embedder_id)
        if spec_ is None or not spec_.accepts(modality):
            raise InvalidField(f"default_embedders.{modality}",
                               f"{embedder_id!r} is not an embedder of {modality}; see "
                               "GET /v1/embedders")
    app, api_key = svc.apps.create_app(body.id, chosen["text"], chosen["image"])
    return {"app": app, "api_key": api_key}, 201


@bp.get("/me")
@spec.validate(tags=["apps"])
def my_app():
    """The app of the calling key."""
    authenticate_app()
    return {"app": services().apps.get_app(current_app_id())}
