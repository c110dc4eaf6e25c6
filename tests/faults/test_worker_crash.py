"""A worker SIGKILLed in the middle of an embed or train task: the next worker
finishes the job, with exact counts in Qdrant and one published version.

The embedded deployment's worker (one process, threads pool) dies whole, so its
task comes back from Redis after the visibility timeout (set to seconds here).
"""

from __future__ import annotations

import json
import time

import pytest

from shared.vectors import point_id
from tests.faults.processes import Gate, wait_for
from tests.media import encode, photo

pytestmark = pytest.mark.faults

TEXT, IMAGE = "all-minilm-l6-v2", "efficientnet-lite0"


def test_embed_job_killed_mid_task_is_finished_by_the_next_worker(fault_env):
    # The next worker is up before the visibility timeout passes: its periodic sweep,
    # not its start, must bring the task back, within the timeout + one check.
    visibility, check = 12, 1
    env = fault_env(embed_batch_size=4, visibility_timeout=visibility, task_time_limit=10,
                    task_soft_time_limit=8, redelivery_check_seconds=check)
    first = env.worker()
    tenant = env.tenant()
    texts = [{"id": f"t{n}", "data": {"text": f"sentence number {n}"},
              "concepts": [{"id": "c", "value": 1}]} for n in range(15)]
    with Gate(encode(photo("cat"), "PNG")) as gate:
        # Batches of 4: t0-t3, t4-t7, then [t8, t9, held, t10]: the worker writes that
        # batch's texts, then blocks fetching the held image.
        inputs = texts[:10] + [{"id": "held", "data": {"image": {"url": gate.url}}}] + texts[10:]
        body = tenant.post("/v1/inputs", json={"inputs": inputs}).get_json()
        job_id = body["job"]["id"]
        gate.wait_requests(1)
        job = tenant.get(f"/v1/jobs/{job_id}").get_json()["job"]
        assert job["status"] == "running" and job["progress"]["done"] == 8, job
        first.kill()

        ids = [i["id"] for i in inputs]
        statuses = env.statuses(tenant.id, ids)
        assert [k for k in ids if statuses[k] == "embedded"] == [f"t{n}" for n in range(11)]
        gate.opened.set()
        env.worker()
        ready = time.time()
        timeout_at = job["started_at"] + visibility  # the first delivery was about then
        if ready < timeout_at - 1:
            assert env.jobs.get(job_id)["attempts"] == 1, "redelivered before the timeout"
        wait_for(lambda: env.jobs.get(job_id)["attempts"] == 2, 120, "the redelivery")
        # Back within a check of the timeout, or as the worker started if that was later
        # (kombu's default sweep period, 100 s, failed this). The margin is for busy CI.
        assert time.time() < max(timeout_at + check, ready) + 5
        job = tenant.wait_job(job_id, 60)
    assert job["status"] == "succeeded", env.logs()
    assert job["attempts"] == 2
    assert job["result"] == {"embedded": 16, "failed": 0, "skipped": 0}
    assert set(env.statuses(tenant.id, ids).values()) == {"embedded"}
    env.workers[-1].stop()
    with env.vectors() as vectors:
        assert vectors.count(TEXT, tenant.id) == 15
        assert vectors.count(IMAGE, tenant.id) == 1
        stored = vectors.client.retrieve(
            "headstart_all_minilm_l6_v2", [point_id(tenant.id, f"t{n}") for n in range(15)])
        assert len(stored) == 15


def test_train_job_killed_between_publish_and_flip_is_finished_once(fault_env):
    env = fault_env()
    first = env.worker()
    tenant = env.tenant()
    tenant.add_texts([(f"football match goal {n}", "sport") for n in range(6)]
                     + [(f"bake the bread dough {n}", "food") for n in range(6)])
    assert tenant.post("/v1/models", json={"id": "m", "concepts": ["sport", "food"]}
                       ).status_code == 201
    body = tenant.post("/v1/models/m/versions", json={}).get_json()
    job_id, version_id = body["job"]["id"], body["version"]["id"]
    folder = env.settings.model_store / tenant.id / "m" / version_id
    redis = env.redis.client()

    def training() -> bool:
        return env.registry.get_version(tenant.id, "m", version_id)["status"] == "training"

    wait_for(training, 30, "the version to be training", 0.002)
    # From here on no write reaches Redis: the worker trains and publishes the head
    # (files only), then blocks on recording `trained`. Killed there, the version is
    # on disk but not flipped.
    redis.client_pause(60_000, all=False)
    try:
        wait_for(lambda: (folder / "manifest.json").is_file(), 30, "the head to be published")
        assert training() and env.jobs.status(job_id) == "running"
        first.kill()
    finally:
        redis.client_unpause()
    published = (folder / "manifest.json").read_text()

    env.worker()
    job = tenant.wait_job(job_id, 60)
    assert job["status"] == "succeeded", env.logs()
    assert job["attempts"] == 2
    version = tenant.get(f"/v1/models/m/versions/{version_id}").get_json()["version"]
    assert version["status"] == "trained"
    # Published once: the second delivery flipped the first one's head, not a new one.
    assert (folder / "manifest.json").read_text() == published
    assert sorted(p.name for p in folder.parent.iterdir()) == [version_id]
    assert version["metrics"] == json.loads(published)["metrics"]
    resp = tenant.post("/v1/models/m/predict", json={"inputs": [{"data": {"text": "a goal"}}]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["model_version"] == version_id
