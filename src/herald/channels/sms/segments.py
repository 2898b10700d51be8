"""SMS encoding and segmentation: which encoding a text needs, how many billed segments it takes, and the
segments' texts (for concatenated SMS with a UDH, e.g. over SMPP).

Encodings:

* **GSM-7** when every character is in the GSM 03.38 *default* alphabet or its *default* extension table.
  Extension characters (``^ { } \\ [ ~ ] | €`` and form feed) are sent as ESC + character and count
  2 septets. One segment holds 160 septets; a concatenated one holds 153 (the UDH takes the rest).
  Herald uses only the default alphabet and the default extension table: no national language locking or
  single shift tables (Turkish, Spanish, Portuguese, Indian), because support for them on handsets and
  SMSCs is patchy. So ``ş ğ`` and the dotless i (U+0131), or ``á ç`` (lowercase), force UCS-2, while the
  default alphabet's own non-ASCII letters (``é è ù ì ò Ç Ø ø Å å Ä Ö Ñ Ü ä ö ñ ü à ß Æ æ É``, the Greek
  capitals ``Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ`` and ``£ ¥ ¤ § ¿ ¡``) stay GSM-7.
* **UCS-2** otherwise (strictly UTF-16, as every modern handset decodes it): one segment holds 70 UTF-16
  code units, a concatenated one 67. A character outside the Basic Multilingual Plane (most emoji) takes
  a surrogate pair: 2 units.

Segments are counted by packing, never by division: an ESC + character pair and a surrogate pair are never
split across segments, so a segment can end one unit short of its limit.

The alphabet comes from the ``gsm0338`` codec's tables (decoded once at import, then checked by encoding
each character back). The codec itself is not used per message: it encodes a character at a time (about
15,000 encodes/s for a 150-character text here), it maps U+001B (ESC) to a bare escape septet, which would
swallow the next character, and its incremental encoder/decoder are broken (``AttributeError``).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Literal

import gsm0338  # importing it registers the "gsm03.38" codec
from gsm0338.charset import BASIC_CHARACTER_SET_EXTENSION

Encoding = Literal["GSM-7", "UCS-2"]
GSM7: Encoding = "GSM-7"
UCS2: Encoding = "UCS-2"
GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
_ESC = 0x1B
_SHOWN_UCS2 = 10  # characters named in the UCS-2 warning; the field lists all of them


def _gsm_tables() -> tuple[str, str]:
    """The default alphabet (127 characters: ESC is not a character) and the default extension table."""
    codec = gsm0338.Codec()
    basic, _ = codec.decode(bytes(b for b in range(0x80) if b != _ESC))
    ext, _ = codec.decode(b"".join(bytes((_ESC, key)) for key in sorted(BASIC_CHARACTER_SET_EXTENSION)))
    septets = {ch: len(ch.encode("gsm03.38")) for ch in basic + ext}
    if len(basic) != 127 or len(ext) != 10 or len(septets) != 137 or any(
        septets[ch] != (2 if ch in ext else 1) for ch in septets
    ):
        raise RuntimeError("the gsm0338 codec's tables are not the GSM 03.38 default alphabet")
    return basic, ext


GSM7_BASIC, GSM7_EXTENSION = _gsm_tables()
_EXT_SET = frozenset(GSM7_EXTENSION)
_NOT_GSM = re.compile("[^" + re.escape(GSM7_BASIC + GSM7_EXTENSION) + "]")
_EXT = re.compile("[" + re.escape(GSM7_EXTENSION) + "]")
# Astral characters take 2 UTF-16 units; a surrogate code point (possible in a Python str) takes 1.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# http(s)://… or www.… (any case, not inside a word), up to whitespace; trailing sentence punctuation is not
# part of the link. Written to start with a character class: Python's re then skips non-candidates quickly
# (about 2.5x faster than the plain case-insensitive alternation).
_LINK = re.compile(r"[hHwW](?<!\w[hHwW])(?:(?<=[hH])(?i:ttps?://)|(?<=[wW])(?i:ww\.))"
                   r"[^\s<>\"]*[^\s<>\".,;:!?'\u2019)\]}]")
EMPTY_WARNING = "The message is empty: nothing would be sent"


@dataclass(frozen=True, slots=True)
class Analysis:
    """How a text goes out as SMS.

    ``characters`` counts Unicode code points (Python ``len``), not grapheme clusters: 😀 is 1, 👍🏽 is 2
    (emoji + skin-tone modifier), 🇫🇷 is 2 (two regional indicators), 👨‍👩‍👧 is 5 (three emoji, two
    zero-width joiners) and a decomposed é (e + U+0301) is 2. ``units`` is what is billed: septets for
    GSM-7 (extension characters count 2), UTF-16 code units for UCS-2 (astral characters count 2).
    ``per_segment_limit`` is 160/70 for a single segment and 153/67 once the text is concatenated;
    ``remaining_in_last_segment`` is that limit minus the units packed into the last segment.
    """

    encoding: Encoding
    characters: int
    units: int
    segments: int
    per_segment_limit: int
    remaining_in_last_segment: int
    ucs2_characters: tuple[str, ...]  # distinct characters forcing UCS-2, in order of first appearance
    split_links: tuple[str, ...]  # URLs crossing a segment boundary
    warnings: tuple[str, ...]
    over_limit: bool  # segments > max_segments


def _measure(text: str) -> tuple[Encoding, int, re.Match[str] | None]:
    """The encoding, the units, and the first character that forced UCS-2 (None for GSM-7)."""
    forcing = _NOT_GSM.search(text)
    if forcing is None:
        return GSM7, len(text) + len(_EXT.findall(text)), None
    return UCS2, len(text) + len(_ASTRAL.findall(text, forcing.start())), forcing


def _pack(text: str, encoding: Encoding) -> tuple[list[int], int]:
    """Pack a multi-segment text: the offsets where segments 2, 3, … start, and the units in the last.

    Greedy, by whole indivisible items: a character (so ESC + extension character, 2 septets, and an astral
    character, 2 UTF-16 units, are never split) or a surrogate pair written as two code points. Costs go
    into a prefix-sum list built in C (``accumulate``); each boundary is a bisect, not a Python loop per
    character.
    """
    limit, double = (GSM7_MULTI, _EXT) if encoding == GSM7 else (UCS2_MULTI, _ASTRAL)
    n = len(text)
    doubles = [m.start() for m in double.finditer(text)]
    if not doubles and (encoding == GSM7 or _SURROGATE.search(text) is None):  # every item costs 1: slicing
        even = list(range(limit, n, limit))
        return even, n - (even[-1] if even else 0)
    costs = [1] * n
    for i in doubles:
        costs[i] = 2
    prefix = [0, *accumulate(costs)]
    starts: list[int] = []
    start = 0
    while prefix[n] - prefix[start] > limit:
        end = bisect_right(prefix, prefix[start] + limit) - 1
        if encoding == UCS2:
            end = _keep_pair(text, end)
        starts.append(end)
        start = end
    return starts, prefix[n] - prefix[start]


def _keep_pair(text: str, i: int) -> int:
    """``i``, or ``i - 1`` when a boundary at ``i`` would fall between a high and a low surrogate code point."""
    if "\ud800" <= text[i - 1] <= "\udbff" and "\udc00" <= text[i] <= "\udfff":
        return i - 1
    return i


def _split_links(text: str, starts: list[int], single: int) -> tuple[list[str], list[str]]:
    """The links that cross a segment boundary, and a warning for each."""
    links: list[str] = []
    warnings: list[str] = []
    if "://" not in text and "ww." not in text.lower():
        return links, warnings
    for m in _LINK.finditer(text):
        first, last = bisect_right(starts, m.start()) + 1, bisect_right(starts, m.end() - 1) + 1
        if first != last:
            where = f"{first} and {last}" if last == first + 1 else f"{first} to {last}"
            links.append(m.group())
            warnings.append(f"A link is split across segments {where}; keep messages with links within "
                            f"{single} characters")
    return links, warnings


def _show(ch: str) -> str:
    """A character as a person can see it in a warning: invisible ones (NBSP, ZWJ, tab, U+FE0F, combining
    marks) as U+XXXX."""
    if ch.isprintable() and not ch.isspace() and unicodedata.category(ch)[0] not in "MC":
        return ch
    return f"U+{ord(ch):04X}"


def _ucs2_warning(chars: tuple[str, ...]) -> str:
    shown = " ".join(_show(ch) for ch in chars[:_SHOWN_UCS2])
    if len(chars) > _SHOWN_UCS2:
        shown += f" and {len(chars) - _SHOWN_UCS2} more"
    return f"UCS-2 because of: {shown} (replace them to fit {GSM7_SINGLE} characters per segment)"


def analyze(text: str, *, max_segments: int = 10) -> Analysis:
    """Encoding, size, segments and warnings for ``text`` sent as one (possibly concatenated) SMS.

    Fast on the common path (a single GSM-7 segment: two regex scans, no per-character Python loop), as it
    runs on every preview and every campaign message. An empty text is GSM-7 with 0 segments and a warning.
    ``over_limit`` (and a warning) when the segments exceed ``max_segments`` (at least 1).
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if not text:
        return Analysis(GSM7, 0, 0, 0, GSM7_SINGLE, GSM7_SINGLE, (), (), (EMPTY_WARNING,), False)
    encoding, units, forcing = _measure(text)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if forcing is None else (UCS2_SINGLE, UCS2_MULTI)
    ucs2: tuple[str, ...] = ()
    if forcing is not None:
        ucs2 = tuple(dict.fromkeys(_NOT_GSM.findall(text, forcing.start())))
    if units <= single:
        if forcing is None:  # the hot path
            return Analysis(GSM7, len(text), units, 1, single, single - units, (), (), (), False)
        return Analysis(UCS2, len(text), units, 1, single, single - units, ucs2, (), (_ucs2_warning(ucs2),), False)
    starts, last = _pack(text, encoding)
    segments = len(starts) + 1
    links, link_warnings = _split_links(text, starts, single)
    warnings = [f"{segments} segments: each is billed separately"]
    if segments > max_segments:
        warnings.append(f"{segments} segments is over the limit of {max_segments}; shorten the text")
    warnings += link_warnings
    if ucs2:
        warnings.append(_ucs2_warning(ucs2))
    return Analysis(encoding, len(text), units, segments, multi, multi - last, ucs2, tuple(links),
                    tuple(warnings), segments > max_segments)


def split(text: str) -> list[str]:
    """The texts of the segments ``analyze`` counts, in order; ``"".join(split(t)) == t``.

    An empty text has no segments. Concatenation headers are the sender's job (e.g. SMPP with a UDH).
    """
    if not text:
        return []
    encoding, units, _ = _measure(text)
    if units <= (GSM7_SINGLE if encoding == GSM7 else UCS2_SINGLE):
        return [text]
    starts, _ = _pack(text, encoding)
    bounds = [0, *starts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]
