"""Customer contacts as orders bring them and the portal compares them: phones in E.164, emails checked for form.

A phone without a country code is read as a number of the merchant's country (CN when the merchant names none).
The portal sends a sign-in code only when the typed contact is the customer's own: the whole number, not its tail.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from ..errors import Explained
from ..i18n import N_
from .records import CustomerRecord

DEFAULT_REGION = "CN"
# Digits (any script), spaces and the usual separators; letters and extensions are not part of a mobile number.
_PHONE = re.compile(r"[\d\s+\-().]{1,40}")


def region_of(merchant) -> str:
    """The region numbers without a country code belong to: the merchant's country, else CN."""
    country = (getattr(merchant, "country", None) or "").strip().upper()
    return country if country in phonenumbers.SUPPORTED_REGIONS else DEFAULT_REGION


def phone_e164(value: str | None, region: str) -> str | None:
    """The number as E.164 (+8613800001111), or None when it is no valid number."""
    text = (value or "").strip()
    if not _PHONE.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def same_phone(typed: str, stored: str | None, region: str) -> bool:
    """The typed number is the stored one, both read the same way (rows stored before E.164 are read too)."""
    wanted = phone_e164(typed, region)
    return wanted is not None and wanted == phone_e164(stored, region)


def email_normal(value: str) -> str | None:
    """The address with its domain in lower case, or None when it is no email address (no DNS look-up)."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def same_email(typed: str, stored: str | None) -> bool:
    return bool(stored) and typed.strip().casefold() == stored.strip().casefold()


def check_customer(customer: CustomerRecord, region: str) -> CustomerRecord:
    """The customer with the phone in E.164 and the email normalised; an impossible one is refused by field."""
    phone = (customer.phone or "").strip()
    if phone:
        e164 = phone_e164(phone, region)
        if e164 is None:
            raise Explained("customer.phone",
                            N_("'{phone}' is not a valid phone number (a number without a country code is read as a "
                               "number of {region}; give it as +<country code> <number>)"),
                            code="invalid_phone", phone=phone, region=region)
        customer.phone = e164
    elif customer.phone is not None:
        customer.phone = ""  # sent empty: clears the stored number (None keeps it)
    email = (customer.email or "").strip()
    if email:
        normal = email_normal(email)
        if normal is None:
            raise Explained("customer.email", N_("'{email}' is not a valid email address"), code="invalid_email",
                            email=email)
        customer.email = normal
    elif customer.email is not None:
        customer.email = ""
    return customer
