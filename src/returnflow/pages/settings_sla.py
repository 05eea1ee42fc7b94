"""Settings → SLA: the steps' deadlines and reminders, and the business calendar (working days, holidays and
make-up days). Forms as in settings_pages.py."""

from __future__ import annotations

import copy
import re
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request

from ..auth import users
from ..actor import Actor
from ..errors import AppError
from ..sla import calendar as sla_calendar
from ..sla import settings as sla_settings
from ..sla.models import SlaSettings
from . import settings_words as sw
from .settings_thresholds import sla_rows
from .frame import N_, locale_of, redirect
from .settings_pages import admin_actor, ctx, explain, posted, render, text_of

router = APIRouter(include_in_schema=False)


# ---- SLA steps and the business calendar ---------------------------------------------------------------------

def _calendar_days(name: str, this_year: int) -> list[dict[str, Any]]:
    """The calendar's days per year; a library calendar (every year from a rule) shows this year and the next."""
    data = sla_calendar._data(name)
    years = sorted(data.get("years", {}).items())
    if data.get("library"):
        years = [(y, days) for y, days in years if int(y) in (this_year, this_year + 1)]
    return [{"year": year, "holidays": days.get("holidays", []), "workdays": days.get("workdays", [])}
            for year, days in years]


def _sla_page(request: Request, actor: Actor, *, status: int = 200, values: dict | None = None, **more: Any):
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        current = sla_settings.for_merchant(session, actor.merchant_id)
    shown = values or _sla_values(current)
    steps = [{"name": step, "label": sla_settings.step_name(step, locale).capitalize(),
              "actions": [(a, sw.action_word(a, locale)) for a in sla_settings.auto_actions_for(step)]}
             for step in sla_settings.DEFAULT_STEPS]
    more.setdefault("in_force", sla_rows(current, locale))
    calendar_name = shown.get("calendar") or current["calendar"]
    more.setdefault("own", {"holidays": current.get("holidays") or [], "workdays": current.get("workdays") or []})
    shown_calendar = calendar_name if calendar_name in sla_calendar.available() else current["calendar"]
    this_year = request.app.state.clock().astimezone(ZoneInfo(current["timezone"])).year
    return render(request, "staff/settings/sla.html", ctx(
        actor, "sla", values=shown, steps=steps,
        calendars=[(c, sw.word(sw.CALENDARS, c, locale) or c) for c in sla_calendar.available()],
        days=_calendar_days(shown_calendar, this_year), library_calendar=shown_calendar in sla_calendar.LIBRARY,
        **more), status=status)


def _sla_values(settings: dict) -> dict[str, str]:
    values = {k: str(settings[k]) for k in ("calendar", "timezone", "work_start", "work_end", "follow_up_days")}
    values.update({k: "\n".join(settings.get(k) or []) for k in ("holidays", "workdays")})
    values["calendar_years"] = ", ".join(str(y) for y in settings.get("calendar_years") or [])
    for step, conf in settings["steps"].items():
        business = "business_hours" in conf
        values[f"steps.{step}.clock"] = "business_hours" if business else "hours"
        values[f"steps.{step}.amount"] = _num(conf["business_hours"] if business else conf["hours"])
        remind = conf.get("remind_before_hours")
        values[f"steps.{step}.remind_before_hours"] = "" if remind is None else _num(remind)
        values[f"steps.{step}.auto_action"] = conf.get("auto_action") or ""
    return values


def _num(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _number(text: str) -> float | int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


@router.get("/staff/settings/sla")
async def sla_page(request: Request):
    return _sla_page(request, admin_actor(request))


@router.post("/staff/settings/sla")
async def sla_save(request: Request):
    actor = admin_actor(request)
    form = await posted(request, max_fields=80)
    values = {k: text_of(form, k, 60) for k in form.keys() if k not in ("csrf", "holidays", "workdays")}
    values.update({k: text_of(form, k, 8000) for k in ("holidays", "workdays")})
    errors: dict[str, str] = {}
    with request.app.state.db.read() as session:
        row = session.get(SlaSettings, actor.merchant_id)
        raw = copy.deepcopy(row.settings) if row is not None else {}
    for key in ("calendar", "timezone", "work_start", "work_end"):
        raw[key] = values.get(key, "")
    for key in ("holidays", "workdays"):
        raw[key] = [d for d in re.split(r"[\s,，、]+", values.get(key, "")) if d]
    years = [y for y in re.split(r"[\s,，、]+", values.get("calendar_years", "")) if y]
    if all(y.isdigit() for y in years):
        raw["calendar_years"] = [int(y) for y in years]
    else:
        errors["calendar_years"] = N_("Enter years such as 2027, separated by commas.")
    days = values.get("follow_up_days", "")
    raw["follow_up_days"] = int(days) if days.isdigit() else days
    steps = raw.setdefault("steps", {})
    for step in sla_settings.DEFAULT_STEPS:
        prefix = f"steps.{step}."
        clock = values.get(prefix + "clock", "hours")
        amount = _number(values.get(prefix + "amount", ""))
        remind_text = values.get(prefix + "remind_before_hours", "")
        remind = None if remind_text == "" else _number(remind_text)
        if amount is None:
            errors[prefix + "amount"] = N_("Enter a number of hours, such as 24 or 9.5.")
            continue
        if remind_text and remind is None:
            errors[prefix + "remind_before_hours"] = N_("Enter a number of hours, or leave it empty for no reminder.")
            continue
        conf = {k: v for k, v in (steps.get(step) or {}).items() if k not in ("hours", "business_hours")}
        conf["business_hours" if clock == "business_hours" else "hours"] = amount
        conf["remind_before_hours"] = remind
        conf["auto_action"] = values.get(prefix + "auto_action") or None
        steps[step] = conf
    if not errors:
        try:
            with request.app.state.db.transaction() as session:
                sla_settings.save(session, actor.merchant_id, raw, actor.ref)
                users.record(session, actor, merchant_id=actor.merchant_id, action="sla.save", target="sla")
        except AppError as exc:
            found = explain(exc, locale_of(request))
            errors = {_sla_field(k): v for k, v in found.items()}
    if errors:
        return _sla_page(request, actor, status=422, values=values, errors=errors)
    return redirect(request, "/staff/settings/sla", flash="settings_saved")


def _sla_field(field: str) -> str:
    """The form field of a settings error: steps.review.hours is typed into steps.review.amount."""
    if field.endswith((".hours", ".business_hours")):
        return field.rsplit(".", 1)[0] + ".amount"
    return field
