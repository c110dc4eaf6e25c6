"""A task delivered more often than the cap ends its job `failed`; transient errors retry."""

from __future__ import annotations

import pytest
import redis

from workers.job_runner import run_job


def test_poison_job_fails_after_max_deliveries(runtime, settings):
    job = runtime.jobs.create("app-cap", "embed", 1)
    ran = []
    for _ in range(settings.max_deliveries):
        runtime.jobs.start(job["id"])  # deliveries that died mid-task
    assert run_job(runtime, job["id"], lambda: ran.append(1) or {}) is None
    assert ran == []
    stored = runtime.jobs.get(job["id"])
    assert stored["status"] == "failed" and stored["error"]["code"] == "too_many_deliveries"
    assert stored["attempts"] == settings.max_deliveries + 1


def test_transient_errors_propagate_for_retry_and_others_fail_the_job(runtime):
    job = runtime.jobs.create("app-cap", "train", 1)

    def flaky() -> dict:
        raise redis.ConnectionError("connection reset")

    with pytest.raises(redis.ConnectionError):
        run_job(runtime, job["id"], flaky)
    assert runtime.jobs.get(job["id"])["status"] == "running"  # left for the retry

    def broken() -> dict:
        raise ValueError("bad state")

    failures = []
    assert run_job(runtime, job["id"], broken, failures.append) is None
    stored = runtime.jobs.get(job["id"])
    assert stored["status"] == "failed" and stored["error"]["code"] == "internal_error"
    assert failures == [stored["error"]]
