"""A server process's collector after start-up (herald.gcpolicy): what start-up made is frozen, collections
are rarer, and an import that must unfreeze leaves the process frozen again, its own cycles collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from herald import gcpolicy
from herald.imports import runner


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to the process's collector is undone after it."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_freezes_what_start_up_left_and_collects_its_garbage(collector: None) -> None:
    survivor, garbage = _Cycle(), _Cycle()
    gone = weakref.ref(garbage)
    del garbage
    gcpolicy.settle()
    assert gone() is None, "start-up's garbage is collected, not frozen"
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == gcpolicy.THRESHOLDS
    assert not any(o is survivor for o in gc.get_objects()), "frozen: no collection walks it any more"
    assert survivor.me is survivor


def test_an_import_in_a_settled_process_leaves_it_settled(collector: None) -> None:
    gcpolicy.settle()
    with runner._collector_spared():
        dropped = _Cycle()
        gone = weakref.ref(dropped)
        gc.freeze()  # as the import freezes its rows in flight
        del dropped
    assert gone() is None, "the import's cycles are collected when it ends"
    assert gc.get_freeze_count() > 0, "and the server's objects frozen again"
    assert gc.get_threshold() == gcpolicy.THRESHOLDS
