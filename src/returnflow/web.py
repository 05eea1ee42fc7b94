"""The HTTP frame shared by every router: JSON responses, errors in the user's language, auth, idempotent writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .actor import Actor
from .db import Database
from .errors import AppError, Explained, Forbidden, Refused, Unauthenticated
from .i18n import SUPPORTED, asks_for_none_of_ours, gettext, message, negotiate
from .idempotency import recall, remember, request_hash
from .texts.errors import NOT_VALID, PROBLEMS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError


class JSON(JSONResponse):
    """orjson-encoded JSON."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS)


def locale_of(request: Request) -> str:
    """The API's language: the Accept-Language one we have (or its family), else the signed-in caller's merchant's
    default language, else English; a request naming no language gets the instance's default
    (settings.default_locale)."""
    header = request.headers.get("accept-language")
    default = _merchant_language(request) if asks_for_none_of_ours(header) else None
    return negotiate(header, default, unasked=request.app.state.settings.default_locale)


def _merchant_language(request: Request) -> str | None:
    """The default language of the merchant of the signed-in caller (after `current_actor`), if any."""
    actor = getattr(request.state, "actor", None)
    if actor is None or actor.merchant_id is None:
        return None
    # The app factory hands the merchants' answer in (app.state.language_of): this layer does not import merchants.
    with request.app.state.db.read() as session:
        return request.app.state.language_of(session, actor.merchant_id)


def problem_words(err: dict, locale: str) -> str:
    """A pydantic error's problem in `locale`, from the catalogs."""
    known = PROBLEMS.get(err.get("type", ""))
    if known:
        return gettext(locale, known)
    words = gettext(locale, NOT_VALID)
    # English says pydantic's own sentence; a language whose catalog has the entry frames it in its words.
    return err.get("msg", "is not valid") if words == NOT_VALID else words.format(detail=err.get("msg", ""))


def error_response(request: Request, exc: AppError) -> JSON:
    return JSON({"error": exc.render(locale_of(request))}, status_code=exc.status)


def validation_response(request: Request, exc: RequestValidationError) -> JSON:
    locale = locale_of(request)
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc).replace(".[", "[") or "body"
        for i, part in enumerate(loc):
            if part.isdigit() and i:
                field = field.replace(f".{part}", f"[{part}]", 1)
        etype = err.get("type", "")
        if etype == "json_invalid":
            text = message("malformed_json", locale, problem=err.get("ctx", {}).get("error", err.get("msg")))
            errors.append({"code": "malformed_json", "field": "body", "message": text})
            continue
        entry: dict[str, Any] = {"code": "validation", "field": field,
                                 "message": message("validation", locale, field=field,
                                                    problem=problem_words(err, locale))}
        expected = err.get("ctx", {}).get("expected")
        if expected:
            entry["allowed"] = expected
        errors.append(entry)
    first = dict(errors[0]) if errors else {"code": "validation", "message": "invalid"}
    first["errors"] = errors
    return JSON({"error": first}, status_code=422)


def page_validation_error(exc: RequestValidationError) -> Explained:
    """The first problem of a validation error, for a page to show (as malformed input, in people's words)."""
    err = (exc.errors() or [{}])[0]
    field = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")) or "body"
    return Refused(field, "{problem}", problem={lang: problem_words(err, lang) for lang in SUPPORTED})


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def current_actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("unauthenticated")
    # The app factory hands the token check in (app.state.actor_for_token, auth's): this layer does not import auth.
    actor = request.app.state.actor_for_token(request.app.state.db.reader, token.strip())
    request.state.actor = actor  # its merchant's default language words the errors when no asked one is ours
    if actor.must_enroll and request.url.path not in ENROL_PATHS:
        raise Forbidden("two_factor_enrol_first")
    return actor


# What a staff member who must first set up the second factor may still do.
ENROL_PATHS = frozenset({"/api/v1/auth/two-factor", "/api/v1/auth/two-factor/confirm", "/api/v1/me",
                         "/api/v1/auth/token"})


DB = Annotated[Database, Depends(get_db)]
CurrentActor = Annotated[Actor, Depends(current_actor)]


async def mutate(request: Request, actor: Actor, work: Callable[[Session], tuple[int, Any]], *,
                 fingerprint: bytes | None = None) -> Response:
    """Runs `work` in one write transaction; with an Idempotency-Key, a retry returns the first result.

    The request is recognised by its body, or by `fingerprint` where the body cannot be compared (uploads).
    """
    db: Database = request.app.state.db
    key = request.headers.get("idempotency-key")
    digest = None
    if key:
        key = key.strip()[:200]
        body = fingerprint if fingerprint is not None else await request.body()
        digest = request_hash(request.method, request.url.path, body)
    if db.dialect == "sqlite":
        # One short write behind SQLite's single writer lock: cheaper on the event loop than a thread hop.
        return _write(db, actor, work, key, digest)
    # PostgreSQL round trips would stall the event loop; in threads, several requests overlap.
    return await run_in_threadpool(_write, db, actor, work, key, digest)


def _write(db: Database, actor: Actor, work: Callable[[Session], tuple[int, Any]], key: str | None,
           digest: str | None) -> Response:
    if not key:
        with db.transaction() as session:
            status, body = work(session)
        return JSON(body, status_code=status)
    for attempt in range(2):
        try:
            with db.transaction() as session:
                record = recall(session, scope=actor.ref, key=key, digest=digest)
                if record is not None:
                    return JSON(record.response, status_code=record.status_code,
                                headers={"Idempotent-Replayed": "true"})
                status, body = work(session)
                plain = orjson.loads(orjson.dumps(body, default=_default))
                remember(session, scope=actor.ref, key=key, digest=digest, status_code=status, response=plain)
            return JSON(plain, status_code=status)
        except IntegrityError:
            if attempt:
                raise
            # A concurrent request with the same key committed first: answer with its result.
    raise RuntimeError("unreachable")
