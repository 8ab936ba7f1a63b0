"""The retention-risk monitor against the simulator: what RingCentral drops next, archived or not."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from rc_pipeline.defs.names import NOTHING_AT_RISK_UNARCHIVED, RETENTION_RISK, RISK_JOB
from rc_pipeline.defs.resources import close_shared_clients
from rc_pipeline.risk import rules
from rc_pipeline.risk.assess import assess_risk
from rc_pipeline.risk.command import risk_command
from rc_pipeline.risk.model import RiskReport
from rc_pipeline.risk.rules import CountLimits
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.extensions import extensions_table
from rc_pipeline.transform.recordings import has_deadline, recordings_referenced
from rc_pipeline_tests.clienthelpers import point_env_at_simulator
from rc_pipeline_tests.controlhelpers import client_for
from rc_pipeline_tests.messagehelpers import window_of
from rc_pipeline_tests.pipelinehelpers import (
    archive_day,
    message_settings,
    pipeline_for,
    run_messages,
    yesterday,
)

TZ = "UTC"


def archive(
    sim: Any, root: str, days: list[date], *, calls: bool = True, start: date | None = None
) -> dg.Definitions:
    """The days archived the listing way, calls and recordings too when asked, with a directory snapshot."""
    start = start or min(days)
    defs = pipeline_for(sim, root, messages=message_settings(source="listing"), start_date=start.isoformat())
    snapshot_directory(sim, root)
    instance = dg.DagsterInstance.ephemeral()
    for day in days:
        assert run_messages(defs, day, instance).success
        if calls:
            assert archive_day(defs, day, instance=instance).success
    close_shared_clients()
    return defs


def snapshot_directory(sim: Any, root: str) -> None:
    """Only the directory snapshot (the mailboxes the monitor lists), as the `extensions` asset writes it."""
    with client_for(sim) as client:
        records = list(client.iter_extensions())
    ArchiveStorage(root).write_parquet(
        Dataset.EXTENSIONS, yesterday(), extensions_table(records, yesterday())
    )


def assess(
    sim: Any,
    storage: ArchiveStorage,
    now: datetime,
    horizon: int = 7,
    start: date | None = None,
    **kwargs: Any,
) -> RiskReport:
    with client_for(sim) as client:
        return assess_risk(storage, client, now=now, horizon_days=horizon, tz=TZ, start_date=start, **kwargs)


def verified_recordings(storage: ArchiveStorage, day: date) -> dict[str, dict]:
    """The day's verified automatic recordings: on-demand ones have no deadline, so none is at risk."""
    calls = storage.read_parquet(Dataset.CALLS, day)
    refs = recordings_referenced(calls, storage.read_parquet(Dataset.CALL_LEGS, day))
    automatic = {ref.recording_id for ref in refs if has_deadline(ref)}
    rows = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()
    return {
        r["recording_id"]: r for r in rows if r["status"] == "verified" and r["recording_id"] in automatic
    }


def of_type(report: RiskReport, data_type: str) -> list:
    return [i for i in report.items if i.data_type == data_type]


