"""Redis connection and the small helpers every Redis-backed store shares."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis

from shared.settings import Settings

if TYPE_CHECKING:
    from shared.events import Events


def connect(settings: Settings) -> redis.Redis:
    """Open a Redis client (strings decoded) for the configured URL."""
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        health_check_interval=30,
        socket_keepalive=True,
        retry_on_timeout=True,
    )


def bytes_client(client: redis.Redis) -> redis.Redis:
    """A client of the same server that returns replies as bytes (media, raw reads).

    It has a pool of its own: connections that decode and connections that do not
    must not be shared.
    """
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **kwargs))


def now() -> float:
    """Wall-clock time in seconds, the one clock all records use."""
    return time.time()


class RedisStore:
    """Base for stores: holds the client and builds prefixed key names."""

    def __init__(self, client: redis.Redis, prefix: str = "hs",
                 events: Events | None = None) -> None:
        self.redis = client
        self.prefix = prefix
        # Webhook events of the state changes this store applies (None: not emitted).
        self.events = events

    def emit(self, app: str, event_type: str, data: dict[str, Any]) -> None:
        """Emit a webhook event when the store was given an emitter (never raises)."""
        if self.events is not None:
            self.events.emit(app, event_type, data)

    def key(self, *parts: str) -> str:
        """Join ``parts`` under the store prefix, e.g. ``hs:app:demo:models``."""
        return ":".join((self.prefix, *parts))

    def update_json_field(
        self, hash_key: str, field: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Read-modify-write one JSON value of a hash under optimistic locking.

        Args:
            hash_key: The Redis hash.
            field: The field holding a JSON object.
            change: Called with the current object; returns the new one, or None to
                leave it untouched.

        Returns:
            The stored object after the change, or None when the field is missing.
        """
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(hash_key)
                    raw = pipe.hget(hash_key, field)
                    if raw is None:
                        pipe.unwatch()
                        return None
                    current = json.loads(raw)
                    updated = change(dict(current))
                    if updated is None:
                        pipe.unwatch()
                        return current
                    pipe.multi()
                    pipe.hset(hash_key, field, json.dumps(updated))
                    pipe.execute()
                    return updated
                except redis.WatchError:
                    continue
