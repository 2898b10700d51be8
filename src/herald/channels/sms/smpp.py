"""SMPP 3.4: SMS through an SMSC over one persistent ``bind_transceiver`` session per provider instance.

Session. A supervisor task binds as soon as the provider exists in a running loop (so mobile-originated
messages and receipts arrive even when nothing is being sent) and rebinds after a loss: at once after a
session that was up, with exponential backoff (``reconnect_min_seconds`` doubling to
``reconnect_max_seconds``) after a failed attempt. A reader task dispatches responses to their requests by
``sequence_number`` and answers ``enquire_link`` and ``deliver_sm``; a keep-alive task sends
``enquire_link`` every ``enquire_link_seconds`` and drops a session that does not answer in ``timeout``.

Sending. A text goes out GSM-7 (``data_coding`` 0, unpacked septets) when :mod:`segments` says it fits the
GSM 03.38 alphabet, else UCS-2 (``data_coding`` 8); a text over one segment goes out in the parts
:func:`segments.split` gives (153 / 67 units), each with a concatenation UDH (``esm_class`` 0x40). At most
``window`` requests are outstanding per session; every part asks for a delivery receipt and the first part's
``message_id`` is the provider message id (receipts of later parts match no message and are dropped).

Errors. ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR, a bind that fails, a timeout and a lost session are
transient; a timeout or a loss after a ``submit_sm`` was written is ambiguous (``maybe_sent``), as is a
failure after an earlier part of the same text was accepted. A bind refused for its credentials
(ESME_RINVPASWD, ESME_RINVSYSID) is permanent until the settings change; every other submit status is
permanent. :meth:`SmppProvider.reconcile` answers "not sent": SMPP can only query a message by the SMSC's id.

Receipts and inbound. A ``deliver_sm`` whose ``esm_class`` says delivery receipt becomes a :class:`Receipt`
for ``ctx.on_receipt``; any other is a mobile-originated message for ``ctx.on_inbound`` (parts of a
concatenated MO are passed on one by one). The ``deliver_sm_resp`` is sent once the hook has returned;
when it raises the SMSC gets ESME_RX_T_APPN and delivers again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from herald.channels.base import (
    Envelope,
    Incoming,
    PermanentError,
    ProviderContext,
    ProviderSpec,
    Receipt,
    SendResult,
    TransientError,
)
from herald.channels.sms import segments
from herald.channels.sms import smpp_pdu as p
from herald.redact import mask_address

log = logging.getLogger(__name__)

_TRANSIENT: dict[int, float | None] = {p.ESME_RTHROTTLED: 1.0, p.ESME_RMSGQFUL: 5.0, p.ESME_RSYSERR: None}
"""Submit statuses worth retrying, with a floor for the wait; every other non-zero status is permanent."""
_CREDENTIALS = frozenset({p.ESME_RINVPASWD, p.ESME_RINVSYSID})
_STATES = {"DELIVRD": "delivered", "EXPIRED": "undelivered", "UNDELIV": "undelivered", "DELETED": "failed",
           "REJECTD": "failed"}
"""Receipt ``stat`` -> Herald state; ENROUTE, ACCEPTD and UNKNOWN are not final and record nothing."""


class SmppSettings(BaseModel):
    """An SMSC account (``system_id`` / ``password`` from the operator) and the sender messages go out from."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: SecretStr
    system_type: str = Field(default="", max_length=12)
    source_addr: str = Field(pattern=r"^(\+?[0-9]{1,15}|[A-Za-z0-9 ]{1,11})$")
    """An E.164 number (TON international), a short code (TON unknown) or an alphanumeric sender id (TON 5)."""
    window: int = Field(default=10, ge=1, le=100)
    """Requests outstanding at once on the session (most SMSCs allow 10)."""
    enquire_link_seconds: float = Field(default=30.0, ge=0.05, le=600)
    timeout: float = Field(default=10.0, ge=0.05, le=120)
    reconnect_min_seconds: float = Field(default=1.0, ge=0.01, le=60)
    reconnect_max_seconds: float = Field(default=60.0, ge=0.01, le=3600)


def address(value: str) -> tuple[int, int, str]:
    """``(ton, npi, addr)`` for a number or sender id: ``+`` numbers international/ISDN without the ``+``,
    bare digits unknown/ISDN (short codes, national numbers), anything with a letter alphanumeric."""
    value = value.strip()
    if value.startswith("+") and value[1:].isdigit():
        return p.TON_INTERNATIONAL, p.NPI_ISDN, value[1:]
    if value.isdigit():
        return p.TON_UNKNOWN, p.NPI_ISDN, value
    return p.TON_ALPHANUMERIC, p.NPI_UNKNOWN, value


