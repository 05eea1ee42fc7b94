"""Constrained field types for request schemas: whole numbers bounded by the INTEGER columns that store them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, GetJsonSchemaHandler

from .guard import INT32_MAX

RowId = Annotated[int, Field(ge=1, le=INT32_MAX, description="A record's id")]
LineNo = Annotated[int, Field(ge=1, le=INT32_MAX)]
Version = Annotated[int, Field(ge=1, le=INT32_MAX, description="The record version the caller last saw")]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]

# A decimal amount as the API takes it: a JSON number or a decimal string (never NaN or Infinity). The string form's
# pattern is published so clients, and the fuzz test, know which strings are amounts.
DECIMAL_PATTERN = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


class _DecimalText:
    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        schema = handler(core_schema)
        for branch in schema.get("anyOf", []):
            if branch.get("type") == "string":
                branch["pattern"] = DECIMAL_PATTERN
        return schema


Money = Annotated[Decimal, _DecimalText]  # pydantic refuses NaN and Infinity for Decimal by default


# For a line picked by its number or its SKU: the schema says one of them is needed, as the model validator does.
LINE_OR_SKU = {"anyOf": [{"required": ["line_no"], "properties": {"line_no": {"type": "integer"}}},
                         {"required": ["sku"], "properties": {"sku": {"type": "string"}}}]}
