"""Large heads train with every core; the process-wide BLAS limit is shared by count."""

from __future__ import annotations

import os

import pytest
from threadpoolctl import threadpool_info

from workers.blas_threads import WIDE_CELLS, hold_to_one, wide_for

CORES = len(os.sched_getaffinity(0))


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture(autouse=True)
def one_thread():
    hold_to_one()  # as a worker runtime leaves it
    yield
    hold_to_one()


@pytest.mark.skipif(CORES < 2, reason="one core: there is nothing to widen to")
def test_overlapping_large_heads_share_every_core_and_the_last_one_restores_one():
    assert _blas_threads() == {1}
    with wide_for(10) as small:  # a few-shot head: stays on one thread
        assert not small and _blas_threads() == {1}
    first, second = wide_for(WIDE_CELLS), wide_for(10 * WIDE_CELLS)
    assert first.__enter__() and _blas_threads() == {CORES}
    assert second.__enter__()
    first.__exit__(None, None, None)  # the first job ends while the second still trains
    assert _blas_threads() == {CORES}
    second.__exit__(None, None, None)
    assert _blas_threads() == {1}


def test_a_failing_head_still_restores_one_thread():
    with pytest.raises(RuntimeError), wide_for(WIDE_CELLS):
        raise RuntimeError("the solver failed")
    assert _blas_threads() == {1}
