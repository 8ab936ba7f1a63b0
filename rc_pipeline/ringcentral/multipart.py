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

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_multipart(content_type: str, content: bytes) -> list[BulkItem]:
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
        BulkItem(status=int(s.get("status", 0)), body=b or {}) for s, b in zip(statuses, bodies, strict=True)
    ]
