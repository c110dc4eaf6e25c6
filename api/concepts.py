"""Concepts: list, create, get, rename (the display name is not the id)."""

from __future__ import annotations

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.openapi import spec
from api.services import services
from shared.schemas import (
    ConceptCreate,
    ConceptPatch,
    ConceptResponse,
    ConceptsResponse,
    ErrorResponse,
)

bp = Blueprint("concepts", __name__, url_prefix="/v1/concepts")
bp.before_request(authenticate_app)


@bp.get("")
@spec.validate(resp=Response(HTTP_200=ConceptsResponse), tags=["concepts"])
def list_concepts():
    """All concepts of the app."""
    return {"concepts": services().concepts.list(current_app_id())}


@bp.post("")
@spec.validate(json=ConceptCreate, resp=Response(HTTP_201=ConceptResponse,
                                                 HTTP_409=ErrorResponse), tags=["concepts"])
def create_concept():
    """Create a concept (adding inputs also creates the concepts they name)."""
    body: ConceptCreate = request.context.json
    return {"concept": services().concepts.create(current_app_id(), body.id, body.name)}, 201


@bp.get("/<concept_id>")
@spec.validate(resp=Response(HTTP_200=ConceptResponse, HTTP_404=ErrorResponse),
               tags=["concepts"])
def get_concept(concept_id: str):
    """One concept."""
    return {"concept": services().concepts.get(current_app_id(), concept_id)}


@bp.patch("/<concept_id>")
@spec.validate(json=ConceptPatch, resp=Response(HTTP_200=ConceptResponse,
                                                HTTP_404=ErrorResponse), tags=["concepts"])
def rename_concept(concept_id: str):
    """Rename a concept; its id, and every label using it, stay."""
    body: ConceptPatch = request.context.json
    return {"concept": services().concepts.rename(current_app_id(), concept_id, body.name)}
