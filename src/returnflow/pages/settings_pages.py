"""The staff console's settings for admins: the frame of every settings page and staff accounts and roles. The
return policy is in settings_policy.py; SLA in settings_sla.py, notifications in settings_notify.py; return addresses and reply
templates in settings_addresses.py and settings_replies.py. Every form: CSRF, per-field errors in the reader's language, nothing saved on error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..auth import users
from ..actor import Actor
from ..errors import AppError, Explained
from ..policy.errors import PolicyError
from . import words
from .frame import FLASH, N_, PageError, check_csrf, gettext, locale_of, redirect, said
from .frame import render as render_page
from .staff_pages import staff_actor

router = APIRouter(include_in_schema=False)
SECTIONS = (("users", N_("Staff and roles")), ("policy", N_("Return policy")), ("sla", N_("Deadlines (SLA)")),
            ("replies", N_("Reply templates")), ("notifications", N_("Notifications")),
            ("addresses", N_("Return addresses")), ("payments", N_("Payments")),
            ("tracking", N_("Tracking and pickup")))
ADMIN_ONLY = N_("Only administrators can open the settings.")
FLASH.update({
    "settings_saved": N_("The settings were saved."),
    "user_deactivated": N_("The account was deactivated and its sign-ins ended."),
    "policy_published": N_("The new policy version was published; new cases are decided under it."),
    "template_saved": N_("The template was saved."),
    "template_reset": N_("The template is back to the default wording."),
    "webhook_removed": N_("The webhook was removed."),
    "replayed": N_("The failed deliveries were queued again."),
    "address_saved": N_("The return address was saved."),
})


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200):
    """Renders a settings page; error texts (catalog msgids or already worded refusals) in the reader's language."""
    locale = locale_of(request)
    for key in ("errors", "row_errors"):
        found = context.get(key)
        if found:
            context[key] = {k: ({f: gettext(locale, m) for f, m in v.items()} if isinstance(v, dict)
                                else gettext(locale, v)) for k, v in found.items()}
    return render_page(request, name, context, status=status)


def admin_actor(request: Request) -> Actor:
    """The signed-in admin of a merchant; anyone else gets a 403 page in their language."""
    actor = staff_actor(request)
    if actor.role != "admin" or actor.merchant_id is None:
        raise PageError("forbidden_role", ADMIN_ONLY, status=403)
    return actor


async def posted(request: Request, max_fields: int = 60):
    """The form of a post, after its CSRF token is checked."""
    form = await request.form(max_files=0, max_fields=max_fields)
    check_csrf(request, form)
    return form


def text_of(form, name: str, limit: int = 2000) -> str:
    return str(form.get(name) or "").strip()[:limit]


def explain(exc: Exception, locale: str, default_field: str = "form") -> dict[str, str]:
    """A refusal as {field: message in the reader's language}, for the form to show beside the field."""
    if isinstance(exc, PolicyError):
        text = said(exc if hasattr(exc, "said") else (exc.en, exc.zh), locale)
        if exc.line:
            text = gettext(locale, N_("line {line}: {problem}")).format(line=exc.line, problem=text)
        return {exc.field or default_field: text}
    if isinstance(exc, Explained):
        text = exc.problem(locale)
        if exc.allowed:
            text = gettext(locale, N_("{problem} (allowed: {allowed})")).format(
                problem=text, allowed=", ".join("null" if a is None else str(a) for a in exc.allowed))
        return {exc.field or default_field: text}
    if isinstance(exc, AppError):
        body = exc.render(locale)
        return {exc.field or default_field: body["message"]}
    raise exc


def ctx(actor: Actor, section: str, **more: Any) -> dict[str, Any]:
    return {"staff": actor, "area": "staff", "roles": words.ROLES, "sections": SECTIONS, "section": section,
            "errors": {}, **more}


@router.get("/staff/settings")
@router.get("/staff/settings/")
async def settings_home(request: Request):
    admin_actor(request)
    return redirect(request, "/staff/settings/users")


