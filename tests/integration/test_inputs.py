"""Inputs through the real worker: add, get, list with filters and pages, patch, delete."""

from __future__ import annotations

EMBEDDER = "all-minilm-l6-v2"


def test_add_answers_at_once_with_ids_and_a_job(live):
    resp = live.post("/v1/inputs", json={"inputs": [
        {"id": "a", "data": {"text": "hello"}, "concepts": [{"id": "greet", "value": 1}],
         "metadata": {"source": "test"}},
        {"data": {"text": "no id given"}},
    ]})
    assert resp.status_code == 202
    body = resp.get_json()
    assert [i["status"] for i in body["inputs"]] == ["pending", "pending"]
    assert body["inputs"][0]["id"] == "a" and len(body["inputs"][1]["id"]) == 32
    assert body["job"]["type"] == "embed" and body["job"]["status"] == "queued"
    assert body["job"]["progress"] == {"done": 0, "total": 2}

    job = live.wait_job(body["job"]["id"])
    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 2, "total": 2}
    assert job["result"] == {"embedded": 2, "failed": 0, "skipped": 0}
    assert job["started_at"] >= job["created_at"] and job["finished_at"] >= job["started_at"]

    got = live.get("/v1/inputs/a").get_json()["input"]
    assert got["status"] == "embedded"
    assert got["data"] == {"text": "hello"}
    assert got["concepts"] == [{"id": "greet", "value": 1}]
    assert got["metadata"] == {"source": "test"}
    concepts = live.get("/v1/concepts").get_json()["concepts"]
    assert [c["id"] for c in concepts] == ["greet"]


def _stage_without_job(tenant, redis_client, settings, input_id: str) -> None:
    """Stage an input as the API does, but send no embed task: it stays pending."""
    from shared.inputs import InputStore

    store = InputStore(redis_client, settings.redis_prefix)
    with redis_client.pipeline() as pipe:
        store.stage(tenant.id, [{"id": input_id, "modality": "text", "data": {"text": "waiting"},
                                 "source": {"text": "waiting"}, "embedder": EMBEDDER,
                                 "positive": [], "negative": ["x"], "metadata": {}}],
                    "no-job", pipe)
        pipe.execute()


def test_a_batch_is_finalised_in_one_transaction_and_a_resent_input_is_left_alone(
        redis_client, settings):
    from shared.inputs import EMBEDDED, FAILED, PENDING, InputStore

    store, app = InputStore(redis_client, settings.redis_prefix), "app-finalise-many"
    items = [{"id": f"f{k}", "modality": "image", "data": {"image": {}}, "source": {"blob": True},
              "embedder": EMBEDDER, "positive": [], "negative": [], "metadata": {},
              "blob": b"bytes"} for k in range(3)]

    def stage(batch):
        with redis_client.pipeline() as pipe:
            statuses = store.stage(app, batch, "job-1", pipe)
            pipe.execute()
        return {s["id"]: s["rev"] for s in statuses}

    revs = stage(items)
    staged = store.staged_many(app, ["f0", "missing", "f2"])
    assert [s and s["rev"] for s in staged] == [revs["f0"], None, revs["f2"]]
    newer = stage(items[1:2])  # f1 re-sent while its first version embedded
    error = {"code": "corrupt", "message": "bad pixels"}
    applied = store.finalise_many(app, [("f0", revs["f0"], None), ("f1", revs["f1"], None),
                                        ("f2", revs["f2"], error)])
    assert applied == [True, False, True]
    statuses = store.statuses(app, ["f0", "f1", "f2"])
    assert [statuses[i]["status"] for i in ("f0", "f1", "f2")] == [EMBEDDED, PENDING, FAILED]
    assert statuses["f2"]["error"] == error and statuses["f1"]["rev"] == newer["f1"]
    # Embedded: staging and bytes gone; failed: the record stays, its bytes go; the
    # re-sent input keeps its new record and bytes.
    assert store.staged_many(app, ["f0", "f1", "f2"])[0] is None
    assert store.staged(app, "f1")["rev"] == newer["f1"] and store.staged(app, "f2") is not None
    assert store.blob(app, "f0", revs["f0"]) is None and store.blob(app, "f2", revs["f2"]) is None
    assert store.blob(app, "f1", newer["f1"]) == b"bytes"
    assert store.finalise_many(app, []) == []


