"""The old home of the logistics use cases, now split by role; kept only so importers not yet moved keep working
(pages/portal_pages.py, which another change is splitting). New code imports the role modules:
- staff.py: who may use a desk step (`staff_merchant`);
- addresses.py: return addresses and routing;
- instructions.py: return instructions, the label PDF, the instructions by email;
- shipments.py: parcels of a case (register, ship out, the parcels with their events, overdue advance returns);
- tracking.py: carrier events in (ingest) and what a parcel's new status sets off.
"""

from __future__ import annotations

from .addresses import ADDRESS_FIELDS, address_dict, list_addresses, route, save_address  # noqa: F401
from .instructions import RETURN_DAYS, instructions, label_pdf, return_deadline, send_instructions  # noqa: F401
from .shipments import (  # noqa: F401
    adopt_waiting_events, event_dict, outbound_items, overdue_advance_returns, register_return, ship_outbound,
    shipment_dict, shipments_of,
)
from .staff import staff_merchant  # noqa: F401
from .tracking import ingest, ingest_parsed, unmatched_events  # noqa: F401
