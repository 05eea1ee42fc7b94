"""Stored merchant policies: save a new version (validated first), read the active one, compile with a cache.

Every save adds a version (1, 2, 3... per merchant); nothing is overwritten, and the highest version is the
active policy. A merchant that never saved one gets a default preset (`default_preset`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from ..actor import Actor
from ..caches import CACHES, changed
from ..db import utcnow
from ..errors import NotFound
from ..merchants.models import Merchant
from .compiled import Policy
from .loader import PRESETS, load_policy, load_preset
from .models import PolicyVersion
from ..merchants.clock import zone_of
from ..merchants.country import preset_for_country

SOURCE_NAME = "policy.toml"  # the name a stored file is loaded (and its errors reported) under
EU_CURRENCIES = frozenset({"EUR"})


def default_preset(merchant) -> str:
    """The preset a merchant without a saved policy gets.

    `merchant.settings["policy_preset"]` when it names a shipped preset (setup writes the one it chose there);
    otherwise the law of the merchant's country: CN → cn-law, EU/EEA → eu-crd, GB → uk-ccr, any other country →
    merchant-rules (the shop's own rules, citing no law). A merchant without a country keeps what it had: cn-law
    for CNY, eu-crd for EUR; GBP reads as uk-ccr, and any other currency gets merchant-rules, never PRC law.
    """
    chosen = (merchant.settings or {}).get("policy_preset")
    if isinstance(chosen, str) and chosen in PRESETS:
        return chosen
    return preset_for_country(getattr(merchant, "country", None), merchant.default_currency)


NEUTRAL = "merchant-rules"  # the preset stated in the merchant's own currency and time zone


def default_policy(session: Session, merchant_id: int, merchant) -> Policy:
    """The compiled default preset of a merchant without a saved policy. merchant-rules has no currency or zone
    of its own: it is stated in the merchant's (amounts, and the dates of its windows)."""
    name = default_preset(merchant)
    if name != NEUTRAL:
        return compile_preset(name)

    currency, zone = merchant.default_currency, zone_of(session, merchant_id)
    return _cached(("preset", name, currency, zone.key),
                   lambda: dataclasses.replace(load_preset(name), currency=currency, timezone=zone))


def compile_version(row) -> Policy:
    """The compiled policy of a stored version, cached per (merchant, version) in this process.

    The key also carries a digest of the text, so a cache entry can never answer for another row that
    reuses the same merchant id and number (a database emptied and refilled, as tests do).
    """
    key = (row.merchant_id, row.version, hashlib.sha256(row.source.encode()).hexdigest())
    return _cached(key, lambda: load_policy(row.source, source=SOURCE_NAME))


def compile_preset(name: str) -> Policy:
    return _cached(("preset", name), lambda: load_preset(name))


def _cached(key: tuple, build) -> Policy:
    """Compiled policies (caches.py "compiled_policies"): the key says all a compilation depends on."""
    return CACHES["compiled_policies"].get(None, key, build)


def extends_of(source: str) -> str:
    """The `[policy] extends` of a file that already loaded ("" for a file that extends nothing)."""
    return str(tomllib.loads(source).get("policy", {}).get("extends", ""))


def save(session: Session, merchant_id: int, source: str, actor: Actor) -> PolicyVersion:
    """Validates `source` and stores it as the merchant's next version; a bad file raises PolicyError and
    writes nothing, so the active version stays as it was."""
    policy = load_policy(source, source=SOURCE_NAME)  # raises before anything is written
    if session.get_bind().dialect.name == "postgresql":
        # Two saves at once would both pick the same number: serialise them on the merchant row.
        session.execute(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())
    last = session.scalar(select(func.max(PolicyVersion.version)).where(PolicyVersion.merchant_id == merchant_id))
    row = PolicyVersion(merchant_id=merchant_id, version=(last or 0) + 1, source=source,
                        extends=extends_of(source)[:100], created_at=utcnow(), created_by=actor.ref)
    session.add(row)
    session.flush()
    key = (row.merchant_id, row.version, hashlib.sha256(source.encode()).hexdigest())
    CACHES["compiled_policies"].put(key, policy)
    changed(session, "active_policy", merchant_id)
    return row


def current(session: Session, merchant_id: int) -> tuple[PolicyVersion | None, Policy]:
    """The active version and its compiled policy; (None, the default preset) when none was saved."""
    row = session.scalar(select(PolicyVersion).where(PolicyVersion.merchant_id == merchant_id)
                         .order_by(PolicyVersion.version.desc()).limit(1))
    if row is not None:
        return row, compile_version(row)
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("merchant", merchant_id, field="merchant")
    return None, default_policy(session, merchant_id, merchant)


_LATEST = aliased(PolicyVersion)
_ACTIVE = (select(Merchant.settings, Merchant.default_currency, Merchant.country, PolicyVersion.merchant_id,
                  PolicyVersion.version, PolicyVersion.source, PolicyVersion.extends)
           .select_from(Merchant)
           .outerjoin(PolicyVersion, and_(
               PolicyVersion.merchant_id == Merchant.id,
               PolicyVersion.version == select(func.max(_LATEST.version)).where(_LATEST.merchant_id == Merchant.id)
               .correlate(Merchant).scalar_subquery()))
           .where(Merchant.id == bindparam("merchant_id")))


def active(session: Session, merchant_id: int):
    """What `current` answers, in one Core statement (the hot path of opening a case): the active version as a row
    (merchant_id, version, source, extends; None when none was saved) and its compiled policy. Remembered per
    process (caches.py "active_policy"): a save anywhere is seen here within caches.CHECK_SECONDS."""
    return CACHES["active_policy"].get(session, merchant_id, lambda: _active(session, merchant_id), merchant_id)


def _active(session: Session, merchant_id: int):
    row = session.connection().execute(_ACTIVE, {"merchant_id": merchant_id}).first()
    if row is None:
        raise NotFound("merchant", merchant_id, field="merchant")
    if row.version is not None:
        return row, compile_version(row)
    return None, default_policy(session, merchant_id, row)


def get_version(session: Session, merchant_id: int, version: int) -> PolicyVersion:
    """One stored version of the merchant; 404 for a number it does not have."""
    row = session.scalar(select(PolicyVersion).where(PolicyVersion.merchant_id == merchant_id,
                                                     PolicyVersion.version == version))
    if row is None:
        raise NotFound("policy version", version, field="version")
    return row


def versions(session: Session, merchant_id: int) -> list[PolicyVersion]:
    """Every stored version of the merchant, newest first."""
    return list(session.scalars(select(PolicyVersion).where(PolicyVersion.merchant_id == merchant_id)
                                .order_by(PolicyVersion.version.desc())))


# SLA steps and the policy clock that states the same promise.
STEP_CLOCK = {"customer_shipping": "customer_ship", "receipt_confirmation": "receipt_confirmation",
              "refund": "refund", "repair": "repair", "appeal": "appeal", "review": "shipped_response"}


def step_rule(session: Session, merchant_id: int, step: str, rule: str | None) -> str | None:
    """The rule a default SLA timer cites, from the merchant's own policy: its clock for the step when it has one,
    the default rule when the policy cites it, else the SLA step itself — a shop on cn-law or eu-crd never sees
    a platform's (Taobao's) rule id."""
    if not rule or rule.startswith(("SLA.", "M.")):
        return rule
    # The merchant's active policy, remembered per process (caches.py "active_policy"; a step starts on most
    # transitions, the policy changes only when the merchant saves one).
    policy = active(session, merchant_id)[1]
    clock = policy.clocks.get(STEP_CLOCK.get(step, ""))
    if clock is not None:
        return clock.rule
    return rule if rule in policy.citations else f"SLA.{step}"

