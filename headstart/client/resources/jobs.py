"""Jobs: get, list, cancel, iterate."""

from __future__ import annotations

from collections.abc import Iterator

from headstart.client.jobs import Job
from headstart.client.resources.base import ResourceAPI, seg
from headstart.client.types import Page


class Jobs(ResourceAPI):
    """``/v1/jobs``."""

    def get(self, job_id: str) -> Job:
        """One job (``NotFound`` if unknown, or an expired predict job)."""
        return Job.bind(self._t.request("GET", f"/v1/jobs/{seg(job_id)}")["job"], self._t)

    def list(self, status: str | None = None, type: str | None = None,  # noqa: A002 - API name
             limit: int | None = None, page_token: str | None = None) -> Page[Job]:
        """One page of the app's jobs, newest first.

        Args:
            status: ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
            type: ``embed``, ``train`` or ``predict``.
            limit: Page size, 1-500 (API default 50).
            page_token: The previous page's ``next_page_token``.
        """
        body = self._t.request("GET", "/v1/jobs", params={
            "status": status, "type": type, "limit": limit, "page_token": page_token})
        return Page([Job.bind(j, self._t) for j in body["jobs"]], body.get("next_page_token"))

    def iter(self, status: str | None = None, type: str | None = None,  # noqa: A002
             page_size: int = 100) -> Iterator[Job]:
        """Every matching job, newest first, fetching pages as needed."""
        token = None
        while True:
            page = self.list(status=status, type=type, limit=page_size, page_token=token)
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def cancel(self, job_id: str) -> Job:
        """Cancel a job (``Conflict`` ``job_finished`` if it already ended)."""
        return Job.bind(self._t.request("POST", f"/v1/jobs/{seg(job_id)}/cancel")["job"], self._t)
