"""A predict's staged request: what the API hands the worker beside the task.

One Redis hash per predict job: ``request`` holds the JSON ``{"inputs", "options"}``
and ``blob:<i>`` the raw bytes of input ``i``'s image or video, so media is neither
re-encoded to base64 nor escaped into JSON on the way (a photo costs about as much
to re-encode and to escape as to check). The worker reads the hash in one round trip,
with a client that leaves bytes alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

REQUEST_FIELD = "request"
_BLOB_PREFIX = "blob:"


def blob_field(index: int) -> str:
    """The hash field of input ``index``'s bytes."""
    return f"{_BLOB_PREFIX}{index}"


def stage(pipe: redis.client.Pipeline, key: str, inputs: list[dict[str, Any]],
          options: dict[str, Any], blobs: Mapping[int, bytes], ttl_seconds: int) -> None:
    """Add the writes of a staged request to ``pipe`` (the caller executes it).

    Args:
        pipe: The pipeline (a transaction, with the job's own writes).
        key: The request's hash.
        inputs: ``{"id", "modality", "source"}`` per input; a source with
            ``"blob": true`` has its bytes in ``blobs``.
        options: The request's predict options.
        blobs: Media bytes by input index.
        ttl_seconds: How long an untaken request lives.
    """
    fields: dict[str, str | bytes] = {
        REQUEST_FIELD: json.dumps({"inputs": inputs, "options": options})}
    fields.update({blob_field(i): data for i, data in blobs.items()})
    pipe.hset(key, mapping=fields)
    pipe.expire(key, ttl_seconds)


def parse(staged: Mapping[bytes, bytes]) -> tuple[dict[str, Any], dict[int, bytes]] | None:
    """A staged hash as read raw (``HGETALL`` without decoding).

    Returns:
        The request and the media bytes by input index; None when the hash is gone
        (expired, or already taken and deleted).
    """
    raw = staged.get(REQUEST_FIELD.encode())
    if raw is None:
        return None
    prefix = _BLOB_PREFIX.encode()
    blobs = {int(name[len(prefix):]): data for name, data in staged.items()
             if name.startswith(prefix)}
    return json.loads(raw), blobs
