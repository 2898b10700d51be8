"""CSV imports end to end through the API: the catalogue of bad input a real import meets, each failed row
reported with its line and reason, nothing else lost; re-imports change nothing; resume after a crash."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from herald.imports import runner
from herald.imports import service as imports
from herald.queue.jobs import JobRunner
from tests.conftest import Running


async def finish(herald: Running, import_id: str) -> dict[str, Any]:
    jobs = JobRunner(herald.app.state.herald.engine, long_handlers={imports.JOB_KIND: runner.run})
    client = herald.client
    for _ in range(50):
        await jobs.run_once()
        body = (await client.get(f"/v1/imports/{import_id}")).json()
        if body["state"] in ("completed", "failed"):
            return dict(body)
    raise AssertionError(f"import did not finish: {body}")


async def upload(client: httpx.AsyncClient, data: bytes, *, target: str = "/v1/lists/Customers/imports",
                 **params: str) -> httpx.Response:
    return await client.post(target, content=data, params=params, headers={"Content-Type": "text/csv"})


async def failures(client: httpx.AsyncClient, import_id: str) -> dict[int, str]:
    text = (await client.get(f"/v1/imports/{import_id}/failures.csv")).text
    assert text.startswith("\ufeff")
    return {int(r["row"]): r["code"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}


@pytest.fixture
async def client(herald: Running) -> httpx.AsyncClient:
    c = await herald.authed()
    assert (await c.post("/v1/lists", json={"name": "Customers"})).status_code == 201
    return c


FULLWIDTH = "+14155550102".translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
CATALOGUE = (
    "customer id,Mobile,E-mail,Name,Time zone,Marketing consent,Balance\r\n"
    "1,4155550100,a@example.com,Ann,,yes,=SUM(A1)\r\n"            # national number, formula cell kept raw
    "2,4.15555E+09,b@example.com,Bob,,,10\r\n"                    # Excel-mangled number
    f"3,{FULLWIDTH},c@example.com,Cy,,no,1\r\n"                 # full-width digits
    "4,+14155550103,not-an-email,Di,,,1\r\n"                     # bad email
    "5,+14155550104,e@example.com,\"Ed\r\nSmith\",,,1\r\n"         # CR/LF inside a quoted name
    "6,+14155550105,f@example.com,Fay,Mars/Base,,1\r\n"          # unknown time zone
    "7,+14155550106,g@example.com,Gus,,maybe,1\r\n"              # ambiguous consent
    "8,+14155550107,h@example.com,Hal,,,1,extra\r\n"             # ragged row
    "\r\n"                                                        # empty line
    "9,+14155550108,i@example.com,Ivy,Europe/Paris,,1\r\n"
    "1,+14155550100,a@example.com,Ann B,,,12\r\n"                # duplicate key in the file: an update
    "10,+442079460000,j@example.com,Jo,,,1\r\n"                 # a London landline cannot take SMS
    "11,07911 123456,k@example.com,Kim,,,1\r\n"                 # a UK number written nationally, read as US
    f"12,+14155550109,{'x' * 250}@example.com,Lee,,,1\r\n"      # an over-long email
    "13,+14155550110,m@example.com,Zo\xeb,,,1\r\n"              # (made cp1252 below: another encoding)
)


async def test_the_bad_input_catalogue_is_reported_row_by_row(herald: Running, client: httpx.AsyncClient) -> None:
    lines = CATALOGUE.encode().split(b"\r\n")
    lines[-2] = lines[-2].decode().encode("cp1252")  # one row saved by another program: never garbled
    resp = await upload(client, b"\r\n".join(lines), filename="customers.csv")
    assert resp.status_code == 202, resp.text
    started = resp.json()
    assert started["options"]["key"] == "external_id"
    assert started["mapping"]["Balance"] == "field:Balance"
    done = await finish(herald, started["id"])
    assert done["state"] == "completed", done
    rows = await failures(client, done["id"])
    assert rows == {3: "phone_scientific_notation", 5: "invalid_email", 8: "unknown_timezone",
                    9: "ambiguous_consent", 10: "wrong_field_count", 14: "landline", 15: "invalid_phone",
                    16: "invalid_email", 17: "undecodable_row"}
    assert (done["created"], done["updated"], done["failed"]) == (4, 1, 9)

    members = (await client.get("/v1/lists/Customers/members")).json()["data"]
    by_name = {m["name"]: m for m in members}
    assert by_name["Ann B"]["fields"] == {"Balance": "12"}
    assert by_name["Ann B"]["phone"] == "+14155550100"
    assert by_name["Cy"]["phone"] == "+14155550102"
    assert by_name["Ed Smith"]["email"] == "e@example.com"
    ann = (await client.get("/v1/contacts", params={"external_id": "1"})).json()["data"][0]
    assert ann["consent"]["direct_marketing"]["granted"] is True
    assert ann["consent"]["direct_marketing"]["source"] == "import"


async def test_the_first_formula_cell_is_stored_raw(herald: Running, client: httpx.AsyncClient) -> None:
    data = "id,phone,note\n1,+14155550100,=HYPERLINK(\"x\")\n"
    done = await finish(herald, (await upload(client, data.encode())).json()["id"])
    member = (await client.get("/v1/lists/Customers/members")).json()["data"][0]
    assert member["fields"] == {"note": '=HYPERLINK("x")'}
    assert done["failed"] == 0


ENCODINGS = [
    ("utf-8-sig", "id;name;email\n1;Zoë Ünal;z@example.com\n"),
    ("utf-16", "id\tname\temail\n1\tZoë Ünal\tz@example.com\n"),
    ("cp1252", "id,name,email\n1,Zoë Ünal,z@example.com\n"),
    ("utf-8", "id,name,email\n1,Zoë Ünal,z@example.com\n"),
]


@pytest.mark.parametrize(("encoding", "text"), ENCODINGS)
async def test_encodings_and_delimiters_never_garble(herald: Running, client: httpx.AsyncClient, encoding: str,
                                                     text: str) -> None:
    done = await finish(herald, (await upload(client, text.encode(encoding))).json()["id"])
    assert done["failed"] == 0
    member = (await client.get("/v1/lists/Customers/members")).json()["data"][0]
    assert member["name"] == "Zoë Ünal"


async def test_reimporting_the_same_file_changes_nothing(herald: Running, client: httpx.AsyncClient) -> None:
    data = "".join(["id,phone,email,tier\n"] + [f"{n},+1415555{n:04d},u{n}@example.com,gold\n"
                                                 for n in range(1000, 1300)]).encode()
    first = await finish(herald, (await upload(client, data)).json()["id"])
    assert (first["created"], first["updated"], first["unchanged"]) == (300, 0, 0)
    second = await finish(herald, (await upload(client, data)).json()["id"])
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 300)
    assert (await client.get("/v1/lists/Customers")).json()["members"] == 300


async def test_an_import_never_regrants_withdrawn_consent(herald: Running, client: httpx.AsyncClient) -> None:
    made = (await client.post("/v1/contacts", json={"external_id": "42", "consent": {"direct_marketing": True}})).json()
    await client.put(f"/v1/contacts/{made['id']}/consent", json={"purposes": {"direct_marketing": False}})
    await finish(herald, (await upload(client, b"id,marketing consent\n42,yes\n")).json()["id"])
    after = (await client.get(f"/v1/contacts/{made['id']}")).json()
    assert after["consent"]["direct_marketing"]["granted"] is False


HEADER_PROBLEMS = [
    (b"", "empty_file"),
    (b"id,phone,Phone\n1,2,3\n", None),
    (b"id,,phone\n1,2,3\n", None),
    (b"name,tier\nAnn,gold\n", "no_key_column"),
]


@pytest.mark.parametrize(("data", "code"), HEADER_PROBLEMS)
async def test_header_problems_are_refused_at_upload(client: httpx.AsyncClient, data: bytes, code: str | None
                                                    ) -> None:
    resp = await upload(client, data)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    if code:
        assert resp.json()["code"] == code


async def test_mapping_options_and_their_errors(herald: Running, client: httpx.AsyncClient) -> None:
    data = b"Cust No,Handy,Notiz\n7,0151 23456789,hallo\n"
    bad = await upload(client, data, mapping='{"Handy": "fax"}')
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_mapping")
    ok = await upload(client, data, mapping='{"Cust No": "external_id", "Handy": "phone", "Notiz": "ignore"}',
                      region="DE")
    done = await finish(herald, ok.json()["id"])
    assert done["failed"] == 0
    member = (await client.get("/v1/lists/Customers/members")).json()["data"][0]
    assert (member["phone"], member["fields"]) == ("+4915123456789", {})


async def test_too_large_upload_states_the_limit(herald: Running, client: httpx.AsyncClient) -> None:
    limit = herald.settings.max_import_bytes
    resp = await client.post("/v1/lists/Customers/imports", content=b"x" * 10,
                             headers={"Content-Type": "text/csv", "Content-Length": str(limit + 1)})
    assert resp.status_code == 413
    assert str(limit) in resp.json()["detail"]


async def test_multipart_upload_and_dnc_import(herald: Running, client: httpx.AsyncClient) -> None:
    await client.post("/v1/dnc-lists", json={"name": "Legal"})
    files = {"file": ("dnc.csv", b"phone,email\n+14155550170,\n,x@example.com\nnot a number,\n", "text/csv")}
    resp = await client.post("/v1/dnc-lists/Legal/imports", files=files, data={"reason": "court order"})
    assert resp.status_code == 202, resp.text
    done = await finish(herald, resp.json()["id"])
    assert (done["created"], done["failed"]) == (2, 1)
    check = (await client.get("/v1/suppressions", params={"address": "+14155550170"})).json()
    assert check["blocked"] is True
    assert check["entries"][0]["source"] == "import"
    assert check["entries"][0]["reason"] == "court order"


async def test_a_crashed_import_resumes_from_its_checkpoint(herald: Running, client: httpx.AsyncClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "BATCH", 100)
    data = "".join(["id,phone\n"] + [f"{n},+1415555{n:04d}\n" for n in range(2000, 2450)]).encode()
    started = (await upload(client, data)).json()
    real = runner.bulk.upsert
    calls = {"n": 0}

    async def crash_on_third(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker died")
        return await real(*args, **kwargs)

    monkeypatch.setattr(runner.bulk, "upsert", crash_on_third)
    jobs = JobRunner(herald.app.state.herald.engine, long_handlers={imports.JOB_KIND: runner.run})
    await jobs.run_once()
    midway = (await client.get(f"/v1/imports/{started['id']}")).json()
    assert midway["rows_done"] == 200  # two batches committed with their checkpoint
    monkeypatch.setattr(runner.bulk, "upsert", real)
    from sqlalchemy import update

    from herald.queue.models import JOBS
    async with herald.app.state.herald.engine.begin() as conn:  # make the retry due now
        from datetime import UTC, datetime
        await conn.execute(update(JOBS).values(due_at=datetime.now(UTC)))
    done = await finish(herald, started["id"])
    assert (done["state"], done["created"], done["rows_done"]) == ("completed", 450, 450)
    assert (await client.get("/v1/lists/Customers")).json()["members"] == 450
