"""Rate-limit waits in run metadata: wall-clock time (never more than the time elapsed) and the
per-thread sum beside it, named as such."""

from __future__ import annotations

import threading
import time

from rc_pipeline.defs.metadata import measure
from rc_pipeline.ringcentral import Throttler
from rc_pipeline_tests.clienthelpers import client_for


def run_threads(count: int, work) -> None:
    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_parallel_waits_count_once_in_wall_clock_time():
    throttler = Throttler(limits={"Heavy": (3, 0.2)})  # this process's own windows
    heavy = throttler.group("Heavy")
    started = time.monotonic()
    run_threads(6, lambda: [heavy.acquire() for _ in range(2)])
    elapsed = time.monotonic() - started
    wall = throttler.wait_clock.seconds()
    per_thread = throttler.snapshot()["Heavy"].waited_seconds
    assert 0 < wall <= elapsed
    assert per_thread >= wall
    assert per_thread > elapsed, "the case this guards: threads waiting side by side"


def test_run_metadata_reports_wall_clock_wait_and_the_per_thread_sum(make_simulator, tmp_path):
    # Light: 50 requests per 60 s x 0.01 = 0.6 s; 8 threads x 10 requests must wait for the window.
    sim = make_simulator(rate_limit_scale=0.01)
    # Windows shared with other processes through files, as by default.
    with client_for(sim, throttle_dir=tmp_path) as client:
        client.login()
        with measure(client) as spend:
            run_threads(8, lambda: [client.service_info() for _ in range(10)])
    meta = {k: v.value for k, v in spend.metadata().items()}
    assert meta["api_requests"] >= 80, meta
    assert 0 < meta["rate_limit_wait_s"] <= meta["elapsed_s"], meta
    assert meta["rate_limit_wait_thread_s"] >= meta["rate_limit_wait_s"], meta
    assert meta["rate_limit_wait_thread_s"] > meta["elapsed_s"], "threads should have waited side by side"
