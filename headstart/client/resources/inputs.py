"""Inputs: add in bulk (batched automatically), list, get, patch labels, delete."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headstart.client.batching import (
    MAX_INPUTS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    Labels,
    NewInput,
    batches,
    concept_labels,
    request_body,
)
from headstart.client.errors import PayloadTooLarge
from headstart.client.jobs import Job, wait_all
from headstart.client.resources.base import ResourceAPI, seg
from headstart.client.sources import Data, File, SourceLike, Text, Url
from headstart.client.transport import Transport
from headstart.client.types import Input, InputStatus, Page

# Called after each request of an upload with (inputs sent so far, inputs in all).
UploadProgress = Callable[[int, int], None]


@dataclass
class Upload:
    """What adding inputs gave: every input's id and status, and one embed job per request.

    Attributes:
        inputs: The inputs as the API answered them, in the order given.
        jobs: The embed jobs, one per request sent.
    """

    inputs: list[InputStatus] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """How many requests the upload took."""
        return len(self.jobs)

    @property
    def ids(self) -> list[str]:
        """The input ids, in the order given."""
        return [i.id for i in self.inputs]

    def wait(self, timeout: float | None = 600.0, poll: float = 0.5,
             on_progress: Callable[[int, int], None] | None = None,
             raise_on_failure: bool = True) -> Upload:
        """Wait for every embed job; ``on_progress(done, total)`` sums their progress.

        Raises:
            JobTimeout: Not all done within ``timeout`` seconds.
            JobFailed: A job failed or was cancelled.
        """
        wait_all(self.jobs, timeout=timeout, poll=poll, on_progress=on_progress,
                 raise_on_failure=raise_on_failure)
        return self


class Inputs(ResourceAPI):
    """``/v1/inputs``.

    Args:
        transport: The HTTP transport.
        max_batch_inputs: Inputs per request (the API's cap is 128 by default).
        max_batch_bytes: Bytes per request, roughly (the API's cap is 32 MiB by default).
    """

    def __init__(self, transport: Transport, max_batch_inputs: int = MAX_INPUTS_PER_REQUEST,
                 max_batch_bytes: int = MAX_REQUEST_BYTES) -> None:
        super().__init__(transport)
        self.max_batch_inputs = max_batch_inputs
        self.max_batch_bytes = max_batch_bytes

    def add(self, items: Iterable[NewInput | SourceLike], *, concepts: Labels = (),
            metadata: Mapping[str, Any] | None = None, on_progress: UploadProgress | None = None,
            wait: bool = False, timeout: float | None = 600.0) -> Upload:
        """Add inputs of any kind, in as many requests as the API's caps require.

        Args:
            items: :class:`NewInput` objects, or bare sources (a ``str`` is a text, a
                ``Path`` a file, ``bytes`` a file's content; ``Text``/``File``/``Data``/
                ``Url`` objects) that take ``concepts`` and ``metadata``.
            concepts: Labels of the bare sources.
            metadata: Metadata of the bare sources.
            on_progress: Called with (inputs sent, inputs in all) after each request.
            wait: Wait for the embed jobs before returning.
            timeout: Seconds to wait with ``wait``.

        Returns:
            The inputs' ids and statuses and the embed jobs.

        Raises:
            ValidationError: An input the API refuses (nothing of that request is stored;
                earlier requests stay stored).
            PayloadTooLarge: One input alone is over a cap.
        """
        new = [item if isinstance(item, NewInput)
               else NewInput(item, concepts=concepts, metadata=metadata) for item in items]
        upload = Upload()
        total, sent = len(new), 0
        for batch in batches(new, NewInput.size, self.max_batch_inputs, self.max_batch_bytes):
            self._send(batch, upload)
            sent += len(batch)
            if on_progress is not None:
                on_progress(sent, total)
        if wait:
            upload.wait(timeout=timeout)
        return upload

    def _send(self, batch: list[NewInput], upload: Upload) -> None:
        try:
            body = self._t.request("POST", "/v1/inputs", **request_body(batch))
        except PayloadTooLarge as exc:
            if len(batch) == 1:
                raise
            # The server's caps are lower than ours: halve (and learn its count cap).
            limit = exc.details.get("limit")
            if exc.details.get("field") == "inputs" and isinstance(limit, int) and limit > 0:
                self.max_batch_inputs = min(self.max_batch_inputs, limit)
            half = len(batch) // 2
            self._send(batch[:half], upload)
            self._send(batch[half:], upload)
            return
        upload.inputs.extend(InputStatus.from_dict(i) for i in body["inputs"])
        upload.jobs.append(Job.bind(body["job"], self._t))

    def add_texts(self, texts: Iterable[str], concepts: Labels = (), *,
                  ids: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> Upload:
        """Add texts, all with the same labels (``ids`` pairs with ``texts`` when given)."""
        return self.add(_labelled([Text(t) for t in texts], concepts, ids, metadata), **kwargs)

    def add_files(self, paths: Iterable[str | os.PathLike[str]], concepts: Labels = (), *,
                  ids: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
                  **kwargs: Any) -> Upload:
        """Add image, video or text files, uploaded as multipart (never base64)."""
        return self.add(_labelled([File(p) for p in paths], concepts, ids, metadata), **kwargs)

    def add_bytes(self, blobs: Iterable[bytes], concepts: Labels = (), *,
                  modality: str | None = None, ids: Sequence[str] | None = None,
                  metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> Upload:
        """Add images or videos given as bytes (the modality is sniffed when not given)."""
        sources = [Data(b, modality, f"upload{n}") for n, b in enumerate(blobs)]
        return self.add(_labelled(sources, concepts, ids, metadata), **kwargs)

    def add_urls(self, urls: Iterable[str], concepts: Labels = (), *, modality: str = "image",
                 ids: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> Upload:
        """Add images (or videos, with ``modality="video"``) the worker fetches by URL."""
        return self.add(_labelled([Url(u, modality) for u in urls], concepts, ids, metadata),
                        **kwargs)

    def list(self, concept: str | None = None, status: str | None = None,
             limit: int | None = None, page_token: str | None = None) -> Page[Input]:
        """One page of inputs.

        Args:
            concept: Only inputs positive for this concept.
            status: ``pending``, ``embedded`` or ``failed``.
            limit: Page size, 1-500 (API default 50).
            page_token: The previous page's ``next_page_token``.
        """
        body = self._t.request("GET", "/v1/inputs", params={
            "concept": concept, "status": status, "limit": limit, "page_token": page_token})
        return Page([Input.from_dict(i) for i in body["inputs"]], body.get("next_page_token"))

    def iter(self, concept: str | None = None, status: str | None = None,
             page_size: int = 500) -> Iterator[Input]:
        """Every matching input, fetching pages as needed."""
        token = None
        while True:
            page = self.list(concept=concept, status=status, limit=page_size, page_token=token)
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def get(self, input_id: str) -> Input:
        """One input (``NotFound`` if unknown)."""
        return Input.from_dict(self._t.request("GET", f"/v1/inputs/{seg(input_id)}")["input"])

    def patch(self, input_id: str, concepts: Labels | None = None,
              metadata: Mapping[str, Any] | None = None, action: str = "merge") -> Input:
        """Change an input's labels and/or metadata.

        Args:
            input_id: The input.
            concepts: ``["cat"]`` (positives) or ``{"cat": 1, "dog": 0}``.
            metadata: Keys to add, replace or remove (per ``action``).
            action: ``merge``, ``overwrite`` or ``remove``.
        """
        body: dict[str, Any] = {"action": action}
        if concepts is not None:
            body["concepts"] = concept_labels(concepts)
        if metadata is not None:
            body["metadata"] = dict(metadata)
        # Setting labels to given values twice leaves the same state: safe to retry.
        return Input.from_dict(self._t.request("PATCH", f"/v1/inputs/{seg(input_id)}",
                                               json=body, replay_safe=True)["input"])

    def delete(self, input_id: str) -> None:
        """Delete an input and its vectors."""
        self._t.request("DELETE", f"/v1/inputs/{seg(input_id)}")


def _labelled(sources: Sequence[Text | File | Data | Url], concepts: Labels,
              ids: Sequence[str] | None, metadata: Mapping[str, Any] | None) -> list[NewInput]:
    if ids is not None and len(ids) != len(sources):
        raise ValueError(f"{len(ids)} ids for {len(sources)} inputs")
    return [NewInput(source, concepts=concepts, id=ids[n] if ids is not None else None,
                     metadata=metadata) for n, source in enumerate(sources)]
