"""Per-test isolation: empty only the tables the last test wrote to, found with one query, instead of every table.

TRUNCATE costs PostgreSQL a new file per table (and CASCADE from `merchants` reaches nearly every table), so the
tables with rows are emptied with DELETE, children before parents, and the id sequences a test used start again
at 1 (as TRUNCATE ... RESTART IDENTITY did). SQLite takes the same path: one probe, then a DELETE per dirty table.
"""

from __future__ import annotations

from sqlalchemy import inspect, text

from returnflow.db import Base, Database


class TableEmptier:
    """Knows the database's tables once (FK-safe order, PostgreSQL's owned sequences) and empties the dirty ones."""

    def __init__(self, db: Database, keep: set[str]) -> None:
        self.db = db
        # The models' tables, children first. Not SQLite's full-text tables: triggers on their source tables keep
        # them, and a DELETE on their shadow tables would corrupt the index.
        present = set(inspect(db.engine).get_table_names()) - keep
        self.order = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in present]
        quote = db.engine.dialect.identifier_preparer.quote
        probes = [f"SELECT '{name}' AS name WHERE EXISTS (SELECT 1 FROM {quote(name)})" for name in self.order]
        self.sequences: dict[str, list[str]] = {}
        self.starts: dict[str, int] = {}
        if db.dialect == "postgresql":
            with db.engine.connect() as conn:
                owned = conn.execute(text(
                    "SELECT t.relname, s.relname, q.seqstart FROM pg_class s JOIN pg_sequence q ON q.seqrelid = s.oid "
                    "JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
                    "AND d.deptype IN ('a', 'i') JOIN pg_class t ON t.oid = d.refobjid "
                    "JOIN pg_namespace n ON n.oid = s.relnamespace "
                    "WHERE s.relkind = 'S' AND n.nspname = current_schema()")).all()
            for table, sequence, start in owned:
                if table in present:
                    self.sequences.setdefault(table, []).append(sequence)
                    self.starts[sequence] = start
            # A table whose rows were written and removed again still advanced its sequence: that counts as dirty.
            pairs = ", ".join(f"('{s}', '{t}')" for t, seqs in self.sequences.items() for s in seqs)
            if pairs:
                probes.append(f"SELECT v.t FROM (VALUES {pairs}) AS v(s, t) JOIN pg_sequences p "
                              "ON p.sequencename = v.s AND p.schemaname = current_schema() "
                              "WHERE p.last_value IS NOT NULL")
        self.probe = text(" UNION ALL ".join(probes))
        self.quote = quote

    def dirty(self, conn) -> set[str]:
        return set(conn.execute(self.probe).scalars())

    def empty(self, conn) -> list[str]:
        """Empties every table that has rows (or used ids); returns their names in the order they were emptied."""
        dirty = self.dirty(conn)
        emptied = [name for name in self.order if name in dirty]
        if not emptied:
            return emptied
        if self.db.dialect == "postgresql":
            # Every table with rows is emptied, so no reference can dangle: the foreign-key checks (a look-up in
            # each referencing table per deleted row) are skipped for this transaction, as TRUNCATE skips them.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for name in emptied:
            conn.execute(text(f"DELETE FROM {self.quote(name)}"))
        restarts = [f"setval('{self.quote(s)}', {self.starts[s]}, false)"
                    for name in emptied for s in self.sequences.get(name, ())]
        if restarts:
            conn.execute(text("SELECT " + ", ".join(restarts)))
        return emptied
