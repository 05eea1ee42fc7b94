"""The interactive API reference at /docs: the vendored Swagger UI renders the app's own operations in headless
Chromium without a single request leaving 127.0.0.1 and without a console error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

VENDOR = Path(__file__).resolve().parents[2] / "src" / "returnflow" / "static" / "vendor"


def test_the_api_reference_renders_from_vendored_files(live, chromium, shots):
    base, _db = live
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    outside, errors = [], []
    page.on("request", lambda r: r.url.startswith(base) or r.url.startswith("data:") or outside.append(r.url))
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
            and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    # Swagger UI draws only the tags near the viewport: every path is checked in its loaded spec, and the drawn
    # operations are checked where they are drawn.
    loaded = page.evaluate("window.ui.specSelectors.paths().keySeq().toArray()")
    assert "/api/v1/cases" in loaded and "/api/v1/cases/{number}/actions/{action}" in loaded and len(loaded) > 100
    drawn = [p.strip().replace("\u200b", "") for p in page.locator(".opblock-summary-path").all_inner_texts()]
    assert "/healthz" in drawn and "/api/v1/orders" in drawn
    assert page.locator(".info .title").inner_text().startswith("returnflow")
    page.screenshot(path=str(shots / "api-reference.png"))
    page.close()
    assert outside == [], outside
    assert errors == [], errors


def test_the_vendored_files_match_the_pinned_table():
    table = (VENDOR / "README.md").read_text(encoding="utf-8")
    for name in ("swagger-ui-5.36.0/swagger-ui-bundle.js", "swagger-ui-5.36.0/swagger-ui.css"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert f"`{name}`" in table and digest in table, name
    assert (VENDOR / "swagger-ui-5.36.0" / "LICENSE").read_text().startswith("\n") or "Apache" in \
        (VENDOR / "swagger-ui-5.36.0" / "LICENSE").read_text()
