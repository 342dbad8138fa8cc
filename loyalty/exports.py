"""CSV exports: every CSV the product writes goes through here, so no cell can run as a spreadsheet formula."""

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: object) -> object:
    """A cell made inert: text a spreadsheet would run gets a leading apostrophe, even "-1" (numbers go as numbers)."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return f"'{text}"
    return text


class _Line:
    """A file-like object whose write returns the line, so csv.writer formats one row at a time."""

    def write(self, value: str) -> str:
        return value


_writer = csv.writer(_Line(), lineterminator="\r\n")


def csv_line(cells: Iterable[object]) -> str:
    """One CSV line (with its CRLF), every cell neutralised."""
    return _writer.writerow([csv_cell(cell) for cell in cells])


def csv_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV document: the header, then the rows."""
    return csv_line(header) + "".join(csv_line(row) for row in rows)


def csv_download(content: str | Iterator[str], *, filename: str) -> HttpResponse | StreamingHttpResponse:
    """A CSV attachment; an iterator of lines streams (long exports), a string is sent whole."""
    if isinstance(content, str):
        response = HttpResponse(content, content_type=CSV_CONTENT_TYPE)
    else:
        response = StreamingHttpResponse(content, content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
