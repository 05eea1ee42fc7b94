"""Bad policy files are refused whole, with the field, the line and the reason in en and zh-CN."""

from __future__ import annotations

import pytest

from returnflow.policy import PolicyError, load_policy, load_policy_file, load_preset
from returnflow.policy.loader import PRESETS

MARK = "# <-"


def marked_line(text: str) -> int:
    """The 1-based line carrying the `# <-` marker: where the error must point."""
    return next(i for i, raw in enumerate(text.splitlines(), start=1) if MARK in raw)


BAD = [
    ("unknown field", "window.dayz", """
[policy]
id = "s1"
extends = "cn-law"
[window]
dayz = 10  # <-
"""),
    ("unknown section", "windows", """
[policy]
id = "s2"
extends = "cn-law"
[windows]  # <-
days = 10
"""),
    ("negative days", "window.days", """
[policy]
id = "s3"
extends = "taobao-current"

[window]
counted_from = "delivery"
days = -3  # <-
"""),
    ("fraction of a day", "window.days", """
[policy]
id = "s4"
[window]
days = 7.5  # <-
"""),
    ("fee over 100%", "fees.restocking_percent", """
[policy]
id = "s5"
extends = "cn-law"
[fees]
restocking_percent = 120  # <-
"""),
    ("negative keep-item value", "keep_item.max_amount", """
[policy]
id = "s6"
[keep_item]
max_amount = -1  # <-
"""),
    ("statutory window undercut", "window.days", """
[policy]
id = "s7"
extends = "cn-law"
[window]
days = 5  # <-
"""),
    ("restocking fee under EU law", "fees.restocking_percent", """
[policy]
id = "s8"
extends = "eu-crd"
[fees]
restocking_percent = 10  # <-
"""),
    ("final sale widening the statutory list", "rules[0].basis", """
[policy]
id = "s9"
extends = "cn-law"

[[rules]]  # <-
id = "no-returns-on-sale"
kind = "final_sale"
tags = ["sale"]
"""),
    ("restocking-fee rule under EU law", "rules[1].kind", """
[policy]
id = "s10"
extends = "eu-crd"
[[rules]]
id = "longer"
kind = "window"
days = 30
[[rules]]  # <-
id = "fee"
kind = "restocking_fee"
percent = 5
"""),
    ("window rule shorter than the law", "rules[0].days", """
[policy]
id = "s11"
extends = "eu-crd"
[[rules]]  # <-
id = "short"
kind = "window"
days = 10
"""),
    ("duplicate rule id", "rules[1].id", """
[policy]
id = "s12"
extends = "cn-law"
[[rules]]
id = "vip"
kind = "window"
days = 30
[[rules]]  # <-
id = "vip"
kind = "window"
days = 40
"""),
    ("unknown rule kind", "rules[0].kind", """
[policy]
id = "s13"
[[rules]]
id = "x"
kind = "teleport"  # <-
"""),
    ("holiday dates out of order", "rules[0].ordered_to", """
[policy]
id = "s14"
extends = "cn-law"
[[rules]]
id = "xmas"
kind = "holiday_window"
ordered_from = 2026-12-20
ordered_to = 2026-12-01  # <-
return_until = 2027-01-15
"""),
    ("customer on both lists", "lists.block_customers", """
[policy]
id = "s15"
extends = "cn-law"
[lists]
allow_customers = ["c-7"]
block_customers = ["c-7"]  # <-
"""),
    ("auto limit above the supervisor limit", "approval.auto_max_amount", """
[policy]
id = "s16"
extends = "cn-law"
[approval]
auto_max_amount = 9000  # <-
"""),
    ("unknown preset", "policy.extends", """
[policy]
id = "s17"
extends = "amazon-us"  # <-
"""),
    ("extends itself", "policy.extends", """
[policy]
id = "loop"
extends = "loop"  # <-
"""),
    ("law is for presets only", "law", """
[policy]
id = "s19"
extends = "cn-law"
[law]  # <-
min_window_days = 0
"""),
    ("clock with hours and days", "clocks.refund", """
[policy]
id = "s20"
[clocks]
refund = { hours = 24, days = 1 }  # <-
"""),
    ("unknown timezone", "policy.timezone", """
[policy]
id = "s21"
timezone = "Mars/Olympus"  # <-
"""),
    ("unknown currency", "policy.currency", """
[policy]
id = "s22"
currency = "XXX"  # <-
"""),
    ("merchant names a statutory window rule", "window.rule", """
[policy]
id = "s24"
extends = "cn-law"
[window]
days = 10
rule = "CN1"  # <-
"""),
    ("merchant clock citing a platform rule", "clocks.refund.rule", """
[policy]
id = "s25"
extends = "cn-law"
[clocks]
refund = { days = 3, rule = "TB6" }  # <-
"""),
    ("refund slower than CN8 allows", "clocks.refund", """
[policy]
id = "s26"
extends = "taobao-current"
[clocks]
customer_ship = { days = 10 }
refund = { days = 10 }  # <-
"""),
    ("not TOML", "(syntax)", """
[policy]
id = "s23"
extends = cn-law  # <-
"""),
]


