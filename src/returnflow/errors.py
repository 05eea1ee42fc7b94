"""Errors users can act on: a code, the field, the problem, what is allowed — rendered in their language."""

from __future__ import annotations

from typing import Any

from .i18n import gettext, match, message, pick


class AppError(Exception):
    """A refusal with an HTTP status, a message key and the params that explain it."""

    status = 400

    def __init__(self, key: str, /, *, field: str | None = None, status: int | None = None,
                 allowed: Any = None, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.field = field
        self.params = params
        self.allowed = allowed
        if status is not None:
            self.status = status

    def _params(self) -> dict[str, Any]:
        params = {"field": self.field, **self.params}
        if self.allowed is not None and "allowed" not in params:
            params["allowed"] = ", ".join(map(str, self.allowed)) if isinstance(self.allowed, (list, tuple)) else self.allowed
        return params

    def render(self, locale: str) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.key, "message": message(self.key, locale, **self._params())}
        if self.field:
            body["field"] = self.field
        if self.allowed is not None:
            body["allowed"] = self.allowed
        return body

    def __str__(self) -> str:
        return message(self.key, "en", **self._params())


class InvalidInput(AppError):
    status = 422


class NotFound(AppError):
    status = 404

    def __init__(self, what: str, ref: Any, **kw: Any) -> None:
        super().__init__("not_found", what=what, ref=ref, **kw)


class Forbidden(AppError):
    status = 403


class Unauthenticated(AppError):
    status = 401


class Conflict(AppError):
    status = 409


class Explained(AppError):
    """A refusal explained at the place that knows it, about one field: `text` is an English msgid of the catalogs
    with {placeholders} filled from `params` (a param given as {language: text} is picked per reader), e.g.
    `Explained("code", N_("{code} matches {count} cases; scan the case number instead"), code=c, count=n)`.

    Being converted: the old form `Explained(field, en, zh)` (a third positional text) still renders, for English
    and zh-CN only; no new code may use it (tests/unit/test_error_style.py counts what is left)."""

    status = 422

    def __init__(self, field: str | None, text: str, zh: str | None = None, *, code: str = "validation",
                 status: int | None = None, allowed=None, **params: Any) -> None:
        super().__init__(code, field=field, status=status, allowed=allowed)
        self.msgid = text
        self.values = params
        self.zh = zh

    @property
    def texts(self) -> dict[str, str]:
        """The problem in English and zh-CN (kept for readers not yet converted)."""
        return {"en": self.problem("en"), "zh-CN": self.problem("zh-CN")}

    def problem(self, locale: str) -> str:
        """The problem (without the field) in the reader's language."""
        if self.zh is not None:
            return self.zh if (match(locale) or "en") == "zh-CN" else self.msgid
        values = {k: pick(v, locale) if isinstance(v, dict) else v for k, v in self.values.items()}
        try:
            return gettext(locale, self.msgid).format(**values)
        except (KeyError, IndexError, ValueError):
            return self.msgid.format(**values) if values else self.msgid

    def render(self, locale: str) -> dict[str, Any]:
        body = super().render(locale)
        text = self.problem(locale)
        body["message"] = message("validation", locale, field=self.field, problem=text) if self.field else text
        return body

    def __str__(self) -> str:
        text = self.problem("en")
        return f"{self.field}: {text}" if self.field else text


class Worded(AppError):
    """A refusal worded in the Babel catalogs (msgid `text`, with {placeholders} from params): raised by domain
    services (plans, hand-offs, messages) and shown alike by the API and the pages."""

    def __init__(self, code: str, text: str, *, field: str | None = None, status: int = 422, **params: Any) -> None:
        super().__init__(code, field=field, status=status)
        self.text = text
        self.values = params

    def render(self, locale: str) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.key, "message": gettext(locale, self.text).format(**self.values)}
        if self.field:
            body["field"] = self.field
        return body

    def __str__(self) -> str:
        return self.text.format(**self.values)


class Refused(Explained):
    """Input refused as malformed (the input guard's, or a value of the wrong form): 422 with the field, explained in
    both languages; pages show it in people's words (pages.frame.in_peoples_words)."""
