"""Helpers shared by the route modules: request context, JSON bodies and bulk (207) answers."""

from __future__ import annotations

import json
import secrets
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rc_pipeline.simulator.account import Account
from rc_pipeline.simulator.auth import Session
from rc_pipeline.simulator.directory import Extension
from rc_pipeline.simulator.params import NotFound, ParamError
from rc_pipeline.simulator.state import SimulatorState

MAX_BULK_IDS = 50


def sim(request: Request) -> SimulatorState:
    return request.scope["state"]["sim"]


def session(request: Request) -> Session:
    return request.scope["state"]["session"]


def account(request: Request) -> Account:
    """The account named by the path ('~' or its id)."""
    acc = sim(request).account
    ref = request.path_params.get("accountId", "~")
    if ref not in ("~", acc.account_id):
        raise NotFound("accountId", ref)
    return acc


def canonical_path(request: Request) -> str:
    """The request path with '~' replaced by the real ids, as RingCentral writes URIs in answers."""
    path = request.url.path.replace("/account/~", f"/account/{sim(request).account.account_id}", 1)
    return path.replace("/extension/~", f"/extension/{session(request).owner_id}", 1)


def extension(request: Request) -> Extension:
    """The extension named by the path ('~' is the authorised user)."""
    acc = account(request)
    ref = request.path_params.get("extensionId", "~")
    ext = acc.owner if ref == "~" else acc.find_extension(ref)
    if ext is None:
        raise NotFound("extensionId", ref)
    return ext


def self_uri(request: Request) -> str:
    """This request's URI on the platform host (responses carry absolute platform URIs)."""
    query = request.url.query
    return f"{sim(request).base_url}{canonical_path(request)}" + (f"?{query}" if query else "")


async def json_body(request: Request) -> object:
    raw = await request.body()
    if not raw:
        raise ParamError("body", None, "Request body is required")
    try:
        return json.loads(raw)
    except ValueError:
        raise ParamError("body", None, "Request body is not valid JSON") from None


def bulk_ids(raw: str, parameter: str) -> list[str]:
    """Split a bulk path segment ('1,2,3'); RingCentral allows at most 50 ids per request."""
    ids = [part for part in raw.split(",") if part]
    if not ids:
        raise ParamError(parameter, raw)
    if len(ids) > MAX_BULK_IDS:
        raise BulkLimit(parameter, len(ids))
    return ids


def note_ids(request: Request, ids: list[str] | tuple[str, ...]) -> None:
    """Record the ids a request addressed in its request-log entry (see RequestLogEntry.ids).

    Routes call this for ids only they can read (a body); call it before validating their number, so
    a refused request is logged with what it carried.
    """
    entry = request.scope.get("state", {}).get("log_entry")
    if entry is not None:
        entry["ids"] = tuple(ids)


class BulkLimit(Exception):
    """More ids than a bulk request may carry; answered as 400 CMN-106."""

    def __init__(self, parameter: str, count: int, limit: int = MAX_BULK_IDS) -> None:
        super().__init__(f"Too many ids in [{parameter}]: {count}, at most {limit} are allowed")
        self.parameter = parameter


def multipart_mixed(parts: list[tuple[str, int, dict | None]]) -> Response:
    """RingCentral's bulk answer: 207 multipart/mixed, a status part then one JSON part per id.

    `parts` holds (href, status, body) per requested id, in request order; a None body (a 204 part
    of a bulk delete) is an empty part.
    """
    boundary = f"Boundary_{secrets.token_hex(6)}"
    status_part = {
        "response": [
            {"href": href, "status": status, "responseDescription": HTTPStatus(status).phrase}
            for href, status, _ in parts
        ]
    }
    chunks = [json.dumps(status_part)] + ["" if body is None else json.dumps(body) for _, _, body in parts]
    text = "".join(f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{c}\r\n" for c in chunks)
    text += f"--{boundary}--\r\n"
    return Response(text.encode(), status_code=207, media_type=f"multipart/mixed; boundary={boundary}")


def error_body(code: str, message: str, parameter: str | None = None, value: str | None = None) -> dict:
    item = {"errorCode": code, "message": message}
    if parameter is not None:
        item["parameterName"] = parameter
    if value is not None:
        item["parameterValue"] = value
    return {"errorCode": code, "message": message, "errors": [item]}


def ok(body: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)
