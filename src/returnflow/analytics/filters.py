"""What a report is asked for: period, merchant, slices and grouping, checked once for the API, CLI and pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import Explained, NotFound
from ..merchants.models import Merchant
from ..i18n import N_
from ..merchants.clock import zone_of

DIMENSIONS = ("sku", "category", "supplier", "country", "channel", "period")
GRANULARITIES = ("auto", "day", "week", "month")
SLICES = ("category", "sku", "supplier", "country", "channel", "reason")
PARAMS = ("merchant", "from", "to", "by", "granularity", "limit", "format", "lang") + SLICES
DEFAULT_DAYS = 90
MAX_DAYS = 366 * 20  # a twenty-year window still answers quickly; beyond that is a typo, not a question
MAX_BUCKETS = 1000
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Filters:
    """A checked report request. `start`/`end` are UTC instants, end exclusive: the merchant-local midnights that
    begin the first day and follow the last one (`zone`, the merchant's time zone; Asia/Shanghai across merchants)."""

    start: datetime
    end: datetime
    merchant_ids: tuple[int, ...] | None  # None: every merchant (platform staff only)
    merchant_code: str | None = None
    by: str = "sku"
    granularity: str = "month"
    limit: int = 50
    slices: dict[str, str] = field(default_factory=dict)
    zone: str = "UTC"
    # Every merchant's id when merchant_ids is None: the platform's reads name them all (merchant_in), so the
    # (merchant_id, date, ...) covering indexes serve them as they serve one merchant's.
    every_merchant: tuple[int, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def first_day(self) -> date:
        return self.start.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        return (self.end.astimezone(self.tz) - timedelta(hours=12)).date()

    def echo(self) -> dict:
        """The filters as the answer repeats them."""
        return {"merchant": self.merchant_code, "from": self.first_day.isoformat(), "to": self.last_day.isoformat(),
                "by": self.by, "granularity": self.granularity, "limit": self.limit, **self.slices}

    def query(self, **override) -> dict[str, str]:
        """Query parameters that ask for these filters again (for links), with `override` applied."""
        out = {"from": self.first_day.isoformat(), "to": self.last_day.isoformat(), **self.slices}
        if self.merchant_code:
            out["merchant"] = self.merchant_code
        out.update({k: v for k, v in override.items() if v is not None})
        return out

    def merchant_in(self, column) -> list:
        """The condition that keeps `column` (a merchant id) to the scope: the merchants asked for, or on the
        platform every merchant by id (the same rows as no condition: each row's merchant is one of them)."""
        ids = self.merchant_ids if self.merchant_ids is not None else self.every_merchant
        return [column.in_(ids)] if ids else []

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


def _bad(field_name: str, msgid: str, /, allowed=None, **params) -> Explained:
    return Explained(field_name, msgid, code="invalid_filter", allowed=allowed, **params)


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip()[:10]) if len(text.strip()) >= 10 else date.fromisoformat(text.strip())
    except ValueError:
        raise _bad(name, N_("{given} is not a date such as 2026-11-24"), given=repr(text)) from None


def parse(session: Session, actor: Actor, params: Mapping[str, str], *, today: date | None = None,
          extra: tuple[str, ...] = ()) -> Filters:
    """Checks report parameters: unknown names, dates, ranges, grouping and the actor's merchant are refused clearly.

    `extra` names parameters the caller reads itself (they are allowed, not interpreted here).
    """
    known = PARAMS + extra
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise _bad(unknown[0], N_("is not a known filter; known filters: {known}"), known=', '.join(known),
                   allowed=list(known))
    merchant_ids, code = _merchant(session, actor, (params.get("merchant") or "").strip())
    zone = _zone(session, merchant_ids)
    today = today or datetime.now(ZoneInfo(zone)).date()
    last = _day("to", params["to"]) if params.get("to") else today
    first = _day("from", params["from"]) if params.get("from") else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise _bad("from", N_("{first} is after to={last}; the period must start on or before its end"), first=first,
                   last=last)
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise _bad("from", N_("the period {first}..{last} spans {days} days; at most {most} (20 years)"), first=first,
                   last=last, days=days, most=MAX_DAYS)
    by = params.get("by") or "sku"
    if by not in DIMENSIONS:
        raise _bad("by", N_("{by} is not a grouping; allowed: {choices}"), by=repr(by), choices=', '.join(DIMENSIONS),
                   allowed=list(DIMENSIONS))
    granularity = params.get("granularity") or "auto"
    if granularity not in GRANULARITIES:
        raise _bad("granularity", N_("{granularity} is not allowed; allowed: {choices}"),
                   granularity=repr(granularity), choices=', '.join(GRANULARITIES), allowed=list(GRANULARITIES))
    if granularity == "auto":
        granularity = "day" if days <= 62 else "week" if days <= 190 else "month"
    buckets = {"day": days, "week": days // 7 + 2, "month": days // 28 + 2}[granularity]
    if buckets > MAX_BUCKETS:
        raise _bad("granularity",
                   N_("{granularity} over {days} days makes {buckets} points; at most {most}: choose {choices}"),
                   granularity=granularity, days=days, buckets=buckets, most=MAX_BUCKETS, choices="week, month",
                   allowed=["week", "month"])
    limit_text = params.get("limit") or "50"
    try:
        limit = int(limit_text)
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", N_("{given} must be a whole number from 1 to {most}"), given=repr(limit_text),
                   most=MAX_LIMIT)
    slices = {}
    for name in SLICES:
        value = (params.get(name) or "").strip()
        if len(value) > 200:
            raise _bad(name, N_("is longer than 200 characters"))
        if value:
            slices[name] = value
    start = local_midnight(first, zone)
    end = local_midnight(last + timedelta(days=1), zone)
    every = every_merchant(session) if merchant_ids is None else ()
    return Filters(start=start, end=end, merchant_ids=merchant_ids, merchant_code=code, by=by,
                   granularity=granularity, limit=limit, slices=slices, zone=zone, every_merchant=every)


def every_merchant(session: Session) -> tuple[int, ...]:
    """Every merchant's id, in order (the platform's scope)."""
    return tuple(session.scalars(select(Merchant.id).order_by(Merchant.id)))


def local_midnight(day: date, zone: str) -> datetime:
    """The UTC instant at which `day` begins in `zone`."""
    return datetime.combine(day, time(), ZoneInfo(zone)).astimezone(timezone.utc)


def _zone(session: Session, merchant_ids: tuple[int, ...] | None) -> str:
    """The merchant's time zone (its settings); across merchants the platform's default, Asia/Shanghai."""
    return zone_of(session, merchant_ids[0] if merchant_ids and len(merchant_ids) == 1 else None).key


def _merchant(session: Session, actor: Actor, code: str) -> tuple[tuple[int, ...] | None, str | None]:
    """Staff of a merchant see only their merchant; platform staff see one merchant or all of them."""
    if code:
        merchant = session.scalar(select(Merchant).where(Merchant.code == code))
        # Another merchant's code answers like an unknown one: its existence is not disclosed.
        if merchant is None or not actor.can_see(merchant.id):
            raise NotFound("merchant", code, field="merchant")
        return (merchant.id,), merchant.code
    if actor.merchant_id is not None:
        own = session.scalar(select(Merchant.code).where(Merchant.id == actor.merchant_id))
        return (actor.merchant_id,), own
    return None, None
