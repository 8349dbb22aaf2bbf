"""The in-process helpers of recloop.serve.runner."""

import itertools
import time

import pytest

from recloop.serve.runner import wait_until


def test_wait_until_returns_the_first_truthy_answer():
    calls = itertools.count(1)
    assert wait_until(lambda: (n := next(calls)) >= 3 and n, every=0.001) == 3


def test_wait_until_gives_up_after_its_timeout():
    def never():
        return False

    t = time.monotonic()
    with pytest.raises(TimeoutError, match="not true after 0.05 s: never"):
        wait_until(never, timeout=0.05, every=0.01)
    assert time.monotonic() - t < 1.0
