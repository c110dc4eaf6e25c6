#!/usr/bin/env python
"""Image embedding throughput: the whole pipeline against the bare EfficientNet-Lite0 forward.

Run from the repository root::

    .venv/bin/python bench/bench_images.py [--json bench/results/images.json]

What it measures
----------------
Images per second, on the same images and in the same process, at four depths:

a. **bare model**: the embedder's pooled network (``EfficientNetLiteEmbedder.pooled``:
   uint8 → ``(p - 127) / 128`` normalisation, ``extract_features``, global average
   pooling) in the embedder's backend, as the worker runs it (ONNX Runtime on CPU,
   ``HEADSTART_CPU_BACKEND``; torch on CUDA), on already-preprocessed
   ``(32, 224, 224, 3)`` uint8 pixels;
b. **embedder call**: ``embed_images`` on already-decoded PIL images (the images the
   worker would hand it), which adds ``preprocess`` (the resample to 224 × 224 uint8);
c. **decode + embed**: ``workers.content.embed_contents`` on the encoded bytes, per
   ``embed_batch_size`` inputs as the embed job calls it: ``decode_image`` + ``preprocess``
   on the loader threads (``LOADER_THREADS``), then the network batch by batch; the worker
   minus Redis, Qdrant and the queue;
d. **full pipeline**: ``POST /v1/inputs`` (base64 JSON, 128 inputs a request, Flask test
   client) → real Celery worker in this process (threads pool, ``worker_concurrency``
   threads, as ``make up`` runs it) → Qdrant local mode → every embed job ``succeeded``;
   wall time from the first POST to the last job's ``finished_at``. The API runs in this
   process too (test client), so it shares the 2 cores and the GIL with the worker, as a
   gunicorn on the same machine would share the cores.

Each is reported as images/s and as a time ratio to (a); the four run back to back in
each repeat and the ratios are per repeat (median). A per-image table times the
steps one at a time (the API's check: base64, check decode, sha256; the worker's
decode and ``preprocess``; a Qdrant upsert) so the API's extra decode can be read
against the rest; it also covers a few camera-sized JPEGs (``--large-side``, 4000 px)
that are too slow to push through every stage, and splits the photos at a shorter
side of 512 px, below which JPEG draft mode cannot shrink the worker's decode.

Data: N distinct JPEGs (quality 90, longer side 400-800 px) made by cropping, flipping
and resizing scikit-image's sample photos (``skimage.data``: chelsea, coffee, rocket,
astronaut, stereo_motorcycle, ...); the first N of one set of ``max(--sizes)``. When
the Debian package ``dataset-fashion-mnist`` is installed (or ``--fashion-mnist`` names
an IDX images file) its 28x28 images run too, as PNGs, at the smallest size only; it
is never installed for you.

The benchmark uses its own Redis DB (``--redis-db``, default 13), which it flushes at
start and at exit, key prefix ``hsbench-img``, and a temporary Qdrant folder.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_core import (
    ADMIN_KEY,
    Client,
    configure_env,
    cpu_model,
    expect,
    fresh_redis,
    job_split,
    publish,
    service_arg_parser,
    summary,
    timed,
)

BARE_BATCH = 32
API_BATCH = 128  # settings.max_inputs_per_request
JPEG_QUALITY = 90
WARM_IMAGES = 8
# Each poll runs the API in this process; polling slowly keeps it off the worker's cores.
PIPELINE_POLL_SECONDS = 0.1
FASHION_PACKAGE = "dataset-fashion-mnist"
STAGES = ("bare", "embed_images", "decode_embed", "pipeline")
STAGE_NAMES = {
    "bare": "(a) bare model forward (preprocessed uint8 pixels, batch 32)",
    "embed_images": "(b) `embed_images` on decoded PIL images",
    "decode_embed": "(c) decode + embed (`embed_contents` on the encoded bytes)",
    "pipeline": "(d) full pipeline: POST /v1/inputs → worker → Qdrant → job succeeded",
}


# --- setup (before any Headstart import) --------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = service_arg_parser(__doc__, redis_db=13)
    p.add_argument("--sizes", default="64,256",
                   help="comma-separated image counts (the first N of one set)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--side-range", default="400,800",
                   help="min,max of the longer side of the generated JPEGs, in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--large-side", type=int, default=4000,
                   help="longer side of a few extra, camera-sized JPEGs timed step by step "
                   "only (0: none)")
    p.add_argument("--large-count", type=int, default=8)
    p.add_argument("--fashion-mnist", metavar="PATH", type=Path,
                   help=f"IDX images file (.gz or not); default: from `dpkg -L {FASHION_PACKAGE}`"
                   " when that package is installed")
    p.add_argument("--skip-api", action="store_true", help="skip (d), the full pipeline")
    return p.parse_args(argv)


# --- data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One encoded test image and where it came from."""

    data: bytes
    width: int
    height: int
    label: str


