"""What the reports need beside cases and orders: the amount credited for a returned line, the returns that match
no purchase, and reviews that are not tied to a case (migration 0018).

- `return_credits`: the money actually credited for one case line, when the source said it: a UCI credit note's
  own line value, an imported history case's credited amount (shared over its lines by purchase value). A refund
  paid through returnflow is read from the refunds themselves (base.py), so it is not copied here.
- `unmatched_returns`: a return line the import could not place on any earlier purchase (no customer, no earlier
  purchase of that product, or more than was bought): kept with its SKU, quantity, credited value and date so the
  reports count it as "unmatched" instead of leaving it out.
- `reviews`: a rating (1-5) with its text, date, order and SKU, imported from a marketplace's reviews
  (`returnflow import-reviews`); the satisfaction report compares the buyers who returned with all buyers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class ReturnCredit(Base):
    """The amount credited for one case line, in the case's currency (minor units), and where it was read."""

    __tablename__ = "return_credits"

    case_line_id: Mapped[int] = mapped_column(ForeignKey("case_lines.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))  # credit_note | history


class UnmatchedReturn(Base):
    """A return line (or the part of one) that matches no earlier purchase."""

    __tablename__ = "unmatched_returns"
    __table_args__ = (UniqueConstraint("merchant_id", "reference", "line"),
                      Index("ix_unmatched_returns_scope", "merchant_id", "returned_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    reference: Mapped[str] = mapped_column(String(80))  # the return invoice / credit note
    line: Mapped[int]  # its row in the imported file
    sku: Mapped[str] = mapped_column(String(80))
    quantity: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)  # credited value of that quantity, minor units
    currency: Mapped[str] = mapped_column(String(3))
    customer: Mapped[str | None] = mapped_column(String(80))
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    why: Mapped[str] = mapped_column(String(40))  # no_customer | no_earlier_purchase | more_than_bought


class Review(Base):
    """A buyer's rating and text, not tied to a case; `key` makes a re-import update instead of duplicating."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("merchant_id", "key"),
                      Index("ix_reviews_scope", "merchant_id", "reviewed_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    key: Mapped[str] = mapped_column(String(300))  # id:<source id> or order:<order>|<sku>|<date>
    source_id: Mapped[str | None] = mapped_column(String(120))
    order_number: Mapped[str | None] = mapped_column(String(80))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    sku: Mapped[str | None] = mapped_column(String(80))
    rating: Mapped[int]
    text: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
