"""Message store: list, read (bulk), update, delete, attachment content and retention settings."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rc_pipeline.simulator.common import (
    account,
    bulk_ids,
    canonical_path,
    error_body,
    extension,
    json_body,
    multipart_mixed,
    ok,
    self_uri,
    sim,
)
from rc_pipeline.simulator.content import binary_response
from rc_pipeline.simulator.directory import Extension
from rc_pipeline.simulator.paging import list_blocks
from rc_pipeline.simulator.params import (
    NotFound,
    ParamError,
    bool_value,
    date_value,
    enum_list,
    enum_value,
    page_value,
    per_page_value,
)
from rc_pipeline.simulator.timefmt import now_utc, to_ms

MESSAGE_TYPES = ("Fax", "SMS", "VoiceMail", "Pager", "Text")
AVAILABILITY = ("Alive", "Deleted", "Purged")
READ_STATUSES = ("Read", "Unread")
VND_MULTIPART = "application/vnd.ringcentral.multipart+json"


async def list_messages(request: Request) -> Response:
    ext = extension(request)
    acc = account(request)
    now = now_utc()
    date_to = date_value(request, "dateTo") or now
    date_from = date_value(request, "dateFrom") or date_to - timedelta(hours=24)
    if date_from > date_to:
        raise ParamError(
            "dateFrom", request.query_params.get("dateFrom"), "dateFrom must not be later than dateTo"
        )
    types = enum_list(request, "messageType", MESSAGE_TYPES)
    availability = enum_list(request, "availability", AVAILABILITY) or ["Alive"]
    directions = enum_list(request, "direction", ("Inbound", "Outbound"))
    read = enum_list(request, "readStatus", READ_STATUSES)
    distinct = bool_value(request, "distinctConversations")
    page, per_page = page_value(request), per_page_value(request)
    records = acc.store.list(
        ext,
        to_ms(date_from),
        to_ms(date_to),
        to_ms(now),
        types=types,
        availability=availability,
        directions=directions,
        read_statuses=read,
        conversation_id=request.query_params.get("conversationId"),
    )
    phone = request.query_params.get("phoneNumber")
    if phone:
        records = [m for m in records if phone in _numbers(m)]
    if distinct:
        seen: set[str] = set()
        latest = []
        for m in records:
            conv = m.get("conversation", {}).get("id") or str(m["id"])
            if conv not in seen:
                seen.add(conv)
                latest.append(m)
        records = latest
    chunk = records[(page - 1) * per_page : page * per_page]
    navigation, paging = list_blocks(
        sim(request).base_url,
        request,
        page,
        per_page,
        len(chunk),
        len(records) > page * per_page,
        len(records),
    )
    return ok({"uri": self_uri(request), "records": chunk, "navigation": navigation, "paging": paging})


def _numbers(message: dict) -> set[str]:
    parties = [message.get("from", {})] + list(message.get("to", []))
    return {p.get("phoneNumber", "") for p in parties} - {""}


def _lookup(request: Request, ext: Extension, raw_id: str) -> dict | None:
    if not raw_id.isdigit():
        return None
    msg = account(request).store.get(int(raw_id), to_ms(now_utc()))
    if msg is None or msg["extensionId"] != str(ext.id):
        return None
    return msg


def _single(msg: dict) -> dict:
    """A message read by id carries vmSideRecipients (required by the single-message schema)."""
    return {**msg, "vmSideRecipients": list(msg.get("to") or [msg.get("from", {})])}


def _wants_vnd(request: Request) -> bool:
    return VND_MULTIPART in request.headers.get("accept", "")


def _bulk(request: Request, results: list[tuple[str, dict | None]]) -> Response:
    """207 for several ids: multipart/mixed by default, RingCentral's JSON multipart when asked for."""
    base = f"{sim(request).base_url}{canonical_path(request).rsplit('/', 1)[0]}"
    missing = "Resource for parameter [messageId] is not found"
    if _wants_vnd(request):
        body = [
            {"resourceId": rid, "status": 200, "body": msg}
            if msg is not None
            else {"resourceId": rid, "status": 404, "body": error_body("CMN-102", missing, "messageId", rid)}
            for rid, msg in results
        ]
        return JSONResponse(body, status_code=207, media_type=VND_MULTIPART)
    return multipart_mixed(
        [
            (f"{base}/{rid}", 200, msg)
            if msg is not None
            else (f"{base}/{rid}", 404, error_body("CMN-102", missing, "messageId", rid))
            for rid, msg in results
        ]
    )


