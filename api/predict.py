"""Predict: with the default version or a named one; waits a bounded time."""

from __future__ import annotations

import uuid

from flask import Blueprint
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.idempotency import idempotent
from api.jobs import enqueue_job, public_job
from api.limits import check_count
from api.media_inputs import prepare_data
from api.openapi import spec
from api.request_body import accepts_multipart, json_or_multipart
from api.services import services
from shared import celery_app as tasks
from shared import predict_requests
from shared.embedders import embedder_for
from shared.errors import HeadstartError, InvalidField
from shared.jobs import FAILED, SUCCEEDED
from shared.schemas import (
    ErrorResponse,
    JobResponse,
    MultipartBody,
    PredictRequest,
    PredictResponse,
)

bp = Blueprint("predict", __name__, url_prefix="/v1/models/<model_id>")
bp.before_request(authenticate_app)

_RESPONSES = Response(HTTP_200=PredictResponse, HTTP_202=JobResponse, HTTP_404=ErrorResponse,
                      HTTP_409=ErrorResponse, HTTP_413=ErrorResponse, HTTP_422=ErrorResponse)
REQUEST_TTL_SECONDS = 3600


@bp.post("/predict")
@idempotent
@accepts_multipart
@spec.validate(json=PredictRequest, form=MultipartBody, resp=_RESPONSES, tags=["predict"])
def predict_default(model_id: str):
    """Predict concepts with the model's default version.

    Texts, images and videos, as JSON or multipart (as when adding inputs). A
    video answers per sampled frame (with its time) and for the whole video.
    """
    return _predict(model_id, None)


@bp.post("/versions/<version_id>/predict")
@idempotent
@accepts_multipart
@spec.validate(json=PredictRequest, form=MultipartBody, resp=_RESPONSES, tags=["predict"])
def predict_version(model_id: str, version_id: str):
    """Predict concepts with a named version."""
    return _predict(model_id, version_id)


def _predict(model_id: str, version_id: str | None):
    svc, app = services(), current_app_id()
    body, files = json_or_multipart(PredictRequest)
    check_count(svc.settings, len(body.inputs))
    model, trained_version = svc.registry.model_and_trained_version(app, model_id, version_id)
    embedder = embedder_for(svc.settings, model["embedder"])
    options = body.options
    staged_inputs, blobs = [], {}
    for i, item in enumerate(body.inputs):
        if embedder is not None and not embedder.accepts(item.data.modality):
            raise InvalidField(f"inputs[{i}].data", f"model {model_id!r} uses embedder "
                               f"{embedder.id!r}, which does not embed {item.data.modality}")
        prepared = prepare_data(svc.settings, item.data, f"inputs[{i}].data", files,
                                default_sample_ms=options.sample_ms)
        if prepared.blob is not None:
            blobs[i] = prepared.blob  # staged raw beside the request, never re-encoded
        staged_inputs.append({"id": item.id, "modality": prepared.modality,
                              "source": prepared.source})
    if options.select_concepts:
        unknown = sorted(set(options.select_concepts) - set(model["concepts"]))
        if unknown:
            raise InvalidField("options.select_concepts",
                               f"not concepts of model {model_id!r}: {', '.join(unknown)}")
    version = trained_version()
    job_id = uuid.uuid4().hex
    request_key = svc.jobs.key("predict", job_id)
    with svc.redis.pipeline(transaction=True) as pipe:
        predict_requests.stage(pipe, request_key, staged_inputs,
                               options.model_dump(exclude={"run_async"}), blobs,
                               REQUEST_TTL_SECONDS)
        job = svc.jobs.create(app, "predict", len(body.inputs),
                              {"model_id": model_id, "version_id": version["id"]},
                              pipe=pipe, job_id=job_id,
                              ttl_seconds=svc.settings.predict_job_ttl_seconds)
        pipe.execute()
    enqueue_job(svc, job_id, tasks.PREDICT,
                [job_id, app, model_id, version["id"], version_id is None, request_key])
    if options.run_async:
        return {"job": public_job(job)}, 202
    # The worker signals the job's end on a reply list named after the job.
    reply = svc.dispatch.replies.wait(job_id, svc.settings.predict_wait_seconds)
    if reply is None:
        return {"job": public_job(svc.jobs.get(job_id, app))}, 202
    if reply.get("result") is not None:
        return reply["result"]  # sent once the job was recorded succeeded with it
    job = svc.jobs.get(job_id, app)
    if job["status"] == SUCCEEDED:
        return job["result"]
    if job["status"] == FAILED:
        error = job["error"] or {}
        raise HeadstartError(error.get("message", "prediction failed"),
                             code=error.get("code", "prediction_failed"),
                             details={"job_id": job_id})
    return {"job": public_job(job)}, 202
