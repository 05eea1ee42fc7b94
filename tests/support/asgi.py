"""A TestClient that runs the app on an event loop in the calling thread.

starlette's TestClient runs the app in a second thread behind an anyio blocking portal and hands every step of a
request across (the app's start, each receive and send, the response's events and body): eight thread hand-offs,
~1 ms of CPU per request, which the API tests paid thousands of times. This one builds the same ASGI scope
(starlette's, with its "testclient" address, debug and trailers extensions and lifespan state), then runs the app
to the end with `loop.run_until_complete` on one event loop kept per thread, and answers with the whole body.
Sync endpoints and dependencies still run in anyio's worker threads, as they do under a server.

What it does not do: streamed responses are read whole before the answer returns (every response of the app ends),
and websockets or a caller inside a running event loop fall back to starlette's portal transport.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.testclient import TestClient as PortalTestClient

_local = threading.local()


def _loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class SameThreadPortal:
    """Stands in for anyio's blocking portal where a library hands each request to a portal thread (schemathesis's
    ASGI transport, tests/api/test_api_fuzz.py): `call` runs the function to its end on the calling thread's loop."""

    def call(self, func: Any, *args: Any) -> Any:
        async def run() -> Any:
            result = func(*args)
            return await result if inspect.isawaitable(result) else result

        return _loop().run_until_complete(run())


class _SameThreadTransport(httpx.BaseTransport):
    def __init__(self, portal_transport: httpx.BaseTransport, client: TestClient) -> None:
        self.portal_transport = portal_transport  # websockets, and callers already inside an event loop
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme in {"ws", "wss"} or _in_running_loop():
            return self.portal_transport.handle_request(request)
        return _loop().run_until_complete(self._call(request))

    async def _call(self, request: httpx.Request) -> httpx.Response:
        client = self.client
        url = request.url
        port = url.port or {"http": 80, "https": 443}[url.scheme]
        headers = [] if "host" in request.headers else [(b"host", url.netloc)]
        headers += [(key.lower().encode(), value.encode()) for key, value in request.headers.multi_items()]
        scope = {
            "type": "http", "http_version": "1.1", "method": request.method, "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?", 1)[0], "root_path": client.root_path, "scheme": url.scheme,
            "query_string": url.query, "headers": headers, "client": client.client_address,
            "server": [url.raw_host.decode("ascii"), port],
            "extensions": {"http.response.debug": {}, "http.response.trailers": {}},
            "state": client.app_state.copy(),
        }
        body = request.read()
        sent = False
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        trailers: list[tuple[bytes, bytes]] = []
        debug: dict[str, Any] | None = None
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await finished.wait()  # the app waits for a disconnect only once it has answered
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body}

        async def send(message: dict[str, Any]) -> None:
            nonlocal debug
            kind = message["type"]
            if kind == "http.response.start":
                assert not start, 'Received multiple "http.response.start" messages.'
                start.update(message)
            elif kind == "http.response.body":
                assert start, 'Received "http.response.body" without "http.response.start".'
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False) and not start.get("trailers", False):
                    finished.set()
            elif kind == "http.response.trailers":
                trailers.extend(message.get("headers", []))
                if not message.get("more_trailers", False):
                    finished.set()
            elif kind == "http.response.debug":
                debug = message["info"]

        try:
            await client.app(scope, receive, send)
        except Exception:
            if client.raise_server_exceptions:
                raise
            # As starlette's client: the answer the app sent before it failed (its 500 page), else a bare 500.
        finally:
            finished.set()
        if not start:
            if client.raise_server_exceptions:
                raise AssertionError("TestClient did not receive any response.")
            return httpx.Response(500, request=request)
        response = httpx.Response(
            start["status"], request=request,
            headers=[(key.decode(), value.decode()) for key, value in start.get("headers", [])],
            content=b"" if request.method == "HEAD" else b"".join(chunks))
        if start.get("trailers", False):
            response.extensions["http.response.trailers"] = trailers
        if debug is not None:
            response.extensions["http.response.debug"] = debug
            if "template" in debug:
                response.template = debug["template"]  # type: ignore[attr-defined]
            if "context" in debug:
                response.context = debug["context"]  # type: ignore[attr-defined]
        return response

    def close(self) -> None:
        self.portal_transport.close()


class TestClient(PortalTestClient):
    """starlette's TestClient with its requests run in the calling thread (module docstring); same arguments."""

    __test__ = False

    def __init__(self, app, *args: Any, raise_server_exceptions: bool = True, root_path: str = "",
                 client: tuple[str, int] = ("testclient", 50000), **kwargs: Any) -> None:
        super().__init__(app, *args, raise_server_exceptions=raise_server_exceptions, root_path=root_path,
                         client=client, **kwargs)
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self.client_address = client
        self._transport = _SameThreadTransport(self._transport, self)
