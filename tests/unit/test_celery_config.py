"""The Celery app carries DESIGN.md's reliability settings."""

from __future__ import annotations

from shared.celery_app import QUEUES, ROUTES, make_celery
from shared.settings import Settings


def test_reliability_settings():
    settings = Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/15")
    conf = make_celery(settings).conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]
    assert conf.accept_content == ["json"]
    assert {q.name for q in conf.task_queues} == set(QUEUES) >= {"embed", "predict", "train"}
    assert set(ROUTES.values()) <= set(QUEUES)
    assert {conf.task_routes[name]["queue"] for name in ROUTES} == set(ROUTES.values())


def test_worker_registers_every_routed_task():
    from workers.celery_app import app

    assert set(ROUTES) <= set(app.tasks)


def test_crash_and_reconnect_settings():
    # docs/reliability.md: why each of these is set, and the fault test behind it.
    settings = Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/15",
                        redelivery_check_seconds=7)
    conf = make_celery(settings).conf
    transport = conf.broker_transport_options
    assert transport["unacked_restore_interval"] == 7
    assert transport["unacked_restore_throttle"] == 1
    assert conf.task_acks_on_timeout is False
    assert conf.broker_connection_max_retries is None
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is False
    assert conf.worker_proc_alive_timeout >= 60
