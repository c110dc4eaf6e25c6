"""Inputs (texts, images, videos): bulk add (answered at once with ids and an embed
job), list, get, patch labels, delete."""

from __future__ import annotations

import uuid

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.idempotency import idempotent
from api.jobs import enqueue_job, public_job
from api.limits import check_concepts, check_count, check_metadata
from api.media_inputs import prepare_data
from api.openapi import spec
from api.request_body import accepts_multipart, json_or_multipart
from api.services import services
from shared import celery_app as tasks
from shared.errors import InvalidField, NotFound
from shared.inputs import EMBEDDED, input_view, split_labels
from shared.schemas import (
    ErrorResponse,
    InputPatch,
    InputResponse,
    InputsAdd,
    InputsAdded,
    InputsQuery,
    InputsResponse,
    MultipartBody,
)

bp = Blueprint("inputs", __name__, url_prefix="/v1/inputs")
bp.before_request(authenticate_app)


@bp.post("")
@idempotent
@accepts_multipart
@spec.validate(json=InputsAdd, form=MultipartBody,
               resp=Response(HTTP_202=InputsAdded, HTTP_413=ErrorResponse,
                             HTTP_422=ErrorResponse), tags=["inputs"])
def add_inputs():
    """Add up to 128 texts, images or videos with concepts and metadata; a job embeds them.

    JSON, or multipart with the JSON in a part named ``json`` and media as file
    parts. Media are checked before anything is stored: one bad file rejects
    the request (422 naming it). Re-sending an input id replaces that input.
    """
    svc, app = services(), current_app_id()
    body, files = json_or_multipart(InputsAdd)
    check_count(svc.settings, len(body.inputs))
    embedders = svc.apps.get_app(app)["default_embedders"]
    normalised, seen = [], set()
    for i, item in enumerate(body.inputs):
        check_metadata(svc.settings, item.metadata, f"inputs[{i}].metadata")
        check_concepts(svc.settings, item.concepts, f"inputs[{i}].concepts")
        input_id = item.id or uuid.uuid4().hex
        if input_id in seen:
            raise InvalidField(f"inputs[{i}].id", f"id {input_id!r} appears twice in this request")
        seen.add(input_id)
        prepared = prepare_data(svc.settings, item.data, f"inputs[{i}].data", files)
        positive, negative = split_labels([c.model_dump() for c in item.concepts])
        normalised.append({"id": input_id, "modality": prepared.modality, "data": prepared.view,
                           "source": prepared.source, "blob": prepared.blob,
                           "embedder": embedders[prepared.modality], "positive": positive,
                           "negative": negative, "metadata": item.metadata})
    job_id = uuid.uuid4().hex
    # One transaction: the job, every staged input and its bytes, new concepts, or nothing.
    with svc.redis.pipeline(transaction=True) as pipe:
        job = svc.jobs.create(app, "embed", len(normalised), {"inputs": len(normalised)},
                              pipe=pipe, job_id=job_id)
        statuses = svc.inputs.stage(app, normalised, job_id, pipe)
        svc.concepts.ensure(app, {c for n in normalised for c in n["positive"] + n["negative"]},
                            pipe=pipe)
        pipe.execute()

    def fail_inputs(error: dict) -> None:
        for status in statuses:
            svc.inputs.finalise(app, status["id"], status["rev"], error=error)

    enqueue_job(svc, job_id, tasks.EMBED_INPUTS, [job_id, app, [n["id"] for n in normalised]],
                on_unsent=fail_inputs)
    return {"inputs": [{"id": s["id"], "status": s["status"], "modality": s["modality"]}
                       for s in statuses],
            "job": public_job(job)}, 202


@bp.get("")
@spec.validate(query=InputsQuery, resp=Response(HTTP_200=InputsResponse), tags=["inputs"])
def list_inputs():
    """Page through the app's inputs, optionally by concept (positives) and status."""
    q: InputsQuery = request.context.query
    return services().dispatch.ask(tasks.READ_INPUTS, app_id=current_app_id(), query={
        "concept": q.concept, "status": q.status, "limit": q.limit, "page_token": q.page_token})


@bp.get("/<input_id>")
@spec.validate(resp=Response(HTTP_200=InputResponse, HTTP_404=ErrorResponse), tags=["inputs"])
def get_input(input_id: str):
    """One input: status, data, concepts, metadata."""
    svc, app = services(), current_app_id()
    status = svc.inputs.status(app, input_id)
    if status is None:
        raise NotFound(f"input {input_id!r} not found", details={"input_id": input_id})
    if status["status"] != EMBEDDED:
        # Not in Qdrant: the API can answer from staging alone.
        staged = svc.inputs.staged(app, input_id)
        if staged is not None:
            return {"input": input_view(status, staged)}
    return {"input": svc.dispatch.ask(tasks.READ_INPUTS, app_id=app, input_id=input_id)}


@bp.patch("/<input_id>")
@spec.validate(json=InputPatch, resp=Response(HTTP_200=InputResponse, HTTP_404=ErrorResponse,
                                              HTTP_422=ErrorResponse), tags=["inputs"])
def patch_input(input_id: str):
    """Change labels and/or metadata (merge, overwrite or remove)."""
    svc, app = services(), current_app_id()
    body: InputPatch = request.context.json
    if body.concepts is not None:
        check_concepts(svc.settings, body.concepts, "concepts")
    if body.metadata is not None:
        check_metadata(svc.settings, body.metadata, "metadata")
    if svc.inputs.status(app, input_id) is None:
        raise NotFound(f"input {input_id!r} not found", details={"input_id": input_id})
    concepts = [c.model_dump() for c in body.concepts] if body.concepts is not None else None
    value = svc.dispatch.ask(tasks.PATCH_INPUT, app_id=app, input_id=input_id,
                             concepts=concepts, metadata=body.metadata, action=body.action)
    return {"input": value}


@bp.delete("/<input_id>")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=ErrorResponse), tags=["inputs"])
def delete_input(input_id: str):
    """Delete an input and its vectors."""
    svc, app = services(), current_app_id()
    if svc.inputs.status(app, input_id) is None:
        raise NotFound(f"input {input_id!r} not found", details={"input_id": input_id})
    svc.dispatch.ask(tasks.DELETE_INPUTS, app_id=app, input_ids=[input_id])
    return "", 204
