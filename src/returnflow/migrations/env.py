"""Alembic environment: uses the connection handed over by returnflow.schema, or the configured URL."""

from alembic import context
from sqlalchemy import create_engine

from returnflow import models  # noqa: F401  (registers every table)
from returnflow.cases.search import include_object
from returnflow.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=conn.dialect.name == "sqlite", include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()


run()
