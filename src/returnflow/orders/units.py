"""Units of an order line by serial number (CN12 keeps a repair history per unit)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..errors import Explained
from ..i18n import N_, SUPPORTED, gettext
from .models import OrderLine


def record(session: Session, order_line_id: int, serial: str, field: str) -> str:
    """The unit's serial number: one the order line already has, or recorded now while the line still has units
    without one; a number not among a fully numbered line's units is refused naming `field`."""
    serial = serial.strip()
    if not serial or len(serial) > 100:
        raise Explained(field, N_("a serial number is 1 to 100 characters"))
    line = session.get(OrderLine, order_line_id)
    known = list(line.serial_numbers or [])
    if serial in known:
        return serial
    if len(known) >= line.quantity:
        raise Explained(field, N_("'{serial}' is not one of this line's units: {units}"), allowed=known, serial=serial,
                        units={tag: gettext(tag, N_(", ")).join(known) for tag in SUPPORTED})
    line.serial_numbers = [*known, serial]
    return serial
