"""Calls run at the same moment, as concurrent requests would run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; each call's result, or the exception it raised, in the
    calls' order. Each thread closes its own database connections.

    For `django_db(transaction=True)` tests: threads see only committed data.
    """
    outcomes: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            outcomes[index] = calls[index]()
        except BaseException as exc:
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes
