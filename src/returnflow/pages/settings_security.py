"""Sign-in safety on the staff settings page: unlock an account, reset a second factor, require two-factor."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..auth import users
from ..errors import AppError
from .frame import FLASH, N_, locale_of, redirect
from .settings_pages import _users_page, admin_actor, explain, posted

router = APIRouter(include_in_schema=False)
FLASH.update({"user_unlocked": N_("The account can sign in again."),
              "two_factor_reset": N_("Two-factor sign-in was reset; they set it up again at their next sign-in."),
              "security_saved": N_("The sign-in rules were saved.")})


async def _row_action(request: Request, user_id: int, act, flash: str):
    actor = admin_actor(request)
    await posted(request)
    try:
        with request.app.state.db.transaction() as session:
            act(session, actor=actor, user_id=user_id)
    except AppError as exc:
        return _users_page(request, actor, status=exc.status, row_errors={user_id: explain(exc, locale_of(request))})
    return redirect(request, "/staff/settings/users", flash=flash)


@router.post("/staff/settings/users/{user_id}/unlock")
async def unlock_user(user_id: int, request: Request):
    return await _row_action(request, user_id, users.unlock, "user_unlocked")


@router.post("/staff/settings/users/{user_id}/two-factor-reset")
async def reset_two_factor(user_id: int, request: Request):
    return await _row_action(request, user_id, users.reset_two_factor, "two_factor_reset")


@router.post("/staff/settings/security")
async def security(request: Request):
    actor = admin_actor(request)
    form = await posted(request)
    with request.app.state.db.transaction() as session:
        users.set_security(session, actor=actor, merchant_id=actor.merchant_id,
                           require_two_factor=form.get("require_two_factor") == "on")
    return redirect(request, "/staff/settings/users", flash="security_saved")
