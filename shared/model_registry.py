"""Models (a concept set + embedder + options) and their immutable versions.

Version states mirror the train job: ``queued → training → trained | failed``.
A model's *default* version is the pinned one, else the newest trained one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis

from shared.errors import Conflict, NotFound
from shared.events import version_data
from shared.redis_store import RedisStore, now

V_QUEUED, V_TRAINING, V_TRAINED, V_FAILED = "queued", "training", "trained", "failed"
VERSION_STATES = (V_QUEUED, V_TRAINING, V_TRAINED, V_FAILED)


class ModelRegistry(RedisStore):
    """Models and versions of every app, in Redis."""

    def _models(self, app: str) -> str:
        return self.key("app", app, "models")

    def _versions(self, app: str, model: str) -> str:
        return self.key("app", app, "model", model, "versions")

    def _sequence(self, app: str, model: str) -> str:
        return self.key("app", app, "model", model, "seq")

    # --- models ---------------------------------------------------------------
    def create_model(
        self, app: str, model_id: str, concepts: list[str], embedder: str, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Create a model; ``Conflict`` when the id is taken."""
        record = {
            "id": model_id,
            "concepts": concepts,
            "embedder": embedder,
            "options": options,
            "pinned_version": None,
            "created_at": now(),
        }
        if not self.redis.hsetnx(self._models(app), model_id, json.dumps(record)):
            raise Conflict(f"model {model_id!r} already exists", code="model_exists",
                           details={"field": "id", "model_id": model_id})
        return record

    def get_model(self, app: str, model_id: str) -> dict[str, Any]:
        """Return a model record; ``NotFound`` when missing."""
        raw = self.redis.hget(self._models(app), model_id)
        if raw is None:
            raise NotFound(f"model {model_id!r} not found", details={"model_id": model_id})
        return json.loads(raw)

    def list_models(self, app: str) -> list[dict[str, Any]]:
        """All models of the app, sorted by id."""
        return sorted((json.loads(v) for v in self.redis.hvals(self._models(app))),
                      key=lambda m: m["id"])

    def delete_model(self, app: str, model_id: str) -> list[str]:
        """Delete a model and its versions' records. Returns the deleted version ids.

        The version counter is kept: a model created again under the same id
        continues the numbering, so no version id (a cache and store key) is reused.
        """
        self.get_model(app, model_id)
        versions = self.redis.hkeys(self._versions(app, model_id))
        with self.redis.pipeline() as pipe:
            pipe.hdel(self._models(app), model_id)
            pipe.delete(self._versions(app, model_id))
            pipe.execute()
        return versions

    # --- versions -------------------------------------------------------------
    def new_version_id(self, app: str, model_id: str) -> str:
        """Reserve the next version id of a model ("1", "2", ...)."""
        return str(self.redis.incr(self._sequence(app, model_id)))

    def add_version(
        self, app: str, model: dict[str, Any], version_id: str, job_id: str,
        pipe: redis.client.Pipeline, description: str | None = None,
    ) -> dict[str, Any]:
        """Add a queued version record to ``pipe`` (the caller executes it atomically)."""
        record = {
            "id": version_id,
            "description": description,
            "model_id": model["id"],
            "status": V_QUEUED,
            "job_id": job_id,
            "embedder": model["embedder"],
            "concepts": model["concepts"],
            "options": model["options"],
            "created_at": now(),
            "trained_at": None,
            "metrics": None,
            "params": None,
            "counts": None,
            "error": None,
        }
        pipe.hset(self._versions(app, model["id"]), version_id, json.dumps(record))
        return record

    def get_version(self, app: str, model_id: str, version_id: str) -> dict[str, Any]:
        """Return a version record; ``NotFound`` when missing."""
        raw = self.redis.hget(self._versions(app, model_id), version_id)
        if raw is None:
            raise _version_not_found(model_id, version_id)
        return json.loads(raw)

    def list_versions(self, app: str, model_id: str) -> list[dict[str, Any]]:
        """All versions of a model, newest first."""
        values = self.redis.hvals(self._versions(app, model_id))
        return sorted((json.loads(v) for v in values), key=lambda v: -int(v["id"]))

    def update_version(
        self, app: str, model_id: str, version_id: str, *, allowed_from: tuple[str, ...] = (),
        **fields: Any,
    ) -> dict[str, Any] | None:
        """Change fields of a version, only from ``allowed_from`` states when given.

        Returns:
            The record after the change, None when the version is gone. When the
            state check refuses, the unchanged record is returned.
        """

        before: list[str] = []

        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            before.clear()  # a WATCH retry calls this again: keep the last, applied, call
            if allowed_from and record["status"] not in allowed_from:
                return None
            before.append(record["status"])
            record.update(fields)
            return record

        updated = self.update_json_field(self._versions(app, model_id), version_id, change)
        # An event only for a change this call made into trained or failed.
        if updated is not None and before and before[0] != updated["status"] and \
                updated["status"] in (V_TRAINED, V_FAILED):
            self.emit(app, f"model_version.{updated['status']}", version_data(updated))
        return updated

    def delete_version(self, app: str, model_id: str, version_id: str) -> None:
        """Delete a finished, unpinned version's record."""
        model = self.get_model(app, model_id)
        version = self.get_version(app, model_id, version_id)
        if model.get("pinned_version") == version_id:
            raise Conflict(f"version {version_id!r} is the pinned default; pin another first",
                           code="version_pinned", details={"version_id": version_id})
        if version["status"] in (V_QUEUED, V_TRAINING):
            raise Conflict(f"version {version_id!r} is {version['status']}; cancel its job first",
                           code="version_busy", details={"version_id": version_id})
        self.redis.hdel(self._versions(app, model_id), version_id)

    def pin_version(self, app: str, model_id: str, version_id: str) -> dict[str, Any]:
        """Make a trained version the model's default."""
        version = self.get_version(app, model_id, version_id)
        if version["status"] != V_TRAINED:
            raise Conflict(f"version {version_id!r} is {version['status']}, not trained",
                           code="version_not_trained", details={"version_id": version_id})

        def change(record: dict[str, Any]) -> dict[str, Any]:
            record["pinned_version"] = version_id
            return record

        updated = self.update_json_field(self._models(app), model_id, change)
        if updated is None:
            raise NotFound(f"model {model_id!r} not found", details={"model_id": model_id})
        return updated

    def default_version(self, app: str, model_id: str) -> dict[str, Any] | None:
        """The pinned version, else the newest trained one, else None."""
        model, raw_versions = self._model_and_versions(app, model_id, None)
        return _default(model_id, model, raw_versions)

    def model_and_trained_version(self, app: str, model_id: str, version_id: str | None
                                  ) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
        """The model, and the version to predict with, read in one round trip.

        Returns:
            The model record, and a call that returns the version (the named one,
            else the default) or raises as :meth:`trained_version` does. The caller
            decides when a missing version is reported (after its own checks of the
            request).

        Raises:
            NotFound: Unknown model.
        """
        model, raw = self._model_and_versions(app, model_id, version_id)
        if version_id is not None:
            return model, lambda: _trained(model_id, version_id, raw)
        return model, lambda: _trained_default(model_id, model, raw)

    def _model_and_versions(self, app: str, model_id: str, version_id: str | None
                            ) -> tuple[dict[str, Any], Any]:
        """The model record and, in the same round trip, the named version's raw record
        (None when missing) or, without a name, every version's.

        Raises:
            NotFound: Unknown model.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._models(app), model_id)
            if version_id is None:
                pipe.hvals(self._versions(app, model_id))
            else:
                pipe.hget(self._versions(app, model_id), version_id)
            raw_model, raw_versions = pipe.execute()
        if raw_model is None:
            raise NotFound(f"model {model_id!r} not found", details={"model_id": model_id})
        return json.loads(raw_model), raw_versions

    def trained_version(self, app: str, model_id: str, version_id: str | None
                        ) -> dict[str, Any]:
        """The version to predict with: the named one, else the model's default.

        Raises:
            NotFound: Unknown model or version.
            Conflict: ``no_trained_version`` (no default yet) or
                ``version_not_trained`` (the named one is not trained).
        """
        return self.model_and_trained_version(app, model_id, version_id)[1]()


def _trained(model_id: str, version_id: str, raw: str | None) -> dict[str, Any]:
    """A named version's record, when it exists and is trained."""
    if raw is None:
        raise _version_not_found(model_id, version_id)
    version = json.loads(raw)
    if version["status"] != V_TRAINED:
        raise Conflict(f"version {version_id!r} is {version['status']}, not trained",
                       code="version_not_trained", details={"version_id": version_id})
    return version


def _trained_default(model_id: str, model: dict[str, Any], raw_versions: list[str]
                     ) -> dict[str, Any]:
    """The model's default version; ``Conflict`` when it has none yet."""
    default = _default(model_id, model, raw_versions)
    if default is None:
        raise Conflict(f"model {model_id!r} has no trained version yet",
                       code="no_trained_version", details={"model_id": model_id})
    return default


def _default(model_id: str, model: dict[str, Any], raw_versions: list[str]
             ) -> dict[str, Any] | None:
    """The pinned version, else the newest trained one, else None.

    Raises:
        NotFound: The pinned version's record is gone.
    """
    versions = {v["id"]: v for v in map(json.loads, raw_versions)}
    pinned = model.get("pinned_version")
    if pinned:
        if pinned not in versions:
            raise _version_not_found(model_id, pinned)
        return versions[pinned]
    trained = [v for v in versions.values() if v["status"] == V_TRAINED]
    return max(trained, key=lambda v: int(v["id"])) if trained else None


def _version_not_found(model_id: str, version_id: str) -> NotFound:
    return NotFound(f"version {version_id!r} of model {model_id!r} not found",
                    details={"model_id": model_id, "version_id": version_id})
