"""The ASGI application: routers, error handlers, shared state."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import text

from . import __version__
from .analytics.api import pages as analytics_pages
from .analytics.api import router as analytics_router
from .analytics.page import pages as analytics_console
from .api_docs import install as install_api_docs
from .audit.api import router as audit_router
from .auth.api import router as auth_router
from .auth.service import actor_for_token
from .auth.users_api import router as users_router
from .bootstrap import bootstrap
from .cases.api import router as cases_router
from .cases.conversation_api import router as conversation_router
from .config import Settings, get_settings
from .db import Database, utcnow
from .errors import AppError, Refused
from .guard import InputGuard
from .i18n import negotiate
from .jobs.api import router as jobs_router
from .logistics.api import router as logistics_router
from .marketplace.api import router as marketplace_router
from .onboarding.api import router as merchants_router
from .merchants.clock import language_of
from .notify.api import router as notify_router
from .notify.providers_api import router as providers_router
from .openapi_doc import install as install_openapi
from .orders_api import router as orders_router
from .pages import install as install_pages
from .pages.frame import error_page, is_page
from .assessment.dry_run import router as dry_run_router
from .policy.api import router as policy_router
from .refunds.api import router as refunds_router
from .sla.api import router as sla_router
from .sla.calendar_health import gaps
from .storage import make_store
from .system_api import router as system_router
from .warehouse.api import router as warehouse_router
from .web import JSON, error_response, validation_response


def _refusal(request: Request, exc: Refused):
    """How the input guard answers a refusal: the styled page for a page, else the API's JSON error."""
    return error_page(request, exc) if is_page(request) else error_response(request, exc)


def served_app() -> FastAPI:
    """The app `returnflow serve` runs (uvicorn's factory, in each worker process): create_app's, then what the
    process keeps for good (modules, the wiring, the app and its routes) leaves the garbage collector's view, so
    the collections that requests set off walk only what requests make."""
    made = create_app()
    gc.freeze()
    return made


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Builds the app for `settings` (default: from the environment)."""
    bootstrap()  # every producer, outbox handler, timer kind and report (returnflow/bootstrap.py)
    settings = settings or get_settings()
    database = db or Database(settings.resolved_database_url())

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if db is None:
            database.dispose()

    # /docs is the vendored Swagger UI (api_docs.py); FastAPI's own /docs and /redoc would load it from a CDN.
    app = FastAPI(title="returnflow", version=__version__, lifespan=lifespan, default_response_class=JSON,
                  docs_url=None, redoc_url=None,
                  description="After-sales service desk (售后 / 退换货 / 退款). Errors come in the language of "
                              "Accept-Language (one of the desk's: zh-CN, zh-Hant, en; else the merchant's). "
                              "Mutating calls accept an Idempotency-Key header.")
    app.state.settings = settings
    app.state.db = database
    app.state.language_of = language_of  # a merchant's default language for web.locale_of (web can't import it)
    app.state.actor_for_token = actor_for_token  # who a bearer token is, for web.current_actor (likewise)
    app.state.store = make_store(settings)

    app.add_middleware(InputGuard, refuse=_refusal)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError):
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return validation_response(request, exc)

    app.state.clock = utcnow  # what "now" is for the checks below (a test sets a fixed instant)

    @app.get("/healthz", tags=["system"])
    async def healthz(request: Request) -> dict:
        """Liveness and database reachability; `warnings` names what will go wrong if left alone (a working
        calendar missing this year's or, from November, next year's public holidays)."""
        locale = negotiate(request.headers.get("accept-language"))  # no header: English, for monitors
        with database.read() as session:
            session.execute(text("SELECT 1"))
            missing = gaps(session, now=app.state.clock())
        return {"status": "ok", "database": database.dialect, "version": __version__,
                "warnings": [{"merchant": g.merchant, "calendar": g.calendar, "year": g.year,
                              "message": g.message(locale)} for g in missing]}

    for router in (auth_router, orders_router, cases_router, conversation_router, system_router, policy_router,
                   dry_run_router, sla_router, jobs_router, notify_router, providers_router, refunds_router, audit_router,
                   logistics_router, warehouse_router, analytics_router, users_router, merchants_router,
                   marketplace_router):
        app.include_router(router, prefix="/api/v1")
    app.include_router(analytics_pages)
    app.include_router(analytics_console)
    install_pages(app)
    install_api_docs(app)
    install_openapi(app)
    return app
