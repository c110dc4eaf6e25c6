"""The job store: one Redis hash per job, state changes guarded by Lua scripts.

States: ``queued → running → succeeded | failed | cancelled``. Transitions are
checked inside Redis so a cancel racing a worker's start (or a redelivered task
racing its first delivery) can never move a finished job again.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from shared.errors import Conflict, MalformedRequest, NotFound
from shared.events import Events, job_data
from shared.redis_store import RedisStore, now
from shared.replies import Reply

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
JOB_TYPES = ("embed", "train", "predict")

# ARGV[1]: comma-separated allowed current states; ARGV[2]: "1" also sets done to
# total (a success); ARGV[3]: a message to push onto the list KEYS[2] when applied ("":
# none), ARGV[4] that list's TTL in seconds; ARGV[5..]: field/value pairs. Returns {"OK",
# app, type, created_at} when applied (what an ending's clean-up and event need, read in
# the same trip), else {current status} ({""} when the job is missing).
_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {''} end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if cur == allowed then
    for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
    if ARGV[2] == '1' then
      redis.call('HSET', KEYS[1], 'done', redis.call('HGET', KEYS[1], 'total') or 0)
    end
    if ARGV[3] ~= '' then
      redis.call('RPUSH', KEYS[2], ARGV[3])
      redis.call('EXPIRE', KEYS[2], ARGV[4])
    end
    local info = redis.call('HMGET', KEYS[1], 'app', 'type', 'created_at')
    return {'OK', info[1] or '', info[2] or '', info[3] or ''}
  end
end
return {cur}
"""

# Marks a delivery: queued/running -> running, attempts + 1, first start time kept.
# Returns the attempt number, or the current status when the job may not run.
_START = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return '' end
if cur ~= 'queued' and cur ~= 'running' then return cur end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running')
if redis.call('HGET', KEYS[1], 'started_at') == '' then
  redis.call('HSET', KEYS[1], 'started_at', ARGV[1])
