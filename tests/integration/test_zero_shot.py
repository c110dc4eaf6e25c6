"""Zero-shot: a concept with no example learns from its name when the model's
embedder embeds texts (all-MiniLM-L6-v2 here, CLIP in test_clip_flow)."""

from __future__ import annotations

from tests.conftest import TINY_CLIP
from tests.data import COOKING, SPORTS

HELD_OUT = ["She broke the world record in the 100 metre sprint.",
            "Stir the risotto slowly while adding warm stock."]


def _top(tenant, model_id: str, texts: list[str]) -> list[str]:
    resp = tenant.post(f"/v1/models/{model_id}/predict",
                       json={"inputs": [{"data": {"text": t}} for t in texts]})
    assert resp.status_code == 200, resp.get_json()
    return [o["concepts"][0]["id"] for o in resp.get_json()["outputs"]]


def test_a_model_with_no_examples_at_all_predicts_from_concept_names(live):
    live.post("/v1/models", json={"id": "names", "concepts": ["sports", "cooking"],
                                  "options": {"mutually_exclusive": True}})
    version = live.train("names")
    assert version["status"] == "trained", version
    assert version["counts"]["zero_shot"] == ["sports", "cooking"]
    # Nothing to hold out: the version says so rather than inventing a score.
    assert version["metrics"]["status"] == "insufficient_data"
    assert _top(live, "names", HELD_OUT) == ["sports", "cooking"]


def test_display_names_are_what_is_embedded(live):
    live.post("/v1/concepts", json={"id": "c-17", "name": "cooking"})
    live.post("/v1/concepts", json={"id": "c-42", "name": "sports"})
    live.post("/v1/models", json={"id": "ids", "concepts": ["c-17", "c-42"],
                                  "options": {"mutually_exclusive": True}})
    assert live.train("ids")["status"] == "trained"
    assert _top(live, "ids", HELD_OUT) == ["c-42", "c-17"]


def test_an_exclusive_model_mixes_examples_and_names(live):
    live.add_texts([(t, "sports") for t in SPORTS[:4]])
    live.post("/v1/models", json={"id": "half", "concepts": ["sports", "cooking"],
                                  "options": {"mutually_exclusive": True}})
    version = live.train("half")
    assert version["status"] == "trained", version
    assert version["counts"]["zero_shot"] == ["cooking"]
    assert version["counts"]["positives"] == {"sports": 4, "cooking": 0}
    # A zero-shot concept has nothing to hold out: no made-up score.
    assert version["metrics"]["status"] == "insufficient_data"
    assert _top(live, "half", HELD_OUT + COOKING[:2]) == ["sports", "cooking", "cooking",
                                                          "cooking"]


def test_a_closed_one_vs_rest_model_mixes_examples_and_names(live):
    live.add_texts([(t, "sports") for t in SPORTS[:4]])
    live.post("/v1/models", json={"id": "half-ovr", "concepts": ["sports", "cooking"]})
    version = live.train("half-ovr")
    assert version["status"] == "trained", version
    assert version["counts"]["zero_shot"] == ["cooking"]
    assert version["params"]["head"] == "logistic_regression+prototypes"
    assert _top(live, "half-ovr", HELD_OUT + COOKING[:2]) == ["sports", "cooking", "cooking",
                                                              "cooking"]


def test_an_open_one_vs_rest_model_uses_names_only_with_no_example_at_all(live):
    # Without the closed environment's prototypes a lone name loses to real examples.
    live.add_texts([(t, "sports") for t in SPORTS[:4]])
    live.post("/v1/models", json={"id": "open", "concepts": ["sports", "cooking"],
                                  "options": {"closed_environment": False}})
    version = live.train("open")
    assert version["status"] == "failed"
    assert version["error"]["code"] == "no_positives"
    assert version["error"]["details"]["concepts"] == ["cooking"]


def test_one_vs_rest_concepts_can_be_zero_shot_too(live):
    live.post("/v1/models", json={"id": "ovr", "concepts": ["sports", "cooking"]})
    version = live.train("ovr")
    assert version["status"] == "trained", version
    assert version["counts"]["zero_shot"] == ["sports", "cooking"]
    assert _top(live, "ovr", HELD_OUT) == ["sports", "cooking"]


def test_a_model_with_examples_for_every_concept_has_none(live):
    live.add_texts([(t, "sports") for t in SPORTS[:3]] + [(t, "cooking") for t in COOKING[:3]])
    live.post("/v1/models", json={"id": "full", "concepts": ["sports", "cooking"]})
    assert live.train("full")["counts"]["zero_shot"] == []


def test_clip_models_can_be_zero_shot(worker, client):
    import uuid

    from tests.conftest import ADMIN, Tenant

    app_id = f"zs-clip-{uuid.uuid4().hex[:6]}"
    resp = client.post("/v1/apps", headers=ADMIN, json={
        "id": app_id, "default_embedders": {"text": TINY_CLIP, "image": TINY_CLIP}})
    tenant = Tenant(client, app_id, resp.get_json()["api_key"])
    tenant.post("/v1/models", json={"id": "z", "concepts": ["cat", "rocket"],
                                    "embedder": TINY_CLIP, "options": {"mutually_exclusive": True}})
    version = tenant.train("z")
    assert version["status"] == "trained", version
    assert version["counts"]["zero_shot"] == ["cat", "rocket"]
