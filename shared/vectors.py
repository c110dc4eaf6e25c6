"""The one Qdrant access layer. Every read and write is filtered by app.

One collection per embedder. A point's id is derived from (app, input id,
frame), so a redelivered task or a re-sent input overwrites its points instead
of adding some. Texts and images have one point; a video has one per sampled
frame, frame 0 under the same id a single point would have.
The payload carries ``app``, ``input_id``, ``positive``/``negative`` concept ids,
``metadata``, ``data``, ``modality`` and ``created_at``; video frames add
``frame`` (index), ``time_ms`` and ``frames`` (how many the video has).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from shared.qdrant_local import tune_all, tune_collection
from shared.settings import Settings

_POINT_NAMESPACE = uuid.UUID("6f1c1d9e-3c1b-4a4e-9b39-8e1f3c0a7d55")
LABEL_FIELDS = ["input_id", "positive", "negative", "frames"]


def point_id(app: str, input_id: str, frame: int = 0) -> str:
    """Deterministic point id for an input (or one frame of a video) of an app."""
    name = f"{app}\x1f{input_id}" if frame == 0 else f"{app}\x1f{input_id}\x1f{frame}"
    return str(uuid.uuid5(_POINT_NAMESPACE, name))


def collection_name(embedder_id: str) -> str:
    """Qdrant collection holding one embedder's vectors."""
    return "headstart_" + embedder_id.replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class StoredPoint:
    """A point read back: its input id, payload and (optionally) vector."""

    input_id: str
    payload: dict[str, Any]
    vector: np.ndarray | None = None


