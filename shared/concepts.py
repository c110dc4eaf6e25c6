"""Concepts of an app: a stable id and a display name that may change."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from shared.errors import Conflict, NotFound
from shared.redis_store import RedisStore, now


class ConceptStore(RedisStore):
    """One Redis hash per app: concept id → ``{"id", "name", "created_at"}``."""

    def _hash(self, app: str) -> str:
        return self.key("app", app, "concepts")

    def create(self, app: str, concept_id: str, name: str | None = None) -> dict[str, Any]:
        """Create a concept; ``Conflict`` when the id is taken."""
        record = {"id": concept_id, "name": name or concept_id, "created_at": now()}
        if not self.redis.hsetnx(self._hash(app), concept_id, json.dumps(record)):
            raise Conflict(f"concept {concept_id!r} already exists", code="concept_exists",
                           details={"field": "id", "concept_id": concept_id})
        return record

    def ensure(self, app: str, concept_ids: Iterable[str], pipe: Any = None) -> None:
        """Create the concepts that do not exist yet (named after their id)."""
        target = pipe if pipe is not None else self.redis.pipeline()
        created = now()
        for concept_id in set(concept_ids):
            record = {"id": concept_id, "name": concept_id, "created_at": created}
            target.hsetnx(self._hash(app), concept_id, json.dumps(record))
        if pipe is None:
            target.execute()

    def get(self, app: str, concept_id: str) -> dict[str, Any]:
        """Return one concept; ``NotFound`` when missing."""
        raw = self.redis.hget(self._hash(app), concept_id)
        if raw is None:
            raise NotFound(f"concept {concept_id!r} not found",
                           details={"concept_id": concept_id})
        return json.loads(raw)

    def names(self, app: str, concept_ids: Iterable[str]) -> dict[str, str]:
        """Map concept ids to display names (the id itself when unknown)."""
        ids = list(concept_ids)
        if not ids:
            return {}
        return self.names_from(ids, self.redis.hmget(self._hash(app), ids))

    def names_key(self, app: str) -> str:
        """The hash to ``HMGET`` concept ids from, for :meth:`names_from` (to read names
        in a pipeline with other reads)."""
        return self._hash(app)

    @staticmethod
    def names_from(ids: list[str], raws: list[str | bytes | None]) -> dict[str, str]:
        """Display names from the records ``HMGET`` returned for ``ids`` (str or bytes)."""
        return {cid: (json.loads(raw)["name"] if raw else cid) for cid, raw in zip(ids, raws)}

    def missing(self, app: str, concept_ids: Iterable[str]) -> list[str]:
        """Return the ids among ``concept_ids`` that are not concepts of the app."""
        ids = list(dict.fromkeys(concept_ids))
        if not ids:
            return []
        present = self.redis.hmget(self._hash(app), ids)
        return [cid for cid, raw in zip(ids, present) if raw is None]

    def list(self, app: str) -> list[dict[str, Any]]:
        """All concepts of the app, sorted by id."""
        values = self.redis.hvals(self._hash(app))
        return sorted((json.loads(v) for v in values), key=lambda c: c["id"])

    def rename(self, app: str, concept_id: str, name: str) -> dict[str, Any]:
        """Change a concept's display name (its id never changes)."""

        def change(record: dict[str, Any]) -> dict[str, Any]:
            record["name"] = name
            return record

        updated = self.update_json_field(self._hash(app), concept_id, change)
        if updated is None:
            raise NotFound(f"concept {concept_id!r} not found",
                           details={"concept_id": concept_id})
        return updated
