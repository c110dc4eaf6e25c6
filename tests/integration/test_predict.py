"""Predict: options, default vs named versions, async and bounded waits, errors."""

from __future__ import annotations

import pytest

from tests.data import COOKING, HELD_OUT_COOKING, HELD_OUT_SPORTS, SPORTS


@pytest.fixture()
def trained(live):
    live.add_texts([(t, "sports") for t in SPORTS[:5]] + [(t, "cooking") for t in COOKING[:5]])
    live.post("/v1/models", json={"id": "topics", "concepts": ["sports", "cooking"]})
    assert live.train("topics")["status"] == "trained"
    return live


def _predict(live, texts, **options):
    return live.post("/v1/models/topics/predict", json={
        "inputs": [{"data": {"text": t}} for t in texts], "options": options})


def test_one_vs_rest_predicts_held_out_texts(trained):
    body = _predict(trained, HELD_OUT_SPORTS + HELD_OUT_COOKING).get_json()
    for out, expected in zip(body["outputs"], ["sports"] * 3 + ["cooking"] * 3):
        assert out["concepts"][0]["id"] == expected
        values = [c["value"] for c in out["concepts"]]
        assert values == sorted(values, reverse=True)
        assert out["concepts"][0]["value"] > 0.5


def test_options_min_value_max_concepts_select(trained):
    texts = [HELD_OUT_SPORTS[0]]
    full = _predict(trained, texts).get_json()["outputs"][0]["concepts"]
    assert len(full) == 2
    top = _predict(trained, texts, max_concepts=1).get_json()["outputs"][0]["concepts"]
    assert top == full[:1]
    high = _predict(trained, texts, min_value=0.5).get_json()["outputs"][0]["concepts"]
    assert [c["id"] for c in high] == ["sports"]
    only = _predict(trained, texts, select_concepts=["cooking"]).get_json()
    assert [c["id"] for c in only["outputs"][0]["concepts"]] == ["cooking"]
    bad = _predict(trained, texts, select_concepts=["nope"])
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"]["field"] == "options.select_concepts"
    assert _predict(trained, texts, min_value=2).status_code == 422
    assert _predict(trained, texts, max_concepts=0).status_code == 422


def test_concept_rename_shows_in_predictions(trained):
    resp = trained.patch("/v1/concepts/sports", json={"name": "Sport & games"})
    assert resp.status_code == 200
    assert resp.get_json()["concept"] == {**resp.get_json()["concept"], "id": "sports",
                                          "name": "Sport & games"}
    out = _predict(trained, [HELD_OUT_SPORTS[1]]).get_json()["outputs"][0]["concepts"][0]
    assert out["id"] == "sports" and out["name"] == "Sport & games"
    assert trained.patch("/v1/concepts/none", json={"name": "x"}).status_code == 404
    assert trained.post("/v1/concepts", json={"id": "sports"}).status_code == 409
    created = trained.post("/v1/concepts", json={"id": "new", "name": "New one"})
    assert created.status_code == 201
    assert trained.get("/v1/concepts/new").get_json()["concept"]["name"] == "New one"


def test_async_predict_returns_a_job_with_the_outputs(trained):
    resp = _predict(trained, [HELD_OUT_COOKING[0]], **{"async": True})
    assert resp.status_code == 202
    job = trained.wait_job(resp.get_json()["job"]["id"])
    assert job["type"] == "predict" and job["status"] == "succeeded"
    assert job["result"]["outputs"][0]["concepts"][0]["id"] == "cooking"


def test_wait_running_out_answers_202(trained, settings, client):
    from api import create_app

    impatient = create_app(settings.model_copy(update={"predict_wait_seconds": 0.05}))
    # A full batch of long texts takes the CPU worker seconds, far over the wait.
    long_text = " ".join([HELD_OUT_SPORTS[2]] * 12)
    resp = impatient.test_client().post(
        "/v1/models/topics/predict", headers=trained.headers,
        json={"inputs": [{"data": {"text": long_text}}] * settings.max_inputs_per_request})
    assert resp.status_code == 202
    job = trained.wait_job(resp.get_json()["job"]["id"])
    assert len(job["result"]["outputs"]) == settings.max_inputs_per_request
    assert job["result"]["outputs"][0]["concepts"][0]["id"] == "sports"


def test_predict_errors(live, settings):
    assert live.post("/v1/models/none/predict",
                     json={"inputs": [{"data": {"text": "x"}}]}).status_code == 404
    live.post("/v1/models", json={"id": "untrained", "concepts": ["a", "b"]})
    resp = live.post("/v1/models/untrained/predict", json={"inputs": [{"data": {"text": "x"}}]})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "no_trained_version"
    many = [{"data": {"text": "x"}}] * (settings.max_inputs_per_request + 1)
    assert live.post("/v1/models/untrained/predict", json={"inputs": many}).status_code == 413
    assert live.post("/v1/models/untrained/predict", json={"inputs": []}).status_code == 422


def test_a_predict_the_worker_fails_answers_the_jobs_error(trained, settings):
    import shutil

    from shared.modelstore import ModelStore

    version = trained.get("/v1/models/topics").get_json()["model"]["default_version"]
    # The head's files gone before any predict loaded it: the worker's job fails, its
    # reply carries no result, and the API answers from the job record.
    shutil.rmtree(ModelStore(settings.model_store).version_dir(trained.id, "topics", version))
    resp = _predict(trained, ["a match"])
    assert resp.status_code == 500
    error = resp.get_json()["error"]
    assert error["code"] == "internal_error" and "FileNotFoundError" in error["message"]
    job = trained.get(f"/v1/jobs/{error['details']['job_id']}").get_json()["job"]
    assert job["status"] == "failed" and job["result"] is None


def test_worker_head_cache_drops_old_default(trained, runtime):
    second = trained.train("topics")
    _predict(trained, ["a match"])
    cached = [k for k in runtime.heads.cached() if k[:2] == (trained.id, "topics")]
    assert cached == [(trained.id, "topics", second["id"])]
    trained.post("/v1/models/topics/versions/1/pin")
    _predict(trained, ["a match"])
    cached = [k for k in runtime.heads.cached() if k[:2] == (trained.id, "topics")]
    assert cached == [(trained.id, "topics", "1")]


def test_concurrent_requests_each_get_their_own_answer(trained, flask_app):
    from concurrent.futures import ThreadPoolExecutor

    texts = HELD_OUT_SPORTS + HELD_OUT_COOKING
    expected = ["sports"] * 3 + ["cooking"] * 3

    def call(i: int) -> tuple[str, str, int]:
        client = flask_app.test_client()  # one per thread, as a threaded server has
        text = texts[i % len(texts)]
        predicted = client.post("/v1/models/topics/predict", headers=trained.headers,
                                json={"inputs": [{"data": {"text": text}}]}).get_json()
        listed = client.get("/v1/inputs?limit=3", headers=trained.headers).get_json()
        return predicted["outputs"][0]["concepts"][0]["id"], expected[i % len(texts)], len(
            listed["inputs"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(24)))
    assert all(got == want for got, want, _ in results)
    assert all(n == 3 for _, _, n in results)


def test_predict_jobs_expire(trained, redis_client, settings):
    resp = _predict(trained, ["a match"], **{"async": True})
    job_id = resp.get_json()["job"]["id"]
    ttl = redis_client.ttl(f"{settings.redis_prefix}:job:{job_id}")
    assert 0 < ttl <= settings.predict_job_ttl_seconds
    train_job = trained.get("/v1/jobs?type=train").get_json()["jobs"][0]["id"]
    assert redis_client.ttl(f"{settings.redis_prefix}:job:{train_job}") == -1
