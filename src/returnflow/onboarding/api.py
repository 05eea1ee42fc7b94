"""Setting up a merchant over the API (platform users): its country, time zone and policy preset."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..caches import changed
from ..errors import Forbidden, NotFound
from ..i18n import N_, SUPPORTED
from ..policy.service import default_preset
from ..web import JSON, CurrentActor, mutate
from ..merchants.models import Merchant
from ..merchants.clock import zone_of
from .setup import SetupError, create

router = APIRouter(tags=["merchants"])


class MerchantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=200, description="Merchant code: 2-40 lower-case letters, digits, - or _")
    name: str | None = Field(default=None, max_length=200, description="Shop name (default: the code)")
    country: str | None = Field(default=None, max_length=100,
                                description="Where the shop sells from, ISO 3166 alpha-2 (CN, GB, DE, US ...); "
                                            "required: it decides which law preset applies")
    timezone: str | None = Field(default=None, max_length=100,
                                 description="IANA time zone; default: the country's (required where the country "
                                             "spans several zones, e.g. US)")
    preset: str | None = Field(default=None, max_length=100,
                               description="Policy preset; default from the country: CN cn-law, EU/EEA eu-crd, "
                                           "GB uk-ccr, elsewhere merchant-rules (no law cited)")
    currency: str = Field(default="CNY", max_length=10, description="Default currency (ISO 4217)")
    locale: str | None = Field(default=None, max_length=20, description="Default language: a language of the desk "
                                                                     "(GET /api/v1/languages); default zh-CN in "
                                                                     "China, en elsewhere")


@router.post("/merchants", status_code=201)
async def create_merchant(body: MerchantIn, actor: CurrentActor, request: Request):
    """Sets up a merchant (platform users only). Every value is checked first; a refusal names the field in the
    caller's language and writes nothing. The answer says which preset and time zone were chosen, and whether
    they came from the country."""
    if actor.role != "platform":
        raise Forbidden("forbidden_role", role=actor.role, what="set up merchants", allowed=["platform"])

    def work(session):
        merchant, choice = create(session, code=body.code, name=body.name, currency=body.currency,
                                  locale=body.locale, country=body.country, timezone=body.timezone,
                                  preset=body.preset, by=actor.ref)
        return 201, {"code": merchant.code, "name": merchant.name, "country": choice.country,
                     "timezone": choice.timezone, "timezone_from_country": choice.timezone_derived,
                     "preset": choice.preset, "preset_from_country": choice.preset_derived,
                     "calendar": choice.calendar, "currency": merchant.default_currency,
                     "locale": merchant.default_locale}

    return await mutate(request, actor, work)


@router.get("/merchants/{code}")
async def get_merchant(code: str, actor: CurrentActor, request: Request):
    """A merchant's country, time zone and policy preset (platform users, or the merchant's own staff)."""

    with request.app.state.db.read() as session:
        merchant = session.scalar(select(Merchant).where(Merchant.code == code))
        if merchant is None or actor.kind != "staff" or actor.merchant_id not in (None, merchant.id):
            raise NotFound("merchant", code, field="code")
        return JSON({"code": merchant.code, "name": merchant.name, "country": merchant.country,
                     "timezone": zone_of(session, merchant.id).key, "preset": default_preset(merchant),
                     "currency": merchant.default_currency, "locale": merchant.default_locale})


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: str = Field(max_length=20, description="A language of the desk (GET /api/v1/languages)")


@router.put("/merchants/{code}/language")
async def set_language(code: str, body: LanguageIn, actor: CurrentActor, request: Request):
    """Changes the merchant's default language: what its portal speaks to a browser asking for none of the desk's
    languages, before English (the merchant's admins, or platform users). An unsupported language is a 422
    naming `locale`; nothing changes."""

    if actor.role not in ("admin", "platform"):
        raise Forbidden("forbidden_role", role=actor.role, what="change the merchant's language",
                        allowed=["admin", "platform"])

    def work(session):
        merchant = session.scalar(select(Merchant).where(Merchant.code == code))
        if merchant is None or actor.kind != "staff" or actor.merchant_id not in (None, merchant.id):
            raise NotFound("merchant", code, field="code")
        if body.locale not in SUPPORTED:
            raise SetupError("locale", N_("'{locale}' is not a language of this desk"), allowed=list(SUPPORTED),
                             locale=body.locale)
        merchant.default_locale = body.locale
        changed(session, "merchant_language", merchant.id)
        return 200, {"code": merchant.code, "locale": merchant.default_locale}

    return await mutate(request, actor, work)
