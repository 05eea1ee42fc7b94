"""Case search: the `q` text over the case number, description and external reference, the order number, the
customer (id, name, e-mail, phone) and the lines' SKU and title — a substring match, case-insensitive.

Served by trigram indexes (migration 0017): on PostgreSQL, `pg_trgm` GIN indexes answer the ILIKE patterns
below; on SQLite, one FTS5 table per searched table with the `trigram` tokenizer (external content, kept in step
by triggers) answers a phrase query. A trigram needs three characters: a query of one or two characters (say
"屏幕") falls back to ILIKE, which reads every row. `%`, `_` and `\\` in the query are literal everywhere."""

from __future__ import annotations

from sqlalchemy import literal_column, or_, select, text, union
from sqlalchemy.orm import Session

from ..orders.models import Customer, Order, OrderLine
from .models import Case, CaseLine

ESCAPE = "\\"
TRIGRAM = 3  # characters a trigram index needs
FEW = 2000  # matches passed on as a list of ids
# SQLite's FTS5 tables (migration 0017) and PostgreSQL's trigram indexes: not models, so the schema checks skip them.
FTS_TABLES = ("cases_fts", "orders_fts", "customers_fts", "order_lines_fts")
TRGM_INDEX_PREFIX = "ix_trgm_"


def is_search_object(name: str | None, type_: str) -> bool:
    """Whether a database object is one of the search indexes (for Alembic's `include_object` and schema tests)."""
    if not name:
        return False
    if type_ == "table":
        return any(name == t or name.startswith(t + "_") for t in FTS_TABLES)
    return type_ == "index" and name.startswith(TRGM_INDEX_PREFIX)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's filter: autogenerate and schema comparisons leave the search indexes alone."""
    return not (reflected and compare_to is None and is_search_object(name, type_))


def escape_like(value: str) -> str:
    """The value as a literal inside a LIKE pattern (with ESCAPE '\\')."""
    return value.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def phrase(value: str) -> str:
    """The value as one FTS5 phrase: every character literal, double quotes doubled."""
    return '"' + value.replace('"', '""') + '"'


def matching_ids(session: Session, q: str):
    """A SELECT of the ids of the cases whose searched text contains `q` (any merchant: the caller scopes)."""
    q = q.strip()
    if session.get_bind().dialect.name == "sqlite" and len(q) >= TRIGRAM:
        return _fts(phrase(q))
    return _like(f"%{escape_like(q)}%")


def case_ids(session: Session, q: str):
    """The matching case ids as a list when there are at most FEW (the search runs once, not again for the page
    and again for its total), else the SELECT itself."""
    query = matching_ids(session, q)
    found = list(session.scalars(query.limit(FEW + 1)))
    return found if len(found) <= FEW else query


def _like(pattern: str):
    def has(column):
        return column.ilike(pattern, escape=ESCAPE)

    return union(
        select(Case.id).where(or_(has(Case.number), has(Case.description), has(Case.external_ref))),
        select(Case.id).where(Case.order_id.in_(select(Order.id).where(has(Order.number)))),
        select(Case.id).where(Case.customer_id.in_(select(Customer.id).where(or_(
            has(Customer.external_id), has(Customer.name), has(Customer.email), has(Customer.phone))))),
        select(CaseLine.case_id).where(CaseLine.order_line_id.in_(select(OrderLine.id).where(
            or_(has(OrderLine.sku), has(OrderLine.title))))),
    )


def _fts(match: str):
    def hits(table: str):
        return select(literal_column("rowid")).select_from(text(table)).where(
            text(f"{table} MATCH :{table}_q").bindparams(**{f"{table}_q": match}))

    return union(
        hits("cases_fts"),
        select(Case.id).where(Case.order_id.in_(hits("orders_fts"))),
        select(Case.id).where(Case.customer_id.in_(hits("customers_fts"))),
        select(CaseLine.case_id).where(CaseLine.order_line_id.in_(hits("order_lines_fts"))),
    )
