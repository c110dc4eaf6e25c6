"""Embedders: which pre-trained models this deployment offers."""

from __future__ import annotations

from flask import Blueprint
from spectree import Response

from api.auth import authenticate_app
from api.openapi import spec
from api.services import services
from shared.embedders import embedder_catalog
from shared.schemas import EmbeddersResponse

bp = Blueprint("embedders", __name__, url_prefix="/v1/embedders")
bp.before_request(authenticate_app)


@bp.get("")
@spec.validate(resp=Response(HTTP_200=EmbeddersResponse), tags=["embedders"])
def list_embedders():
    """Every embedder: id, modalities it accepts, vector size."""
    catalog = embedder_catalog(services().settings)
    return {"embedders": [spec_.public() for spec_ in catalog.values()]}
