"""One JSON error shape with the right status, and a generated OpenAPI document."""

from __future__ import annotations


def _error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_malformed_json_is_400(tenant):
    resp = tenant.client.post("/v1/inputs", data="{not json", headers={
        **tenant.headers, "Content-Type": "application/json"})
    assert _error(resp, 400)["code"] == "malformed_request"


def test_non_json_body_is_400(tenant):
    resp = tenant.client.post("/v1/inputs", data="text", headers={
        **tenant.headers, "Content-Type": "text/plain"})
    assert _error(resp, 400)["code"] == "unsupported_media_type"


def test_unknown_route_and_method(tenant):
    assert _error(tenant.get("/v1/nothing-here"), 404)["code"] == "not_found"
    assert _error(tenant.client.put("/v1/inputs", headers=tenant.headers), 405)["code"] == \
        "method_not_allowed"


def test_request_over_the_byte_cap_is_413(tenant, flask_app):
    cap = flask_app.config["MAX_CONTENT_LENGTH"]
    resp = tenant.client.post("/v1/inputs", data=b"{" + b" " * cap + b"}", headers={
        **tenant.headers, "Content-Type": "application/json"})
    assert _error(resp, 413)["code"] == "payload_too_large"


def test_validation_error_lists_every_field(tenant):
    resp = tenant.post("/v1/inputs", json={"inputs": [
        {"data": {"text": "ok"}, "concepts": [{"id": "a", "value": 3}]},
        {"data": {}},
    ]})
    error = _error(resp, 422)
    fields = {e["field"] for e in error["details"]["errors"]}
    assert "inputs[0].concepts[0].value" in fields
    assert "inputs[1].data" in fields  # none of text, image, video
    assert error["details"]["field"] in fields


def test_openapi_document_describes_every_endpoint(client, flask_app):
    resp = client.get("/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    for rule in flask_app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") or "openapi" in rule.rule or rule.endpoint.startswith(
                "openapi"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    add = doc["paths"]["/v1/inputs"]["post"]
    assert "requestBody" in add and "202" in add["responses"]


def test_unreachable_redis_is_503_not_a_traceback(settings, tenant):
    from api import create_app

    down = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    resp = down.test_client().get("/v1/concepts", headers=tenant.headers)
    error = _error(resp, 503)
    assert error["code"] == "dependency_unavailable"
