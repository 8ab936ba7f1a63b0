"""A hostile or damaged export zip fails the download run, names the entry, and writes nothing."""

import hashlib
import io
import stat
import zipfile
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from rc_pipeline.backfill import step_failure_reason
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.messagehelpers import SensorDriver, snapshot_extensions
from rc_pipeline_tests.pipelinehelpers import (
    message_settings,
    pipeline_for,
    run_download,
    run_messages,
    yesterday,
)


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


# A long entry path: an error message that puts the reason after it, or a summary cut at a fixed
# length, loses the reason.
LONG_NAME = "/".join(["a-rather-long-folder-name"] * 10) + "/link.txt"


def hostile_zip(kind: str, prefix: str, outside: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{prefix}/1/ok.txt", b"fine")
        if kind == "traversal":
            zf.writestr(
                f"{prefix}/1/../../../../../../../../{outside.as_posix().lstrip('/')}/evil.txt", b"pwned"
            )
        elif kind == "bomb":
            zf.writestr(f"{prefix}/3/evil.txt", b"\0" * (16 << 20))
        elif kind == "symlink":
            link = zipfile.ZipInfo(f"{prefix}/{LONG_NAME}")
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, "/etc/passwd")
    data = buffer.getvalue()
    return data[: len(data) - 30] if kind == "truncated" else data


def complete_export(defs, sim, day, instance, driver):
    assert run_messages(defs, day, instance).success
    wanted = len(driver.run_requests) + 1
    driver.tick_until(wanted)
    return driver.run_requests[-1]


def poison(sim, task_id: str, kind: str, outside: Path) -> str:
    """Replace the task's attachment zip with a hostile one; returns the entry prefix used."""
    task = sim.exports.get(task_id)
    paths = sim.exports.archive_paths(task)
    assert len(paths) >= 2, "the day should have attachments"
    prefix = f"account/{sim.account_id}/extension/{sim.account.owner.id}/message-store/content"
    Path(paths[1]).write_bytes(hostile_zip(kind, prefix, outside))
    return prefix


# One hostile and one damaged zip through the whole flow; absolute paths, symlinks, bombs and the other
# rules are covered entry by entry in test_zipsafe.py (the flow calls the same vetting for every part).
@pytest.mark.parametrize("kind", ["traversal", "bomb", "truncated", "symlink"])
def test_a_hostile_zip_fails_naming_the_entry_and_leaves_the_archive_untouched(
    make_simulator, tmp_path, kind
):
    sim = make_simulator(export_task_seconds=0.8)
    root, outside = tmp_path / "archive", tmp_path / "outside"
    defs = pipeline_for(sim, str(root), messages=message_settings(reconcile=False))
    storage = ArchiveStorage(str(root))
    good_day, bad_day = yesterday() - timedelta(days=1), yesterday()
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        driver = SensorDriver(defs, instance)
        good = complete_export(defs, sim, good_day, instance, driver)
        assert run_download(defs, good.partition_key, instance).success
        before = tree(root)
        bad = complete_export(defs, sim, bad_day, instance, driver)
        poison(sim, bad.run_key, kind, outside)
        result = run_download(defs, bad.partition_key, instance, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "archive part 1 (archive_1.zip)" in message
    expected = {
        "traversal": "path traversal",
        "bomb": "zip bomb",
        "truncated": "not a readable zip",
        "symlink": "symbolic link",
    }[kind]
    assert expected in message
    if kind != "truncated":
        assert "entry '" in message
    # What `rc-pipeline archive` prints for the day: the reason, and the whole message.
    reason = step_failure_reason(failure.event_specific_data.error)
    assert expected in reason and "archive part 1 (archive_1.zip)" in reason
    if kind == "symlink":
        assert LONG_NAME in reason and len(reason) > 200, reason
    assert not outside.exists(), "something was written outside the archive root"
    after = tree(root)
    # The good day is byte-for-byte as it was; the bad day got its zips (kept as received) and nothing else.
    assert {k: v for k, v in after.items() if k in before} == before
    new = set(after) - set(before)
    assert all(
        "raw/message_store_export/date=" + bad_day.isoformat() in k or k.startswith("state/") for k in new
    ), new
    assert not storage.exists(storage.parquet_path(Dataset.MESSAGES, bad_day))
    assert not list((root / "message_store" / "content" / f"{bad_day:%Y/%m/%d}").glob("**/*"))
