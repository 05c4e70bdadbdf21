"""CSV files a spreadsheet opens safely: cells it would run as a formula are
prefixed with a quote (OWASP's advice), and the text starts with a byte-order
mark so spreadsheets read it as UTF-8."""

from __future__ import annotations

import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A CSV cell a spreadsheet will not run as a formula (OWASP: prefix a quote)."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def csv_text(header: list[str], rows: list[list]) -> str:
    """The whole file: the BOM, the header and the rows, every cell guarded, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return "\ufeff" + out.getvalue()
