"""A campaign's results as a PDF report for people: what was planned, what happened, what was skipped and why,
what failed and why, and when messages went out.

It is built from plain data (`ReportData`), so it can be tested and rendered without a database. Text comes from
users (campaign names, skip and failure reasons), so it is escaped before platypus parses it as markup, and a
Unicode TrueType font (DejaVu Sans if installed, else reportlab's bundled Vera) is used everywhere so that names in
other scripts are not drawn as black boxes. Long tables repeat their header and split across pages.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT, FONT_BOLD = "HeraldSans", "HeraldSans-Bold"
_DEJAVU, _VERA = Path("/usr/share/fonts/truetype/dejavu"), Path(reportlab.__file__).parent / "fonts"
_FONT_FILES = (
    (_DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"),
    (_VERA / "Vera.ttf", _VERA / "VeraBd.ttf"),
)
# The order of the summary table; counters not listed here follow, alphabetically.
_COUNTER_ORDER = ("total", "planned", "queued", "sending", "sent", "delivered", "failed", "skipped", "cancelled")
_OUTCOMES = (
    ("delivered", colors.HexColor("#2e7d32")),
    ("sent", colors.HexColor("#66bb6a")),
    ("failed", colors.HexColor("#c62828")),
    ("skipped", colors.HexColor("#f9a825")),
    ("cancelled", colors.HexColor("#757575")),
    ("queued", colors.HexColor("#1565c0")),
)
_WIDTH = A4[0] - 4 * cm  # the frame's width with 2 cm margins
_HOUR_STEPS = (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720)


@dataclass(frozen=True, slots=True)
class ReportData:
    workspace: str
    campaign_id: str
    name: str
    channel: str  # "sms" | "email"
    state: str  # draft|scheduled|running|paused|completed|stopped
    classification: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counters: Mapping[str, int]  # total, planned, queued, sending, sent, delivered, failed, skipped, cancelled ...
    skipped: Mapping[str, int]  # skip reason -> count
    failed: Mapping[str, int]  # failure reason -> count
    timeline: Sequence[tuple[datetime, int]]  # (hour bucket start UTC, messages sent in that hour)
    generated_at: datetime


@functools.cache
def fonts() -> tuple[str, str]:
    """Register the report's regular and bold fonts once per process; returns their names."""
    for regular, bold in _FONT_FILES:
        if regular.is_file() and bold.is_file():
            pdfmetrics.registerFont(TTFont(FONT, str(regular)))
            pdfmetrics.registerFont(TTFont(FONT_BOLD, str(bold)))
            pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)
            return FONT, FONT_BOLD
    raise RuntimeError("no TrueType font found for the campaign report")


def utc(moment: datetime | None) -> str:
    """An ISO date and time to the minute, in UTC (naive datetimes are taken to be UTC already)."""
    if moment is None:
        return "-"
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%d %H:%M UTC")


def percent(count: int, whole: int) -> str:
    return f"{100 * count / whole:.1f}%" if whole > 0 else "-"


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = fonts()
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("HTitle", parent=base["Title"], fontName=bold, alignment=0),
        "subtitle": ParagraphStyle("HSub", parent=base["Normal"], fontName=regular, textColor=colors.grey, leading=14),
        "h2": ParagraphStyle("HH2", parent=base["Heading2"], fontName=bold),
        "body": ParagraphStyle("HBody", parent=base["Normal"], fontName=regular),
        "cell": ParagraphStyle("HCell", parent=base["Normal"], fontName=regular, fontSize=9, leading=11),
    }


