"""Sending tasks to workers by name, and waiting a bounded time for short ones."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

from shared.errors import ServiceUnavailable, error_from_dict
from shared.replies import Replies


class Dispatcher:
    """Thin wrapper over ``Celery.send_task`` with the API's error semantics."""

    def __init__(self, celery: Celery, replies: Replies, query_wait_seconds: float) -> None:
        self.celery = celery
        self.replies = replies
        self.query_wait_seconds = query_wait_seconds

    def send(self, task_name: str, args: list[Any] | None = None,
             kwargs: dict[str, Any] | None = None, task_id: str | None = None,
             expires: float | None = None) -> None:
        """Enqueue a task; ``ServiceUnavailable`` when the broker cannot be reached."""
        try:
            # Answers come through the job store and reply lists, never Celery's
            # result backend: ignoring results keeps the API off it entirely.
            self.celery.send_task(task_name, args=args or [], kwargs=kwargs or {},
                                  task_id=task_id, expires=expires, ignore_result=True)
        except OperationalError as exc:
            raise ServiceUnavailable("the task queue is unreachable; try again",
                                     code="queue_unavailable") from exc

    def ask(self, task_name: str, **kwargs: Any) -> Any:
        """Run a `query`-queue task and wait for its answer.

        Returns:
            The worker's value.

        Raises:
            HeadstartError: The worker's typed error, or ``ServiceUnavailable``
                when no worker answered within the wait.
        """
        wait = self.query_wait_seconds
        reply_id = uuid.uuid4().hex
        # Expiring at the wait means a late worker never acts on a request whose
        # caller already got an error.
        self.send(task_name, kwargs={**kwargs, "reply_to": reply_id}, expires=wait)
        answer = self.replies.wait(reply_id, wait)
        if answer is None:
            raise ServiceUnavailable(f"no worker answered within {wait:g}s; try again",
                                     code="worker_timeout")
        if not answer["ok"]:
            raise error_from_dict(answer["status"], answer["error"])
        return answer["value"]
