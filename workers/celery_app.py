"""Worker entry point: ``celery -A workers.celery_app worker``.

Builds the shared Celery app from the environment's settings, registers the
tasks and loads the default embedders in each process that runs tasks, so the
first task does not pay for it: the worker process itself for the threads pool
(embedded mode), each child after fork for prefork (distributed mode).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init, worker_ready

from shared.celery_app import make_celery
from shared.settings import get_settings
from workers.runtime import get_runtime
from workers.tasks import register_tasks

settings = get_settings()
app = make_celery(settings)
register_tasks(app, max_retries=max(settings.max_deliveries - 1, 0))


def _warm_up() -> None:
    runtime = get_runtime()
    for embedder_id in dict.fromkeys((settings.text_embedder, settings.image_embedder)):
        runtime.embedders.get(embedder_id)
        logging.getLogger(__name__).info("embedder %s loaded", embedder_id)


@worker_process_init.connect
def _warm_up_child(**_: Any) -> None:
    # Prefork child, after fork: torch and CUDA must not be touched before it.
    _warm_up()


@worker_ready.connect
def _warm_up_worker(sender: Any = None, **_: Any) -> None:
    pool = getattr(sender, "pool", None)
    if pool is None or not type(pool).__module__.endswith("prefork"):
        _warm_up()
