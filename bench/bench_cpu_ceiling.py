#!/usr/bin/env python
"""The ceiling of image throughput on this machine's CPU: network, decoding, both at once.

Run from the repository root::

    .venv/bin/python bench/bench_cpu_ceiling.py [--json bench/results/cpu_ceiling.json]

The image pipeline's target is a throughput ratio against the network alone. Where the
network runs on the CPU, decoding and resampling the photos share its cores, so no
service can pass ``network time / ((network + decode + preprocess CPU) / cores)``. This script measures the parts of that bound in one process, on the photos of
``bench_images.py`` (256 JPEGs, 400-800 px), each stage back to back in every repeat:

- **network**: the worker's image network (its backend: ONNX Runtime on CPU) on
  preprocessed pixels, batch 32, on every core and, for ONNX Runtime, on one thread;
- **decode + preprocess**: the worker's ``decode_image`` (no bigger than the network
  needs) and ``preprocess``, on one thread and on a thread per core;
- **all of it**: ``embed_contents`` on the JPEG bytes, as the embed job runs it (loader
  threads ahead of the network), 32 at a time.

Each stage reports images/s and CPU-ms an image (``getrusage``: every thread of this
process). The bound is the network's time over the soonest the network's and decode +
preprocess's CPU could end on every core; the in-process path's ratio to the network is
set against it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_core import cpu_model, publish
from bench_images import decode_embed, make_photos, prepare
from services import own_cpu_seconds

BATCH = 32


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="also write results as JSON")
    p.add_argument("--images", type=int, default=256, help="photos per stage")
    p.add_argument("--repeats", type=int, default=3, help="rounds of every stage")
    return p.parse_args(argv)


def measured(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds (every thread of this process) of one call."""
    cpu, wall = own_cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, own_cpu_seconds() - cpu


TOGETHER = "all of it: `embed_contents` on the JPEG bytes"


def stages(settings: Any, embedder: Any, photos: list[Any], cores: int
           ) -> dict[str, Callable[[], Any]]:
    """The stages, each a call over every photo, by name (see :func:`names`)."""
    from shared.media.images import decode_image
    from shared.media.limits import image_limits
    from workers.content import _decode_side
    from workers.embedders.backends import OnnxBackend

    inputs = prepare(settings, photos, [len(photos)], _decode_side(embedder))
    pixels, blobs = inputs["tensors"], inputs["blobs"]
    limits, side = image_limits(settings), _decode_side(embedder)
    network_name, decode_name = names(cores)

    def network(backend: Any) -> Callable[[], Any]:
        return lambda: [backend({"pixels": pixels[s:s + BATCH]})
                        for s in range(0, len(pixels), BATCH)]

    def load(data: bytes) -> Any:
        return embedder.preprocess_image(decode_image(data, limits, min_side=side)[0])

    def load_on_every_core() -> None:
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(load, blobs))

    out = {network_name: network(embedder.backend)}
    if isinstance(embedder.backend, OnnxBackend):
        out["network, 1 thread"] = network(OnnxBackend(embedder.backend.path, threads=1,
                                                       spin_wait=False))
    out["decode + preprocess, 1 thread"] = lambda: [load(b) for b in blobs]
    out[decode_name] = load_on_every_core
    out[TOGETHER] = lambda: decode_embed(settings, embedder, blobs)
    return out


def names(cores: int) -> tuple[str, str]:
    """The names of the network and of decode + preprocess on every core."""
    return f"network, {cores} threads", f"decode + preprocess, {cores} threads"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from shared.settings import Settings
    from workers.embedders import EmbedderRegistry
    from workers.embedders.backends import available_cores

    settings = Settings()
    embedder = EmbedderRegistry(settings).get(settings.image_embedder)
    photos = make_photos(args.images, (400, 800), seed=0)
    cores = available_cores()
    calls = stages(settings, embedder, photos, cores)
    for call in calls.values():
        call()  # warm
    rounds: list[dict[str, tuple[float, float]]] = []
    for rep in range(args.repeats):
        rounds.append({name: measured(call) for name, call in calls.items()})
        print(f"   round {rep + 1}/{args.repeats}: " + ", ".join(
            f"{name.split(',')[0].split(':')[0]} {len(photos) / w:.0f}/s"
            for name, (w, _) in rounds[-1].items()), flush=True)
    n = len(photos)
    network, decode = names(cores)
    per_stage = {name: {"per_s": statistics.median(n / r[name][0] for r in rounds),
                        "cpu_ms": statistics.median(r[name][1] / n * 1000 for r in rounds),
                        "cores": statistics.median(r[name][1] / r[name][0] for r in rounds)}
                 for name in calls}
    # The soonest all the work could end: its CPU spread over every core, no core idle.
    bound = [r[network][0] * cores / (r[network][1] + r[decode][1]) for r in rounds]
    reached = [r[network][0] / r[TOGETHER][0] for r in rounds]
    return {"environment": {"cpu": cpu_model(), "cpus": os.cpu_count(),
                            "backend": getattr(embedder.backend, "name", "torch"),
                            "images": n, "repeats": args.repeats,
                            "loadavg_start": list(os.getloadavg())},
            "cores": cores, "stages": per_stage, "bound": statistics.median(bound),
            "in_process_vs_network": statistics.median(reached)}


def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [f"Machine: {env['cpu']}, {env['cpus']} CPU cores; the image network in "
             f"{env['backend']}; {env['images']} photos, medians of {env['repeats']} rounds; "
             f"1-min load average {env['loadavg_start'][0]:.2f} at the start, "
             f"{env['loadavg_end'][0]:.2f} at the end", "",
             "| stage | images/s | CPU ms an image | cores busy |", "|---|---:|---:|---:|"]
    for name, s in results["stages"].items():
        lines.append(f"| {name} | {s['per_s']:.1f} | {s['cpu_ms']:.2f} | {s['cores']:.2f} |")
    lines += ["", f"Bound: the network's time / the time of its CPU and decode + preprocess's "
              f"spread over all {results['cores']} cores = **{results['bound']:.2f}×** the "
              f"network alone; in process, all of it reached "
              f"**{results['in_process_vs_network']:.2f}×** (medians per round). A pipeline "
              "adds its API's and client's CPU to the same cores."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["HEADSTART_DEVICE"] = "cpu"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HEADSTART_MODEL_STORE", tempfile.mkdtemp(prefix="hs-ceiling-"))
    return publish(run(args), render, args.json)


if __name__ == "__main__":
    sys.exit(main())
