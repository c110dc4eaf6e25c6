"""Label suggestions: the unlabelled inputs a model would gain most from, asked of a
worker on the `query` queue (the API cannot read vectors)."""

from __future__ import annotations

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.openapi import spec
from api.services import services
from shared import celery_app as tasks
from shared.schemas import ErrorResponse, SuggestionsQuery, SuggestionsResponse

bp = Blueprint("suggestions", __name__, url_prefix="/v1/models/<model_id>")
bp.before_request(authenticate_app)


@bp.get("/suggestions")
@spec.validate(query=SuggestionsQuery,
               resp=Response(HTTP_200=SuggestionsResponse, HTTP_404=ErrorResponse,
                             HTTP_409=ErrorResponse, HTTP_422=ErrorResponse),
               tags=["suggestions"])
def list_suggestions(model_id: str):
    """Unlabelled inputs to label next, most useful first (active learning).

    Candidates are the app's embedded inputs of the model's embedder with no label
    (positive or negative) for any model concept. Score: the version's uncertainty
    times a diversity factor that sinks inputs similar to labelled or already
    suggested ones. Each suggestion carries the version's current prediction.
    """
    svc, app = services(), current_app_id()
    q: SuggestionsQuery = request.context.query
    version = svc.registry.trained_version(app, model_id, q.version)
    return svc.dispatch.ask(tasks.SUGGEST_LABELS, app_id=app, model_id=model_id,
                            version_id=version["id"], is_default=q.version is None,
                            limit=q.limit)
