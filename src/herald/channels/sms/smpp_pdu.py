"""SMPP 3.4 protocol data units: the few commands an SMS transceiver needs, their encoding and decoding.

A PDU is a 16-octet header (``command_length``, ``command_id``, ``command_status``, ``sequence_number``, all
big-endian unsigned 32-bit) and a body of mandatory parameters in a fixed order, followed by optional TLVs
(tag, length: 16-bit each, then the value). Mandatory parameters are 8-bit integers, NUL-terminated C-octet
strings, or ``short_message`` (its length in the preceding ``sm_length`` octet). Both the client
(:mod:`herald.channels.sms.smpp`) and the fake SMSC (:mod:`herald.fakes.smsc`) speak through this module, so
one layout table serves both sides.

Also here: the ``command_status`` codes, the concatenation UDH, the short-message text codecs and the
delivery receipt text (the de-facto "id:... stat:... err:..." format of SMPP 3.4 Appendix B).
"""

from __future__ import annotations

import asyncio
import re
import struct
from dataclasses import dataclass, field

import gsm0338  # noqa: F401 -- importing it registers the "gsm03.38" codec

HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024
"""Longest PDU accepted from the peer; a longer ``command_length`` means a broken or hostile stream."""
INTERFACE_VERSION = 0x34

# command ids (responses are the request id with bit 31 set)
GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER, BIND_TRANSCEIVER_RESP = 0x00000009, 0x80000009
UNBIND, UNBIND_RESP = 0x00000006, 0x80000006
SUBMIT_SM, SUBMIT_SM_RESP = 0x00000004, 0x80000004
DELIVER_SM, DELIVER_SM_RESP = 0x00000005, 0x80000005
ENQUIRE_LINK, ENQUIRE_LINK_RESP = 0x00000015, 0x80000015
RESPONSE_BIT = 0x80000000

# command_status
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RSUBMITFAIL = 0x45
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64
STATUS_NAMES = {
    ESME_ROK: "ESME_ROK", ESME_RINVMSGLEN: "ESME_RINVMSGLEN", ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
    ESME_RINVCMDID: "ESME_RINVCMDID", ESME_RINVBNDSTS: "ESME_RINVBNDSTS", ESME_RALYBND: "ESME_RALYBND",
    ESME_RSYSERR: "ESME_RSYSERR", ESME_RINVSRCADR: "ESME_RINVSRCADR", ESME_RINVDSTADR: "ESME_RINVDSTADR",
    ESME_RBINDFAIL: "ESME_RBINDFAIL", ESME_RINVPASWD: "ESME_RINVPASWD", ESME_RINVSYSID: "ESME_RINVSYSID",
    ESME_RMSGQFUL: "ESME_RMSGQFUL", ESME_RSUBMITFAIL: "ESME_RSUBMITFAIL", ESME_RTHROTTLED: "ESME_RTHROTTLED",
    ESME_RX_T_APPN: "ESME_RX_T_APPN",
}

# TLV tags
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427

# esm_class bits, data_coding values, TON/NPI
ESM_UDHI = 0x40
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
DC_DEFAULT, DC_IA5, DC_LATIN1, DC_UCS2 = 0x00, 0x01, 0x03, 0x08
TON_UNKNOWN, TON_INTERNATIONAL, TON_ALPHANUMERIC = 0x00, 0x01, 0x05
NPI_UNKNOWN, NPI_ISDN = 0x00, 0x01

_SM_FIELDS = (
    ("service_type", "c"), ("source_addr_ton", "B"), ("source_addr_npi", "B"), ("source_addr", "c"),
    ("dest_addr_ton", "B"), ("dest_addr_npi", "B"), ("destination_addr", "c"), ("esm_class", "B"),
    ("protocol_id", "B"), ("priority_flag", "B"), ("schedule_delivery_time", "c"), ("validity_period", "c"),
    ("registered_delivery", "B"), ("replace_if_present_flag", "B"), ("data_coding", "B"),
    ("sm_default_msg_id", "B"), ("short_message", "sm"),
)
LAYOUTS: dict[int, tuple[tuple[str, str], ...]] = {
    BIND_TRANSCEIVER: (("system_id", "c"), ("password", "c"), ("system_type", "c"), ("interface_version", "B"),
                       ("addr_ton", "B"), ("addr_npi", "B"), ("address_range", "c")),
    BIND_TRANSCEIVER_RESP: (("system_id", "c"),),
    SUBMIT_SM: _SM_FIELDS,
    DELIVER_SM: _SM_FIELDS,
    SUBMIT_SM_RESP: (("message_id", "c"),),
    DELIVER_SM_RESP: (("message_id", "c"),),
}
"""Mandatory parameters per command, in wire order: ``c`` C-octet string, ``B`` 8-bit integer, ``sm``
``sm_length`` + ``short_message``. Commands not listed have an empty body."""
_COMMANDS = {BIND_TRANSCEIVER, BIND_TRANSCEIVER_RESP, UNBIND, UNBIND_RESP, SUBMIT_SM, SUBMIT_SM_RESP, DELIVER_SM,
             DELIVER_SM_RESP, ENQUIRE_LINK, ENQUIRE_LINK_RESP, GENERIC_NACK}