def to_e164(addr: str, ton: int) -> str:
    """A deliver_sm address back in Herald's form: international numbers get their ``+``."""
    return f"+{addr}" if ton == p.TON_INTERNATIONAL and addr.isdigit() else addr


def submit_parts(envelope: Envelope, body: str, sender: str) -> list[p.Pdu]:
    """The ``submit_sm`` PDUs (without sequence numbers) that send ``body``: one, or one per segment with a
    concatenation UDH sharing a random reference number."""
    ucs2 = segments.analyze(body).encoding == segments.UCS2
    coding = p.DC_UCS2 if ucs2 else p.DC_DEFAULT
    src_ton, src_npi, src = address(sender)
    dst_ton, dst_npi, dst = address(envelope.to)
    texts = segments.split(body)
    ref = secrets.randbelow(256)
    pdus = []
    for n, text in enumerate(texts, start=1):
        payload = p.encode_text(text, coding)
        esm = 0
        if len(texts) > 1:
            payload, esm = p.udh_concat(ref, len(texts), n) + payload, p.ESM_UDHI
        pdus.append(p.Pdu(p.SUBMIT_SM, params={
            "source_addr_ton": src_ton, "source_addr_npi": src_npi, "source_addr": src,
            "dest_addr_ton": dst_ton, "dest_addr_npi": dst_npi, "destination_addr": dst, "esm_class": esm,
            "registered_delivery": 1, "data_coding": coding, "short_message": payload}))
    return pdus


def submit_outcome(resp: p.Pdu) -> str:
    """The ``message_id`` of an accepted submit_sm; raises the typed error for a refusal."""
    status = resp.status
    name = p.status_name(status)
    if resp.command_id == p.GENERIC_NACK:
        raise PermanentError(f"SMSC refused the submit_sm: generic_nack {name}", code=name)
    if status == p.ESME_ROK:
        return resp.get_str("message_id")
    if status in _TRANSIENT:
        raise TransientError(f"SMSC answered {name}", code=name, retry_after=_TRANSIENT[status])
    raise PermanentError(f"SMSC refused the message: {name}", code=name)


def receipt_of(pdu: p.Pdu) -> Receipt | None:
    """A delivery receipt deliver_sm as a :class:`Receipt`; None when unreadable or not final."""
    parsed = p.parse_receipt(pdu)
    if parsed is None or parsed.stat not in _STATES:
        return None
    code = None if parsed.err in (None, "0", "000") else parsed.err
    detail = f"SMSC: {parsed.stat}" + (f" (err {code})" if code else "")
    return Receipt(provider_message_id=parsed.message_id, state=_STATES[parsed.stat], code=code, detail=detail)


