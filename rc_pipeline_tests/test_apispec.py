"""The throttling/permission table is generated from the official spec and must agree with it."""

import subprocess
import sys
from pathlib import Path

import pytest

from rc_pipeline.apispec import OPERATIONS, match_operation
from rc_pipeline.settings import openapi_spec_path

ROOT = Path(__file__).resolve().parent.parent


def spec_path() -> Path:
    return openapi_spec_path()


def test_table_matches_the_spec():
    spec = spec_path()
    if not spec.exists():
        pytest.skip(
            f"RingCentral OpenAPI spec absent at {spec} (set RC_OPENAPI_SPEC): cannot compare the table"
        )
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_api_facts.py"), "--check", "--spec", str(spec)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_groups_of_the_operations_the_archive_depends_on():
    acc = "/restapi/v1.0/account/~"
    assert match_operation("GET", f"{acc}/call-log").throttling_group == "Heavy"
    assert match_operation("GET", f"{acc}/recording/123/content").media is True
    assert match_operation("GET", f"{acc}/extension/~/message-store").throttling_group == "Light"
    assert match_operation("GET", f"{acc}/extension/1/message-store/2/content/3").throttling_group == "Medium"
    assert match_operation("POST", "/restapi/oauth/token").throttling_group == "Auth"
    # Literal segments win over parameters: the archive list is not a task read.
    assert (
        match_operation("GET", f"{acc}/message-store-report/t1/archive").operation_id
        == "readMessageStoreReportArchive"
    )
    assert match_operation("GET", f"{acc}/recording/123").app_permission == "ReadCallRecording"
    assert {op.throttling_group for op in OPERATIONS} <= {"Light", "Medium", "Heavy", "Auth"}
