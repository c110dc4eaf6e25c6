"""Webhook events: what happened, to whom it is sent, and the thin payloads.

The stores call :meth:`Events.emit` right after a state change they applied (a job
ended, a version was trained or failed, an input failed). ``emit`` finds the app's
enabled endpoints subscribed to the event, keeps the message (one id, one body for
every retry and replay) and enqueues one delivery task per endpoint on the
``webhooks`` queue. It never raises: the state change already happened, and a lost
notification must not turn into a failed job.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import redis
from celery import Celery

from shared.celery_app import DELIVER_WEBHOOK, make_celery
from shared.redis_store import now
from shared.settings import Settings
from shared.webhooks import WebhookStore, new_message_id

log = logging.getLogger(__name__)

JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED = "job.succeeded", "job.failed", "job.cancelled"
VERSION_TRAINED, VERSION_FAILED = "model_version.trained", "model_version.failed"
INPUT_FAILED = "input.failed"
EVENT_TYPES = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED, VERSION_TRAINED, VERSION_FAILED,
               INPUT_FAILED)


def iso_time(stamp: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds (``2026-01-02T03:04:05.678Z``)."""
    text = datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _error_code(error: dict[str, Any] | None) -> dict[str, Any]:
    # Thin payloads: the code says what happened; the API holds the message.
    return {"error": {"code": error.get("code")}} if error else {}


def job_data(job_id: str, job_type: str, status: str, created_at: float | None,
             finished_at: float | None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``data`` of a ``job.*`` event."""
    return {"job": {"id": job_id, "type": job_type, "status": status,
                    "created_at": created_at, "finished_at": finished_at},
            **_error_code(error)}


def version_data(version: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` of a ``model_version.*`` event, from a version record."""
    return {"model_version": {"id": version["id"], "model_id": version["model_id"],
                              "status": version["status"], "job_id": version.get("job_id"),
                              "created_at": version.get("created_at"),
                              "trained_at": version.get("trained_at")},
            **_error_code(version.get("error"))}


def input_data(input_id: str, status: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` of an ``input.failed`` event, from an input status record."""
    return {"input": {"id": input_id, "status": status["status"], "job_id": status.get("job_id"),
                      "modality": status.get("modality"), "updated_at": status.get("updated_at")},
            **_error_code(status.get("error"))}


class Events:
    """Emits webhook events of every app to their subscribed endpoints."""

    def __init__(self, client: redis.Redis, settings: Settings, celery: Celery | None = None,
                 ) -> None:
        self.store = WebhookStore(client, settings.redis_prefix)
        self.settings = settings
        self._celery = celery

    @property
    def celery(self) -> Celery:
        """The Celery app deliveries are sent with (built on first use)."""
        if self._celery is None:
            self._celery = make_celery(self.settings)
        return self._celery

    def emit(self, app: str, event_type: str, data: dict[str, Any]) -> str | None:
        """Send ``event_type`` with ``data`` to the app's subscribed endpoints.

        Returns:
            The message id, or None when no endpoint wanted it or emitting failed
            (logged, never raised).
        """
        try:
            endpoints = self.store.subscribed(app, event_type)
            if not endpoints:
                return None
            stamp = now()
            message = {"id": new_message_id(), "type": event_type, "created_at": stamp,
                       "endpoints": [e["id"] for e in endpoints],
                       "body": json.dumps({"type": event_type, "timestamp": iso_time(stamp),
                                           "app": app, "data": data}, separators=(",", ":"))}
            self.store.save_message(app, message, self.settings.webhook_message_ttl_seconds)
        except Exception:  # noqa: BLE001 - the main path must go on
            log.exception("webhook event %s of app %s was not emitted", event_type, app)
            return None
        for endpoint in endpoints:
            self.enqueue(app, endpoint["id"], message["id"])
        return message["id"]

    def enqueue(self, app: str, endpoint_id: str, msg_id: str) -> bool:
        """Queue the first delivery attempt of a message to one endpoint (logged on failure)."""
        try:
            self.celery.send_task(DELIVER_WEBHOOK, args=[app, endpoint_id, msg_id],
                                  ignore_result=True)
            return True
        except Exception:  # noqa: BLE001 - the broker may be down; the event is lost, not the job
            log.exception("webhook %s of app %s: delivery of %s not queued", endpoint_id, app,
                          msg_id)
            return False
