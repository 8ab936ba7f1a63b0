"""Paging over RingCentral list endpoints.

RingCentral defaults `dateFrom` to 24 h before `dateTo` and `perPage` to 100, so a naive loop silently
archives one day of a backfill window at a time, 100 records per request. The iterator always sends
an explicit window and `perPage=1000`, follows `navigation.nextPage` until it is absent, and refuses a
`nextPage` on any host but the configured ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidRequest
from .session import ApiSession

MAX_PER_PAGE = 1000


def iso_utc(moment: datetime) -> str:
    """RingCentral's ISO 8601 form (`2016-03-10T18:07:52.534Z`). Naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment!r} has no timezone; RingCentral windows must be absolute")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def window_params(date_from: datetime, date_to: datetime) -> dict[str, str]:
    if date_to <= date_from:
        raise ValueError(
            f"empty window: dateTo {date_to.isoformat()} is not after dateFrom {date_from.isoformat()}"
        )
    return {"dateFrom": iso_utc(date_from), "dateTo": iso_utc(date_to)}


@dataclass(frozen=True)
class Page:
    """One list response: the bytes exactly as received (for the raw archive) and the parsed body."""

    url: str
    raw: bytes
    body: dict[str, Any]

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.body.get("records") or []

    @property
    def next_page_uri(self) -> str | None:
        nav = self.body.get("navigation") or {}
        nxt = nav.get("nextPage") or {}
        return nxt.get("uri") or None


def iter_pages(
    session: ApiSession,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    max_pages: int = 100_000,
) -> Iterator[Page]:
    """Yield every page of a list endpoint, first to last."""
    query = dict(params or {})
    query.setdefault("perPage", MAX_PER_PAGE)
    url: str | None = session.url(path)
    seen: set[str] = set()
    first = True
    while url is not None:
        if len(seen) >= max_pages:
            raise InvalidRequest(f"more than {max_pages} pages; refusing to continue", request=f"GET {path}")
        seen.add(url)
        response = session.request("GET", url, params=query if first else None)
        try:
            body = response.json()
        except ValueError:
            raise InvalidRequest(
                "list response is not JSON", status=response.status_code, request=f"GET {path}"
            ) from None
        page = Page(url=str(response.url), raw=response.content, body=body)
        yield page
        first = False
        nxt = page.next_page_uri
        if not nxt or not page.records:
            return
        # A nextPage URI carries the full query (window, perPage, view): follow it exactly as given.
        session.check_host(nxt)
        if nxt in seen:
            raise InvalidRequest(f"nextPage points back to an earlier page ({nxt})", request=f"GET {path}")
        url = nxt


def iter_records(
    session: ApiSession, path: str, params: Mapping[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    for page in iter_pages(session, path, params):
        yield from page.records
