"""The embed job: staged inputs (texts, images, videos) → vectors → Qdrant, batch by batch."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.inputs import EMBEDDED, PENDING
from shared.jobs import CANCELLED, FAILED
from shared.media import MediaError
from workers.content import Content, Embedding, embed_contents
from workers.job_runner import check_cancelled
from workers.runtime import WorkerRuntime

CANCELLED_ERROR = {"code": "cancelled", "message": "the embed job was cancelled"}


def content_of(rt: WorkerRuntime, app: str, input_id: str, staged: dict[str, Any]) -> Content:
    """What to embed for a staged input (records staged before media existed are texts)."""
    modality = staged.get("modality", "text")
    source = staged.get("source") or {"text": staged["data"]["text"]}
    return Content(modality, source,
                   staged_bytes=lambda: rt.inputs.blob(app, input_id, staged["rev"]))


def points_of(staged: dict[str, Any], embedding: Embedding) -> list[tuple[np.ndarray, dict]]:
    """The Qdrant points of one embedded input: one, or one per sampled video frame."""
    payload = {
        "positive": staged["positive"],
        "negative": staged["negative"],
        "metadata": staged["metadata"],
        "data": staged["data"],
        "modality": staged.get("modality", "text"),
        "created_at": staged["created_at"],
    }
    if embedding.times_ms is None:
        return [(embedding.vectors[0], payload)]
    frames = len(embedding.times_ms)
    return [(vector, {**payload, "frame": k, "time_ms": t, "frames": frames})
            for k, (vector, t) in enumerate(zip(embedding.vectors, embedding.times_ms))]


def _clear_leftovers(rt: WorkerRuntime, app: str, input_id: str, staged: dict[str, Any],
                     embedder_id: str, points: int) -> None:
    """Remove what an earlier version of a re-sent input left in Qdrant.

    Args:
        rt: Worker runtime.
        app: Owning app.
        input_id: The input.
        staged: Its staged record (``previous_embedder`` says where it was).
        embedder_id: Where the new version's points go.
        points: How many points the new version has; 0 when it failed, which
            leaves the input with none (old vectors must not train models).
    """
    previous = staged.get("previous_embedder")
    if previous is None:
        return
    if previous != embedder_id:
        rt.vectors.delete(previous, app, [input_id])
    if points:
        rt.vectors.delete_frames_from(embedder_id, app, input_id, points)
    else:
        rt.vectors.delete(embedder_id, app, [input_id])


def embedded_by_earlier_delivery(rt: WorkerRuntime, app: str, job_id: str,
                                 input_ids: list[str]) -> int:
    """How many of ``input_ids`` (no longer staged) this same job already embedded.

    A worker that died mid-job leaves its finished batches embedded; the redelivered
    task counts them as embedded, not as skipped, so the job's result is the same
    as if it had run once.
    """
    statuses = rt.inputs.statuses(app, input_ids)
    return sum(1 for s in statuses.values() if s["status"] == EMBEDDED and s["job_id"] == job_id)


@dataclass
class _Staged:
    """A batch's inputs as staging has them (None: no longer staged)."""

    records: list[tuple[str, dict[str, Any] | None]]


@dataclass
class _Group:
    """The live inputs of one batch that one embedder embeds, with their embeddings."""

    embedder_id: str
    items: list[tuple[str, dict[str, Any]]]
    results: list[Embedding | MediaError]


@dataclass
class _BatchEnd:
    """Every group of the batch has been handed over."""

    size: int


def _embedded(rt: WorkerRuntime, app: str, input_ids: list[str], size: int
              ) -> Iterator[_Staged | _Group | _BatchEnd]:
    """Each batch's staged records, then its embedder groups embedded one by one, then
    its end. Nothing is written here."""
    for start in range(0, len(input_ids), size):
        ids = input_ids[start:start + size]
        staged = list(zip(ids, rt.inputs.staged_many(app, ids)))
        yield _Staged(staged)
        by_embedder: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for input_id, record in staged:
            if record is not None:
                by_embedder.setdefault(record["embedder"], []).append((input_id, record))
        for embedder_id, items in by_embedder.items():
            results = embed_contents(rt.settings, rt.embedders.get(embedder_id),
                                     [content_of(rt, app, i, s) for i, s in items], size)
            yield _Group(embedder_id, items, results)
        yield _BatchEnd(len(staged))


_DONE = object()


