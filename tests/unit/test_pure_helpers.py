"""Small pure pieces: ids, labels, output shaping, error field paths, model store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from api.openapi import field_path
from shared.inputs import join_labels, split_labels
from shared.modelstore import ModelStore
from shared.vectors import collection_name, point_id
from workers.prediction import select_outputs


def test_point_ids_are_deterministic_and_app_scoped():
    assert point_id("a", "x") == point_id("a", "x")
    assert point_id("a", "x") != point_id("b", "x")
    assert point_id("a", "bx") != point_id("ab", "x")
    assert collection_name("all-minilm-l6-v2") == "headstart_all_minilm_l6_v2"


def test_labels_round_trip_and_positive_wins():
    pos, neg = split_labels([{"id": "b", "value": 1}, {"id": "a", "value": 0},
                             {"id": "b", "value": 0}])
    assert (pos, neg) == (["b"], ["a"])
    assert join_labels(pos, neg) == [{"id": "b", "value": 1}, {"id": "a", "value": 0}]


def test_select_outputs_applies_options_in_order():
    probs = np.array([[0.2, 0.7, 0.1]])
    names = {"a": "A", "b": "B", "c": "C"}
    full = select_outputs(probs, ["a", "b", "c"], names, {})
    assert [c["id"] for c in full[0]] == ["b", "a", "c"] and full[0][0]["name"] == "B"
    assert [c["id"] for c in select_outputs(probs, ["a", "b", "c"], names,
                                            {"min_value": 0.15})[0]] == ["b", "a"]
    assert [c["id"] for c in select_outputs(probs, ["a", "b", "c"], names,
                                            {"max_concepts": 1})[0]] == ["b"]
    assert [c["id"] for c in select_outputs(probs, ["a", "b", "c"], names,
                                            {"select_concepts": ["c", "a"]})[0]] == ["a", "c"]


@pytest.mark.parametrize("loc,path", [
    (("inputs", 0, "data", "text"), "inputs[0].data.text"),
    (("id",), "id"),
    ((), "body"),
])
def test_field_path(loc, path):
    assert field_path(loc) == path


def test_model_store_publishes_atomically_and_once(tmp_path):
    store = ModelStore(tmp_path)
    tensors = {"weight": np.ones((2, 3)), "bias": np.zeros(2)}
    folder = store.publish("app", "m", "1", tensors, {"concepts": ["a", "b"]})
    assert store.exists("app", "m", "1")
    # A redelivered train task publishing again keeps the first version untouched.
    store.publish("app", "m", "1", {"weight": np.zeros((2, 3)), "bias": np.ones(2)},
                  {"concepts": ["x"]})
    head = store.load("app", "m", "1")
    assert head.weight.tolist() == [[1, 1, 1]] * 2 and head.manifest == {"concepts": ["a", "b"]}
    assert json.loads((folder / "manifest.json").read_text()) == {"concepts": ["a", "b"]}
    assert not list(folder.parent.glob(".tmp-*"))
    raw = (folder / "head.safetensors").read_bytes()
    assert b"pickle" not in raw
    store.delete("app", "m", "1")
    assert not store.exists("app", "m", "1")