def test_recordings_near_their_90_day_deadline_are_counted_archived_or_not(make_simulator, tmp_path):
    sim = make_simulator(extensions=4, calls_per_day=20, messages_per_day=1)
    day = yesterday()
    archive(sim, str(tmp_path), [day])
    storage = ArchiveStorage(str(tmp_path))
    recordings = verified_recordings(storage, day)
    assert recordings
    # Every recording of the day reaches 90 days within the week after `now`.
    start, _ = window_of(day)
    now = start + timedelta(days=90 - 6)
    logged = len(sim.request_log)
    report = assess(sim, storage, now, start=day)
    at_risk = of_type(report, rules.RECORDING)
    assert {i.id for i in at_risk} == set(recordings)
    assert all(i.archived and i.day == day for i in at_risk)
    rows = [r for r in report.rows() if r.data_type == rules.RECORDING]
    assert sum(r.at_risk for r in rows) == sum(r.archived for r in rows) == len(recordings)
    # The days before it are not in the archive, and before its first day: reported, not failed.
    unknown = {d.day for d in report.unknown_days if d.data_type == rules.RECORDING}
    assert unknown == {day - timedelta(days=n) for n in range(1, 7)}
    assert not any(d.failing for d in report.unknown_days)
    assert all(now <= i.deadline < now + timedelta(days=7) for i in at_risk)
    # The simulator, which deletes as RingCentral does, deletes each automatic recording at that very
    # deadline (on-demand ones it keeps; the monitor counts them at 90 days too, to be safe).
    expiries = {i.id: sim.account.recording_expiry(i.id) for i in at_risk}
    assert any(expiries.values())
    assert all(expiries[i.id] in (None, i.deadline) for i in at_risk)
    # Only Light requests (and the token): no call log, no recording metadata.
    groups = {e.group for e in list(sim.request_log)[logged:]}
    assert groups <= {"Light", "Auth", None}, groups
    paths = {e.route for e in list(sim.request_log)[logged:] if e.group == "Light"}
    assert all("message-store" in p or "service-info" in p for p in paths), paths

    # A recording file that no longer verifies counts as not archived, and makes the report fail.
    lost = at_risk[0]
    (tmp_path / recordings[lost.id]["path"]).write_bytes(b"not the audio")
    again = assess(sim, storage, now, start=day)
    unarchived = [i for i in again.unarchived if i.data_type == rules.RECORDING]
    assert [i.id for i in unarchived] == [lost.id]
    assert unarchived[0].problem.startswith("damaged")
    assert not again.ok
    assert again.earliest_unarchived <= lost.deadline
    row = next(
        r for r in again.rows() if r.data_type == rules.RECORDING and r.extension_id == lost.extension_id
    )
    assert row.not_archived == 1


def source_voicemail(sim: Any, now: datetime) -> dict[int, list[dict]]:
    """Ground truth: each mailbox's live voicemail, oldest first (in-process: no request logged)."""
    boxes = {}
    for ext in sim.account.extension_objects:
        found = sim.account.messages(ext.id, now - timedelta(days=60), now, availability=("Alive",))
        vms = [m for m in found if m["type"] == "VoiceMail"]
        boxes[ext.id] = sorted(vms, key=lambda m: (m["creationTime"], str(m["id"])))
    return boxes


def test_a_voicemail_box_near_its_limit_puts_its_oldest_voicemail_at_risk(make_simulator, tmp_path):
    # Boxes of 6 voicemails (RingCentral keeps 200) and about 3 new ones a day: always near the limit.
    limit = 6
    sim = make_simulator(
        extensions=2, days=4, calls_per_day=5, messages_per_day=24, voicemail_box_limit=limit
    )
    now = sim.clock.now()
    boxes = source_voicemail(sim, now)
    snapshot_directory(sim, str(tmp_path))
    report = assess(
        sim, ArchiveStorage(str(tmp_path)), now, horizon=1, limits=CountLimits(voicemail_box=limit)
    )
    at_risk = of_type(report, rules.VOICEMAIL)
    predicted = {}
    for extension_id, box in boxes.items():
        arriving = sum(1 for m in box if datetime.fromisoformat(m["creationTime"]) >= now - timedelta(days=1))
        expected = rules.over_limit(len(box), limit, arriving)
        mine = sorted((i for i in at_risk if i.extension_id == extension_id), key=lambda i: i.deadline)
        # The oldest go first, and in that order.
        assert [i.id for i in mine] == [str(m["id"]) for m in box[:expected]]
        assert all(i.rule == "count" for i in mine)
        predicted[extension_id] = [i.id for i in mine]
    assert any(predicted.values())
    # Nothing of the message store is archived here.
    assert all(i.problem == "day not archived" for i in at_risk)
    assert all(now <= i.deadline < now + timedelta(days=1) for i in at_risk)

    # A day later RingCentral (the simulator) has dropped the oldest: the same ones the monitor listed,
    # as far as the day's real arrivals went (the monitor assumed as many as the day before).
    sim.advance(days=1)
    after = source_voicemail(sim, sim.clock.now())
    dropped_any = False
    for extension_id, box in boxes.items():
        kept = {str(m["id"]) for m in after[extension_id]}
        dropped = [str(m["id"]) for m in box if str(m["id"]) not in kept]
        assert dropped == [str(m["id"]) for m in box[: len(dropped)]]
        shared = min(len(dropped), len(predicted[extension_id]))
        assert dropped[:shared] == predicted[extension_id][:shared]
        dropped_any = dropped_any or bool(dropped)
    assert dropped_any


