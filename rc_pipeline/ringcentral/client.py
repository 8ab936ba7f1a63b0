"""Typed access to the RingCentral operations rc-pipeline needs.

Every method goes through one `ApiSession` (auth, throttling, retries, host checks). Responses are
returned as RingCentral sent them (dicts, or `Page`s holding the raw bytes) because the archive keeps
what the API said, not our reading of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

import httpx

from .download import DownloadResult, download_to_file
from .errors import InvalidRequest
from .multipart import MAX_BULK_IDS, BulkItem, in_request_order, parse_multipart
from .paging import Page, iso_utc, iter_pages, window_params
from .session import ApiSession, RetryPolicy
from .settings import RingCentralSettings
from .shared_budget import DEFAULT_STATE_DIR
from .throttle import RateLimit, Throttler

MESSAGE_TYPES = ("Fax", "SMS", "VoiceMail", "Pager")
BULK_JSON = "application/vnd.ringcentral.multipart+json"
CALL_LOG_VIEWS = ("Simple", "Detailed")
EXTRACT_SYNC_MAX_RECORDS = 1000  # call-log-extract-sync's recordCount limit


@dataclass(frozen=True)
class ClientStats:
    """Counters a caller can diff around a unit of work (asset metadata, benchmarks)."""

    requests: dict[str, int] = field(default_factory=dict)
    throttled_429: int = 0
    # Waits for the rate-limit budget: summed over the threads that waited (two threads waiting the
    # same second count 2 s), and in wall-clock time (that second counts once; never > elapsed).
    throttle_wait_seconds: float = 0.0
    throttle_wait_wall_seconds: float = 0.0
    penalty_seconds: float = 0.0
    retry_sleep_seconds: float = 0.0
    server_errors: int = 0
    non_json_answers: int = 0
    connection_errors: int = 0
    bytes_downloaded: int = 0
    logins: int = 0
    refreshes: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def minus(self, earlier: ClientStats) -> ClientStats:
        values: dict[str, Any] = {}
        for f in fields(self):
            now, before = getattr(self, f.name), getattr(earlier, f.name)
            if isinstance(now, dict):
                values[f.name] = {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}
            else:
                values[f.name] = now - before
        return ClientStats(**values)


class RingCentralClient:
    """A RingCentral account as the archive sees it. Use as a context manager: closing revokes the token."""

    def __init__(
        self,
        settings: RingCentralSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        throttler: Throttler | None = None,
        account_id: str = "~",
        throttle_dir: Path | None = DEFAULT_STATE_DIR,
        throttle_url: str | None = None,
    ) -> None:
        """`throttle_dir`: where the throttling windows shared with other processes on this machine
        live (`rc_pipeline.settings.ArchiveSettings.throttle_dir`); None throttles this client alone.
        `throttle_url`: a PostgreSQL database holding them instead, shared with other machines."""
        self.settings = settings
        self.session = ApiSession(
            settings,
            transport=transport,
            retry=retry,
            throttler=throttler,
            throttle_dir=throttle_dir,
            throttle_url=throttle_url,
        )
        self.account = f"/restapi/v1.0/account/{account_id}"

    def __repr__(self) -> str:
        return f"RingCentralClient(server={self.settings.server_url!r})"

    def __enter__(self) -> RingCentralClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Revoke the session's token and close connections."""
        self.session.close(revoke=True)

    def login(self) -> None:
        """Authenticate now (otherwise the first request does). Raises AuthError with RingCentral's code."""
        self.session.tokens.access_token()

    def stats(self) -> ClientStats:
        groups = self.session.group_stats()
        s = self.session.stats
        return ClientStats(
            requests={name: g.requests for name, g in groups.items()},
            throttled_429=sum(g.throttled_429 for g in groups.values()),
            throttle_wait_seconds=sum(g.waited_seconds for g in groups.values()),
            throttle_wait_wall_seconds=self.session.throttler.wait_clock.seconds(),
            penalty_seconds=sum(g.penalty_seconds for g in groups.values()),
            retry_sleep_seconds=s.retry_sleep_seconds,
            server_errors=s.server_errors,
            non_json_answers=s.non_json_answers,
            connection_errors=s.connection_errors,
            bytes_downloaded=s.bytes_downloaded,
            logins=self.session.tokens.logins,
            refreshes=self.session.tokens.refreshes,
        )

    def rate_limits(self) -> dict[str, RateLimit]:
        """Each throttling group's limit and window as the throttle applies them, and whether the
        account announced them (X-Rate-Limit-* headers) or they are still the configured defaults."""
        return self.session.throttler.current_limits()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.session.request("GET", path, params=params).json()

    def _ext(self, extension_id: int | str) -> str:
        return f"{self.account}/extension/{extension_id}"

    # -- account ------------------------------------------------------------------------------------

    def service_info(self) -> dict[str, Any]:
        return self._get(f"{self.account}/service-info")

    def iter_extension_pages(
        self, *, status: Sequence[str] | None = None, types: Sequence[str] | None = None
    ) -> Iterator[Page]:
        """Every extension, all types and statuses unless filtered."""
        params: dict[str, Any] = {}
        if status:
            params["status"] = list(status)
        if types:
            params["type"] = list(types)
        return iter_pages(self.session, f"{self.account}/extension", params)

    def iter_extensions(self, **filters: Any) -> Iterator[dict[str, Any]]:
        for page in self.iter_extension_pages(**filters):
            yield from page.records

    def get_message_store_configuration(self) -> dict[str, Any]:
        return self._get(f"{self.account}/message-store-configuration")

    def set_message_store_configuration(self, retention_period: int) -> dict[str, Any]:
        if not 7 <= retention_period <= 90:
            raise ValueError(f"retentionPeriod must be 7..90 days, got {retention_period}")
        return self.session.request(
            "PUT", f"{self.account}/message-store-configuration", json={"retentionPeriod": retention_period}
        ).json()

    # -- call log -----------------------------------------------------------------------------------

    def iter_call_log_pages(
        self,
        date_from: datetime,
        date_to: datetime,
        *,
        view: str = "Detailed",
        extension_id: int | str | None = None,
        show_deleted: bool = False,
        **filters: Any,
    ) -> Iterator[Page]:
        """The call log for [date_from, date_to), account-wide or for one extension, every page."""
        if view not in CALL_LOG_VIEWS:
            raise ValueError(f"view must be one of {CALL_LOG_VIEWS}, got {view!r}")
        params: dict[str, Any] = {"view": view, **window_params(date_from, date_to), **filters}
        if show_deleted:
            params["showDeleted"] = "true"
        base = self._ext(extension_id) if extension_id is not None else self.account
        return iter_pages(self.session, f"{base}/call-log", params)

    def iter_call_log(
        self, date_from: datetime, date_to: datetime, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        for page in self.iter_call_log_pages(date_from, date_to, **kwargs):
            yield from page.records

    def get_call_records(self, ids: Sequence[str], *, view: str = "Detailed") -> list[BulkItem]:
        """Read call records by id, 50 per request (RingCentral's bulk limit), in the order given."""
        return self._bulk_get(f"{self.account}/call-log", ids, {"view": view})

    def _bulk_get(
        self, collection: str, ids: Sequence[int | str], params: dict[str, Any] | None = None
    ) -> list[BulkItem]:
        """GET `collection/{id1,id2,...}` in chunks of 50: one id answers JSON, several a 207 multipart."""
        items: list[BulkItem] = []
        ids = [str(i) for i in ids]
        for start in range(0, len(ids), MAX_BULK_IDS):
            chunk = ids[start : start + MAX_BULK_IDS]
            response = self.session.request("GET", f"{collection}/{','.join(chunk)}", params=params)
            if len(chunk) == 1:
                items.append(BulkItem(status=response.status_code, body=response.json()))
            else:
                parts = parse_multipart(response.headers.get("Content-Type", ""), response.content)
                items.extend(in_request_order(parts, chunk))
        return items

    def call_log_sync(
        self,
        sync_type: str = "FSync",
        *,
        sync_token: str | None = None,
        date_from: datetime | None = None,
        record_count: int | None = None,
        view: str = "Detailed",
        extension_id: int | str | None = None,
    ) -> dict[str, Any]:
        """One call-log-sync call. FSync needs `record_count` (RingCentral caps it at 250); ISync a token."""
        if sync_type not in ("FSync", "ISync"):
            raise ValueError(f"sync_type must be FSync or ISync, got {sync_type!r}")
        params: dict[str, Any] = {"syncType": sync_type, "view": view}
        if sync_type == "ISync":
            if not sync_token:
                raise ValueError("ISync needs the syncToken of the previous sync")
            params["syncToken"] = sync_token
        else:
            params["recordCount"] = min(record_count or 250, 250)
        if date_from is not None:
            params["dateFrom"] = iso_utc(date_from)
        base = self._ext(extension_id) if extension_id is not None else self.account
        return self._get(f"{base}/call-log-sync", params)

    def extract_sync_call_log(
        self,
        sync_type: str = "FSync",
        sync_token: str | None = None,
        date_from: datetime | None = None,
        record_count: int | None = None,
        view: str = "Detailed",
    ) -> dict[str, Any]:
        """One call-log-extract-sync call (Heavy): company call records by modification time, oldest
        change first. FSync starts at `date_from` (RingCentral's default: an hour ago) with up to
        `record_count` records (1..1000, default 250); ISync continues after `sync_token`.
        `syncInfo.newerRecordsExist` says more are waiting. Raises SyncRequired when the token is
        refused (CLG-10x): run FSync again."""
        return self.extract_sync_call_log_page(
            sync_type, sync_token=sync_token, date_from=date_from, record_count=record_count, view=view
        ).body

    def extract_sync_call_log_page(
        self,
        sync_type: str = "FSync",
        *,
        sync_token: str | None = None,
        date_from: datetime | None = None,
        record_count: int | None = None,
        view: str = "Detailed",
    ) -> Page:
        """`extract_sync_call_log` with the answer's bytes as received (`Page.raw`), for the raw layer."""
        if view not in CALL_LOG_VIEWS:
            raise ValueError(f"view must be one of {CALL_LOG_VIEWS}, got {view!r}")
        params = {
            **_sync_params(
                "extract-sync", sync_type, sync_token, date_from, record_count, EXTRACT_SYNC_MAX_RECORDS
            ),
            "view": view,
        }
        response = self.session.request("GET", f"{self.account}/call-log-extract-sync", params=params)
        try:
            body = response.json()
        except ValueError:
            raise InvalidRequest(
                "extract-sync answer is not JSON",
                status=response.status_code,
                request="GET call-log-extract-sync",
            ) from None
        if not isinstance(body, dict):
            raise InvalidRequest(
                "extract-sync answer is not a JSON object", request="GET call-log-extract-sync"
            )
        return Page(url=str(response.url), raw=response.content, body=body)

    def iter_call_log_changes(
        self, sync_token: str | None = None, date_from: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every call record changed since `sync_token` (ISync), or since `date_from` when there is no
        token (FSync, 1000 a page): yields each extract-sync response as received, issuing ISync while
        `newerRecordsExist`. The last page's `syncInfo.syncToken` is where the next run starts.
        SyncRequired propagates: the caller decides from when to run FSync again."""
        if sync_token:
            page = self.extract_sync_call_log("ISync", sync_token=sync_token)
        else:
            page = self.extract_sync_call_log(
                "FSync", date_from=date_from, record_count=EXTRACT_SYNC_MAX_RECORDS
            )
        while True:
            yield page
            info = page.get("syncInfo") or {}
            if not info.get("newerRecordsExist"):
                return
            token = info.get("syncToken")
            if not token:
                raise InvalidRequest("extract-sync said newerRecordsExist but returned no syncToken")
            page = self.extract_sync_call_log("ISync", sync_token=token)

    def iter_active_calls(self, *, view: str = "Simple") -> Iterator[dict[str, Any]]:
        for page in self.iter_active_call_pages(view=view):
            yield from page.records

    def iter_active_call_pages(self, *, view: str = "Simple") -> Iterator[Page]:
        """Active-calls answers as received (one page holds 1,000 calls: a snapshot is one request)."""
        return iter_pages(self.session, f"{self.account}/active-calls", {"view": view})

    # -- recordings ---------------------------------------------------------------------------------

    def get_recording(self, recording_id: str) -> dict[str, Any]:
        return self._get(f"{self.account}/recording/{recording_id}")

    def recording_content_url(self, recording: dict[str, Any] | str) -> str:
        """The URL to fetch: the `contentUri` RingCentral gave, else the media host's content path."""
        if isinstance(recording, dict):
            uri = recording.get("contentUri")
            if uri:
                return uri
            recording = str(recording["id"])
        return self.session.media_url(f"{self.account}/recording/{recording}/content")

    def download_recording(
        self, recording: dict[str, Any] | str, dest: str | PathLike[str], **kwargs: Any
    ) -> DownloadResult:
        return download_to_file(self.session, self.recording_content_url(recording), dest, **kwargs)

    def delete_recordings(self, recording_ids: Sequence[str]) -> None:
        """Delete recording files (not their call-log entries). Only call this for archived, verified ones."""
        ids = [str(i) for i in recording_ids]
        if not ids:
            raise ValueError("no recording ids given: refusing an empty delete")
        # The spec caps one request at 100 ids.
        for start in range(0, len(ids), 100):
            self.session.request(
                "DELETE", f"{self.account}/call-recordings", json={"records": ids[start : start + 100]}
            )

    # -- message store ------------------------------------------------------------------------------

    def iter_message_pages(
        self,
        extension_id: int | str,
        date_from: datetime,
        date_to: datetime,
        *,
        message_types: Sequence[str] = MESSAGE_TYPES,
        availability: Sequence[str] | None = None,
        **filters: Any,
    ) -> Iterator[Page]:
        params: dict[str, Any] = {
            **window_params(date_from, date_to),
            "messageType": list(message_types),
            **filters,
        }
        if availability:
            params["availability"] = list(availability)
        return iter_pages(self.session, f"{self._ext(extension_id)}/message-store", params)

    def iter_messages(
        self, extension_id: int | str, date_from: datetime, date_to: datetime, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        for page in self.iter_message_pages(extension_id, date_from, date_to, **kwargs):
            yield from page.records

    def message_sync(
        self,
        extension_id: int | str,
        sync_type: str = "FSync",
        sync_token: str | None = None,
        date_from: datetime | None = None,
        record_count: int | None = None,
    ) -> dict[str, Any]:
        """One message-sync call (Light) for a mailbox. FSync: messages since `date_from`
        (RingCentral's default: 24 h ago), newest first, at most `record_count`
        (`syncInfo.olderRecordsExist` when there were more). ISync: every message created or changed
        since `sync_token` (new, read status, deleted, purged). Raises SyncRequired on MSG-333."""
        body, _ = self.message_sync_response(extension_id, sync_type, sync_token, date_from, record_count)
        return body

    def message_sync_response(
        self,
        extension_id: int | str,
        sync_type: str = "FSync",
        sync_token: str | None = None,
        date_from: datetime | None = None,
        record_count: int | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """`message_sync`, with the body's bytes as received beside it (the capture keeps those)."""
        params = _sync_params("message-sync", sync_type, sync_token, date_from, record_count, None)
        response = self.session.request("GET", f"{self._ext(extension_id)}/message-sync", params=params)
        body = response.json()
        if not isinstance(body, dict):
            raise InvalidRequest("message-sync answered with something other than a JSON object")
        return body, response.content

    def get_message(self, extension_id: int | str, message_id: int | str) -> dict[str, Any]:
        return self._get(f"{self._ext(extension_id)}/message-store/{message_id}")

    def get_messages(self, extension_id: int | str, message_ids: Sequence[int | str]) -> list[BulkItem]:
        return self._bulk_get(f"{self._ext(extension_id)}/message-store", message_ids)

    def download_attachment(
        self,
        attachment: dict[str, Any],
        dest: str | PathLike[str],
        **kwargs: Any,
    ) -> DownloadResult:
        """Fetch a message attachment from the `uri` RingCentral gave (the media host)."""
        uri = attachment.get("uri")
        if not uri:
            raise InvalidRequest(f"attachment {attachment.get('id')} has no uri")
        return download_to_file(self.session, uri, dest, **kwargs)

    def update_read_status(
        self, extension_id: int | str, message_ids: Sequence[int | str], read_status: str
    ) -> Any:
        if read_status not in ("Read", "Unread"):
            raise ValueError(f"readStatus must be Read or Unread, got {read_status!r}")
        return self._update_messages("PUT", extension_id, message_ids, {"readStatus": read_status})

    def restore_messages(self, extension_id: int | str, message_ids: Sequence[int | str]) -> Any:
        """Bring messages back from the trash (Deleted -> Alive); purged ones cannot come back."""
        return self._update_messages("PATCH", extension_id, message_ids, {"availability": "Alive"})

    def _update_messages(
        self, method: str, extension_id: int | str, message_ids: Sequence[int | str], change: dict[str, Any]
    ) -> Any:
        """One id: its updated message. Several (at most 50): a 207 part per id, in order."""
        ids = _explicit_ids(message_ids, MAX_BULK_IDS)
        path = f"{self._ext(extension_id)}/message-store/{','.join(ids)}"
        if len(ids) == 1:
            return self.session.request(method, path, json=change).json()
        # RingCentral's bulk syntax: one {resourceId, body} entry per id of the path, in its order.
        body = [{"resourceId": i, "body": change} for i in ids]
        response = self.session.request(method, path, json=body, headers={"Content-Type": BULK_JSON})
        return in_request_order(
            parse_multipart(response.headers.get("Content-Type", ""), response.content), ids
        )

    def delete_messages(
        self, extension_id: int | str, message_ids: Sequence[int | str], *, purge: bool = False
    ) -> list[BulkItem]:
        """Delete messages by id (at most 50): the first call marks them Deleted, a second (or
        purge=True) purges. Returns one outcome per id, in order (a 207 answer has its own per id).

        RingCentral treats a bulk delete without ids as "delete everything", so an empty list is refused.
        """
        ids = _explicit_ids(message_ids, MAX_BULK_IDS)
        params = {"purge": "true"} if purge else None
        # Not repeatable in trash mode: a second delete of a trashed message purges it.
        response = self.session.request(
            "DELETE",
            f"{self._ext(extension_id)}/message-store/{','.join(ids)}",
            params=params,
            idempotent=purge,
        )
        if response.status_code == 207:
            return in_request_order(
                parse_multipart(response.headers.get("Content-Type", ""), response.content), ids
            )
        return [BulkItem(status=response.status_code, body={}) for _ in ids]

    def delete_messages_by_filter(
        self,
        extension_id: int | str,
        *,
        date_to: datetime,
        message_type: str = "All",
        conversation_ids: Sequence[str] | None = None,
        purge: bool = False,
    ) -> None:
        """Delete every message up to `date_to` (of a type / in conversations). `date_to` is required."""
        params: dict[str, Any] = {"dateTo": iso_utc(date_to), "type": message_type}
        if conversation_ids:
            params["conversationId"] = list(conversation_ids)
        if purge:
            params["purge"] = "true"
        self.session.request("DELETE", f"{self._ext(extension_id)}/message-store", params=params)

    # -- message store export (async report) --------------------------------------------------------

    def create_message_store_report(
        self, date_from: datetime, date_to: datetime, *, message_types: Sequence[str] = MESSAGE_TYPES
    ) -> dict[str, Any]:
        body = {**window_params(date_from, date_to), "messageTypes": list(message_types)}
        return self.session.request("POST", f"{self.account}/message-store-report", json=body).json()

    def get_message_store_report(self, task_id: str) -> dict[str, Any]:
        return self._get(f"{self.account}/message-store-report/{task_id}")

    def list_message_store_report_archives(self, task_id: str) -> list[dict[str, Any]]:
        return self._get(f"{self.account}/message-store-report/{task_id}/archive").get("records") or []

    def download_message_store_archive(
        self, archive: dict[str, Any], dest: str | PathLike[str], **kwargs: Any
    ) -> DownloadResult:
        uri = archive.get("uri")
        if not uri:
            raise InvalidRequest("archive record has no uri")
        size = archive.get("size")
        kwargs.setdefault("expected_size", int(size) if size is not None else None)
        return download_to_file(self.session, uri, dest, **kwargs)


def _sync_params(
    what: str,
    sync_type: str,
    sync_token: str | None,
    date_from: datetime | None,
    record_count: int | None,
    max_records: int | None,
) -> dict[str, Any]:
    """Query of a sync endpoint (extract-sync, message-sync): FSync from `date_from` with at most
    `record_count` records, or ISync after `sync_token`, which fixes everything else."""
    if sync_type not in ("FSync", "ISync"):
        raise ValueError(f"sync_type must be FSync or ISync, got {sync_type!r}")
    params: dict[str, Any] = {"syncType": sync_type}
    if sync_type == "ISync":
        if not sync_token:
            raise ValueError(f"ISync needs the syncToken of the previous {what}")
        if record_count is not None or date_from is not None:
            raise ValueError("ISync takes neither record_count nor date_from (the token fixes them)")
        params["syncToken"] = sync_token
        return params
    if record_count is not None:
        if record_count < 1 or (max_records is not None and record_count > max_records):
            bounds = f"1..{max_records}" if max_records is not None else "at least 1"
            raise ValueError(f"record_count must be {bounds}, got {record_count}")
        params["recordCount"] = record_count
    if date_from is not None:
        params["dateFrom"] = iso_utc(date_from)
    return params


def _explicit_ids(ids: Sequence[int | str], limit: int) -> list[str]:
    """Ids for a path: never empty (RingCentral applies an id-less bulk change to everything), and
    only digits, so no value can reshape the path (`..`, `?`, `,,`)."""
    explicit = [str(i).strip() for i in ids]
    if not explicit or not all(i.isdigit() for i in explicit):
        raise ValueError(
            "refusing a message change without explicit numeric ids: RingCentral would apply an id-less "
            f"one to every message (got {list(ids)[:5]!r})"
        )
    if len(explicit) > limit:
        raise ValueError(f"{len(explicit)} ids in one request; RingCentral accepts at most {limit}")
    return explicit
