"""A fake SMTP server for tests, the demo and throughput benchmarks.

It records every accepted message, counts sessions (so tests can check connection reuse), speaks
STARTTLS or implicit TLS and AUTH PLAIN/LOGIN when asked, and injects failures on demand
(:meth:`FakeSmtp.fail`). Bodies are never printed; :func:`serve` prints counts only.

This is a small asyncio ``Protocol`` rather than aiosmtpd. Measured with 20 pooled aiosmtplib clients,
aiosmtpd served ~1,600 messages per server CPU-second, this ~4,500 (socket calls now dominate); the
protocol code alone costs ~500 us per message in aiosmtpd (line-by-line stream reads, addresses parsed
by the email package) against ~35 us here. So the fake is not what a Herald benchmark ends up measuring.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import email.policy
import re
import ssl
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, cast, get_args

__all__ = ["FailMode", "FakeSmtp", "ReceivedMessage", "serve"]

FailMode = Literal["421", "451", "550", "drop", "slow"]
"""``421`` at MAIL FROM (then the connection closes), ``451`` after DATA, ``550`` at RCPT TO, ``drop``
(take the whole DATA, record it, close without a reply), ``slow`` (sleep before the final reply)."""

MAX_SIZE = 32 * 1024 * 1024
_HOSTNAME = "fake-smtp.herald.localhost"
_PATH = re.compile(r"(?i)(FROM|TO):\s*<([^<>]*)>\s*(.*)")
_HEADER = re.compile(rb"^(message-id|subject):[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
_DOT_STUFFED = re.compile(rb"(?m)^\.")
_BEFORE_TLS = frozenset({b"EHLO", b"HELO", b"NOOP", b"QUIT", b"RSET", b"STARTTLS"})
_State = Literal["command", "data", "auth_plain", "auth_user", "auth_pass", "busy", "closed"]


@dataclass(slots=True, frozen=True)
class ReceivedMessage:
    """One message the fake accepted (``raw`` is ``None`` when the fake does not keep bodies)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes | None
    message_id: str | None
    subject: str | None
    received_at: datetime
    session: int
    """Which connection it came on (1-based, in accept order)."""


@dataclass(slots=True, frozen=True)
class _Fault:
    mode: str
    delay: float | None


def _parse_headers(raw: bytes) -> tuple[str | None, str | None]:
    """(Message-ID, decoded Subject) from the header block, without parsing the whole message."""
    end = raw.find(b"\r\n\r\n")
    head = (raw if end < 0 else raw[:end]).replace(b"\r\n ", b" ").replace(b"\r\n\t", b"\t")
    found = {m.group(1).lower(): m.group(2) for m in _HEADER.finditer(head)}
    message_id, subject = found.get(b"message-id"), found.get(b"subject")
    text = None if subject is None else subject.decode("utf-8", "replace")
    if text is not None and "=?" in text:
        text = str(email.policy.default.header_fetch_parse("Subject", text))
    return (None if message_id is None else message_id.decode("ascii", "replace").strip()), text


