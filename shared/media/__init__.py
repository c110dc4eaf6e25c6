"""Media handling shared by the API (validation at submission) and the workers
(decoding for embedding): guarded URL fetching, image decoding, video sampling."""

from shared.media.errors import MediaError

__all__ = ["MediaError"]
