"""The file (demo) provider: readable .eml and .json files, written atomically, one per message."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from herald.channels.base import Envelope, PermanentError, ProviderContext
from herald.channels.file import SPEC, FileProvider, FileSettings


def provider(tmp_path: Path, **settings: Any) -> FileProvider:
    return FileProvider(FileSettings(**settings), ProviderContext(outbox_dir=tmp_path / "outbox"))


def email_envelope(**overrides: Any) -> Envelope:
    values: dict[str, Any] = {
        "message_id": "01HV7Z3K9Q",
        "channel": "email",
        "to": "jane@example.org",
        "content": {"subject": "Bienvenue Zoë 🎉", "text": "Hello Jane", "html": "<p>Hello Jane</p>"},
        "created_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return Envelope(**values)


async def test_email_becomes_a_parseable_eml(tmp_path: Path) -> None:
    result = await provider(tmp_path).send(email_envelope(headers={"List-Unsubscribe": "<https://u/1>"}))

    assert result.provider_message_id == "file:01HV7Z3K9Q.eml"
    assert result.code == "written"
    assert result.delivered is True
    path = tmp_path / "outbox" / "01HV7Z3K9Q.eml"
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["subject"] == "Bienvenue Zoë 🎉"
    assert msg["from"].addresses[0].addr_spec == "demo@herald.localhost"
    assert msg["from"].addresses[0].display_name == "Herald demo"
    assert msg["to"] == "jane@example.org"
    assert msg["message-id"] == "<01HV7Z3K9Q@herald.localhost>"
    assert msg["list-unsubscribe"] == "<https://u/1>"
    plain, html = msg.iter_parts()
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert plain.get_content() == "Hello Jane"
    assert html.get_content() == "<p>Hello Jane</p>"


async def test_from_settings_and_sender_override(tmp_path: Path) -> None:
    files = provider(tmp_path, from_email="hello@shop.example", from_name=None)
    await files.send(email_envelope(message_id="a"))
    await files.send(email_envelope(message_id="b", sender="news@shop.example"))
    first = email.message_from_bytes((tmp_path / "outbox" / "a.eml").read_bytes(), policy=email.policy.default)
    second = email.message_from_bytes((tmp_path / "outbox" / "b.eml").read_bytes(), policy=email.policy.default)
    assert str(first["from"]) == "hello@shop.example"
    assert str(second["from"]) == "news@shop.example"


@pytest.mark.parametrize("channel", ["sms", "push", "webhook"])
async def test_other_channels_become_json(channel: str, tmp_path: Path) -> None:
    envelope = Envelope(
        message_id="m-1",
        channel=channel,
        to="+447700900123",
        content={"body": "Your code is 123456"},
        sender="Herald",
        created_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )
    result = await provider(tmp_path).send(envelope)
    assert result.provider_message_id == "file:m-1.json"
    record = json.loads((tmp_path / "outbox" / "m-1.json").read_text("utf-8"))
    assert record == {
        "message_id": "m-1",
        "channel": channel,
        "to": "+447700900123",
        "sender": "Herald",
        "content": {"body": "Your code is 123456"},
        "created_at": "2026-03-01T12:00:00+00:00",
    }


async def test_retry_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    files = provider(tmp_path, directory=str(tmp_path / "custom"))
    await files.send(email_envelope(content={"subject": "first", "text": "one"}))
    await files.send(email_envelope(content={"subject": "second", "text": "two"}))
    written = sorted(p.name for p in (tmp_path / "custom").iterdir())
    assert written == ["01HV7Z3K9Q.eml"]  # no second copy, no temporary files left behind
    msg = email.message_from_bytes((tmp_path / "custom" / written[0]).read_bytes(), policy=email.policy.default)
    assert msg["subject"] == "second"
    assert not (tmp_path / "outbox").exists()


async def test_reconcile_reports_whether_the_file_exists(tmp_path: Path) -> None:
    files = provider(tmp_path)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert await files.reconcile(email_envelope(), since) is None
    await files.send(email_envelope())
    found = await files.reconcile(email_envelope(), since)
    assert found is not None
    assert found.provider_message_id == "file:01HV7Z3K9Q.eml"


@pytest.mark.parametrize("message_id", ["../escape", "a/b", ".hidden", ""])
async def test_unsafe_message_ids_are_refused(message_id: str, tmp_path: Path) -> None:
    with pytest.raises(PermanentError):
        await provider(tmp_path).send(email_envelope(message_id=message_id))
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


async def test_header_injection_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as caught:
        await provider(tmp_path).send(email_envelope(content={"subject": "a\nBcc: x@example.com", "text": "t"}))
    assert caught.value.code == "invalid_message"


def test_spec() -> None:
    assert SPEC.kind == "file"
    assert SPEC.channels == frozenset({"email", "sms", "push", "pass", "webhook", "queue"})
    assert SPEC.secret_field_names() == ()
