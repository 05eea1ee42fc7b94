"""Server-rendered pages: the customer portal (/p/{merchant}) and the staff console (/staff)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from urllib.parse import quote

from ..errors import AppError
from ..i18n import SUPPORTED, match
from ..web import error_response, page_validation_error, validation_response
from .frame import LANG_COOKIE, STATIC, error_page, is_page, redirect, safe_next, set_cookie


def install(app: FastAPI) -> None:
    """Adds the pages, their static files and their error handling to the app."""
    from .portal_session import SignInNeeded
    from .portal_pages import router as portal_router
    from .portal_actions import router as portal_actions_router
    from .portal_open import router as portal_open_router
    from .policy_words import router as policy_words_router
    from .finance_pages import router as finance_router
    from .staff_pages import StaffSignInNeeded, TwoFactorFirst, router as staff_router
    from .case_page import router as case_page_router
    from .queue_pages import router as queue_router
    from .two_factor import router as two_factor_router
    from .settings_security import router as settings_security_router
    from .warehouse_pages import router as warehouse_router
    from . import settings_addresses, settings_notify, settings_policy, settings_replies, settings_sla
    from .settings_pages import router as settings_router
    from .portal_reach import router as reach_router
    from .settings_payments import router as settings_payments_router
    from .settings_tracking import router as settings_tracking_router
    from .marketplace_pages import router as marketplace_router
    from .portal_api import router as portal_api_router

    from .oops import ErrorPages

    app.add_middleware(ErrorPages)  # outermost of ours: ids every request, answers what nothing else caught
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    # The portal: its pages, what a shopper does on a case, opening a request, the public policy page (in this order).
    for portal_part in (portal_router, portal_actions_router, portal_open_router, policy_words_router):
        app.include_router(portal_part)
    app.include_router(staff_router)
    app.include_router(case_page_router)  # the staff case page and its actions
    app.include_router(queue_router)
    app.include_router(warehouse_router)
    app.include_router(finance_router)
    app.include_router(settings_router)
    for more in (settings_sla, settings_notify, settings_policy, settings_addresses, settings_replies):
        app.include_router(more.router)
    app.include_router(two_factor_router)
    app.include_router(settings_security_router)
    app.include_router(reach_router)
    app.include_router(settings_payments_router)
    app.include_router(settings_tracking_router)
    app.include_router(marketplace_router)
    app.include_router(portal_api_router, prefix="/api/v1")

    @app.get("/", include_in_schema=False)
    async def home():
        return RedirectResponse("/staff/", status_code=303)

    @app.get("/lang/{locale}", include_in_schema=False)
    async def choose_language(locale: str, request: Request, next: str = "/"):
        """Switches the pages' language (remembered in a cookie) and goes back."""
        response = RedirectResponse(safe_next(next), status_code=303)
        chosen = match(locale)  # a language of the desk, or its family (/lang/zh-TW is zh-Hant)
        if chosen in SUPPORTED:
            set_cookie(response, request, LANG_COOKIE, chosen, max_age=365 * 24 * 3600)
        return response

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError):
        # Pages answer with a page; the API keeps its JSON errors.
        if is_page(request):
            return error_page(request, exc)
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        # A page's malformed path or query value (a word where an id goes) gets the styled page too.
        if is_page(request):
            return error_page(request, page_validation_error(exc))
        return validation_response(request, exc)

    @app.exception_handler(SignInNeeded)
    async def _portal_sign_in(request: Request, exc: SignInNeeded):
        return redirect(request, f"/p/{exc.merchant_code}/")

    @app.exception_handler(StaffSignInNeeded)
    async def _staff_sign_in(request: Request, exc: StaffSignInNeeded):
        return redirect(request, "/staff/login?next=" + quote(exc.next_url))

    @app.exception_handler(TwoFactorFirst)
    async def _two_factor_first(request: Request, exc: TwoFactorFirst):
        return redirect(request, "/staff/two-factor")
