"""The head trainer as pure functions on arrays."""

from __future__ import annotations

import numpy as np
import pytest

from shared.errors import TrainingError
from workers.calibration import apply_temperature
from workers.cross_validation import cv_splits, sample_rows, select_c
from workers.head_metrics import suggest_threshold
from workers.heads import apply_head, head_probabilities
from workers.prototypes import prototype_probabilities
from workers.training import train_head
from workers.training_data import Context, TrainingData, binary_targets


def _blobs(per_class: int, classes: int, dim: int = 16, seed: int = 0, spread: float = 0.3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    x = np.vstack([c + spread * rng.normal(size=(per_class, dim)) for c in centres])
    labels = [f"c{i}" for i in range(classes) for _ in range(per_class)]
    return x.astype(np.float32), labels


def _data(x, labels, negatives=None):
    negatives = negatives or [frozenset()] * len(labels)
    return TrainingData(vectors=x, positive=[frozenset([label]) for label in labels], negative=negatives)


def test_softmax_head_separates_blobs_and_reports_cv_metrics():
    x, labels = _blobs(10, 3)
    head = train_head(_data(x, labels), ["c0", "c1", "c2"], mutually_exclusive=True,
                      closed_environment=True, folds=5)
    assert head.weight.shape == (3, 16) and head.activation == "softmax"
    probs = apply_head(head.weight, head.bias, head.activation, x)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs.argmax(axis=1) == np.repeat(np.arange(3), 10)).mean() == 1.0
    m = head.metrics
    assert m["status"] == "ok" and m["accuracy"] >= 0.9 and m["folds"] == 5
    assert np.array(m["confusion_matrix"]["matrix"]).sum() == 30
    assert all(m["concepts"][c]["support"] == 10 for c in ("c0", "c1", "c2"))
    assert head.params["C_selection"] == "cv" and head.params["C"] in (0.1, 1.0, 10.0, 100.0)


def test_binary_softmax_matches_sklearn_probabilities():
    x, labels = _blobs(8, 2, spread=1.5, seed=3)
    head = train_head(_data(x, labels), ["c0", "c1"], mutually_exclusive=True,
                      closed_environment=True)
    assert head.weight.shape == (2, 16)
    probs = apply_head(head.weight, head.bias, "softmax", x)
    assert (probs.argmax(axis=1) == np.repeat([0, 1], 8)).mean() >= 0.9


def test_one_vs_rest_uses_closed_environment_negatives():
    x, labels = _blobs(6, 2)
    data = _data(x, labels)
    y = binary_targets(data, ["c0", "c1"], closed_environment=True)
    assert (y[:6, 0] == 1).all() and (y[6:, 0] == 0).all()
    open_y = binary_targets(data, ["c0", "c1"], closed_environment=False)
    assert (open_y[6:, 0] == -1).all()
    head = train_head(data, ["c0", "c1"], mutually_exclusive=False, closed_environment=True)
    assert head.activation == "sigmoid"
    assert head.counts["negatives"] == {"c0": 6, "c1": 6}
    assert head.metrics["concepts"]["c0"]["roc_auc"] == 1.0


def test_explicit_negative_beats_closed_environment_positive():
    data = TrainingData(vectors=np.eye(3, dtype=np.float32),
                        positive=[frozenset({"a"}), frozenset({"a", "b"}), frozenset({"b"})],
                        negative=[frozenset({"b"}), frozenset(), frozenset({"a"})])
    y = binary_targets(data, ["a", "b"], closed_environment=True)
    assert y.tolist() == [[1, 0], [1, 1], [0, 1]]


@pytest.mark.parametrize("concepts,exclusive,closed,code", [
    (["c0", "c1", "zz"], True, True, "no_positives"),
    (["c0", "zz"], False, True, "no_positives"),
    (["c0", "c1"], False, False, "no_negatives"),
    (["c0"], True, True, "too_few_concepts"),
])
def test_failure_codes(concepts, exclusive, closed, code):
    x, labels = _blobs(4, 2)
    with pytest.raises(TrainingError) as info:
        train_head(_data(x, labels), concepts, mutually_exclusive=exclusive,
                   closed_environment=closed)
    assert info.value.code == code


def test_no_data():
    empty = TrainingData(vectors=np.zeros((0, 4), dtype=np.float32), positive=[], negative=[])
    with pytest.raises(TrainingError) as info:
        train_head(empty, ["a", "b"], mutually_exclusive=True, closed_environment=True)
    assert info.value.code == "no_data"


def test_one_example_per_class_trains_but_says_evaluation_is_impossible():
    x, labels = _blobs(1, 3)
    head = train_head(_data(x, labels), ["c0", "c1", "c2"], mutually_exclusive=True,
                      closed_environment=True)
    assert head.metrics["status"] == "insufficient_data"
    assert head.params["C_selection"] == "default"
    probs = apply_head(head.weight, head.bias, "softmax", x)
    assert (probs.argmax(axis=1) == np.arange(3)).all()


