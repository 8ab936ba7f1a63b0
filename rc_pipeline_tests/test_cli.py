"""The command line: backfill over a range, query, and clear errors."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from rc_pipeline.backfill import format_summary, run_archive
from rc_pipeline.cli import main
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.pipelinehelpers import pipeline_for, yesterday

ROOT = Path(__file__).resolve().parent.parent


def test_archive_range_runs_every_day_in_order_and_builds_the_warehouse(make_simulator, tmp_path, capsys):
    sim = make_simulator(calls_per_day=25, extensions=6, days=4, rate_limit_scale=0.02)
    defs = pipeline_for(sim, str(tmp_path))
    end = yesterday()
    start = end - timedelta(days=1)
    said = []
    summaries = run_archive(defs, start, end, show_progress=False, announce=said.append)
    assert said[-1].startswith("warehouse: full rebuild (no warehouse yet) in ")
    assert [s.day for s in summaries] == [start.isoformat(), end.isoformat()]
    assert all(not s.failures for s in summaries)
    assert [s.calls for s in summaries] == [25, 25]
    storage = ArchiveStorage(str(tmp_path))
    assert storage.list_partitions(Dataset.CALLS) == [start, end]
    table = format_summary(summaries)
    assert "total" in table and " 50 " in table

    assert main(["query", "--warehouse", storage.warehouse_path, "SELECT count(*) AS n FROM calls"]) == 0
    assert "50" in capsys.readouterr().out
    assert main(["query", "--warehouse", storage.warehouse_path, "SELEC nonsense"]) == 2
    assert "syntax error" in capsys.readouterr().err


def test_archive_rejects_a_backwards_range(capsys, monkeypatch):
    for var in [v for v in os.environ if v.startswith("RC_")]:
        monkeypatch.delenv(var)
    assert main(["archive", "--start", "2026-02-01", "--end", "2026-01-01"]) == 2
    assert "before --start" in capsys.readouterr().err


def test_missing_settings_name_the_variable():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RC_")}
    env["DAGSTER_HOME"] = ""
    result = subprocess.run(
        [sys.executable, "-m", "rc_pipeline.cli", "archive", "--start", "2026-01-01", "--end", "2026-01-01"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "RC_SERVER_URL is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_query_reads_plain_settings_outside_dagster(make_simulator, tmp_path, monkeypatch, capsys):
    sim = make_simulator(calls_per_day=10, extensions=4, days=3, rate_limit_scale=0.02)
    defs = pipeline_for(sim, str(tmp_path))
    run_archive(defs, yesterday(), yesterday(), show_progress=False)
    monkeypatch.setenv("RC_ARCHIVE_ROOT", str(tmp_path))
    monkeypatch.setenv("RC_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    assert main(["query", "SELECT count(*) FROM calls"]) == 0
    assert "10" in capsys.readouterr().out


def test_wheel_carries_the_operations_table(tmp_path):
    """A non-editable install must find rc_pipeline/apispec/operations.json (the client imports it)."""
    import zipfile

    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("rc_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rc_pipeline/apispec/operations.json" in names


def test_code_location_loads_as_dagster_dev_loads_it():
    # A throwaway instance: the developer's DAGSTER_HOME (set by the Makefile) may not exist yet.
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_needs_no_ringcentral_settings(make_simulator, tmp_path, monkeypatch, capsys):
    sim = make_simulator(calls_per_day=10, extensions=4, days=3, rate_limit_scale=0.02)
    run_archive(pipeline_for(sim, str(tmp_path)), yesterday(), yesterday(), show_progress=False)
    for var in [v for v in os.environ if v.startswith("RC_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RC_ARCHIVE_ROOT", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", "")
    before = len(sim.request_log)
    day = yesterday().isoformat()
    assert main(["verify", "--start", day, "--end", day]) == 0
    assert f"{day}  12/12 checks passed  ok" in capsys.readouterr().out
    assert len(sim.request_log) == before
    earlier = (yesterday() - timedelta(days=1)).isoformat()
    assert main(["verify", "--start", earlier, "--end", earlier]) == 1
    assert "not archived" in capsys.readouterr().out
