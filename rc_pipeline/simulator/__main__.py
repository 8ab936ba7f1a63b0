"""`python -m rc_pipeline.simulator`: serve a simulated RingCentral until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping

from rc_pipeline.simulator.config import SimulatorConfig, app_credentials_in_env
from rc_pipeline.simulator.server import RunningSimulator, start_simulator

# Printed instead of a secret the user supplied: they have it already, and a terminal or CI log
# must not receive a copy.
FROM_ENVIRONMENT = "<from environment>"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline simulator",
        description="Serve a local RingCentral (platform and media hosts) with a generated account.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="platform host port")
    parser.add_argument("--media-port", type=int, default=None, help="media host port (default: port + 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--extensions", type=int, default=20)
    parser.add_argument("--calls-per-day", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rate-limit-scale", type=float, default=1.0)
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="access token lifetime in seconds")
    return parser


def env_lines(sim: RunningSimulator, environ: Mapping[str, str]) -> list[str]:
    """The .env lines to print. Secrets taken from the environment are not echoed; demo ones are,
    since they are documented and grant nothing outside this simulator."""
    from_env = app_credentials_in_env(environ)
    config = sim.config
    password = FROM_ENVIRONMENT if environ.get("RC_PASSWORD") else config.password
    return [
        f"RC_SERVER_URL={sim.base_url}",
        f"RC_MEDIA_URL={sim.media_url}",
        f"RC_CLIENT_ID={sim.client_id}",  # an app's client id is not a secret
        f"RC_CLIENT_SECRET={FROM_ENVIRONMENT if from_env else sim.client_secret}",
        f"RC_JWT={FROM_ENVIRONMENT if from_env else sim.jwt}",
        f"# account {sim.account_id}; legacy password grant: username={config.username} "
        f"password={password} extension={config.extension}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = SimulatorConfig.from_env(
        seed=args.seed,
        extensions=args.extensions,
        calls_per_day=args.calls_per_day,
        days=args.days,
        rate_limit_scale=args.rate_limit_scale,
        token_ttl=args.token_ttl,
    )
    media_port = args.media_port if args.media_port is not None else (args.port + 1 if args.port else 0)
    sim = start_simulator(config, host=args.host, port=args.port, media_port=media_port)
    print("RingCentral simulator running. Put these lines in your .env:", flush=True)
    for line in env_lines(sim, os.environ):
        print(line)
    print("Press Ctrl-C to stop.", flush=True)
    # Ctrl-C and SIGTERM stop it even when started in the background, where a shell leaves SIGINT
    # ignored and that is inherited: a simulator nobody can stop holds its ports.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