@pytest.mark.parametrize(("name", "field", "text"), BAD, ids=[b[0] for b in BAD])
def test_bad_file_is_refused_with_field_and_line(name: str, field: str, text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(text, source="shop.toml")
    error = caught.value
    assert error.field == field
    assert error.line == marked_line(text)
    assert error.en and error.zh and error.en != error.zh
    assert f"shop.toml:{error.line}" in str(error)


def test_indirect_cycle_points_at_the_file_that_closes_it() -> None:
    a = '[policy]\nid = "a"\nextends = "b"\n'
    b = '[policy]\nid = "b"\n\nextends = "a"\n'
    with pytest.raises(PolicyError) as caught:
        load_policy(a, source="a", sources={"b": b})
    assert (caught.value.field, caught.value.line, caught.value.source) == ("policy.extends", 4, "b")
    assert "a -> b -> a" in caught.value.en and "循环" in caught.value.zh


def test_error_in_a_parent_file_names_that_file() -> None:
    parent = '[policy]\nid = "base"\nextends = "cn-law"\n[fees]\nrestocking_percent = 101\n'
    child = '[policy]\nid = "shop"\nextends = "base"\n'
    with pytest.raises(PolicyError) as caught:
        load_policy(child, source="shop", sources={"base": parent})
    assert (caught.value.source, caught.value.line, caught.value.field) == ("base", 5, "fees.restocking_percent")


def test_a_merchant_may_refund_faster_than_the_law() -> None:
    policy = load_policy('[policy]\nid = "fast"\nextends = "eu-crd"\n[clocks]\nrefund = { days = 3, from = "request" }\n')
    assert policy.clocks["refund"].rule == "M.refund" and policy.clocks["refund"].period.days == 3


def test_a_good_chain_of_merchant_files_merges_in_order() -> None:
    parent = '[policy]\nid = "group"\nextends = "cn-law"\n[window]\ndays = 10\n[lists]\nblock_skus = ["A"]\n'
    child = '[policy]\nid = "shop"\nextends = "group"\n[window]\ndays = 20\n[lists]\nblock_skus = ["B"]\n'
    policy = load_policy(child, sources={"group": parent})
    assert policy.chain == ("cn-law", "group", "shop")
    assert policy.window_days == 20 and policy.block_skus == {"A", "B"} and policy.statutory_days == 7


def test_every_preset_loads_and_a_merchant_file_loads_from_disk(tmp_path) -> None:
    for name in PRESETS:
        assert load_preset(name).chain[-1] == name
    path = tmp_path / "shop.toml"
    path.write_text('[policy]\nid = "shop"\nextends = "jd-pop"\n[window]\ndays = 15\n', encoding="utf-8")
    policy = load_policy_file(path)
    assert (policy.id, policy.window_days, policy.clocks["unshipped_refund"].rule) == ("shop", 15, "JD1")
    path.write_text('[policy]\nid = "shop"\nextends = "jd-pop"\n[window]\ndays = -1\n', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert (caught.value.source, caught.value.line) == ("shop.toml", 5)
