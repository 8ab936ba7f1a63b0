"""Call log, call-log sync, active calls and call recordings."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from rc_pipeline.simulator.calllog import (
    REC_AUTOMATIC,
    REC_ON_DEMAND,
    CallFilter,
    CallLog,
    DaySkeleton,
)
from rc_pipeline.simulator.common import (
    account,
    bulk_ids,
    canonical_path,
    error_body,
    extension,
    json_body,
    multipart_mixed,
    note_ids,
    ok,
    self_uri,
    sim,
)
from rc_pipeline.simulator.content import binary_response
from rc_pipeline.simulator.errors import api_error
from rc_pipeline.simulator.paging import list_blocks
from rc_pipeline.simulator.params import (
    NotFound,
    ParamError,
    bool_value,
    date_value,
    enum_list,
    enum_value,
    int_value,
    page_value,
    per_page_value,
)
from rc_pipeline.simulator.synctoken import decode_token, encode_token
from rc_pipeline.simulator.timefmt import iso, to_ms

VIEWS = ("Simple", "Detailed")
SYNC_MAX_RECORDS = 250
SYNC_MAX_DAYS = 30


def _scope_extension(request: Request) -> int | None:
    """The extension id a user-level path addresses; None for company-level paths."""
    return extension(request).id if "extensionId" in request.path_params else None


def _filter(request: Request, owner_index: int | None) -> CallFilter:
    recording_type = enum_value(request, "recordingType", ("Automatic", "OnDemand", "All"))
    with_recording = bool_value(request, "withRecording")
    if recording_type is not None:  # recordingType wins over the deprecated withRecording
        kinds = {"Automatic": {REC_AUTOMATIC}, "OnDemand": {REC_ON_DEMAND}}.get(recording_type)
        recording = frozenset(kinds or {REC_AUTOMATIC, REC_ON_DEMAND})
    else:
        recording = frozenset({REC_AUTOMATIC, REC_ON_DEMAND}) if with_recording else frozenset()
    return CallFilter(
        types=frozenset(enum_list(request, "type", ("Voice", "Fax"))),
        directions=frozenset(enum_list(request, "direction", ("Inbound", "Outbound"))),
        recording_types=recording,
        owner_index=owner_index,
    )


def _owner_index(request: Request) -> int | None:
    """Restrict to one extension: the path's (user level) or ?extensionNumber= (company level)."""
    acc = account(request)
    if "extensionId" in request.path_params:
        return extension(request).index
    number = request.query_params.get("extensionNumber")
    if number is None:
        return None
    ext = next((e for e in acc.extension_objects if e.number == number), None)
    return ext.index if ext is not None else -1


async def list_call_log(request: Request) -> Response:
    acc = account(request)
    calls = acc.calls
    view = enum_value(request, "view", VIEWS, "Simple") or "Simple"
    now = sim(request).clock.now()
    date_to = date_value(request, "dateTo") or now
    date_from = date_value(request, "dateFrom") or date_to - timedelta(hours=24)
    if date_from > date_to:
        raise ParamError(
            "dateFrom", request.query_params.get("dateFrom"), "dateFrom must not be later than dateTo"
        )
    bool_value(request, "showDeleted")  # validated; generated calls are never deleted
    page, per_page = page_value(request), per_page_value(request)
    flt = _filter(request, _owner_index(request))
    scope_ext = _scope_extension(request)
    wanted = {
        key: request.query_params.get(key) for key in ("sessionId", "telephonySessionId", "phoneNumber")
    }
    # Totals cost a count of the whole result; only accounts configured to report them pay it.
    with_totals = sim(request).config.call_log_paging_totals
    now_ms = to_ms(now)
    skip, records, has_next = (page - 1) * per_page, [], False
    seen = 0
    for sk, i in calls.iter_matches(to_ms(date_from), to_ms(date_to), now_ms, flt):
        if any(wanted.values()) and not _matches_identity(calls, sk, i, wanted, now_ms):
            continue
        seen += 1
        if seen <= skip:
            continue
        if len(records) == per_page:
            has_next = True
            if not with_totals:
                break
            continue
        records.append(calls.render(sk.day, i, view, scope_ext, now_ms=now_ms))
    navigation, paging = list_blocks(
        sim(request).base_url,
        request,
        page,
        per_page,
        len(records),
        has_next,
        total=seen if with_totals else None,
    )
    return ok({"uri": self_uri(request), "records": records, "navigation": navigation, "paging": paging})


