"""What a predict reads before it is queued: the model and version in one round trip,
and the staged request with its media bytes as they came."""

from __future__ import annotations

import pytest

from shared import predict_requests
from shared.errors import Conflict, NotFound
from shared.model_registry import V_TRAINED, ModelRegistry
from shared.redis_store import bytes_client


@pytest.fixture()
def registry(redis_client, settings) -> ModelRegistry:
    return ModelRegistry(redis_client, settings.redis_prefix)


def _version(registry: ModelRegistry, app: str, model: dict, status: str) -> str:
    version_id = registry.new_version_id(app, model["id"])
    with registry.redis.pipeline() as pipe:
        registry.add_version(app, model, version_id, f"job-{version_id}", pipe)
        pipe.execute()
    if status != "queued":
        registry.update_version(app, model["id"], version_id, status=status)
    return version_id


def test_the_default_is_the_pinned_else_the_newest_trained_version(registry):
    app = "app-target"
    model = registry.create_model(app, "m", ["a", "b"], "text", {})
    got, version = registry.model_and_trained_version(app, "m", None)
    assert got["id"] == "m"
    with pytest.raises(Conflict) as no_version:  # reported only when asked for
        version()
    assert no_version.value.code == "no_trained_version"
    first = _version(registry, app, model, V_TRAINED)
    second = _version(registry, app, model, V_TRAINED)
    _version(registry, app, model, "training")  # newer, not trained: not the default
    assert registry.model_and_trained_version(app, "m", None)[1]()["id"] == second
    registry.pin_version(app, "m", first)
    assert registry.model_and_trained_version(app, "m", None)[1]()["id"] == first
    assert registry.trained_version(app, "m", second)["id"] == second


def test_a_named_version_must_exist_and_be_trained(registry):
    app = "app-target-named"
    model = registry.create_model(app, "m", ["a", "b"], "text", {})
    queued = _version(registry, app, model, "queued")
    _, version = registry.model_and_trained_version(app, "m", queued)
    with pytest.raises(Conflict) as not_trained:
        version()
    assert not_trained.value.code == "version_not_trained"
    with pytest.raises(NotFound):
        registry.model_and_trained_version(app, "m", "99")[1]()
    with pytest.raises(NotFound):  # an unknown model fails at once
        registry.model_and_trained_version(app, "nope", None)


def test_a_staged_request_keeps_its_media_bytes_as_they_came(redis_client, settings):
    key = f"{settings.redis_prefix}:predict:staged-test"
    photo = bytes(range(256)) * 3  # not UTF-8: it must not pass through a str anywhere
    inputs = [{"id": "t", "modality": "text", "source": {"text": "hi"}},
              {"id": "p", "modality": "image", "source": {"blob": True}}]
    with redis_client.pipeline(transaction=True) as pipe:
        predict_requests.stage(pipe, key, inputs, {"min_value": 0.1}, {1: photo}, 60)
        pipe.execute()
    assert 0 < redis_client.ttl(key) <= 60
    request, blobs = predict_requests.parse(bytes_client(redis_client).hgetall(key))
    assert request == {"inputs": inputs, "options": {"min_value": 0.1}}
    assert blobs == {1: photo}
    redis_client.delete(key)
    assert predict_requests.parse(bytes_client(redis_client).hgetall(key)) is None
