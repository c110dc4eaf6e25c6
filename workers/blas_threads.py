"""How many threads the BLAS libraries (numpy's and scipy's OpenBLAS) may use.

A worker holds BLAS to one thread (``WorkerRuntime``): its task threads keep the cores
busy, and two multi-threaded OpenBLAS pools spin against each other on matrices as
small as most heads'. A large head is the exception: its solver's matrix products
are big enough for every core, and a train job on 10k-100k vectors ran 15-22 % faster
with two threads on 2 cores (docs/benchmarks.md). The limit is process-wide (a
library setting, not a thread's), so the jobs that want it share one count: the
first raises the limit, the last one out puts it back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from workers.embedders.backends import available_cores

# Rows x output columns from which a head is trained with every core: 10k vectors x
# 10 concepts and up. Smaller heads finish in well under a second on one thread.
WIDE_CELLS = 100_000

_lock = threading.Lock()
_wide_holders = 0


def hold_to_one() -> None:
    """Limit BLAS to one thread, process-wide (a worker's default)."""
    threadpool_limits(limits=1, user_api="blas")


@contextmanager
def wide_for(cells: int) -> Iterator[bool]:
    """Let BLAS use every core while a head of ``cells`` (rows x concepts) trains.

    Below :data:`WIDE_CELLS`, or on one core, nothing changes. Safe across task
    threads: the limit is raised by the first holder and lowered again by the last.

    Yields:
        Whether this head trains with every core.
    """
    global _wide_holders
    cores = available_cores()
    if cells < WIDE_CELLS or cores < 2:
        yield False
        return
    with _lock:
        if _wide_holders == 0:
            threadpool_limits(limits=cores, user_api="blas")
        _wide_holders += 1
    try:
        yield True
    finally:
        with _lock:
            _wide_holders -= 1
            if _wide_holders == 0:
                hold_to_one()
