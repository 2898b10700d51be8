"""Reading contact CSVs as users export them (Excel, CRMs, scripts), streaming: a 100 MB file is never held in
memory. At upload, :func:`sniff` and :func:`read_header` look at the first 64 KiB; the background job then walks
the whole file with :func:`rows`, which can resume after a checkpoint. Problems in one row come out as a
:class:`RowError` for that row; the others still come through. Text is never silently garbled: a row that does
not decode in the file's encoding is reported, not guessed at."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from herald import errors

HEAD_BYTES = 64 * 1024
MAX_COLUMNS = 200
MAX_FIELD = 64 * 1024
MAX_RECORD = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
ENCODINGS = ("utf-8", "cp1252", "utf-16-le", "utf-16-be")
_BUFFER = 1 << 16
_BAD_TEXT = re.compile("[\ud800-\udfff]")
_FLAG = "herald-flag"


def _flag(exc: UnicodeError) -> tuple[str, int]:
    """Decoding errors become a lone surrogate (never valid text), so the row is reported, not shown garbled."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "\udfff", exc.end


codecs.register_error(_FLAG, _flag)
_ERRORS = {"utf-8": "surrogateescape", "cp1252": "surrogateescape", "utf-16-le": _FLAG, "utf-16-be": _FLAG}
_AGAIN = "; save the file as CSV UTF-8 and upload it again"
_NOT_DECODED = {"utf-8": "is not valid UTF-8 (mixed encodings?)" + _AGAIN, "utf-16-le": "is not valid UTF-16" + _AGAIN,
                "cp1252": "has bytes that are not Windows-1252 text (mixed encodings?)" + _AGAIN,
                "utf-16-be": "is not valid UTF-16" + _AGAIN}
_CP1252 = "".join(bytes([b]).decode("cp1252", "surrogateescape") for b in range(0x80, 0x100))
_CONT, _LEAD2, _LEAD3, _LEAD4 = (re.escape(_CP1252[a - 0x80:b - 0x80]) for a, b in
                                 ((0x80, 0xC0), (0xC2, 0xE0), (0xE0, 0xF0), (0xF0, 0xF5)))
