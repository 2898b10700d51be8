"""The import job's process-level settings: the garbage collector is spared the process's older objects only
while imports run, and handed them back when the last one ends."""

from __future__ import annotations

import gc

from herald.imports import runner


def test_objects_are_frozen_only_while_an_import_runs() -> None:
    before = gc.get_freeze_count()
    with runner._collector_spared():
        frozen = gc.get_freeze_count()
        assert frozen > before
        with runner._collector_spared():  # a second import in the same process
            pass
        assert gc.get_freeze_count() >= frozen
    assert gc.get_freeze_count() == 0
