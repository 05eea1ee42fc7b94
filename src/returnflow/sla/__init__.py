"""Deadlines and automation: business calendars, SLA settings, durable timers; importing this package registers
the SLA clocks, customer notifications and webhook deliveries as side effects of every transition."""

from __future__ import annotations


def register() -> None:
    """Adds this area's producers to workflow.SIDE_EFFECTS (once) and its outbox handlers."""
    from ..cases import workflow
    from ..notify import delivery, webhooks  # noqa: F401  (register the "notify" and "webhook" handlers)
    from ..notify.hooks import customer_notices, staff_notices
    from .hooks import sla_clocks

    for producer in (sla_clocks, customer_notices, staff_notices, webhooks.webhook_events):
        if producer not in workflow.SIDE_EFFECTS:
            workflow.SIDE_EFFECTS.append(producer)


register()
