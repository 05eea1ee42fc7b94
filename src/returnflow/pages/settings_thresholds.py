"""The thresholds in force, in words, for the settings pages: the policy's window and approval limits, the refund
limit of each role, and each SLA step's deadline, reminder and what happens when it is missed — defaults
included, so an admin sees what applies without reading a file."""

from __future__ import annotations

from typing import Any

from ..auth import users
from ..refunds.money_settings import limit_for, money_settings
from ..money import fmt
from ..sla import settings as sla_settings
from . import words
from .frame import N_, gettext, money
from .settings_words import action_word
from .settings_policy import COUNTED_FROM, PAYERS

OTHER = N_("Other")
ROUTES = {"agent": N_("an agent reviews it"), "supervisor": N_("a supervisor reviews it"),
          "auto": N_("approved automatically"), "reject": N_("refused")}


def _t(locale: str, msgid: str, **values: Any) -> str:
    return gettext(locale, msgid).format(**values)


def policy_rows(policy, locale: str) -> list[tuple[str, str]]:
    """(what, the value in force) of the compiled policy: the file's values or its preset's."""
    cur = policy.currency
    rows = [
        (N_("No-reason return window"), _t(locale, N_("{n} days"), n=policy.window_days)),
        (N_("The window counts from"), gettext(locale, COUNTED_FROM.get(policy.counted_from, OTHER))),
        (N_("Who pays return shipping for no-reason returns"),
         gettext(locale, PAYERS.get(policy.no_reason_payer, OTHER))),
        (N_("Approved automatically up to"), money(policy.auto_max, cur, locale)),
        (N_("A supervisor approves above"), money(policy.supervisor_above, cur, locale)
         if policy.supervisor_above is not None else gettext(locale, N_("no limit set"))),
        (N_("High-risk requests"), gettext(locale, ROUTES.get(policy.high_risk_route, OTHER))),
    ]
    if policy.restocking_percent:
        rows.append((N_("Restocking fee"), f"{policy.restocking_percent}%"))
    return [(gettext(locale, what), value) for what, value in rows]


def refund_limits(session, merchant_id: int, currency: str, locale: str) -> list[tuple[str, str]]:
    """(role in words, how much it may refund at once without an approval) for each role of the shop."""
    settings = money_settings(session, merchant_id)
    rows = []
    for role in users.MERCHANT_ROLES:
        limit = limit_for(settings, role, currency)
        if limit is None:
            text = gettext(locale, N_("no limit"))
        elif limit == 0:
            text = gettext(locale, N_("none (cannot refund without an approval)"))
        else:
            text = money(fmt(limit, currency), currency, locale)
        rows.append((words.word(words.ROLES, role, locale), text))
    return rows


def sla_rows(current: dict, locale: str) -> list[dict[str, str]]:
    """Each step's deadline in force (calendar or working hours), its reminder and what happens when missed."""
    rows = []
    for step in sla_settings.DEFAULT_STEPS:
        conf = (current.get("steps") or {}).get(step) or sla_settings.DEFAULT_STEPS[step]
        business = "business_hours" in conf
        hours = conf["business_hours"] if business else conf.get("hours")
        remind = conf.get("remind_before_hours")
        action = conf.get("auto_action")
        label = sla_settings.step_name(step, locale)
        rows.append({
            "step": label[:1].upper() + label[1:],
            "limit": _limit(hours, business, locale),
            "remind": _t(locale, N_("{n} hours before"), n=_num(remind)) if remind else
            gettext(locale, N_("no reminder")),
            "missed": action_word(action, locale) if action else
            gettext(locale, N_("escalate to a supervisor"))})
    return rows


def _limit(hours, business: bool, locale: str) -> str:
    """'9 working hours', '7 days' (whole calendar days), '36 hours'."""
    if business:
        return _t(locale, N_("{n} working hours"), n=_num(hours))
    if float(hours) >= 24 and float(hours) % 24 == 0:
        return _t(locale, N_("{n} days"), n=int(float(hours) // 24))
    return _t(locale, N_("{n} hours"), n=_num(hours))


def _num(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
