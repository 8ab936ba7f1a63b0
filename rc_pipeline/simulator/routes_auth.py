"""OAuth endpoints: /restapi/oauth/token and /restapi/oauth/revoke."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rc_pipeline.simulator.auth import Session
from rc_pipeline.simulator.common import sim
from rc_pipeline.simulator.errors import oauth_error
from rc_pipeline.simulator.gateway import basic_client
from rc_pipeline.simulator.state import SimulatorState

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded body as a dict, None when the body is not a form."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return None
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _client(request: Request, state: SimulatorState) -> tuple[str | None, Response | None]:
    """Check client authentication (HTTP Basic, as confidential RingCentral apps must send it)."""
    client = basic_client(request.headers.get("authorization", ""))
    if client is None:
        return None, oauth_error("invalid_client", "OAU-123", "Client authentication is required")
    if client != (state.config.client_id, state.config.client_secret):
        return None, oauth_error("invalid_client", "OAU-123", "Invalid client credentials")
    return client[0], None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _same_number(a: str, b: str) -> bool:
    """Phone numbers compare by digits: '+1 (650) 555-0100' is '+16505550100'."""
    return bool(_digits(a)) and _digits(a) == _digits(b)


def _token_info(state: SimulatorState, session: Session) -> JSONResponse:
    return JSONResponse(
        {
            "access_token": session.access_token,
            "token_type": "bearer",
            "expires_in": state.tokens.expires_in(session),
            "refresh_token": session.refresh_token,
            "refresh_token_expires_in": state.tokens.refresh_expires_in(session),
            "scope": session.scope,
            "owner_id": str(session.owner_id),
            "endpoint_id": session.endpoint_id,
            "session_id": session.session_id,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


async def token(request: Request) -> Response:
    state = sim(request)
    form = await _form(request)
    if form is None:
        return oauth_error(
            "invalid_request", "OAU-101", "Content type must be application/x-www-form-urlencoded", 415
        )
    client_id, failure = _client(request, state)
    if failure is not None or client_id is None:
        return failure or oauth_error("invalid_client", "OAU-123", "Client authentication is required")
    cfg = state.config
    grant = form.get("grant_type", "")
    scope = " ".join(sorted(cfg.app_permissions))
    owner = state.account.owner.id
    if grant == JWT_GRANT:
        if form.get("assertion") != cfg.jwt:
            return oauth_error("invalid_grant", "OAU-140", "Invalid JWT assertion")
        return _token_info(state, state.tokens.issue(owner, client_id, scope))
    if grant == "password":
        username, password = form.get("username", ""), form.get("password", "")
        ext = form.get("extension", "")
        if "*" in username:  # legacy "number*ext" form
            username, ext = username.split("*", 1)
        if not (
            _same_number(username, cfg.username) and password == cfg.password and ext in ("", cfg.extension)
        ):
            return oauth_error("invalid_grant", "OAU-140", "Invalid resource owner credentials")
        return _token_info(state, state.tokens.issue(owner, client_id, scope))
    if grant == "refresh_token":
        session = state.tokens.refresh(form.get("refresh_token", ""), client_id)
        if session is None:
            return oauth_error("invalid_grant", "OAU-140", "Refresh token is invalid, used or expired")
        return _token_info(state, session)
    if not grant:
        return oauth_error("invalid_request", "OAU-101", "Parameter [grant_type] is missing")
    return oauth_error("unsupported_grant_type", "OAU-250", f"Unsupported grant type: {grant}")


async def revoke(request: Request) -> Response:
    state = sim(request)
    form = await _form(request) or {}
    _, failure = _client(request, state)
    if failure is not None:
        return failure
    token_value = form.get("token") or request.query_params.get("token")
    if not token_value:
        return oauth_error("invalid_request", "OAU-101", "Parameter [token] is missing")
    # RFC 7009: unknown tokens are not an error.
    state.tokens.revoke(token_value)
    return Response(status_code=200)