# ---- staff and roles -----------------------------------------------------------------------------------------

ROLE_HELP = {
    "agent": N_("Handles cases; approves what the policy routes to an agent."),
    "warehouse": N_("Receives and inspects returns."),
    "finance": N_("Pays refunds and reconciles."),
    "supervisor": N_("Approves above an agent's limit; edits the policy and deadlines."),
    "admin": N_("Everything, including these settings and staff accounts."),
}


AUDIT_ACTIONS = {
    "user.invite": N_("Staff member added"), "user.change": N_("Staff member changed"),
    "user.deactivate": N_("Staff member deactivated"), "policy.publish": N_("Policy published"),
    "sla.save": N_("Deadlines saved"), "template.save": N_("Template saved"), "template.reset": N_("Template reset"),
    "webhook.add": N_("Webhook added"), "webhook.remove": N_("Webhook removed"),
    "address.save": N_("Return address saved"), "user.unlock": N_("Sign-in unlocked"),
    "user.two_factor_reset": N_("Two-factor sign-in reset"), "signin.locked": N_("Sign-in locked after failures"),
    "security.save": N_("Sign-in rules saved"), "reply.save": N_("Reply template saved"),
    "reply.delete": N_("Reply template deleted"),
}


def _users_page(request: Request, actor: Actor, *, status: int = 200, **more: Any):
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        rows = users.list_users(session, actor=actor)
        events = users.events(session, actor=actor, limit=20)
        sign_in = users.sign_in_state(session, actor.merchant_id, rows)
    role_options = [(r, f"{words.word(words.ROLES, r, locale)} — {gettext(locale, ROLE_HELP[r])}")
                    for r in users.MERCHANT_ROLES]
    return render(request, "staff/settings/users.html", ctx(
        actor, "users", users=rows, events=events, authority=users.AUTHORITY, role_options=role_options,
        audit_actions=AUDIT_ACTIONS, merchant_roles=users.MERCHANT_ROLES, sign_in=sign_in, form=more.pop("form", {"locale": locale_of(request)}), **more),
        status=status)


@router.get("/staff/settings/users")
async def users_page(request: Request):
    return _users_page(request, admin_actor(request))


@router.post("/staff/settings/users")
async def invite_user(request: Request):
    actor = admin_actor(request)
    form = await posted(request)
    values = {k: text_of(form, k, 200) for k in ("email", "name", "role", "locale")}
    password = str(form.get("password") or "")[:200] or None
    try:
        with request.app.state.db.transaction() as session:
            user, temporary = users.invite(session, actor=actor, email=values["email"], name=values["name"],
                                           role=values["role"], locale=values["locale"] or "zh-CN", password=password)
            created = {"name": user.name, "email": user.email, "temporary": temporary}
    except AppError as exc:
        return _users_page(request, actor, status=exc.status, form=values, errors=explain(exc, locale_of(request)))
    # The one-time password is shown on this answer only (not in a redirect's cookie or URL).
    return _users_page(request, actor, created=created, status=201)


@router.post("/staff/settings/users/{user_id}/role")
async def change_role(user_id: int, request: Request):
    actor = admin_actor(request)
    form = await posted(request)
    try:
        with request.app.state.db.transaction() as session:
            users.change(session, actor=actor, user_id=user_id, role=text_of(form, "role", 20))
    except AppError as exc:
        return _users_page(request, actor, status=exc.status, row_errors={user_id: explain(exc, locale_of(request))})
    return redirect(request, "/staff/settings/users", flash="settings_saved")


@router.post("/staff/settings/users/{user_id}/deactivate")
async def deactivate_user(user_id: int, request: Request):
    actor = admin_actor(request)
    await posted(request)
    try:
        with request.app.state.db.transaction() as session:
            users.deactivate(session, actor=actor, user_id=user_id)
    except AppError as exc:
        return _users_page(request, actor, status=exc.status, row_errors={user_id: explain(exc, locale_of(request))})
    return redirect(request, "/staff/settings/users", flash="user_deactivated")

