"""Webhook endpoints, their secrets, sent messages and delivery logs, in Redis.

Keys (under the store prefix):

- ``app:{app}:webhooks`` hash: endpoint id → endpoint record (JSON, no secret);
- ``app:{app}:webhook-secrets`` hash: endpoint id → ``whsec_...`` secret (kept in
  clear because signing needs it; never shown after creation or rotation);
- ``app:{app}:webhook-msg:{msg_id}`` string with a TTL: one event as sent, with the
  exact body bytes, so every retry and replay signs the same body;
- ``app:{app}:webhook:{endpoint_id}:deliveries`` list: delivery attempts, newest
  first, trimmed to ``webhook_deliveries_kept``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from shared.errors import Conflict, NotFound
from shared.media.fetch import UrlPolicy
from shared.redis_store import RedisStore, now
from shared.settings import Settings
from shared.webhook_signing import new_secret

# Each event fans out to one task per subscribed endpoint: keep that bounded.
MAX_WEBHOOKS_PER_APP = 50

# Why an endpoint was disabled (`disabled_reason.code`).
GONE, FAILING, BY_APP = "gone", "failing", "disabled_by_app"


def url_policy(settings: Settings) -> UrlPolicy:
    """Where webhook URLs may point: the input URLs' rules (loopback only when allowed)."""
    return UrlPolicy(timeout_seconds=settings.webhook_timeout_seconds, max_redirects=0,
                     allow_loopback=settings.fetch_allow_loopback)


def new_message_id() -> str:
    """A message id (``webhook-id``): stable across the retries of one event."""
    return f"msg_{secrets.token_hex(16)}"


