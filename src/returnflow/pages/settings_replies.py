"""Reply templates (话术) in the settings: list, add, edit and delete the shop's ready replies, each with its name and
text in every language of the desk (the catalogs' languages), the step and outcome it is for, and whether agents are offered it on the case page.
The case page's picker reads the same store (notify/replies.py)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from ..auth import users
from ..actor import Actor
from ..errors import Explained
from ..notify import replies
from ..notify.models import ReplyTemplate
from . import settings_words as sw
from ..i18n import SUPPORTED, display_name
from .frame import FLASH, N_, PageError, gettext, locale_of, redirect
from .settings_pages import admin_actor, ctx, posted, render, text_of

router = APIRouter(include_in_schema=False)
FLASH.update({"reply_saved": N_("The reply template was saved."),
              "reply_deleted": N_("The reply template was deleted."),
              "reply_reset": N_("The reply template is back to the default wording.")})
# (template locale, form field suffix) for every language of the desk: zh-CN and English first, as the form always
# showed them, then any other language its catalogs add (zh-Hant: title_zh_hant, body_zh_hant).
FIRST = {"zh-CN": "zh", "en": "en"}  # the sections the form always had, first and with their old field names
LOCALES = tuple((tag, FIRST.get(tag, tag.lower().replace("-", "_")))
                for tag in sorted(SUPPORTED, key=lambda t: (list(FIRST).index(t) if t in FIRST else len(FIRST), t)))
TEXTS = tuple(f"{kind}_{suffix}" for _loc, suffix in LOCALES for kind in ("title", "body"))
PICKS = {"step": sw.REPLY_STEPS, "outcome": sw.REPLY_OUTCOMES, "visibility": sw.VISIBILITY}
NOT_LISTED = {"step": N_("Choose the step from the list."), "outcome": N_("Choose the outcome from the list."),
              "visibility": N_("Choose from the list who sees the reply.")}
LABELS = {"title_zh": N_("Name in Chinese"), "body_zh": N_("Reply in Chinese"), "title_en": N_("Name in English"),
          "body_en": N_("Reply in English")}
NAME_IN, REPLY_IN = N_("Name in {language}"), N_("Reply in {language}")
BAD_PLACEHOLDER = N_("{field}: {name} is not a placeholder you may use; use {allowed}.")
MISSING = {"title_zh": N_("Enter the name in Chinese, or leave the Chinese text empty too."),
           "body_zh": N_("Enter the reply in Chinese, or leave the Chinese name empty too."),
           "title_en": N_("Enter the name in English, or leave the English text empty too."),
           "body_en": N_("Enter the reply in English, or leave the English name empty too.")}
MISSING_TITLE = N_("Enter the name in {language}, or leave the text in {language} empty too.")
MISSING_BODY = N_("Enter the reply in {language}, or leave the name in {language} empty too.")


def _language_of(field: str) -> str:
    """The language a form field is written in (title_zh_hant -> zh-Hant), named in itself."""
    suffix = field.split("_", 1)[1]
    return display_name(next(loc for loc, s in LOCALES if s == suffix))


def label_of(field: str, locale: str) -> str:
    """A text field's label in the reader's language."""
    if field in LABELS:
        return gettext(locale, LABELS[field])
    return gettext(locale, NAME_IN if field.startswith("title_") else REPLY_IN).format(language=_language_of(field))


def _missing(field: str, locale: str) -> str:
    """What to fill in, in the reader's language (a msgid of the catalogs, or the sentence already worded)."""
    if field in MISSING:
        return MISSING[field]
    return gettext(locale, MISSING_TITLE if field.startswith("title_") else MISSING_BODY).format(
        language=_language_of(field))


def languages(locale: str) -> list[dict[str, str]]:
    """The form's language sections: tag, field suffix, legend, and the two labels."""
    return [{"tag": loc, "suffix": suffix, "legend": display_name(loc), "name": label_of(f"title_{suffix}", locale),
             "reply": label_of(f"body_{suffix}", locale)} for loc, suffix in LOCALES]


