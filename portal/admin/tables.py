"""The analytics page's building blocks: headline figures and tables (each with its definition,
its CSV and maybe a chart), and how their raw values are shown.

Values stay raw (cents as ``Decimal``, ratios, ints); ``Column.kind`` says how the page and the
CSV show them, so both read the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from markupsafe import Markup

from portal.web.formatting import format_money


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text, int, money (cents), percent (a ratio), date, tenant (an id)


@dataclass
class Table:
    id: str
    title: str
    definition: str
    columns: list[Column]
    rows: list[Sequence[Any]] = field(default_factory=list)
    chart: Markup | None = None


@dataclass(frozen=True)
class Figure:
    id: str
    label: str
    value: str
    definition: str


def cents(value: Decimal | int) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(value: Decimal | int) -> str:
    return format_money(cents(value))


def percent(value: Decimal | float | None) -> str:
    return "n/a" if value is None else f"{Decimal(str(value)) * 100:.1f} %"


def money_axis(value: float) -> str:
    return format_money(cents(Decimal(str(value))))[:-3]  # whole dollars on the axis


def csv_value(value: Any, kind: str) -> str:
    """A cell as the CSV writes it: dollars for money, a percentage for ratios, ISO dates."""
    if value is None:
        return ""
    if kind == "money":
        return f"{Decimal(cents(value)) / 100:.2f}"
    if kind == "percent":
        return f"{Decimal(str(value)) * 100:.1f}"
    if kind == "date" and isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)
