"""Jobs: get, list by status and type with pages, cancel queued and running work."""

from __future__ import annotations

from shared.jobs import JobStore
from shared.model_registry import ModelRegistry


def test_list_jobs_by_type_and_status_with_pages(live):
    for n in range(3):
        live.add_texts([(f"text {n}", "c")], id_prefix=f"j{n}-")
    live.post("/v1/models", json={"id": "m", "concepts": ["c", "d"],
                                  "options": {"closed_environment": False}})
    live.train("m")  # fails: no positives for d
    all_jobs = live.get("/v1/jobs").get_json()["jobs"]
    assert [j["type"] for j in all_jobs] == ["train", "embed", "embed", "embed"]
    assert live.get("/v1/jobs?type=embed").get_json()["jobs"] == all_jobs[1:]
    assert [j["id"] for j in live.get("/v1/jobs?status=failed").get_json()["jobs"]] == [
        all_jobs[0]["id"]]
    page = live.get("/v1/jobs?limit=2").get_json()
    assert [j["id"] for j in page["jobs"]] == [j["id"] for j in all_jobs[:2]]
    rest = live.get(f"/v1/jobs?limit=2&page_token={page['next_page_token']}").get_json()
    assert [j["id"] for j in rest["jobs"]] == [j["id"] for j in all_jobs[2:]]
    assert rest["next_page_token"] is None
    assert live.get("/v1/jobs?type=nope").status_code == 422
    assert live.get("/v1/jobs/nope").status_code == 404


def test_cancel_finished_job_is_a_conflict(live):
    body = live.add_texts([("x", "c")])
    resp = live.post(f"/v1/jobs/{body['job']['id']}/cancel")
    assert resp.status_code == 409
    assert resp.get_json()["error"]["details"]["status"] == "succeeded"


def test_cancelled_queued_train_job_never_runs(live, worker, redis_client, settings):
    live.add_texts([("a", "c"), ("b", "d")])
    live.post("/v1/models", json={"id": "m", "concepts": ["c", "d"]})
    registry = ModelRegistry(redis_client, settings.redis_prefix)
    jobs = JobStore(redis_client, settings.redis_prefix)
    # Record the job as the API does but hold the task back until after the cancel.
    model = registry.get_model(live.id, "m")
    version_id = registry.new_version_id(live.id, "m")
    with redis_client.pipeline() as pipe:
        registry.add_version(live.id, model, version_id, "held", pipe)
        job = jobs.create(live.id, "train", 1, {"model_id": "m", "version_id": version_id},
                          pipe=pipe, job_id=f"held-{live.id}")
        pipe.execute()
    resp = live.post(f"/v1/jobs/{job['id']}/cancel")
    assert resp.status_code == 200 and resp.get_json()["job"]["status"] == "cancelled"

    from shared.celery_app import TRAIN_VERSION

    result = worker.send_task(TRAIN_VERSION, args=[job["id"], live.id, "m", version_id])
    assert result.get(timeout=30) is None
    assert live.get(f"/v1/jobs/{job['id']}").get_json()["job"]["status"] == "cancelled"
    version = live.get(f"/v1/models/m/versions/{version_id}").get_json()["version"]
    assert version["status"] == "failed" and version["error"]["code"] == "cancelled"
    assert not (settings.model_store / live.id / "m" / version_id).exists()


def test_running_embed_job_stops_at_a_batch_boundary(live, runtime, settings):
    texts = [(f"sentence {n}", "c") for n in range(3 * settings.embed_batch_size)]
    record_progress = runtime.jobs.set_progress

    def progress_then_cancel(job_id: str, done: int, total: int | None = None) -> None:
        # The client's cancel lands right after the worker finished its first batch.
        record_progress(job_id, done, total)
        runtime.jobs.cancel(job_id, live.id)

    runtime.jobs.set_progress = progress_then_cancel  # type: ignore[method-assign]
    try:
        body = live.add_texts(texts, wait=False)
        job = live.wait_job(body["job"]["id"])
    finally:
        del runtime.jobs.set_progress
    assert job["status"] == "cancelled"
    assert job["progress"]["done"] == settings.embed_batch_size
    inputs = [live.get(f"/v1/inputs/{i['id']}").get_json()["input"] for i in body["inputs"]]
    statuses = [i["status"] for i in inputs]
    assert statuses.count("embedded") == settings.embed_batch_size
    # The rest will never be embedded by this job: they say so instead of staying pending.
    assert statuses.count("failed") == 2 * settings.embed_batch_size
    assert {i["error"]["code"] for i in inputs if i["status"] == "failed"} == {"cancelled"}
    assert runtime.vectors.count("all-minilm-l6-v2", live.id) == settings.embed_batch_size


def test_list_jobs_rejects_a_forged_page_token(live):
    resp = live.get("/v1/jobs?page_token=abc")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["details"]["field"] == "page_token"


def test_poison_embed_job_fails_and_marks_its_inputs_failed(live, worker, runtime, settings):
    from shared.celery_app import EMBED_INPUTS

    job = runtime.jobs.create(live.id, "embed", 1)
    with runtime.redis.pipeline() as pipe:
        runtime.inputs.stage(live.id, [{"id": "poison", "modality": "text", "data": {"text": "x"},
                                        "source": {"text": "x"}, "embedder": "all-minilm-l6-v2",
                                        "positive": [], "negative": [], "metadata": {}}],
                             job["id"], pipe)
        pipe.execute()
    for _ in range(settings.max_deliveries):
        runtime.jobs.start(job["id"])  # deliveries that each killed their worker
    worker.send_task(EMBED_INPUTS, args=[job["id"], live.id, ["poison"]]).get(timeout=30)
    assert live.get(f"/v1/jobs/{job['id']}").get_json()["job"]["error"]["code"] == \
        "too_many_deliveries"
    got = live.get("/v1/inputs/poison").get_json()["input"]
    assert got["status"] == "failed" and got["error"]["code"] == "too_many_deliveries"
    assert runtime.vectors.count("all-minilm-l6-v2", live.id) == 0


def test_unreachable_queue_fails_the_job_instead_of_leaving_it_queued(live, queue_down):
    with queue_down():
        resp = live.post("/v1/inputs", json={"inputs": [{"id": "lost", "data": {"text": "x"}}]})
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "queue_unavailable"
    job = live.get("/v1/jobs").get_json()["jobs"][0]
    assert job["status"] == "failed" and job["error"]["code"] == "queue_unavailable"
    got = live.get("/v1/inputs/lost").get_json()["input"]
    assert got["status"] == "failed" and got["error"]["code"] == "queue_unavailable"
