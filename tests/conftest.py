"""Shared fixtures: test settings, a real Redis DB, a real Celery worker, the API client.

Settings come from the environment, so this module sets the test environment
before any Headstart module builds them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="headstart-tests-"))
# The Redis `make test` checked (REDIS_URL) when given, else DB 15 of the local one.
os.environ.setdefault("HEADSTART_REDIS_URL",
                      os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
# A prefix of its own per session: parallel runs on one Redis never meet.
os.environ["HEADSTART_REDIS_PREFIX"] = f"hstest-{uuid.uuid4().hex[:8]}"
os.environ["HEADSTART_QDRANT_PATH"] = str(_TMP / "qdrant")
os.environ["HEADSTART_MODEL_STORE"] = str(_TMP / "models")
# Exported ONNX models: once per test session (workers in subprocesses reuse them).
os.environ["HEADSTART_ONNX_CACHE_DIR"] = str(_TMP / "onnx")
os.environ["HEADSTART_ADMIN_KEY"] = "test-admin-key"
os.environ["HEADSTART_PREDICT_WAIT_SECONDS"] = "60"
os.environ["HEADSTART_QUERY_WAIT_SECONDS"] = "30"
# Empty beats any QDRANT_URL in the environment or a developer's .env: tests use
# local mode only.
os.environ.pop("QDRANT_URL", None)
os.environ["HEADSTART_QDRANT_URL"] = ""
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
# URL inputs come from a loopback server the tests start (private and link-local
# addresses stay refused).
os.environ["HEADSTART_FETCH_ALLOW_LOOPBACK"] = "true"
# Webhook retries in fractions of a second, so tests can watch a whole schedule
# (tests/integration/test_webhooks.py relies on these values).
os.environ["HEADSTART_WEBHOOK_TIMEOUT_SECONDS"] = "1"
os.environ["HEADSTART_WEBHOOK_MAX_ATTEMPTS"] = "4"
os.environ["HEADSTART_WEBHOOK_BACKOFF_BASE_SECONDS"] = "0.4"
os.environ["HEADSTART_WEBHOOK_BACKOFF_MAX_SECONDS"] = "3"
os.environ["HEADSTART_WEBHOOK_DISABLE_AFTER_SECONDS"] = "4"
# A tiny random CLIP saved like a real one exercises the CLIP path end to end.
TINY_CLIP = "tiny-clip"
os.environ["HEADSTART_CLIP_EMBEDDERS"] = json.dumps({TINY_CLIP: str(_TMP / "tiny-clip")})

from shared.settings import Settings, get_settings  # noqa: E402
from tests.tiny_clip import save_tiny_clip  # noqa: E402

# Before any settings or catalog read the folder (the API reads its vector size).
save_tiny_clip(_TMP / "tiny-clip")

ADMIN = {"Authorization": "Bearer test-admin-key"}


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The test settings (Redis DB 15, temp Qdrant and model store)."""
    return get_settings()


