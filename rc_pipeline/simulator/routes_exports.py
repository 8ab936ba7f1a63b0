"""Message-store export: message-store-report tasks, their archive list and the archive zips."""

from __future__ import annotations

import os
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from rc_pipeline.simulator.common import account, json_body, ok, session, sim
from rc_pipeline.simulator.errors import api_error
from rc_pipeline.simulator.exports import EXPORT_TYPES, ExportLimitError, ExportTask
from rc_pipeline.simulator.params import NotFound, ParamError
from rc_pipeline.simulator.timefmt import parse_iso

# Not a documented RingCentral code (the spec gives none for this case): chosen so clients can
# recognise the "at most 2 tasks at once" refusal and retry later instead of failing.
TOO_MANY_TASKS = "MSR-101"
NOT_COMPLETED = "MSR-102"


async def create_report(request: Request) -> Response:
    account(request)  # validates the path's accountId
    raw = await request.body()
    body = await json_body(request) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ParamError("body", None, "Request body must be a JSON object")
    now = sim(request).clock.now()
    try:
        date_to = parse_iso(body["dateTo"]) if body.get("dateTo") else now
    except (TypeError, ValueError):
        raise ParamError("dateTo", str(body.get("dateTo"))) from None
    try:
        date_from = parse_iso(body["dateFrom"]) if body.get("dateFrom") else date_to - timedelta(hours=24)
    except (TypeError, ValueError):
        raise ParamError("dateFrom", str(body.get("dateFrom"))) from None
    if date_from > date_to:
        raise ParamError("dateFrom", body.get("dateFrom"), "dateFrom must not be later than dateTo")
    types = body.get("messageTypes") or []
    if not isinstance(types, list) or any(t not in EXPORT_TYPES for t in types):
        raise ParamError(
            "messageTypes", str(types), f"messageTypes items must be among {', '.join(EXPORT_TYPES)}"
        )
    try:
        task = sim(request).exports.create(str(session(request).owner_id), date_from, date_to, tuple(types))
    except ExportLimitError:
        limit = sim(request).config.max_running_exports
        return api_error(
            400,
            TOO_MANY_TASKS,
            f"At most {limit} message store report tasks can run at once per account; "
            "wait for a running task to finish and try again",
        )
    return ok(sim(request).exports.task_json(task), status=202)


def _task(request: Request) -> ExportTask:
    account(request)
    task = sim(request).exports.get(request.path_params["taskId"])
    if task is None:
        raise NotFound("taskId", request.path_params["taskId"])
    return task


async def read_report(request: Request) -> Response:
    return ok(sim(request).exports.task_json(_task(request)))


def _not_completed(task: ExportTask) -> Response:
    status = task.status()
    return api_error(400, NOT_COMPLETED, f"Report task is not completed (status {status})", "taskId", task.id)


async def list_archives(request: Request) -> Response:
    task = _task(request)
    if task.status() != "Completed":
        return _not_completed(task)
    exports = sim(request).exports
    paths = exports.archive_paths(task)
    return ok(
        {
            "records": [
                {"size": os.path.getsize(p), "uri": exports.archive_uri(task, n)} for n, p in enumerate(paths)
            ]
        }
    )


async def archive_content(request: Request) -> Response:
    task = _task(request)
    if task.status() != "Completed":
        return _not_completed(task)
    paths = sim(request).exports.archive_paths(task)
    raw = request.path_params["archiveId"]
    if not raw.isdigit() or int(raw) >= len(paths):
        raise NotFound("archiveId", raw)
    return FileResponse(paths[int(raw)], media_type="application/zip", filename=f"archive-{raw}.zip")
