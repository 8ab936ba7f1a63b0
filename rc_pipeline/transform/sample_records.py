"""Deterministic, spec-shaped RingCentral records for tests and benchmarks.

Shapes follow the public spec's CallLogRecord (Detailed view, with legs, recordings and
billing), CallLogResponse paging/navigation, and the extension list records. Nothing here
talks to RingCentral; the same seed always yields the same bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

ACCOUNT_ID = "400131158008"
PLATFORM = "https://platform.ringcentral.com/restapi/v1.0"
MEDIA = "https://media.ringcentral.com/restapi/v1.0"
FIRST_EXTENSION_ID = 62_000_000_000

_RESULTS_INBOUND = ["Accepted", "Accepted", "Accepted", "Missed", "Voicemail", "Hang Up"]
_RESULTS_OUTBOUND = ["Call connected", "Call connected", "No Answer", "Busy"]
_LEG_TYPES = ["PstnToSip", "Accept", "FindMe", "ExtensionToExtension", "TransferCall"]
_CITIES = ["San Mateo, CA", "Denver, CO", "Austin, TX", "Boston, MA", None]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _extension(number: int) -> dict[str, Any]:
    ext_id = FIRST_EXTENSION_ID + number
    return {"uri": f"{PLATFORM}/account/{ACCOUNT_ID}/extension/{ext_id}", "id": ext_id}


def _internal_party(number: int) -> dict[str, Any]:
    return {
        "extensionNumber": str(100 + number),
        "extensionId": str(FIRST_EXTENSION_ID + number),
        "name": f"Agent {number}",
    }


def _external_party(rng: random.Random) -> dict[str, Any]:
    party: dict[str, Any] = {"phoneNumber": f"+1{rng.randint(2000000000, 9999999999)}"}
    city = rng.choice(_CITIES)
    if city:
        party["location"] = city
    return party


def _recording(recording_id: str, kind: str = "Automatic") -> dict[str, Any]:
    return {
        "uri": f"{PLATFORM}/account/{ACCOUNT_ID}/recording/{recording_id}",
        "id": recording_id,
        "type": kind,
        "contentUri": f"{MEDIA}/account/{ACCOUNT_ID}/recording/{recording_id}/content",
    }


def sample_call_record(
    index: int, day: date, seed: int = 0, extensions: int = 20, recorded_share: float = 0.3
) -> dict[str, Any]:
    """One Detailed call-log record of ``day``; ``index`` makes its id and content unique."""
    rng = random.Random(f"{seed}:{day.isoformat()}:{index}")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        milliseconds=rng.randrange(24 * 3600 * 1000)
    )
    inbound = rng.random() < 0.6
    result = rng.choice(_RESULTS_INBOUND if inbound else _RESULTS_OUTBOUND)
    answered = result in {"Accepted", "Call connected"}
    duration_ms = rng.randint(20_000, 900_000) if answered else rng.randint(0, 30_000)
    ext_number = rng.randrange(extensions)
    internal = _internal_party(ext_number)
    external = _external_party(rng)
    call_id = f"Y{seed:x}{day.strftime('%Y%m%d')}{index:09d}"
    session = str(10_000_000_000 + index)
    record: dict[str, Any] = {
        "uri": f"{PLATFORM}/account/{ACCOUNT_ID}/call-log/{call_id}?view=Detailed",
        "id": call_id,
        "sessionId": session,
        "telephonySessionId": f"s-{seed:x}{index:012x}",
        "startTime": _iso(start),
        "duration": duration_ms // 1000,
        "durationMs": duration_ms,
        "type": "Voice",
        "internalType": "LongDistance",
        "direction": "Inbound" if inbound else "Outbound",
        "action": "Phone Call" if inbound else "VoIP Call",
        "result": result,
        "reason": "Accepted" if answered else "No Answer",
        "reasonDescription": "The call connected to and was accepted by this number.",
        "from": external if inbound else internal,
        "to": internal if inbound else external,
        "extension": _extension(ext_number),
        "transport": "PSTN",
        "billing": {"costIncluded": 0.0, "costPurchased": round(rng.random() * 0.1, 4)},
        "lastModifiedTime": _iso(start + timedelta(seconds=duration_ms // 1000 + rng.randint(5, 60))),
    }
    recorded = answered and rng.random() < recorded_share
    if recorded:
        record["recording"] = _recording(f"{seed}{index:010d}")
    legs = []
    for leg_index in range(rng.choice([1, 2, 2, 3, 3, 4])):
        leg_ext = ext_number if leg_index == 0 else rng.randrange(extensions)
        leg: dict[str, Any] = {
            "startTime": _iso(start + timedelta(milliseconds=leg_index * 1500)),
            "duration": max(0, duration_ms // 1000 - leg_index),
            "durationMs": max(0, duration_ms - leg_index * 1000),
            "type": "Voice",
            "internalType": "LongDistance",
            "direction": record["direction"],
            "action": record["action"],
            "result": result,
            "reason": record["reason"],
            "from": record["from"],
            "to": _internal_party(leg_ext) if inbound else record["to"],
            "extension": _extension(leg_ext),
            "legType": "PstnToSip" if leg_index == 0 else rng.choice(_LEG_TYPES),
            "master": leg_index == 0,
            "transport": "PSTN" if leg_index == 0 else "VoIP",
        }
        if recorded and leg_index == 1:
            # A transferred leg recorded on its own: archived like the call-level one.
            leg["recording"] = _recording(f"{seed}{index:010d}1", "OnDemand")
        legs.append(leg)
    record["legs"] = legs
    return record


def call_log_page(
    records: list[dict[str, Any]], page: int, per_page: int, total: int | None, pretty: bool = False
) -> bytes:
    """A CallLogResponse body around ``records``: navigation and paging as the API sends them."""
    base = f"{PLATFORM}/account/{ACCOUNT_ID}/call-log?view=Detailed&perPage={per_page}"
    total_pages = max(1, -(-total // per_page)) if total is not None else None
    navigation: dict[str, Any] = {"firstPage": {"uri": f"{base}&page=1"}}
    if total_pages is None or page < total_pages:
        navigation["nextPage"] = {"uri": f"{base}&page={page + 1}"}
    if page > 1:
        navigation["previousPage"] = {"uri": f"{base}&page={page - 1}"}
    paging: dict[str, Any] = {
        "page": page,
        "perPage": per_page,
        "pageStart": (page - 1) * per_page,
        "pageEnd": (page - 1) * per_page + max(len(records) - 1, 0),
    }
    if total is not None:
        paging["totalPages"] = total_pages
        paging["totalElements"] = total
    body = {"uri": f"{base}&page={page}", "records": records, "paging": paging, "navigation": navigation}
    if pretty:
        # RingCentral's own style: indented, with line breaks between tokens.
        return json.dumps(body, indent=2).encode()
    return json.dumps(body, separators=(",", ":")).encode()


def sample_call_log_pages(
    day: date, records: int, per_page: int = 1000, seed: int = 0, pretty: bool = False
) -> Iterator[bytes]:
    """Pages holding ``records`` Detailed records of ``day``, as raw response bodies."""
    page = 1
    for first in range(0, max(records, 1), per_page):
        batch = [sample_call_record(i, day, seed) for i in range(first, min(first + per_page, records))]
        yield call_log_page(batch, page, per_page, records, pretty)
        page += 1


def sample_extension_record(number: int, status: str = "Enabled") -> dict[str, Any]:
    """One record of the account's extension list (GetExtensionListInfoResponse shape)."""
    ext = _extension(number)
    return {
        "uri": ext["uri"],
        "id": ext["id"],
        "extensionNumber": str(100 + number),
        "name": f"Agent {number}",
        "type": "User",
        "status": status,
        "contact": {
            "firstName": "Agent",
            "lastName": str(number),
            "email": f"agent{number}@example.com",
            "department": "Support" if number % 2 else "Sales",
            "jobTitle": "Agent",
        },
        "site": {"id": "main-site", "name": "Headquarters"},
        "hidden": False,
        "creationTime": "2023-01-15T10:00:00.000Z",
        "permissions": {"admin": {"enabled": False}},
    }
