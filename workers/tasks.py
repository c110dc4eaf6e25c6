"""Celery tasks: thin wrappers that take ids, call a plain function, record the job."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from shared import celery_app as names
from shared.errors import HeadstartError
from shared.redis_store import now
from workers import delivery, embedding, input_queries, prediction, suggestions, train_job
from workers.job_runner import TRANSIENT_ERRORS, fail_job, run_job
from workers.runtime import WorkerRuntime, get_runtime

log = logging.getLogger(__name__)

EMBED_POLL_SECONDS = 0.5


def backoff_seconds(retries: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter for the ``retries``-th retry."""
    return random.uniform(0, min(cap, base * 2 ** retries))


def _run_job_task(task: Task, job_id: str, work: Callable[[WorkerRuntime], dict[str, Any]],
                  on_failure: Callable[[WorkerRuntime, dict[str, Any]], None] | None = None,
                  reply_to: str | None = None) -> dict[str, Any] | None:
    rt = get_runtime()
    fail_hook = (lambda error: on_failure(rt, error)) if on_failure else None
    try:
        return run_job(rt, job_id, lambda: work(rt), fail_hook, reply_to)
    except TRANSIENT_ERRORS as exc:
        if task.request.retries >= task.max_retries:
            fail_job(rt, job_id, {"code": "dependency_unavailable",
                                  "message": f"gave up after retries: {exc}"}, fail_hook)
            return None
        log.warning("job %s hit a transient error, retrying: %s", job_id, exc)
        raise task.retry(exc=exc, countdown=backoff_seconds(task.request.retries)) from exc


def _answer(reply_to: str | None, call: Callable[[WorkerRuntime], Any]) -> dict[str, Any]:
    """Run a query and reply to the waiting API request, whatever happens.

    A typed error keeps its status; a dependency hiccup answers 503 and a bug 500,
    so the caller hears at once instead of waiting out its timeout.
    """
    rt = get_runtime()
    try:
        answer = {"ok": True, "value": call(rt)}
    except HeadstartError as exc:
        answer = {"ok": False, "status": exc.status, "error": exc.to_dict()}
    except TRANSIENT_ERRORS as exc:
        log.warning("query failed on a dependency: %s", exc)
        answer = {"ok": False, "status": 503, "error": {
            "code": "dependency_unavailable", "message": "a storage backend did not answer; "
            "try again", "details": {}}}
    except Exception:  # noqa: BLE001 - the API must get an answer, not a timeout
        log.exception("query crashed")
        answer = {"ok": False, "status": 500, "error": {
            "code": "internal_error", "message": "internal error", "details": {}}}
    if reply_to:
        rt.replies.send(reply_to, answer)
    return answer


