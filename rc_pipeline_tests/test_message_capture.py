"""Capture within minutes (message side): message-sync into the capture layer, merged into the day's tables."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from rc_pipeline.days import day_window
from rc_pipeline.defs.names import MESSAGE_CAPTURE_SENSOR
from rc_pipeline.message_store.capture import (
    CaptureReport,
    SyncState,
    capture_messages,
    full_sync_start,
    load_state,
    save_state,
)
from rc_pipeline.message_store.captured import capture_files, captured_records
from rc_pipeline.message_store.coverage import capture_vouches_for
from rc_pipeline.message_store.fetch import fetch_listing
from rc_pipeline.message_store.tables import write_message_tables
from rc_pipeline.plan import GroupLimit, Volume, capture_cost, format_plan, make_plan
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.zipsafe import ZipLimits
from rc_pipeline.verification import MESSAGE_CHECKS, verify_day
from rc_pipeline_tests.clienthelpers import client_for
from rc_pipeline_tests.pipelinehelpers import pipeline_for

TZ = "UTC"
LIMITS = ZipLimits()


def capture(sim: Any, storage: ArchiveStorage, client: Any = None) -> CaptureReport:
    now = sim.clock.now()
    return capture_messages(
        client or client_for(sim, throttle_dir=None),
        storage,
        timezone=TZ,
        full_sync_from=full_sync_start(now, TZ, 2),
        progress=lambda _: None,
        now=now,
    )


def archive_day_by_listing(sim: Any, storage: ArchiveStorage, day: date) -> None:
    """The daily listing of a day, then its tables (what `archive_messages_daily` does, without Dagster)."""
    window = day_window(day, TZ)
    fetch_listing(client_for(sim, throttle_dir=None), storage, day, window.start, window.end, lambda _: None)
    write_message_tables(storage, window, export=False, limits=LIMITS)


# ------------------------------------------------------------------------------------ no simulator


def test_plan_shows_what_the_capture_costs():
    light = GroupLimit(50, 60.0)
    five = capture_cost(100, 5, light)
    assert five.light_per_day == 288 * 100
    assert five.light_share_of_day == pytest.approx(0.4)
    assert five.seconds_per_capture == pytest.approx(120.0)
    assert five.keeps_cadence
    assert not capture_cost(300, 5, light).keeps_cadence  # 300 syncs need 6 minutes of Light
    assert capture_cost(100, None, light).light_per_day == 100  # the daily capture only
    volume = Volume(days=10, calls_per_day=500, recordings_per_day=100, extensions=100)
    plan = make_plan(volume, {}, date(2026, 1, 1), date(2026, 1, 10), capture_minutes=5)
    assert next(g for g in plan.daily if g.group == "Light").requests == 28_800
    text = format_plan(plan)
    assert "Message capture every 5 min: 28,800 Light requests/day" in text
    assert "1 Medium request per attachment" in text
