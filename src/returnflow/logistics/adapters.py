"""Tracking events from carriers, in their own shapes, normalised to one small status set.

Three webhook formats are read: our documented generic JSON, AfterShip-style checkpoints, and Correios SRO
objects (whose event codes are looked up in the Correios code table shipped in data/). No I/O beyond that table.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import Explained
from ..i18n import N_
from .carriers import BY_SLUG, CARRIERS, normalise_number

STATUSES = ("in_transit", "out_for_delivery", "delivered", "failed_attempt", "returned_to_sender", "lost", "damaged")
UNKNOWN = "unknown"  # kept, shown, but moves nothing
# The statuses' labels (msgids of the catalogs; "Signed for", since "Delivered" is already a date's label).
STATUS_LABELS = {
    "in_transit": N_("In transit"), "out_for_delivery": N_("Out for delivery"), "delivered": N_("Signed for"),
    "failed_attempt": N_("Delivery attempt failed"), "returned_to_sender": N_("Returned to sender"),
    "lost": N_("Lost"), "damaged": N_("Damaged"), UNKNOWN: N_("Unknown"),
}
FORMATS = ("generic", "aftership", "correios")


@dataclass(frozen=True)
class TrackingUpdate:
    """One carrier event, normalised."""

    carrier: str
    tracking_number: str
    status: str
    occurred_at: datetime
    raw_code: str
    description: str
    location: str
    source: str

    @property
    def key(self) -> str:
        """The same event reported twice has the same key (duplicates are recognised, not stored twice)."""
        text = "|".join((self.carrier, self.tracking_number, self.occurred_at.isoformat(), self.raw_code,
                         self.description.strip()))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Parsed:
    updates: list[TrackingUpdate]
    not_found: list[dict]  # numbers the carrier says it does not know


def _bad(field: str, text: str, allowed=None, **params) -> Explained:
    return Explained(field, text, code="bad_tracking_event", allowed=allowed, **params)


def _time(value, field: str, default_tz=timezone.utc) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, N_("must be a date-time such as 2026-11-24T10:00:00+08:00"))
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(field, N_("'{value}' is not a date-time such as 2026-11-24T10:00:00+08:00"), value=value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed.astimezone(timezone.utc)


def _carrier(value, field: str) -> str:
    code = str(value or "").strip().upper()
    if code not in CARRIERS:
        raise _bad(field, N_("unknown carrier '{carrier}'"), carrier=value, allowed=sorted(CARRIERS))
    return code


def _obj(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise _bad(field, N_("must be a JSON object"))
    return value


def _list(value, field: str) -> list:
    if not isinstance(value, list):
        raise _bad(field, N_("must be a list"))
    return value


def _str(value) -> str:
    return value.strip() if isinstance(value, str) else ""


# ---- generic ---------------------------------------------------------------------------------------------------

def parse_generic(body) -> Parsed:
    """{"carrier", "tracking_number", "events": [{"status", "occurred_at", "description"?, "location"?, "code"?}]}."""
    body = _obj(body, "body")
    carrier = _carrier(body.get("carrier"), "carrier")
    number = normalise_number(_str(body.get("tracking_number")))
    if not number:
        raise _bad("tracking_number", N_("is required"))
    updates = []
    for i, item in enumerate(_list(body.get("events"), "events")):
        item = _obj(item, f"events[{i}]")
        status = item.get("status")
        if status not in STATUSES:
            raise _bad(f"events[{i}].status", N_("'{value}' is not a tracking status"), value=status,
                       allowed=list(STATUSES))
        at = _time(item.get("occurred_at"), f"events[{i}].occurred_at")
        updates.append(TrackingUpdate(carrier, number, status, at,
                                      _str(item.get("code")) or status, _str(item.get("description")),
                                      _str(item.get("location")), "generic"))
    return Parsed(updates, [])


# ---- AfterShip-style checkpoints ------------------------------------------------------------------------------

_TAGS = {"InfoReceived": "in_transit", "InTransit": "in_transit", "AvailableForPickup": "in_transit",
         "OutForDelivery": "out_for_delivery", "AttemptFail": "failed_attempt", "Delivered": "delivered"}
# Checkpoints without a tag (older feeds, the 2014 samples) are read from their message; order matters.
_MESSAGE_RULES = (
    (re.compile(r"return(ed|ing)? to (the )?sender|being returned", re.I), "returned_to_sender"),
    (re.compile(r"\bdamaged\b", re.I), "damaged"),
    (re.compile(r"\blost\b|cannot be located", re.I), "lost"),
    (re.compile(r"attempt(ed)? (delivery|failed)|unable to deliver|delivery (was )?unsuccessful|"
                r"could not be delivered|not delivered|no one (was )?(home|available)", re.I), "failed_attempt"),
    (re.compile(r"will now be delivered on|will be delivered on|rescheduled", re.I), "in_transit"),
    (re.compile(r"^\s*delivered\b|(has been|was|been) delivered|\bsigned for\b", re.I), "delivered"),
    (re.compile(r"out for delivery|on the vehicle for delivery|with (the )?courier for delivery|"
                r"will be with you today", re.I), "out_for_delivery"),
)


def status_from_message(message: str) -> str:
    """The status a free-text checkpoint message describes (in transit unless a rule says otherwise)."""
    for pattern, status in _MESSAGE_RULES:
        if pattern.search(message):
            return status
    return "in_transit"


def parse_aftership(body) -> Parsed:
    """An AfterShip-style webhook: {"msg": {"slug", "tracking_number", "checkpoints": [{"checkpoint_time",
    "message", "location", "tag"?, "subtag"?}]}}; a tag, where present, wins over the message."""
    body = _obj(body, "body")
    msg = _obj(body.get("msg", body), "msg")
    slug = _str(msg.get("slug")).lower()
    carrier = BY_SLUG.get(slug)
    if carrier is None:
        raise _bad("msg.slug", N_("unknown carrier slug '{slug}'"), slug=slug, allowed=sorted(BY_SLUG))
    number = normalise_number(_str(msg.get("tracking_number")))
    if not number:
        raise _bad("msg.tracking_number", N_("is required"))
    updates = []
    for i, cp in enumerate(_list(msg.get("checkpoints"), "msg.checkpoints")):
        cp = _obj(cp, f"msg.checkpoints[{i}]")
        message = _str(cp.get("message"))
        tag = _str(cp.get("tag"))
        status = _TAGS.get(tag) or (status_from_message(message) if tag in ("", "Pending", "Exception") else UNKNOWN)
        if tag == "Exception" and status == "in_transit":
            status = UNKNOWN
        location = cp.get("location")
        if isinstance(location, dict):
            location = ", ".join(str(v) for v in location.values() if v)
        updates.append(TrackingUpdate(carrier, number, status,
                                      _time(cp.get("checkpoint_time"), f"msg.checkpoints[{i}].checkpoint_time"),
                                      tag or status, message, _str(location), "aftership"))
    return Parsed(updates, [])


# ---- Correios SRO ---------------------------------------------------------------------------------------------

_CORREIOS_CATEGORY = {
    "delivered": "delivered", "delivery_unsuccessful": "failed_attempt", "delivery_rejected": "failed_attempt",
    "waiting_retrieval": "failed_attempt", "returned": "returned_to_sender", "lost": "lost", "damaged": "damaged",
    "shipped": "in_transit", "shipped_delayed": "in_transit", "shipped_wrong_address": "in_transit",
    "customs_control": "in_transit", "ignore_last_entry": UNKNOWN, "unknown": UNKNOWN,
}
_BRT = ZoneInfo("America/Sao_Paulo")


@lru_cache(maxsize=1)
def correios_codes() -> dict[tuple[str, int], str]:
    """(event type, status) → Correios category, from the carrier's own code table."""
    path = Path(__file__).with_name("data") / "correios_status_codes_from_manual.csv"
    with path.open(encoding="utf-8") as f:
        return {(row["Tipos"].strip(), int(row["Status"])): row["Category"].strip() for row in csv.DictReader(f)}


def correios_status(event_type: str, status: str) -> str:
    """Our status for a Correios (type, status) pair; OEC ("saiu para entrega") is out for delivery."""
    event_type = event_type.strip().upper()
    if event_type == "OEC":
        return "out_for_delivery"
    try:
        category = correios_codes().get((event_type, int(status)))
    except ValueError:
        category = None
    return _CORREIOS_CATEGORY.get(category or "unknown", UNKNOWN)


def parse_correios(body) -> Parsed:
    """A Correios SRO answer as JSON: {"objeto": [{"numero", "erro"?, "evento": [{"tipo", "status", "data"
    (dd/mm/yyyy), "hora" (HH:MM, Brasília time), "descricao", "detalhe"?, "local"?, "cidade"?, "uf"?}]}]}."""
    body = _obj(body, "body")
    objects = body.get("objeto")
    if isinstance(objects, dict):
        objects = [objects]
    updates, missing = [], []
    for i, obj in enumerate(_list(objects, "objeto")):
        obj = _obj(obj, f"objeto[{i}]")
        number = normalise_number(_str(obj.get("numero")))
        if not number:
            raise _bad(f"objeto[{i}].numero", N_("is required"))
        if obj.get("erro"):
            missing.append({"tracking_number": number, "carrier_says": _str(obj.get("erro"))})
            continue
        events = obj.get("evento") or []
        for j, ev in enumerate(_list(events if isinstance(events, list) else [events], f"objeto[{i}].evento")):
            ev = _obj(ev, f"objeto[{i}].evento[{j}]")
            field = f"objeto[{i}].evento[{j}]"
            kind, status = _str(ev.get("tipo")), _str(str(ev.get("status", "")))
            if not kind or not status:
                raise _bad(f"{field}.tipo", N_("tipo and status are required"))
            try:
                local = datetime.strptime(f"{_str(ev.get('data'))} {_str(ev.get('hora'))}", "%d/%m/%Y %H:%M")
            except ValueError:
                raise _bad(f"{field}.data", N_("data must be dd/mm/yyyy and hora HH:MM")) from None
            description = " — ".join(x for x in (_str(ev.get("descricao")), _str(ev.get("detalhe"))) if x)
            place = ", ".join(x for x in (_str(ev.get("local")), _str(ev.get("cidade")), _str(ev.get("uf"))) if x)
            updates.append(TrackingUpdate("CORREIOS", number, correios_status(kind, status),
                                          local.replace(tzinfo=_BRT).astimezone(timezone.utc), f"{kind}/{status}",
                                          description, place, "correios"))
    return Parsed(updates, missing)


