"""The media limits and URL policy of a deployment, from its settings."""

from __future__ import annotations

from shared.media.fetch import UrlPolicy
from shared.media.images import ImageLimits
from shared.media.video import VideoLimits
from shared.settings import Settings


def image_limits(settings: Settings) -> ImageLimits:
    """Byte, pixel and side caps for images."""
    return ImageLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels,
                       max_side=settings.max_image_side)


def video_limits(settings: Settings) -> VideoLimits:
    """Byte, duration, resolution and frame caps for videos."""
    return VideoLimits(max_bytes=settings.max_video_bytes, max_seconds=settings.max_video_seconds,
                       max_pixels=settings.max_video_pixels, max_frames=settings.max_video_frames,
                       max_samples=settings.max_video_samples)


def url_policy(settings: Settings, modality: str) -> UrlPolicy:
    """Where input URLs may point and how much they may return."""
    max_bytes = settings.max_video_bytes if modality == "video" else settings.max_image_bytes
    return UrlPolicy(max_bytes=max_bytes, timeout_seconds=settings.fetch_timeout_seconds,
                     max_redirects=settings.fetch_max_redirects,
                     allow_loopback=settings.fetch_allow_loopback)
