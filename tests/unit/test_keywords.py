"""Keyword reading: exact words and polite phrases in several languages match; anything unclear does not."""

from __future__ import annotations

import pytest

from herald.inbound import keywords

CASES = [
    ("STOP", "opt_out"), (" stop ", "opt_out"), ("Stop.", "opt_out"), ("STOP!!!", "opt_out"), ("stopall", "opt_out"),
    ("Unsubscribe me", "opt_out"), ("stop please", "opt_out"), ("Please STOP", "opt_out"), ("stop all", "opt_out"),
    ("CANCEL", "opt_out"), ("end", "opt_out"), ("QUIT", "opt_out"), ("revoke", "opt_out"), ("opt-out", "opt_out"),
    ("Opt out", "opt_out"), ("un-stop", "opt_in"),
    ("OPTOUT", "opt_out"), ("Stopp bitte", "opt_out"), ("ARRÊT", "opt_out"), ("baja por favor", "opt_out"),
    ("START", "opt_in"), ("yes", "opt_in"), ("Unstop", "opt_in"),
    ("HELP", "help"), ("info?", "help"), ("Hilfe", "help"), ("ayuda", "help"), ("🙂 help", "help"),
    ("don't stop", None), ("stop sending offers but keep my alerts", None), ("stop start", None),
    ("", None), ("   ", None), ("Thanks!", None), ("When does the branch open?", None), ("🙂", None),
]


@pytest.mark.parametrize(("body", "action"), CASES)
def test_keywords_are_read_or_left_for_a_person(body: str, action: str | None) -> None:
    found = keywords.read(body)
    assert (found.action if found else None) == action


def test_custom_keywords_add_to_the_defaults() -> None:
    custom = {keywords.OPT_OUT: frozenset({"basta"})}
    assert keywords.read("BASTA", custom) == keywords.Match("opt_out", "BASTA")
    assert keywords.read("basta") is None
