"""Request and response shapes of the REST API (pydantic), also the OpenAPI source."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# No ':' (the Redis key separator), so no id can reach into another app's keys.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- requests --------------------------------------------------------------------
class DefaultEmbedders(_Strict):
    text: str | None = Field(default=None, description="Embedder of text inputs.")
    image: str | None = Field(
        default=None, description="Embedder of image inputs; videos use it too, frame by frame."
    )


class AppCreate(_Strict):
    id: Identifier = Field(description="App id, unique on the server.")
    default_embedders: DefaultEmbedders = Field(
        default_factory=DefaultEmbedders,
        description="Embedders the app's inputs go through; the server's defaults when absent.",
    )


class ConceptRef(_Strict):
    id: Identifier
    value: Literal[0, 1] = Field(default=1, description="1 = positive, 0 = negative example.")


def _given(model: BaseModel, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if getattr(model, name) is not None]


class MediaSource(_Strict):
    base64: str | None = Field(default=None, description="The file's bytes, base64-encoded.")
    url: str | None = Field(default=None, max_length=2048,
                            description="An http(s) URL the worker fetches.")
    file: str | None = Field(default=None, max_length=200,
                             description="Name of a part of this multipart request.")

    _KINDS = ("base64", "url", "file")

    @model_validator(mode="after")
    def _exactly_one(self) -> "MediaSource":
        if len(_given(self, self._KINDS)) != 1:
            raise ValueError("give exactly one of base64, url, file")
        return self

    @property
    def kind(self) -> str:
        """Which of base64, url or file was given."""
        return _given(self, self._KINDS)[0]


class VideoSource(MediaSource):
    sample_ms: int | None = Field(
        default=None, ge=100, le=60_000,
        description="Gap between sampled frames in ms (default HEADSTART_VIDEO_SAMPLE_MS).",
    )


class InputData(_Strict):
    text: str | None = Field(default=None, min_length=1, description="A text to embed.")
    image: MediaSource | None = Field(default=None, description="An image.")
    video: VideoSource | None = Field(default=None, description="A video, sampled into frames.")

    _MODALITIES = ("text", "image", "video")

    @model_validator(mode="after")
    def _exactly_one(self) -> "InputData":
        if len(_given(self, self._MODALITIES)) != 1:
            raise ValueError("give exactly one of text, image, video")
        return self

    @property
    def modality(self) -> str:
        """``text``, ``image`` or ``video``."""
        return _given(self, self._MODALITIES)[0]


class InputIn(_Strict):
    id: Identifier | None = Field(default=None, description="Your id; generated when absent.")
    data: InputData
    concepts: list[ConceptRef] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("concepts")
    @classmethod
    def _unique_concepts(cls, concepts: list[ConceptRef]) -> list[ConceptRef]:
        ids = [c.id for c in concepts]
        if len(ids) != len(set(ids)):
            raise ValueError("a concept may appear once per input")
        return concepts


class InputsAdd(_Strict):
    inputs: list[InputIn] = Field(min_length=1)


class MultipartBody(_Open):
    json_body: str = Field(
        alias="json",
        description='The JSON body (`{"inputs": [...]}`); media parts are referenced as '
        '`{"image": {"file": "<part name>"}}` or `{"video": {"file": "<part name>"}}`.',
    )


class InputPatch(_Strict):
    concepts: list[ConceptRef] | None = None
    metadata: dict[str, Any] | None = None
    action: Literal["merge", "overwrite", "remove"] = Field(
        default="merge",
        description="merge: set the given concepts/metadata keys; overwrite: replace all; "
        "remove: drop the given concept ids / metadata keys.",
    )


class InputsQuery(_Strict):
    concept: Identifier | None = None
    status: Literal["pending", "embedded", "failed"] | None = None
    page_token: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


class ConceptCreate(_Strict):
    id: Identifier
    name: str | None = Field(default=None, min_length=1, max_length=200)


class ConceptPatch(_Strict):
    name: str = Field(min_length=1, max_length=200)


class ModelOptions(_Strict):
    mutually_exclusive: bool = Field(
        default=False, description="One concept per input: softmax head; else one-vs-rest sigmoids."
    )
    closed_environment: bool = Field(
        default=True,
        description="Inputs positive for the model's other concepts count as negatives.",
    )


class ModelCreate(_Strict):
    id: Identifier
    concepts: list[Identifier] = Field(min_length=1, max_length=1000)
    embedder: str | None = Field(
        default=None, description="Embedder id; else the app's default for `modality`."
    )
    modality: Literal["text", "image", "video"] = Field(
        default="text", description="What the model will see; picks the app's default embedder."
    )
    options: ModelOptions = Field(default_factory=ModelOptions)

    @field_validator("concepts")
    @classmethod
    def _unique(cls, concepts: list[str]) -> list[str]:
        if len(concepts) != len(set(concepts)):
            raise ValueError("concepts must be unique")
        return concepts


class VersionCreate(_Strict):
    description: str | None = Field(default=None, max_length=500)


class PredictOptions(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    min_value: float = Field(default=0.0, ge=0.0, le=1.0)
    max_concepts: int | None = Field(default=None, ge=1)
    select_concepts: list[Identifier] | None = None
    sample_ms: int | None = Field(
        default=None, ge=100, le=60_000,
        description="Video frame gap in ms, unless the video gives its own.",
    )
    run_async: bool = Field(default=False, alias="async",
                            description="Answer 202 with a job at once.")


class PredictInput(_Strict):
    id: str | None = Field(default=None, max_length=128)
    data: InputData


class PredictRequest(_Strict):
    inputs: list[PredictInput] = Field(min_length=1)
    options: PredictOptions = Field(default_factory=PredictOptions)


class JobsQuery(_Strict):
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None
    type: Literal["embed", "train", "predict"] | None = None
    page_token: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


# --- responses (documented; extra fields allowed) --------------------------------
class ErrorBody(_Open):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(_Open):
    error: ErrorBody


class JobProgress(_Open):
    done: int
    total: int


class Job(_Open):
    id: str
    type: str
    status: str
    progress: JobProgress
    created_at: float | None
    started_at: float | None
    finished_at: float | None
    result: Any = None
    error: Any = None


class JobResponse(_Open):
    job: Job


class JobsResponse(_Open):
    jobs: list[Job]
    next_page_token: str | None = None


class App(_Open):
    id: str
    created_at: float


class AppCreated(_Open):
    app: App
    api_key: str


class ApiKey(_Open):
    id: str
    created_at: float


class KeyCreated(_Open):
    key: ApiKey
    api_key: str


class KeysResponse(_Open):
    keys: list[ApiKey]


class InputOut(_Open):
    id: str
    status: str
    concepts: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None


class InputsAdded(_Open):
    inputs: list[InputOut]
    job: Job


class InputResponse(_Open):
    input: InputOut


class InputsResponse(_Open):
    inputs: list[InputOut]
    next_page_token: str | None = None


class Concept(_Open):
    id: str
    name: str


class ConceptResponse(_Open):
    concept: Concept


class ConceptsResponse(_Open):
    concepts: list[Concept]


class Model(_Open):
    id: str
    concepts: list[str]
    embedder: str
    options: dict[str, Any]


class ModelResponse(_Open):
    model: Model


class ModelsResponse(_Open):
    models: list[Model]


class Version(_Open):
    id: str
    status: str
    metrics: dict[str, Any] | None = None


class VersionResponse(_Open):
    version: Version


class VersionCreated(_Open):
    version: Version
    job: Job


class VersionsResponse(_Open):
    versions: list[Version]


class PredictResponse(_Open):
    outputs: list[dict[str, Any]]
    model_version: str


class Empty(_Open):
    pass


class Embedder(_Open):
    id: str
    modalities: list[str]
    dim: int | None


class EmbeddersResponse(_Open):
    embedders: list[Embedder]


# --- label suggestions -----------------------------------------------------------
class SuggestionsQuery(_Strict):
    version: str | None = Field(
        default=None, max_length=128,
        description="A trained version; default: the model's default version.")
    limit: int = Field(default=20, ge=1, le=100)


class SuggestionInput(_Open):
    id: str
    data: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Suggestion(_Open):
    input: SuggestionInput
    score: float = Field(description="uncertainty × (1 − closest cosine)^β, in [0, 1].")
    uncertainty: float = Field(description="How unsure the version is about the input, 0–1.")
    concepts: list[dict[str, Any]] = Field(description="The version's current prediction.")


class SuggestionsResponse(_Open):
    suggestions: list[Suggestion]
    model_version: str
    candidates: int = Field(description="Unlabelled inputs considered (at most 5000).")
