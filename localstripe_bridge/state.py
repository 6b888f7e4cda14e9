"""Where localstripe keeps its store: in memory, or in the one file the caller names.

Stock localstripe pickles its whole store to the hard-coded `/tmp/localstripe.pickle` on every
write and loads it at start, so every run would begin with the previous run's objects and two
emulators running at once (parallel test sessions, a demo beside a test run) would overwrite each
other's file. The bridge replaces both methods of localstripe's `Store`: without a state file
nothing touches the disk; with one, that file is loaded at start and replaced atomically on
every write.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from localstripe.resources import Store


class _StateFile:
    path: Path | None = None
    loading = False


def _try_load_from_disk(store: Any) -> None:
    path = _StateFile.path
    if path is None or not path.exists():
        return
    # Unpickling a stock localstripe file rebuilds a `Store`, whose every insert would save.
    _StateFile.loading = True
    try:
        with path.open("rb") as file:
            saved = pickle.load(file)  # noqa: S301 -- the state file this emulator wrote
    finally:
        _StateFile.loading = False
    store.clear()
    dict.update(store, saved)


def _dump_to_disk(store: Any) -> None:
    path = _StateFile.path
    if path is None or _StateFile.loading:
        return
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with partial.open("wb") as file:
        # A plain dict, so that loading it does not call `Store.__setitem__` for every object.
        pickle.dump(dict(store), file, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)


def use(path: Path | None) -> None:
    """Keep state in memory only (`None`) or in `path`; call before loading or serving."""
    _StateFile.path = path
    Store.try_load_from_disk = _try_load_from_disk
    Store.dump_to_disk = _dump_to_disk
