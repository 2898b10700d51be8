"""SMPP 3.4 PDUs: known byte vectors, round trips, malformed input, UDH, text codecs and delivery receipts."""

from __future__ import annotations

import asyncio

import pytest

from herald.channels.base import PermanentError, TransientError
from herald.channels.sms import smpp_pdu as p
from herald.channels.sms.smpp import address, receipt_of, submit_outcome, to_e164


def test_enquire_link_known_bytes():
    raw = p.encode(p.Pdu(p.ENQUIRE_LINK, sequence=7))
    assert raw == bytes.fromhex("00000010" "00000015" "00000000" "00000007")
    assert p.decode(raw) == p.Pdu(p.ENQUIRE_LINK, 7)


def test_bind_transceiver_known_bytes():
    pdu = p.Pdu(p.BIND_TRANSCEIVER, 1, params={"system_id": "abc", "password": "pw", "system_type": "",
                                                "interface_version": 0x34})
    raw = p.encode(pdu)
    body = b"abc\0" + b"pw\0" + b"\0" + bytes((0x34, 0, 0)) + b"\0"
    assert raw == bytes.fromhex(f"{16 + len(body):08x}" "00000009" "00000000" "00000001") + body
    decoded = p.decode(raw)
    assert decoded.get_str("system_id") == "abc"
    assert decoded.get_str("password") == "pw"
    assert decoded.get_int("interface_version") == 0x34


def test_submit_sm_round_trip_with_tlvs():
    pdu = p.Pdu(p.SUBMIT_SM, 42, params={
        "service_type": "", "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "HERALD",
        "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "447700900123", "esm_class": 0x40,
        "protocol_id": 0, "priority_flag": 0, "schedule_delivery_time": "", "validity_period": "",
        "registered_delivery": 1, "replace_if_present_flag": 0, "data_coding": 8, "sm_default_msg_id": 0,
        "short_message": b"\x00h\x00i"}, tlvs={p.TLV_SAR_MSG_REF_NUM: b"\x00\x07"})
    raw = p.encode(pdu)
    assert raw[16:17] == b"\0"  # empty service_type
    assert p.decode(raw) == pdu
    assert raw.endswith(b"\x02\x0c\x00\x02\x00\x07")


def test_submit_sm_resp_and_error_response_without_body():
    ok = p.encode(p.Pdu(p.SUBMIT_SM_RESP, 3, params={"message_id": "0000ABCD"}))
    assert ok == bytes.fromhex("00000019" "80000004" "00000000" "00000003") + b"0000ABCD\0"
    refused = p.encode(p.Pdu(p.SUBMIT_SM, 3).reply(p.ESME_RTHROTTLED))
    assert refused == bytes.fromhex("00000010" "80000004" "00000058" "00000003")
    decoded = p.decode(refused)
    assert decoded.status == p.ESME_RTHROTTLED
    assert decoded.params == {}


def test_generic_nack_and_unbind():
    for command in (p.GENERIC_NACK, p.UNBIND, p.UNBIND_RESP, p.ENQUIRE_LINK_RESP, p.DELIVER_SM_RESP):
        pdu = p.Pdu(command, 9, p.ESME_RINVCMDID if command == p.GENERIC_NACK else 0)
        assert p.decode(p.encode(pdu)).command_id == command


@pytest.mark.parametrize("raw", [
    b"\x00\x00\x00\x10",  # shorter than a header
    bytes.fromhex("00000011" "00000015" "00000000" "00000001"),  # length mismatch
    bytes.fromhex("00000010" "000000ff" "00000000" "00000001"),  # unknown command
    bytes.fromhex("00000013" "80000009" "00000000" "00000001") + b"abc",  # unterminated C-string
    bytes.fromhex("00000016" "00000015" "00000000" "00000001") + b"\x04\x24\x00\x09\x00\x00",  # TLV overrun
])
def test_malformed_pdus_raise(raw: bytes):
    with pytest.raises(p.PduError):
        p.decode(raw)


def test_short_message_over_254_octets_is_refused():
    with pytest.raises(p.PduError):
        p.encode(p.Pdu(p.SUBMIT_SM, 1, params={"short_message": b"x" * 255}))


