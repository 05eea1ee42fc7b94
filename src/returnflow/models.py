"""Imports every table so the metadata (and Alembic) sees the whole schema."""

from .analytics import indexes as _analytics_indexes  # noqa: F401
from .analytics import records as _analytics_records  # noqa: F401
from .analytics import returned as _analytics_returned  # noqa: F401
from .analytics import snapshots as _analytics_snapshots  # noqa: F401
from .analytics import sold as _analytics_sold  # noqa: F401
from .auth.models import ApiToken, StaffEvent, User  # noqa: F401
from .cases.models import (  # noqa: F401
    Attachment, Case, CaseEvent, CaseLine, NumberSequence, OutboxMessage, Reason,
)
from .db import Base  # noqa: F401
from .flows import RecordEvent  # noqa: F401
from .logistics.models import PickupClaim, ReturnAddress, Shipment, TrackingEvent  # noqa: F401
from .warehouse.models import Disposition, Inspection, Receipt, ReceiptLine, ReceiptPhoto, RepairOrder  # noqa: F401
from .merchants.models import Merchant  # noqa: F401
from .orders.models import Category, Customer, Order, OrderLine, Product  # noqa: F401
from .policy.models import PolicyVersion  # noqa: F401
from .sla import models as _sla_models  # noqa: F401  (sla_timers, sla_settings)
from .notify import models as _notify_models  # noqa: F401
from .refunds import models as _refunds  # noqa: F401
from .cases.conversation import CaseHandoff, CaseMessage, CasePlan  # noqa: F401
from .pages.models import PortalAttempt, PortalCode, PortalSession  # noqa: F401
from .marketplace import models as _marketplace  # noqa: F401
from .caches import CacheVersion  # noqa: F401
from .idempotency import IdempotencyRecord  # noqa: F401
from .derive import DerivePosition, EventDerivation  # noqa: F401
