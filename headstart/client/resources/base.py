"""What every resource shares: the transport and path quoting."""

from __future__ import annotations

from urllib.parse import quote

from headstart.client.transport import Transport


def seg(value: str) -> str:
    """One path segment, percent-encoded (ids are validated by the API, not here)."""
    return quote(str(value), safe="")


class ResourceAPI:
    """Base of the resource namespaces (``client.models``, ``client.jobs``...)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport
