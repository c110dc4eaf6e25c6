"""Real processes for fault tests: a Redis server on a spare port, Celery worker
subprocesses started as deployed, and an HTTP gate that holds a fetch until told.

Nothing here fakes a Headstart component: the worker is ``celery -A
workers.celery_app worker`` with its environment, Redis is ``redis-server``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

from shared.celery_app import QUEUES as CELERY_QUEUES

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"
QUEUES = ",".join(CELERY_QUEUES)
READY_LINE = "ready."


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A ``redis-server`` of the test's own, with AOF on like production."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        """Start the server (on the same port and data folder every time)."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the fault tests"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--save", "", "--maxmemory-policy", "noeviction",
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, 10, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        """A fresh client (strings decoded)."""
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def stop(self) -> None:
        """Shut down as a restart does: SIGTERM, the AOF flushed, connections closed."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


class WorkerProcess:
    """``celery -A workers.celery_app worker`` as a subprocess, with its own log."""

    def __init__(self, env: dict[str, str], log: Path, pool: str = "threads",
                 concurrency: int = 2) -> None:
        self.env, self.log_path, self.pool, self.concurrency = env, log, pool, concurrency
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> "WorkerProcess":
        """Start the worker and wait until it consumes (its models loaded)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(CELERY), "-A", "workers.celery_app", "worker", "--pool", self.pool,
             "--concurrency", str(self.concurrency), "-Q", QUEUES, "--loglevel", "INFO",
             # Neither changes how tasks are delivered; both only slow the start.
             "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(lambda: self._ready() or self._died(), timeout, "the worker to be ready", 0.1)
        assert self.process.poll() is None, f"worker exited:\n{self.log_tail()}"
        return self

    def _ready(self) -> bool:
        return READY_LINE in self.log_path.read_text(errors="replace")

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def children(self) -> list[int]:
        """Pids of the worker's child processes (the prefork pool)."""
        found: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(pid) for pid in text]
        return found

    def kill(self) -> None:
        """SIGKILL the worker: no shutdown, no ack, no cleanup."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), as `docker stop` does; kill if it hangs."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the worker's log, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def worker_env(**settings: Any) -> dict[str, str]:
    """This process's environment with ``HEADSTART_<NAME>`` overrides for a worker."""
    env = dict(os.environ)
    env.update({f"HEADSTART_{name.upper()}": str(value) for name, value in settings.items()})
    env["GLIBC_TUNABLES"] = (ROOT / "scripts" / "malloc-tunables").read_text().strip()
    env["HF_HUB_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


class Gate:
    """An HTTP server whose one path answers only once the test opens the gate.

    A worker fetching the gated URL is provably in the middle of its task, with
    the batches before it written: the test kills or cancels it there.
    """

    def __init__(self, body: bytes, content_type: str = "image/png") -> None:
        self.body, self.content_type = body, content_type
        self.requests = 0
        self.opened = threading.Event()
        self._lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with gate._lock:
                    gate.requests += 1
                gate.opened.wait(timeout=120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", gate.content_type)
                    self.send_header("Content-Length", str(len(gate.body)))
                    self.end_headers()
                    self.wfile.write(gate.body)
                except OSError:
                    pass  # the worker that asked was killed meanwhile

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/held.png"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Gate":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.opened.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait_requests(self, count: int, timeout: float = 60) -> None:
        """Wait until the gated URL was asked for ``count`` times in all."""
        wait_for(lambda: self.requests >= count, timeout, f"fetch number {count} of the gate")
