"""docs/workflow.md drawn from the declared tables themselves: the case's and every other record kind's (flows.py),
so the documentation can never drift from the code. `returnflow workflow > docs/workflow.md` regenerates it."""

from __future__ import annotations

from .cases import docs as case_docs
from .cases.record_flows import CASE_RECORD_FLOWS
from .flows import OPENING, Flow
from .logistics.flows import LOGISTICS_FLOWS
from .notify.flows import FOLLOW_UP
from .refunds.money_flows import MONEY_FLOWS
from .warehouse.flows import WAREHOUSE_FLOWS

# Every record kind with a declared table besides the case, in the order the document shows them: the money
# records, then the case's plans and hand-offs, the parcels and pickups, the receiving desk and repairs, follow-ups.
FLOWS: tuple[Flow, ...] = (*MONEY_FLOWS, *CASE_RECORD_FLOWS, *LOGISTICS_FLOWS, *WAREHOUSE_FLOWS, FOLLOW_UP)

INTRO = """# Records beside the case

Each record kind below moves only through its declared table (`flows.move`): the action must start from one of
its states (`new`: the record is being opened), the actor's role must be listed, and the move sets the state, bumps
the record's `version` if it has one and writes one `record_events` row (kind, record, case, action, from, to,
actor, at, data) in the same transaction. A record's history is its event rows (the money records answer it as
`history` in the API; records older than the tables keep their state in a `status` column). Money paths take their
row locks in one order, written in `src/returnflow/refunds/locks.py`:
case → order → refund → its legs (by id) → customer charges → compensations → customer balance → balance spends."""


def _state(state: str | None) -> str:
    return "new" if state is OPENING else state


def render_flow_markdown(flow: Flow) -> str:
    out = [f"## {flow.title} (`{flow.kind}`)", "", "States: " + ", ".join(f"`{s}`" for s in flow.states), "",
           "| action | from | to | who | what |", "|---|---|---|---|---|"]
    for t in flow.transitions:
        sources = ", ".join(f"`{_state(s)}`" for s in sorted(t.sources, key=lambda s: (s is not None, s or "")))
        out.append(f"| `{t.action}` | {sources} | {f'`{t.to}`' if t.to else '(stays)'} | {', '.join(t.roles)} | "
                   f"{t.summary} |")
    out += ["", "```mermaid", render_flow_mermaid(flow), "```"]
    return "\n".join(out)


def render_flow_mermaid(flow: Flow) -> str:
    lines = ["stateDiagram-v2"]
    for t in flow.transitions:
        if t.to is None:
            continue  # an event only: in the table
        for source in sorted(t.sources, key=lambda s: (s is not None, s or "")):
            lines.append(f"    {'[*]' if source is OPENING else source} --> {t.to}: {t.action}")
    return "\n".join(lines)


def render_markdown() -> str:
    """The case workflow, then every other record kind's table."""
    return "\n".join([case_docs.render_markdown(), INTRO, "",
                      "\n\n".join(render_flow_markdown(flow) for flow in FLOWS), ""])


def render_mermaid() -> str:
    return "\n\n".join([case_docs.render_mermaid(), *(render_flow_mermaid(flow) for flow in FLOWS)])
