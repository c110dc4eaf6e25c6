"""The SpecTree instance: validates requests against the pydantic schemas and
generates the OpenAPI document from the routes, served at ``/v1/openapi.json``
(and browsable at ``/docs/swagger`` and ``/docs/redoc``)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from spectree import SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

from shared.errors import InvalidField


def field_path(loc: tuple[Any, ...]) -> str:
    """``("inputs", 0, "data", "text")`` → ``inputs[0].data.text``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def invalid_field(error: ValidationError) -> InvalidField:
    """Pydantic's errors as our 422, naming the first bad field."""
    problems = [{"field": field_path(e["loc"]), "message": e["msg"]} for e in error.errors()]
    first = problems[0]
    return InvalidField(first["field"], first["message"], details={"errors": problems})


def _raise_validation_error(_req: Any, _resp: Any, error: Exception | None, *_: Any) -> None:
    """SpecTree `before` hook: turn pydantic's errors into our 422 shape."""
    if isinstance(error, ValidationError):
        raise invalid_field(error)


spec = SpecTree(
    "flask",
    title="Headstart API",
    version="v1",
    # SpecTree leaves routes under its own path out of the document, so its pages
    # live under /docs and /v1/openapi.json is served by `openapi_document` below.
    path="docs",
    annotations=False,
    validation_error_status=422,
    before=_raise_validation_error,
    security_schemes=[
        SecurityScheme(name="bearer", data=SecuritySchemeData(
            type=SecureType.HTTP, scheme="bearer", description="An app's API key")),
        SecurityScheme(name="admin", data=SecuritySchemeData(
            type=SecureType.HTTP, scheme="bearer", description="HEADSTART_ADMIN_KEY")),
    ],
    security={"bearer": []},
)


def openapi_document() -> Any:
    """The generated OpenAPI document as a JSON response."""
    from flask import jsonify

    return jsonify(spec.spec)