end
return tostring(attempts)
"""

_JSON_FIELDS = ("result", "error", "params")
_FLOAT_FIELDS = ("created_at", "started_at", "finished_at")


class JobStore(RedisStore):
    """Create, read, list and move jobs."""

    def __init__(self, client: redis.Redis, prefix: str = "hs",
                 events: Events | None = None) -> None:
        super().__init__(client, prefix, events)
        self._transition = client.register_script(_TRANSITION)
        self._start = client.register_script(_START)

    def _job_key(self, job_id: str) -> str:
        return self.key("job", job_id)

    def _index_key(self, app: str) -> str:
        return self.key("app", app, "jobs")

    def _active_key(self, app: str, job_type: str) -> str:
        return self.key("app", app, "active", job_type)

    # --- create and read ----------------------------------------------------
    def create(
        self,
        app: str,
        job_type: str,
        total: int,
        params: dict[str, Any] | None = None,
        pipe: redis.client.Pipeline | None = None,
        job_id: str | None = None,
        ttl_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Write a new queued job (inside ``pipe`` when given, so callers stay atomic).

        Args:
            app: Owning app id.
            job_type: One of ``JOB_TYPES``.
            total: Units of work, for progress.
            params: Small JSON description of what the job does (ids, never blobs).
            pipe: A transaction pipeline to add the writes to; executed here if None.
            job_id: A chosen id (default: a random one).
            ttl_seconds: Expire the record after this long (predict jobs, which are many).

        Returns:
            The job as the API shows it.
        """
        job_id = job_id or uuid.uuid4().hex
        created = now()
        record = {
            "id": job_id,
            "app": app,
            "type": job_type,
            "status": QUEUED,
            "done": 0,
            "total": total,
            "attempts": 0,
            "created_at": created,
            "started_at": "",
            "finished_at": "",
            "params": json.dumps(params or {}),
            "result": "null",
            "error": "null",
        }
        target = pipe if pipe is not None else self.redis.pipeline()
        target.hset(self._job_key(job_id), mapping=record)
        if ttl_seconds:
            target.expire(self._job_key(job_id), ttl_seconds)
        target.zadd(self._index_key(app), {job_id: created})
        target.sadd(self._active_key(app, job_type), job_id)
        if pipe is None:
            target.execute()
        return self._decode({k: str(v) for k, v in record.items()})

    def get(self, job_id: str, app: str | None = None) -> dict[str, Any]:
        """Return one job; ``NotFound`` when missing or owned by another app."""
        raw = self.redis.hgetall(self._job_key(job_id))
        if not raw or (app is not None and raw.get("app") != app):
            raise NotFound(f"job {job_id!r} not found", details={"job_id": job_id})
        return self._decode(raw)

    def status(self, job_id: str) -> str | None:
        """Return just the status (cheap check at batch boundaries)."""
        return self.redis.hget(self._job_key(job_id), "status")

    def active(self, app: str, job_type: str) -> list[str]:
        """Ids of the app's queued or running jobs of one type."""
        ids = sorted(self.redis.smembers(self._active_key(app, job_type)))
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self._job_key(job_id), "status")
            statuses = pipe.execute()
        return [j for j, s in zip(ids, statuses) if s in (QUEUED, RUNNING)]

    def list(
        self,
        app: str,
        *,
        status: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """List an app's jobs newest first, filtered, one page at a time.

        Returns:
            The page and the token of the next page (None at the end).
        """
        index = self._index_key(app)
        if page_token and not page_token.isdigit():
            raise MalformedRequest("page_token is not a token this server issued",
                                   details={"field": "page_token"})
        start = int(page_token) if page_token else 0
        found: list[dict[str, Any]] = []
        scan = max(limit * 4, 100)
        position = start
        while len(found) < limit:
            ids = self.redis.zrevrange(index, position, position + scan - 1)
            if not ids:
                return found, None
            for offset, job_id in enumerate(ids):
                raw = self.redis.hgetall(self._job_key(job_id))
                if not raw:
                    continue  # an expired predict job
                job = self._decode(raw)
                if status and job["status"] != status:
                    continue
                if job_type and job["type"] != job_type:
                    continue
                found.append(job)
                if len(found) == limit:
                    next_position = position + offset + 1
                    more = self.redis.zcard(index) > next_position
                    return found, str(next_position) if more else None
            position += len(ids)
        return found, None

    # --- transitions ----------------------------------------------------------
    def start(self, job_id: str) -> int | None:
        """Record a delivery of the job's task.

        Returns:
            The attempt number (1 on first delivery), or None when the job is
            finished or cancelled and must not run.
        """
        result = self._start(keys=[self._job_key(job_id)], args=[repr(now())])
        return int(result) if result and result.isdigit() else None

    def set_progress(self, job_id: str, done: int, total: int | None = None) -> None:
        """Record progress (only while running; late writes are ignored)."""
        fields: list[Any] = ["done", done]
        if total is not None:
            fields += ["total", total]
        self._transition(keys=[self._job_key(job_id)], args=[RUNNING, "0", "", 0, *fields])

    def succeed(self, job_id: str, result: dict[str, Any] | None = None,
                reply: Reply | None = None) -> bool:
        """Mark a running job succeeded with a small result (progress complete).

        Args:
            job_id: The job.
            result: What it produced.
            reply: Pushed in the same step, only when the success applied: a client
                waiting on it hears at once, before the job's clean-up and events.

        Returns:
            False when it was not running (cancelled or finished meanwhile).
        """
        return self._finish(job_id, SUCCEEDED, result=result, complete=True, reply=reply)

    def fail(self, job_id: str, error: dict[str, Any]) -> bool:
        """Mark a queued or running job failed with ``{"code", "message", ...}``."""
        return self._finish(job_id, FAILED, error=error, allowed=(QUEUED, RUNNING))

    def cancel(self, job_id: str, app: str) -> dict[str, Any]:
        """Cancel a queued or running job of ``app``; 409 when it already ended."""
        self.get(job_id, app)
        if not self._finish(job_id, CANCELLED, allowed=(QUEUED, RUNNING)):
            job = self.get(job_id, app)
            raise Conflict(
                f"job {job_id!r} already {job['status']}",
                code="job_finished",
                details={"job_id": job_id, "status": job["status"]},
            )
        return self.get(job_id, app)

    def _finish(
        self,
        job_id: str,
        state: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        allowed: tuple[str, ...] = (RUNNING,),
        complete: bool = False,
        reply: Reply | None = None,
    ) -> bool:
        finished = now()
        fields: list[Any] = ["status", state, "finished_at", repr(finished)]
        if result is not None:
            fields += ["result", json.dumps(result)]
        if error is not None:
            fields += ["error", json.dumps(error)]
        # One round trip: the transition, the progress, the reply and what the clean-up
        # needs; a waiting predict is answered before the clean-up's round trips.
        keys = [self._job_key(job_id)] + ([reply.key] if reply is not None else [])
        message = (reply.message, reply.ttl_seconds) if reply is not None else ("", 0)
        outcome = self._transition(
            keys=keys, args=[",".join(allowed), "1" if complete else "0", *message, *fields])
        if outcome[0] != "OK":
            return False
        _, app, job_type, created = outcome
        self.redis.srem(self._active_key(app, job_type), job_id)
        # Only the call whose transition applied gets here: a redelivered task that
        # finds the job already ended emits nothing.
        self.emit(app, f"job.{state}", job_data(job_id, job_type, state,
                                                float(created) if created else None,
                                                finished, error))
        return True

    # --- decoding -----------------------------------------------------------
    @staticmethod
    def _decode(raw: dict[str, str]) -> dict[str, Any]:
        job: dict[str, Any] = {
            "id": raw["id"],
            "type": raw["type"],
            "status": raw["status"],
            "progress": {"done": int(raw.get("done", 0)), "total": int(raw.get("total", 0))},
            "attempts": int(raw.get("attempts", 0)),
        }
        for name in _FLOAT_FIELDS:
            value = raw.get(name, "")
            job[name] = float(value) if value else None
        for name in _JSON_FIELDS:
            job[name] = json.loads(raw.get(name) or "null")
        job["app"] = raw.get("app")
        return job
