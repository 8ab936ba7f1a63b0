"""Retention settings: show, set (refused when RingCentral would drop what the archive lacks), the
daily snapshot and the check that a shortening has not overtaken the archive's verified coverage."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rc_pipeline.control import audit
from rc_pipeline.control.holds import add_hold, release_hold
from rc_pipeline.control.retention import (
    RetentionError,
    RetentionHeld,
    RetentionRefused,
    archive_coverage,
    check_retention_change,
    read_retention,
    retention_command,
    retention_shortened,
    set_retention,
    snapshot_retention,
)
from rc_pipeline.defs.control.retention import build_retention_assets, build_retention_checks
from rc_pipeline.defs.resources import close_shared_clients, simulator_resources
from rc_pipeline.ringcentral import RingCentralClient, RingCentralSettings, ServerError
from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.messagehelpers import snapshot_extensions
from rc_pipeline_tests.pipelinehelpers import archive_day, message_settings, pipeline_for, run_messages

TZ = "UTC"
CONFIG_PATH = "/message-store-configuration"


def today() -> date:
    return datetime.now(UTC).date()


def ago(days: int) -> date:
    return today() - timedelta(days=days)


def client_for(sim: Any) -> RingCentralClient:
    return RingCentralClient(
        RingCentralSettings(
            server_url=sim.base_url,
            media_url=sim.media_url,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            jwt=sim.jwt,
        ),
        throttle_dir=None,
    )


def archive_days(sim: Any, root: str, days: Iterable[date], *, calls: bool = False) -> ArchiveStorage:
    """The days archived the listing way (with an extension snapshot, so they verify)."""
    defs = pipeline_for(
        sim, root, messages=message_settings(source="listing"), start_date=ago(40).isoformat()
    )
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        for day in days:
            assert run_messages(defs, day, instance).success
            if calls:
                assert archive_day(defs, day, instance=instance).success
    close_shared_clients()
    return ArchiveStorage(root)


def fax_and_voicemail(sim: Any, start: datetime, end: datetime) -> dict[str, date]:
    """Ground truth: the simulated account's fax and voicemail created in [start, end), id -> day."""
    out = {}
    for ext in sim.account.extension_objects:
        for m in sim.account.messages(ext.id, start, end, availability=("Alive", "Deleted")):
            if m["type"] in ("Fax", "VoiceMail"):
                out[str(m["id"])] = datetime.fromisoformat(m["creationTime"]).date()
    return out


