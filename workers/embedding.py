"""The embed job: staged inputs → vectors → Qdrant, batch by batch."""

from __future__ import annotations

from typing import Any

from shared.inputs import PENDING
from shared.jobs import CANCELLED, FAILED
from workers.job_runner import check_cancelled
from workers.runtime import WorkerRuntime

CANCELLED_ERROR = {"code": "cancelled", "message": "the embed job was cancelled"}


def _payload(staged: dict[str, Any]) -> dict[str, Any]:
    return {
        "positive": staged["positive"],
        "negative": staged["negative"],
        "metadata": staged["metadata"],
        "data": staged["data"],
        "modality": "text",
        "created_at": staged["created_at"],
    }


def embed_inputs(rt: WorkerRuntime, job_id: str, app: str, input_ids: list[str]) -> dict[str, Any]:
    """Embed staged inputs and store them; safe to run again for the same inputs.

    Inputs deleted or re-sent while this job runs are skipped (their newer job
    owns them). Labels are read again under the app's label lock right before
    the write, so a label edit made during embedding is not lost.

    Returns:
        Counts of embedded and skipped inputs.
    """
    embedded = skipped = 0
    size = rt.settings.embed_batch_size
    for start in range(0, len(input_ids), size):
        check_cancelled(rt, job_id)
        batch = [(i, rt.inputs.staged(app, i)) for i in input_ids[start:start + size]]
        live = [(i, s) for i, s in batch if s is not None]
        skipped += len(batch) - len(live)
        by_embedder: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for input_id, staged in live:
            by_embedder.setdefault(staged["embedder"], []).append((input_id, staged))
        for embedder_id, items in by_embedder.items():
            vectors = rt.embedders.get(embedder_id).embed_texts(
                [s["data"]["text"] for _, s in items])
            with rt.inputs.label_lock(app):
                writes, revs = [], []
                for (input_id, staged), vector in zip(items, vectors):
                    current = rt.inputs.staged(app, input_id)
                    if current is None or current["rev"] != staged["rev"]:
                        skipped += 1
                        continue
                    writes.append((input_id, vector, _payload(current)))
                    revs.append((input_id, current["rev"]))
                rt.vectors.upsert(embedder_id, app, writes)
                for input_id, rev in revs:
                    if rt.inputs.finalise(app, input_id, rev):
                        embedded += 1
                    else:
                        skipped += 1
        rt.jobs.set_progress(job_id, min(start + size, len(input_ids)))
    return {"embedded": embedded, "skipped": skipped}


def settle_unfinished(rt: WorkerRuntime, app: str, job_id: str, input_ids: list[str]) -> int:
    """Mark this job's still-pending inputs failed when the job failed or was cancelled.

    Inputs re-sent meanwhile belong to a newer job and are left alone.

    Returns:
        How many inputs were marked failed.
    """
    job = rt.jobs.get(job_id)
    if job["status"] not in (FAILED, CANCELLED):
        return 0
    error = job["error"] if job["status"] == FAILED and job["error"] else CANCELLED_ERROR
    marked = 0
    for input_id, status in rt.inputs.statuses(app, input_ids).items():
        if status["status"] == PENDING and status["job_id"] == job_id:
            marked += rt.inputs.finalise(app, input_id, status["rev"], error=error)
    return marked
