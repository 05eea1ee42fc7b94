"""Managing a merchant's staff: list, invite, change roles, deactivate — each change an audit event.

Only admins (of their merchant) and platform users manage staff. The merchant always keeps at least one active
admin, so nobody can lock the shop out of its own settings. Deactivating revokes every token of the user at once.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import Explained, Forbidden, NotFound
from ..i18n import N_, SUPPORTED
from ..merchants.models import Merchant
from . import guard, service, totp
from ..actor import Actor
from .models import ApiToken, StaffEvent, User

MANAGERS = ("admin", "platform")
# Roles a merchant's admin may give; platform accounts are created by the operator, not from a shop.
MERCHANT_ROLES = ("agent", "warehouse", "finance", "supervisor", "admin")
# The authority level each role carries: what the policy routes (auto 0, agent 1, supervisor 2) and the refund
# limits (money settings, per role) key on; an admin approves above a supervisor.
AUTHORITY = {"warehouse": 0, "finance": 0, "agent": 1, "supervisor": 2, "admin": 3, "platform": 3}
LOCALES = SUPPORTED
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10


def check_manager(actor: Actor) -> None:
    if actor.kind != "staff" or actor.role not in MANAGERS:
        raise Forbidden("forbidden_role", role=actor.role, what="manage staff accounts", allowed=list(MANAGERS))


def _merchant_of(actor: Actor, merchant_id: int | None) -> int:
    """The merchant whose staff `actor` manages: its own; a platform user names one."""
    if actor.merchant_id is not None:
        return actor.merchant_id
    if merchant_id is None:
        raise Explained("merchant", N_("a platform user must name the merchant"), code="merchant_required")
    return merchant_id


def user_dict(user: User) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
            "authority_level": AUTHORITY.get(user.role, 0), "locale": user.locale, "active": user.active,
            "two_factor": user.totp_enabled, "created_at": user.created_at}


def record(session: Session, actor: Actor, *, merchant_id: int | None, action: str, target: str,
           details: dict | None = None) -> StaffEvent:
    """Writes one audit event in the caller's transaction."""
    event = StaffEvent(merchant_id=merchant_id, actor_ref=actor.ref, actor_name=actor.name[:200], action=action,
                       target=target[:200], details=details or {}, created_at=utcnow())
    session.add(event)
    return event


def list_users(session: Session, *, actor: Actor, merchant_id: int | None = None,
               include_inactive: bool = True) -> list[User]:
    """The merchant's staff, active ones first, by name."""
    check_manager(actor)
    mid = _merchant_of(actor, merchant_id)
    stmt = select(User).where(User.merchant_id == mid)
    if not include_inactive:
        stmt = stmt.where(User.active.is_(True))
    return list(session.scalars(stmt.order_by(User.active.desc(), User.name, User.id)))


def events(session: Session, *, actor: Actor, merchant_id: int | None = None, limit: int = 50) -> list[StaffEvent]:
    """The merchant's staff and settings audit events, newest first."""
    check_manager(actor)
    mid = _merchant_of(actor, merchant_id)
    return list(session.scalars(select(StaffEvent).where(StaffEvent.merchant_id == mid)
                                .order_by(StaffEvent.id.desc()).limit(limit)))


def _check_role(role: str) -> None:
    if role not in MERCHANT_ROLES:
        raise Explained("role", N_("'{role}' is not a role a merchant's staff can have"), allowed=list(MERCHANT_ROLES),
                        role=role)


def check_new_user(*, email: str, name: str, role: str, locale: str, password: str | None) -> None:
    """Refuses bad input before anything is written: email form, name, role, language, password length."""
    if not EMAIL.match(email) or len(email) > 200:
        raise Explained("email", N_("must be an email address such as name@example.com (at most 200 characters)"))
    if not name.strip() or len(name) > 200:
        raise Explained("name", N_("must not be empty (at most 200 characters)"))
    _check_role(role)
    if locale not in LOCALES:
        raise Explained("locale", N_("'{locale}' is not supported"), allowed=list(LOCALES), locale=locale)
    if password is not None and password != "" and len(password) < MIN_PASSWORD:
        raise Explained("password", N_("must have at least {minimum} characters (or leave it empty for a "
                                        "one-time password)"),
                        minimum=MIN_PASSWORD)


def invite(session: Session, *, actor: Actor, email: str, name: str, role: str, locale: str = "zh-CN",
           password: str | None = None, merchant_id: int | None = None) -> tuple[User, str | None]:
    """Creates a staff account; without a password a one-time one is generated and returned (shown once)."""
    check_manager(actor)
    email = email.strip().lower()
    check_new_user(email=email, name=name, role=role, locale=locale, password=password)
    mid = _merchant_of(actor, merchant_id)
    temporary = None if password else "rf-" + secrets.token_urlsafe(12)
    user = service.create_user(session, email=email, name=name.strip(), role=role, merchant_id=mid,
                               password=password or temporary, locale=locale)
    record(session, actor, merchant_id=mid, action="user.invite", target=user.email,
           details={"user_id": user.id, "role": role, "authority_level": AUTHORITY[role]})
    return user, temporary


def _user(session: Session, actor: Actor, user_id: int) -> User:
    """The staff member to change, with the merchant's admins locked (PostgreSQL) in id order: two admins removing
    each other at once are serialised, and the second sees the first one's change (no deadlock, no zero admins)."""
    user = session.get(User, user_id)
    if user is None or user.merchant_id is None or not actor.can_see(user.merchant_id):
        raise NotFound("user", user_id, field="user_id")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(User.id).where(User.merchant_id == user.merchant_id,
                                              or_(User.role == "admin", User.id == user.id))
                        .order_by(User.id).with_for_update())
        session.refresh(user)
    return user


