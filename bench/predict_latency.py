"""Predict latency over HTTP against the bare model, for ``bench_pipeline.py``.

For one input (a text or an image) and a trained model:

- **paired**: the bare forward and an API predict, alternating one after the other
  (with a short pause between, so neither runs in the other's wake), so both see
  the same machine load; overhead = median API latency − median bare forward, and
  the median of the per-pair differences;
- **levels**: 1, 4, 16 … concurrent clients (threads with their own connections:
  a few warm-up requests each, then all start together and send the same number of
  timed requests): p50/p95/p99 and requests/s;
- **server split** (one client): where a request's time goes, from the predict jobs'
  own timestamps (same host clock): API until the job is recorded, queue wait,
  worker run, and the reply back to the client.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench_core import expect, timed
from services import Deployment

PATH = "/v1/models/m/predict"
PAUSE_S = 0.02  # between paired calls: lets the other's thread pools go idle


@dataclass
class Case:
    """One input to time: its API key and request body, and its bare forward.

    Attributes:
        key: API key of the app whose model ``m`` answers.
        body: The encoded predict request (one input).
        bare: One bare forward of that input (the worker's model, in this process).
        extra: Other per-input costs to report beside it, each one call (e.g. an
            image's decode + preprocess).
    """

    key: str
    body: bytes
    bare: Callable[[], Any]
    extra: dict[str, Callable[[], Any]]


def percentiles(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (linear interpolation) and mean, in milliseconds."""
    ms = np.asarray(values_s) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()), "n": int(len(ms))}


