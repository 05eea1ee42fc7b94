"""A live server on 127.0.0.1 (uvicorn in a thread, SQLite) and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from starlette.responses import FileResponse

from returnflow.config import Settings
from tests.conftest import migrated_sqlite

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
AXE_URL = "/__tests/axe.min.js"  # where each live server serves it
# Screenshots go to docs/screenshots when RETURNFLOW_SCREENSHOTS names that folder (scripts/screenshots).
SHOTS_ENV = "RETURNFLOW_SCREENSHOTS"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LIVE_APPS: dict = {}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(base URL, Database) of a freshly migrated server."""
    import uvicorn

    from returnflow.app import create_app
    from returnflow.caches import forget_all

    folder = tmp_path_factory.mktemp("live")
    db = migrated_sqlite(tmp_path_factory, folder / "live.db")
    forget_all()
    app = create_app(Settings(data_dir=folder / "data", database_url="unused"), db=db)
    app.state.code_channels = frozenset({"email", "sms"})  # the journeys read the codes from the outbox
    from tests.conftest import FIXED_NOW

    app.state.clock = lambda: FIXED_NOW  # no calendar banner that depends on today's date
    # axe-core from the server itself: the browser then keeps it cached and compiled, instead of the 650 KB crossing
    # Playwright's pipe and being parsed again on every page checked (tests/support/walk.py; ~100 -> ~25 ms a page).
    app.add_api_route(AXE_URL, lambda: FileResponse(AXE, media_type="text/javascript",
                                                    headers={"Cache-Control": "max-age=86400"}),
                      include_in_schema=False)
    port = _free_port()
    LIVE_APPS[f"http://127.0.0.1:{port}"] = app  # a journey may change what the deployment can send
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", db
    server.should_exit = True
    thread.join(10)
    db.dispose()


@pytest.fixture(scope="module")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium (scripts/system-packages)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get(SHOTS_ENV) or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