PARSERS = {"generic": parse_generic, "aftership": parse_aftership, "correios": parse_correios}


def parse(fmt: str, body) -> Parsed:
    """Reads a webhook body in format `fmt`."""
    parser = PARSERS.get(fmt)
    if parser is None:
        raise _bad("format", N_("unknown format '{format}'"), format=fmt, allowed=list(FORMATS))
    return parser(body)


# Two events at the same minute (Correios reports minutes): the later stage of a parcel's life wins.
RANK = {status: i for i, status in enumerate(STATUSES)}


def _order(status: str, at: datetime) -> tuple[datetime, int]:
    return at, RANK.get(status, -1)


def latest(updates) -> TrackingUpdate | None:
    """The newest event that says something (unknown events never set the status)."""
    known = [u for u in updates if u.status != UNKNOWN]
    return max(known, key=lambda u: _order(u.status, u.occurred_at)) if known else None


def advance(status: str | None, status_at: datetime | None, update) -> tuple[str | None, datetime | None]:
    """A parcel's (status, as of) after one more event: events may arrive late or twice, and an older or
    unknown event never sets the status back, so any arrival order ends in the same status."""
    if update.status == UNKNOWN:
        return status, status_at
    if status_at is None or status is None or _order(update.status, update.occurred_at) >= _order(status, status_at):
        return update.status, update.occurred_at
    return status, status_at
