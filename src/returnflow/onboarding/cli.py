"""`returnflow merchants ...`: set up a merchant (country, time zone, policy preset), list them."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy import select

from ..config import get_settings
from ..db import Database
from ..i18n import N_, gettext
from ..i18n import lang_of
from .setup import SetupError, country_name, create as create_merchant
from ..policy.service import default_preset
from ..merchants.models import Merchant
from ..merchants.clock import zone_of

merchants_app = typer.Typer(help="Merchants: set one up with its country, time zone and policy preset.",
                            no_args_is_help=True)


def _console(ctx: typer.Context) -> Console:
    """The main command's console (one width and colour setting for every subcommand; cli.py hands it down)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Console) else Console()


def _db() -> Database:
    return Database(get_settings().resolved_database_url())


# What the command tells the operator: English msgids of the catalogs, read in the operator's language (--lang).
SAID = {
    "created": N_("merchant {code} created: country {country}, time zone {zone}, policy preset {preset}"),
    "preset_chosen": N_("no --preset given: {preset} was chosen from the country ({why}); change it with --preset "
                        "or later on the policy settings page"),
    "zone_chosen": N_("no --timezone given: {zone} was taken from the country"),
    "refused": N_("nothing was created"),
}
WHY = {"cn-law": N_("PRC consumer law applies in mainland China"),
       "eu-crd": N_("the EU Consumer Rights Directive applies in the EU/EEA"),
       "uk-ccr": N_("UK consumer law applies in the United Kingdom"),
       "merchant-rules": N_("no law preset covers this country: the shop's own rules, citing no law")}


def _say(key: str, lang: str, **params: object) -> str:
    return gettext(lang, SAID[key]).format(**params)


@merchants_app.command("create")
def create(ctx: typer.Context,
           code: str = typer.Argument(..., help="Merchant code (2-40 lower-case letters, digits, - or _)"),
           name: str = typer.Option(None, help="Shop name (default: the code)"),
           country: str = typer.Option(None, help="Where the shop sells from (required), ISO 3166 code: CN, GB, "
                                                  "DE, US ..."),
           timezone: str = typer.Option(None, help="IANA time zone, e.g. Europe/London (default: the country's)"),
           preset: str = typer.Option(None, help="Policy preset: cn-law, eu-crd, uk-ccr, merchant-rules, "
                                                 "taobao-legacy, taobao-current, jd-pop (default: from the country)"),
           currency: str = typer.Option("CNY", help="Default currency, e.g. CNY, EUR, GBP, USD"),
           locale: str = typer.Option(None, help="Default language: en, zh-CN, zh-Hant ... a language of the catalogs (default: zh-CN in China)"),
           lang: str = typer.Option(None, "--lang", help="Language of these messages (default: from LANG)")) -> None:
    """Set up a merchant. Every value is checked before anything is written; a refusal names the field."""
    said = lang_of(lang)
    console = _console(ctx)
    try:
        with _db().transaction() as session:
            merchant, choice = create_merchant(session, code=code, name=name, currency=currency, locale=locale,
                                               country=country, timezone=timezone, preset=preset, by="cli")
            code = merchant.code
    except SetupError as exc:
        console.print(f"[red]{exc.text(said)}[/red]", highlight=False)
        console.print(_say("refused", said), highlight=False)
        raise typer.Exit(2) from None
    where = country_name(choice.country, said)
    console.print(_say("created", said, code=code, country=f"{where} ({choice.country})", zone=choice.timezone,
                       preset=choice.preset),
                  highlight=False)
    if choice.timezone_derived:
        console.print(_say("zone_chosen", said, zone=choice.timezone), highlight=False)
    if choice.preset_derived:
        why = gettext(said, WHY[choice.preset]) if choice.preset in WHY else choice.preset
        console.print(_say("preset_chosen", said, preset=choice.preset, why=why), highlight=False)


@merchants_app.command("list")
def list_merchants(ctx: typer.Context) -> None:
    """Every merchant with its country, time zone and policy preset."""
    console = _console(ctx)
    with _db().read() as session:
        for m in session.scalars(select(Merchant).order_by(Merchant.code)):
            console.print(f"{m.code}\t{m.country or '—'}\t{zone_of(session, m.id).key}\t{default_preset(m)}\t"
                          f"{m.default_currency}", highlight=False)