def test_pending_input_is_answered_from_staging(tenant, redis_client, settings):
    _stage_without_job(tenant, redis_client, settings, "p1")
    got = tenant.get("/v1/inputs/p1").get_json()["input"]
    assert got["status"] == "pending"
    assert got["concepts"] == [{"id": "x", "value": 0}]


def test_list_shows_pending_then_embedded(live, redis_client, settings):
    live.add_texts([("stored one", "x")])
    _stage_without_job(live, redis_client, settings, "p1")
    listed = live.get("/v1/inputs?limit=1").get_json()
    assert [(i["id"], i["status"]) for i in listed["inputs"]] == [("p1", "pending")]
    rest = live.get(f"/v1/inputs?limit=5&page_token={listed['next_page_token']}").get_json()
    assert [(i["id"], i["status"]) for i in rest["inputs"]] == [("t0", "embedded")]
    pending = live.get("/v1/inputs?status=pending").get_json()["inputs"]
    assert [i["id"] for i in pending] == ["p1"]
    # Patching a pending input edits its staged labels, which the embedding will use.
    resp = live.patch("/v1/inputs/p1", json={"concepts": [{"id": "y", "value": 1}]})
    assert resp.get_json()["input"]["concepts"] == [{"id": "y", "value": 1},
                                                    {"id": "x", "value": 0}]


def test_vectors_are_stored_in_qdrant_with_labels(live, runtime):
    live.add_texts([("a red apple", "fruit"), ("a yellow banana", "fruit")])
    assert runtime.vectors.count(EMBEDDER, live.id) == 2
    points = runtime.vectors.retrieve(EMBEDDER, live.id, ["t0", "t1"], with_vectors=True)
    assert points["t0"].payload["positive"] == ["fruit"]
    assert points["t0"].vector.shape == (384,)
    assert abs(float((points["t0"].vector ** 2).sum()) - 1.0) < 1e-4


def test_resending_inputs_never_duplicates_points(live, runtime):
    items = [(f"sentence number {n}", "c") for n in range(5)]
    live.add_texts(items)
    live.add_texts(items)
    assert runtime.vectors.count(EMBEDDER, live.id) == 5
    listed = live.get("/v1/inputs?limit=50").get_json()["inputs"]
    assert sorted(i["id"] for i in listed) == [f"t{n}" for n in range(5)]


def test_redelivered_embed_task_does_not_duplicate(live, runtime, worker):
    from shared.celery_app import EMBED_INPUTS

    body = live.add_texts([(f"doc {n}", "c") for n in range(6)], wait=False)
    ids = [i["id"] for i in body["inputs"]]
    # The same message delivered again while the first may still run, as Redis does
    # after a visibility timeout or a lost worker.
    worker.send_task(EMBED_INPUTS, args=[body["job"]["id"], live.id, ids])
    job = live.wait_job(body["job"]["id"])
    assert job["status"] == "succeeded"
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and runtime.vectors.count(EMBEDDER, live.id) < 6:
        time.sleep(0.1)
    time.sleep(1.0)  # let the second delivery finish too
    assert runtime.vectors.count(EMBEDDER, live.id) == 6
    assert {i["status"] for i in live.get("/v1/inputs").get_json()["inputs"]} == {"embedded"}
    # Running the plain function again on finished inputs changes nothing; the inputs
    # this job already embedded count as embedded (the result is the job's, whichever
    # delivery records it).
    from workers.embedding import embed_inputs

    assert embed_inputs(runtime, body["job"]["id"], live.id, ids) == {"embedded": 6, "failed": 0,
                                                                   "skipped": 0}
    assert runtime.vectors.count(EMBEDDER, live.id) == 6


def test_list_filters_by_concept_and_status_with_pages(live):
    live.add_texts([(f"cat text {n}", "cat") for n in range(5)], id_prefix="cat")
    live.add_texts([(f"dog text {n}", "dog") for n in range(4)], id_prefix="dog")
    seen, token, pages = [], None, 0
    while True:
        url = "/v1/inputs?concept=cat&limit=2" + (f"&page_token={token}" if token else "")
        body = live.get(url).get_json()
        assert len(body["inputs"]) <= 2
        seen += [i["id"] for i in body["inputs"]]
        pages += 1
        token = body["next_page_token"]
        if not token:
            break
    assert sorted(seen) == [f"cat{n}" for n in range(5)] and pages >= 3
    embedded = live.get("/v1/inputs?status=embedded&limit=100").get_json()["inputs"]
    assert len(embedded) == 9
    assert live.get("/v1/inputs?status=failed").get_json()["inputs"] == []
    bad = live.get("/v1/inputs?page_token=garbage")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"]["field"] == "page_token"
    assert live.get("/v1/inputs?status=weird").status_code == 422