def _table(rows: list[list[Any]], widths: Sequence[float]) -> Table:
    regular, bold = fonts()
    table = Table(rows, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), regular, 9),
        ("FONT", (0, 0), (-1, 0), bold, 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#fafafa")]),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _reasons(title: str, heading: str, counts: Mapping[str, int], whole: int, none: str) -> list[Flowable]:
    styles = _styles()
    out: list[Flowable] = [Paragraph(escape(title), styles["h2"])]
    if not any(counts.values()):
        return [*out, Paragraph(escape(none), styles["body"])]
    ordered = sorted(((r, n) for r, n in counts.items() if n), key=lambda item: (-item[1], item[0]))
    rows: list[list[Any]] = [[heading, "Count", "% of total"]]
    rows += [[Paragraph(escape(r), styles["cell"]), f"{n:,}", percent(n, whole)] for r, n in ordered]
    return [*out, _table(rows, (_WIDTH - 6 * cm, 3 * cm, 3 * cm))]


def _outcome_chart(counters: Mapping[str, int]) -> Drawing:
    regular, _ = fonts()
    drawing = Drawing(_WIDTH, 190, initialFontName=regular)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 50, 30, _WIDTH - 70, 145
    chart.data = [[counters.get(key, 0) for key, _ in _OUTCOMES]]
    chart.categoryAxis.categoryNames = [_label(key) for key, _ in _OUTCOMES]
    chart.categoryAxis.labels.fontName = chart.valueAxis.labels.fontName = regular
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labelTextFormat = "{:,.0f}".format
    for index, (_, colour) in enumerate(_OUTCOMES):
        chart.bars[(0, index)].fillColor = colour
    drawing.add(chart)
    return drawing


def _timeline_chart(points: Sequence[tuple[datetime, int]]) -> Drawing:
    regular, _ = fonts()
    ordered = sorted(points)
    first = ordered[0][0]
    data = [((moment - first).total_seconds() / 3600, count) for moment, count in ordered]
    span = max(data[-1][0], 1.0)
    drawing = Drawing(_WIDTH, 200, initialFontName=regular)
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 50, 50, _WIDTH - 70, 140
    plot.data = [data]
    plot.lines[0].strokeColor = colors.HexColor("#1565c0")
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0, span
    plot.xValueAxis.valueStep = next((s for s in _HOUR_STEPS if span / s <= 8), _HOUR_STEPS[-1])
    plot.xValueAxis.labelTextFormat = lambda hours: utc(first + timedelta(hours=hours))[5:16]
    plot.xValueAxis.labels.angle, plot.xValueAxis.labels.boxAnchor = 30, "ne"
    plot.yValueAxis.valueMin = 0
    plot.yValueAxis.valueMax = max(1, max(count for _, count in data))
    plot.yValueAxis.labelTextFormat = "{:,.0f}".format
    plot.xValueAxis.labels.fontName = plot.yValueAxis.labels.fontName = regular
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 8
    drawing.add(plot)
    return drawing


def story(data: ReportData) -> list[Flowable]:
    """The report's flowables, in order (exposed so that tests can check the content without text extraction)."""
    styles = _styles()
    counters = data.counters
    whole = counters.get("total", 0) or sum(counters.get(key, 0) for key, _ in _OUTCOMES)
    subtitle = [
        f"Workspace {escape(data.workspace)} · campaign {escape(data.campaign_id)}",
        f"{escape(data.channel.upper())} · {escape(data.classification)} · state: {escape(data.state)}",
        f"Created {utc(data.created_at)} · started {utc(data.started_at)} · finished {utc(data.finished_at)}",
    ]
    out: list[Flowable] = [
        Paragraph(escape(data.name), styles["title"]),
        Paragraph("<br/>".join(subtitle), styles["subtitle"]),
        Spacer(1, 0.4 * cm),
        Paragraph("Summary", styles["h2"]),
    ]
    keys = [k for k in _COUNTER_ORDER if k in counters] + sorted(k for k in counters if k not in _COUNTER_ORDER)
    rows: list[list[Any]] = [["Counter", "Messages"]]
    rows += [[_label(k), f"{counters[k]:,}"] for k in keys if k == "total" or counters[k]]
    if "total" not in counters:
        rows.insert(1, ["Total", f"{whole:,}"])
    out += [_table(rows, (6 * cm, 3 * cm)), Paragraph("Outcomes", styles["h2"])]
    if any(counters.get(key, 0) for key, _ in _OUTCOMES):
        out.append(_outcome_chart(counters))
    else:
        out.append(Paragraph("No outcomes yet.", styles["body"]))
    out += _reasons("Skipped, by reason", "Skip reason", data.skipped, whole, "Nothing was skipped.")
    out += _reasons("Failed, by reason", "Failure reason", data.failed, whole, "Nothing failed.")
    out.append(Paragraph("Sent per hour (UTC)", styles["h2"]))
    if data.timeline:
        out.append(_timeline_chart(data.timeline))
    else:
        out.append(Paragraph("Nothing sent yet.", styles["body"]))
    return out


def _build(data: ReportData, compress: bool, pages: int | None) -> tuple[bytes, int]:
    regular, _ = fonts()
    buffer = io.BytesIO()
    seen = [0]

    def footer(canvas: Any, doc: Any) -> None:
        seen[0] = doc.page
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(2 * cm, 1.2 * cm, f"Generated {utc(data.generated_at)}")
        total = f" of {pages}" if pages else ""
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"Page {doc.page}{total}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm, bottomMargin=2 * cm,
        title=data.name, author="Herald", creator="Herald", pageCompression=1 if compress else 0,
        initialFontName=regular,
    )
    doc.build(story(data), onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue(), seen[0]


def render(data: ReportData, *, compress: bool = True) -> bytes:
    """The report as PDF bytes. Laid out twice: the first pass counts the pages for the "Page n of m" footer."""
    _, pages = _build(data, compress, None)
    pdf, _ = _build(data, compress, pages)
    return pdf
