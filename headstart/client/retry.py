"""When and how long to wait before retrying a request.

Retried: 429, 503, ``409 idempotency_in_progress`` (the first try of the same
``Idempotency-Key`` is still running) and network errors, and only for requests
that are safe to send twice: GET/HEAD/PUT/DELETE/OPTIONS, or a POST/PATCH carrying an
``Idempotency-Key``. A connection that was never made is safe to retry for any method.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring ``Retry-After``.

    The wait before retry *n* (1-based) is drawn between half and all of
    ``backoff_base * 2**(n-1)``, capped at ``backoff_max``; a ``Retry-After`` from the
    server replaces it (capped at ``retry_after_max``). Jitter keeps many clients that
    failed together from retrying together.

    Attributes:
        max_retries: Retries after the first try (0 disables retrying).
        backoff_base: Seconds; the first wait is drawn from [base/2, base].
        backoff_max: Longest computed wait, in seconds.
        retry_after_max: Longest wait a server's ``Retry-After`` may ask for.
        statuses: HTTP statuses worth retrying.
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("backoff_base and backoff_max must be >= 0")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``retry`` (1-based) when the server gave no hint."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (retry - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)

    def delay(self, retry: int, retry_after: float | None) -> float:
        """The wait before retry ``retry``: the server's ``Retry-After`` when given."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        return self.backoff(retry)


def is_replay_safe(method: str, headers: dict[str, str]) -> bool:
    """Whether sending this request twice cannot do the work twice."""
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return any(name.lower() == "idempotency-key" for name in headers)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date; ``None`` if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)
