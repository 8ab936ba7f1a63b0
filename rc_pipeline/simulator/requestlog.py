"""A record of every request the simulator answered, for tests that check client behaviour.

Besides the raw request line, each entry names the spec operation it addressed (`operation`, the
spec's operationId, and `route`, the spec's path template) and, for requests that address messages
or recordings by id, the ids they carried (`ids`). That lets tests prove safety properties simply:

    log = sim.request_log
    assert log.count("DELETE", MESSAGE_STORE) == 0        # never a delete-by-filter
    assert log.filter_deletes() == []                     # the same, by operation
    assert log.empty_id_deletes() == []                   # never a delete without ids
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

# Spec path templates of the control operations, for `RequestLog.count` / `entries`.
MESSAGE_STORE = "/restapi/v1.0/account/{accountId}/extension/{extensionId}/message-store"
MESSAGES_BY_ID = MESSAGE_STORE + "/{messageId}"
CALL_RECORDINGS = "/restapi/v1.0/account/{accountId}/call-recordings"
MESSAGE_STORE_CONFIGURATION = "/restapi/v1.0/account/{accountId}/message-store-configuration"

# Operations that delete by id (`ids` is set on their entries) and the one that deletes by filter.
ID_DELETE_OPERATIONS = frozenset({"deleteMessage", "deleteCompanyCallRecordings"})
FILTER_DELETE_OPERATION = "deleteMessageByFilter"


@dataclass(frozen=True)
class RequestLogEntry:
    monotonic: float
    wall_time: float
    method: str
    path: str
    query: str
    host: str  # 'platform' or 'media'
    group: str | None  # throttling group the request was counted in
    status: int  # 0 when the connection was dropped without an answer
    authorization: bool  # whether an Authorization header was sent
    fault: str | None = None  # injected fault applied to this request, if any
    operation: str | None = None  # the spec's operationId, None for a path the simulator does not know
    route: str | None = None  # the spec's path template of that operation
    # Message or recording ids the request addressed (path segment, or body for `*` / call-recordings),
    # in request order; () when it addressed none; None for operations that take no ids (or when the
    # request was refused before its ids were read, e.g. 401/403/429).
    ids: tuple[str, ...] | None = None


class RequestLog:
    """Thread-safe, append-only list of RequestLogEntry (iterating gives a snapshot)."""

    def __init__(self) -> None:
        self._entries: list[RequestLogEntry] = []
        self._lock = threading.Lock()

    def append(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[RequestLogEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __iter__(self) -> Iterator[RequestLogEntry]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __getitem__(self, index: int) -> RequestLogEntry:
        with self._lock:
            return self._entries[index]

    # ---- queries for tests ----------------------------------------------------------------------

    def entries(
        self, method: str | None = None, route: str | None = None, operation: str | None = None
    ) -> list[RequestLogEntry]:
        """Entries matching every criterion given: HTTP method, spec path template, spec operationId."""
        return [
            e
            for e in self.snapshot()
            if (method is None or e.method == method.upper())
            and (route is None or e.route == route)
            and (operation is None or e.operation == operation)
        ]

    def count(self, method: str | None = None, route: str | None = None, operation: str | None = None) -> int:
        """How many requests match, e.g. count("DELETE", MESSAGE_STORE) = delete-by-filter requests."""
        return len(self.entries(method, route, operation))

    def filter_deletes(self) -> list[RequestLogEntry]:
        """Every delete-by-filter request (DELETE .../message-store, with or without a trailing slash)."""
        return self.entries(operation=FILTER_DELETE_OPERATION)

    def empty_id_deletes(self) -> list[RequestLogEntry]:
        """Every delete request that carried an empty id list.

        That is: DELETE .../message-store/{ids} whose id segment held no id (",", or "*" without a
        body or with []), DELETE .../message-store/ (an empty id segment: RingCentral's "no ids =
        everything"), and DELETE /call-recordings with {"records": []}. Refused requests count too:
        what matters is that the client sent one.
        """
        return [e for e in self.snapshot() if e.method == "DELETE" and e.ids == ()]