class VectorStore:
    """App-scoped access to Qdrant (server or local mode).

    qdrant-client's local mode is not safe for concurrent use from threads, and
    a worker runs a thread pool, so every call goes through one lock. A Qdrant
    server does its own locking; the lock then only serialises this process's
    calls, which are short.
    """

    def __init__(self, settings: Settings) -> None:
        if settings.qdrant_url:
            api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            self.client = QdrantClient(url=settings.qdrant_url, api_key=api_key)
        else:
            settings.qdrant_path.mkdir(parents=True, exist_ok=True)
            self.client = QdrantClient(path=str(settings.qdrant_path))
            # Local mode commits every point to SQLite: WAL makes that ~4x cheaper
            # (shared/qdrant_local.py says what it risks).
            tune_all(self.client)
        self._local = not settings.qdrant_url
        self._lock = threading.RLock()
        self._known: set[str] = set()
        # Local mode has no payload indexes (it warns and ignores them).
        self._indexes = bool(settings.qdrant_url)

    def close(self) -> None:
        """Release the client (and the local-mode folder lock)."""
        with self._lock:
            self.client.close()

    # --- collections --------------------------------------------------------------
    def ensure_collection(self, embedder_id: str, dim: int) -> str:
        """Create the embedder's collection (cosine distance) if missing."""
        name = collection_name(embedder_id)
        if name in self._known:
            return name
        with self._lock:
            if not self.client.collection_exists(name):
                self.client.create_collection(
                    name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
                )
                indexes = {"app": models.PayloadSchemaType.KEYWORD,
                           "input_id": models.PayloadSchemaType.KEYWORD,
                           "positive": models.PayloadSchemaType.KEYWORD,
                           "negative": models.PayloadSchemaType.KEYWORD,
                           "frame": models.PayloadSchemaType.INTEGER}
                for field, schema in indexes.items() if self._indexes else ():
                    # Payload indexes make app-filtered reads fast on a server.
                    self.client.create_payload_index(name, field, schema)
                if self._local:
                    tune_collection(self.client, name)
            self._known.add(name)
        return name

    def _exists(self, embedder_id: str) -> bool:
        name = collection_name(embedder_id)
        if name in self._known:
            return True
        with self._lock:
            return self.client.collection_exists(name)

    @staticmethod
    def _app_filter(app: str, *extra: models.Condition) -> models.Filter:
        must: list[models.Condition] = [
            models.FieldCondition(key="app", match=models.MatchValue(value=app))
        ]
        return models.Filter(must=must + list(extra))

    # --- writes ---------------------------------------------------------------------
    def upsert(
        self, embedder_id: str, app: str, items: Sequence[tuple[str, np.ndarray, dict[str, Any]]]
    ) -> None:
        """Write points ``(input_id, vector, payload)`` and wait until stored.

        A payload's ``frame`` (default 0) tells a video's frames apart.
        """
        if not items:
            return
        name = self.ensure_collection(embedder_id, int(len(items[0][1])))
        points = [
            models.PointStruct(
                id=point_id(app, input_id, int(payload.get("frame", 0))),
                vector=np.asarray(vector, dtype=np.float32).tolist(),
                payload={**payload, "app": app, "input_id": input_id},
            )
            for input_id, vector, payload in items
        ]
        with self._lock:
            self.client.upsert(name, points=points, wait=True)

    def set_payload(self, embedder_id: str, app: str, input_id: str, payload: dict[str, Any]) -> None:
        """Overwrite some payload keys of one input's points."""
        if not self._exists(embedder_id):
            return
        selector = self._app_filter(app, _match("input_id", input_id))
        with self._lock:
            self.client.set_payload(collection_name(embedder_id), payload=payload,
                                    points=selector, wait=True)

    def delete(self, embedder_id: str, app: str, input_ids: Sequence[str]) -> None:
        """Delete the points of the given inputs of ``app``."""
        if not input_ids or not self._exists(embedder_id):
            return
        selector = models.FilterSelector(filter=self._app_filter(
            app, models.FieldCondition(key="input_id", match=models.MatchAny(any=list(input_ids)))
        ))
        with self._lock:
            self.client.delete(collection_name(embedder_id), points_selector=selector, wait=True)

    def delete_frames_from(self, embedder_id: str, app: str, input_id: str, first: int) -> None:
        """Delete an input's frames numbered ``first`` and up (left by a longer old version)."""
        if not self._exists(embedder_id):
            return
        selector = models.FilterSelector(filter=self._app_filter(
            app, _match("input_id", input_id),
            models.FieldCondition(key="frame", range=models.Range(gte=first)),
        ))
        with self._lock:
            self.client.delete(collection_name(embedder_id), points_selector=selector, wait=True)

    # --- reads ----------------------------------------------------------------------
    def retrieve(self, embedder_id: str, app: str, input_ids: Sequence[str],
                 with_vectors: bool = False) -> dict[str, StoredPoint]:
        """Read the points of some inputs of ``app`` by id."""
        if not input_ids or not self._exists(embedder_id):
            return {}
        with self._lock:
            records = self.client.retrieve(
                collection_name(embedder_id), ids=[point_id(app, i) for i in input_ids],
                with_payload=True, with_vectors=with_vectors,
            )
        points = (self._to_point(r) for r in records)
        return {p.input_id: p for p in points if p.payload.get("app") == app}

    def scroll(
        self,
        embedder_id: str,
        app: str,
        *,
        positive_for: str | None = None,
        any_concepts: Sequence[str] | None = None,
        limit: int = 100,
        offset: str | None = None,
        with_vectors: bool = False,
        payload_fields: list[str] | None = None,
        first_frames_only: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """One page of the app's points, optionally only those labelled with concepts.

        Args:
            embedder_id: Which collection.
            app: The app; always applied.
            positive_for: Keep points positive for this concept.
            any_concepts: Keep points positive or negative for any of these.
            limit: Page size.
            offset: Point id to start from (the previous page's next offset).
            with_vectors: Also return vectors.
            payload_fields: Only these payload keys (default: all).
            first_frames_only: One point per input (a video's frame 0), for listings.

        Returns:
            The points and the next offset (None at the end).
        """
        if not self._exists(embedder_id):
            return [], None
        extra: list[models.Condition] = []
        if positive_for:
            extra.append(_match("positive", positive_for))
        if any_concepts:
            wanted = list(any_concepts)
            extra.append(models.Filter(should=[
                models.FieldCondition(key="positive", match=models.MatchAny(any=wanted)),
                models.FieldCondition(key="negative", match=models.MatchAny(any=wanted)),
            ]))
        payload: bool | list[str] = True
        if payload_fields is not None:
            payload = sorted(set(payload_fields) | {"app", "input_id"})
        scroll_filter = self._app_filter(app, *extra)
        if first_frames_only:
            scroll_filter.must_not = [
                models.FieldCondition(key="frame", range=models.Range(gt=0))]
        with self._lock:
            records, next_offset = self.client.scroll(
                collection_name(embedder_id), scroll_filter=scroll_filter,
                limit=limit, offset=offset, with_payload=payload, with_vectors=with_vectors,
            )
        return [self._to_point(r) for r in records], (str(next_offset) if next_offset else None)

    def count(self, embedder_id: str, app: str) -> int:
        """Exact number of the app's points in an embedder's collection."""
        if not self._exists(embedder_id):
            return 0
        with self._lock:
            return self.client.count(collection_name(embedder_id),
                                     count_filter=self._app_filter(app), exact=True).count

    @staticmethod
    def _to_point(record: Any) -> StoredPoint:
        vector = None
        if record.vector is not None:
            vector = np.asarray(record.vector, dtype=np.float32)
        payload = dict(record.payload or {})
        return StoredPoint(input_id=payload.get("input_id", ""), payload=payload, vector=vector)


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))
