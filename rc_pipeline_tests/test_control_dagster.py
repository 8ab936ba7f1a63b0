"""Control at the source from the Dagster side: the purge job (dry run by default), the holds asset,
the optional purge schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from rc_pipeline.control import audit
from rc_pipeline.control.holds import add_hold
from rc_pipeline.defs.names import CONTROL_JOB, LEGAL_HOLDS, PURGE_JOB, PURGE_SCHEDULE
from rc_pipeline_tests.controlhelpers import archive_one_day, dangerous_requests, deleted_message_ids
from rc_pipeline_tests.pipelinehelpers import message_settings, pipeline_for


def purge_config(day, **overrides) -> dict:
    config = {"start": day.isoformat(), "end": day.isoformat(), **overrides}
    return {"ops": {"purge_at_source": {"config": config}}}


def output_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def test_purge_job_is_a_dry_run_unless_told_and_audits_what_it_deletes(make_simulator, tmp_path):
    sim = make_simulator(messages_per_day=3)
    root = str(tmp_path / "archive")
    archived = archive_one_day(sim, root, calls=False)
    defs = pipeline_for(sim, root, messages=message_settings(source="listing"))
    job = defs.resolve_job_def(PURGE_JOB)
    sim.request_log.clear()

    dry = job.execute_in_process(
        run_config=purge_config(archived.day), instance=dg.DagsterInstance.ephemeral()
    )
    assert dry.success
    meta = output_metadata(dry)
    assert meta["dry_run"] is True and meta["to_delete"] > 0 and "to delete" in meta["plan"]
    assert deleted_message_ids(sim) == [] and audit.read_entries(archived.storage) == []

    done = job.execute_in_process(
        run_config=purge_config(archived.day, execute=True, operator="compliance-bot"),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert done.success
    meta = output_metadata(done)
    assert meta["deleted"] == meta["to_delete"] > 0
    assert len(deleted_message_ids(sim)) == meta["deleted"]
    assert dangerous_requests(sim) == []
    entries = audit.read_entries(archived.storage)
    assert (
        entries and {e.operator for e in entries} == {"compliance-bot"} and audit.verify(archived.storage).ok
    )


def test_holds_asset_shows_the_active_holds(make_simulator, tmp_path):
    sim = make_simulator()
    root = str(tmp_path / "archive")
    defs = pipeline_for(sim, root)
    from rc_pipeline.storage import ArchiveStorage

    add_hold(ArchiveStorage(root), reason="SEC inquiry 7", operator="legal", extensions=[101])
    result = defs.resolve_job_def(CONTROL_JOB).execute_in_process(
        asset_selection=[LEGAL_HOLDS], instance=dg.DagsterInstance.ephemeral()
    )
    (mat,) = [e.materialization for e in result.get_asset_materialization_events()]
    assert mat.metadata["active_holds"].value == 1
    assert "SEC inquiry 7" in mat.metadata["holds"].value


def test_purge_schedule_exists_only_when_configured_and_starts_stopped(make_simulator, tmp_path):
    sim = make_simulator()
    assert PURGE_SCHEDULE not in {s.name for s in pipeline_for(sim, str(tmp_path)).schedules}
    from rc_pipeline.definitions import build_definitions
    from rc_pipeline.defs.resources import simulator_resources

    defs = build_definitions(resources=simulator_resources(sim, str(tmp_path)), purge_after_days=30)
    schedule = defs.resolve_schedule_def(PURGE_SCHEDULE)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    now = datetime.now(UTC)
    request = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=now)).run_requests[0]
    config = request.run_config["ops"]["purge_at_source"]["config"]
    assert config["execute"] is True and config["mode"] == "trash"
    assert config["end"] == (now.date() - timedelta(days=30)).isoformat()
