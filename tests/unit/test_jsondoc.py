"""JSON documents for PostgreSQL's json_to_recordset: the same values the standard library would write, for
everything a row can hold, and what orjson refuses still written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from herald.db import jsondoc


def test_rows_read_back_as_the_standard_library_writes_them() -> None:
    when = datetime(2026, 12, 3, 5, 25, 19, 699646, tzinfo=UTC)
    rows = [{"id": "msg_1", "at": when, "whole_second": when.replace(microsecond=0),
             "kolkata": when.astimezone(ZoneInfo("Asia/Kolkata")),
             "fixed": when.astimezone(timezone(timedelta(hours=-3))),
             "naive": when.replace(tzinfo=None), "payload": {"amount": 20.5, "tags": ["a", "é", "😀"], "n": None,
                                                             "nested": {"ok": True}}, "count": 3, "none": None},
            {"id": "msg_2", "at": None, "payload": {1: "int key"}, "count": -(2**63), "none": None}]
    assert json.loads(jsondoc.dumps(rows)) == json.loads(json.dumps(rows, default=lambda v: v.isoformat()))


def test_an_integer_past_64_bits_is_still_written() -> None:
    rows = [{"payload": {"account": 10**30}}]
    assert json.loads(jsondoc.dumps(rows)) == rows


def test_a_value_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError):
        jsondoc.dumps([{"amount": Decimal("1.5")}])
