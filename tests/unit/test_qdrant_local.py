"""Qdrant local mode through VectorStore: SQLite in WAL mode, points kept across reopening."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from shared import qdrant_local
from shared.qdrant_local import collection_connection, tune_collection
from shared.settings import Settings
from shared.vectors import VectorStore, collection_name

EMBEDDER = "test-embedder"
OTHER = "other-embedder"


def _store(path: Path) -> VectorStore:
    return VectorStore(Settings(_env_file=None, qdrant_url=None, qdrant_path=path))


def _pragmas(store: VectorStore, embedder_id: str) -> tuple[str, int]:
    connection = collection_connection(store.client, collection_name(embedder_id))
    assert connection is not None
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
    return mode, synchronous


def _points(n: int, seed: int) -> list[tuple[str, np.ndarray, dict]]:
    vectors = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # as embedders give them
    return [(f"in{k}", vectors[k], {"positive": ["cat"], "negative": []}) for k in range(n)]


def test_local_collections_run_in_wal_and_keep_points_across_reopen(tmp_path: Path) -> None:
    store = _store(tmp_path / "qdrant")
    items = _points(20, seed=0)
    store.upsert(EMBEDDER, "app", items)
    # Created by ensure_collection: WAL, and synchronous=NORMAL (1) instead of FULL (2).
    assert _pragmas(store, EMBEDDER) == ("wal", 1)
    store.close()

    store = _store(tmp_path / "qdrant")
    try:
        # Loaded when the client opens the folder: tuned again (synchronous is per connection).
        assert _pragmas(store, EMBEDDER) == ("wal", 1)
        assert store.count(EMBEDDER, "app") == 20
        got = store.retrieve(EMBEDDER, "app", [i for i, _, _ in items], with_vectors=True)
        for input_id, vector, _ in items:
            np.testing.assert_allclose(got[input_id].vector, vector, atol=1e-6)
            assert got[input_id].payload["positive"] == ["cat"]
        # A second collection created after reopening is tuned too; writes still land.
        store.upsert(OTHER, "app", _points(3, seed=1))
        assert _pragmas(store, OTHER) == ("wal", 1)
        store.delete(EMBEDDER, "app", ["in0"])
    finally:
        store.close()

    store = _store(tmp_path / "qdrant")
    try:
        assert (store.count(EMBEDDER, "app"), store.count(OTHER, "app")) == (19, 3)
    finally:
        store.close()


def test_an_unexpected_client_shape_is_skipped_quietly(caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    class Collection:
        storage = None  # in-memory local mode, or a future qdrant-client

    class Local:
        collections = {"c": Collection()}

    class Client:
        _client = Local()

    monkeypatch.setattr(qdrant_local, "_reported", type(qdrant_local._reported)())
    with caplog.at_level(logging.INFO, logger="shared.qdrant_local"):
        assert tune_collection(Client(), "c") is False
        assert tune_collection(Client(), "missing") is False
        assert tune_collection(object(), "c") is False  # a server client: nothing to do
    assert len(caplog.records) == 1 and "keeping qdrant-client" in caplog.text


def test_sqlite_refusing_the_switch_keeps_the_collection(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "db.sqlite")
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES (1)")  # opens a transaction: WAL is refused

    class Client:
        class _client:  # noqa: N801 - mirrors qdrant-client's attribute names
            collections = {"c": type("C", (), {"storage": type("P", (), {"storage": connection})})}

    monkeypatch.setattr(qdrant_local, "_reported", type(qdrant_local._reported)())
    assert tune_collection(Client(), "c") is False
    connection.commit()
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
