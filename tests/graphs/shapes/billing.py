"""Types of the shape graphs' state: pydantic models, dataclasses and enums, nested.

A sibling module of the graphs, so its types are named `billing.*` in every process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class Currency(StrEnum):
    EUR = "EUR"
    USD = "USD"


class LineItem(BaseModel):
    description: str
    amount: float


class Invoice(BaseModel):
    invoice_id: str
    amount: float
    currency: Currency
    lines: list[LineItem]


@dataclass
class Address:
    city: str
    country: str


@dataclass
class Payee:
    name: str
    address: Address
    tags: list[str] = field(default_factory=list)


def invoice_from(raw: dict[str, Any]) -> Invoice:
    return Invoice.model_validate(raw)


def payee_from(raw: dict[str, Any]) -> Payee:
    return Payee(
        name=raw["name"], address=Address(**raw["address"]), tags=list(raw.get("tags", []))
    )
