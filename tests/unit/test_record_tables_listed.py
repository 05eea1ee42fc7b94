"""Every declared record table (flows.Flow) is drawn by `returnflow workflow`, and each one is well formed: its
steps name only its own states, reach every state, name who may, and keep the record's state where it lives."""

from __future__ import annotations

import importlib
import pkgutil

from typer.testing import CliRunner

import returnflow
from returnflow.cli import app
from returnflow.db import Base
from returnflow.flow_docs import FLOWS
from returnflow.flows import OPENING, Flow

KINDS = {"refund", "refund_payment", "customer_charge", "compensation", "balance_spend", "case_plan",
         "case_handoff", "shipment", "pickup_claim", "receipt", "repair_order", "follow_up"}


def declared() -> dict[str, Flow]:
    """Every Flow declared at module level anywhere in the package."""
    found: dict[str, Flow] = {}
    for info in pkgutil.walk_packages(returnflow.__path__, "returnflow."):
        if not info.name.endswith(("flows", "record_flows")) or ".migrations" in info.name:
            continue
        for value in vars(importlib.import_module(info.name)).values():
            if isinstance(value, Flow):
                found[value.kind] = value
    return found


def test_every_declared_table_is_listed_for_the_workflow_document():
    assert set(declared()) == KINDS
    assert {flow.kind for flow in FLOWS} == KINDS and len(FLOWS) == len(KINDS)


def test_the_workflow_command_prints_every_table():
    out = CliRunner().invoke(app, ["workflow"]).output
    for flow in FLOWS:
        assert f"## {flow.title} (`{flow.kind}`)" in out, flow.kind
        for t in flow.transitions:
            assert f"| `{t.action}` |" in out, (flow.kind, t.action)
    mermaid = CliRunner().invoke(app, ["workflow", "--format", "mermaid"]).output
    assert mermaid.count("stateDiagram-v2") >= len(FLOWS) + 1


def test_every_table_is_well_formed_and_its_state_attribute_is_a_column():
    tables = {mapper.class_.__tablename__: mapper.class_ for mapper in Base.registry.mappers}
    for flow in FLOWS:
        states = set(flow.states)
        assert len({t.action for t in flow.transitions}) == len(flow.transitions), flow.kind
        for t in flow.transitions:
            assert t.sources and t.sources <= states | {OPENING}, (flow.kind, t.action)
            assert t.to is None or t.to in states, (flow.kind, t.action)
            assert t.roles and t.summary, (flow.kind, t.action)
        # Opened by a move from nothing, else inserted `requested` (compensations, balance spends) and moved on.
        inserted = set() if any(OPENING in t.sources for t in flow.transitions) else {"requested"}
        reached = {t.to for t in flow.transitions if t.to is not None}
        assert inserted <= states and states - reached == inserted, flow.kind
        assert any(hasattr(model, flow.state_attr) and hasattr(model, flow.id_attr) for model in tables.values())
