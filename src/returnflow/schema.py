"""Brings a database to the current schema with Alembic (the only way the schema changes)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from .db import Database
from .cases.reasons import seed_defaults

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_341_202_611  # any constant; names the advisory lock that serialises migrations


def alembic_config(url: str):
    # Alembic (with Mako and Pygments, ~0.15 s) loads when the schema is checked or changed, not in every process.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(db: Database) -> None:
    """Upgrades to head, then writes reference data that must exist (the default reason taxonomy)."""
    from alembic import command

    config = alembic_config(db.url)
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several servers may start at once on one database: one migrates, the others wait, then find it done.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()

    with db.transaction() as session:
        seed_defaults(session)
