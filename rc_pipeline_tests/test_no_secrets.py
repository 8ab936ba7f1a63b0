"""No secret anywhere: after a full demo and an archive run through injected faults, no file under the
archive root, DAGSTER_HOME or the run's temp directory, and no captured output or log line, holds an
access token, a refresh token, the client secret, the JWT or the password, nor the Basic header value
(base64 of client id:secret), nor a URL-encoded form of any of them.

Files are read the way a reader of the disk would: as bytes, and also decoded (gzip pages, zip
entries, Parquet and DuckDB tables, whose compression would hide a token from a byte search)."""

from __future__ import annotations

import base64
import gzip
import io
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from bench.common import simulator_environ
from rc_pipeline import demo
from rc_pipeline.simulator import FaultConfig, RunningSimulator
from rc_pipeline_tests.pipelinehelpers import yesterday

ROOT = Path(__file__).resolve().parent.parent
# Faults of every kind the simulator injects (slow answers excepted: they only cost time), each on the
# next request to a path containing the given text: one on the login (its error paths see the
# credentials), the others on the data.
FAULTS = {
    "500": "/oauth/token",
    "502": "/call-log",
    "503": "/extension",
    "504": "message-store-report",
    "429": "/call-log",
    "truncate": "/recording/",
    "drop": "/recording/",
    "html": "message-store-report",
}


def secret_forms(sim: RunningSimulator, tokens: list[str]) -> dict[bytes, str]:
    """Every form a secret could be written in -> what it is (for the failure message)."""
    config = sim.config
    secrets = {"client secret": config.client_secret, "JWT": config.jwt, "password": config.password}
    secrets |= {f"token {i}": token for i, token in enumerate(tokens)}
    basic = f"{config.client_id}:{config.client_secret}".encode()
    forms: dict[bytes, str] = {}
    for what, value in secrets.items():
        for form in (value, quote(value, safe=""), quote_plus(value)):
            forms[form.encode()] = what
    for encoded in (base64.b64encode(basic), base64.urlsafe_b64encode(basic)):
        forms[encoded] = "Basic client id:secret"
        forms[quote(encoded.decode(), safe="").encode()] = "Basic client id:secret (URL-encoded)"
    return forms


def _readings(path: Path) -> Iterator[bytes]:
    """The file's bytes, and what its compression holds."""
    data = path.read_bytes()
    yield data
    name = path.name
    try:
        if name.endswith(".gz"):
            yield gzip.decompress(data)
        elif name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    yield archive.read(info)
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq

            yield repr(pq.read_table(path).to_pylist()).encode()
        elif name.endswith(".duckdb"):
            import duckdb

            with duckdb.connect(str(path), read_only=True) as connection:
                tables = connection.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE'"
                ).fetchall()
                for schema, table in tables:
                    rows = connection.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                    yield repr(rows).encode()
    except (OSError, zipfile.BadZipFile, EOFError):
        return  # not what its name says: the raw bytes were scanned


def leaks_in_files(forms: dict[bytes, str], *folders: Path) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            for reading in _readings(path):
                found += [f"{path}: {what}" for form, what in forms.items() if form in reading]
    return found


def leaks_in_text(forms: dict[bytes, str], label: str, text: str) -> list[str]:
    data = text.encode()
    return [f"{label}: {what}" for form, what in forms.items() if form in data]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def every_log_line() -> Iterator[_Capture]:
    """Every Python log record of this process, at DEBUG (httpx, httpcore, dagster, ours)."""
    handler = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_no_secret_in_files_or_logs_after_a_demo_and_a_faulty_run(
    make_simulator, tmp_path, monkeypatch, capfd, every_log_line
):
    home, root, temp = tmp_path / "dagster_home", tmp_path / "archive", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(temp))

    # 1. The demo, in this process, with its embedded simulator kept for its tokens.
    demo_sims: list[RunningSimulator] = []
    real_start = demo.start_simulator

    def keep(config):
        sim = real_start(config)
        demo_sims.append(sim)
        return sim

    monkeypatch.setattr(demo, "start_simulator", keep)
    args = ["--days", "1", "--calls-per-day", "8", "--extensions", "3", "--rate-limit-scale", "0.01"]
    assert demo.main([*args, "--root", str(root)]) == 0
    (demo_sim,) = demo_sims
    demo_out = capfd.readouterr()

    # 2. `rc-pipeline archive` in a child process, through faults and short-lived tokens (each expiry
    # is a refresh: a new access and refresh token), with every log record of the child at DEBUG.
    sim = make_simulator(extensions=3, calls_per_day=8, days=4, token_ttl=5.0, faults=FaultConfig())
    sim.faults.fail_next_exports(1, "AttemptFailed")
    for kind, path in FAULTS.items():
        sim.faults.schedule(kind, path_contains=path, retry_after=0.5 if kind[0] in "45" else None)
    day = (yesterday() - timedelta(days=1)).isoformat()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RC_")}
    env.update(simulator_environ(sim))
    env.update(
        PYTHONPATH=str(ROOT),
        RC_ARCHIVE_ROOT=str(root),
        RC_TIMEZONE="UTC",
        RC_START_DATE=day,
        RC_EXPORT_POLL_SECONDS="1",
        RC_EXPORT_RETRY_BACKOFF_SECONDS="0",
    )
    child = (
        "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
        "from rc_pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", child, "archive", "--start", day, "--end", day, "--no-progress", "--verbose"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    faults = [e.fault for e in sim.request_log if e.fault]
    assert set(FAULTS) <= set(faults), faults
    assert len(sim.issued_tokens()) >= 4, "no token was refreshed"  # the expiry path ran
    assert run.stdout.strip(), run.stderr[-3000:]

    tokens = demo_sim.issued_tokens() + sim.issued_tokens()
    forms = secret_forms(sim, tokens) | secret_forms(demo_sim, tokens)
    leaks = leaks_in_files(forms, root, home, temp)
    for label, text in (
        ("demo stdout", demo_out.out),
        ("demo stderr", demo_out.err),
        ("archive stdout", run.stdout),
        ("archive stderr", run.stderr),
    ):
        leaks += leaks_in_text(forms, label, text)
    leaks += leaks_in_text(forms, "log record", "\n".join(every_log_line.lines))
    assert leaks == []
    # The scan reads what it should: the archive and the instance are there, the logs are not empty.
    assert list(root.rglob("*.parquet")) and list(home.rglob("*.db"))
    assert every_log_line.lines and len(run.stderr.splitlines()) > 100
