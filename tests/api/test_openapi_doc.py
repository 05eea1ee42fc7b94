"""The OpenAPI description documents the errors each operation answers; 404 and 405 come in the error shape."""

from __future__ import annotations

import pytest

from tests.support.world import make_shop

METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def doc(client) -> dict:
    return client.get("/openapi.json").json()


def test_every_operation_documents_its_errors_with_the_error_body(doc):
    operations = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    assert len(operations) >= 100
    error = {"$ref": "#/components/schemas/Error"}
    for path, method, op in operations:
        responses = op["responses"]
        assert responses["422"]["content"]["application/json"]["schema"] == error, (method, path)
        if op.get("security"):
            assert {"401", "403"} <= set(responses), (method, path)
        if "{" in path:
            assert {"404", "409"} <= set(responses), (method, path)
        if method != "get":
            assert "409" in responses, (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    error_body = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error_body["required"]) == {"code", "message"}
    assert {"field", "allowed"} <= set(error_body["properties"])


def test_auth_is_documented_from_the_dependency(doc):
    assert doc["paths"]["/api/v1/cases"]["post"]["security"] == [{"bearer": []}]  # calls current_actor itself
    assert doc["paths"]["/api/v1/orders"]["get"]["security"] == [{"bearer": []}]  # declares it
    assert "security" not in doc["paths"]["/api/v1/public/merchants/{code}/policy"]["get"]
    assert "401" not in doc["paths"]["/api/v1/public/merchants/{code}/policy"]["get"]["responses"]
    assert "429" in doc["paths"]["/api/v1/auth/token"]["post"]["responses"]


def test_integer_parameters_document_the_range_the_api_takes(doc):
    offset = next(p for p in doc["paths"]["/api/v1/cases"]["get"]["parameters"] if p["name"] == "offset")
    assert (offset["schema"]["minimum"], offset["schema"]["maximum"]) == (0, 2**31 - 1)
    attachment = next(p for p in doc["paths"]["/api/v1/cases/{number}/attachments/{attachment_id}"]["get"]
                      ["parameters"] if p["name"] == "attachment_id")
    assert attachment["schema"]["maximum"] == 2**31 - 1


def test_a_method_the_path_does_not_have_gets_405_with_every_method_it_has(client, db, doc):
    shop = make_shop(db)
    checked = 0
    for path, item in doc["paths"].items():
        documented = {m.upper() for m in item if m in METHODS}
        missing = sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - documented)
        if not missing:
            continue
        url = path.replace("{number}", "R-1").replace("{code}", "x").replace("{key}", "k").replace(
            "{locale}", "en").replace("{name}", "n").replace("{fmt}", "json").replace("{gateway}", "manual").replace(
            "{merchant_code}", "x")
        for name in ("user_id", "attachment_id", "receipt_id", "photo_id", "endpoint_id", "message_id", "task_id",
                     "repair_id", "version", "external_id", "action", "plan_id", "handoff_id"):
            url = url.replace("{" + name + "}", "1")
        answer = client.request(missing[0], url, headers=shop.headers("admin", **{"Accept-Language": "en"}))
        assert answer.status_code == 405, (missing[0], url, answer.status_code, answer.text[:200])
        assert set(answer.headers["allow"].split(", ")) == documented, (url, answer.headers["allow"])
        assert answer.json()["error"]["code"] == "method_not_allowed"
        checked += 1
    assert checked >= 50


def test_an_unknown_path_answers_in_the_error_shape_in_the_callers_language(client):
    answer = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 404
    assert answer.json()["error"] == {"code": "no_such_path", "message": "地址 /api/v1/no-such-thing 不存在"}