def _grouped(session, merchant_id: int, locale: str) -> list[dict[str, Any]]:
    """One entry per reply (both languages together), named in the reader's language."""
    found: dict[str, dict[str, Any]] = {}
    for item in replies.listing(session, merchant_id, locale=None, step=None, outcome=None, case=None, hidden=True):
        entry = found.setdefault(item["code"], {"code": item["code"], "texts": {}, "step": item["step"],
                                                "outcome": item["outcome"], "visibility": item["visibility"],
                                                "own": False, "builtin": item["code"] in replies.BUILTIN})
        entry["texts"][item["locale"]] = item
        entry["own"] = entry["own"] or item["source"] == "merchant"
        if item["source"] == "merchant":
            entry.update(step=item["step"], outcome=item["outcome"], visibility=item["visibility"])
    for entry in found.values():
        mine = entry["texts"].get(locale) or next(iter(entry["texts"].values()))
        entry["name"] = mine["title"]
        entry["step_word"] = sw.word(sw.REPLY_STEPS, entry["step"], locale, sw.OTHER_KIND)
        entry["outcome_word"] = sw.word(sw.REPLY_OUTCOMES, entry["outcome"], locale, sw.OTHER_KIND)
        entry["visibility_word"] = sw.word(sw.VISIBILITY, entry["visibility"], locale, sw.OTHER_KIND)
        entry["languages"] = [loc for loc, _ in LOCALES if loc in entry["texts"]]
    return sorted(found.values(), key=lambda e: (list(sw.REPLY_STEPS).index(e["step"])
                                                 if e["step"] in sw.REPLY_STEPS else 99, e["name"]))


def _options(locale: str) -> dict[str, list[tuple[str, str]]]:
    return {name: [(k, sw.word(table, k, locale)) for k in table] for name, table in PICKS.items()}


def _list_page(request: Request, actor: Actor, *, status: int = 200, **more: Any):
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        rows = _grouped(session, actor.merchant_id, locale)
    return render(request, "staff/settings/replies.html", ctx(actor, "replies", rows=rows, **more), status=status)


def _form_page(request: Request, actor: Actor, code: str | None, values: dict[str, str], *, status: int = 200,
               **more: Any):
    return render(request, "staff/settings/reply.html", ctx(
        actor, "replies", code=code, values=values, options=_options(locale_of(request)),
        reply_languages=languages(locale_of(request)),
        fields=replies.FIELDS, builtin=code in replies.BUILTIN if code else False, **more), status=status)


def _values_of(entry: dict[str, Any] | None) -> dict[str, str]:
    if entry is None:
        return {"step": "", "outcome": "", "visibility": "agents", **{k: "" for k in TEXTS}}
    values = {"step": entry["step"], "outcome": entry["outcome"], "visibility": entry["visibility"]}
    for loc, suffix in LOCALES:
        item = entry["texts"].get(loc) or {}
        values[f"title_{suffix}"], values[f"body_{suffix}"] = item.get("title", ""), item.get("body", "")
    return values


def _entry(session, merchant_id: int, code: str, locale: str) -> dict[str, Any]:
    entry = next((e for e in _grouped(session, merchant_id, locale) if e["code"] == code), None)
    if entry is None:
        raise PageError("not_found", N_("This reply template does not exist (any more)."), status=404)
    return entry


def _check(form, locale: str) -> tuple[dict[str, str], dict[str, str]]:
    """(values as typed, errors by field): a name and a text in at least one language, both or neither per
    language, placeholders that are case fields, choices from the lists."""
    values = {k: text_of(form, k, 200) for k in ("step", "outcome", "visibility")}
    values.update({k: text_of(form, k, 200) for k in TEXTS if k.startswith("title_")})
    values.update({k: str(form.get(k) or "").strip()[:10_000] for k in TEXTS if k.startswith("body_")})
    errors: dict[str, str] = {}
    for name, table in PICKS.items():
        if values[name] not in table:
            errors[name] = NOT_LISTED[name]
    filled = 0
    for _loc, suffix in LOCALES:
        title, body = f"title_{suffix}", f"body_{suffix}"
        if values[title] and not values[body]:
            errors[body] = _missing(body, locale)
        elif values[body] and not values[title]:
            errors[title] = _missing(title, locale)
        elif values[title]:
            filled += 1
            try:
                replies.check(values[title], values[body])
            except Explained as exc:
                field = f"{exc.field}_{suffix}" if exc.field in ("title", "body") else body
                wrong = re.search(r"\{([^{}]*)\}", exc.problem("en"))
                errors[field] = gettext(locale, BAD_PLACEHOLDER).format(
                    field=label_of(field, locale), name="{" + (wrong.group(1) if wrong else "") + "}",
                    allowed=", ".join("{" + f + "}" for f in replies.FIELDS))
    if not filled and not errors:
        errors["title_zh"] = N_("Enter a name and a reply in at least one language.")
    return values, errors