def _other_admins(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.merchant_id == user.merchant_id, User.role == "admin", User.active.is_(True), User.id != user.id)) or 0


def _keep_an_admin(session: Session, user: User, field: str) -> None:
    if user.role == "admin" and user.active and _other_admins(session, user) == 0:
        raise Explained(field, N_("the merchant must keep at least one active administrator; make someone else an "
                           "administrator first"), code="last_admin", status=409)


def change(session: Session, *, actor: Actor, user_id: int, role: str | None = None, name: str | None = None,
           locale: str | None = None) -> User:
    """Changes a staff member's role (authority level), name or language."""
    check_manager(actor)
    if role is not None:
        _check_role(role)
    if name is not None and (not name.strip() or len(name) > 200):
        raise Explained("name", N_("must not be empty (at most 200 characters)"))
    if locale is not None and locale not in LOCALES:
        raise Explained("locale", N_("'{locale}' is not supported"), allowed=list(LOCALES), locale=locale)
    user = _user(session, actor, user_id)
    before = {"role": user.role, "name": user.name, "locale": user.locale}
    if role is not None and role != user.role:
        _keep_an_admin(session, user, "role")
        user.role = role
    if name is not None:
        user.name = name.strip()
    if locale is not None:
        user.locale = locale
    after = {"role": user.role, "name": user.name, "locale": user.locale}
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if "role" in changed:
        _revoke_all(session, user)  # a role change takes effect at once: the old tokens carried the old role
    elif changed:
        service.forget_user(session, user.id)  # the remembered actor carries the name (caches.py "tokens")
    if changed:
        record(session, actor, merchant_id=user.merchant_id, action="user.change", target=user.email,
               details={"user_id": user.id, "changed": changed})
    return user


def deactivate(session: Session, *, actor: Actor, user_id: int) -> User:
    """Deactivates a staff member and revokes all their tokens; the last active admin stays."""
    check_manager(actor)
    user = _user(session, actor, user_id)
    if not user.active:
        return user
    _keep_an_admin(session, user, "user_id")
    user.active = False
    revoked = _revoke_all(session, user)
    record(session, actor, merchant_id=user.merchant_id, action="user.deactivate", target=user.email,
           details={"user_id": user.id, "tokens_revoked": revoked})
    return user


def _revoke_all(session: Session, user: User) -> int:
    hashes = list(session.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == user.id,
                                                                    ApiToken.revoked.is_(False))))
    if hashes:
        session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))
    service.forget_user(session, user.id)  # every process drops them (caches.py "tokens")
    return len(hashes)


def unlock(session: Session, *, actor: Actor, user_id: int) -> tuple[User, int]:
    """Lifts a sign-in lock on a staff member's account and forgets its failed attempts (audited)."""
    check_manager(actor)
    user = _user(session, actor, user_id)
    locked = guard.is_locked(session, user.email, utcnow())
    cleared = guard.reset(session, guard.account_key(user.email))
    record(session, actor, merchant_id=user.merchant_id, action="user.unlock", target=user.email,
           details={"user_id": user.id, "was_locked": locked, "failures_cleared": cleared})
    return user, cleared


def reset_two_factor(session: Session, *, actor: Actor, user_id: int) -> User:
    """Removes a staff member's second factor (a lost phone); they set it up again at their next sign-in."""
    check_manager(actor)
    user = _user(session, actor, user_id)
    had = totp.clear(user)
    _revoke_all(session, user)  # whoever holds their sessions now must sign in again
    record(session, actor, merchant_id=user.merchant_id, action="user.two_factor_reset", target=user.email,
           details={"user_id": user.id, "had_two_factor": had})
    return user


def set_security(session: Session, *, actor: Actor, merchant_id: int, require_two_factor: bool) -> dict:
    """The merchant's sign-in rules: whether admins and finance must use a second factor (audited)."""
    check_manager(actor)
    merchant = session.get(Merchant, merchant_id)
    before = bool((merchant.settings or {}).get(totp.SETTING))
    merchant.settings = {**(merchant.settings or {}), totp.SETTING: require_two_factor}
    if before != require_two_factor:
        record(session, actor, merchant_id=merchant_id, action="security.save", target=merchant.code,
               details={totp.SETTING: [before, require_two_factor]})
        # The staff concerned are asked to enrol at once, not when their cached token lapses.
        for uid in session.scalars(select(User.id).where(User.merchant_id == merchant_id)):
            service.forget_user(session, uid)
    return security_of(merchant)


def security_of(merchant: Merchant) -> dict:
    return {"merchant": merchant.code, "require_two_factor": bool((merchant.settings or {}).get(totp.SETTING)),
            "roles": list(totp.REQUIRED_ROLES)}


def sign_in_state(session: Session, merchant_id: int, rows: list[User]) -> dict:
    """For the staff page: which of `rows` are locked out now, and whether the merchant requires two-factor."""
    now = utcnow()
    merchant = session.get(Merchant, merchant_id)
    return {"locked": {u.id for u in rows if guard.is_locked(session, u.email, now)},
            "require_two_factor": bool((merchant.settings or {}).get(totp.SETTING)) if merchant else False}
