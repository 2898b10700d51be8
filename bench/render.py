"""Liquid render throughput on ONE core: an SMS and a ~2 KB email (HTML, autoescaped, a loop over 5 items,
money and date filters), as a campaign renders them: the template compiled once (every call goes through
``Renderer.compile``, a cache hit, as send-time rendering does) and rendered for recipient after recipient.

Recipients differ (1,000 distinct ones: names, amounts, dates, time zones, locales) so no formatting result
can be served from a cache. Each template is measured for about ``--seconds`` (default 2), then python-liquid
alone (same template and filters, none of Herald's limits) for half that, for comparison. Prints one JSON
object. Targets: 50,000 SMS and 20,000 email renders/s per core.

Usage: python bench/render.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import liquid
from liquid import Environment

from herald.templates import filters
from herald.templates.liquid import Renderer

SMS = ("Hi {{ contact.first_name | default: 'there' }}, your order {{ event.order_id }} has shipped. "
       "Track it: {{ event.tracking_url }} Reply STOP to opt out.")

EMAIL = """<!doctype html>
<html><head><meta charset="utf-8"><title>Your order {{ event.order_id }}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f4;">
<tr><td align="center" style="padding:24px 0;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#ffffff;border-radius:6px;">
<tr><td style="padding:24px 32px;font-size:20px;font-weight:bold;color:#222222;">{{ workspace.name }}</td></tr>
<tr><td style="padding:0 32px 16px;font-size:15px;line-height:22px;color:#333333;">
<p>Hello {{ contact.first_name | default: "there" }},</p>
<p>Thank you for your order <strong>{{ event.order_id }}</strong>, placed on
{{ event.occurred_at | local_datetime: "medium" }}. Here is what you bought:</p>
</td></tr>
<tr><td style="padding:0 32px;">
<table role="presentation" width="100%" cellpadding="6" cellspacing="0"
 style="border-collapse:collapse;font-size:14px;">
<tr style="background:#fafafa;"><th align="left">Item</th><th align="right">Qty</th><th align="right">Price</th></tr>
{% for item in event.items %}<tr style="border-top:1px solid #eeeeee;">
<td align="left">{{ item.name }}</td><td align="right">{{ item.quantity }}</td>
<td align="right">{{ item.price | money: event.currency }}</td></tr>
{% endfor %}<tr style="border-top:2px solid #dddddd;"><td colspan="2" align="right"><strong>Total</strong></td>
<td align="right"><strong>{{ event.total | money: event.currency }}</strong></td></tr>
</table></td></tr>
<tr><td style="padding:16px 32px;font-size:14px;line-height:20px;color:#555555;">
<p>Paid with the card ending {{ row.card_number | mask }}. Your order ships to {{ contact.city }}.</p>
<p>Questions? Reply to this email or visit
<a href="{{ workspace.help_url }}" style="color:#0066cc;">our help centre</a>.</p>
</td></tr>
<tr><td style="padding:16px 32px 24px;font-size:12px;line-height:18px;color:#999999;border-top:1px solid #eeeeee;">
You receive this email because you bought from {{ workspace.name }}.
<a href="{{ message.unsubscribe_url }}" style="color:#999999;">Unsubscribe</a>.
</td></tr></table></td></tr></table></body></html>
"""

NAMES = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "<Frank & Co>", "Grace", "Hiro", "Ines", "Jules"]
ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Tokyo", "UTC", "Europe/London"]
LOCALES = ["en", "en-GB", "fr-FR", "de-DE", "en-IN", "ja"]
CURRENCIES = ["EUR", "USD", "INR", "JPY", "GBP"]


def recipients(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Distinct per-recipient variables, as the send path passes them (plain dicts)."""
    rnd = random.Random(seed)
    out = []
    for n in range(count):
        items: list[dict[str, Any]] = [
            {"name": f"Product {rnd.randint(1, 999)}", "quantity": rnd.randint(1, 4),
             "price": Decimal(rnd.randint(100, 999_999)) / 100} for _ in range(5)]
        out.append({
            "contact": {"first_name": rnd.choice(NAMES), "city": "Lyon", "timezone": rnd.choice(ZONES),
                        "email": f"user{n}@example.com"},
            "row": {"card_number": f"4111{rnd.randint(10**11, 10**12 - 1)}"},
            "event": {"order_id": f"A-{100000 + n}", "tracking_url": f"https://t.example.com/{n}",
                      "occurred_at": f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T"
                                     f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z",
                      "currency": rnd.choice(CURRENCIES), "items": items,
                      "total": sum((i["price"] * i["quantity"] for i in items), Decimal(0))},
            "workspace": {"name": "Acme Shop", "help_url": "https://acme.example.com/help", "timezone": "UTC"},
            "message": {"locale": rnd.choice(LOCALES), "unsubscribe_url": f"https://u.example.com/{n}"},
        })
    return out


def measure(render: Callable[[dict[str, Any]], str], people: list[dict[str, Any]], seconds: float
            ) -> dict[str, Any]:
    """Render recipient after recipient for ``seconds``; renders/s of wall and of this thread's CPU time."""
    for person in people[:200]:  # warm up: first compile, babel's locale data, zone files
        render(person)
    done, size = 0, 0
    wall, cpu = time.perf_counter(), time.thread_time()
    while time.perf_counter() - wall < seconds:
        for person in people:
            size = len(render(person))
        done += len(people)
    cpu_used, wall_used = time.thread_time() - cpu, time.perf_counter() - wall
    return {"renders": done, "seconds": round(wall_used, 3), "renders_per_s": round(done / wall_used),
            "renders_per_cpu_s": round(done / cpu_used), "output_chars": size}


def herald(renderer: Renderer, source: str, html: bool) -> Callable[[dict[str, Any]], str]:
    """The production path: compile (a cache hit) and render with every limit and the data conversion."""
    return lambda person: renderer.render(renderer.compile(source, html=html), person)


def bare(source: str, html: bool) -> Callable[[dict[str, Any]], str]:
    """python-liquid alone with the same filters: no limits, guards, strict variables or data conversion.
    Shows how much of the cost is the library's tree-walking interpreter itself."""
    env = Environment(autoescape=html)
    for name, func in filters.FILTERS.items():
        env.add_filter(name, func)
    template = env.from_string(source)
    return lambda person: template.render(**person)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    renderer, people = Renderer(), recipients(1000)
    report: dict[str, Any] = {"python": platform.python_version(), "python_liquid": liquid.__version__,
                              "cores_used": 1}
    for name, source, html, target in (("sms", SMS, False, 50_000), ("email_html", EMAIL, True, 20_000)):
        result = measure(herald(renderer, source, html), people, args.seconds)
        baseline = measure(bare(source, html), people, args.seconds / 2)
        report[name] = {**result, "template_chars": len(source), "target_per_s": target,
                        "meets_target": result["renders_per_s"] >= target,
                        "python_liquid_alone_per_s": baseline["renders_per_s"]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
