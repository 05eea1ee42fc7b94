"""Per-merchant SLA settings: for each step, how long it may take, when to remind, and what happens when it is
missed (escalation to a supervisor, or an automatic outcome fired by the system, citing the rule)."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..actor import SYSTEM
from ..caches import CACHES, changed
from ..cases.models import CaseState as S
from ..cases.workflow import BY_ACTION
from ..db import utcnow
from ..errors import Explained
from ..i18n import N_, gettext
from . import calendar
from .models import SlaSettings

# Which step's clock runs while a case is in each state. States missing here run no clock.
STEP_OF_STATE: dict[str, str] = {
    S.PENDING_REVIEW.value: "review",
    S.PENDING_APPROVAL.value: "review",
    S.AWAITING_CUSTOMER.value: "customer_info",
    S.AWAITING_RETURN.value: "customer_shipping",
    S.RETURN_IN_TRANSIT.value: "receipt_confirmation",
    S.RECEIVED.value: "inspection",
    S.INSPECTED.value: "resolution",
    S.RESOLVING.value: "refund",
    S.IN_REPAIR.value: "repair",
    S.REJECTED.value: "appeal",
    S.RESOLVED.value: "closing",
}
# Steps whose clock stops (and keeps what is left) while the case waits on the customer.
PAUSED_BY_CUSTOMER = {"review"}
WAITING_ON_CUSTOMER = {S.AWAITING_CUSTOMER.value}

# A step's name (an English msgid, read in a language with step_name()).
LABELS = {
    "review": N_("review"), "customer_info": N_("customer's additional information"),
    "customer_shipping": N_("customer's return shipment"),
    "receipt_confirmation": N_("confirming receipt of the return"),
    "inspection": N_("inspection"), "resolution": N_("resolution after inspection"),
    "refund": N_("refund / resolution"), "repair": N_("repair"),
    "appeal": N_("customer's appeal after rejection"), "closing": N_("closing"),
}


# What a step's deadline writes on the timeline when it passes (cases.views.reason_payload; {step}: a step's name).
MISSED = N_("deadline missed: {step}")
AUTOMATIC = N_("automatic outcome: {step} deadline passed")


def step_name(step: str, locale: str) -> str:
    """A step's name in `locale`, from the catalogs (an unknown step: its key)."""
    return gettext(locale, LABELS[step]) if step in LABELS else step

# Defaults: a working day to review (PROCESS.md §2), TB5 7 days to ship, TB6 10 days to confirm receipt,
# a working day to inspect (§4), CN8 7 days to refund, CN13 30 days to repair, TB3 5 days to appeal.
DEFAULT_STEPS: dict[str, dict[str, Any]] = {
    "review": {"business_hours": 9, "remind_before_hours": 2, "auto_action": None, "rule": "SLA.review"},
    "customer_info": {"hours": 7 * 24, "remind_before_hours": 24, "auto_action": "cancel", "rule": "SLA.customer_info"},
    "customer_shipping": {"hours": 7 * 24, "remind_before_hours": 24, "auto_action": "cancel", "rule": "TB5"},
    "receipt_confirmation": {"hours": 10 * 24, "remind_before_hours": 24, "auto_action": None, "rule": "TB6"},
    "inspection": {"business_hours": 9, "remind_before_hours": 2, "auto_action": None, "rule": "SLA.inspection"},
    "resolution": {"business_hours": 9, "remind_before_hours": 2, "auto_action": None, "rule": "SLA.resolution"},
    "refund": {"hours": 7 * 24, "remind_before_hours": 24, "auto_action": None, "rule": "CN8"},
    "repair": {"hours": 30 * 24, "remind_before_hours": 72, "auto_action": None, "rule": "CN13"},
    "appeal": {"hours": 5 * 24, "remind_before_hours": None, "auto_action": "close", "rule": "TB3"},
    "closing": {"hours": 7 * 24, "remind_before_hours": None, "auto_action": "close", "rule": "SLA.closing"},
}
DEFAULTS: dict[str, Any] = {
    "calendar": "cn-mainland", "timezone": "Asia/Shanghai", "work_start": "09:00", "work_end": "18:00",
    "follow_up_days": 7, "survey": True, "notify_sms": False, "notify_push": False, "steps": DEFAULT_STEPS,
    # The merchant's own days on top of the calendar: closures (e.g. a warehouse stock-take) and extra working days.
    "holidays": [], "workdays": [],
    # Years the merchant completed itself (their public holidays entered above) where the bundled calendar has none.
    "calendar_years": [],
}
MAX_OWN_DAYS = 400
STEP_KEYS = {"enabled", "hours", "business_hours", "remind_before_hours", "auto_action", "rule"}


