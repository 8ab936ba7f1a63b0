"""A local RingCentral: a real HTTP server that behaves like the RingCentral REST API.

It follows the official OpenAPI spec's paths, parameters and response shapes, enforces auth,
permissions and rate limits like RingCentral, and can inject faults. It shares nothing with the
pipeline's client except the operation table in `rc_pipeline.apispec`.
"""

from rc_pipeline.simulator.config import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_EXTENSION,
    DEMO_JWT,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SimulatorConfig,
)
from rc_pipeline.simulator.faults import FaultConfig
from rc_pipeline.simulator.server import RunningSimulator, start_simulator

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_EXTENSION",
    "DEMO_JWT",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "FaultConfig",
    "RunningSimulator",
    "SimulatorConfig",
    "start_simulator",
]
