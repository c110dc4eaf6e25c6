"""Predict: concepts with confidences for texts, images and videos.

Many inputs are split into requests of at most the API's cap; after the first,
the rest name the version it used, so one call never mixes two versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from headstart.client.batching import (
    MAX_INPUTS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    NewInput,
    batches,
    request_body,
)
from headstart.client.jobs import Job
from headstart.client.resources.base import ResourceAPI, seg
from headstart.client.sources import SourceLike
from headstart.client.transport import Transport
from headstart.client.types import Prediction


class Predictor(ResourceAPI):
    """``POST /v1/models/{id}/predict`` and ``.../versions/{v}/predict``."""

    def __init__(self, transport: Transport, max_batch_inputs: int = MAX_INPUTS_PER_REQUEST,
                 max_batch_bytes: int = MAX_REQUEST_BYTES) -> None:
        super().__init__(transport)
        self.max_batch_inputs = max_batch_inputs
        self.max_batch_bytes = max_batch_bytes

    def __call__(self, model_id: str, inputs: Iterable[SourceLike | NewInput], *,
                 version: str | None = None, min_value: float | None = None,
                 max_concepts: int | None = None, select_concepts: Sequence[str] | None = None,
                 sample_ms: int | None = None, ids: Sequence[str] | None = None,
                 timeout: float | None = 600.0) -> Prediction:
        """Predict, waiting for the answer (also when the API answers with a job).

        Args:
            model_id: The model.
            inputs: Texts (``str``), files (``Path``), bytes, or ``Text``/``File``/
                ``Data``/``Url`` objects.
            version: A trained version; default: the model's default version.
            min_value: Drop concepts scoring lower (0-1).
            max_concepts: Keep the top N.
            select_concepts: Only these concepts.
            sample_ms: Frame gap for videos.
            ids: Echoed back as each output's ``input_id``.
            timeout: Seconds to wait for a predict job the API answered with ``202``.

        Returns:
            One output per input, in order, and the version used.

        Raises:
            Conflict: ``no_trained_version`` or ``version_not_trained``.
            ValidationError: An input of a modality the model does not take...
        """
        items = [i if isinstance(i, NewInput) else NewInput(i) for i in inputs]
        if ids is not None:
            if len(ids) != len(items):
                raise ValueError(f"{len(ids)} ids for {len(items)} inputs")
            # Copies: the caller's NewInput objects keep their own ids.
            items = [replace(item, id=input_id) for item, input_id in zip(items, ids)]
        options = _options(min_value, max_concepts, select_concepts, sample_ms)
        result = Prediction()
        for batch in batches(items, NewInput.size, self.max_batch_inputs, self.max_batch_bytes):
            answer = self._one(model_id, batch, version, options, timeout)
            version = version or answer.model_version
            result.outputs.extend(answer.outputs)
            result.model_version = answer.model_version
        result.raw = {"outputs": [o.raw for o in result.outputs],
                      "model_version": result.model_version}
        return result

    def submit(self, model_id: str, inputs: Iterable[SourceLike | NewInput], *,
               version: str | None = None, **options: Any) -> Job:
        """Queue a predict job and return it at once (``options`` as for calling)."""
        items = [i if isinstance(i, NewInput) else NewInput(i) for i in inputs]
        opts = _options(options.get("min_value"), options.get("max_concepts"),
                        options.get("select_concepts"), options.get("sample_ms"))
        opts["async"] = True
        answer = self._t.request("POST", _path(model_id, version),
                                 **request_body(items, {"options": opts}))
        return Job.bind(answer["job"], self._t)

    def _one(self, model_id: str, items: list[NewInput], version: str | None,
             options: dict[str, Any], timeout: float | None) -> Prediction:
        extra = {"options": options} if options else None
        answer = self._t.request("POST", _path(model_id, version), **request_body(items, extra))
        if "job" in answer and "outputs" not in answer:
            # The API stopped waiting (202): the job's result is the 200 body.
            job = Job.bind(answer["job"], self._t).wait(timeout=timeout)
            answer = job.result
        return Prediction.from_dict(answer)


def _path(model_id: str, version: str | None) -> str:
    base = f"/v1/models/{seg(model_id)}"
    return f"{base}/predict" if version is None else f"{base}/versions/{seg(version)}/predict"


def _options(min_value: float | None, max_concepts: int | None,
             select_concepts: Sequence[str] | None, sample_ms: int | None) -> dict[str, Any]:
    given = {"min_value": min_value, "max_concepts": max_concepts,
             "select_concepts": list(select_concepts) if select_concepts is not None else None,
             "sample_ms": sample_ms}
    return {k: v for k, v in given.items() if v is not None}
