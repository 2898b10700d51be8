"""How fast this machine runs Python right now, for reading the other benchmarks' figures.

The development VM's speed swings (a busy host): the same commit has measured half and a quarter of its usual
figures on other days. Every figure here is CPU-bound in the end, so a benchmark that reports this beside its
results can be compared with one taken on another day: ``relative`` is today's rate over the rate this
machine reaches when it runs at its usual speed (:data:`REFERENCE`)."""

from __future__ import annotations

from typing import Any

from render import SMS, bare, measure, recipients

REFERENCE = 90_000
"""python-liquid alone rendering ``render.SMS``, renders/s, on the development VM at its usual speed
(89,000-93,000 over many sessions; bench/render.py prints the same figure as ``python_liquid_alone_per_s``)."""


def sample(seconds: float = 1.0) -> dict[str, Any]:
    rate = measure(bare(SMS, False), recipients(1000), seconds)["renders_per_s"]
    return {"python_liquid_sms_per_s": rate, "reference_per_s": REFERENCE, "relative": round(rate / REFERENCE, 2)}
