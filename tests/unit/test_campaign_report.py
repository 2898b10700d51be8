"""The campaign report PDF: it renders, says what happened, survives hostile names and splits long tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reportlab.graphics.shapes import Drawing
from reportlab.platypus import Flowable, Paragraph, Table

from herald.campaigns import report
from herald.campaigns.report import ReportData

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def completed() -> ReportData:
    return ReportData(
        workspace="Acme",
        campaign_id="cmp_01HZY",
        name="Spring sale",
        channel="sms",
        state="completed",
        classification="marketing",
        created_at=START - timedelta(days=1),
        started_at=START,
        finished_at=START + timedelta(hours=3, minutes=12),
        counters={"total": 200, "planned": 0, "sent": 40, "delivered": 120, "failed": 10, "skipped": 30,
                  "cancelled": 0, "queued": 0},
        skipped={"no_consent": 5, "opted_out": 15, "dnc:Collections": 10},
        failed={"carrier_rejected": 6, "invalid_number": 4},
        timeline=[(START + timedelta(hours=h), n) for h, n in enumerate((50, 70, 30, 20))],
        generated_at=START + timedelta(days=2, seconds=30),
    )


def empty() -> ReportData:
    return replace(completed(), state="draft", started_at=None, finished_at=None, counters={}, skipped={},
                   failed={}, timeline=[])


def texts(story: list[Flowable]) -> list[str]:
    return [f.getPlainText() for f in story if isinstance(f, Paragraph)]


def table_after(story: list[Flowable], heading: str) -> list[list[str]]:
    """The cell texts of the first table after the heading paragraph (Paragraph cells as their plain text)."""
    index = texts_index(story, heading)
    table = next(f for f in story[index:] if isinstance(f, Table))
    return [[c.getPlainText() if isinstance(c, Paragraph) else str(c) for c in row] for row in table._cellvalues]


def texts_index(story: list[Flowable], text: str) -> int:
    return next(i for i, f in enumerate(story) if isinstance(f, Paragraph) and f.getPlainText() == text)


def page_count(pdf: bytes) -> int:
    return pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")


def assert_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")


def test_a_completed_campaign_renders_every_section() -> None:
    data = completed()
    pdf = report.render(data, compress=False)
    assert_pdf(pdf)
    assert page_count(pdf) >= 1
    assert b"/BaseFont /Helvetica" not in pdf  # one TrueType font everywhere, embedded as a subset
    assert b"+DejaVuSans" in pdf or b"+BitstreamVeraSans" in pdf

    story = report.story(data)
    paragraphs = texts(story)
    assert paragraphs[0] == "Spring sale"
    for part in ("Acme", "cmp_01HZY", "SMS", "marketing", "state: completed", "2025-03-01 09:00 UTC",
                 "2025-03-01 12:12 UTC"):
        assert part in paragraphs[1]
    for heading in ("Summary", "Outcomes", "Skipped, by reason", "Failed, by reason", "Sent per hour (UTC)"):
        assert heading in paragraphs
    assert "Nothing sent yet." not in paragraphs
    assert sum(isinstance(f, Drawing) for f in story) == 2  # the outcome chart and the timeline

    summary = table_after(story, "Summary")
    assert summary[0] == ["Counter", "Messages"]
    assert summary[1:] == [["Total", "200"], ["Sent", "40"], ["Delivered", "120"], ["Failed", "10"],
                           ["Skipped", "30"]]  # zero counters are left out

    failed = table_after(story, "Failed, by reason")
    assert failed[1:] == [["carrier_rejected", "6", "3.0%"], ["invalid_number", "4", "2.0%"]]


def test_skip_reasons_are_sorted_by_count_with_their_share_of_the_total() -> None:
    skipped = table_after(report.story(completed()), "Skipped, by reason")
    assert skipped[0] == ["Skip reason", "Count", "% of total"]
    assert skipped[1:] == [["opted_out", "15", "7.5%"], ["dnc:Collections", "10", "5.0%"], ["no_consent", "5", "2.5%"]]


def test_percentages_round_to_one_decimal_and_survive_a_zero_total() -> None:
    assert report.percent(1, 3) == "33.3%"
    assert report.percent(2, 3) == "66.7%"
    assert report.percent(7, 7) == "100.0%"
    assert report.percent(0, 0) == "-"
    data = replace(completed(), counters={"total": 3}, skipped={"opted_out": 1, "no_consent": 2}, failed={})
    assert [row[2] for row in table_after(report.story(data), "Skipped, by reason")[1:]] == ["66.7%", "33.3%"]


def test_an_empty_campaign_says_so() -> None:
    data = empty()
    pdf = report.render(data)
    assert_pdf(pdf)
    assert page_count(report.render(data, compress=False)) == 1

    story = report.story(data)
    paragraphs = texts(story)
    for sentence in ("No outcomes yet.", "Nothing was skipped.", "Nothing failed.", "Nothing sent yet."):
        assert sentence in paragraphs
    assert not any(isinstance(f, Drawing) for f in story)
    assert table_after(story, "Summary")[1:] == [["Total", "0"]]
    assert "started - · finished -" in paragraphs[1]


def test_a_hostile_name_renders_literally_in_any_script() -> None:
    name = "<b>x & y</b> Ωμέγα Привет مرحبا <para>"
    data = replace(completed(), name=name, workspace="R&D <ops>", skipped={"<i>odd</i> & reason": 3})
    assert_pdf(report.render(data))

    story = report.story(data)
    title = story[0]
    assert isinstance(title, Paragraph)
    assert title.getPlainText() == name  # markup shown as text, not applied
    assert "&lt;b&gt;x &amp; y&lt;/b&gt;" in title.text
    assert "R&D <ops>" in texts(story)[1]
    assert table_after(story, "Skipped, by reason")[1][0] == "<i>odd</i> & reason"


def test_the_registered_font_covers_non_latin_letters() -> None:
    from reportlab.pdfbase import pdfmetrics

    regular, bold = report.fonts()
    assert report.fonts() == (regular, bold)  # registered once
    face = pdfmetrics.getFont(regular).face
    for letter in "ΩЖم":
        assert ord(letter) in face.charToGlyph


def test_two_hundred_skip_reasons_and_a_month_of_hours_split_across_pages() -> None:
    skipped = {f"dnc:List number {i:03d}": 1000 - i for i in range(200)}
    timeline = [(START + timedelta(hours=h), (h * 37) % 500) for h in range(24 * 30)]
    data = replace(completed(), counters={"total": 500_000, "sent": 300_000, "skipped": sum(skipped.values())},
                   skipped=skipped, timeline=timeline)
    pdf = report.render(data, compress=False)
    assert_pdf(pdf)
    pages = page_count(pdf)
    assert pages > 1

    rows = table_after(report.story(data), "Skipped, by reason")
    assert len(rows) == 201
    assert rows[1] == ["dnc:List number 000", "1,000", "0.2%"]
    assert rows[-1] == ["dnc:List number 199", "801", "0.2%"]
    compressed = report.render(data)
    assert_pdf(compressed)
    assert len(compressed) < len(pdf)


def test_naive_datetimes_are_taken_as_utc_and_aware_ones_converted() -> None:
    from datetime import timezone

    assert report.utc(datetime(2025, 1, 2, 3, 4, 59)) == "2025-01-02 03:04 UTC"
    assert report.utc(datetime(2025, 1, 2, 5, 4, tzinfo=timezone(timedelta(hours=2)))) == "2025-01-02 03:04 UTC"
    assert report.utc(None) == "-"
