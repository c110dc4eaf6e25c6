"""Headstart as deployed, for benchmarks: the API under gunicorn and a Celery worker
(threads pool), started as subprocesses the way ``scripts/run_local.sh`` starts them,
plus an HTTP client that the Flask-test-client helpers of ``bench_core`` accept.

The processes take their settings from this process's environment (set it with
``bench_core.configure_env`` first), listen on a free loopback port, log to files in
a folder of the caller's, and are stopped (SIGTERM, then SIGKILL after a grace
period) when the context manager exits.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv running this benchmark
READY_LINE = "ready."  # what a Celery worker logs once it consumes
START_TIMEOUT_S = 300.0  # model loading on a loaded 2-core machine can take a minute
STOP_GRACE_S = 30.0


class HttpApi(httpx.Client):
    """An httpx client that speaks like Flask's test client.

    The helpers of ``bench_core`` and ``bench_images`` (``Client``, ``expect``,
    ``new_app``, ``pipeline_once``, ...) were written against the test client; with
    this they run unchanged over real HTTP: responses answer ``get_json()``, and
    ``data=<bytes>, content_type=...`` send a raw body.
    """

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # noqa: D102
        content_type = kwargs.pop("content_type", None)
        if content_type is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Content-Type": content_type}
        if isinstance(kwargs.get("data"), bytes):
            kwargs["content"] = kwargs.pop("data")
        response = super().request(method, url, **kwargs)
        response.get_json = response.json  # type: ignore[attr-defined]
        return response

    # httpx's own get/post refuse ``content_type``: route them through request().
    def get(self, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]  # noqa: D102
        return self.request("GET", url, **kwargs)

    def post(self, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]  # noqa: D102
        return self.request("POST", url, **kwargs)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def malloc_tunables() -> str:
    """The worker's allocator settings, as ``scripts/run_local.sh`` applies them."""
    return os.environ.get("GLIBC_TUNABLES") or (ROOT / "scripts" / "malloc-tunables"
                                                ).read_text().strip()


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of a process, in KiB, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def own_cpu_seconds() -> float:
    """CPU seconds this process (every thread of it) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used, its ended threads included (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct child pids of a process (gunicorn's workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               alive: Callable[[], str | None]) -> None:
    """Poll ``check`` until true; fail when ``alive`` reports a dead process or on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        dead = alive()
        if dead:
            raise RuntimeError(dead)
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def log_tail(path: Path, lines: int = 40) -> str:
    """The end of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Deployment:
    """The running API and worker."""

    url: str
    api: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    logs: Path

    def worker_memory(self) -> dict[str, int]:
        """The worker's VmRSS and VmHWM in KiB (one process: threads pool)."""
        return memory_kib(self.worker.pid)

    def api_memory(self) -> dict[str, int]:
        """RSS in KiB of the gunicorn master and the sum over its workers."""
        workers = children(self.api.pid)
        return {"master_rss": memory_kib(self.api.pid)["VmRSS"], "workers": len(workers),
                "workers_rss": sum(memory_kib(p)["VmRSS"] for p in workers)}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by the API (master and workers) and by the worker."""
        api = [self.api.pid, *children(self.api.pid)]
        return {"api": sum(cpu_seconds(p) for p in api), "worker": cpu_seconds(self.worker.pid)}

    def client(self, timeout: float = 120.0) -> HttpApi:
        """A new HTTP client for the API (one per thread)."""
        return HttpApi(base_url=self.url, timeout=timeout)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn and Celery both shut down gracefully on it), then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_GRACE_S)


@contextmanager
def deployed(logs: Path, worker_concurrency: int, queues: str) -> Iterator[Deployment]:
    """Run the API (gunicorn, gthread, 2 workers × 8 threads) and one Celery worker
    (threads pool, every queue), as ``scripts/run_local.sh`` does, until the block exits.

    Args:
        logs: Folder for ``api.log`` and ``worker.log``.
        worker_concurrency: The worker's task threads.
        queues: Comma-separated queues the worker consumes.

    Yields:
        The deployment, once the API answers ``/healthz`` and the worker is ready
        (its default embedders loaded).
    """
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api_log, worker_log = logs / "api.log", logs / "worker.log"
    # As `make up` runs gunicorn: the allocator settings are the worker's only.
    api_env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    worker_env = {**os.environ, "GLIBC_TUNABLES": malloc_tunables()}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with api_log.open("ab") as log:
            procs.append(subprocess.Popen(
                [str(BIN / "gunicorn"), "api:create_app()", "--bind", f"127.0.0.1:{port}",
                 "--worker-class", "gthread", "--workers", "2", "--threads", "8"],
                cwd=ROOT, env=api_env, stdout=log, stderr=subprocess.STDOUT))
        with worker_log.open("ab") as log:
            procs.append(subprocess.Popen(
                [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--pool",
                 "threads", "--concurrency", str(worker_concurrency), "-Q", queues,
                 "--loglevel", "INFO"],
                cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT))
        api, worker = procs
        url = f"http://127.0.0.1:{port}"

        def dead() -> str | None:
            for name, proc, path in (("API", api, api_log), ("worker", worker, worker_log)):
                if proc.poll() is not None:
                    return f"the {name} exited ({proc.returncode}):\n{log_tail(path)}"
            return None

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, START_TIMEOUT_S, "the API's /healthz", dead)
        wait_until(lambda: READY_LINE in worker_log.read_text(errors="replace"),
                   START_TIMEOUT_S, "the worker to be ready", dead)
        try:
            yield Deployment(url, api, worker, logs)
        except Exception:
            # The logs live in the caller's temporary folder: show why before it goes.
            for path in (api_log, worker_log):
                print(f"--- end of {path.name}:\n{log_tail(path)}", file=sys.stderr)
            raise
    finally:
        for proc in reversed(procs):
            _stop(proc)
