"""The train job: labelled vectors from Qdrant → fitted, evaluated head → model store."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from shared.jobs import QUEUED, RUNNING
from shared.model_registry import V_FAILED, V_QUEUED, V_TRAINED, V_TRAINING
from shared.redis_store import now
from shared.vectors import LABEL_FIELDS
from workers.job_runner import check_cancelled
from workers.runtime import WorkerRuntime
from workers.training import train_head
from workers.training_data import Context, TrainingData

FETCH_PAGE = 1000
# Unlabelled vectors an exclusive head learns from, at most (a scan, capped).
MAX_UNLABELLED = 5000


@lru_cache(maxsize=1)
def code_version() -> str:
    """Git commit of the running code when known, else the package version."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        if out.returncode == 0:
            return out.stdout.strip()
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("headstart")
    except PackageNotFoundError:
        return "unknown"


def waiting_for_embeds(rt: WorkerRuntime, job_id: str) -> bool:
    """True while the embed jobs this train job must follow are unfinished.

    Only a queued job waits, and only until ``train_wait_seconds`` after it was
    requested; then it trains on what is embedded.
    """
    job = rt.jobs.get(job_id)
    if job["status"] != QUEUED or now() > job["created_at"] + rt.settings.train_wait_seconds:
        return False
    return any(rt.jobs.status(j) in (QUEUED, RUNNING) for j in job["params"].get("after_jobs", []))


def fetch_training_data(rt: WorkerRuntime, app: str, embedder_id: str,
                        concepts: list[str]) -> TrainingData:
    """All of the app's points labelled (either way) with any of ``concepts``.

    A video contributes a row per sampled frame, each with the video's labels.
    """
    vectors: list[np.ndarray] = []
    positive: list[frozenset[str]] = []
    negative: list[frozenset[str]] = []
    ids: list[str] = []
    frames: list[int] = []
    offset: str | None = None
    while True:
        points, offset = rt.vectors.scroll(
            embedder_id, app, any_concepts=concepts, limit=FETCH_PAGE, offset=offset,
            with_vectors=True, payload_fields=LABEL_FIELDS,
        )
        for point in points:
            vectors.append(point.vector)
            positive.append(frozenset(point.payload.get("positive", [])))
            negative.append(frozenset(point.payload.get("negative", [])))
            ids.append(point.input_id)
            frames.append(int(point.payload.get("frames", 1)))
        if offset is None:
            break
    matrix = np.stack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
    return TrainingData(vectors=matrix, positive=positive, negative=negative, input_ids=ids,
                        frames=frames)


def concept_names(rt: WorkerRuntime, app: str, embedder_id: str,
                  concepts: list[str]) -> np.ndarray | None:
    """The concepts' display names embedded by the model's embedder, phrased by its
    template; None when the embedder cannot embed text (image-only)."""
    spec = rt.embedders.catalog.get(embedder_id)
    if spec is None or spec.name_template is None:
        return None
    names = rt.concepts.names(app, concepts)
    return rt.embedders.get(embedder_id).embed_texts(
        [spec.name_template.format(names[c]) for c in concepts])


def fetch_unlabelled(rt: WorkerRuntime, app: str, embedder_id: str, concepts: list[str],
                     limit: int = MAX_UNLABELLED) -> np.ndarray:
    """Up to ``limit`` of the app's vectors not labelled (either way) for ``concepts``."""
    wanted, found = set(concepts), []
    offset: str | None = None
    while len(found) < limit:
        points, offset = rt.vectors.scroll(embedder_id, app, limit=FETCH_PAGE, offset=offset,
                                           with_vectors=True, payload_fields=LABEL_FIELDS)
        found.extend(p.vector for p in points
                     if not wanted & {*p.payload.get("positive", ()),
                                      *p.payload.get("negative", ())})
        if offset is None:
            break
    return np.stack(found[:limit]) if found else np.zeros((0, 1), dtype=np.float32)


def train_version(rt: WorkerRuntime, job_id: str, app: str, model_id: str,
                  version_id: str) -> dict[str, Any]:
    """Train, evaluate and publish one model version (idempotent on redelivery).

    Returns:
        ``{"model_id", "version_id", "status"}`` for the job result.
    """
    version = rt.registry.update_version(app, model_id, version_id,
                                         allowed_from=(V_QUEUED, V_TRAINING), status=V_TRAINING)
    if version is None:
        raise LookupError(f"version {version_id} of model {model_id} no longer exists")
    if rt.models.exists(app, model_id, version_id):
        # A previous delivery published it and died before recording that.
        manifest = rt.models.load(app, model_id, version_id).manifest
    else:
        started = now()
        embedder, concepts = version["embedder"], version["concepts"]
        options = version["options"]
        data = fetch_training_data(rt, app, embedder, concepts)
        # Blended heads (exclusive, or one-vs-rest in a closed environment) also learn
        # from the app's unlabelled inputs (prototypes).
        blended = options["mutually_exclusive"] or options["closed_environment"]
        unlabelled = fetch_unlabelled(rt, app, embedder, concepts) if blended else None
        context = Context(names=concept_names(rt, app, embedder, concepts),
                          unlabelled=unlabelled if unlabelled is not None and len(unlabelled)
                          else None)
        check_cancelled(rt, job_id)
        head = train_head(
            data, concepts,
            mutually_exclusive=options["mutually_exclusive"],
            closed_environment=options["closed_environment"],
            folds=rt.settings.cv_folds, seed=rt.settings.random_seed, context=context,
        )
        check_cancelled(rt, job_id)
        manifest = {
            "app": app, "model_id": model_id, "version_id": version_id,
            "embedder": version["embedder"], "dim": int(head.weight.shape[1]),
            "concepts": version["concepts"], "options": options,
            "activation": head.activation, "params": head.params, "metrics": head.metrics,
            "counts": head.counts, "created_at": now(),
            "training_seconds": round(now() - started, 3), "code_version": code_version(),
        }
        rt.models.publish(app, model_id, version_id, head.tensors(), manifest)
    rt.registry.update_version(
        app, model_id, version_id, allowed_from=(V_TRAINING,), status=V_TRAINED,
        metrics=manifest["metrics"], params=manifest["params"], counts=manifest["counts"],
        trained_at=manifest["created_at"], training_seconds=manifest["training_seconds"],
    )
    return {"model_id": model_id, "version_id": version_id, "status": V_TRAINED}


def mark_version_failed(rt: WorkerRuntime, app: str, model_id: str, version_id: str,
                        error: dict[str, Any]) -> None:
    """Mirror a failed train job on its version."""
    rt.registry.update_version(app, model_id, version_id, allowed_from=(V_QUEUED, V_TRAINING),
                               status=V_FAILED, error=error)
