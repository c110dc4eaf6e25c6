"""Models and their versions (training, metrics, pinning) and suggestions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from headstart.client.jobs import Job, ProgressCallback
from headstart.client.resources.base import ResourceAPI, seg
from headstart.client.types import Model, Suggestions, Version


class Models(ResourceAPI):
    """``/v1/models``."""

    def create(self, model_id: str, concepts: Sequence[str], *, modality: str | None = None,
               embedder: str | None = None, mutually_exclusive: bool | None = None,
               closed_environment: bool | None = None,
               options: Mapping[str, Any] | None = None) -> Model:
        """Create a model over ``concepts`` (created if new).

        Args:
            model_id: The model's id.
            concepts: Its concepts, in output order.
            modality: Picks the app's default embedder (``text``, ``image``, ``video``).
            embedder: An embedder id instead (see ``client.embedders.list()``).
            mutually_exclusive: One softmax over the concepts (else one sigmoid each).
            closed_environment: One-vs-rest: other concepts' positives are negatives.
            options: More head options, passed as given.

        Raises:
            Conflict: ``model_exists``.
            ValidationError: An unknown embedder, an exclusive model of one concept...
        """
        opts = dict(options or {})
        if mutually_exclusive is not None:
            opts["mutually_exclusive"] = mutually_exclusive
        if closed_environment is not None:
            opts["closed_environment"] = closed_environment
        body: dict[str, Any] = {"id": model_id, "concepts": list(concepts)}
        if modality is not None:
            body["modality"] = modality
        if embedder is not None:
            body["embedder"] = embedder
        if opts:
            body["options"] = opts
        return Model.from_dict(self._t.request("POST", "/v1/models", json=body)["model"])

    def list(self) -> list[Model]:
        """The app's models, sorted by id."""
        return [Model.from_dict(m) for m in self._t.request("GET", "/v1/models")["models"]]

    def get(self, model_id: str) -> Model:
        """One model (``NotFound`` if unknown)."""
        return Model.from_dict(self._t.request("GET", f"/v1/models/{seg(model_id)}")["model"])

    def delete(self, model_id: str) -> None:
        """Delete a model and its versions (inputs, concepts and jobs stay)."""
        self._t.request("DELETE", f"/v1/models/{seg(model_id)}")

    def suggestions(self, model_id: str, version: str | None = None,
                    limit: int | None = None) -> Suggestions:
        """The unlabelled inputs most worth labelling next, with current predictions."""
        return Suggestions.from_dict(self._t.request(
            "GET", f"/v1/models/{seg(model_id)}/suggestions",
            params={"version": version, "limit": limit}))


class Versions(ResourceAPI):
    """``/v1/models/{id}/versions``."""

    def _path(self, model_id: str, version_id: str | None = None) -> str:
        path = f"/v1/models/{seg(model_id)}/versions"
        return path if version_id is None else f"{path}/{seg(version_id)}"

    def create(self, model_id: str, description: str | None = None,
               idempotency_key: str | None = None) -> tuple[Version, Job]:
        """Train a new version (a job); returns the queued version and its job.

        Args:
            model_id: The model.
            description: Stored on the version (at most 500 characters).
            idempotency_key: Reuse a key to make a repeated call return the first version.
        """
        body = {"description": description} if description is not None else {}
        answer = self._t.request("POST", self._path(model_id), json=body,
                                 idempotency_key=idempotency_key)
        return Version.from_dict(answer["version"]), Job.bind(answer["job"], self._t)

    def train(self, model_id: str, *, wait: bool = True, timeout: float | None = 600.0,
              poll: float = 0.5, on_progress: ProgressCallback | None = None,
              description: str | None = None,
              ) -> Version:
        """Train a version and (by default) wait for it; returns the version with metrics.

        Raises:
            JobFailed: Training failed (``code`` says why: ``no_data``, ``no_positives``...).
            JobTimeout: Not done within ``timeout`` seconds.
        """
        version, job = self.create(model_id, description=description)
        if not wait:
            return version
        job.wait(timeout=timeout, poll=poll, on_progress=on_progress)
        return self.get(model_id, version.id)

    def list(self, model_id: str) -> list[Version]:
        """The model's versions, newest first."""
        return [Version.from_dict(v)
                for v in self._t.request("GET", self._path(model_id))["versions"]]

    def get(self, model_id: str, version_id: str) -> Version:
        """One version: status, metrics, params, counts."""
        return Version.from_dict(
            self._t.request("GET", self._path(model_id, version_id))["version"])

    def delete(self, model_id: str, version_id: str) -> None:
        """Delete a version (``Conflict`` if pinned or still training)."""
        self._t.request("DELETE", self._path(model_id, version_id))

    def pin(self, model_id: str, version_id: str) -> Model:
        """Make a trained version the model's default; returns the model."""
        return Model.from_dict(
            self._t.request("POST", self._path(model_id, version_id) + "/pin")["model"])

    def default(self, model_id: str) -> Version | None:
        """The model's default version (pinned, else newest trained), or ``None``."""
        model = Models(self._t).get(model_id)
        if model.default_version is None:
            return None
        return self.get(model_id, model.default_version)
