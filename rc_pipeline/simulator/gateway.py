"""The API gateway in front of the routes: authentication, throttling, permissions, faults, logging.

It is the outermost ASGI layer so that it holds uvicorn's own `send`, which lets injected faults
really drop or cut connections instead of producing tidy error responses.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from rc_pipeline.apispec import Operation, match_operation
from rc_pipeline.simulator.auth import Session
from rc_pipeline.simulator.faults import Fault
from rc_pipeline.simulator.requestlog import RequestLogEntry
from rc_pipeline.simulator.routes_control import CLOCK_PATH, clock_route
from rc_pipeline.simulator.state import SimulatorState
from rc_pipeline.simulator.throttle import Verdict

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_OPERATIONS = frozenset({"getToken", "revokeToken"})
# Operations answered by the media host; archive downloads are linked there, like RingCentral does.
MEDIA_HOST_OPERATIONS = frozenset({"readMessageStoreReportArchiveContent"})
WWW_AUTHENTICATE = 'Bearer realm="RingCentral REST API"'
# The "html" fault's body: a maintenance page as a front proxy serves it, with a 200 status.
MAINTENANCE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Scheduled maintenance</title></head>\n"
    "<body><h1>We'll be back soon</h1><p>This service is undergoing scheduled maintenance."
    "</p></body></html>\n"
)
FAULT_ERRORS = {
    "500": ("CMN-201", "Internal Server Error"),
    "502": ("AGW-502", "Bad Gateway"),
    "503": ("CMN-211", "Service Temporarily Unavailable"),
    "504": ("AGW-504", "Gateway Timeout"),
}


class _Truncated(Exception):
    """Raised through the route's send() to stop producing a body that was cut short."""


def _contains(exc: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(exc, kind):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains(e, kind) for e in exc.exceptions)
    return False


def basic_client(header: str) -> tuple[str, str] | None:
    """(client_id, client_secret) from an `Authorization: Basic ...` header."""
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def path_ids(op: Operation | None, path: str) -> tuple[str, ...] | None:
    """The message ids a message-store request names in its path, for the request log.

    `.../message-store/{ids}`: the comma-separated ids ("," gives ()); None for "*" (the ids are in
    the body: the route records them). `DELETE .../message-store/` (an empty id segment, which
    RingCentral treats as "every message"): (). Other operations: None.
    """
    if op is None:
        return None
    if op.path_template.endswith("/message-store/{messageId}"):
        segment = path.rstrip("/").rsplit("/", 1)[-1]
        if segment == "*":
            return None
        return tuple(part for part in segment.split(",") if part)
    if op.operation_id == "deleteMessageByFilter" and path.endswith("/"):
        return ()
    return None


