"""Reads and label edits of inputs, run on the fast `query` queue.

The API cannot open Qdrant, where embedded inputs' labels live, so it sends
these as short tasks and waits a bounded time for the answer.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.errors import InvalidField, MalformedRequest, NotFound
from shared.inputs import EMBEDDED, input_view, split_labels
from workers.runtime import WorkerRuntime

STAGED_PHASE = "staged"


def get_input(rt: WorkerRuntime, app: str, input_id: str) -> dict[str, Any]:
    """One input with its data, labels and metadata, wherever they live now."""
    status = rt.inputs.status(app, input_id)
    if status is None:
        raise NotFound(f"input {input_id!r} not found", details={"input_id": input_id})
    if status["status"] != EMBEDDED:
        staged = rt.inputs.staged(app, input_id)
        if staged is not None:
            return input_view(status, staged)
    points = rt.vectors.retrieve(status["embedder"], app, [input_id])
    if input_id not in points:
        raise NotFound(f"input {input_id!r} not found", details={"input_id": input_id})
    return input_view(status, points[input_id].payload)


# --- listing ------------------------------------------------------------------------------
def _encode_token(phase: str, after: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps([phase, after]).encode()).decode()


def _decode_token(token: str | None, phases: list[str]) -> tuple[str, str | None]:
    if not token:
        return STAGED_PHASE, None
    try:
        phase, after = json.loads(base64.urlsafe_b64decode(token.encode()))
        if phase not in phases:
            raise ValueError(phase)
        return phase, after
    except (ValueError, TypeError) as exc:
        raise MalformedRequest("page_token is not a token this server issued",
                               details={"field": "page_token"}) from exc


def list_inputs(rt: WorkerRuntime, app: str, *, concept: str | None = None,
                status: str | None = None, limit: int = 50,
                page_token: str | None = None) -> dict[str, Any]:
    """One page of the app's inputs: unembedded ones (from Redis) first, then stored ones.

    Args:
        rt: Worker runtime.
        app: The app.
        concept: Only inputs positive for this concept.
        status: Only inputs in this status.
        limit: Page size.
        page_token: Token from the previous page.

    Returns:
        ``{"inputs": [...], "next_page_token": str | None}``.
    """
    phases = [STAGED_PHASE, *sorted(rt.embedders.catalog)]
    phase, after = _decode_token(page_token, phases)
    found: list[dict[str, Any]] = []
    for current in phases[phases.index(phase):]:
        if current == STAGED_PHASE:
            if status != EMBEDDED:
                for input_id, record in rt.inputs.iter_unembedded(app):
                    if after is not None and input_id <= after:
                        continue
                    if status and record["status"] != status:
                        continue
                    staged = rt.inputs.staged(app, input_id) or {}
                    if concept and concept not in staged.get("positive", []):
                        continue
                    found.append(input_view(record, staged))
                    if len(found) == limit:
                        return {"inputs": found,
                                "next_page_token": _encode_token(STAGED_PHASE, input_id)}
        elif status in (None, EMBEDDED):
            offset = after
            while True:
                points, offset = rt.vectors.scroll(current, app, positive_for=concept,
                                                   limit=limit - len(found), offset=offset,
                                                   first_frames_only=True)
                statuses = rt.inputs.statuses(app, [p.input_id for p in points])
                for point in points:
                    record = statuses.get(point.input_id)
                    # A re-sent input is listed once, as pending, from staging.
                    if record is not None and record["status"] == EMBEDDED:
                        found.append(input_view(record, point.payload))
                if offset is None:
                    break
                if len(found) >= limit:
                    return {"inputs": found, "next_page_token": _encode_token(current, offset)}
        after = None
    return {"inputs": found, "next_page_token": None}


# --- edits --------------------------------------------------------------------------------
def _merge_labels(body: dict[str, Any], concepts: list[dict[str, Any]] | None,
                  action: str) -> tuple[list[str], list[str]]:
    positive, negative = set(body.get("positive", [])), set(body.get("negative", []))
    if concepts is None:
        return sorted(positive), sorted(negative)
    given_pos, given_neg = split_labels(concepts)
    if action == "overwrite":
        return given_pos, given_neg
    if action == "remove":
        drop = {c["id"] for c in concepts}
        return sorted(positive - drop), sorted(negative - drop)
    positive = (positive - set(given_neg)) | set(given_pos)
    negative = (negative - set(given_pos)) | set(given_neg)
    return sorted(positive), sorted(negative)


def _merge_metadata(body: dict[str, Any], metadata: dict[str, Any] | None,
                    action: str) -> dict[str, Any]:
    current = dict(body.get("metadata", {}))
    if metadata is None:
        return current
    if action == "overwrite":
        return metadata
    if action == "remove":
        return {k: v for k, v in current.items() if k not in metadata}
    return {**current, **metadata}


def _check_limits(rt: WorkerRuntime, changes: dict[str, Any]) -> None:
    """The limits of an added input also hold for the result of an edit."""
    settings = rt.settings
    labels = len(changes["positive"]) + len(changes["negative"])
    if labels > settings.max_concepts_per_input:
        raise InvalidField("concepts", f"the input would have {labels} concepts; at most "
                           f"{settings.max_concepts_per_input} per input")
    size = len(json.dumps(changes["metadata"]))
    if size > settings.max_metadata_bytes:
        raise InvalidField("metadata", f"metadata would be {size} bytes as JSON; the limit is "
                           f"{settings.max_metadata_bytes}")


def patch_input(rt: WorkerRuntime, app: str, input_id: str, *,
                concepts: list[dict[str, Any]] | None, metadata: dict[str, Any] | None,
                action: str) -> dict[str, Any]:
    """Change an input's labels and/or metadata where they live now.

    Runs under the app's label lock, so it cannot interleave with an embed job
    moving the same input from staging to Qdrant.
    """
    with rt.inputs.label_lock(app):
        status = rt.inputs.status(app, input_id)
        if status is None:
            raise NotFound(f"input {input_id!r} not found", details={"input_id": input_id})
        staged = rt.inputs.staged(app, input_id) if status["status"] != EMBEDDED else None
        body = staged if staged is not None else None
        if body is None:
            points = rt.vectors.retrieve(status["embedder"], app, [input_id])
            if input_id not in points:
                raise NotFound(f"input {input_id!r} not found", details={"input_id": input_id})
            body = points[input_id].payload
        positive, negative = _merge_labels(body, concepts, action)
        changes = {"positive": positive, "negative": negative,
                   "metadata": _merge_metadata(body, metadata, action)}
        _check_limits(rt, changes)
        if concepts:
            rt.concepts.ensure(app, positive + negative)
        if staged is not None:
            rt.inputs.update_staged(app, input_id, changes)
        else:
            rt.vectors.set_payload(status["embedder"], app, input_id, changes)
        rt.inputs.touch(app, input_id)
    return get_input(rt, app, input_id)


def delete_inputs(rt: WorkerRuntime, app: str, input_ids: list[str]) -> dict[str, Any]:
    """Delete inputs: their points, staging and status. Unknown ids are reported."""
    with rt.inputs.label_lock(app):
        statuses = rt.inputs.statuses(app, input_ids)
        by_embedder: dict[str, list[str]] = {}
        for input_id, status in statuses.items():
            by_embedder.setdefault(status["embedder"], []).append(input_id)
            # A re-send not embedded yet still has its earlier version elsewhere.
            staged = rt.inputs.staged(app, input_id) if status["status"] != EMBEDDED else None
            previous = (staged or {}).get("previous_embedder")
            if previous and previous != status["embedder"]:
                by_embedder.setdefault(previous, []).append(input_id)
        for embedder_id, ids in by_embedder.items():
            rt.vectors.delete(embedder_id, app, ids)
        rt.inputs.forget(app, list(statuses))
    return {"deleted": sorted(statuses), "not_found": sorted(set(input_ids) - set(statuses))}
