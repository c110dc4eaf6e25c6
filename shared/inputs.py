"""Input status and staging in Redis.

An input's labels, metadata and data have one home: Qdrant once the input is
embedded, the *staged* record in Redis until then (and for failed inputs).
Redis also keeps each input's status, which the API answers alone.

Every staged write carries a fresh ``rev``; a worker finalising an embedding
only does so if the rev it embedded is still current, so a re-sent input is
never overwritten by an older embedding.

Uploaded image and video bytes are staged beside the record, one key per
revision, and removed once the input is embedded or has failed: Headstart
keeps vectors and descriptions of media, not the media.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from redis.lock import Lock

from shared.events import INPUT_FAILED, Events, input_data
from shared.redis_store import RedisStore, bytes_client, now

PENDING, EMBEDDED, FAILED = "pending", "embedded", "failed"
INPUT_STATES = (PENDING, EMBEDDED, FAILED)
# Staged bytes outlive any sane queue delay, but never linger for ever.
BLOB_TTL_SECONDS = 7 * 86_400


def split_labels(concepts: Iterable[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Turn API concepts ``[{"id", "value"}]`` into sorted positive and negative ids."""
    positive = sorted({c["id"] for c in concepts if c["value"] == 1})
    negative = sorted({c["id"] for c in concepts if c["value"] == 0} - set(positive))
    return positive, negative


def join_labels(positive: Iterable[str], negative: Iterable[str]) -> list[dict[str, Any]]:
    """Inverse of :func:`split_labels`, positives first."""
    return [{"id": c, "value": 1} for c in positive] + [{"id": c, "value": 0} for c in negative]