def test_select_c_prefers_weak_regularisation_on_separable_data():
    x, labels = _blobs(20, 2, spread=0.05)
    c, how = select_c(x / np.linalg.norm(x, axis=1, keepdims=True),
                      np.array([0] * 20 + [1] * 20), folds=5, seed=0)
    assert how == "cv" and c >= 10.0


def test_suggested_threshold_maximises_f1():
    truth = np.array([0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.35, 0.3, 0.8, 0.9])
    assert suggest_threshold(truth, scores) == 0.3


def test_select_c_subsample_keeps_a_rare_class():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2500, 8)).astype(np.float32)
    y = np.zeros(2500, dtype=np.int64)
    y[:4] = 1  # 4 of 2500: an unstratified 2000-row sample could lose some
    x[:4] += 3.0
    c, how = select_c(x, y, folds=5, seed=0)
    assert how == "cv" and c in (0.1, 1.0, 10.0, 100.0)


# --- videos: many rows (frames) per input -----------------------------------------------
def _videos(videos_per_class: int, frames: int, classes: int = 2, seed: int = 0) -> TrainingData:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 16))
    rows, positive, ids = [], [], []
    for c in range(classes):
        for v in range(videos_per_class):
            offset = 0.5 * rng.normal(size=16)  # frames of one video look alike
            for _ in range(frames):
                rows.append(centres[c] + offset + 0.05 * rng.normal(size=16))
                positive.append(frozenset([f"c{c}"]))
                ids.append(f"video-{c}-{v}")
    return TrainingData(vectors=np.asarray(rows, dtype=np.float32), positive=positive,
                        negative=[frozenset()] * len(rows), input_ids=ids,
                        frames=[frames] * len(rows))


def test_cv_splits_never_split_a_video_across_train_and_test():
    data = _videos(videos_per_class=4, frames=6)
    y = np.asarray([int(next(iter(p))[1]) for p in data.positive])
    splits = cv_splits(y, folds=5, seed=0, groups=data.groups())
    assert len(splits) == 4  # k is bounded by the 4 videos per class, not the 24 frames
    groups = data.groups()
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])


def test_a_video_weighs_as_one_input_and_folds_count_videos():
    data = _videos(videos_per_class=2, frames=10)
    assert np.allclose(data.weights(), 0.1)
    head = train_head(data, ["c0", "c1"], mutually_exclusive=True, closed_environment=True,
                      folds=5)
    # Two videos per concept: two folds of whole videos, not five folds of frames.
    assert head.metrics["status"] == "ok" and head.metrics["folds"] == 2
    # Scored per video (the mean over its frames), as predict scores it.
    assert sum(map(sum, head.metrics["confusion_matrix"]["matrix"])) == 4
    assert head.metrics["concepts"]["c0"]["support"] == 2
    assert head.counts == {**head.counts, "examples": 4, "rows": 40,
                           "positives": {"c0": 2, "c1": 2}}
    one_each = _videos(videos_per_class=1, frames=10)
    head = train_head(one_each, ["c0", "c1"], mutually_exclusive=True,
                      closed_environment=True, folds=5)
    # One video per concept cannot be cross-validated honestly, however many frames.
    assert head.metrics["status"] == "insufficient_data"
    assert head.params["C_selection"] == "default"


def test_images_alone_have_no_groups_or_weights():
    x, labels = _blobs(5, 2)
    data = TrainingData(vectors=x, positive=[frozenset([label]) for label in labels],
                        negative=[frozenset()] * len(labels), input_ids=[str(i) for i in
                                                                         range(len(labels))],
                        frames=[1] * len(labels))
    assert data.groups() is None and data.weights() is None


# --- the blended exclusive head: prototypes, names, unlabelled inputs -------------------
def test_exclusive_heads_blend_prototypes_and_store_them():
    x, labels = _blobs(10, 3)
    head = train_head(_data(x, labels), ["c0", "c1", "c2"], mutually_exclusive=True,
                      closed_environment=True, folds=5)
    assert head.prototypes.shape == (3, 16) and head.center.shape == (16,)
    assert set(head.tensors()) == {"weight", "bias", "prototypes", "center"}
    assert head.params["blend"] == 0.5 and head.counts["zero_shot"] == []
    probs = head_probabilities(head, x)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # Calibrated on its out-of-fold probabilities: the stored temperature is applied.
    temperature = head.params["temperature"]
    assert temperature != 1.0 and 0 <= head.metrics["ece"] <= 1
    unscaled = apply_head(head.weight, head.bias, "softmax", x, head.prototypes, head.center)
    assert np.allclose(probs, apply_temperature(unscaled, temperature, "softmax"), atol=1e-6)
    assert (probs.argmax(axis=1) == np.repeat(np.arange(3), 10)).mean() == 1.0