@pytest.fixture(scope="session")
def redis_client(settings: Settings):
    """A real Redis connection on an emptied test DB."""
    from shared.redis_store import connect

    client = connect(settings)
    client.ping()
    yield client
    keys = list(client.scan_iter(f"{settings.redis_prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])


@pytest.fixture(scope="session")
def runtime(settings: Settings, redis_client):
    """The worker runtime of this process (Qdrant local mode, real models)."""
    from workers.runtime import WorkerRuntime, set_runtime

    rt = WorkerRuntime(settings)
    set_runtime(rt)
    yield rt
    set_runtime(None)
    rt.close()


@pytest.fixture(scope="session")
def worker(runtime):
    """A real Celery worker (threads pool) consuming every queue over Redis."""
    from celery.contrib.testing.worker import start_worker

    from workers.celery_app import app as celery_app

    with start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False,
                      shutdown_timeout=30, loglevel="WARNING"):
        yield celery_app


@pytest.fixture(scope="session")
def flask_app(settings: Settings, redis_client):
    """The API app."""
    from api import create_app

    app = create_app(settings)
    app.testing = True
    return app


@pytest.fixture()
def client(flask_app):
    """A Flask test client."""
    return flask_app.test_client()


class Tenant:
    """An app created through the API, with helpers that speak for it."""

    def __init__(self, client: Any, app_id: str, api_key: str) -> None:
        self.client = client
        self.id = app_id
        self.key = api_key
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def get(self, path: str, **kw: Any):
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self.client.post(path, headers=self.headers, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any):
        return self.client.patch(path, headers=self.headers, json=json, **kw)

    def delete(self, path: str, **kw: Any):
        return self.client.delete(path, headers=self.headers, **kw)

    def wait_job(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Poll a job until it ends; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/v1/jobs/{job_id}").get_json()["job"]
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish in {timeout}s")

    def add_texts(self, items: list[tuple[str, str | None]], wait: bool = True,
                  id_prefix: str = "t") -> dict[str, Any]:
        """Add ``(text, concept)`` pairs with ids ``{id_prefix}{n}``; wait for the embed job."""
        inputs = []
        for n, (text, concept) in enumerate(items):
            entry: dict[str, Any] = {"id": f"{id_prefix}{n}", "data": {"text": text}}
            if concept:
                entry["concepts"] = [{"id": concept, "value": 1}]
            inputs.append(entry)
        return self.add_inputs(inputs, wait)

    def add_inputs(self, inputs: list[dict[str, Any]], wait: bool = True) -> dict[str, Any]:
        """Add inputs as given; wait for the embed job to end (succeeded)."""
        resp = self.post("/v1/inputs", json={"inputs": inputs})
        assert resp.status_code == 202, resp.get_json()
        body = resp.get_json()
        if wait:
            job = self.wait_job(body["job"]["id"])
            assert job["status"] == "succeeded", job
        return body

    def train(self, model_id: str) -> dict[str, Any]:
        """Train a version and wait; returns the version record."""
        resp = self.post(f"/v1/models/{model_id}/versions", json={})
        assert resp.status_code == 202, resp.get_json()
        body = resp.get_json()
        self.wait_job(body["job"]["id"])
        return self.get(f"/v1/models/{model_id}/versions/{body['version']['id']}").get_json()[
            "version"]


@pytest.fixture()
def tenant(client) -> Tenant:
    """A fresh app for one test."""
    app_id = f"app-{uuid.uuid4().hex[:10]}"
    resp = client.post("/v1/apps", json={"id": app_id}, headers=ADMIN)
    assert resp.status_code == 201, resp.get_json()
    return Tenant(client, app_id, resp.get_json()["api_key"])


@pytest.fixture()
def other_tenant(client) -> Tenant:
    """A second, unrelated app."""
    app_id = f"other-{uuid.uuid4().hex[:10]}"
    resp = client.post("/v1/apps", json={"id": app_id}, headers=ADMIN)
    assert resp.status_code == 201
    return Tenant(client, app_id, resp.get_json()["api_key"])


@pytest.fixture(scope="session")
def media():
    """A loopback HTTP server for URL inputs."""
    from tests.media import media_server

    with media_server() as server:
        yield server


@pytest.fixture()
def live(worker, tenant) -> Tenant:
    """A fresh app with the real worker running."""
    return tenant


@pytest.fixture()
def queue_down(flask_app, settings: Settings):
    """A context manager: while inside it, the API sends tasks to a broker that is down."""
    from contextlib import contextmanager

    from api.services import services
    from shared.celery_app import make_celery

    dead = make_celery(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    dead.conf.update(task_publish_retry=False, broker_connection_timeout=0.5,
                     broker_connection_retry=False, broker_connection_max_retries=0)
    with flask_app.app_context():
        dispatch = services().dispatch

    @contextmanager
    def down():
        healthy, dispatch.celery = dispatch.celery, dead
        try:
            yield
        finally:
            dispatch.celery = healthy

    return down


@pytest.fixture(scope="session")
def api_url(flask_app):
    """The API served over real HTTP on a loopback port (for the client and the CLI)."""
    from tests.live_server import serve

    with serve(flask_app) as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Cheap tests first: unit, then integration, then the fault tests' subprocesses.
    def cost(item: pytest.Item) -> int:
        path = str(item.fspath)
        return 0 if "/unit/" in path else 2 if "/faults/" in path else 1

    items.sort(key=cost)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # After the worker and the Qdrant client are closed: drop this run's folders.
    shutil.rmtree(_TMP, ignore_errors=True)
