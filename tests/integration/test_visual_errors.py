"""Bad visual input: refused at submission (4xx naming the input and the reason)
when the request tells, else the input ends ``failed`` with the reason; either way
the other inputs are unaffected and nothing partial is left in Qdrant."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.media import (
    b64,
    encode,
    make_audio_only,
    make_frameless_video,
    make_video,
    photo,
)

IMAGE_EMBEDDER = "efficientnet-lite0"
GOOD = {"id": "good", "data": {"text": "a perfectly fine text"}}


def _jpeg() -> bytes:
    return encode(photo("cat"))


def _bomb() -> bytes:
    # 15000 x 15000 one-bit pixels: a few kB on the wire, 225 Mpixels decoded.
    return encode(Image.new("1", (15_000, 15_000)), "PNG")


BAD_IMAGES = {
    "truncated": (_jpeg()[: len(_jpeg()) // 2], "truncated"),
    "zero_bytes": (b"", "empty"),
    "not_an_image": (b"<html><body>a web page</body></html>", "unsupported_format"),
    "pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "unsupported_format"),
    "huge_dimensions": (encode(Image.new("L", (13_000, 8)), "PNG"), "too_large_dimensions"),
    "bomb": (_bomb(), "decompression_bomb"),
}


def _state(tenant, runtime) -> tuple[int, int, int]:
    inputs = len(tenant.get("/v1/inputs?limit=500").get_json()["inputs"])
    jobs = len(tenant.get("/v1/jobs").get_json()["jobs"])
    return inputs, jobs, runtime.vectors.count(IMAGE_EMBEDDER, tenant.id)


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image_bytes_are_refused_naming_the_input(live, runtime, case):
    data, reason = BAD_IMAGES[case]
    before = _state(live, runtime)
    resp = live.post("/v1/inputs", json={"inputs": [
        GOOD, {"id": "bad", "data": {"image": {"base64": b64(data)}}}]})
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_media"
    assert error["details"]["field"] == "inputs[1].data.image.base64"
    assert error["details"]["reason"] == reason
    # Nothing stored: not the good input either, no job, no point.
    assert _state(live, runtime) == before


def test_wrong_type_behind_a_right_extension_in_an_upload(live):
    resp = live.client.post(
        "/v1/inputs", headers=live.headers, content_type="multipart/form-data",
        data={"json": '{"inputs": [{"data": {"image": {"file": "photo"}}}]}',
              "photo": (io.BytesIO(b"GIF89a but not really a gif"), "cat.jpg", "image/jpeg")})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["details"]["field"] == "inputs[0].data.image.file"
    assert error["details"]["reason"] in ("unsupported_format", "truncated", "corrupt")


def test_missing_upload_part_and_bad_base64(live):
    resp = live.client.post(
        "/v1/inputs", headers=live.headers, content_type="multipart/form-data",
        data={"json": '{"inputs": [{"data": {"image": {"file": "nope"}}}]}'})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "inputs[0].data.image.file"
    resp = live.post("/v1/inputs", json={"inputs": [{"data": {"image": {"base64": "%%%"}}}]})
    assert resp.get_json()["error"]["details"]["reason"] == "bad_base64"
    resp = live.post("/v1/inputs", json={"inputs": [
        {"data": {"image": {"base64": b64(_jpeg()), "url": "http://example.com/x.jpg"}}}]})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "inputs[0].data.image"


def test_an_image_over_the_byte_cap_is_413(live, flask_app):
    noise = np.random.default_rng(0).integers(0, 255, (1200, 1200, 3), dtype=np.uint8)
    big = encode(Image.fromarray(noise), "PNG")
    small_cap = flask_app.extensions["headstart"].settings.model_copy(
        update={"max_image_bytes": len(big) - 1})
    from api import create_app

    client = create_app(small_cap).test_client()
    resp = client.post("/v1/inputs", headers=live.headers,
                       json={"inputs": [{"data": {"image": {"base64": b64(big)}}}]})
    assert resp.status_code == 413
    assert resp.get_json()["error"]["details"]["field"] == "inputs[0].data.image.base64"


@pytest.mark.parametrize("url", [
    "ftp://example.com/cat.jpg",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7/cat.jpg",
    "http://[fd00:ec2::254]/cat.jpg",
    "http://user:secret@example.com/cat.jpg",
])
def test_forbidden_urls_are_refused_at_submission(live, runtime, url):
    before = _state(live, runtime)
    resp = live.post("/v1/inputs", json={"inputs": [GOOD, {"data": {"image": {"url": url}}}]})
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["details"] == {**error["details"], "field": "inputs[1].data.image.url",
                                "reason": "forbidden_url"}
    assert _state(live, runtime) == before


def test_loopback_is_refused_unless_the_setting_allows_it(live, settings):
    from api import create_app

    strict = create_app(settings.model_copy(update={"fetch_allow_loopback": False}))
    resp = strict.test_client().post("/v1/inputs", headers=live.headers, json={
        "inputs": [{"data": {"image": {"url": "http://localhost:8000/cat.jpg"}}}]})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["reason"] == "forbidden_url"


def test_bad_video_bytes_are_refused_naming_the_input(live, runtime):
    cases = {
        "no_video_stream": make_audio_only(),
        "no_frames": make_frameless_video(),
        "unsupported_format": _jpeg(),
        "empty": b"",
    }
    for reason, data in cases.items():
        resp = live.post("/v1/inputs", json={"inputs": [
            GOOD, {"data": {"video": {"base64": b64(data)}}}]})
        assert resp.status_code == 422, (reason, resp.get_json())
        error = resp.get_json()["error"]
        assert (error["details"]["field"], error["details"]["reason"]) == \
            ("inputs[1].data.video.base64", reason)
    resp = live.post("/v1/inputs", json={"inputs": [
        {"data": {"video": {"base64": b64(_jpeg()), "sample_ms": 50}}}]})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "inputs[0].data.video.sample_ms"


def test_video_caps_are_checked_at_submission(live, flask_app):
    from api import create_app

    video = make_video([(photo("cat"), 3)])
    base = flask_app.extensions["headstart"].settings
    for update, reason in (({"max_video_seconds": 2.0}, "too_long"),
                           ({"max_video_pixels": 320 * 200}, "too_large_dimensions"),
                           ({"max_video_samples": 2}, "too_many_samples")):
        client = create_app(base.model_copy(update=update)).test_client()
        resp = client.post("/v1/inputs", headers=live.headers,
                           json={"inputs": [{"data": {"video": {"base64": b64(video)}}}]})
        assert resp.status_code == 422, (update, resp.get_json())
        assert resp.get_json()["error"]["details"]["reason"] == reason


def test_unreachable_and_redirected_urls_fail_only_their_inputs(live, runtime, media):
    ok = media.add("/fine.jpg", _jpeg())
    missing = media.base + "/missing.jpg"  # 404
    closed = "http://127.0.0.1:9/cat.jpg"  # nothing listens on the discard port
    sneaky = media.redirect("/sneaky.jpg", "http://169.254.169.254/latest/meta-data/")
    fake_video = media.add("/notavideo.mp4", b"\x00\x00\x00\x18ftypmp42 truncated", "video/mp4")
    frameless = media.add("/frameless.avi", make_frameless_video(), "video/x-msvideo")
    body = live.add_inputs([
        {"id": "ok", "data": {"image": {"url": ok}}},
        {"id": "missing", "data": {"image": {"url": missing}}},
        {"id": "closed", "data": {"image": {"url": closed}}},
        {"id": "sneaky", "data": {"image": {"url": sneaky}}},
        {"id": "fake-video", "data": {"video": {"url": fake_video}}},
        {"id": "frameless", "data": {"video": {"url": frameless}}},
        {"id": "text", "data": {"text": "unaffected"}},
    ])
    job = live.get(f"/v1/jobs/{body['job']['id']}").get_json()["job"]
    assert job["result"] == {"embedded": 2, "failed": 5, "skipped": 0}
    reasons = {}
    for input_id in ("missing", "closed", "sneaky", "fake-video", "frameless"):
        got = live.get(f"/v1/inputs/{input_id}").get_json()["input"]
        assert got["status"] == "failed", got
        reasons[input_id] = got["error"]["code"]
    assert reasons == {"missing": "fetch_failed", "closed": "fetch_failed",
                       "sneaky": "forbidden_url", "fake-video": reasons["fake-video"],
                       "frameless": "no_frames"}
    assert reasons["fake-video"] in ("unsupported_format", "corrupt", "no_frames")
    assert live.get("/v1/inputs/ok").get_json()["input"]["status"] == "embedded"
    assert live.get("/v1/inputs/text").get_json()["input"]["status"] == "embedded"
    # Only the good image has a point; the redirect never reached the metadata address.
    assert runtime.vectors.count(IMAGE_EMBEDDER, live.id) == 1
    listed = live.get("/v1/inputs?status=failed").get_json()["inputs"]
    assert {i["id"] for i in listed} == {"missing", "closed", "sneaky", "fake-video",
                                         "frameless"}


def test_predict_reports_a_failed_url_on_its_input_only(live, media):
    live.add_inputs([{"id": f"{c}{n}", "data": {"image": {"base64": b64(encode(img))}},
                      "concepts": [{"id": c, "value": 1}]}
                     for c in ("cat", "coffee")
                     for n, img in enumerate([photo(c), photo(c).transpose(0)])])
    live.post("/v1/models", json={"id": "m", "concepts": ["cat", "coffee"], "modality": "image"})
    assert live.train("m")["status"] == "trained"
    resp = live.post("/v1/models/m/predict", json={"inputs": [
        {"id": "a", "data": {"image": {"url": media.base + "/gone.jpg"}}},
        {"id": "b", "data": {"image": {"base64": b64(_jpeg())}}}]})
    assert resp.status_code == 200, resp.get_json()
    first, second = resp.get_json()["outputs"]
    assert first["input"] == {"id": "a"} and first["error"]["code"] == "fetch_failed"
    assert "concepts" not in first
    assert second["concepts"][0]["id"] == "cat"
    bad = live.post("/v1/models/m/predict", json={"inputs": [
        {"data": {"image": {"base64": b64(BAD_IMAGES["truncated"][0])}}}]})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"]["field"] == "inputs[0].data.image.base64"


def test_a_failed_resend_leaves_no_vectors_of_the_old_version(live, runtime, media):
    live.add_inputs([{"id": "was-text", "data": {"text": "a cat on a mat"},
                      "concepts": [{"id": "cat", "value": 1}]},
                     {"id": "was-image", "data": {"image": {"base64": b64(_jpeg())}},
                      "concepts": [{"id": "cat", "value": 1}]}])
    gone = media.base + "/never-there.jpg"
    live.add_inputs([{"id": "was-text", "data": {"image": {"url": gone}}},
                     {"id": "was-image", "data": {"image": {"url": gone}}}])
    for input_id in ("was-text", "was-image"):
        assert live.get(f"/v1/inputs/{input_id}").get_json()["input"]["status"] == "failed"
    # A failed input has no vectors: its old ones must not train models any more.
    assert runtime.vectors.count("all-minilm-l6-v2", live.id) == 0
    assert runtime.vectors.count(IMAGE_EMBEDDER, live.id) == 0


def test_deleting_a_pending_resend_removes_its_earlier_version_too(live, runtime, redis_client,
                                                                   settings):
    from shared.inputs import InputStore

    live.add_inputs([{"id": "x", "data": {"text": "a cat on a mat"}}])
    store = InputStore(redis_client, settings.redis_prefix)
    with redis_client.pipeline() as pipe:  # re-sent as an image, its job not run yet
        store.stage(live.id, [{"id": "x", "modality": "image", "data": {"image": {}},
                               "source": {"blob": True}, "embedder": IMAGE_EMBEDDER,
                               "positive": [], "negative": [], "metadata": {}}],
                    "no-job", pipe)
        pipe.execute()
    assert live.delete("/v1/inputs/x").status_code == 204
    assert runtime.vectors.count("all-minilm-l6-v2", live.id) == 0


def test_one_upload_part_may_serve_two_inputs(live):
    body = live.client.post(
        "/v1/inputs", headers=live.headers, content_type="multipart/form-data",
        data={"json": '{"inputs": [{"id": "a", "data": {"image": {"file": "p"}}},'
                      ' {"id": "b", "data": {"image": {"file": "p"}}}]}',
              "p": (io.BytesIO(_jpeg()), "cat.jpg")})
    assert body.status_code == 202, body.get_json()
    job = live.wait_job(body.get_json()["job"]["id"])
    assert job["result"]["embedded"] == 2
