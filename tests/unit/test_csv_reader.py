"""The streaming CSV reader: encodings, delimiters, line numbers, bad rows, header checks, resuming, chunking."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald import errors
from herald.imports import reader
from herald.imports.reader import Dialect, RowError

UTF8 = Dialect("utf-8", ",", 0)


def read(data: bytes, dialect: Dialect | None = None, *, chunk: int | None = None, skip: int = 0
         ) -> list[tuple[int, list[str]] | RowError]:
    dialect = dialect or reader.sniff(data[:reader.HEAD_BYTES])
    pieces = [data] if chunk is None else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return list(reader.rows(iter(pieces), dialect, skip_rows=skip))


def invalid(call: object, *args: object) -> errors.Invalid:
    assert callable(call)
    with pytest.raises(errors.Invalid) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(("data", "expected"), [
    (b"\xef\xbb\xbfemail,name\r\na@b.co,Zo\xc3\xab\r\n", Dialect("utf-8", ",", 3)),
    (codecs.BOM_UTF16_LE + "email;name\r\na@b.co;Zoë\r\n".encode("utf-16-le"), Dialect("utf-16-le", ";", 2)),
    (codecs.BOM_UTF16_BE + "email\tname\na@b.co\tZoë\n".encode("utf-16-be"), Dialect("utf-16-be", "\t", 2)),
    ("email,name\r\na@b.co,Zoë\r\n".encode("utf-16-le"), Dialect("utf-16-le", ",", 0)),
    ("email,name\r\na@b.co,Zoë\r\n".encode("utf-16-be"), Dialect("utf-16-be", ",", 0)),
    ("name;city\nJosé;Zürich\nFrançois;€5\n".encode("cp1252"), Dialect("cp1252", ";", 0)),
    (b"email|name\na@b.co|Ann\n", Dialect("utf-8", "|", 0)),
    (b"name;amount\nAnn;1,50\nBob;2,00\n", Dialect("utf-8", ";", 0)),
    (b'"last, first",email\n"Doe, Jane",j@d.co\n', Dialect("utf-8", ",", 0)),
    (b"email\na@b.co\n", Dialect("utf-8", ",", 0)),
    (b"name,note\nAnn,\"a\tb\tc\"\nBob,x\n", Dialect("utf-8", ",", 0)),
])
def test_sniff_finds_encoding_bom_and_delimiter(data: bytes, expected: Dialect) -> None:
    assert reader.sniff(data) == expected


def test_sniff_accepts_a_utf8_character_cut_at_the_end_of_the_head() -> None:
    data = ("email,name\n" + "a@b.co,Zoë\n" * 6000).encode()
    head = data[:reader.HEAD_BYTES]
    cut = head.rfind("ë".encode()) + 1
    assert reader.sniff(head[:cut]).encoding == "utf-8"
    assert reader.sniff(head).encoding == "utf-8"


@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_file"),
    (codecs.BOM_UTF8, "empty_file"),
    (b"PK\x03\x04\x14\x00\x06\x00", "not_csv"),
    ("名前,メール\n山田太郎,yamada@example.jp\n鈴木花子,suzuki@example.jp\n".encode("shift_jis"), "unknown_encoding"),
    ("Имя,Почта\nИван Петров,ivan@example.ru\nМария,maria@example.ru\n".encode("cp1251"),  # noqa: RUF001
     "unknown_encoding"),
    (b"name\nbad \x81 byte and \xff\xfe\n", "unknown_encoding"),
    (b"name\x00,x\n\x01\x02", "unknown_encoding"),
])
def test_sniff_refuses_what_it_cannot_read_without_guessing(data: bytes, code: str) -> None:
    problem = invalid(reader.sniff, data)
    assert problem.code == code
    if code == "unknown_encoding" and b"\x81" in data:
        assert "UTF-8, UTF-16 or Windows-1252" in problem.detail


@pytest.mark.parametrize(("text", "encoding"), [
    ("name,city\nJosé,Zürich\nFrançois,€5\n", "cp1252"),
    ("name,city\nJosé,Zürich\nFrançois,€5\n", "utf-8"),
    ("name,city\nJosé,Zürich\nFrançois,€5\n", "utf-16-le"),
])
def test_non_ascii_text_comes_through_unchanged(text: str, encoding: str) -> None:
    data = text.encode(encoding)
    assert reader.sniff(data).encoding == encoding
    assert read(data) == [(2, ["José", "Zürich"]), (3, ["François", "€5"])]


def test_a_cp1252_row_in_a_utf8_file_is_reported_and_the_others_come_through() -> None:
    data = ("email,name\nzoe@x.co,Zoë\n".encode() + "jose@x.co,José\n".encode("cp1252")
            + "rene@x.co,René\nann@x.co,Ann\n".encode())
    assert reader.sniff(data).encoding == "utf-8"
    out = read(data)
    assert out[0] == (2, ["zoe@x.co", "Zoë"])
    assert isinstance(out[1], RowError)
    assert out[1].row_number == 3
    assert out[1].code == "undecodable_row"
    assert "not valid UTF-8 (mixed encodings?)" in out[1].reason
    assert out[2:] == [(4, ["rene@x.co", "René"]), (5, ["ann@x.co", "Ann"])]


def test_an_ascii_file_with_one_cp1252_row_is_read_as_cp1252_without_garbling() -> None:
    data = b"email,name\nann@x.co,Ann\n" + "jose@x.co,José\n".encode("cp1252")
    assert reader.sniff(data).encoding == "cp1252"
    assert read(data) == [(2, ["ann@x.co", "Ann"]), (3, ["jose@x.co", "José"])]


def test_a_utf8_row_in_a_cp1252_file_is_reported_not_shown_as_mojibake() -> None:
    data = "name\nJosé\nFrançois\nMüller\n".encode("cp1252") + "Zoë\n".encode() + "Ann\n".encode("cp1252")
    assert reader.sniff(data).encoding == "cp1252"
    out = read(data)
    assert out[:3] == [(2, ["José"]), (3, ["François"]), (4, ["Müller"])]
    assert isinstance(out[3], RowError)
    assert (out[3].row_number, out[3].code) == (5, "undecodable_row")
    assert out[4] == (6, ["Ann"])


def test_undefined_cp1252_bytes_later_in_the_file_are_reported() -> None:
    data = "name\nJosé\n".encode("cp1252") + b"bad \x81\nAnn\n"
    out = read(data, Dialect("cp1252", ",", 0))
    assert out[0] == (2, ["José"])
    assert isinstance(out[1], RowError)
    assert out[1].row_number == 3
    assert out[2] == (4, ["Ann"])


def test_broken_utf16_is_reported_per_row() -> None:
    data = codecs.BOM_UTF16_LE + "name\nAnn\n".encode("utf-16-le") + b"\x00\xd8B\x00\n\x00" \
        + "Bob\n".encode("utf-16-le")
    out = read(data)
    assert out[0] == (2, ["Ann"])
    assert isinstance(out[1], RowError)
    assert (out[1].row_number, out[1].reason) == (
        3, "is not valid UTF-16; save the file as CSV UTF-8 and upload it again")
    assert out[2] == (4, ["Bob"])


def test_line_numbers_are_physical_lines_with_quoted_newlines_and_blank_lines() -> None:
    data = (b'id,note,email\r\n'
            b'1,"two\r\nlines",a@b.co\r\n'
            b'\r\n'
            b'2,"three\nmixed\r\nlines",c@d.co\n'
            b',,\n'
            b'3,"say ""hi""",e@f.co\r'
            b'4,=SUM(A1), x@y.co \r\n'
            b'\n')
    assert read(data) == [
        (2, ["1", "two\r\nlines", "a@b.co"]),
        (5, ["2", "three\nmixed\r\nlines", "c@d.co"]),
        (9, ["3", 'say "hi"', "e@f.co"]),
        (10, ["4", "=SUM(A1)", " x@y.co "]),
    ]


