"""The cyclic garbage collector in Herald's long-running processes (``serve``, ``api``, ``worker``, the fakes).

Two habits of CPython's collector cost a server its tail latency. A young-generation pass every 700 net
allocations ran every few requests (13 % of a worker's CPU; see :data:`THRESHOLDS`). And every full pass
walks every object in the process -- the modules, SQLAlchemy's tables, the phone-number metadata, pydantic's
validators, the route tables -- whether or not any of them could be garbage: 40-90 ms during which nothing
else runs, measured on ``herald serve`` at start-up and seen as a 90 ms stall at 500 events/s. So once
start-up is over, :func:`settle` collects what it left behind and freezes the rest (``gc.freeze``): later
passes walk only what was made since. Frozen objects are still freed as soon as nothing refers to them; only
reference cycles among them would wait, and what exists at the end of start-up lives as long as the
process."""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 20, 100)
"""Allocations between young passes, and young passes per middle one, middle per full one. With the rows,
dicts, tasks and HTTP objects each message makes, CPython's default (700) was a pass every few messages:
0.43 -> 0.375 CPU-ms per SMS in a campaign worker. A young pass walks every object made since the last one,
so its pause grows with the threshold: 50,000 meant 10-30 ms stalls in ``herald serve`` at 500 events/s,
queueing every request behind them; 10,000 costs the same CPU in all (a campaign worker: 0.227-0.234
CPU-ms per SMS either way) in pauses of 2-4 ms, and peaks ~7 MB lower. What makes the passes rarer still is
making fewer cycles: statements built once, not per request (:data:`herald.events.ingest._EARLIER`)."""


def settle() -> None:
    """Call once start-up is over: collect its garbage, freeze what survived, and make passes rarer."""
    refreeze()
    gc.set_threshold(*THRESHOLDS)


def refreeze() -> None:
    """Collect everything (one full pass) and freeze what survived: after something that had to unfreeze
    (the end of an import, :mod:`herald.imports.runner`)."""
    gc.collect()
    gc.freeze()
