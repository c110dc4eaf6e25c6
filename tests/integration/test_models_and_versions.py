"""Models and versions: create, train as a job, failure codes, pin, delete, metrics."""

from __future__ import annotations

from tests.data import COOKING, SPORTS
from tests.media import b64, crops, encode, photo


def _topics(live, model_id: str = "topics", **options) -> None:
    resp = live.post("/v1/models", json={"id": model_id, "concepts": ["sports", "cooking"],
                                         "options": options})
    assert resp.status_code == 201, resp.get_json()


def _add_topics(live, n: int = 5) -> None:
    live.add_texts([(t, "sports") for t in SPORTS[:n]] + [(t, "cooking") for t in COOKING[:n]])


def test_model_create_get_list_and_errors(live):
    resp = live.post("/v1/models", json={"id": "m", "concepts": ["a", "b"]})
    assert resp.status_code == 201
    model = resp.get_json()["model"]
    assert model["embedder"] == "all-minilm-l6-v2"
    assert model["options"] == {"mutually_exclusive": False, "closed_environment": True}
    assert model["default_version"] is None
    assert live.post("/v1/models", json={"id": "m", "concepts": ["a"]}).status_code == 409
    bad = live.post("/v1/models", json={"id": "x", "concepts": ["a"], "embedder": "nope"})
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["field"] == "embedder"
    bad = live.post("/v1/models", json={"id": "x", "concepts": ["a"],
                                        "options": {"mutually_exclusive": True}})
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["field"] == "concepts"
    bad = live.post("/v1/models", json={"id": "x", "concepts": ["a", "a"]})
    assert bad.status_code == 422
    bad = live.post("/v1/models", json={"id": "x", "concepts": []})
    assert bad.status_code == 422
    assert [m["id"] for m in live.get("/v1/models").get_json()["models"]] == ["m"]
    assert live.get("/v1/models/m").get_json()["model"]["concepts"] == ["a", "b"]
    assert live.get("/v1/models/zzz").status_code == 404
    assert {c["id"] for c in live.get("/v1/concepts").get_json()["concepts"]} == {"a", "b"}


def test_version_lifecycle_metrics_and_artifacts(live, settings):
    _add_topics(live)
    _topics(live, mutually_exclusive=True)
    resp = live.post("/v1/models/topics/versions", json={})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["version"]["status"] == "queued" and body["job"]["type"] == "train"
    job = live.wait_job(body["job"]["id"])
    assert job["status"] == "succeeded", job
    assert job["result"] == {"model_id": "topics", "version_id": "1", "status": "trained"}
    version = live.get("/v1/models/topics/versions/1").get_json()["version"]
    assert version["status"] == "trained"
    metrics = version["metrics"]
    assert metrics["status"] == "ok" and metrics["folds"] == 5
    for concept in ("sports", "cooking"):
        m = metrics["concepts"][concept]
        assert set(m) >= {"precision", "recall", "f1", "roc_auc", "support",
                          "suggested_threshold"}
        assert m["support"] == 5 and m["roc_auc"] >= 0.9
    assert metrics["macro_roc_auc"] >= 0.9
    assert metrics["confusion_matrix"]["labels"] == ["sports", "cooking"]
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 10
    assert version["counts"]["positives"] == {"sports": 5, "cooking": 5}
    assert version["params"]["C_selection"] == "cv"

    folder = settings.model_store / live.id / "topics" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["head.safetensors", "manifest.json"]
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["concepts"] == ["sports", "cooking"] and manifest["dim"] == 384
    assert manifest["embedder"] == "all-minilm-l6-v2" and manifest["code_version"]
    assert not list(folder.parent.glob(".tmp-*"))


def test_training_failure_codes(live):
    # An image embedder cannot embed concept names, so concepts need examples.
    live.post("/v1/models", json={"id": "empty", "concepts": ["p", "q"], "modality": "image"})
    version = live.train("empty")
    assert version["status"] == "failed" and version["error"]["code"] == "no_data"

    live.add_inputs([{"id": f"cat{n}", "data": {"image": {"base64": b64(encode(image))}},
                      "concepts": [{"id": "cat", "value": 1}]}
                     for n, image in enumerate(crops(photo("cat"), 2, seed=0))])
    live.post("/v1/models", json={"id": "excl", "concepts": ["cat", "dog"], "modality": "image",
                                  "options": {"mutually_exclusive": True}})
    version = live.train("excl")
    assert version["error"]["code"] == "no_positives"
    assert version["error"]["details"]["concepts"] == ["dog"]
    job = live.get("/v1/jobs?type=train&status=failed").get_json()["jobs"]
    assert {j["error"]["code"] for j in job} == {"no_data", "no_positives"}

    live.add_texts([("only sports here", "sports"), ("more sports", "sports")])

    live.add_texts([("a pie recipe", "cooking")], id_prefix="c")
    live.post("/v1/models", json={"id": "open", "concepts": ["sports", "cooking"],
                                  "options": {"closed_environment": False}})
    version = live.train("open")
    assert version["error"]["code"] == "no_negatives"
    # The same data in a closed environment trains (each concept's positives are the
    # other's negatives); too little for k-fold, and the metrics say so.
    live.post("/v1/models", json={"id": "closed", "concepts": ["sports", "cooking"]})
    version = live.train("closed")
    assert version["status"] == "trained"
    assert version["metrics"]["status"] == "insufficient_data"


