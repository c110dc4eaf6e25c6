"""Checks a request's input data at submission and says how a worker will get it.

Everything that can be known from the request is checked here, so a bad file
is a 4xx naming the input: base64 that does not decode, a file that is not an
image of an allowed format, truncated, a bomb, too big; a video that cannot be
probed, has no video stream or no frame, or is over the caps; a URL that is not
http(s) or points at a non-global address. What only a fetch can tell (an
unreachable URL) becomes the input's ``failed`` status later.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.limits import check_text
from shared.errors import InvalidField, PayloadTooLarge
from shared.media import MediaError
from shared.media.fetch import check_url
from shared.media.images import check_image
from shared.media.limits import image_limits, url_policy, video_limits
from shared.media.video import check_video
from shared.schemas import InputData, MediaSource
from shared.settings import Settings


@dataclass
class PreparedData:
    """An input's data, checked.

    Attributes:
        modality: ``text``, ``image`` or ``video``.
        view: What the API shows as the input's ``data`` (no raw bytes).
        source: How a worker gets the content: ``{"text"}``, ``{"url"}`` or
            ``{"blob": True}`` (bytes staged beside the input), plus ``sample_ms``.
        blob: The media bytes when they came with the request.
    """

    modality: str
    view: dict[str, Any]
    source: dict[str, Any]
    blob: bytes | None = field(default=None, repr=False)


def _media_error(field_name: str, exc: MediaError) -> InvalidField:
    return InvalidField(field_name, exc.message, code="invalid_media",
                        details={"reason": exc.code})


def _read_bytes(settings: Settings, source: MediaSource, field_name: str,
                files: Mapping[str, bytes], modality: str) -> bytes:
    cap = settings.max_video_bytes if modality == "video" else settings.max_image_bytes
    if source.base64 is not None:
        text = source.base64
        if text.startswith("data:") and "," in text:
            text = text.split(",", 1)[1]  # a data URL: keep the payload
        try:
            # Strict: the alphabet and the padding are checked in C while decoding
            # (b64decode(validate=True) runs a regex over the text first).
            data = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidField(f"{field_name}.base64", "not valid base64",
                               code="invalid_media", details={"reason": "bad_base64"}) from exc
        where = f"{field_name}.base64"
    else:
        part = files.get(source.file or "")
        if part is None:
            raise InvalidField(f"{field_name}.file",
                               f"no multipart part named {source.file!r} in this request")
        data = part
        where = f"{field_name}.file"
    if len(data) > cap:
        raise PayloadTooLarge(f"{where}: the {modality} is over {cap} bytes",
                              details={"field": where, "limit": cap, "reason": "too_large"})
    return data


def _digest(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _prepare_url(settings: Settings, url: str, field_name: str, modality: str) -> None:
    try:
        check_url(url, url_policy(settings, modality))
    except MediaError as exc:
        if exc.code == "unresolvable_host":
            return  # may be a passing DNS failure: the worker tries, and says if it fails
        raise _media_error(f"{field_name}.url", exc) from exc


def prepare_data(settings: Settings, data: InputData, field_name: str,
                 files: Mapping[str, bytes], default_sample_ms: int | None = None,
                 ) -> PreparedData:
    """Check one input's data and describe it for staging.

    Args:
        settings: Limits and URL policy.
        data: The validated ``data`` object of one input.
        field_name: Its path in the request, e.g. ``inputs[2].data``, for errors.
        files: Bytes of a multipart request's file parts by name (empty for JSON).
        default_sample_ms: Video frame gap when the video gives none.

    Raises:
        InvalidField: 422 naming the field, ``details.reason`` the media code.
        PayloadTooLarge: A file over its byte cap.
    """
    modality = data.modality
    if modality == "text":
        check_text(settings, data.text or "", f"{field_name}.text")
        return PreparedData("text", {"text": data.text}, {"text": data.text})
    source: MediaSource = getattr(data, modality)
    where = f"{field_name}.{modality}"
    extra: dict[str, Any] = {}
    if modality == "video":
        extra["sample_ms"] = (data.video.sample_ms or default_sample_ms
                              or settings.video_sample_ms)
    if source.url is not None:
        _prepare_url(settings, source.url, where, modality)
        return PreparedData(modality, {modality: {"url": source.url, **extra}},
                            {"url": source.url, **extra})
    blob = _read_bytes(settings, source, where, files, modality)
    try:
        if modality == "image":
            info = check_image(blob, image_limits(settings))
            view = {"format": info.format, "width": info.width, "height": info.height}
        else:
            video = check_video(blob, extra["sample_ms"], video_limits(settings))
            view = {"format": video.container, "codec": video.codec, "width": video.width,
                    "height": video.height, "duration_seconds": video.duration_seconds,
                    "fps": video.fps}
    except MediaError as exc:
        raise _media_error(f"{where}.{source.kind}", exc) from exc
    return PreparedData(modality, {modality: {**view, **extra, **_digest(blob)}},
                        {"blob": True, **extra}, blob)
