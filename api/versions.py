"""Model versions: train (a job), list, get, delete, pin as default."""

from __future__ import annotations

import uuid

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.idempotency import idempotent
from api.jobs import enqueue_job, public_job
from api.openapi import spec
from api.services import services
from shared import celery_app as tasks
from shared.model_registry import V_FAILED
from shared.schemas import (
    ErrorResponse,
    ModelResponse,
    VersionCreate,
    VersionCreated,
    VersionResponse,
    VersionsResponse,
)

bp = Blueprint("versions", __name__, url_prefix="/v1/models/<model_id>/versions")
bp.before_request(authenticate_app)


@bp.post("")
@idempotent
@spec.validate(json=VersionCreate, resp=Response(HTTP_202=VersionCreated,
                                                 HTTP_404=ErrorResponse), tags=["versions"])
def train(model_id: str):
    """Train a new version on the app's labelled inputs (asynchronous job).

    Inputs added before this call are included: the job waits (up to
    HEADSTART_TRAIN_WAIT_SECONDS) for their embed jobs to finish.
    """
    svc, app = services(), current_app_id()
    body: VersionCreate = request.context.json
    model = svc.registry.get_model(app, model_id)
    version_id = svc.registry.new_version_id(app, model_id)
    job_id = uuid.uuid4().hex
    with svc.redis.pipeline(transaction=True) as pipe:
        version = svc.registry.add_version(app, model, version_id, job_id, pipe,
                                           description=body.description)
        # The version trains on every input added before this request: the job
        # first waits for the embed jobs still in flight now.
        params = {"model_id": model_id, "version_id": version_id,
                  "after_jobs": svc.jobs.active(app, "embed")}
        job = svc.jobs.create(app, "train", 1, params, pipe=pipe, job_id=job_id)
        pipe.execute()
    enqueue_job(svc, job_id, tasks.TRAIN_VERSION, [job_id, app, model_id, version_id],
                on_unsent=lambda error: svc.registry.update_version(
                    app, model_id, version_id, status=V_FAILED, error=error))
    return {"version": version, "job": public_job(job)}, 202


@bp.get("")
@spec.validate(resp=Response(HTTP_200=VersionsResponse, HTTP_404=ErrorResponse),
               tags=["versions"])
def list_versions(model_id: str):
    """Versions of a model, newest first."""
    svc, app = services(), current_app_id()
    svc.registry.get_model(app, model_id)
    return {"versions": svc.registry.list_versions(app, model_id)}


@bp.get("/<version_id>")
@spec.validate(resp=Response(HTTP_200=VersionResponse, HTTP_404=ErrorResponse),
               tags=["versions"])
def get_version(model_id: str, version_id: str):
    """One version: status, metrics, params, data counts, error."""
    return {"version": services().registry.get_version(current_app_id(), model_id, version_id)}


@bp.delete("/<version_id>")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=ErrorResponse, HTTP_409=ErrorResponse),
               tags=["versions"])
def delete_version(model_id: str, version_id: str):
    """Delete a finished version that is not the pinned default."""
    svc, app = services(), current_app_id()
    svc.registry.delete_version(app, model_id, version_id)
    svc.dispatch.send(tasks.DELETE_ARTIFACTS, [app, model_id, [version_id]])
    return "", 204


@bp.post("/<version_id>/pin")
@spec.validate(resp=Response(HTTP_200=ModelResponse, HTTP_404=ErrorResponse,
                             HTTP_409=ErrorResponse), tags=["versions"])
def pin(model_id: str, version_id: str):
    """Make a trained version the model's default for predictions."""
    from api.models import model_view

    app = current_app_id()
    return {"model": model_view(app, services().registry.pin_version(app, model_id, version_id))}
