"""The benchmark suite's own logic (bench/): grid parsing and skipping, synthetic head
data, the HTTP client adapter, the GPU check's refusal without CUDA, the CPU ceiling run.

The benchmarks run for minutes; these checks keep `make bench` from breaking on a
typo in the parts that decide what runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_heads  # noqa: E402
import gpu_check  # noqa: E402
from bench_heads import Cell  # noqa: E402


def test_grid_counts_accept_thousands():
    assert bench_heads.parse_grid("1k,10k,100k:2,10,100") == ([1000, 10000, 100000],
                                                             [2, 10, 100])
    assert bench_heads.parse_grid("1.5k:3") == ([1500], [3])
    with pytest.raises(argparse.ArgumentTypeError):
        bench_heads.parse_grid("1000,2000")


def test_skips_name_a_cell_in_one_mode_or_both():
    assert bench_heads.parse_skips("100k:100, 10k:10:ovr") == {(100000, 100, None),
                                                                (10000, 10, "ovr")}
    with pytest.raises(argparse.ArgumentTypeError):
        bench_heads.parse_skips("10k:10:sideways")


def test_the_grid_leaves_out_cells_with_fewer_than_two_vectors_a_concept():
    args = bench_heads.parse_args(["--head-grid", "100,1k:2,100", "--modes", "ovr"])
    cells = bench_heads.grid_cells(args)
    assert cells[0] == Cell(10, 2, "ovr")  # the time-to-first-model head first
    assert Cell(100, 100, "ovr") not in cells
    assert Cell(1000, 100, "ovr") in cells


def test_a_stopped_cell_skips_the_larger_cells_of_its_mode_only():
    args = bench_heads.parse_args(["--head-timeout", "5", "--head-skip", "1k:2"])
    stopped, started = [Cell(10000, 10, "exclusive")], time.monotonic()
    assert "ran past 5 s" in bench_heads.skip_reason(Cell(100000, 10, "exclusive"), args,
                                                     stopped, started)
    assert "ran past" in bench_heads.skip_reason(Cell(10000, 100, "exclusive"), args,
                                                 stopped, started)
    assert bench_heads.skip_reason(Cell(100000, 2, "exclusive"), args, stopped,
                                   started) is None
    assert bench_heads.skip_reason(Cell(100000, 10, "ovr"), args, stopped, started) is None
    assert bench_heads.skip_reason(Cell(1000, 2, "ovr"), args, [], started) == \
        "skipped (--head-skip)"


def test_a_spent_budget_skips_what_is_left():
    args = bench_heads.parse_args(["--head-budget", "10"])
    reason = bench_heads.skip_reason(Cell(1000, 2, "ovr"), args, [], time.monotonic() - 11)
    assert reason.startswith("skipped (--head-budget")


@pytest.mark.parametrize("residuals", [None, "bbc-like"])
def test_synthetic_vectors_are_balanced_unit_rows(residuals):
    rng = np.random.default_rng(3)
    mean = np.full(bench_heads.DIM, 0.02, dtype=np.float32)
    bank = None if residuals is None else rng.normal(scale=0.05, size=(50, bench_heads.DIM))
    x, y, names = bench_heads.synthetic(200, 4, mean, bank)
    assert x.shape == (200, bench_heads.DIM) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert np.bincount(y).tolist() == [50, 50, 50, 50]
    assert names.shape == (4, bench_heads.DIM)
    # Each concept's vectors sit nearer its own centre than the others' (on average).
    sims = x @ names.T
    assert (sims.argmax(axis=1) == y).mean() > 0.5


def test_trainer_timings_are_the_heads_own_phases():
    from workers.training import train_head
    from workers.training_data import Context, TrainingData

    x, y, names = bench_heads.synthetic(60, 3, np.full(bench_heads.DIM, 0.02, np.float32), None)
    data = TrainingData(vectors=x, positive=[frozenset({f"c{k}"}) for k in y],
                        negative=[frozenset()] * len(y), input_ids=[str(i) for i in range(60)])
    head = train_head(data, ["c0", "c1", "c2"], mutually_exclusive=False,
                      closed_environment=True, context=Context(names=names))
    timings = bench_heads.trainer_timings(head)
    assert set(timings) == {"C", "fit", "eval"}
    assert all(v >= 0 for v in timings.values()) and timings["eval"] > 0


def test_the_http_adapter_speaks_like_the_flask_test_client():
    import httpx
    from services import HttpApi

    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(ctype=request.headers["content-type"], body=request.content)
        return httpx.Response(202, json={"ok": True})

    with HttpApi(base_url="http://api", transport=httpx.MockTransport(handler)) as http:
        resp = http.post("/v1/inputs", data=b'{"inputs": []}', headers={"X": "1"},
                         content_type="application/json")
    assert resp.status_code == 202 and resp.get_json() == {"ok": True}
    assert seen == {"ctype": "application/json", "body": b'{"inputs": []}'}


def test_gpu_check_exits_3_without_cuda(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        gpu_check.cuda_or_exit()
    assert exc.value.code == gpu_check.NO_CUDA == 3
    assert "no CUDA device" in capsys.readouterr().err


def test_the_cpu_ceiling_bench_measures_every_stage_and_bounds_the_in_process_path(
        tmp_path, monkeypatch):
    import json

    import bench_cpu_ceiling

    # The script sets these for itself; the test process gets its own back.
    for name, value in (("HEADSTART_DEVICE", "cpu"), ("HF_HUB_OFFLINE", "1"),
                        ("HEADSTART_MODEL_STORE", str(tmp_path / "models"))):
        monkeypatch.setenv(name, value)
    out = tmp_path / "ceiling.json"
    assert bench_cpu_ceiling.main(["--images", "16", "--repeats", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [name.split(",")[0].split(":")[0] for name in results["stages"]] == [
        "network", "network", "decode + preprocess", "decode + preprocess", "all of it"]
    assert all(s["per_s"] > 0 and s["cpu_ms"] > 0 for s in results["stages"].values())
    # Ratios to the network alone, of a sane size (16 photos are too few to say more).
    assert 0 < results["bound"] < 1.5 and 0 < results["in_process_vs_network"] < 1.5
    assert "Bound:" in results["table_markdown"]
