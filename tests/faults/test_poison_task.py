"""A task that kills its worker on every delivery ends `failed` after the cap.

Run in the distributed deployment's pool (prefork): the dying child's task goes
back to the queue at once (``task_reject_on_worker_lost``) and a fresh child
takes it, so without the cap it would loop for ever. The test plays the part
of whatever kills the process (the kernel's OOM killer, a crashing decoder):
each delivery fetches a held URL, and the test SIGKILLs the child right there.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.faults.processes import Gate, wait_for
from tests.media import encode, photo

pytestmark = pytest.mark.faults


def test_task_killing_its_worker_every_time_fails_after_max_deliveries(fault_env):
    # A visibility timeout far off: every redelivery here comes from the rejection.
    env = fault_env(max_deliveries=3, visibility_timeout=300, task_time_limit=240,
                    task_soft_time_limit=200)
    worker = env.worker(pool="prefork", concurrency=1)
    tenant = env.tenant()
    with Gate(encode(photo("coffee"), "PNG")) as gate:
        body = tenant.post("/v1/inputs", json={"inputs": [
            {"id": "fine", "data": {"text": "an ordinary sentence"}},
            {"id": "poison", "data": {"image": {"url": gate.url}}}]}).get_json()
        job_id = body["job"]["id"]
        children = set()
        for delivery in range(1, 4):
            gate.wait_requests(delivery, timeout=120)  # a new child loads its models first
            assert env.jobs.get(job_id)["attempts"] == delivery
            if delivery == 1:
                # The text's part of the batch is written while the image part is stuck:
                # the poison does not take it down.
                wait_for(lambda: env.statuses(tenant.id, ["fine"]) == {"fine": "embedded"},
                         30, "the text of the poisoned batch to be embedded")
            (child,) = worker.children()
            children.add(child)
            os.kill(child, signal.SIGKILL)
        job = tenant.wait_job(job_id, 120)
        assert gate.requests == 3  # the fourth delivery never ran the task
    assert len(children) == 3, "each delivery ran in a new child"
    assert job["status"] == "failed", env.logs()
    assert job["error"]["code"] == "too_many_deliveries"
    assert job["attempts"] == 4
    assert env.statuses(tenant.id, ["fine", "poison"]) == {"fine": "embedded",
                                                           "poison": "failed"}
    assert env.inputs.status(tenant.id, "poison")["error"]["code"] == "too_many_deliveries"
    assert worker.process is not None and worker.process.poll() is None
    # The job is over: nothing of it is left in the queue to loop on.
    redis = env.redis.client()
    prefix = f"{env.settings.redis_prefix}:celery:"
    wait_for(lambda: redis.llen(prefix + "embed") == 0 and redis.hlen(prefix + "unacked") == 0,
             10, "the queue and the unacked set to be empty")
    worker.stop()
    with env.vectors() as vectors:
        assert vectors.count("all-minilm-l6-v2", tenant.id) == 1
        assert vectors.count("efficientnet-lite0", tenant.id) == 0