def auto_actions_for(step: str) -> list[str]:
    """Actions the system may fire when `step`'s deadline passes: those the table allows it from the step's states."""
    states = {state for state, s in STEP_OF_STATE.items() if s == step}
    return sorted(t.action for t in BY_ACTION.values()
                  if SYSTEM.role in t.roles and states & {s.value for s in t.sources}
                  and t.action not in ("assign", "escalate"))


def _bad(field: str, text: str, /, allowed=None, **params) -> Explained:
    return Explained(field, text, allowed=allowed, **params)


def validate(raw: dict) -> dict:
    """The full settings from a partial document (unknown keys, wrong types and impossible values refused)."""
    if not isinstance(raw, dict):
        raise _bad("body", N_("must be a JSON object"))
    merged = copy.deepcopy(DEFAULTS)
    for key, value in raw.items():
        if key not in DEFAULTS:
            raise _bad(key, N_("is not a setting"), allowed=sorted(DEFAULTS))
        if key == "steps":
            if not isinstance(value, dict):
                raise _bad("steps", N_("must be an object of step name → settings"))
            for step, conf in value.items():
                merged["steps"][step] = _step(step, conf, merged["steps"].get(step))
        elif key == "calendar":
            if value not in calendar.available():
                raise _bad("calendar", N_("'{value}' is not a known calendar"), value=value,
                           allowed=calendar.available())
            merged[key] = value
        elif key == "timezone":
            try:
                ZoneInfo(str(value))
            except (ZoneInfoNotFoundError, ValueError):
                raise _bad("timezone", N_("'{value}' is not an IANA timezone such as Asia/Shanghai"), value=value) from None
            merged[key] = value
        elif key in ("work_start", "work_end"):
            if not isinstance(value, str) or len(value) != 5 or value[2] != ":" or not _is_time(value):
                raise _bad(key, N_("must be a time of day HH:MM such as 09:00"))
            merged[key] = value
        elif key in ("holidays", "workdays"):
            merged[key] = _days(key, value)
        elif key == "calendar_years":
            if not isinstance(value, list) or len(value) > 50 or not all(
                    isinstance(y, int) and not isinstance(y, bool) and 2000 <= y <= 2100 for y in value):
                raise _bad(key, N_("must be a list of years such as 2027"))
            merged[key] = sorted(set(value))
        elif key == "follow_up_days":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 365:
                raise _bad(key, N_("must be a whole number of days from 0 to 365 (0: no follow-up)"))
            merged[key] = value
        else:
            if not isinstance(value, bool):
                raise _bad(key, N_("must be true or false"))
            merged[key] = value
    if merged["work_end"] <= merged["work_start"]:
        raise _bad("work_end", N_("must be later than work_start"))
    both = sorted(set(merged["holidays"]) & set(merged["workdays"]))
    if both:
        raise _bad("workdays", N_("{day} is also listed as a holiday; a day is one or the other"), day=both[0])
    return merged


def _days(key: str, value: Any) -> list[str]:
    """A list of ISO dates (YYYY-MM-DD), sorted, without repeats."""
    if not isinstance(value, list) or len(value) > MAX_OWN_DAYS:
        raise _bad(key, N_("must be a list of at most {most} dates such as 2026-10-09"), most=MAX_OWN_DAYS)
    days = set()
    for item in value:
        try:
            if not isinstance(item, str) or len(item) != 10:
                raise ValueError(item)
            days.add(date.fromisoformat(item).isoformat())
        except ValueError:
            raise _bad(key, N_("'{item}' is not a date YYYY-MM-DD such as 2026-10-09"), item=item) from None
    return sorted(days)


def _is_time(value: str) -> bool:
    hh, mm = value[:2], value[3:]
    return hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60


