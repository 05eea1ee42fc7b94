"""API shapes of logistics: return addresses, parcels, pickups."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..fields import RowId, Version


class ReturnAddressSave(BaseModel):
    """A return warehouse: routed to by the product categories it takes and the regions it serves."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)
    address: str = Field(min_length=1, max_length=1000, description="The address as the carrier needs it")
    address_en: str = Field(default="", max_length=1000)
    postcode: str = Field(default="", max_length=20)
    regions: list[str] = Field(default_factory=list, description="Order countries/regions served; empty: any")
    categories: list[str] = Field(default_factory=list, description="Product categories taken; empty: any")
    carriers: list[str] = Field(default_factory=list, description="Recommended carrier codes, in order")
    is_default: bool = False
    auto_receive_on_delivery: bool = Field(default=False, description="A carrier 'delivered' event receives the case")
    active: bool = True


class Pickup(BaseModel):
    """A booked pickup (上门取件), recorded as booked."""

    model_config = ConfigDict(extra="forbid")

    window_start: datetime
    window_end: datetime
    address: str = Field(min_length=1, max_length=1000)
    contact: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)
    booking_ref: str = Field(default="", max_length=100)


class ReturnShipmentCreate(BaseModel):
    """The return parcel: carrier and tracking number (checked against the carrier's format)."""

    model_config = ConfigDict(extra="forbid")

    version: Version
    carrier: str = Field(min_length=1, max_length=20)
    tracking_number: str = Field(min_length=1, max_length=60)
    pickup: Pickup | None = None


class OutboundItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: RowId
    sku: str = Field(min_length=1, max_length=100, description="The SKU/variant shipped (a replacement may differ)")
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price: str | None = Field(default=None, description="Replacement's unit price (decimal string) when it "
                                                             "differs; the price difference goes to the event")


class OutboundShipmentCreate(BaseModel):
    """The replacement (exchange), missing item or part (reship) or repaired item going to the customer."""

    model_config = ConfigDict(extra="forbid")

    version: Version
    carrier: str = Field(min_length=1, max_length=20)
    tracking_number: str = Field(min_length=1, max_length=60)
    items: list[OutboundItem] = Field(default_factory=list, description="What goes out; omitted: per case line "
                                      "the variant the customer chose for the exchange, else the same item")


class AdvanceExchangeSettings(BaseModel):
    """What happens when the original of an advance exchange (先发后退) is not back by its deadline."""

    model_config = ConfigDict(extra="forbid")

    on_overdue: Literal["charge", "escalate"] | None = Field(
        default=None, description="charge: capture the hold or charge the customer for the replacement; "
                                  "escalate: an agent decides")
    grace_days: int | None = Field(default=None, ge=0, le=30, description="Days after the deadline before acting")
    return_days: int | None = Field(default=None, ge=1, le=60,
                                    description="Days after the replacement ships that the original is due back")
    hold: bool | None = Field(default=None, description="Take a hold for the replacement's value when it ships")


class ChargeCollected(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=200, description="The bank transfer or cash receipt reference")
