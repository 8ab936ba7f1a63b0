"""deploy/: the image's command serves the code location, and the Helm values agree with the repository.

The image cannot be built here, so the test runs the image's own command (parsed from the Dockerfile)
the way the container does: outside the source tree, with only the settings the Helm values give it.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rc_pipeline.settings import SETTINGS
from rc_pipeline_tests.test_settings_module import VARIABLE

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
VALUES = DEPLOY / "helm" / "values.yaml"
# Variables that carry secrets: none may be set in the image or in the values' plain `env`.
SECRET_NAMES = {name for name, s in SETTINGS.items() if s.secret} | {
    "RC_CLIENT_ID",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "DAGSTER_PG_PASSWORD",
}


# ------------------------------------------------------------------------------------------ readers


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every instruction, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\") if current else stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            keyword, _, rest = current.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            current = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def image_command() -> list[str]:
    """The CMD the container runs: the last CMD of the final stage, in exec (JSON) form."""
    cmds = [
        args
        for keyword, args in final_stage(dockerfile_instructions(DOCKERFILE.read_text()))
        if keyword == "CMD"
    ]
    assert cmds, "deploy/Dockerfile has no CMD in its final stage"
    command = json.loads(cmds[-1])
    assert isinstance(command, list) and all(isinstance(a, str) for a in command), cmds[-1]
    return command


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def with_option(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def the_deployment() -> dict:
    (deployment,) = values()["dagster-user-deployments"]["deployments"]
    return deployment


def snake_case(limit: dict) -> dict:
    """A tag limit as dagster.yaml writes it: the chart's camelCase keys are Dagster's snake_case."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in limit.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------ the image's command, running


def test_the_image_command_serves_the_project_code_location(tmp_path, monkeypatch):
    import dagster as dg
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
    from dagster._grpc.client import DagsterGrpcClient

    from rc_pipeline.defs.build import build_definitions
    from rc_pipeline.defs.context import DefsContext

    command = image_command()
    assert command[:3] == ["dagster", "api", "grpc"], command
    port = free_port()
    # As the container runs it, on loopback and a free port instead of 0.0.0.0:3030.
    argv = with_option(with_option(command, "-p", str(port)), "-h", "127.0.0.1")
    settings = {k: str(v) for k, v in the_deployment()["env"].items()}
    # The container's environment: the values' settings, no secrets, no developer instance, and the
    # package importable from anywhere (installed there, the worktree here) but not from the cwd.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RC_", "DAGSTER_", "AWS_"))}
    env |= settings | {"DAGSTER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    (tmp_path / "home").mkdir()
    workdir = tmp_path / "app"
    workdir.mkdir()
    dagster_cli = Path(sys.executable).with_name(argv[0])
    server = subprocess.Popen(
        [str(dagster_cli), *argv[1:]],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"`{shlex.join(argv)}` exited {server.returncode}:\n{server.stdout.read()}")
            try:
                client.ping("up")
                break
            except Exception:
                assert time.monotonic() < deadline, f"`{shlex.join(argv)}` did not answer within 90 s"
                time.sleep(0.25)
        # The chart's readiness and liveness probe (`dagster api grpc-health-check -p <port>`) makes this
        # call and passes on "SERVING" (in-process here: a second interpreter costs seconds).
        assert client.health_check_query() == "SERVING"

        origin = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=port, location_name="rc_pipeline")
        with dg.DagsterInstance.ephemeral() as instance, origin.create_location(instance) as location:
            (repo,) = location.get_repositories().values()
            served = {
                "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
                "schedules": sorted(s.name for s in repo.get_schedules()),
                "sensors": sorted(s.name for s in repo.get_sensors()),
            }
    finally:
        try:
            client.shutdown_server()
            server.wait(timeout=30)
        except Exception:
            server.kill()
            server.wait(timeout=30)

    # What the project defines under the same settings, built in this process.
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    DefsContext.from_env.cache_clear()
    try:
        built = build_definitions().get_repository_def()
    finally:
        DefsContext.from_env.cache_clear()
    expected = {
        "jobs": sorted(j.name for j in built.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in built.schedule_defs),
        "sensors": sorted(s.name for s in built.sensor_defs),
    }
    assert "archive_calls_daily" in expected["jobs"]
    assert served == expected


# ---------------------------------------------------------------------------------- the Dockerfile


