"""SQLite tuning of qdrant-client's local mode (the embedded Qdrant), reached defensively.

Local mode keeps each collection in its own SQLite file and commits once per point
(``qdrant_client/local/persistence.py``). With SQLite's default rollback journal and
``synchronous=FULL`` each commit syncs the database file and its journal, which made
an upsert cost ~1.2 ms a point, most of it the commit. In write-ahead-log mode with
``synchronous=NORMAL`` a commit appends to the log and syncs only at checkpoints:
~0.3 ms a point. WAL + NORMAL survives a crash or SIGKILL of the process (a committed
transaction is in the OS's hands once the commit returns); only an OS crash or a power
loss can lose the last commits. A Qdrant server (``QDRANT_URL``), the production
setup, has its own storage: none of this applies there.

The connections are private attributes of qdrant-client (1.20:
``client._client.collections[name].storage.storage``), so every step is a getattr
that may find nothing; then the collection stays as qdrant-client made it and one
message is logged, so an upgrade that changes the shape cannot break a worker.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

log = logging.getLogger(__name__)

# The mode is stored in the database file; synchronous is per connection, so both are
# set on every connection opened (setting WAL again is a no-op).
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")

_reported = threading.Event()


def _report_once(message: str, *args: Any) -> None:
    if not _reported.is_set():
        _reported.set()
        log.info(message, *args)


def local_collections(client: Any) -> dict[str, Any] | None:
    """The local-mode collections of a ``QdrantClient`` by name; None when not local mode
    (or when qdrant-client no longer has this shape)."""
    collections = getattr(getattr(client, "_client", None), "collections", None)
    return collections if isinstance(collections, dict) else None


def collection_connection(client: Any, name: str) -> sqlite3.Connection | None:
    """The SQLite connection of one local-mode collection, when there is one (on disk)."""
    collection = (local_collections(client) or {}).get(name)
    connection = getattr(getattr(collection, "storage", None), "storage", None)
    return connection if isinstance(connection, sqlite3.Connection) else None


def tune_collection(client: Any, name: str) -> bool:
    """Put one local collection's SQLite file in WAL mode with ``synchronous=NORMAL``.

    Returns:
        Whether the collection now runs in WAL mode. False (and one log message per
        process) when the client is not local mode on disk, the attributes are not
        where qdrant-client 1.20 has them, or SQLite refuses.
    """
    connection = collection_connection(client, name)
    if connection is None:
        if local_collections(client) is not None:
            _report_once("Qdrant local mode: no SQLite connection found for %s; "
                         "keeping qdrant-client's journal settings", name)
        return False
    try:
        mode = connection.execute(PRAGMAS[0]).fetchone()
        connection.execute(PRAGMAS[1])
    except sqlite3.Error as exc:
        # E.g. inside an open transaction, or a connection bound to another thread.
        _report_once("Qdrant local mode: could not switch %s to WAL (%s: %s)",
                     name, type(exc).__name__, exc)
        return False
    return bool(mode) and str(mode[0]).lower() == "wal"


def tune_all(client: Any) -> int:
    """Tune every local collection the client has open; returns how many run in WAL."""
    collections = local_collections(client)
    if collections is None:
        return 0
    return sum(tune_collection(client, name) for name in list(collections))