def input_view(status: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The API's shape of an input, from its status record and its Qdrant payload
    or staged record (which hold data, labels and metadata)."""
    view = {
        "id": status["id"],
        "status": status["status"],
        "data": body.get("data"),
        "concepts": join_labels(body.get("positive", []), body.get("negative", [])),
        "metadata": body.get("metadata", {}),
        "embedder": status.get("embedder"),
        "created_at": status.get("created_at"),
        "updated_at": status.get("updated_at"),
    }
    if body.get("frames"):
        view["frames"] = body["frames"]
    if status.get("error"):
        view["error"] = status["error"]
    return view


class InputStore(RedisStore):
    """Per-app input status hash, per-input staged records and staged media bytes."""

    def __init__(self, client: redis.Redis, prefix: str = "hs",
                 events: Events | None = None, raw: redis.Redis | None = None) -> None:
        super().__init__(client, prefix, events)
        # Reads media bytes: a client that does not decode (made on first use if not given).
        self._bytes_client = raw

    def _status_hash(self, app: str) -> str:
        return self.key("app", app, "inputs")

    def _staged(self, app: str, input_id: str) -> str:
        return self.key("app", app, "staged", input_id)

    def _blob(self, app: str, input_id: str, rev: str) -> str:
        return self.key("app", app, "blob", input_id, rev)

    def blob(self, app: str, input_id: str, rev: str) -> bytes | None:
        """The staged media bytes of one revision of an input."""
        if self._bytes_client is None:
            # The shared client decodes replies to str; bytes need one that does not.
            self._bytes_client = bytes_client(self.redis)
        return self._bytes_client.get(self._blob(app, input_id, rev))

    def label_lock(self, app: str) -> Lock:
        """Lock held while labels move between staging and Qdrant for ``app``."""
        # A waiter outlasts the lock's expiry: a worker killed while holding it (its
        # task redelivered at once by the prefork pool) delays the redelivery, never
        # fails it.
        return self.redis.lock(self.key("app", app, "labels-lock"), timeout=120,
                               blocking_timeout=150)

    # --- writes -----------------------------------------------------------------
    def stage(
        self, app: str, inputs: list[dict[str, Any]], job_id: str,
        pipe: redis.client.Pipeline,
    ) -> list[dict[str, Any]]:
        """Add staged records and pending statuses for ``inputs`` to ``pipe``.

        Args:
            app: Owning app.
            inputs: Normalised inputs ``{"id", "modality", "data", "source", "positive",
                "negative", "metadata", "embedder"}``, plus ``blob`` (bytes) for uploaded
                media.
            job_id: The embed job that will process them.
            pipe: Transaction pipeline the caller executes (so nothing is half stored).

        Returns:
            The status records written.
        """
        ids = [item["id"] for item in inputs]
        previous = self.redis.hmget(self._status_hash(app), ids) if ids else []
        stamp = now()
        statuses = []
        for item, raw_old in zip(inputs, previous):
            rev = uuid.uuid4().hex
            old = json.loads(raw_old) if raw_old else None
            created = old["created_at"] if old else stamp
            record = {k: v for k, v in item.items() if k != "blob"}
            # The embed job removes what an earlier version of this input left in
            # another embedder's collection.
            staged = {**record, "rev": rev, "created_at": created,
                      "previous_embedder": old["embedder"] if old else None}
            status = {"status": PENDING, "error": None, "created_at": created,
                      "updated_at": stamp, "rev": rev, "job_id": job_id,
                      "embedder": item["embedder"], "modality": item["modality"]}
            pipe.set(self._staged(app, item["id"]), json.dumps(staged))
            pipe.hset(self._status_hash(app), item["id"], json.dumps(status))
            if old is not None:
                pipe.delete(self._blob(app, item["id"], old["rev"]))
            if item.get("blob") is not None:
                pipe.set(self._blob(app, item["id"], rev), item["blob"], ex=BLOB_TTL_SECONDS)
            statuses.append({"id": item["id"], **status})
        return statuses

    def finalise(self, app: str, input_id: str, rev: str, *, error: dict[str, Any] | None = None,
                 ) -> bool:
        """Mark an input embedded (staging removed) or failed (staging kept).

        Returns:
            False when the input was deleted or re-sent meanwhile (nothing changed).
        """
        return self.finalise_many(app, [(input_id, rev, error)])[0]

    def finalise_many(self, app: str, outcomes: list[tuple[str, str, dict[str, Any] | None]]
                      ) -> list[bool]:
        """:meth:`finalise` for several inputs in one transaction (an embed batch).

        Args:
            app: Owning app.
            outcomes: ``(input_id, rev, error)``: embedded when ``error`` is None, else
                failed with it.

        Returns:
            Per outcome, whether it applied (False: deleted or re-sent meanwhile).
        """
        if not outcomes:
            return []
        key = self._status_hash(app)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    # Three round trips for the whole batch; a status written meanwhile
                    # (an input re-sent) makes the transaction retry with fresh reads.
                    pipe.watch(key)
                    raws = pipe.hmget(key, [input_id for input_id, _, _ in outcomes])
                    stamp = now()
                    applied: list[bool] = []
                    changed: list[tuple[str, dict[str, Any]]] = []
                    pipe.multi()
                    for (input_id, rev, error), raw in zip(outcomes, raws):
                        status = json.loads(raw) if raw is not None else None
                        applied.append(status is not None and status["rev"] == rev)
                        if not applied[-1]:
                            continue
                        status.update(status=FAILED if error else EMBEDDED, error=error,
                                      updated_at=stamp)
                        pipe.hset(key, input_id, json.dumps(status))
                        pipe.delete(self._blob(app, input_id, rev))
                        if not error:
                            pipe.delete(self._staged(app, input_id))
                        changed.append((input_id, status))
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        for input_id, status in changed:
            if status["error"]:
                self.emit(app, INPUT_FAILED, input_data(input_id, status))
        return applied

    def update_staged(self, app: str, input_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply label/metadata ``changes`` to a staged record (call under the label lock)."""
        raw = self.redis.get(self._staged(app, input_id))
        if raw is None:
            return None
        staged = {**json.loads(raw), **changes}
        self.redis.set(self._staged(app, input_id), json.dumps(staged))
        return staged

    def touch(self, app: str, input_id: str) -> None:
        """Record an edit time on the input's status."""
        self.update_json_field(self._status_hash(app), input_id,
                               lambda status: {**status, "updated_at": now()})

    def forget(self, app: str, input_ids: Iterable[str]) -> None:
        """Remove status and staging of inputs (deletion)."""
        ids = list(input_ids)
        if not ids:
            return
        revs = {i: s["rev"] for i, s in self.statuses(app, ids).items()}
        with self.redis.pipeline() as pipe:
            pipe.hdel(self._status_hash(app), *ids)
            pipe.delete(*(self._staged(app, i) for i in ids))
            if revs:
                pipe.delete(*(self._blob(app, i, rev) for i, rev in revs.items()))
            pipe.execute()

    # --- reads ------------------------------------------------------------------
    def status(self, app: str, input_id: str) -> dict[str, Any] | None:
        """Status record of one input, None when unknown."""
        raw = self.redis.hget(self._status_hash(app), input_id)
        return {"id": input_id, **json.loads(raw)} if raw else None

    def statuses(self, app: str, input_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Status records of several inputs (unknown ones left out)."""
        if not input_ids:
            return {}
        raws = self.redis.hmget(self._status_hash(app), input_ids)
        return {i: {"id": i, **json.loads(r)} for i, r in zip(input_ids, raws) if r}

    def staged(self, app: str, input_id: str) -> dict[str, Any] | None:
        """The staged record of an input not (yet) in Qdrant."""
        raw = self.redis.get(self._staged(app, input_id))
        return json.loads(raw) if raw else None

    def staged_many(self, app: str, input_ids: list[str]) -> list[dict[str, Any] | None]:
        """:meth:`staged` of several inputs in one round trip, in order."""
        if not input_ids:
            return []
        raws = self.redis.mget([self._staged(app, i) for i in input_ids])
        return [json.loads(raw) if raw else None for raw in raws]

    def iter_unembedded(self, app: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(input_id, status)`` of pending and failed inputs, sorted by id."""
        items = []
        for input_id, raw in self.redis.hscan_iter(self._status_hash(app), count=1000):
            status = json.loads(raw)
            if status["status"] != EMBEDDED:
                items.append((input_id, {"id": input_id, **status}))
        yield from sorted(items)

    def count(self, app: str) -> int:
        """Number of inputs the app has."""
        return int(self.redis.hlen(self._status_hash(app)))
