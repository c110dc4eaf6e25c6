"""Test servers on loopback ports, each in a thread: the real Flask app (werkzeug), for
tests of HTTP clients (headstart.client, the CLI) against the live stack, and the
:func:`serving` helper every test HTTP server runs under."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in test output."""

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Run ``server`` in a daemon thread for the block; then stop it and free its port."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port, many threads); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_port}"
