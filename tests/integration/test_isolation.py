"""App isolation: a key of app B can neither see, nor train on, nor predict with app A's objects."""

from __future__ import annotations

from tests.data import COOKING, SPORTS


def test_other_app_sees_nothing_of_mine(live, other_tenant, runtime):
    live.add_texts([(t, "sports") for t in SPORTS[:4]] + [(t, "cooking") for t in COOKING[:4]])
    live.post("/v1/models", json={"id": "topics", "concepts": ["sports", "cooking"]})
    version = live.train("topics")
    assert version["status"] == "trained"
    job_id = live.get("/v1/jobs").get_json()["jobs"][0]["id"]
    text = {"inputs": [{"data": {"text": "a goal"}}]}

    b = other_tenant
    assert b.get("/v1/inputs/t0").status_code == 404
    assert b.patch("/v1/inputs/t0", json={"metadata": {"x": 1}}).status_code == 404
    assert b.delete("/v1/inputs/t0").status_code == 404
    assert b.get("/v1/inputs").get_json()["inputs"] == []
    assert b.get("/v1/concepts").get_json()["concepts"] == []
    assert b.get("/v1/models").get_json()["models"] == []
    assert b.get("/v1/models/topics").status_code == 404
    assert b.post("/v1/models/topics/versions", json={}).status_code == 404
    assert b.get("/v1/models/topics/versions/1").status_code == 404
    assert b.post("/v1/models/topics/predict", json=text).status_code == 404
    assert b.post("/v1/models/topics/versions/1/predict", json=text).status_code == 404
    assert b.get(f"/v1/jobs/{job_id}").status_code == 404
    assert b.post(f"/v1/jobs/{job_id}/cancel").status_code == 404
    assert b.get("/v1/jobs").get_json()["jobs"] == []

    # Same ids and concept names in B make separate points and never see A's vectors.
    b.add_texts([("sports words", "sports")])
    assert runtime.vectors.count("all-minilm-l6-v2", b.id) == 1
    assert runtime.vectors.count("all-minilm-l6-v2", live.id) == 8
    assert live.get("/v1/inputs/t0").get_json()["input"]["data"]["text"] == SPORTS[0]
    b.post("/v1/models", json={"id": "topics", "concepts": ["sports", "cooking"]})
    version = b.train("topics")
    # B trained on its one input alone: A's cooking examples never reached it, so
    # cooking could only be learnt from its name.
    assert version["counts"]["examples"] == 1
    assert version["counts"]["positives"] == {"sports": 1, "cooking": 0}
    assert version["counts"]["zero_shot"] == ["cooking"]
