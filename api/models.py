"""Models: a set of concepts, an embedder and head options."""

from __future__ import annotations

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.openapi import spec
from api.services import services
from shared import celery_app as tasks
from shared.embedders import embedder_for
from shared.errors import InvalidField
from shared.schemas import ErrorResponse, ModelCreate, ModelResponse, ModelsResponse

bp = Blueprint("models", __name__, url_prefix="/v1/models")
bp.before_request(authenticate_app)


def model_view(app: str, model: dict) -> dict:
    """A model with its effective default version."""
    default = services().registry.default_version(app, model["id"])
    return {**model, "default_version": default["id"] if default else None}


@bp.post("")
@spec.validate(json=ModelCreate, resp=Response(HTTP_201=ModelResponse, HTTP_409=ErrorResponse,
                                               HTTP_422=ErrorResponse), tags=["models"])
def create_model():
    """Create a model over concepts (unknown concepts are created)."""
    svc, app = services(), current_app_id()
    body: ModelCreate = request.context.json
    embedder_id = body.embedder or svc.apps.get_app(app)["default_embedders"][body.modality]
    if embedder_for(svc.settings, embedder_id) is None:
        raise InvalidField("embedder", f"unknown embedder {embedder_id!r}; see GET /v1/embedders")
    if body.options.mutually_exclusive and len(body.concepts) < 2:
        raise InvalidField("concepts", "a mutually exclusive model needs at least 2 concepts")
    model = svc.registry.create_model(app, body.id, body.concepts, embedder_id,
                                      body.options.model_dump())
    svc.concepts.ensure(app, body.concepts)
    return {"model": model_view(app, model)}, 201


@bp.get("")
@spec.validate(resp=Response(HTTP_200=ModelsResponse), tags=["models"])
def list_models():
    """All models of the app."""
    app = current_app_id()
    return {"models": [model_view(app, m) for m in services().registry.list_models(app)]}


@bp.get("/<model_id>")
@spec.validate(resp=Response(HTTP_200=ModelResponse, HTTP_404=ErrorResponse), tags=["models"])
def get_model(model_id: str):
    """One model and its default version."""
    app = current_app_id()
    return {"model": model_view(app, services().registry.get_model(app, model_id))}


@bp.delete("/<model_id>")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=ErrorResponse), tags=["models"])
def delete_model(model_id: str):
    """Delete a model, its versions and their artifacts."""
    svc, app = services(), current_app_id()
    versions = svc.registry.delete_model(app, model_id)
    svc.dispatch.send(tasks.DELETE_ARTIFACTS, [app, model_id, versions])
    return "", 204
