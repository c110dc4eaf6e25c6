"""Request bodies that come as JSON or as multipart (JSON part + file parts).

A multipart request carries the same JSON body in a part named ``json``; its
media are other parts, referenced by name as ``{"image": {"file": "<part>"}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from api.openapi import invalid_field
from shared.errors import MalformedRequest

Body = TypeVar("Body", bound=BaseModel)
MULTIPART = "multipart/form-data"


def accepts_multipart(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as taking multipart bodies too (others insist on JSON)."""
    view.accepts_multipart = True  # type: ignore[attr-defined]
    return view


def json_or_multipart(model: type[Body]) -> tuple[Body, Mapping[str, bytes]]:
    """The validated body and the bytes of the request's file parts (none for JSON).

    Parts are read once here (the request size cap bounds them), so two inputs
    may name the same part.

    Raises:
        MalformedRequest: The ``json`` part is not JSON.
        InvalidField: The body does not match ``model``.
    """
    if request.mimetype != MULTIPART:
        return request.context.json, {}
    try:
        payload = json.loads(request.form["json"])
    except ValueError as exc:
        raise MalformedRequest("the multipart part 'json' is not valid JSON",
                               details={"field": "json"}) from exc
    try:
        body = model.model_validate(payload)
    except ValidationError as exc:
        raise invalid_field(exc) from exc
    return body, {name: part.read() for name, part in request.files.items()}
