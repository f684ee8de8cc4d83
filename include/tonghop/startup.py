"""A process's start: the libraries a command needs, imported with Python's cyclic garbage collector paused.

Importing Great Expectations, pandas and SQLAlchemy creates millions of container objects that live as long as the
process. Each collection triggered while they are being created walks every one of them again (a full collection
runs each time the long-lived heap grows by a quarter), and none of them is garbage: with the collector paused, the
bare import of a check's libraries took 2.8 s instead of 4.0 s on our 2-core machine (interleaved, 9 runs each).
Afterwards `gc.freeze()` moves them out of the collector's view for good, so the collections the command itself
triggers walk only what the command allocates. The collector runs as usual from then on: memory of a national run
is unchanged."""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Iterable, Iterator


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside the block; what it created is frozen (never collected) when it ends. Meant for
    imports only: a cycle that becomes garbage inside the block is kept for the life of the process."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def import_paused(modules: Iterable[str]) -> None:
    """Import `modules` (dotted names) with the collector paused; nothing at all when they are all imported already
    (a process that runs several commands, such as the test suite, freezes once, not on every command)."""
    missing = [name for name in modules if name not in sys.modules]
    if not missing:
        return
    with collection_paused():
        for name in missing:
            importlib.import_module(name)


# What a command or task imports (directly or in the functions it calls), to import before it starts.
CHECK_LIBRARIES = ("great_expectations", "pandas", "python_calamine", "tonghop.workbook_check")
# `run` and `import` import Great Expectations themselves, while their files are read in other processes
# (tonghop.ingest): before that, the readers would wait for it, and the second core sit idle.
PERIOD_LIBRARIES = ("pandas", "python_calamine", "sqlalchemy", "openpyxl", "tonghop.pipeline")
REPORT_LIBRARIES = ("pandas", "sqlalchemy", "tonghop.summary", "tonghop.warehouse")
