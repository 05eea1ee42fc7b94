"""Refuses input no handler can use safely, before routing: NUL bytes, invalid UTF-8, oversized or non-finite
numbers, deep nesting, over-long parameters — a 422 naming the field, in the caller's language, nothing written.

PostgreSQL refuses NUL in text and SQLite refuses integers beyond 64 bits, both with a 500 if they get that far;
checking every path, query and JSON body here covers every route, including those added later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send
from fastapi import params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import _iter_routes_with_context

from .errors import Refused
from .i18n import N_

INT32_MAX = 2**31 - 1  # ids, versions, counts, offsets and quantities are INTEGER columns
INT64_MAX = 2**63 - 1  # the widest column (BIGINT minor units); SQLite cannot bind a larger integer at all
MAX_DEPTH = 32  # JSON objects and arrays inside each other; real requests nest 4 deep at most
MAX_PARAM_CHARS = 2000  # one path segment or query value
MAX_JSON_TEXT = 1_000_000  # one JSON string; the longest field a schema declares is a 200,000-character policy
_WHOLE = re.compile(r"\s*[+-]?\d+(\.0*)?\s*")


def nul(field: str) -> Refused:
    return Refused(field, N_("must not contain a NUL character (\\u0000)"), code="unusable_character")


def bad_utf8(field: str) -> Refused:
    return Refused(field, N_("is not valid UTF-8 text"), code="unusable_character")


def out_of_range(field: str, low: int, high: int) -> Refused:
    return Refused(field, N_("must be a whole number from {low} to {high}"), low=low, high=high)


def _decode(raw: bytes, field: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_utf8(field) from None
    if "\x00" in text:
        raise nul(field)
    return text


def _text_param(raw: bytes, field: str) -> str:
    text = _decode(raw, field)
    if len(text) > MAX_PARAM_CHARS:
        raise Refused(field, N_("is longer than {most} characters"), most=MAX_PARAM_CHARS)
    return text


# ---- integer parameters of each route, from its declared types ----------------------------------------------------

def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    origin = get_origin(annotation)
    if origin in (Union, UnionType, list, set, tuple):
        return any(_is_int(a) for a in get_args(annotation) if a is not type(None))
    return False


def int_bounds(field_info: Any) -> tuple[int, int]:
    """The range an integer parameter accepts: its own bounds within 0..INT32_MAX (what an INTEGER column holds)."""
    low, high = 0, INT32_MAX
    for meta in getattr(field_info, "metadata", ()):
        if getattr(meta, "ge", None) is not None:
            low = max(low, math.ceil(meta.ge))
        if getattr(meta, "gt", None) is not None:
            low = max(low, math.floor(meta.gt) + 1)
        if getattr(meta, "le", None) is not None:
            high = min(high, math.floor(meta.le))
        if getattr(meta, "lt", None) is not None:
            high = min(high, math.ceil(meta.lt) - 1)
    return low, high


def int_params(route: Any) -> dict[tuple[str, str], tuple[int, int]]:
    """{(where, name): (low, high)} for the route's integer path and query parameters; cached on the route."""
    cached = getattr(route, "_rf_int_params", None)
    if cached is not None:
        return cached
    found: dict[tuple[str, str], tuple[int, int]] = {}
    dependant = getattr(route, "dependant", None)
    if dependant is not None:
        for field in get_flat_params(dependant):
            where = "path" if isinstance(field.field_info, params.Path) else (
                "query" if isinstance(field.field_info, params.Query) else None)
            if where and _is_int(field.field_info.annotation):
                found[(where, field.alias)] = int_bounds(field.field_info)
    route._rf_int_params = found
    return found


def _check_int(text: str, field: str, bounds: tuple[int, int]) -> None:
    if _WHOLE.fullmatch(text):
        digits = text.strip().split(".")[0]
        # Past 20 characters it is out of range anyway, and int() refuses more than 4300 digits.
        if len(digits) > 20 or not bounds[0] <= int(digits) <= bounds[1]:
            raise out_of_range(field, *bounds)


# ---- path and query ----------------------------------------------------------------------------------------------