class _Session:
    """One bound SMPP connection: its streams, its outstanding requests and its background tasks."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pending: dict[int, asyncio.Future[p.Pdu]] = {}
        self.closed = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.token = secrets.token_hex(4)  # tells MO messages of different sessions apart

    def write(self, pdu: p.Pdu) -> None:
        self.writer.write(p.encode(pdu))

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.writer.close()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("SMPP session lost"))
        self.pending.clear()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


class SmppProvider:
    """Sends SMS through one SMSC account; shared by all concurrent sends of a worker."""

    def __init__(self, settings: SmppSettings, ctx: ProviderContext | None = None) -> None:
        self.settings = settings
        self._ctx = ctx
        self._session: _Session | None = None
        self._sequence = 0
        self._window = asyncio.Semaphore(settings.window)
        self._outcome = asyncio.Event()  # set after every bind attempt
        self._error: TransientError | PermanentError | None = None
        self._retry_at = 0.0
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        with contextlib.suppress(RuntimeError):  # no running loop: bind at the first send instead
            asyncio.get_running_loop()
            self._start()

    def _start(self) -> None:
        if self._supervisor is None and not self._closing:
            self._supervisor = asyncio.create_task(self._supervise(), name="smpp-session")

    @property
    def bound(self) -> bool:
        return self._session is not None and not self._session.closed.is_set()

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    # -- the session -----------------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.settings.reconnect_min_seconds
        while not self._closing:
            try:
                session = await self._bind()
            except (TransientError, PermanentError, Exception) as exc:
                if not isinstance(exc, TransientError | PermanentError):
                    log.exception("smpp bind failed unexpectedly")
                    exc = TransientError(f"SMPP bind failed: {type(exc).__name__}")
                if isinstance(exc, PermanentError):  # wrong credentials: retrying soon cannot help
                    delay = self.settings.reconnect_max_seconds
                self._error, self._retry_at = exc, loop.time() + delay
                self._outcome.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_seconds)
                continue
            if self._closing:  # close() ran while binding (its cancel may be lost in wait_for on 3.11)
                session.close()
                return
            self._error, self._session = None, session
            delay = self.settings.reconnect_min_seconds
            self._outcome.set()
            await session.closed.wait()
            log.info("smpp session to %s:%s closed", self.settings.host, self.settings.port)

    async def _bind(self) -> _Session:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(s.host, s.port), s.timeout)
        except (OSError, TimeoutError) as exc:
            log.warning("smpp cannot connect to %s (%s)", where, type(exc).__name__)
            raise TransientError(f"cannot connect to the SMSC at {where}: {type(exc).__name__}") from exc
        session = _Session(reader, writer)
        bind = p.Pdu(p.BIND_TRANSCEIVER, self._next_sequence(), params={
            "system_id": s.system_id, "password": s.password.get_secret_value(), "system_type": s.system_type,
            "interface_version": p.INTERFACE_VERSION})
        try:
            session.write(bind)
            resp = await asyncio.wait_for(p.read_pdu(reader), s.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, p.PduError) as exc:
            session.close()
            raise TransientError(f"no bind answer from the SMSC at {where}: {type(exc).__name__}") from exc
        if resp.status != p.ESME_ROK or resp.command_id != p.BIND_TRANSCEIVER_RESP:
            session.close()
            name = p.status_name(resp.status)
            log.warning("smpp bind to %s as %s refused: %s", where, s.system_id, name)
            if resp.status in _CREDENTIALS:
                raise PermanentError(f"the SMSC refused the credentials of {s.system_id}: {name}", code=name)
            raise TransientError(f"the SMSC refused the bind: {name}", code=name)
        log.info("smpp bound to %s as %s", where, s.system_id)
        for work in (self._read(session), self._keepalive(session)):
            task = asyncio.create_task(work)
            session.tasks.add(task)
            task.add_done_callback(session.tasks.discard)
        return session

    async def _read(self, session: _Session) -> None:
        try:
            while True:
                pdu = await p.read_pdu(session.reader)
                if pdu.is_response:
                    future = session.pending.pop(pdu.sequence, None)
                    if future is not None and not future.done():
                        future.set_result(pdu)
                elif pdu.command_id == p.ENQUIRE_LINK:
                    session.write(pdu.reply())
                elif pdu.command_id == p.DELIVER_SM:
                    task = asyncio.create_task(self._deliver(session, pdu))
                    session.tasks.add(task)
                    task.add_done_callback(session.tasks.discard)
                elif pdu.command_id == p.UNBIND:
                    session.write(pdu.reply())
                    break
                else:
                    session.write(p.Pdu(p.GENERIC_NACK, pdu.sequence, p.ESME_RINVCMDID))
        except (OSError, asyncio.IncompleteReadError, p.PduError) as exc:
            log.info("smpp session ended (%s)", type(exc).__name__)
        finally:
            session.close()

    async def _keepalive(self, session: _Session) -> None:
        while not session.closed.is_set():
            await asyncio.sleep(self.settings.enquire_link_seconds)
            try:
                await self._request(session, p.Pdu(p.ENQUIRE_LINK))
            except (ConnectionError, TimeoutError, OSError):
                log.warning("smpp enquire_link unanswered; dropping the session")
                session.close()

    async def _request(self, session: _Session, pdu: p.Pdu) -> p.Pdu:
        """Write ``pdu`` and wait for its response; ConnectionError when the session is lost, TimeoutError
        after ``timeout``."""
        pdu.sequence = self._next_sequence()
        future: asyncio.Future[p.Pdu] = asyncio.get_running_loop().create_future()
        session.pending[pdu.sequence] = future
        try:
            session.write(pdu)
            return await asyncio.wait_for(future, self.settings.timeout)
        finally:
            session.pending.pop(pdu.sequence, None)

    async def _deliver(self, session: _Session, pdu: p.Pdu) -> None:
        """Hand a deliver_sm to the host, then answer it (ESME_RX_T_APPN when the host could not take it)."""
        status = p.ESME_ROK
        try:
            await self._hand_over(session, pdu)
        except Exception:
            log.exception("smpp deliver_sm could not be stored; the SMSC will deliver it again")
            status = p.ESME_RX_T_APPN
        if not session.closed.is_set():
            session.write(pdu.reply(status, message_id=""))

    async def _hand_over(self, session: _Session, pdu: p.Pdu) -> None:
        ctx = self._ctx
        provider_id = ctx.provider_id if ctx else ""
        if pdu.get_int("esm_class") & p.ESM_TYPE_MASK == p.ESM_DELIVERY_RECEIPT:
            receipt = receipt_of(pdu)
            if receipt is not None and ctx is not None and ctx.on_receipt is not None:
                await ctx.on_receipt(provider_id, receipt)
            return
        payload = pdu.tlvs.get(p.TLV_MESSAGE_PAYLOAD) or pdu.get_bytes("short_message")
        if pdu.get_int("esm_class") & p.ESM_UDHI:
            _, payload = p.split_udh(payload)
        body = p.decode_text(payload, pdu.get_int("data_coding"))
        sender = to_e164(pdu.get_str("source_addr"), pdu.get_int("source_addr_ton"))
        ours = to_e164(pdu.get_str("destination_addr"), pdu.get_int("dest_addr_ton"))
        # deliver_sm carries no message id: one made of the session, sequence and content makes an SMSC's
        # redelivery on the same session (after a lost deliver_sm_resp) a duplicate the inbox drops.
        digest = hashlib.sha256(f"{session.token}|{pdu.sequence}|{sender}|{ours}|{body}".encode()).hexdigest()
        log.info("smpp inbound message from %s", mask_address(sender))
        if ctx is not None and ctx.on_inbound is not None:
            await ctx.on_inbound(provider_id, Incoming(f"smpp-{digest[:32]}", sender, ours, body))

    async def _bound_session(self) -> _Session:
        """The bound session, waiting up to ``timeout`` for a bind in progress; the last bind error (with
        the wait until the next attempt) when binding is failing."""
        self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout
        while True:
            session = self._session
            if session is not None and not session.closed.is_set():
                return session
            if self._error is not None:
                wait = max(0.0, self._retry_at - loop.time())
                if isinstance(self._error, PermanentError):
                    raise PermanentError(self._error.message, code=self._error.code)
                raise TransientError(self._error.message, code=self._error.code, retry_after=wait or None)
            if loop.time() >= deadline:
                raise TransientError("no SMPP session: the bind did not complete in time")
            self._outcome.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outcome.wait(), deadline - loop.time())

    # -- the Provider interface ------------------------------------------------------------------------------

    async def send(self, envelope: Envelope) -> SendResult:
        body = envelope.content.get("body")
        if not isinstance(body, str) or not body:
            raise PermanentError("SMS envelope has no body", code="empty_body")
        to = mask_address(envelope.to)
        pdus = submit_parts(envelope, body, envelope.sender or self.settings.source_addr)
        session = await self._bound_session()
        first: str | None = None
        for n, pdu in enumerate(pdus):
            try:
                async with self._window:
                    if session.closed.is_set() and not n:  # lost while waiting for the window: nothing went out
                        raise TransientError("SMPP session lost before the submit_sm")
                    if session.closed.is_set():
                        raise ConnectionError("SMPP session lost")
                    resp = await self._request(session, pdu)
                message_id = submit_outcome(resp)
            except ConnectionError as exc:
                log.warning("smpp send to %s: session lost during submit_sm", to)
                raise TransientError("SMPP session lost before the SMSC answered", maybe_sent=True) from exc
            except TimeoutError as exc:
                log.warning("smpp send to %s: no submit_sm_resp", to)
                raise TransientError("no submit_sm_resp from the SMSC", maybe_sent=True) from exc
            except TransientError as exc:
                if n:  # earlier parts went out: the text may arrive in part
                    raise TransientError(exc.message, code=exc.code, retry_after=exc.retry_after,
                                         maybe_sent=True) from exc
                log.warning("smpp send to %s: %s", to, exc.message)
                raise
            first = first or message_id
        log.debug("smpp accepted message to %s as %s (%d parts)", to, first, len(pdus))
        return SendResult(provider_message_id=first, code=p.status_name(p.ESME_ROK))

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """Always ``None`` (not sent): ``query_sm`` needs the SMSC's message id, which an ambiguous failure
        is exactly what lost. The message is sent again; the recipient may get it twice."""
        return None

    async def close(self) -> None:
        """Unbind politely (bounded by ``timeout``), then stop the supervisor and whatever session it holds."""
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        session = self._session
        if session is not None and not session.closed.is_set():
            with contextlib.suppress(ConnectionError, TimeoutError, OSError):
                await asyncio.wait_for(self._request(session, p.Pdu(p.UNBIND)), min(self.settings.timeout, 2))
            session.close()
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait({supervisor}, timeout=self.settings.timeout + 1)
        if self._session is not None:
            self._session.close()


SPEC = ProviderSpec(
    kind="smpp",
    channels=frozenset({"sms"}),
    settings_model=SmppSettings,
    factory=lambda settings, ctx: SmppProvider(settings, ctx),
    description="SMPP 3.4 SMSC (bind_transceiver, receipts and inbound over the session)",
)