def test_explicit_negatives_train_a_one_concept_model(live):
    live.add_texts([(t, "sports") for t in SPORTS[:4]])
    inputs = [{"id": f"n{i}", "data": {"text": t}, "concepts": [{"id": "sports", "value": 0}]}
              for i, t in enumerate(COOKING[:4])]
    job = live.post("/v1/inputs", json={"inputs": inputs}).get_json()["job"]
    live.wait_job(job["id"])
    live.post("/v1/models", json={"id": "is-sport", "concepts": ["sports"],
                                  "options": {"closed_environment": False}})
    version = live.train("is-sport")
    assert version["status"] == "trained", version
    assert version["counts"] == {"examples": 8, "rows": 8, "positives": {"sports": 4},
                                 "negatives": {"sports": 4}, "zero_shot": []}
    out = live.post("/v1/models/is-sport/predict", json={"inputs": [
        {"data": {"text": "The team lost the final on penalties."}},
        {"data": {"text": "Add a spoon of honey to the dough."}}]}).get_json()["outputs"]
    assert out[0]["concepts"][0]["value"] > 0.5 > out[1]["concepts"][0]["value"]


def test_pin_default_and_delete_versions(live):
    _add_topics(live, 4)
    _topics(live, mutually_exclusive=True)
    assert live.train("topics")["id"] == "1"
    assert live.train("topics")["id"] == "2"
    assert live.get("/v1/models/topics").get_json()["model"]["default_version"] == "2"
    versions = live.get("/v1/models/topics/versions").get_json()["versions"]
    assert [v["id"] for v in versions] == ["2", "1"]

    pinned = live.post("/v1/models/topics/versions/1/pin")
    assert pinned.status_code == 200
    assert pinned.get_json()["model"]["default_version"] == "1"
    text = {"inputs": [{"data": {"text": "a goal in extra time"}}]}
    assert live.post("/v1/models/topics/predict", json=text).get_json()["model_version"] == "1"
    assert live.post("/v1/models/topics/versions/2/predict",
                     json=text).get_json()["model_version"] == "2"

    assert live.delete("/v1/models/topics/versions/1").status_code == 409
    assert live.delete("/v1/models/topics/versions/2").status_code == 204
    assert live.get("/v1/models/topics/versions/2").status_code == 404
    assert live.post("/v1/models/topics/versions/2/predict", json=text).status_code == 404
    assert live.post("/v1/models/topics/versions/9/pin").status_code == 404
    assert live.delete("/v1/models/topics").status_code == 204
    assert live.get("/v1/models/topics").status_code == 404


def test_training_right_after_adding_waits_for_the_embeddings(live):
    # A user adds inputs and trains at once, without polling the embed job. The long
    # unlabelled texts keep that job busy for seconds, so the train surely comes first.
    filler = [(" ".join([COOKING[n % 8]] * 20), None) for n in range(100)]
    body = live.add_texts([(t, "sports") for t in SPORTS[:5]] +
                          [(t, "cooking") for t in COOKING[:5]] + filler, wait=False)
    live.post("/v1/models", json={"id": "quick", "concepts": ["sports", "cooking"]})
    resp = live.post("/v1/models/quick/versions", json={})
    assert resp.get_json()["job"]["params"]["after_jobs"] == [body["job"]["id"]]
    live.wait_job(resp.get_json()["job"]["id"])
    version = live.get("/v1/models/quick/versions/1").get_json()["version"]
    assert version["status"] == "trained", version
    assert version["counts"]["positives"] == {"sports": 5, "cooking": 5}
    embed = live.get(f"/v1/jobs/{body['job']['id']}").get_json()["job"]
    assert embed["finished_at"] <= live.get(
        f"/v1/jobs/{resp.get_json()['job']['id']}").get_json()["job"]["started_at"]


def test_recreated_model_never_reuses_a_version_id(live):
    _add_topics(live, 4)
    _topics(live, "again", mutually_exclusive=True)
    assert live.train("again")["id"] == "1"
    text = {"inputs": [{"data": {"text": "a goal in extra time"}}]}
    first = live.post("/v1/models/again/predict", json=text).get_json()
    assert [c["id"] for c in first["outputs"][0]["concepts"]] == ["sports", "cooking"]
    assert live.delete("/v1/models/again").status_code == 204
    # Same id, other concepts order and head type: it must not meet the old head.
    live.post("/v1/models", json={"id": "again", "concepts": ["cooking", "sports"]})
    version = live.train("again")
    assert version["id"] == "2" and version["status"] == "trained"
    second = live.post("/v1/models/again/predict", json=text).get_json()
    assert second["model_version"] == "2"
    assert version["params"]["activation"] == "sigmoid"
    assert second["outputs"][0]["concepts"][0]["id"] == "sports"


def test_version_description_and_complete_progress(live):
    _add_topics(live, 3)
    _topics(live)
    resp = live.post("/v1/models/topics/versions", json={"description": "first try"})
    job = live.wait_job(resp.get_json()["job"]["id"])
    assert job["progress"] == {"done": 1, "total": 1}
    version = live.get("/v1/models/topics/versions/1").get_json()["version"]
    assert version["description"] == "first try"


def test_ids_cannot_contain_the_key_separator(live, client):
    from tests.conftest import ADMIN

    assert client.post("/v1/apps", json={"id": "x:concepts"}, headers=ADMIN).status_code == 422
    assert live.post("/v1/models", json={"id": "a:b", "concepts": ["c"]}).status_code == 422
