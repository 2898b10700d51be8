"""The SMTP provider against the fake SMTP server: delivery, pooling, TLS, AUTH and failure mapping."""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from herald.channels.base import Envelope, PermanentError, ProviderContext, TransientError
from herald.channels.email import smtp
from herald.channels.email.smtp import SPEC, SmtpProvider, SmtpSettings
from herald.fakes.smtp import FakeSmtp, serve

MakeProvider = Callable[..., SmtpProvider]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
async def fake() -> AsyncIterator[FakeSmtp]:
    async with FakeSmtp() as server:
        yield server


@pytest.fixture
async def make_provider(tmp_path: Path) -> AsyncIterator[MakeProvider]:
    made: list[SmtpProvider] = []

    def make(server: FakeSmtp | None = None, **overrides: Any) -> SmtpProvider:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": server.port if server else 1,
            "security": "none",
            "from_email": "news@example.com",
            "from_name": "Example News",
            "timeout": 5.0,
            "local_hostname": "client.example.com",
        }
        values.update(overrides)
        provider = SmtpProvider(SmtpSettings(**values), ProviderContext(outbox_dir=tmp_path))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


def envelope(n: int = 1, **overrides: Any) -> Envelope:
    values: dict[str, Any] = {
        "message_id": f"msg{n}",
        "channel": "email",
        "to": "jane@example.org",
        "content": {"subject": f"Order {n} shipped ✓", "text": "Hi Jane", "html": "<p>Hi Jane</p>"},
        "created_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return Envelope(**values)


def parse(raw: bytes | None) -> EmailMessage:
    assert raw is not None
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_send_delivers_with_the_right_headers(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake)
    result = await provider.send(envelope(headers={"List-Unsubscribe": "<https://u.example/1>"}))

    assert result.provider_message_id == "<msg1@example.com>"
    assert result.code == "250"
    assert result.detail == "2.0.0 OK queued as 1"
    assert fake.count == 1
    received = fake.messages[0]
    assert received.mail_from == "news@example.com"
    assert received.rcpt_tos == ("jane@example.org",)
    assert received.message_id == "<msg1@example.com>"
    assert received.subject == "Order 1 shipped ✓"
    msg = parse(received.raw)
    assert msg["from"].addresses[0].display_name == "Example News"
    assert msg["from"].addresses[0].addr_spec == "news@example.com"
    assert msg["to"] == "jane@example.org"
    sent_at = msg["date"].datetime
    assert abs((sent_at - datetime.now(UTC)).total_seconds()) < 60  # the time of sending, not of creation
    assert msg["list-unsubscribe"] == "<https://u.example/1>"
    plain, html = msg.iter_parts()
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert plain.get_content() == "Hi Jane"
    assert html.get_content() == "<p>Hi Jane</p>"


async def test_sender_override(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake)
    await provider.send(envelope(sender="Ops Team <ops@example.com>"))
    await provider.send(envelope(2, sender="alerts@example.com"))
    first, second = fake.messages
    assert first.mail_from == "ops@example.com"
    assert parse(first.raw)["from"].addresses[0].display_name == "Ops Team"
    assert second.mail_from == "alerts@example.com"
    assert str(parse(second.raw)["from"]) == "Example News <alerts@example.com>"


async def test_connections_are_pooled_and_reused(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake, pool_size=4)
    for n in range(10):
        await provider.send(envelope(n))
    assert fake.sessions == 1  # one after another: one connection

    results = await asyncio.gather(*(provider.send(envelope(n)) for n in range(10, 70)))
    assert len({r.provider_message_id for r in results}) == 60
    assert fake.count == 70
    assert 2 <= fake.sessions <= 4  # concurrent sends never exceed pool_size connections
    assert len({m.session for m in fake.messages}) == fake.sessions


async def test_connection_is_renewed_after_many_messages(
    fake: FakeSmtp, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smtp, "MESSAGES_PER_CONNECTION", 5)
    provider = make_provider(fake)
    for n in range(12):
        await provider.send(envelope(n))
    assert fake.count == 12
    assert fake.sessions == 3


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_with_a_private_ca(
    security: str, server_tls: ssl.SSLContext, ca_file: str, make_provider: MakeProvider
) -> None:
    implicit = security == "tls"
    async with FakeSmtp(tls_context=server_tls, implicit_tls=implicit, require_starttls=not implicit) as fake:
        provider = make_provider(fake, security=security, ca_file=ca_file)
        for n in range(3):
            await provider.send(envelope(n))
        assert fake.count == 3
        assert fake.sessions == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_untrusted_certificate(security: str, server_tls: ssl.SSLContext, make_provider: MakeProvider) -> None:
    implicit = security == "tls"
    async with FakeSmtp(tls_context=server_tls, implicit_tls=implicit) as fake:
        strict = make_provider(fake, security=security)  # system CAs do not know the test CA
        with pytest.raises(TransientError) as caught:
            await strict.send(envelope())
        assert caught.value.maybe_sent is False
        assert caught.value.code == "connect"
        assert fake.count == 0

        lax = make_provider(fake, security=security, validate_certs=False)
        await lax.send(envelope())
        assert fake.count == 1


async def test_starttls_required_but_not_offered(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake, security="starttls")
    with pytest.raises(PermanentError) as caught:
        await provider.send(envelope())
    assert caught.value.code == "smtp_config"


@pytest.mark.parametrize(
    ("password", "error", "code"),
    [("secret", None, None), ("wrong", PermanentError, "535")],
    ids=["right password", "wrong password"],
)
async def test_auth(
    password: str, error: type[Exception] | None, code: str | None, make_provider: MakeProvider
) -> None:
    async with FakeSmtp(auth=("mailer", "secret")) as fake:
        provider = make_provider(fake, username="mailer", password=password)
        if error is None:
            await provider.send(envelope())
            await provider.send(envelope(2))
            assert fake.count == 2
            assert fake.sessions == 1  # AUTH once per connection, not per message
        else:
            with pytest.raises(error) as caught:
                await provider.send(envelope())
            assert getattr(caught.value, "code", None) == code
            assert fake.count == 0


async def test_auth_required_but_not_configured(make_provider: MakeProvider) -> None:
    async with FakeSmtp(auth=("mailer", "secret")) as fake:
        with pytest.raises(PermanentError) as caught:
            await make_provider(fake).send(envelope())
        assert caught.value.code == "530"


FAILURES = {
    # mode: (error type, code, maybe_sent, recorded by the server, connection survives)
    "421": (TransientError, "421", False, 0, False),
    "451": (TransientError, "451", False, 0, True),
    "550": (PermanentError, "550", None, 0, True),
    "drop": (TransientError, "disconnected", True, 1, False),
}


@pytest.mark.parametrize("mode", list(FAILURES))
async def test_failure_mapping(mode: Any, fake: FakeSmtp, make_provider: MakeProvider) -> None:
    error, code, maybe_sent, recorded, survives = FAILURES[mode]
    provider = make_provider(fake)
    fake.fail(mode)
    with pytest.raises(error) as caught:
        await provider.send(envelope())
    assert caught.value.code == code
    if maybe_sent is not None:
        assert caught.value.maybe_sent is maybe_sent
    assert fake.count == recorded

    # The next message goes through, on the same connection when the session was still good.
    result = await provider.send(envelope(2))
    assert result.code == "250"
    assert fake.messages[-1].message_id == "<msg2@example.com>"
    assert fake.sessions == (1 if survives else 2)


async def test_timeout_waiting_for_the_final_reply(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake, timeout=0.3)
    fake.fail("slow", delay=2.0)
    with pytest.raises(TransientError) as caught:
        await provider.send(envelope())
    assert caught.value.maybe_sent is True
    assert caught.value.code == "timeout"
    assert fake.count == 1  # the server did take it: exactly why maybe_sent is True


async def test_slow_reply_within_the_timeout(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    fake.fail("slow", delay=0.2)
    result = await make_provider(fake).send(envelope())
    assert result.code == "250"


async def test_connection_refused(make_provider: MakeProvider) -> None:
    provider = make_provider(port=free_port())
    with pytest.raises(TransientError) as caught:
        await provider.send(envelope())
    assert caught.value.maybe_sent is False
    assert caught.value.code == "connect"


async def test_pool_recovers_after_the_server_restarts(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake)
    await provider.send(envelope(1))
    await fake.stop()
    with pytest.raises(TransientError) as caught:
        await provider.send(envelope(2))
    assert caught.value.maybe_sent is False
    await fake.start()  # same port
    await provider.send(envelope(3))
    await provider.send(envelope(4))
    assert [m.message_id for m in fake.messages] == [f"<msg{n}@example.com>" for n in (1, 3, 4)]
    assert fake.sessions == 2


async def test_idle_connection_closed_by_the_server_is_replaced(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake)
    await provider.send(envelope(1))
    fake.drop_connections()  # the client has not noticed yet when the next send starts
    result = await provider.send(envelope(2))
    assert result.code == "250"
    assert fake.count == 2
    assert fake.sessions == 2


async def test_unsafe_content_is_refused_before_connecting(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake)
    bad = envelope(content={"subject": "Hi\r\nBcc: victim@example.com", "text": "x"})
    with pytest.raises(PermanentError) as caught:
        await provider.send(bad)
    assert caught.value.code == "invalid_message"
    with pytest.raises(PermanentError):
        await provider.send(envelope(headers={"Bcc": "victim@example.com"}))
    assert fake.sessions == 0


async def test_close_quits_pooled_connections(fake: FakeSmtp, make_provider: MakeProvider) -> None:
    provider = make_provider(fake, pool_size=3)
    await asyncio.gather(*(provider.send(envelope(n)) for n in range(9)))
    assert fake.active_sessions >= 1
    await provider.close()
    for _ in range(100):
        if fake.active_sessions == 0:
            break
        await asyncio.sleep(0.01)
    assert fake.active_sessions == 0
    assert await provider.reconcile(envelope(1), datetime.now(UTC)) is None


BASE = {"host": "smtp.example.com", "from_email": "news@example.com"}
INVALID = {
    "extra field": {"hostname": "x"},
    "port zero": {"port": 0},
    "port too big": {"port": 70000},
    "bad security": {"security": "ssl"},
    "username without password": {"username": "u"},
    "password without username": {"password": "p"},
    "bad from": {"from_email": "not-an-address"},
    "pool zero": {"pool_size": 0},
    "pool too big": {"pool_size": 201},
    "host with space": {"host": "smtp example.com"},
    "name with newline": {"from_name": "A\nBcc: x"},
    "bad local hostname": {"local_hostname": "héllo"},
}


@pytest.mark.parametrize("overrides", list(INVALID.values()), ids=list(INVALID))
def test_settings_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SmtpSettings(**{**BASE, **overrides})


def test_settings_defaults_and_secrets() -> None:
    settings = SmtpSettings(**BASE)
    assert (settings.port, settings.security, settings.pool_size) == (587, "starttls", 10)
    assert SmtpSettings(**BASE, security="tls").port == 465
    assert SmtpSettings(**BASE, security="tls", port=2465).port == 2465
    with_auth = SmtpSettings(**BASE, username="u", password="hunter2-secret")
    assert "hunter2" not in repr(with_auth)
    assert with_auth.password is not None
    assert with_auth.password.get_secret_value() == "hunter2-secret"
    assert SPEC.secret_field_names() == ("password",)
    assert SPEC.channels == frozenset({"email"})


def test_running_in_a_background_thread_with_auth_login() -> None:
    """``running()`` serves from its own thread, for a Herald in a subprocess; here a sync stdlib client."""
    fake = FakeSmtp(auth=("mailer", "secret"))
    with fake.running() as server, smtplib.SMTP("127.0.0.1", server.port, timeout=5) as client:
        client.ehlo("client.example.com")
        client.user, client.password = "mailer", "secret"
        client.auth("LOGIN", client.auth_login)
        client.sendmail("a@example.com", ["b@example.org"], b"Subject: hi\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n")
        assert server.count == 1
        assert server.messages[0].subject == "hi"
        assert server.messages[0].raw == b"Subject: hi\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"
    with pytest.raises(ConnectionRefusedError):  # stopped with the block
        smtplib.SMTP("127.0.0.1", fake.port, timeout=2)


async def test_serve_prints_its_address(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(serve("127.0.0.1", 0))
    for _ in range(100):
        if "listening" in capsys.readouterr().out or task.done():
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("serve() printed nothing")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