def test_the_last_row_needs_no_newline_and_a_bom_is_skipped_only_at_the_start() -> None:
    data = codecs.BOM_UTF8 + "name,x\n\ufeffAnn,1\nBob,2".encode()
    assert reader.read_header(data) == ["name", "x"]
    assert read(data) == [(2, ["\ufeffAnn", "1"]), (3, ["Bob", "2"])]
    assert read(data, chunk=1) == read(data)


@pytest.mark.parametrize(("line", "reason"), [
    (b"1,2,3,4,5", "has 5 fields; the header has 4"),
    (b"1,2,3", "has 3 fields; the header has 4"),
    (b"1,2,3,4,,x", "has 6 fields; the header has 4"),
])
def test_ragged_rows_are_reported(line: bytes, reason: str) -> None:
    out = read(b"a,b,c,d\n" + line + b"\n1,2,3,4\n")
    assert out == [RowError(2, reason, "wrong_field_count"), (3, ["1", "2", "3", "4"])]


def test_trailing_empty_fields_from_excel_are_dropped() -> None:
    assert read(b"a,b,,\n1,2,,\n3,4\n5,6,,,,\n") == [(2, ["1", "2"]), (3, ["3", "4"]), (4, ["5", "6"])]


def test_a_ragged_row_spanning_lines_says_so() -> None:
    out = read(b'a,b,c\n1,"open\n2,3\n')
    assert out == [RowError(2, "has 2 fields; the header has 3 (it runs from line 2 to 3: check for an unbalanced "
                               "quote)", "wrong_field_count")]


