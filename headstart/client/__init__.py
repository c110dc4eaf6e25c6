"""Python client for the Headstart API (no torch, no server packages: HTTP only).

::

    from headstart.client import Client, File

    hs = Client("http://127.0.0.1:8000", api_key="hsk_...")
    hs.inputs.add_files(["cat1.jpg", "cat2.jpg"], concepts=["cat"])
    job = hs.jobs.get("...").wait(timeout=60, on_progress=print)

Errors are typed (``NotFound``, ``ValidationError``...) and carry the API's ``code``,
``message``, ``details`` and ``status``. See docs/client.md.
"""

from headstart.client.batching import NewInput
from headstart.client.client import Client
from headstart.client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequest,
    Conflict,
    HeadstartError,
    JobFailed,
    JobTimeout,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    ValidationError,
)
from headstart.client.jobs import Job, Progress
from headstart.client.resources.inputs import Upload
from headstart.client.retry import RetryPolicy
from headstart.client.sources import Data, File, Text, Url
from headstart.client.types import (
    ApiKey,
    App,
    AppCreated,
    Concept,
    ConceptScore,
    Delivery,
    Embedder,
    Input,
    InputStatus,
    KeyCreated,
    Model,
    Output,
    Page,
    Prediction,
    Suggestions,
    Version,
    Webhook,
    WebhookSecret,
)

__all__ = [
    "APIConnectionError", "APIError", "ApiKey", "App", "AppCreated", "AuthenticationError",
    "BadRequest", "Client", "Concept", "ConceptScore", "Conflict", "Data", "Delivery",
    "Embedder", "File", "HeadstartError", "Input", "InputStatus", "Job", "JobFailed",
    "JobTimeout", "KeyCreated", "MethodNotAllowed", "Model", "NewInput", "NotFound", "Output",
    "Page", "PayloadTooLarge", "Prediction", "Progress", "RateLimited", "RetryPolicy",
    "ServerError", "ServiceUnavailable", "Suggestions", "Text", "Upload", "Url",
    "ValidationError", "Version", "Webhook", "WebhookSecret",
]
