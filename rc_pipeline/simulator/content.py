"""Binary answers with Content-Length and single-range (`Range: bytes=...`) support."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rc_pipeline.simulator.media import BinaryContent

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def binary_response(request: Request, body: BinaryContent, filename: str) -> Response:
    headers = {"Accept-Ranges": "bytes"}
    disposition = request.query_params.get("contentDisposition")
    if disposition in ("Inline", "Attachment"):
        name = request.query_params.get("contentDispositionFilename") or filename
        headers["Content-Disposition"] = f'{disposition.lower()}; filename="{name}"'
    start, end, status = 0, body.size, 200
    raw = request.headers.get("range")
    if raw:
        match = _RANGE.match(raw.strip())
        if match is None or (not match.group(1) and not match.group(2)):
            return _unsatisfiable(body.size)
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(body.size, int(last) + 1) if last else body.size
        else:  # suffix range: the last N bytes
            start = max(0, body.size - int(last))
        if start >= body.size or end <= start:
            return _unsatisfiable(body.size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{body.size}"
    headers["Content-Length"] = str(end - start)

    async def chunks() -> AsyncIterator[bytes]:
        # An async generator keeps chunk production on the event loop instead of a thread per chunk.
        for chunk in body.iter_range(start, end, CHUNK):
            yield chunk

    return StreamingResponse(chunks(), status_code=status, media_type=body.content_type, headers=headers)


def _unsatisfiable(size: int) -> Response:
    return Response(b"", status_code=416, headers={"Content-Range": f"bytes */{size}"})
