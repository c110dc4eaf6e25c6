"""Images and videos end to end: real photos, real EfficientNet-Lite0 weights, the
real worker, Qdrant local mode.

One app is trained once for the module on crops of four photos sent three ways
(base64 JSON, multipart upload, URL); held-out photos and a video made of the
photos are then predicted.
"""

from __future__ import annotations

import io
import uuid

import pytest

from tests.conftest import ADMIN, Tenant
from tests.media import b64, crops, encode, make_video, photo

IMAGE_EMBEDDER = "efficientnet-lite0"
CONCEPTS = ["cat", "coffee", "rocket", "motorcycle"]
TRAIN_PHOTOS = {"cat": "cat", "coffee": "coffee", "rocket": "rocket",
                "motorcycle": "motorcycle_left"}


@pytest.fixture(scope="module")
def visual(worker, flask_app, media) -> Tenant:
    """An app with an image model trained on 4 crops per concept."""
    client = flask_app.test_client()
    app_id = f"visual-{uuid.uuid4().hex[:8]}"
    resp = client.post("/v1/apps", json={"id": app_id}, headers=ADMIN)
    tenant = Tenant(client, app_id, resp.get_json()["api_key"])
    inputs, files = [], {}
    for concept, name in TRAIN_PHOTOS.items():
        for n, image in enumerate(crops(photo(name), 4, seed=len(concept))):
            entry = {"id": f"{concept}-{n}", "concepts": [{"id": concept, "value": 1}]}
            if concept == "coffee":  # multipart upload
                files[f"{concept}{n}"] = (io.BytesIO(encode(image)), f"{concept}{n}.jpg")
                entry["data"] = {"image": {"file": f"{concept}{n}"}}
            elif concept == "rocket":  # fetched by the worker
                url = media.add(f"/train/{concept}{n}.jpg", encode(image))
                entry["data"] = {"image": {"url": url}}
            else:  # base64 in JSON, as JPEG and PNG
                fmt = "PNG" if concept == "motorcycle" else "JPEG"
                entry["data"] = {"image": {"base64": b64(encode(image, fmt))}}
            inputs.append(entry)
    import json

    resp = client.post("/v1/inputs", headers=tenant.headers, content_type="multipart/form-data",
                       data={"json": json.dumps({"inputs": inputs}), **files})
    assert resp.status_code == 202, resp.get_json()
    job = tenant.wait_job(resp.get_json()["job"]["id"])
    assert job["status"] == "succeeded" and job["result"]["embedded"] == 16, job
    resp = tenant.post("/v1/models", json={"id": "things", "concepts": CONCEPTS,
                                           "modality": "image",
                                           "options": {"mutually_exclusive": True}})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["model"]["embedder"] == IMAGE_EMBEDDER
    version = tenant.train("things")
    assert version["status"] == "trained", version
    return tenant


def _predict(tenant: Tenant, inputs: list[dict], **options) -> dict:
    resp = tenant.post("/v1/models/things/predict", json={"inputs": inputs, "options": options})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_image_inputs_are_embedded_with_their_description(visual, runtime):
    got = visual.get("/v1/inputs/coffee-0").get_json()["input"]
    assert got["status"] == "embedded" and got["embedder"] == IMAGE_EMBEDDER
    image = got["data"]["image"]
    assert image["format"] == "JPEG" and image["width"] > 0 and len(image["sha256"]) == 64
    url_input = visual.get("/v1/inputs/rocket-0").get_json()["input"]
    assert url_input["data"]["image"]["url"].startswith("http://127.0.0.1:")
    assert runtime.vectors.count(IMAGE_EMBEDDER, visual.id) == 16
    # Media bytes are not kept once embedded.
    keys = list(runtime.redis.scan_iter(f"{runtime.settings.redis_prefix}:app:{visual.id}:blob:*"))
    assert keys == []


def test_image_model_is_evaluated_per_concept(visual):
    version = visual.get("/v1/models/things/versions").get_json()["versions"][0]
    metrics = version["metrics"]
    assert metrics["status"] == "ok"
    assert set(metrics["concepts"]) == set(CONCEPTS)
    assert metrics["accuracy"] >= 0.9


def test_held_out_photos_are_predicted_correctly(visual):
    held_out = {
        "motorcycle": photo("motorcycle_right"),  # the other photo of the stereo pair
        "cat": photo("cat").transpose(0),  # whole photos, mirrored: never seen like this
        "coffee": photo("coffee").transpose(0),
        "rocket": photo("rocket").transpose(0),
    }
    inputs = [{"id": concept, "data": {"image": {"base64": b64(encode(image))}}}
              for concept, image in held_out.items()]
    outputs = _predict(visual, inputs)["outputs"]
    for output in outputs:
        assert output["concepts"][0]["id"] == output["input"]["id"], output


def test_an_async_predict_frees_its_staged_media(visual, runtime):
    resp = visual.post("/v1/models/things/predict", json={
        "inputs": [{"data": {"image": {"base64": b64(encode(photo("rocket")))}}}],
        "options": {"async": True}})
    assert resp.status_code == 202
    job = visual.wait_job(resp.get_json()["job"]["id"])
    assert job["result"]["outputs"][0]["concepts"][0]["id"] == "rocket"
    assert not runtime.redis.exists(runtime.jobs.key("predict", job["id"]))


def test_predict_by_url_and_by_upload(visual, media):
    url = media.add("/predict/cat.png", encode(photo("cat").resize((300, 200)), "PNG"),
                    "image/png")
    resp = visual.client.post(
        "/v1/models/things/predict", headers=visual.headers,
        content_type="multipart/form-data",
        data={"json": '{"inputs": [{"data": {"image": {"file": "up"}}}, '
                      f'{{"data": {{"image": {{"url": "{url}"}}}}}}]}}',
              "up": (io.BytesIO(encode(photo("coffee"))), "coffee.jpg")})
    assert resp.status_code == 200, resp.get_json()
    tops = [o["concepts"][0]["id"] for o in resp.get_json()["outputs"]]
    assert tops == ["coffee", "cat"]


