"""Parse RingCentral's 207 multipart/mixed bulk answers (`GET .../call-log/{id1,id2,...}`).

The first part lists each id's status; each later part is that id's record or error body, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from .errors import InvalidRequest

MAX_BULK_IDS = 50


@dataclass(frozen=True)
class BulkItem:
    status: int
    body: dict[str, Any]
    # The id this part answers for, when the answer names it (resourceId, or the last segment of href).
    resource_id: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_multipart(content_type: str, content: bytes) -> list[BulkItem]:
    """The per-id outcomes of a 207: multipart/mixed, or RingCentral's JSON multipart (the answer to
    a request sent in that syntax: a JSON array of {resourceId, status, body})."""
    if "vnd.ringcentral.multipart+json" in content_type.lower():
        return _parse_json_multipart(content)
    if "multipart/" not in content_type.lower():
        raise InvalidRequest(f"expected a multipart answer, got {content_type!r}")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + content
    )
    parts = [json.loads(part.get_payload(decode=True) or b"null") for part in message.iter_parts()]
    if not parts:
        raise InvalidRequest("multipart answer has no parts")
    head, bodies = parts[0], parts[1:]
    statuses = (head or {}).get("response") or []
    if len(statuses) != len(bodies):
        raise InvalidRequest(
            f"multipart answer lists {len(statuses)} statuses but carries {len(bodies)} bodies"
        )
    return [
        BulkItem(status=int(s.get("status", 0)), body=b or {}, resource_id=_href_id(s.get("href")))
        for s, b in zip(statuses, bodies, strict=True)
    ]


def _href_id(href: object) -> str | None:
    return href.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] if isinstance(href, str) and href else None


def in_request_order(items: list[BulkItem], ids: list[str]) -> list[BulkItem]:
    """The parts in the order of ``ids``: matched by the ids the answer names, never trusted by position
    alone when it names them (a reordered answer must not credit one id with another's outcome)."""
    if len(items) != len(ids):
        raise InvalidRequest(f"bulk answer has {len(items)} parts for {len(ids)} ids")
    named = {item.resource_id: item for item in items if item.resource_id is not None}
    if not named:
        return items
    if set(named) != set(ids) or len(named) != len(items):
        raise InvalidRequest(f"bulk answer names ids {sorted(named)[:10]}, not the ones asked for")
    return [named[i] for i in ids]


def _parse_json_multipart(content: bytes) -> list[BulkItem]:
    try:
        entries = json.loads(content)
    except ValueError:
        raise InvalidRequest("JSON multipart answer is not JSON") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "status" in e for e in entries):
        raise InvalidRequest("JSON multipart answer is not a list of {resourceId, status, body}")
    return [
        BulkItem(
            status=int(e["status"]),
            body=e.get("body") or {},
            resource_id=str(e["resourceId"]) if e.get("resourceId") is not None else None,
        )
        for e in entries
    ]
