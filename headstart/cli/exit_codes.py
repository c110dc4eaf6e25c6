"""The CLI's exit codes, and which error gives which.

| code | meaning |
|---|---|
| 0 | success |
| 1 | the API refused the request (400, 409, 413, 422, 500...) or another error |
| 2 | usage: bad arguments or options, a missing file, no API key configured |
| 3 | not found (404): the model, version, job... does not exist in this app |
| 4 | authentication (401): no, a wrong, revoked or rotated key |
| 5 | a job (training, embedding, predicting) failed or was cancelled |
| 6 | timed out waiting for a job (it goes on; check it with `headstart jobs show ID`) |
| 7 | the API cannot be reached, or stayed unavailable (503) through every retry |
"""

from __future__ import annotations

from enum import IntEnum

from headstart.client.errors import (
    APIConnectionError,
    AuthenticationError,
    HeadstartError,
    JobFailed,
    JobTimeout,
    NotFound,
    ServiceUnavailable,
)


class ExitCode(IntEnum):
    """Process exit statuses of ``headstart``."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    JOB_FAILED = 5
    TIMEOUT = 6
    UNAVAILABLE = 7


HELP = """Exit codes: 0 ok; 1 API error; 2 usage error; 3 not found; 4 authentication
failed; 5 job failed; 6 timed out waiting; 7 API unreachable or unavailable."""


def exit_code_for(exc: HeadstartError) -> ExitCode:
    """The exit code for a client error."""
    if isinstance(exc, NotFound):
        return ExitCode.NOT_FOUND
    if isinstance(exc, AuthenticationError):
        return ExitCode.AUTH
    if isinstance(exc, JobTimeout):
        return ExitCode.TIMEOUT
    if isinstance(exc, JobFailed):
        return ExitCode.JOB_FAILED
    if isinstance(exc, (APIConnectionError, ServiceUnavailable)):
        return ExitCode.UNAVAILABLE
    return ExitCode.ERROR
