"""A serving process tunes the garbage collector once it is built (plugin/server.py)."""

from __future__ import annotations

import gc

from plugin import server


def test_a_serving_process_freezes_what_it_built_and_collects_rarely() -> None:
    before = gc.get_threshold()
    try:
        server.settle_memory()  # what both serving paths call
        assert gc.get_threshold() == server.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert server.GC_THRESHOLDS[0] > 10 * before[0]  # gen0 passes far rarer than default
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
