"""TOTP second factor for staff (RFC 6238 via pyotp): enrol, confirm, check a code once, reset, and whether the
merchant requires it of a role."""

from __future__ import annotations

import hmac
from datetime import datetime
from itertools import groupby

import pyotp
from sqlalchemy.orm import Session

from ..errors import Explained
from ..i18n import N_
from ..merchants.models import Merchant
from .models import User

ISSUER = "returnflow"
# Roles a merchant may require the second factor of (they move money or change settings).
REQUIRED_ROLES = ("admin", "finance")
SETTING = "require_two_factor"


def required(user_role: str, merchant_settings: dict | None) -> bool:
    """Whether the merchant's setting requires a second factor of this role."""
    return user_role in REQUIRED_ROLES and bool((merchant_settings or {}).get(SETTING))


def must_enroll(session: Session, user: User) -> bool:
    if user.totp_enabled or user.merchant_id is None:
        return False
    merchant = session.get(Merchant, user.merchant_id)
    return required(user.role, merchant.settings if merchant else None)


def begin(user: User) -> dict:
    """A new secret for `user` (replacing an unconfirmed one), returned this once as an otpauth URI and QR code."""
    if user.totp_enabled:
        raise Explained("two_factor", N_("is already set up; an administrator can reset it"), code="two_factor_enabled",
                        status=409)
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return {"otpauth_uri": uri, "secret": user.totp_secret, "qr_svg": qr_svg(uri)}


def check(user: User, code: str, now: datetime) -> bool:
    """True when `code` is the user's current code (±30 s); each code works once (its time step is remembered)."""
    code = (code or "").strip().replace(" ", "")
    if not user.totp_secret or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret)
    here = int(now.timestamp()) // totp.interval
    for step in (here - 1, here, here + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # a replayed code
            user.totp_last_step = step
            return True
    return False


def confirm(user: User, code: str, now: datetime) -> None:
    """Turns the second factor on once the user proves their app holds the secret."""
    if user.totp_enabled:
        raise Explained("two_factor", N_("is already set up"), code="two_factor_enabled", status=409)
    if not user.totp_secret:
        raise Explained("code", N_("start the set-up first: no secret was issued yet"), code="two_factor_not_started",
                        status=409)
    if not check(user, code, now):
        raise Explained("code", N_("is not the current 6-digit code of your authenticator app"),
                        code="two_factor_code_wrong")
    user.totp_enabled = True


def clear(user: User) -> bool:
    """Removes the second factor (an admin's reset); true if there was one."""
    had = user.totp_enabled or user.totp_secret is not None
    user.totp_secret, user.totp_enabled, user.totp_last_step = None, False, None
    return had


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (reportlab's encoder, already used for return labels): a rect per run of dark
    modules, in module units inside the 4-module quiet zone, drawn 200 px square. Written out here: reportlab's SVG
    renderer took ~70 ms and ~90 KB for the same picture (it encoded the code twice and styled every rect)."""
    from reportlab.graphics.barcode.qrencoder import QRCode, QRErrorCorrectLevel

    code = QRCode(None, QRErrorCorrectLevel.M)
    code.addData(uri)
    code.make()
    border = 4
    side = code.getModuleCount() + 2 * border
    runs = []
    for y, row in enumerate(code.modules):
        x = border
        for dark, run in groupby(row, key=bool):
            width = len(list(run))
            if dark:
                runs.append(f'<rect x="{x}" y="{y + border}" width="{width}" height="1"/>')
            x += width
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 {side} {side}" '
            f'shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/>'
            f'<g fill="#000">{"".join(runs)}</g></svg>')