async def read_messages(request: Request) -> Response:
    ext = extension(request)
    ids = bulk_ids(request.path_params["messageId"], "messageId")
    if len(ids) == 1:
        msg = _lookup(request, ext, ids[0])
        if msg is None:
            raise NotFound("messageId", ids[0])
        return ok(_single(msg))
    return _bulk(request, [(rid, _lookup(request, ext, rid)) for rid in ids])


def _changes(body: object, allow_availability: bool) -> tuple[str | None, str | None]:
    """(readStatus, availability) from a PUT/PATCH body, validated."""
    if not isinstance(body, dict):
        raise ParamError("body", None, "Request body must be a JSON object")
    read = body.get("readStatus")
    availability = body.get("availability") if allow_availability else None
    if read is None and availability is None:
        raise ParamError("readStatus", None, "Parameter [readStatus] is required")
    if read is not None and read not in READ_STATUSES:
        raise ParamError("readStatus", str(read))
    if availability is not None and availability != "Alive":
        # Only restoring a deleted message is possible; deletion goes through DELETE.
        raise ParamError("availability", str(availability), "Only availability 'Alive' (restore) can be set")
    return read, availability


async def update_messages(request: Request) -> Response:
    ext = extension(request)
    allow_availability = request.method == "PATCH"
    ids = bulk_ids(request.path_params["messageId"], "messageId")
    body = await json_body(request)
    store, now_ms = account(request).store, to_ms(now_utc())

    def apply(raw_id: str, change: object) -> dict | None:
        msg = _lookup(request, ext, raw_id)
        if msg is None:
            return None
        read, availability = _changes(change, allow_availability)
        if availability == "Alive" and msg["availability"] == "Purged":
            raise ParamError("availability", "Alive", "A purged message cannot be restored")
        return store.update(int(raw_id), now_ms, read, availability)

    if len(ids) == 1:
        updated = apply(ids[0], body)
        if updated is None:
            raise NotFound("messageId", ids[0])
        return ok(updated)
    # Bulk syntax: one {resourceId, body} entry per id (RingCentral's JSON multipart request body).
    if not isinstance(body, list):
        raise ParamError("body", None, "Bulk update needs a JSON array of {resourceId, body} entries")
    changes = {str(item.get("resourceId")): item.get("body") for item in body if isinstance(item, dict)}
    results = []
    for rid in ids:
        if rid not in changes:
            raise ParamError("resourceId", rid, f"No body entry for message {rid}")
        results.append((rid, apply(rid, changes[rid])))
    return _bulk(request, results)


async def delete_messages(request: Request) -> Response:
    ext = extension(request)
    purge = bool_value(request, "purge")
    ids = bulk_ids(request.path_params["messageId"], "messageId")
    store, now_ms = account(request).store, to_ms(now_utc())
    found = [rid for rid in ids if _lookup(request, ext, rid) is not None]
    if len(ids) == 1 and not found:
        raise NotFound("messageId", ids[0])
    deleted = [rid for rid in found if store.delete(int(rid), now_ms, purge)]
    if len(ids) == 1 and not deleted:
        raise NotFound("messageId", ids[0])  # already purged: nothing left to delete
    return Response(status_code=204)


async def delete_by_filter(request: Request) -> Response:
    ext = extension(request)
    now = now_utc()
    date_to = date_value(request, "dateTo") or now
    kind = enum_value(request, "type", (*MESSAGE_TYPES, "All"), "All") or "All"
    purge = bool_value(request, "purge")
    conversations = set(request.query_params.getlist("conversationId"))
    types = set() if kind == "All" else {kind}
    account(request).store.delete_matching(ext, to_ms(date_to), to_ms(now), types, conversations, purge)
    return Response(status_code=204)


async def message_content(request: Request) -> Response:
    ext = extension(request)
    mid, aid = request.path_params["messageId"], request.path_params["attachmentId"]
    msg = _lookup(request, ext, mid)
    if msg is None:
        raise NotFound("messageId", mid)
    if not aid.isdigit():
        raise NotFound("attachmentId", aid)
    body = account(request).attachment_body(int(mid), int(aid))
    if body is None:
        raise NotFound("attachmentId", aid)
    info = next(a for a in msg["attachments"] if a["id"] == int(aid))
    return binary_response(request, body, info.get("fileName") or aid)


async def message_store_configuration(request: Request) -> Response:
    acc = account(request)
    if request.method == "PUT":
        body = await json_body(request)
        value = body.get("retentionPeriod") if isinstance(body, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or not 7 <= value <= 90:
            raise ParamError(
                "retentionPeriod", None if value is None else str(value), "retentionPeriod must be 7..90"
            )
        acc.retention_period = value
    return ok({"retentionPeriod": acc.retention_period})
