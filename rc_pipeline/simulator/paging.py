"""The navigation and paging blocks of list answers, with absolute platform-host URIs."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from rc_pipeline.simulator.common import canonical_path


def page_uri(base_url: str, request: Request, page: int, per_page: int) -> dict[str, str]:
    """{"uri": ...} for another page of the same query, absolute on the platform host."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "perPage")]
    items += [("page", str(page)), ("perPage", str(per_page))]
    return {"uri": f"{base_url}{canonical_path(request)}?{urlencode(items)}"}


def list_blocks(
    base_url: str,
    request: Request,
    page: int,
    per_page: int,
    count_on_page: int,
    has_next: bool,
    total: int | None = None,
) -> tuple[dict, dict]:
    """(navigation, paging) for one page. Without `total`, totals and lastPage are left out,
    as the call log does (it never counts the whole result)."""
    navigation = {"firstPage": page_uri(base_url, request, 1, per_page)}
    if has_next:
        navigation["nextPage"] = page_uri(base_url, request, page + 1, per_page)
    if page > 1:
        navigation["previousPage"] = page_uri(base_url, request, page - 1, per_page)
    paging: dict = {"page": page, "perPage": per_page}
    if count_on_page:
        paging["pageStart"] = (page - 1) * per_page
        paging["pageEnd"] = (page - 1) * per_page + count_on_page - 1
    if total is not None:
        pages = max(1, -(-total // per_page))
        navigation["lastPage"] = page_uri(base_url, request, pages, per_page)
        paging["totalPages"] = pages
        paging["totalElements"] = total
    return navigation, paging
