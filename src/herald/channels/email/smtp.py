"""The SMTP provider: any SMTP server, plain, STARTTLS or implicit TLS, with a connection pool.

Connecting costs a TCP handshake, EHLO, often a TLS handshake and AUTH, so each provider keeps up to
``pool_size`` connected clients and runs one mail transaction after another on them. The transaction is
written out by hand (MAIL, RCPT, DATA, body) rather than with ``sendmail`` so that a lost connection can
be placed exactly: before the body was sent it certainly was not delivered (``maybe_sent=False``); after,
the server may have queued it (``maybe_sent=True``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Literal

import aiosmtplib
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from herald.channels.base import (
    Envelope,
    PermanentError,
    ProviderContext,
    ProviderError,
    ProviderSpec,
    SendResult,
    TransientError,
)
from herald.channels.email.envelope import email_bytes
from herald.redact import mask_address

__all__ = ["SPEC", "SmtpProvider", "SmtpSettings"]

log = logging.getLogger(__name__)

IDLE_SECONDS = 50.0
"""A pooled connection idle longer than this is replaced rather than reused (servers time out idle
sessions after 60-300 s; one that closed sooner is still caught, see :meth:`SmtpProvider.send`)."""
MESSAGES_PER_CONNECTION = 100
"""Reconnect after this many messages: many servers cap messages per session (then answer 421)."""

_DOT = re.compile(rb"(?m)^\.")
_HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]")


class SmtpSettings(BaseModel):
    """One SMTP account. ``security``: ``none``, ``starttls`` (usually port 587) or ``tls`` (implicit TLS,
    usually 465; chosen as the port when ``tls`` is set and no port is given)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_email: str
    from_name: str | None = None
    pool_size: int = Field(10, ge=1, le=200)
    timeout: float = Field(30.0, gt=0, le=600)
    validate_certs: bool = True
    ca_file: str | None = None
    """A CA bundle (PEM) to trust instead of the system store, e.g. for a private relay."""
    local_hostname: str | None = None
    """The name sent in EHLO; defaults to this machine's FQDN."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if any(c.isspace() or ord(c) < 32 for c in value):
            raise ValueError("host must be a host name or address")
        return value

    @field_validator("from_email")
    @classmethod
    def _from_email(cls, value: str) -> str:
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("from_name", "username")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or c == "\x7f" for c in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("local_hostname")
    @classmethod
    def _local_hostname(cls, value: str | None) -> str | None:
        if value is not None and not _HOSTNAME.fullmatch(value):
            raise ValueError("must be an ASCII host name or an address literal like [192.0.2.1]")
        return value

    @model_validator(mode="after")
    def _check(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")
        if self.security == "tls" and "port" not in self.model_fields_set:
            self.port = 465
        return self


@dataclass(slots=True, eq=False)
class _Conn:
    client: aiosmtplib.SMTP
    last_used: float
    sent: int = 0


class _Refused(Exception):
    """The server answered a step of the transaction with an error code."""

    def __init__(self, stage: str, reply: aiosmtplib.SMTPResponse) -> None:
        super().__init__(stage, reply)
        self.stage, self.reply = stage, reply


def _idna_domain(address: str) -> str:
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def _by_code(what: str, code: int, text: str, *, maybe_sent: bool = False) -> ProviderError:
    message = f"{what}: {code} {text}".strip()
    if 500 <= code < 600:
        return PermanentError(message, code=str(code))
    if 400 <= code < 500:
        return TransientError(message, code=str(code))
    return TransientError(message, code="protocol", maybe_sent=maybe_sent)


class SmtpProvider:
    """Sends email over a pool of at most ``pool_size`` SMTP connections, reused across messages."""

    def __init__(self, settings: SmtpSettings, ctx: ProviderContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.domain = _idna_domain(settings.from_email).rpartition("@")[2]
        """Right-hand side of every ``Message-ID``."""
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._tls: ssl.SSLContext | None = None
        self._local_hostname = settings.local_hostname
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the Provider interface --------------------------------------------------------------------

    async def send(self, envelope: Envelope) -> SendResult:
        """Send one message; see the module docstring for how failures are classified."""
        sender, name = self._sender(envelope)
        raw = self._build(envelope, sender, name)
        sender, rcpt = _idna_domain(sender), _idna_domain(envelope.to)
        smtputf8 = not (sender.isascii() and rcpt.isascii())
        if self._closed:
            raise TransientError("SMTP provider is closed", code="closed")
        async with self._slots:
            for attempt in (1, 2):
                conn, reused = await self._checkout()
                try:
                    reply = await self._transact(conn, sender, rcpt, raw, smtputf8)
                except _Refused as exc:
                    await self._after_refusal(conn, exc.stage, exc.reply.code)
                    to = mask_address(envelope.to)
                    log.info("smtp %s refused for %s: %s", exc.stage, to, exc.reply.code)
                    raise _by_code(f"{exc.stage} refused", exc.reply.code, exc.reply.message) from None
                except _Lost as exc:
                    self._discard(conn)
                    if exc.stage == "MAIL" and reused and exc.code == "disconnected" and attempt == 1:
                        continue  # the server closed an idle connection under us: nothing was sent
                    maybe_sent = exc.stage == "body"
                    log.warning("smtp connection lost at %s for %s", exc.stage, mask_address(envelope.to))
                    raise TransientError(
                        f"SMTP connection lost during {exc.stage}: {exc.reason}",
                        code=exc.code,
                        maybe_sent=maybe_sent,
                    ) from None
                except ProviderError:
                    self._checkin(conn)  # refused before anything was sent; the session is untouched
                    raise
                except BaseException:
                    self._discard(conn)  # cancelled mid-transaction: the session state is unknown
                    raise
                self._checkin(conn)
                return SendResult(
                    provider_message_id=f"<{envelope.message_id}@{self.domain}>",
                    code=str(reply.code),
                    detail=reply.message,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """SMTP has no way to ask whether a message was queued, so this answers ``None`` (not sent).

        That is safe enough because a retry carries the same ``Message-ID`` (``<message_id@domain>``):
        receiving systems and mail clients drop the duplicate when the first attempt did arrive."""
        return None

    async def close(self) -> None:
        """QUIT every pooled connection; connections still sending are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(conn) for conn in idle), *self._tasks, return_exceptions=True)

    # -- message and transaction -------------------------------------------------------------------

    def _sender(self, envelope: Envelope) -> tuple[str, str | None]:
        if not envelope.sender:
            return self.settings.from_email, self.settings.from_name
        if "<" in envelope.sender:
            name, address = parseaddr(envelope.sender)
            if not address:
                raise PermanentError("invalid sender override", code="invalid_sender")
            return address, name or self.settings.from_name
        return envelope.sender, self.settings.from_name

    def _build(self, envelope: Envelope, sender: str, name: str | None) -> bytes:
        # Date is the time of this attempt: a message queued for hours should not sort as old
        return email_bytes(envelope, domain=self.domain, from_email=sender, from_name=name)

    async def _transact(
        self, conn: _Conn, sender: str, rcpt: str, raw: bytes, smtputf8: bool
    ) -> aiosmtplib.SMTPResponse:
        client = conn.client
        stage = "MAIL"
        try:
            options = []
            if client.supports_extension("size"):
                options.append(b"SIZE=%d" % len(raw))
            if smtputf8:
                if not client.supports_extension("smtputf8"):
                    raise PermanentError("the server does not accept non-ASCII addresses", code="smtputf8")
                options += [b"SMTPUTF8", b"BODY=8BITMIME"]
            reply = await client.execute_command(b"MAIL", b"FROM:<%s>" % sender.encode(), *options)
            if reply.code != 250:
                raise _Refused(stage, reply)
            stage = "RCPT"
            reply = await client.execute_command(b"RCPT", b"TO:<%s>" % rcpt.encode())
            if reply.code not in (250, 251):
                raise _Refused(stage, reply)
            stage = "DATA"
            reply = await client.execute_command(b"DATA")
            if reply.code != 354:
                raise _Refused(stage, reply)
            stage = "body"
            protocol = client.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            protocol.write(_DOT.sub(b"..", raw) + b".\r\n")
            reply = await protocol.read_response(timeout=self.settings.timeout)
            if reply.code != 250:
                raise _Refused(stage, reply)
            conn.sent += 1
            return reply
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise _Lost(stage, str(exc), "disconnected") from None
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            raise _Lost(stage, str(exc) or "timed out", "timeout") from None
        except OSError as exc:
            raise _Lost(stage, str(exc), "disconnected") from None
        except aiosmtplib.SMTPResponseException as exc:  # a malformed reply: the session is unusable
            raise _Lost(stage, f"{exc.code} {exc.message}", "protocol") from None

    async def _after_refusal(self, conn: _Conn, stage: str, code: int) -> None:
        """Keep the connection when the session is still good (RSET clears a half-made envelope)."""
        client = conn.client
        keep = code != 421 and code >= 400 and client.is_connected
        try:
            if keep and stage != "body":  # after the final DATA reply the server has reset by itself
                keep = False  # until RSET has answered (a cancelled RSET leaves the session unknown)
                keep = (await client.rset()).code == 250
        except (aiosmtplib.SMTPException, OSError):
            keep = False
        finally:
            (self._checkin if keep else self._discard)(conn)

    # -- the pool ----------------------------------------------------------------------------------

    async def _checkout(self) -> tuple[_Conn, bool]:
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()  # most recently used first, so spare connections age out
            if conn.client.is_connected and now - conn.last_used < IDLE_SECONDS:
                return conn, True
            self._discard(conn)
        return await self._connect(), False

    def _checkin(self, conn: _Conn) -> None:
        if self._closed or conn.sent >= MESSAGES_PER_CONNECTION or not conn.client.is_connected:
            task = asyncio.get_running_loop().create_task(self._quit(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        conn.last_used = asyncio.get_running_loop().time()
        self._idle.append(conn)

    def _discard(self, conn: _Conn) -> None:
        conn.client.close()

    async def _quit(self, conn: _Conn) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            if conn.client.is_connected:
                await conn.client.quit(timeout=min(self.settings.timeout, 5.0))
        conn.client.close()

    async def _connect(self) -> _Conn:
        s = self.settings
        tls = await self._tls_context() if s.security != "none" else None
        if self._local_hostname is None:
            fqdn = await asyncio.to_thread(socket.getfqdn)
            self._local_hostname = fqdn if fqdn.isascii() and _HOSTNAME.fullmatch(fqdn) else "localhost"
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=tls,
            local_hostname=self._local_hostname,
            username=s.username,
            password=s.password.get_secret_value() if s.password is not None else None,
        )
        where = f"{s.host}:{s.port}"
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise _by_code(f"SMTP authentication failed at {where}", exc.code, exc.message) from None
        except (
            ssl.SSLError,
            OSError,
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPTimeoutError,
            aiosmtplib.SMTPServerDisconnected,
        ) as exc:
            client.close()
            log.warning("smtp cannot connect to %s: %s", where, type(exc).__name__)
            raise TransientError(f"cannot connect to {where}: {exc}", code="connect") from None
        except aiosmtplib.SMTPResponseException as exc:  # greeting, EHLO or STARTTLS refused
            client.close()
            raise _by_code(f"SMTP session refused by {where}", exc.code, exc.message) from None
        except aiosmtplib.SMTPException as exc:  # STARTTLS or AUTH not offered: a configuration problem
            client.close()
            raise PermanentError(f"SMTP server {where}: {exc}", code="smtp_config") from None
        return _Conn(client, asyncio.get_running_loop().time())

    async def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                self._tls = await asyncio.to_thread(self._build_tls_context)
            except (OSError, ssl.SSLError) as exc:
                raise PermanentError(f"cannot load the TLS settings: {exc}", code="tls_config") from None
        return self._tls

    def _build_tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.settings.ca_file)
        if not self.settings.validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class _Lost(Exception):
    """The connection died or timed out mid-transaction (``stage`` says where)."""

    def __init__(self, stage: str, reason: str, code: Literal["disconnected", "timeout", "protocol"]) -> None:
        super().__init__(stage, reason)
        self.stage, self.reason, self.code = stage, reason, code


SPEC = ProviderSpec(
    kind="smtp",
    channels=frozenset({"email"}),
    settings_model=SmtpSettings,
    factory=lambda s, ctx: SmtpProvider(s, ctx),
    description="Any SMTP server (none / STARTTLS / implicit TLS)",
)
