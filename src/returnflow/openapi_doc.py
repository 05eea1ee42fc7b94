"""The OpenAPI description as the API really answers: every operation's error statuses with the error body, derived
from what the route depends on, and 404/405 answers in the same error shape (405 with the complete Allow header)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette._utils import get_route_path

from .errors import AppError
from .guard import INT64_MAX, flat_routes, int_params
from .web import current_actor, error_response
from .pages.frame import error_page, is_page

ERROR_SCHEMA = {
    "type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "A stable code, e.g. validation, not_found, stale_version"},
            "field": {"type": "string", "description": "The field at fault, as the request names it"},
            "message": {"type": "string", "description": "What is wrong, in the language of Accept-Language"},
            "allowed": {"description": "What would be accepted instead"},
            "errors": {"type": "array", "items": {"type": "object"}, "description": "Every problem found (422)"},
        }}}}

WHY = {
    400: "The request cannot be carried out as asked (the error says why)",
    401: "No API token, or the token is not valid (Authorization: Bearer ...)",
    403: "The caller's role or merchant may not do this",
    404: "Something the request names does not exist (or belongs to another merchant)",
    405: "The path exists but not with this method; the Allow header lists the methods it has",
    409: "Conflict: the record changed since it was read (version), the Idempotency-Key was used for another "
         "request, or the current state does not allow it",
    413: "The upload is larger than allowed",
    415: "The upload's content is not of an allowed type",
    422: "Invalid input: the error names the field and what is allowed",
    429: "Too many attempts; try again later",
}
_MUTATING = {"post", "put", "patch", "delete"}


def _needs_auth(route: Any) -> bool:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call is current_actor:
            return True
        stack.extend(dependant.dependencies)
    # Some busy routes call current_actor themselves instead of declaring it (see cases/api.py).
    code = getattr(route.endpoint, "__code__", None)
    return code is not None and "current_actor" in code.co_names


def _path_params(dependant: Any) -> list:
    """The path parameters of a route, those its dependencies take (e.g. the current case's number) included."""
    found, stack = [], [dependant]
    while stack:
        current = stack.pop()
        found.extend(current.path_params)
        stack.extend(current.dependencies)
    return found


def error_statuses(route: Any, method: str) -> set[int]:
    """The error statuses an operation can answer, from its auth dependency, parameters, body and method."""
    statuses = {400, 422}  # 422: the input guard refuses bad path, query and body input on every route
    if _needs_auth(route) or method in _MUTATING:
        statuses |= {401, 403}  # public writes check credentials or signatures instead of a token
    if "auth" in (getattr(route, "tags", None) or []) or "/p/" in route.path_format:
        statuses.add(429)  # sign-in and code look-ups are throttled
    path_params = _path_params(route.dependant)
    flat_params = path_params or route.dependant.query_params or route.dependant.body_params
    if route.param_convertors or flat_params or method in _MUTATING or _needs_auth(route):
        statuses.add(404)  # a named record, merchant or case that is not there (or not the caller's)
    if method in _MUTATING or path_params:
        statuses.add(409)  # writes, and reads of a record whose state may not allow it (an open case's archive)
    if route.openapi_extra and "multipart/form-data" in str(route.openapi_extra):
        statuses |= {413, 415}
    return statuses


def document(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the error responses and integer bounds to every operation of `schema` (FastAPI's description)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    ref = {"$ref": "#/components/schemas/Error"}
    for component in schemas.values():
        _numbers_bounded(component)
    for route in flat_routes(app):
        if getattr(route, "dependant", None) is None or not route.include_in_schema:
            continue
        ints = int_params(route)
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(route, method.lower())):
                responses[str(status)] = {"description": WHY[status], "content": {"application/json": {"schema": ref}}}
            if _needs_auth(route):
                operation["security"] = [{"bearer": []}]
            for param in operation.get("parameters", []):
                bounds = ints.get((param.get("in"), param.get("name")))
                if bounds:
                    _bound(param.get("schema", {}), *bounds)
    return schema


def _numbers_bounded(schema: Any) -> None:
    """Publishes the guard's limit on every JSON number of a body: within 64 bits, where no tighter bound is given."""
    if isinstance(schema, list):
        for item in schema:
            _numbers_bounded(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") in ("integer", "number"):
        if "maximum" not in schema and "exclusiveMaximum" not in schema:
            schema["maximum"] = INT64_MAX
        if "minimum" not in schema and "exclusiveMinimum" not in schema:
            schema["minimum"] = -INT64_MAX
    for value in schema.values():
        if isinstance(value, (dict, list)):
            _numbers_bounded(value)


def _bound(schema: dict[str, Any], low: int, high: int) -> None:
    if schema.get("type") == "integer":
        schema["minimum"], schema["maximum"] = low, high
        schema.pop("exclusiveMinimum", None)
        schema.pop("exclusiveMaximum", None)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            _bound(option, low, high)
    if isinstance(schema.get("items"), dict):
        _bound(schema["items"], low, high)


def allowed_methods(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """Every method some route answers at the request's path (Starlette lists only the first route's)."""
    path = get_route_path(scope)
    methods: set[str] = set()
    for route in flat_routes(app):
        route_methods = getattr(route, "methods", None)
        if route_methods and route.path_regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)


class HttpRefusal(AppError):
    """A framework refusal (no such path, wrong method) in the API's error shape."""


def install(app: FastAPI) -> None:
    """Replaces app.openapi with the completed description and answers 404/405 in the error shape."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = allowed_methods(app, request.scope)
            headers["Allow"] = ", ".join(allow)
            refusal = HttpRefusal("method_not_allowed", status=405, allowed=allow, method=request.method)
        elif exc.status_code == 404:
            refusal = HttpRefusal("no_such_path", status=404, path=request.url.path)
        else:
            refusal = HttpRefusal("http_error", status=exc.status_code, problem=exc.detail)
        response = error_page(request, refusal) if is_page(request) else error_response(request, refusal)
        response.headers.update(headers)
        return response
