"""Everything one running simulator shares between its platform and media servers."""

from __future__ import annotations

from dataclasses import dataclass

from rc_pipeline.simulator.account import Account
from rc_pipeline.simulator.auth import TokenStore
from rc_pipeline.simulator.clock import SimClock
from rc_pipeline.simulator.config import SimulatorConfig
from rc_pipeline.simulator.exports import ExportStore
from rc_pipeline.simulator.faults import FaultConfig
from rc_pipeline.simulator.requestlog import RequestLog
from rc_pipeline.simulator.throttle import RateLimiter


@dataclass
class SimulatorState:
    config: SimulatorConfig
    base_url: str
    media_url: str
    account: Account
    tokens: TokenStore
    limiter: RateLimiter
    faults: FaultConfig
    request_log: RequestLog
    exports: ExportStore
    # Simulated time: the account's "now" (tokens and rate limits keep real monotonic time).
    clock: SimClock

    @classmethod
    def create(cls, config: SimulatorConfig, base_url: str, media_url: str, workdir: str) -> SimulatorState:
        clock = SimClock()
        account = Account(config, base_url, media_url, clock)
        return cls(
            config=config,
            base_url=base_url,
            media_url=media_url,
            account=account,
            tokens=TokenStore(config.token_ttl, config.refresh_token_ttl),
            limiter=RateLimiter(config),
            faults=config.faults,
            request_log=RequestLog(),
            exports=ExportStore(config, account, workdir),
            clock=clock,
        )
