"""The analytics page and the CSV of each of its tables."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, render_template

from portal.admin import report
from portal.admin.tables import csv_value
from portal.admin.views import bp
from portal.billing.subscriptions import grace_period
from portal.extensions import db
from portal.models import utcnow

#: Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: str) -> str:
    """Free text (tenant names come from sign-up) that a spreadsheet will not run."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _report() -> report.Report:
    return report.build(db.session(), utcnow(), grace_period())


@bp.get("/")
def index() -> str:
    """MRR, churn, conversion, payments and usage, each with its definition."""
    return render_template("admin/index.html", report=_report())


@bp.get("/analytics/<table_id>.csv")
def analytics_csv(table_id: str) -> Response:
    """One table of the analytics page as CSV (money in dollars, rates in percent)."""
    built = _report()
    table = built.table(table_id)
    if table is None:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out)
    header = []
    for column in table.columns:
        header += ["Tenant id", "Tenant"] if column.kind == "tenant" else [column.name]
    writer.writerow(header)
    for row in table.rows:
        cells = []
        for column, value in zip(table.columns, row, strict=True):
            if column.kind == "tenant":
                cells += [str(value), _text_cell(built.names.get(value, ""))]
            elif column.kind == "text":
                cells.append(_text_cell(csv_value(value, column.kind)))
            else:
                cells.append(csv_value(value, column.kind))
        writer.writerow(cells)
    stamp = f"{built.now:%Y-%m-%d}"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{table_id}-{stamp}.csv"'},
    )