def config_requests(sim: Any, method: str) -> list:
    return [e for e in sim.request_log if e.method == method and e.path.endswith(CONFIG_PATH)]


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """Point the CLI at a simulator and a temporary archive, as the RC_* variables would."""

    def point(sim: Any, root: Path = tmp_path) -> None:
        values = {
            "RC_SERVER_URL": sim.base_url,
            "RC_MEDIA_URL": sim.media_url,
            "RC_CLIENT_ID": sim.client_id,
            "RC_CLIENT_SECRET": sim.client_secret,
            "RC_JWT": sim.jwt,
            "RC_ARCHIVE_ROOT": str(root),
            "RC_TIMEZONE": TZ,
            "RC_THROTTLE_DIR": "none",
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        for name in ("RC_OPERATOR", "RC_USERNAME", "RC_PASSWORD", "RC_EXTENSION", "RC_WAREHOUSE_PATH"):
            monkeypatch.delenv(name, raising=False)

    return point


# ------------------------------------------------------------------------------------------- show


def test_show_prints_period_hipaa_rules_and_verified_coverage(make_simulator, tmp_path, cli_env, capsys):
    sim = make_simulator(retention_period=30, hipaa=True)
    day = ago(1)
    archive_days(sim, str(tmp_path), [day], calls=True)
    cli_env(sim)
    assert retention_command(["show", "--start", ago(3).isoformat(), "--end", day.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "message-store retention period: 30 days" in out
    assert "HIPAA account: yes" in out
    # The rules table, with the HIPAA variants.
    assert "5,000 messages per folder per user" in out
    assert "automatic recordings 30 days (HIPAA)" in out
    assert "received faxes 30 days (HIPAA)" in out
    assert "200 per mailbox" in out and "12 months" in out
    # Coverage per data type: the archived day verified, the others of the range missing.
    coverage = out.split("Archive coverage", 1)[1].splitlines()
    assert coverage[0].startswith(f", {ago(3)} .. {day}: days archived and verified")
    for data_type in ("SMS", "Fax", "VoiceMail", "Pager", "Recording", "Call log"):
        line = next(x for x in coverage if x.strip().startswith(data_type + " "))
        assert f"1 verified day(s), {day} .. {day}" in line, line
        assert f"missing: {ago(3)}..{ago(2)}" in line, line


def test_coverage_names_a_day_whose_files_no_longer_verify(make_simulator, tmp_path):
    sim = make_simulator()
    days = [ago(2), ago(1)]
    storage = archive_days(sim, str(tmp_path), days)
    attachments = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, ago(2)).to_pylist()
    Path(attachments[0]["path"]).write_bytes(b"tampered")
    coverage = archive_coverage(storage, TZ, [ago(3), *days])
    sms = coverage["SMS"]
    assert sms.verified_days == (ago(1),)
    assert [d for d, _ in sms.unverified] == [ago(2)]
    assert "message_attachments_complete failed" in sms.unverified[0][1]
    assert sms.missing == (ago(3),)
    # Without the range: every day from the first to the last archived one.
    assert archive_coverage(storage, TZ)["Fax"].verified_days == (ago(1),)
    # Presence only: nothing re-hashed, both days count as archived.
    quick = archive_coverage(storage, TZ, verify=False)["VoiceMail"]
    assert quick.verified_days == tuple(days) and not quick.checked


def test_read_retention_reads_period_and_hipaa(make_simulator):
    sim = make_simulator(retention_period=45)
    with client_for(sim) as client:
        settings = read_retention(client)
    assert (settings.retention_period, settings.hipaa) == (45, False)
    assert settings.limits() == {"Fax": 30, "VoiceMail": 45, "Recording": 90}
    assert dict(settings.rules)["Recording"].startswith("automatic recordings 90 days")


# -------------------------------------------------------------------------------------------- set


def test_set_within_bounds_applies_and_audits(make_simulator, tmp_path, cli_env, capsys):
    sim = make_simulator()  # 3 days of history: nothing is older than 30 days
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim) as client:
        result = set_retention(storage, client, 30, operator="alice", tz=TZ)
    assert result.applied and not result.forced
    assert sim.account.retention_period == 30
    intent, outcome = audit.read_entries(storage)
    assert intent.action == "retention_intent" and outcome.action == "retention_outcome"
    assert intent.scope["old_days"] == 90 and intent.scope["new_days"] == 30
    assert intent.scope["forced"] is False and intent.items == [] and intent.details["would_lose"] == 0
    assert outcome.details == {"outcome": "set", "retention_period": 30}
    assert {intent.operator, outcome.operator} == {"alice"}

    # The command line: longer is always safe; the operator comes from RC_OPERATOR here.
    cli_env(sim)
    import os

    os.environ["RC_OPERATOR"] = "bob"
    try:
        # Without --execute: what would change, and nothing sent or audited.
        assert retention_command(["set", "60"]) == 0
        out = capsys.readouterr().out
        assert "Dry run: retention period 30 -> 60 days; nothing was sent" in out
        assert "With --execute it would be applied." in out and "add --execute" in out
        assert sim.account.retention_period == 30 and len(config_requests(sim, "PUT")) == 1
        assert len(audit.read_entries(storage)) == 2
        assert retention_command(["set", "60", "--execute"]) == 0
    finally:
        del os.environ["RC_OPERATOR"]
    out = capsys.readouterr().out
    assert "Retention period set: 30 -> 60 days" in out and "nothing more is dropped" in out
    assert sim.account.retention_period == 60
    entries = audit.read_entries(storage)
    assert [e.operator for e in entries[2:]] == ["bob", "bob"]
    assert entries[2].scope["old_days"] == 30 and entries[2].scope["new_days"] == 60
    assert audit.verify(storage).ok
    # Setting the period it already has sends no PUT and audits nothing.
    puts = len(config_requests(sim, "PUT"))
    assert retention_command(["set", "60", "--operator", "carol"]) == 0
    assert "already 60 days" in capsys.readouterr().out
    assert retention_command(["set", "60", "--execute", "--operator", "carol"]) == 0
    assert "already 60 days" in capsys.readouterr().out
    assert len(config_requests(sim, "PUT")) == puts and len(audit.read_entries(storage)) == 4


@pytest.mark.parametrize("days", [6, 91, 0, -7])
def test_out_of_bounds_is_refused_before_any_request(make_simulator, tmp_path, cli_env, capsys, days):
    sim = make_simulator()
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim) as client:
        with pytest.raises(RetentionError, match="RingCentral accepts 7 to 90 days"):
            set_retention(storage, client, days, operator="alice", tz=TZ)
        with pytest.raises(RetentionError, match="7 to 90"):
            check_retention_change(storage, client, days, tz=TZ)
    cli_env(sim)
    assert retention_command(["set", "--execute", "--", str(days)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "7 to 90 days" in err
    assert retention_command(["set", "--", str(days)]) == 2  # the dry run too
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "7 to 90 days" in err
    assert len(sim.request_log) == 0, [e.path for e in sim.request_log]
    assert sim.account.retention_period == 90 and audit.read_entries(storage) == []


def test_set_refuses_unarchived_loss_unless_forced_and_a_hold_always(
    make_simulator, tmp_path, cli_env, capsys
):
    sim = make_simulator(days=12)
    now = datetime.now(UTC)
    drop_from, drop_to = now - timedelta(days=90), now - timedelta(days=7)
    truth = fax_and_voicemail(sim, drop_from, drop_to)
    per_day: dict[date, int] = {}
    for day in truth.values():
        per_day[day] = per_day.get(day, 0) + 1
    # Archive the fullest day among those the change drops entirely; every other one stays unarchived.
    archived_day = max((d for d in per_day if ago(11) <= d <= ago(8)), key=lambda d: per_day[d])
    storage = archive_days(sim, str(tmp_path), [archived_day])
    hold = add_hold(
        storage,
        reason="matter 42",
        operator="legal",
        start=archived_day,
        end=archived_day,
        types=["Fax", "VoiceMail"],
    )
    entries_before = len(audit.read_entries(storage))
    with client_for(sim) as client:
        with pytest.raises(RetentionRefused) as refused:
            set_retention(storage, client, 7, operator="alice", tz=TZ, now=now)
        # --force accepts the loss of unarchived messages, never what a hold covers.
        with pytest.raises(RetentionHeld) as held:
            set_retention(storage, client, 7, force=True, operator="alice", tz=TZ, now=now)
    assert isinstance(refused.value, RetentionHeld)
    assert hold.id in str(held.value) and "matter 42" in str(held.value)
    assert "never overridden, --force included" in str(held.value)
    change = refused.value.change
    assert change.hold_ids == [hold.id] and change.hold_reasons == {hold.id: "matter 42"}
    assert config_requests(sim, "PUT") == [] and sim.account.retention_period == 90
    assert len(audit.read_entries(storage)) == entries_before, "a refusal changes nothing and audits nothing"
    # Per day: what RingCentral holds (the ground truth) and how much of it is archived and verified.
    assert {d.day: d.at_source for d in change.days} == per_day
    for d in change.days:
        if d.day == archived_day:
            assert d.archived_verified == d.at_source and not d.lost
            assert d.holds == (hold.id,) and d.under_hold == d.at_source and not d.safe
        else:
            assert d.archived_verified == 0 and len(d.lost) == d.at_source and d.problem == "not archived"
    lost = {m["id"] for d in change.days for m in d.lost}
    assert lost == {i for i, day in truth.items() if day != archived_day}
    text = str(refused.value)
    for d in change.days:
        if d.day != archived_day:
            assert (
                f"{d.day}: {d.at_source} at RingCentral, 0 archived and verified, {d.at_source} NOT" in text
            )
    assert f"{len(lost)} message(s) on {len(per_day) - 1} day(s) are not archived and verified" in text
    assert hold.id in text

    # The command line: the dry run shows the table and the refusal, sends nothing (exit 1) ...
    cli_env(sim)
    assert retention_command(["set", "7", "--force", "--operator", "alice"]) == 1
    out = capsys.readouterr().out
    assert "Dry run: retention period 90 -> 7 days; nothing was sent" in out
    assert str(min(per_day)) in out and "REFUSED: legal hold(s)" in out and hold.id in out
    # ... and --execute refuses too, with and without --force, naming the hold.
    for argv in (["set", "7", "--execute"], ["set", "7", "--execute", "--force"]):
        assert retention_command([*argv, "--operator", "alice"]) == 1
        err = capsys.readouterr().err
        assert "Refused: nothing was changed" in err and str(min(per_day)) in err
        assert hold.id in err and "matter 42" in err
    assert sim.account.retention_period == 90 and config_requests(sim, "PUT") == []
    assert len(audit.read_entries(storage)) == entries_before

    # Without the hold, only the unarchived loss is left: refused without --force, --force accepts it.
    release_hold(storage, hold.id, reason="matter closed", operator="legal")
    entries_before = len(audit.read_entries(storage))
    assert retention_command(["set", "7", "--execute", "--operator", "alice"]) == 1
    err = capsys.readouterr().err
    assert "Refused: nothing was changed" in err and "--force" in err and "legal hold" not in err
    assert retention_command(["set", "7", "--force", "--operator", "alice"]) == 0
    assert "With --execute --force it would be applied, FORCED" in capsys.readouterr().out
    assert sim.account.retention_period == 90 and config_requests(sim, "PUT") == []

    # --force --execute applies; the trail has the forced intent (ids that would be lost) before the outcome.
    assert retention_command(["set", "7", "--force", "--execute", "--operator", "alice"]) == 0
    out = capsys.readouterr().out
    assert "Retention period set: 90 -> 7 days" in out and "FORCED" in out
    assert sim.account.retention_period == 7 and len(config_requests(sim, "PUT")) == 1
    intent, outcome = audit.read_entries(storage)[entries_before:]
    assert intent.action == "retention_intent" and intent.scope["forced"] is True
    assert {intent.scope["old_days"], intent.scope["new_days"]} == {90, 7}
    assert {i["id"] for i in intent.items} == lost
    assert {i["outcome"] for i in intent.items} == {"would_be_dropped_unarchived"}
    assert set(intent.items[0]) == {"id", "kind", "extension_id", "day", "outcome"}, "ids only, no content"
    assert intent.details["holds"] == [] and intent.details["would_lose"] == len(lost)
    assert outcome.action == "retention_outcome" and outcome.details["retention_period"] == 7
    assert outcome.seq == intent.seq + 1 and audit.verify(storage).ok


def test_a_mailbox_created_since_the_snapshot_is_counted(make_simulator, tmp_path):
    sim = make_simulator(days=12)
    now = datetime.now(UTC)
    truth = fax_and_voicemail(sim, now - timedelta(days=90), now - timedelta(days=7))
    storage = archive_days(sim, str(tmp_path), [ago(1)])
    # The latest snapshot lacks the mailbox with the most fax and voicemail the change would drop.
    owners: dict[int, int] = {}
    for ext in sim.account.extension_objects:
        for m in sim.account.messages(ext.id, now - timedelta(days=90), now - timedelta(days=7)):
            if str(m["id"]) in truth:
                owners[ext.id] = owners.get(ext.id, 0) + 1
    newcomer = max(owners, key=lambda e: owners[e])
    [snapshot] = storage.list_partitions(Dataset.EXTENSIONS)
    table = storage.read_parquet(Dataset.EXTENSIONS, snapshot)
    without = table.filter(pc.not_equal(table.column("id"), pa.scalar(newcomer, pa.int64())))
    assert without.num_rows == table.num_rows - 1
    storage.write_parquet(Dataset.EXTENSIONS, snapshot, without)
    with client_for(sim) as client:
        change = check_retention_change(storage, client, 7, tz=TZ, now=now)
    assert sum(d.at_source for d in change.days) == len(truth)
    counted = {m["extension_id"] for d in change.days for m in d.lost}
    assert newcomer in counted
    assert change.extensions_listed == len(sim.account.extension_objects)


def test_a_failed_put_is_audited_as_failed(make_simulator, tmp_path):
    sim = make_simulator()
    storage = ArchiveStorage(str(tmp_path))

    class Refusing(RingCentralClient):
        def set_message_store_configuration(self, retention_period: int) -> dict:
            raise ServerError("unavailable", status=503, request="PUT .../message-store-configuration")

    with Refusing(client_for(sim).settings, throttle_dir=None) as client, pytest.raises(ServerError):
        set_retention(storage, client, 60, operator="alice", tz=TZ)
    intent, outcome = audit.read_entries(storage)
    assert intent.action == "retention_intent" and intent.scope["new_days"] == 60
    # The class and HTTP status only: never an exception's text in the trail.
    assert (
        outcome.action == "retention_outcome" and outcome.details["outcome"] == "failed: ServerError HTTP 503"
    )
    assert sim.account.retention_period == 90


# -------------------------------------------------------------------------------------- snapshots


def test_snapshot_is_written_as_received(make_simulator, tmp_path, api_client):
    sim = make_simulator(retention_period=30, hipaa=True)
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim) as client:
        settings = snapshot_retention(storage, client, ago(1))
    assert (settings.retention_period, settings.hipaa) == (30, True)
    path = Path(storage.retention_snapshot_path(ago(1)))
    stored = json.loads(path.read_text())
    http = api_client(sim)
    base = f"/restapi/v1.0/account/{sim.account_id}"
    assert stored["message_store_configuration"] == http.get(f"{base}/message-store-configuration").json()
    assert stored["service_info"] == http.get(f"{base}/service-info").json()
    assert stored["snapshot_date"] == ago(1).isoformat() and stored["fetched_at"]
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temp file left behind"


def test_shortened_check_fails_after_a_shortening_below_coverage_then_passes_once_archived(
    make_simulator, tmp_path
):
    sim = make_simulator(days=12)
    root = str(tmp_path)
    storage = archive_days(sim, root, [ago(10), ago(8)])
    with client_for(sim) as client:
        snapshot_retention(storage, client, ago(1))
        passed, details = retention_shortened(storage, tz=TZ, day=ago(1))
        # One snapshot, 90 days: every deletion edge is before the archive's first day.
        assert passed, details
        assert details["previous_snapshot"] is None and details["days_checked"] == "-"

        sim.account.retention_period = 7  # changed at RingCentral, outside the pipeline
        snapshot_retention(storage, client, today())
    passed, details = retention_shortened(storage, tz=TZ)
    assert not passed
    assert details["snapshot"] == today().isoformat() and details["previous_snapshot"] == ago(1).isoformat()
    assert (details["previous_retention_period"], details["retention_period"]) == (90, 7)
    assert details["shortened"] == {"Fax": "30 -> 7 days", "VoiceMail": "90 -> 7 days"}
    failing = {line.split(":", 1)[0]: line for line in details["failing_days"]}
    # From the archive's first day on: the gap, and the days the new edge reaches that were never archived.
    assert set(failing) == {str(ago(9)), str(ago(7)), str(ago(6))}
    assert "not archived" in failing[str(ago(9))] and "shortening 90 -> 7 days" in failing[str(ago(9))]
    assert "7-day deletion edge" in failing[str(ago(6))]
    assert str(ago(9)) in details["problem"]

    # Archived and verified now: the same shortening no longer leaves anything uncovered.
    archive_days(sim, root, [ago(9), ago(7), ago(6)])
    passed, details = retention_shortened(storage, tz=TZ)
    assert passed, details["failing_days"]
    assert details["days_checked"] == f"{ago(10)}..{ago(6)}"


def test_shortened_check_passes_when_coverage_is_not_reached(make_simulator, tmp_path):
    sim = make_simulator(retention_period=90)
    storage = archive_days(sim, str(tmp_path), [ago(1)])
    with client_for(sim) as client:
        snapshot_retention(storage, client, ago(3))
        snapshot_retention(storage, client, ago(2))
        passed, details = retention_shortened(storage, tz=TZ, day=ago(2))
        assert passed and details["shortened"] == {}
        sim.account.retention_period = 30
        snapshot_retention(storage, client, today())
    # Shortened, but what it drops is older than anything the archive ever held.
    passed, details = retention_shortened(storage, tz=TZ)
    assert passed, details
    assert details["shortened"] == {"VoiceMail": "90 -> 30 days"}
    assert details["previous_snapshot"] == ago(2).isoformat() and details["failing_days"] == []


def test_a_damaged_day_at_the_deletion_edge_fails_the_check(make_simulator, tmp_path):
    sim = make_simulator(days=9, retention_period=7)
    storage = archive_days(sim, str(tmp_path), [ago(8), ago(7), ago(6)])
    with client_for(sim) as client:
        snapshot_retention(storage, client, today())
    assert retention_shortened(storage, tz=TZ)[0]
    attachments = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, ago(7)).to_pylist()
    Path(attachments[0]["path"]).write_bytes(b"tampered")
    passed, details = retention_shortened(storage, tz=TZ)
    assert not passed
    assert details["failing_days"][0].startswith(f"{ago(7)}: message_attachments_complete failed")


