"""Carriers the desk knows, and what their tracking numbers look like (checked where the format is known)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Explained
from ..i18n import ENGLISH, N_, SUPPORTED, match, pgettext, pick


def s10_valid(number: str) -> bool:
    """UPU S10 (e.g. BE058714266BR): two letters, eight digits, a mod-11 check digit, a country code."""
    m = re.fullmatch(r"[A-Z]{2}(\d{8})(\d)[A-Z]{2}", number)
    if not m:
        return False
    total = sum(int(d) * w for d, w in zip(m.group(1), (8, 6, 4, 2, 3, 5, 9, 7)))
    check = 11 - total % 11
    check = 0 if check == 10 else 5 if check == 11 else check
    return check == int(m.group(2))


def _s10_from(country: str) -> Callable[[str], bool]:
    return lambda n: s10_valid(n) and n.endswith(country)


@dataclass(frozen=True)
class Carrier:
    code: str
    name_en: str
    name_zh: str
    pattern: str  # the whole tracking number, upper case
    example: str
    check: Callable[[str], bool] | None = None
    aftership_slug: str | None = None

    def name(self, locale: str) -> str:
        """The carrier's name in `locale`: the catalogs' (context: its code), else along the fallback chain."""
        found = pgettext(locale, self.code, self.name_en)
        if found != self.name_en or match(locale) == ENGLISH:
            return found
        return pick({"en": self.name_en, "zh-CN": self.name_zh}, locale)

    def names(self) -> dict[str, str]:
        """The carrier's name in every language of the desk (a refusal picks its reader's)."""
        return {tag: self.name(tag) for tag in SUPPORTED}

    def valid(self, number: str) -> bool:
        return re.fullmatch(self.pattern, number) is not None and (self.check is None or self.check(number))


CARRIERS: dict[str, Carrier] = {c.code: c for c in (
    Carrier("SF", "SF Express", "顺丰速运", r"SF\d{12,13}", "SF1234567890123", aftership_slug="sf-express"),
    Carrier("JD", "JD Logistics", "京东物流", r"JD[A-Z0-9]{11,18}", "JDVA12345678901", aftership_slug="jd"),
    Carrier("YTO", "YTO Express", "圆通速递", r"YT\d{13,16}", "YT1234567890123", aftership_slug="yto"),
    Carrier("ZTO", "ZTO Express", "中通快递", r"\d{12,15}", "731234567890", aftership_slug="zto-express"),
    Carrier("STO", "STO Express", "申通快递", r"\d{12,15}", "773123456789012", aftership_slug="sto"),
    Carrier("YUNDA", "Yunda Express", "韵达速递", r"\d{13,15}", "4312345678901", aftership_slug="yunda"),
    Carrier("EMS", "China Post EMS", "中国邮政 EMS", r"[A-Z]{2}\d{9}CN", "EA123456785CN", _s10_from("CN"),
            aftership_slug="china-ems"),
    Carrier("CORREIOS", "Correios (Brazil)", "巴西邮政", r"[A-Z]{2}\d{9}BR", "BE058714266BR", _s10_from("BR"),
            aftership_slug="brazil-correios"),
    Carrier("HKPOST", "Hong Kong Post", "香港邮政", r"[A-Z]{2}\d{9}HK", "LK059460815HK", _s10_from("HK"),
            aftership_slug="hong-kong-post"),
    Carrier("USPS", "USPS", "美国邮政", r"\d{20,22}|[A-Z]{2}\d{9}US", "9400109699939938223564",
            aftership_slug="usps"),
    Carrier("DPDUK", "DPD UK", "DPD 英国", r"\d{14}[A-Z]?", "15502370264989N", aftership_slug="dpd-uk"),
    Carrier("UPS", "UPS", "UPS", r"1Z[0-9A-Z]{16}", "1Z999AA10123456784", aftership_slug="ups"),
    Carrier("OTHER", "Other carrier", "其他快递", r"[A-Z0-9-]{6,40}", "ABC123456"),
)}
BY_SLUG = {c.aftership_slug: c.code for c in CARRIERS.values() if c.aftership_slug}


def normalise_number(number: str) -> str:
    """Tracking numbers are compared upper case without spaces or dashes customers type."""
    return re.sub(r"[\s]", "", number or "").upper()


def check_tracking(carrier: str, number: str, *, field_prefix: str = "") -> tuple[str, str]:
    """(carrier code, tracking number) when the number fits the carrier's format; a clear error otherwise."""
    code = (carrier or "").strip().upper()
    found = CARRIERS.get(code)
    if found is None:
        raise Explained(f"{field_prefix}carrier", N_("unknown carrier '{carrier}'"), carrier=carrier,
                        code="unknown_carrier", allowed=sorted(CARRIERS))
    value = normalise_number(number)
    if not value:
        raise Explained(f"{field_prefix}tracking_number", N_("is required"), code="validation")
    if not found.valid(value):
        text = N_("'{value}' is not a {carrier} tracking number (e.g. {example}; the check digit must match)") \
            if found.check else N_("'{value}' is not a {carrier} tracking number (e.g. {example})")
        raise Explained(f"{field_prefix}tracking_number", text, value=value, carrier=found.names(),
                        example=found.example, code="malformed_tracking_number", allowed=found.example)
    return code, value


# Digits-only numbers fit several Chinese carriers' formats; their leading digits say which is likelier.
_DIGIT_HINTS = (("ZTO", ("73", "75", "76", "78", "79")), ("STO", ("77", "88", "66", "55", "268")),
                ("YUNDA", ("43", "31", "46", "10", "12", "19")))


def detect_local(number: str) -> list[str]:
    """The carriers whose numbers look like `number`, likeliest first (local rules: prefixes such as SF, JD, YT,
    1Z, S10 country codes, then the digit hints); ["OTHER"] when none fits."""
    value = normalise_number(number).replace("-", "")
    found = [c.code for c in CARRIERS.values() if c.code != "OTHER" and c.valid(value)]
    if value.isdigit():
        hinted = [code for code, prefixes in _DIGIT_HINTS if code in found and value.startswith(prefixes)]
        found = hinted + [code for code in found if code not in hinted]
    return found or ["OTHER"]