def repeat_timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls, after one untimed call."""
    fn()
    return [timed(fn)[0] for _ in range(repeats)]


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def paired(deployment: Deployment, case: Case, repeats: int) -> dict[str, Any]:
    """Bare forward and API predict, alternating; see the module doc."""
    bare, api = [], []
    with deployment.client() as http:
        case.bare()
        expect(http.post(PATH, content=case.body, headers=headers(case.key)), 200)
        for _ in range(repeats):
            bare.append(timed(case.bare)[0])
            time.sleep(PAUSE_S)
            t, resp = timed(lambda: http.post(PATH, content=case.body, headers=headers(case.key)))
            expect(resp, 200)
            api.append(t)
            time.sleep(PAUSE_S)
    diffs = np.asarray(api) - np.asarray(bare)
    return {"bare": percentiles(bare), "api": percentiles(api),
            "difference_p50_ms": float(np.median(diffs) * 1000),
            "extra": {name: percentiles(repeat_timed(fn, repeats))
                      for name, fn in case.extra.items()}}


def level(deployment: Deployment, case: Case, clients: int, per_client: int, warmup: int
          ) -> dict[str, Any]:
    """``clients`` threads with their own connections; all start together after warm-up.

    Returns:
        Percentiles, requests/s, and each timed request's ``(sent, received)`` wall
        times (``time.time()``, the clock the job records use).
    """
    barrier = threading.Barrier(clients + 1)
    spans: list[tuple[float, float]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        mine: list[tuple[float, float]] = []
        with deployment.client() as http:
            try:
                for _ in range(warmup):
                    expect(http.post(PATH, content=case.body, headers=headers(case.key)), 200)
            except Exception as exc:  # noqa: BLE001 - reported after the run
                errors.append(repr(exc))
            barrier.wait()  # reached even after a failure: the others must not hang
            for _ in range(per_client):
                sent = time.time()
                resp = http.post(PATH, content=case.body, headers=headers(case.key))
                mine.append((sent, time.time()))
                if resp.status_code != 200:
                    errors.append(f"HTTP {resp.status_code}: {resp.text[:200]}")
        with lock:
            spans.extend(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} predict requests failed: {errors[:3]}")
    spans.sort()
    return {"clients": clients, "per_client": per_client,
            **percentiles([end - start for start, end in spans]),
            "requests_per_s": len(spans) / wall, "loadavg_1m": os.getloadavg()[0],
            "spans": spans}


def server_split(deployment: Deployment, key: str, spans: list[tuple[float, float]]
                 ) -> dict[str, float]:
    """Median ms of each part of one-client requests, matched to their predict jobs in
    order (one client: one job per request, one after the other)."""
    with deployment.client() as http:
        jobs = expect(http.get("/v1/jobs?type=predict&limit=500", headers=headers(key)),
                      200)["jobs"]
    jobs = sorted((j for j in jobs if float(j["created_at"]) >= spans[0][0]),
                  key=lambda j: float(j["created_at"]))[:len(spans)]
    if len(jobs) != len(spans):
        return {}
    parts: dict[str, list[float]] = {"api_in": [], "queue": [], "worker": [], "reply": []}
    for (sent, received), job in zip(spans, jobs):
        created, started, finished = (float(job[k]) for k in ("created_at", "started_at",
                                                               "finished_at"))
        parts["api_in"].append(created - sent)
        parts["queue"].append(started - created)
        parts["worker"].append(finished - started)
        parts["reply"].append(received - finished)
    return {name: float(np.median(v) * 1000) for name, v in parts.items()}


def http_floor(deployment: Deployment, repeats: int) -> dict[str, float]:
    """``GET /healthz`` round trips (the API pings Redis): HTTP + gunicorn + Flask alone."""
    with deployment.client() as http:
        return percentiles(repeat_timed(lambda: http.get("/healthz"), repeats))


def measure(deployment: Deployment, cases: dict[str, Case], levels: Sequence[int],
            requests: int, warmup: int, repeats: int) -> dict[str, Any]:
    """Every case: paired bare/API calls, then every concurrency level.

    Args:
        deployment: The running API and worker.
        cases: By modality.
        levels: Concurrent clients of each level.
        requests: Timed requests per level, shared evenly (at least 4 per client).
        warmup: Untimed requests per client first.
        repeats: Pairs of the paired measurement (and the HTTP floor's calls).
    """
    out: dict[str, Any] = {"http_floor": http_floor(deployment, repeats)}
    for modality, case in cases.items():
        pairs = paired(deployment, case, repeats)
        rows = []
        for clients in levels:
            row = level(deployment, case, clients, max(4, requests // clients), warmup)
            if clients == 1:
                row["server_split_ms"] = server_split(deployment, case.key, row["spans"])
            row["overhead_ms"] = row["p50"] - pairs["bare"]["p50"]
            rows.append(row)
            print(f"   predict {modality}, {clients:>2} client(s): p50 {row['p50']:.1f} ms, "
                  f"p95 {row['p95']:.1f}, p99 {row['p99']:.1f}, {row['requests_per_s']:.1f}"
                  f" req/s; bare forward p50 {pairs['bare']['p50']:.1f} ms", flush=True)
        out[modality] = {"paired": pairs, "levels": rows}
    return out


def render(lat: dict[str, Any]) -> list[str]:
    """The latency table and its notes, as markdown lines."""
    lines = ["| predict | clients | requests | p50 ms | p95 ms | p99 ms | req/s | "
             "bare forward p50 ms | overhead: p50 − bare p50 (ms) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    modalities = [m for m in lat if m != "http_floor"]
    for modality in modalities:
        bare = lat[modality]["paired"]["bare"]
        for r in lat[modality]["levels"]:
            lines.append(f"| 1 {modality} | {r['clients']} | {r['n']} | {r['p50']:.1f} | "
                         f"{r['p95']:.1f} | {r['p99']:.1f} | {r['requests_per_s']:.1f} | "
                         f"{bare['p50']:.1f} | {r['overhead_ms']:.1f} |")
    lines.append("")
    for modality in modalities:
        p = lat[modality]["paired"]
        note = (f"- {modality}: paired with the bare forward ({p['api']['n']} alternating "
                f"calls), API p50 {p['api']['p50']:.1f} ms vs bare {p['bare']['p50']:.1f} ms: "
                f"overhead {p['api']['p50'] - p['bare']['p50']:.1f} ms (median of the "
                f"differences {p['difference_p50_ms']:.1f} ms)")
        for name, stats in p["extra"].items():
            note += f"; {name} p50 {stats['p50']:.1f} ms (inside the overhead)"
        split = next((r.get("server_split_ms") for r in lat[modality]["levels"]
                      if r["clients"] == 1), None)
        if split:
            note += (f". One client, median ms: API until the job is recorded "
                     f"{split['api_in']:.1f}, queue {split['queue']:.1f}, worker "
                     f"{split['worker']:.1f}, reply to the client {split['reply']:.1f}")
        lines.append(note + ".")
    floor = lat["http_floor"]
    lines.append(f"- HTTP floor: `GET /healthz` (pings Redis) p50 {floor['p50']:.1f} ms, "
                 f"p95 {floor['p95']:.1f}.")
    return lines
