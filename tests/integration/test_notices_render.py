"""Every notice the desk queues can be written: the demo's cases (its kinds of step, both shops, customers in
both languages) give each of their email, text, push and in-app messages a subject and text with every placeholder
filled. A message whose data lacks a field its template needs would wait forever
and reach no one (until 2026-12-07 every return instructions email did)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from returnflow.cases.models import OutboxMessage
from returnflow.demo import load
from returnflow.notify.templates import BUILTIN, render


def test_every_notice_of_the_demo_can_be_written_in_its_language(db):
    load(db)
    written: Counter[str] = Counter()
    with db.read() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify")))
        assert rows
        for row in rows:
            p = row.payload
            if p.get("channel") == "wechat":
                continue  # the merchant's approved provider template, not ours (notify.provider_templates)
            subject, body = render(session, row.merchant_id, p["template"], p.get("locale") or "zh-CN",
                                   p.get("data") or {})
            assert subject and body and "{" not in subject + body, (p["template"], subject, body)
            assert "'" not in body or p["template"] == "case_message", (p["template"], body)  # no record's repr
            written[p["template"]] += 1
    # The demo's flows reach these kinds at least (the return instructions among them).
    assert {"case_opened", "case_update", "return_instructions", "case_closed"} <= set(written), written
    assert set(written) <= set(BUILTIN)