def test_hipaa_account_uses_30_days_for_recordings_and_received_faxes(make_simulator, tmp_path):
    sim = make_simulator(hipaa=True, extensions=4, calls_per_day=5)
    snapshot_directory(sim, str(tmp_path))
    now = datetime.now(UTC)
    report = assess(sim, ArchiveStorage(str(tmp_path)), now, horizon=30)
    assert report.account.hipaa
    received = of_type(report, rules.FAX_RECEIVED)
    assert received and not of_type(report, rules.VOICEMAIL)
    truth = {}
    for ext in sim.account.extension_objects:
        for m in sim.account.messages(
            ext.id, now - timedelta(days=30), now, availability=("Alive", "Deleted")
        ):
            truth[str(m["id"])] = datetime.fromisoformat(m["creationTime"])
    for item in received:
        assert item.deadline == truth[item.id] + timedelta(days=30)
        assert item.problem == "day not archived"
    # Recordings of the last 30 days are at risk, and none is archived: unknown days, failing.
    unknown = {d.day for d in report.unknown_days if d.data_type == rules.RECORDING}
    assert min(unknown) == (now - timedelta(days=30)).date()
    assert not report.ok


def test_the_daily_asset_and_check_and_the_cli_report_the_same(make_simulator, tmp_path, monkeypatch, capsys):
    # Fax and voicemail kept 7 days: everything the account holds is at risk within the week.
    sim = make_simulator(retention_period=7, days=2, extensions=4, calls_per_day=5, messages_per_day=2)
    day = yesterday()
    now = datetime.now(UTC)
    days = sorted(
        {
            datetime.fromisoformat(m["creationTime"]).date()
            for ext in sim.account.extension_objects
            for m in sim.account.messages(ext.id, now - timedelta(days=10), now)
        }
        - {now.date()}
    )
    defs = archive(sim, str(tmp_path), [day], calls=False, start=days[0])
    storage = ArchiveStorage(str(tmp_path))

    def materialize() -> tuple[dict, bool]:
        result = defs.resolve_job_def(RISK_JOB).execute_in_process(
            partition_key=day.isoformat(), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )
        close_shared_clients()
        (evaluation,) = result.get_asset_check_evaluations()
        assert evaluation.check_name == NOTHING_AT_RISK_UNARCHIVED
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        materialized = result.asset_materializations_for_node(RETENTION_RISK.path[-1])
        assert materialized
        return {k: v.value for k, v in evaluation.metadata.items()}, evaluation.passed

    metadata, passed = materialize()
    assert not passed
    assert metadata["not_archived"] > 0 and metadata["earliest_unarchived_deadline"] != "-"
    stored = json.loads(open(storage.risk_report_path(day)).read())
    assert stored["counts"]["not_archived"] == metadata["not_archived"]
    assert {i["day"] for i in stored["not_archived"]} == {d.isoformat() for d in days if d != day}

    # The CLI prints the same as of the same moment, and exits 1.
    point_env_at_simulator(
        monkeypatch,
        sim,
        RC_ARCHIVE_ROOT=str(tmp_path),
        RC_TIMEZONE=TZ,
        RC_START_DATE=days[0].isoformat(),
        RC_THROTTLE_DIR="none",
    )
    at = stored["now"]
    assert risk_command(["--json", "--at", at]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"] == stored["counts"] and printed["not_archived"] == stored["not_archived"]
    assert risk_command(["--at", at, "--horizon", "7"]) == 1
    table = capsys.readouterr().out
    assert "| voicemail |" in table and "AT RISK:" in table

    # Once every day is archived, nothing at risk is missing: the check passes, the CLI exits 0.
    archive(sim, str(tmp_path), [d for d in days if d != day], calls=False, start=days[0])
    metadata, passed = materialize()
    assert passed, metadata
    assert metadata["not_archived"] == 0 and metadata["at_risk"] > 0
    assert risk_command(["--at", at]) == 0


def test_cli_help_states_the_exit_code_and_bad_input_is_refused_before_any_request(capsys):
    with pytest.raises(SystemExit) as exited:
        risk_command(["--help"])
    assert exited.value.code == 0
    assert "Exit code 0 when nothing at risk is missing" in " ".join(capsys.readouterr().out.split())
    for bad in (["--horizon", "0"], ["--horizon", "week"], ["--at", "2026-05-01T00:00:00"]):
        with pytest.raises(SystemExit) as exited:
            risk_command(bad)
        assert exited.value.code == 2
