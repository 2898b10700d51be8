"""The demo provider: writes each message to a directory instead of sending it.

Email becomes ``{message_id}.eml`` (open it in any mail client), every other channel
``{message_id}.json``. Files are written atomically (temp file + ``os.replace``), so a reader never sees
half a message, and a retry of the same message overwrites its file rather than adding a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from herald.channels.base import (
    CHANNELS,
    Envelope,
    PermanentError,
    ProviderContext,
    ProviderSpec,
    SendResult,
)
from herald.channels.email.envelope import email_bytes

__all__ = ["SPEC", "FileProvider", "FileSettings"]

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


class FileSettings(BaseModel):
    """``directory`` defaults to Herald's outbox directory."""

    model_config = ConfigDict(extra="forbid")

    directory: str | None = None
    from_email: str = "demo@herald.localhost"
    from_name: str | None = "Herald demo"


class FileProvider:
    """Writes messages to ``settings.directory`` (or the outbox); acceptance means delivery here."""

    def __init__(self, settings: FileSettings, ctx: ProviderContext) -> None:
        self.settings = settings
        self.directory = Path(settings.directory) if settings.directory else ctx.outbox_dir

    def _name(self, envelope: Envelope) -> str:
        if not _SAFE_NAME.fullmatch(envelope.message_id):
            raise PermanentError("message id is not usable as a file name", code="invalid_message")
        return f"{envelope.message_id}.{'eml' if envelope.channel == 'email' else 'json'}"

    def _render(self, envelope: Envelope) -> bytes:
        if envelope.channel == "email":
            return email_bytes(envelope, domain=self.settings.from_email.rpartition("@")[2],
                               from_email=envelope.sender or self.settings.from_email,
                               from_name=self.settings.from_name, date=envelope.created_at)
        record: dict[str, Any] = {
            "message_id": envelope.message_id,
            "channel": envelope.channel,
            "to": envelope.to,
            "sender": envelope.sender,
            "content": dict(envelope.content),
            "created_at": (envelope.created_at or datetime.now(UTC)).isoformat(),
        }
        return json.dumps(record, ensure_ascii=False, indent=2, default=str).encode("utf-8") + b"\n"

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def send(self, envelope: Envelope) -> SendResult:
        name = self._name(envelope)
        data = self._render(envelope)
        await asyncio.to_thread(self._write, name, data)
        return SendResult(provider_message_id=f"file:{name}", code="written", delivered=True)

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """The file is the delivery: it exists or it does not."""
        name = self._name(envelope)
        if await asyncio.to_thread((self.directory / name).exists):
            return SendResult(provider_message_id=f"file:{name}", code="written", delivered=True)
        return None

    async def close(self) -> None:
        return None


SPEC = ProviderSpec(
    kind="file",
    channels=frozenset(CHANNELS),
    settings_model=FileSettings,
    factory=lambda s, ctx: FileProvider(s, ctx),
    description="Writes messages to a directory (.eml for email, .json otherwise): for demos and tests",
)