def _prefetched(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, produced one ahead on a thread: the next group embeds while the caller
    writes this one (its decoding and forward pass overlap the Qdrant and Redis writes).

    The producer stops at the next item once the caller closes this generator (a
    cancelled or failed job); its errors are raised here, in order.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Hand one item over unless the caller stopped (never blocks for good: the
        caller may be gone)."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the caller, raised there
            offer(exc)

    producer = threading.Thread(target=produce, name="embed-ahead", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # the producer sees it within 0.1 s of its current item
        producer.join()


def embed_inputs(rt: WorkerRuntime, job_id: str, app: str, input_ids: list[str]) -> dict[str, Any]:
    """Embed staged inputs and store them; safe to run again for the same inputs.

    Inputs deleted or re-sent while this job runs are skipped (their newer job
    owns them). Labels are read again under the app's label lock right before
    the write, so a label edit made during embedding is not lost. An input whose
    media cannot be used is marked ``failed`` with the reason and leaves no point;
    the others go on. Each embedder's part of a batch is written as soon as it is
    embedded, while the next part embeds; a record re-sent in between is caught by
    the revision check at the write.

    Returns:
        Counts of embedded, failed and skipped inputs.
    """
    embedded = failed = skipped = 0
    done_so_far = 0
    check_cancelled(rt, job_id)
    parts = _prefetched(_embedded(rt, app, input_ids, rt.settings.embed_batch_size))
    with closing(parts):
        for part in parts:
            if isinstance(part, _Staged):
                live = sum(1 for _, s in part.records if s is not None)
                earlier = embedded_by_earlier_delivery(
                    rt, app, job_id, [i for i, s in part.records if s is None])
                embedded += earlier
                skipped += len(part.records) - live - earlier
            elif isinstance(part, _Group):
                counts = _write_group(rt, app, part)
                embedded, failed, skipped = (embedded + counts[0], failed + counts[1],
                                             skipped + counts[2])
            else:
                done_so_far += part.size
                rt.jobs.set_progress(job_id, done_so_far)
                # Between batches: a cancel lets the batch in progress finish.
                check_cancelled(rt, job_id)
    return {"embedded": embedded, "failed": failed, "skipped": skipped}


def _write_group(rt: WorkerRuntime, app: str, group: _Group) -> tuple[int, int, int]:
    """Store one embedder group's points and finalise its inputs.

    Returns:
        How many inputs were embedded, failed and skipped.
    """
    embedded = failed = skipped = 0
    with rt.inputs.label_lock(app):
        writes: list[tuple[str, np.ndarray, dict[str, Any]]] = []
        # Per input still current: its staged record, its error (None: embedded) and
        # how many points it now has.
        current: list[tuple[str, dict[str, Any], dict[str, Any] | None, int]] = []
        records = rt.inputs.staged_many(app, [input_id for input_id, _ in group.items])
        for (input_id, staged), record, result in zip(group.items, records, group.results):
            if record is None or record["rev"] != staged["rev"]:
                skipped += 1
                continue
            if isinstance(result, MediaError):
                current.append((input_id, record, result.to_dict(), 0))
                continue
            points = points_of(record, result)
            writes.extend((input_id, vector, payload) for vector, payload in points)
            current.append((input_id, record, None, len(points)))
        rt.vectors.upsert(group.embedder_id, app, writes)
        for input_id, record, _, count in current:
            _clear_leftovers(rt, app, input_id, record, group.embedder_id, count)
        # The statuses in one transaction: a few round trips for the batch, not per input.
        applied = rt.inputs.finalise_many(
            app, [(input_id, record["rev"], error) for input_id, record, error, _ in current])
        for (_, _, error, _), done in zip(current, applied):
            if not done:
                skipped += 1
            elif error is None:
                embedded += 1
            else:
                failed += 1
    return embedded, failed, skipped


def settle_unfinished(rt: WorkerRuntime, app: str, job_id: str, input_ids: list[str]) -> int:
    """Mark this job's still-pending inputs failed when the job failed or was cancelled.

    Returns:
        How many inputs were marked failed.
    """
    job = rt.jobs.get(job_id)
    if job["status"] not in (FAILED, CANCELLED):
        return 0
    error = job["error"] if job["status"] == FAILED and job["error"] else CANCELLED_ERROR
    return fail_pending(rt, app, job_id, input_ids, error)


def fail_pending(rt: WorkerRuntime, app: str, job_id: str, input_ids: list[str],
                 error: dict[str, Any]) -> int:
    """Mark this job's still-pending inputs failed with ``error``.

    Inputs re-sent meanwhile belong to a newer job and are left alone. A failed
    re-send also loses the vectors of its earlier version, as a failed input has none.

    Returns:
        How many inputs were marked failed.
    """
    with rt.inputs.label_lock(app):
        pending = [s for s in rt.inputs.statuses(app, input_ids).values()
                   if s["status"] == PENDING and s["job_id"] == job_id]
        ids = [status["id"] for status in pending]
        for status, staged in zip(pending, rt.inputs.staged_many(app, ids)):
            if staged is not None and staged["rev"] == status["rev"]:
                _clear_leftovers(rt, app, status["id"], staged, status["embedder"], 0)
        applied = rt.inputs.finalise_many(app, [(s["id"], s["rev"], error) for s in pending])
    return sum(applied)
