"""Cross-task micro-batching: several small embedding calls share one forward pass.

A worker runs several tasks at once (Celery threads pool) and each embedder runs one
forward pass at a time. Without help, sixteen one-text predict requests make sixteen
batch-of-one passes, one after the other. The :class:`MicroBatcher` lets the calls
that arrive while a pass runs wait in a queue; the next pass takes everything waiting
(up to the batch size) and hands each caller its own rows.

There is no fixed wait window: a call that finds the model idle runs at once, so a
lone request pays no latency. Only calls that would have waited anyway are merged.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

Item = TypeVar("Item")


@dataclass(frozen=True)
class BatcherStats:
    """Counters of a :class:`MicroBatcher` since it was built.

    Attributes:
        calls: ``submit`` calls answered.
        items: Items embedded.
        passes: Forward passes run (the model function's calls, retries included).
        shared_passes: Passes that served more than one call.
        retries: Passes that failed with several callers and were retried per caller.
    """

    calls: int = 0
    items: int = 0
    passes: int = 0
    shared_passes: int = 0
    retries: int = 0


class _Request(Generic[Item]):
    """One caller's items and, once its pass ran, its rows or its exception."""

    __slots__ = ("items", "rows", "error", "done")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.rows: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class MicroBatcher(Generic[Item]):
    """Runs ``forward`` on the items of every caller waiting, one pass at a time.

    Thread-safe. The thread whose call finds the model free runs the pass itself (no
    background thread to start or stop); callers arriving meanwhile queue up, and when
    the pass ends one of them runs the next with every queued call that fits, in
    arrival order. Each caller gets its own rows, in its own order.

    If a shared pass raises, each of its callers' items are run again alone, so a bad
    item fails only the call that sent it; a pass with one caller hands its
    exception straight to that caller.

    Args:
        forward: Turns a list of items into an array with one row per item (the
            model's forward pass; called by one thread at a time).
        max_items: Most items in one pass. A call with more is still run, alone.
        linger_s: How long a pass waits for more callers before it starts when it
            has fewer than ``max_items`` (0: it starts at once).
        enabled: False makes every call its own pass (calls still run one at a time),
            to compare with and without merging.
    """

    def __init__(self, forward: Callable[[list[Item]], np.ndarray], max_items: int,
                 linger_s: float = 0.0, enabled: bool = True) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        self.forward = forward
        self.max_items = max_items
        self.linger_s = linger_s
        self.enabled = enabled
        self._queue: deque[_Request[Item]] = deque()
        self._busy = False
        lock = threading.Lock()
        # Callers wait on `_cond` for their rows or their turn; a lingering pass waits on
        # `_arrived`, woken by each new call so a full batch starts at once.
        self._cond = threading.Condition(lock)
        self._arrived = threading.Condition(lock)
        self._stats = BatcherStats()

    @property
    def stats(self) -> BatcherStats:
        """A snapshot of the counters."""
        with self._cond:
            return self._stats

    @property
    def running(self) -> bool:
        """Whether a pass is running now."""
        with self._cond:
            return self._busy

    @property
    def waiting(self) -> int:
        """Calls queued for a pass that has not started yet."""
        with self._cond:
            return len(self._queue)

    def submit(self, items: Sequence[Item]) -> np.ndarray:
        """Embed ``items`` in the next pass that has room; blocks until they are done.

        Args:
            items: This caller's items (at most ``max_items`` to share a pass).

        Returns:
            One row per item, in order.

        Raises:
            Exception: Whatever ``forward`` raised on this caller's items.
        """
        request = _Request(list(items))
        with self._cond:
            self._queue.append(request)
            self._arrived.notify()
        while True:
            with self._cond:
                while self._busy and not request.done:
                    self._cond.wait()
                if request.done:
                    break
                self._busy = True
                batch = self._take()
            try:
                self._run(batch)
            finally:
                with self._cond:
                    for r in batch:
                        if not r.done:  # only when a BaseException escaped _run
                            r.error = RuntimeError("the shared forward pass was interrupted")
                            r.done = True
                    self._busy = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        assert request.rows is not None
        return request.rows

    def _take(self) -> list[_Request[Item]]:
        """The next pass's calls, oldest first (holding the condition, marked busy)."""
        if self.enabled and self.linger_s > 0:
            deadline = time.monotonic() + self.linger_s
            while self._queued_items() < self.max_items:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                # Releases the lock: callers can queue, and they see the model busy.
                self._arrived.wait(left)
        batch = [self._queue.popleft()]
        size = len(batch[0].items)
        while self.enabled and self._queue and size + len(self._queue[0].items) <= self.max_items:
            size += len(self._queue[0].items)
            batch.append(self._queue.popleft())
        return batch

    def _queued_items(self) -> int:
        return sum(len(r.items) for r in self._queue)

    def _run(self, batch: list[_Request[Item]]) -> None:
        """One pass over ``batch`` (outside the condition, so others can queue)."""
        items = [item for r in batch for item in r.items]
        passes, retried = 1, False
        try:
            rows = self.forward(items)
            if len(rows) != len(items):
                raise RuntimeError(f"forward returned {len(rows)} rows for {len(items)} items")
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                # Some caller's item broke the shared pass: run each caller alone, so
                # only the calls whose own items fail get an exception.
                retried = True
                for r in batch:
                    passes += 1
                    try:
                        r.rows = self.forward(r.items)
                    except Exception as own:
                        r.error = own
        else:
            start = 0
            for r in batch:
                r.rows = rows[start:start + len(r.items)]
                start += len(r.items)
        with self._cond:
            for r in batch:
                r.done = True
            s = self._stats
            self._stats = BatcherStats(
                calls=s.calls + len(batch), items=s.items + len(items),
                passes=s.passes + passes,
                shared_passes=s.shared_passes + (len(batch) > 1 and not retried),
                retries=s.retries + retried)