def test_a_field_over_64_kib_is_a_row_error_and_reading_goes_on() -> None:
    big = "x" * (reader.MAX_FIELD + 1)
    data = f"a,b\n1,{big}\n2,ok\n".encode()
    out = read(data)
    assert out == [RowError(2, f"has a field of {reader.MAX_FIELD + 1} characters; at most {reader.MAX_FIELD} fit",
                            "field_too_long"), (3, ["2", "ok"])]


def test_a_stray_quote_that_runs_away_is_reported_and_the_following_rows_still_come_through() -> None:
    lines = [f"{i},person{i}@example.com" for i in range(3, 20003)]
    data = ('id,email\n1,"stray@example.com\n' + "\n".join(lines) + "\n").encode()
    out = read(data, chunk=4096)
    assert isinstance(out[0], RowError)
    assert (out[0].row_number, out[0].code) == (2, "field_too_long")
    assert "unbalanced quote" in out[0].reason
    assert out[1] == (3, ["3", "person3@example.com"])
    assert out[-1] == (20002, ["20002", "person20002@example.com"])
    assert len(out) == 1 + len(lines)


def test_a_line_over_1_mib_stops_the_import() -> None:
    data = b"a\n" + b"x" * (reader.MAX_RECORD + 10) + b"\n"
    with pytest.raises(errors.Invalid) as caught:
        read(data, UTF8)
    assert caught.value.code == "line_too_long"


@pytest.mark.parametrize(("data", "code", "words"), [
    (b"\nemail\n", "empty_header", "empty"),
    (b",,\n1,2,3\n", "empty_header", "empty"),
    (b"email,,name\n", "blank_column", "Column 2 has no name"),
    (b"Email, phone ,EMAIL \n", "duplicate_column", 'Columns 1 and 3 are both called "EMAIL"'),
    (",".join(f"c{i}" for i in range(201)).encode() + b"\n", "too_many_columns", "201 columns"),
    (b'"email\nname",x\n', "invalid_column_name", "unbalanced quote"),
    (b"email,n\xe9\n", "invalid_header", "not valid UTF-8"),
])
def test_header_problems_are_refused_with_the_column_named(data: bytes, code: str, words: str) -> None:
    for call in (lambda: reader.read_header(data, UTF8), lambda: read(data, UTF8)):
        with pytest.raises(errors.Invalid) as caught:
            call()
        assert (caught.value.code, caught.value.field) == (code, "header")
        assert words in caught.value.detail


