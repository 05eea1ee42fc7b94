"""The return policy in the settings: the common knobs and the TOML file itself (edited with tomlkit, keeping the
file's comments and layout), validate, preview against an order, publish after confirming the diff against the
version in force, and the version history naming who published each version."""

from __future__ import annotations

import difflib
import re
import tomllib
from typing import Any

import tomlkit
from fastapi import APIRouter, Request
from sqlalchemy import select

from ..auth import users
from ..actor import Actor
from ..auth.models import User
from ..cases import reasons as reason_taxonomy
from ..cases.models import CaseType
from ..errors import AppError
from ..merchants.models import Merchant
from ..policy import service as policy_service
from ..assessment.dry_run import DryRunIn, DryRunLine, run_dry
from ..policy.errors import PolicyError
from ..policy.loader import PRESETS, load_policy, preset_text
from . import words
from .decision import _times
from .frame import N_, gettext, locale_of, redirect, said
from .settings_pages import admin_actor, ctx, explain, posted, render, text_of

router = APIRouter(include_in_schema=False)


# ---- the return policy ---------------------------------------------------------------------------------------

# The common knobs: form field = the policy file's section.key (so the loader's errors land on the field).
KNOBS = (("window.days", "int"), ("window.counted_from", "choice"), ("shipping.no_reason_payer", "choice"),
         ("approval.auto_max_amount", "amount"), ("approval.supervisor_above_amount", "amount"))
COUNTED_FROM = {"order": N_("the order date"), "shipment": N_("shipping"), "delivery": N_("delivery"),
                "signing": N_("signing for the parcel")}
PAYERS = {"customer": N_("the customer pays return shipping"), "merchant": N_("the shop pays (free returns)")}
PRESET_NAMES = {"cn-law": N_("PRC law (statutory minimum)"), "taobao-current": N_("Taobao / Tmall (current)"),
                "taobao-legacy": N_("Taobao / Tmall (earlier rules)"), "jd-pop": N_("JD POP"),
                "eu-crd": N_("EU Consumer Rights Directive"), "uk-ccr": N_("UK Consumer Contracts Regulations"),
                "merchant-rules": N_("The shop's own rules (no law cited)")}
AMOUNT = re.compile(r"^\d{1,9}(\.\d{1,2})?$")


def _knob_values(policy_source: str, preset: str) -> dict[str, str]:
    """The knobs as the active file sets them ("" where it leaves them to the preset)."""
    data = tomllib.loads(policy_source) if policy_source else {}
    values = {"policy.extends": str(data.get("policy", {}).get("extends", "") or preset)}
    for name, _kind in KNOBS:
        section, key = name.split(".")
        value = data.get(section, {}).get(key)
        values[name] = "" if value is None else str(value)
    return values


def set_key(source: str, section: str, key: str, literal: str | None) -> str:
    """`source` with `[section] key = literal` set (None: the key removed), by tomlkit: every comment, blank line,
    multi-line array and inline table stays as written; only the one value changes (its own comment kept)."""
    doc = tomlkit.parse(source)
    table = doc.get(section)
    if literal is None:
        if table is not None and key in table:
            del table[key]
        return tomlkit.dumps(doc)
    value = tomlkit.parse(f"v = {literal}")["v"]
    if table is None:
        table = tomlkit.table()
        table.add(key, value)
        doc.add(section, table)
    else:
        table[key] = value
    out = tomlkit.dumps(doc)
    return out if out.endswith("\n") else out + "\n"