def _step(step: str, conf: Any, base: dict | None) -> dict:
    field = f"steps.{step}"
    if step not in DEFAULT_STEPS:
        raise _bad(field, N_("is not a step"), allowed=sorted(DEFAULT_STEPS))
    if not isinstance(conf, dict):
        raise _bad(field, N_("must be an object"))
    unknown = set(conf) - STEP_KEYS
    if unknown:
        raise _bad(f"{field}.{sorted(unknown)[0]}", N_("is not a step setting"),
                   allowed=sorted(STEP_KEYS))
    result = dict(base or {})
    if "hours" in conf or "business_hours" in conf:
        result.pop("hours", None)
        result.pop("business_hours", None)
    if "hours" in conf and "business_hours" in conf:
        raise _bad(field, N_("give either hours (calendar time) or business_hours (working time), not both"))
    for name in ("hours", "business_hours", "remind_before_hours"):
        if name in conf:
            value = conf[name]
            if value is None and name == "remind_before_hours":
                result[name] = None
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 24 * 366:
                raise _bad(f"{field}.{name}", N_("must be a number of hours above 0 and at most 8784"))
            result[name] = value
    if "enabled" in conf:
        if not isinstance(conf["enabled"], bool):
            raise _bad(f"{field}.enabled", N_("must be true or false"))
        result["enabled"] = conf["enabled"]
    if "auto_action" in conf:
        allowed = auto_actions_for(step)
        if conf["auto_action"] is not None and conf["auto_action"] not in allowed:
            raise _bad(f"{field}.auto_action",
                       N_("'{auto_action}' is not an action the system may take at this step (null: escalate to a "
                          "supervisor)"),
                       auto_action=conf['auto_action'],
                       allowed=allowed + [None])
        result["auto_action"] = conf["auto_action"]
    if "rule" in conf:
        if not isinstance(conf["rule"], str) or not 0 < len(conf["rule"]) <= 60:
            raise _bad(f"{field}.rule", N_("must be a rule id (text, up to 60 characters) cited in the timeline"))
        result["rule"] = conf["rule"]
    return result


_SETTINGS = select(SlaSettings.settings, SlaSettings.updated_at).where(
    SlaSettings.merchant_id == bindparam("merchant_id"))


def for_merchant(session: Session, merchant_id: int) -> dict:
    """The merchant's settings (defaults where it set nothing), remembered per process (caches.py
    "merchant_settings": a save anywhere is seen here within caches.CHECK_SECONDS)."""
    return CACHES["merchant_settings"].get(session, merchant_id, lambda: _read(session, merchant_id), merchant_id)


def _read(session: Session, merchant_id: int) -> dict:
    row = session.connection().execute(_SETTINGS, {"merchant_id": merchant_id}).first()
    return DEFAULTS if row is None else validate(row.settings)


def for_case(session: Session, case) -> dict:
    """The settings of the case's merchant (remembered per process, as for_merchant)."""
    return for_merchant(session, case.merchant_id)


def save(session: Session, merchant_id: int, raw: dict, by: str) -> dict:
    """Stores the merchant's settings document (validated), returning the full settings."""
    value = validate(raw)
    row = session.get(SlaSettings, merchant_id)
    if row is None:
        row = SlaSettings(merchant_id=merchant_id)
        session.add(row)
    row.settings = raw
    row.updated_at = utcnow()
    row.updated_by = by
    session.flush()
    # What was derived from them goes too: the zone, and the active policy (merchant-rules is stated in the zone).
    for name in ("merchant_settings", "merchant_zone", "active_policy"):
        changed(session, name, merchant_id)
    return value


def calendar_of(settings: dict) -> calendar.BusinessCalendar:
    return calendar.load(settings["calendar"], settings["timezone"], settings["work_start"], settings["work_end"],
                         tuple(settings.get("holidays") or ()), tuple(settings.get("workdays") or ()),
                         tuple(settings.get("calendar_years") or ()))


def due_after(settings: dict, step: dict, start: datetime) -> tuple[datetime, timedelta | None]:
    """When the step's deadline falls for a clock started at `start`; with business hours, also its working length."""
    if "business_hours" in step:
        amount = timedelta(hours=step["business_hours"])
        return calendar.add_working_time(calendar_of(settings), start, amount), amount
    return start + timedelta(hours=step["hours"]), None
