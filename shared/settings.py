"""One typed settings object, read from the environment (and optionally `.env`).

Every setting is an environment variable named ``HEADSTART_<FIELD>``; the two
connection URLs also accept the conventional bare names ``REDIS_URL`` and
``QDRANT_URL``. A variable set in the process environment always wins over the
same variable in `.env` (pydantic-settings' precedence).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ADMIN_PLACEHOLDER = "change-me"


class Settings(BaseSettings):
    """Configuration shared by the API and the workers."""

    model_config = SettingsConfigDict(
        env_prefix="HEADSTART_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- services -----------------------------------------------------------
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("HEADSTART_REDIS_URL", "REDIS_URL"),
        description="Redis used as Celery broker, result backend, job store and registry.",
    )
    redis_prefix: str = Field(
        default="hs",
        description="Prefix of every Redis key Headstart writes (lets several deployments share a DB).",
    )
    qdrant_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HEADSTART_QDRANT_URL", "QDRANT_URL"),
        description="Qdrant server URL. Unset: qdrant-client local mode under `qdrant_path`.",
    )
    qdrant_api_key: SecretStr | None = None
    qdrant_path: Path = Field(
        default=Path("data/qdrant"),
        description="Folder of the embedded (local-mode) Qdrant; one process may open it.",
    )
    model_store: Path = Field(
        default=Path("data/models"), description="Root folder of versioned model heads."
    )

    # --- security -----------------------------------------------------------
    admin_key: SecretStr | None = Field(
        default=None, description="Key that may create apps. Unset: app creation is disabled."
    )

    # --- request limits -----------------------------------------------------
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_inputs_per_request: int = Field(default=128, ge=1, le=10_000)
    max_text_chars: int = Field(default=20_000, ge=1)
    max_metadata_bytes: int = Field(default=16 * 1024, ge=2)
    max_concepts_per_input: int = Field(default=100, ge=1)

    # --- visual inputs -----------------------------------------------------
    max_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="Width × height above this is refused as a bomb."
    )
    max_image_side: int = Field(default=12_000, ge=16)
    max_video_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_video_seconds: float = Field(default=600.0, gt=0)
    max_video_pixels: int = Field(default=3840 * 2160, ge=1, description="Per frame.")
    max_video_frames: int = Field(default=36_000, ge=1, description="Frames in the stream.")
    max_video_samples: int = Field(default=600, ge=1, description="Sampled frames per video.")
    video_sample_ms: int = Field(
        default=1000, ge=100, le=60_000, description="Default gap between sampled video frames."
    )
    fetch_timeout_seconds: float = Field(
        default=15.0, gt=0, description="Total time allowed to fetch one input URL."
    )
    fetch_max_redirects: int = Field(default=3, ge=0, le=10)
    fetch_allow_loopback: bool = Field(
        default=False,
        description="Let input URLs reach loopback addresses (tests only; private and "
        "link-local addresses stay refused).",
    )

    # --- waits and timeouts (seconds) ---------------------------------------
    predict_wait_seconds: float = Field(
        default=10.0, ge=0, description="How long predict waits before answering 202 with a job."
    )
    query_wait_seconds: float = Field(
        default=10.0, gt=0, description="How long the API waits for a worker read (inputs)."
    )
    task_soft_time_limit: int = Field(default=1500, ge=1)
    task_time_limit: int = Field(default=1800, ge=1)
    visibility_timeout: int = Field(
        default=3600,
        ge=1,
        description="Redis broker visibility timeout; unacked tasks are redelivered after it.",
    )
    predict_job_ttl_seconds: int = Field(
        default=86_400, ge=60,
        description="How long predict jobs (and their outputs) are kept in Redis.",
    )
    max_deliveries: int = Field(
        default=3, ge=1, description="Deliveries of one task before its job is failed (poison cap)."
    )
    redelivery_check_seconds: int = Field(
        default=10, ge=1,
        description="How often each worker looks for tasks left unacknowledged past the "
        "visibility timeout (their worker died) and queues them again.",
    )
    idempotency_ttl_seconds: int = Field(
        default=86_400, ge=60,
        description="How long a response is kept for replay under its Idempotency-Key.",
    )

    # --- worker -------------------------------------------------------------
    worker_concurrency: int = Field(default=4, ge=1)
    embed_batch_size: int = Field(default=32, ge=1)
    head_cache_size: int = Field(default=32, ge=1)
    text_embedder: str = Field(default="all-minilm-l6-v2", description="Default text embedder id.")
    image_embedder: str = Field(
        default="efficientnet-lite0",
        description="Default image embedder id; videos go through it frame by frame.",
    )
    clip_embedders: dict[str, str] = Field(
        default_factory=dict,
        description='Extra CLIP-style embedders, JSON `{"id": "local folder or hub id"}`; '
        "they embed texts and images into one space.",
    )
    device: str = Field(default="auto", description="`auto` (CUDA when present), `cpu` or `cuda`.")
    cpu_backend: Literal["auto", "torch", "onnx"] = Field(
        default="auto",
        description="How the built-in embedders run on CPU: `onnx` (ONNX Runtime, exported "
        "from the torch model at first use), `torch`, or `auto` (ONNX Runtime where it "
        "imports and the export works, else torch). On CUDA they always run in torch.",
    )
    onnx_cache_dir: Path = Field(
        default=Path("data/onnx"),
        description="Folder of the exported ONNX models (keyed by weights, opset and versions).",
    )
    onnx_threads: int = Field(
        default=0, ge=0, description="ONNX Runtime intra-op threads; 0: the cores available."
    )
    embed_batching: bool = Field(
        default=True,
        description="Let concurrent tasks' small embedding calls share one forward pass.",
    )
    embed_linger_ms: float = Field(
        default=0.0, ge=0, le=1000,
        description="How long a forward pass waits for more callers before it starts "
        "(0: never; a lone request pays no latency).",
    )

    # --- training -----------------------------------------------------------
    train_wait_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long a train job waits for the app's embed jobs that were queued "
        "or running when it was requested (so a version trains on every input added before).",
    )
    cv_folds: int = Field(default=5, ge=2, le=20)
    random_seed: int = 0

    # --- webhooks -------------------------------------------------------------
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time one webhook delivery attempt may take."
    )
    webhook_max_attempts: int = Field(
        default=15, ge=1, le=100,
        description="Attempts per message and endpoint, the first included.",
    )
    webhook_backoff_base_seconds: float = Field(
        default=10.0, gt=0, description="Delay before the first retry; doubles with each retry."
    )
    webhook_backoff_max_seconds: float = Field(
        default=21_600.0, gt=0,
        description="Longest delay between two attempts (also caps a Retry-After).",
    )
    webhook_disable_after_seconds: float = Field(
        default=432_000.0, gt=0,
        description="An endpoint failing without a success for longer than this is disabled.",
    )
    webhook_message_ttl_seconds: int = Field(
        default=604_800, ge=60,
        description="How long sent messages are kept for retries and replay.",
    )
    webhook_deliveries_kept: int = Field(
        default=1000, ge=1, description="Delivery attempts kept in each endpoint's log."
    )

    # --- API server ---------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _admin_key_is_not_the_placeholder(self) -> "Settings":
        if self.admin_key is not None and self.admin_key.get_secret_value() == ADMIN_PLACEHOLDER:
            raise ValueError(
                f"HEADSTART_ADMIN_KEY is still the placeholder {ADMIN_PLACEHOLDER!r} from "
                ".env.example; set a secret of your own (`make up` generates one)"
            )
        return self

    @model_validator(mode="after")
    def _time_limits_fit_visibility(self) -> "Settings":
        # A task still running when the visibility timeout passes is delivered
        # again to another worker; the hard limit must end it first.
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError(
                f"HEADSTART_TASK_SOFT_TIME_LIMIT ({self.task_soft_time_limit}) must be below "
                f"HEADSTART_TASK_TIME_LIMIT ({self.task_time_limit})"
            )
        if self.task_time_limit >= self.visibility_timeout:
            raise ValueError(
                f"HEADSTART_TASK_TIME_LIMIT ({self.task_time_limit}) must be below "
                f"HEADSTART_VISIBILITY_TIMEOUT ({self.visibility_timeout})"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
