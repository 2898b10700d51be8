"""Reading a reply for a keyword. Case, surrounding spaces and punctuation do not matter, and a keyword with
polite filler ("stop please", "unsubscribe me", "Please STOP!") counts; anything else ("don't stop", "stop
sending offers but keep alerts") is left for a person rather than guessed."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

OPT_OUT, OPT_IN, HELP, REPLY, EVENT = "opt_out", "opt_in", "help", "reply", "event"
ACTIONS = (OPT_OUT, OPT_IN, HELP, REPLY, EVENT)
# The carriers' standard words (CTIA, Twilio's defaults) and their equivalents in the languages customers write.
DEFAULTS: dict[str, frozenset[str]] = {
    OPT_OUT: frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
                        "stopp", "abmelden", "arret", "baja", "parar", "annuleren", "afmelden"}),
    OPT_IN: frozenset({"start", "yes", "unstop", "subscribe", "optin", "anmelden", "aanmelden"}),
    HELP: frozenset({"help", "info", "hilfe", "aide", "ayuda", "ajuda", "hulp"}),
}
FILLER = frozenset({"please", "pls", "plz", "me", "now", "thanks", "thank", "you", "thx", "all", "bitte",
                    "danke", "merci", "svp", "por", "favor", "gracias", "ok", "okay"})
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Match:
    action: str
    keyword: str


def _fold(text: str) -> str:
    # "ARRÊT" and "arret" are the same word to a person typing on a phone.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(word: str) -> str:
    """A keyword as replies are compared with it: "Opt-Out!" and "optout" are the same word."""
    return "".join(_WORDS.findall(_fold(word)))


def reserved(word: str) -> str | None:
    """The built-in action a word already has (opt-out words can never be given another meaning)."""
    folded = fold(word)
    return next((action for action, words in DEFAULTS.items() if folded in words), None)


def read(body: str, custom: dict[str, frozenset[str]] | None = None) -> Match | None:
    """The keyword action in ``body``, or None when there is none or it is not clear. ``custom`` adds words
    per action (built-in or ``reply`` / ``event``)."""
    words = _WORDS.findall(_fold(body))
    if not words or len(words) > 6:
        return None
    extra = custom or {}
    table = {action: DEFAULTS.get(action, frozenset()) | extra.get(action, frozenset())
             for action in (*DEFAULTS, *extra)}
    joined = "".join(words)  # "opt-out", "Opt out", "STOP ALL"
    for action, keys in table.items():
        if joined in keys:
            return Match(action, joined.upper())
    found = [(action, word) for word in words for action, keys in table.items() if word in keys]
    others = [w for w in words if w not in FILLER and not any(w in keys for keys in table.values())]
    if others or not found or len({action for action, _ in found}) != 1:
        return None
    action, word = found[0]
    return Match(action, word.upper())
