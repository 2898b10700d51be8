"""The audience pages in a real browser against `herald serve`: upload a CSV into a new list, watch the import
finish (htmx polling), read its failed rows, find a contact, open it, and check whether an address is blocked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Served, Tab

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CSV = ("Cust No;Mobile;E-mail;Name;Marketing consent\n"
       "1;+447911123456;ann@example.com;Ann Archer;yes\n"
       "2;4.47912E+11;bob@example.com;Bob Baker;\n"
       "3;+447911123457;cy@example.com;Cy Cole;maybe\n")


def test_import_a_csv_follow_it_and_find_the_contact(tab: Tab, served: Served, tmp_path: Path) -> None:
    page, problems = tab.page, tab.problems
    page.goto(served.base + "/console/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served.base + "/console")

    page.click("nav >> text=Audience")
    page.wait_for_url(served.base + "/console/audience")
    data = tmp_path / "uk-customers.csv"
    data.write_text(CSV, encoding="utf-8")
    page.fill("#list_name", "UK customers")
    page.set_input_files("#file", str(data))
    page.click("form[action='/console/audience/imports'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/imports/imp_[0-9A-Z]+$"))
    from playwright.sync_api import expect

    expect(page.locator("#import-state")).to_have_text("completed", timeout=20_000)  # htmx polls it
    assert page.inner_text("#created") == "1"
    assert page.inner_text("#failed") == "2"
    failures = page.locator("#failures tbody tr").all_inner_texts()
    assert [line.split()[0:2] for line in failures] == [["3", "phone_scientific_notation"],
                                                       ["4", "ambiguous_consent"]]
    with page.expect_download() as download:
        page.click("text=Download every failed row (CSV)")
    saved = tmp_path / "failures.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8-sig").splitlines()[0] == "row,code,reason"

    page.click("nav >> text=Contacts")
    page.fill("#q", "ann@example.com")
    page.click("form.filters button[type=submit]")
    page.click("text=Ann Archer")
    page.wait_for_url(re.compile(r".*/console/contacts/ct_[0-9A-Z]+$"))
    consent = page.inner_text("#consent")
    assert re.search(r"direct_marketing\s+granted\s+import", consent), consent
    assert "UK customers" in page.inner_text("main")

    page.click("nav >> text=Audience")
    page.fill("#address", "+44 7911 123456")
    page.click("form.filters button[type=submit]")
    assert "not blocked" in page.inner_text("#check-result")
    shot = tmp_path / "audience.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert "UK customers" in page.inner_text("main")
    assert not problems, problems