class Gateway:
    """ASGI wrapper for one host ('platform' or 'media') of a simulator."""

    def __init__(self, app: ASGIApp, state: SimulatorState, host: str) -> None:
        self.app = app
        self.state = state
        self.host = host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cycle = getattr(send, "__self__", None)  # uvicorn's RequestResponseCycle: owns the transport
        method, path = scope["method"], scope["path"]
        if path == CLOCK_PATH and self.host == "platform":
            # A test control, not an API call: no token, no throttling, not in the request log.
            response = await clock_route(Request(scope, receive), self.state.clock)
            await response(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        op = match_operation(method, path)
        group = op.throttling_group if op else "Light"
        entry: dict[str, Any] = {
            "monotonic": time.monotonic(),
            "wall_time": time.time(),
            "method": method,
            "path": path,
            "query": query,
            "host": self.host,
            "group": group,
            "status": 0,
            "authorization": "authorization" in headers,
            "fault": None,
            "operation": op.operation_id if op else None,
            "route": op.path_template if op else None,
            "ids": path_ids(op, path),
        }
        committed: list[bool] = []

        def commit() -> None:
            if not committed:
                committed.append(True)
                self.state.request_log.append(RequestLogEntry(**entry))

        async def logged_send(message: Message) -> None:
            # Logged as the status line leaves, so a client never sees an answer the log lacks.
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                commit()
            await send(message)

        try:
            await self._handle(scope, receive, logged_send, cycle, op, group, headers, entry, commit)
        finally:
            commit()

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        cycle: object,
        op: Operation | None,
        group: str,
        headers: dict[str, str],
        entry: dict[str, Any],
        commit: Callable[[], None],
    ) -> None:
        state = self.state
        client_ip = (scope.get("client") or ("?", 0))[0]

        async def answer(response: Response, rate: Verdict | None) -> None:
            if rate is not None:
                response.headers.update(rate.headers())
            entry["status"] = response.status_code
            await response(scope, receive, send)

        # Who is calling: token endpoints are counted per app, API calls per (user, app).
        session: Session | None = None
        if op is not None and op.operation_id in TOKEN_OPERATIONS:
            client = basic_client(headers.get("authorization", ""))
            app_key = client[0] if client else f"anonymous:{client_ip}"
            rate = state.limiter.check(f"app:{app_key}", app_key, group)
        else:
            session, failure = self._authenticate(headers, scope)
            if session is None or failure is not None:
                rate = state.limiter.check(f"ip:{client_ip}", "anonymous", group)
                await answer(failure or JSONResponse({}, status_code=401), rate)
                return
            rate = state.limiter.check(str(session.owner_id), session.client_id, group)
        if not rate.allowed:
            limited = JSONResponse(
                {
                    "errorCode": "CMN-301",
                    "message": "Request rate exceeded",
                    "errors": [{"errorCode": "CMN-301", "message": "Request rate exceeded"}],
                },
                status_code=429,
                headers={"Retry-After": str(rate.retry_after)},
            )
            await answer(limited, rate)
            return

        wrong_host = self._wrong_host(op)
        if wrong_host is not None:
            await answer(wrong_host, rate)
            return
        if op is not None and op.app_permission and op.app_permission not in state.config.app_permissions:
            perm = op.app_permission
            message = f"In order to call this API endpoint, application needs to have [{perm}] permission"
            denied = JSONResponse(
                {
                    "errorCode": "InsufficientPermissions",
                    "message": message,
                    "errors": [{"errorCode": "CMN-401", "message": message, "permissionName": perm}],
                },
                status_code=403,
            )
            await answer(denied, rate)
            return

        binary = bool(op and (op.media or op.operation_id in MEDIA_HOST_OPERATIONS))
        token_age = state.tokens.age(session) if session is not None else None
        fault = state.faults.pick(scope["path"], self.host, binary, token_age)
        if fault is not None:
            entry["fault"] = fault.kind
            if fault.kind == "expired" and session is not None:
                # The token really dies (a retry with it gets the same 401): the client must refresh.
                state.tokens.expire(session)
                _, failure = self._authenticate(headers, scope)
                await answer(failure or JSONResponse({}, status_code=401), rate)
                return
            if await self._apply_fault(fault, scope, receive, send, cycle, rate, answer, commit):
                return

        scope.setdefault("state", {})
        # `log_entry` lets a route record what only it can read (the ids of a body; see note_ids).
        scope["state"].update(session=session, operation=op, sim=state, host=self.host, log_entry=entry)
        truncate = fault is not None and fault.kind == "truncate"
        await self._forward(scope, receive, send, cycle, rate, entry, truncate)

    def _authenticate(self, headers: dict[str, str], scope: Scope) -> tuple[Session | None, Response | None]:
        auth = headers.get("authorization", "")
        token = ""
        if auth.lower().startswith("bearer ") and auth[7:].strip():
            token = auth[7:].strip()
        elif not auth and self.host == "media":
            # Only the media host takes ?access_token= (RingCentral allows it there for players).
            token = (parse_qs(scope.get("query_string", b"").decode()).get("access_token") or [""])[0]
        if not token:
            message = "Authorization header is not specified"
            if auth:
                message = "Authorization header is malformed: expected 'Bearer <token>'"
            elif b"access_token=" in scope.get("query_string", b""):
                message = "Access token in the query string is accepted only by the media host"
            body = {
                "errorCode": "AGW-402",
                "message": message,
                "errors": [{"errorCode": "AGW-402", "message": message}],
            }
            return None, JSONResponse(body, status_code=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})
        check = self.state.tokens.check(token)
        if check.session is None:
            # RingCentral's shape: a generic top-level code, the reason (OAU-128/129/213) only in errors[].
            body = {
                "errorCode": "TokenInvalid",
                "message": check.message,
                "errors": [{"errorCode": check.error_code, "message": check.message}],
            }
            return None, JSONResponse(body, status_code=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})
        return check.session, None

    def _wrong_host(self, op: Operation | None) -> Response | None:
        """Media operations only exist on the media host and API operations only on the platform host."""
        if op is None or op.operation_id in MEDIA_HOST_OPERATIONS:
            return None
        if op.media and self.host == "platform":
            message = "This API must be called via the media API entry point (follow contentUri)"
        elif not op.media and self.host == "media":
            message = "This API is not served by the media API entry point"
        else:
            return None
        body = {
            "errorCode": "CMN-102",
            "message": message,
            "errors": [{"errorCode": "CMN-102", "message": message}],
        }
        return JSONResponse(body, status_code=404)

    async def _apply_fault(
        self,
        fault: Fault,
        scope: Scope,
        receive: Receive,
        send: Send,
        cycle: object,
        rate: Verdict,
        answer: Callable[[Response, Verdict | None], Awaitable[None]],
        commit: Callable[[], None],
    ) -> bool:
        """Apply a fault that replaces the answer; True when the request is finished."""
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds or self.state.faults.slow_seconds)
            return False
        if fault.kind == "truncate":
            return False
        if fault.kind == "drop":
            commit()  # logged (status 0) before the client can see the connection die
            await _close(cycle, abort=True)
            return True
        if fault.kind == "html":
            await answer(HTMLResponse(MAINTENANCE_PAGE, status_code=200), None)
            return True
        extra = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        if fault.kind == "429_limited":
            # The group limiter's own answer: it always announces its penalty and the group's headers,
            # with nothing left in the window.
            limited = Verdict(False, rate.group, rate.limit, 0, rate.window)
            seconds = int(fault.retry_after) if fault.retry_after is not None else 1
            body = {
                "errorCode": "CMN-301",
                "message": "Request rate exceeded",
                "errors": [{"errorCode": "CMN-301", "message": "Request rate exceeded"}],
            }
            await answer(JSONResponse(body, status_code=429, headers={"Retry-After": str(seconds)}), limited)
            return True
        if fault.kind == "429":
            body = {
                "errorCode": "CMN-301",
                "message": "Request rate exceeded",
                "errors": [{"errorCode": "CMN-301", "message": "Request rate exceeded"}],
            }
            # Another limiter (per-IP / account emergency): no X-Rate-Limit-* headers.
            await answer(JSONResponse(body, status_code=429, headers=extra), None)
            return True
        code, message = FAULT_ERRORS[fault.kind]
        body = {"errorCode": code, "message": message, "errors": [{"errorCode": code, "message": message}]}
        await answer(JSONResponse(body, status_code=int(fault.kind), headers=extra), rate)
        return True

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        cycle: object,
        rate: Verdict,
        entry: dict[str, Any],
        truncate: bool,
    ) -> None:
        rate_headers = [(k.lower().encode(), v.encode()) for k, v in rate.headers().items()]
        budget: list[int] = []  # bytes still allowed through when truncating

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + rate_headers
                if truncate:
                    length = next(
                        (int(v) for k, v in message["headers"] if k.lower() == b"content-length"), 0
                    )
                    budget.append(length // 2)
                await send(message)
                return
            if message["type"] == "http.response.body" and budget:
                body = message.get("body", b"")
                if len(body) >= budget[0]:
                    await send({"type": "http.response.body", "body": body[: budget[0]], "more_body": True})
                    await _close(cycle, abort=False)
                    raise _Truncated()
                budget[0] -= len(body)
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        except BaseException as exc:
            if not _contains(exc, _Truncated):
                raise


async def _close(cycle: object, abort: bool) -> None:
    """Close the client connection under uvicorn and wait until uvicorn has noticed."""
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("simulated connection fault")
    if abort:
        transport.abort()
    else:
        transport.close()  # flushes what was written, then closes: the body arrives short
    for _ in range(200):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0.005)
