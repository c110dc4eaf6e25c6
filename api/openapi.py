"""The SpecTree instance: validates requests against the pydantic schemas and
generates the OpenAPI document at ``/v1/openapi.json`` from the routes."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from spectree import SecurityScheme, SpecTree

from shared.errors import InvalidField


def field_path(loc: tuple[Any, ...]) -> str:
    """``("inputs", 0, "data", "text")`` → ``inputs[0].data.text``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _raise_validation_error(_req: Any, _resp: Any, error: Exception | None, *_: Any) -> None:
    """SpecTree `before` hook: turn pydantic's errors into our 422 shape."""
    if isinstance(error, ValidationError):
        problems = [{"field": field_path(e["loc"]), "message": e["msg"]} for e in error.errors()]
        first = problems[0]
        raise InvalidField(first["field"], first["message"], details={"errors": problems})


spec = SpecTree(
    "flask",
    title="Headstart API",
    version="v1",
    path="v1",
    annotations=False,
    validation_error_status=422,
    before=_raise_validation_error,
    security_schemes=[
        SecurityScheme(name="bearer", data={"type": "http", "scheme": "bearer"}),
        SecurityScheme(name="admin", data={"type": "http", "scheme": "bearer",
                                           "description": "HEADSTART_ADMIN_KEY"}),
    ],
    security={"bearer": []},
)
