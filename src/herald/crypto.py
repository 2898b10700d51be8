"""Key material: encryption of provider secrets at rest (MultiFernet, so keys can rotate), the key that signs
access tokens, and the keys that sign unsubscribe links. All derive from ``HERALD_SECRET_KEY`` through HKDF
with distinct labels."""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from herald.settings import Settings


def _derive(master: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(master.encode())


def load_or_create_master_key(settings: Settings) -> str:
    """The configured key, or one generated on first start and kept (mode 0600) under the var dir."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.var_dir) / "secret.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


class Keyring:
    """Encrypts and decrypts secret dictionaries; signs tokens."""

    def __init__(self, master: str, old: list[str] | None = None) -> None:
        keys = [master, *(old or [])]
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(_derive(k, b"herald/secrets"))) for k in keys]
        )
        self.token_key = _derive(master, b"herald/tokens")
        self.old_token_keys = [_derive(k, b"herald/tokens") for k in old or []]
        self.link_keys = [_derive(k, b"herald/links") for k in keys]
        """Sign unsubscribe links; the first signs, all verify (links in old emails outlive key rotation)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        old = [k.strip() for k in settings.old_secret_keys.split(",") if k.strip()]
        return cls(load_or_create_master_key(settings), old)

    def encrypt(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("provider secrets cannot be decrypted with the configured keys") from exc
        return value


def same_secret(given: str | None, expected: str | None) -> bool:
    """Whether a presented secret (a webhook token) is the expected one, in constant time; False when either
    is missing or empty."""
    return bool(given) and bool(expected) and hmac.compare_digest((given or "").encode(), (expected or "").encode())
