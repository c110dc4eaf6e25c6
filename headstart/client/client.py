"""The :class:`Client`: one object per API, with a namespace per resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from headstart.client.batching import MAX_INPUTS_PER_REQUEST, MAX_REQUEST_BYTES
from headstart.client.resources.apps import Apps, Embedders, Keys
from headstart.client.resources.concepts import Concepts
from headstart.client.resources.inputs import Inputs
from headstart.client.resources.jobs import Jobs
from headstart.client.resources.models import Models, Versions
from headstart.client.resources.predict import Predictor
from headstart.client.resources.webhooks import Webhooks
from headstart.client.retry import RetryPolicy
from headstart.client.transport import DEFAULT_TIMEOUT, RetryHook, Transport


class Client:
    """A Headstart API client.

    Example::

        from headstart.client import Client

        hs = Client("http://127.0.0.1:8000", api_key="hsk_...")
        hs.inputs.add_texts(["The striker scored twice."], concepts=["sports"])
        hs.models.create("topics", ["sports", "cooking"], mutually_exclusive=True)
        version = hs.versions.train("topics")          # waits; raises JobFailed on failure
        print(hs.predict("topics", ["Stir the risotto"]).outputs[0].top)

    Args:
        url: The API's root, e.g. ``http://127.0.0.1:8000``.
        api_key: The app's API key (``hsk_...``).
        admin_key: The deployment's admin key; only ``apps.create`` uses it.
        timeout: Seconds per HTTP attempt.
        retry: Retry policy for 429, 503 and network errors (``RetryPolicy(max_retries=0)``
            disables retries).
        max_batch_inputs: Inputs per add/predict request (the API's default cap is 128).
        max_batch_bytes: Bytes per add/predict request, roughly (the API's default cap is
            32 MiB).
        http_client: An ``httpx.Client`` to send with (proxies, TLS, event hooks).
        on_retry: Called before each retry with (retry number, wait seconds, reason).

    Attributes:
        apps, keys, embedders, inputs, concepts, models, versions, jobs, webhooks: The
            resource namespaces.
        predict: Callable: ``client.predict(model_id, inputs, ...)``; ``predict.submit``
            queues a predict job instead.
    """

    def __init__(self, url: str, api_key: str | None = None, *, admin_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 max_batch_inputs: int = MAX_INPUTS_PER_REQUEST,
                 max_batch_bytes: int = MAX_REQUEST_BYTES,
                 http_client: httpx.Client | None = None, on_retry: RetryHook | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.transport = Transport(url, api_key, admin_key=admin_key, timeout=timeout,
                                   retry=retry, http_client=http_client, on_retry=on_retry,
                                   **extra)
        t = self.transport
        self.apps = Apps(t)
        self.keys = Keys(t)
        self.embedders = Embedders(t)
        self.inputs = Inputs(t, max_batch_inputs, max_batch_bytes)
        self.concepts = Concepts(t)
        self.models = Models(t)
        self.versions = Versions(t)
        self.jobs = Jobs(t)
        self.webhooks = Webhooks(t)
        self.predict = Predictor(t, max_batch_inputs, max_batch_bytes)

    @property
    def url(self) -> str:
        """The API's root URL."""
        return self.transport.base_url

    def health(self) -> bool:
        """Whether ``GET /healthz`` answers ``ok`` (no key needed)."""
        return (self.transport.request("GET", "/healthz") or {}).get("status") == "ok"

    def close(self) -> None:
        """Close the connection pool."""
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"
