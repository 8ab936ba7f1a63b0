"""The benchmarks at tiny sizes, so their code keeps working (`make bench` runs them at full size)."""

from __future__ import annotations

import json

import pytest

from bench import api, capture, download, planning, queries, retention_race, transform
from bench.__main__ import main as bench_main
from bench.common import Result, render_table, write_results


def _by_metric(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


def test_transform_scenario_runs_both_sides_on_the_same_rows(tmp_path):
    results = _by_metric(transform.run(tmp_path, days=1, per_day=300, runs=2, log=lambda _: None))
    assert results["records"].value == 300
    assert results["time ratio ours/duckdb"].met is not None
    assert 0 < results["ours peak RSS MiB"].value < 1024


def test_download_scenario_streams_through_the_client_and_plain_httpx(tmp_path):
    results = _by_metric(download.run(tmp_path, size_bytes=2 * 1024**2, rounds=1, log=lambda _: None))
    assert results["client peak RSS MiB"].met is True
    assert results["client / plain throughput"].value > 0
    assert not list(tmp_path.iterdir())  # the downloaded file and the spec are cleaned up


def test_warehouse_scenario_times_refreshes_full_rebuild_and_the_marts(tmp_path):
    results = queries.run(tmp_path, days=3, calls_per_day=500, repeats=1, log=lambda _: None)
    metrics = _by_metric(results)
    assert metrics["calls in warehouse"].value == 1500
    assert metrics["refresh after one new day (s)"].target == "<= 2"
    assert metrics["refresh after one changed day (s)"].met is not None
    assert metrics["full rebuild, 3 days (s)"].value > 0
    assert metrics["refreshed marts equal a full rebuild"].met is True
    assert sum(1 for r in results if r.metric.endswith("(s, warm median)")) == len(queries.QUERIES)


def test_planning_scenario_finds_a_plan_that_cannot_keep_up():
    results = _by_metric(planning.run(calls_per_day=70_000, days=2, log=lambda _: None))
    assert results["verdict: daily archiving keeps up"].met is True
    assert results["Heavy requests the plan itself sent"].met is True


def test_retention_race_loses_only_what_the_budget_cannot_save(tmp_path):
    sizes = retention_race.RaceSizes(days=5, retention=3, calls_per_day=20, budget_share=0.6, extensions=4)
    results = _by_metric(retention_race.run(tmp_path, sizes, log=lambda _: None))
    assert results["recordings lost (actual, decided days)"].value > 0  # the budget is short
    assert results["avoidable loss (actual - least possible with these budgets)"].met is True
    assert results["forecast error vs actual loss"].met is not None


def test_max_savable_is_the_best_any_order_can_do():
    # Two runs of budget 1: a recording only run 0 can fetch, and two that runs 0..1 can: 2 savable.
    assert retention_race.max_savable({(0, 0): 1, (0, 1): 2}, [1, 1]) == 2
    # Three that only run 1 can fetch, with budget 2 there: 2, whatever run 0 has.
    assert retention_race.max_savable({(1, 1): 3}, [5, 2]) == 2
    # A recording whose deadline passed before it could be fetched (last run < first run) is never saved.
    assert retention_race.max_savable({(2, 1): 4, (0, 2): 1}, [9, 9, 9]) == 1


def test_api_scenarios_count_requests_against_the_minimum(tmp_path):
    sizes = api.ApiSizes(days=1, calls_per_day=300, recording_share=0.1, window=2.0, count_scale=20, runs=2)
    rows, context = api.run(tmp_path, sizes, log=lambda _: None)
    metrics = _by_metric(rows)
    assert metrics["call-log pages sent / minimum"].value == "1 / 1"
    assert metrics["days failed"].met is True
    assert metrics["days archived completely"].met is True
    assert context["volume"].calls_per_day == 300
    accuracy = _by_metric(api.plan_accuracy(context, include_messages=True))
    assert accuracy["planned Heavy requests / sent in scenario 1"].value > 0


def test_late_changes_scenario_compares_the_ways_of_running(tmp_path):
    results = _by_metric(capture.run(tmp_path, days=1, calls_per_day=60, log=lambda _: None))
    default = results["sync + lookback 1 (default): sent / minimum"]
    assert default.target == "<= 1.15" and default.value >= 1.0
    assert results["sync + lookback 0: sent / minimum"].value <= default.value
    assert results["lookback 2 (today): sent / minimum"].value > default.value
    assert results["sync + lookback 1 (default): days differing from RingCentral's final listing"].met is True
    assert results["changed records captured per day (extract-sync)"].value > 0


def test_results_file_and_table(tmp_path):
    results = [Result("x", "ratio", 1.01, "<= 1.02", True), Result("x", "note", "text")]
    write_results(results, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())[0] == {
        "scenario": "x",
        "metric": "ratio",
        "value": 1.01,
        "target": "<= 1.02",
        "met": True,
    }
    assert "ratio" in render_table(results)


def test_cli_rejects_unknown_arguments():
    with pytest.raises(SystemExit):
        bench_main(["--nope"])
