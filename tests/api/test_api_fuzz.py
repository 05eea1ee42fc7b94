"""Schemathesis over the whole API as a merchant admin with a shop and an order: no 5xx, and every answer matches
the OpenAPI description (status documented, content type, body schema, headers). Runs on SQLite; the hostile
inputs that differ by backend (NUL, big integers) are checked on both in test_bad_input.py."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.python.asgi import ASGIClient, get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance, status_code_conformance,
    unsupported_method,
)

from returnflow.auth.service import issue_token
from returnflow.auth.models import User
from returnflow.db import Database
from tests.conftest import migrated_sqlite
from tests.support.asgi import SameThreadPortal
from tests.support.world import make_order, make_shop

# Examples per operation and generation mode; RETURNFLOW_FUZZ_EXAMPLES raises it for a longer hunt.
EXAMPLES = int(os.environ.get("RETURNFLOW_FUZZ_EXAMPLES", "25"))
COVERAGE = os.environ.get("RETURNFLOW_FUZZ_COVERAGE", "1") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, unsupported_method]


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Iterator[Database]:
    """SQLite only: the fuzz run is long, and its backend-dependent inputs are tested on both in test_bad_input."""
    db = migrated_sqlite(tmp_path_factory, tmp_path_factory.mktemp("fuzz") / "fuzz.db")
    yield db
    db.dispose()


@pytest.fixture
def call(app, monkeypatch) -> Iterator[Callable[[Case], Response]]:
    """Sends a case as schemathesis's ASGI transport does, through a client per operation made once rather than for
    every call (a requests session, the proxy settings read from the environment: ~0.5 ms a call). The cookies a
    response sets are dropped after it, so every call starts without any, as through a client of its own.

    The app's lifespan starts on schemathesis's portal thread as usual; each request then runs on this thread's
    event loop instead of being handed across to that thread and back (tests/support/asgi.py)."""
    schemathesis_asgi._start_lifespan(app)
    monkeypatch.setattr(schemathesis_asgi, "_get_portal", SameThreadPortal)
    clients: dict[str, ASGIClient] = {}
    with ExitStack() as stack:
        def send(case: Case) -> Response:
            client = clients.get(case.operation.label)
            if client is None:
                events = case.operation.schema.config.max_stream_events_for(operation=case.operation)
                client = clients[case.operation.label] = stack.enter_context(get_client(app, max_stream_events=events))
                client.trust_env = False  # in process: no proxy or .netrc applies
            try:
                return case.call(session=client)
            finally:
                client.cookies.clear()

        yield send


def client_call(app, method: str, url: str, token: str, body: dict) -> dict:
    from tests.support.asgi import TestClient

    answer = TestClient(app).request(method, url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code < 300, answer.text
    return answer.json()


def test_the_whole_api_answers_as_described_and_never_5xx(app, db, call):
    shop = make_shop(db, "shop")
    make_order(db, shop, "O-1")
    admin_id = shop.user_ids["admin"]
    token = {"value": shop.tokens["admin"]}

    def fresh_token() -> str:
        with db.transaction() as session:
            token["value"] = issue_token(session, user=session.get(User, admin_id))
        return token["value"]

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    examples = 0

    def send(case, label: str) -> None:
        nonlocal examples
        examples += 1
        # Set on the case: schemathesis would otherwise send a generated bearer token of its own.
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token['value']}",
                        "Accept-Language": "en"}
        response = call(case)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:  # collected: one run reports every operation
            failures.append(f"{label}: {str(exc)[:700]}")
        if case.operation.method.upper() == "DELETE" and case.operation.path == "/api/v1/auth/token":
            fresh_token()  # the fuzz just signed itself out

    # Coverage: schemathesis's boundary values for every parameter, and methods the path does not have.
    if COVERAGE:
        for operation in operations:
            config = schema.config.generation_for(operation=operation, phase="coverage")
            for case in schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                                   generation_config=config):
                send(case, f"{operation.label} [coverage]")

    opened = client_call(app, "POST", "/api/v1/cases", token["value"],
                         {"order": "O-1", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})
    # Path values naming records that exist, so generated bodies reach the code behind the look-up.
    known = {("cases", "number"): opened["number"], ("orders", "number"): "O-1", ("customers", "external_id"): "C-1",
             ("users", "user_id"): shop.user_ids["agent"], ("public", "code"): "shop", ("policy", "version"): 1}

    for operation in operations:
        names = [p.name for p in operation.path_parameters]
        fixed = {n: known[(operation.path.split("/")[3], n)] for n in names
                 if (operation.path.split("/")[3], n) in known}
        passes = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if fixed:
            passes.append((GenerationMode.POSITIVE, fixed))
        for mode, path_parameters in passes:
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case):
                send(case, f"{operation.label} [{mode.value}{', existing records' if path_parameters else ''}]")

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to get wrong (no parameters)

    five = sum(n for status, n in statuses.items() if status >= 500)
    print(f"\nfuzzed {len(operations)} operations, {examples} examples, statuses {dict(sorted(statuses.items()))}, "
          f"5xx: {five}, failures: {len(failures)}")
    assert len(operations) >= 100
    assert not failures, "\n\n".join(failures[:40])
    assert five == 0