def _store(session, actor: Actor, code: str, values: dict[str, str]) -> None:
    for loc, suffix in LOCALES:
        title, body = values[f"title_{suffix}"], values[f"body_{suffix}"]
        if title:
            replies.save(session, actor.merchant_id, code=code, locale=loc, step=values["step"],
                         outcome=values["outcome"], title=title, body=body, visibility=values["visibility"])
        else:
            for row in session.scalars(select(ReplyTemplate).where(
                    ReplyTemplate.merchant_id == actor.merchant_id, ReplyTemplate.code == code,
                    ReplyTemplate.locale == loc)):
                session.delete(row)
    users.record(session, actor, merchant_id=actor.merchant_id, action="reply.save",
                 target=next((values[f"title_{suffix}"] for _loc, suffix in LOCALES if values[f"title_{suffix}"]), ""))


def _new_code(session, merchant_id: int) -> str:
    taken = set(session.scalars(select(ReplyTemplate.code).where(ReplyTemplate.merchant_id == merchant_id)))
    n = len(taken) + 1
    while f"own_{n}" in taken or f"own_{n}" in replies.BUILTIN:
        n += 1
    return f"own_{n}"


@router.get("/staff/settings/replies")
async def replies_page(request: Request):
    return _list_page(request, admin_actor(request))


@router.get("/staff/settings/replies/new")
async def reply_new(request: Request):
    return _form_page(request, admin_actor(request), None, _values_of(None))


@router.post("/staff/settings/replies/new")
async def reply_create(request: Request):
    actor = admin_actor(request)
    form = await posted(request)
    values, errors = _check(form, locale_of(request))
    if errors:
        return _form_page(request, actor, None, values, status=422, errors=errors)
    with request.app.state.db.transaction() as session:
        _store(session, actor, _new_code(session, actor.merchant_id), values)
    return redirect(request, "/staff/settings/replies", flash="reply_saved")


@router.get("/staff/settings/replies/{code}")
async def reply_page(code: str, request: Request):
    actor = admin_actor(request)
    with request.app.state.db.read() as session:
        entry = _entry(session, actor.merchant_id, code, locale_of(request))
    return _form_page(request, actor, code, _values_of(entry), own=entry["own"])


@router.post("/staff/settings/replies/{code}")
async def reply_save(code: str, request: Request):
    actor = admin_actor(request)
    form = await posted(request)
    with request.app.state.db.read() as session:
        entry = _entry(session, actor.merchant_id, code, locale_of(request))
    values, errors = _check(form, locale_of(request))
    if errors:
        return _form_page(request, actor, code, values, status=422, errors=errors, own=entry["own"])
    with request.app.state.db.transaction() as session:
        _store(session, actor, code, values)
    return redirect(request, "/staff/settings/replies", flash="reply_saved")


@router.post("/staff/settings/replies/{code}/delete")
async def reply_delete(code: str, request: Request):
    """Deletes the shop's own reply; for a built-in one, its own wording goes and the default is back."""
    actor = admin_actor(request)
    await posted(request)
    with request.app.state.db.transaction() as session:
        entry = _entry(session, actor.merchant_id, code, locale_of(request))
        replies.remove(session, actor.merchant_id, code)
        users.record(session, actor, merchant_id=actor.merchant_id, action="reply.delete", target=entry["name"])
    return redirect(request, "/staff/settings/replies", flash="reply_reset" if entry["builtin"] else "reply_deleted")
