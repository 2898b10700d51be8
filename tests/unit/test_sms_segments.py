# ruff: noqa: RUF001, RUF003  (look-alike characters such as ’ ı × are the test data here)
"""SMS encoding and segmentation: hand-counted cases, then properties checked with hypothesis.

Counting rules used in the comments: GSM-7 = 1 septet per character, 2 for ESC + extension character
(^ { } \\ [ ~ ] | € and form feed); UCS-2 = 1 UTF-16 unit per BMP character, 2 for an astral one (most emoji,
flags' regional indicators, skin-tone modifiers). One segment: 160 septets / 70 units; concatenated:
153 / 67 each, packed greedily without splitting a pair.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.channels.sms.segments import (
    EMPTY_WARNING,
    GSM7_BASIC,
    GSM7_EXTENSION,
    analyze,
    split,
)

CASES = [
    # (id, text, encoding, characters, units, segments)
    ("ascii", "Hello", "GSM-7", 5, 5, 1),
    # "Price: 5" 8 + € 2 + " " 1 + { 2 + "ok" 2 + } 2 = 17 septets, 14 characters
    ("extension-mixed", "Price: 5€ {ok}", "GSM-7", 14, 17, 1),
    # the whole extension table, 10 characters × 2
    ("extension-all", "^{}\\[~]|€\f", "GSM-7", 10, 20, 1),
    # 6 + 1 + 7 + 1 + 10 = 25, all in the default alphabet
    ("accents-in-alphabet", "àèéìòù ÄÖÜäöüß ÑñÅåØøÆæÇÉ", "GSM-7", 25, 25, 1),
    # 10 Greek capitals + space + 8 symbols
    ("greek-and-symbols", "ΔΦΓΛΩΠΨΣΘΞ £¥¤§¿¡@$", "GSM-7", 19, 19, 1),
    ("crlf", "a\r\nb", "GSM-7", 4, 4, 1),
    ("a-acute", "Olá", "UCS-2", 3, 3, 1),  # á is not in the default alphabet
    ("c-cedilla-lowercase", "ça", "UCS-2", 2, 2, 1),  # only capital Ç is
    ("curly-quote", "It’s", "UCS-2", 4, 4, 1),
    ("nbsp", "a\u00a0b", "UCS-2", 3, 3, 1),
    ("tab", "a\tb", "UCS-2", 3, 3, 1),
    ("escape-character", "a\x1bb", "UCS-2", 3, 3, 1),  # U+001B is not text: the codec would send a bare ESC
    ("decomposed-e-acute", "e\u0301", "UCS-2", 2, 2, 1),  # not normalised: sent as written
    # I ğ d ı r space ş e h r i: 11 BMP characters; ğ ı ş need the Turkish tables we do not use
    ("turkish", "Iğdır şehri", "UCS-2", 11, 11, 1),
    # न म स ् त े: 6 code points, all BMP
    ("devanagari", "नमस्ते", "UCS-2", 6, 6, 1),
    ("emoji", "Hi 😀", "UCS-2", 4, 5, 1),  # 3 + 😀 2
    ("skin-tone", "👍🏽", "UCS-2", 2, 4, 1),  # 👍 2 + 🏽 2
    ("zwj-family", "👨\u200d👩\u200d👧", "UCS-2", 5, 8, 1),  # 3 emoji × 2 + 2 ZWJ × 1
    ("flag", "🇫🇷", "UCS-2", 2, 4, 1),  # two regional indicators × 2
    ("heart-vs16", "❤️", "UCS-2", 2, 2, 1),  # U+2764 + U+FE0F, both BMP
    # boundaries, GSM-7
    ("gsm-160", "a" * 160, "GSM-7", 160, 160, 1),
    ("gsm-161", "a" * 161, "GSM-7", 161, 161, 2),  # 153 + 8
    ("gsm-306", "a" * 306, "GSM-7", 306, 306, 2),  # 153 × 2
    ("gsm-307", "a" * 307, "GSM-7", 307, 307, 3),  # 153 × 2 + 1
    ("euro-80", "€" * 80, "GSM-7", 80, 160, 1),  # 80 × 2 = 160
    ("euro-80-plus-1", "€" * 80 + "a", "GSM-7", 81, 161, 2),  # 76 € (152) | 4 € + a (9)
    # 152 a | € would make 154 > 153, so it moves: € + 151 a = 153 | 1 a. Division would say 306/153 = 2.
    ("escape-straddles-153", "a" * 152 + "€" + "a" * 152, "GSM-7", 305, 306, 3),
    # boundaries, UCS-2
    ("ucs2-70", "á" * 70, "UCS-2", 70, 70, 1),
    ("ucs2-71", "á" * 71, "UCS-2", 71, 71, 2),  # 67 + 4
    ("ucs2-134", "á" * 134, "UCS-2", 134, 134, 2),  # 67 × 2
    ("ucs2-135", "á" * 135, "UCS-2", 135, 135, 3),  # 67 × 2 + 1
    ("emoji-fills-70", "á" * 68 + "😀", "UCS-2", 69, 70, 1),  # 68 + 2
    # 66 a | 😀 would make 68 > 67, so it moves: 😀 + 65 a = 67 | 1 a. Division would say 134/67 = 2.
    ("emoji-straddles-67", "a" * 66 + "😀" + "a" * 66, "UCS-2", 133, 134, 3),
]


@pytest.mark.parametrize(("text", "encoding", "characters", "units", "segments"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hand_counted(text: str, encoding: str, characters: int, units: int, segments: int) -> None:
    a = analyze(text)
    assert (a.encoding, a.characters, a.units, a.segments) == (encoding, characters, units, segments)
    assert len(split(text)) == segments
    assert "".join(split(text)) == text


def test_pairs_are_never_split_at_the_boundary() -> None:
    text = "a" * 152 + "€" + "a" * 152
    assert [len(s) for s in split(text)] == [152, 152, 1]
    assert split(text)[1].startswith("€")
    a = analyze(text)
    assert (a.per_segment_limit, a.remaining_in_last_segment) == (153, 152)

    text = "a" * 66 + "😀" + "a" * 66
    assert [len(s) for s in split(text)] == [66, 66, 1]
    assert split(text)[1].startswith("😀")

    loose = "a" * 66 + "\ud83d\ude00" + "a" * 66  # the same pair as two surrogate code points
    assert analyze(loose).units == 134
    assert split(loose)[1].startswith("\ud83d\ude00")


def test_limits_and_remaining() -> None:
    assert (analyze("a" * 150).per_segment_limit, analyze("a" * 150).remaining_in_last_segment) == (160, 10)
    assert (analyze("a" * 161).per_segment_limit, analyze("a" * 161).remaining_in_last_segment) == (153, 145)
    a = analyze("á" * 71)  # 67 | 4
    assert (a.per_segment_limit, a.remaining_in_last_segment) == (67, 63)
    a = analyze("á" * 69 + "😀")  # 71 units: 67 á | 2 á + 😀 = 4
    assert (a.segments, a.remaining_in_last_segment) == (2, 63)


def test_default_alphabet_letters_stay_gsm_and_others_force_ucs2() -> None:
    for ch in "éèùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉÄÖÑÜ§¿äöñüà£¥¤¡":
        assert analyze(ch).encoding == "GSM-7", ch
        assert analyze(ch).units == 1, ch
    for ch in "áçíóúãõâêôşğıœ’“”…–\u00a0":
        assert analyze(ch).encoding == "UCS-2", ch
    assert len(GSM7_BASIC) == 127  # 128 code points minus the escape
    assert sorted(GSM7_EXTENSION) == sorted("^{}\\[~]|€\f")


def test_ucs2_characters_are_distinct_in_order_and_explained() -> None:
    a = analyze("It’s café time 😀 — it’s 😀")
    assert a.ucs2_characters == ("’", "😀", "—")
    assert "UCS-2 because of: ’ 😀 — (replace them to fit 160 characters per segment)" in a.warnings
    assert analyze("Iğdır şehri").ucs2_characters == ("ğ", "ı", "ş")
    # invisible ones are named by code point
    assert "UCS-2 because of: U+00A0 U+200D" in analyze("a\u00a0b\u200d").warnings[0]
    assert analyze("plain text").ucs2_characters == ()


def test_empty() -> None:
    a = analyze("")
    assert (a.encoding, a.units, a.segments, a.characters, a.over_limit) == ("GSM-7", 0, 0, 0, False)
    assert a.warnings == (EMPTY_WARNING,)
    assert "empty" in a.warnings[0]
    assert split("") == []


def test_segments_warning() -> None:
    assert analyze("a" * 160).warnings == ()
    assert "3 segments: each is billed separately" in analyze("a" * 307).warnings


def test_link_across_the_153_boundary_is_reported() -> None:
    url = "https://example.com/track/ABC123"  # 32 characters
    text = "x" * 140 + " " + url + " " + "y" * 30  # url at 141..172, boundary at 153; 205 septets
    a = analyze(text)
    assert a.segments == 2
    assert a.split_links == (url,)
    assert ("A link is split across segments 1 and 2; keep messages with links within 160 characters"
            in a.warnings)

    text = "x" * 140 + " www.example.com/t/1. " + "y" * 30  # the trailing full stop is not part of it
    assert analyze(text).split_links == ("www.example.com/t/1",)


def test_link_inside_one_segment_is_not_reported() -> None:
    text = "Track: https://example.com/t/1 " + "z" * 200  # url at 7..29, all in segment 1
    a = analyze(text)
    assert a.segments == 2
    assert a.split_links == ()
    assert not any("link" in w for w in a.warnings)
    assert analyze("See https://example.com/" + "p" * 100).split_links == ()  # one segment: nothing to split
    # a link ending exactly at the boundary (offset 153) is not split
    assert analyze("x" * 133 + " https://ex.co/abc" + " " + "y" * 40).split_links == ()


def test_long_link_across_several_segments() -> None:
    url = "https://example.com/" + "p" * 300
    a = analyze("Go " + url)
    assert a.split_links == (url,)
    assert any("segments 1 to 3" in w for w in a.warnings)


def test_over_limit() -> None:
    text = "a" * (153 * 3 + 1)  # 4 segments
    assert analyze(text, max_segments=3).over_limit
    assert any("over the limit of 3" in w for w in analyze(text, max_segments=3).warnings)
    assert not analyze(text, max_segments=4).over_limit
    assert not analyze(text).over_limit  # default 10
    assert analyze("a" * (153 * 11)).over_limit
    with pytest.raises(ValueError, match="max_segments"):
        analyze("a", max_segments=0)


# --- properties -----------------------------------------------------------------------------------------

PIECES = [*"abc XYZ09.,!?\n@£é", *GSM7_EXTENSION, "á", "’", "ş", "न", "\u200d", "😀", "👍🏽", "🇫🇷",
          "https://ex.co/abc", "www.example.com", "\ud83d\ude00", "\udc00"]  # a loose pair, a lone low
texts = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=400).map("".join),
    st.lists(st.sampled_from([*"abc {}[]€~ .", "https://ex.co/x"]), max_size=500).map("".join),  # GSM only
    st.text(max_size=400),
)


def units_of(segment: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return len(segment.encode("gsm03.38"))  # the codec, as an independent count
    return len(segment.encode("utf-16-le", "surrogatepass")) // 2


@settings(max_examples=400, deadline=None)
@given(texts)
def test_split_reassembles_and_fits(text: str) -> None:
    a = analyze(text, max_segments=50)
    parts = split(text)
    assert "".join(parts) == text
    if text:
        assert a.segments == len(parts)
        assert all(parts)
    assert a.units == units_of(text, a.encoding)
    limit = a.per_segment_limit
    used = [units_of(p, a.encoding) for p in parts]
    assert all(u <= limit for u in used)
    if parts:
        assert limit - used[-1] == a.remaining_in_last_segment
        assert a.over_limit == (a.segments > 50)
    for prev, part in pairwise(parts):
        if a.encoding == "GSM-7":
            assert not prev.encode("gsm03.38").endswith(b"\x1b")  # an escape never left behind
        else:
            first = part.encode("utf-16-le", "surrogatepass")[:2]
            last = prev.encode("utf-16-le", "surrogatepass")[-2:]
            low = 0xDC00 <= int.from_bytes(first, "little") <= 0xDFFF
            high = 0xD800 <= int.from_bytes(last, "little") <= 0xDBFF
            assert not (low and high), "a surrogate pair was split"
    # greedy: a segment is closed only when the next item would not fit
    for i, part in enumerate(parts[1:]):
        loose_pair = len(part) > 1 and "\ud800" <= part[0] <= "\udbff" and "\udc00" <= part[1] <= "\udfff"
        item = part[:2] if a.encoding == "UCS-2" and loose_pair else part[0]
        assert used[i] + units_of(item, a.encoding) > limit


@settings(max_examples=200, deadline=None)
@given(texts)
def test_encoding_matches_the_codec(text: str) -> None:
    try:
        text.encode("gsm03.38")
        encodable = "\x1b" not in text  # the codec accepts U+001B as a bare escape; we do not
    except UnicodeEncodeError:
        encodable = False
    a = analyze(text)
    assert a.encoding == ("GSM-7" if encodable else "UCS-2")
    assert bool(a.ucs2_characters) == (not encodable)
    assert len(set(a.ucs2_characters)) == len(a.ucs2_characters)