def flat_routes(app: Any) -> list[Any]:
    """Every route with its full path (FastAPI keeps included routers nested), cached until a route is added to the
    app. The routers are included when the app is made; asking FastAPI for its routes' version instead walks every
    included router on every request (~0.1 ms a request)."""
    # FastAPI's own walk over included routers (private, so its version is pinned in pyproject.toml).
    routes = app.router.routes
    version = (id(routes), len(routes))
    cached = getattr(app.state, "rf_flat_routes", None)
    if cached is None or cached[0] != version:
        flat = [context or route for route, context in _iter_routes_with_context(app.router.routes)]
        cached = (version, [r for r in flat if getattr(r, "path_regex", None) is not None])
        app.state.rf_flat_routes = cached
    return cached[1]


def _route_for(scope: Scope) -> tuple[Any, dict[str, Any]]:
    path = get_route_path(scope)
    found = None
    for route in flat_routes(scope["app"]):
        match = route.path_regex.match(path)
        if match:
            methods = getattr(route, "methods", None)
            if not methods or scope["method"] in methods:
                return route, match.groupdict()
            found = found or (route, match.groupdict())
    return found or (None, {})


def check_headers(scope: Scope) -> None:
    """The one header the desk stores (Idempotency-Key) is text like any other field."""
    for name, value in scope.get("headers", ()):
        if name == b"idempotency-key":
            _text_param(value, "Idempotency-Key")


def check_path_and_query(scope: Scope) -> None:
    raw_path = unquote_to_bytes((scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0])
    try:
        raw_path.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_utf8("path") from None
    route, path_params = _route_for(scope)
    ints = int_params(route) if route is not None else {}
    for name, value in path_params.items():
        text = _text_param(str(value).encode(), name)
        if ("path", name) in ints:
            _check_int(text, name, ints[("path", name)])
    if b"\x00" in raw_path:
        raise nul("path")
    query = scope.get("query_string") or b""
    for pair in query.split(b"&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition(b"=")
        key = _decode(unquote_to_bytes(raw_key.replace(b"+", b" ")), "query")
        value = _text_param(unquote_to_bytes(raw_value.replace(b"+", b" ")), key)
        if ("query", key) in ints:
            _check_int(value, key, ints[("query", key)])


# ---- JSON bodies -------------------------------------------------------------------------------------------------

def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class _Huge(str):
    """A JSON integer too long to convert (Python refuses more than 4300 digits); refused where it stands."""


def _parse_int(digits: str) -> int | _Huge:
    return _Huge(digits) if len(digits) > 20 else int(digits)


def check_json(body: bytes) -> None:
    """Refuses a JSON body with NUL, invalid UTF-8, non-finite or beyond-64-bit numbers, or deeper than MAX_DEPTH."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_utf8("body") from None
    try:
        data = json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise Refused("body", N_("nests objects or lists more than {most} deep"), most=MAX_DEPTH) from None
    except ValueError:
        return  # not JSON: the route answers with its own malformed_json 422
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or "body"
        if isinstance(value, _Huge):
            raise Refused(where, N_("is larger than {most}"), most=INT64_MAX)
        if isinstance(value, str):
            if "\x00" in value:
                raise nul(where)
            if len(value) > MAX_JSON_TEXT:
                raise Refused(where, N_("is longer than {most} characters"), most=MAX_JSON_TEXT)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise Refused(where, N_("must be a finite number (not NaN, Infinity or beyond 1e308)"))
            if abs(value) > INT64_MAX:
                raise Refused(where, N_("is larger than {most}"), most=INT64_MAX)
        else:
            if depth >= MAX_DEPTH:
                raise Refused(where, N_("nests objects or lists more than {most} deep"), most=MAX_DEPTH)
            if isinstance(value, dict):
                for key, item in value.items():
                    if "\x00" in key:
                        raise nul(where)
                    stack.append((item, _join(path, key), depth + 1))
            else:
                stack.extend((item, _join(path, i), depth + 1) for i, item in enumerate(value))


# ---- the middleware ----------------------------------------------------------------------------------------------

class InputGuard:
    """ASGI middleware: runs the checks above and answers a refusal as the API's JSON error or the styled page."""

    def __init__(self, app: ASGIApp, *, refuse: Callable[[Request, Refused], Response]) -> None:
        self.app = app
        # How a refusal is answered (the app factory hands it in: the styled page for a page, else the API's JSON
        # error); this module sits below pages and the HTTP frame and imports neither.
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        try:
            check_path_and_query(scope)
            check_headers(scope)
            if _is_json(scope) and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                body, receive = await _buffer(receive)
                check_json(body)
        except Refused as exc:
            await self.refuse(Request(scope), exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app sees an empty body
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
