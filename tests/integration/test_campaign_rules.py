"""The campaign planner states the plan rules in SQL (for speed); the dispatcher and single sends use the Python
rule book (:mod:`herald.pipeline.policy`). Over many random contacts, suppressions and DNC lists, on both
databases, the two must give every contact the same reason for every classification and DNC selection: if they
drifted apart, a campaign could skip someone a single send would reach, or the reverse."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from herald.campaigns import planner
from herald.contacts.models import Contact
from herald.messages.schemas import CLASSIFICATIONS
from herald.pipeline import policy
from herald.suppressions.models import DncList, Suppression
from tests.conftest import Running

WS = "ws_default"
PHONES = [f"+1415555{i:04d}" for i in range(40)]


def _consent(rng: random.Random) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for purpose in ("service", "direct_marketing", "affiliate_marketing"):
        pick = rng.random()
        if pick < 0.35:
            record[purpose] = {"granted": True, "at": "2026-11-01T10:00:00+00:00", "source": "api"}
        elif pick < 0.6:
            record[purpose] = {"granted": False, "at": "2026-11-02T10:00:00+00:00",
                               "source": rng.choice(["keyword", "unsubscribe", "api"])}
        elif pick < 0.7:
            record[purpose] = {"granted": None}
    return record


async def test_sql_plan_rules_agree_with_the_rule_book(herald: Running) -> None:
    rng = random.Random(20261129)
    now = datetime.now(UTC)
    lists = [{"id": "dnc_workspace", "workspace_id": WS, "name": "Suppressed", "kind": "suppression",
              "always": True, "created_at": now}]
    lists += [{"id": f"dnc_{i}", "workspace_id": WS, "name": f"List {i}", "kind": "dnc", "always": i == 0,
               "created_at": now} for i in range(3)]
    contacts = []
    for i in range(300):
        erased = rng.random() < 0.05
        phone = None if rng.random() < 0.05 else rng.choice(PHONES)
        contacts.append({"id": f"ct_{i:04d}", "workspace_id": WS, "external_id": f"x{i}", "phone": phone,
                         "email": f"p{i}@example.com" if rng.random() < 0.8 else None,
                         "consent": _consent(rng), "attributes": {}, "created_at": now, "updated_at": now,
                         "erased_at": now if erased else None})
    entries, seen = [], set()
    for n in range(120):
        channel = rng.choice(["sms", "sms", "email"])
        address = rng.choice(PHONES) if channel == "sms" else f"p{rng.randrange(300)}@example.com"
        list_id = rng.choice([lst["id"] for lst in lists])
        if (list_id, channel, address) in seen:
            continue
        seen.add((list_id, channel, address))
        entries.append({"workspace_id": WS, "list_id": list_id, "channel": channel, "address": address,
                        "scope": rng.choice(["all", "marketing"]),
                        "source": rng.choice(["manual", "import", "keyword", "bounce", "unsubscribe"]),
                        "reason": rng.choice([None, "asked"]), "created_at": now - timedelta(minutes=n)})
    state = herald.app.state.herald
    async with state.sessions() as session, session.begin():
        await session.execute(insert(DncList), [lst for lst in lists if lst["kind"] == "dnc"])
        existing = await session.scalar(select(DncList.id).where(DncList.workspace_id == WS,
                                                                 DncList.kind == "suppression"))
        if existing is None:
            await session.execute(insert(DncList), [lists[0]])
        else:
            for e in entries:
                e["list_id"] = existing if e["list_id"] == "dnc_workspace" else e["list_id"]
            lists[0]["id"] = existing
        await session.execute(insert(Contact), contacts)
        await session.execute(insert(Suppression), entries)

    kinds = {lst["id"]: lst for lst in lists}
    checked = 0
    async with state.sessions() as session:
        found = [policy.Entry(*row) for row in (await session.execute(
            select(Suppression.workspace_id, Suppression.channel, Suppression.address, Suppression.scope,
                   Suppression.source, Suppression.reason, Suppression.created_at, Suppression.list_id,
                   DncList.name, DncList.kind, DncList.always).join(DncList, DncList.id == Suppression.list_id)
        )).all()]
        for channel in ("sms", "email"):
            for classification in CLASSIFICATIONS:
                for selected in ((), ("dnc_1",), ("dnc_1", "dnc_2")):
                    spec = planner.Spec(campaign_id="cmp_x", workspace_id=WS, channel=channel,
                                        classification=classification, dnc_lists=selected, provider_id=None,
                                        sender=None, template_id=None, template_version=None, queued_explanation="")
                    sql = dict((await session.execute(planner.reasons(spec, WS))).all())
                    for c in contacts:
                        expected = _python_reason(c, channel, classification, selected, found)
                        assert sql[c["id"]] == expected, (c, channel, classification, selected, kinds)
                        checked += 1
    assert checked == 300 * 2 * len(CLASSIFICATIONS) * 3


def _python_reason(c: dict[str, Any], channel: str, classification: str, selected: tuple[str, ...],
                   entries: list[policy.Entry]) -> str | None:
    if c["erased_at"] is not None:
        return "erased"
    address = c["phone"] if channel == "sms" else c["email"]
    if not address:
        return "no_address"
    subject = policy.Subject(channel=channel, address=address, classification=classification,
                             consent=c["consent"], dnc_lists=selected)
    block = policy.decide(subject, [e for e in entries if e.address == address])
    return block.reason if block else None
