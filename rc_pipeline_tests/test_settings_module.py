"""rc_pipeline.settings: every RC_* variable declared once, parsed one way, documented from one place."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest

import rc_pipeline.ringcentral as ringcentral_package
from rc_pipeline.ringcentral import RingCentralClient, RingCentralSettings
from rc_pipeline.ringcentral import SettingsError as ClientSettingsError
from rc_pipeline.settings import (
    GB,
    MB,
    README_TABLES,
    SECTIONS,
    SETTINGS,
    ArchiveSettings,
    MessageStoreSettings,
    PipelineSettings,
    Setting,
    Settings,
    SettingsError,
    main,
    markdown_table,
    read,
    ringcentral_settings,
)
from rc_pipeline.storage.zipsafe import ZipLimits

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("rc_pipeline", "bench", "scripts")
# A whole RC_ name: not the bare prefix ("RC_*" in prose), not the tail of another identifier (_RC_X).
VARIABLE = re.compile(r"(?<![A-Za-z0-9_])RC_[A-Z0-9]+(?:_[A-Z0-9]+)*")
CONNECTION = {
    "RC_SERVER_URL": "https://platform.ringcentral.com",
    "RC_CLIENT_ID": "id",
    "RC_CLIENT_SECRET": "client-secret-value",
}


def variables_used(roots: list[Path]) -> dict[str, list[str]]:
    """Every RC_ name in the .py files under `roots`, with the files that mention it."""
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for name in set(VARIABLE.findall(path.read_text(encoding="utf-8"))):
                found.setdefault(name, []).append(str(path.relative_to(root.parent)))
    return found


def undeclared(found: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: files for name, files in found.items() if name not in SETTINGS}


# ------------------------------------------------------------------------------- one declaration each


def test_every_rc_variable_in_the_code_is_declared():
    found = variables_used([REPO / d for d in SCANNED])
    # Guards against a scan that silently reads nothing (wrong root, wrong pattern).
    assert {"RC_LOOKBACK_DAYS", "RC_CLIENT_SECRET", "RC_OPENAPI_SPEC"} <= set(found)
    missing = undeclared(found)
    assert not missing, "declare these in rc_pipeline/settings.py SETTINGS: " + "; ".join(
        f"{name} (in {', '.join(files)})" for name, files in sorted(missing.items())
    )


def test_the_scan_reports_an_undeclared_variable(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text(
        'import os\nos.environ.get("RC_NOT_DECLARED")\n_RC_OPTIONAL = {}\n# RC_* prose\nos.environ["RC_JWT"]\n'
    )
    assert undeclared(variables_used([pkg])) == {"RC_NOT_DECLARED": ["pkg/mod.py"]}


def test_every_declaration_is_well_formed():
    for name, setting in SETTINGS.items():
        assert name == setting.name and VARIABLE.fullmatch(name), name
        assert setting.help and setting.section in SECTIONS, name
    # Every section has its table in the README.
    assert set(SECTIONS) == {section for _, sections in README_TABLES for section in sections}


def test_a_variable_cannot_be_declared_twice_or_with_an_unknown_kind():
    from rc_pipeline.settings import _declare

    one = Setting("RC_X", "int", "archive", "x")
    with pytest.raises(TypeError, match="RC_X is declared twice"):
        _declare(one, one)
    with pytest.raises(TypeError, match="unknown kind"):
        Setting("RC_Y", "integer", "archive", "y")


@pytest.mark.parametrize("name", [n for n, s in SETTINGS.items() if s.default is not None])
def test_every_default_is_a_value_its_own_parser_accepts(name):
    setting = SETTINGS[name]
    if setting.low is not None:
        assert setting.low <= setting.default <= setting.high
    written = str(setting.default).lower() if isinstance(setting.default, bool) else str(setting.default)
    assert read(name, {name: written}) == setting.default


# ------------------------------------------------------------------------------------- kinds, bounds


def test_lookback_days_beyond_thirty_is_refused_with_the_exact_message():
    with pytest.raises(SettingsError) as info:
        PipelineSettings.from_env({"RC_LOOKBACK_DAYS": "99"})
    assert str(info.value) == "RC_LOOKBACK_DAYS=99 must be between 0 and 30"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("RC_SCHEDULE_HOUR", "noon", "whole number"),  # int
        ("RC_SCHEDULE_HOUR", "24", "between 0 and 23"),
        ("RC_EXPORT_MAX_ATTEMPTS", "2.5", "whole number"),
        ("RC_EXPORT_POLL_SECONDS", "fast", "a number"),  # float
        ("RC_EXPORT_POLL_SECONDS", "0.5", "between 1 and 3600"),
        ("RC_ZIP_MAX_RATIO", "nan", "between 2 and 100000"),
        ("RC_MESSAGE_RECONCILE", "maybe", "true or false"),  # flag
        ("RC_MESSAGE_SOURCE", "ftp", "export, listing"),  # choice
        ("RC_START_DATE", "2026-13-01", "2026-01-31"),  # date
        ("RC_START_DATE", "31/01/2026", "2026-01-31"),
        ("RC_TIMEZONE", "Mars/Olympus_Mons", "IANA timezone"),  # timezone
        ("RC_TIMEZONE", "America", "IANA timezone"),
        ("RC_SERVER_URL", "platform.ringcentral.com", "http(s) URL"),  # url
        ("RC_MEDIA_URL", "https://media.ringcentral.com/?x=1", "query"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_value(name, value, problem):
    with pytest.raises(SettingsError) as info:
        read(name, {name: f" {value} "})
    message = str(info.value)
    assert message.startswith(f"{name}=")
    assert value in message and problem in message


@pytest.mark.parametrize(
    ("group", "env"),
    [
        (PipelineSettings, {"RC_TIMEZONE": "Nowhere/Town"}),
        (PipelineSettings, {"RC_START_DATE": "yesterday"}),
        (MessageStoreSettings, {"RC_EXPORT_MAX_RUNNING": "11"}),
        (MessageStoreSettings, {"RC_EXPORT_TIMEOUT_MINUTES": "0"}),
        (MessageStoreSettings, {"RC_ZIP_MAX_JSON_MB": "lots"}),
        (MessageStoreSettings, {"RC_EXPORT_ARCHIVE_DEADLINE_MINUTES": "50000"}),
        (Settings, {"RC_MESSAGE_SOURCE": "fax"}),
    ],
)
def test_groups_refuse_what_the_registry_refuses(group, env):
    (name,) = env
    with pytest.raises(SettingsError, match=name):
        group.from_env(env)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RC_MESSAGE_RECONCILE", "Yes", True),
        ("RC_MESSAGE_RECONCILE", "OFF", False),
        ("RC_MESSAGE_SOURCE", " LISTING ", "listing"),
        ("RC_START_DATE", "2026-01-31", date(2026, 1, 31)),
        ("RC_TIMEZONE", "America/New_York", "America/New_York"),
        (
            "RC_SERVER_URL",
            "https://platform.devtest.ringcentral.com/",
            "https://platform.devtest.ringcentral.com",
        ),
        ("RC_LOOKBACK_DAYS", "30", 30),
        ("RC_LOOKBACK_DAYS", "   ", 1),  # whitespace is unset
        ("RC_ARCHIVE_ROOT", "", "data"),
    ],
)
def test_good_values_parse(name, value, expected):
    assert read(name, {name: value}) == expected


def test_a_secret_never_appears_in_an_error():
    pin = Setting("RC_TEST_PIN", "int", "connection", "a secret number", secret=True, low=0, high=9)
    for bad in ("hunter2-secret", "12345"):
        with pytest.raises(SettingsError) as info:
            pin.read({"RC_TEST_PIN": bad})
        assert "RC_TEST_PIN" in str(info.value) and bad not in str(info.value)
    with pytest.raises(SettingsError) as info:
        ringcentral_settings(
            {**CONNECTION, "RC_JWT": "jwt-secret-value", "RC_USERNAME": "u", "RC_PASSWORD": "pw-value"}
        )
    message = str(info.value)
    assert "RC_JWT" in message
    for secret in ("jwt-secret-value", "pw-value", "client-secret-value"):
        assert secret not in message


def test_required_connection_settings_say_so():
    for name in ("RC_SERVER_URL", "RC_CLIENT_ID", "RC_CLIENT_SECRET"):
        env = {**CONNECTION, "RC_JWT": "j", name: " "}
        with pytest.raises(SettingsError, match=f"^{name} is required"):
            ringcentral_settings(env)


def test_the_client_and_the_settings_raise_one_error_type():
    assert SettingsError is ClientSettingsError
    assert issubclass(SettingsError, ValueError)


# -------------------------------------------------------------------------------------------- groups


def test_pipeline_defaults():
    s = PipelineSettings.from_env({})
    start = date.fromisoformat(s.start_date)
    assert (s.timezone, s.schedule_hour, s.lookback_days) == ("UTC", 2, 1)
    assert (s.capture_minutes, s.active_calls_seconds) == (None, None)
    assert start.day == 1 and 365 <= (date.today() - start).days <= 365 + 31
    assert start == (date.today() - timedelta(days=365)).replace(day=1)


def test_pipeline_values_from_env():
    s = PipelineSettings.from_env(
        {
            "RC_TIMEZONE": "Europe/Berlin",
            "RC_START_DATE": "2025-06-01",
            "RC_SCHEDULE_HOUR": "23",
            "RC_LOOKBACK_DAYS": "0",
        }
    )
    assert s == PipelineSettings("Europe/Berlin", "2025-06-01", 23, 0)


def test_message_store_defaults_are_todays():
    s = MessageStoreSettings.from_env({})
    assert s == MessageStoreSettings()
    assert (s.source, s.max_running_exports, s.max_attempts, s.reconcile) == ("export", 2, 3, True)
    assert (s.retry_backoff_seconds, s.task_timeout_seconds, s.poll_seconds) == (60.0, 6 * 3600.0, 30.0)
    assert s.archive_deadline_seconds == 24 * 3600.0
    assert s.zip_limits == ZipLimits()
    assert (s.zip_max_total_bytes, s.zip_max_export_bytes, s.zip_max_json_bytes) == (
        8 * GB,
        64 * GB,
        512 * MB,
    )
    assert isinstance(s.zip_max_total_bytes, int) and isinstance(s.max_attempts, int)


def test_message_store_units_are_converted():
    s = MessageStoreSettings.from_env(
        {
            "RC_MESSAGE_SOURCE": "listing",
            "RC_EXPORT_TIMEOUT_MINUTES": "30",
            "RC_EXPORT_ARCHIVE_DEADLINE_MINUTES": "2",
            "RC_ZIP_MAX_GB": "0.5",
            "RC_ZIP_MAX_EXPORT_GB": "2",
            "RC_ZIP_MAX_JSON_MB": "3",
            "RC_ZIP_MAX_RATIO": "50",
            "RC_EXPORT_MAX_RUNNING": "1",
            "RC_MESSAGE_RECONCILE": "false",
        }
    )
    assert s.source == "listing" and s.max_running_exports == 1 and s.reconcile is False
    assert (s.task_timeout_seconds, s.archive_deadline_seconds) == (1800.0, 120.0)
    assert s.zip_limits == ZipLimits(
        max_total_bytes=GB // 2, max_ratio=50.0, max_export_bytes=2 * GB, max_json_bytes=3 * MB
    )


def test_message_store_constructor_keeps_working_and_checks_the_source():
    s = MessageStoreSettings(poll_seconds=0.2, max_attempts=1)
    assert (s.poll_seconds, s.max_attempts, s.source) == (0.2, 1, "export")
    with pytest.raises(SettingsError, match="RC_MESSAGE_SOURCE='ftp'"):
        MessageStoreSettings(source="ftp")


def test_archive_settings_and_the_throttle_switch():
    default = Path(tempfile.gettempdir()) / "rc-pipeline-throttle"
    assert ArchiveSettings.from_env({}) == ArchiveSettings("data", None, default)
    assert ArchiveSettings() == ArchiveSettings.from_env({})
    s = ArchiveSettings.from_env(
        {"RC_ARCHIVE_ROOT": "s3://bucket/p", "RC_WAREHOUSE_PATH": "/w.duckdb", "RC_THROTTLE_DIR": "/x/y"}
    )
    assert s == ArchiveSettings("s3://bucket/p", "/w.duckdb", Path("/x/y"))
    for off in ("none", " OFF ", "0", "", "  "):
        assert ArchiveSettings.from_env({"RC_THROTTLE_DIR": off}).throttle_dir is None, off


def test_settings_aggregate():
    env = {"RC_LOOKBACK_DAYS": "5", "RC_EXPORT_POLL_SECONDS": "5", "RC_ARCHIVE_ROOT": "elsewhere"}
    s = Settings.from_env(env)
    assert s.pipeline == PipelineSettings.from_env(env) and s.pipeline.lookback_days == 5
    assert s.messages.poll_seconds == 5.0 and s.archive.root == "elsewhere"


# ---------------------------------------------------------------------------- the client package


def test_the_client_package_reads_no_environment():
    assert not hasattr(RingCentralSettings, "from_env")
    assert not hasattr(RingCentralClient, "from_env")
    package = Path(ringcentral_package.__file__).parent
    readers = [p.name for p in package.rglob("*.py") if re.search(r"os\.environ|getenv", p.read_text())]
    assert readers == []


@pytest.mark.parametrize("throttle_dir", ["default", None, "tmp"])
def test_the_client_shares_its_throttle_where_the_caller_says(throttle_dir, tmp_path):
    settings = ringcentral_settings({**CONNECTION, "RC_JWT": "j"})
    if throttle_dir == "default":
        client, expected = RingCentralClient(settings), ArchiveSettings().throttle_dir
    else:
        expected = tmp_path if throttle_dir == "tmp" else None
        client = RingCentralClient(settings, throttle_dir=expected)
    try:
        assert client.session.throttler.shared_dir == expected
    finally:
        client.session.close(revoke=False)


def test_the_settings_module_does_not_import_dagster():
    code = "import sys, rc_pipeline.settings; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------- README


def readme_tables(title: str) -> list[str]:
    """The tables (consecutive `|` lines) under the README heading `## {title}`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"(?m)(?:^\|.*\n?)+", body)


