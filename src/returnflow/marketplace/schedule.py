"""The pull timer: each worker round pulls the connectors whose time has come, one worker per connector."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..db import Database, utcnow
from ..notify.config import get_delivery_settings
from .models import MarketplaceConnector
from .sync import pull

log = logging.getLogger("returnflow.marketplace")


def due_pulls(db: Database, now: datetime | None = None) -> int:
    """Pulls every active connector due at `now`; returns how many were pulled. A connector is claimed by moving its
    next_pull_at forward (only the worker that moved it pulls); a pull that fails keeps its cursor and says why."""
    now = now or utcnow()
    with db.read() as session:
        due = session.execute(select(MarketplaceConnector.id, MarketplaceConnector.merchant_id,
                                     MarketplaceConnector.platform, MarketplaceConnector.next_pull_at,
                                     MarketplaceConnector.every_minutes).where(
            MarketplaceConnector.active.is_(True), MarketplaceConnector.next_pull_at <= now)).all()
    pulled = 0
    for row in due:
        with db.transaction() as session:
            mine = session.execute(update(MarketplaceConnector).where(
                MarketplaceConnector.id == row.id, MarketplaceConnector.next_pull_at == row.next_pull_at).values(
                next_pull_at=now + timedelta(minutes=row.every_minutes))).rowcount
        if not mine:
            continue
        result = pull(db, row.merchant_id, row.platform, now=now, allowed=get_delivery_settings().allowed())
        if result.error:
            log.warning("marketplace pull for merchant %s failed: %s", row.merchant_id, result.error)
        pulled += 1
    return pulled