class PduError(ValueError):
    """A malformed PDU; ``status`` is the command_status to answer it with."""

    def __init__(self, message: str, status: int = ESME_RINVCMDLEN) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Pdu:
    """One PDU. ``params`` holds the mandatory parameters by name (missing ones encode as 0 / empty);
    ``tlvs`` the optional parameters by tag, as raw values."""

    command_id: int
    sequence: int = 0
    status: int = ESME_ROK
    params: dict[str, int | str | bytes] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def get_str(self, name: str) -> str:
        value = self.params.get(name, "")
        return value if isinstance(value, str) else ""

    def get_int(self, name: str) -> int:
        value = self.params.get(name, 0)
        return value if isinstance(value, int) else 0

    def get_bytes(self, name: str) -> bytes:
        value = self.params.get(name, b"")
        return value if isinstance(value, bytes) else b""

    def reply(self, status: int = ESME_ROK, **params: int | str | bytes) -> Pdu:
        """The response PDU to this request, with the same sequence number."""
        return Pdu(self.command_id | RESPONSE_BIT, self.sequence, status, dict(params))

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


def _cstring(value: int | str | bytes) -> bytes:
    raw = value.encode("latin-1") if isinstance(value, str) else bytes(value) if isinstance(value, bytes) else b""
    if b"\0" in raw:
        raise PduError("a C-octet string cannot contain NUL", ESME_RSYSERR)
    return raw + b"\0"


def encode(pdu: Pdu) -> bytes:
    """The PDU on the wire. A response with an error status and no parameters has an empty body, as SMSCs
    send it."""
    body = bytearray()
    layout = LAYOUTS.get(pdu.command_id, ())
    if not (pdu.is_response and pdu.status != ESME_ROK and not pdu.params):
        for name, kind in layout:
            value = pdu.params.get(name, b"" if kind != "B" else 0)
            if kind == "c":
                body += _cstring(value)
            elif kind == "B":
                body.append(int(value) & 0xFF if isinstance(value, int) else 0)
            else:
                sm = value if isinstance(value, bytes) else b""
                if len(sm) > 254:
                    raise PduError("short_message is longer than 254 octets; use message_payload", ESME_RINVMSGLEN)
                body.append(len(sm))
                body += sm
    for tag, value in pdu.tlvs.items():
        body += struct.pack(">HH", tag, len(value)) + value
    return HEADER.pack(HEADER.size + len(body), pdu.command_id, pdu.status, pdu.sequence) + bytes(body)


def decode(data: bytes) -> Pdu:
    """One whole PDU (header included) from ``data``; :class:`PduError` when it is malformed."""
    if len(data) < HEADER.size:
        raise PduError("PDU shorter than its header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length {length} does not match the {len(data)} octets read")
    if command_id not in _COMMANDS:
        raise PduError(f"unsupported command_id 0x{command_id:08X}", ESME_RINVCMDID)
    pdu = Pdu(command_id, sequence, status)
    pos = HEADER.size
    for name, kind in LAYOUTS.get(command_id, ()):
        if pos >= length and pdu.is_response:
            break  # an error response may carry no body at all
        if kind == "c":
            end = data.find(b"\0", pos)
            if end < 0:
                raise PduError(f"{name} is not NUL-terminated")
            pdu.params[name] = data[pos:end].decode("latin-1")
            pos = end + 1
        elif kind == "B":
            if pos >= length:
                raise PduError(f"PDU ends before {name}")
            pdu.params[name] = data[pos]
            pos += 1
        else:
            if pos >= length or pos + 1 + data[pos] > length:
                raise PduError("short_message runs past the end of the PDU")
            pdu.params[name] = data[pos + 1:pos + 1 + data[pos]]
            pos += 1 + data[pos]
    while pos < length:
        if pos + 4 > length:
            raise PduError("truncated TLV header")
        tag, size = struct.unpack_from(">HH", data, pos)
        if pos + 4 + size > length:
            raise PduError(f"TLV 0x{tag:04X} runs past the end of the PDU")
        pdu.tlvs[tag] = data[pos + 4:pos + 4 + size]
        pos += 4 + size
    return pdu


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """The next PDU from a stream; ``asyncio.IncompleteReadError`` at end of stream, :class:`PduError` for a
    length beyond :data:`MAX_PDU` (the stream cannot be resynchronised after that: close it)."""
    head = await reader.readexactly(HEADER.size)
    length = HEADER.unpack_from(head)[0]
    if length < HEADER.size or length > MAX_PDU:
        raise PduError(f"command_length {length} out of range")
    return decode(head + await reader.readexactly(length - HEADER.size))


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"0x{status:08X}")


