"""What an input is made of: a text, a file, raw bytes or a URL.

Each source turns itself into the API's ``data`` object; files and bytes travel as
multipart parts (the JSON body names them), so no base64 inflation.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlsplit

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp",
                              ".dib", ".tif", ".tiff", ".mpo"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".qt", ".webm", ".mkv", ".avi", ".ts",
                              ".mts", ".m2ts", ".mpg", ".mpeg", ".vob", ".flv", ".ogv", ".asf",
                              ".wmv", ".3gp"})
# Files read as text inputs (their content, decoded as UTF-8).
TEXT_EXTENSIONS = frozenset({".txt", ".text", ".md"})
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
MODALITIES = ("text", "image", "video")


def sniff(head: bytes) -> str | None:
    """The modality of file bytes from their first bytes (``image``, ``video`` or ``None``).

    Only a hint for choosing ``data.image`` or ``data.video``: the API decodes and
    checks every file itself.
    """
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM",
                        b"II*\x00", b"MM\x00*")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] == b"ftyp" or head.startswith((b"\x1a\x45\xdf\xa3", b"FLV", b"OggS",
                                                b"\x00\x00\x01\xba", b"\x47")):
        return "video"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):  # ASF / WMV
        return "video"
    return None


def modality_of_path(path: str | os.PathLike[str]) -> str | None:
    """``text``, ``image`` or ``video`` from a file's extension, else ``None``."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in TEXT_EXTENSIONS:
        return "text"
    return None


@dataclass(frozen=True)
class Text:
    """A text input."""

    text: str

    def size(self) -> int:
        """Bytes it adds to a request (for batching under the byte cap)."""
        return len(self.text.encode("utf-8")) + 32

    def data(self, part: str) -> dict[str, Any]:  # noqa: ARG002 - same signature as files
        """The API's ``data`` object."""
        return {"text": self.text}

    def payload(self) -> tuple[str, bytes, str] | None:
        """A multipart file part's (file name, bytes, content type); ``None`` for texts."""
        return None


@dataclass(frozen=True)
class Url:
    """An image or video the worker fetches (http or https)."""

    url: str
    modality: str = "image"
    sample_ms: int | None = None

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"{self.url!r}: only http(s) URLs can be inputs")
        if self.modality not in ("image", "video"):
            raise ValueError(f"a URL input is an image or a video, not {self.modality!r}")

    def size(self) -> int:
        """Bytes it adds to a request."""
        return len(self.url.encode("utf-8")) + 48

    def data(self, part: str) -> dict[str, Any]:  # noqa: ARG002
        """The API's ``data`` object."""
        source: dict[str, Any] = {"url": self.url}
        if self.sample_ms is not None and self.modality == "video":
            source["sample_ms"] = self.sample_ms
        return {self.modality: source}

    def payload(self) -> tuple[str, bytes, str] | None:
        """``None``: nothing to upload."""
        return None


@dataclass(frozen=True)
class Data:
    """Raw image or video bytes (the modality is sniffed when not given)."""

    content: bytes
    modality: str | None = None
    filename: str = "upload"
    sample_ms: int | None = None

    def kind(self) -> str:
        """``image`` or ``video``."""
        kind = self.modality or sniff(self.content[:16])
        if kind not in ("image", "video"):
            raise ValueError(f"{self.filename}: cannot tell whether these bytes are an image "
                             "or a video; give modality='image' or 'video'")
        return kind

    def size(self) -> int:
        """Bytes it adds to a request (the file plus its part's headers)."""
        return len(self.content) + 256

    def data(self, part: str) -> dict[str, Any]:
        """The API's ``data`` object, naming the multipart part ``part``."""
        kind = self.kind()
        source: dict[str, Any] = {"file": part}
        if self.sample_ms is not None and kind == "video":
            source["sample_ms"] = self.sample_ms
        return {kind: source}

    def payload(self) -> tuple[str, bytes, str] | None:
        """The multipart file part."""
        content_type = mimetypes.guess_type(self.filename)[0] or "application/octet-stream"
        return self.filename, self.content, content_type


@dataclass(frozen=True)
class File:
    """An image, video or text file on disk, read when its request is sent.

    ``.txt``/``.md`` files become text inputs (their UTF-8 content); images and
    videos are recognised by extension, else by their first bytes.
    """

    path: Path
    modality: str | None = None
    sample_ms: int | None = None

    def __init__(self, path: str | os.PathLike[str], modality: str | None = None,
                 sample_ms: int | None = None) -> None:
        object.__setattr__(self, "path", Path(path))
        object.__setattr__(self, "modality", modality)
        object.__setattr__(self, "sample_ms", sample_ms)

    def kind(self) -> str:
        """``text``, ``image`` or ``video``."""
        kind = self.modality or modality_of_path(self.path)
        if kind is None:
            with open(self.path, "rb") as f:
                kind = sniff(f.read(16))
        if kind not in MODALITIES:
            raise ValueError(f"{self.path}: not a recognised image, video or text file "
                             "(give modality=...)")
        return kind

    def size(self) -> int:
        """Bytes it adds to a request."""
        return self.path.stat().st_size + 256

    def data(self, part: str) -> dict[str, Any]:
        """The API's ``data`` object (a text file's content inline)."""
        if self.kind() == "text":
            return {"text": self.path.read_text(encoding="utf-8")}
        source: dict[str, Any] = {"file": part}
        if self.sample_ms is not None and self.kind() == "video":
            source["sample_ms"] = self.sample_ms
        return {self.kind(): source}

    def payload(self) -> tuple[str, bytes, str] | None:
        """The multipart file part (``None`` for a text file)."""
        if self.kind() == "text":
            return None
        content_type = mimetypes.guess_type(self.path.name)[0] or "application/octet-stream"
        return self.path.name, self.path.read_bytes(), content_type


Source = Union[Text, Url, Data, File]
# What callers may pass where a source is expected: plain str is a text,
# a Path a file, bytes a file's content.
SourceLike = Union[Source, str, "os.PathLike[str]", bytes]


def as_source(value: SourceLike) -> Source:
    """Turn a text, path, bytes or source object into a source.

    A ``str`` is always a text here (use :func:`guess_source` to read a string as a
    path or URL when it is one).
    """
    if isinstance(value, (Text, Url, Data, File)):
        return value
    if isinstance(value, str):
        return Text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Data(bytes(value))
    if isinstance(value, os.PathLike):
        return File(value)
    raise TypeError(f"cannot make an input of {type(value).__name__}")


def guess_source(value: str) -> Source:
    """Read a command-line argument: an http(s) URL, an existing file, else a text."""
    if urlsplit(value).scheme in ("http", "https") and " " not in value:
        kind = modality_of_path(urlsplit(value).path)
        return Url(value, "video" if kind == "video" else "image")
    if len(value) < 4096 and os.path.isfile(value):
        return File(value)
    return Text(value)
