"""Running a job's function with the job store's bookkeeping.

Start (counting deliveries, refusing cancelled or finished jobs), the poison
cap, success, and failure with a stored error are handled here once, so each
job function only does its work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from qdrant_client.http.exceptions import ResponseHandlingException

from shared.errors import HeadstartError, TransientError
from shared.jobs import CANCELLED
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)

# Errors worth a retry: the dependency may be back in a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    redis.ConnectionError,
    redis.TimeoutError,
    ResponseHandlingException,
    ConnectionError,
    TimeoutError,
)


class JobCancelled(Exception):
    """Raised at a batch boundary when the job was cancelled meanwhile."""


def check_cancelled(rt: WorkerRuntime, job_id: str) -> None:
    """Stop the job here when a client cancelled it."""
    if rt.jobs.status(job_id) == CANCELLED:
        raise JobCancelled(job_id)


def run_job(
    rt: WorkerRuntime,
    job_id: str,
    work: Callable[[], dict[str, Any]],
    on_failure: Callable[[dict[str, Any]], None] | None = None,
    reply_to: str | None = None,
) -> dict[str, Any] | None:
    """Run ``work`` as delivery of job ``job_id`` and record the outcome.

    Transient errors propagate so the task can retry; any other error fails the
    job with a stored ``{"code", "message"}`` and calls ``on_failure`` with it.
    With ``reply_to``, a success also pushes ``{"done": true, "result": ...}`` onto
    that reply list in the same Redis step that records it (a waiting predict).

    Returns:
        The job's result, or None when the job did not run or its success was not
        recorded (cancelled, finished, over the delivery cap, or failed).
    """
    attempt = rt.jobs.start(job_id)
    if attempt is None:
        log.info("job %s is finished or cancelled; delivery ignored", job_id)
        return None
    if attempt > rt.settings.max_deliveries:
        error = {"code": "too_many_deliveries",
                 "message": f"task delivered {attempt} times without finishing; giving up"}
        _fail(rt, job_id, error, on_failure)
        return None
    try:
        result = work()
    except JobCancelled:
        log.info("job %s cancelled at a batch boundary", job_id)
        return None
    except TRANSIENT_ERRORS:
        raise  # before HeadstartError: TransientError is one, and must be retried
    except HeadstartError as exc:
        _fail(rt, job_id, exc.to_dict(), on_failure)
        return None
    except Exception as exc:  # noqa: BLE001 - a job must end failed, not hang running
        log.exception("job %s crashed", job_id)
        _fail(rt, job_id, {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"},
              on_failure)
        return None
    reply = rt.replies.reply(reply_to, {"done": True, "result": result}) if reply_to else None
    if not rt.jobs.succeed(job_id, result, reply):
        log.info("job %s was cancelled while it ran; its result is dropped", job_id)
        return None
    return result


def fail_job(rt: WorkerRuntime, job_id: str, error: dict[str, Any],
             on_failure: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Fail a job from outside ``run_job`` (retries exhausted)."""
    _fail(rt, job_id, error, on_failure)


def _fail(rt: WorkerRuntime, job_id: str, error: dict[str, Any],
          on_failure: Callable[[dict[str, Any]], None] | None) -> None:
    # What the job was for (its version, its inputs) fails first: a client that sees the
    # job failed, or gets its webhook, then finds them failed too.
    if on_failure is not None:
        on_failure(error)
    rt.jobs.fail(job_id, error)
