"""Webhook endpoints: register, change, rotate secrets, read deliveries, replay."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from headstart.client.resources.base import ResourceAPI, seg
from headstart.client.types import Delivery, Page, Webhook, WebhookSecret


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# "Leave unchanged" for update(), where None means "clear" (description).
UNSET: Any = _Unset()


class Webhooks(ResourceAPI):
    """``/v1/webhooks``."""

    def create(self, url: str, events: Sequence[str], description: str | None = None,
               ) -> WebhookSecret:
        """Register an endpoint for ``events``; the returned ``secret`` is shown once.

        Raises:
            ValidationError: A URL the SSRF rules refuse (``field`` ``url``), an unknown
                event (``events[i]``).
            Conflict: ``too_many_webhooks``.
        """
        body: dict[str, Any] = {"url": url, "events": list(events)}
        if description is not None:
            body["description"] = description
        return WebhookSecret.from_dict(self._t.request("POST", "/v1/webhooks", json=body))

    def list(self) -> list[Webhook]:
        """The app's endpoints, oldest first."""
        return [Webhook.from_dict(w) for w in self._t.request("GET", "/v1/webhooks")["webhooks"]]

    def get(self, webhook_id: str) -> Webhook:
        """One endpoint, with why it is disabled if it is."""
        return Webhook.from_dict(
            self._t.request("GET", f"/v1/webhooks/{seg(webhook_id)}")["webhook"])

    def update(self, webhook_id: str, *, url: str = UNSET, events: Sequence[str] = UNSET,
               description: str | None = UNSET, enabled: bool = UNSET) -> Webhook:
        """Change what is given; ``description=None`` clears it, ``enabled=True`` re-enables."""
        body: dict[str, Any] = {}
        for name, value in (("url", url), ("events", events), ("description", description),
                            ("enabled", enabled)):
            if value is not UNSET:
                body[name] = list(value) if name == "events" else value
        return Webhook.from_dict(self._t.request(
            "PATCH", f"/v1/webhooks/{seg(webhook_id)}", json=body, replay_safe=True)["webhook"])

    def delete(self, webhook_id: str) -> None:
        """Delete an endpoint, its secret and its deliveries log."""
        self._t.request("DELETE", f"/v1/webhooks/{seg(webhook_id)}")

    def rotate_secret(self, webhook_id: str) -> WebhookSecret:
        """A new signing secret (shown once); the old one stops signing at once."""
        return WebhookSecret.from_dict(
            self._t.request("POST", f"/v1/webhooks/{seg(webhook_id)}/secret/rotate"))

    def deliveries(self, webhook_id: str, limit: int | None = None,
                   page_token: str | None = None) -> Page[Delivery]:
        """One page of the endpoint's delivery attempts, newest first."""
        body = self._t.request("GET", f"/v1/webhooks/{seg(webhook_id)}/deliveries",
                               params={"limit": limit, "page_token": page_token})
        return Page([Delivery.from_dict(d) for d in body["deliveries"]],
                    body.get("next_page_token"))

    def iter_deliveries(self, webhook_id: str, page_size: int = 100) -> Iterator[Delivery]:
        """Every logged attempt, newest first."""
        token = None
        while True:
            page = self.deliveries(webhook_id, limit=page_size, page_token=token)
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def replay(self, webhook_id: str, message_id: str) -> dict[str, Any]:
        """Send a message to the endpoint again (same id and body, new signature).

        Returns:
            ``{"webhook_id", "message_id", "status": "queued"}``.
        """
        return self._t.request(
            "POST", f"/v1/webhooks/{seg(webhook_id)}/messages/{seg(message_id)}/replay")
