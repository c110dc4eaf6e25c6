"""The worker runtime's process-wide set-up."""

from __future__ import annotations

from threadpoolctl import threadpool_info


def test_runtime_holds_blas_to_one_thread(runtime):
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy's BLAS should be loaded"
    assert {pool["num_threads"] for pool in blas} == {1}
