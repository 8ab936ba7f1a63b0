"""WORM records (S3 Object Lock) on a real S3 protocol server: every record written locked, legal holds
set and cleared with the archive's holds, verify naming what is not locked, purge and erasure refusing
what retention forbids. Purge and erasure are the most dangerous code of the project: each refusal is
checked against what the simulator saw (no delete request) and the archive (nothing changed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from rc_pipeline.defs.build import build_definitions
from rc_pipeline.defs.resources import ArchiveResource, close_shared_clients, simulator_resources
from rc_pipeline.ringcentral.errors import SettingsError
from rc_pipeline.settings import ArchiveSettings, PipelineSettings
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.storage.worm import WormError, WormPolicy
from rc_pipeline_tests.conftest import SMALL_ACCOUNT
from rc_pipeline_tests.messagehelpers import snapshot_extensions
from rc_pipeline_tests.pipelinehelpers import archive_day, message_settings, run_messages, yesterday
from rc_pipeline_tests.s3helpers import s3, s3_server  # noqa: F401

RETAIN_DAYS = 30
MODE = "governance"
# Small: every object is a round trip to the S3 server (and a HEAD more for its lock check).
TINY = dict(extensions=3, calls_per_day=8, messages_per_day=3)


def worm_resources(sim: Any, root: str, warehouse: str) -> dict[str, object]:
    resources = simulator_resources(sim, root, throttle_dir="none")
    resources["archive"] = ArchiveResource(
        root=root, warehouse_path=warehouse, worm_mode=MODE, worm_retain_days=str(RETAIN_DAYS)
    )
    return resources


def worm_pipeline(sim: Any, root: str, warehouse: str) -> dg.Definitions:
    close_shared_clients()
    config = PipelineSettings(
        timezone="UTC",
        start_date=(yesterday() - timedelta(days=30)).isoformat(),
        schedule_hour=2,
        lookback_days=2,
    )
    return build_definitions(
        config,
        resources=worm_resources(sim, root, warehouse),
        messages=message_settings(source="listing"),
    )


def every_object(client, bucket: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


@pytest.fixture(scope="module")
def worm_archive(s3_server, tmp_path_factory):  # noqa: F811
    """One simulated day (calls with recordings, messages the listing way) archived on a locked bucket."""
    from rc_pipeline.simulator import FaultConfig, SimulatorConfig, start_simulator

    monkeypatch = pytest.MonkeyPatch()
    for key, value in s3_server.environ().items():
        monkeypatch.setenv(key, value)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    bucket = s3_server.make_bucket(object_lock=True)
    root = f"s3://{bucket}/archive"
    sim = start_simulator(SimulatorConfig(**{**SMALL_ACCOUNT, **TINY, "faults": FaultConfig()}))
    day = yesterday()
    defs = worm_pipeline(sim, root, str(tmp_path_factory.mktemp("wh") / "warehouse.duckdb"))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        calls = archive_day(defs, day, instance=instance)
        messages = run_messages(defs, day, instance)
    close_shared_clients()
    yield {
        "sim": sim,
        "bucket": bucket,
        "root": root,
        "day": day,
        "calls": calls,
        "messages": messages,
        "storage": ArchiveStorage(root, worm=WormPolicy(MODE, RETAIN_DAYS)),
        "client": s3_server.client(),
    }
    sim.stop()
    monkeypatch.undo()
    s3fs.S3FileSystem.clear_instance_cache()


def test_every_record_of_a_worm_run_lands_locked(worm_archive):
    assert worm_archive["calls"].success and worm_archive["messages"].success
    client, bucket = worm_archive["client"], worm_archive["bucket"]
    keys = every_object(client, bucket)
    records = [k for k in keys if not k.startswith(("archive/state/", "archive/reports/"))]
    kinds = {k.split("/")[1] for k in records}
    assert {"raw", "parquet", "recordings", "message_store"} <= kinds, kinds
    assert any(k.endswith("_manifest.json") for k in records)
    written = datetime.now(UTC)
    for key in records:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head.get("ObjectLockMode") == "GOVERNANCE", key
        until = head["ObjectLockRetainUntilDate"]
        assert written + timedelta(days=RETAIN_DAYS - 1) < until <= written + timedelta(days=RETAIN_DAYS), key


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"RC_WORM_MODE": "forever", "RC_WORM_RETAIN_DAYS": "30"}, "RC_WORM_MODE='forever' must be one of"),
        ({"RC_WORM_MODE": "compliance", "RC_WORM_RETAIN_DAYS": "six years"}, "RC_WORM_RETAIN_DAYS="),
        ({"RC_WORM_MODE": "compliance", "RC_WORM_RETAIN_DAYS": "0"}, "RC_WORM_RETAIN_DAYS=0 must be between"),
        ({"RC_WORM_MODE": "compliance"}, "RC_WORM_RETAIN_DAYS is required when RC_WORM_MODE=compliance"),
        ({"RC_WORM_RETAIN_DAYS": "2190"}, "RC_WORM_RETAIN_DAYS=2190 has no effect without RC_WORM_MODE"),
    ],
)
def test_bad_worm_settings_fail_naming_the_variable(environ, named):
    with pytest.raises(SettingsError, match=named):
        ArchiveSettings.from_env({"RC_ARCHIVE_ROOT": "s3://bucket/archive", **environ})


def test_worm_settings_make_the_policy():
    settings = ArchiveSettings.from_env(
        {"RC_ARCHIVE_ROOT": "s3://b/a", "RC_WORM_MODE": "Compliance", "RC_WORM_RETAIN_DAYS": "2190"}
    )
    assert settings.worm == WormPolicy("compliance", 2190)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert settings.worm.retain_until(now) == datetime(2031, 12, 31, tzinfo=UTC)
    arguments = dict(settings.worm.put_kwargs())
    assert arguments["ObjectLockMode"] == "COMPLIANCE"
    assert arguments["ObjectLockRetainUntilDate"].tzinfo is not None
    assert ArchiveSettings.from_env({"RC_ARCHIVE_ROOT": "s3://b/a", "RC_WORM_MODE": "off"}).worm is None
    assert ArchiveSettings.from_env({"RC_ARCHIVE_ROOT": "s3://b/a"}).worm is None


def test_worm_on_a_local_root_fails_clearly(tmp_path):
    environ = {"RC_ARCHIVE_ROOT": str(tmp_path), "RC_WORM_MODE": "governance", "RC_WORM_RETAIN_DAYS": "7"}
    with pytest.raises(SettingsError, match="RC_WORM_MODE=governance needs an S3 archive root.*object-store"):
        ArchiveSettings.from_env(environ)
    with pytest.raises(WormError, match="Object Lock is an object-store feature"):
        ArchiveStorage(str(tmp_path), worm=WormPolicy("governance", 7))
    assert not any(tmp_path.iterdir())


def test_worm_on_a_bucket_without_object_lock_fails_before_writing(s3):  # noqa: F811
    bucket = s3.make_bucket(object_lock=False)
    with pytest.raises(WormError, match=f"bucket '{bucket}' does not have Object Lock enabled"):
        ArchiveStorage(f"s3://{bucket}/archive", worm=WormPolicy("compliance", 7))
    # Through the resource a run uses, too: the run fails before anything is written.
    resource = ArchiveResource(root=f"s3://{bucket}/archive", worm_mode="compliance", worm_retain_days="7")
    with pytest.raises(WormError, match="does not have Object Lock enabled"):
        resource.storage()
    assert every_object(s3.client(), bucket) == []
