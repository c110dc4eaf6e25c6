"""The whole text path: API → Redis → Celery worker → Qdrant local → MiniLM → head."""

from __future__ import annotations

from tests.data import COOKING, HELD_OUT_COOKING, HELD_OUT_SPORTS, SPORTS


def test_ten_examples_train_and_predict_held_out_texts(live):
    live.add_texts([(t, "sports") for t in SPORTS[:5]] + [(t, "cooking") for t in COOKING[:5]])
    resp = live.post("/v1/models", json={"id": "topics", "concepts": ["sports", "cooking"],
                                         "options": {"mutually_exclusive": True}})
    assert resp.status_code == 201, resp.get_json()
    version = live.train("topics")
    assert version["status"] == "trained", version
    assert version["metrics"]["status"] == "ok"
    assert set(version["metrics"]["concepts"]) == {"sports", "cooking"}

    texts = HELD_OUT_SPORTS + HELD_OUT_COOKING
    resp = live.post("/v1/models/topics/predict",
                     json={"inputs": [{"data": {"text": t}} for t in texts]})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["model_version"] == version["id"]
    top = [out["concepts"][0]["id"] for out in body["outputs"]]
    assert top == ["sports"] * 3 + ["cooking"] * 3
    for out in body["outputs"]:
        assert abs(sum(c["value"] for c in out["concepts"]) - 1.0) < 1e-4
