"""Jobs: get, list by status/type, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from spectree import Response

from api.auth import authenticate_app, current_app_id
from api.openapi import spec
from api.services import Services, services
from shared.errors import ServiceUnavailable
from shared.model_registry import V_FAILED, V_QUEUED, V_TRAINING
from shared.schemas import ErrorResponse, JobResponse, JobsQuery, JobsResponse

bp = Blueprint("jobs", __name__, url_prefix="/v1/jobs")
bp.before_request(authenticate_app)


def enqueue_job(svc: Services, job_id: str, task: str, args: list[Any],
                on_unsent: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Send a recorded job's task; when the queue is unreachable, fail the job.

    The job (and what ``on_unsent`` settles: its inputs or version) must not stay
    queued for a task that was never sent.
    """
    try:
        svc.dispatch.send(task, args, task_id=job_id)
    except ServiceUnavailable as exc:
        svc.jobs.fail(job_id, exc.to_dict())
        if on_unsent is not None:
            on_unsent(exc.to_dict())
        raise


def public_job(job: dict) -> dict:
    """A job as clients see it (no internal fields)."""
    return {k: v for k, v in job.items() if k not in ("app",)}


@bp.get("")
@spec.validate(query=JobsQuery, resp=Response(HTTP_200=JobsResponse), tags=["jobs"])
def list_jobs():
    """The app's jobs, newest first, filtered by status and type."""
    q: JobsQuery = request.context.query
    jobs, token = services().jobs.list(current_app_id(), status=q.status, job_type=q.type,
                                       limit=q.limit, page_token=q.page_token)
    return {"jobs": [public_job(j) for j in jobs], "next_page_token": token}


@bp.get("/<job_id>")
@spec.validate(resp=Response(HTTP_200=JobResponse, HTTP_404=ErrorResponse), tags=["jobs"])
def get_job(job_id: str):
    """One job: status, progress, timings, result or error."""
    return {"job": public_job(services().jobs.get(job_id, current_app_id()))}


@bp.post("/<job_id>/cancel")
@spec.validate(resp=Response(HTTP_200=JobResponse, HTTP_404=ErrorResponse,
                             HTTP_409=ErrorResponse), tags=["jobs"])
def cancel_job(job_id: str):
    """Cancel a queued job (it never runs) or a running one (stops at the next batch)."""
    svc = services()
    job = svc.jobs.cancel(job_id, current_app_id())
    if job["type"] == "train":
        params = job["params"]
        svc.registry.update_version(
            current_app_id(), params["model_id"], params["version_id"],
            allowed_from=(V_QUEUED, V_TRAINING), status=V_FAILED,
            error={"code": "cancelled", "message": "the train job was cancelled"})
    return {"job": public_job(job)}
