"""Request limits from the settings, checked before anything is stored."""

from __future__ import annotations

import json
from typing import Any

from shared.errors import InvalidField, PayloadTooLarge
from shared.settings import Settings


def check_count(settings: Settings, count: int, field: str = "inputs") -> None:
    """At most ``max_inputs_per_request`` items per call (413 beyond)."""
    if count > settings.max_inputs_per_request:
        raise PayloadTooLarge(
            f"{field}: {count} items; at most {settings.max_inputs_per_request} per request",
            details={"field": field, "limit": settings.max_inputs_per_request, "count": count})


def check_text(settings: Settings, text: str, field: str) -> None:
    """Text length cap (422 naming the field)."""
    if len(text) > settings.max_text_chars:
        raise InvalidField(field, f"text has {len(text)} characters; the limit is "
                           f"{settings.max_text_chars}", details={"limit": settings.max_text_chars})
    if not text.strip():
        raise InvalidField(field, "text is blank")


def check_metadata(settings: Settings, metadata: dict[str, Any], field: str) -> None:
    """Metadata must stay small: it rides in every Qdrant payload."""
    size = len(json.dumps(metadata))
    if size > settings.max_metadata_bytes:
        raise InvalidField(field, f"metadata is {size} bytes as JSON; the limit is "
                           f"{settings.max_metadata_bytes}",
                           details={"limit": settings.max_metadata_bytes})


def check_concepts(settings: Settings, concepts: list[Any], field: str) -> None:
    """Cap on labels per input."""
    if len(concepts) > settings.max_concepts_per_input:
        raise InvalidField(field, f"{len(concepts)} concepts; at most "
                           f"{settings.max_concepts_per_input} per input")