def test_the_image_runs_the_command_the_chart_gives_it():
    """The chart sets the container's args to `dagster api grpc -h 0.0.0.0 -p <port> <args>`."""
    deployment = the_deployment()
    chart_command = ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(deployment["port"])]
    assert chart_command + deployment["dagsterApiGrpcArgs"] == image_command()
    stage = final_stage(dockerfile_instructions(DOCKERFILE.read_text()))
    # An ENTRYPOINT would be prepended to the chart's args and break the command.
    assert not [args for keyword, args in stage if keyword == "ENTRYPOINT"]
    assert f"EXPOSE {deployment['port']}" in [f"{k} {a}" for k, a in stage]


def test_the_image_installs_the_project_with_its_deployment_extras_as_a_non_root_user():
    import tomllib

    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    assert instructions[0] == ("FROM", "python:3.11-slim AS build")
    assert final_stage(instructions)[0] == ("FROM", "python:3.11-slim")
    installs = [args for keyword, args in instructions if keyword == "RUN" and "pip install" in args]
    (install,) = installs
    extras = set(re.search(r'"\.\[([a-z0-9,]+)\]"', install).group(1).split(","))
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras == {"s3", "postgres", "k8s"} and extras <= set(declared)
    # The user is numeric (Kubernetes can check runAsNonRoot) and matches the values' security context.
    (user,) = [args for keyword, args in final_stage(instructions) if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert the_deployment()["podSecurityContext"]["runAsUser"] == int(uid)
    # No secret is baked in: no ENV or ARG names one.
    baked = " ".join(args for keyword, args in instructions if keyword in ("ENV", "ARG"))
    assert not [name for name in SECRET_NAMES if name in baked]


def test_the_build_context_holds_only_what_the_image_copies():
    """.dockerignore excludes everything, then lets back exactly the COPY sources."""
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    assert patterns[0] == "*"
    let_back = {p[1:] for p in patterns if p.startswith("!")}
    copied = set()
    for keyword, args in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "COPY" and not args.startswith("--from"):
            copied |= set(args.split()[:-1])
    assert copied == let_back == {"pyproject.toml", "README.md", "rc_pipeline"}
    for kept_out in ("data", ".venv", ".dagster_home", ".env", ".git", "rc_pipeline_tests", "bench"):
        assert kept_out not in let_back


# ------------------------------------------------------------------------------------ the Helm values


def test_the_values_limit_runs_and_pools_as_dagster_yaml_does():
    instance = yaml.safe_load((REPO / "dagster.yaml").read_text())["concurrency"]
    chart = values()["concurrency"]
    assert chart["enabled"] is True
    assert chart["pools"]["defaultLimit"] == instance["pools"]["default_limit"]
    limits = [snake_case(limit) for limit in chart["runs"]["tagConcurrencyLimits"]]
    assert limits == instance["runs"]["tag_concurrency_limits"]
    from rc_pipeline.defs.names import CALL_DAY_TAG, MESSAGE_DAY_TAG

    assert {limit["key"] for limit in limits} == {CALL_DAY_TAG, MESSAGE_DAY_TAG}


def test_the_values_run_on_kubernetes_with_postgresql_through_psycopg2():
    v = values()
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    assert v["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    # The password comes from a Secret the user creates, never from the values.
    assert v["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in v["postgresql"]


def test_settings_in_the_values_are_declared_valid_and_not_secret():
    env = {k: str(v) for k, v in the_deployment()["env"].items()}
    assert {"RC_ARCHIVE_ROOT", "RC_WAREHOUSE_PATH"} <= set(env)
    for name, raw in env.items():
        assert name in SETTINGS, f"{name} is set in deploy/helm/values.yaml but not declared"
        SETTINGS[name].read({name: raw})  # raises, naming the variable, on a value it refuses
    assert not set(env) & SECRET_NAMES
    assert the_deployment()["envSecrets"], "RingCentral credentials come from a Kubernetes Secret"
    # The warehouse is a local file on the mounted volume.
    (mount,) = the_deployment()["volumeMounts"]
    assert Path(env["RC_WAREHOUSE_PATH"]).parent == Path(mount["mountPath"])


def test_every_rc_variable_named_in_deploy_is_declared():
    named: dict[str, list[str]] = {}
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in set(VARIABLE.findall(path.read_text())):
            named.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert {"RC_ARCHIVE_ROOT", "RC_WAREHOUSE_PATH"} <= set(named)
    missing = {name: files for name, files in named.items() if name not in SETTINGS}
    assert not missing, "declare these in rc_pipeline/settings.py SETTINGS or fix deploy/: " + "; ".join(
        f"{name} (in {', '.join(files)})" for name, files in sorted(missing.items())
    )
