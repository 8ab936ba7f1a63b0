"""Ground truth and sensor driving for the message-store tests."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from rc_pipeline.defs.names import EXTENSIONS, MESSAGE_EXPORT_SENSOR, SNAPSHOT_JOB


def window_of(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def truth_messages(sim: Any, day: date) -> dict[int, dict]:
    """Every message the simulated account holds for the day (Alive and in the trash), by id."""
    start, end = window_of(day)
    out: dict[int, dict] = {}
    for ext in sim.account.extension_objects:
        for message in sim.account.messages(ext.id, start, end, availability=("Alive", "Deleted")):
            out[message["id"]] = message
    return out


def snapshot_extensions(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    result = defs.resolve_job_def(SNAPSHOT_JOB).execute_in_process(
        instance=instance, asset_selection=[EXTENSIONS]
    )
    assert result.success


class SensorDriver:
    """Ticks the export sensor the way the daemon does: same cursor carried from tick to tick."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs = defs
        self.instance = instance
        self.sensor = defs.resolve_sensor_def(MESSAGE_EXPORT_SENSOR)
        self.cursor: str | None = None
        self.run_requests: list[dg.RunRequest] = []

    def tick(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources=dict(self.defs.resources),
            definitions=self.defs,
        )
        result = self.sensor(context)
        assert isinstance(result, dg.SensorResult), result
        json.loads(result.cursor or "{}")  # the cursor is JSON
        self.cursor = result.cursor
        requests = list(result.run_requests or [])
        self.run_requests.extend(requests)
        return requests

    def tick_until(self, count: int, timeout: float = 30.0, pause: float = 0.25) -> list[dg.RunRequest]:
        """Tick until ``count`` run requests came in total; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.run_requests) < count:
            assert time.monotonic() < deadline, f"only {len(self.run_requests)} of {count} run requests"
            self.tick()
            time.sleep(pause)
        return self.run_requests
