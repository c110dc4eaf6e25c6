"""``Idempotency-Key`` on the POSTs that create inputs, versions and jobs.

A client that retries a request it is unsure about (a timeout, a dropped
connection) sends the same key again and gets the first response back instead
of a second job. Keys are scoped to the calling app and the route (method and
path). The first request *reserves* its key atomically (``SET NX``), so two
concurrent requests with one key never both run: the second answers ``409
idempotency_in_progress``. When the first completes, its status and JSON body
are kept for ``HEADSTART_IDEMPOTENCY_TTL_SECONDS`` (24 h) and replayed with
``Idempotent-Replayed: true``; the same key with another request (method, path
or body) answers ``409 idempotency_key_reused``.

What is kept: every response under 500, errors included (like Stripe: a retry
of a request that was refused is refused again; a new attempt takes a new key).
A 5xx or a crash releases the key, so the retry runs again: a 5xx here means
nothing was queued (``queue_unavailable``) or the outcome is unknown.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import redis
from flask import Response, jsonify, make_response, request

from api.auth import current_app_id
from api.errors import error_response
from api.request_body import MULTIPART
from api.services import services
from shared.errors import HeadstartError, MalformedRequest
from shared.redis_store import RedisStore, now

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# A reservation outlives the slowest request (predict's and a query's waits) by
# this much, and no more: a key reserved by an API process that died frees itself.
RESERVATION_MARGIN_SECONDS = 60

# KEYS[1]: the record; ARGV[1]: the reservation this request wrote; ARGV[2]: what
# replaces it ("" deletes it); ARGV[3]: its TTL. Only the reserving request may
# finish or release its key (a reservation that expired may belong to another now).
_SETTLE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3])) end
return 1
"""


class IdempotencyStore(RedisStore):
    """Reservations and kept responses, one Redis string per (app, route, key)."""

    def __init__(self, client: redis.Redis, prefix: str = "hs") -> None:
        super().__init__(client, prefix)
        self._settle = client.register_script(_SETTLE)

    def record_key(self, app: str, method: str, path: str, key: str) -> str:
        """The Redis key of one idempotency key (hashed: keys are client text)."""
        digest = hashlib.sha256(f"{method} {path}\n{key}".encode()).hexdigest()
        return self.key("idem", app, digest)

    def reserve(self, record: str, fingerprint: str, ttl: int) -> tuple[str, dict | None]:
        """Reserve ``record`` for this request unless a request holds or held it.

        Returns:
            ``(reservation, None)`` when reserved, else ``("", existing record)``.
        """
        reservation = json.dumps({"state": "running", "fingerprint": fingerprint,
                                  "token": uuid.uuid4().hex})
        if self.redis.set(record, reservation, nx=True, ex=ttl):
            return reservation, None
        existing = self.redis.get(record)
        if existing is None:  # expired between the two calls: try once more
            return self.reserve(record, fingerprint, ttl)
        return "", json.loads(existing)

    def finish(self, record: str, reservation: str, fingerprint: str, status: int,
               body: Any, ttl: int) -> None:
        """Keep the response for replay (if the reservation is still this request's)."""
        kept = json.dumps({"state": "done", "fingerprint": fingerprint, "status": status,
                           "body": body, "created_at": now()})
        self._settle(keys=[record], args=[reservation, kept, ttl])

    def release(self, record: str, reservation: str) -> None:
        """Free the key so that a retry runs the request again."""
        self._settle(keys=[record], args=[reservation, "", 0])


def check_key(key: str) -> None:
    """Refuse keys that are empty, longer than 255 or not printable ASCII."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise MalformedRequest(
            f"the {HEADER} header must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
            code="invalid_idempotency_key", details={"header": HEADER})


def request_fingerprint() -> str:
    """SHA-256 of the method, path, query and body, the body in a canonical form.

    JSON is compared as data (key order and spacing do not matter). A multipart
    body is compared by its fields and its files' bytes, not its raw bytes: the
    part boundary is random, so a client's identical retry differs in it.
    """
    if request.mimetype == MULTIPART:
        files = []
        for name, part in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            files.append([name, part.filename, hashlib.sha256(part.stream.read()).hexdigest()])
            part.stream.seek(0)  # the view reads it again
        body: Any = {"form": sorted(request.form.items(multi=True)), "files": files}
    else:
        raw = request.get_data(cache=True)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("latin-1")
    canonical = json.dumps([request.method, request.path, request.query_string.decode("latin-1"),
                            body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(kept: dict[str, Any]) -> Response:
    response = make_response(jsonify(kept["body"]), kept["status"])
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _conflict(code: str, message: str) -> Response:
    response = make_response(*error_response(409, code, message, {"header": HEADER}))
    if code == "idempotency_in_progress":
        response.headers["Retry-After"] = "1"
    return response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Make a POST view honour ``Idempotency-Key`` (apply right under the route).

    Requests without the header run as before.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        check_key(key)
        svc = services()
        store = IdempotencyStore(svc.redis, svc.settings.redis_prefix)
        record = store.record_key(current_app_id(), request.method, request.path, key)
        fingerprint = request_fingerprint()
        wait = max(svc.settings.predict_wait_seconds, svc.settings.query_wait_seconds)
        reservation, existing = store.reserve(record, fingerprint,
                                              int(wait) + RESERVATION_MARGIN_SECONDS)
        if existing is not None:
            if existing["fingerprint"] != fingerprint:
                return _conflict("idempotency_key_reused",
                                 f"this {HEADER} was used with a different request (method, "
                                 "path or body); send a new key for a new request")
            if existing["state"] != "done":
                return _conflict("idempotency_in_progress",
                                 f"a request with this {HEADER} is still being processed; "
                                 "retry shortly")
            return _replay(existing)
        try:
            response = make_response(view(*args, **kwargs))
        except HeadstartError as exc:
            # Rendered here, as the app's handler would, so a refusal is kept too.
            response = make_response(*error_response(exc.status, exc.code, exc.message,
                                                     exc.details))
        except BaseException:
            store.release(record, reservation)
            raise
        if response.status_code < 500 and response.is_json:
            store.finish(record, reservation, fingerprint, response.status_code,
                         response.get_json(), svc.settings.idempotency_ttl_seconds)
        else:
            store.release(record, reservation)
        return response

    return wrapper
