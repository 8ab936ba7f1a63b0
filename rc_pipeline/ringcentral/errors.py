"""One exception hierarchy for everything the RingCentral API can answer.

Messages name the request by method and path only: never a header, body or token.
"""

from __future__ import annotations

from typing import Any


class RingCentralError(Exception):
    """Base of every client error. Carries what RingCentral said, when it said anything."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        parameter_name: str | None = None,
        permission_name: str | None = None,
        request: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.error_code = error_code
        self.parameter_name = parameter_name
        self.permission_name = permission_name
        self.request = request
        self.errors = errors or []
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.request:
            parts.append(self.request)
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code:
            parts.append(self.error_code)
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.permission_name:
            text += f" (app permission needed: {self.permission_name})"
        if self.parameter_name:
            text += f" (parameter: {self.parameter_name})"
        return text


class SettingsError(RingCentralError, ValueError):
    """Missing or contradictory RC_* settings; the message names the variable."""


class AuthError(RingCentralError):
    """Login, refresh or bearer-token failure (400 from the token endpoint, 401 from the API)."""


class PermissionDenied(RingCentralError):
    """403: the app or user lacks a permission; `permission_name` says which when RingCentral does."""


class NotFound(RingCentralError):
    """404: the resource does not exist (or no longer does: deleted recordings, purged messages)."""


class InvalidRequest(RingCentralError):
    """400/409/415/422: the request itself is wrong; `parameter_name` names the field when known."""


class SyncRequired(InvalidRequest):
    """A sync token RingCentral no longer accepts (CLG-101..105 for the call log, MSG-333 for the
    message store): the caller must run a full sync (FSync) again."""


# The error codes that mean "start over with FSync".
SYNC_REQUIRED_CODES = frozenset({"CLG-101", "CLG-102", "CLG-103", "CLG-104", "CLG-105", "MSG-333"})


class RateLimited(RingCentralError):
    """429 that persisted through the retries the client allows."""


class ServerError(RingCentralError):
    """5xx that persisted through the retries the client allows."""


class TransportError(RingCentralError):
    """The connection failed (refused, reset, timed out) through every retry."""


class ForeignHostError(RingCentralError):
    """A URL (a nextPage, a contentUri) points outside the configured platform and media hosts.

    Nothing was sent to that host: the bearer token only goes to the hosts the user configured.
    """


class DownloadError(RingCentralError):
    """Binary content arrived incomplete or did not match its announced size or checksum."""


def error_for_status(status: int) -> type[RingCentralError]:
    if status == 401:
        return AuthError
    if status == 403:
        return PermissionDenied
    if status == 404:
        return NotFound
    if status == 429:
        return RateLimited
    if status >= 500:
        return ServerError
    return InvalidRequest


def error_from_body(status: int, body: Any, request: str) -> RingCentralError:
    """Build the right exception from a RingCentral error body (API or OAuth shaped)."""
    message = f"request failed with HTTP {status}"
    code = param = perm = None
    errors: list[dict[str, Any]] = []
    if isinstance(body, dict):
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        code = body.get("errorCode") or (errors[0].get("errorCode") if errors else None)
        message = body.get("message") or body.get("error_description") or message
        if body.get("error") and not body.get("errorCode"):
            # OAuth shape: {"error": "invalid_grant", "errors": [{"errorCode": "OAU-140", ...}]}
            code = (errors[0].get("errorCode") if errors else None) or body["error"]
            message = (
                body.get("error_description") or (errors[0].get("message") if errors else None) or message
            )
        for e in errors:
            param = param or e.get("parameterName")
            perm = perm or e.get("permissionName")
        perm = perm or body.get("permissionName")
    cls = error_for_status(status)
    codes = {code} | {e.get("errorCode") for e in errors}
    if status == 400 and codes & SYNC_REQUIRED_CODES:
        cls = SyncRequired
    return cls(
        message,
        status=status,
        error_code=code,
        parameter_name=param,
        permission_name=perm,
        request=request,
        errors=errors,
    )
