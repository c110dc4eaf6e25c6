"""The predict job: embed the request's texts, images and videos, apply a head, shape
the outputs."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from shared import predict_requests
from shared.errors import NotFound
from shared.media import MediaError
from workers.content import Content, embed_contents
from workers.heads import head_probabilities
from workers.runtime import WorkerRuntime


def select_outputs(probs: np.ndarray, concepts: list[str], names: dict[str, str],
                   options: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Turn probabilities into per-input concept lists, applying the options.

    Options: ``select_concepts`` (only these), ``min_value`` (drop lower),
    ``max_concepts`` (keep the top N). Concepts are sorted by value, highest first.
    """
    selected = options.get("select_concepts")
    columns = [i for i, c in enumerate(concepts) if not selected or c in selected]
    min_value = float(options.get("min_value") or 0.0)
    max_concepts = options.get("max_concepts")
    outputs = []
    for row in probs:
        ranked = sorted(columns, key=lambda i: -row[i])
        kept = [{"id": concepts[i], "name": names.get(concepts[i], concepts[i]),
                 "value": round(float(row[i]), 6)} for i in ranked if row[i] >= min_value]
        outputs.append(kept[:max_concepts] if max_concepts else kept)
    return outputs


def predict(rt: WorkerRuntime, app: str, model_id: str, version_id: str, is_default: bool,
            request_key: str) -> dict[str, Any]:
    """Run a staged predict request against one model version.

    Each input gets ``concepts``; a video also gets ``frames`` (concepts per
    sampled frame, with its time) and its ``concepts`` are the mean over frames.
    An input whose media cannot be used gets ``error`` instead; the rest go on.

    Args:
        rt: Worker runtime.
        app: Owning app.
        model_id: Model id.
        version_id: The version resolved by the API (default or named).
        is_default: Whether it was resolved as the model's default (head cache hint).
        request_key: Redis key of the staged request (``shared.predict_requests``).

    Returns:
        ``{"outputs": [...], "model_version": version_id}``.
    """
    head = rt.heads.get(app, model_id, version_id, is_default)
    manifest = head.manifest
    # The request and the concepts' display names in one round trip (a predict's
    # latency is a handful of them).
    concepts = manifest["concepts"]
    with rt.redis_bytes.pipeline(transaction=False) as pipe:
        pipe.hgetall(request_key)
        pipe.hmget(rt.concepts.names_key(app), concepts)
        staged, raw_names = pipe.execute()
    parsed = predict_requests.parse(staged)
    if parsed is None:
        raise NotFound("predict request expired before a worker took it", code="request_expired")
    request, blobs = parsed
    names = rt.concepts.names_from(concepts, raw_names)
    embedder = rt.embedders.get(manifest["embedder"])
    contents = [Content(item["modality"], item["source"], staged_bytes=partial(blobs.get, i))
                for i, item in enumerate(request["inputs"])]
    results = embed_contents(rt.settings, embedder, contents, rt.settings.embed_batch_size)
    options = request["options"]

    def select(probs: np.ndarray) -> list[list[dict[str, Any]]]:
        return select_outputs(probs, manifest["concepts"], names, options)

    outputs = []
    for item, result in zip(request["inputs"], results):
        output: dict[str, Any] = {}
        if item.get("id") is not None:
            output["input"] = {"id": item["id"]}
        if isinstance(result, MediaError):
            output["error"] = result.to_dict()
            outputs.append(output)
            continue
        probs = head_probabilities(head, result.vectors)
        if result.times_ms is None:
            output["concepts"] = select(probs)[0]
        else:
            # The video as a whole: the mean of its frames' probabilities.
            output["concepts"] = select(probs.mean(axis=0, keepdims=True))[0]
            output["frames"] = [{"time_ms": t, "concepts": c}
                                for t, c in zip(result.times_ms, select(probs))]
        outputs.append(output)
    return {"outputs": outputs, "model_version": version_id}
