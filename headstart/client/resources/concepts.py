"""Concepts: a stable id and a display name."""

from __future__ import annotations

from headstart.client.resources.base import ResourceAPI, seg
from headstart.client.types import Concept


class Concepts(ResourceAPI):
    """``/v1/concepts``."""

    def list(self) -> list[Concept]:
        """The app's concepts, sorted by id."""
        return [Concept.from_dict(c) for c in self._t.request("GET", "/v1/concepts")["concepts"]]

    def create(self, concept_id: str, name: str | None = None) -> Concept:
        """Create a concept (``Conflict`` ``concept_exists`` if the id is taken)."""
        body = {"id": concept_id, **({"name": name} if name is not None else {})}
        return Concept.from_dict(self._t.request("POST", "/v1/concepts", json=body)["concept"])

    def get(self, concept_id: str) -> Concept:
        """One concept (``NotFound`` if unknown)."""
        return Concept.from_dict(
            self._t.request("GET", f"/v1/concepts/{seg(concept_id)}")["concept"])

    def rename(self, concept_id: str, name: str) -> Concept:
        """Change a concept's display name; its id and labels stay."""
        return Concept.from_dict(self._t.request(
            "PATCH", f"/v1/concepts/{seg(concept_id)}", json={"name": name},
            replay_safe=True)["concept"])