def draft_from_knobs(base: str, form, merchant_code: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The policy file with the form's knobs applied: (source, the values as typed, errors by field)."""
    typed = {name: text_of(form, name, 40) for name, _ in KNOBS}
    typed["policy.extends"] = text_of(form, "policy.extends", 40)
    errors: dict[str, str] = {}
    source = base or f'[policy]\nid = "{merchant_code}"\nextends = "cn-law"\n'
    preset = typed["policy.extends"]
    if preset and preset not in PRESETS:
        errors["policy.extends"] = N_("Choose one of the presets.")
    elif preset:
        source = set_key(source, "policy", "extends", f'"{preset}"')
    for name, kind in KNOBS:
        section, key = name.split(".")
        value = typed[name]
        if value == "":
            source = set_key(source, section, key, None)
        elif kind == "int":
            if not value.isdigit() or not 0 < int(value) <= 3650:
                errors[name] = N_("Enter a whole number of days from 1 to 3650.")
            else:
                source = set_key(source, section, key, value)
        elif kind == "amount":
            if not AMOUNT.match(value):
                errors[name] = N_("Enter an amount such as 300 or 299.50 (at most two decimals).")
            else:
                source = set_key(source, section, key, value)
        else:
            allowed = COUNTED_FROM if name == "window.counted_from" else PAYERS
            if value not in allowed:
                errors[name] = N_("Choose one of the options.")
            else:
                source = set_key(source, section, key, f'"{value}"')
    return source, typed, errors


def _policy_context(session, actor: Actor) -> dict[str, Any]:
    merchant = session.get(Merchant, actor.merchant_id)
    row, policy = policy_service.current(session, merchant.id)
    source = row.source if row else preset_text(policy_service.default_preset(merchant))
    versions = policy_service.versions(session, merchant.id)
    reasons = reason_taxonomy.for_merchant(session, merchant.id)
    return {"merchant": merchant, "row": row, "policy": policy, "source": row.source if row else "",
            "publishers": publishers(session, [v.created_by for v in versions]),
            "default_preset": policy_service.default_preset(merchant),
            "preset_source": "" if row else source, "versions": versions, "reasons": reasons}


def publishers(session, refs: list[str]) -> dict[str, str]:
    """{actor ref: the person's name} for the refs of staff users ("user:<id>")."""
    ids = {int(r[5:]) for r in refs if r and r.startswith("user:") and r[5:].isdigit()}
    if not ids:
        return {}
    return {f"user:{i}": n for i, n in session.execute(select(User.id, User.name).where(User.id.in_(ids)))}


def policy_diff(before: str, after: str, old_name: str, new_name: str) -> list[str]:
    """The unified diff of two policy files, line by line (shown with + and - marks)."""
    return list(difflib.unified_diff(before.splitlines(), after.splitlines(), fromfile=old_name, tofile=new_name,
                                     lineterm="", n=2))


def _policy_page(request: Request, actor: Actor, *, status: int = 200, **more: Any):
    from .settings_thresholds import policy_rows, refund_limits  # it reads this module's word tables

    locale = locale_of(request)
    with request.app.state.db.read() as session:
        info = _policy_context(session, actor)
        info["limits"] = refund_limits(session, actor.merchant_id, info["merchant"].default_currency, locale)
    info["in_force"] = policy_rows(info["policy"], locale)
    knobs = more.pop("knobs", None) or _knob_values(info["source"], info["default_preset"])
    trial = more.pop("trial", None) or {"order": "", "line_no": "1", "quantity": "1", "type": "return_refund",
                                        "reason": "no_reason_7day"}
    return render(request, "staff/settings/policy.html", ctx(
        actor, "policy", **info, knobs=knobs, trial=trial,
        counted_from=[(k, gettext(locale, v)) for k, v in COUNTED_FROM.items()],
        payers=[(k, gettext(locale, v)) for k, v in PAYERS.items()],
        presets=[(p, f"{gettext(locale, PRESET_NAMES[p])} ({p})" if p in PRESET_NAMES else p) for p in sorted(PRESETS)],
        types=[(t.value, words.word(words.TYPES, t.value, locale)) for t in CaseType
               if t.value not in ("inquiry", "complaint")],
        draft=more.pop("draft", None) or info["source"], **more), status=status)


@router.get("/staff/settings/policy")
async def policy_page(request: Request):
    return _policy_page(request, admin_actor(request))


def _trial(form) -> dict[str, str]:
    return {"order": text_of(form, "order", 100), "line_no": text_of(form, "line_no", 10) or "1",
            "quantity": text_of(form, "quantity", 10) or "1", "type": text_of(form, "type", 30),
            "reason": text_of(form, "reason", 60)}


def _preview(session, actor: Actor, trial: dict[str, str], draft, locale: str) -> tuple[dict | None, dict]:
    """The dry run of the trial request under `draft` (None: the published version): (answer, errors)."""
    if not trial["order"]:
        return None, {"order": N_("Enter an order number to see what the policy decides for it.")}
    if not trial["line_no"].isdigit() or not trial["quantity"].isdigit() or int(trial["quantity"]) < 1 \
            or int(trial["line_no"]) < 1:
        return None, {"quantity": N_("Enter whole numbers of 1 or more.")}
    try:
        body = DryRunIn(order=trial["order"], type=CaseType(trial["type"]), reason=trial["reason"] or None,
                        lines=[DryRunLine(line_no=int(trial["line_no"]), quantity=int(trial["quantity"]))])
        answer = run_dry(session, actor, body, draft=draft)
    except ValueError:
        return None, {"type": N_("Choose one of the options.")}
    except AppError as exc:
        return None, explain(exc, locale, "order")
    answer["lines"] = [{**x, "decision": _times(x["decision"])} for x in answer["lines"]]
    return answer, {}


@router.post("/staff/settings/policy")
async def policy_post(request: Request):
    """Validate / preview / publish the edited policy: the knobs form or the policy file itself."""
    actor = admin_actor(request)
    locale = locale_of(request)
    form = await posted(request)
    intent = text_of(form, "intent", 20)
    trial = _trial(form)
    with request.app.state.db.read() as session:
        info = _policy_context(session, actor)
    if "source" in form:
        source, knobs, errors = str(form.get("source") or "")[:200_000], None, {}
        if not source.strip():
            errors = {"source": N_("The policy file must not be empty.")}
    else:
        source, knobs, errors = draft_from_knobs(info["source"], form, info["merchant"].code)
    draft = None
    if not errors:
        try:
            draft = load_policy(source, source=policy_service.SOURCE_NAME)
        except PolicyError as exc:
            errors = explain(exc, locale, "source")
            if knobs is not None and not any(f in knobs for f in errors):
                errors = {"source": next(iter(errors.values()))}
    page = {"knobs": knobs, "trial": trial, "draft": source, "edited_file": knobs is None or "source" in errors}
    if errors:
        return _policy_page(request, actor, status=422, errors=errors, **page)
    if intent == "publish":
        active = info["row"]
        shown_version = text_of(form, "base_version", 12)
        active_version = str(active.version) if active else "0"
        if form.get("confirm") != "yes" or shown_version not in ("", active_version):
            # Asks first: the change against the version in force, and a button that publishes exactly this file.
            stale = form.get("confirm") == "yes"
            # Before the first version there is no file: the preset applies and the whole new file comes in.
            before = active.source if active else ""
            old_name = gettext(locale, N_("Version %(n)s (in force)")) % {"n": active.version} if active else \
                gettext(locale, N_("No policy file yet (the preset %(name)s applies)")) % {
                    "name": info["default_preset"]}
            new_name = gettext(locale, N_("New version"))
            return _policy_page(request, actor, status=409 if stale else 200, stale=stale,
                                confirm={"source": source, "base_version": active_version,
                                         "diff": policy_diff(before, source, old_name, new_name)}, **page)
        with request.app.state.db.transaction() as session:
            row = policy_service.save(session, actor.merchant_id, source, actor)
            users.record(session, actor, merchant_id=actor.merchant_id, action="policy.publish",
                         target=f"v{row.version}", details={"version": row.version, "extends": row.extends})
        return redirect(request, "/staff/settings/policy", flash="policy_published")
    answer, trial_errors = None, {}
    if intent == "preview" and trial["order"]:  # without an order: validated only
        with request.app.state.db.read() as session:
            answer, trial_errors = _preview(session, actor, trial, draft, locale)
    # What the law says about an accepted file (e.g. a restocking fee under cn-law), before it is published.
    notices = [(w.line, said(w if hasattr(w, "said") else (w.en, w.zh), locale)) for w in draft.warnings]
    return _policy_page(request, actor, status=422 if trial_errors else 200, errors=trial_errors, valid=True,
                        answer=answer, answer_of="draft", notices=notices, **page)


@router.post("/staff/settings/policy/try")
async def policy_try(request: Request):
    """The dry run of a request under the published version: what opening the case would decide now."""
    actor = admin_actor(request)
    form = await posted(request)
    trial = _trial(form)
    with request.app.state.db.read() as session:
        answer, errors = _preview(session, actor, trial, None, locale_of(request))
    return _policy_page(request, actor, status=422 if errors else 200, errors=errors, answer=answer,
                        answer_of="published", trial=trial)


@router.get("/staff/settings/policy/versions/{version}")
async def policy_version(version: int, request: Request):
    """One published version, and what changed from the one before it."""
    actor = admin_actor(request)
    with request.app.state.db.read() as session:
        row = policy_service.get_version(session, actor.merchant_id, version)
        before = session.scalar(select(policy_service.PolicyVersion).where(
            policy_service.PolicyVersion.merchant_id == actor.merchant_id,
            policy_service.PolicyVersion.version == version - 1)) if version > 1 else None
        names = publishers(session, [row.created_by])
    diff = policy_diff(before.source if before else "", row.source, f"v{version - 1}" if before else "",
                       f"v{version}")
    return render(request, "staff/settings/policy_version.html", ctx(
        actor, "policy", row=row, before=before, diff=diff, publisher=names.get(row.created_by)))