def test_header_names_are_stripped_and_trailing_blank_columns_ignored() -> None:
    header = reader.read_header(b"\xef\xbb\xbf Email ,\tName,,\r\na@b.co,Ann,,\r\n")
    assert header == ["Email", "Name"]
    assert isinstance(header, reader.Header)


def test_a_header_longer_than_the_head_is_refused() -> None:
    head = b"a" * reader.HEAD_BYTES
    assert invalid(reader.read_header, head, UTF8).code == "header_too_long"


def test_the_header_from_a_truncated_head_matches_the_whole_file() -> None:
    data = ("email,name\n" + "a@b.co,Zoë\n" * 10000).encode()
    assert reader.read_header(data[:reader.HEAD_BYTES]) == ["email", "name"]


def test_resuming_skips_exactly_the_items_already_yielded() -> None:
    data = (b"a,b\n1,2\n\n" + b"x\xff,1\n" + b"3,4,5\n" + b'5,"six\nlines"\n' + b"7,8\n")
    full = read(data, UTF8)
    assert len(full) == 5
    for skip in range(7):
        assert read(data, UTF8, skip=skip) == full[skip:]


def test_resuming_on_a_different_file_is_refused() -> None:
    rows = reader.rows([b"a,b\n1,2\n"], UTF8, expect=["a", "c"])
    with pytest.raises(errors.Invalid) as caught:
        next(rows)
    assert caught.value.code == "header_changed"


SAMPLE = ('id,name,note\r\n1,Zoë,"multi\r\nline ""quoted"" 🎉"\r\n\r\n2,José,€ and £\n3,"a,b",\r'
          '4,𝄞 clef,"x\ny"\r\n5,end,')


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "utf-16", "cp1252"]),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30))
def test_any_chunking_gives_the_same_rows(encoding: str, cuts: list[int]) -> None:
    text = SAMPLE if encoding != "cp1252" else SAMPLE.replace("🎉", "!").replace("𝄞", "#")
    data = text.encode(encoding)
    dialect = reader.sniff(data)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert list(reader.rows(iter(pieces), dialect)) == list(reader.rows(iter([data]), dialect))
    assert list(reader.rows(iter(pieces), dialect)) == [
        (2, ["1", "Zoë", 'multi\r\nline "quoted" ' + ("🎉" if encoding != "cp1252" else "!")]),
        (5, ["2", "José", "€ and £"]), (6, ["3", "a,b", ""]),
        (7, ["4", ("𝄞" if encoding != "cp1252" else "#") + " clef", "x\ny"]), (9, ["5", "end", ""]),
    ]


TRICKY = ["", " ", '"', '""', "a,b", "a;b", "x\r\ny", "x\ny", "x\ry", "\u2028", "\x85", "\x0c", "=SUM(A1)", "\ufeff"]
FIELD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12) | (
    st.sampled_from(TRICKY))


@settings(max_examples=300, deadline=None)
@given(delimiter=st.sampled_from(reader.DELIMITERS), terminator=st.sampled_from(["\r\n", "\n", "\r"]),
       table=st.lists(st.lists(FIELD, min_size=3, max_size=3), max_size=8))
def test_whatever_csv_writes_reads_back_with_its_line_numbers(
        delimiter: str, terminator: str, table: list[list[str]]) -> None:
    out = io.StringIO(newline="")
    quoting = csv.QUOTE_MINIMAL if terminator == "\r\n" else csv.QUOTE_ALL
    writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(["a", "b", "c"])
    expected, line = [], 2
    for row in table:
        writer.writerow(row)
        joined = "".join(row)
        if joined and not joined.isspace():
            expected.append((line, row))
        line += 1 + len(re.findall("\r\n|\r|\n", joined))
    data = out.getvalue().encode()
    assert list(reader.rows([data], Dialect("utf-8", delimiter, 0))) == expected


def _byte_chunks(data: bytes) -> Iterator[bytes]:
    yield b""
    for i in range(len(data)):
        yield b""
        yield data[i:i + 1]


