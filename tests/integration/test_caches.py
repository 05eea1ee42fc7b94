"""Per-process caches (returnflow/caches.py): a change committed by another process is seen here within the bound,
a change made here is seen at once, and forget_all empties every cache."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from returnflow import caches
from returnflow.auth.service import actor_for_token
from returnflow.caches import CACHES, CHECK_SECONDS, forget_all
from returnflow.cases import reasons
from returnflow.cases.service import get_case
from returnflow.errors import Unauthenticated
from returnflow.logistics.addresses import route_id, save_address
from returnflow.logistics.models import ReturnAddress
from returnflow.merchants.clock import language_of, zone_of
from returnflow.policy import service as policy
from returnflow.sla import settings as sla_settings
from tests.support.flows import open_for
from tests.support.world import make_order, make_shop

SLACK = 0.5  # the time a read takes besides the bound (a loaded machine)

SAVE_ZONE = """
import sys
from returnflow.db import Database
from returnflow.sla import settings
db = Database(sys.argv[1])
with db.transaction() as session:
    settings.save(session, int(sys.argv[2]), {"timezone": "Europe/London", "calendar": "weekdays"}, "elsewhere")
db.dispose()
"""

REVOKE = """
import sys
from returnflow.auth import service
from returnflow.db import Database
db = Database(sys.argv[1])
with db.transaction() as session:
    assert service.revoke(session, token=sys.argv[2])
db.dispose()
"""

SAVE_ADDRESS = """
import sys
from returnflow.actor import Actor
from returnflow.db import Database
from returnflow.logistics.addresses import save_address
db = Database(sys.argv[1])
with db.transaction() as session:
    save_address(session, actor=Actor(kind="staff", role="admin", merchant_id=int(sys.argv[2]), name="elsewhere"),
                 code="BULKY", data={"name": "Bulky goods", "address": "Elsewhere 2", "categories": ["general"]})
