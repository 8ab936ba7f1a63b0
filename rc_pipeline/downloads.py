"""The one bounded pool that downloads recordings and attachments, reporting progress as it goes.

Downloads overlap network latency; the client's throttle, not the pool size, keeps them inside
RingCentral's budget, so a few threads are enough and more would only hold more sockets open.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

DOWNLOAD_THREADS = 4

Item = TypeVar("Item")
Result = TypeVar("Result")


def download_all(
    items: Sequence[Item],
    work: Callable[[Item], Result],
    *,
    progress: Callable[[str], None],
    what: str,
    every: int = 10,
    threads: int = DOWNLOAD_THREADS,
) -> list[Result]:
    """``work(item)`` for every item on at most ``threads`` threads; results in the order of ``items``.

    ``work`` reports its own failures in its result: one bad file must not stop the others, and the
    caller decides what a failure means for the partition. Progress is logged every ``every`` items
    and at the end, as "<what>: <done>/<total>".
    """
    done = 0
    lock = threading.Lock()

    def counted(item: Item) -> Result:
        nonlocal done
        result = work(item)
        with lock:
            done += 1
            if done % every == 0 or done == len(items):
                progress(f"{what}: {done}/{len(items)}")
        return result

    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(counted, items))