# ----------------------------------------------------------------------------------------- Dagster


def test_dagster_asset_snapshots_and_its_check_runs(make_simulator, tmp_path):
    sim = make_simulator(retention_period=30, hipaa=True)
    archive_days(sim, str(tmp_path), [ago(1)])
    config = PipelineSettings(timezone=TZ, start_date=ago(30).isoformat(), schedule_hour=2, lookback_days=2)
    [asset] = build_retention_assets(config)
    [check] = build_retention_checks(config)
    assert asset.key == dg.AssetKey("retention_settings")
    spec = asset.specs_by_key[asset.key]
    assert spec.group_name == "control" and {"ringcentral", "json"} <= set(spec.kinds)
    assert asset.op.pool == "ringcentral_api"
    result = dg.materialize([asset, check], resources=simulator_resources(sim, str(tmp_path)))
    close_shared_clients()
    assert result.success
    [materialization] = result.asset_materializations_for_node(asset.op.name)
    meta = materialization.metadata
    assert meta["retention_period_days"].value == 30 and meta["hipaa"].value is True
    assert meta["archive_coverage"].value["SMS"]["latest"] == ago(1).isoformat()
    assert ArchiveStorage(str(tmp_path)).exists(
        ArchiveStorage(str(tmp_path)).retention_snapshot_path(today())
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "retention_not_shortened" and evaluation.passed
