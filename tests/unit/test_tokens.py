"""Verified tokens are remembered per keyring, never past their expiry, never across keyrings."""

from __future__ import annotations

import time

import pytest

from herald import errors
from herald.auth import tokens
from herald.crypto import Keyring


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = Keyring("a-secret-key-0123456789abcdef")
    full_checks: list[str] = []
    real = tokens._verify
    monkeypatch.setattr(tokens, "_verify", lambda k, t: full_checks.append(t) or real(k, t))
    token = tokens.issue(keyring, workspace_id="ws_1", client_id="cli_1", scopes=["events:write"], ttl=3)
    assert tokens.verify(keyring, token) == tokens.verify(keyring, token)
    assert len(full_checks) == 1  # the second answer was remembered
    time.sleep(3.1)
    with pytest.raises(errors.NotAuthenticated) as info:
        tokens.verify(keyring, token)
    assert info.value.code == "token_expired"


def test_a_token_remembered_by_one_keyring_is_not_valid_for_another() -> None:
    signer = Keyring("a-secret-key-0123456789abcdef")
    token = tokens.issue(signer, workspace_id="ws_1", client_id="cli_1", scopes=[], ttl=60)
    assert tokens.verify(signer, token).workspace_id == "ws_1"
    with pytest.raises(errors.NotAuthenticated) as info:
        tokens.verify(Keyring("another-secret-key-0123456789"), token)
    assert info.value.code == "invalid_token"
    # a rotated keyring that keeps the old key still accepts it
    assert tokens.verify(Keyring("another-secret-key-0123456789", ["a-secret-key-0123456789abcdef"]),
                         token).client_id == "cli_1"


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_LIMIT", 3)
    keyring = Keyring("a-secret-key-0123456789abcdef")
    for n in range(10):
        token = tokens.issue(keyring, workspace_id="ws_1", client_id=f"cli_{n}", scopes=[], ttl=60)
        assert tokens.verify(keyring, token).client_id == f"cli_{n}"
    assert len(tokens._VERIFIED[keyring]) <= 3
