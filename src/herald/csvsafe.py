"""CSV for people to open in spreadsheets: UTF-8 with a BOM (Excel reads it right) and every cell that a
spreadsheet would run as a formula neutralised (CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_TRIGGERS) else text


def rows(header: Sequence[str], data: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text, a line at a time (for a streaming response), BOM first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    yield "\ufeff" + buffer.getvalue()
    for row in data:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([cell(v) for v in row])
        yield buffer.getvalue()
