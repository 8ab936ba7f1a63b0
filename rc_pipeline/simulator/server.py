"""Run a simulator: two uvicorn servers (platform and media host) on loopback, in background threads."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from datetime import datetime
from types import TracebackType

import uvicorn

from rc_pipeline.simulator.account import Account
from rc_pipeline.simulator.app import build_app
from rc_pipeline.simulator.clock import SimClock
from rc_pipeline.simulator.config import SimulatorConfig
from rc_pipeline.simulator.exports import ExportStore
from rc_pipeline.simulator.faults import FaultConfig
from rc_pipeline.simulator.requestlog import RequestLog
from rc_pipeline.simulator.state import SimulatorState

STARTUP_TIMEOUT = 10.0


class _ServerThread:
    """One uvicorn server on an already bound socket, served from its own thread and event loop."""

    def __init__(self, app: object, sock: socket.socket, name: str) -> None:
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # surfaced by start() instead of dying silently in the thread
            self.error = exc

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"simulator server {self.thread.name} failed to start") from self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator server {self.thread.name} did not start")
            time.sleep(0.01)

    def request_stop(self) -> None:
        self.server.should_exit = True

    def stop(self) -> None:
        self.request_stop()
        self.thread.join(timeout=10)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout=5)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class RunningSimulator:
    """A started simulator. Use as a context manager or call stop()."""

    def __init__(self, state: SimulatorState, servers: list[_ServerThread], workdir: str) -> None:
        self._state = state
        self._servers = servers
        self._workdir = workdir
        self._stopped = False

    # What tests and users need to reach and inspect the simulator.
    @property
    def config(self) -> SimulatorConfig:
        return self._state.config

    @property
    def base_url(self) -> str:
        return self._state.base_url

    @property
    def media_url(self) -> str:
        return self._state.media_url

    @property
    def client_id(self) -> str:
        return self._state.config.client_id

    @property
    def client_secret(self) -> str:
        return self._state.config.client_secret

    @property
    def jwt(self) -> str:
        return self._state.config.jwt

    @property
    def account(self) -> Account:
        return self._state.account

    @property
    def account_id(self) -> str:
        return self._state.account.account_id

    @property
    def clock(self) -> SimClock:
        """The simulated time every answer is computed at."""
        return self._state.clock

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        """Move simulated time forward (new traffic appears, deletion rules apply); returns the new now."""
        return self._state.clock.advance(days=days, hours=hours, minutes=minutes, seconds=seconds)

    @property
    def faults(self) -> FaultConfig:
        return self._state.faults

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token this simulator handed out (for tests that look for leaks)."""
        return self._state.tokens.issued()

    @property
    def request_log(self) -> RequestLog:
        return self._state.request_log

    @property
    def exports(self) -> ExportStore:
        return self._state.exports

    def stop(self) -> None:
        """Shut both servers down and delete the export work directory."""
        if self._stopped:
            return
        self._stopped = True
        for server in self._servers:  # both wind down in parallel, then we wait for each
            server.request_stop()
        for server in self._servers:
            server.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_simulator(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0, media_port: int = 0
) -> RunningSimulator:
    """Start platform and media servers (free ports when 0) and return once both accept connections."""
    platform_sock = _bind(host, port)
    media_sock = _bind(host, media_port)
    url_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{url_host}:{platform_sock.getsockname()[1]}"
    media_url = f"http://{url_host}:{media_sock.getsockname()[1]}"
    workdir = tempfile.mkdtemp(prefix="rcsim-")
    state = SimulatorState.create(config, base_url, media_url, workdir)
    servers = [
        _ServerThread(build_app(state, "platform"), platform_sock, "rcsim-platform"),
        _ServerThread(build_app(state, "media"), media_sock, "rcsim-media"),
    ]
    started: list[_ServerThread] = []
    try:
        for server in servers:
            server.start()
            started.append(server)
    except BaseException:
        for server in started:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return RunningSimulator(state, servers, workdir)
