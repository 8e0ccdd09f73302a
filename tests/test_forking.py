"""Forked workers: results in order, the same as in the caller, errors reach the caller."""

from __future__ import annotations

import os

import pytest

from bayesfit.forking import can_fork, forked_imap

STATE: dict[str, int] = {}


def _scaled(value: int) -> tuple[int, int]:
    """The value times the inherited factor, and the process that computed it."""
    if value < 0:
        raise ValueError(f"negative value {value}")
    return value * STATE["factor"], os.getpid()


def test_workers_inherit_the_state_and_keep_the_order():
    STATE["factor"] = 3
    serial = [value for value, _ in forked_imap(_scaled, range(7), 1)]
    results = list(forked_imap(_scaled, range(7), 2))
    assert [value for value, _ in results] == serial == [3 * i for i in range(7)]
    processes = {pid for _, pid in results}
    assert (os.getpid() not in processes) == can_fork()


def test_an_error_in_a_worker_reaches_the_caller():
    STATE["factor"] = 1
    with pytest.raises(ValueError, match="negative value -2"):
        list(forked_imap(_scaled, [1, -2, 3], 2))
