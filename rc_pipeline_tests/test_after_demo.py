"""`make demo` then `make ui`: the UI's sensors start with fresh cursors against a NEW simulator, which
knows none of the demo's export tasks or sync tokens. Every sensor must decide from the archive: no
failed run, nothing downloaded again, no archived file rewritten."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from rc_pipeline.backfill import run_archive
from rc_pipeline.definitions import build_definitions
from rc_pipeline.defs.names import MESSAGE_STORE_ARCHIVE
from rc_pipeline.defs.resources import close_shared_clients, simulator_resources
from rc_pipeline.settings import PipelineSettings
from rc_pipeline_tests.pipelinehelpers import message_settings, run_download, yesterday

ACCOUNT = dict(extensions=2, calls_per_day=6, messages_per_day=2)


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every archived file with its content and modification time (a rewrite changes the latter)."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _definitions(sim: object, root: str, start: str) -> dg.Definitions:
    close_shared_clients()  # a shared client would still point at the stopped simulator
    # schedule_hour 0: the daily message capture is due whenever the test runs.
    config = PipelineSettings(timezone="UTC", start_date=start, schedule_hour=0, lookback_days=2)
    return build_definitions(config, resources=simulator_resources(sim, root), messages=message_settings())


def _tick_all(defs: dg.Definitions, *, execute: bool) -> tuple[list[str], list[str]]:
    """Evaluate every sensor once with a fresh cursor (as a new Dagster home does) and, with
    ``execute``, run what each requests; (failed run keys, requested run keys)."""
    repo = defs.get_repository_def()
    sensors = [s for s in repo.sensor_defs if not isinstance(s, dg.AutomationConditionSensorDefinition)]
    assert len(sensors) >= 3
    failed: list[str] = []
    requested: list[str] = []
    with dg.instance_for_test() as instance:
        for sensor in sensors:
            with dg.build_sensor_context(
                instance=instance, cursor=None, resources=dict(defs.resources), definitions=defs
            ) as context:
                result = sensor(context)
            if not isinstance(result, dg.SensorResult):
                continue
            for request in result.run_requests or []:
                requested.append(f"{sensor.name}:{request.run_key}")
                if not execute:
                    continue
                job = repo.get_job(request.job_name or sensor.job_name)
                run = job.execute_in_process(
                    partition_key=request.partition_key,
                    tags=request.tags,
                    instance=instance,
                    raise_on_error=False,
                )
                if not run.success:
                    failed.append(f"{sensor.name}:{request.run_key}")
    return failed, requested


def test_fresh_sensors_against_a_new_simulator_leave_the_archive_alone(make_simulator, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    os.makedirs(tmp_path / "home")
    root = tmp_path / "archive"
    end = yesterday()
    start = end
    demo_sim = make_simulator(**ACCOUNT)
    with dg.instance_for_test() as instance:
        summaries = run_archive(
            _definitions(demo_sim, str(root), start.isoformat()),
            start,
            end,
            instance=instance,
            show_progress=False,
        )
    assert all(not s.failures for s in summaries), [s.failures for s in summaries]
    # The demo's source hands out sync tokens (call log, each mailbox) that the archive keeps.
    _tick_all(_definitions(demo_sim, str(root), start.isoformat()), execute=False)
    assert (root / "state" / "call_log_sync.json").exists()
    demo_sim.stop()
    before = _files(root)
    assert any("/task=" in name for name in before)  # the demo's export tasks were downloaded

    # What `rc-pipeline ui` starts: another account (another seed), which knows none of the demo's
    # export tasks and refuses its sync tokens.
    ui_sim = make_simulator(**ACCOUNT, seed=2)
    defs = _definitions(ui_sim, str(root), start.isoformat())
    failed, requested = _tick_all(defs, execute=True)
    assert failed == [], (failed, requested)
    after = _files(root)
    changed = sorted(name for name, value in before.items() if after.get(name) != value)
    # Typed tables (and what they were built from, under state/) may be rebuilt from the archive when
    # the new source's captures add to a day; what was fetched is never rewritten.
    assert [n for n in changed if not n.startswith(("parquet/", "state/"))] == [], changed
    # No export task is downloaded again (nor asked about: the archive says the days are complete).
    exports = [e.path for e in ui_sim.request_log if "message-store-report" in e.path]
    assert exports == [], exports
    # The refused tokens started new full syncs instead of failing a tick.
    assert any(e.status == 400 and "sync" in e.path for e in ui_sim.request_log)
    # A download run requested before (an old cursor, a queued run) for a committed day the new source
    # no longer knows ends successfully, saying the day is complete.
    day = end.isoformat()
    with dg.instance_for_test() as instance:
        run = run_download(
            defs, day, instance=instance, raise_on_error=False, asset_selection=[MESSAGE_STORE_ARCHIVE]
        )
    assert run.success
    archived = run.asset_materializations_for_node(MESSAGE_STORE_ARCHIVE.path[-1])
    assert [m.metadata["kept_committed_archive"].value for m in archived] == [True]
