"""Cancelling a queued job stops it from ever running; cancelling a running one stops
it at the next batch boundary, with Qdrant holding exactly the inputs marked embedded."""

from __future__ import annotations

import pytest

from tests.faults.processes import Gate, wait_for
from tests.media import encode, photo

pytestmark = pytest.mark.faults


def test_cancel_running_and_queued_embed_jobs(fault_env):
    # No worker dies here: a long visibility timeout keeps the held task delivered once.
    env = fault_env(embed_batch_size=4, visibility_timeout=300, task_time_limit=240,
                    task_soft_time_limit=200)
    worker = env.worker(concurrency=1)  # one task at a time: the second job stays queued
    tenant = env.tenant()
    with Gate(encode(photo("rocket"), "PNG")) as gate:
        # Batches [r0-r3], [r4, r5, held, r6], [r7-r10], [r11]: the worker blocks in batch 2.
        running = [{"id": f"r{n}", "data": {"text": f"running job text {n}"}} for n in range(12)]
        running.insert(6, {"id": "held", "data": {"image": {"url": gate.url}}})
        first = tenant.post("/v1/inputs", json={"inputs": running}).get_json()["job"]["id"]
        gate.wait_requests(1)
        queued = [{"id": f"q{n}", "data": {"text": f"queued job text {n}"}} for n in range(3)]
        second = tenant.post("/v1/inputs", json={"inputs": queued}).get_json()["job"]["id"]
        assert env.jobs.status(second) == "queued"

        for job_id in (first, second):
            resp = tenant.post(f"/v1/jobs/{job_id}/cancel")
            assert resp.status_code == 200 and resp.get_json()["job"]["status"] == "cancelled"
        gate.opened.set()
        ids = [i["id"] for i in running + queued]
        wait_for(lambda: "pending" not in env.statuses(tenant.id, ids).values(), 60,
                 "every input of both jobs to settle")

    statuses = env.statuses(tenant.id, ids)
    # The batch in progress when the cancel came was finished; none after it started.
    embedded = [i for i in ids if statuses[i] == "embedded"]
    assert embedded == ["r0", "r1", "r2", "r3", "r4", "r5", "held", "r6"]
    for input_id in set(ids) - set(embedded):
        assert env.inputs.status(tenant.id, input_id)["error"]["code"] == "cancelled"
    jobs = {j: env.jobs.get(j) for j in (first, second)}
    assert {j["status"] for j in jobs.values()} == {"cancelled"}
    assert jobs[first]["progress"]["done"] == 4  # progress after a cancel is not recorded
    assert jobs[second]["attempts"] == 0 and jobs[second]["started_at"] is None

    worker.stop()
    with env.vectors() as vectors:
        assert vectors.count("all-minilm-l6-v2", tenant.id) == 7
        assert vectors.count("efficientnet-lite0", tenant.id) == 1
