"""The FLOOR for bench/lifecycle.py: the least a FastAPI write endpoint can cost on the same stack.

One `async def` POST that validates a small pydantic body and does one INSERT in its own transaction, through an
engine built by `returnflow.db.make_engine` (so SQLite gets the same WAL, synchronous=NORMAL, busy_timeout and
BEGIN IMMEDIATE as returnflow; PostgreSQL the same psycopg pool). The database comes from FLOOR_DATABASE_URL.

    FLOOR_DATABASE_URL=sqlite:///tmp/floor.db uvicorn floor_app:app --app-dir bench --workers 1
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert

from returnflow.db import make_engine
from returnflow.web import JSON

URL = os.environ.get("FLOOR_DATABASE_URL", "sqlite:///floor.db")
engine = make_engine(URL)
metadata = MetaData()
items = Table(
    "bench_floor_items", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ref", String(100), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("note", String(500), nullable=False),
)
STMT = insert(items)


class ItemIn(BaseModel):
    ref: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=1_000_000)
    note: str = Field(default="", max_length=500)


@asynccontextmanager
async def lifespan(_app: FastAPI):
    metadata.create_all(engine)
    yield
    engine.dispose()


app = FastAPI(lifespan=lifespan, default_response_class=JSON)


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@app.post("/items", status_code=201)
async def create_item(body: ItemIn) -> JSON:
    with engine.begin() as conn:
        new_id = conn.execute(STMT.values(ref=body.ref, quantity=body.quantity, note=body.note)).inserted_primary_key[0]
    return JSON({"id": new_id, "ref": body.ref}, status_code=201)
