"""Apps (tenants) and their API keys.

A key reads ``hsk_<key id>_<secret>``. Only SHA-256 of the secret is stored
(the secret is 256 random bits, so a slow hash adds nothing); the key id finds
the record and the digests are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import redis

from shared.errors import Conflict, NotFound, Unauthorized
from shared.redis_store import RedisStore, now

KEY_PREFIX = "hsk_"
# Apps created before images existed have no image embedder on record.
DEFAULT_IMAGE_EMBEDDER = "efficientnet-lite0"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """Make a fresh key.

    Returns:
        ``(key_id, full_key, digest_of_secret)``; the full key is shown once.
    """
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}", _digest(secret)


class AppStore(RedisStore):
    """Create apps and manage, check, rotate and revoke their keys."""

    def _app_key(self, app: str) -> str:
        return self.key("app", app)

    def _keys_of(self, app: str) -> str:
        return self.key("app", app, "keys")

    def _key_record(self, key_id: str) -> str:
        return self.key("key", key_id)

    def create_app(self, app: str, text_embedder: str, image_embedder: str,
                   ) -> tuple[dict[str, Any], str]:
        """Create an app with its first API key, atomically.

        Args:
            app: The app id.
            text_embedder: Embedder of the app's text inputs.
            image_embedder: Embedder of its images and video frames.

        Returns:
            The app record and the API key (shown once).

        Raises:
            Conflict: An app with this id exists.
        """
        key_id, api_key, digest = new_api_key()
        created = now()
        record = {"id": app, "created_at": created, "text_embedder": text_embedder,
                  "image_embedder": image_embedder}
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(self._app_key(app))
                if pipe.exists(self._app_key(app)):
                    raise Conflict(f"app {app!r} already exists", code="app_exists",
                                   details={"field": "id", "app_id": app})
                pipe.multi()
                pipe.hset(self._app_key(app), mapping=record)
                pipe.sadd(self.key("apps"), app)
                self._write_key(pipe, app, key_id, digest, created)
                pipe.execute()
            except redis.WatchError as exc:  # created concurrently by someone else
                raise Conflict(f"app {app!r} already exists", code="app_exists",
                               details={"field": "id", "app_id": app}) from exc
        return self._decode_app(record), api_key

    def get_app(self, app: str) -> dict[str, Any]:
        """Return an app record; ``NotFound`` when missing."""
        raw = self.redis.hgetall(self._app_key(app))
        if not raw:
            raise NotFound(f"app {app!r} not found")
        return self._decode_app(raw)

    def _write_key(self, pipe: Any, app: str, key_id: str, digest: str, created: float) -> None:
        pipe.hset(self._key_record(key_id),
                  mapping={"app": app, "digest": digest, "created_at": created})
        pipe.sadd(self._keys_of(app), key_id)

    def authenticate(self, api_key: str) -> tuple[str, str]:
        """Resolve a presented key to ``(app_id, key_id)``.

        Raises:
            Unauthorized: Unknown, malformed or revoked key.
        """
        if not api_key.startswith(KEY_PREFIX) or api_key.count("_") < 2:
            raise Unauthorized("invalid API key")
        key_id, _, secret = api_key[len(KEY_PREFIX):].partition("_")
        record = self.redis.hgetall(self._key_record(key_id))
        expected = record.get("digest", "0" * 64)
        # Compare even when the record is missing so timing does not reveal key ids.
        if not hmac.compare_digest(expected, _digest(secret)) or not record:
            raise Unauthorized("invalid API key")
        return record["app"], key_id

    def create_key(self, app: str) -> tuple[dict[str, Any], str]:
        """Add a key to ``app``. Returns the key's public record and the key."""
        key_id, api_key, digest = new_api_key()
        created = now()
        with self.redis.pipeline() as pipe:
            self._write_key(pipe, app, key_id, digest, created)
            pipe.execute()
        return {"id": key_id, "created_at": created}, api_key

    def list_keys(self, app: str) -> list[dict[str, Any]]:
        """List the app's key ids and creation times (never secrets)."""
        keys = []
        for key_id in sorted(self.redis.smembers(self._keys_of(app))):
            created = self.redis.hget(self._key_record(key_id), "created_at")
            if created is not None:
                keys.append({"id": key_id, "created_at": float(created)})
        return sorted(keys, key=lambda k: k["created_at"])

    def revoke_key(self, app: str, key_id: str) -> None:
        """Delete a key of ``app`` at once; ``NotFound`` if it is not the app's."""
        if not self.redis.sismember(self._keys_of(app), key_id):
            raise NotFound(f"key {key_id!r} not found", details={"key_id": key_id})
        if self.redis.scard(self._keys_of(app)) <= 1:
            # Nobody could ever call the app again; rotate instead.
            raise Conflict("cannot revoke the app's last key; create or rotate one instead",
                           code="last_key", details={"key_id": key_id})
        with self.redis.pipeline() as pipe:
            pipe.delete(self._key_record(key_id))
            pipe.srem(self._keys_of(app), key_id)
            pipe.execute()

    def rotate_key(self, app: str, key_id: str) -> tuple[dict[str, Any], str]:
        """Replace a key by a new one in one transaction (the old one stops working)."""
        if not self.redis.sismember(self._keys_of(app), key_id):
            raise NotFound(f"key {key_id!r} not found", details={"key_id": key_id})
        new_id, api_key, digest = new_api_key()
        created = now()
        with self.redis.pipeline() as pipe:
            pipe.delete(self._key_record(key_id))
            pipe.srem(self._keys_of(app), key_id)
            self._write_key(pipe, app, new_id, digest, created)
            pipe.execute()
        return {"id": new_id, "created_at": created}, api_key

    @staticmethod
    def _decode_app(raw: dict[str, Any]) -> dict[str, Any]:
        image = raw.get("image_embedder", DEFAULT_IMAGE_EMBEDDER)
        return {
            "id": raw["id"],
            "created_at": float(raw["created_at"]),
            # Videos go through the image embedder, frame by frame.
            "default_embedders": {"text": raw["text_embedder"], "image": image,
                                  "video": image},
        }
