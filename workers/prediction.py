"""The predict job: embed the request's inputs, apply a head, shape the outputs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from shared.errors import NotFound
from workers.runtime import WorkerRuntime
from workers.training import apply_head


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

    Args:
        rt: Worker runtime.
        app: Owning app.
        model_id: Model id.
        version_id: The version resolved by the API (default or named).
        is_default: Whether it was resolved as the model's default (head cache hint).
        request_key: Redis key of the staged request ``{"inputs", "options"}``.

    Returns:
        ``{"outputs": [...], "model_version": version_id}``.
    """
    raw = rt.redis.get(request_key)
    if raw is None:
        raise NotFound("predict request expired before a worker took it", code="request_expired")
    request = json.loads(raw)
    head = rt.heads.get(app, model_id, version_id, is_default)
    manifest = head.manifest
    embedder = rt.embedders.get(manifest["embedder"])
    vectors = embedder.embed_texts([item["data"]["text"] for item in request["inputs"]])
    probs = apply_head(head.weight, head.bias, manifest["activation"], vectors)
    names = rt.concepts.names(app, manifest["concepts"])
    concept_lists = select_outputs(probs, manifest["concepts"], names, request["options"])
    outputs = []
    for item, concepts in zip(request["inputs"], concept_lists):
        output: dict[str, Any] = {"concepts": concepts}
        if item.get("id") is not None:
            output["input"] = {"id": item["id"]}
        outputs.append(output)
    return {"outputs": outputs, "model_version": version_id}
