"""The one place where returnflow is wired: what a case event sets off, who delivers each kind of outbox message,
what each kind of timer does when it falls due, who hears a customer charge's outcome, which reports exist, and
who answers the case workflow's questions (cases/ports.py).

Every entry point calls `bootstrap()` before it does anything: the app factory (app.create_app), every CLI command
(the typer callback in cli.py), the worker (jobs.worker.Worker) and the test fixtures (tests/conftest.py). No
other module fills a registry, so what `fire` writes and what the worker claims no longer depends on what a process
happened to import. `bootstrap()` is idempotent: the first call installs exactly what is declared here; later calls
change nothing.

To add an area (a marketplace connector, say): write its producer / outbox handler / timer handler as plain
functions in its package, then name them below — in PRODUCERS (with the outbox topics it writes), HANDLERS,
TIMER_KINDS — and nowhere else. tests/integration/test_wiring.py checks every entry point sees the whole set and
that every topic a producer writes has a handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .analytics import (api as analytics_api, customers, deadlines, finance, mix, process, rates, returned, rollup,
                        satisfaction, sold)
from .analytics.report import REPORTS as REPORT_REGISTRY, Definition
from .assessment import apply as assessment
from .audit import chain
from .cases import side_effects
from .cases.ports import PORTS, Ports
from . import derive, flows
from .logistics import advance, hooks as logistics_hooks, subscriptions
from .marketplace import push as marketplace_push, schedule as marketplace_schedule
from .notify import delivery, outbox, robots, webhooks
from .notify.hooks import customer_notices, handoff_notices, staff_notices
from .orders import service as order_service
from .refunds import charges
from .refunds.of_case import refund_states
from .sla import hooks as sla_hooks, timers


@dataclass(frozen=True)
class Producer:
    """A workflow side-effect producer, the outbox topics it may write (its other writes are rows of our own), and
    when it runs: in the event's own transaction (`derived=False`) or in the derivation step (returnflow/derive.py)."""

    run: side_effects.SideEffects
    topics: tuple[str, ...] = ()
    derived: bool = True


# In the order they run for every case event (a producer sees the rows the ones before it wrote). The request's
# transaction runs only what the decision itself needs (derived=False); the others run in the derivation step, in
# this order, once per event (by the worker, or right after the commit in inline mode; see docs/architecture.md).
PRODUCERS: tuple[Producer, ...] = (
    Producer(rollup.on_event),  # the analytics step summary (a row)
    # the event's hash-chain link: per case, its head read with the case; cheap, and the log is never unchained
    Producer(chain.link_event, derived=False),
    Producer(robots.case_alerts, (robots.TOPIC,)),  # staff robots: escalations, approvals waiting
    Producer(sla_hooks.sla_clocks),  # step clocks (timer rows, kept by sla.timers)
    Producer(customer_notices, (delivery.TOPIC,)),
    Producer(staff_notices, (delivery.TOPIC,)),
    Producer(webhooks.webhook_events, (webhooks.TOPIC,)),
    # advance exchange: the original arrived: its timer ends, a hold is released (charges.request queues that
    # itself). In the transaction: money — the advance timer must not charge a customer whose goods arrived.
    Producer(advance.on_arrival, (charges.TOPIC,), derived=False),
    Producer(logistics_hooks.return_instructions_on_approval, (delivery.TOPIC,)),
    # the inbound shipment (a row): in the transaction, it is the recorded return itself (the receiving desk and
    # carrier callbacks look the waybill up at once)
    Producer(logistics_hooks.shipment_of_a_recorded_return, derived=False),
    Producer(subscriptions.subscribe_on_ship_return, (subscriptions.TOPIC,)),
    # a decision on a case synced from a marketplace goes back to the platform once (a push row and its message)
    Producer(marketplace_push.decisions, (marketplace_push.TOPIC,)),
)

# Derived once per derivation batch, for its cases (after the producers above): the analytics returned-lines
# summary is a function of the case's current rows, not of one event.
DERIVED_PER_BATCH = (returned.on_batch,)
# Besides case events, what the returned-lines summary depends on: a refund paid out (a record move) and orders
# imported again. Both write the case's rows again in their own transaction.
AFTER_MOVE = (returned.on_refund_move,)
AFTER_ORDERS = (returned.on_orders,)
# Every order written, new or again: the sold-lines summary (analytics/sold.py) is written from it.
AFTER_ORDERS_WRITTEN = (sold.on_orders,)

# Outbox topic -> the worker's handler that delivers it.
HANDLERS: dict[str, outbox.Handler] = {
    delivery.TOPIC: delivery.deliver,  # "notify": email, SMS, WeChat, in-app
    webhooks.TOPIC: webhooks.deliver,
    robots.TOPIC: robots.deliver,  # "alert": WeCom / DingTalk robots
    charges.TOPIC: charges.deliver,  # "customer_charge": the payment gateway
    subscriptions.TOPIC: subscriptions.deliver,  # "tracking_subscribe": Kuaidi100
    marketplace_push.TOPIC: marketplace_push.deliver,  # "marketplace": decisions back to Taobao/Tmall
}
# Outbox topics kept as a feed to read, not delivered by the worker (no handler, by design).
FEEDS = ("inventory_movement",)