def register_tasks(app: Celery, max_retries: int) -> None:
    """Define Headstart's tasks on ``app``."""

    @app.task(name=names.EMBED_INPUTS, bind=True, max_retries=max_retries)
    def embed_inputs(self: Task, job_id: str, app_id: str, input_ids: list[str]) -> Any:
        # A failing job fails its pending inputs before the job itself, so a client
        # that sees the job failed finds its inputs failed too.
        result = _run_job_task(
            self, job_id, lambda rt: embedding.embed_inputs(rt, job_id, app_id, input_ids),
            lambda rt, error: embedding.fail_pending(rt, app_id, job_id, input_ids, error))
        if result is None:
            # Cancelled (even before it started) or ended elsewhere: its inputs must not
            # stay pending forever.
            embedding.settle_unfinished(get_runtime(), app_id, job_id, input_ids)
        return result

    @app.task(name=names.TRAIN_VERSION, bind=True, max_retries=max_retries)
    def train_version(self: Task, job_id: str, app_id: str, model_id: str,
                      version_id: str) -> Any:
        if train_job.waiting_for_embeds(get_runtime(), job_id):
            # Requeue rather than hold a worker thread while the inputs embed: a
            # sleeping train task could starve the embed tasks it waits for.
            self.apply_async(args=[job_id, app_id, model_id, version_id],
                             countdown=EMBED_POLL_SECONDS, task_id=job_id, ignore_result=True)
            return None
        return _run_job_task(
            self, job_id,
            lambda rt: train_job.train_version(rt, job_id, app_id, model_id, version_id),
            lambda rt, error: train_job.mark_version_failed(rt, app_id, model_id, version_id,
                                                            error),
        )

    @app.task(name=names.PREDICT, bind=True, max_retries=max_retries)
    def predict(self: Task, job_id: str, app_id: str, model_id: str, version_id: str,
                is_default: bool, request_key: str) -> Any:
        # A success wakes the API request waiting on this job in the step that records
        # it, with the result, so the API answers without reading the record back and
        # before the job's clean-up.
        result = _run_job_task(
            self, job_id,
            lambda rt: prediction.predict(rt, app_id, model_id, version_id, is_default,
                                          request_key), reply_to=job_id)
        rt = get_runtime()
        if result is None:
            # Failed, cancelled or already ended: the API reads the job record.
            rt.replies.send(job_id, {"done": True, "result": None})
        # The request may carry images or videos: free it now rather than at its TTL.
        rt.redis.delete(request_key)
        return result

    @app.task(name=names.READ_INPUTS)
    def read_inputs(app_id: str, input_id: str | None = None,
                    query: dict[str, Any] | None = None,
                    reply_to: str | None = None) -> dict[str, Any]:
        if input_id is not None:
            return _answer(reply_to, lambda rt: input_queries.get_input(rt, app_id, input_id))
        return _answer(reply_to,
                       lambda rt: input_queries.list_inputs(rt, app_id, **(query or {})))

    @app.task(name=names.SUGGEST_LABELS)
    def suggest_labels(app_id: str, model_id: str, version_id: str, is_default: bool,
                       limit: int, reply_to: str | None = None) -> dict[str, Any]:
        return _answer(reply_to, lambda rt: suggestions.suggest(
            rt, app_id, model_id, version_id, is_default, limit))

    @app.task(name=names.PATCH_INPUT)
    def patch_input(app_id: str, input_id: str, concepts: list[dict[str, Any]] | None,
                    metadata: dict[str, Any] | None, action: str,
                    reply_to: str | None = None) -> dict[str, Any]:
        return _answer(reply_to, lambda rt: input_queries.patch_input(
            rt, app_id, input_id, concepts=concepts, metadata=metadata, action=action))

    @app.task(name=names.DELETE_INPUTS)
    def delete_inputs(app_id: str, input_ids: list[str],
                      reply_to: str | None = None) -> dict[str, Any]:
        return _answer(reply_to,
                       lambda rt: input_queries.delete_inputs(rt, app_id, input_ids))

    # A Redis hiccup before the POST must not lose the message: retried with backoff.
    @app.task(name=names.DELIVER_WEBHOOK, ignore_result=True, autoretry_for=TRANSIENT_ERRORS,
              retry_backoff=True, max_retries=5)
    def deliver_webhook(app_id: str, endpoint_id: str, message_id: str, attempt: int = 1,
                        replay: bool = False, not_before: float | None = None) -> None:
        rt = get_runtime()
        args = [app_id, endpoint_id, message_id]
        early = not_before - now() if not_before is not None else 0.0
        if early > 0.05:
            # A hop of a long delay (see delivery.hop): not due yet, send it on.
            deliver_webhook.apply_async(
                args, {"attempt": attempt, "replay": replay, "not_before": not_before},
                countdown=delivery.hop(not_before, now(), rt.settings))
            return
        if early > 0:
            time.sleep(early)  # a timer a hair early: never retry before the promised time
        delay = delivery.deliver(rt.webhooks, rt.settings, app_id, endpoint_id, message_id,
                                 attempt, replay)
        if delay is not None:
            due = now() + delay
            deliver_webhook.apply_async(
                args, {"attempt": attempt + 1, "replay": replay, "not_before": due},
                countdown=delivery.hop(due, now(), rt.settings))

    @app.task(name=names.DELETE_ARTIFACTS)
    def delete_artifacts(app_id: str, model_id: str, version_ids: list[str]) -> None:
        rt = get_runtime()
        for version_id in version_ids:
            rt.models.delete(app_id, model_id, version_id)
            rt.heads.drop(app_id, model_id, version_id)
