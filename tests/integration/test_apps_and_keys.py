"""Apps and API keys: admin-only creation, hashed keys, rotation, revocation."""

from __future__ import annotations

import hashlib

from tests.conftest import ADMIN


def test_create_app_needs_the_admin_key(client):
    assert client.post("/v1/apps", json={"id": "nope"}).status_code == 401
    resp = client.post("/v1/apps", json={"id": "nope"},
                       headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_app_key_is_shown_once_and_stored_hashed(client, tenant, redis_client, settings):
    me = tenant.get("/v1/apps/me")
    assert me.status_code == 200 and me.get_json()["app"]["id"] == tenant.id
    secret = tenant.key.split("_", 2)[2]
    dump = {k: redis_client.dump(k) for k in redis_client.keys(f"{settings.redis_prefix}:key:*")}
    assert not any(secret.encode() in (v or b"") for v in dump.values())
    key_id = tenant.key.split("_")[1]
    stored = redis_client.hget(f"{settings.redis_prefix}:key:{key_id}", "digest")
    assert stored == hashlib.sha256(secret.encode()).hexdigest()


def test_duplicate_app_is_a_conflict(client, tenant):
    resp = client.post("/v1/apps", json={"id": tenant.id}, headers=ADMIN)
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "app_exists"


def test_invalid_app_id_is_422_naming_the_field(client):
    resp = client.post("/v1/apps", json={"id": "has space"}, headers=ADMIN)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["field"] == "id"


def test_rotate_and_revoke_keys(client, tenant):
    listed = tenant.get("/v1/keys").get_json()["keys"]
    assert len(listed) == 1
    old_id = listed[0]["id"]

    created = tenant.post("/v1/keys").get_json()
    second = {"Authorization": f"Bearer {created['api_key']}"}
    assert client.get("/v1/apps/me", headers=second).status_code == 200

    rotated = tenant.post(f"/v1/keys/{old_id}/rotate")
    assert rotated.status_code == 201
    assert tenant.get("/v1/apps/me").status_code == 401  # old key dead at once
    fresh = {"Authorization": f"Bearer {rotated.get_json()['api_key']}"}
    assert client.get("/v1/apps/me", headers=fresh).status_code == 200

    revoke = client.delete(f"/v1/keys/{created['key']['id']}", headers=fresh)
    assert revoke.status_code == 204
    assert client.get("/v1/apps/me", headers=second).status_code == 401
    ids = [k["id"] for k in client.get("/v1/keys", headers=fresh).get_json()["keys"]]
    assert ids == [rotated.get_json()["key"]["id"]]
    # The last key cannot be revoked: nobody could call the app again.
    last = client.delete(f"/v1/keys/{ids[0]}", headers=fresh)
    assert last.status_code == 409 and last.get_json()["error"]["code"] == "last_key"


def test_cannot_revoke_another_apps_key(tenant, other_tenant):
    other_key = other_tenant.get("/v1/keys").get_json()["keys"][0]["id"]
    assert tenant.delete(f"/v1/keys/{other_key}").status_code == 404
    assert other_tenant.get("/v1/apps/me").status_code == 200


def test_malformed_and_missing_bearer(client, tenant):
    for header in ("", "Basic abc", "Bearer ", "Bearer hsk_nope", "Bearer hsk_x_y"):
        resp = client.get("/v1/concepts", headers={"Authorization": header})
        assert resp.status_code == 401, header
        assert resp.get_json()["error"]["code"] == "unauthorized"