class WebhookStore(RedisStore):
    """Endpoints, secrets, messages and delivery logs of every app."""

    def _endpoints(self, app: str) -> str:
        return self.key("app", app, "webhooks")

    def _secrets(self, app: str) -> str:
        return self.key("app", app, "webhook-secrets")

    def _message(self, app: str, msg_id: str) -> str:
        return self.key("app", app, "webhook-msg", msg_id)

    def _log(self, app: str, endpoint_id: str) -> str:
        return self.key("app", app, "webhook", endpoint_id, "deliveries")

    # --- endpoints ----------------------------------------------------------
    def create(self, app: str, url: str, events: list[str], description: str | None,
               ) -> tuple[dict[str, Any], str]:
        """Register an endpoint with a fresh secret.

        Returns:
            The endpoint record and its secret (shown once).

        Raises:
            Conflict: ``too_many_webhooks`` when the app has ``MAX_WEBHOOKS_PER_APP``.
        """
        if self.redis.hlen(self._endpoints(app)) >= MAX_WEBHOOKS_PER_APP:
            raise Conflict(f"an app may have at most {MAX_WEBHOOKS_PER_APP} webhooks",
                           code="too_many_webhooks", details={"limit": MAX_WEBHOOKS_PER_APP})
        endpoint_id = f"ep_{secrets.token_hex(8)}"
        stamp = now()
        record = {"id": endpoint_id, "url": url, "events": events, "description": description,
                  "enabled": True, "disabled_reason": None, "disabled_at": None,
                  "failing_since": None, "created_at": stamp, "updated_at": stamp}
        secret = new_secret()
        with self.redis.pipeline() as pipe:
            pipe.hset(self._endpoints(app), endpoint_id, json.dumps(record))
            pipe.hset(self._secrets(app), endpoint_id, secret)
            pipe.execute()
        return record, secret

    def find(self, app: str, endpoint_id: str) -> dict[str, Any] | None:
        """An endpoint record, None when missing."""
        raw = self.redis.hget(self._endpoints(app), endpoint_id)
        return json.loads(raw) if raw else None

    def get(self, app: str, endpoint_id: str) -> dict[str, Any]:
        """An endpoint record; ``NotFound`` when missing (or another app's)."""
        record = self.find(app, endpoint_id)
        if record is None:
            raise NotFound(f"webhook {endpoint_id!r} not found",
                           details={"webhook_id": endpoint_id})
        return record

    def list(self, app: str) -> list[dict[str, Any]]:
        """The app's endpoints, oldest first."""
        records = (json.loads(v) for v in self.redis.hvals(self._endpoints(app)))
        return sorted(records, key=lambda r: (r["created_at"], r["id"]))

    def subscribed(self, app: str, event_type: str) -> list[dict[str, Any]]:
        """Enabled endpoints of ``app`` that asked for ``event_type``."""
        return [r for r in self.list(app) if r["enabled"] and event_type in r["events"]]

    def update(self, app: str, endpoint_id: str, **fields: Any) -> dict[str, Any]:
        """Change ``url``, ``events``, ``description`` or ``enabled``.

        Enabling clears the disabled reason and the failing streak (a fresh start);
        disabling records that the app asked for it.
        """
        self.get(app, endpoint_id)

        def change(record: dict[str, Any]) -> dict[str, Any]:
            enabled = fields.get("enabled")
            record.update({k: v for k, v in fields.items() if k != "enabled"})
            if enabled is True and not record["enabled"]:
                record.update(enabled=True, disabled_reason=None, disabled_at=None,
                              failing_since=None)
            elif enabled is False and record["enabled"]:
                record.update(enabled=False, disabled_at=now(), disabled_reason={
                    "code": BY_APP, "message": "disabled through the API"})
            record["updated_at"] = now()
            return record

        updated = self.update_json_field(self._endpoints(app), endpoint_id, change)
        if updated is None:
            raise NotFound(f"webhook {endpoint_id!r} not found",
                           details={"webhook_id": endpoint_id})
        return updated

    def delete(self, app: str, endpoint_id: str) -> None:
        """Delete an endpoint, its secret and its log (queued retries then do nothing)."""
        self.get(app, endpoint_id)
        with self.redis.pipeline() as pipe:
            pipe.hdel(self._endpoints(app), endpoint_id)
            pipe.hdel(self._secrets(app), endpoint_id)
            pipe.delete(self._log(app, endpoint_id))
            pipe.execute()

    # --- secrets ------------------------------------------------------------
    def secret(self, app: str, endpoint_id: str) -> str | None:
        """The endpoint's signing secret (for the sender only)."""
        return self.redis.hget(self._secrets(app), endpoint_id)

    def rotate_secret(self, app: str, endpoint_id: str) -> str:
        """Replace the secret; the old one stops signing at once. Returns the new one."""
        self.get(app, endpoint_id)
        secret = new_secret()
        self.redis.hset(self._secrets(app), endpoint_id, secret)
        return secret

    # --- health: failing streaks and disabling -------------------------------
    def record_success(self, app: str, endpoint_id: str) -> None:
        """A 2xx ends the endpoint's failing streak."""
        self.update_json_field(
            self._endpoints(app), endpoint_id,
            lambda r: {**r, "failing_since": None} if r["failing_since"] is not None else None)

    def record_failure(self, app: str, endpoint_id: str, at: float,
                       disable_after: float) -> dict[str, Any] | None:
        """Note a failed attempt; disable an endpoint failing for over ``disable_after``.

        Returns:
            The ``disabled_reason`` when this failure disabled the endpoint, else None.
        """
        reason: dict[str, Any] = {}

        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            reason.clear()
            since = record["failing_since"]
            if since is None:
                return {**record, "failing_since": at}
            if not record["enabled"] or at - since <= disable_after:
                return None
            reason.update(code=FAILING, message=(
                f"every delivery failed for {at - since:.0f} s (since {since:.0f}), longer "
                f"than the {disable_after:g} s allowed"))
            return {**record, "enabled": False, "disabled_at": at,
                    "disabled_reason": dict(reason), "updated_at": at}

        self.update_json_field(self._endpoints(app), endpoint_id, change)
        return dict(reason) or None

    def disable(self, app: str, endpoint_id: str, code: str, message: str) -> None:
        """Disable an endpoint with a reason (e.g. it answered 410 Gone)."""
        stamp = now()
        self.update_json_field(
            self._endpoints(app), endpoint_id,
            lambda r: {**r, "enabled": False, "disabled_at": stamp, "updated_at": stamp,
                       "disabled_reason": {"code": code, "message": message}})

    # --- messages -------------------------------------------------------------
    def save_message(self, app: str, message: dict[str, Any], ttl_seconds: int) -> None:
        """Keep a message (``id``, ``type``, ``body``, ``endpoints``...) for its retries."""
        self.redis.set(self._message(app, message["id"]), json.dumps(message), ex=ttl_seconds)

    def message(self, app: str, msg_id: str) -> dict[str, Any] | None:
        """A kept message, None once it expired (or never was this app's)."""
        raw = self.redis.get(self._message(app, msg_id))
        return json.loads(raw) if raw else None

    # --- delivery log -----------------------------------------------------------
    def log_attempt(self, app: str, endpoint_id: str, entry: dict[str, Any], keep: int) -> None:
        """Add an attempt at the head of the endpoint's log, keeping the newest ``keep``."""
        if not self.redis.hexists(self._endpoints(app), endpoint_id):
            return  # deleted meanwhile: do not leave an orphan log behind
        with self.redis.pipeline() as pipe:
            pipe.lpush(self._log(app, endpoint_id), json.dumps(entry))
            pipe.ltrim(self._log(app, endpoint_id), 0, keep - 1)
            pipe.execute()

    def deliveries(self, app: str, endpoint_id: str, limit: int = 50,
                   offset: int = 0) -> tuple[list[dict[str, Any]], int | None]:
        """A page of the endpoint's log, newest first.

        Returns:
            The entries and the offset of the next page (None at the end).
        """
        key = self._log(app, endpoint_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(key, offset, offset + limit - 1)
            pipe.llen(key)
            raws, total = pipe.execute()
        entries = [json.loads(r) for r in raws]
        more = offset + len(entries) < total and len(entries) == limit
        return entries, (offset + limit if more else None)
