"""The interactions view as a PDF (seed 001: "choosing data columns, and also export as .csv or .pdf"): the
messages a filter shows, newest first, with the columns chosen, as a landscape table to read, print or attach.

A PDF is a document for people, not a data transfer: it holds at most :data:`MAX_ROWS` messages and says so on
its first page when the selection has more (the CSV export holds every row). Cells are plain text cut to
their column's width, not wrapped paragraphs: a paragraph per cell made a full table several seconds of CPU.
The document is laid out in a worker thread, so the event loop goes on serving while it is built. Like the
CSV, it never holds message bodies."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from herald.campaigns.report import fonts, utc
from herald.contacts.models import Contact
from herald.db.session import reading
from herald.messages.exports import COLUMNS
from herald.messages.models import Message

MAX_ROWS = 5000
FONT_SIZE = 7
_WIDTH = landscape(A4)[0] - 2.4 * cm
_WEIGHTS = {"explanation": 4.0, "id": 2.2, "source_id": 2.0, "contact_id": 2.2, "provider_id": 2.0,
            "provider_message_id": 2.2, "template_id": 2.0, "to": 1.8, "from": 1.5, "external_id": 1.5,
            "attempts": 0.7, "channel": 0.8, "state": 1.0, "locale": 0.7}
"""Relative column widths; dates and the rest take 1.4."""


async def response(engine: AsyncEngine, where: list[ColumnElement[bool]], names: list[str],
                   given: Mapping[str, Any]) -> Response:
    """The download (the API's and the console's); ``given`` is the filter's set parts, stated on page one."""
    described = {k: ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in given.items()}
    rows, total = await _read(engine, where, names)
    pdf = await asyncio.to_thread(render, names, rows, total, described, datetime.now(UTC))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="messages.pdf"'})


async def _read(engine: AsyncEngine, where: list[ColumnElement[bool]], names: list[str]
                ) -> tuple[list[Sequence[Any]], int]:
    query = select(*(COLUMNS[n] for n in names)).where(*where)
    if "external_id" in names:
        query = query.outerjoin(Contact, Contact.id == Message.contact_id)
    async with reading(engine) as conn:
        rows = (await conn.execute(query.order_by(Message.id.desc()).limit(MAX_ROWS))).all()
        total = len(rows) if len(rows) < MAX_ROWS else int(
            await conn.scalar(select(func.count()).select_from(Message).where(*where)) or 0)
    return [tuple(r) for r in rows], total


def render(names: list[str], rows: Sequence[Sequence[Any]], total: int, described: Mapping[str, str],
           generated_at: datetime) -> bytes:
    regular, _ = fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=1.2 * cm, rightMargin=1.2 * cm,
                            topMargin=1.2 * cm, bottomMargin=1.2 * cm, title="Messages", author="Herald",
                            creator="Herald", initialFontName=regular)
    doc.build(story(names, rows, total, described, generated_at))
    return buffer.getvalue()


def story(names: list[str], rows: Sequence[Sequence[Any]], total: int, described: Mapping[str, str],
          generated_at: datetime) -> list[Flowable]:
    regular, bold = fonts()
    base = getSampleStyleSheet()
    title = ParagraphStyle("MTitle", parent=base["Title"], fontName=bold, alignment=0)
    note = ParagraphStyle("MNote", parent=base["Normal"], fontName=regular, textColor=colors.grey, leading=13)
    shown = ", ".join(f"{k} = {v}" for k, v in described.items()) or "all messages"
    lines = [f"Filter: {shown}", f"Generated {utc(generated_at)}; newest first."]
    if total > len(rows):
        lines.append(f"The first {len(rows):,} of {total:,} messages: the CSV export holds them all.")
    else:
        lines.append(f"{total:,} message{'s' if total != 1 else ''}.")
    out: list[Flowable] = [Paragraph("Messages", title)]
    out += [Paragraph(escape(line), note) for line in lines]
    out.append(Spacer(1, 0.3 * cm))
    widths = _widths(names)
    data = [names] + [[_cell(value, width) for value, width in zip(row, widths, strict=True)] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), regular, FONT_SIZE),
        ("FONT", (0, 0), (-1, 0), bold, FONT_SIZE),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eceff1")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#fafafa")]),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cfd8dc")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]))
    out.append(table)
    return out


def _widths(names: list[str]) -> list[float]:
    weights = [_WEIGHTS.get(n, 1.4) for n in names]
    return [_WIDTH * w / sum(weights) for w in weights]


def _cell(value: Any, width: float) -> str:
    """The value as text that fits its column on one line (cut with an ellipsis)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    else:
        text = " ".join(str(value).split())  # no line breaks inside a cell
    room = max(4, int((width - 6) / (FONT_SIZE * 0.5)))
    return text if len(text) <= room else text[:room - 1] + "…"