_UTF8_AS_CP1252 = re.compile(f"[{_LEAD2}][{_CONT}]|[{_LEAD3}][{_CONT}]{{2}}|[{_LEAD4}][{_CONT}]{{3}}")
_HIGH_RUNS = re.compile(rb"[\x80-\xff]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Dialect:
    """How to read a file: its text encoding, delimiter, and how many BOM bytes to skip at its start."""

    encoding: str
    delimiter: str
    bom: int


class Header(list[str]):
    """The validated column names, stripped, in file order (a list, so it is stored and passed as one)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """A data row that could not be read; ``row_number`` is the line where it starts, as an editor shows it."""

    row_number: int
    reason: str
    code: str = "unreadable_row"

    def __str__(self) -> str:
        return f"Line {self.row_number}: {self.reason}"


Row = tuple[int, list[str]]


def _invalid(detail: str, code: str, field: str = "file") -> errors.Invalid:
    return errors.Invalid(detail, code=code, field=field)


def sniff(head: bytes) -> Dialect:
    """The dialect of a file from its first (up to) 64 KiB."""
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise _invalid("This is an Excel workbook, not a CSV file; in Excel choose File → Save As → "
                       "CSV UTF-8 and upload that.", "not_csv")
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise _invalid("The file is UTF-32 text, which is not supported; save it as CSV UTF-8.", "unknown_encoding")
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
    encoding, bom = next(((enc, len(mark)) for mark, enc in boms if head.startswith(mark)), (None, 0))
    body = head[bom:]
    if not body:
        raise _invalid("The file is empty.", "empty_file")
    encoding = encoding or _guess_encoding(body)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(body, final=False)
    return Dialect(encoding, _guess_delimiter(text, complete=len(head) < HEAD_BYTES), bom)


def _guess_encoding(head: bytes) -> str:
    sample = head[:4096]
    half = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if half and odd > half * 0.3 and even < half * 0.05:
        return "utf-16-le"
    if half and even > half * 0.3 and odd < half * 0.05:
        return "utf-16-be"
    if 0 in head:
        raise _invalid("The file holds binary data (NUL bytes), not CSV text.", "unknown_encoding")
    text = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape").decode(head, final=False)
    undecodable = len(_BAD_TEXT.findall(text))
    if not undecodable or len(text) - len(text.encode("ascii", "ignore")) - undecodable >= undecodable:
        return "utf-8"
    if _CONTROL.search(head):
        raise _invalid("The file holds binary data (control characters), not CSV text.", "unknown_encoding")
    runs = _HIGH_RUNS.findall(head)
    high = sum(map(len, runs))
    clustered = sum(len(r) for r in runs if len(r) > 1)
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        pass
    else:
        if high < 8 or clustered * 2 <= high:
            return "cp1252"
    raise _invalid("Could not tell the file's text encoding: it is not UTF-8, UTF-16 or Windows-1252 (cp1252) "
                   "text. Save it as CSV UTF-8 and upload it again.", "unknown_encoding")


def _guess_delimiter(text: str, *, complete: bool) -> str:
    """The delimiter giving the header the most columns and the next lines the same count; ``,`` if none."""
    if not complete:
        text = text[:max(text.rfind("\n"), text.rfind("\r")) + 1]
    best, best_score = ",", (False, 0.0)
    for delimiter in DELIMITERS:
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        counts = [len(r) for _, r in zip(range(20), records, strict=False) if r]
        if not counts or counts[0] < 2:
            continue
        agreeing = sum(c == counts[0] for c in counts) / len(counts)
        score = (agreeing >= 0.8, float(counts[0]) if agreeing >= 0.8 else agreeing)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_header(head: bytes, dialect: Dialect | None = None) -> Header:
    """The validated header row from the first (up to) 64 KiB of the file; raises ``errors.Invalid`` (field
    ``header``) for an empty header, a blank, duplicate, or multi-line column name, or over 200 columns."""
    dialect = dialect or sniff(head)
    complete = len(head) < HEAD_BYTES
    text = codecs.getincrementaldecoder(dialect.encoding)(errors=_ERRORS[dialect.encoding]).decode(
        head[dialect.bom:], final=complete)
    if not complete:
        end = max(text.rfind("\n"), text.rfind("\r"))
        if end < 0:
            raise _invalid("The first line is longer than 64 KiB; this does not look like a CSV file.",
                           "header_too_long", "header")
        text = text[:end + 1]
    return _header(_records(io.StringIO(text, newline=""), dialect.delimiter), dialect)


def rows(chunks: Iterable[bytes], dialect: Dialect, *, skip_rows: int = 0,
         expect: Sequence[str] | None = None) -> Iterator[Row | RowError]:
    """``(line number, fields)`` for each data row of the whole file (``chunks`` from its first byte, split
    anywhere), or a :class:`RowError` in its place. Blank lines are skipped; every other row yields exactly one
    item, so ``skip_rows=N`` resumes after the first N items. ``expect`` (the header read at upload) guards
    against resuming on a different file. A line over 1 MiB raises ``errors.Invalid``: that is not a CSV."""
    if dialect.encoding not in ENCODINGS or dialect.delimiter not in DELIMITERS:
        raise ValueError(f"unsupported dialect {dialect!r}")
    raw = io.BufferedReader(_Chunks(chunks, dialect.bom), _BUFFER)
    text = io.TextIOWrapper(raw, encoding=dialect.encoding, errors=_ERRORS[dialect.encoding], newline="")
    records = _records(text, dialect.delimiter)
    header = _header(records, dialect)
    if expect is not None and list(expect) != header:
        raise _invalid("The file's header is not the one read when it was uploaded.", "header_changed", "header")
    width, skipped, encoding = len(header), 0, dialect.encoding
    check_utf8 = encoding == "cp1252"
    for first, last, fields in records:
        if isinstance(fields, RowError):
            if skipped < skip_rows:
                skipped += 1
            else:
                yield fields
            continue
        joined = "".join(fields)
        if not joined or joined.isspace():
            continue
        if skipped < skip_rows:
            skipped += 1
            continue
        if not joined.isascii():
            if _BAD_TEXT.search(joined):
                yield RowError(first, _NOT_DECODED[encoding], "undecodable_row")
                continue
            if check_utf8 and _UTF8_AS_CP1252.search(joined):
                yield RowError(first, "looks like UTF-8 in a Windows-1252 file (mixed encodings?)" + _AGAIN,
                               "undecodable_row")
                continue
        if len(joined) > MAX_FIELD and max(map(len, fields)) > MAX_FIELD:
            yield RowError(first, f"has a field of {max(map(len, fields))} characters; at most {MAX_FIELD} fit",
                           "field_too_long")
            continue
        count = len(fields)
        if count != width:
            if count > width and not any(fields[width:]):
                del fields[width:]
            else:
                spans = f" (it runs from line {first} to {last}: check for an unbalanced quote)" if last > first \
                    else ""
                yield RowError(first, f"has {count} fields; the header has {width}{spans}", "wrong_field_count")
                continue
        yield first, fields


def _header(records: Iterator[tuple[int, int, list[str] | RowError]], dialect: Dialect) -> Header:
    found = next(records, None)
    if found is None:
        raise _invalid("The file has no header row; the first line must hold the column names.", "empty_header",
                       "header")
    cells = found[2]
    if isinstance(cells, RowError):
        raise _invalid(f"The header row (the first line) {cells.reason}.", "invalid_header", "header")
    names = [cell.strip().strip("\ufeff").strip() for cell in cells]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise _invalid("The first line is empty; it must hold the column names.", "empty_header", "header")
    if _BAD_TEXT.search("".join(names)):
        raise _invalid(f"The header row {_NOT_DECODED[dialect.encoding]}.", "invalid_header", "header")
    if len(names) > MAX_COLUMNS:
        raise _invalid(f"The file has {len(names)} columns; at most {MAX_COLUMNS} are supported.",
                       "too_many_columns", "header")
    seen: dict[str, int] = {}
    for number, name in enumerate(names, 1):
        if not name:
            raise _invalid(f"Column {number} has no name; give every column a name in the first line.",
                           "blank_column", "header")
        if "\n" in name or "\r" in name or len(name) > 200:
            raise _invalid(f"Column {number}'s name is not one short line (check the header for an unbalanced "
                           "quote).", "invalid_column_name", "header")
        key = name.casefold()
        if key in seen:
            raise _invalid(f'Columns {seen[key]} and {number} are both called "{name}"; column names must differ.',
                           "duplicate_column", "header")
        seen[key] = number
    return Header(names)


class _Runaway(Exception):
    """A record grew past MAX_RECORD characters: typically an unbalanced quote swallowing what follows."""


class _Lines:
    """Physical lines for the csv module. It keeps the lines of the record being read, so that a record which
    runs away can be given up and re-read from its second line, and it bounds the memory a record may take."""

    def __init__(self, text: TextIO) -> None:
        self.readline = text.readline
        self.taken: list[str] = []
        self.replay: list[str] = []
        self.size = 0

    def __iter__(self) -> Iterator[str]:
        readline, taken, replay = self.readline, self.taken, self.replay
        while True:
            if replay:
                line = replay.pop()
            else:
                line = readline(MAX_RECORD + 1)
                if not line:
                    return
                if len(line) > MAX_RECORD:
                    raise _invalid(f"A line is longer than {MAX_RECORD} characters; this does not look like a "
                                   "contacts CSV file.", "line_too_long")
            taken.append(line)
            self.size += len(line)
            if self.size > MAX_RECORD:
                raise _Runaway
            yield line


def _records(text: TextIO, delimiter: str) -> Iterator[tuple[int, int, list[str] | RowError]]:
    """``(first line, last line, fields)`` per record, blank ones included; a record that cannot be read gives a
    RowError and reading resumes on the line after its first."""
    source = _Lines(text)
    taken = source.taken
    base = 0
    while True:
        reader = csv.reader(source, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
        done = 0
        try:
            for fields in reader:
                first = base + done + 1
                done = reader.line_num
                taken.clear()
                source.size = 0
                yield first, base + done, fields
            return
        except (csv.Error, _Runaway) as exc:
            first = base + done + 1
            too_long = isinstance(exc, _Runaway) or "field limit" in str(exc)
            reason = (f"has a field or row too long to read (over {MAX_FIELD} characters); check for an "
                      "unbalanced quote") if too_long else f"could not be read as CSV ({exc})"
            source.replay[:] = reversed(taken[1:])
            taken.clear()
            source.size = 0
            base = first
            yield first, first, RowError(first, reason, "field_too_long" if too_long else "malformed_row")


class _Chunks(io.RawIOBase):
    """The byte chunks of a file as a raw stream, without its first ``skip`` (BOM) bytes."""

    def __init__(self, chunks: Iterable[bytes], skip: int) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self._skip = skip

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            view = memoryview(chunk).cast("B")
            if self._skip:
                cut = min(self._skip, len(view))
                view, self._skip = view[cut:], self._skip - cut
            self._pending = view
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


CONTACT_TARGETS = ("external_id", "name", "first_name", "last_name", "email", "phone", "locale", "timezone",
                   "birthday", "priority")
CONSENT_TARGETS = ("consent:direct_marketing", "consent:affiliate_marketing", "consent:service")
_SYNONYMS = {key: target for target, keys in {
    "external_id": "externalid id customerid customer customerno customernumber custno custnr custid clientid "
                   "clientno clientnumber contactid account accountid accountno accountnumber memberid memberno "
                   "membernumber userid kundennummer kundennr",
    "name": "name fullname contactname customername",
    "first_name": "firstname givenname forename first",
    "last_name": "lastname surname familyname last",
    "email": "email emailaddress mail mailaddress",
    "phone": "phone phonenumber mobile mobilenumber mobilephone msisdn cell cellphone cellnumber telephone tel sms",
    "locale": "locale language lang languagecode",
    "timezone": "timezone tz",
    "birthday": "birthday dob dateofbirth birthdate",
    "priority": "priority topoflist vip",
    "consent:direct_marketing": "consentdirectmarketing directmarketing directmarketingconsent marketingconsent "
                                "marketing optin marketingoptin",
    "consent:affiliate_marketing": "consentaffiliatemarketing affiliatemarketing affiliatemarketingconsent "
                                   "affiliate thirdparty thirdpartymarketing thirdpartyconsent",
    "consent:service": "consentservice serviceconsent servicemessages",
}.items() for key in keys.split()}
_NOISE = re.compile(r"[\s_\-.:]+")


def _suggest(column: str) -> str | None:
    return _SYNONYMS.get(_NOISE.sub("", column.casefold()))


def auto_map(header: Sequence[str]) -> dict[str, str]:
    """Each column's target, recognised from common names (``Mobile`` → ``phone``, ``E-mail`` → ``email``,
    ``Opt in`` → ``consent:direct_marketing``); anything else, or a second column for a taken target, becomes
    ``field:<column>``, a per-row custom field."""
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for column in header:
        target = _suggest(column)
        if target is None or target in taken:
            target = f"field:{column}"
        taken.add(target)
        mapping[column] = target
    return mapping


def _valid_target(target: str) -> bool:
    if target in CONTACT_TARGETS or target in CONSENT_TARGETS or target == "ignore":
        return True
    kind, _, name = target.partition(":")
    return kind in ("attribute", "field") and bool(name.strip()) and len(name) <= 100


def validate_mapping(header: Sequence[str], mapping: dict[str, str]) -> dict[str, str]:
    """The full mapping for ``header``: the user's choices (column → contact field, ``consent:<purpose>``,
    ``attribute:<name>``, ``field:<name>`` or ``ignore``) checked, every other column auto-mapped to what is left.
    Raises ``errors.Invalid`` (``invalid_mapping``) naming every problem."""
    columns = {column.casefold(): column for column in header}
    chosen: dict[str, str] = {}
    owners: dict[str, str] = {}
    problems: list[str] = []
    for column, raw_target in mapping.items():
        real, target = columns.get(column.strip().casefold()), raw_target.strip()
        if real is None:
            problems.append(f'the mapping names the column "{column}", which is not in the file')
        elif real in chosen:
            problems.append(f'the column "{real}" is mapped twice')
        elif not _valid_target(target):
            problems.append(f'"{raw_target}" (for the column "{real}") is not a target; use one of '
                            f'{", ".join(CONTACT_TARGETS + CONSENT_TARGETS)}, attribute:<name>, field:<name> or ignore')
        elif target != "ignore" and target in owners:
            problems.append(f'the columns "{owners[target]}" and "{real}" both map to {target}')
        else:
            chosen[real] = target
            if target != "ignore":
                owners[target] = real
    if problems:
        raise errors.Invalid("The column mapping is not usable: " + "; ".join(problems) + ".",
                             code="invalid_mapping", field="mapping", errors=[{"message": p} for p in problems])
    full: dict[str, str] = {}
    for column in header:
        if column not in chosen:
            free = [t for t in (_suggest(column), f"field:{column}") if t and t not in owners]
            chosen[column] = free[0] if free else "ignore"
            owners[chosen[column]] = column
        full[column] = chosen[column]
    return full
