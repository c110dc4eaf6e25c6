"""The one Celery application: queues, routes and the reliability settings.

The API imports it to send tasks by name; the workers import it and register
the task functions. Neither side imports the other.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from shared.settings import Settings

# Task names, shared by sender and worker.
EMBED_INPUTS = "headstart.embed_inputs"
TRAIN_VERSION = "headstart.train_version"
PREDICT = "headstart.predict"
READ_INPUTS = "headstart.read_inputs"
SUGGEST_LABELS = "headstart.suggest_labels"
PATCH_INPUT = "headstart.patch_input"
DELETE_INPUTS = "headstart.delete_inputs"
DELETE_ARTIFACTS = "headstart.delete_artifacts"
DELIVER_WEBHOOK = "headstart.deliver_webhook"

# `query` is the fast queue for short reads (inputs, label suggestions) and label edits
# the API waits on; `webhooks` keeps deliveries (slow receivers, retries) off the others.
QUEUES = ("embed", "predict", "train", "query", "webhooks")
ROUTES = {
    EMBED_INPUTS: "embed",
    TRAIN_VERSION: "train",
    DELETE_ARTIFACTS: "train",
    PREDICT: "predict",
    READ_INPUTS: "query",
    SUGGEST_LABELS: "query",
    PATCH_INPUT: "query",
    DELETE_INPUTS: "query",
    DELIVER_WEBHOOK: "webhooks",
}


def make_celery(settings: Settings) -> Celery:
    """Build the Celery app for ``settings`` (DESIGN.md section 7)."""
    app = Celery("headstart", broker=settings.redis_url, backend=settings.redis_url)
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        # Queues live under the deployment's prefix, like every other key, so two
        # deployments (or test sessions) sharing a Redis DB never take each other's tasks.
        "global_keyprefix": f"{settings.redis_prefix}:celery:",
        # kombu sweeps for messages unacknowledged past the visibility timeout (their
        # worker died) only every interval x throttle seconds, 100 s by default;
        # throttle 1 makes the sweep period the setting, so a crashed task comes back
        # within visibility_timeout + redelivery_check_seconds.
        "unacked_restore_interval": settings.redelivery_check_seconds,
        "unacked_restore_throttle": 1,
    }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # One direct exchange per queue: a message reaches exactly the queue it names.
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name)
                     for name in QUEUES],
        task_default_queue="embed",
        task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
        # A task is acknowledged only after it finished, and a worker that dies
        # mid-task gives it back, so a crash never loses work.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A task the prefork pool kills at the hard time limit goes back to the queue
        # too (acknowledged, its job would stay `running` for ever); the delivery cap
        # then fails its job if it keeps timing out.
        task_acks_on_timeout=False,
        worker_prefetch_multiplier=1,
        # Hard limit below the visibility timeout: a task is stopped before Redis
        # would hand it to a second worker while the first still runs it.
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        # A worker outlives any Redis outage: it keeps reconnecting (every 2 s at
        # first, then up to every 30 s) instead of exiting after 100 tries.
        broker_connection_max_retries=None,
        # A task running when the broker connection drops runs to its end. Cancelling
        # it (the prefork pool kills the child) would leave its job `running` until
        # the visibility timeout brings the message back, an hour later; our tasks are
        # idempotent, so any redelivery its lost ack causes is a no-op
        # (tests/faults/test_redis_restart.py).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # The pool is chosen on the command line (threads for the embedded mode,
        # prefork against a Qdrant server): a pool set here would override it.
        worker_concurrency=settings.worker_concurrency,
        # A prefork child loads its embedders before it reports up (workers/celery_app.py).
        # Celery kills a child not up within 4 s, and the replacement of a crashed child
        # was killed so, again and again (tests/faults/test_poison_task.py).
        worker_proc_alive_timeout=300,
        worker_hijack_root_logger=False,
        task_store_eager_result=False,
    )
    return app