def test_video_frames_follow_the_scene(visual):
    video = make_video([(photo("cat"), 3), (photo("coffee"), 3), (photo("rocket"), 3)])
    out = _predict(visual, [{"data": {"video": {"base64": b64(video)}}}])["outputs"][0]
    frames = out["frames"]
    assert [f["time_ms"] for f in frames] == [t * 1000 for t in range(9)]
    expected = ["cat"] * 3 + ["coffee"] * 3 + ["rocket"] * 3
    assert [f["concepts"][0]["id"] for f in frames] == expected
    # The whole video: the mean over frames, so three concepts share it.
    top3 = {c["id"] for c in out["concepts"][:3]}
    assert top3 == {"cat", "coffee", "rocket"}
    assert abs(sum(c["value"] for c in out["concepts"]) - 1.0) < 1e-3


def test_video_sample_ms_option_and_per_video_override(visual):
    video = make_video([(photo("cat"), 2), (photo("rocket"), 2)], fps=10)
    inputs = [{"data": {"video": {"base64": b64(video)}}},
              {"data": {"video": {"base64": b64(video), "sample_ms": 1000}}}]
    outputs = _predict(visual, inputs, sample_ms=500)["outputs"]
    assert [f["time_ms"] for f in outputs[0]["frames"]] == list(range(0, 4000, 500))
    assert [f["time_ms"] for f in outputs[1]["frames"]] == [0, 1000, 2000, 3000]


def test_video_inputs_store_a_point_per_frame_and_train(visual, runtime):
    from shared.vectors import point_id

    long_video = make_video([(photo("cat"), 4)])
    visual.add_inputs([{"id": "clip", "data": {"video": {"base64": b64(long_video)}},
                        "concepts": [{"id": "cat", "value": 1}]}])
    got = visual.get("/v1/inputs/clip").get_json()["input"]
    assert got["status"] == "embedded" and got["frames"] == 4
    assert got["data"]["video"]["sample_ms"] == 1000
    assert got["data"]["video"]["width"] == 320
    points = runtime.vectors.retrieve(IMAGE_EMBEDDER, visual.id, ["clip"])
    assert points["clip"].payload["frames"] == 4
    stored = runtime.vectors.client.retrieve(
        "headstart_efficientnet_lite0", ids=[point_id(visual.id, "clip", k) for k in range(4)])
    assert sorted(p.payload["time_ms"] for p in stored) == [0, 1000, 2000, 3000]
    # Listed once, not once per frame.
    listed = [i["id"] for i in visual.get("/v1/inputs?limit=500").get_json()["inputs"]]
    assert listed.count("clip") == 1
    # Training sees the frames (labels inherited from the video), as rows of one input.
    version = visual.train("things")
    assert version["status"] == "trained"
    assert version["counts"]["rows"] == 16 + 4
    assert version["counts"]["examples"] == 16 + 1
    assert version["counts"]["positives"]["cat"] == 4 + 1
    # Evaluated per input: the video is one example in the confusion matrix.
    assert sum(map(sum, version["metrics"]["confusion_matrix"]["matrix"])) == 16 + 1

    # Re-sent shorter: the frames it no longer has are gone.
    short_video = make_video([(photo("cat"), 2)])
    visual.add_inputs([{"id": "clip", "data": {"video": {"base64": b64(short_video)}},
                        "concepts": [{"id": "cat", "value": 1}]}])
    assert runtime.vectors.count(IMAGE_EMBEDDER, visual.id) == 16 + 2
    # Labels edited on a video apply to every frame.
    visual.patch("/v1/inputs/clip", json={"concepts": [{"id": "cat", "value": 0}],
                                          "action": "overwrite"})
    frames = runtime.vectors.client.retrieve(
        "headstart_efficientnet_lite0", ids=[point_id(visual.id, "clip", k) for k in range(2)])
    assert all(p.payload["negative"] == ["cat"] for p in frames)
    # Deleting a video removes every frame.
    assert visual.delete("/v1/inputs/clip").status_code == 204
    assert runtime.vectors.count(IMAGE_EMBEDDER, visual.id) == 16


def test_an_input_resent_as_another_modality_leaves_nothing_behind(visual, runtime):
    visual.add_inputs([{"id": "shifty", "data": {"text": "a cat on a mat"},
                        "concepts": [{"id": "cat", "value": 1}]}])
    assert runtime.vectors.retrieve("all-minilm-l6-v2", visual.id, ["shifty"])
    visual.add_inputs([{"id": "shifty", "data": {"image": {"base64": b64(encode(photo("cat")))}},
                        "concepts": [{"id": "cat", "value": 1}]}])
    assert not runtime.vectors.retrieve("all-minilm-l6-v2", visual.id, ["shifty"])
    assert runtime.vectors.retrieve(IMAGE_EMBEDDER, visual.id, ["shifty"])
    visual.delete("/v1/inputs/shifty")


def test_a_text_model_refuses_images(visual):
    visual.post("/v1/models", json={"id": "words", "concepts": ["cat"]})
    resp = visual.post("/v1/models/words/predict", json={"inputs": [
        {"data": {"text": "fine"}}, {"data": {"image": {"base64": b64(encode(photo("cat")))}}}]})
    # No trained version yet is checked after the inputs: the modality error comes first.
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["details"]["field"] == "inputs[1].data"
