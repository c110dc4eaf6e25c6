"""Split many inputs into requests the API accepts, and build each request's body.

The API takes at most ``HEADSTART_MAX_INPUTS_PER_REQUEST`` (128) inputs and
``HEADSTART_MAX_REQUEST_BYTES`` (32 MiB) per request; batches stay under both.
A request with files is multipart: the JSON body in a part named ``json``, each
file in its own part that the body names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from headstart.client.sources import Source, SourceLike, as_source
from headstart.client.transport import FilePart

T = TypeVar("T")

MAX_INPUTS_PER_REQUEST = 128
# Below the API's 32 MiB default, leaving room for multipart framing and the JSON.
MAX_REQUEST_BYTES = 24 * 1024 * 1024

Labels = Sequence[str] | Mapping[str, int]


@dataclass
class NewInput:
    """An input to add: its source, labels, optional id and metadata.

    Attributes:
        source: A text, file, bytes or URL (a ``str`` is a text, a ``Path`` a file).
        concepts: Concept ids it is a positive example of, or ``{id: 1 or 0}`` to give
            negatives too.
        id: Its id (re-sending an id replaces that input); random when omitted.
        metadata: A JSON object stored with it.
    """

    source: SourceLike
    concepts: Labels = ()
    id: str | None = None
    metadata: Mapping[str, Any] | None = None
    _source: Source = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._source = as_source(self.source)

    def size(self) -> int:
        """Bytes it adds to a request, roughly (labels and metadata included)."""
        extra = len(json.dumps(self.metadata)) if self.metadata else 0
        return self._source.size() + extra + 40 * len(self.concepts) + 64

    def to_json(self, part: str) -> dict[str, Any]:
        """The API's input object; ``part`` names its file's multipart part, if any."""
        item: dict[str, Any] = {"data": self._source.data(part)}
        if self.id is not None:
            item["id"] = self.id
        labels = concept_labels(self.concepts)
        if labels:
            item["concepts"] = labels
        if self.metadata:
            item["metadata"] = dict(self.metadata)
        return item

    def file_part(self, part: str) -> FilePart | None:
        """Its multipart file part, or ``None`` when it uploads nothing."""
        payload = self._source.payload()
        return (part, payload) if payload is not None else None


def concept_labels(concepts: Labels) -> list[dict[str, Any]]:
    """``["cat"]`` or ``{"cat": 1, "dog": 0}`` as the API's ``[{"id", "value"}]``."""
    if isinstance(concepts, str):
        concepts = [concepts]
    if isinstance(concepts, Mapping):
        return [{"id": cid, "value": int(value)} for cid, value in concepts.items()]
    return [{"id": cid, "value": 1} for cid in concepts]


def batches(items: Iterable[T], size_of: Callable[[T], int], max_items: int = MAX_INPUTS_PER_REQUEST,
            max_bytes: int = MAX_REQUEST_BYTES) -> Iterator[list[T]]:
    """Group ``items`` in order into lists of at most ``max_items`` and ``max_bytes``.

    An item bigger than ``max_bytes`` on its own goes alone (the API then says why
    it is refused).
    """
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    batch: list[T] = []
    used = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) >= max_items or used + size > max_bytes):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += size
    if batch:
        yield batch


def request_body(items: Sequence[NewInput], extra: Mapping[str, Any] | None = None,
                 ) -> dict[str, Any]:
    """Keyword arguments for ``Transport.request``: ``json=`` or multipart ``data=``/``files=``.

    Args:
        items: The inputs of one request.
        extra: More top-level body fields (predict's ``options``).
    """
    files: list[FilePart] = []
    inputs = []
    for n, item in enumerate(items):
        part = f"file{n}"
        inputs.append(item.to_json(part))
        file_part = item.file_part(part)
        if file_part is not None:
            files.append(file_part)
    body = {"inputs": inputs, **(extra or {})}
    if not files:
        return {"json": body}
    return {"data": {"json": json.dumps(body)}, "files": files}