def _matches_identity(
    calls: CallLog, sk: DaySkeleton, i: int, wanted: dict[str, str | None], now_ms: int
) -> bool:
    record = calls.render(sk.day, i, "Simple", now_ms=now_ms)
    if wanted["sessionId"] and record["sessionId"] != wanted["sessionId"]:
        return False
    if wanted["telephonySessionId"] and record["telephonySessionId"] != wanted["telephonySessionId"]:
        return False
    if wanted["phoneNumber"]:
        numbers = {record["from"].get("phoneNumber"), record["to"].get("phoneNumber")}
        if wanted["phoneNumber"] not in numbers:
            return False
    return True


async def read_call_records(request: Request) -> Response:
    acc = account(request)
    view = enum_value(request, "view", VIEWS, "Simple") or "Simple"
    scope_ext = _scope_extension(request)
    owner_index = extension(request).index if scope_ext is not None else None
    ids = bulk_ids(request.path_params["callRecordId"], "callRecordId")
    now_ms = sim(request).clock.now_ms()
    base = f"{sim(request).base_url}{canonical_path(request).rsplit('/', 1)[0]}"

    def lookup(call_id: str) -> dict | None:
        found = acc.calls.locate_call(call_id, now_ms)
        if found is None:
            return None
        if owner_index is not None and acc.calls.skeleton(found[0]).owner[found[1]] != owner_index:
            return None
        return acc.calls.render(found[0], found[1], view, scope_ext, now_ms=now_ms)

    if len(ids) == 1:
        record = lookup(ids[0])
        if record is None:
            raise NotFound("callRecordId", ids[0])
        return ok(record)
    parts = []
    for call_id in ids:
        record = lookup(call_id)
        if record is None:
            message = "Resource for parameter [callRecordId] is not found"
            parts.append((f"{base}/{call_id}", 404, error_body("CMN-102", message, "callRecordId", call_id)))
        else:
            parts.append((f"{base}/{call_id}", 200, record))
    return multipart_mixed(parts)


# ---- call-log-sync -----------------------------------------------------------------------------


def _encode_token(request: Request, payload: dict) -> str:
    return encode_token(sim(request), "call-log-sync", payload)


def _decode_token(request: Request, token: str) -> dict | None:
    return decode_token(sim(request), "call-log-sync", token)


async def sync_call_log(request: Request) -> Response:
    acc = account(request)
    calls = acc.calls
    sync_type = enum_value(request, "syncType", ("FSync", "ISync"), "FSync")
    view = enum_value(request, "view", VIEWS, "Simple") or "Simple"
    groups = enum_list(request, "statusGroup", ("Missed", "All"))
    missed_only = bool(groups) and "All" not in groups
    scope_ext = _scope_extension(request)
    scope_key = str(scope_ext) if scope_ext is not None else "account"
    owner_index = extension(request).index if scope_ext is not None else None
    now = sim(request).clock.now()
    now_ms = to_ms(now)
    record_count = int_value(request, "recordCount", None, minimum=1)
    if record_count is not None and record_count > SYNC_MAX_RECORDS and sync_type == "ISync":
        raise ParamError("recordCount", str(record_count), f"recordCount must not exceed {SYNC_MAX_RECORDS}")
    flt = CallFilter(owner_index=owner_index, missed_only=missed_only)
    if sync_type == "FSync":
        if record_count is None:
            raise ParamError("recordCount", None, "Parameter [recordCount] is required for FSync")
        record_count = min(record_count, SYNC_MAX_RECORDS)
        date_from = date_value(request, "dateFrom")
        if date_from is not None and date_from < now - timedelta(days=SYNC_MAX_DAYS):
            raise ParamError(
                "dateFrom",
                request.query_params.get("dateFrom"),
                f"dateFrom must be within the last {SYNC_MAX_DAYS} days",
            )
        from_ms = to_ms(date_from) if date_from else calls.history_start_ms(now_ms)
        records = []
        for sk, i in calls.iter_matches(from_ms, now_ms + 1, now_ms, flt):
            records.append(calls.render(sk.day, i, view, scope_ext, now_ms=now_ms))
            if len(records) >= record_count:
                break
    else:
        token = request.query_params.get("syncToken")
        if not token:
            raise ParamError("syncToken", None, "Parameter [syncToken] is required for ISync")
        payload = _decode_token(request, token)
        if payload is None or payload.get("s") != scope_key or payload.get("m") != missed_only:
            return api_error(400, "CLG-101", "Sync token is invalid", "syncToken", token)
        if payload["t"] < now_ms - SYNC_MAX_DAYS * 86_400_000:
            return api_error(400, "CLG-104", "Sync token has expired, perform FSync", "syncToken", token)
        from_ms = payload["f"]
        records = []
        for sk, i in calls.iter_became_visible(payload["t"], now_ms, from_ms):
            if not flt.accepts(sk, i, calls.listed_recording(sk, i, now_ms)):
                continue
            records.append(calls.render(sk.day, i, view, scope_ext, now_ms=now_ms))
            if len(records) > SYNC_MAX_RECORDS:
                return api_error(
                    400, "CLG-103", "Too many changes since the last sync, perform FSync", "syncToken", token
                )
    token_out = _encode_token(request, {"s": scope_key, "t": now_ms, "f": from_ms, "m": missed_only})
    return ok(
        {
            "uri": self_uri(request),
            "records": records,
            "syncInfo": {"syncType": sync_type, "syncToken": token_out, "syncTime": iso(now)},
        }
    )


