"""The page frame: Jinja2 templates translated through the Babel catalogs, the language of each request, CSRF
protection for form posts, flash messages, and error pages."""

from __future__ import annotations

import hmac
from contextvars import ContextVar
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from decimal import Decimal, InvalidOperation
from babel.numbers import format_currency
from sqlalchemy import select

from ..errors import AppError, Forbidden, Refused, Worded
from ..i18n import ENGLISH, N_, SUPPORTED, babel_id, display_name, gettext, match, negotiate, pick, translations
from ..labels import reason_label
from ..merchants.clock import zone_of
from ..merchants.models import Merchant

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
LOCALES = PACKAGE / "locale"
HTMX = "vendor/htmx-2.0.11/htmx.min.js"

LANG_COOKIE = "rf_lang"
CSRF_COOKIE = "rf_csrf"
FLASH_COOKIE = "rf_flash"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_TEXT = 200_000  # one form field; the longest is a policy file
SHANGHAI = ZoneInfo("Asia/Shanghai")
ZONE: ContextVar[ZoneInfo] = ContextVar("page_zone", default=SHANGHAI)

# Pages that only browsers read: no framing, no outside scripts, styles or images.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _environment(locale: str) -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["locale"] = locale
    env.globals["html_lang"] = locale
    env.globals["languages"] = [(tag, display_name(tag)) for tag in SUPPORTED]
    env.globals["language_name"] = display_name
    env.globals["reason_label"] = lambda reason: reason_label(reason, locale)
    env.globals["htmx"] = HTMX
    env.filters["when"] = lambda value: when(value, locale)
    env.filters["money"] = lambda value, currency: money(value, currency, locale)
    from . import calendar_banner, portal_reach, words  # they import this module

    env.globals["channel_gaps"] = portal_reach.channel_gaps
    env.globals["calendar_gaps"] = calendar_banner.calendar_gaps
    env.globals["demo_inbox_on"] = portal_reach.demo_inbox_on

    env.globals.update(words.helpers(locale))
    return env


_ENVS: dict[str, Environment] = {}


def environment(locale: str) -> Environment:
    """The template environment of `locale` (one per language: translations are installed once, thread-safe)."""
    env = _ENVS.get(locale)
    if env is None:
        env = _ENVS[locale] = _environment(locale)
    return env


def when(value: datetime | None, locale: str, zone: ZoneInfo | None = None) -> str:
    """A timestamp in the merchant's time zone (of the page being rendered; Asia/Shanghai by default), in the
    locale's format."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(zone or ZONE.get()), "yyyy-MM-dd HH:mm", locale=babel_id(locale))


def money(value, currency: str, locale: str) -> str:
    """An amount (Decimal or its text, never float) in the locale's currency format: ¥899.00 in zh-CN."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return f"{value} {currency}"
    return format_currency(amount, currency, locale=babel_id(locale))


def _zone_for(request: Request, ctx: dict[str, Any]) -> ZoneInfo:
    if isinstance(ctx.get("tz"), ZoneInfo):
        return ctx["tz"]
    merchant_id = (getattr(ctx.get("merchant"), "id", None) or getattr(ctx.get("staff"), "merchant_id", None)
                   or getattr(ctx.get("actor"), "merchant_id", None))
    db = getattr(request.app.state, "db", None)
    if merchant_id is None or db is None:
        return SHANGHAI
    with db.read() as session:
        return zone_of(session, merchant_id)


