"""Video probing and frame sampling for embedding, checked against limits.

The API calls :func:`probe_video` and :func:`check_samples` to validate a submitted
video from its metadata; the workers call :func:`sample_frames`, which checks the
same limits again while decoding (metadata can lie) and yields one RGB frame per
sampling interval.

Only the demuxers of common video containers may open the data (``format_whitelist``):
image "containers" are refused, and so are playlist and concatenation formats, which
could make FFmpeg open other files or URLs.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
from PIL import Image

from shared.media.errors import MediaError

SAMPLE_MS_MIN, SAMPLE_MS_MAX, SAMPLE_MS_DEFAULT = 100, 60_000, 1000

# FFmpeg demuxer names; a demuxer is allowed when any of its own names is listed. The
# audio ones are here so that an audio file gets "no_video_stream", not a vaguer error.
_DEMUXERS = "mov,mp4,matroska,webm,avi,mpegts,mpeg,flv,ogg,asf,wav,mp3"
_ROTATIONS = {90: Image.Transpose.ROTATE_90, -90: Image.Transpose.ROTATE_270,
              270: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
              -180: Image.Transpose.ROTATE_180}


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be.

    Attributes:
        max_bytes: Largest encoded size accepted.
        max_seconds: Longest duration.
        max_pixels: Largest frame, as ``width * height``.
        max_frames: Most frames in the video stream (all decoded when sampling).
        max_samples: Most frames sampled from one video.
    """

    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 600.0
    max_pixels: int = 3840 * 2160
    max_frames: int = 60 * 600
    max_samples: int = 600


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video and its (first) video stream.

    Attributes:
        container: FFmpeg demuxer name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``.
        codec: FFmpeg decoder name, e.g. ``"h264"``.
        width: Coded frame width (before any display rotation).
        height: Coded frame height.
        duration_seconds: Duration of the video stream (else of the container), if known.
        frames: Frame count of the video stream, if the container records it.
        fps: Average frame rate, if known.
    """

    container: str
    codec: str
    width: int
    height: int
    duration_seconds: float | None
    frames: int | None
    fps: float | None


def probe_video(data: bytes, limits: VideoLimits) -> VideoInfo:
    """Read a video's metadata and check it against the limits, without decoding it all.

    Args:
        data: The encoded video.
        limits: Limits checked against the metadata.

    Returns:
        What the container says about the video.

    Raises:
        MediaError: ``empty``, ``too_large``, ``unsupported_format``,
            ``no_video_stream``, ``too_long``, ``too_large_dimensions`` or
            ``too_many_frames``.
    """
    _check_bytes(data, limits)
    with _open(data) as container:
        return _probe(container, limits)[0]


def check_video(data: bytes, sample_ms: int, limits: VideoLimits) -> VideoInfo:
    """Everything that can be known before embedding, from one open of the file: the
    metadata caps, the number of samples, and that a first frame decodes.

    Args:
        data: The encoded video.
        sample_ms: Sampling interval in milliseconds.
        limits: Limits checked against the metadata.

    Returns:
        What the container says about the video.

    Raises:
        MediaError: The codes of :func:`probe_video`, ``invalid_sample_ms``,
            ``too_many_samples``, ``corrupt`` or ``no_frames``.
    """
    _check_sample_ms(sample_ms)
    _check_bytes(data, limits)
    with _open(data) as container:
        info, stream = _probe(container, limits)
        check_samples(info, sample_ms, limits)
        # Metadata cannot tell a stream with no frame in it: decode up to the first.
        with contextlib.closing(container.decode(stream)) as frames:
            if _next_frame(frames) is None:
                raise MediaError("no_frames", "No frame of the video could be decoded.")
    return info


def planned_samples(info: VideoInfo, sample_ms: int) -> int | None:
    """How many frames :func:`sample_frames` will yield, judged from the metadata.

    Exact for a constant frame rate; an estimate for a variable one.

    Args:
        info: The video's metadata, from :func:`probe_video`.
        sample_ms: Sampling interval in milliseconds.

    Returns:
        The number of samples, or None when the duration is unknown.

    Raises:
        MediaError: ``invalid_sample_ms`` when ``sample_ms`` is out of range.
    """
    _check_sample_ms(sample_ms)
    if info.duration_seconds is None:
        return None
    duration_ms = info.duration_seconds * 1000
    if not info.fps:  # one sample per interval that starts before the end
        return max(1, math.ceil(duration_ms / sample_ms))
    frame_ms = 1000 / info.fps
    count = info.frames or max(1, round(duration_ms / frame_ms))
    if frame_ms >= sample_ms:  # every frame is the first at or after some sample time
        return count
    return int((count - 1) * frame_ms // sample_ms) + 1


def check_samples(info: VideoInfo, sample_ms: int, limits: VideoLimits) -> None:
    """Refuse a video that would give more samples than allowed.

    Args:
        info: The video's metadata, from :func:`probe_video`.
        sample_ms: Sampling interval in milliseconds.
        limits: ``max_samples`` is checked.

    Raises:
        MediaError: ``too_many_samples``, or ``invalid_sample_ms``.
    """
    planned = planned_samples(info, sample_ms)
    if planned is not None and planned > limits.max_samples:
        raise MediaError("too_many_samples", f"Sampling every {sample_ms} ms gives {planned} "
                         f"frames; the limit is {limits.max_samples}. Sample less often.")


def sample_frames(
    data: bytes, sample_ms: int, limits: VideoLimits, *, max_side: int | None = None
) -> Iterator[tuple[int, Image.Image]]:
    """Decode a video and yield one frame per sampling interval.

    For each sample time 0, ``sample_ms``, ``2 * sample_ms``... the first frame shown
    at or after it is yielded, once: sample times it already passed are skipped, so
    a video with fewer frames than sample times yields each frame at most once.
    Times are counted from the start of the video stream. Display rotation is applied.

    ``sample_ms`` and the size of ``data`` are checked at once; everything else when
    the iteration starts. The container is closed when the iteration ends or is
    abandoned.

    Args:
        data: The encoded video.
        sample_ms: Sampling interval in milliseconds.
        limits: Checked against the metadata, then again while decoding.
        max_side: When given, frames are shrunk (keeping their aspect) so that their
            shorter side is at most this.

    Yields:
        ``(time_ms, image)``: the frame's presentation time in whole milliseconds and
        the frame as an RGB image.

    Raises:
        MediaError: ``invalid_sample_ms``, ``empty``, ``too_large``, the codes of
            :func:`probe_video`, ``too_many_samples``, ``corrupt`` (decoding failed)
            or ``no_frames``.
    """
    _check_sample_ms(sample_ms)
    _check_bytes(data, limits)
    return _sample(data, sample_ms, limits, max_side)


def _sample(
    data: bytes, sample_ms: int, limits: VideoLimits, max_side: int | None
) -> Iterator[tuple[int, Image.Image]]:
    with _open(data) as container:
        info, stream = _probe(container, limits)
        check_samples(info, sample_ms, limits)
        stream.thread_type = "AUTO"
        if not stream.time_base:
            raise MediaError("corrupt", "The video stream has no time base.")
        start = stream.start_time
        to_ms = stream.time_base * 1000
        target, decoded, sampled = 0, 0, 0
        with contextlib.closing(container.decode(stream)) as frames:
            while (frame := _next_frame(frames)) is not None:
                decoded += 1
                if decoded > limits.max_frames:
                    raise MediaError("too_many_frames", "The video has more than "
                                     f"{limits.max_frames} frames.")
                if frame.width * frame.height > limits.max_pixels:
                    raise _too_large(frame.width, frame.height, limits)
                if frame.pts is None:
                    continue
                if start is None:
                    start = frame.pts
                time_ms = Fraction(frame.pts - start) * to_ms
                if time_ms > limits.max_seconds * 1000:
                    raise _too_long(float(time_ms) / 1000, limits)
                if time_ms < target:
                    continue
                sampled += 1
                if sampled > limits.max_samples:
                    raise MediaError("too_many_samples", "Sampling gives more than "
                                     f"{limits.max_samples} frames. Sample less often.")
                yield int(time_ms), _to_image(frame, max_side)
                target = (time_ms // sample_ms + 1) * sample_ms
    if not sampled:
        raise MediaError("no_frames", "No frame of the video could be decoded.")


def _next_frame(frames: Iterator[av.VideoFrame]) -> av.VideoFrame | None:
    try:
        return next(frames)
    except StopIteration:
        return None
    except Exception as exc:
        raise MediaError("corrupt", f"The video cannot be decoded: {exc}") from None


def _to_image(frame: av.VideoFrame, max_side: int | None) -> Image.Image:
    """The frame as RGB, shrunk by FFmpeg's scaler when asked, then turned upright."""
    width, height = frame.width, frame.height
    if max_side is not None and min(width, height) > max_side:
        scale = max_side / min(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    if (width, height) == (frame.width, frame.height):
        img = frame.to_image()
    else:
        img = frame.to_image(width=width, height=height, interpolation="AREA")
    angle = frame.rotation or 0  # NaN for a degenerate display matrix
    rotation = _ROTATIONS.get(round(angle)) if math.isfinite(angle) else None
    return img if rotation is None else img.transpose(rotation)


def _check_sample_ms(sample_ms: int) -> None:
    if isinstance(sample_ms, bool) or not isinstance(sample_ms, int) or not (
            SAMPLE_MS_MIN <= sample_ms <= SAMPLE_MS_MAX):
        raise MediaError("invalid_sample_ms", f"sample_ms must be a whole number from "
                         f"{SAMPLE_MS_MIN} to {SAMPLE_MS_MAX}; got {sample_ms!r}.")


def _check_bytes(data: bytes, limits: VideoLimits) -> None:
    if not data:
        raise MediaError("empty", "The video is empty (0 bytes).")
    if len(data) > limits.max_bytes:
        raise MediaError("too_large", f"The video is {len(data)} bytes; the limit is "
                                      f"{limits.max_bytes}.")


def _open(data: bytes) -> av.container.InputContainer:
    try:
        return av.open(io.BytesIO(data), container_options={"format_whitelist": _DEMUXERS},
                       metadata_errors="replace")
    except Exception as exc:
        raise MediaError("unsupported_format", "The data is not a video in an accepted "
                         f"container (MP4/MOV, WebM/MKV, AVI, MPEG-TS/PS, FLV, Ogg, ASF): "
                         f"{exc}") from None


def _probe(
    container: av.container.InputContainer, limits: VideoLimits
) -> tuple[VideoInfo, av.video.stream.VideoStream]:
    streams = [s for s in container.streams.video
               if not s.disposition & av.stream.Disposition.attached_pic]  # cover art
    if not streams:
        raise MediaError("no_video_stream", "The file has no video stream.")
    stream = streams[0]
    if stream.codec_context is None:  # PyAV has no decoder for it
        raise MediaError("unsupported_format", "The video's codec cannot be decoded.")
    if stream.duration and stream.time_base:
        duration: float | None = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = None
    rate = stream.average_rate or stream.guessed_rate
    info = VideoInfo(container=container.format.name, codec=stream.codec_context.name,
                     width=stream.codec_context.width, height=stream.codec_context.height,
                     duration_seconds=duration, frames=stream.frames or None,
                     fps=float(rate) if rate else None)
    if duration is not None and duration > limits.max_seconds:
        raise _too_long(duration, limits)
    if info.width * info.height > limits.max_pixels:
        raise _too_large(info.width, info.height, limits)
    if info.frames is not None and info.frames > limits.max_frames:
        raise MediaError("too_many_frames", f"The video has {info.frames} frames; the "
                         f"limit is {limits.max_frames}.")
    return info, stream


def _too_long(seconds: float, limits: VideoLimits) -> MediaError:
    return MediaError("too_long", f"The video lasts at least {seconds:.1f} s; the limit is "
                                  f"{limits.max_seconds:g} s.")


def _too_large(width: int, height: int, limits: VideoLimits) -> MediaError:
    return MediaError("too_large_dimensions", f"The video is {width}x{height}; frames may "
                      f"have at most {limits.max_pixels} pixels.")
