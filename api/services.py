"""What the API talks to, built once per app: stores over Redis and the task sender."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from api.dispatch import Dispatcher
from shared.apps import AppStore
from shared.celery_app import make_celery
from shared.concepts import ConceptStore
from shared.events import Events
from shared.inputs import InputStore
from shared.jobs import JobStore
from shared.model_registry import ModelRegistry
from shared.redis_store import connect
from shared.replies import Replies
from shared.settings import Settings
from shared.webhooks import WebhookStore


@dataclass
class Services:
    """The API's collaborators (no models, no Qdrant: those live in workers)."""

    settings: Settings
    redis: redis.Redis
    apps: AppStore
    jobs: JobStore
    inputs: InputStore
    concepts: ConceptStore
    registry: ModelRegistry
    dispatch: Dispatcher
    webhooks: WebhookStore

    @classmethod
    def build(cls, settings: Settings) -> "Services":
        """Connect to Redis and make the stores and the Celery sender."""
        client = connect(settings)
        prefix = settings.redis_prefix
        celery = make_celery(settings)
        # State changes the API applies (a cancel, a job failed because the queue is
        # down) notify webhooks like the workers' do.
        events = Events(client, settings, celery)
        return cls(
            settings=settings,
            redis=client,
            apps=AppStore(client, prefix),
            jobs=JobStore(client, prefix, events),
            inputs=InputStore(client, prefix, events),
            concepts=ConceptStore(client, prefix),
            registry=ModelRegistry(client, prefix, events),
            dispatch=Dispatcher(celery, Replies(client, prefix), settings.query_wait_seconds),
            webhooks=WebhookStore(client, prefix),
        )


def services() -> Services:
    """The services of the running Flask app."""
    return current_app.extensions["headstart"]
