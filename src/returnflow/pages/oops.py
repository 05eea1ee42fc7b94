"""Unexpected errors: every request gets an id (the X-Request-ID header, logged with the traceback); a page that
fails answers with a styled page in the user's language naming that id and a way back (the console for staff, the
shop's portal for shoppers); the JSON API answers its usual error shape with the id. Never a bare
"Internal Server Error"."""

from __future__ import annotations

import logging
import secrets

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .frame import N_, SHANGHAI, gettext, is_page, locale_of, render
from ..web import JSON

log = logging.getLogger("returnflow.errors")
HEADER = "X-Request-ID"
UNEXPECTED = N_("Something went wrong on our side. Nothing you did caused it. Try again in a moment; if it keeps "
                "happening, tell support this request id: {request_id}")


def new_request_id() -> str:
    return secrets.token_hex(8)


def request_id_of(request: Request) -> str:
    return getattr(request.state, "request_id", "") or ""


class ErrorPages:
    """Pure ASGI middleware (inside the server's own error layer): ids every request, answers uncaught errors
    with a page or JSON, then re-raises them for the server's log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def tagged(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                msg.setdefault("headers", [])
                msg["headers"] = list(msg["headers"]) + [(HEADER.lower().encode(), request_id.encode())]
            await send(msg)

        try:
            await self.app(scope, receive, tagged)
        except Exception:
            log.exception("unexpected error, request id %s, %s %s", request_id, scope.get("method"),
                          scope.get("path"))
            if started:
                raise
            response = _answer(Request(scope), request_id)
            response.headers[HEADER] = request_id
            await response(scope, receive, send)
            # As Starlette's own error layer does: the answer is sent, and the error still goes up, so the server
            # logs it and a test client raises it (a bug in any test fails loudly, not as a quiet 500 page).
            raise


def _answer(request: Request, request_id: str):
    try:
        if is_page(request):
            return _page(request, request_id)
        locale = locale_of(request)
    except Exception:
        log.exception("the error page failed, request id %s", request_id)
        return HTMLResponse(f"<!doctype html><title>Error</title><p>Something went wrong. / 出错了。"
                            f" Request id / 请求编号: {request_id}</p><p><a href=\"/\">Back / 返回</a></p>",
                            status_code=500)
    text = gettext(locale, N_("Unexpected server error; try again later, and if it persists, quote request id "
                              "{request_id}")).format(request_id=request_id)
    return JSON({"error": {"code": "internal_error", "message": text, "request_id": request_id}}, status_code=500)


def _page(request: Request, request_id: str) -> HTMLResponse:
    locale = locale_of(request)
    parts = request.url.path.split("/")
    home = f"/p/{parts[2]}/" if len(parts) > 2 and parts[1] == "p" and parts[2] else "/staff/"
    body = {"code": "internal_error", "message": gettext(locale, UNEXPECTED).format(request_id=request_id)}
    return render(request, "error.html", {"error": body, "status": 500, "home": home, "request_id": request_id,
                                          "tz": SHANGHAI}, status=500)
