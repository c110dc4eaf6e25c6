"""Label suggestions (active learning): the unlabelled inputs a model version would
gain most from having labelled, most useful first, with its current prediction.

Runs on the `query` queue like the other reads the API waits on. An input is a
candidate when it is embedded in the version's embedder's collection and carries no
label, positive or negative, for any of the version's concepts (labels for other
concepts do not count). Pending and failed inputs are not candidates: a pending
re-send's old points are still in Qdrant, but they are not what the user sent last.

Score: ``uncertainty × (1 − closest)^β``, chosen greedily. ``closest`` is the highest
cosine similarity (clipped to [0, 1]) between a candidate and the labelled inputs met
while scanning or the candidates already chosen, so near-duplicates of what is
labelled or already suggested sink. Ties go to the smaller input id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.errors import NotFound
from shared.inputs import EMBEDDED
from shared.vectors import LABEL_FIELDS, StoredPoint
from workers.heads import head_probabilities, l2_normalise
from workers.prediction import select_outputs
from workers.runtime import WorkerRuntime

# At most this many unlabelled inputs are considered, the first met in Qdrant's scroll
# order (by point id: stable, but unrelated to age or content). Local-mode Qdrant answers
# each page by brute force over the collection, so the scan, not the scoring, is what
# costs; the cap keeps a query within seconds there.
MAX_CANDIDATES = 5000
# Labelled inputs (met during the same scan) that candidates are compared with; a
# labelled video by its frame 0 only, which keeps the scan to one point per input.
MAX_REFERENCES = 5000
# Points read, at most, to find the later frames of candidate videos (see _later_frames).
MAX_FRAME_POINTS = 20_000
SCAN_PAGE = 1000
# Exponent of the diversity factor: 1 makes a candidate with cosine 0.5 to something
# labelled or chosen worth half its uncertainty, and a near-duplicate (cosine ≥ 0.95)
# at most a twentieth.
DIVERSITY_BETA = 1.0
# Rows of labelled vectors compared at once (bounds the similarity matrix's memory).
_SIMILARITY_CHUNK = 1024


@dataclass
class _Candidates:
    """Unlabelled inputs found by the scan, and the labelled vectors met beside them."""

    ids: list[str]
    first_frames: list[np.ndarray]
    frames: list[int]
    references: list[np.ndarray]


def uncertainty(probs: np.ndarray, activation: str) -> np.ndarray:
    """How unsure a head is about each row of its probabilities, in [0, 1].

    Args:
        probs: ``(n, concepts)`` probabilities from :func:`workers.heads.apply_head`.
        activation: ``"softmax"`` (exclusive) or ``"sigmoid"`` (one-vs-rest).

    Returns:
        ``(n,)``: softmax, ``1 − (p1 − p2)`` with p1, p2 the two highest probabilities
        (1 when the top two tie); sigmoid, ``max over concepts of 1 − |2p − 1|``
        (1 when some concept sits at 0.5).
    """
    if len(probs) == 0:
        return np.zeros(0)
    if activation == "softmax" and probs.shape[1] >= 2:
        top = np.sort(probs, axis=1)[:, ::-1]
        return 1.0 - (top[:, 0] - top[:, 1])
    # Independent sigmoids: the concept the head is least sure about decides.
    return (1.0 - np.abs(2.0 * probs - 1.0)).max(axis=1)


def _closest(vectors: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Highest cosine of each (unit) vector to any reference, clipped to [0, 1]."""
    closest = np.zeros(len(vectors))
    for start in range(0, len(references), _SIMILARITY_CHUNK):
        block = vectors @ references[start:start + _SIMILARITY_CHUNK].T
        closest = np.maximum(closest, block.max(axis=1))
    return np.clip(closest, 0.0, 1.0)


def select_diverse(uncertainties: np.ndarray, vectors: np.ndarray, references: np.ndarray,
                   limit: int, beta: float = DIVERSITY_BETA) -> list[tuple[int, float]]:
    """Greedy uncertainty × diversity selection.

    Each step picks the candidate with the highest ``u × (1 − closest)^beta``, where
    ``closest`` is its highest cosine (clipped to [0, 1]) to any reference or earlier
    pick; ties go to the lower index. A pick only raises the others' ``closest``, so
    the scores come out non-increasing and a shorter ``limit`` gives a prefix.

    Args:
        uncertainties: ``(n,)`` values in [0, 1].
        vectors: ``(n, dim)`` L2-normalised candidate vectors.
        references: ``(m, dim)`` L2-normalised vectors of labelled inputs (m may be 0).
        limit: How many to pick (fewer when there are fewer candidates).
        beta: Weight of diversity; 0 ranks by uncertainty alone.

    Returns:
        ``(index, score)`` pairs in pick order.
    """
    closest = _closest(vectors, references)
    taken = np.zeros(len(vectors), dtype=bool)
    picks: list[tuple[int, float]] = []
    for _ in range(min(limit, len(vectors))):
        scores = uncertainties * (1.0 - closest) ** beta
        scores[taken] = -np.inf
        best = int(np.argmax(scores))
        picks.append((best, float(scores[best])))
        taken[best] = True
        closest = np.maximum(closest, np.clip(vectors @ vectors[best], 0.0, 1.0))
    return picks


