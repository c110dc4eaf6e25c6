"""Typed views of the API's objects.

Each is a dataclass with the documented fields; ``raw`` keeps the whole JSON
object, so fields the API adds later are still reachable. Build them with
``from_dict``: unknown keys are kept in ``raw`` only, missing ones take defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

R = TypeVar("R", bound="Resource")
T = TypeVar("T")


@dataclass(kw_only=True)
class Resource:
    """Base: ``from_dict`` and the raw JSON."""

    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """Build from the API's JSON object (unknown keys stay in ``raw``)."""
        names = {f.name for f in fields(cls)} - {"raw"}
        values = {name: data[name] for name in names if name in data}
        values.update(cls._nested(data))
        return cls(raw=data, **values)

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Fields built from nested objects (overridden where there are some)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object this was built from."""
        return self.raw


@dataclass(kw_only=True)
class App(Resource):
    """An app (tenant)."""

    id: str
    created_at: float | None = None
    default_embedders: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class ApiKey(Resource):
    """An API key's public part (the secret is shown once, on creation)."""

    id: str
    created_at: float | None = None


@dataclass(kw_only=True)
class AppCreated(Resource):
    """``POST /v1/apps``: the app and its first API key (shown once)."""

    app: App
    api_key: str

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"app": App.from_dict(data["app"])}


@dataclass(kw_only=True)
class KeyCreated(Resource):
    """A new or rotated key and its full secret (shown once)."""

    key: ApiKey
    api_key: str

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"key": ApiKey.from_dict(data["key"])}


@dataclass(kw_only=True)
class Embedder(Resource):
    """An embedder the deployment offers."""

    id: str
    modalities: list[str] = field(default_factory=list)
    dim: int | None = None
    kind: str | None = None
    description: str | None = None


@dataclass(kw_only=True)
class Concept(Resource):
    """A concept: a stable id and a display name."""

    id: str
    name: str | None = None
    created_at: float | None = None


@dataclass(kw_only=True)
class InputStatus(Resource):
    """One input as the add call answers it: id, status and modality."""

    id: str
    status: str = "pending"
    modality: str | None = None


@dataclass(kw_only=True)
class Input(Resource):
    """A stored input: its data (or a description of its file), labels and metadata."""

    id: str
    status: str = "pending"
    data: dict[str, Any] = field(default_factory=dict)
    concepts: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    embedder: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    error: dict[str, Any] | None = None
    frames: int | None = None

    @property
    def positives(self) -> list[str]:
        """Ids of the concepts this input is a positive example of."""
        return [c["id"] for c in self.concepts if c.get("value", 1) == 1]


@dataclass(kw_only=True)
class Model(Resource):
    """A model: concepts (the output order), an embedder and head options."""

    id: str
    concepts: list[str] = field(default_factory=list)
    embedder: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    pinned_version: str | None = None
    default_version: str | None = None
    created_at: float | None = None


@dataclass(kw_only=True)
class Version(Resource):
    """A trained (or training, or failed) version of a model, with its metrics."""

    id: str
    model_id: str | None = None
    status: str = "queued"
    job_id: str | None = None
    embedder: str | None = None
    concepts: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    created_at: float | None = None
    trained_at: float | None = None
    training_seconds: float | None = None
    metrics: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    counts: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


@dataclass(kw_only=True)
class ConceptScore(Resource):
    """One concept of a prediction: id, display name, value in [0, 1]."""

    id: str
    name: str | None = None
    value: float = 0.0


def _scores(items: list[dict[str, Any]] | None) -> list[ConceptScore]:
    return [ConceptScore.from_dict(c) for c in items or []]


@dataclass(kw_only=True)
class Frame(Resource):
    """A sampled video frame's prediction."""

    time_ms: int = 0
    concepts: list[ConceptScore] = field(default_factory=list)

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"concepts": _scores(data.get("concepts"))}


@dataclass(kw_only=True)
class Output(Resource):
    """The prediction for one input: concepts highest first, or an ``error``."""

    input_id: str | None = None
    concepts: list[ConceptScore] = field(default_factory=list)
    frames: list[Frame] | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        frames = data.get("frames")
        return {"input_id": (data.get("input") or {}).get("id"),
                "concepts": _scores(data.get("concepts")),
                "frames": [Frame.from_dict(f) for f in frames] if frames is not None else None}

    @property
    def top(self) -> ConceptScore | None:
        """The highest-scoring concept (``None`` on an error or when all were filtered)."""
        return self.concepts[0] if self.concepts else None


@dataclass(kw_only=True)
class Prediction(Resource):
    """A predict answer: one output per input, in request order."""

    outputs: list[Output] = field(default_factory=list)
    model_version: str | None = None

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"outputs": [Output.from_dict(o) for o in data.get("outputs") or []]}


@dataclass(kw_only=True)
class Suggestion(Resource):
    """An unlabelled input worth labelling next, with its current prediction."""

    input: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    uncertainty: float = 0.0
    concepts: list[ConceptScore] = field(default_factory=list)

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"concepts": _scores(data.get("concepts"))}


@dataclass(kw_only=True)
class Suggestions(Resource):
    """``GET /v1/models/{id}/suggestions``."""

    suggestions: list[Suggestion] = field(default_factory=list)
    model_version: str | None = None
    candidates: int = 0

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"suggestions": [Suggestion.from_dict(s) for s in data.get("suggestions") or []]}


@dataclass(kw_only=True)
class Webhook(Resource):
    """A registered webhook endpoint (never its secret)."""

    id: str
    url: str = ""
    events: list[str] = field(default_factory=list)
    description: str | None = None
    enabled: bool = True
    disabled_reason: dict[str, Any] | None = None
    disabled_at: float | None = None
    failing_since: float | None = None
    created_at: float | None = None
    updated_at: float | None = None


@dataclass(kw_only=True)
class WebhookSecret(Resource):
    """A webhook and its signing secret (``whsec_...``), shown on creation and rotation."""

    webhook: Webhook
    secret: str

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"webhook": Webhook.from_dict(data["webhook"])}


@dataclass(kw_only=True)
class Delivery(Resource):
    """One delivery attempt of a webhook message."""

    message_id: str
    event_type: str | None = None
    attempt: int = 1
    replay: bool = False
    at: float | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    error: dict[str, Any] | None = None
    outcome: str | None = None
    next_attempt_at: float | None = None


@dataclass
class Page(Generic[T]):
    """One page of a listing and the token of the next (``None`` on the last)."""

    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