def locale_of(request: Request) -> str:
    """The language chosen on the page (cookie), else negotiated from the browser's Accept-Language."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in SUPPORTED:
        return chosen
    default = merchant_language(request)
    return negotiate(request.headers.get("accept-language"), default,
                     unasked=default or request.app.state.settings.default_locale)


def merchant_language(request: Request) -> str | None:
    """The default language of the merchant whose portal is asked for (/p/{code}/...), once per request."""
    if hasattr(request.state, "merchant_language"):
        return request.state.merchant_language
    found = None
    parts = request.url.path.split("/")
    db = getattr(request.app.state, "db", None)
    if len(parts) > 2 and parts[1] == "p" and parts[2] and db is not None:
        with db.read() as session:
            found = session.scalar(select(Merchant.default_locale).where(Merchant.code == parts[2]))
    request.state.merchant_language = found
    return found


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the browser's cookie, or a new one that `render` sets."""
    token = getattr(request.state, "csrf", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or ""
        if len(token) < 32:
            token = secrets.token_urlsafe(32)
            request.state.csrf_new = True
        request.state.csrf = token
    return token


class CsrfRefused(Forbidden):
    def __init__(self) -> None:
        super().__init__("csrf")


def check_csrf(request: Request, form) -> None:
    """A form post must carry the token of the browser's CSRF cookie (double submit; the cookie is SameSite)."""
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    sent = (form.get(CSRF_FIELD) if form is not None else None) or request.headers.get(CSRF_HEADER) or ""
    if len(cookie) < 32 or not isinstance(sent, str) or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfRefused()
    _check_form_text(form)


UNUSABLE_CHARACTER = N_("Something you typed contains an invisible control character that cannot be used. "
                        "Remove it and try again.")
INPUT_NOT_UNDERSTOOD = N_("This address or form holds something we cannot read. Go back, check what you entered "
                          "and try again.")
TOO_LONG = N_("Something you typed is longer than {limit} characters. Shorten it and try again.")


def _check_form_text(form) -> None:
    """Form fields (and upload names) with NUL or over-long text are refused before any handler stores them, in
    words a person can act on (the JSON body still names the field)."""
    for name, value in (form.multi_items() if form is not None else ()):
        text = value if isinstance(value, str) else (getattr(value, "filename", None) or "")
        if "\x00" in name or "\x00" in text:
            raise PageError("unusable_character", UNUSABLE_CHARACTER, field=name.replace("\x00", ""))
        if isinstance(value, str) and len(value) > MAX_FORM_TEXT:
            raise PageError("too_long", TOO_LONG, field=name, limit=MAX_FORM_TEXT)


def set_cookie(response, request: Request, name: str, value: str, *, max_age: int | None = None,
               httponly: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=httponly, samesite="lax", path="/",
                        secure=request.url.scheme == "https")


def _finish(request: Request, response):
    if getattr(request.state, "csrf_new", False):
        set_cookie(response, request, CSRF_COOKIE, request.state.csrf, max_age=7 * 24 * 3600)
        request.state.csrf_new = False
    if getattr(request.state, "flash_read", False):
        response.delete_cookie(FLASH_COOKIE, path="/")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200) -> HTMLResponse:
    """Renders template `name` in the request's language; sets the CSRF cookie and security headers."""
    locale = locale_of(request)
    ctx = {"request": request, "csrf": csrf_token(request), "flash": read_flash(request),
           "path": request.url.path, "query": request.url.query}
    ctx.update(context or {})
    # Templates (and the macros they import without context) read the zone through `when`.
    token = ZONE.set(_zone_for(request, ctx))
    try:
        html = environment(locale).get_template(name).render(ctx)
    finally:
        ZONE.reset(token)
    return _finish(request, HTMLResponse(html, status_code=status))


