"""tests/support/asgi.py's TestClient answers as starlette's does, without the second thread."""

from __future__ import annotations

import threading

import anyio
import pytest
from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.testclient import TestClient as PortalTestClient

from tests.support.asgi import SameThreadPortal, TestClient

done: list[str] = []


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/scope")
    async def scope(request: Request):
        s = request.scope
        return {"client": list(s["client"]), "server": list(s["server"]), "root_path": s["root_path"],
                "path": s["path"], "raw_path": s["raw_path"].decode(), "query": s["query_string"].decode(),
                "http_version": s["http_version"], "scheme": s["scheme"],
                "headers": sorted(k.decode() for k, _ in s["headers"]), "extensions": sorted(s["extensions"]),
                "thread_is_caller": threading.current_thread() is threading.main_thread()}

    @app.post("/echo")
    async def echo(request: Request):
        return Response(await request.body(), media_type="application/octet-stream")

    @app.get("/cookie")
    def cookie(response: Response, request: Request):
        response.set_cookie("seen", str(int(request.cookies.get("seen", "0")) + 1))
        return {"seen": request.cookies.get("seen")}

    @app.get("/later")
    def later(tasks: BackgroundTasks):
        tasks.add_task(done.append, "background")
        return PlainTextResponse("now")

    @app.api_route("/stream", methods=["GET", "HEAD"])
    def stream():
        return StreamingResponse(iter([b"a", b"b", b"c"]), media_type="text/plain")

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    return app


def test_the_scope_is_starlettes_and_the_app_runs_in_the_calling_thread():
    app = make_app()
    ours = TestClient(app).get("/scope?a=1&b=%20", headers={"X-Probe": "1"}).json()
    theirs = PortalTestClient(app).get("/scope?a=1&b=%20", headers={"X-Probe": "1"}).json()
    assert ours.pop("thread_is_caller") is True and theirs.pop("thread_is_caller") is False
    assert ours == theirs
    assert ours["client"] == ["testclient", 50000] and "x-probe" in ours["headers"]


def test_bodies_cookies_streams_and_head_requests():
    with TestClient(make_app()) as client:
        payload = bytes(range(256)) * 300
        assert client.post("/echo", content=payload).content == payload
        assert client.get("/cookie").json() == {"seen": None}
        assert client.get("/cookie").json() == {"seen": "1"}  # the cookie jar carries it, as a browser would
        assert client.get("/stream").text == "abc"
        head = client.head("/stream")
        assert head.status_code == 200 and head.content == b""


def test_background_tasks_have_run_when_the_answer_returns():
    done.clear()
    answer = TestClient(make_app()).get("/later")
    assert answer.text == "now" and done == ["background"]


def test_server_errors_raise_or_come_back_as_the_apps_500():
    app = make_app()
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app).get("/boom")
    answer = TestClient(app, raise_server_exceptions=False).get("/boom")
    theirs = PortalTestClient(app, raise_server_exceptions=False).get("/boom")
    assert answer.status_code == theirs.status_code == 500
    assert answer.text == theirs.text


def test_the_same_thread_portal_runs_functions_and_coroutines_to_their_end_on_the_calling_thread():
    """What schemathesis's ASGI transport asks of its portal (tests/api/test_api_fuzz.py): a plain callable made
    inside the loop (an anyio Event), then a coroutine that waits on it, both on the caller's thread."""
    portal = SameThreadPortal()
    event = portal.call(anyio.Event)
    threads: list[int] = []

    async def run(value: int) -> int:
        threads.append(threading.get_ident())
        event.set()
        await event.wait()
        await anyio.sleep(0)
        return value * 2

    assert portal.call(run, 21) == 42
    assert event.is_set() and threads == [threading.get_ident()]
    with pytest.raises(ZeroDivisionError):
        portal.call(lambda: 1 / 0)