@pytest.mark.parametrize(("title", "sections"), README_TABLES, ids=[t for t, _ in README_TABLES])
def test_readme_tables_are_generated_from_the_declarations(title, sections):
    tables = [t.rstrip("\n") for t in readme_tables(title)]
    assert markdown_table(*sections) in tables, (
        f"README.md section {title!r} does not hold the table of {', '.join(sections)}: run "
        "`python -m rc_pipeline.settings --markdown` and paste its table there"
    )


def test_readme_documents_every_section_once():
    documented = [s for _, sections in README_TABLES for s in sections]
    assert sorted(documented) == sorted(SECTIONS)


def test_markdown_rows_carry_default_bounds_and_secrecy():
    table = markdown_table("archive", "connection")
    assert "| `RC_LOOKBACK_DAYS` | " in table and "(1; 0 to 30) |" in table
    assert "the app's client secret (required; secret) |" in table
    assert table.index("RC_SERVER_URL") < table.index("RC_ARCHIVE_ROOT")
    assert "RC_MESSAGE_SOURCE" not in table
    with pytest.raises(KeyError, match="nowhere"):
        markdown_table("nowhere")


def test_cli_prints_every_table(capsys):
    assert main(["--markdown"]) == 0
    out = capsys.readouterr().out
    for _, sections in README_TABLES:
        assert markdown_table(*sections) in out
    assert all(f"`{name}`" in out for name in SETTINGS)


@pytest.mark.parametrize(
    ("value", "expected"), [("", None), ("none", None), (None, "default"), ("/x/y", "/x/y")]
)
def test_the_resource_reads_the_throttle_dir_as_the_environment_would(value, expected):
    """An empty RC_THROTTLE_DIR wired through EnvVar arrives as "": it means throttle alone."""
    from rc_pipeline.defs.resources import RingCentralResource, close_shared_clients
    from rc_pipeline.ringcentral.shared_budget import default_state_dir

    resource = RingCentralResource(
        server_url="https://platform.ringcentral.com",
        client_id="id",
        client_secret="secret",
        jwt="jwt",
        throttle_dir=value,
    )
    try:
        shared = resource.get_client().session.throttler.shared_dir
    finally:
        close_shared_clients(revoke=False)
    want = default_state_dir() if expected == "default" else (None if expected is None else Path(expected))
    assert shared == want