def redirect(request: Request, url: str, *, flash: str | None = None) -> Response:
    """A 303 to `url` (after a post), optionally with a flash message (a key of FLASH) for the next page.
    An upload sent by the progress script (X-Progress) gets 204 + X-Location: the script goes there itself."""
    if request.headers.get("x-progress") == "1" and request.method == "POST":
        response: Response = Response(status_code=204, headers={"X-Location": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        set_cookie(response, request, FLASH_COOKIE, quote(flash), max_age=60)
    return _finish(request, response)


# Flash messages by key: the cookie carries only the key, so nobody can make a page say something else.
FLASH: dict[str, str] = {
    "code_sent": N_("We sent a one-time code to the contact on the order. It is valid for 10 minutes."),
    "signed_in": N_("You are signed in."),
    "signed_out": N_("You are signed out."),
    "case_opened": N_("Your request was submitted."),
    "tracking_saved": N_("Thank you: the tracking number was saved."),
    "cancelled": N_("The request was cancelled."),
    "message_sent": N_("Your message was sent."),
    "files_added": N_("Thank you: the files were added."),
    "postage_claimed": N_("Thank you: your postage claim was recorded; it is refunded with your refund."),
    "action_done": N_("Done: the case was updated."),
    "assigned": N_("The selected cases were assigned."),
    "nothing_selected": N_("Select at least one case first."),
    "note_saved": N_("The internal note was saved."),
    "plan_accepted": N_("Thank you: you accepted the plan. The shop will now carry it out."),
    "plan_declined": N_("You declined the plan. The shop will get back to you."),
    "rated": N_("Thank you for rating our service."),
    "plan_proposed": N_("The plan was sent to the customer to accept."),
    "plan_withdrawn": N_("The plan was withdrawn."),
    "handoff_saved": N_("The case was handed off to the team."),
    "handoff_done": N_("The hand-off is marked done."),
    "type_changed": N_("The case's type was changed, and the policy decided again for the new type."),
}


CSRF_MESSAGE = N_("This form has expired or was sent from another site. Reload the page and try again.")


def read_flash(request: Request) -> str | None:
    """The flash message left by the previous post, translated; it is shown once."""
    key = unquote(request.cookies.get(FLASH_COOKIE, ""))
    if key not in FLASH:
        return None
    request.state.flash_read = True
    return gettext(locale_of(request), FLASH[key])


def safe_next(url: str | None, default: str = "/") -> str:
    """Only a path on this site (no scheme, no host, no '//'), so a link cannot send anyone elsewhere."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def is_page(request: Request) -> bool:
    """Whether the request is for a page (HTML) rather than the JSON API."""
    path = request.url.path
    return path.startswith(("/p/", "/staff", "/lang")) or path == "/"


def said(value: Any, locale: str) -> str:
    """A text another package hands the pages, in the reader's language: an English msgid, a {language: text}
    dict, an object that says itself (`said(locale)`), or an older (English, zh-CN) pair whose English is looked
    up in the catalogs first (so zh-Hant and later languages read it where the catalogs have it)."""
    if hasattr(value, "said"):
        return value.said(locale)
    if isinstance(value, str):
        return gettext(locale, value)
    if isinstance(value, dict):
        return pick(value, locale)
    en, zh = value
    found = gettext(locale, en)
    return found if found != en or match(locale) == ENGLISH else pick({ENGLISH: en, "zh-CN": zh}, locale)


def in_peoples_words(exc: AppError) -> AppError:
    """A refusal of malformed input (the input guard's, a path or query value of the wrong form) as a person reads
    it: no field names, codes or escapes, which are for API callers."""
    if isinstance(exc, Refused):
        if exc.key == "unusable_character":
            return PageError(exc.key, UNUSABLE_CHARACTER, field=exc.field)
        return PageError("input_not_understood", INPUT_NOT_UNDERSTOOD, field=exc.field)
    return exc


def error_page(request: Request, exc: AppError) -> HTMLResponse:
    """An AppError as a page in the user's language, with what is allowed."""
    locale = locale_of(request)
    exc = in_peoples_words(exc)
    body = exc.render(locale)
    if exc.key == "csrf":
        body["message"] = gettext(locale, CSRF_MESSAGE)
    elif isinstance(body.get("message"), str):
        from .case_refusals import in_words  # it builds on this module

        # No page asks for a payload key or names a step by its code: the API's wording, put into words.
        body["message"] = in_words(body["message"], locale, known_only=True)
    parts = request.url.path.split("/")
    home = f"/p/{parts[2]}/" if len(parts) > 2 and parts[1] == "p" else "/staff/"
    return render(request, "error.html", {"error": body, "status": exc.status, "home": home}, status=exc.status)


PageError = Worded  # the pages raise the same catalog-worded refusals as the domain services
