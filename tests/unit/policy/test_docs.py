"""The merchant file shown in docs/policy.md loads and decides as documented."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from returnflow.policy import Category, Customer, Route, decide, load_policy

from .factory import line, sh

DOC = Path(__file__).resolve().parents[3] / "docs" / "policy.md"


def test_the_documented_merchant_file_loads_and_applies() -> None:
    example = re.search(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL).group(1)
    policy = load_policy(example, source="acme.toml")
    assert policy.chain == ("cn-law", "taobao-current", "acme-cn") and len(policy.rules) == 5
    member = decide(policy, line(tags=frozenset({"member"})), sh(25))
    assert member.eligible and "members-30" in member.rule_ids
    fee = decide(policy, line(category=Category("electronics"), unit_price=Decimal("100.00")), sh(3))
    assert [(d.kind, d.amount, d.rule) for d in fee.deductions] == [("restocking_fee", Decimal("10.00"),
                                                                    "electronics-fee")]
    risky = decide(policy, line(customer=Customer("c-9", risk="high")), sh(3))
    assert risky.route is Route.SUPERVISOR
