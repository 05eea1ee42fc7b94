"""Batch reads: what a derivation batch's producers read per case, read once for every case of the batch.

A derivation batch (returnflow/derive.py) runs the derived producers for every event of up to ~50 cases, and its
writes are kept and sent together (returnflow/deferred.py). A producer that reads something of its case (the order's
country, when the case was approved, whether a refund deadline is running, the id its follow-up task will take)
would cost a statement per case, and,
worse, every such read first sends the writes kept so far, so the batch's writes went out in small groups again.

`per_case` is how such a read is written: the value for one case, remembered for the rest of the transaction (a
request may ask it several times); inside a batch (`for_batch`), the first case that asks reads it for every case of
the batch not known yet, in one statement. The area that owns the read writes both forms (one case, many cases), and
keeps what it remembers true when it changes the thing read in the same transaction (`remember`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

BATCH = "rf_batch_cases"  # session.info: {case id: case record} of the derivation batch being derived


@contextmanager
def for_batch(session, cases: Mapping[int, Any]) -> Iterator[None]:
    """While the block runs, `per_case` reads for these cases (records with an `id`) at once."""
    session.info[BATCH] = cases
    try:
        yield
    finally:
        session.info.pop(BATCH, None)


def per_case(session, name: str, case, one: Callable[[Any], Any], many: Callable[[list], dict[int, Any]], *,
             key: Callable[[Any], Hashable] | None = None, keep: bool = True) -> Any:
    """`one(case)`, remembered in the transaction under `name` (by `key(case)`, the case id by default; outside a
    batch only if `keep`: a read the transaction's own writes may change is read again each time). In a batch, a case
    not known yet is read with every other unknown case of the batch: `many(cases)` answers {case id: value} for all
    of them."""
    key = key or _id
    memo = session.info.setdefault(name, {})
    wanted = key(case)
    if wanted in memo:
        return memo[wanted]
    batch = session.info.get(BATCH)
    if batch is not None and batch.get(case.id) is case:
        todo = [other for other in batch.values() if key(other) not in memo]
        found = many(todo)
        for other in todo:
            memo[key(other)] = found[other.id]
    elif keep:
        memo[wanted] = one(case)
    else:
        return one(case)
    return memo[wanted]


def remember(session, name: str, case, value: Any, *, key: Callable[[Any], Hashable] | None = None) -> None:
    """The transaction changed what `name` reads for `case`: later reads answer `value`."""
    session.info.setdefault(name, {})[(key or _id)(case)] = value


def _id(case) -> int:
    return case.id