def photo_sources() -> list[tuple[str, Any]]:
    """skimage's bundled photos as ``(label, RGB uint8 array)``; missing ones are skipped."""
    try:
        import skimage.data as sk
    except ImportError:
        sys.exit("!! scikit-image is needed for the test photos: "
                 ".venv/bin/pip install scikit-image")
    loaders = {
        "cat": sk.chelsea,
        "coffee": sk.coffee,
        "rocket": sk.rocket,
        "astronaut": sk.astronaut,
        "motorcycle": lambda: sk.stereo_motorcycle()[0],
        "galaxies": sk.hubble_deep_field,
        "retina": sk.retina,
        "tissue": sk.immunohistochemistry,
    }
    sources = []
    for label, load in loaders.items():
        try:
            sources.append((label, load()))
        except Exception as e:  # optional data files (pooch) may be absent
            print(f"   note: skimage photo {label!r} unavailable ({type(e).__name__})",
                  file=sys.stderr)
    if not sources:
        sys.exit("!! no skimage sample photo could be loaded")
    return sources


def make_photos(n: int, side_range: tuple[int, int], seed: int) -> list[Sample]:
    """n distinct JPEGs: random crop (55-100 % of the height, the width within 15 % of the
    same share), random mirror, resize so the longer side is in ``side_range``; sources
    taken in turn."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    sources = photo_sources()
    out = []
    for k in range(n):
        label, pixels = sources[k % len(sources)]
        h, w = pixels.shape[:2]
        # Keep roughly the source's aspect: real photos are 1:1 to 16:9, not slivers.
        frac = rng.uniform(0.55, 1.0)
        ch, cw = int(h * frac), int(w * min(1.0, frac * rng.uniform(0.85, 1.15)))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        img = Image.fromarray(pixels[top:top + ch, left:left + cw])
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        longer = int(rng.integers(side_range[0], side_range[1] + 1))
        scale = longer / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=JPEG_QUALITY)
        out.append(Sample(buf.getvalue(), img.width, img.height, label))
    return out


def find_fashion_mnist() -> Path | None:
    """The t10k (else any) images IDX file of the Debian package, if it is installed."""
    try:
        listing = subprocess.run(["dpkg", "-L", FASHION_PACKAGE], capture_output=True,
                                 text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listing.returncode != 0:
        return None
    files = [Path(line) for line in listing.stdout.splitlines()
             if "images-idx3-ubyte" in line and Path(line).is_file()]
    files.sort(key=lambda f: ("t10k" not in f.name, f.name))
    return files[0] if files else None


def read_idx_images(path: Path, n: int) -> Any:
    """The first n images of an IDX3 (uint8, magic 2051) file, gzipped or not."""
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        magic, count, rows, cols = (int.from_bytes(f.read(4), "big") for _ in range(4))
        if magic != 2051:
            raise ValueError(f"{path}: not an IDX3 uint8 images file (magic {magic})")
        count = min(n, count)
        raw = f.read(count * rows * cols)
    return np.frombuffer(raw, dtype=np.uint8).reshape(count, rows, cols)


def fashion_samples(path: Path | None, n: int) -> tuple[list[Sample] | None, str]:
    """Fashion-MNIST images as PNGs, or None and why not."""
    from PIL import Image

    path = path or find_fashion_mnist()
    if path is None:
        return None, f"not installed (Debian package {FASHION_PACKAGE}); skipped"
    out = []
    for k, pixels in enumerate(read_idx_images(path, n)):
        buf = io.BytesIO()
        Image.fromarray(pixels, "L").save(buf, "PNG")
        out.append(Sample(buf.getvalue(), pixels.shape[1], pixels.shape[0], f"fm{k % 10}"))
    return out, str(path)


def describe(samples: Sequence[Sample], fmt: str) -> dict[str, Any]:
    """Sizes of a data set, for the report."""
    sides = [max(s.width, s.height) for s in samples]
    shorts = [min(s.width, s.height) for s in samples]
    sizes = [len(s.data) for s in samples]
    return {"count": len(samples), "format": fmt,
            "longer_side_px": summary(sides) | {"values": None},
            "shorter_side_px": summary(shorts) | {"values": None},
            "megapixels_median": statistics.median(s.width * s.height for s in samples) / 1e6,
            "bytes": summary(sizes) | {"values": None},
            "labels": sorted({s.label for s in samples})}


# --- the four stages ---------------------------------------------------------------------
def bare_forward(embedder: Any, tensors: Any) -> None:
    """(a): the network alone, batch 32, on preprocessed uint8 pixels, in the embedder's
    backend (ONNX Runtime or torch, as the worker runs it; it normalises the pixels)."""
    for start in range(0, len(tensors), BARE_BATCH):
        embedder.backend({"pixels": tensors[start:start + BARE_BATCH]})


def decode_embed(settings: Any, embedder: Any, blobs: Sequence[bytes]) -> None:
    """(c): what the embed job does with staged bytes, per ``embed_batch_size`` inputs."""
    from workers.content import Content, embed_contents

    size = settings.embed_batch_size
    contents = [Content("image", {"blob": True}, staged_bytes=lambda b=b: b) for b in blobs]
    for start in range(0, len(contents), size):
        for result in embed_contents(settings, embedder, contents[start:start + size], size):
            if isinstance(result, Exception):
                raise RuntimeError(f"decode failed: {result}")


def request_bodies(samples: Sequence[Sample]) -> list[bytes]:
    """(d)'s POST bodies, encoded once: base64 JSON, ``API_BATCH`` inputs each."""
    bodies = []
    for start in range(0, len(samples), API_BATCH):
        inputs = [{"id": f"img{start + k}",
                   "data": {"image": {"base64": base64.b64encode(s.data).decode("ascii")}},
                   "concepts": [{"id": s.label, "value": 1}]}
                  for k, s in enumerate(samples[start:start + API_BATCH])]
        bodies.append(json.dumps({"inputs": inputs}).encode())
    return bodies


