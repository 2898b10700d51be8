"""The import job's process-level settings: the garbage collector is spared the process's older objects, and
collects less often, only while imports run; both come back when the last one ends."""

from __future__ import annotations

import gc

from herald.imports import runner


def test_objects_are_frozen_only_while_an_import_runs() -> None:
    before, threshold = gc.get_freeze_count(), gc.get_threshold()
    with runner._collector_spared():
        frozen = gc.get_freeze_count()
        assert frozen > before
        assert gc.get_threshold() == (runner.IMPORT_GC_THRESHOLD, *threshold[1:])
        with runner._collector_spared():  # a second import in the same process
            pass
        assert gc.get_freeze_count() >= frozen
        assert gc.get_threshold()[0] == runner.IMPORT_GC_THRESHOLD
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold
