"""Worker entry point: ``celery -A workers.celery_app worker``.

Builds the shared Celery app from the environment's settings, registers the
tasks and loads the default embedder when the worker starts, so the first task
does not pay for it.
"""

from __future__ import annotations

import logging

from celery.signals import worker_ready

from shared.celery_app import make_celery
from shared.settings import get_settings
from workers.runtime import get_runtime
from workers.tasks import register_tasks

settings = get_settings()
app = make_celery(settings)
register_tasks(app, max_retries=max(settings.max_deliveries - 1, 0))


@worker_ready.connect
def _warm_up(**_: object) -> None:
    runtime = get_runtime()
    runtime.embedders.get(runtime.settings.text_embedder)
    logging.getLogger(__name__).info("worker ready: embedder %s loaded",
                                     runtime.settings.text_embedder)
