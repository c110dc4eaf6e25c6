"""Jobs: the asynchronous work behind adding inputs, training and predicting.

A :class:`Job` is a snapshot of ``GET /v1/jobs/{id}`` that can refresh itself,
wait until it ends, and cancel itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headstart.client.errors import JobFailed, JobTimeout
from headstart.client.types import Resource

if TYPE_CHECKING:
    from headstart.client.transport import Transport

ENDED = frozenset({"succeeded", "failed", "cancelled"})
# Called on every poll with the job (its status and progress).
ProgressCallback = Callable[["Job"], None]


@dataclass(kw_only=True)
class Progress(Resource):
    """How far a job is: ``done`` of ``total`` (inputs for embed and predict; 1 for train)."""

    done: int = 0
    total: int = 0


@dataclass(kw_only=True)
class Job(Resource):
    """A job record, bound to the client that fetched it.

    Attributes:
        id: The job id.
        type: ``embed``, ``train`` or ``predict``.
        status: ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
        progress: ``done`` of ``total``.
        result: The result once succeeded (a predict job's is the predict answer).
        error: ``{"code", "message", "details"?}`` once failed.
    """

    id: str
    type: str | None = None
    status: str = "queued"
    progress: Progress = field(default_factory=Progress)
    attempts: int = 0
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: dict[str, Any] | None = None
    transport: Transport | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"progress": Progress.from_dict(data.get("progress") or {})}

    @classmethod
    def bind(cls, data: dict[str, Any], transport: Transport) -> Job:
        """Build from the API's JSON and attach the transport that refreshes it."""
        job = cls.from_dict(data)
        job.transport = transport
        return job

    @property
    def done(self) -> bool:
        """Whether the job has ended (it never changes again then)."""
        return self.status in ENDED

    @property
    def succeeded(self) -> bool:
        """Whether the job ended ``succeeded``."""
        return self.status == "succeeded"

    def _require_transport(self) -> Transport:
        if self.transport is None:
            raise RuntimeError("this Job is not bound to a client; use client.jobs.get(id)")
        return self.transport

    def _update(self, data: dict[str, Any]) -> None:
        fresh = Job.from_dict(data)
        for name in self.__dataclass_fields__:
            if name != "transport":
                setattr(self, name, getattr(fresh, name))

    def refresh(self) -> Job:
        """Fetch the job again; updates this object in place and returns it."""
        body = self._require_transport().request("GET", f"/v1/jobs/{self.id}")
        self._update(body["job"])
        return self

    def cancel(self) -> Job:
        """Cancel the job (``Conflict`` with code ``job_finished`` if it already ended)."""
        body = self._require_transport().request("POST", f"/v1/jobs/{self.id}/cancel")
        self._update(body["job"])
        return self

    def wait(self, timeout: float | None = 600.0, poll: float = 0.5,
             on_progress: ProgressCallback | None = None, raise_on_failure: bool = True) -> Job:
        """Poll until the job ends.

        Args:
            timeout: Seconds to wait at most (``None``: forever).
            poll: Seconds between polls; starts at a fifth of it and grows to it, so
                short jobs return quickly without hammering the API on long ones.
            on_progress: Called with this job after every poll (and once at the start).
            raise_on_failure: Raise :class:`JobFailed` when the job fails or is cancelled.

        Returns:
            This job, ended.

        Raises:
            JobTimeout: Still not ended after ``timeout`` seconds (the job goes on).
            JobFailed: It failed or was cancelled (unless ``raise_on_failure`` is false).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll / 5
        if on_progress is not None:
            on_progress(self)
        while not self.done:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JobTimeout(self, timeout or 0.0)
                time.sleep(min(interval, left))
            else:
                time.sleep(interval)
            interval = min(poll, interval * 1.5)
            self.refresh()
            if on_progress is not None:
                on_progress(self)
        if raise_on_failure and not self.succeeded:
            raise JobFailed(self)
        return self


def wait_all(jobs: list[Job], timeout: float | None = 600.0, poll: float = 0.5,
             on_progress: Callable[[int, int], None] | None = None,
             raise_on_failure: bool = True) -> list[Job]:
    """Wait for several jobs, reporting their summed progress.

    Args:
        jobs: The jobs (e.g. one embed job per batch of an upload).
        timeout: Seconds for all of them together (``None``: forever).
        poll: Seconds between polls of each job.
        on_progress: Called with (done, total) summed over the jobs after each poll.
        raise_on_failure: Raise :class:`JobFailed` for the first job that did not succeed.

    Returns:
        The jobs, ended.
    """
    deadline = None if timeout is None else time.monotonic() + timeout

    def report(_: Job | None = None) -> None:
        if on_progress is not None:
            on_progress(sum(j.progress.done for j in jobs), sum(j.progress.total for j in jobs))

    report()
    for job in jobs:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        job.wait(timeout=left, poll=poll, on_progress=report, raise_on_failure=raise_on_failure)
    report()
    return jobs