def test_unlabelled_inputs_and_names_help_with_one_example_each():
    x, labels = _blobs(60, 4, spread=0.8, seed=3)
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 60)
    one_each = np.array([rng.choice(np.flatnonzero(truth == c)) for c in range(4)])
    data = _data(x[one_each], [labels[i] for i in one_each])
    concepts = ["c0", "c1", "c2", "c3"]
    plain = train_head(data, concepts, mutually_exclusive=True, closed_environment=True)
    helped = train_head(data, concepts, mutually_exclusive=True, closed_environment=True,
                        context=Context(unlabelled=x))
    accuracy = {name: (head_probabilities(h, x).argmax(axis=1) == truth).mean()
                for name, h in (("plain", plain), ("helped", helped))}
    assert accuracy["helped"] > accuracy["plain"]
    # One example each: nothing to hold out, so no metrics, no temperature, and the
    # prototypes alone answer (the regression's C would be a guess).
    assert helped.metrics["status"] == "insufficient_data"
    assert helped.params["blend"] == 1.0 and helped.params["temperature"] == 1.0
    assert np.allclose(head_probabilities(helped, x),
                       prototype_probabilities(helped.prototypes, helped.center, x), atol=1e-6)
    # Names alone (here: the true class centres, as a text embedder would place them).
    centres = np.stack([x[truth == c].mean(axis=0) for c in range(4)])
    empty = TrainingData(vectors=np.zeros((0, 16), np.float32), positive=[], negative=[])
    zero = train_head(empty, concepts, mutually_exclusive=True, closed_environment=True,
                      context=Context(names=centres, unlabelled=x))
    assert zero.counts["zero_shot"] == concepts
    assert zero.metrics["status"] == "insufficient_data" and zero.params["blend"] == 1.0
    assert (head_probabilities(zero, x).argmax(axis=1) == truth).mean() > 0.9


def test_one_vs_rest_blends_prototypes_only_in_a_closed_environment():
    x, labels = _blobs(60, 3, spread=0.8, seed=4)
    truth = np.repeat(np.arange(3), 60)
    picks = np.array([0, 60, 120])
    data = _data(x[picks], [labels[i] for i in picks])
    concepts = ["c0", "c1", "c2"]
    closed = train_head(data, concepts, mutually_exclusive=False, closed_environment=True,
                        context=Context(unlabelled=x))
    assert closed.prototypes is not None and closed.activation == "sigmoid"
    assert closed.params["head"] == "logistic_regression+prototypes"
    probs = head_probabilities(closed, x)
    assert probs.shape == (180, 3) and ((probs >= 0) & (probs <= 1)).all()
    plain = train_head(data, concepts, mutually_exclusive=False, closed_environment=True)
    helped_acc = (probs.argmax(axis=1) == truth).mean()
    plain_acc = (head_probabilities(plain, x).argmax(axis=1) == truth).mean()
    assert helped_acc >= plain_acc
    negatives = [frozenset(concepts) - {label} for label in (labels[i] for i in picks)]
    open_env = train_head(_data(x[picks], [labels[i] for i in picks], negatives), concepts,
                          mutually_exclusive=False, closed_environment=False,
                          context=Context(unlabelled=x))
    assert open_env.prototypes is None
    assert open_env.params["head"] == "logistic_regression"


def test_one_vs_rest_heads_share_one_temperature_fitted_out_of_fold():
    x, labels = _blobs(12, 3, spread=1.0, seed=5)
    for closed in (True, False):
        negatives = None if closed else [frozenset({"c0", "c1", "c2"}) - {lab} for lab in labels]
        head = train_head(_data(x, labels, negatives), ["c0", "c1", "c2"],
                          mutually_exclusive=False, closed_environment=closed)
        assert head.metrics["status"] == "ok"
        temperature = head.params["temperature"]
        assert temperature != 1.0
        unscaled = apply_head(head.weight, head.bias, "sigmoid", x, head.prototypes,
                              head.center, blend=head.params.get("blend", 0.5))
        assert np.allclose(head_probabilities(head, x),
                           apply_temperature(unscaled, temperature, "sigmoid"), atol=1e-6)


def test_large_sets_are_evaluated_on_a_stratified_sample(monkeypatch):
    import workers.cross_validation as cross_validation

    # Read from that one module by every part of the trainer.
    monkeypatch.setattr(cross_validation, "SELECTION_ROWS", 150)
    monkeypatch.setattr(cross_validation, "EVALUATION_ROWS", 300)
    x, labels = _blobs(200, 3, spread=0.8, seed=6)
    for exclusive in (True, False):
        head = train_head(_data(x, labels), ["c0", "c1", "c2"], mutually_exclusive=exclusive,
                          closed_environment=True)
        assert head.metrics["status"] == "ok" and head.metrics["evaluated_rows"] == 300
        assert head.counts["rows"] == 600  # the head itself learnt from every row
        support = sum(m["support"] for m in head.metrics["concepts"].values())
        assert support == 300 if exclusive else support >= 100


def test_sample_rows_keeps_class_shares_and_copes_with_singletons():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    keep = sample_rows(y, 100, seed=0)
    assert len(keep) == 100 and (np.diff(keep) > 0).all()
    assert np.bincount(y[keep]).tolist() == [60, 30, 10]
    assert sample_rows(y, 1000, seed=0) is None
    lone = np.concatenate([np.zeros(50, int), [1]])
    assert len(sample_rows(lone, 20, seed=0)) == 20
