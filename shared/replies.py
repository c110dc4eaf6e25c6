"""Short answers from a worker to the API request waiting for them.

The worker pushes one JSON message onto a per-request Redis list; the API
blocks on it with BLPOP for a bounded time. Unlike Celery's result backend
(whose ``AsyncResult.get`` is not safe across threads and polls in 1 s steps),
this is thread-safe through redis-py's connection pool and wakes at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.redis_store import RedisStore

REPLY_TTL_SECONDS = 120


@dataclass(frozen=True)
class Reply:
    """A reply ready to push: onto which list, the encoded message, and the list's TTL.

    Another store's write can push it in the same round trip as its own change
    (``JobStore.succeed`` does).
    """

    key: str
    message: str
    ttl_seconds: int = REPLY_TTL_SECONDS


class Replies(RedisStore):
    """Per-request reply lists."""

    def _list(self, reply_id: str) -> str:
        return self.key("reply", reply_id)

    def reply(self, reply_id: str, message: dict[str, Any]) -> Reply:
        """``message`` for the request waiting on ``reply_id``, not yet sent."""
        return Reply(self._list(reply_id), json.dumps(message))

    def send(self, reply_id: str, message: dict[str, Any]) -> None:
        """Deliver ``message``; it expires if nobody is waiting any more."""
        reply = self.reply(reply_id, message)
        with self.redis.pipeline() as pipe:
            pipe.rpush(reply.key, reply.message)
            pipe.expire(reply.key, reply.ttl_seconds)
            pipe.execute()

    def wait(self, reply_id: str, timeout: float) -> dict[str, Any] | None:
        """Block up to ``timeout`` seconds for the reply; None when none came."""
        if timeout <= 0:
            return None
        popped = self.redis.blpop([self._list(reply_id)], timeout=timeout)
        # Popping the one message removed the list (Redis drops empty lists): nothing
        # to clean up. A second message (a redelivered task's) expires with its TTL.
        return json.loads(popped[1]) if popped is not None else None
