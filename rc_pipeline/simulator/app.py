"""The two ASGI apps of a simulator: the platform host and the media host.

Both share one route table; the gateway answers 404 when an operation is asked of the wrong host
(RingCentral serves media only from its media entry point).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rc_pipeline.simulator import (
    routes_account,
    routes_auth,
    routes_calllog,
    routes_exports,
    routes_messages,
    routes_sync,
)
from rc_pipeline.simulator.common import BulkLimit
from rc_pipeline.simulator.errors import api_error, bad_parameter, not_found
from rc_pipeline.simulator.gateway import Gateway
from rc_pipeline.simulator.params import NotFound, ParamError
from rc_pipeline.simulator.state import SimulatorState

ACCOUNT = "/restapi/v1.0/account/{accountId}"
EXTENSION = ACCOUNT + "/extension/{extensionId}"

ROUTES = [
    Route("/restapi/oauth/token", routes_auth.token, methods=["POST"]),
    Route("/restapi/oauth/revoke", routes_auth.revoke, methods=["POST"]),
    Route(ACCOUNT + "/extension", routes_account.list_extensions, methods=["GET"]),
    Route(ACCOUNT + "/service-info", routes_account.service_info, methods=["GET"]),
    Route(ACCOUNT + "/call-log", routes_calllog.list_call_log, methods=["GET"]),
    Route(EXTENSION + "/call-log", routes_calllog.list_call_log, methods=["GET"]),
    Route(ACCOUNT + "/call-log/{callRecordId}", routes_calllog.read_call_records, methods=["GET"]),
    Route(EXTENSION + "/call-log/{callRecordId}", routes_calllog.read_call_records, methods=["GET"]),
    Route(ACCOUNT + "/call-log-sync", routes_calllog.sync_call_log, methods=["GET"]),
    Route(EXTENSION + "/call-log-sync", routes_calllog.sync_call_log, methods=["GET"]),
    Route(ACCOUNT + "/call-log-extract-sync", routes_sync.extract_sync_call_log, methods=["GET"]),
    Route(ACCOUNT + "/active-calls", routes_calllog.active_calls, methods=["GET"]),
    Route(EXTENSION + "/active-calls", routes_calllog.active_calls, methods=["GET"]),
    Route(ACCOUNT + "/recording/{recordingId}", routes_calllog.read_recording, methods=["GET"]),
    Route(ACCOUNT + "/recording/{recordingId}/content", routes_calllog.recording_content, methods=["GET"]),
    Route(ACCOUNT + "/call-recordings", routes_calllog.delete_recordings, methods=["DELETE"]),
    Route(EXTENSION + "/message-store", routes_messages.list_messages, methods=["GET"]),
    Route(EXTENSION + "/message-sync", routes_sync.sync_messages, methods=["GET"]),
    Route(EXTENSION + "/message-store", routes_messages.delete_by_filter, methods=["DELETE"]),
    # An empty id segment is the same operation as no segment (never a redirect a client might follow).
    Route(EXTENSION + "/message-store/", routes_messages.message_store_slash, methods=["GET", "DELETE"]),
    Route(EXTENSION + "/message-store/{messageId}", routes_messages.read_messages, methods=["GET"]),
    Route(
        EXTENSION + "/message-store/{messageId}", routes_messages.update_messages, methods=["PUT", "PATCH"]
    ),
    Route(EXTENSION + "/message-store/{messageId}", routes_messages.delete_messages, methods=["DELETE"]),
    Route(
        EXTENSION + "/message-store/{messageId}/content/{attachmentId}",
        routes_messages.message_content,
        methods=["GET"],
    ),
    Route(
        ACCOUNT + "/message-store-configuration",
        routes_messages.message_store_configuration,
        methods=["GET", "PUT"],
    ),
    Route(ACCOUNT + "/message-store-report", routes_exports.create_report, methods=["POST"]),
    Route(ACCOUNT + "/message-store-report/{taskId}", routes_exports.read_report, methods=["GET"]),
    Route(ACCOUNT + "/message-store-report/{taskId}/archive", routes_exports.list_archives, methods=["GET"]),
    Route(
        ACCOUNT + "/message-store-report/{taskId}/archive/{archiveId}",
        routes_exports.archive_content,
        methods=["GET"],
    ),
]


async def _param_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParamError)
    return bad_parameter(exc.parameter, exc.value, exc.message)


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotFound)
    return not_found(exc.parameter, exc.value)


async def _bulk_limit(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BulkLimit)
    return api_error(400, "CMN-106", str(exc), parameter=exc.parameter)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return api_error(405, "CMN-103", f"Method {request.method} is not allowed for this resource")
    if exc.status_code == 404:
        return api_error(
            404, "CMN-102", f"Resource for parameter [path] is not found: {request.url.path}", "path"
        )
    return api_error(exc.status_code, f"CMN-{exc.status_code}", str(exc.detail))


def build_app(state: SimulatorState, host: str) -> Gateway:
    """The ASGI app for one host ('platform' or 'media') of the simulator `state`."""
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            ParamError: _param_error,
            NotFound: _not_found,
            BulkLimit: _bulk_limit,
            HTTPException: _http_error,
        },
    )
    return Gateway(app, state, host)
