"""Label suggestions: which unlabelled inputs to label next, through the real API,
worker, Redis, Qdrant (local mode) and MiniLM (a tiny CLIP for videos)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from tests.conftest import ADMIN, TINY_CLIP, Tenant
from tests.data import COOKING, HELD_OUT_SPORTS, SPORTS
from tests.media import b64, crops, encode, make_video, photo
from workers.suggestions import select_diverse, uncertainty

# Both topics at once: the models trained on SPORTS[:5] and COOKING[:5] are unsure.
AMBIGUOUS = {
    "a-chef": "The chef ran a marathon then baked bread for the team.",
    "a-baker": "The baker trained for the triathlon between batches of croissants.",
    "a-coach": "The coach cooked dinner for the whole squad after training.",
    "a-cake": "She baked a cake shaped like a football for the team's victory party.",
}
# Nearly a-baker again: as uncertain as a-baker (more than any other text), but
# labelling it after a-baker would teach the model almost nothing new.
DUPLICATE = {"a-baker-2": "The baker trained for a triathlon between batches of croissants."}
CLEAR = {f"s{n}": text for n, text in enumerate(SPORTS[5:])}
CLEAR |= {f"c{n}": text for n, text in enumerate(COOKING[5:])}
# Labelled, but for a concept the models do not have: still a candidate.
OTHER_CONCEPT = {"news": HELD_OUT_SPORTS[0]}
CANDIDATES = {**AMBIGUOUS, **DUPLICATE, **CLEAR, **OTHER_CONCEPT}


def _new_tenant(client: Any, prefix: str, **body: Any) -> Tenant:
    app_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    resp = client.post("/v1/apps", headers=ADMIN, json={"id": app_id, **body})
    assert resp.status_code == 201, resp.get_json()
    return Tenant(client, app_id, resp.get_json()["api_key"])


@pytest.fixture(scope="module")
def topics(worker, flask_app) -> Tenant:
    """An app with a one-vs-rest and an exclusive sports/cooking model, each trained on
    ten labelled texts, and unlabelled texts: clear, ambiguous and a near-duplicate.
    A second app holds ambiguous texts of its own."""
    client = flask_app.test_client()
    other = _new_tenant(client, "sugg-other")
    other.add_inputs([{"id": f"x-{key}", "data": {"text": text}}
                      for key, text in AMBIGUOUS.items()])
    live = _new_tenant(client, "sugg")
    labelled = [{"id": f"l{n}", "data": {"text": text}, "concepts": [{"id": concept}]}
                for n, (text, concept) in enumerate(
                    [(t, "sports") for t in SPORTS[:5]] + [(t, "cooking") for t in COOKING[:5]])]
    # Labelled negatively for a model concept: not a candidate either.
    labelled.append({"id": "neg", "data": {"text": HELD_OUT_SPORTS[1]},
                     "concepts": [{"id": "cooking", "value": 0}]})
    unlabelled = [{"id": key, "data": {"text": text}} for key, text in CANDIDATES.items()]
    unlabelled[-1]["concepts"] = [{"id": "news"}]
    unlabelled[-1]["metadata"] = {"source": "wire"}
    live.add_inputs(labelled + unlabelled)
    live.post("/v1/models", json={"id": "topics", "concepts": ["sports", "cooking"]})
    live.post("/v1/models", json={"id": "topics-x", "concepts": ["sports", "cooking"],
                                  "options": {"mutually_exclusive": True}})
    assert live.train("topics")["status"] == "trained"
    assert live.train("topics-x")["status"] == "trained"
    return live


def _suggest(tenant: Tenant, model_id: str = "topics", **query: Any) -> dict[str, Any]:
    resp = tenant.get(f"/v1/models/{model_id}/suggestions", query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


@pytest.mark.parametrize("model_id", ["topics", "topics-x"])
def test_ambiguous_inputs_rank_first_with_the_current_prediction(topics, model_id):
    body = _suggest(topics, model_id, limit=100)
    assert body["model_version"] == "1"
    ranked = [s["input"]["id"] for s in body["suggestions"]]
    assert len(ranked) == body["candidates"] == len(CANDIDATES)
    # The four different ambiguous texts first (a-baker or its twin among them).
    top = {"a-baker" if i == "a-baker-2" else i for i in ranked[:4]}
    assert top == set(AMBIGUOUS), ranked
    unsure = {s["input"]["id"]: s["uncertainty"] for s in body["suggestions"]}
    assert min(unsure[i] for i in AMBIGUOUS) > max(unsure[i] for i in CLEAR)
    scores = [s["score"] for s in body["suggestions"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s["score"] <= s["uncertainty"] <= 1 for s in body["suggestions"])

    # Each suggestion carries what predict says about the same input now.
    first = body["suggestions"][0]
    assert first["input"] == {"id": ranked[0], "data": {"text": CANDIDATES[ranked[0]]},
                              "metadata": {}}
    predicted = topics.post(f"/v1/models/{model_id}/predict", json={"inputs": [
        {"data": s["input"]["data"]} for s in body["suggestions"]]}).get_json()["outputs"]
    for suggestion, output in zip(body["suggestions"], predicted):
        assert [(c["id"], c["name"]) for c in suggestion["concepts"]] == [
            (c["id"], c["name"]) for c in output["concepts"]]
        np.testing.assert_allclose([c["value"] for c in suggestion["concepts"]],
                                   [c["value"] for c in output["concepts"]], atol=1e-4)


def test_only_the_apps_unlabelled_inputs_are_candidates(topics):
    body = _suggest(topics, limit=100)
    suggested = {s["input"]["id"]: s for s in body["suggestions"]}
    # Labelled for a model concept, positively or negatively: never suggested.
    assert set(suggested) == set(CANDIDATES)
    assert not any(i.startswith("l") or i == "neg" for i in suggested)
    # Labelled only for another concept: a candidate, shown with its metadata.
    assert suggested["news"]["input"] == {"id": "news", "data": {"text": OTHER_CONCEPT["news"]},
                                          "metadata": {"source": "wire"}}
    # The other app's ambiguous texts (x-...) never appear, nor count.
    assert body["candidates"] == len(CANDIDATES)


@pytest.mark.parametrize("model_id", ["topics", "topics-x"])
def test_near_duplicates_are_not_both_at_the_top(topics, model_id):
    body = _suggest(topics, model_id, limit=100)
    ranked = [s["input"]["id"] for s in body["suggestions"]]
    by_id = {s["input"]["id"]: s for s in body["suggestions"]}
    twins = {"a-baker", "a-baker-2"}
    # The twins are about as uncertain as each other, and among the most uncertain...
    assert abs(by_id["a-baker"]["uncertainty"] - by_id["a-baker-2"]["uncertainty"]) < 0.05
    assert ranked.index("a-baker") < len(AMBIGUOUS) or ranked.index("a-baker-2") < len(
        AMBIGUOUS)
    # ...but once one is chosen the other is worth a sliver of its uncertainty, so it
    # comes after every different ambiguous text.
    second = max(twins, key=ranked.index)
    assert by_id[second]["score"] < 0.1 * by_id[second]["uncertainty"]
    assert ranked.index(second) >= len(AMBIGUOUS)


def test_limit_gives_a_prefix(topics):
    full = _suggest(topics, limit=100)["suggestions"]
    assert _suggest(topics, limit=3)["suggestions"] == full[:3]
    assert len(_suggest(topics)["suggestions"]) == min(20, len(CANDIDATES))
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"other": 1}):
        resp = topics.get("/v1/models/topics/suggestions", query_string=bad)
        assert resp.status_code == 422, bad


def test_versions_and_errors(topics):
    assert _suggest(topics, version="1", limit=1)["model_version"] == "1"
    assert topics.get("/v1/models/none/suggestions").status_code == 404
    assert topics.get("/v1/models/topics/suggestions?version=9").status_code == 404
    # An image model: no examples means no data (text models would train zero-shot).
    topics.post("/v1/models", json={"id": "empty", "concepts": ["nothing", "nobody"],
                                    "modality": "image"})
    resp = topics.get("/v1/models/empty/suggestions")
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "no_trained_version"
    assert topics.train("empty")["status"] == "failed"  # no_data
    resp = topics.get("/v1/models/empty/suggestions?version=1")
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "version_not_trained"
    assert topics.get("/v1/models/empty/suggestions").status_code == 409


def test_another_app_cannot_reach_the_model(topics, flask_app):
    other = _new_tenant(flask_app.test_client(), "sugg-stranger")
    resp = other.get("/v1/models/topics/suggestions")
    assert resp.status_code == 404
    assert topics.client.get("/v1/models/topics/suggestions").status_code == 401


def test_pending_inputs_are_not_candidates(worker, flask_app, runtime):
    live = _new_tenant(flask_app.test_client(), "sugg-pending")
    live.add_texts([(SPORTS[0], "sports"), (SPORTS[1], "sports"), (COOKING[0], "cooking"),
                    (COOKING[1], "cooking"), (AMBIGUOUS["a-chef"], None)])
    live.post("/v1/models", json={"id": "m", "concepts": ["sports", "cooking"]})
    assert live.train("m")["status"] == "trained"
    assert [s["input"]["id"] for s in _suggest(live, "m")["suggestions"]] == ["t4"]
    # Sent again, its embed job not run yet: the old point is still in Qdrant, but the
    # input is pending (as good as what the API shows).
    with runtime.redis.pipeline(transaction=True) as pipe:
        runtime.inputs.stage(live.id, [{
            "id": "t4", "modality": "text", "data": {"text": "x"}, "source": {"text": "x"},
            "positive": [], "negative": [], "metadata": {}, "embedder": "all-minilm-l6-v2"}],
            "a-job-never-sent", pipe)
        pipe.execute()
    assert _suggest(live, "m") == {"suggestions": [], "model_version": "1", "candidates": 0}


def test_a_video_is_judged_on_all_its_frames(worker, flask_app):
    clip = _new_tenant(flask_app.test_client(), "sugg-clip",
                       default_embedders={"text": TINY_CLIP, "image": TINY_CLIP})
    inputs = [{"id": f"{name}{n}", "data": {"image": {"base64": b64(encode(img))}},
               "concepts": [{"id": name}]}
              for name, seed in (("cat", 1), ("rocket", 2))
              for n, img in enumerate(crops(photo(name), 3, seed=seed))]
    video = b64(make_video([(photo("cat"), 1.0), (photo("rocket"), 1.0)]))
    inputs.append({"id": "clip", "data": {"video": {"base64": video, "sample_ms": 400}}})
    clip.add_inputs(inputs)
    clip.post("/v1/models", json={"id": "x", "concepts": ["cat", "rocket"], "modality": "video",
                                  "options": {"mutually_exclusive": True}})
    assert clip.train("x")["status"] == "trained"
    body = _suggest(clip, "x")
    assert body["candidates"] == 1
    (suggestion,) = body["suggestions"]
    assert suggestion["input"]["data"]["video"]["sample_ms"] == 400
    # Predict scores a video by its frames' mean; so do suggestions.
    output = clip.post("/v1/models/x/predict", json={"inputs": [
        {"data": {"video": {"base64": video, "sample_ms": 400}}}]}).get_json()["outputs"][0]
    assert len(output["frames"]) > 1
    np.testing.assert_allclose([c["value"] for c in suggestion["concepts"]],
                               [c["value"] for c in output["concepts"]], atol=1e-4)
    assert [c["id"] for c in suggestion["concepts"]] == [c["id"] for c in output["concepts"]]


# --- the scoring itself -------------------------------------------------------------------
def test_uncertainty_softmax_margin_and_sigmoid_closeness():
    softmax = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1]])
    np.testing.assert_allclose(uncertainty(softmax, "softmax"), [1.0, 0.15, 0.5])
    sigmoid = np.array([[0.5, 0.99], [0.9, 0.1], [0.75, 0.0]])
    np.testing.assert_allclose(uncertainty(sigmoid, "sigmoid"), [1.0, 0.2, 0.5])
    assert uncertainty(np.zeros((0, 2)), "sigmoid").shape == (0,)


def test_greedy_selection_trades_uncertainty_for_diversity():
    e = np.eye(3, dtype=np.float32)
    vectors = np.stack([e[0], e[0], e[1], e[2]])  # 0 and 1 are duplicates
    unsure = np.array([0.9, 0.9, 0.6, 0.3])
    assert [i for i, _ in select_diverse(unsure, vectors, np.zeros((0, 3)), 4)] == [0, 2, 3, 1]
    assert [i for i, _ in select_diverse(unsure, vectors, np.zeros((0, 3)), 4, beta=0)] == [
        0, 1, 2, 3]
    # Something like input 2 is labelled already: it sinks below input 3.
    picks = select_diverse(unsure, vectors, e[1:2], 4)
    assert [i for i, _ in picks] == [0, 3, 1, 2]
    assert [round(s, 6) for _, s in picks] == [0.9, 0.3, 0.0, 0.0]