MULTIPART_BOUNDARY = "headstart-bench-boundary"
MULTIPART_TYPE = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"


def multipart_bodies(samples: Sequence[Sample]) -> list[bytes]:
    """The same inputs as :func:`request_bodies`, encoded by the Headstart client's own
    request builder: multipart, the JSON body in a part named ``json`` and each photo raw
    in its own part (``MULTIPART_TYPE``)."""
    import httpx

    from headstart.client.batching import NewInput, request_body
    from headstart.client.sources import Data

    bodies = []
    for start in range(0, len(samples), API_BATCH):
        items = [NewInput(Data(s.data, "image", f"img{start + k}.jpg"), [s.label],
                          id=f"img{start + k}")
                 for k, s in enumerate(samples[start:start + API_BATCH])]
        request = httpx.Request("POST", "http://bench/", headers={"Content-Type": MULTIPART_TYPE},
                                **request_body(items))
        bodies.append(request.read())
    return bodies


def new_client(flask_client: Any) -> Client:
    """A fresh app (so input ids never collide) and its client."""
    app_id = f"bench-img-{uuid.uuid4().hex[:8]}"
    body = expect(flask_client.post("/v1/apps", json={"id": app_id},
                                    headers={"Authorization": f"Bearer {ADMIN_KEY}"}), 201)
    return Client(flask_client, body["api_key"])


