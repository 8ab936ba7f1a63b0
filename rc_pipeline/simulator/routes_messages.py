"""Message store: list, read (bulk), update, delete, attachment content and retention settings."""

from __future__ import annotations

import json
from datetime import timedelta
from email.parser import BytesParser
from email.policy import HTTP

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rc_pipeline.simulator.common import (
    MAX_BULK_IDS,
    BulkLimit,
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
from rc_pipeline.simulator.timefmt import to_ms

MESSAGE_TYPES = ("Fax", "SMS", "VoiceMail", "Pager", "Text")
AVAILABILITY = ("Alive", "Deleted", "Purged")
READ_STATUSES = ("Read", "Unread")
VND_MULTIPART = "application/vnd.ringcentral.multipart+json"


async def list_messages(request: Request) -> Response:
    ext = extension(request)
    acc = account(request)
    now = sim(request).clock.now()
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
    msg = account(request).store.get(int(raw_id), sim(request).clock.now_ms())
    if msg is None or msg["extensionId"] != str(ext.id):
        return None
    return msg


def _single(msg: dict) -> dict:
    """A message read by id carries vmSideRecipients (required by the single-message schema)."""
    return {**msg, "vmSideRecipients": list(msg.get("to") or [msg.get("from", {})])}


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _wants_vnd(request: Request) -> bool:
    """RingCentral answers a bulk request in its JSON multipart when asked for it or sent it."""
    return VND_MULTIPART in request.headers.get("accept", "") or _content_type(request) == VND_MULTIPART


def _bulk(request: Request, results: list[tuple[str, int, dict | None]]) -> Response:
    """207 for several ids: multipart/mixed by default, RingCentral's JSON multipart when asked for.

    `results` holds (resourceId, status, body) per requested id, in request order; a None body is a
    part without one (a deleted message's 204).
    """
    base = f"{sim(request).base_url}{canonical_path(request).rsplit('/', 1)[0]}"
    if _wants_vnd(request):
        body = [
            {"resourceId": rid, "status": status, **({} if part is None else {"body": part})}
            for rid, status, part in results
        ]
        return JSONResponse(body, status_code=207, media_type=VND_MULTIPART)
    return multipart_mixed([(f"{base}/{rid}", status, part) for rid, status, part in results])


def _not_found_body(rid: str) -> dict:
    return error_body("CMN-102", "Resource for parameter [messageId] is not found", "messageId", rid)


async def read_messages(request: Request) -> Response:
    ext = extension(request)
    ids = bulk_ids(request.path_params["messageId"], "messageId")
    if len(ids) == 1:
        msg = _lookup(request, ext, ids[0])
        if msg is None:
            raise NotFound("messageId", ids[0])
        return ok(_single(msg))
    results: list[tuple[str, int, dict | None]] = []
    for rid in ids:
        msg = _lookup(request, ext, rid)
        results.append((rid, 200, msg) if msg is not None else (rid, 404, _not_found_body(rid)))
    return _bulk(request, results)


# ---- PUT / PATCH: read status and restore ------------------------------------------------------

# `PUT|PATCH .../message-store/*` takes the ids in the body: the spec allows up to 1000 there.
MAX_BODY_UPDATE_IDS = 1000
# `DELETE .../message-store/*` takes a JSON array of ids; the spec gives no maximum for it. 100 is
# what it documents for the same alternative syntax on the neighbouring conversation delete: a
# conservative cap (a client within it is within RingCentral's).
MAX_BODY_DELETE_IDS = 100
BULK_SYNTAX = (
    "Several ids need RingCentral's bulk syntax: Content-Type application/vnd.ringcentral.multipart+json "
    'with [{"body": {...}}, ...] (one entry per id in the path; "resourceId" is required with "*"), '
    "or multipart/mixed with one JSON part per id"
)


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


def _multipart_parts(content_type: str, raw: bytes) -> list[object]:
    """The JSON bodies of a multipart/mixed request, in order."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise ParamError("body", None, "multipart/mixed body has no parts (is the boundary right?)")
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True) or b""
        try:
            parts.append(json.loads(payload))
        except ValueError:
            raise ParamError("body", None, "Every multipart/mixed part must be a JSON object") from None
    return parts


async def _update_entries(request: Request) -> tuple[list[tuple[str, object]], bool]:
    """((messageId, change) per message the request addresses, whether it used the bulk syntax)."""
    segment = request.path_params["messageId"]
    ctype = _content_type(request)
    star = segment == "*"
    if ctype == VND_MULTIPART:
        body = await json_body(request)
        if not isinstance(body, list) or not body:
            raise ParamError(
                "body", None, "A multipart+json body is a non-empty JSON array of {body} entries"
            )
        if not all(isinstance(item, dict) and "body" in item for item in body):
            raise ParamError("body", None, 'Every multipart+json entry needs a "body"')
        if star:
            rids = [str(item.get("resourceId") or "") for item in body]
            note_ids(request, [r for r in rids if r])
            if not all(rids):
                raise ParamError("resourceId", None, 'With "*" in the path every entry needs a "resourceId"')
            if len(rids) > MAX_BODY_UPDATE_IDS:
                raise BulkLimit("resourceId", len(rids), MAX_BODY_UPDATE_IDS)
            return [(rid, item["body"]) for rid, item in zip(rids, body, strict=True)], True
        ids = bulk_ids(segment, "messageId")
        if len(body) != len(ids):
            raise ParamError("body", None, f"{len(ids)} ids in the path but {len(body)} body entries")
        for rid, item in zip(ids, body, strict=True):
            if "resourceId" in item and str(item["resourceId"]) != rid:
                raise ParamError(
                    "resourceId", str(item["resourceId"]), f"Entry for message {rid} names another"
                )
        return [(rid, item["body"]) for rid, item in zip(ids, body, strict=True)], True
    if star:
        raise ParamError(
            "messageId", "*", 'The "*" syntax needs an application/vnd.ringcentral.multipart+json body'
        )
    ids = bulk_ids(segment, "messageId")
    if ctype == "multipart/mixed":
        parts = _multipart_parts(request.headers["content-type"], await request.body())
        if len(parts) != len(ids):
            raise ParamError("body", None, f"{len(ids)} ids in the path but {len(parts)} multipart parts")
        return list(zip(ids, parts, strict=True)), True
    if ctype not in ("application/json", ""):
        raise ParamError("Content-Type", ctype, f"Unsupported Content-Type {ctype}")
    body = await json_body(request)
    if len(ids) > 1:
        raise ParamError("body", None, BULK_SYNTAX)
    if not isinstance(body, dict):
        # A JSON array under application/json is not RingCentral's bulk syntax (see BULK_SYNTAX).
        raise ParamError("body", None, "Request body must be a JSON object (UpdateMessageRequest)")
    return [(ids[0], body)], False


async def update_messages(request: Request) -> Response:
    """PUT (readStatus) and PATCH (readStatus and/or availability Alive = restore from Deleted).

    One id with a JSON object: 200 with the message. Bulk syntax: 207, one part per id with its own
    status (404 unknown, 400 invalid change or purged message to restore, 200 updated), never atomic.
    Every change moves lastModifiedTime forward.
    """
    ext = extension(request)
    allow_availability = request.method == "PATCH"
    entries, bulk = await _update_entries(request)
    store, now_ms = account(request).store, sim(request).clock.now_ms()

    def apply(rid: str, change: object) -> tuple[int, dict]:
        try:
            read, availability = _changes(change, allow_availability)
        except ParamError as exc:
            return 400, error_body("CMN-101", exc.message, exc.parameter, exc.value)
        msg = _lookup(request, ext, rid)
        if msg is None:
            return 404, _not_found_body(rid)
        if availability == "Alive" and msg["availability"] == "Purged":
            message = "A purged message cannot be restored"
            return 400, error_body("CMN-101", message, "availability", "Alive")
        updated = store.update(int(rid), now_ms, read, availability)
        return (200, updated) if updated is not None else (404, _not_found_body(rid))

    results = [(rid, *apply(rid, change)) for rid, change in entries]
    if not bulk:
        _, status, body = results[0]
        if status != 200:
            return JSONResponse(body, status_code=status)
        return ok(body)
    return _bulk(request, results)


# ---- DELETE -----------------------------------------------------------------------------------


async def _body_ids(request: Request) -> list[str]:
    """The DeleteMessageBulkRequest body of `DELETE .../message-store/*`: a JSON array of ids."""
    raw = await request.body()
    if not raw.strip():
        return []
    body = await json_body(request)
    if not isinstance(body, list) or not all(
        isinstance(i, str | int) and not isinstance(i, bool) for i in body
    ):
        raise ParamError("body", None, "The body of a '*' delete is a JSON array of message ids")
    return [str(i) for i in body]


async def delete_messages(request: Request) -> Response:
    """Delete by id: Alive -> Deleted, Deleted -> Purged; purge=true -> Purged at once.

    One id in the path: 204, or 404 when unknown or already purged. Several ids (path, at most 50, or
    `*` with a JSON array body): 204 when every one was deleted, else 207 with a part per id (204
    deleted, 404 unknown or already purged): the others are deleted all the same (RingCentral's bulk
    requests are not atomic; its guide: "In case of at least one failure the server returns the 207").
    The spec declares only the 204; the guide's batch page gives the 207.

    No ids at all (`*` without a body or with []): every message of the mailbox goes one step, as
    the spec warns ("If you call this method without specifying any message IDs in the request, all
    your messages will be deleted/purged entirely"). `type` narrows only that case.
    """
    ext = extension(request)
    purge = bool_value(request, "purge")
    kind = enum_value(request, "type", (*MESSAGE_TYPES, "All"), "All") or "All"
    segment = request.path_params["messageId"]
    store, now_ms = account(request).store, sim(request).clock.now_ms()
    if segment == "*":
        ids = await _body_ids(request)
        note_ids(request, ids)
        if not ids:
            store.delete_all(ext, now_ms, set() if kind == "All" else {kind}, purge)
            return Response(status_code=204)
        if len(ids) > MAX_BODY_DELETE_IDS:
            raise BulkLimit("messageId", len(ids), MAX_BODY_DELETE_IDS)
    else:
        ids = bulk_ids(segment, "messageId")
    outcome: dict[str, bool] = {}
    for rid in dict.fromkeys(ids):  # a repeated id is deleted once
        msg = _lookup(request, ext, rid)
        outcome[rid] = (
            msg is not None and msg["availability"] != "Purged" and store.delete(int(rid), now_ms, purge)
        )
    if segment != "*" and len(ids) == 1:
        if not outcome[ids[0]]:
            raise NotFound("messageId", ids[0])  # unknown, or already purged: nothing left to delete
        return Response(status_code=204)
    if all(outcome.values()):
        return Response(status_code=204)
    return _bulk(
        request, [(rid, 204, None) if outcome[rid] else (rid, 404, _not_found_body(rid)) for rid in ids]
    )


async def delete_by_filter(request: Request) -> Response:
    """DELETE .../message-store: every message older than dateTo (default now) of a type/conversation.

    Kept as RingCentral has it (an archive must never call it; tests prove that with the request
    log's filter_deletes()). Alive -> Deleted, or -> Purged with purge=true; Deleted stays Deleted
    without purge. At most 50 conversationId values (CMN-106 beyond).
    """
    ext = extension(request)
    now = sim(request).clock.now()
    date_to = date_value(request, "dateTo") or now
    kind = enum_value(request, "type", (*MESSAGE_TYPES, "All"), "All") or "All"
    purge = bool_value(request, "purge")
    conversations = request.query_params.getlist("conversationId")
    if len(conversations) > MAX_BULK_IDS:
        raise BulkLimit("conversationId", len(conversations))
    types = set() if kind == "All" else {kind}
    account(request).store.delete_matching(ext, to_ms(date_to), to_ms(now), types, set(conversations), purge)
    return Response(status_code=204)


async def message_store_slash(request: Request) -> Response:
    """`.../message-store/`: an empty id segment. RingCentral has one operation per path, trailing slash
    or not, so GET lists and DELETE deletes by filter, i.e. every message up to now (the request log
    records it as an empty-id delete)."""
    if request.method == "DELETE":
        return await delete_by_filter(request)
    return await list_messages(request)


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
