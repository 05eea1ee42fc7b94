"""Constrained field types for request schemas: whole numbers bounded by the INTEGER columns that store them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .guard import INT32_MAX

RowId = Annotated[int, Field(ge=1, le=INT32_MAX, description="A record's id")]
LineNo = Annotated[int, Field(ge=1, le=INT32_MAX)]
Version = Annotated[int, Field(ge=1, le=INT32_MAX, description="The record version the caller last saw")]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
