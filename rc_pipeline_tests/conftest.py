"""Shared fixtures: simulated RingCentral servers and the official OpenAPI spec."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rc_pipeline import settings
from rc_pipeline.simulator import FaultConfig, RunningSimulator, SimulatorConfig, start_simulator

# Small and fast: few extensions, a few days, windows scaled to 2 s so throttling tests stay quick.
SMALL_ACCOUNT = dict(extensions=8, days=3, calls_per_day=40, messages_per_day=3, rate_limit_scale=0.02)


@pytest.fixture(autouse=True)
def _dagster_state_storage_reset() -> Iterator[None]:
    """Each test starts without a current Dagster state storage. A Dagster context left open by a test
    (an instance entered through a sensor or schedule context) leaves one pointing at its instance,
    and once that instance is collected every later definitions load fails with "undefined
    DagsterInstance weakref", far from the test that caused it."""
    from dagster._core.storage.defs_state.base import _current_storage

    yield
    _current_storage.set(None)


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., RunningSimulator]]:
    """Factory: make_simulator(**config_overrides) starts a simulator, stopped after the test."""
    started: list[RunningSimulator] = []

    def make(**overrides: object) -> RunningSimulator:
        fields = {**SMALL_ACCOUNT, **overrides}
        fields.setdefault("faults", FaultConfig())
        sim = start_simulator(SimulatorConfig(**fields))  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(make_simulator: Callable[..., RunningSimulator]) -> RunningSimulator:
    """A running simulator with a small account and 2 s rate-limit windows."""
    return make_simulator()


@pytest.fixture(scope="session")
def openapi_spec_path() -> Path:
    """The official RingCentral OpenAPI spec ($RC_OPENAPI_SPEC or ../shared/ringcentral/...)."""
    path = settings.openapi_spec_path()
    if not path.is_file():
        pytest.skip(f"RingCentral OpenAPI spec is absent (looked for {path}); set RC_OPENAPI_SPEC to run")
    return path


@pytest.fixture(scope="session")
def openapi_spec(openapi_spec_path: Path) -> dict:
    """The parsed spec (loaded once per session: it is 1.7 MB)."""
    yaml = pytest.importorskip("yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with openapi_spec_path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


@pytest.fixture(scope="session")
def openapi_validate(openapi_spec: dict) -> Callable[..., None]:
    """validate(response, component=None): check an httpx response against the spec.

    By default the operation's declared response for that status is used (openapi-core); with
    `component` the body is checked against `components/responses/<component>` instead, for
    answers the operation does not list (e.g. 401, 429).
    """
    import json

    import httpx
    from jsonschema_path import SchemaPath
    from openapi_core import Config, OpenAPI
    from openapi_core.testing import MockRequest, MockResponse
    from openapi_schema_validator import OAS30Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    api = OpenAPI(SchemaPath.from_dict(openapi_spec), config=Config(spec_validator_cls=None))
    registry = Registry().with_resource("urn:rc-spec", Resource.from_contents(openapi_spec, DRAFT4))
    servers = [s["url"] for s in openapi_spec["servers"]]

    def validate(response: httpx.Response, component: str | None = None) -> None:
        if component is not None:
            pointer = f"urn:rc-spec#/components/responses/{component}/content/application~1json/schema"
            OAS30Validator({"$ref": pointer}, registry=registry).validate(json.loads(response.content))
            return
        request = response.request
        media = "/content" in request.url.path or "/archive/" in request.url.path
        host = next((s for s in servers if ("media" in s) == media), servers[0])
        mock_request = MockRequest(
            host, request.method.lower(), request.url.path, args=dict(request.url.params.multi_items())
        )
        content_type = response.headers.get("content-type", "").split(";")[0]
        mock_response = MockResponse(
            response.content, status_code=response.status_code, content_type=content_type
        )
        api.validate_response(mock_request, mock_response)

    return validate


@pytest.fixture
def api_client() -> Iterator[Callable[..., object]]:
    """api_client(sim): an httpx.Client on the simulator's platform host, logged in with the JWT grant."""
    import httpx

    clients: list[httpx.Client] = []

    def make(sim: RunningSimulator) -> httpx.Client:
        token = httpx.post(
            f"{sim.base_url}/restapi/oauth/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": sim.jwt},
            auth=(sim.client_id, sim.client_secret),
        )
        token.raise_for_status()
        client = httpx.Client(
            base_url=sim.base_url,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