def wait_jobs(app: Client, job_ids: Sequence[str], timeout: float = 600.0
              ) -> list[dict[str, Any]]:
    """Every job, once all have succeeded (polled every ``PIPELINE_POLL_SECONDS``)."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(job_ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs {job_ids} did not finish in {timeout}s")
        time.sleep(PIPELINE_POLL_SECONDS)
        for job_id in job_ids:
            if job_id not in done:
                job = app.get(f"/v1/jobs/{job_id}").get_json()["job"]
                if job["status"] in ("failed", "cancelled"):
                    raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
                if job["status"] == "succeeded":
                    done[job_id] = job
    return [done[j] for j in job_ids]


def pipeline_once(flask_client: Any, bodies: Sequence[bytes], n: int,
                  content_type: str = "application/json") -> dict[str, Any]:
    """(d) once on a fresh app: POST every body, then wait for every embed job.

    The time is the last job's ``finished_at`` (server clock, the same ``time.time()``)
    less the time right before the first POST, so the polling interval does not count.
    """
    app = new_client(flask_client)
    posts, job_ids = [], []
    t0 = time.time()
    for body in bodies:
        t, resp = timed(lambda: flask_client.post("/v1/inputs", data=body, headers=app.headers,
                                                  content_type=content_type))
        posts.append(t)
        job_ids.append(expect(resp, 202)["job"]["id"])
    jobs = wait_jobs(app, job_ids)
    seen = time.time() - t0
    embedded = sum((j.get("result") or {}).get("embedded", 0) for j in jobs)
    if embedded != n:
        raise RuntimeError(f"{embedded} of {n} inputs embedded: {[j.get('result') for j in jobs]}")
    return {"total_s": max(float(j["finished_at"]) for j in jobs) - t0, "seen_done_s": seen,
            "post_s": posts, "jobs": [job_split(j) for j in jobs]}


# --- per-image step costs ----------------------------------------------------------------
def stage_costs(settings: Any, runtime: Any, samples: Sequence[Sample],
                decode_side: int | None) -> dict[str, Any]:
    """ms of each step for each image, one step at a time over every image, serially.

    ``qdrant_upsert`` is per image too, but each call writes ``embed_batch_size``
    random unit vectors with a payload like the embed job's (a scratch app of the
    worker's store); the call's time is split evenly over its points.
    """
    import numpy as np

    from api.media_inputs import prepare_data
    from shared.media.images import CHECK_SIDE, check_image, decode_image
    from shared.media.limits import image_limits
    from shared.schemas import InputData
    from workers.embedders.image import preprocess

    limits = image_limits(settings)
    b64 = [base64.b64encode(s.data).decode("ascii") for s in samples]
    blobs = [s.data for s in samples]
    data = [InputData.model_validate({"image": {"base64": t}}) for t in b64]
    worker_imgs = [decode_image(b, limits, min_side=decode_side)[0] for b in blobs]
    full_imgs = [decode_image(b, limits)[0] for b in blobs]
    steps = {
        "api_prepare_data": lambda i: prepare_data(settings, data[i], "inputs[0].data", {}),
        "api_base64_decode": lambda i: base64.b64decode(b64[i], validate=True),
        "api_check": lambda i: check_image(blobs[i], limits),
        "api_check_decode": lambda i: decode_image(blobs[i], limits, min_side=CHECK_SIDE),
        "api_sha256": lambda i: hashlib.sha256(blobs[i]).hexdigest(),
        "worker_decode": lambda i: decode_image(blobs[i], limits, min_side=decode_side),
        "worker_preprocess": lambda i: preprocess(worker_imgs[i]),
        "full_decode": lambda i: decode_image(blobs[i], limits),
        "full_preprocess": lambda i: preprocess(full_imgs[i]),
    }
    per_image: dict[str, list[float]] = {}
    for name, step in steps.items():
        step(0)  # warm
        times = []
        for i in range(len(samples)):
            t0 = time.perf_counter()
            step(i)
            times.append((time.perf_counter() - t0) * 1000)
        per_image[name] = times

    size = settings.embed_batch_size
    vectors = np.random.default_rng(0).normal(size=(len(samples), 1280)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scratch = f"bench-img-upsert-{uuid.uuid4().hex[:8]}"
    payload = {"positive": ["x"], "negative": [], "metadata": {}, "modality": "image",
               "data": {"image": {"format": "JPEG", "width": 640, "height": 480,
                                  "bytes": 60_000, "sha256": "0" * 64}},
               "created_at": time.time()}
    upserts = []
    for start in [0, *range(0, len(samples), size)]:  # the first call warms
        points = [(f"img{k}", vectors[k], payload)
                  for k in range(start, min(start + size, len(samples)))]
        t, _ = timed(lambda: runtime.vectors.upsert(settings.image_embedder, scratch, points))
        upserts.append(t * 1000 / len(points))
    per_image["qdrant_upsert"] = [upserts[1 + i // size] for i in range(len(samples))]
    return {"per_image_ms": per_image, "worker_decode_side": decode_side,
            "api_check_side": CHECK_SIDE, "upsert_batch": size}


def cost_column(costs: dict[str, Any], rows: Sequence[int]) -> dict[str, float]:
    """Mean ms per image of each step over some of the images."""
    return {step: statistics.fmean(times[i] for i in rows)
            for step, times in costs["per_image_ms"].items()}


def cost_columns(name: str, samples: Sequence[Sample], costs: dict[str, Any]
                 ) -> dict[str, dict[str, float]]:
    """The step-cost table's columns for one data set: all images, and for photos also
    split at a shorter side of twice the worker's decode side (below it, JPEG draft
    mode cannot shrink the decode and ``decode_image`` resizes instead)."""
    every = range(len(samples))
    columns = {f"{name} (all {len(samples)})": cost_column(costs, every)}
    side = costs["worker_decode_side"]
    if side and name == "photos":
        small = [i for i in every if min(samples[i].width, samples[i].height) < 2 * side]
        large = sorted(set(every) - set(small))
        for label, rows in ((f"shorter side < {2 * side} px", small),
                            (f"shorter side ≥ {2 * side} px", large)):
            if rows:
                columns[f"{name}, {label} ({len(rows)})"] = cost_column(costs, rows)
    return columns


# --- running ---------------------------------------------------------------------------------
@contextmanager
def running_worker(settings: Any) -> Iterator[tuple[Any, Any]]:
    """The API's test client and the worker runtime, with a threads-pool worker running."""
    from celery.contrib.testing.worker import start_worker

    from api import create_app
    from workers.celery_app import app as celery_app
    from workers.runtime import WorkerRuntime, set_runtime

    flask_app = create_app(settings)
    flask_app.testing = True
    runtime = WorkerRuntime(settings)
    set_runtime(runtime)
    try:
        with start_worker(celery_app, pool="threads", concurrency=settings.worker_concurrency,
                          perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
            yield flask_app.test_client(), runtime
    finally:
        set_runtime(None)
        runtime.close()


def prepare(settings: Any, samples: Sequence[Sample], sizes: Sequence[int],
            decode_side: int | None) -> dict[str, Any]:
    """Inputs of each stage, built outside the timings: tensors, PIL images, bytes, and the
    POST bodies of the first n images for each n in ``sizes``."""
    import numpy as np
    import torch

    from shared.media.images import decode_image
    from shared.media.limits import image_limits
    from workers.embedders.image import preprocess

    limits = image_limits(settings)
    images = [decode_image(s.data, limits, min_side=decode_side)[0] for s in samples]
    return {"tensors": torch.from_numpy(np.stack([preprocess(img) for img in images])),
            "images": images, "blobs": [s.data for s in samples],
            "bodies": {n: request_bodies(samples[:n]) for n in sizes}}


def run_stages(settings: Any, embedder: Any, flask_client: Any | None, inputs: dict[str, Any],
               n: int) -> dict[str, Any]:
    """(a)-(d) once each on the first n images, back to back."""
    out: dict[str, Any] = {
        "bare": timed(lambda: bare_forward(embedder, inputs["tensors"][:n]))[0],
        "embed_images": timed(lambda: embedder.embed_images(inputs["images"][:n]))[0],
        "decode_embed": timed(lambda: decode_embed(settings, embedder, inputs["blobs"][:n]))[0],
    }
    if flask_client is not None:
        detail = pipeline_once(flask_client, inputs["bodies"][n], n)
        out["pipeline"] = detail["total_s"]
        out["pipeline_detail"] = detail
    out["loadavg_1m"] = os.getloadavg()[0]
    return out


def aggregate(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """images/s and per-repeat time ratios to (a), per stage."""
    stages = {}
    for stage in STAGES:
        if stage not in runs[0]:
            continue
        secs = [r[stage] for r in runs]
        rates = [n / s for s in secs]
        ratios = [r[stage] / r["bare"] for r in runs]
        stages[stage] = {"seconds": summary(secs), "images_per_s": summary(rates),
                         "ratio_to_bare": statistics.median(ratios), "ratios": ratios}
    out: dict[str, Any] = {"n": n, "repeats": len(runs), "stages": stages, "runs": runs}
    if "pipeline_detail" in runs[0]:
        details = [r["pipeline_detail"] for r in runs]
        out["api_post_ms_per_image"] = statistics.median(sum(d["post_s"]) / n * 1000
                                                         for d in details)
        out["job_run_s_max"] = statistics.median(max(j["run_s"] for j in d["jobs"])
                                                 for d in details)
        out["job_queue_s_first"] = statistics.median(d["jobs"][0]["queue_s"] for d in details)
    return out


def bench_dataset(args: argparse.Namespace, settings: Any, embedder: Any, flask_client: Any,
                  name: str, samples: list[Sample], sizes: list[int], decode_side: int | None
                  ) -> list[dict[str, Any]]:
    """All sizes of one data set, interleaved within each repeat."""
    sizes = [n for n in sizes if n <= len(samples)]
    inputs = prepare(settings, samples[:max(sizes)], sizes, decode_side)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    for rep in range(args.repeats):
        for n in sizes:
            run = run_stages(settings, embedder, flask_client, inputs, n)
            runs[n].append(run)
            rates = "  ".join(f"{s} {n / run[s]:.1f}/s" for s in STAGES if s in run)
            print(f"   {name} n={n} repeat {rep + 1}/{args.repeats}: {rates}", flush=True)
    return [{"dataset": name, **aggregate(n, runs[n])} for n in sizes]


# --- report ----------------------------------------------------------------------------------
def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [f"Machine: {env['cpu']}, {env['cpus']} CPU cores, torch threads "
             f"{env['torch_threads']}, GPU: {'yes' if env['cuda'] else 'no'}; worker "
             f"concurrency {env['worker_concurrency']}, embed batch {env['embed_batch_size']}; "
             f"1-min load average at start {env['loadavg_start'][0]:.2f}, at end "
             f"{env.get('loadavg_end', [0.0])[0]:.2f}", ""]
    for name, info in results["data"].items():
        if isinstance(info, str):
            lines.append(f"- {name}: {info}")
            continue
        lg, sh, by = info["longer_side_px"], info["shorter_side_px"], info["bytes"]
        lines.append(f"- {name}: {info['count']} distinct {info['format']} from "
                     f"{', '.join(info['labels'][:10])}; longer side {lg['min']:.0f}-"
                     f"{lg['max']:.0f} px (median {lg['median']:.0f}), shorter side "
                     f"{sh['min']:.0f}-{sh['max']:.0f} px (median {sh['median']:.0f}), "
                     f"median {info['megapixels_median']:.2f} MP, {by['median'] / 1024:.0f} KiB "
                     f"(range {by['min'] / 1024:.0f}-{by['max'] / 1024:.0f} KiB)")
    lines += ["", "| data | N | stage | images/s (median) | min–max | time × (a) |",
              "|---|---:|---|---:|---:|---:|"]
    for row in results["throughput"]:
        for stage, s in row["stages"].items():
            r = s["images_per_s"]
            lines.append(f"| {row['dataset']} | {row['n']} | {STAGE_NAMES[stage]} | "
                         f"{r['median']:.1f} | {r['min']:.1f}–{r['max']:.1f} | "
                         f"{s['ratio_to_bare']:.2f}× |")
    lines.append("")
    lines.append("Medians of " + ", ".join(sorted({str(r["repeats"]) for r in
                                                   results["throughput"]}))
                 + " repeats; time × (a) is the per-repeat ratio of seconds to the bare "
                 "forward on the same images, median.")
    for row in results["throughput"]:
        if "api_post_ms_per_image" in row:
            lines.append(f"(d) {row['dataset']} N={row['n']}: POSTs took "
                         f"{row['api_post_ms_per_image']:.2f} ms/image in the API; "
                         f"longest embed job ran {row['job_run_s_max']:.2f} s; first job "
                         f"queued {row['job_queue_s_first'] * 1000:.0f} ms.")
    steps = results.get("step_costs")
    if steps:
        columns = steps["columns"]
        lines += ["", "Per-image step costs (ms/image, mean; one step at a time over every "
                  "image, one thread; the forward is (a)'s median at the largest N):", "",
                  "| step | " + " | ".join(columns) + " |",
                  "|---|" + "---:|" * len(columns)]
        labels = {
            "api_prepare_data": "API check, all (`prepare_data`: base64 + `check_image` + "
                                "sha256)",
            "api_base64_decode": "· base64 decode",
            "api_check": "· `check_image` (a JPEG: header + marker walk, no pixel decoded)",
            "api_check_decode": f"the check decode it replaced (`decode_image`, min_side "
                                f"{steps['api_check_side']}), for reference",
            "api_sha256": "· sha256",
            "worker_decode": f"worker decode (`decode_image`, min_side "
                             f"{steps['worker_decode_side']})",
            "worker_preprocess": "`preprocess` of the worker-decoded image",
            "full_decode": "full-size decode (`decode_image`, no min_side), for reference",
            "full_preprocess": "`preprocess` of the full-size image, for reference",
            "qdrant_upsert": f"Qdrant local upsert ({steps['upsert_batch']} points a call, "
                             "1280-d + payload)",
            "bare_forward": "model forward (from (a), batch 32)",
        }
        for key, label in labels.items():
            cells = [f"{col[key]:.2f}" if key in col else "" for col in columns.values()]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    side_range = tuple(int(s) for s in args.side_range.split(","))
    if len(side_range) != 2:
        sys.exit("--side-range takes min,max")
    tmp = Path(tempfile.mkdtemp(prefix="headstart-bench-images-"))
    configure_env(args, tmp)
    os.environ["HEADSTART_REDIS_PREFIX"] = "hsbench-img"

    settings, redis_client = fresh_redis(args)

    import torch

    from workers.content import _decode_side

    print("== data", flush=True)
    t_photos, photos = timed(lambda: make_photos(max(sizes), side_range, args.seed))
    # Only the smallest size: the forward costs the same on any picture, and the whole
    # script should stay within a few minutes on 2 cores.
    fashion, fashion_note = fashion_samples(args.fashion_mnist, min(sizes))
    datasets = {"photos": photos}
    data_info: dict[str, Any] = {"photos": describe(photos, f"JPEG q{JPEG_QUALITY}")}
    data_info["photos"]["generated_s"] = t_photos
    cost_sets = dict(datasets)
    if args.large_side and args.large_count:
        large = make_photos(args.large_count, (args.large_side, args.large_side), args.seed + 1)
        name = f"{args.large_side} px photos"
        cost_sets[name] = large
        data_info[name] = describe(large, f"JPEG q{JPEG_QUALITY}, upscaled (smoother and "
                                   "smaller than a camera's), step costs only,")
    if fashion is None:
        data_info["fashion-mnist"] = fashion_note
    else:
        datasets["fashion-mnist"] = fashion
        cost_sets["fashion-mnist"] = fashion
        data_info["fashion-mnist"] = describe(fashion, "PNG") | {"source": fashion_note}
    print(f"   {len(photos)} photos in {t_photos:.1f}s; fashion-mnist: {fashion_note}",
          flush=True)

    results: dict[str, Any] = {
        "environment": {
            "cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.is_available(), "image_embedder": settings.image_embedder,
            "worker_concurrency": settings.worker_concurrency,
            "embed_batch_size": settings.embed_batch_size, "api_batch": API_BATCH,
            "poll_interval_s": PIPELINE_POLL_SECONDS, "loadavg_start": list(os.getloadavg()),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "data": data_info,
    }
    try:
        with running_worker(settings) as (flask_client, runtime):
            print("== warm-up", flush=True)
            t_load, embedder = timed(lambda: runtime.embedders.get(settings.image_embedder))
            decode_side = _decode_side(embedder)
            warm = prepare(settings, photos[:WARM_IMAGES], [WARM_IMAGES], decode_side)
            t_warm, _ = timed(lambda: run_stages(settings, embedder, None if args.skip_api
                                                 else flask_client, warm, WARM_IMAGES))
            results["warmup"] = {"model_load_s": t_load, "one_small_batch_all_stages_s": t_warm}
            print(f"   model {t_load:.2f}s; {WARM_IMAGES} images through every stage "
                  f"{t_warm:.2f}s", flush=True)

            print("== per-image step costs", flush=True)
            step_costs: dict[str, Any] = {"columns": {}}
            for name, samples in cost_sets.items():
                costs = stage_costs(settings, runtime, samples, decode_side)
                step_costs["columns"].update(cost_columns(name, samples, costs))
                step_costs.update({k: v for k, v in costs.items() if k != "per_image_ms"})
            results["step_costs"] = step_costs

            print("== throughput", flush=True)
            results["throughput"] = []
            for name, samples in datasets.items():
                results["throughput"] += bench_dataset(
                    args, settings, embedder, None if args.skip_api else flask_client,
                    name, samples, sizes, decode_side)
            # The forward sees 224 x 224 tensors whatever the source: one figure for all.
            big = [r for r in results["throughput"] if r["dataset"] == "photos"][-1]
            forward_ms = 1000 / big["stages"]["bare"]["images_per_s"]["median"]
            for column in step_costs["columns"].values():
                column["bare_forward"] = forward_ms
    finally:
        redis_client.flushdb()
        redis_client.close()
        shutil.rmtree(tmp, ignore_errors=True)

    return publish(results, render, args.json)


if __name__ == "__main__":
    sys.exit(main())