def test_patch_labels_merge_overwrite_remove(live, runtime, settings):
    live.add_texts([("a sentence about fish", "fish")])
    resp = live.patch("/v1/inputs/t0", json={"concepts": [{"id": "sea", "value": 1},
                                                           {"id": "fish", "value": 0}]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["input"]["concepts"] == [{"id": "sea", "value": 1},
                                                    {"id": "fish", "value": 0}]
    resp = live.patch("/v1/inputs/t0", json={"concepts": [{"id": "fish", "value": 1}],
                                             "action": "remove"})
    assert resp.get_json()["input"]["concepts"] == [{"id": "sea", "value": 1}]
    resp = live.patch("/v1/inputs/t0", json={"concepts": [{"id": "lake", "value": 1}],
                                             "metadata": {"k": 1}, "action": "overwrite"})
    got = resp.get_json()["input"]
    assert got["concepts"] == [{"id": "lake", "value": 1}] and got["metadata"] == {"k": 1}
    # The labels live in the Qdrant payload, where training reads them.
    assert got["updated_at"] > got["created_at"]
    many = [{"id": f"k{n}", "value": 1} for n in range(settings.max_concepts_per_input)]
    resp = live.patch("/v1/inputs/t0", json={"concepts": many})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"]["field"] == "concepts"
    point = runtime.vectors.retrieve(EMBEDDER, live.id, ["t0"])["t0"]
    assert point.payload["positive"] == ["lake"] and point.payload["negative"] == []
    assert runtime.vectors.count(EMBEDDER, live.id) == 1
    assert "lake" in [c["id"] for c in live.get("/v1/concepts").get_json()["concepts"]]


def test_delete_input_removes_its_point(live, runtime):
    live.add_texts([("first", "a"), ("second", "a")])
    assert live.delete("/v1/inputs/t0").status_code == 204
    assert live.get("/v1/inputs/t0").status_code == 404
    assert runtime.vectors.count(EMBEDDER, live.id) == 1
    assert live.delete("/v1/inputs/t0").status_code == 404


def test_input_errors(live, settings):
    too_many = [{"data": {"text": "x"}}] * (settings.max_inputs_per_request + 1)
    resp = live.post("/v1/inputs", json={"inputs": too_many})
    assert resp.status_code == 413
    assert resp.get_json()["error"]["details"]["field"] == "inputs"
    long_text = "x" * (settings.max_text_chars + 1)
    resp = live.post("/v1/inputs", json={"inputs": [{"data": {"text": "ok"}},
                                                     {"data": {"text": long_text}}]})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "inputs[1].data.text"
    resp = live.post("/v1/inputs", json={"inputs": [{"id": "d", "data": {"text": "a"}},
                                                     {"id": "d", "data": {"text": "b"}}]})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "inputs[1].id"
    resp = live.post("/v1/inputs", json={"inputs": [{"data": {"image": {"url": "x"}}}]})
    assert resp.status_code == 422
    resp = live.post("/v1/inputs", json={"inputs": [{"data": {"text": "a"},
                                                     "concepts": [{"id": "bad id!"}]}]})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "inputs[0].concepts[0].id"
    # Nothing of the rejected requests was stored.
    assert live.get("/v1/inputs").get_json()["inputs"] == []
    assert live.get("/v1/jobs").get_json()["jobs"] == []
    assert live.get("/v1/concepts").get_json()["concepts"] == []
    assert live.get("/v1/inputs/missing").status_code == 404
    assert live.patch("/v1/inputs/missing", json={"metadata": {}}).status_code == 404


def test_worker_errors_reach_the_api_at_once(live, redis_client, settings):
    import json
    import time

    # A status record damaged by hand (no embedder): the worker's read crashes.
    redis_client.hset(f"{settings.redis_prefix}:app:{live.id}:inputs", "broken", json.dumps(
        {"status": "embedded", "rev": "r", "created_at": 0, "updated_at": 0, "job_id": "j",
         "error": None}))
    started = time.monotonic()
    resp = live.get("/v1/inputs/broken")
    elapsed = time.monotonic() - started
    assert resp.status_code == 500
    assert resp.get_json()["error"] == {"code": "internal_error", "message": "internal error",
                                        "details": {}}
    assert elapsed < settings.query_wait_seconds / 2  # answered, not timed out