def test_one_byte_chunks_and_empty_chunks_are_fine() -> None:
    data = SAMPLE.encode("utf-8-sig")
    dialect = reader.sniff(data)
    assert list(reader.rows(_byte_chunks(data), dialect)) == read(data)


@pytest.mark.parametrize(("column", "target"), [
    ("Mobile", "phone"), ("MSISDN", "phone"), ("Phone Number", "phone"), ("cell", "phone"), ("phone_number", "phone"),
    ("E-mail", "email"), ("Email Address", "email"), ("mail", "email"),
    ("Customer ID", "external_id"), ("customer_id", "external_id"), ("ID", "external_id"),
    ("External-ID", "external_id"), ("Account", "external_id"),
    ("Full Name", "name"), ("First Name", "first_name"), ("given_name", "first_name"), ("Surname", "last_name"),
    ("Family Name", "last_name"), ("Last name", "last_name"), ("Language", "locale"), ("lang", "locale"),
    ("TZ", "timezone"), ("Time Zone", "timezone"), ("DOB", "birthday"), ("Date of Birth", "birthday"),
    ("birth-date", "birthday"), ("Marketing Consent", "consent:direct_marketing"),
    ("Direct Marketing", "consent:direct_marketing"), ("Opt-In", "consent:direct_marketing"),
    ("Affiliate Marketing", "consent:affiliate_marketing"), ("Third Party", "consent:affiliate_marketing"),
    ("Service Consent", "consent:service"), ("Top of list", "priority"), ("VIP", "priority"),
    ("Priority", "priority"), ("Favourite colour", "field:Favourite colour"),
])
def test_auto_map_recognises_common_column_names(column: str, target: str) -> None:
    assert reader.auto_map([column]) == {column: target}


def test_auto_map_gives_a_second_column_for_a_taken_target_its_own_field() -> None:
    assert reader.auto_map(["Phone", "Mobile", "Email", "Notes"]) == {
        "Phone": "phone", "Mobile": "field:Mobile", "Email": "email", "Notes": "field:Notes"}


def test_validate_mapping_completes_a_partial_mapping_around_the_users_choices() -> None:
    header = ["Mobile", "Phone", "E-mail", "Tier", "Colour"]
    mapping = {"phone": "ignore", "Mobile": "phone", "tier": "attribute:tier", " Colour ": "field:colour"}
    assert reader.validate_mapping(header, mapping) == {
        "Mobile": "phone", "Phone": "ignore", "E-mail": "email", "Tier": "attribute:tier", "Colour": "field:colour"}
    assert reader.validate_mapping(["Phone", "Mobile"], {"Mobile": "phone"}) == {
        "Phone": "field:Phone", "Mobile": "phone"}


@pytest.mark.parametrize(("mapping", "words"), [
    ({"Fax": "phone"}, 'the mapping names the column "Fax", which is not in the file'),
    ({"Email": "emails"}, '"emails" (for the column "Email") is not a target'),
    ({"Email": "attribute:"}, "is not a target"),
    ({"Email": "consent:newsletter"}, "is not a target"),
    ({"Email": "email", "Mobile": "email"}, 'the columns "Email" and "Mobile" both map to email'),
    ({"Email": "attribute:x", "Mobile": "attribute:x"}, "both map to attribute:x"),
    ({"Email": "email", "EMAIL": "ignore"}, 'the column "Email" is mapped twice'),
])
def test_validate_mapping_refuses_unusable_mappings(mapping: dict[str, str], words: str) -> None:
    problem = invalid(reader.validate_mapping, ["Email", "Mobile"], mapping)
    assert (problem.code, problem.field) == ("invalid_mapping", "mapping")
    assert words in problem.detail


def test_validate_mapping_names_every_problem_at_once() -> None:
    problem = invalid(reader.validate_mapping, ["Email"], {"Fax": "phone", "Email": "nope"})
    assert problem.errors is not None
    assert len(problem.errors) == 2