async def test_read_pdu_from_a_stream_and_length_guard():
    reader = asyncio.StreamReader()
    reader.feed_data(p.encode(p.Pdu(p.ENQUIRE_LINK, 1)) + p.encode(p.Pdu(p.UNBIND, 2)))
    assert (await p.read_pdu(reader)).sequence == 1
    assert (await p.read_pdu(reader)).command_id == p.UNBIND
    reader.feed_data(bytes.fromhex("7fffffff" "00000015" "00000000" "00000001"))
    with pytest.raises(p.PduError):
        await p.read_pdu(reader)


def test_udh_concat_round_trip():
    udh = p.udh_concat(0x1FF, 3, 2)
    assert udh == bytes.fromhex("050003ff0302")
    assert p.split_udh(udh + b"text") == ((0xFF, 3, 2), b"text")
    assert p.split_udh(bytes.fromhex("06080401020304") + b"x") == ((0x0102, 3, 4), b"x")  # 16-bit reference
    assert p.split_udh(bytes.fromhex("03010100") + b"y") == (None, b"y")  # other IE only


@pytest.mark.parametrize(("text", "coding", "raw"), [
    ("Hi@", p.DC_DEFAULT, b"Hi\x00"),  # @ is septet 0
    ("€", p.DC_DEFAULT, b"\x1b\x65"),  # extension character: ESC + e
    ("Grüße 😀", p.DC_UCS2, "Grüße 😀".encode("utf-16-be")),
])
def test_text_codecs(text: str, coding: int, raw: bytes):
    assert p.encode_text(text, coding) == raw
    assert p.decode_text(raw, coding) == text


def test_receipt_from_text_and_tlvs():
    text = "id:0000ABCD sub:001 dlvrd:001 submit date:2611292210 done date:2611292211 stat:DELIVRD err:000 text:Hi"
    pdu = p.Pdu(p.DELIVER_SM, 1, params={"esm_class": 4, "short_message": text.encode()})
    assert p.parse_receipt(pdu) == p.ReceiptText("0000ABCD", "DELIVRD", "000")
    receipt = receipt_of(pdu)
    assert receipt is not None
    assert (receipt.provider_message_id, receipt.state, receipt.code) == (
        "0000ABCD", "delivered", None)
    tlv = p.Pdu(p.DELIVER_SM, 1, params={"esm_class": 4}, tlvs={
        p.TLV_RECEIPTED_MESSAGE_ID: b"77\0", p.TLV_MESSAGE_STATE: bytes((5,))})
    undelivered = receipt_of(tlv)
    assert undelivered is not None
    assert (undelivered.provider_message_id, undelivered.state) == ("77", "undelivered")
    enroute = p.Pdu(p.DELIVER_SM, 1, params={"short_message": b"id:1 stat:ENROUTE err:000"})
    assert receipt_of(enroute) is None
    assert p.parse_receipt(p.Pdu(p.DELIVER_SM, 1, params={"short_message": b"hello"})) is None
    undeliv = p.receipt_text("9", "UNDELIV", "011").encode()
    failed = receipt_of(p.Pdu(p.DELIVER_SM, 1, params={"short_message": undeliv}))
    assert failed is not None
    assert (failed.state, failed.code) == ("undelivered", "011")


def test_addresses_and_submit_outcomes():
    assert address("+447700900123") == (p.TON_INTERNATIONAL, p.NPI_ISDN, "447700900123")
    assert address("12345") == (p.TON_UNKNOWN, p.NPI_ISDN, "12345")
    assert address("HERALD") == (p.TON_ALPHANUMERIC, p.NPI_UNKNOWN, "HERALD")
    assert to_e164("447700900123", p.TON_INTERNATIONAL) == "+447700900123"
    assert to_e164("12345", p.TON_UNKNOWN) == "12345"
    request = p.Pdu(p.SUBMIT_SM, 5)
    assert submit_outcome(request.reply(message_id="X1")) == "X1"
    with pytest.raises(TransientError) as throttled:
        submit_outcome(request.reply(p.ESME_RTHROTTLED))
    assert (throttled.value.code, throttled.value.retry_after, throttled.value.maybe_sent) == (
        "ESME_RTHROTTLED", 1.0, False)
    with pytest.raises(TransientError):
        submit_outcome(request.reply(p.ESME_RMSGQFUL))
    with pytest.raises(PermanentError) as invalid:
        submit_outcome(request.reply(p.ESME_RINVDSTADR))
    assert invalid.value.code == "ESME_RINVDSTADR"
    with pytest.raises(PermanentError):
        submit_outcome(p.Pdu(p.GENERIC_NACK, 5, p.ESME_RINVCMDID))