db.dispose()
"""


def in_another_process(db, script: str, *args: str) -> float:
    """Runs `script` in a fresh interpreter against the same database; returns when its change committed."""
    url = db.engine.url.render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-c", script, url, *args], check=True, timeout=120)
    return time.monotonic()


def just_checked() -> None:
    """As if this process had just read the versions: the next reads answer from memory."""
    CACHES._checked_at = time.monotonic()


def seen_within(read, expected, committed: float) -> float:
    """Reads until `expected` comes back; the seconds it took after the commit (fails past the bound)."""
    while True:
        if read() == expected:
            return time.monotonic() - committed
        assert time.monotonic() - committed <= CHECK_SECONDS + SLACK, f"still {read()!r} past the bound"
        time.sleep(0.05)


def test_settings_saved_in_another_process_reach_this_one_within_the_bound(db):
    shop = make_shop(db)
    with db.read() as session:
        before = zone_of(session, shop.id).key
    assert before != "Europe/London"
    committed = in_another_process(db, SAVE_ZONE, str(shop.id))
    just_checked()
    with db.read() as session:  # remembered: the other process's change is not read yet
        assert zone_of(session, shop.id).key == before

    def read():
        with db.read() as session:
            return zone_of(session, shop.id).key

    assert seen_within(read, "Europe/London", committed) <= CHECK_SECONDS + SLACK
    with db.read() as session:  # what was derived from the settings went with them
        assert policy.active(session, shop.id)[1] is not None


def test_a_token_revoked_in_another_process_stops_working_here_within_the_bound(db):
    shop = make_shop(db)
    token = shop.tokens["agent"]
    assert actor_for_token(db.reader, token).user_id == shop.user_ids["agent"]
    committed = in_another_process(db, REVOKE, token)
    just_checked()
    assert actor_for_token(db.reader, token).user_id == shop.user_ids["agent"]  # remembered until the next check

    def read():
        try:
            return actor_for_token(db.reader, token).user_id
        except Unauthenticated:
            return "revoked"

    assert seen_within(read, "revoked", committed) <= CHECK_SECONDS + SLACK


POLICY = """[policy]
extends = "cn-law"
"""


def test_a_change_made_in_this_process_is_seen_here_at_once(db):
    shop = make_shop(db)
    with db.read() as session:
        assert policy.active(session, shop.id)[0] is None
        assert "wrong_size" in reasons.codes_for(session, shop.id, "return_refund")
    just_checked()  # no version read can help: the writer itself drops what it changed
    with db.transaction() as session:
        saved = policy.save(session, shop.id, POLICY, shop.actors["admin"])
        reasons.set_reason(session, merchant_id=shop.id, code="wrong_size", labels={"en": "Too small"},
                           fault="customer", case_types=["return_refund"], active=False, sort=1)
    with db.read() as session:
        assert policy.active(session, shop.id)[0].version == saved.version == 1
        assert "wrong_size" not in reasons.codes_for(session, shop.id, "return_refund")


def _routed(db, shop, number: str) -> str | None:
    with db.read() as session:
        found = route_id(session, get_case(session, actor=shop.actors["admin"], number=number))
        return session.get(ReturnAddress, found).code if found is not None else None


def test_a_return_address_saved_in_another_process_routes_cases_here_within_the_bound(db):
    shop = make_shop(db)  # its default address MAIN takes any goods
    make_order(db, shop, "O-1", category="general")
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    assert _routed(db, shop, number) == "MAIN"
    committed = in_another_process(db, SAVE_ADDRESS, str(shop.id))  # a warehouse for the order's category
    just_checked()
    assert _routed(db, shop, number) == "MAIN"  # remembered: the other process's address is not read yet
    assert seen_within(lambda: _routed(db, shop, number), "BULKY", committed) <= CHECK_SECONDS + SLACK


def test_a_return_address_saved_here_routes_the_next_case_at_once(db):
    shop = make_shop(db)
    make_order(db, shop, "O-1", category="general")
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    assert _routed(db, shop, number) == "MAIN"
    just_checked()  # no version read can help: the writer itself drops what it changed
    with db.transaction() as session:
        save_address(session, actor=shop.actors["admin"], code="MAIN", data={"active": False})
    assert _routed(db, shop, number) is None  # the only address is switched off: nowhere to send the goods
    with db.transaction() as session:
        save_address(session, actor=shop.actors["admin"], code="BULKY", data={
            "name": "Bulky goods", "address": "Elsewhere 2", "categories": ["general"]})
    assert _routed(db, shop, number) == "BULKY"


def test_a_change_that_rolls_back_bumps_no_version(db):
    shop = make_shop(db)
    with pytest.raises(RuntimeError), db.transaction() as session:
        policy.save(session, shop.id, POLICY, shop.actors["admin"])
        raise RuntimeError("the request failed after the save")
    with db.read() as session:
        assert policy.active(session, shop.id)[0] is None
        # The shop's own setup bumped other caches (its return address); the rolled-back policy bumped nothing.
        bumped = [row.name for row in session.connection().execute(caches._READ_VERSIONS)]
        assert "active_policy" not in bumped and "merchant_settings" not in bumped


def test_forget_all_empties_every_cache(db):
    shop = make_shop(db)
    with db.read() as session:
        zone_of(session, shop.id)
        sla_settings.for_merchant(session, shop.id)
        language_of(session, shop.id)
        policy.active(session, shop.id)
        reasons.codes_for(session, shop.id, "return_refund")
    actor_for_token(db.reader, shop.tokens["agent"])
    make_order(db, shop, "O-1")
    _routed(db, shop, open_for(db, shop.actors["agent"], "O-1", "return_refund"))
    filled = {cache.spec.name for cache in CACHES if len(cache)}
    assert {"merchant_settings", "merchant_language", "merchant_zone", "active_policy", "reasons", "tokens",
            "return_addresses"} <= filled
    forget_all()
    assert [cache.spec.name for cache in CACHES if len(cache)] == []


def test_every_cache_is_declared_with_what_it_holds_and_a_bound():
    for cache in CACHES:
        assert cache.spec.holds and cache.spec.bound > 0, cache.spec


def test_a_cache_keeps_no_more_than_its_bound():
    own = caches.Caches((caches.Spec("small", "numbers", 3, watched=False),))
    for n in range(10):
        own["small"].put(n, n * n)
    assert len(own["small"]) == 3 and own["small"].peek(9) == 81 and own["small"].peek(0) is None
