"""What a merged policy may not say: a statutory clock made longer, a window below the law's, fees the law forbids,
limits that contradict each other (refused, naming the file and line); and what it may say only with a warning (a
restocking fee under PRC law)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from ..i18n import N_
from .errors import PolicyError, listed
from .compiled import PolicyWarning


def _period(spec: dict[str, Any]) -> timedelta:
    return timedelta(hours=spec["hours"]) if "hours" in spec else timedelta(days=spec["days"])


def check_statutory_clock(before: dict[str, Any] | None, after: dict[str, Any], source: str, line: int | None,
                           path: str) -> None:
    """A clock the law sets (CN8, EU4, ...) is a maximum: a later file may shorten it, never lengthen it."""
    if before is None or not before.get("rule", "").startswith(("CN", "EU")):
        return
    if _period(after) > _period(before):
        raise PolicyError(path, line, N_("{rule} allows at most {period}; a policy may only be faster"), source=source,
                          rule=before["rule"], period=str(_period(before)))


def _conflict(origin: dict[str, tuple[str, int | None]], path: str, text: str, **values: Any) -> PolicyError:
    source, line = origin.get(path, ("policy", None))
    return PolicyError(path, line, text, source=source, **values)


def check_conflicts(merged: dict[str, Any], origin: dict[str, tuple[str, int | None]]) -> tuple[PolicyWarning, ...]:
    law = merged.get("law", {})
    floor = law.get("min_window_days", 0)
    days = merged.get("window", {}).get("days", 0)
    if days < floor:
        raise _conflict(origin, "window.days", N_("{days} days is shorter than the statutory {floor} days ({rule}); "
                                                  "only longer windows may be set"),
                        days=days, floor=floor, rule=merged.get("window", {}).get("rule", "law"))
    fee = merged.get("fees", {}).get("restocking_percent", Decimal(0))
    if law.get("no_fees") and fee > 0:
        raise _conflict(origin, "fees.restocking_percent", NO_FEES)
    warnings: list[PolicyWarning] = []
    if law.get("family") == "cn" and fee > 0:
        warnings.append(_fee_warning("fees.restocking_percent", origin.get("fees.restocking_percent", ("", None))[1]))
    bases = law.get("final_sale_bases", ())
    seen: dict[str, str] = {}
    for rule in merged["rules"]:
        source, line, path = rule["_where"]
        if rule["id"] in seen:
            raise PolicyError(f"{path}.id", line, N_("rule id '{rule}' is used twice"), source=source, rule=rule["id"])
        seen[rule["id"]] = path
        if rule["kind"] == "final_sale" and law.get("family") in ("cn", "eu") and rule.get("basis") not in bases:
            raise PolicyError(f"{path}.basis", line,
                              N_("sellers may not widen the statutory exclusions; give basis = one of {bases}"),
                              source=source, bases=listed(bases))
        if rule["kind"] == "restocking_fee" and law.get("no_fees"):
            raise PolicyError(f"{path}.kind", line, NO_FEES, source=source)
        if rule["kind"] == "restocking_fee" and law.get("family") == "cn":
            if "opened" in rule.get("conditions", ()):
                raise PolicyError(f"{path}.conditions", rule["_at"].get("conditions") or line,
                                  N_("CN4 allows opening to inspect and reasonable testing: an item only opened is "
                                     "still in good condition, so no fee may depend on it; name \"used\" or "
                                     "\"unopened\""), source=source)
            warnings.append(_fee_warning(f"{path}.percent", rule["_at"].get("percent") or line))
        elif rule.get("conditions") or rule.get("grades"):
            if rule["kind"] != "restocking_fee":
                key = "conditions" if rule.get("conditions") else "grades"
                raise PolicyError(f"{path}.{key}", rule["_at"].get(key) or line,
                                  N_("only a restocking_fee rule can depend on the condition or grade"), source=source)
        if rule["kind"] == "window" and rule["days"] < floor:
            raise PolicyError(f"{path}.days", line, N_("shorter than the statutory {floor} days"), source=source,
                              floor=floor)
    lists = merged.get("lists", {})
    for kind in ("customers", "skus"):
        both = set(lists.get(f"allow_{kind}", ())) & set(lists.get(f"block_{kind}", ()))
        if both:
            raise _conflict(origin, f"lists.block_{kind}", N_("on both the allow and the block list: {names}"),
                            names=str(sorted(both)))
    approval = merged.get("approval", {})
    auto, top = approval.get("auto_max_amount"), approval.get("supervisor_above_amount")
    if auto is not None and top is not None and auto > top:
        raise _conflict(origin, "approval.auto_max_amount", N_("auto-approval limit is above the supervisor limit"))
    return tuple(warnings)


NO_FEES = N_("this law forbids fees on withdrawal (EU4: all payments are refunded, free of charge); loss of value "
             "from handling beyond checking the goods (EU7) is assessed item by item, not as a fixed fee")


def _fee_warning(path: str, line: int | None) -> PolicyWarning:
    """CN: the law lets a no-reason return cost the customer the return shipping (CN6), not a fee; accepted, but
    the shop must have stated the fee to the buyer before the purchase."""
    return PolicyWarning(path, line, "CN6",
                         N_("PRC law lets a no-reason return cost the customer only the return shipping (CN6); a "
                            "restocking fee is not in the law: it holds only if the shop stated it before the "
                            "purchase, and never for an item merely opened to inspect (CN4)"))
