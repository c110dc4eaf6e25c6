"""What the API talks to, built once per app: stores over Redis and the task sender."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from api.dispatch import Dispatcher
from shared.apps import AppStore
from shared.celery_app import make_celery
from shared.concepts import ConceptStore
from shared.inputs import InputStore
from shared.jobs import JobStore
from shared.model_registry import ModelRegistry
from shared.redis_store import connect
from shared.replies import Replies
from shared.settings import Settings


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

    @classmethod
    def build(cls, settings: Settings) -> "Services":
        """Connect to Redis and make the stores and the Celery sender."""
        client = connect(settings)
        prefix = settings.redis_prefix
        return cls(
            settings=settings,
            redis=client,
            apps=AppStore(client, prefix),
            jobs=JobStore(client, prefix),
            inputs=InputStore(client, prefix),
            concepts=ConceptStore(client, prefix),
            registry=ModelRegistry(client, prefix),
            dispatch=Dispatcher(make_celery(settings), Replies(client, prefix),
                                settings.query_wait_seconds),
        )


def services() -> Services:
    """The services of the running Flask app."""
    return current_app.extensions["headstart"]
