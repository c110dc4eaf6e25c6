"""Input content → vectors: texts, images and videos through one embedder.

Both the embed job and predict use this. Bytes come from the request (base64),
from staging (uploads) or from a guarded fetch (URLs); images are decoded no
bigger than the embedder needs; videos are sampled into frames and embedded
in batches so a long video never sits in memory whole. Images are decoded and
preprocessed on loader threads and reach the network batch by batch, so loading the
next batch overlaps the forward pass of the current one. A bad item yields a
``MediaError`` in its place and the other items go on.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
from PIL import Image

from shared.media import MediaError
from shared.media.fetch import fetch
from shared.media.images import decode_image
from shared.media.limits import image_limits, url_policy, video_limits
from shared.media.video import sample_frames
from shared.settings import Settings
from workers.embedders import Embedder

# Fetches wait on the network, and PIL releases the GIL while it decodes and resizes:
# a few threads overlap both. More than the cores only helps URL fetches; on a 2-core
# machine the CPU-bound loads already share the cores with the forward pass.
LOADER_THREADS = 4


@dataclass(frozen=True)
class Content:
    """One item to embed.

    Attributes:
        modality: ``text``, ``image`` or ``video``.
        source: ``{"text"}``, ``{"url"}``, ``{"base64"}`` or ``{"blob": True}``, and
            ``sample_ms`` for videos.
        staged_bytes: Reads the staged upload when ``source`` says ``blob``.
    """

    modality: str
    source: dict[str, Any]
    staged_bytes: Callable[[], bytes | None] | None = field(default=None, compare=False)


@dataclass
class Embedding:
    """Vectors of one item: one row, or one per sampled frame with its time."""

    vectors: np.ndarray
    times_ms: list[int] | None = None


def media_bytes(settings: Settings, content: Content) -> bytes:
    """The raw bytes of an image or video, wherever they are.

    Raises:
        MediaError: The URL is refused or unreachable, or staged bytes are gone.
    """
    source = content.source
    if "base64" in source:
        return base64.b64decode(source["base64"])
    if "url" in source:
        return fetch(source["url"], url_policy(settings, content.modality)).data
    data = content.staged_bytes() if content.staged_bytes else None
    if data is None:
        raise MediaError("media_expired", "the uploaded bytes are no longer staged "
                         "(expired or replaced); send the input again")
    return data


def _decode_side(embedder: Embedder) -> int | None:
    # Decode a little above the crop size: embedders resize the shorter side first
    # (EfficientNet-Lite: 256 for a 224 crop), so more pixels would be thrown away.
    return math.ceil(embedder.image_size * 8 / 7) if embedder.image_size else None


def _load_image(settings: Settings, embedder: Embedder, content: Content) -> Any:
    """An image decoded and put through the embedder's per-image preprocessing (in a
    loader thread), or the ``MediaError`` that stopped it."""
    try:
        image, _ = decode_image(media_bytes(settings, content), image_limits(settings),
                                min_side=_decode_side(embedder))
    except MediaError as exc:
        return exc
    return embedder.preprocess_image(image)


def _loaded_in_order(load: Callable[[int], Any], indices: Sequence[int], ahead: int
                     ) -> Iterator[tuple[int, Any]]:
    """``(index, load(index))`` in the order of ``indices``, loaded on threads.

    At most ``ahead`` loads are queued or running at a time, so the threads work on the
    next batch while the caller runs the current one through the network, and a long
    request never holds all its pixels at once. A single item (a one-image predict) is
    loaded on the caller's thread: there is nothing to overlap it with, and handing it
    to a new thread only adds latency.
    """
    if len(indices) == 1:
        yield indices[0], load(indices[0])
        return
    pool = ThreadPoolExecutor(min(LOADER_THREADS, len(indices)), thread_name_prefix="loader")
    pending: deque[tuple[int, Future[Any]]] = deque()
    waiting = iter(indices)

    def submit_next() -> None:
        i = next(waiting, None)
        if i is not None:
            pending.append((i, pool.submit(load, i)))

    try:
        for _ in range(ahead):
            submit_next()
        while pending:
            i, future = pending.popleft()
            submit_next()
            yield i, future.result()
    finally:
        # On an error (or a caller that stops early) loads not started are dropped.
        pool.shutdown(wait=True, cancel_futures=True)


def _embed_video(settings: Settings, embedder: Embedder, content: Content, batch: int
                 ) -> Embedding | MediaError:
    try:
        frames: Iterator[tuple[int, Image.Image]] = sample_frames(
            media_bytes(settings, content), content.source["sample_ms"],
            video_limits(settings), max_side=_decode_side(embedder))
        times: list[int] = []
        chunks: list[np.ndarray] = []
        while chunk := list(islice(frames, batch)):
            times.extend(t for t, _ in chunk)
            chunks.append(embedder.embed_images([image for _, image in chunk]))
    except MediaError as exc:
        return exc
    if not times:
        return MediaError("no_frames", "the video has no frame to sample")
    return Embedding(np.concatenate(chunks), times)


def embed_contents(settings: Settings, embedder: Embedder, contents: list[Content],
                   batch: int = 32) -> list[Embedding | MediaError]:
    """Embed items of any modality the embedder accepts, keeping their order.

    Args:
        settings: Media limits and URL policy.
        embedder: The loaded embedder.
        contents: The items.
        batch: Images per forward pass (video frames too).

    Returns:
        One ``Embedding`` or ``MediaError`` per item.
    """
    results: list[Embedding | MediaError | None] = [None] * len(contents)
    texts = [i for i, c in enumerate(contents) if c.modality == "text"]
    if texts:
        vectors = embedder.embed_texts([contents[i].source["text"] for i in texts])
        for row, i in enumerate(texts):
            results[i] = Embedding(vectors[row:row + 1])
    images = [i for i, c in enumerate(contents) if c.modality == "image"]
    if images:
        ready: list[tuple[int, Any]] = []

        def embed_ready() -> None:
            vectors = embedder.embed_preprocessed([item for _, item in ready])
            for row, (i, _) in enumerate(ready):
                results[i] = Embedding(vectors[row:row + 1])
            ready.clear()

        # Two batches ahead: the next one loads while the network runs this one.
        # closing(): a failed pass stops the loads now, not when the traceback goes.
        with closing(_loaded_in_order(lambda i: _load_image(settings, embedder, contents[i]),
                                      images, ahead=2 * batch)) as loaded:
            for i, item in loaded:
                if isinstance(item, MediaError):
                    results[i] = item
                    continue
                ready.append((i, item))
                if len(ready) == batch:
                    embed_ready()
        if ready:
            embed_ready()
    for i, content in enumerate(contents):
        if content.modality == "video":
            results[i] = _embed_video(settings, embedder, content, batch)
    return results  # type: ignore[return-value]
