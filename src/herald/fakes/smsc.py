"""A fake SMSC (SMPP 3.4 server) for tests, the demo and benchmarks.

Accepts ``bind_transceiver`` (checking ``system_id`` and ``password``: ESME_RINVSYSID / ESME_RINVPASWD),
acks each ``submit_sm`` with a message id, records messages -- text decoded from ``data_coding``,
concatenated parts (UDH) reassembled into one message -- answers ``enquire_link`` and ``unbind``, sends
delivery receipts as ``deliver_sm`` (on request, or automatically with ``receipts=True``) and injects
mobile-originated messages. Told to fail: throttle or refuse the next N submits with any status, leave them
unanswered, drop the connection at the next submit (after reading it), refuse binds.

Two lifecycles like the HTTP fakes: an async context manager for async tests, :meth:`FakeSmsc.running` on a
background thread for synchronous ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, Self

from herald.channels.sms import segments
from herald.channels.sms import smpp_pdu as p

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_ID = "herald"
DEFAULT_PASSWORD = "fakesmsc"  # noqa: S105 -- the fake's published test credential


class FakeSmsc:
    """An in-process SMSC look-alike on ``host:port`` (port 0 picks a free one).

    ``messages``: one dict per (reassembled) message: ``to``, ``from``, ``text``, ``data_coding``,
    ``message_id`` (the first part's), ``parts`` (the part ids), ``registered_delivery``, ``received_at``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, system_id: str = DEFAULT_SYSTEM_ID,
                 password: str = DEFAULT_PASSWORD, *, receipts: bool = False, receipt_delay: float = 0.05) -> None:
        self.host, self.port = host, port
        self.system_id, self.password = system_id, password
        self.receipts, self.receipt_delay = receipts, receipt_delay
        self.messages: list[dict[str, Any]] = []
        self.submits: list[p.Pdu] = []
        self.enquire_links = 0
        self.binds = 0
        self.acks: list[p.Pdu] = []
        """Responses the client sent to our deliver_sm, in order."""
        self._failures: deque[tuple[str, int]] = deque()  # (mode or status, remaining)
        self._partial: dict[tuple[str, str, int], dict[int, tuple[str, str]]] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._clients: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.refuse_binds: int | None = None
        """A command_status every bind is refused with (e.g. ESME_RBINDFAIL), until set back to None."""

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()  # client handlers end on their own (cancelling them upsets asyncio's stream callback)
        if self._clients:
            await asyncio.wait(self._clients, timeout=1)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Run the server on a background thread with its own event loop (for synchronous tests)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._thread, args=(loop, ready), name="fake-smsc", daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def _thread(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self.stop())
        loop.close()

    # -- controls ------------------------------------------------------------------------------------------------

    def fail(self, mode: str | int, count: int = 1) -> None:
        """The next ``count`` submits: answered with a command_status (an int, e.g. ESME_RTHROTTLED; ESME_ROK
        passes them through, to fail a later one), or
        ``"drop"`` (read, recorded, then the connection is closed unanswered), or ``"silent"`` (never
        answered)."""
        if isinstance(mode, str) and mode not in ("drop", "silent"):
            raise ValueError(f"unknown failure mode {mode!r}")
        self._failures.append((str(mode), count))

    def throttle(self, count: int = 1) -> None:
        self.fail(p.ESME_RTHROTTLED, count)

    def drop(self) -> None:
        """Close every client connection now."""
        for writer in list(self._writers):
            writer.close()

    @property
    def connections(self) -> int:
        return len(self._writers)

    async def deliver_receipt(self, message: dict[str, Any], stat: str = "DELIVRD", err: str = "000") -> None:
        """Send the delivery receipt of a recorded message to every bound client (text and TLVs)."""
        state = {v: k for k, v in p.MESSAGE_STATES.items()}.get(stat, 7)
        await self._deliver({
            "source_addr": message["to"], "destination_addr": message["from"], "esm_class": p.ESM_DELIVERY_RECEIPT,
            "short_message": p.receipt_text(message["message_id"], stat, err).encode("ascii")},
            {p.TLV_RECEIPTED_MESSAGE_ID: message["message_id"].encode() + b"\0", p.TLV_MESSAGE_STATE: bytes((state,))})

    async def inject_mo(self, sender: str, to: str, text: str) -> None:
        """Deliver a mobile-originated message from ``sender`` (E.164) to our number ``to``."""
        coding = p.DC_UCS2 if segments.analyze(text).encoding == segments.UCS2 else p.DC_DEFAULT
        await self._deliver({"source_addr_ton": p.TON_INTERNATIONAL, "source_addr_npi": p.NPI_ISDN,
                             "source_addr": sender.lstrip("+"), "dest_addr_ton": p.TON_INTERNATIONAL,
                             "dest_addr_npi": p.NPI_ISDN, "destination_addr": to.lstrip("+"), "esm_class": 0,
                             "data_coding": coding, "short_message": p.encode_text(text, coding)}, {})

    async def _deliver(self, params: dict[str, int | str | bytes], tlvs: dict[int, bytes]) -> None:
        if not self._writers:
            raise RuntimeError("no client is bound to the fake SMSC")
        for writer in list(self._writers):
            writer.write(p.encode(p.Pdu(p.DELIVER_SM, next(self._seq), params=dict(params), tlvs=dict(tlvs))))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def enquire_link(self) -> None:
        """Send an enquire_link to every client (the client must answer it)."""
        for writer in list(self._writers):
            writer.write(p.encode(p.Pdu(p.ENQUIRE_LINK, next(self._seq))))

    # -- the protocol ----------------------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        bound = False
        try:
            while True:
                pdu = await p.read_pdu(reader)
                if pdu.command_id == p.BIND_TRANSCEIVER and not bound:
                    status = self._bind_status(pdu)
                    writer.write(p.encode(pdu.reply(status, system_id="fakesmsc")))
                    if status != p.ESME_ROK:
                        await writer.drain()
                        break
                    bound = True
                    self.binds += 1
                    self._writers.add(writer)
                elif not bound:
                    writer.write(p.encode(pdu.reply(p.ESME_RINVBNDSTS)))
                elif pdu.command_id == p.SUBMIT_SM:
                    if not self._submit(pdu, writer):
                        break
                elif pdu.command_id == p.ENQUIRE_LINK:
                    self.enquire_links += 1
                    writer.write(p.encode(pdu.reply()))
                elif pdu.command_id == p.UNBIND:
                    writer.write(p.encode(pdu.reply()))
                    await writer.drain()
                    break
                elif pdu.is_response:
                    self.acks.append(pdu)
                else:
                    writer.write(p.encode(p.Pdu(p.GENERIC_NACK, pdu.sequence, p.ESME_RINVCMDID)))
        except (OSError, asyncio.IncompleteReadError, p.PduError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            if task is not None:
                self._clients.discard(task)

    def _bind_status(self, pdu: p.Pdu) -> int:
        if self.refuse_binds is not None:
            return self.refuse_binds
        if pdu.get_str("system_id") != self.system_id:
            return p.ESME_RINVSYSID
        if pdu.get_str("password") != self.password:
            return p.ESME_RINVPASWD
        return p.ESME_ROK

    def _next_failure(self) -> str | None:
        if not self._failures:
            return None
        mode, remaining = self._failures.popleft()
        if remaining > 1:
            self._failures.appendleft((mode, remaining - 1))
        return mode

    def _submit(self, pdu: p.Pdu, writer: asyncio.StreamWriter) -> bool:
        """Answer one submit_sm; False when the connection must be closed (the ``drop`` failure)."""
        self.submits.append(pdu)
        failure = self._next_failure()
        if failure is not None and failure.isdigit() and int(failure) != p.ESME_ROK:
            writer.write(p.encode(pdu.reply(int(failure))))
            return True
        if not pdu.get_str("destination_addr").isdigit():
            writer.write(p.encode(pdu.reply(p.ESME_RINVDSTADR)))
            return True
        message_id = f"{next(self._ids):08X}"
        message = self._record(pdu, message_id)
        if failure == "drop":
            return False
        if failure != "silent":
            writer.write(p.encode(pdu.reply(message_id=message_id)))
        if message is not None and self.receipts and pdu.get_int("registered_delivery") & 1:
            task = asyncio.create_task(self._auto_receipt(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    def _record(self, pdu: p.Pdu, message_id: str) -> dict[str, Any] | None:
        """Record a submit; a part of a concatenated message waits for its siblings (None until complete)."""
        coding = pdu.get_int("data_coding")
        payload = pdu.tlvs.get(p.TLV_MESSAGE_PAYLOAD) or pdu.get_bytes("short_message")
        concat = None
        if pdu.get_int("esm_class") & p.ESM_UDHI:
            concat, payload = p.split_udh(payload)
        text = p.decode_text(payload, coding)
        src, dst = pdu.get_str("source_addr"), pdu.get_str("destination_addr")
        parts = [(message_id, text)]
        if concat is not None and concat[1] > 1:
            key = (src, dst, concat[0])
            pending = self._partial.setdefault(key, {})
            pending[concat[2]] = (message_id, text)
            if len(pending) < concat[1]:
                return None
            parts = [pending[n] for n in sorted(pending)]
            del self._partial[key]
        message = {"to": dst, "from": src, "text": "".join(t for _, t in parts), "data_coding": coding,
                   "message_id": parts[0][0], "parts": [i for i, _ in parts],
                   "registered_delivery": pdu.get_int("registered_delivery"), "received_at": time.time()}
        self.messages.append(message)
        return message

    async def _auto_receipt(self, message: dict[str, Any]) -> None:
        await asyncio.sleep(self.receipt_delay)
        with contextlib.suppress(RuntimeError):
            await self.deliver_receipt(message)


async def serve(host: str, port: int, system_id: str, password: str, receipts: bool) -> None:
    """Run a fake SMSC until cancelled (``herald fake smsc``)."""
    async with FakeSmsc(host, port, system_id, password, receipts=receipts) as fake:
        print(f"Fake SMSC on {fake.host}:{fake.port} (system_id={system_id}, password={password}, "
              f"receipts={'on' if receipts else 'off'})", flush=True)
        await asyncio.Event().wait()
