"""A refused case action in the staff member's words: the API's refusals name payload keys, action codes and states
(`payload.override_reason`, `ship_replacement`, 'pending_review'), which a page never shows. Each known refusal gets
a sentence of its own; any other keeps its text with every code put into words."""

from __future__ import annotations

import re
from typing import Any

from ..errors import AppError
from . import words
from .frame import N_, PageError, gettext

# The fields an action form has, as the form labels them.
FIELDS = {**words.FIELDS, "type": N_("New type"), "override_reason": N_("Override reason"),
          "plan": N_("Plan"), "lines": N_("Lines"), "assignee_id": N_("Assignee"), "version": N_("Version"),
          "kind": N_("Plan"), "amount": N_("Amount"), "note": N_("Note"), "team": N_("Team"),
          "return_address": N_("Return address")}

STALE = N_("Someone else changed this case while you were looking at it. Nothing was changed: here is the current "
           "state. Check it and try again.")
NO_VERSION = N_("This form did not say which version of the case it showed. Nothing was changed: here is the "
                "current state. Try again from this page.")
WRONG_STATE = N_("This step is not possible while the case is “{state}”. Nothing was changed: the steps possible "
                 "now are shown below.")
ROLE = N_("Your role ({role}) cannot do this: {action}. Nothing was changed.")
OVERRIDE = N_("The return policy does not allow this request. To approve it anyway, write the override reason "
              "(why you approve outside the policy). Nothing was changed.")
MISSING = N_("Fill in “{field}”. Nothing was changed.")
OTHER = N_("{problem} Nothing was changed.")

_PAYLOAD = re.compile(r"payload\.([a-z_]+)(?:\[\d+\](?:\.([a-z_]+))?)?")
_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
_QUOTED = re.compile(r"[「'](\w+)[」']")


def field_words(name: str | None, locale: str) -> str:
    """A form field (or payload path) as its label reads."""
    if not name:
        return ""
    key = name.split(".", 1)[1] if name.startswith("payload.") else name
    key = re.split(r"[\[.]", key)[0]
    return gettext(locale, FIELDS[key]) if key in FIELDS else key.replace("_", " ")


def in_words(text: str, locale: str, *, known_only: bool = False) -> str:
    """Every payload path, action, type or state code in `text` put into words (`known_only`: other snake_case
    words, say in an e-mail address, are left as they are)."""
    text = _PAYLOAD.sub(lambda m: "“" + field_words(m.group(1), locale) + "”", text)

    def code(m: re.Match) -> str:
        word = m.group(0)
        for table in (words.ACTIONS, words.TYPES, FIELDS):
            if word in table:
                return gettext(locale, table[word])
        label = words.state_label(word, locale)
        return label if label != word or known_only else word.replace("_", " ")

    text = _QUOTED.sub(lambda m: "“" + code(m) + "”" if "_" in m.group(1) or m.group(1) in words.ACTIONS
                       else m.group(0), text)
    return _CODE.sub(code, text)


def refusal_words(exc: AppError, locale: str) -> dict[str, Any]:
    """{"message", "field"?} for the message box at the top of the case page."""
    key, field = exc.key, exc.field
    params = getattr(exc, "params", {}) or {}
    if isinstance(exc, PageError):
        text = exc.render(locale)["message"]
    elif key == "stale_version":
        text = gettext(locale, STALE)
    elif key == "illegal_transition":
        text = gettext(locale, WRONG_STATE).format(state=words.state_label(str(params.get("state")), locale))
    elif key == "forbidden_role":
        what = str(params.get("what") or "")
        base = what.split(" (", 1)[0]
        action = words.word(words.ACTIONS, base, locale) if base in words.ACTIONS else in_words(what, locale)
        if base in words.ACTIONS and "pending approval" in what:  # the approval a supervisor gives
            action += f" ({words.state_label('pending_approval', locale)})"
        text = gettext(locale, ROLE).format(role=words.word(words.ROLES, str(params.get("role")), locale),
                                            action=action)
    elif field == "payload.override_reason":
        text = gettext(locale, OVERRIDE)
    elif key == "guard_failed" and field and field.startswith("payload.") and "required" in str(exc):
        text = gettext(locale, MISSING).format(field=field_words(field, locale))
    else:
        problem = in_words(str(exc.render(locale).get("message") or ""), locale).rstrip("。.")
        problem = problem[:1].upper() + problem[1:]
        text = gettext(locale, OTHER).format(problem=gettext(locale, N_("{sentence}.")).format(sentence=problem))
    body: dict[str, Any] = {"message": text}
    if field:
        body["field"] = field.split(".", 1)[1] if field.startswith("payload.") else field
    return body