async def active_calls(request: Request) -> Response:
    acc = account(request)
    calls = acc.calls
    enum_value(request, "view", VIEWS, "Simple")
    flt = _filter(request, _owner_index(request))
    scope_ext = _scope_extension(request)
    page, per_page = page_value(request), per_page_value(request)
    now_ms = sim(request).clock.now_ms()
    matches = [
        (sk, i)
        for sk, i in calls.iter_active(now_ms)
        if flt.accepts(sk, i, calls.listed_recording(sk, i, now_ms))
    ]
    chunk = matches[(page - 1) * per_page : page * per_page]
    records = [calls.render_active(sk.day, i, now_ms, scope_ext) for sk, i in chunk]
    has_next = len(matches) > page * per_page
    navigation, paging = list_blocks(sim(request).base_url, request, page, per_page, len(records), has_next)
    return ok({"uri": self_uri(request), "records": records, "navigation": navigation, "paging": paging})


# ---- recordings --------------------------------------------------------------------------------


async def read_recording(request: Request) -> Response:
    acc = account(request)
    rid = request.path_params["recordingId"]
    meta = acc.recording_metadata(rid)
    if meta is None:
        raise NotFound("recordingId", rid)
    return ok(meta)


async def recording_content(request: Request) -> Response:
    acc = account(request)
    rid = request.path_params["recordingId"]
    body = acc.recording_body(rid)
    if body is None:
        raise NotFound("recordingId", rid)
    suffix = "wav" if body.content_type == "audio/wav" else "mp3"
    return binary_response(request, body, f"recording-{rid}.{suffix}")


async def delete_recordings(request: Request) -> Response:
    """DELETE /call-recordings {"records": [ids]}: 1..100 ids; 204; the call-log records stay.

    Unknown (or already deleted) ids: the spec declares a 404 for the operation but says nothing of a
    request mixing known and unknown ids. We answer all-or-nothing: 404 CMN-102 naming every unknown
    id in `parameterValue` (comma-separated), and nothing is deleted. A client must therefore send only
    ids it has just seen, and treat a 404 as "re-check these ids", never as "all gone".
    """
    acc = account(request)
    body = await json_body(request)
    records = body.get("records") if isinstance(body, dict) else None
    if isinstance(records, list):
        note_ids(request, [str(r) for r in records])
    if not isinstance(records, list) or not records or len(records) > 100:
        raise ParamError("records", None, 'Body must be {"records": [<recording id>, ...]} with 1..100 ids')
    if not all(isinstance(r, str) and r for r in records):
        raise ParamError("records", None, "records[] items must be recording id strings")
    missing = acc.delete_recordings(records)
    if missing:
        raise NotFound("records", ",".join(missing))
    return Response(status_code=204)
