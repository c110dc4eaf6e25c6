"""A real HTTP webhook receiver on 127.0.0.1: records every POST and answers from
a script per path (status, headers, delay), then 200."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.live_server import serving


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: HTTP status.
        headers: Extra headers, or a function making them when the request arrives.
        delay: Seconds to wait before answering (a slow or hung receiver).
    """

    status: int = 200
    headers: dict[str, str] | Callable[[], dict[str, str]] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Hit:
    """One request as it arrived: wall-clock time (after the body), headers, body."""

    path: str
    at: float
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Scripted loopback endpoint; thread-safe."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.answered: dict[str, list[tuple[float, dict[str, str]]]] = {}
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = receiver._record(Hit(self.path, time.time(), dict(self.headers), body))
                time.sleep(reply.delay)
                headers = reply.headers() if callable(reply.headers) else reply.headers
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting (a timeout test)
                with receiver._cond:
                    receiver.answered.setdefault(self.path, []).append((time.time(), headers))

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _record(self, hit: Hit) -> Reply:
        with self._cond:
            self.hits.append(hit)
            self._cond.notify_all()
            script = self.scripts.get(hit.path)
            return script.pop(0) if script else Reply()

    def url(self, path: str) -> str:
        """The URL of ``path`` on this receiver."""
        return self.base + path

    def script(self, path: str, *replies: Reply | int) -> None:
        """Answer the next requests to ``path`` with ``replies`` in order, then 200."""
        with self._cond:
            self.scripts[path] = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def hits_of(self, path: str) -> list[Hit]:
        """Requests to ``path`` so far, oldest first."""
        with self._cond:
            return [h for h in self.hits if h.path == path]

    def wait(self, path: str, count: int, timeout: float = 30.0) -> list[Hit]:
        """Block until ``path`` got ``count`` requests; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [h for h in self.hits if h.path == path]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{path}: {len(hits)} of {count} requests in {timeout}s")
                self._cond.wait(left)


@contextmanager
def receiver_server() -> Iterator[Receiver]:
    """A running :class:`Receiver`."""
    receiver = Receiver()
    with serving(receiver.httpd):
        yield receiver
