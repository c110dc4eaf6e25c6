"""Fault-test fixtures: each test gets its own Redis server, Qdrant folder, model
store, API app and worker subprocesses, so it can kill and restart them freely."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.inputs import InputStore
from shared.jobs import JobStore
from shared.model_registry import ModelRegistry
from shared.settings import Settings
from tests.conftest import ADMIN, Tenant
from tests.faults.processes import RedisServer, WorkerProcess, worker_env

# Short enough that a killed worker's task comes back within seconds; the time
# limits stay below it as the settings require. A test whose task may be held
# longer than this (a running task would be handed out again) sets its own.
FAST_REDELIVERY = {
    "visibility_timeout": 5,
    "task_time_limit": 4,
    "task_soft_time_limit": 3,
    "redelivery_check_seconds": 1,
}


class FaultEnv:
    """One isolated deployment: Redis server, folders, API client and workers."""

    def __init__(self, root: Path, **overrides: Any) -> None:
        self.root = root
        self.redis = RedisServer(root / "redis")
        self.redis.start()
        self.overrides = {
            "redis_url": self.redis.url,
            "redis_prefix": f"hsfault-{uuid.uuid4().hex[:6]}",
            "qdrant_path": root / "qdrant",
            "model_store": root / "models",
            **FAST_REDELIVERY,
            **overrides,
        }
        self.settings = Settings(**self.overrides)
        self.workers: list[WorkerProcess] = []
        from api import create_app

        app = create_app(self.settings)
        app.testing = True
        self.client = app.test_client()
        store = self.redis.client()
        self.jobs = JobStore(store, self.settings.redis_prefix)
        self.registry = ModelRegistry(store, self.settings.redis_prefix)
        self.inputs = InputStore(store, self.settings.redis_prefix)

    def worker(self, pool: str = "threads", concurrency: int = 2) -> WorkerProcess:
        """Start one more worker subprocess against this deployment."""
        env = worker_env(**self.overrides)
        proc = WorkerProcess(env, self.root / f"worker-{len(self.workers)}.log", pool,
                             concurrency)
        self.workers.append(proc)
        return proc.start()

    def statuses(self, app: str, input_ids: list[str]) -> dict[str, str]:
        """Input statuses straight from Redis (the API asks a worker for embedded ones)."""
        return {i: s["status"] for i, s in self.inputs.statuses(app, input_ids).items()}

    def tenant(self) -> Tenant:
        """A new app on this deployment's API."""
        app_id = f"fault-{uuid.uuid4().hex[:8]}"
        resp = self.client.post("/v1/apps", json={"id": app_id}, headers=ADMIN)
        assert resp.status_code == 201, resp.get_json()
        return Tenant(self.client, app_id, resp.get_json()["api_key"])

    @contextmanager
    def vectors(self) -> Iterator[Any]:
        """Open the Qdrant folder (only while no worker holds it)."""
        from shared.vectors import VectorStore

        store = VectorStore(self.settings)
        try:
            yield store
        finally:
            store.close()

    def logs(self) -> str:
        """Every worker's log tail, for assertion messages."""
        return "\n".join(f"--- {w.log_path.name}\n{w.log_tail()}" for w in self.workers)

    def close(self) -> None:
        for proc in self.workers:
            if proc.process is not None:
                proc.kill()
        self.redis.stop()


@pytest.fixture()
def fault_env() -> Iterator[Any]:
    """A factory of :class:`FaultEnv` (settings overrides as keywords)."""
    made: list[FaultEnv] = []
    root = Path(tempfile.mkdtemp(prefix="headstart-faults-"))

    def make(**overrides: Any) -> FaultEnv:
        env = FaultEnv(root / str(len(made)), **overrides)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
        # Shown by pytest only when the test failed.
        print(env.logs())
    shutil.rmtree(root, ignore_errors=True)
