"""The staff member's own two-factor set-up: start (secret shown once as a QR code and otpauth URI), confirm."""

from __future__ import annotations

from fastapi import APIRouter, Request
from markupsafe import Markup

from ..auth import service, totp
from ..auth.models import User
from ..db import utcnow
from ..errors import AppError
from .frame import FLASH, N_, check_csrf, locale_of, redirect, render
from .staff_pages import _ctx, staff_actor

router = APIRouter(include_in_schema=False)
FLASH.update({"two_factor_on": N_("Two-factor sign-in is on. From now on you sign in with your password and a code.")})


def _page(request: Request, actor, *, status: int = 200, **more):
    with request.app.state.db.read() as session:
        user = session.get(User, actor.user_id)
        enabled = user.totp_enabled
    return render(request, "staff/two_factor.html", _ctx(actor, enabled=enabled, **more), status=status)


@router.get("/staff/two-factor")
async def two_factor(request: Request):
    return _page(request, staff_actor(request))


@router.post("/staff/two-factor")
async def two_factor_post(request: Request):
    """`begin` issues a new secret (shown on this answer only); `confirm` checks a code and turns it on."""
    actor = staff_actor(request)
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, form)
    try:
        with request.app.state.db.transaction() as session:
            user = session.get(User, actor.user_id)
            if form.get("step") == "confirm":
                totp.confirm(user, str(form.get("code") or "")[:20], utcnow())
                service.forget_user(session, user.id)
            else:
                issued = totp.begin(user)
                # The SVG is drawn by reportlab from rectangles only: nothing of the user's is in it as markup.
                return _page(request, actor, issued={**issued, "qr_svg": Markup(issued["qr_svg"])})
    except AppError as exc:
        return _page(request, actor, status=exc.status, error=exc.render(locale_of(request)),
                     retry=form.get("step") == "confirm" and exc.status == 422)
    return redirect(request, "/staff/", flash="two_factor_on")
