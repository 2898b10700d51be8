"""The interactions view's PDF: the columns chosen, cells cut to fit, the filter and the size of the selection
said on the first page, long selections split across pages with the header repeated."""

from __future__ import annotations

from datetime import UTC, datetime

from reportlab.platypus import Paragraph, Table

from herald.messages import pdfexport

AT = datetime(2026, 12, 3, 21, 40, 5, tzinfo=UTC)
NAMES = ["id", "to", "state", "explanation", "sent_at"]


def row(i: int) -> tuple[object, ...]:
    return (f"msg_{i:04d}", "+14155550100", "delivered", "Accepted by twilio (SM123) " * 20 + "\nend", AT)


def texts(story: list[object]) -> list[str]:
    return [f.getPlainText() for f in story if isinstance(f, Paragraph)]


def test_the_table_holds_the_columns_chosen_with_cells_cut_to_fit() -> None:
    story = pdfexport.story(NAMES, [row(1), row(2)], 2, {"channel": "sms", "state": "delivered"}, AT)
    table = next(f for f in story if isinstance(f, Table))
    cells = table._cellvalues
    assert cells[0] == NAMES
    assert cells[1][:3] == ["msg_0001", "+14155550100", "delivered"]
    assert cells[1][3].endswith("…")
    assert "\n" not in cells[1][3]
    assert len(cells[1][3]) < 120
    assert cells[1][4] == "2026-12-03 21:40:05"
    assert texts(story)[1:] == ["Filter: channel = sms, state = delivered",
                                "Generated 2026-12-03 21:40 UTC; newest first.", "2 messages."]


def test_a_capped_selection_says_how_much_it_holds_and_hostile_text_stays_text() -> None:
    story = pdfexport.story(NAMES, [row(1)], 12_345, {"to": "<b>x</b> & y"}, AT)
    assert texts(story)[1] == "Filter: to = <b>x</b> & y"
    assert texts(story)[3] == "The first 1 of 12,345 messages: the CSV export holds them all."


def test_a_long_selection_splits_across_pages() -> None:
    pdf = pdfexport.render(NAMES, [row(i) for i in range(600)], 600, {}, AT)
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") > 5
