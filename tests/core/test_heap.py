"""The serving processes set their long-lived objects aside from the garbage collector."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from bankmall.core.heap import freeze_long_lived


class _Node:
    """An object that can be part of a reference cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    """A two-object reference cycle nobody else holds, watched through a weak reference."""
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Each test starts and ends with nothing frozen, so no test changes the others' process."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_garbage_is_collected_before_the_rest_is_set_aside() -> None:
    gc.disable()
    try:
        watched = _cycle()
        assert watched() is not None  # Only a collection frees a cycle.

        frozen = freeze_long_lived()
    finally:
        gc.enable()

    assert watched() is None
    assert frozen > 1_000
    # Frozen objects can only leave (freed by their last reference, in any of the process's
    # threads); nothing joins them but another freeze.
    assert frozen - 100 < gc.get_freeze_count() <= frozen
    assert len(gc.get_objects()) < frozen // 10  # Next to nothing left for the collector.


@pytest.mark.usefixtures("unfrozen")
def test_a_request_s_garbage_is_still_collected_after_the_freeze() -> None:
    freeze_long_lived()
    watched = _cycle()

    gc.collect()

    assert watched() is None


@pytest.mark.usefixtures("unfrozen")
def test_a_serve_worker_loads_the_application_and_its_views_then_freezes() -> None:
    from django.urls import get_resolver

    from bankmall.server import _Gunicorn

    application = _Gunicorn({"bind": "127.0.0.1:0"}).load()

    assert callable(application)
    assert "url_patterns" in vars(get_resolver())  # Loaded, with every view module they name.
    assert "bankmall.web.views" in sys.modules
    assert gc.get_freeze_count() > 1_000


@pytest.mark.usefixtures("unfrozen")
def test_a_jobs_worker_freezes_once_it_is_ready() -> None:
    from celery.signals import worker_ready

    from bankmall.jobs import app

    worker_ready.send(sender=app)

    assert gc.get_freeze_count() > 1_000
