"""The one error type of media handling: a machine code and a human reason."""

from __future__ import annotations


class MediaError(ValueError):
    """A visual input or URL that cannot be used, and why.

    Attributes:
        code: Machine-readable reason, e.g. ``truncated``, ``unsupported_format``,
            ``forbidden_url``. The API turns it into a 4xx error naming the input;
            a worker records it as the input's ``failed`` status.
        message: Sentence for humans.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """``{"code", "message"}`` as stored on a failed input."""
        return {"code": self.code, "message": self.message}
