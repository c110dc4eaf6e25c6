"""Per-process worker resources: stores, the Qdrant client, embedders, head cache.

Built once per worker process (after fork) and shared by its task threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import redis

from shared.concepts import ConceptStore
from shared.events import Events
from shared.inputs import InputStore
from shared.jobs import JobStore
from shared.model_registry import ModelRegistry
from shared.modelstore import ModelStore, StoredHead
from shared.redis_store import bytes_client, connect
from shared.replies import Replies
from shared.settings import Settings
from shared.vectors import VectorStore
from shared.webhooks import WebhookStore
from workers.blas_threads import hold_to_one
from workers.embedders import EmbedderRegistry


class HeadCache:
    """LRU of loaded heads keyed by (app, model, version).

    Versions are immutable, so a cached head is never stale; when a model's
    default moves to another version the heads of its older defaults are dropped.
    """

    def __init__(self, store: ModelStore, size: int) -> None:
        self.store = store
        self.size = size
        self._heads: OrderedDict[tuple[str, str, str], StoredHead] = OrderedDict()
        self._defaults: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, app: str, model: str, version: str, is_default: bool) -> StoredHead:
        """Return the head, loading it from the model store on a miss."""
        key = (app, model, version)
        with self._lock:
            if is_default:
                old = self._defaults.get((app, model))
                if old is not None and old != version:
                    self._heads.pop((app, model, old), None)
                self._defaults[(app, model)] = version
            head = self._heads.get(key)
            if head is not None:
                self._heads.move_to_end(key)
                return head
        head = self.store.load(app, model, version)
        with self._lock:
            self._heads[key] = head
            while len(self._heads) > self.size:
                self._heads.popitem(last=False)
        return head

    def drop(self, app: str, model: str, version: str) -> None:
        """Forget a deleted version's head."""
        with self._lock:
            self._heads.pop((app, model, version), None)

    def cached(self) -> list[tuple[str, str, str]]:
        """Keys currently cached (for tests and introspection)."""
        with self._lock:
            return list(self._heads)


@dataclass
class WorkerRuntime:
    """Everything a task needs, opened once per process."""

    settings: Settings
    redis: redis.Redis = field(init=False)
    jobs: JobStore = field(init=False)
    inputs: InputStore = field(init=False)
    concepts: ConceptStore = field(init=False)
    registry: ModelRegistry = field(init=False)
    vectors: VectorStore = field(init=False)
    models: ModelStore = field(init=False)
    embedders: EmbedderRegistry = field(init=False)
    heads: HeadCache = field(init=False)
    replies: Replies = field(init=False)
    webhooks: WebhookStore = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        # Process-wide, once: numpy and scipy each bring an OpenBLAS, and with several
        # threads each they spin against one another on matrices as small as a head's.
        # One thread trains a 1k-vector softmax head ~18x faster on 2 cores
        # (docs/benchmarks.md); the task threads keep the other cores busy. Large heads
        # get every core for their training (workers/blas_threads.py, counted across
        # task threads: the library setting is global, not per thread). Torch's own
        # OpenMP pool is not a BLAS pool and keeps its threads.
        hold_to_one()
        self.redis = connect(s)
        self.redis_bytes = bytes_client(self.redis)  # reads of media and staged requests
        # Jobs, versions and inputs ending here notify the apps' webhooks.
        events = Events(self.redis, s)
        self.jobs = JobStore(self.redis, s.redis_prefix, events)
        self.inputs = InputStore(self.redis, s.redis_prefix, events, raw=self.redis_bytes)
        self.concepts = ConceptStore(self.redis, s.redis_prefix)
        self.registry = ModelRegistry(self.redis, s.redis_prefix, events)
        self.webhooks = WebhookStore(self.redis, s.redis_prefix)
        self.vectors = VectorStore(s)
        self.models = ModelStore(s.model_store)
        self.embedders = EmbedderRegistry(s)
        self.heads = HeadCache(self.models, s.head_cache_size)
        self.replies = Replies(self.redis, s.redis_prefix)

    def close(self) -> None:
        """Release the Qdrant client and Redis connections."""
        self.vectors.close()
        self.redis.close()
        self.redis_bytes.connection_pool.disconnect()


_runtime: WorkerRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime(settings: Settings | None = None) -> WorkerRuntime:
    """The process's runtime, built on first call (after fork, in the task thread)."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                from shared.settings import get_settings

                _runtime = WorkerRuntime(settings or get_settings())
    return _runtime


def set_runtime(runtime: WorkerRuntime | None) -> None:
    """Install (or clear) the process runtime; used by the worker entry point and tests."""
    global _runtime
    with _runtime_lock:
        _runtime = runtime
