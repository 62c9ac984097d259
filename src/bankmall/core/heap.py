"""The serving processes' heap: what lives as long as the process is kept out of the collector.

Python's cyclic garbage collector runs a full collection over every tracked object whenever
the objects that survived its younger generations have grown by a quarter. A loaded
application holds ~150,000 such objects that never become garbage (modules, classes,
functions, settings, URL patterns, translations), and a full pass over them took ~70 ms on
the development machines. A request that keeps its own objects alive while it works — a linked
batch of 1,000 transfers holds ~10,000 (requests, rows, result views) — moves them into the
oldest generation and sets off a full pass every few batches: measured, the collector was 40 %
of the caller's CPU for batched transfers (17.5 µs of Python a transfer, 10.6 µs with the
process's objects frozen; docs/performance.md, twelfth session). Requests' own cycles are
still collected: only what exists when the process has loaded its application is set aside.

``freeze_long_lived`` is called once a process is ready to serve, after it has loaded what
it keeps: each ``bankmall serve`` worker after loading the application and its URLs, the
``bankmall worker`` process once Celery reports it ready. It also leaves the frozen objects'
memory pages alone, so pages a forked child shares with its parent stay shared.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> int:
    """Collect what is garbage now, then set every object still alive aside from all later
    collections (``gc.freeze``). Returns how many objects are set aside in all."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
