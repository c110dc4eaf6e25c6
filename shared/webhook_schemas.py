"""Request and response shapes of ``/v1/webhooks`` (pydantic; also the OpenAPI source)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.events import EVENT_TYPES

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


def _unique(events: list[str] | None) -> list[str] | None:
    if events is not None and len(events) != len(set(events)):
        raise ValueError("an event type may appear once")
    return events


# --- requests --------------------------------------------------------------------
class WebhookCreate(_Strict):
    url: str = Field(min_length=1, max_length=2048,
                     description="http(s) URL the events are POSTed to; must be public.")
    events: list[EventType] = Field(min_length=1, description="Event types to receive.")
    description: str | None = Field(default=None, max_length=500)

    _events_unique = field_validator("events")(_unique)


class WebhookPatch(_Strict):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500,
                                    description="`null` clears it.")
    enabled: bool | None = Field(
        default=None, description="true re-enables a disabled endpoint (its failing streak "
        "starts again); false disables it.")

    _events_unique = field_validator("events")(_unique)


class DeliveriesQuery(_Strict):
    page_token: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


# --- responses ---------------------------------------------------------------------
class Webhook(_Open):
    id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    disabled_reason: dict[str, Any] | None = Field(
        default=None, description='Why it was disabled: `{"code", "message"}`; code `gone` '
        "(answered 410), `failing` (failed too long) or `disabled_by_app`.")
    disabled_at: float | None = None
    failing_since: float | None = Field(
        default=None, description="Start of the current run of failed attempts, if any.")
    created_at: float


class WebhookResponse(_Open):
    webhook: Webhook


class WebhookCreated(_Open):
    webhook: Webhook
    secret: str = Field(description="`whsec_...` signing secret, shown once.")


class WebhooksResponse(_Open):
    webhooks: list[Webhook]


class Delivery(_Open):
    message_id: str
    event_type: str
    attempt: int
    replay: bool
    at: float
    status_code: int | None
    latency_ms: float
    error: dict[str, Any] | None
    outcome: str = Field(description="`succeeded`, `retrying`, `failed` or `disabled`.")
    next_attempt_at: float | None


class DeliveriesResponse(_Open):
    deliveries: list[Delivery]
    next_page_token: str | None = None


class ReplayQueued(_Open):
    webhook_id: str
    message_id: str
    status: str
