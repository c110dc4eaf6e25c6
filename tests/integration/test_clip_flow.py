"""The CLIP path end to end, through a tiny random CLIP saved like a real one:
registered by setting, listed, both modalities embedded into one space, trained,
and predicting either modality."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tests.conftest import ADMIN, TINY_CLIP, Tenant
from tests.media import b64, crops, encode, photo


@pytest.fixture()
def clip_app(worker, client) -> Tenant:
    app_id = f"clip-{uuid.uuid4().hex[:8]}"
    resp = client.post("/v1/apps", headers=ADMIN, json={
        "id": app_id, "default_embedders": {"text": TINY_CLIP, "image": TINY_CLIP}})
    assert resp.status_code == 201, resp.get_json()
    app = resp.get_json()["app"]
    assert app["default_embedders"] == {"text": TINY_CLIP, "image": TINY_CLIP,
                                        "video": TINY_CLIP}
    return Tenant(client, app_id, resp.get_json()["api_key"])


def test_the_embedder_catalog_lists_clip(tenant):
    embedders = {e["id"]: e for e in tenant.get("/v1/embedders").get_json()["embedders"]}
    assert embedders[TINY_CLIP]["modalities"] == ["text", "image", "video"]
    assert embedders[TINY_CLIP]["dim"] == 16
    assert embedders["efficientnet-lite0"] == {**embedders["efficientnet-lite0"],
                                               "modalities": ["image", "video"], "dim": 1280}
    assert embedders["all-minilm-l6-v2"]["modalities"] == ["text"]


def test_an_unknown_or_unfit_default_embedder_is_refused(client):
    resp = client.post("/v1/apps", headers=ADMIN, json={
        "id": "nope", "default_embedders": {"image": "all-minilm-l6-v2"}})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "default_embedders.image"


def test_texts_and_images_share_one_space_and_one_model(clip_app, runtime):
    from workers.embedders.clip import ClipEmbedder

    inputs = [{"id": f"cat-img{n}", "data": {"image": {"base64": b64(encode(img))}},
               "concepts": [{"id": "cat", "value": 1}]}
              for n, img in enumerate(crops(photo("cat"), 3, seed=1))]
    inputs += [{"id": f"rocket-img{n}", "data": {"image": {"base64": b64(encode(img))}},
                "concepts": [{"id": "rocket", "value": 1}]}
               for n, img in enumerate(crops(photo("rocket"), 3, seed=2))]
    inputs += [{"id": "cat-text", "data": {"text": "a cat"}, "concepts": [{"id": "cat", "value": 1}]},
               {"id": "rocket-text", "data": {"text": "the rocket"},
                "concepts": [{"id": "rocket", "value": 1}]}]
    clip_app.add_inputs(inputs)
    # Both modalities went to the one CLIP collection, as the model embeds them.
    assert runtime.vectors.count(TINY_CLIP, clip_app.id) == 8
    assert runtime.vectors.count("all-minilm-l6-v2", clip_app.id) == 0
    stored = runtime.vectors.retrieve(TINY_CLIP, clip_app.id, ["cat-text", "cat-img0"],
                                      with_vectors=True)
    direct = runtime.embedders.get(TINY_CLIP)
    assert isinstance(direct, ClipEmbedder)
    np.testing.assert_allclose(stored["cat-text"].vector, direct.embed_texts(["a cat"])[0],
                               atol=1e-5)
    assert stored["cat-img0"].vector.shape == (16,)

    resp = clip_app.post("/v1/models", json={"id": "x", "concepts": ["cat", "rocket"],
                                             "modality": "image",
                                             "options": {"mutually_exclusive": True}})
    assert resp.get_json()["model"]["embedder"] == TINY_CLIP
    version = clip_app.train("x")
    assert version["status"] == "trained", version
    assert version["counts"]["examples"] == 8

    resp = clip_app.post("/v1/models/x/predict", json={"inputs": [
        {"data": {"text": "a cat"}},
        {"data": {"image": {"base64": b64(encode(photo("rocket")))}}}]})
    assert resp.status_code == 200, resp.get_json()
    for output in resp.get_json()["outputs"]:
        assert {c["id"] for c in output["concepts"]} == {"cat", "rocket"}
        assert abs(sum(c["value"] for c in output["concepts"]) - 1) < 1e-3


def test_a_clip_model_trained_on_images_predicts_texts(clip_app):
    clip_app.add_inputs([{"id": f"{c}{n}", "data": {"image": {"base64": b64(encode(img))}},
                          "concepts": [{"id": c, "value": 1}]}
                         for c, name in (("cat", "cat"), ("cup", "coffee"))
                         for n, img in enumerate(crops(photo(name), 3, seed=3))])
    clip_app.post("/v1/models", json={"id": "pics", "concepts": ["cat", "cup"],
                                      "embedder": TINY_CLIP})
    assert clip_app.train("pics")["status"] == "trained"
    resp = clip_app.post("/v1/models/pics/predict", json={"inputs": [{"data": {"text": "cat"}}]})
    assert resp.status_code == 200, resp.get_json()
    assert len(resp.get_json()["outputs"][0]["concepts"]) == 2
