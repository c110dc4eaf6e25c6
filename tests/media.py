"""Real photos (scikit-image's data folder), files built from them, test videos
encoded with PyAV, and a loopback HTTP server for URL inputs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import numpy as np
import skimage.data
from PIL import Image

from tests.live_server import serving

PHOTOS = {
    "cat": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "rocket": skimage.data.rocket,
    "astronaut": skimage.data.astronaut,
}


def photo(name: str) -> Image.Image:
    """One of scikit-image's photos as an RGB PIL image."""
    if name == "motorcycle_left":
        return Image.fromarray(skimage.data.stereo_motorcycle()[0])
    if name == "motorcycle_right":
        return Image.fromarray(skimage.data.stereo_motorcycle()[1])
    return Image.fromarray(PHOTOS[name]()).convert("RGB")


def crops(image: Image.Image, n: int, seed: int, scale: tuple[float, float] = (0.6, 0.9),
          ) -> list[Image.Image]:
    """``n`` random crops (some mirrored): cheap augmentation of one photo."""
    rng = np.random.default_rng(seed)
    width, height = image.size
    out = []
    for i in range(n):
        s = rng.uniform(*scale)
        w, h = int(width * s), int(height * s)
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        crop = image.crop((left, top, left + w, top + h))
        out.append(crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else crop)
    return out


def encode(image: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    """An image as file bytes."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def b64(data: bytes) -> str:
    """Bytes as base64 text."""
    return base64.b64encode(data).decode("ascii")


def make_video(scenes: list[tuple[Image.Image, float]], fps: int = 5,
               size: tuple[int, int] = (320, 240)) -> bytes:
    """An MPEG-4 video showing each image for its number of seconds, in order."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        index = 0
        for image, seconds in scenes:
            frame_array = np.asarray(image.convert("RGB").resize(size))
            for _ in range(int(round(seconds * fps))):
                frame = av.VideoFrame.from_ndarray(frame_array, format="rgb24")
                frame.pts = index
                index += 1
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def make_frameless_video() -> bytes:
    """An AVI file with a video stream that holds no frame at all."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def make_audio_only() -> bytes:
    """A short WAV file: a container with no video stream."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        samples = (np.sin(np.arange(8000) / 10) * 3000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


class MediaServer:
    """Serves registered bytes on 127.0.0.1; also redirects and errors on demand."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.end_headers()
                elif self.path in server.files:
                    body, content_type = server.files[self.path]
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, body: bytes, content_type: str = "image/jpeg") -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        self.files[path] = (body, content_type)
        return self.base + path

    def redirect(self, path: str, location: str) -> str:
        """Answer ``path`` with a 302 to ``location``; returns its URL."""
        self.redirects[path] = location
        return self.base + path


@contextmanager
def media_server() -> Iterator[MediaServer]:
    """A running :class:`MediaServer`."""
    server = MediaServer()
    with serving(server.httpd):
        yield server
