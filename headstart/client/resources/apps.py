"""Apps (tenants), their keys, and the deployment's embedders."""

from __future__ import annotations

from collections.abc import Mapping

from headstart.client.resources.base import ResourceAPI, seg
from headstart.client.types import ApiKey, App, AppCreated, Embedder, KeyCreated


class Apps(ResourceAPI):
    """``/v1/apps``."""

    def create(self, app_id: str, default_embedders: Mapping[str, str] | None = None,
               ) -> AppCreated:
        """Create an app (needs the client's ``admin_key``); its API key is shown once.

        Args:
            app_id: The new app's id.
            default_embedders: Embedder per modality, e.g. ``{"text": "all-minilm-l6-v2"}``.

        Raises:
            AuthenticationError: No or a wrong admin key.
            Conflict: ``app_exists``.
        """
        body: dict = {"id": app_id}
        if default_embedders:
            body["default_embedders"] = dict(default_embedders)
        return AppCreated.from_dict(self._t.request("POST", "/v1/apps", json=body, admin=True))

    def me(self) -> App:
        """The app of the client's API key."""
        return App.from_dict(self._t.request("GET", "/v1/apps/me")["app"])


class Keys(ResourceAPI):
    """``/v1/keys``: the calling app's API keys."""

    def list(self) -> list[ApiKey]:
        """The app's keys, oldest first (never their secrets)."""
        return [ApiKey.from_dict(k) for k in self._t.request("GET", "/v1/keys")["keys"]]

    def create(self) -> KeyCreated:
        """A new key for the app; its secret is shown once."""
        return KeyCreated.from_dict(self._t.request("POST", "/v1/keys"))

    def rotate(self, key_id: str) -> KeyCreated:
        """Replace ``key_id`` by a new key; the old one stops working at once."""
        return KeyCreated.from_dict(self._t.request("POST", f"/v1/keys/{seg(key_id)}/rotate"))

    def revoke(self, key_id: str) -> None:
        """Revoke a key (``Conflict`` ``last_key`` for the app's only one)."""
        self._t.request("DELETE", f"/v1/keys/{seg(key_id)}")


class Embedders(ResourceAPI):
    """``/v1/embedders``."""

    def list(self) -> list[Embedder]:
        """The embedders this deployment offers."""
        return [Embedder.from_dict(e) for e in self._t.request("GET", "/v1/embedders")["embedders"]]
