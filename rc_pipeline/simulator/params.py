"""Query-parameter parsing with RingCentral's validation (bad values answer 400 CMN-101)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from starlette.requests import Request

from rc_pipeline.simulator.timefmt import parse_iso

MAX_PER_PAGE = 1000


class ParamError(Exception):
    """An invalid request parameter; answered as 400 CMN-101 naming the parameter."""

    def __init__(self, parameter: str, value: str | None, message: str | None = None) -> None:
        super().__init__(message or f"Parameter [{parameter}] value is invalid")
        self.parameter = parameter
        self.value = value
        self.message = message or f"Parameter [{parameter}] value is invalid"


class NotFound(Exception):
    """A path parameter names nothing; answered as 404 CMN-102."""

    def __init__(self, parameter: str, value: str | None = None) -> None:
        super().__init__(f"Resource for parameter [{parameter}] is not found")
        self.parameter = parameter
        self.value = value


def values(request: Request, name: str) -> list[str]:
    """All values of a repeated query key (RingCentral arrays are `type=Voice&type=Fax`)."""
    return request.query_params.getlist(name)


def enum_list(request: Request, name: str, allowed: Iterable[str]) -> list[str]:
    allowed = tuple(allowed)
    out = values(request, name)
    for v in out:
        if v not in allowed:
            raise ParamError(
                name, v, f"Parameter [{name}] value is invalid, allowed values: {', '.join(allowed)}"
            )
    return out


def enum_value(request: Request, name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    allowed = tuple(allowed)
    if raw not in allowed:
        raise ParamError(
            name, raw, f"Parameter [{name}] value is invalid, allowed values: {', '.join(allowed)}"
        )
    return raw


def int_value(request: Request, name: str, default: int | None, minimum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(name, raw) from None
    if minimum is not None and value < minimum:
        raise ParamError(name, raw, f"Parameter [{name}] value must be at least {minimum}")
    return value


def bool_value(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ParamError(name, raw)


def date_value(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise ParamError(
            name, raw, f"Parameter [{name}] value is invalid: expected ISO 8601 date-time"
        ) from None


def page_value(request: Request) -> int:
    return int_value(request, "page", 1, minimum=1) or 1


def per_page_value(request: Request, default: int = 100, clamp: bool = True) -> int:
    """perPage: a positive integer or "max"; larger values are clamped to 1000 like RingCentral does."""
    raw = request.query_params.get("perPage")
    if raw is None:
        return default
    if raw == "max":
        return MAX_PER_PAGE
    value = int_value(request, "perPage", default, minimum=1) or default
    return min(value, MAX_PER_PAGE) if clamp else value
