"""RingCentral error bodies: {"errorCode", "message", "errors": [{"errorCode", "message", ...}]}."""

from __future__ import annotations

from starlette.responses import JSONResponse


def api_error(
    status: int,
    code: str,
    message: str,
    parameter: str | None = None,
    value: str | None = None,
    top_code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> JSONResponse:
    """A platform error answer; `top_code` overrides the top-level errorCode (e.g. InsufficientPermissions)."""
    item: dict[str, str] = {"errorCode": code, "message": message}
    if parameter is not None:
        item["parameterName"] = parameter
    if value is not None:
        item["parameterValue"] = value
    item.update(extra)
    body = {"errorCode": top_code or code, "message": message, "errors": [item]}
    return JSONResponse(body, status_code=status, headers=headers)


def bad_parameter(parameter: str, value: str | None, message: str | None = None) -> JSONResponse:
    """400 CMN-101, RingCentral's answer to an invalid query/path/body parameter."""
    text = message or f"Parameter [{parameter}] value is invalid"
    return api_error(400, "CMN-101", text, parameter=parameter, value=value)


def not_found(parameter: str, value: str | None = None) -> JSONResponse:
    return api_error(404, "CMN-102", f"Resource for parameter [{parameter}] is not found", parameter, value)


def oauth_error(error: str, code: str, message: str, status: int = 400) -> JSONResponse:
    """Token-endpoint error: OAuth `error` plus RingCentral's errors[] list."""
    body = {
        "error": error,
        "error_description": message,
        "errors": [{"errorCode": code, "message": message}],
    }
    return JSONResponse(body, status_code=status)
