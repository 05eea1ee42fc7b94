"""The policy API: stored versions of the merchant's policy file (the dry run of a return: assessment/dry_run.py)."""

from __future__ import annotations


from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..actor import Actor
from ..merchants.scope import resolve_merchant
from ..errors import Explained, Forbidden, NotFound
from ..i18n import N_, gettext, message
from ..web import DB, JSON, CurrentActor, locale_of, mutate
from . import service
from .errors import PolicyError
from .compiled import Policy
from .loader import preset_text
from .models import PolicyVersion
from ..merchants.models import Merchant
from .public import public_dict

router = APIRouter(tags=["policy"])

POLICY_EDITORS = ("admin", "supervisor", "platform")


def _staff(actor: Actor, what: str) -> None:
    if actor.kind not in ("staff", "system"):
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=["staff"])


def _version_dict(row: PolicyVersion | None, policy: Policy, default: str | None = None) -> dict:
    if row is None:
        return {"version": None, "default": True, "extends": default, "policy_id": policy.id,
                "source": preset_text(default) if default else "", "created_at": None, "created_by": None}
    return {"version": row.version, "default": False, "extends": row.extends or None, "policy_id": policy.id,
            "source": row.source, "created_at": row.created_at, "created_by": row.created_by}


@router.get("/policy")
async def get_policy(actor: CurrentActor, db: DB, merchant: str | None = None):
    """The merchant's active policy version, or the default preset when none was saved (`version` null)."""
    _staff(actor, "read the policy")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        row, policy = service.current(session, m.id)
        return JSON(_version_dict(row, policy, None if row else service.default_preset(m)))


@router.get("/public/merchants/{code}/policy", tags=["public"])
async def public_policy(db: DB, code: str = Path(min_length=1, max_length=60)):
    """The merchant's return policy in plain words (every language of the desk), written from the active policy
    itself, with the rule and source behind every sentence. Public: no sign-in (the portal and the shop link to it)."""
    with db.read() as session:
        merchant = session.scalar(select(Merchant).where(Merchant.code == code))
        if merchant is None:
            raise NotFound("merchant", code, field="code")
        row, policy = service.current(session, merchant.id)
        return JSON(public_dict(policy, merchant=merchant.code, merchant_name=merchant.name,
                                version=row.version if row else None, published_at=row.created_at if row else None))


@router.get("/policy/versions")
async def list_versions(actor: CurrentActor, db: DB, merchant: str | None = None):
    """Every saved version of the merchant's policy, newest first (without the source text)."""
    _staff(actor, "read the policy")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        rows = service.versions(session, m.id)
        return JSON({"items": [{"version": r.version, "extends": r.extends or None, "created_at": r.created_at,
                                "created_by": r.created_by} for r in rows],
                     "current": rows[0].version if rows else None})


@router.get("/policy/versions/{version}")
async def get_version(actor: CurrentActor, db: DB, version: int = Path(ge=1), merchant: str | None = None):
    """One saved version with its source text."""
    _staff(actor, "read the policy")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        row = service.get_version(session, m.id, version)
        return JSON(_version_dict(row, service.compile_version(row)))


def warnings_of(policy: Policy, locale: str) -> list[dict]:
    """What the law has to say about an accepted file (e.g. a restocking fee under cn-law), in the caller's
    language, with the field and line like a refusal."""
    out = []
    for w in policy.warnings:
        problem = gettext(locale, AT_LINE).format(line=w.line, problem=w.said(locale)) if w.line else w.said(locale)
        text = message("validation", locale, field=w.field, problem=problem)
        out.append({"field": w.field, "line": w.line, "rule": w.rule, "message": text})
    return out


AT_LINE = N_("line {line}: {problem}")


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200_000, description="The merchant policy file (TOML)")
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")


class PolicyRefused(Explained):
    """A policy file that does not load: 422 with `field`, `line` and the reason in the caller's language."""

    def __init__(self, exc: PolicyError) -> None:
        if exc.line:
            super().__init__(exc.field, AT_LINE, code="invalid_policy", line=exc.line, problem=exc.every())
        else:
            super().__init__(exc.field, N_("{problem}"), code="invalid_policy", problem=exc.every())
        self.line = exc.line

    def render(self, locale: str) -> dict:
        body = super().render(locale)
        body["line"] = self.line
        return body


@router.put("/policy", status_code=201)
async def put_policy(body: PolicyIn, actor: CurrentActor, request: Request):
    """Saves a new version of the merchant's policy file (admins, supervisors, platform); it becomes active at
    once. A file that does not load is refused with the field and line, and the active version stays."""
    if actor.role not in POLICY_EDITORS:
        raise Forbidden("forbidden_role", role=actor.role, what="change the policy", allowed=list(POLICY_EDITORS))

    def work(session):
        merchant = resolve_merchant(session, actor, body.merchant)
        try:
            row = service.save(session, merchant.id, body.source, actor)
        except PolicyError as exc:
            raise PolicyRefused(exc) from None
        policy = service.compile_version(row)
        return 201, {**_version_dict(row, policy), "warnings": warnings_of(policy, locale_of(request))}

    return await mutate(request, actor, work)
