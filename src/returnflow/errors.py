"""Errors users can act on: a code, the field, the problem, what is allowed — rendered in their language."""

from __future__ import annotations

from typing import Any

from .i18n import SUPPORTED, gettext, message, said


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

    There is no (English, Chinese) pair form: a text written in code in two languages cannot be read in a third
    (tests/unit/test_error_style.py keeps it so)."""

    status = 422

    def __init__(self, field: str | None, text: str, /, *, code: str = "validation", status: int | None = None,
                 allowed=None, **params: Any) -> None:
        super().__init__(code, field=field, status=status, allowed=allowed)
        self.msgid = text
        self.values = params

    @property
    def texts(self) -> dict[str, str]:
        """The problem in every language of the desk: {tag: text}."""
        return {lang: self.problem(lang) for lang in SUPPORTED}

    def problem(self, locale: str) -> str:
        """The problem (without the field) in the reader's language."""
        return said(locale, self.msgid, self.values)

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
