"""`/_simulator/clock`: move an out-of-process simulator's clock (not a RingCentral endpoint).

GET answers {"now": "<iso>"}; POST {"advanceSeconds": N} (N >= 0) moves simulated time forward and
answers the new now. It needs no token: it is a test control on a loopback server, like Ctrl-C.
"""

from __future__ import annotations

import json
import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rc_pipeline.simulator.clock import SimClock
from rc_pipeline.simulator.timefmt import iso

CLOCK_PATH = "/_simulator/clock"


def _bad(message: str) -> Response:
    return JSONResponse({"errorCode": "SIM-400", "message": message}, status_code=400)


async def clock_route(request: Request, clock: SimClock) -> Response:
    if request.method == "GET":
        return JSONResponse({"now": iso(clock.now())})
    if request.method != "POST":
        return JSONResponse(
            {"errorCode": "CMN-103", "message": f"Method {request.method} is not allowed for this resource"},
            status_code=405,
        )
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return _bad('Body must be JSON: {"advanceSeconds": <seconds>}')
    seconds = body.get("advanceSeconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return _bad("advanceSeconds must be a number of seconds")
    if seconds < 0:
        return _bad("advanceSeconds must not be negative: the simulated clock only moves forward")
    return JSONResponse({"now": iso(clock.advance(seconds=seconds))})
