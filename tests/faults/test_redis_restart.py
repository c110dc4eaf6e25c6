"""Workers outlive a restart of their Redis server: the task running across it
finishes, and new jobs are consumed afterwards (no consumer stalled after the
reconnect). Redis runs with AOF, as in production, so nothing queued is lost."""

from __future__ import annotations

import time

import pytest

from tests.faults.processes import Gate, wait_for
from tests.media import encode, photo

pytestmark = pytest.mark.faults

# How soon after Redis is back work must be done. Far below the visibility timeout
# set here, so nothing passes through a redelivery after that timeout.
RECOVERY_SECONDS = 40
DOWN_SECONDS = 2


def _add(tenant, prefix: str, extra: list[dict] | None = None):
    inputs = [{"id": f"{prefix}{k}", "data": {"text": f"{prefix} sentence {k}"}}
              for k in range(3)]
    return tenant.post("/v1/inputs", json={"inputs": inputs + (extra or [])})


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_workers_go_on_consuming_after_redis_restarts(fault_env, pool):
    env = fault_env(visibility_timeout=300, task_time_limit=240, task_soft_time_limit=200)
    worker = env.worker(pool=pool, concurrency=1)
    tenant = env.tenant()
    before = _add(tenant, "before").get_json()["job"]["id"]
    assert tenant.wait_job(before, 60)["status"] == "succeeded", env.logs()

    with Gate(encode(photo("astronaut"), "PNG")) as gate:
        held = {"id": "held", "data": {"image": {"url": gate.url}}}
        in_flight = _add(tenant, "during", [held]).get_json()["job"]["id"]
        gate.wait_requests(1)  # the task is running, blocked on its fetch
        # The texts' part of the batch is written while the image part waits on the
        # gate: Redis goes down only once that write is done, so the outage meets the
        # task blocked on its fetch, not mid-write (which would be a retried delivery).
        during = [f"during{k}" for k in range(3)]
        wait_for(lambda: set(env.statuses(tenant.id, during).values()) == {"embedded"}, 30,
                 "the texts of the in-flight batch to be embedded")

        env.redis.stop()
        # While Redis is down the API answers 503 rather than hanging or losing work.
        assert _add(tenant, "down").status_code == 503
        time.sleep(DOWN_SECONDS)  # the outage itself: the worker retries meanwhile
        env.redis.start()
        back = time.monotonic()
        gate.opened.set()
        job = tenant.wait_job(in_flight, RECOVERY_SECONDS)
    assert job["status"] == "succeeded" and job["attempts"] == 1, env.logs()

    resp = wait_for(lambda: (r := _add(tenant, "after")).status_code == 202 and r, 20,
                    "the API to accept work again", 0.2)
    job = tenant.wait_job(resp.get_json()["job"]["id"], RECOVERY_SECONDS)
    assert job["status"] == "succeeded", env.logs()
    recovered = time.monotonic() - back
    # And it keeps consuming, not just once; the job from before the restart is kept.
    again = _add(tenant, "again").get_json()["job"]["id"]
    assert tenant.wait_job(again, 30)["status"] == "succeeded", env.logs()
    assert tenant.get(f"/v1/jobs/{before}").get_json()["job"]["status"] == "succeeded"
    assert worker.process is not None and worker.process.poll() is None
    print(f"\n{pool}: new job done {recovered:.1f}s after Redis was back")