# -- short message payloads --------------------------------------------------------------------------------


def udh_concat(ref: int, total: int, seq: int) -> bytes:
    """The 6-octet UDH of part ``seq`` (1-based) of ``total``: IE 0x00, 8-bit reference number."""
    return bytes((0x05, 0x00, 0x03, ref & 0xFF, total, seq))


def split_udh(payload: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """``((ref, total, seq), text octets)`` for a payload with a UDH (concatenation IE 0x00 or 0x08 read,
    other IEs skipped), ``(None, text octets)`` when it carries no concatenation IE."""
    if not payload or 1 + payload[0] > len(payload):
        raise PduError("UDH length runs past the short message", ESME_RINVMSGLEN)
    udh, rest = payload[1:1 + payload[0]], payload[1 + payload[0]:]
    pos, concat = 0, None
    while pos + 2 <= len(udh):
        iei, size = udh[pos], udh[pos + 1]
        value = udh[pos + 2:pos + 2 + size]
        if iei == 0x00 and size == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and size == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + size
    return concat, rest


def encode_text(text: str, data_coding: int) -> bytes:
    """``text`` as short message octets: unpacked GSM-7 (one septet per octet) for data_coding 0, UTF-16BE
    for 8."""
    if data_coding == DC_UCS2:
        return text.encode("utf-16-be", "surrogatepass")
    return text.encode("gsm03.38")


def decode_text(payload: bytes, data_coding: int) -> str:
    """Short message octets as text; unknown codings as Latin-1, so nothing is lost silently."""
    if data_coding == DC_UCS2:
        return payload.decode("utf-16-be", "replace")
    if data_coding == DC_DEFAULT:
        try:
            return payload.decode("gsm03.38")
        except (UnicodeDecodeError, ValueError):
            return payload.decode("latin-1")
    if data_coding == DC_IA5:
        return payload.decode("ascii", "replace")
    return payload.decode("latin-1")


# -- delivery receipts ---------------------------------------------------------------------------------------

_RECEIPT = re.compile(r"id:(?P<id>\S+).*?\bstat:(?P<stat>[A-Z]+)(?:.*?\berr:(?P<err>[0-9A-Za-z]+))?",
                      re.IGNORECASE | re.DOTALL)
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                  7: "UNKNOWN", 8: "REJECTD"}
"""``message_state`` TLV values -> the receipt text's ``stat`` word."""


@dataclass(frozen=True, slots=True)
class ReceiptText:
    message_id: str
    stat: str
    err: str | None


def parse_receipt(pdu: Pdu) -> ReceiptText | None:
    """The delivery receipt a deliver_sm carries: the ``receipted_message_id`` / ``message_state`` TLVs when
    present, else the ``id:... stat:... err:...`` text; None when neither names an id and a state."""
    text = decode_text(pdu.tlvs.get(TLV_MESSAGE_PAYLOAD) or pdu.get_bytes("short_message"), DC_IA5)
    match = _RECEIPT.search(text)
    tlv_id = pdu.tlvs.get(TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\0").decode("latin-1")
    tlv_state = pdu.tlvs.get(TLV_MESSAGE_STATE, b"")
    message_id = tlv_id or (match.group("id") if match else "")
    stat = MESSAGE_STATES.get(tlv_state[0], "") if tlv_state else ""
    stat = stat or (match.group("stat").upper() if match else "")
    if not message_id or not stat:
        return None
    return ReceiptText(message_id, stat, match.group("err") if match else None)


def receipt_text(message_id: str, stat: str, err: str = "000", text: str = "") -> str:
    """A receipt's short message as SMSCs write it (dates omitted: nobody reads them back)."""
    return f"id:{message_id} sub:001 dlvrd:{1 if stat == 'DELIVRD' else 0:03d} stat:{stat} err:{err} text:{text[:20]}"
