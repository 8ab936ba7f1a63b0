"""Change feeds: call-log-extract-sync (records by modification time) and message-sync.

Rules chosen where RingCentral documents none (each stricter rather than kinder):
- extract-sync: `recordCount` (FSync only; 1..1000, default 250) above 1000 is 400 CMN-101, and on
  ISync it is 400 CMN-101 (the spec allows it for FSync only; an ISync page is the FSync's count).
  A page ends after recordCount records plus any others modified in the same millisecond (as the spec
  warns); the token continues after the last returned record, and `newerRecordsExist` stays true
  while more are already there. A token that is not ours: 400 CLG-101; one whose position is more
  than 30 days old: 400 CLG-104. Both mean "run FSync again".
- message-sync: FSync lists Alive messages created in [dateFrom, dateTo) (default the last 24 h),
  newest first, `recordCount` of them (all when absent) with `olderRecordsExist`. ISync lists every
  message of the FSync's filters whose lastModifiedTime is after the token's syncTime: new messages,
  read-status changes, deletions and purges by the user or through the API, and RingCentral's own
  deletions (as Purged), newest change first. A token that is not ours, names another mailbox, or
  is more than 7 days old: 400 MSG-333 (full sync required). dateFrom/dateTo/recordCount on ISync:
  400 CMN-101 (the token fixes them).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from rc_pipeline.simulator.account import Account
from rc_pipeline.simulator.common import account, extension, ok, self_uri, sim
from rc_pipeline.simulator.directory import Extension
from rc_pipeline.simulator.errors import api_error
from rc_pipeline.simulator.params import ParamError, bool_value, date_value, enum_list, enum_value, int_value
from rc_pipeline.simulator.synctoken import decode_token, encode_token
from rc_pipeline.simulator.timefmt import iso, parse_iso, to_ms

DAY_MS = 86_400_000
VIEWS = ("Simple", "Detailed")
MESSAGE_TYPES = ("Fax", "SMS", "VoiceMail", "Pager")  # MessageTypeEnum
AVAILABILITY = ("Alive", "Deleted", "Purged")
EXTRACT_DEFAULT_COUNT = 250
EXTRACT_MAX_COUNT = 1000
EXTRACT_TOKEN_MAX_DAYS = 30
MESSAGE_TOKEN_MAX_DAYS = 7


def _modified_ms(record: dict) -> int:
    return round(parse_iso(record["lastModifiedTime"]).timestamp() * 1000)


async def extract_sync_call_log(request: Request) -> Response:
    state, calls = sim(request), account(request).calls
    sync_type = enum_value(request, "syncType", ("FSync", "ISync"), "FSync")
    view = enum_value(request, "view", VIEWS, "Simple") or "Simple"
    request.query_params.getlist("metadataCategory")  # accepted: every record carries all categories
    now = state.clock.now()
    now_ms = to_ms(now)
    raw_count = request.query_params.get("recordCount")
    if sync_type == "FSync":
        count = int_value(request, "recordCount", EXTRACT_DEFAULT_COUNT, minimum=1) or EXTRACT_DEFAULT_COUNT
        if count > EXTRACT_MAX_COUNT:
            raise ParamError("recordCount", raw_count, f"recordCount must not exceed {EXTRACT_MAX_COUNT}")
        date_from = date_value(request, "dateFrom") or now - timedelta(hours=1)
        after_ms = to_ms(date_from) - 1  # dateFrom itself is included
    else:
        if raw_count is not None:
            raise ParamError("recordCount", raw_count, "recordCount is allowed for FSync only")
        token = request.query_params.get("syncToken")
        if not token:
            raise ParamError("syncToken", None, "Parameter [syncToken] is required for ISync")
        payload = decode_token(state, "call-log-extract-sync", token)
        if payload is None or not isinstance(payload.get("t"), int) or not isinstance(payload.get("n"), int):
            return api_error(400, "CLG-101", "Sync token is invalid", "syncToken", token)
        if payload["t"] < now_ms - EXTRACT_TOKEN_MAX_DAYS * DAY_MS:
            return api_error(400, "CLG-104", "Sync token has expired, perform FSync", "syncToken", token)
        after_ms, count = payload["t"], payload["n"]
    changed = calls.iter_modified(after_ms, now_ms)
    page = changed[:count]
    while page and len(page) < len(changed) and changed[len(page)][0] == page[-1][0]:
        page.append(changed[len(page)])  # records sharing the last millisecond come together
    newer = len(changed) > len(page)
    cursor = page[-1][0] if newer else max(now_ms, after_ms)
    records = [calls.render(sk.day, i, view, now_ms=now_ms) for _, sk, i in page]
    token_out = encode_token(state, "call-log-extract-sync", {"t": cursor, "n": count})
    return ok(
        {
            "uri": self_uri(request),
            "records": records,
            "syncInfo": {
                "syncType": sync_type,
                "syncToken": token_out,
                "syncTime": iso(now),
                "newerRecordsExist": newer,
            },
        }
    )


async def sync_messages(request: Request) -> Response:
    state, acc, ext = sim(request), account(request), extension(request)
    sync_type = enum_value(request, "syncType", ("FSync", "ISync"), "FSync")
    now = state.clock.now()
    now_ms = to_ms(now)
    distinct = bool_value(request, "distinctConversations")
    conversation = request.query_params.get("conversationId")
    if conversation is not None and not conversation.isdigit():
        raise ParamError("conversationId", conversation, "conversationId must be an integer")
    if sync_type == "FSync":
        filters = {
            "types": sorted(enum_list(request, "messageType", MESSAGE_TYPES)),
            "directions": sorted(enum_list(request, "direction", ("Inbound", "Outbound"))),
            "conversation": conversation,
            "distinct": distinct,
        }
        count = int_value(request, "recordCount", None, minimum=1)
        date_to = date_value(request, "dateTo") or now
        date_from = date_value(request, "dateFrom") or date_to - timedelta(hours=24)
        if date_from > date_to:
            raise ParamError(
                "dateFrom", request.query_params.get("dateFrom"), "dateFrom must not be later than dateTo"
            )
        records = _messages(acc, ext, filters, to_ms(date_from), to_ms(date_to), now_ms, ("Alive",))
        older = count is not None and len(records) > count
        records = records[:count] if count is not None else records
    else:
        for name in ("recordCount", "dateFrom", "dateTo"):
            if name in request.query_params:
                raise ParamError(name, request.query_params[name], f"{name} is not allowed for ISync")
        token = request.query_params.get("syncToken")
        if not token:
            raise ParamError("syncToken", None, "Parameter [syncToken] is required for ISync")
        payload = decode_token(state, "message-sync", token)
        if (
            payload is None
            or payload.get("e") != ext.id
            or not isinstance(payload.get("t"), int)
            or payload["t"] < now_ms - MESSAGE_TOKEN_MAX_DAYS * DAY_MS
        ):
            return api_error(400, "MSG-333", "Full sync is required", "syncToken", token)
        filters = payload["f"]
        since = payload["t"]
        changed = _messages(acc, ext, filters, 0, now_ms + 1, now_ms, AVAILABILITY)
        records = [m for m in changed if since < _modified_ms(m) <= now_ms]
        records.sort(key=_modified_ms, reverse=True)
        older = False
    token_out = encode_token(state, "message-sync", {"e": ext.id, "t": now_ms, "f": filters})
    return ok(
        {
            "uri": self_uri(request),
            "records": records,
            "syncInfo": {
                "syncType": sync_type,
                "syncToken": token_out,
                "syncTime": iso(now),
                "olderRecordsExist": older,
            },
        }
    )


def _messages(
    acc: Account,
    ext: Extension,
    filters: dict,
    from_ms: int,
    until_ms: int,
    now_ms: int,
    availability: tuple[str, ...],
) -> list[dict]:
    """The mailbox's messages created in [from, until) under a sync's filters, newest first."""
    records = acc.store.list(
        ext,
        max(from_ms, 0),
        until_ms,
        now_ms,
        types=filters["types"],
        availability=availability,
        directions=filters["directions"],
        conversation_id=filters["conversation"],
    )
    if not filters["distinct"]:
        return records
    seen: set[str] = set()
    latest = []
    for m in records:
        conv = m.get("conversation", {}).get("id") or str(m["id"])
        if conv not in seen:
            seen.add(conv)
            latest.append(m)
    return latest
