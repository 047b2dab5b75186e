"""Pausing the cyclic garbage collector around work that allocates much and makes no
cycles (parsing templates, unpickling them): the collector would rescan the growing
heap again and again for nothing."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off meanwhile (nested pauses leave it as the outer one found it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
