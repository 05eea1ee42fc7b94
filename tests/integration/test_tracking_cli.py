"""`returnflow tracking`: events a polling job fetched are stored like webhook events (real Correios sample)."""

from __future__ import annotations

import json

from tests.integration.test_cli import cli_env, run_cli  # noqa: F401  (the fixture is used by name)
from tests.support.tracking_samples import correios_body


def test_tracking_ingest_stores_a_polled_file_once(cli_env, tmp_path):  # noqa: F811
    run_cli(cli_env, "demo")
    path = tmp_path / "correios.json"
    path.write_text(json.dumps(correios_body(), ensure_ascii=False), encoding="utf-8")
    out = run_cli(cli_env, "tracking", "ingest", str(path), "--format", "correios", "--merchant", "demo").stdout
    assert "accepted 12, duplicates 0, unmatched 12, unknown to the carrier 2" in out
    again = run_cli(cli_env, "tracking", "ingest", str(path), "--format", "correios", "--merchant", "demo").stdout
    assert "accepted 0, duplicates 12" in again
    bad = run_cli(cli_env, "tracking", "ingest", str(path), "--format", "fedex", "--merchant", "demo", check=False)
    assert bad.returncode == 1 and "format" in bad.stdout
    assert "BE058714266BR" in run_cli(cli_env, "tracking", "carriers").stdout
