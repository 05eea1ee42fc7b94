#!/usr/bin/env python
"""What one request costs the app itself, in CPU, against the FLOOR's POST in the same run (SQLite).

    .venv/bin/python bench/request_cpu.py

bench/lifecycle.py measures throughput through uvicorn with 16 clients, a worker and the client sharing the
machine's cores; on a busy or noisy machine its figures move by a fifth between runs. This bench takes those
away: in one process, one request after another, it calls the ASGI apps directly (no server, no socket, no
client library) and reads the process's CPU time, so what is left is the app's own work:

1. FLOOR: bench/floor_app.py's POST (one `async def`, a small pydantic body, one INSERT in its own transaction, on
   a fresh SQLite file through returnflow.db.make_engine) and its constant GET;
2. returnflow's app (a fresh SQLite file, the merchant, staff and orders of bench/lifecycle.py, derivation in
   `worker` mode as in production, nobody deriving meanwhile): a constant GET added as its first route (the
   framework and returnflow's middlewares, nothing else), then N cases each walked through open → ship_return →
   receive → inspect → resolve → close, each request's CPU time taken alone;
3. how long FastAPI takes to find the route of a few paths (the lifecycle's, the console's, the portal's).

Everything is done twice after a warm-up and the lower figure of the two is kept. Environment:
    RF_BENCH_CASES=300      lifecycle cases per pass
    RF_BENCH_FLOOR=3000     floor requests per pass
The last line is the headline: the lifecycle's mean CPU per request as a multiple of the floor's POST.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))

import orjson  # noqa: E402

N_CASES = int(os.environ.get("RF_BENCH_CASES", "300"))
N_FLOOR = int(os.environ.get("RF_BENCH_FLOOR", "3000"))
WARMUP_CASES = 30


class Call:
    """One request straight into an ASGI app; returns the status."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
                       ) -> tuple[int, bytes]:
        raw = [(b"host", b"bench"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": raw, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # the client never disconnects

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def per_request(call: Call, method: str, path: str, bodies, expect: int, n: int) -> float:
    """Mean CPU ms per request over n requests (after n // 10 not counted)."""
    for i in range(max(n // 10, 1)):
        status, text = await call(method, path, bodies(i))
        assert status == expect, (path, status, text[:300])
    t = time.process_time()
    for i in range(n):
        await call(method, path, bodies(n + i))
    return 1000 * (time.process_time() - t) / n


async def floor(tmp: Path) -> dict[str, float]:
    os.environ["FLOOR_DATABASE_URL"] = f"sqlite:///{(tmp / 'floor.db').as_posix()}"
    import floor_app

    floor_app.metadata.create_all(floor_app.engine)
    call = Call(floor_app.app)
    best: dict[str, float] = {}
    for _ in range(2):
        post = await per_request(call, "POST", "/items", lambda i: orjson.dumps(
            {"ref": f"R-{i:07d}-{time.monotonic_ns()}", "quantity": 1, "note": "bench"}), 201, N_FLOOR)
        get = await per_request(call, "GET", "/healthz", lambda i: b"", 200, N_FLOOR)
        best["post"] = min(best.get("post", post), post)
        best["get"] = min(best.get("get", get), get)
    return best


async def lifecycle(tmp: Path) -> tuple[dict[str, float], float, dict[str, float]]:
    url = f"sqlite:///{(tmp / 'data' / 'returnflow.db').as_posix()}"
    os.environ.update({"RETURNFLOW_DATABASE_URL": url, "RETURNFLOW_DATA_DIR": str(tmp / "data"),
                       "RETURNFLOW_DERIVE": "worker"})
    import lifecycle as walk

    seeded = walk.seed(url, WARMUP_CASES + 2 * N_CASES)
    from fastapi.routing import APIRoute
    from starlette.routing import Match

    from returnflow.app import create_app

    app = create_app()

    async def constant() -> dict:
        return {"ok": True}

    app.add_api_route("/bench-constant", constant, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())  # the first route: nothing scanned before it
    assert isinstance(app.router.routes[0], APIRoute)
    call = Call(app)
    first_route = min([await per_request(call, "GET", "/bench-constant", lambda i: b"", 200, N_FLOOR)
                       for _ in range(2)])

    auth = {role: {"Authorization": f"Bearer {token}"} for role, token in seeded.tokens.items()}
    cpu: dict[str, list[float]] = {kind: [] for kind in walk.REQUEST_TYPES}

    async def one(order: str, keep: bool) -> None:
        t = time.process_time()
        status, text = await call("POST", "/api/v1/cases", orjson.dumps({
            "order": order, "type": "return_refund", "channel": "portal", "reason": "wrong_size",
            "description": "bench", "lines": [{"line_no": 1, "quantity": 1}]}), auth["agent"])
        if keep:
            cpu["open"].append(time.process_time() - t)
        assert status == 201, text[:300]
        case = orjson.loads(text)
        for action, role, payload in walk.STEPS:
            if action == "ship_return":
                payload = {**payload, "tracking_number": f"SF{case['number'][2:]}"}
            t = time.process_time()
            status, text = await call("POST", f"/api/v1/cases/{case['number']}/actions/{action}",
                                      orjson.dumps({"version": case["version"], "payload": payload}), auth[role])
            if keep:
                cpu[action].append(time.process_time() - t)
            assert status == 200, (action, text[:300])
            case = orjson.loads(text)

    orders = iter(seeded.orders)
    for _ in range(WARMUP_CASES):
        await one(next(orders), False)
    passes = []
    for _ in range(2):
        for kind in cpu:
            cpu[kind] = []
        for _ in range(N_CASES):
            await one(next(orders), True)
        passes.append({kind: 1000 * statistics.fmean(values) for kind, values in cpu.items()})
    best = min(passes, key=lambda p: statistics.fmean(p.values()))

    paths = {"lifecycle step (API)": ("POST", "/api/v1/cases/RT-1/actions/receive"),
             "case (API)": ("GET", "/api/v1/cases/RT-1"), "staff console home": ("GET", "/staff/"),
             "staff case page": ("GET", "/staff/cases/RT-1"), "portal home": ("GET", "/portal/"),
             "no such path": ("GET", "/no-such-page")}
    routing = {}
    for label, (method, path) in paths.items():
        n = 2000
        t = time.process_time()
        for _ in range(n):
            scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
                     "query_string": b"", "app": app}
            for route in app.router.routes:
                if route.matches(scope)[0] == Match.FULL:
                    break
        routing[label] = 1000 * (time.process_time() - t) / n
    return best, first_route, routing


def main() -> int:
    print(f"returnflow request CPU bench: in one process, ASGI calls one after another, SQLite; "
          f"{N_CASES} cases (6 requests each) and {N_FLOOR} floor requests per pass, the lower of two passes",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="rf-request-cpu-") as folder:
        tmp = Path(folder)
        floor_ms = asyncio.run(floor(tmp))
        steps, first_route, routing = asyncio.run(lifecycle(tmp))
    print(f"floor: POST (one INSERT) {floor_ms['post']:.3f} ms, constant GET {floor_ms['get']:.3f} ms")
    print(f"returnflow: constant GET as its first route (framework and middlewares) {first_route:.3f} ms")
    print(f"   {'request':<12}{'CPU ms':>8}{'x floor POST':>14}")
    for kind, ms in steps.items():
        print(f"   {kind:<12}{ms:>8.3f}{ms / floor_ms['post']:>14.1f}")
    print("finding the route (FastAPI's scan of the app's routes, one pass as Starlette's router makes it):")
    for label, ms in routing.items():
        print(f"   {label:<24}{ms:>8.3f} ms")
    mean = statistics.fmean(steps.values())
    print(f"request cpu sqlite: lifecycle {mean:.2f} ms/request = {mean / floor_ms['post']:.1f}x the floor's POST "
          f"({floor_ms['post']:.2f} ms); open {steps['open']:.2f} ms; a console page's route found in "
          f"{routing['staff console home']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