# Called when messages are dead-lettered, in that transaction (the topics they write are listed beside them).
ON_DEAD: tuple[tuple[Callable, tuple[str, ...]], ...] = ((robots.dead_letter_alerts, (robots.TOPIC,)),)


def _due_and_alert(session, case, row, now, cache) -> list[dict]:
    """A step deadline passed: the SLA's escalation notices, and the staff robots' breach alert."""
    return sla_hooks.on_due(session, case, row, now, cache) + robots.breach_alerts(session, case, row)


# Timer kind (the suffix after the last dot) -> what it writes when due, besides firing its action; and its topics.
TIMER_KINDS: dict[str, tuple[timers.OnDue, tuple[str, ...]]] = {
    "remind": (sla_hooks.on_remind, (delivery.TOPIC,)),
    "due": (_due_and_alert, (delivery.TOPIC, robots.TOPIC)),
    advance.TIMER: (advance.on_due, ()),
}

# Customer charge purpose -> who records the outcome on the case.
CHARGE_OUTCOMES: dict[str, charges.OnOutcome] = {advance.PURPOSE: advance.on_outcome}

# The reports, in the order the API, the pages and `returnflow report list` show them.
REPORTS: tuple[Definition, ...] = tuple(fn.definition for fn in (
    customers.customers, process.processing_times, process.processing_agents, process.processing_warehouse,
    process.backlog, deadlines.sla, finance.money, rates.return_rate, rates.trend, rates.top_returns, rates.hotspots,
    rates.suppliers, mix.reasons, mix.reasons_by, satisfaction.satisfaction))

# Periodic jobs every worker round runs, read by jobs.worker from here (each claims its own work, several workers may
# run): job(db, now) -> how much it did (0: nothing was due).
JOBS: tuple = (marketplace_schedule.due_pulls,)  # pull each marketplace connector that is due
# Periodic jobs that take seconds: a worker runs them on a thread of their own, so derivation and timers go on.
BACKGROUND_JOBS: tuple = (analytics_api.refresh_platform_snapshots,)  # keep the platform's dashboard fresh

# The questions the case workflow asks the areas built on it (cases/ports.py).
QUESTIONS = Ports(return_address_routable=logistics_hooks.return_address_routable,
                  replacement_paid_for=advance.replacement_paid_for, refund_states=refund_states,
                  assess=assessment.assess, handoff_notices=handoff_notices,
                  return_scanned=logistics_hooks.return_scanned)

_installed = False


def bootstrap() -> None:
    """Installs everything declared above into the registries the core reads (once per process)."""
    global _installed
    if _installed:
        return
    side_effects.SIDE_EFFECTS[:] = [p.run for p in PRODUCERS if not p.derived]
    side_effects.DERIVED[:] = [p.run for p in PRODUCERS if p.derived]
    side_effects.AFTER_EVENT[:] = [derive.after_event]
    side_effects.DERIVED_BATCH[:] = list(DERIVED_PER_BATCH)
    flows.AFTER_MOVE[:] = list(AFTER_MOVE)
    order_service.AFTER_UPSERT[:] = list(AFTER_ORDERS)
    order_service.AFTER_WRITE[:] = list(AFTER_ORDERS_WRITTEN)
    outbox.HANDLERS.clear()
    outbox.HANDLERS.update(HANDLERS)
    outbox.ON_DEAD[:] = [hook for hook, _topics in ON_DEAD]
    timers.ON_DUE.clear()
    timers.ON_DUE.update({kind: handler for kind, (handler, _topics) in TIMER_KINDS.items()})
    charges.ON_OUTCOME.clear()
    charges.ON_OUTCOME.update(CHARGE_OUTCOMES)
    REPORT_REGISTRY.clear()
    REPORT_REGISTRY.update({d.name: d for d in REPORTS})
    PORTS.return_address_routable = QUESTIONS.return_address_routable
    PORTS.replacement_paid_for = QUESTIONS.replacement_paid_for
    PORTS.refund_states = QUESTIONS.refund_states
    PORTS.assess = QUESTIONS.assess
    PORTS.handoff_notices = QUESTIONS.handoff_notices
    PORTS.return_scanned = QUESTIONS.return_scanned
    _installed = True


def topics_written() -> set[str]:
    """Every outbox topic a producer, a timer kind or a dead-letter hook declares it may write."""
    return ({t for p in PRODUCERS for t in p.topics} | {t for _h, topics in TIMER_KINDS.values() for t in topics}
            | {t for _h, topics in ON_DEAD for t in topics})
