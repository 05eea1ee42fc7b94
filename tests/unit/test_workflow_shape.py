"""The transition table as data: every state is reachable and can end; the docs are drawn from it."""

from pathlib import Path

from returnflow.flow_docs import render_markdown
from returnflow.i18n import SUPPORTED, gettext
from returnflow.cases.models import CaseState
from returnflow.cases.workflow import TERMINAL_STATES, TRANSITIONS

TARGETS = {"after_approval": {"awaiting_return", "in_repair", "resolving"},
           "after_arbitration": {"awaiting_return", "in_repair", "resolving", "closed"},
           "after_change_type": {"pending_review"}}


def edges():
    for t in TRANSITIONS:
        if t.to is None:
            continue
        targets = TARGETS[t.to.__name__] if callable(t.to) and not isinstance(t.to, CaseState) else {t.to.value}
        for source in t.sources:
            for target in targets:
                yield source.value, target


def reachable(start: str, graph) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for a, b in graph:
            if a == node and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def test_every_state_is_reachable_from_a_new_case():
    assert reachable("pending_review", list(edges())) == {s.value for s in CaseState}


def test_every_state_can_reach_an_end():
    graph = list(edges())
    for state in CaseState:
        assert reachable(state.value, graph) & {s.value for s in TERMINAL_STATES}, state


def test_every_action_names_who_may_fire_it_and_says_what_it_does():
    actions = [t.action for t in TRANSITIONS]
    assert len(actions) == len(set(actions))
    for t in TRANSITIONS:
        assert t.roles and t.summary and t.sources
        for lang in SUPPORTED:  # said in every language of the desk, from the catalogs
            assert lang == "en" or gettext(lang, t.summary) != t.summary, (t.action, lang)


def test_terminal_states_only_allow_reopening_and_notes():
    for t in TRANSITIONS:
        if t.sources & TERMINAL_STATES:
            assert t.action in ("reopen", "note"), t.action


def test_docs_workflow_md_is_generated_from_the_table():
    doc = Path(__file__).resolve().parents[2] / "docs" / "workflow.md"
    assert doc.read_text(encoding="utf-8") == render_markdown() + "\n", "run: returnflow workflow > docs/workflow.md"
