"""The console's audience pages over the real app: uploads need a sender role and the CSRF token, a bad file is
an HTML error that stores nothing, and another workspace's imports and contacts are not found."""

from __future__ import annotations

from tests.conftest import Running
from tests.integration.test_console import add_user, csrf_of, new_client, sign_in

CSV = b"id,phone,email,name\n1,+14155550100,ann@example.com,Ann\n"


async def test_upload_needs_csrf_and_a_sender_role(herald: Running) -> None:
    async with new_client(herald) as client:
        await sign_in(client)
        page = await client.get("/console/audience")
        files = {"file": ("c.csv", CSV, "text/csv")}
        refused = await client.post("/console/audience/imports", files=files, data={"list_name": "L"})
        assert refused.status_code == 403
        done = await client.post("/console/audience/imports", files=files,
                                 data={"list_name": "L", "csrf_token": csrf_of(page.text)})
        assert done.status_code == 303
        target = done.headers["location"]
        assert (await client.get(target)).status_code == 200
        bad = await client.post("/console/audience/imports", files={"file": ("x.csv", b"", "text/csv")},
                                data={"list_name": "Never made", "csrf_token": csrf_of(page.text)})
        assert bad.status_code == 422
        assert "empty" in bad.text.lower()
        assert "Never made" not in (await client.get("/console/audience")).text

    await add_user(herald, "viewer@example.com", "viewer-password-123", "viewer")
    async with new_client(herald) as client:
        await sign_in(client, "viewer@example.com", "viewer-password-123")
        page = await client.get("/console/audience")
        assert "Import a CSV" not in page.text
        refused = await client.post("/console/audience/imports", files={"file": ("c.csv", CSV, "text/csv")},
                                    data={"list_name": "L", "csrf_token": csrf_of(page.text)})
        assert refused.status_code == 403
        assert (await client.get(target)).status_code == 200  # viewers may look


async def test_other_workspaces_pages_are_not_found(herald: Running) -> None:
    api = await herald.authed()
    made = (await api.post("/v1/contacts", json={"external_id": "x", "name": "Secret Sam"})).json()
    await add_user(herald, "other@example.com", "other-password-123", "admin", workspace="ws_other",
                   new_workspace=True)
    async with new_client(herald) as client:
        await sign_in(client, "other@example.com", "other-password-123")
        assert (await client.get(f"/console/contacts/{made['id']}")).status_code == 404
        listing = await client.get("/console/contacts")
        assert "Secret Sam" not in listing.text
        assert (await client.get("/console/imports/imp_00000000000000000000000000")).status_code == 404
    async with new_client(herald) as client:
        await sign_in(client)
        found = await client.get("/console/contacts", params={"q": "x"})
        assert "Secret Sam" in found.text
        detail = await client.get(f"/console/contacts/{made['id']}")
        assert "never given" in detail.text