class _Session(asyncio.Protocol):
    """One SMTP connection: a line-oriented state machine; replies are written as soon as known."""

    def __init__(self, fake: FakeSmtp) -> None:
        self.fake = fake
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.scan = 0  # where to resume looking for the end of DATA
        self.state: _State = "command"
        self.number = 0
        self.tls = fake.implicit_tls
        self.helo = False
        self.authenticated = fake.auth is None
        self.login = b""
        self.mail_from: str | None = None
        self.rcpt_tos: list[str] = []
        self.pending: asyncio.Handle | asyncio.Task[None] | None = None

    # -- transport events ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, so cast rather than check.
        self.transport = cast(asyncio.Transport, transport)
        self.number = self.fake._opened(self)
        self.reply(f"220 {_HOSTNAME} ESMTP Herald fake SMTP")

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        if self.pending is not None:
            self.pending.cancel()
        self.fake._closed(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.process()

    def reply(self, line: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(line.encode("utf-8") + b"\r\n")

    def close(self) -> None:
        self.state = "closed"
        if self.transport is not None:
            self.transport.close()

    def later(self, delay: float | None, line: str | None, *, close: bool = False) -> None:
        """Reply (or close when ``line`` is None) after ``delay``, holding further input until then."""
        if not delay:
            self.finish(line, close)
            return
        self.state = "busy"
        self.pending = self.loop.call_later(delay, self.finish, line, close)

    def finish(self, line: str | None, close: bool) -> None:
        if self.state == "closed":
            return
        if line is not None:
            self.reply(line)
        if close or line is None:
            self.close()
            return
        self.state = "command"
        self.process()

    # -- parsing -----------------------------------------------------------------------------------

    def process(self) -> None:
        while self.state not in ("busy", "closed"):
            if self.state == "data":
                if not self.take_data():
                    return
                continue
            end = self.buf.find(b"\n")
            if end < 0:
                if len(self.buf) > 4096:
                    self.reply("500 5.5.2 Line too long")
                    self.close()
                return
            line = bytes(self.buf[:end]).rstrip(b"\r")
            del self.buf[: end + 1]
            self.line(line)

    def take_data(self) -> bool:
        buf = self.buf
        if buf.startswith(b".\r\n"):
            body, used = b"", 3
        else:
            end = buf.find(b"\r\n.\r\n", max(self.scan - 4, 0))
            if end < 0:
                self.scan = len(buf)
                if len(buf) > MAX_SIZE:
                    self.reply("552 5.3.4 Message too big")
                    self.close()
                return False
            body, used = bytes(buf[: end + 2]), end + 5
        del buf[:used]
        self.scan = 0
        self.state = "command"
        self.message(_DOT_STUFFED.sub(b"", body) if b"\n." in body or body[:1] == b"." else body)
        return True

    def line(self, line: bytes) -> None:
        if self.state in ("auth_plain", "auth_user", "auth_pass"):
            self.auth_step(line)
            return
        verb, _, raw_arg = line.partition(b" ")
        verb = verb.upper()
        arg = raw_arg.decode("utf-8", "surrogateescape").strip()
        if self.fake.require_starttls and not self.tls and verb not in _BEFORE_TLS:
            self.reply("530 5.7.0 Must issue a STARTTLS command first")
        elif verb in (b"EHLO", b"HELO"):
            self.hello(verb, arg)
        elif verb == b"STARTTLS":
            self.starttls()
        elif verb == b"AUTH":
            self.auth(arg)
        elif verb in (b"MAIL", b"RCPT", b"DATA") and not self.helo:
            self.reply("503 5.5.1 Error: send HELO first")
        elif verb in (b"MAIL", b"RCPT", b"DATA") and not self.authenticated:
            self.reply("530 5.7.0 Authentication required")
        elif verb == b"MAIL":
            self.mail(arg)
        elif verb == b"RCPT":
            self.rcpt(arg)
        elif verb == b"DATA":
            if not self.rcpt_tos:
                self.reply("503 5.5.1 Error: need RCPT command")
            else:
                self.state = "data"
                self.reply("354 End data with <CR><LF>.<CR><LF>")
        elif verb == b"RSET":
            self.reset()
            self.reply("250 2.0.0 OK")
        elif verb == b"NOOP":
            self.reply("250 2.0.0 OK")
        elif verb == b"QUIT":
            self.reply("221 2.0.0 Bye")
            self.close()
        else:
            self.reply("500 5.5.2 Error: command not recognized")

    # -- commands ----------------------------------------------------------------------------------

    def reset(self) -> None:
        self.mail_from, self.rcpt_tos = None, []

    def hello(self, verb: bytes, arg: str) -> None:
        if not arg:
            self.reply(f"501 Syntax: {verb.decode()} hostname")
            return
        self.reset()
        self.helo = True
        if verb == b"HELO":
            self.reply(f"250 {_HOSTNAME}")
            return
        lines = [_HOSTNAME, f"SIZE {MAX_SIZE}", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"]
        if self.fake.tls_context is not None and not self.tls:
            lines.append("STARTTLS")
        if self.fake.auth is not None:
            lines.append("AUTH PLAIN LOGIN")
        self.reply("\r\n".join(f"250-{x}" for x in lines[:-1]) + f"\r\n250 {lines[-1]}")

    def starttls(self) -> None:
        context = self.fake.tls_context
        if context is None or self.tls:
            self.reply("454 4.7.0 TLS not available" if context is None else "503 5.5.1 Already using TLS")
            return
        self.reply("220 2.0.0 Ready to start TLS")
        assert self.transport is not None
        self.transport.pause_reading()
        self.buf.clear()  # RFC 3207: discard anything sent before the handshake
        self.state = "busy"
        self.pending = self.loop.create_task(self.upgrade(context))

    async def upgrade(self, context: ssl.SSLContext) -> None:
        transport = self.transport
        assert transport is not None
        try:
            tls = await self.loop.start_tls(transport, self, context, server_side=True)
        except (OSError, ssl.SSLError, ConnectionError):
            transport.close()
            return
        if tls is None or self.state == "closed":
            return
        self.transport, self.tls, self.helo, self.pending = tls, True, False, None
        self.authenticated = self.fake.auth is None  # RFC 3207: forget the pre-TLS session
        self.reset()
        self.state = "command"
        self.process()

    def auth(self, arg: str) -> None:
        mechanism, _, initial = arg.partition(" ")
        if self.fake.auth is None:
            self.reply("502 5.5.1 AUTH not supported")
        elif not self.helo:
            self.reply("503 5.5.1 Error: send EHLO first")
        elif self.authenticated:
            self.reply("503 5.5.1 Already authenticated")
        elif mechanism.upper() in ("PLAIN", "LOGIN"):
            self.state = "auth_plain" if mechanism.upper() == "PLAIN" else "auth_user"
            if initial:
                self.auth_step(initial.encode())
            else:
                self.reply("334 " if self.state == "auth_plain" else "334 VXNlcm5hbWU6")
        else:
            self.reply("504 5.5.4 Unrecognized authentication type")

    def auth_step(self, line: bytes) -> None:
        state, self.state = self.state, "command"
        if line.strip() == b"*":
            self.reply("501 5.7.0 Authentication cancelled")
            return
        try:
            value = binascii.a2b_base64(line)
        except binascii.Error:
            self.reply("501 5.5.2 Cannot decode response")
            return
        if state == "auth_user":
            self.login, self.state = value, "auth_pass"
            self.reply("334 UGFzc3dvcmQ6")
            return
        if state == "auth_plain":
            parts = value.split(b"\0")
            login, password = (parts[1], parts[2]) if len(parts) == 3 else (b"", b"")
        else:
            login, password = self.login, value
        assert self.fake.auth is not None
        if (login, password) == (self.fake.auth[0].encode(), self.fake.auth[1].encode()):
            self.authenticated = True
            self.reply("235 2.7.0 Authentication successful")
        else:
            self.reply("535 5.7.8 Authentication credentials invalid")

    def mail(self, arg: str) -> None:
        match = _PATH.fullmatch(arg)
        if self.mail_from is not None:
            self.reply("503 5.5.1 Error: nested MAIL command")
        elif match is None or match.group(1).upper() != "FROM":
            self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
        elif (size := re.search(r"(?i)\bSIZE=(\d+)", match.group(3))) and int(size.group(1)) > MAX_SIZE:
            self.reply("552 5.3.4 Message size exceeds fixed maximum message size")
        elif fault := self.fake._take("421"):
            self.later(fault.delay, "421 4.3.2 Service not available, closing channel", close=True)
        else:
            self.mail_from = match.group(2)
            self.reply("250 2.1.0 OK")

    def rcpt(self, arg: str) -> None:
        match = _PATH.fullmatch(arg)
        if self.mail_from is None:
            self.reply("503 5.5.1 Error: need MAIL command")
        elif match is None or match.group(1).upper() != "TO" or not match.group(2):
            self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
        elif fault := self.fake._take("550"):
            self.later(fault.delay, "550 5.1.1 Mailbox unavailable")
        else:
            self.rcpt_tos.append(match.group(2))
            self.reply("250 2.1.5 OK")

    def message(self, body: bytes) -> None:
        fault = self.fake._take("451", "drop", "slow")
        mode, delay = (fault.mode, fault.delay) if fault else (None, None)
        mail_from, rcpt_tos = self.mail_from or "", tuple(self.rcpt_tos)
        self.reset()
        if mode == "451":
            self.later(delay, "451 4.3.0 Temporary failure, try again later")
            return
        number = self.fake._record(self.number, mail_from, rcpt_tos, body)
        if mode == "drop":
            self.later(delay, None)  # the whole message arrived; the connection dies before the reply
        else:
            self.later(delay or (1.0 if mode == "slow" else None), f"250 2.0.0 OK queued as {number}")


class FakeSmtp:
    """An SMTP sink on ``host:port`` (port 0 picks a free one; read :attr:`port` after start).

    ``tls_context`` is a server context: offered as STARTTLS, or used for the whole connection with
    ``implicit_tls``. ``auth=(user, password)`` requires AUTH before MAIL (530 without, 535 when wrong).
    ``max_records`` keeps only the newest records (``count`` still counts all) for long runs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        auth: tuple[str, str] | None = None,
        keep_bodies: bool = True,
        max_records: int | None = None,
    ) -> None:
        if (implicit_tls or require_starttls) and tls_context is None:
            raise ValueError("implicit_tls and require_starttls need a tls_context")
        self.host, self.port = host, port
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.require_starttls = require_starttls
        self.auth = auth
        self.keep_bodies = keep_bodies
        self.max_records = max_records
        self.messages: list[ReceivedMessage] = []
        self.sessions = 0
        """Connections accepted since start (or :meth:`reset`)."""
        self._count = 0
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._live: set[_Session] = set()
        self._server: asyncio.Server | None = None

    @property
    def count(self) -> int:
        """Messages accepted (recorded) since start or :meth:`reset`."""
        return self._count

    @property
    def active_sessions(self) -> int:
        """Connections open right now."""
        return len(self._live)

    def fail(self, mode: FailMode, count: int = 1, delay: float | None = None) -> None:
        """Make the next ``count`` messages fail with ``mode``; ``delay`` seconds pass before the reply."""
        if mode not in get_args(FailMode):
            raise ValueError(f"unknown failure mode {mode!r}")
        with self._lock:
            self._faults.extend(_Fault(mode, delay) for _ in range(count))

    def reset(self) -> None:
        """Forget messages, pending failures and the session count."""
        with self._lock:
            self._faults.clear()
            self.messages.clear()
            self._count = 0
            self.sessions = 0

    def drop_connections(self) -> None:
        """Close every open connection now, as a server does when its idle timeout strikes (call it from
        the server's event loop)."""
        for session in list(self._live):
            session.close()

    async def start(self) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Session(self),
            self.host,
            self.port,
            ssl=self.tls_context if self.implicit_tls else None,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every open connection (so a restart really drops clients)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self.drop_connections()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
        for _ in range(100):  # let connection_lost run
            if not self._live:
                break
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> FakeSmtp:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeSmtp]:
        """Serve on a background thread with its own event loop (for a Herald in another process)."""
        ready = threading.Event()
        errors: list[BaseException] = []
        control: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

        async def main() -> None:
            stop = asyncio.Event()
            control.append((asyncio.get_running_loop(), stop))
            try:
                await self.start()
            except BaseException as exc:
                errors.append(exc)
                return
            finally:
                ready.set()
            try:
                await stop.wait()
            finally:
                await self.stop()

        thread = threading.Thread(target=asyncio.run, args=(main(),), name="fake-smtp", daemon=True)
        thread.start()
        ready.wait()
        if errors:
            thread.join()
            raise errors[0]
        try:
            yield self
        finally:
            loop, stop = control[0]
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)

    # -- called by sessions ------------------------------------------------------------------------

    def _take(self, *modes: str) -> _Fault | None:
        with self._lock:
            if self._faults and self._faults[0].mode in modes:
                return self._faults.popleft()
        return None

    def _opened(self, session: _Session) -> int:
        self._live.add(session)
        with self._lock:
            self.sessions += 1
            return self.sessions

    def _closed(self, session: _Session) -> None:
        self._live.discard(session)

    def _record(self, session: int, mail_from: str, rcpt_tos: tuple[str, ...], raw: bytes) -> int:
        message_id, subject = _parse_headers(raw)
        record = ReceivedMessage(
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            raw=raw if self.keep_bodies else None,
            message_id=message_id,
            subject=subject,
            received_at=datetime.now(UTC),
            session=session,
        )
        with self._lock:
            self.messages.append(record)
            self._count += 1
            if self.max_records is not None and len(self.messages) > 2 * self.max_records:
                del self.messages[: -self.max_records]
            return self._count


async def serve(host: str = "127.0.0.1", port: int = 2525) -> None:
    """Run a fake SMTP server until cancelled, printing its address and then a count every 5 seconds."""
    fake = FakeSmtp(host, port, keep_bodies=False, max_records=10_000)
    async with fake:
        print(f"Fake SMTP server listening on {host}:{fake.port} (no TLS, no AUTH)", flush=True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            await asyncio.sleep(5)
            elapsed = loop.time() - started
            print(f"{fake.count} messages received in {fake.sessions} sessions ({elapsed:.0f}s)", flush=True)