def _scan(rt: WorkerRuntime, app: str, embedder_id: str, concepts: list[str]) -> _Candidates:
    """Walk the app's inputs (frame 0 of each) until MAX_CANDIDATES unlabelled ones."""
    wanted = set(concepts)
    found = _Candidates(ids=[], first_frames=[], frames=[], references=[])
    offset: str | None = None
    while len(found.ids) < MAX_CANDIDATES:
        points, offset = rt.vectors.scroll(
            embedder_id, app, limit=SCAN_PAGE, offset=offset, with_vectors=True,
            payload_fields=LABEL_FIELDS, first_frames_only=True)
        unlabelled: list[StoredPoint] = []
        for point in points:
            labels = {*point.payload.get("positive", ()), *point.payload.get("negative", ())}
            if labels & wanted:
                if len(found.references) < MAX_REFERENCES:
                    found.references.append(point.vector)
            else:
                unlabelled.append(point)
        statuses = rt.inputs.statuses(app, [p.input_id for p in unlabelled])
        for point in unlabelled:
            if (statuses.get(point.input_id) or {}).get("status") != EMBEDDED:
                continue
            if len(found.ids) < MAX_CANDIDATES:
                found.ids.append(point.input_id)
                found.first_frames.append(point.vector)
                found.frames.append(int(point.payload.get("frames") or 1))
        if offset is None:
            break
    return found


def _later_frames(rt: WorkerRuntime, app: str, embedder_id: str,
                  videos: dict[str, int]) -> dict[str, list[np.ndarray]]:
    """Vectors of frames 1, 2, ... of the given videos (input id → frame count).

    The vector store selects by app and labels, not by input, so this is a second
    walk over the app's points (every frame), stopped once every frame was met or
    after MAX_FRAME_POINTS points: a video whose frames were not all met is judged
    on those that were (frame 0 at least).
    """
    later: dict[str, list[np.ndarray]] = {input_id: [] for input_id in videos}
    missing = sum(count - 1 for count in videos.values())
    offset: str | None = None
    read = 0
    while missing > 0 and read < MAX_FRAME_POINTS:
        points, offset = rt.vectors.scroll(embedder_id, app, limit=SCAN_PAGE, offset=offset,
                                           with_vectors=True, payload_fields=["frame"])
        read += len(points)
        for point in points:
            if point.input_id in later and int(point.payload.get("frame") or 0) > 0:
                later[point.input_id].append(point.vector)
                missing -= 1
        if offset is None:
            break
    return later


def suggest(rt: WorkerRuntime, app: str, model_id: str, version_id: str, is_default: bool,
            limit: int) -> dict[str, Any]:
    """Rank the app's unlabelled inputs by how much labelling them would help a version.

    A video is judged as predict judges it: its probabilities are the mean of its
    frames' probabilities, and its vector (for diversity) the mean direction of its
    frames.

    Args:
        rt: Worker runtime.
        app: The app.
        model_id: The model.
        version_id: A trained version, resolved by the API (the default or a named one).
        is_default: Whether it was resolved as the model's default (head cache hint).
        limit: How many suggestions at most.

    Returns:
        ``{"suggestions": [{"input": {"id", "data", "metadata"}, "score", "uncertainty",
        "concepts"}, ...], "model_version": version_id, "candidates": n}``, most useful
        first; ``candidates`` is how many unlabelled inputs were considered (at most
        MAX_CANDIDATES).

    Raises:
        NotFound: The version's head is gone (deleted since the API looked).
    """
    try:
        head = rt.heads.get(app, model_id, version_id, is_default)
    except FileNotFoundError as exc:
        raise NotFound(f"version {version_id!r} of model {model_id!r} not found",
                       details={"model_id": model_id, "version_id": version_id}) from exc
    manifest = head.manifest
    concepts, embedder_id = list(manifest["concepts"]), manifest["embedder"]
    found = _scan(rt, app, embedder_id, concepts)
    answer: dict[str, Any] = {"suggestions": [], "model_version": version_id,
                              "candidates": len(found.ids)}
    if not found.ids:
        return answer

    # Sorted by id so that ties, and so the whole ranking, never depend on scan order.
    order = sorted(range(len(found.ids)), key=found.ids.__getitem__)
    ids = [found.ids[i] for i in order]
    videos = {found.ids[i]: found.frames[i] for i in order if found.frames[i] > 1}
    later = _later_frames(rt, app, embedder_id, videos) if videos else {}
    rows: list[np.ndarray] = []
    owner: list[int] = []
    for n, i in enumerate(order):
        for vector in (found.first_frames[i], *later.get(found.ids[i], ())):
            rows.append(vector)
            owner.append(n)
    frame_vectors = l2_normalise(np.stack(rows).astype(np.float32))
    owners = np.asarray(owner)
    counts = np.bincount(owners, minlength=len(ids))[:, None]
    frame_probs = head_probabilities(head, frame_vectors)
    probs = np.zeros((len(ids), frame_probs.shape[1]))
    np.add.at(probs, owners, frame_probs)
    probs /= counts
    vectors = np.zeros((len(ids), frame_vectors.shape[1]), dtype=np.float32)
    np.add.at(vectors, owners, frame_vectors)
    vectors = l2_normalise(vectors)

    unsure = uncertainty(probs, manifest["activation"])
    references = (l2_normalise(np.stack(found.references).astype(np.float32))
                  if found.references else np.zeros((0, vectors.shape[1]), dtype=np.float32))
    picks = select_diverse(unsure, vectors, references, limit)

    names = rt.concepts.names(app, concepts)
    predictions = select_outputs(probs[[i for i, _ in picks]], concepts, names, {})
    # Data and metadata only for what is shown: the scan read labels and vectors only.
    stored = rt.vectors.retrieve(embedder_id, app, [ids[i] for i, _ in picks])
    for (i, score), prediction in zip(picks, predictions):
        point = stored.get(ids[i])
        if point is None:
            continue  # deleted since the scan
        answer["suggestions"].append({
            "input": {"id": ids[i], "data": point.payload.get("data"),
                      "metadata": point.payload.get("metadata", {})},
            "score": round(score, 6),
            "uncertainty": round(float(unsure[i]), 6),
            "concepts": prediction,
        })
    return answer
